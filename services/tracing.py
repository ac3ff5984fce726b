"""Tracing from the sharded index. A trace runs in the shard that owns the case's
person (`Tracer`, the actor in actors.tracing): there `ShardedTracingIndex` is the
`MeetingIndex` that `domain.tracing.trace` reads, each step fanning out to the shards
that own the venues (or persons) asked about, in parallel, the home shard answering its
own part in process. Person keys found on the venue side are named by their persons'
shards. Checkpoint passages are few (one per border crossing) and quarantine orders are
records: both are read from Redis directly.

Before answering, each shard has applied every check-in change the record held when
the step began, so a trace sees every check-in acknowledged before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

import numpy as np

from dichte.domain.cases import quarantine_start
from dichte.domain.tracing import (
    MINUTE,
    Contact,
    Exposure,
    Lookups,
    Meeting,
    OutbreakSettings,
    Passage,
    Query,
    Stay,
    TraceResult,
)
from dichte.store.epi import EpiStore
from dichte.store.tracing_shards import Found, shard_of

# A shard restarting rebuilds from the record before it answers; past this, trace from
# the record instead (a large shard takes longer to rebuild than a request can wait).
INDEX_WAIT_S = 30.0


T = TypeVar("T")


class IndexUnavailable(Exception):
    """A shard did not answer in time (restarting, rebuilding): trace from the record."""


class TracingShardCalls(Protocol):
    """One shard as the coordinator calls it (in process, or a Ray actor). `after`:
    the change the shard must have applied first."""

    async def meetings(
        self, queries: list[Query], margin_s: int, default_stay_min: int, after: str
    ) -> Found: ...

    async def stays_of_persons(
        self, queries: list[Query], after: str
    ) -> list[list[tuple[str, int, int | None]]]: ...

    async def names(self, keys: list[int]) -> list[str | None]: ...


class RecordPosition(Protocol):
    async def tracing_position(self) -> str: ...


class Record(Lookups, RecordPosition, Protocol):
    pass


@dataclass(frozen=True)
class TraceRequest:
    """`domain.tracing.trace`'s arguments for one case, as they travel to its shard
    (quarantine orders are looked up where it runs)."""

    case_person: str
    window: tuple[int, int]
    outbreak: OutbreakSettings
    depth: int = 2
    known: dict[str, Contact] = field(default_factory=dict)
    as_of: int | None = None


class Tracer(Protocol):
    """Traces a case where its check-ins are held (CaseService uses one when the
    tracing shards run); IndexUnavailable when they do not answer."""

    async def trace(self, request: TraceRequest) -> TraceResult: ...


# A trace as it travels between processes: per level ("f1", "f2"), each person's
# exposures as plain tuples (kind, at, venue, source person): pickled faster than the
# named ones, whose class each would name, which matters for a case with a thousand F2.
WireTrace = dict[str, dict[str, list[tuple[str, int, str, str]]]]


def to_wire(result: TraceResult) -> WireTrace:
    return {
        level: {
            p: [(e.kind, e.at, e.venue, e.source_person) for e in c.exposures]
            for p, c in contacts.items()
        }
        for level, contacts in (("f1", result.f1), ("f2", result.f2))
    }


def from_wire(wire: WireTrace) -> TraceResult:
    f1, f2 = (
        {p: Contact(p, list(map(Exposure._make, found))) for p, found in wire[level].items()}
        for level in ("f1", "f2")
    )
    return TraceResult(f1, f2)


async def quarantine_starts(store: EpiStore, person_ids: list[str]) -> dict[str, int]:
    """When each person's quarantine began (those with one): where F2 tracing stops."""
    orders = await store.quarantine_orders(person_ids)
    starts = {p: quarantine_start(o) for p, o in orders.items()}
    return {p: s for p, s in starts.items() if s is not None}


def _by_shard(names: Sequence[str], shards: int) -> dict[int, list[int]]:
    """Positions of `names` grouped by the shard that owns each."""
    if shards == 1:
        return {0: list(range(len(names)))}
    groups: dict[int, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(shard_of(name, shards), []).append(i)
    return groups


class ShardedTracingIndex:
    def __init__(
        self, shards: Sequence[TracingShardCalls], record: Record, after: str | None = None
    ) -> None:
        """`after`: the change every shard must have applied before it answers; None
        reads the record's latest at each step."""
        self._shards = list(shards)
        self._record = record
        self._after = after

    async def as_of_now(self) -> ShardedTracingIndex:
        """The index for one trace: every step waits for the changes the record holds
        now (one read of its position instead of one per step)."""
        return ShardedTracingIndex(self._shards, self._record, await self._position())

    async def _position(self) -> str:
        return self._after if self._after is not None else await self._record.tracing_position()

    async def _fan(self, calls: dict[int, Awaitable[T]]) -> list[T]:
        """The shards' answers, in the order of `calls`."""
        try:
            return list(await asyncio.wait_for(asyncio.gather(*calls.values()), INDEX_WAIT_S))
        except Exception as e:  # a shard's actor died for good, or its call failed
            raise IndexUnavailable(str(e)) from e

    async def _names(self, keys: np.ndarray) -> dict[int, str | None]:
        unique = np.unique(keys)
        owner = unique % len(self._shards)  # store.tracing_shards.shard_of, on keys
        groups = {i: unique[owner == i].tolist() for i in np.unique(owner).tolist()}
        parts = await self._fan({i: self._shards[i].names(ks) for i, ks in groups.items()})
        out: dict[int, str | None] = {}
        for ks, names in zip(groups.values(), parts, strict=True):
            out.update(zip(ks, names, strict=True))
        return out

    async def meetings(self, sources: list[Stay], s: OutbreakSettings) -> list[Meeting]:
        if not sources:
            return []
        queries = [(st.venue, *st.widened(s)) for st in sources]
        margin, default = s.overlap_margin_min * MINUTE, s.default_stay_min
        after = await self._position()
        groups = _by_shard([q[0] for q in queries], len(self._shards))
        parts = await self._fan(
            {
                i: self._shards[i].meetings([queries[j] for j in idx], margin, default, after)
                for i, idx in groups.items()
            }
        )
        # Each shard's `query` column mapped back to the sources.
        found = [
            Found(np.asarray(idx, np.int64)[f.query], f.start, f.end, f.other)
            for idx, f in zip(groups.values(), parts, strict=True)
        ]
        names = await self._names(np.concatenate([f.other for f in found]))
        out: list[Meeting] = []
        for f in found:
            persons = [names[k] for k in f.other.tolist()]
            meetings: Iterable[tuple[int, str | None, int]] = zip(
                f.query.tolist(), persons, f.start.tolist(), strict=True
            )
            if None in persons:  # the person's shard has not yet applied a check-in just made
                meetings = (m for m in meetings if m[1] is not None)
            out.extend(cast(Iterable[Meeting], meetings))
        return out

    async def stays_of_persons(self, queries: list[Query]) -> list[list[Stay]]:
        out: list[list[Stay]] = [[] for _ in queries]
        if not queries:
            return out
        after = await self._position()
        groups = _by_shard([q[0] for q in queries], len(self._shards))
        parts = await self._fan(
            {
                i: self._shards[i].stays_of_persons([queries[j] for j in idx], after)
                for i, idx in groups.items()
            }
        )
        for idx, rows in zip(groups.values(), parts, strict=True):
            for j, stays in zip(idx, rows, strict=True):
                out[j] = [Stay(queries[j][0], v, start, end) for v, start, end in stays]
        return out

    async def passages_of_persons(self, queries: list[Query]) -> list[list[Passage]]:
        return await self._record.passages_of_persons(queries)

    async def passages_at_checkpoints(self, queries: list[Query]) -> list[list[Passage]]:
        return await self._record.passages_at_checkpoints(queries)
