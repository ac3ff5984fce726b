"""The tracing rule: readable edge cases, and a property test against a brute-force
reading of the rule over small random populations."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dichte.domain.tracing import (
    DAY,
    HOUR,
    MAX_STAY_S,
    MINUTE,
    Exposure,
    OutbreakSettings,
    Passage,
    Query,
    Stay,
    TraceResult,
    lane_plate,
    trace,
)
from dichte.services.tracing import ShardedTracingIndex
from dichte.store.tracing_index import SideBuilder, TracingIndexShard
from dichte.store.tracing_shards import NO_END, Found

S = OutbreakSettings()  # margin 15 min, default stay 60 min, window 2 days before onset
T0 = 1_790_000_000  # an arbitrary Tuesday morning, unix seconds


@dataclass
class MemoryIndex:
    stays: list[Stay]
    passages: list[Passage] = field(default_factory=list)

    async def stays_of_persons(self, queries: list[Query]) -> list[list[Stay]]:
        return [
            [s for s in self.stays if s.person == who and a <= s.start < b] for who, a, b in queries
        ]

    async def stays_at_venues(self, queries: list[Query]) -> list[list[Stay]]:
        return [
            [s for s in self.stays if s.venue == where and a <= s.start < b]
            for where, a, b in queries
        ]

    async def passages_of_persons(self, queries: list[Query]) -> list[list[Passage]]:
        return [
            [p for p in self.passages if p.person == who and a <= p.at < b] for who, a, b in queries
        ]

    async def passages_at_checkpoints(self, queries: list[Query]) -> list[list[Passage]]:
        return [
            [p for p in self.passages if p.checkpoint == cp and a <= p.at < b]
            for cp, a, b in queries
        ]


class LocalShard:
    """A shard in this process: current by construction (it is given every change)."""

    def __init__(self, shard: TracingIndexShard) -> None:
        self.shard = shard

    async def meetings(
        self, queries: list[Query], margin_s: int, default_stay_min: int, after: str
    ) -> Found:
        return self.shard.meetings(queries, margin_s, default_stay_min)

    async def stays_of_persons(
        self, queries: list[Query], after: str
    ) -> list[list[tuple[str, int, int | None]]]:
        return self.shard.stays_of_persons(queries)

    async def names(self, keys: list[int]) -> list[str | None]:
        return self.shard.names(keys)


class Record(MemoryIndex):
    """The record beside the columnar index: passages, and the change stream's position."""

    async def tracing_position(self) -> str:
        return "0-0"


def columnar(
    stays: list[Stay],
    passages: list[Passage],
    shards: int,
    loaded: int,
    merged: bool,
    recent_rows: int = 4096,
) -> ShardedTracingIndex:
    """The sharded columnar index over the same stays: the first `loaded` read in as a
    rebuild does, the others applied as the stream of changes brings them (check-in,
    then check-out), folded into sorted parts every `recent_rows` (into the bulk every
    3 × that), and all merged in at the end or not."""
    parts = []
    for i in range(shards):
        shard = TracingIndexShard(i, shards, recent_rows=recent_rows, merge_rows=3 * recent_rows)
        at_venues, of_persons = SideBuilder(), SideBuilder()
        for x in stays[:loaded]:
            end = NO_END if x.end is None else x.end
            if shard.owns(x.venue):
                at_venues.add(x.venue, x.person, x.start, end)
            if shard.owns(x.person):
                of_persons.add(x.person, x.venue, x.start, end)
        shard.load(at_venues.side(), of_persons.side())
        for x in stays[loaded:]:
            change = {"p": x.person, "v": x.venue, "s": str(x.start)}
            shard.apply({"op": "in", **change})
            if x.end is not None:
                shard.apply({"op": "out", "e": str(x.end), **change})
        if merged:
            shard.merge()
        parts.append(LocalShard(shard))
    return ShardedTracingIndex(parts, Record(stays, passages))


def run(
    stays: list[Stay],
    window: tuple[int, int] = (T0 - DAY, T0 + 2 * DAY),
    quarantine: dict[str, int] | None = None,
    passages: list[Passage] | None = None,
    s: OutbreakSettings = S,
) -> TraceResult:
    """The trace from plain look-ups, checked equal to the columnar index's."""
    result = asyncio.run(trace(MemoryIndex(stays, passages or []), "case", window, s, quarantine))
    index = columnar(stays, passages or [], 3, len(stays) // 2, merged=False, recent_rows=2)
    assert _exposures(asyncio.run(trace(index, "case", window, s, quarantine))) == _exposures(
        result
    )
    return result


def at(hours: float) -> int:
    return T0 + int(hours * HOUR)


def test_overlapping_stay_is_f1_with_exposure_at_the_later_arrival() -> None:
    result = run([Stay("case", "cafe", at(10), at(11)), Stay("an", "cafe", at(10.5), at(12))])
    assert set(result.f1) == {"an"}
    assert result.f1["an"].first_exposure == at(10.5)


def test_the_case_itself_is_not_its_own_contact() -> None:
    result = run([Stay("case", "cafe", at(10), at(11)), Stay("case", "cafe", at(10.5), at(12))])
    assert result.f1 == {}


def test_other_venue_is_not_a_contact() -> None:
    assert (
        run([Stay("case", "cafe", at(10), at(11)), Stay("an", "market", at(10), at(11))]).f1 == {}
    )


def test_margin_joins_stays_closer_than_twice_the_margin() -> None:
    # Case leaves 11:00, An arrives 11:29: widened by 15 min each, 10:45-11:15 vs 11:14-...
    near = run([Stay("case", "cafe", at(10), at(11)), Stay("an", "cafe", at(11) + 29 * MINUTE)])
    assert set(near.f1) == {"an"}


def test_widened_stays_that_only_touch_are_not_contacts() -> None:
    # 11:00 + 15 min = 11:15 = 11:30 − 15 min: the widened intervals touch, no overlap.
    touching = run(
        [
            Stay("case", "cafe", at(10), at(11)),
            Stay("an", "cafe", at(11.5), at(12)),
            Stay("binh", "cafe", at(8.5), at(9.5)),
        ]
    )  # 9:30 + 15 min = 10:00 − 15 min
    assert touching.f1 == {}


def test_missing_check_out_counts_as_the_default_stay() -> None:
    # Case checked in at 10:00, never out: stays until 11:00 (60 min), +15 min margin.
    result = run(
        [
            Stay("case", "cafe", at(10)),
            Stay("an", "cafe", at(11) + 29 * MINUTE, at(12)),
            Stay("binh", "cafe", at(11.5), at(12)),
        ]
    )
    assert set(result.f1) == {"an"}


def test_window_edges() -> None:
    window = (at(10), at(20))
    stays = [
        Stay("case", "cafe", at(8), at(9)),  # before the window: not infectious yet
        Stay("early", "cafe", at(8), at(9)),
        Stay("case", "shop", at(9), at(11)),  # straddles the start: only 10:00-11:00 counts
        Stay("before10", "shop", at(9), at(9.7)),  # 9:00-9:42 +15 min < 10:00 - 15 min? no:
        # widened 8:45-9:57 vs case part widened 9:45-11:15 -> overlaps (the margin reaches)
        Stay("at10", "shop", at(10.5), at(12)),
        Stay("case", "bar", at(20), at(21)),  # starts at isolation: outside
        Stay("late", "bar", at(20), at(21)),
    ]
    result = run(stays, window)
    assert set(result.f1) == {"before10", "at10"}


def test_long_forgotten_check_out_is_capped_at_a_day() -> None:
    result = run(
        [Stay("case", "cafe", at(40), at(41)), Stay("an", "cafe", at(0), at(100))]
    )  # "stayed" 100 h: capped at 24 h
    assert result.f1 == {}


def test_f2_only_from_f1_stays_after_exposure_and_before_quarantine() -> None:
    stays = [
        Stay("case", "cafe", at(10), at(11)),
        Stay("an", "cafe", at(10.5), at(11.5)),  # F1, first exposure 10:30
        Stay("an", "gym", at(5), at(6)),  # before exposure: not a source
        Stay("before", "gym", at(5), at(6)),
        Stay("an", "shop", at(14), at(15)),  # after exposure, before quarantine: source
        Stay("after", "shop", at(14.5), at(15)),
        Stay("an", "bar", at(30), at(31)),  # after quarantine began at 24:00: not a source
        Stay("quarantined", "bar", at(30), at(31)),
        Stay("case", "cafe", at(12), at(13)),
    ]
    result = run(stays, quarantine={"an": at(24)})
    assert set(result.f1) == {"an"}
    assert set(result.f2) == {"after"}


def test_an_f1_is_not_also_listed_as_f2() -> None:
    stays = [
        Stay("case", "cafe", at(10), at(11)),
        Stay("an", "cafe", at(10), at(11)),
        Stay("binh", "cafe", at(10), at(11)),
        Stay("an", "shop", at(12), at(13)),
        Stay("binh", "shop", at(12), at(13)),
    ]
    result = run(stays)
    assert set(result.f1) == {"an", "binh"}
    assert result.f2 == {}


def test_same_vehicle_at_a_checkpoint_within_ten_minutes_is_f1() -> None:
    passages = [
        Passage("case", "cp-lao-bao", "74A-123.45", at(9)),
        Passage("driver", "cp-lao-bao", "74A12345", at(9) + 10 * MINUTE),
        Passage("later", "cp-lao-bao", "74A-123.45", at(9) + 11 * MINUTE),
        Passage("other-car", "cp-lao-bao", "75B-999.99", at(9)),
    ]
    result = run([], passages=passages)
    assert set(result.f1) == {"driver"}
    assert result.f1["driver"].exposures[0].kind == "checkpoint_vehicle"


def test_a_camera_passage_shares_a_vehicle_with_its_lane_within_a_minute() -> None:
    """Cameras read no plate: the same lane within a minute is the same vehicle; people
    on foot (no plate) share no vehicle."""
    lane1, lane2 = lane_plate(1), lane_plate(2)
    passages = [
        Passage("case", "cp-vinh-linh", lane1, at(9)),
        Passage("passenger", "cp-vinh-linh", lane1, at(9) + 40),
        Passage("next-car", "cp-vinh-linh", lane1, at(9) + 2 * MINUTE),
        Passage("other-lane", "cp-vinh-linh", lane2, at(9) + 10),
        Passage("other-checkpoint", "cp-hai-lang", lane1, at(9)),
        Passage("walker-case", "cp-lao-bao", "", at(10)),
        Passage("walker", "cp-lao-bao", "", at(10) + 60),
    ]
    result = run([], passages=passages)
    assert set(result.f1) == {"passenger"}
    assert result.f1["passenger"].exposures[0].kind == "checkpoint_vehicle"
    on_foot = run(
        [],
        passages=[
            replace(p, person="case") if p.person == "walker-case" else p for p in passages[5:]
        ],
    )
    assert on_foot.f1 == {}


# --- property test against a brute-force reading of the rule ---------------------------


def brute_force(
    stays: list[Stay], window: tuple[int, int], s: OutbreakSettings, quarantine: dict[str, int]
) -> tuple[dict[str, int], set[str]]:
    m = s.overlap_margin_min * MINUTE

    def end(x: Stay) -> int:
        e = x.end if x.end is not None else x.start + s.default_stay_min * MINUTE
        return min(max(e, x.start), x.start + MAX_STAY_S)

    def meet(a0: int, a1: int, b0: int, b1: int) -> bool:
        return a0 - m < b1 + m and b0 - m < a1 + m

    f1: dict[str, int] = {}
    for c in stays:
        if c.person != "case":
            continue
        c0, c1 = max(c.start, window[0]), min(end(c), window[1])
        if c0 >= c1:
            continue
        for o in stays:
            if o.person != "case" and o.venue == c.venue and meet(c0, c1, o.start, end(o)):
                f1[o.person] = min(f1.get(o.person, 2**62), max(c0, o.start))
    f2: set[str] = set()
    for f, first in f1.items():
        q = quarantine.get(f)
        for fs in stays:
            if fs.person != f or fs.start < first or (q is not None and fs.start >= q):
                continue
            for o in stays:
                if (
                    o.person not in f1
                    and o.person != "case"
                    and o.venue == fs.venue
                    and meet(fs.start, end(fs), o.start, end(o))
                ):
                    f2.add(o.person)
    return f1, f2


people = st.sampled_from(["case", "an", "binh", "chi", "dung", "em", "giang"])
stays_strategy = st.lists(
    st.builds(
        lambda p, v, start, dur: Stay(
            p, v, T0 + start * 5 * MINUTE, None if dur is None else T0 + (start + dur) * 5 * MINUTE
        ),
        people,
        st.sampled_from(["cafe", "shop", "bus"]),
        st.integers(0, 3 * 24 * 12),
        st.none() | st.integers(0, 30 * 12),
    ),
    max_size=40,
    # A person checks in at a venue once a second at most: the record keeps one.
    unique_by=lambda x: (x.person, x.venue, x.start),
)


@settings(max_examples=300, deadline=None)
@given(
    stays=stays_strategy,
    window_start=st.integers(0, 3 * 24 * 12),
    window_len=st.integers(0, 2 * 24 * 12),
    margin=st.sampled_from([0, 5, 15]),
    default_stay=st.sampled_from([5, 60]),
    quarantine=st.dictionaries(people, st.integers(0, 4 * 24 * 12), max_size=3),
    shards=st.integers(1, 4),
    loaded=st.integers(0, 40),
    merged=st.booleans(),
    recent_rows=st.sampled_from([1, 2, 5, 4096]),
)
def test_tracing_matches_the_brute_force_reading_of_the_rule(
    stays: list[Stay],
    window_start: int,
    window_len: int,
    margin: int,
    default_stay: int,
    quarantine: dict[str, int],
    shards: int,
    loaded: int,
    merged: bool,
    recent_rows: int,
) -> None:
    """Both back ends: the store's look-ups (here lists) read by `overlap_contacts`,
    and the sharded columnar index that finds the overlaps itself."""
    s = OutbreakSettings(overlap_margin_min=margin, default_stay_min=default_stay)
    window = (T0 + window_start * 5 * MINUTE, T0 + (window_start + window_len) * 5 * MINUTE)
    q = {p: T0 + v * 5 * MINUTE for p, v in quarantine.items()}
    expected_f1, expected_f2 = brute_force(stays, window, s, q)
    got = run(stays, window, q, s=s)
    assert {p: c.first_exposure for p, c in got.f1.items()} == expected_f1
    assert set(got.f2) == expected_f2
    index = columnar(stays, [], shards, loaded, merged, recent_rows)
    from_index = asyncio.run(trace(index, "case", window, s, q))
    assert {p: c.first_exposure for p, c in from_index.f1.items()} == expected_f1
    assert set(from_index.f2) == expected_f2
    assert _exposures(from_index) == _exposures(got)


def _exposures(result: TraceResult) -> dict[str, set[Exposure]]:
    return {p: set(c.exposures) for p, c in (result.f1 | result.f2).items()}


def test_as_of_ignores_f1_stays_from_that_moment_on() -> None:
    stays = [
        Stay("case", "cafe", at(10), at(11)),
        Stay("an", "cafe", at(10.5), at(11.5)),
        Stay("an", "shop", at(14), at(15)),
        Stay("before", "shop", at(14), at(15)),
        Stay("an", "bar", at(30), at(31)),
        Stay("after", "bar", at(30), at(31)),
    ]
    result = asyncio.run(trace(MemoryIndex(stays), "case", (T0 - DAY, at(20)), S, as_of=at(24)))
    assert set(result.f2) == {"before"}
