"""Time as the province reads it: Vietnam keeps UTC+7 all year, so "today" and "the
future" are judged in local time; times from clients may run a little ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")
# How far ahead of the server a client's or another machine's clock may be before a
# time it gives counts as "in the future" (scan times, isolation times, token issue).
CLOCK_SKEW = timedelta(minutes=5)


def now_utc() -> datetime:
    return datetime.now(UTC)


def today_in_vietnam(now: datetime | None = None) -> date:
    return (now or datetime.now(VIETNAM_TZ)).astimezone(VIETNAM_TZ).date()


def vietnam_day(ts: int) -> str:
    """The Vietnam date of a unix time, as YYYY-MM-DD (the daily counters' key)."""
    return datetime.fromtimestamp(ts, VIETNAM_TZ).date().isoformat()


def in_future(at: datetime, now: datetime) -> bool:
    """A given time later than now, beyond the clock skew a device may have. Naive
    times are Vietnam time (what a clerk types)."""
    aware = at.replace(tzinfo=VIETNAM_TZ) if at.tzinfo is None else at
    return aware > now + CLOCK_SKEW
