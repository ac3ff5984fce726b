"""Report latency per unit level over a synthetic province month: ReportService reading
the counters kept at write time (Redis) against SQLite computing the same figures with
GROUP BY over the records themselves (same rows, same run). Both must give the same
numbers for every report and unit timed, or the benchmark fails.

The month (seeded numpy): persons living in the 78 communes of Quảng Trị (44), of
uneven sizes (lognormal shares); venues spread over the communes in about the same
proportion (5 % never scanned, 8 % quiet for the last week, 2 % withdrawn), each
inspected 0-3 times; check-ins over 30 days, 80 % in the person's home commune, at the
tracing benchmark's province density (50 M check-ins for 2 M persons and 50 K venues:
0.83 a person a day); an epidemic wave of cases (from 14 days before the month), each
with F1 (a quarantine order and 7 follow-ups each) and F2; flags raised by the rules;
about 3,000 screenings a day at each checkpoint of cluster/checkpoints.yaml.

Ours: the counters are loaded in bulk, as the write path leaves them for those rows
(aggregated with numpy, then HSET/SADD/ZADD in pipelines), and one commune-day is also
written through the store's check-in, which must leave the same counters. Writing every
check-in through the script would also keep the tracing indexes (about 14 GiB of
Redis at 50 M check-ins) that no report reads; the write path's cost is measured by
bench/checkins.py. Reports run in-process, as the API calls them.

Peer: one SQLite file with the records (integer ids, the peer's best case) and the
indexes the queries need: check-ins on (commune, day) and (venue, at), the other
tables on (commune, day) or their own keys; ANALYZE run; 256 MiB page cache.

    .venv/bin/python bench/reports.py                  # both sizes, about 12 min on 2 CPUs
    .venv/bin/python bench/reports.py --size small     # 200 k persons, 5 M check-ins
    .venv/bin/python bench/reports.py --size province  # 2 M persons, 50 K venues, 50 M

Writes bench/results/reports.{json,md}; a run replaces the entries of its sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dichte.domain import admin_units  # noqa: E402
from dichte.domain.checkpoints import CheckpointConfig  # noqa: E402
from dichte.domain.flags import FlagRule, FlagStatus  # noqa: E402
from dichte.domain.jurisdictions import COMMUNE, Jurisdictions  # noqa: E402
from dichte.domain.reports import (  # noqa: E402
    ACTIVE_VENUE_DAYS,
    CHECKINS,
    F1,
    F2,
    FEVERS,
    FLAG_PREFIX,
    FOLLOW_UPS_DONE,
    FOLLOW_UPS_DUE,
    LATENCY_PREFIX,
    MAX_PERIOD_DAYS,
    NEW_CASES,
    PASSAGES,
    REASON_PREFIX,
    SECONDARY,
    Period,
    Population,
    ReportKind,
    bucket_upper_ms,
    latency_bucket,
    per_thousand,
)
from dichte.domain.screening import Outcome, Reason  # noqa: E402
from dichte.domain.settings import Settings  # noqa: E402
from dichte.services.checkpoints import load_checkpoints  # noqa: E402
from dichte.services.reports import ReportScopes, ReportService  # noqa: E402
from dichte.services.wiring import jurisdictions  # noqa: E402
from dichte.serving.embedded_redis import EmbeddedRedis  # noqa: E402
from dichte.store.checkpoints import CheckpointStore  # noqa: E402
from dichte.store.epi import EpiStore  # noqa: E402
from dichte.store.keys import Keys  # noqa: E402
from dichte.store.stats import StatsStore  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PROVINCE_CODE = 44
PREFIX = "bench"
DAY_S = 86_400
VN_OFFSET_S = 7 * 3600  # Vietnam keeps UTC+7 all year
EPOCH = date(1970, 1, 1)

EPI_PRE_DAYS = 14  # the wave starts before the month: some are in quarantine on day 1
FOLLOW_UP_DAYS = 7
SCREENINGS_PER_DAY = 3_000  # per checkpoint
# No check-in lies in the GAP_S after "a week before the data was made": whether a venue
# was active in the last 7 days must not hang on when a report runs (up to GAP_S later).
GAP_S = 3 * 3600


@dataclass(frozen=True)
class Scale:
    persons: int
    venues: int
    checkins: int
    days: int = 30


SIZES = {
    "small": Scale(200_000, 5_000, 5_000_000),
    "province": Scale(2_000_000, 50_000, 50_000_000),
}


def vid(i: int) -> str:
    return f"v{i:031x}"  # as long as a production venue id


def pid(i: int) -> str:
    return f"{i:032x}"  # as long as a production person id (document hash)


# --- the peer: SQLite over the records -----------------------------------------------

SCHEMA = """
CREATE TABLE venues (id INTEGER PRIMARY KEY, commune INTEGER, registered_at INTEGER,
                     active INTEGER);
CREATE TABLE checkins (venue INTEGER, person INTEGER, commune INTEGER, day INTEGER,
                       at INTEGER);
CREATE TABLE inspections (venue INTEGER, commune INTEGER, at INTEGER, poster INTEGER);
CREATE TABLE cases (id INTEGER PRIMARY KEY, commune INTEGER, day INTEGER);
CREATE TABLE contacts (id INTEGER PRIMARY KEY, case_id INTEGER, commune INTEGER,
                       day INTEGER);
CREATE TABLE follow_ups (contact INTEGER, commune INTEGER, day INTEGER, done INTEGER);
CREATE TABLE f2 (case_id INTEGER, person INTEGER, commune INTEGER, day INTEGER,
                 PRIMARY KEY (case_id, person));
CREATE TABLE quarantines (id INTEGER PRIMARY KEY, commune INTEGER, start_day INTEGER,
                          end_day INTEGER, cancelled INTEGER);
CREATE TABLE flags (id INTEGER PRIMARY KEY, commune INTEGER, day INTEGER, rule TEXT,
                    status TEXT);
CREATE TABLE screenings (id INTEGER PRIMARY KEY, checkpoint TEXT, day INTEGER, at INTEGER,
                         decision TEXT, fever INTEGER, decision_ms REAL);
CREATE TABLE screening_reasons (event INTEGER, checkpoint TEXT, day INTEGER, reason TEXT);
"""

INDEXES = """
CREATE INDEX checkins_commune_day ON checkins (commune, day);
CREATE INDEX checkins_venue_at ON checkins (venue, at);
CREATE INDEX venues_commune ON venues (commune);
CREATE INDEX inspections_venue_at ON inspections (venue, at);
CREATE INDEX cases_commune_day ON cases (commune, day);
CREATE INDEX contacts_commune_day ON contacts (commune, day);
CREATE INDEX follow_ups_commune_day ON follow_ups (commune, day);
CREATE INDEX f2_commune_day ON f2 (commune, day);
CREATE INDEX quarantines_commune_start ON quarantines (commune, start_day);
CREATE INDEX flags_commune_day ON flags (commune, day);
CREATE INDEX screenings_checkpoint_day ON screenings (checkpoint, day);
CREATE INDEX screening_reasons_checkpoint_day ON screening_reasons (checkpoint, day);
"""


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SqlitePeer:
    """The same report figures from the records, one GROUP BY per figure family."""

    def __init__(
        self,
        path: Path,
        units: Jurisdictions,
        population: Population,
        checkpoints: list[CheckpointConfig],
    ) -> None:
        self.path = path
        self.scopes = ReportScopes(units, population)
        self.checkpoints = sorted(checkpoints, key=lambda c: c.id)
        self.db = sqlite3.connect(path)
        self.insert_s = 0.0

    # loading
    def create(self) -> None:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1048576"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(SCHEMA)

    def insert(self, table: str, columns: Iterable[Iterable[Any]]) -> None:
        t = time.perf_counter()
        rows = zip(*columns, strict=True)
        first = next(rows, None)
        if first is not None:
            sql = f"INSERT INTO {table} VALUES ({_marks(len(first))})"
            self.db.execute(sql, first)
            self.db.executemany(sql, rows)
        self.insert_s += time.perf_counter() - t

    def index(self) -> float:
        t = time.perf_counter()
        self.db.commit()
        self.db.executescript(INDEXES)
        self.db.execute("ANALYZE")
        self.db.commit()
        self.db.close()
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA cache_size=-262144")  # 256 MiB
        return time.perf_counter() - t

    # scope: what the reports read, so both sides span the same communes and rows
    def communes(self, unit: str) -> list[int]:
        return self.scopes.communes(unit)

    def groups(self, unit: str, communes: list[int]) -> list[tuple[str, str, list[int]]]:
        return self.scopes.groups(unit, communes)

    def name(self, unit: str) -> str:
        return self.scopes.name(unit)

    def inhabitants(self, unit: str, communes: list[int]) -> int | None:
        return self.scopes.inhabitants(unit, communes)

    @staticmethod
    def day_numbers(period: Period) -> tuple[int, int, list[int], list[str]]:
        lo, hi = (period.start - EPOCH).days, (period.end - EPOCH).days
        return lo, hi, list(range(lo, hi + 1)), period.days()

    def report(self, kind: ReportKind, unit: str, period: Period) -> dict[str, Any]:
        match kind:
            case ReportKind.QR_DEPLOYMENT:
                return self.qr_deployment(unit, period)
            case ReportKind.SCREENING:
                return self.screening(unit, period)
            case ReportKind.EPIDEMIOLOGY:
                return self.epidemiology(unit, period)
        return self.flags(unit, period)

    def qr_deployment(self, unit: str, period: Period) -> dict[str, Any]:
        communes = self.communes(unit)
        lo, hi, numbers, days = self.day_numbers(period)
        marks = _marks(len(communes))
        per_day: dict[tuple[int, int], int] = {}
        for c, d, n in self.db.execute(
            f"SELECT commune, day, COUNT(*) FROM checkins "
            f"WHERE commune IN ({marks}) AND day BETWEEN ? AND ? GROUP BY commune, day",
            (*communes, lo, hi),
        ):
            per_day[(c, d)] = n
        since = int(time.time()) - ACTIVE_VENUE_DAYS * DAY_S
        venues = {c: [0, 0, 0, 0, 0] for c in communes}
        for c, registered, scanned, active in self.db.execute(
            f"SELECT v.commune, COUNT(*), "
            f"SUM(EXISTS (SELECT 1 FROM checkins c WHERE c.venue = v.id)), "
            f"SUM(EXISTS (SELECT 1 FROM checkins c WHERE c.venue = v.id AND c.at >= ?)) "
            f"FROM venues v WHERE v.active AND v.commune IN ({marks}) GROUP BY v.commune",
            (since, *communes),
        ):
            venues[c][:3] = [registered, scanned, active]
        start = (lo * DAY_S) - VN_OFFSET_S
        until = ((hi + 1) * DAY_S) - VN_OFFSET_S
        for c, inspected, compliant in self.db.execute(
            f"SELECT v.commune, COUNT(*), SUM(i.poster) FROM venues v "
            f"JOIN inspections i ON i.venue = v.id "
            f"WHERE v.active AND v.commune IN ({marks}) "
            f"AND i.at = (SELECT MAX(j.at) FROM inspections j WHERE j.venue = v.id) "
            f"AND i.at >= ? AND i.at < ? GROUP BY v.commune",
            (*communes, start, until),
        ):
            venues[c][3:] = [inspected, compliant]
        rows, daily = [], []
        for level, row_unit, members in self.groups(unit, communes):
            counts = [sum(per_day.get((c, d), 0) for c in members) for d in numbers]
            v = [sum(venues[c][i] for c in members if c in venues) for i in range(5)]
            total = sum(counts)
            population = self.inhabitants(row_unit, members)
            rows.append(
                {
                    "level": level,
                    "unit": row_unit,
                    "name": self.name(row_unit),
                    "population": population,
                    "venues_registered": v[0],
                    "venues_active_7d": v[2],
                    "venues_never_scanned": v[0] - v[1],
                    "venues_inspected": v[3],
                    "venues_compliant": v[4],
                    "checkins": total,
                    "checkins_per_day": round(total / len(days), 2),
                    "checkins_per_1000_per_day": per_thousand(total, population, len(days)),
                }
            )
            daily += [
                {"unit": row_unit, "day": d, "checkins": n}
                for d, n in zip(days, counts, strict=True)
            ]
        return {"rows": rows, "daily": daily}

    def epidemiology(self, unit: str, period: Period) -> dict[str, Any]:
        communes = self.communes(unit)
        lo, hi, numbers, days = self.day_numbers(period)
        marks = _marks(len(communes))
        where = f"WHERE commune IN ({marks}) AND day BETWEEN ? AND ? GROUP BY commune, day"
        args = (*communes, lo, hi)
        found: dict[str, dict[tuple[int, int], int]] = defaultdict(dict)
        for name, table in (("new_cases", "cases"), ("f1", "contacts"), ("f2", "f2")):
            for c, d, n in self.db.execute(
                f"SELECT commune, day, COUNT(*) FROM {table} {where}", args
            ):
                found[name][(c, d)] = n
        for c, d, due, done in self.db.execute(
            f"SELECT commune, day, COUNT(*), SUM(done) FROM follow_ups {where}", args
        ):
            found["follow_ups_due"][(c, d)] = due
            found["follow_ups_done"][(c, d)] = done
        for c, d, n in self.db.execute(
            f"WITH RECURSIVE days(d) AS (SELECT ? UNION ALL SELECT d + 1 FROM days WHERE d < ?) "
            f"SELECT q.commune, days.d, COUNT(*) FROM quarantines q "
            f"JOIN days ON q.start_day <= days.d AND q.end_day > days.d "
            f"WHERE q.commune IN ({marks}) AND NOT q.cancelled "
            f"AND q.start_day <= ? AND q.end_day > ? GROUP BY q.commune, days.d",
            (lo, hi, *communes, hi, lo),
        ):
            found["under_quarantine"][(c, d)] = n
        columns = (
            "new_cases",
            "f1",
            "f2",
            "under_quarantine",
            "follow_ups_due",
            "follow_ups_done",
        )
        rows = []
        totals = {d: dict.fromkeys(columns, 0) for d in days}
        for c in communes:
            for number, d in zip(numbers, days, strict=True):
                values = {k: found[k].get((c, number), 0) for k in columns}
                for k, n in values.items():
                    totals[d][k] += n
                if any(values.values()):
                    rows.append(
                        {
                            "unit": f"{COMMUNE}-{c}",
                            "name": admin_units.commune_name(c),
                            "day": d,
                            **values,
                        }
                    )
        return {"rows": rows, "daily": [{"unit": unit, "day": d, **totals[d]} for d in days]}

    def screening(self, unit: str, period: Period) -> dict[str, Any]:
        inside = set(self.communes(unit))
        chosen = [c for c in self.checkpoints if c.commune_code in inside]
        lo, hi, numbers, days = self.day_numbers(period)
        if not chosen:
            return {"rows": [], "daily": []}
        ids = [c.id for c in chosen]
        marks = _marks(len(ids))
        per_day: dict[tuple[str, int], tuple[int, int, int]] = {}
        for cp, d, n, secondary, fevers in self.db.execute(
            f"SELECT checkpoint, day, COUNT(*), SUM(decision = ?), SUM(fever) FROM screenings "
            f"WHERE checkpoint IN ({marks}) AND day BETWEEN ? AND ? GROUP BY checkpoint, day",
            (Outcome.SECONDARY.value, *ids, lo, hi),
        ):
            per_day[(cp, d)] = (n, secondary, fevers)
        reasons: dict[tuple[str, str], int] = {}
        for cp, reason, n in self.db.execute(
            f"SELECT r.checkpoint, r.reason, COUNT(*) FROM screening_reasons r "
            f"JOIN screenings s ON s.id = r.event "
            f"WHERE r.checkpoint IN ({marks}) AND r.day BETWEEN ? AND ? AND s.decision = ? "
            f"GROUP BY r.checkpoint, r.reason",
            (*ids, lo, hi, Outcome.SECONDARY.value),
        ):
            reasons[(cp, reason)] = n
        rows, daily = [], []
        for config in chosen:
            counts = [per_day.get((config.id, d), (0, 0, 0)) for d in numbers]
            row: dict[str, Any] = {
                "checkpoint_id": config.id,
                "name": config.name,
                "commune_code": config.commune_code,
                "passages": sum(c[0] for c in counts),
                "secondary": sum(c[1] for c in counts),
            }
            for reason in Reason:
                row[f"secondary_{reason.value}"] = reasons.get((config.id, reason.value), 0)
            row["fevers"] = sum(c[2] for c in counts)
            (timed,) = self.db.execute(
                "SELECT COUNT(decision_ms) FROM screenings "
                "WHERE checkpoint = ? AND day BETWEEN ? AND ?",
                (config.id, lo, hi),
            ).fetchone()
            for name, q in (("decision_ms_median", 0.5), ("decision_ms_p95", 0.95)):
                # the exact nearest-rank quantile (the report's is its 5 % bucket's edge)
                row[name] = (
                    self.db.execute(
                        "SELECT decision_ms FROM screenings WHERE checkpoint = ? "
                        "AND day BETWEEN ? AND ? AND decision_ms IS NOT NULL "
                        "ORDER BY decision_ms LIMIT 1 OFFSET ?",
                        (config.id, lo, hi, max(1, math.ceil(q * timed)) - 1),
                    ).fetchone()[0]
                    if timed
                    else None
                )
            rows.append(row)
            daily += [
                {
                    "checkpoint_id": config.id,
                    "day": d,
                    "passages": c[0],
                    "secondary": c[1],
                    "fevers": c[2],
                }
                for d, c in zip(days, counts, strict=True)
            ]
        return {"rows": rows, "daily": daily}

    def flags(self, unit: str, period: Period) -> dict[str, Any]:
        communes = self.communes(unit)
        lo, hi, numbers, days = self.day_numbers(period)
        found: dict[tuple[int, str, str], int] = {}
        for d, rule, status, n in self.db.execute(
            f"SELECT day, rule, status, COUNT(*) FROM flags WHERE commune IN "
            f"({_marks(len(communes))}) AND day BETWEEN ? AND ? GROUP BY day, rule, status",
            (*communes, lo, hi),
        ):
            found[(d, rule, status)] = n
        rows = [
            {
                "rule": rule.value,
                "status": status.value,
                "flags": sum(found.get((d, rule.value, status.value), 0) for d in numbers),
            }
            for rule in FlagRule
            for status in FlagStatus
        ]
        daily = [
            {
                "day": day,
                **{
                    rule.value: sum(found.get((d, rule.value, s.value), 0) for s in FlagStatus)
                    for rule in FlagRule
                },
            }
            for d, day in zip(numbers, days, strict=True)
        ]
        return {"rows": rows, "daily": daily}


# --- the month -----------------------------------------------------------------------


@dataclass
class Month:
    """What the bulk load writes to Redis: the counters the write path would leave."""

    scale: Scale
    period: Period
    now: int
    codes: list[int]
    persons: np.ndarray  # per commune
    venue_commune: np.ndarray  # commune index per venue
    active: np.ndarray  # bool per venue (withdrawn: False)
    last_scan: np.ndarray  # per venue, 0: never scanned
    inspected_at: np.ndarray  # per venue, the latest inspection, 0: none
    compliant: np.ndarray  # bool per venue: the latest inspection found the poster
    checkins: np.ndarray  # (communes, days) of the period
    # (commune index, day offset from the period's start) -> counter fields
    commune_days: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)
    quarantine: dict[int, dict[int, int]] = field(default_factory=dict)  # commune -> day -> ±
    checkpoint_days: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    checkpoints: list[CheckpointConfig] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)  # rows per table

    def day(self, offset: int) -> str:
        return (self.period.start + timedelta(days=offset)).isoformat()

    def midnight(self, offset: int) -> int:
        return ((self.period.start - EPOCH).days + offset) * DAY_S - VN_OFFSET_S


def _count(
    into: dict[tuple[Any, int], dict[str, int]],
    name: str,
    where: np.ndarray,
    day: np.ndarray,
    labels: list[Any],
) -> None:
    """Add one to `name` of (labels[where[i]], day[i]) for every i."""
    if len(where) == 0:
        return
    lo = int(day.min())
    span = int(day.max()) - lo + 1
    counts = np.bincount(where.astype(np.int64) * span + (day - lo), minlength=len(labels) * span)
    for i in np.flatnonzero(counts).tolist():
        key = (labels[i // span], i % span + lo)
        fields = into.setdefault(key, {})
        fields[name] = fields.get(name, 0) + int(counts[i])


def _pick(
    cumulative: np.ndarray, before: np.ndarray, total: np.ndarray, home: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """A venue by weight: in the home commune (before/total of its weights), or anywhere
    (home = -1). Venues of weight 0 are never picked."""
    local = home >= 0
    h = np.where(local, home, 0)
    target = np.where(local, before[h] + u * total[h], u * cumulative[-1])
    last = int(np.flatnonzero(np.diff(cumulative, prepend=0.0) > 0)[-1])
    return np.minimum(np.searchsorted(cumulative, target, side="right"), last)


def generate(
    scale: Scale,
    seed: int,
    period: Period,
    now: int,
    peer: SqlitePeer,
    checkpoints: list[CheckpointConfig],
) -> Month:
    rng = np.random.default_rng(seed)
    codes = sorted(u.code for u in admin_units.communes_of(PROVINCE_CODE))
    k, days = len(codes), scale.days
    share = rng.lognormal(0.0, 0.9, k)
    share /= share.sum()
    persons = rng.multinomial(scale.persons, share)
    person_commune = np.repeat(np.arange(k), persons)
    venue_share = share * rng.lognormal(0.0, 0.3, k)
    venue_share /= venue_share.sum()
    venues = rng.multinomial(scale.venues - 5 * k, venue_share) + 5
    venue_commune = np.repeat(np.arange(k), venues)
    nv = len(venue_commune)
    popularity = rng.lognormal(0.0, 1.0, nv)
    dormant = rng.random(nv) < 0.05  # never scanned
    popularity[dormant] = 0.0
    quiet = ~dormant & (rng.random(nv) < 0.08)  # no scan in the last 8 days
    recent_popularity = np.where(quiet, 0.0, popularity)
    active = rng.random(nv) >= 0.02  # 2 % withdrawn at the end of the month
    weights = []
    for w in (popularity, recent_popularity):
        per_commune = np.bincount(venue_commune, w, minlength=k)
        weights.append((np.cumsum(w), np.cumsum(per_commune) - per_commune, per_commune))
    registered_at = ((period.start - EPOCH).days - 40) * DAY_S - VN_OFFSET_S
    peer.insert(
        "venues",
        (
            range(nv),
            np.asarray(codes)[venue_commune].tolist(),
            [registered_at] * nv,
            active.astype(int).tolist(),
        ),
    )
    month = Month(
        scale,
        period,
        now,
        codes,
        persons,
        venue_commune,
        active,
        np.zeros(nv, np.int64),
        np.zeros(nv, np.int64),
        np.zeros(nv, bool),
        np.zeros((k, days), np.int64),
        checkpoints=checkpoints,
    )
    day0 = (period.start - EPOCH).days

    # check-ins, a day at a time (in arrival order, as the table would fill)
    gap_lo = now - ACTIVE_VENUE_DAYS * DAY_S - 300
    quiet_since = now - (ACTIVE_VENUE_DAYS + 1) * DAY_S
    opening = []
    for r in range(days):
        hi = 22 * 3600 if r < days - 1 else min(22 * 3600, now - month.midnight(r) - 120)
        weekend = (period.start + timedelta(days=r)).weekday() >= 5
        opening.append(max(0, hi - 6 * 3600) / (16 * 3600) * (1.15 if weekend else 1.0))
    per_day = rng.multinomial(scale.checkins, np.asarray(opening) / sum(opening))
    written = 0
    for r, n in enumerate(per_day.tolist()):
        if n == 0:
            continue
        mid = month.midnight(r)
        hi = 22 * 3600 if r < days - 1 else min(22 * 3600, now - mid - 120)
        at = mid + rng.integers(6 * 3600, hi, n)
        in_gap = (at >= gap_lo) & (at < gap_lo + GAP_S)
        moved = at - GAP_S
        at = np.where(in_gap, np.where(moved >= mid, moved, at + GAP_S), at)
        person = rng.integers(0, scale.persons, n)
        home = np.where(rng.random(n) < 0.8, person_commune[person], -1)
        u = rng.random(n)
        recent = at >= quiet_since
        venue = np.where(recent, _pick(*weights[1], home, u), _pick(*weights[0], home, u)).astype(
            np.int64
        )
        # one check-in per person, venue and minute (the script answers a repeat as a replay)
        key = (venue * scale.persons + person) * 1440 + (at - mid) // 60
        keep = np.unique(key, return_index=True)[1]
        keep = keep[np.argsort(at[keep], kind="stable")]
        venue, person, at = venue[keep], person[keep], at[keep]
        commune = venue_commune[venue]
        assert ((at + VN_OFFSET_S) // DAY_S == day0 + r).all()
        month.checkins[:, r] += np.bincount(commune, minlength=k)
        np.maximum.at(month.last_scan, venue, at)
        peer.insert(
            "checkins",
            (
                venue.tolist(),
                person.tolist(),
                np.asarray(codes)[commune].tolist(),
                [day0 + r] * len(venue),
                at.tolist(),
            ),
        )
        written += len(venue)
    month.records["checkins"] = written
    for c, r in zip(*np.nonzero(month.checkins), strict=True):
        month.commune_days.setdefault((int(c), int(r)), {})[CHECKINS] = int(month.checkins[c, r])

    # inspections: the latest one decides (inspected in the period, poster displayed)
    visits = rng.choice(4, nv, p=[0.35, 0.35, 0.2, 0.1])
    inspected = np.repeat(np.arange(nv), visits)
    at = now - rng.integers(3600, (days + 20) * DAY_S, len(inspected))
    keep = np.unique(inspected * (1 << 40) + at, return_index=True)[1]  # sorted: venue, at
    inspected, at = inspected[keep], at[keep]
    poster = rng.random(len(inspected)) < 0.7
    latest = np.flatnonzero(np.append(inspected[1:] != inspected[:-1], True))
    month.inspected_at[inspected[latest]] = at[latest]
    month.compliant[inspected[latest]] = poster[latest]
    peer.insert(
        "inspections",
        (
            inspected.tolist(),
            np.asarray(codes)[venue_commune[inspected]].tolist(),
            at.tolist(),
            poster.astype(int).tolist(),
        ),
    )
    month.records["inspections"] = len(inspected)
    _epidemic(month, rng, share, peer)
    _screenings(month, rng, peer)
    return month


def _epidemic(month: Month, rng: np.random.Generator, share: np.ndarray, peer: SqlitePeer) -> None:
    """A wave of cases; each case's F1 (quarantine, follow-ups) and F2; flags."""
    k, days = len(month.codes), month.scale.days
    codes = np.asarray(month.codes)
    labels = list(range(k))
    day0 = (month.period.start - EPOCH).days
    offsets = np.arange(-EPI_PRE_DAYS, days)
    wave = 1.0 + 11.0 * np.exp(-(((offsets - 0.6 * days) / (0.35 * days)) ** 2))  # /100k/day
    risk = rng.lognormal(0.0, 0.6, k)
    cases = rng.poisson(month.persons[:, None] / 1e5 * risk[:, None] * wave[None, :])
    case_commune = np.repeat(np.repeat(np.arange(k), len(offsets)), cases.ravel())
    case_day = np.repeat(np.tile(offsets, k), cases.ravel())
    nc = len(case_commune)
    _count(month.commune_days, NEW_CASES, case_commune, case_day, labels)
    peer.insert("cases", (range(nc), codes[case_commune].tolist(), (case_day + day0).tolist()))

    def elsewhere(of: np.ndarray, same: float) -> np.ndarray:
        return np.where(rng.random(len(of)) < same, of, rng.choice(k, len(of), p=share))

    # F1: recorded the day of the case or the next; 7 daily follow-ups from that day
    f1_case = np.repeat(np.arange(nc), rng.poisson(8, nc))
    f1_day = case_day[f1_case] + (rng.random(len(f1_case)) < 0.3)
    kept = f1_day <= days - 1
    f1_case, f1_day = f1_case[kept], f1_day[kept]
    f1_commune = elsewhere(case_commune[f1_case], 0.75)
    n1 = len(f1_case)
    _count(month.commune_days, F1, f1_commune, f1_day, labels)
    peer.insert(
        "contacts",
        (range(n1), f1_case.tolist(), codes[f1_commune].tolist(), (f1_day + day0).tolist()),
    )
    fu_contact = np.repeat(np.arange(n1), FOLLOW_UP_DAYS)
    fu_day = f1_day[fu_contact] + np.tile(np.arange(FOLLOW_UP_DAYS), n1)
    fu_commune = f1_commune[fu_contact]
    chance = np.where(fu_day < days - 1, 0.8, np.where(fu_day == days - 1, 0.4, 0.0))
    done = rng.random(len(fu_day)) < chance
    _count(month.commune_days, FOLLOW_UPS_DUE, fu_commune, fu_day, labels)
    _count(month.commune_days, FOLLOW_UPS_DONE, fu_commune[done], fu_day[done], labels)
    peer.insert(
        "follow_ups",
        (
            fu_contact.tolist(),
            codes[fu_commune].tolist(),
            (fu_day + day0).tolist(),
            done.astype(int).tolist(),
        ),
    )
    # a quarantine order per F1: +1 on its first day, -1 on the day it ends
    end = f1_day + rng.choice([7, 14, 21], n1, p=[0.15, 0.7, 0.15])
    cancelled = rng.random(n1) < 0.04
    for days_of, change in ((f1_day, 1), (end, -1)):
        for c, d in zip(f1_commune[~cancelled].tolist(), days_of[~cancelled].tolist(), strict=True):
            changes = month.quarantine.setdefault(c, {})
            changes[d] = changes.get(d, 0) + change
    peer.insert(
        "quarantines",
        (
            range(n1),
            codes[f1_commune].tolist(),
            (f1_day + day0).tolist(),
            (end + day0).tolist(),
            cancelled.astype(int).tolist(),
        ),
    )
    # F2: each person counted once per case, on the day first found
    f2_case = np.repeat(np.arange(nc), rng.poisson(12, nc))
    f2_person = rng.integers(0, month.scale.persons, len(f2_case))
    keep = np.unique(f2_case * (1 << 32) + f2_person, return_index=True)[1]
    f2_case, f2_person = f2_case[keep], f2_person[keep]
    f2_day = case_day[f2_case] + (rng.random(len(f2_case)) < 0.3)
    kept = f2_day <= days - 1
    f2_case, f2_person, f2_day = f2_case[kept], f2_person[kept], f2_day[kept]
    f2_commune = elsewhere(case_commune[f2_case], 0.7)
    _count(month.commune_days, F2, f2_commune, f2_day, labels)
    peer.insert(
        "f2",
        (
            f2_case.tolist(),
            f2_person.tolist(),
            codes[f2_commune].tolist(),
            (f2_day + day0).tolist(),
        ),
    )
    # flags, counted by the rule and the status they have now
    flagged = rng.poisson(month.persons[:, None] / 1e5 * 3.0 * np.ones(len(offsets))[None, :])
    flag_commune = np.repeat(np.repeat(np.arange(k), len(offsets)), flagged.ravel())
    flag_day = np.repeat(np.tile(offsets, k), flagged.ravel())
    rules, statuses = list(FlagRule), list(FlagStatus)
    rule = rng.choice(len(rules), len(flag_day))
    status = rng.choice(len(statuses), len(flag_day), p=[0.5, 0.2, 0.25, 0.05])
    for i, r in enumerate(rules):
        for j, s in enumerate(statuses):
            chosen = (rule == i) & (status == j)
            name = f"{FLAG_PREFIX}{r.value}|{s.value}"
            _count(month.commune_days, name, flag_commune[chosen], flag_day[chosen], labels)
    peer.insert(
        "flags",
        (
            range(len(flag_day)),
            codes[flag_commune].tolist(),
            (flag_day + day0).tolist(),
            [rules[i].value for i in rule.tolist()],
            [statuses[i].value for i in status.tolist()],
        ),
    )
    month.records |= {
        "cases": nc,
        "contacts": n1,
        "follow_ups": len(fu_day),
        "f2": len(f2_case),
        "quarantines": n1,
        "flags": len(flag_day),
    }


def _screenings(month: Month, rng: np.random.Generator, peer: SqlitePeer) -> None:
    """About SCREENINGS_PER_DAY a day at each checkpoint; 7 % sent to secondary screening
    for one or two reasons; 2 % with no decision time."""
    days, now = month.scale.days, month.now
    day0 = (month.period.start - EPOCH).days
    reasons = list(Reason)
    reason_p = [0.25, 0.2, 0.25, 0.12, 0.03, 0.05, 0.10]
    assert len(reasons) == len(reason_p)
    ids = [c.id for c in month.checkpoints]
    cps, ats, offs = [], [], []
    for i in range(len(ids)):
        for r in range(days):
            mid = month.midnight(r)
            hi = DAY_S if r < days - 1 else now - mid - 120
            n = rng.poisson(SCREENINGS_PER_DAY * max(0, hi) / DAY_S)
            if n:
                cps.append(np.full(n, i))
                ats.append(np.sort(mid + rng.integers(0, hi, n)))
                offs.append(np.full(n, r))
    cp, at, day = np.concatenate(cps), np.concatenate(ats), np.concatenate(offs)
    n = len(cp)
    secondary = rng.random(n) < 0.07
    first = np.where(secondary, rng.choice(len(reasons), n, p=reason_p), -1)
    second = np.where(
        secondary & (rng.random(n) < 0.3), rng.choice(len(reasons), n, p=reason_p), -1
    )
    second = np.where(second == first, -1, second)
    fever_index = reasons.index(Reason.FEVER)
    fever = (first == fever_index) | (second == fever_index)
    ms = np.round(rng.lognormal(math.log(180.0), 0.45, n), 1)
    timed = rng.random(n) >= 0.02
    # the counter fields domain.reports.screening_counters gives each event
    _count(month.checkpoint_days, PASSAGES, cp, day, ids)
    _count(month.checkpoint_days, SECONDARY, cp[secondary], day[secondary], ids)
    _count(month.checkpoint_days, FEVERS, cp[fever], day[fever], ids)
    for j, reason in enumerate(reasons):
        has = (first == j) | (second == j)
        _count(month.checkpoint_days, REASON_PREFIX + reason.value, cp[has], day[has], ids)
    buckets = np.array([latency_bucket(x) for x in ms[timed].tolist()])
    for b in np.unique(buckets).tolist():
        chosen = buckets == b
        name = f"{LATENCY_PREFIX}{b}"
        _count(month.checkpoint_days, name, cp[timed][chosen], day[timed][chosen], ids)
    names = np.asarray(ids)
    peer.insert(
        "screenings",
        (
            range(n),
            names[cp].tolist(),
            (day + day0).tolist(),
            at.tolist(),
            np.where(secondary, Outcome.SECONDARY.value, Outcome.PASS.value).tolist(),
            fever.astype(int).tolist(),
            [x if t else None for x, t in zip(ms.tolist(), timed.tolist(), strict=True)],
        ),
    )
    with_reason = np.concatenate([np.flatnonzero(first >= 0), np.flatnonzero(second >= 0)])
    reason_of = np.concatenate([first[first >= 0], second[second >= 0]])
    peer.insert(
        "screening_reasons",
        (
            with_reason.tolist(),
            names[cp[with_reason]].tolist(),
            (day[with_reason] + day0).tolist(),
            [reasons[j].value for j in reason_of.tolist()],
        ),
    )
    month.records |= {"screenings": n, "screening_reasons": len(with_reason)}


# --- ours: the counters in Redis -----------------------------------------------------


async def load_redis(url: str, month: Month) -> None:
    """HSET/SADD/ZADD in pipelines: the state the write path leaves for the same rows."""
    keys = Keys(PREFIX)
    client = redis.Redis.from_url(url, socket_timeout=600)
    pipe = client.pipeline(transaction=False)

    def flush(every: int = 2_000) -> None:
        if len(pipe) >= every:
            pipe.execute()

    for (c, r), fields in month.commune_days.items():
        if fields:
            pipe.hset(keys.commune_day(month.codes[c], month.day(r)), mapping=fields)
            flush()
    for c, changes in month.quarantine.items():
        pipe.hset(
            keys.quarantine_changes(month.codes[c]),
            mapping={month.day(d): n for d, n in changes.items()},
        )
    by_day = month.checkins.sum(axis=0)
    pipe.hset(keys.checkins_by_day(), mapping={month.day(r): int(n) for r, n in enumerate(by_day)})
    screened: dict[str, int] = defaultdict(int)
    for (cp, r), fields in month.checkpoint_days.items():
        pipe.hset(keys.checkpoint_day(cp, month.day(r)), mapping=fields)
        screened[month.day(r)] += fields.get(PASSAGES, 0)
        flush()
    pipe.hset(keys.screenings_by_day(), mapping=screened)
    for c, code in enumerate(month.codes):
        mine = np.flatnonzero((month.venue_commune == c) & month.active)
        for lo in range(0, len(mine), 5_000):
            part = mine[lo : lo + 5_000].tolist()
            pipe.sadd(keys.venues_of_commune(code), *(vid(v) for v in part))
            for key, score, chosen in (
                (keys.venues_scanned, month.last_scan, month.last_scan > 0),
                (keys.venues_inspected, month.inspected_at, month.inspected_at > 0),
                (keys.venues_compliant, month.inspected_at, month.compliant),
            ):
                mapping = {vid(v): int(score[v]) for v in part if chosen[v]}
                if mapping:
                    pipe.zadd(key(code), mapping)
            flush()
    pipe.execute()
    client.close()
    store = CheckpointStore(url, key_prefix=PREFIX)
    for config in month.checkpoints:
        await store.save(config)
    await store.close()


async def check_write_path(url: str, month: Month, peer: SqlitePeer) -> dict[str, Any]:
    """One commune-day's check-ins written through the store's check-in (another key
    prefix) leave the counters the bulk load wrote for them."""
    c = int(np.argmin(month.checkins.sum(axis=1)))
    r = int(np.flatnonzero(month.checkins[c])[-1])
    code, day = month.codes[c], month.day(r)
    rows = peer.db.execute(
        "SELECT venue, person, at FROM checkins WHERE commune = ? AND day = ? ORDER BY at",
        (code, (month.period.start - EPOCH).days + r),
    ).fetchall()
    store = EpiStore(url, key_prefix="wp")
    for venue, person, at in rows:
        created, _ = await store.check_in(vid(venue), pid(person), at, day, (), code)
        assert created, "a generated check-in was answered as a replay"
    client = redis.Redis.from_url(url, decode_responses=True)
    ours, bulk = Keys("wp"), Keys(PREFIX)
    written = client.hget(ours.commune_day(code, day), CHECKINS)
    loaded = client.hget(bulk.commune_day(code, day), CHECKINS)
    assert written == loaded == str(len(rows)), (written, loaded, len(rows))
    latest: dict[int, int] = {}
    for venue, _, at in rows:
        latest[venue] = max(at, latest.get(venue, 0))
    for venue, at in latest.items():
        if not month.active[venue]:
            continue
        score = client.zscore(ours.venues_scanned(code), vid(venue))
        assert score == at, (venue, score, at)
        loaded_score = client.zscore(bulk.venues_scanned(code), vid(venue))
        assert loaded_score is not None and loaded_score >= at
    for key in list(client.scan_iter(match="wp:*", count=10_000)):
        client.delete(key)
    client.close()
    await store.close()
    return {"commune": code, "day": day, "checkins": len(rows)}


# --- timing and checking -------------------------------------------------------------


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
    }


def same_report(kind: ReportKind, ours: dict[str, Any], peer: dict[str, Any]) -> None:
    """Every row and every daily row equal; the screening quantiles: the report's is the
    edge of the 5 % bucket holding the exact one (and so within 5 % above it)."""
    want = peer
    if kind is ReportKind.SCREENING:
        rows = []
        for row in peer["rows"]:
            row = dict(row)
            for name in ("decision_ms_median", "decision_ms_p95"):
                exact = row[name]
                if exact is not None:
                    row[name] = round(bucket_upper_ms(latency_bucket(exact)), 1)
                    mine = next(
                        r for r in ours["rows"] if r["checkpoint_id"] == row["checkpoint_id"]
                    )
                    assert exact <= mine[name] + 0.05 and mine[name] <= exact * 1.05 + 0.05
            rows.append(row)
        want = {**peer, "rows": rows}
    for part in ("rows", "daily"):
        if ours[part] != want[part]:
            diff = [(a, b) for a, b in zip(ours[part], want[part], strict=False) if a != b][:3]
            raise AssertionError(
                f"{kind.value} {part}: ours and SQLite differ "
                f"({len(ours[part])} vs {len(want[part])} rows), first: {diff}"
            )


def records_in_scope(kind: ReportKind, unit: str, report: dict[str, Any]) -> int:
    """The records the figures count (what SQLite aggregates)."""
    if kind is ReportKind.QR_DEPLOYMENT:
        return next(r["checkins"] for r in report["rows"] if r["unit"] == unit)
    if kind is ReportKind.EPIDEMIOLOGY:
        names = ("new_cases", "f1", "f2", "follow_ups_due")
        return sum(d[n] for d in report["daily"] for n in names)
    if kind is ReportKind.SCREENING:
        return sum(r["passages"] for r in report["rows"])
    return sum(r["flags"] for r in report["rows"])


async def time_both(
    service: ReportService,
    peer: SqlitePeer,
    kind: ReportKind,
    unit: str,
    period: Period,
    args: argparse.Namespace,
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Ours and SQLite alternately, call for call, so both see the same machine. SQLite
    stops (after at least 5 calls) once its calls of this case took `peer_budget_s`."""
    for _ in range(args.warmup):
        await service.report(kind, unit, period)
        peer.report(kind, unit, period)
    ours: list[float] = []
    theirs: list[float] = []
    spent = 0.0
    for _ in range(args.reps):
        t = time.perf_counter()
        out = await service.report(kind, unit, period)
        ours.append((time.perf_counter() - t) * 1000)
        if len(theirs) < 5 or spent < args.peer_budget_s:
            t = time.perf_counter()
            peer.report(kind, unit, period)
            theirs.append((time.perf_counter() - t) * 1000)
            spent += theirs[-1] / 1000
    return ours, theirs, out


def units_to_time(
    month: Month, centres: Jurisdictions
) -> list[tuple[ReportKind, str, str, Period]]:
    """(report, level, unit, period): the smallest, median and largest commune by
    check-ins, the largest health centre and the province over the month; screening
    where the checkpoints are; and the province over the longest period a report may
    span (the counters read grow with communes x days, whatever the records)."""
    totals = month.checkins.sum(axis=1)
    order = np.argsort(totals, kind="stable")
    communes = {
        "commune (smallest)": month.codes[int(order[0])],
        "commune (median)": month.codes[int(order[len(order) // 2])],
        "commune (largest)": month.codes[int(order[-1])],
    }
    by_code = dict(zip(month.codes, totals.tolist(), strict=True))
    centre = max(centres.centres, key=lambda c: sum(by_code.get(x, 0) for x in c.communes))
    levels = [
        *((level, f"commune-{code}") for level, code in communes.items()),
        ("centre (largest)", f"centre-{centre.code}"),
        ("province", f"province-{PROVINCE_CODE}"),
    ]
    period = month.period
    out = []
    for kind in (ReportKind.QR_DEPLOYMENT, ReportKind.EPIDEMIOLOGY, ReportKind.FLAGS):
        out += [(kind, level, unit, period) for level, unit in levels]
    first = month.checkpoints[0].commune_code
    home = centres.centre_of(first)
    out.append((ReportKind.SCREENING, "commune (checkpoint)", f"commune-{first}", period))
    if home is not None:
        out.append((ReportKind.SCREENING, "centre (checkpoint)", f"centre-{home.code}", period))
    out.append((ReportKind.SCREENING, "province", f"province-{PROVINCE_CODE}", period))
    year = Period(period.end - timedelta(days=MAX_PERIOD_DAYS - 1), period.end)
    for kind in (ReportKind.QR_DEPLOYMENT, ReportKind.EPIDEMIOLOGY):
        out.append((kind, f"province, {MAX_PERIOD_DAYS} days", f"province-{PROVINCE_CODE}", year))
    return out


async def run(name: str, scale: Scale, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(health_centres_config=ROOT / "cluster" / "health_centres.yaml")
    centres = jurisdictions(settings)
    checkpoints = load_checkpoints(ROOT / "cluster" / "checkpoints.yaml")
    period = ReportService.period(None, None)
    assert (period.end - period.start).days + 1 == scale.days
    now = int(time.time())
    work = Path(tempfile.mkdtemp(prefix="dichte-reports-", dir=args.workdir))
    try:
        return await _run(name, scale, args, centres, checkpoints, period, now, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _run(
    name: str,
    scale: Scale,
    args: argparse.Namespace,
    centres: Jurisdictions,
    checkpoints: list[CheckpointConfig],
    period: Period,
    now: int,
    work: Path,
) -> dict[str, Any]:
    print(f"[{name}] {scale}", flush=True)
    # the peer's population figures are filled in once the month is made
    peer = SqlitePeer(work / "records.sqlite", centres, Population({}, {}), checkpoints)
    peer.create()
    t = time.perf_counter()
    month = generate(scale, args.seed, period, now, peer, checkpoints)
    generate_s = time.perf_counter() - t - peer.insert_s
    population = Population(
        dict(zip(month.codes, month.persons.tolist(), strict=True)),
        {PROVINCE_CODE: scale.persons},
    )
    peer.scopes = ReportScopes(centres, population)
    print(
        f"[{name}] generated in {generate_s:.0f} s; SQLite rows inserted in "
        f"{peer.insert_s:.0f} s; {month.records}",
        flush=True,
    )
    index_s = peer.index()
    sqlite_bytes = peer.path.stat().st_size
    print(f"[{name}] SQLite indexed in {index_s:.0f} s, {sqlite_bytes / 2**30:.2f} GiB", flush=True)

    with EmbeddedRedis(work, append_only=False) as server:
        client = redis.Redis.from_url(server.url)
        before = int(client.info("memory")["used_memory"])
        t = time.perf_counter()
        await load_redis(server.url, month)
        redis_load_s = time.perf_counter() - t
        after = int(client.info("memory")["used_memory"])
        redis_keys = int(client.dbsize())
        redis_version = str(client.info("server")["redis_version"])
        print(
            f"[{name}] Redis loaded in {redis_load_s:.1f} s: {redis_keys:,} keys, "
            f"{(after - before) / 2**20:.1f} MiB",
            flush=True,
        )
        write_path = await check_write_path(server.url, month, peer)
        print(f"[{name}] write path check: {write_path}", flush=True)

        stats = StatsStore(server.url, key_prefix=PREFIX)
        store = CheckpointStore(server.url, key_prefix=PREFIX)
        service = ReportService(stats, store, centres, population)
        cases = []
        load_before = os.getloadavg()
        for kind, level, unit, span in units_to_time(month, centres):
            ours_t, peer_t, ours = await time_both(service, peer, kind, unit, span, args)
            # checked on a fresh pair, back to back
            same_report(kind, await service.report(kind, unit, span), peer.report(kind, unit, span))
            communes = len(peer.communes(unit))
            case = {
                "report": kind.value,
                "level": level,
                "unit": unit,
                "name": peer.name(unit),
                "communes": communes,
                "days": (span.end - span.start).days + 1,
                "records_in_scope": records_in_scope(kind, unit, ours),
                "ours": summary(ours_t),
                "sqlite": summary(peer_t),
            }
            case["sqlite_over_ours"] = round(case["sqlite"]["p50_ms"] / case["ours"]["p50_ms"], 3)
            cases.append(case)
            print(
                f"[{name}] {kind.value:14} {level:22} {unit:15} ours p50 "
                f"{case['ours']['p50_ms']:8.1f} ms p95 {case['ours']['p95_ms']:8.1f} ms | SQLite "
                f"p50 {case['sqlite']['p50_ms']:9.1f} ms p95 {case['sqlite']['p95_ms']:9.1f} ms",
                flush=True,
            )
        await stats.close()
        await store.close()
        peak = int(client.info("memory")["used_memory_peak"])
        load_after = os.getloadavg()
        client.close()
    assert int(time.time()) - now < GAP_S, "the run outlasted the data's active-venue margin"
    peer.db.close()
    totals = month.checkins.sum(axis=1)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": asdict(scale),
        "seed": args.seed,
        "period": [period.start.isoformat(), period.end.isoformat()],
        "reps": args.reps,
        "warmup": args.warmup,
        "redis_version": redis_version,
        "data": {
            "communes": len(month.codes),
            "persons_per_commune": {
                "min": int(month.persons.min()),
                "median": int(np.median(month.persons)),
                "max": int(month.persons.max()),
            },
            "checkins_per_commune": {
                "min": int(totals.min()),
                "median": int(np.median(totals)),
                "max": int(totals.max()),
            },
            "venues_never_scanned": int(((month.last_scan == 0) & month.active).sum()),
            "venues_withdrawn": int((~month.active).sum()),
            "records": month.records,
        },
        "load": {
            "generate_s": round(generate_s, 1),
            "redis_load_s": round(redis_load_s, 2),
            "redis_keys": redis_keys,
            "redis_counter_bytes": after - before,
            "redis_peak_bytes": peak,
            "sqlite_insert_s": round(peer.insert_s, 1),
            "sqlite_index_s": round(index_s, 1),
            "sqlite_file_bytes": sqlite_bytes,
        },
        "write_path_check": write_path,
        "load_average": {
            "timing_start": [round(x, 2) for x in load_before],
            "timing_end": [round(x, 2) for x in load_after],
        },
        "cases": cases,
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


# --- results -------------------------------------------------------------------------


def tracing_bytes_per_checkin() -> float | None:
    """Redis memory per check-in kept with its tracing indexes (bench/tracing.py's run)."""
    try:
        found = json.loads((RESULTS / "tracing.json").read_text())
        return float(found["redis"]["memory_bytes"]) / float(found["population"]["checkins"])
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return None


def target(case: dict[str, Any]) -> str:
    limit = (
        200.0
        if case["level"].startswith("commune")
        else 1000.0
        if case["level"] == "province"
        else None
    )
    if case["level"].startswith("province,"):
        over = case["ours"]["p95_ms"] >= 1000.0
        return f"{'OVER' if over else 'under'} 1 s (the target is for a month)"
    if limit is None:
        return "—"
    return f"{'met' if case['ours']['p95_ms'] < limit else 'MISSED'} (< {limit:.0f} ms)"


def ratio(x: float) -> str:
    return f"{x:,.1f}×" if x >= 1 else f"{x:.2f}×"


def write(report: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reports.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    m = report["machine"]
    per_checkin = tracing_bytes_per_checkin()
    lines = [
        "# Report latency per unit level",
        "",
        "Ours: `ReportService.report()` in-process (as the API calls it) against an embedded "
        f"Redis {report['redis_version']} holding the counters kept at write time. "
        "Peer: the same figures computed by SQLite "
        f"{m['sqlite']} with GROUP BY over the records (one file on disk; check-ins indexed "
        "on (commune, day) and (venue, at), the other tables on (commune, day) or their "
        "keys; ANALYZE; 256 MiB page cache), queried in the same process, same run. "
        "Both gave the same numbers for every report and unit timed (screening's decision "
        "time quantiles: the report's is the edge of the 5 % bucket holding SQLite's exact "
        "one).",
        "",
        "The counters were loaded in bulk, as the write path leaves them for these rows "
        "(aggregated with numpy, then HSET/SADD/ZADD in pipelines); one commune-day's "
        "check-ins were also written through the store's check-in and left the same "
        "counters. Writing every check-in through the script would also keep the tracing "
        "indexes, which no report reads"
        + (
            f" (about {per_checkin * 50e6 / 2**30:.0f} GiB of Redis at 50 M check-ins, "
            "from bench/results/tracing.json)"
            if per_checkin
            else ""
        )
        + "; the write path's cost is bench/checkins.py's.",
        "",
        f"Machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, Python {m['python']}, "
        f"numpy {m['numpy']}, {m['platform']}. Each case: {report['warmup']} warm-up calls, "
        f"then {report['reps']} timed calls, ours and SQLite alternately (SQLite stops after "
        f"5 once its calls of a case took {report['peer_budget_s']:.0f} s: n says how many). "
        "Latency is the wall time of the call in this process, Redis and SQLite on the same "
        "machine.",
    ]
    for name in sorted(report["runs"], key=lambda n: report["runs"][n]["scale"]["checkins"]):
        run = report["runs"][name]
        s, load, data = run["scale"], run["load"], run["data"]
        records = data["records"]
        lines += [
            "",
            f"## {name}: {s['persons']:,} persons, {s['venues']:,} venues, "
            f"{records['checkins']:,} check-ins over {s['days']} days",
            "",
            f"Run {run['date']}, period {run['period'][0]} to {run['period'][1]}, seed "
            f"{run['seed']}. {data['communes']} communes of {data['persons_per_commune']['min']:,}"
            f" to {data['persons_per_commune']['max']:,} persons (median "
            f"{data['persons_per_commune']['median']:,}) and "
            f"{data['checkins_per_commune']['min']:,} to {data['checkins_per_commune']['max']:,}"
            f" check-ins (median {data['checkins_per_commune']['median']:,}); "
            f"{records['cases']:,} cases, {records['contacts']:,} F1 "
            f"({records['follow_ups']:,} follow-ups, {records['quarantines']:,} quarantine "
            f"orders), {records['f2']:,} F2, {records['flags']:,} flags, "
            f"{records['inspections']:,} inspections, {records['screenings']:,} screenings.",
            "",
            f"Data made in {load['generate_s']:.0f} s. Redis: counters loaded in "
            f"{load['redis_load_s']:.1f} s, {load['redis_keys']:,} keys, "
            f"{load['redis_counter_bytes'] / 2**20:.1f} MiB (INFO used_memory delta). "
            f"SQLite: rows inserted in {load['sqlite_insert_s']:.0f} s, indexed and analysed "
            f"in {load['sqlite_index_s']:.0f} s, file {load['sqlite_file_bytes'] / 2**30:.2f} "
            f"GiB. Benchmark process peak RSS {run['process_peak_rss_bytes'] / 2**30:.1f} GiB. "
            + (
                f"Load average (1, 5, 15 min) when timing began "
                f"{', '.join(map(str, run['load_average']['timing_start']))}, when it ended "
                f"{', '.join(map(str, run['load_average']['timing_end']))}."
                if "load_average" in run
                else ""
            ),
            "",
            "| report | level | unit | communes | records in scope | ours p50 | ours p95 "
            "| SQLite p50 | SQLite p95 (n) | SQLite ÷ ours (p50) | target (ours p95) |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for c in run["cases"]:
            o, q = c["ours"], c["sqlite"]
            lines.append(
                f"| {c['report']} | {c['level']} | {c['unit']} {c['name']} | {c['communes']} "
                f"| {c['records_in_scope']:,} | {o['p50_ms']:.1f} ms | {o['p95_ms']:.1f} ms "
                f"| {q['p50_ms']:.1f} ms | {q['p95_ms']:.1f} ms ({q['n']}) "
                f"| {ratio(c['sqlite_over_ours'])} | {target(c)} |"
            )
    (RESULTS / "reports.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sqlite": sqlite3.sqlite_version,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size",
        default="small,province",
        help="comma-separated: " + ", ".join(f"{k} {v}" for k, v in SIZES.items()),
    )
    parser.add_argument("--quick", action="store_true", help="the small size only")
    parser.add_argument("--persons", type=int, help="override (one size only)")
    parser.add_argument("--venues", type=int, help="override (one size only)")
    parser.add_argument("--checkins", type=int, help="override (one size only)")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--peer-budget-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=44)
    parser.add_argument("--workdir", default=None, help="where the SQLite file is made")
    args = parser.parse_args()
    names = ["small"] if args.quick else [n.strip() for n in args.size.split(",") if n.strip()]
    overrides = {k: getattr(args, k) for k in ("persons", "venues", "checkins")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides and len(names) != 1:
        parser.error("--persons/--venues/--checkins apply to one --size")
    found = RESULTS / "reports.json"
    previous: dict[str, Any] = {}
    if found.exists():
        previous = json.loads(found.read_text()).get("runs", {})
    runs = dict(previous)
    redis_version = ""
    for name in names:
        if name not in SIZES:
            parser.error(f"unknown size {name!r}")
        scale = Scale(**{**asdict(SIZES[name]), **overrides})
        label = name if not overrides else "custom"
        runs[label] = await run(label, scale, args)
        redis_version = runs[label]["redis_version"]
        write(
            {
                "benchmark": "report latency per unit level: counters in Redis vs SQLite GROUP BY",
                "machine": machine(),
                "redis_version": redis_version,
                "reps": args.reps,
                "warmup": args.warmup,
                "peer_budget_s": args.peer_budget_s,
                "runs": runs,
            }
        )


if __name__ == "__main__":
    asyncio.run(main())
