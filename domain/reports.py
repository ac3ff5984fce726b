"""Reports for the health units, the IOC and the province: what each figure means and
how it is computed from the counters kept at write time (store.stats). One place for
each definition; README repeats them.

Counters are kept per commune and Vietnam day (check-ins, new cases, F1, F2,
follow-ups due and done, flags by rule and status), per commune as a running change
of the number under quarantine, and per checkpoint and day (passages, secondary
screenings by reason, fevers, a histogram of decision times). A report reads the
counters of its communes for its period and adds them up: it never scans records.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from dichte.domain.errors import DomainError
from dichte.domain.screening import Outcome, Reason, ScreeningEvent

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
ACTIVE_VENUE_DAYS = 7

# Counter fields of a commune's day (store.stats writes them, in the same script as
# the record they count).
CHECKINS = "checkins"
NEW_CASES = "cases"
F1 = "f1"
F2 = "f2"
FOLLOW_UPS_DUE = "fu_due"
FOLLOW_UPS_DONE = "fu_done"
FLAG_PREFIX = "flag|"  # flag|<rule>|<status>

# Counter fields of a checkpoint's day.
PASSAGES = "passages"
SECONDARY = "secondary"
FEVERS = "fevers"
REASON_PREFIX = "reason|"  # reason|<reason>
LATENCY_PREFIX = "ms|"  # ms|<bucket>: decisions whose time fell in the bucket

# Decision times are counted in buckets 5 % wide, so a median or p95 read from them is
# within 5 % of the exact one, whatever the number of passages.
LATENCY_RATIO = 1.05


class ReportKind(StrEnum):
    QR_DEPLOYMENT = "qr-deployment"
    SCREENING = "screening"
    EPIDEMIOLOGY = "epidemiology"
    FLAGS = "flags"


@dataclass(frozen=True)
class Period:
    """Vietnam days from `start` to `end`, both included."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date | None, end: date | None, today: date) -> Period:
        end = end or today
        start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if start > end:
            raise DomainError.of("from", "end_before_start")
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise DomainError.of("from", "period_too_long", days=MAX_PERIOD_DAYS)
        return cls(start, end)

    def days(self) -> list[str]:
        n = (self.end - self.start).days + 1
        return [(self.start + timedelta(days=i)).isoformat() for i in range(n)]


# --- decision times ------------------------------------------------------------------


def latency_bucket(ms: float) -> int:
    """The bucket of a decision time: bucket b holds (1.05^(b-1), 1.05^b] ms."""
    if ms <= 1.0:
        return 0
    return math.ceil(math.log(ms) / math.log(LATENCY_RATIO) - 1e-9)


def bucket_upper_ms(bucket: int) -> float:
    return float(LATENCY_RATIO**bucket)


def quantile_ms(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile of the times counted (nearest rank), as the upper edge of its
    bucket: at most 5 % above the exact value, never below it."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round(bucket_upper_ms(bucket), 1)
    return None  # not reached: the ranks add up to total


def exact_quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank quantile (what `quantile_ms` approximates)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def screening_counters(event: ScreeningEvent) -> list[str]:
    """The checkpoint-day counter fields one screening event adds one to."""
    fields = [PASSAGES]
    if event.decision is Outcome.SECONDARY:
        fields.append(SECONDARY)
        fields += [REASON_PREFIX + r.value for r in event.reasons]
    if Reason.FEVER in event.reasons:
        fields.append(FEVERS)
    if event.decision_ms is not None:
        fields.append(f"{LATENCY_PREFIX}{latency_bucket(event.decision_ms)}")
    return fields


# --- population ----------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """Inhabitants per commune and per province, from `cluster/population.yaml`."""

    communes: Mapping[int, int]
    provinces: Mapping[int, int]

    @classmethod
    def load(cls, path: Path) -> Population:
        if not path.exists():
            return cls({}, {})
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(
            {int(k): int(v) for k, v in (raw.get("communes") or {}).items()},
            {int(k): int(v) for k, v in (raw.get("provinces") or {}).items()},
        )

    def of_communes(self, communes: Iterable[int]) -> int | None:
        """Their inhabitants, when every one of them is known."""
        total = 0
        for c in communes:
            if c not in self.communes:
                return None
            total += self.communes[c]
        return total


def per_thousand(count: int, population: int | None, days: int) -> float | None:
    """Check-ins per 1,000 inhabitants per day."""
    if not population or days <= 0:
        return None
    return round(count * 1000 / population / days, 3)


# --- reports as rows -----------------------------------------------------------------


def summed(days: Iterable[Mapping[str, int]], field: str) -> int:
    return sum(int(d.get(field, 0)) for d in days)


def under_quarantine(changes: Mapping[str, int], days: Sequence[str]) -> list[int]:
    """The number under quarantine on each day: the running sum of the commune's
    changes (orders starting count +1 on their first day, −1 on the day they end)."""
    out = []
    ordered = sorted(changes.items())
    running, i = 0, 0
    for day in days:
        while i < len(ordered) and ordered[i][0] <= day:
            running += int(ordered[i][1])
            i += 1
        out.append(running)
    return out


def as_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """UTF-8 CSV with a header row, a byte-order mark and CRLF line ends, as Excel
    expects; nested values are not allowed (every report row is flat)."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return "\ufeff" + buffer.getvalue()
