"""Case and contact rules: the infectious window's onset, follow-up days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dichte.domain.cases import (
    Case,
    Classification,
    ContactRecord,
    FollowUp,
    FollowUpRecord,
    FollowUpStatus,
    LabTest,
    check_confirmable,
    follow_up_days,
)
from dichte.domain.declaration import DiagnosticResult, DiagnosticTest
from dichte.domain.tracing import DAY, OutbreakSettings

S = OutbreakSettings()
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
VN_MIDNIGHT_NOV_20 = int(datetime(2026, 11, 19, 17, 0, tzinfo=UTC).timestamp())  # 00:00 UTC+7


def case(**fields: object) -> Case:
    base: dict[str, object] = dict(
        id="c" * 32,
        person_id="p" * 32,
        document_number="1",
        full_name="An",
        commune_code=None,
        province_code=None,
        classification=Classification.CONFIRMED,
        created_at=NOW,
    )
    base.update(fields)
    return Case(**base)  # type: ignore[arg-type]


def test_window_starts_two_days_before_onset_in_vietnam_time() -> None:
    window = case(onset_date=date(2026, 11, 20)).window(S, NOW)
    assert window is not None
    assert window[0] == VN_MIDNIGHT_NOV_20 - 2 * DAY


def test_without_onset_the_first_positive_sample_counts() -> None:
    by_sample = case(first_positive_sample_date=date(2026, 11, 20))
    pcr, rapid = DiagnosticTest.PCR, DiagnosticTest.RAPID_ANTIGEN
    pos, neg = DiagnosticResult.POSITIVE, DiagnosticResult.NEGATIVE
    by_test = case(
        tests=[
            LabTest(type=pcr, date=date(2026, 11, 22), result=pos),
            LabTest(type=pcr, date=date(2026, 11, 20), result=pos),
            LabTest(type=rapid, date=date(2026, 11, 18), result=neg),
        ]
    )
    assert by_sample.window(S, NOW) == by_test.window(S, NOW)
    assert by_test.onset() == date(2026, 11, 20)


def test_window_ends_at_isolation_or_includes_now() -> None:
    isolated = case(onset_date=date(2026, 11, 20), isolation_at=NOW - timedelta(hours=5))
    assert isolated.window(S, NOW)[1] == int(NOW.timestamp()) - 5 * 3600  # type: ignore[index]
    free = case(onset_date=date(2026, 11, 20))
    assert free.window(S, NOW)[1] > int(NOW.timestamp())  # type: ignore[index]


def test_a_confirmed_case_needs_a_date_to_trace_from() -> None:
    assert [e.code for e in check_confirmable(case())] == ["onset_required"]
    assert check_confirmable(case(classification=Classification.SUSPECTED)) == []


def test_follow_up_runs_daily_from_the_day_after_the_last_exposure() -> None:
    # 23:30 UTC on Nov 24 is 06:30 on Nov 25 in Vietnam.
    days = follow_up_days(datetime(2026, 11, 24, 23, 30, tzinfo=UTC), S)
    assert days[0] == date(2026, 11, 26)
    assert days[-1] == date(2026, 12, 9)
    assert len(days) == 14


def test_recording_a_follow_up_changes_only_that_day() -> None:
    days = [date(2026, 11, 26), date(2026, 11, 27)]
    contact = ContactRecord(
        id="x" * 32,
        case_id="c" * 32,
        person_id="p" * 32,
        document_number="",
        full_name="",
        commune_code=None,
        province_code=None,
        exposures=[],
        first_exposure=NOW,
        last_exposure=NOW,
        follow_ups=[FollowUp(date=d) for d in days],
    )
    seen = contact.recorded(FollowUpRecord(date=days[1], status=FollowUpStatus.SEEN_OK))
    assert [f.status for f in seen.follow_ups] == [FollowUpStatus.PENDING, FollowUpStatus.SEEN_OK]
    with pytest.raises(ValueError):
        contact.recorded(FollowUpRecord(date=date(2026, 12, 30), status=FollowUpStatus.SEEN_OK))
