"""The contact-tracing rule, in one place. README's "Tracing rule" section describes
exactly this code.

Times are unix seconds. Intervals are half-open [start, end): two intervals overlap
when each starts before the other ends, so intervals that only touch do not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

MINUTE = 60
HOUR = 3600
DAY = 86_400
# A check-in with a check-out later than this is capped here: it bounds how far back a
# venue query must look, and a "stay" of more than a day is a forgotten check-out.
MAX_STAY_S = 24 * HOUR
VEHICLE_WINDOW_S = 10 * MINUTE
# A checkpoint camera reads no plate: people seen in the same lane within a minute of
# each other are taken to share the vehicle (a passage's plate is then LANE_PREFIX + n).
CAMERA_VEHICLE_WINDOW_S = MINUTE
LANE_PREFIX = "@lane"


class OutbreakSettings(BaseModel):
    """Per-outbreak parameters (Go.Data's periodOfFollowup and friends)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    follow_up_days: int = Field(14, ge=1, le=60, description="Days of daily contact follow-up")
    window_before_onset_days: int = Field(
        2, ge=0, le=14, description="Infectious window starts this many days before onset"
    )
    overlap_margin_min: int = Field(
        15, ge=0, le=240, description="Each stay is widened by this on both sides"
    )
    default_stay_min: int = Field(
        60, ge=1, le=24 * 60, description="Length of a stay with no check-out"
    )


def effective_end(start: int, end: int, default_stay_min: int) -> int:
    """When a stay counts as over: its check-out (`end` < 0: none, then the default
    stay), never before its start nor more than MAX_STAY_S after it. Plain arithmetic
    on ints, so the columnar index compiles this same function into its scan."""
    if end < 0:
        end = start + default_stay_min * MINUTE
    return min(max(end, start), start + MAX_STAY_S)


def intervals_overlap(a0: int, a1: int, b0: int, b1: int) -> bool:
    """[a0, a1) and [b0, b1) share a moment (touching is not overlapping)."""
    return a0 < b1 and b0 < a1


@dataclass(frozen=True)
class Stay:
    person: str
    venue: str
    start: int
    end: int | None = None  # check-out time, None when the person never checked out

    def effective_end(self, s: OutbreakSettings) -> int:
        return effective_end(self.start, -1 if self.end is None else self.end, s.default_stay_min)

    def widened(self, s: OutbreakSettings) -> tuple[int, int]:
        m = s.overlap_margin_min * MINUTE
        return self.start - m, self.effective_end(s) + m


@dataclass(frozen=True)
class Passage:
    """A person recorded at a checkpoint in a vehicle: from a declaration (its plate) or
    from a camera's screening (its lane, as `lane_plate(n)`)."""

    person: str
    checkpoint: str
    plate: str
    at: int


def lane_plate(lane: int) -> str:
    """What a camera passage carries instead of a plate."""
    return f"{LANE_PREFIX}{lane}"


def _vehicle(p: Passage) -> tuple[str, int] | None:
    """The vehicle a passage was in, and how close in time another passage of the same
    vehicle is; None for a passage in no vehicle (a plate left empty: on foot)."""
    if p.plate.startswith(LANE_PREFIX):
        return p.plate, CAMERA_VEHICLE_WINDOW_S
    plate = "".join(ch for ch in p.plate.upper() if ch.isalnum())
    return (plate, VEHICLE_WINDOW_S) if plate else None


class Exposure(NamedTuple):
    """A tuple: a trace makes them by the thousand (a frozen dataclass cost 4× as much)."""

    kind: str  # "checkin_overlap" | "checkpoint_vehicle" | "household" | "manual"
    at: int  # when the contact began (the later of the two starts)
    venue: str = ""  # venue id, or checkpoint id for a vehicle exposure
    source_person: str = ""  # the case (for F1) or the F1 (for F2) met


@dataclass
class Contact:
    person: str
    exposures: list[Exposure] = field(default_factory=list)

    @property
    def first_exposure(self) -> int:
        return min(e.at for e in self.exposures)


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return intervals_overlap(a[0], a[1], b[0], b[1])


def infectious_window(onset: int, isolation: int, s: OutbreakSettings) -> tuple[int, int]:
    """[onset − window_before, isolation): onset is the symptom onset, else the first
    positive sample (the caller picks); isolation is when the case was isolated, or now."""
    return onset - s.window_before_onset_days * DAY, isolation


def case_stays_in_window(
    stays: Iterable[Stay], window: tuple[int, int], s: OutbreakSettings
) -> list[Stay]:
    """The case's stays cut to the infectious window (empty parts dropped)."""
    cut = []
    for st in stays:
        start, end = max(st.start, window[0]), min(st.effective_end(s), window[1])
        if start < end:
            cut.append(Stay(st.person, st.venue, start, end))
    return cut


def venue_query_range(stay: Stay, s: OutbreakSettings) -> tuple[int, int]:
    """Check-in times at the venue that can produce an overlap with `stay` (widened):
    a stay lasts at most MAX_STAY_S, so earlier check-ins cannot reach it."""
    lo, hi = stay.widened(s)
    return lo - MAX_STAY_S - s.overlap_margin_min * MINUTE, hi + s.overlap_margin_min * MINUTE


def _add(found: dict[str, Contact], person: str, exposure: Exposure) -> None:
    contact = found.get(person)
    if contact is None:  # not setdefault: that would make a Contact every time
        contact = found[person] = Contact(person)
    contact.exposures.append(exposure)


def _met(
    found: dict[str, Contact],
    sources: Sequence[Stay],
    meetings: Iterable[Meeting],
    exclude: Container[str] = (),
) -> None:
    """Each meeting (i, person, their start) of a person not in `exclude`: that
    person's stay, beginning then, overlapped `sources[i]`: an exposure from the later
    of the two arrivals, at the venue, to the source's person. (One loop for them all:
    a trace has thousands.)"""
    for i, person, their_start in meetings:
        if person in exclude:
            continue
        mine = sources[i]
        exposure = Exposure(
            "checkin_overlap", max(mine.start, their_start), mine.venue, mine.person
        )
        contact = found.get(person)  # _add, inline: this loop is most of a large trace
        if contact is None:
            found[person] = Contact(person, [exposure])
        else:
            contact.exposures.append(exposure)


def overlap_contacts(
    index_stays: Iterable[Stay],
    venue_stays: Iterable[Stay],
    exclude: set[str],
    s: OutbreakSettings,
) -> dict[str, Contact]:
    """People whose widened stay overlaps a widened stay of the index person, at the
    same venue."""
    # Each widened interval computed once: a trace compares thousands of stays.
    sources = list(index_stays)
    by_venue: dict[str, list[tuple[tuple[int, int], int]]] = {}
    for i, st in enumerate(sources):
        by_venue.setdefault(st.venue, []).append((st.widened(s), i))
    meetings = []
    for other in venue_stays:
        if other.person in exclude:
            continue
        mine_here = by_venue.get(other.venue)
        if not mine_here:
            continue
        theirs = other.widened(s)
        for interval, i in mine_here:
            if overlaps(interval, theirs):
                meetings.append((i, other.person, other.start))
    found: dict[str, Contact] = {}
    _met(found, sources, meetings)
    return found


def vehicle_contacts(
    case_passages: Iterable[Passage],
    nearby: Iterable[Passage],
    window: tuple[int, int],
    exclude: set[str],
) -> dict[str, Contact]:
    """People recorded at the same checkpoint in the same vehicle as a passage of the
    case inside its infectious window: the same plate within 10 minutes, or, seen by a
    camera, the same lane within a minute."""
    found: dict[str, Contact] = {}
    mine = [(p, _vehicle(p)) for p in case_passages if window[0] <= p.at < window[1]]
    for other in nearby:
        if other.person in exclude:
            continue
        theirs = _vehicle(other)
        for p, vehicle in mine:
            if (
                vehicle is not None
                and other.checkpoint == p.checkpoint
                and theirs is not None
                and theirs[0] == vehicle[0]
                and abs(other.at - p.at) <= vehicle[1]
            ):
                _add(
                    found,
                    other.person,
                    Exposure("checkpoint_vehicle", max(p.at, other.at), p.checkpoint, p.person),
                )
    return found


def f2_source_stays(
    f1_stays: Iterable[Stay], first_exposure: int, quarantine_start: int | None
) -> list[Stay]:
    """The F1's stays that can pass the infection on: starting at or after the F1's first
    exposure to the case and before the F1's quarantine began."""
    return [
        st
        for st in f1_stays
        if st.start >= first_exposure and (quarantine_start is None or st.start < quarantine_start)
    ]


Query = tuple[str, int, int]  # (person or venue or checkpoint, from, until): check-in
# or passage times in [from, until)


# A stay that overlaps `sources[source]` (widened both), as a meeting index reports it:
# (source, person, when that person's stay began). Plain tuples: made by the thousand.
Meeting = tuple[int, str, int]


class Lookups(Protocol):
    """A person's stays and passages, and a checkpoint's passages, by time. Queries
    come in batches so a networked store answers a whole tracing step in one round
    trip."""

    async def stays_of_persons(self, queries: list[Query]) -> list[list[Stay]]: ...

    async def passages_of_persons(self, queries: list[Query]) -> list[list[Passage]]: ...

    async def passages_at_checkpoints(self, queries: list[Query]) -> list[list[Passage]]: ...


class StayIndex(Lookups, Protocol):
    """Where check-ins and passages are looked up by time (Redis sorted sets in
    production, SQLite or lists elsewhere): a venue's stays are handed back to
    `overlap_contacts`."""

    async def stays_at_venues(self, queries: list[Query]) -> list[list[Stay]]: ...


@runtime_checkable
class MeetingIndex(Lookups, Protocol):
    """An index that finds the overlapping stays itself (the columnar tracing index:
    the same `effective_end` and `intervals_overlap`, compiled into its scan), instead
    of handing every stay near the sources back to `overlap_contacts`."""

    async def meetings(self, sources: list[Stay], s: OutbreakSettings) -> list[Meeting]: ...


@dataclass
class TraceResult:
    f1: dict[str, Contact]
    f2: dict[str, Contact]


def venue_queries(stays: Iterable[Stay], s: OutbreakSettings) -> list[Query]:
    """The check-in time ranges to read per venue, overlapping ranges merged: the F1s'
    stays crowd the same venues on nearby days, and each range reaches a day back."""
    by_venue: dict[str, list[tuple[int, int]]] = {}
    for st in stays:
        by_venue.setdefault(st.venue, []).append(venue_query_range(st, s))
    queries: list[Query] = []
    for venue, ranges in by_venue.items():
        ranges.sort()
        lo, hi = ranges[0]
        for a, b in ranges[1:]:
            if a <= hi:
                hi = max(hi, b)
            else:
                queries.append((venue, lo, hi))
                lo, hi = a, b
        queries.append((venue, lo, hi))
    return queries


async def _around(index: StayIndex, stays: list[Stay], s: OutbreakSettings) -> list[Stay]:
    """Every check-in at the same venues that could overlap these stays (the merged
    ranges are disjoint: each check-in comes once)."""
    found = await index.stays_at_venues(venue_queries(stays, s))
    return [x for batch in found for x in batch]


async def _met_at_venues(
    index: StayIndex | MeetingIndex, sources: list[Stay], exclude: set[str], s: OutbreakSettings
) -> dict[str, Contact]:
    """The people, other than `exclude`, whose stays overlap the sources."""
    if not isinstance(index, MeetingIndex):
        return overlap_contacts(sources, await _around(index, sources, s), exclude, s)
    found: dict[str, Contact] = {}
    _met(found, sources, await index.meetings(sources, s), exclude)
    return found


QuarantineLookup = Callable[[list[str]], Awaitable[dict[str, int]]]


async def trace(
    index: StayIndex | MeetingIndex,
    case_person: str,
    window: tuple[int, int],
    s: OutbreakSettings,
    quarantine_starts: dict[str, int] | QuarantineLookup | None = None,
    depth: int = 2,
    known: dict[str, Contact] | None = None,
    as_of: int | None = None,
) -> TraceResult:
    """F1 and F2 of a case, reading only the check-ins near the case's own: four batched
    look-ups for F1 (the case's stays, the venues' stays, the case's passages, the
    checkpoints' passages) and two more for F2. When each F1's quarantine began is given
    as a dict, or as a lookup called once with the F1 found. `as_of` traces as it could
    have been traced then: no F1 stay from that moment on is a source of F2."""
    # A stay that began up to MAX_STAY_S before the window can still reach into it.
    (raw,) = await index.stays_of_persons([(case_person, window[0] - MAX_STAY_S, window[1])])
    case_stays = case_stays_in_window(raw, window, s)
    f1 = await _met_at_venues(index, case_stays, {case_person}, s)

    (passages,) = await index.passages_of_persons([(case_person, window[0], window[1])])
    others = await index.passages_at_checkpoints(
        [(p.checkpoint, p.at - VEHICLE_WINDOW_S, p.at + VEHICLE_WINDOW_S + 1) for p in passages]
    )
    flat = [x for batch in others for x in batch]
    found = vehicle_contacts(passages, flat, window, {case_person})
    # F1 recorded by hand (household, named by the case) count like traced ones.
    for extra in (found, known or {}):
        for person, contact in extra.items():
            for e in contact.exposures:
                _add(f1, person, e)

    f2: dict[str, Contact] = {}
    if depth >= 2 and f1:
        people = sorted(f1)
        if callable(quarantine_starts):
            quarantine_starts = await quarantine_starts(people)
        quarantine_starts = quarantine_starts or {}
        firsts = [f1[p].first_exposure for p in people]
        ends = [min(quarantine_starts.get(p, 2**62), as_of or 2**62) for p in people]
        own = await index.stays_of_persons(
            [(p, first, end) for p, first, end in zip(people, firsts, ends, strict=True)]
        )
        sources = [
            stay
            for stays, first, end in zip(own, firsts, ends, strict=True)
            for stay in f2_source_stays(stays, first, end)
        ]
        # One pass over all F1 sources: each exposure still names the F1 met.
        f2 = await _met_at_venues(index, sources, {case_person, *f1}, s)
    return TraceResult(f1, f2)
