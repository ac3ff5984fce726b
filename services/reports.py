"""Reports per commune, health centre and province, from the counters kept at write
time (domain.reports defines every figure). A report names its unit (default the
caller's own) and its period; it answers JSON rows, or CSV of the same rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from dichte.domain import admin_units
from dichte.domain.clock import VIETNAM_TZ, now_utc, today_in_vietnam
from dichte.domain.errors import DomainError
from dichte.domain.flags import FlagRule, FlagStatus
from dichte.domain.jurisdictions import CENTRE, COMMUNE, Jurisdictions, parse_unit, unit_readable
from dichte.domain.reports import (
    ACTIVE_VENUE_DAYS,
    CHECKINS,
    F1,
    F2,
    FEVERS,
    FLAG_PREFIX,
    FOLLOW_UPS_DONE,
    FOLLOW_UPS_DUE,
    LATENCY_PREFIX,
    NEW_CASES,
    PASSAGES,
    REASON_PREFIX,
    SECONDARY,
    Period,
    Population,
    ReportKind,
    per_thousand,
    quantile_ms,
    summed,
    under_quarantine,
)
from dichte.domain.screening import Reason
from dichte.domain.tokens import StaffClaims
from dichte.store.checkpoints import CheckpointStore
from dichte.store.stats import Counters, StatsStore, VenueCounts

Row = dict[str, Any]


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(), VIETNAM_TZ).timestamp())


class ReportScopes:
    """What a report's unit spans: its communes, the rows it has (each commune, the
    centres it reaches, itself), their names and inhabitants. The one reading of a
    unit, for the reports and for whatever recomputes them."""

    def __init__(self, jurisdictions: Jurisdictions, population: Population) -> None:
        self.units = jurisdictions
        self.population = population

    def communes(self, unit: str) -> list[int]:
        kind, code = parse_unit(unit)
        if kind == COMMUNE:
            return [code]
        if kind == CENTRE:
            centre = self.units.centre(code)
            return sorted(centre.communes) if centre else []
        return sorted(u.code for u in admin_units.communes_of(code))

    def groups(self, unit: str, communes: list[int]) -> list[tuple[str, str, list[int]]]:
        """(level, unit, communes) of each row: every commune, then every centre the
        scope reaches (for a centre or a province), then the scope itself."""
        kind, _ = parse_unit(unit)
        rows = [(COMMUNE, f"{COMMUNE}-{c}", [c]) for c in communes]
        if kind == COMMUNE:
            return rows
        inside = set(communes)
        for centre in self.units.centres:
            if inside & set(centre.communes):
                rows.append((CENTRE, f"{CENTRE}-{centre.code}", sorted(centre.communes)))
        if kind != CENTRE:
            rows.append((kind, unit, communes))
        return rows

    def name(self, unit: str) -> str:
        kind, code = parse_unit(unit)
        if kind == COMMUNE:
            return admin_units.commune_name(code) or ""
        if kind == CENTRE:
            centre = self.units.centre(code)
            return centre.name if centre else ""
        found = admin_units.province(code)
        return found.name if found else ""

    def inhabitants(self, unit: str, communes: list[int]) -> int | None:
        kind, code = parse_unit(unit)
        if kind not in (COMMUNE, CENTRE) and code in self.population.provinces:
            return self.population.provinces[code]
        return self.population.of_communes(communes)


class ReportService:
    def __init__(
        self,
        stats: StatsStore,
        checkpoints: CheckpointStore,
        jurisdictions: Jurisdictions,
        population: Population,
    ) -> None:
        self._stats = stats
        self._checkpoints = checkpoints
        self._units = jurisdictions
        self.scopes = ReportScopes(jurisdictions, population)

    # --- scope -------------------------------------------------------------------------
    def scope(self, staff: StaffClaims, unit: str | None, kind: ReportKind) -> str:
        chosen = unit or self._units.home_unit(staff)
        if chosen is None:
            raise DomainError.of("unit", "unit_required")
        return unit_readable(self._units, staff, chosen, flags=kind is ReportKind.FLAGS)

    @staticmethod
    def _head(kind: ReportKind, unit: str, period: Period) -> Row:
        return {
            "report": kind.value,
            "unit": unit,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "generated_at": now_utc().replace(microsecond=0).isoformat(),
        }

    @staticmethod
    def period(start: date | None, end: date | None) -> Period:
        return Period.of(start, end, today_in_vietnam())

    # --- QR deployment -----------------------------------------------------------------
    async def qr_deployment(self, unit: str, period: Period) -> Row:
        communes = self.scopes.communes(unit)
        days = period.days()
        counters = await self._stats.commune_days(communes, days)
        now = int(now_utc().timestamp())
        venues = await self._stats.venue_counts(
            communes,
            now - ACTIVE_VENUE_DAYS * 86_400,
            (_midnight(period.start), _midnight(period.end + timedelta(days=1))),
        )
        rows, daily = [], []
        for level, row_unit, members in self.scopes.groups(unit, communes):
            # a row's communes are all in the scope: a centre lies in one province
            per_day = [sum(counters[(c, d)].get(CHECKINS, 0) for c in members) for d in days]
            v = _venue_sum(venues[c] for c in members)
            total = sum(per_day)
            population = self.scopes.inhabitants(row_unit, members)
            rows.append(
                {
                    "level": level,
                    "unit": row_unit,
                    "name": self.scopes.name(row_unit),
                    "population": population,
                    "venues_registered": v.registered,
                    "venues_active_7d": v.active,
                    "venues_never_scanned": v.registered - v.scanned_ever,
                    "venues_inspected": v.inspected,
                    "venues_compliant": v.compliant,
                    "checkins": total,
                    "checkins_per_day": round(total / len(days), 2),
                    "checkins_per_1000_per_day": per_thousand(total, population, len(days)),
                }
            )
            daily += [
                {"unit": row_unit, "day": d, "checkins": n}
                for d, n in zip(days, per_day, strict=True)
            ]
        return {**self._head(ReportKind.QR_DEPLOYMENT, unit, period), "rows": rows, "daily": daily}

    # --- screening ---------------------------------------------------------------------
    async def screening(self, unit: str, period: Period) -> Row:
        inside = set(self.scopes.communes(unit))
        _, configs = await self._checkpoints.all()
        chosen = [c for c in configs if c.commune_code in inside]
        days = period.days()
        counters = await self._stats.checkpoint_days([c.id for c in chosen], days)
        rows, daily = [], []
        for config in chosen:
            per_day = [counters[(config.id, d)] for d in days]
            histogram = _histogram(per_day)
            row: Row = {
                "checkpoint_id": config.id,
                "name": config.name,
                "commune_code": config.commune_code,
                "passages": summed(per_day, PASSAGES),
                "secondary": summed(per_day, SECONDARY),
            }
            for reason in Reason:
                row[f"secondary_{reason.value}"] = summed(per_day, REASON_PREFIX + reason.value)
            row["fevers"] = summed(per_day, FEVERS)
            row["decision_ms_median"] = quantile_ms(histogram, 0.5)
            row["decision_ms_p95"] = quantile_ms(histogram, 0.95)
            rows.append(row)
            daily += [
                {
                    "checkpoint_id": config.id,
                    "day": d,
                    "passages": c.get(PASSAGES, 0),
                    "secondary": c.get(SECONDARY, 0),
                    "fevers": c.get(FEVERS, 0),
                }
                for d, c in zip(days, per_day, strict=True)
            ]
        return {**self._head(ReportKind.SCREENING, unit, period), "rows": rows, "daily": daily}

    # --- epidemiology ------------------------------------------------------------------
    async def epidemiology(self, unit: str, period: Period) -> Row:
        communes = self.scopes.communes(unit)
        days = period.days()
        counters = await self._stats.commune_days(communes, days)
        changes = await self._stats.quarantine_changes(communes)
        rows = []
        totals = {d: dict.fromkeys(_EPI_COLUMNS, 0) for d in days}
        for c in communes:
            quarantined = under_quarantine(changes[c], days)
            for d, q in zip(days, quarantined, strict=True):
                day = counters[(c, d)]
                values = {
                    "new_cases": day.get(NEW_CASES, 0),
                    "f1": day.get(F1, 0),
                    "f2": day.get(F2, 0),
                    "under_quarantine": q,
                    "follow_ups_due": day.get(FOLLOW_UPS_DUE, 0),
                    "follow_ups_done": day.get(FOLLOW_UPS_DONE, 0),
                }
                for name, value in values.items():
                    totals[d][name] += value
                if any(values.values()):  # a row per commune and day with something in it
                    rows.append(
                        {
                            "unit": f"{COMMUNE}-{c}",
                            "name": admin_units.commune_name(c),
                            "day": d,
                            **values,
                        }
                    )
        daily = [{"unit": unit, "day": d, **totals[d]} for d in days]
        return {**self._head(ReportKind.EPIDEMIOLOGY, unit, period), "rows": rows, "daily": daily}

    # --- flags -------------------------------------------------------------------------
    async def flags(self, unit: str, period: Period) -> Row:
        communes = self.scopes.communes(unit)
        days = period.days()
        counters = await self._stats.commune_days(communes, days)
        counts = _flag_counts(counters.values())
        rows = [
            {
                "rule": rule.value,
                "status": status.value,
                "flags": counts.get((rule.value, status.value), 0),
            }
            for rule in FlagRule
            for status in FlagStatus
        ]
        daily = []
        for d in days:
            per_rule = _flag_counts(counters[(c, d)] for c in communes)
            daily.append(
                {
                    "day": d,
                    **{
                        rule.value: sum(n for (r, _), n in per_rule.items() if r == rule.value)
                        for rule in FlagRule
                    },
                }
            )
        return {**self._head(ReportKind.FLAGS, unit, period), "rows": rows, "daily": daily}

    async def report(self, kind: ReportKind, unit: str, period: Period) -> Row:
        match kind:
            case ReportKind.QR_DEPLOYMENT:
                return await self.qr_deployment(unit, period)
            case ReportKind.SCREENING:
                return await self.screening(unit, period)
            case ReportKind.EPIDEMIOLOGY:
                return await self.epidemiology(unit, period)
        return await self.flags(unit, period)


_EPI_COLUMNS = (
    "new_cases",
    "f1",
    "f2",
    "under_quarantine",
    "follow_ups_due",
    "follow_ups_done",
)


def _venue_sum(counts: Iterable[VenueCounts]) -> VenueCounts:
    found = list(counts)
    return VenueCounts(
        registered=sum(c.registered for c in found),
        scanned_ever=sum(c.scanned_ever for c in found),
        active=sum(c.active for c in found),
        inspected=sum(c.inspected for c in found),
        compliant=sum(c.compliant for c in found),
    )


def _histogram(days: Iterable[Mapping[str, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for day in days:
        for name, n in day.items():
            if name.startswith(LATENCY_PREFIX):
                bucket = int(name[len(LATENCY_PREFIX) :])
                out[bucket] = out.get(bucket, 0) + n
    return out


def _flag_counts(days: Iterable[Counters]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for day in days:
        for name, n in day.items():
            if name.startswith(FLAG_PREFIX):
                rule, _, status = name[len(FLAG_PREFIX) :].partition("|")
                out[(rule, status)] = out.get((rule, status), 0) + n
    return out
