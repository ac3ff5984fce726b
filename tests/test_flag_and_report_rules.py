"""The flag rules, the inspector's order and the report arithmetic as plain functions:
the edges a scenario over the API does not reach (the period's boundaries, another
day, an old exposure, the bucket error of a quantile)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from dichte.domain.cases import (
    ContactRecord,
    FollowUp,
    FollowUpStatus,
    QuarantineKind,
    QuarantineOrder,
    QuarantineStatus,
    follow_ups_done_change,
    quarantine_changes,
)
from dichte.domain.declaration import DeclarationCreate
from dichte.domain.flags import (
    Evidence,
    EvidenceKind,
    RecordedContact,
    Sighting,
    undeclared_contact,
    undeclared_fever,
    undeclared_travel,
)
from dichte.domain.inspections import VenueFlag, VenueState, venue_flags, visit_order
from dichte.domain.reports import exact_quantile, latency_bucket, quantile_ms, under_quarantine
from tests.factories import declaration

DECLARED = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
T = int(DECLARED.timestamp())
BA_DINH, VINH_LINH, DUONG_NO = 4, 19363, 19909  # Hà Nội, Quảng Trị, Huế


def declared(**overrides: object) -> DeclarationCreate:
    return DeclarationCreate.model_validate(declaration(**overrides))


def seen(commune: int, at: int) -> Sighting:
    return Sighting(EvidenceKind.CHECKIN, f"v|p|{at}", "v", commune, at)


def test_travel_counts_only_undeclared_provinces_inside_the_declared_period() -> None:
    d = declared()  # lives in Quảng Trị, from Huế, to Quảng Trị, Huế three days ago
    day = 86_400
    found = undeclared_travel(
        d,
        DECLARED,
        [
            seen(BA_DINH, T - 2 * day),  # Hà Nội, undeclared: flagged
            seen(DUONG_NO, T - 2 * day),  # Huế: declared
            seen(VINH_LINH, T - day),  # home province
            seen(BA_DINH, T - 14 * day),  # the first second of the period: in
            seen(BA_DINH, T - 14 * day - 1),  # before it: out
            seen(BA_DINH, T),  # the moment of declaring: after the period
        ],
    )
    assert [int(e.at.timestamp()) for e in found] == [T - 2 * day, T - 14 * day]
    assert {e.province_code for e in found} == {1}


def test_a_fever_counts_on_the_declarations_vietnam_day_only() -> None:
    def fever(at: datetime) -> Evidence:
        return Evidence(kind=EvidenceKind.SCREENING, record="e", at=at, detail="fever")

    quiet = declared(symptoms={})
    late_same_day = DECLARED.replace(hour=16, minute=30)  # 23:30 in Vietnam, same day
    next_day = DECLARED.replace(hour=17, minute=30)  # 00:30 the next day in Vietnam
    assert undeclared_fever(quiet, DECLARED, [fever(late_same_day)]) != []
    assert undeclared_fever(quiet, DECLARED, [fever(next_day)]) == []
    assert undeclared_fever(declared(symptoms={"cough": True}), DECLARED, [fever(DECLARED)]) == []


def test_contact_needs_a_record_before_and_an_exposure_inside_the_period() -> None:
    d = declared()  # declares no contact
    before, old = T - 3600, T - 20 * 86_400
    contacts = [
        RecordedContact("recent", "c1", before, T - 86_400),
        RecordedContact("later", "c2", T + 60, T - 86_400),  # recorded after declaring
        RecordedContact("stale", "c3", before, old),  # exposure before the period
    ]
    assert [e.record for e in undeclared_contact(d, DECLARED, contacts)] == ["recent"]
    honest = declared(exposure={"contact_with_case": True})
    assert undeclared_contact(honest, DECLARED, contacts) == []


def test_the_inspectors_order_puts_never_scanned_then_no_poster_then_never_seen() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    registered = now - timedelta(days=90)
    states = {
        "fine": VenueState("fine", registered, now, now - timedelta(days=2), True),
        "overdue": VenueState("overdue", registered, now, now - timedelta(days=45), True),
        "unseen": VenueState("unseen", registered, now, None, None),
        "no-poster": VenueState("no-poster", registered, now, now - timedelta(days=1), False),
        "never-scanned": VenueState("never-scanned", registered, None, now, True),
    }
    ordered = sorted(states, key=lambda k: visit_order(states[k], now))
    assert ordered == ["never-scanned", "no-poster", "unseen", "overdue", "fine"]
    assert venue_flags(states["fine"], now) == []
    assert venue_flags(states["overdue"], now) == [VenueFlag.INSPECTION_OVERDUE]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_quantile_from_the_buckets_is_within_five_percent_above(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(rng.uniform(3, 8), rng.uniform(0.2, 1.5)) for _ in range(500)]
    histogram: dict[int, int] = {}
    for v in values:
        histogram[latency_bucket(v)] = histogram.get(latency_bucket(v), 0) + 1
    for q in (0.5, 0.95, 0.99):
        exact = exact_quantile(values, q)
        approx = quantile_ms(histogram, q)
        assert approx is not None and exact <= approx + 0.05 <= exact * 1.05 + 0.1


def test_quarantine_days_and_follow_ups_done_move_with_each_change() -> None:
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 Vietnam
    order = QuarantineOrder(
        id="q",
        person_id="p",
        kind=QuarantineKind.HOME,
        place="",
        start=start,
        end=start + timedelta(days=3),
    )
    changes = quarantine_changes(order)
    days = [(date(2026, 11, 30) + timedelta(days=i)).isoformat() for i in range(6)]
    assert under_quarantine(changes, days) == [0, 1, 1, 1, 0, 0]
    cancelled = order.model_copy(update={"status": QuarantineStatus.CANCELLED})
    assert quarantine_changes(cancelled) == {}
    contact = ContactRecord(
        id="c",
        case_id="k",
        person_id="p",
        document_number="",
        full_name="",
        commune_code=None,
        province_code=None,
        exposures=[],
        first_exposure=start,
        last_exposure=start,
        follow_ups=[FollowUp(date=date(2026, 12, 2)), FollowUp(date=date(2026, 12, 3))],
    )
    seen_ok = contact.model_copy(
        update={
            "follow_ups": [
                FollowUp(date=date(2026, 12, 2), status=FollowUpStatus.SEEN_OK),
                FollowUp(date=date(2026, 12, 3)),
            ]
        }
    )
    assert follow_ups_done_change(contact, seen_ok) == {"2026-12-02": 1}
    assert follow_ups_done_change(seen_ok, contact) == {"2026-12-02": -1}
    assert follow_ups_done_change(seen_ok, seen_ok) == {}
