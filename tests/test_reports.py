"""The reports against a direct count: a generated month of venues, check-ins,
inspections, cases, F1 and F2, follow-ups, quarantine orders, screening events and
flags is written through the stores' write paths (which keep the counters), then
every figure of every report, for a commune, a health centre and the province, is
recomputed here by counting the generated records themselves."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import secrets
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dichte.domain.cases import (
    Case,
    Classification,
    ContactRecord,
    ExposureOut,
    FollowUp,
    FollowUpRecord,
    FollowUpStatus,
    QuarantineKind,
    QuarantineOrder,
    QuarantineStatus,
    follow_ups_done_change,
)
from dichte.domain.checkpoints import CheckpointConfig
from dichte.domain.clock import VIETNAM_TZ
from dichte.domain.errors import DomainError
from dichte.domain.flags import Flag, FlagChange, FlagRule, FlagStatus
from dichte.domain.inspections import Inspection
from dichte.domain.reports import Period, Population, ReportKind, as_csv, exact_quantile
from dichte.domain.screening import (
    DeclarationStatus,
    EventDeclaration,
    EventPerson,
    Outcome,
    Reason,
    ScreeningEvent,
)
from dichte.domain.settings import Settings
from dichte.domain.venues import Venue, VenueType
from dichte.services.reports import ReportService
from dichte.services.wiring import jurisdictions
from dichte.store.checkpoints import CheckpointStore
from dichte.store.epi import EpiStore
from dichte.store.flags import FlagStore
from dichte.store.inspections import InspectionStore
from dichte.store.stats import StatsStore

# The store's scripts and transactions also run on a three-primary Redis Cluster.
ON_REDIS_CLUSTER = True

PROVINCE = 44
VINH_LINH_CENTRE = 464
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.astimezone(VIETNAM_TZ).date()
DAYS = 12  # the month is shortened: the counting is the same


def day_of(at: datetime) -> str:
    return at.astimezone(VIETNAM_TZ).date().isoformat()


class Month:
    """What was written, kept here to count directly."""

    def __init__(self, seed: int, communes: list[int]) -> None:
        self.rng = random.Random(seed)
        self.communes = communes
        self.venues: list[Venue] = []
        self.withdrawn: set[str] = set()
        self.checkins: list[tuple[str, int, datetime]] = []  # venue, commune, at
        self.inspections: list[Inspection] = []
        self.cases: list[Case] = []
        self.contacts: dict[str, ContactRecord] = {}
        self.contact_days: dict[str, str] = {}
        self.f2: dict[tuple[str, str], tuple[int, str]] = {}  # (case, person) -> commune, day
        self.orders: dict[str, QuarantineOrder] = {}
        self.events: list[ScreeningEvent] = []
        self.flags: dict[str, Flag] = {}

    def when(self) -> datetime:
        """A moment in the last DAYS days, not within an hour of a week ago (whether a
        venue was active in the last 7 days must not hang on the seconds a test takes)."""
        while True:
            at = NOW - timedelta(seconds=self.rng.randrange(1, DAYS * 86_400))
            if abs((NOW - at) - timedelta(days=7)) > timedelta(hours=1):
                return at


async def write_month(settings: Settings, m: Month) -> None:
    rng = m.rng
    epi = EpiStore.of(settings)
    inspections = InspectionStore.of(settings)
    checkpoints = CheckpointStore.of(settings)
    flags = FlagStore.of(settings)
    j = jurisdictions(settings)
    for commune in m.communes:
        for _ in range(rng.randrange(2, 9)):
            venue = Venue(
                id=secrets.token_hex(16),
                name="Quán",
                type=VenueType.CAFE,
                owner_phone="0912000111",
                commune_code=commune,
                province_code=PROVINCE,
                street="",
                capacity=None,
                created_at=NOW - timedelta(days=40),
            )
            await epi.add_venue(venue, j.units_of([commune]))
            m.venues.append(venue)
    for venue in m.venues:  # some never scanned, some quiet for over a week
        for _ in range(rng.choice([0, 0, 1, 3, 8])):
            at = m.when()
            person = secrets.token_hex(8)
            await epi.check_in(
                venue.id, person, int(at.timestamp()), day_of(at), (), venue.commune_code
            )
            m.checkins.append((venue.id, venue.commune_code, at))
    for venue in rng.sample(m.venues, 2):  # withdrawn: out of the registered counts
        m.withdrawn.add(venue.id)
        await epi.save_venue(venue.model_copy(update={"active": False}))
    for venue in rng.sample(m.venues, len(m.venues) // 2):
        if venue.id in m.withdrawn:
            continue
        for visit in range(rng.choice([1, 2])):
            inspection = Inspection(
                id=secrets.token_hex(16),
                venue_id=venue.id,
                commune_code=venue.commune_code,
                at=NOW - timedelta(days=rng.choice([1, 3, DAYS + 5]), seconds=visit),
                by="inspector",
                role="commune",
                poster_displayed=rng.random() < 0.6,
                people_present=3,
                scans_seen_last_hour=1,
                photo=False,
            )
            # the latest visit is the last written (as in the field)
            m.inspections.append(inspection)
        for inspection in sorted(
            [i for i in m.inspections if i.venue_id == venue.id], key=lambda i: i.at
        ):
            await inspections.record(inspection, None, ())
    for _ in range(25):
        commune = rng.choice([*m.communes, None])
        case = Case(
            id=secrets.token_hex(16),
            person_id=secrets.token_hex(8),
            document_number="0",
            full_name="",
            commune_code=commune,
            province_code=PROVINCE,
            classification=Classification.CONFIRMED,
            created_at=m.when(),
        )
        await epi.create_case(case)
        m.cases.append(case)
        recorded_at = case.created_at + timedelta(hours=2)
        batch = []
        for _ in range(rng.randrange(0, 5)):
            contact_commune = rng.choice(m.communes)
            last = recorded_at - timedelta(days=1)
            contact = ContactRecord(
                id=secrets.token_hex(16),
                case_id=case.id,
                person_id=secrets.token_hex(8),
                document_number="0",
                full_name="",
                commune_code=contact_commune,
                province_code=PROVINCE,
                exposures=[ExposureOut(kind="venue", at=last, place="v", with_person="p")],
                first_exposure=last,
                last_exposure=last,
                follow_ups=[
                    FollowUp(date=last.astimezone(VIETNAM_TZ).date() + timedelta(days=d))
                    for d in range(1, 8)
                ],
            )
            batch.append((contact, ()))
            m.contacts[contact.id] = contact
            m.contact_days[contact.id] = day_of(recorded_at)
        await epi.add_contacts(case.id, batch, now=recorded_at)
        await epi.add_contacts(case.id, batch, now=recorded_at)  # idempotent
        f2 = {secrets.token_hex(8): rng.choice(m.communes) for _ in range(rng.randrange(0, 4))}
        for repeat in range(2):  # traced twice: each F2 counted once
            await epi.count_f2(case.id, f2, day_of(recorded_at + timedelta(days=repeat)))
        for p, c in f2.items():
            m.f2[(case.id, p)] = (c, day_of(recorded_at))
    for contact in list(m.contacts.values()):  # follow-ups recorded, one set back
        before = contact
        for f in contact.follow_ups:
            if f.date <= TODAY and rng.random() < 0.5:
                after = before.recorded(FollowUpRecord(date=f.date, status=FollowUpStatus.SEEN_OK))
                await epi.save_contact(after, (), follow_ups_done_change(before, after))
                before = after
        done = [f for f in before.follow_ups if f.status is not FollowUpStatus.PENDING]
        if done and rng.random() < 0.3:
            after = before.recorded(
                FollowUpRecord(date=done[0].date, status=FollowUpStatus.PENDING)
            )
            await epi.save_contact(after, (), follow_ups_done_change(before, after))
            before = after
        m.contacts[contact.id] = before
    for _ in range(30):
        start = m.when()
        order = QuarantineOrder(
            id=secrets.token_hex(16),
            person_id=secrets.token_hex(8),
            kind=QuarantineKind.HOME,
            place="",
            start=start,
            end=start + timedelta(days=rng.choice([0, 3, 7, 14]), hours=rng.randrange(0, 20)),
            commune_code=rng.choice(m.communes),
            province_code=PROVINCE,
        )
        await epi.add_quarantine(order)
        change = rng.random()
        if change < 0.3:
            changed = order.model_copy(update={"status": QuarantineStatus.CANCELLED})
        elif change < 0.6:
            changed = order.model_copy(update={"end": order.end + timedelta(days=4)})
        else:
            changed = order
        if changed is not order:
            await epi.save_quarantine(changed, (), before=order)
        m.orders[order.id] = changed
    configs = [
        CheckpointConfig(id=f"cp-{c}", name=f"Chốt {c}", commune_code=c) for c in m.communes[:2]
    ]
    for config in configs:
        await checkpoints.save(config)
    reasons = list(Reason)
    for i in range(120):
        config = rng.choice(configs)
        at = m.when()
        chosen = rng.sample(reasons, rng.choice([0, 0, 1, 2]))
        event = ScreeningEvent(
            event_id=secrets.token_hex(16),
            checkpoint_id=config.id,
            lane=1,
            camera_id="v",
            at=at,
            frames=(i, i + 3),
            decision=Outcome.SECONDARY if chosen else Outcome.PASS,
            reasons=chosen,
            temperature=None,
            person=EventPerson(person_id=secrets.token_hex(8), score=None, via="qr"),
            declaration=EventDeclaration(status=DeclarationStatus.VALID),
            decision_ms=round(rng.lognormvariate(6.0, 0.8)),
        )
        await checkpoints.record_event(
            event=event, day=day_of(at), plate="", at=int(at.timestamp())
        )
        m.events.append(event)
    for _ in range(40):
        raised_at = m.when()
        flag = Flag(
            id=secrets.token_hex(16),
            rule=rng.choice(list(FlagRule)),
            person_id=secrets.token_hex(8),
            declaration_id=secrets.token_hex(16),
            commune_code=rng.choice(m.communes),
            province_code=PROVINCE,
            evidence=[],
            raised_at=raised_at,
            history=[FlagChange(status=FlagStatus.OPEN, by="system", role="system", at=raised_at)],
        )
        await flags.raise_flag(flag, ())
        for status in rng.sample(list(FlagStatus)[1:], rng.choice([0, 1, 2])):
            changed = flag.changed(FlagChange(status=status, by="p", role="police", at=NOW))
            assert await flags.change(flag, changed, ())
            flag = changed
        m.flags[flag.id] = flag
    for store in (epi, inspections, checkpoints, flags):
        await store.close()


# --- the direct counts ---------------------------------------------------------------


def expected_deployment(m: Month, communes: list[int], period: Period) -> dict[str, Any]:
    inside = set(communes)
    active = [v for v in m.venues if v.commune_code in inside and v.id not in m.withdrawn]
    ids = {v.id for v in active}
    scans = [(v, at) for v, c, at in m.checkins if v in ids]
    latest: dict[str, Inspection] = {}
    for i in sorted(m.inspections, key=lambda i: i.at):
        if i.venue_id in ids:
            latest[i.venue_id] = i
    days = set(period.days())
    in_period = [i for i in latest.values() if day_of(i.at) in days]
    checkins = sum(1 for _, c, at in m.checkins if c in inside and day_of(at) in days)
    return {
        "venues_registered": len(active),
        "venues_active_7d": len({v for v, at in scans if at >= NOW - timedelta(days=7)}),
        "venues_never_scanned": len(ids - {v for v, _ in scans}),
        "venues_inspected": len(in_period),
        "venues_compliant": sum(i.poster_displayed for i in in_period),
        "checkins": checkins,
    }


def expected_epidemiology(m: Month, commune: int, day: str) -> dict[str, int]:
    quarantined = 0
    for o in m.orders.values():
        start, end = day_of(o.start), day_of(o.end)
        if o.commune_code == commune and o.status is not QuarantineStatus.CANCELLED:
            quarantined += start <= day < end
    contacts = [c for c in m.contacts.values() if c.commune_code == commune]
    return {
        "new_cases": sum(
            c.commune_code == commune and day_of(c.created_at) == day for c in m.cases
        ),
        "f1": sum(m.contact_days[c.id] == day for c in contacts),
        "f2": sum(c == commune and d == day for c, d in m.f2.values()),
        "under_quarantine": quarantined,
        "follow_ups_due": sum(f.date.isoformat() == day for c in contacts for f in c.follow_ups),
        "follow_ups_done": sum(
            f.date.isoformat() == day and f.status is not FollowUpStatus.PENDING
            for c in contacts
            for f in c.follow_ups
        ),
    }


@pytest.mark.parametrize("seed", [11, 29])
def test_every_report_figure_equals_a_direct_count(
    redis_url: str, key_prefix: str, seed: int
) -> None:
    settings = Settings(redis_url=redis_url, redis_key_prefix=key_prefix)
    j = jurisdictions(settings)
    centre = j.centre(VINH_LINH_CENTRE)
    assert centre is not None
    outside = 19702  # Hải Lăng: another centre of the province
    m = Month(seed, [*centre.communes, outside])
    asyncio.run(write_month(settings, m))
    period = Period(TODAY - timedelta(days=DAYS - 1), TODAY)

    async def reports() -> dict[tuple[str, str], dict[str, Any]]:
        stats = StatsStore.of(settings)
        service = ReportService(
            stats, CheckpointStore.of(settings), j, Population({outside: 40_000}, {})
        )
        out = {}
        for unit in (f"commune-{outside}", f"centre-{VINH_LINH_CENTRE}", f"province-{PROVINCE}"):
            for kind in ReportKind:
                out[(unit, kind.value)] = await service.report(kind, unit, period)
        await stats.close()
        return out

    found = asyncio.run(reports())
    # QR deployment: every row (communes, centres, the scope) against the records
    for unit in (f"commune-{outside}", f"centre-{VINH_LINH_CENTRE}", f"province-{PROVINCE}"):
        report = found[(unit, "qr-deployment")]
        for row in report["rows"]:
            kind, code = row["unit"].split("-")
            if kind == "commune":
                members = [int(code)]
            elif kind == "centre":
                members = list(j.centre(int(code)).communes)  # type: ignore[union-attr]
            else:
                members = m.communes
            want = expected_deployment(m, members, period)
            assert {k: row[k] for k in want} == want, row
        daily = Counter(
            (r["unit"], r["day"]) for r in report["daily"] for _ in range(r["checkins"])
        )
        for (row_unit, day), n in daily.items():
            kind, code = row_unit.split("-")
            if kind == "commune":
                assert n == sum(c == int(code) and day_of(at) == day for _, c, at in m.checkins)
    (outside_row,) = found[(f"commune-{outside}", "qr-deployment")]["rows"]
    per_1000 = outside_row["checkins"] * 1000 / 40_000 / DAYS
    assert outside_row["checkins_per_1000_per_day"] == pytest.approx(per_1000, abs=1e-3)
    centre_row = [
        r
        for r in found[(f"centre-{VINH_LINH_CENTRE}", "qr-deployment")]["rows"]
        if r["level"] == "centre"
    ]
    assert centre_row[0]["checkins_per_1000_per_day"] is None  # its communes have no figure
    # epidemiology per commune and day
    report = found[(f"province-{PROVINCE}", "epidemiology")]
    rows = {(r["unit"], r["day"]): r for r in report["rows"]}
    for commune in m.communes:
        for day in period.days():
            want = expected_epidemiology(m, commune, day)
            got = rows.get((f"commune-{commune}", day))
            if got is None:
                assert not any(want.values()), (commune, day, want)
            else:
                assert {k: got[k] for k in want} == want, (commune, day)
    # screening per checkpoint
    report = found[(f"province-{PROVINCE}", "screening")]
    assert {r["checkpoint_id"] for r in report["rows"]} == {f"cp-{c}" for c in m.communes[:2]}
    days = set(period.days())
    for row in report["rows"]:
        events = [
            e for e in m.events if e.checkpoint_id == row["checkpoint_id"] and day_of(e.at) in days
        ]
        assert row["passages"] == len(events)
        assert row["secondary"] == sum(e.decision is Outcome.SECONDARY for e in events)
        assert row["fevers"] == sum(Reason.FEVER in e.reasons for e in events)
        for reason in Reason:
            assert row[f"secondary_{reason.value}"] == sum(reason in e.reasons for e in events)
        times = [float(e.decision_ms or 0) for e in events]
        for q, name in ((0.5, "decision_ms_median"), (0.95, "decision_ms_p95")):
            exact = exact_quantile(times, q)
            assert exact <= row[name] + 0.05 and row[name] <= exact * 1.05 + 0.1, (name, exact)
    only_outside = found[(f"commune-{outside}", "screening")]["rows"]
    assert [r["checkpoint_id"] for r in only_outside] == (
        [f"cp-{outside}"] if outside in m.communes[:2] else []
    )
    # flags by rule and status, raised in the period, in the scope
    for unit, inside in (
        (f"province-{PROVINCE}", set(m.communes)),
        (f"commune-{outside}", {outside}),
    ):
        report = found[(unit, "flags")]
        want = Counter(
            (f.rule.value, f.status.value)
            for f in m.flags.values()
            if f.commune_code in inside and day_of(f.raised_at) in set(period.days())
        )
        got = {(r["rule"], r["status"]): r["flags"] for r in report["rows"]}
        assert got == {k: want.get(k, 0) for k in got}
        assert sum(got.values()) == sum(want.values())
    # CSV: what a spreadsheet opens, header row first
    for (unit, kind), report in found.items():
        for part in ("rows", "daily"):
            text = as_csv(report[part])
            assert text.startswith("\ufeff")
            parsed = list(csv.DictReader(io.StringIO(text[1:])))
            assert len(parsed) == len(report[part]), (unit, kind, part)
            if parsed:
                assert list(parsed[0]) == list(report[part][0])
                first = {k: "" if v is None else str(v) for k, v in report[part][0].items()}
                assert parsed[0] == first


def test_a_period_is_checked() -> None:
    today = date(2026, 12, 6)
    assert Period.of(None, None, today).days()[0] == "2026-11-07"
    with pytest.raises(DomainError) as backwards:
        Period.of(today, today - timedelta(days=1), today)
    assert backwards.value.errors[0].code == "end_before_start"
    with pytest.raises(DomainError) as too_long:
        Period.of(today - timedelta(days=400), today, today)
    assert too_long.value.errors[0].code == "period_too_long"
