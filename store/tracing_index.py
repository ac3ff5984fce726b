"""The tracing index: check-ins held in memory as columns, built for the tracing query.
Redis stays the record; this is rebuilt from it (`load_from_redis`) and kept current
from its stream of check-in changes (`apply`).

One shard holds two halves, each a set of rows grouped by a small integer and sorted
by check-in time within the group:
- by venue, for the venues this shard owns: (start, end, person key) per check-in;
- by person, for the persons it owns: (start, end, venue number) per check-in.
Times are uint32 unix seconds (end 0: no check-out). On the venue side a person is a
64-bit key (`key_of`, the same in every process), resolved to its id by the person's
own shard, so no shard keeps the ids of persons it does not own.

A query is a binary search per group and a compiled scan (numba) that applies the
rule's own `effective_end` and `intervals_overlap` from domain.tracing.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numba
import numpy as np
import redis

from dichte.domain import tracing
from dichte.domain.tracing import MAX_STAY_S, Query
from dichte.store import stays
from dichte.store.keys import Keys
from dichte.store.tracing_shards import NO_END, Found, key_of, shard_of

# Rows checked in since the bulk was sorted are kept apart until there are this many,
# or a fiftieth of the shard: folding them in re-sorts the shard.
MERGE_MIN_ROWS = 100_000
# The last rows checked in, kept as a list and sorted when a query finds them changed.
RECENT_ROWS = 4_096
SCAN_BATCH = 1_000

_effective_end = numba.njit(cache=True)(tracing.effective_end)
_intervals_overlap = numba.njit(cache=True)(tracing.intervals_overlap)


@numba.njit(cache=True, nogil=True)
def _first_from(start: np.ndarray, lo: int, hi: int, t: int) -> int:
    """The first row in [lo, hi) whose start is >= t (rows sorted by start)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if int(start[mid]) < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def _in_ranges(
    offsets: np.ndarray, start: np.ndarray, group: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(query, row) for each row of the query's group with lo <= start < hi."""
    groups = offsets.shape[0] - 1
    first = np.zeros(group.shape[0], np.int64)
    last = np.zeros(group.shape[0], np.int64)
    total = 0
    for i in range(group.shape[0]):
        g = group[i]
        if g < 0 or g >= groups:
            continue
        a, b = offsets[g], offsets[g + 1]
        first[i] = _first_from(start, a, b, lo[i])
        last[i] = _first_from(start, first[i], b, hi[i])
        total += last[i] - first[i]
    queries = np.empty(total, np.int64)
    rows = np.empty(total, np.int64)
    k = 0
    for i in range(group.shape[0]):
        for r in range(first[i], last[i]):
            queries[k] = i
            rows[k] = r
            k += 1
    return queries, rows


@numba.njit(cache=True, nogil=True)
def _overlapping(
    offsets: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    group: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    margin: int,
    default_stay_min: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(query, row) for each row of the query's group whose stay, widened by `margin`,
    overlaps the query's [lo, hi) (itself a widened stay). A stay lasts at most
    MAX_STAY_S, so only rows that began since lo − MAX_STAY_S − margin can reach it."""
    groups = offsets.shape[0] - 1
    out_q = np.empty(0, np.int64)
    out_r = np.empty(0, np.int64)
    for fill in range(2):  # count, then fill
        k = 0
        for i in range(group.shape[0]):
            g = group[i]
            if g < 0 or g >= groups:
                continue
            b = offsets[g + 1]
            r = _first_from(start, offsets[g], b, lo[i] - MAX_STAY_S - margin)
            while r < b and int(start[r]) < hi[i] + margin:
                s0 = int(start[r])
                e = int(end[r])
                e_eff = _effective_end(s0, -1 if e == NO_END else e, default_stay_min)
                if _intervals_overlap(lo[i], hi[i], s0 - margin, e_eff + margin):
                    if fill:
                        out_q[k] = i
                        out_r[k] = r
                    k += 1
                r += 1
        if not fill:
            out_q = np.empty(k, np.int64)
            out_r = np.empty(k, np.int64)
    return out_q, out_r


class Csr:
    """Rows of (group, start, end, tag) grouped by group and sorted by start within
    each: `offsets[g]:offsets[g + 1]` are group g's rows."""

    def __init__(self, tag_dtype: type) -> None:
        self.tag_dtype = tag_dtype
        self.offsets = np.zeros(1, np.int64)
        self.start = np.empty(0, np.uint32)
        self.end = np.empty(0, np.uint32)
        self.tag: np.ndarray = np.empty(0, tag_dtype)

    def __len__(self) -> int:
        return len(self.start)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.offsets, self.start, self.end, self.tag))

    @staticmethod
    def of(
        tag_dtype: type,
        group: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        tag: np.ndarray,
        groups: int,
    ) -> Csr:
        """These rows (any order), sorted."""
        csr = Csr(tag_dtype)
        order = np.lexsort((start, group))
        csr.start = start[order].astype(np.uint32)
        csr.end = end[order].astype(np.uint32)
        csr.tag = tag[order].astype(tag_dtype)
        counts = np.bincount(group, minlength=groups) if len(group) else np.zeros(groups, np.int64)
        csr.offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return csr

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(group, start, end, tag) of every row, as int64."""
        group = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))
        return (
            group,
            self.start.astype(np.int64),
            self.end.astype(np.int64),
            self.tag.astype(np.int64),
        )

    def find(self, group: int, start: int, tag: int) -> int:
        """The row of (group, start, tag), or -1."""
        if group >= len(self.offsets) - 1:
            return -1
        b = int(self.offsets[group + 1])
        r = _first_from(self.start, int(self.offsets[group]), b, start)
        while r < b and int(self.start[r]) == start:
            if int(self.tag[r]) == tag:
                return r
            r += 1
        return -1


def _joined(tag_dtype: type, parts: list[Csr]) -> Csr:
    columns = [p.columns() for p in parts]
    group, start, end, tag = (np.concatenate(c) for c in zip(*columns, strict=True))
    groups = max(len(p.offsets) - 1 for p in parts)
    return Csr.of(tag_dtype, group, start, end, tag, groups)


class Rows:
    """The rows of one side of a shard, in three sorted parts so that a check-in costs
    little however large the shard: the bulk; the rows since the bulk was last re-sorted
    (folded into it when they reach a fiftieth of it); the last few thousand (folded
    into those when there are RECENT_ROWS, and sorted again when a query finds them
    changed: a sort of a few thousand rows)."""

    def __init__(
        self, tag_dtype: type, recent_rows: int = RECENT_ROWS, merge_rows: int = MERGE_MIN_ROWS
    ) -> None:
        self._tag_dtype = tag_dtype
        self._recent_rows, self._merge_rows = recent_rows, merge_rows
        self._bulk = Csr(tag_dtype)
        self._since = Csr(tag_dtype)
        self._recent: list[tuple[int, int, int, int]] = []
        # (group, start, tag) -> its place in _recent: a change finds its row without
        # sorting the recent rows (sorted only when a query reads them)
        self._recent_at: dict[tuple[int, int, int], int] = {}
        self._recent_sorted: Csr | None = None

    def __len__(self) -> int:
        return len(self._bulk) + len(self._since) + len(self._recent)

    def nbytes(self) -> int:
        return self._bulk.nbytes() + self._since.nbytes()

    def bulk(
        self, group: np.ndarray, start: np.ndarray, end: np.ndarray, tag: np.ndarray, groups: int
    ) -> None:
        """Replace everything with these rows (any order)."""
        self._bulk = Csr.of(self._tag_dtype, group, start, end, tag, groups)
        self._since, self._recent, self._recent_sorted = Csr(self._tag_dtype), [], None
        self._recent_at = {}

    def _recent_part(self) -> Csr:
        if self._recent_sorted is None:
            g, s, e, t = (np.array(c, np.int64) for c in zip(*self._recent, strict=True))
            self._recent_sorted = Csr.of(self._tag_dtype, g, s, e, t, int(g.max()) + 1)
        return self._recent_sorted

    def _parts(self) -> list[Csr]:
        return [self._bulk, self._since, *([self._recent_part()] if self._recent else [])]

    def add(self, group: int, start: int, end: int, tag: int) -> bool:
        """A new row; False when (group, start, tag) is already here (a replayed change)."""
        if (group, start, tag) in self._recent_at or any(
            part.find(group, start, tag) >= 0 for part in (self._bulk, self._since)
        ):
            return False
        self._recent_at[(group, start, tag)] = len(self._recent)
        self._recent.append((group, start, end, tag))
        self._recent_sorted = None
        if len(self._recent) >= self._recent_rows:
            self._since = _joined(self._tag_dtype, [self._since, self._recent_part()])
            self._recent, self._recent_at, self._recent_sorted = [], {}, None
            if len(self._since) >= max(self._merge_rows, len(self._bulk) // 50):
                self.merge()
        return True

    def close(self, group: int, start: int, tag: int, end: int) -> bool:
        at = self._recent_at.get((group, start, tag))
        if at is not None:
            self._recent[at] = (group, start, end, tag)
            self._recent_sorted = None
            return True
        for part in (self._bulk, self._since):
            row = part.find(group, start, tag)
            if row >= 0:
                part.end[row] = end
                return True
        return False

    def merge(self) -> None:
        """Fold every part into the bulk."""
        if len(self._since) or self._recent:
            group, start, end, tag = self._everything()
            self.bulk(group, start, end, tag, max(len(p.offsets) - 1 for p in self._parts()))

    def _everything(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        columns = [p.columns() for p in self._parts()]
        group, start, end, tag = (np.concatenate(c) for c in zip(*columns, strict=True))
        return group, start, end, tag

    def drop_before(self, t: int) -> None:
        """Forget the rows that began before t (past their retention)."""
        group, start, end, tag = self._everything()
        keep = start >= t
        if not keep.all() or len(self._since) or self._recent:
            groups = max(len(p.offsets) - 1 for p in self._parts())
            self.bulk(group[keep], start[keep], end[keep], tag[keep], groups)

    def in_ranges(
        self, group: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> list[tuple[Csr, np.ndarray, np.ndarray]]:
        return [(p, *_in_ranges(p.offsets, p.start, group, lo, hi)) for p in self._parts()]

    def overlapping(
        self, group: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: int, default_min: int
    ) -> list[tuple[Csr, np.ndarray, np.ndarray]]:
        return [
            (p, *_overlapping(p.offsets, p.start, p.end, group, lo, hi, margin, default_min))
            for p in self._parts()
        ]


class Numbering:
    """Names as small consecutive integers (the groups of `Rows`)."""

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self.names: list[str] = []

    def of(self, name: str) -> int:
        n = self.number.get(name)
        if n is None:
            n = self.number[name] = len(self.names)
            self.names.append(name)
        return n

    def get(self, name: str) -> int:
        return self.number.get(name, -1)

    @staticmethod
    def from_names(names: list[str]) -> Numbering:
        numbering = Numbering()
        numbering.names = list(names)
        numbering.number = {n: i for i, n in enumerate(numbering.names)}
        return numbering


@dataclass
class Side:
    """Check-ins for `TracingIndexShard.load`, in columns: `group` indexes `groups`
    (venues, or persons) and `other` indexes `others` (persons, or venues)."""

    groups: list[str]
    group: np.ndarray
    start: np.ndarray
    end: np.ndarray  # NO_END: no check-out
    others: list[str]
    other: np.ndarray


class SideBuilder:
    """A `Side` collected row by row (the rebuild from Redis)."""

    def __init__(self) -> None:
        self.groups, self.others = Numbering(), Numbering()
        self.group, self.start, self.end, self.other = (array("q") for _ in range(4))

    def add(self, group: str, other: str, start: int, end: int) -> None:
        self.group.append(self.groups.of(group))
        self.other.append(self.others.of(other))
        self.start.append(start)
        self.end.append(end)

    def side(self) -> Side:
        def col(a: array[int]) -> np.ndarray:
            return np.frombuffer(a, np.int64) if len(a) else np.empty(0, np.int64)

        return Side(
            self.groups.names,
            col(self.group),
            col(self.start),
            col(self.end),
            self.others.names,
            col(self.other),
        )


class PersonNames:
    """The ids of the persons a shard owns, numbered 0, 1, ... Those of the rebuild are
    held as sorted 64-bit keys and one buffer of packed ids (store.stays.pack_id: 17
    bytes for a 32-hex id), about 45 bytes a person where a dict and a str each took
    about 200; those added since (a first check-in) in a dict."""

    def __init__(self, names: list[str] | None = None) -> None:
        names = names or []
        keys = np.fromiter((key_of(p) for p in names), np.int64, len(names))
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._numbers = order.astype(np.int64)
        packed = [stays.pack_id(p) for p in names]
        self._offsets = np.zeros(len(names) + 1, np.int64)
        np.cumsum(np.fromiter(map(len, packed), np.int64, len(packed)), out=self._offsets[1:])
        self._packed = b"".join(packed)
        self._bulk = len(names)
        self._added: dict[int, int] = {}
        self._added_names: list[str] = []

    def __len__(self) -> int:
        return self._bulk + len(self._added_names)

    def numbers(self, keys: np.ndarray) -> np.ndarray:
        """The number of each person key (-1: not one of the shard's persons)."""
        at = np.minimum(np.searchsorted(self._keys, keys), max(self._bulk - 1, 0))
        found = self._keys[at] == keys if self._bulk else np.zeros(len(keys), bool)
        out = np.where(found, self._numbers[at] if self._bulk else -1, -1)
        if self._added:
            for i in np.flatnonzero(~found).tolist():
                out[i] = self._added.get(int(keys[i]), -1)
        return out

    def number(self, key: int) -> int:
        """One key's number: the stream's changes ask one at a time."""
        if self._bulk:
            at = int(np.searchsorted(self._keys, key))
            if at < self._bulk and int(self._keys[at]) == key:
                return int(self._numbers[at])
        return self._added.get(key, -1)

    def add(self, key: int, name: str) -> int:
        n = self.number(key)
        if n < 0:
            n = self._added[key] = len(self)
            self._added_names.append(name)
        return n

    def names(self, numbers: np.ndarray) -> list[str | None]:
        """The id of each number (None for -1)."""
        bulk = (numbers >= 0) & (numbers < self._bulk)
        starts = np.where(bulk, self._offsets[np.where(bulk, numbers, 0)], -1).tolist()
        packed, added, first, unpack = self._packed, self._added_names, self._bulk, stays.unpack_id
        return [
            # A 32-hex id read here directly (stays.pack_id): thousands per trace.
            (packed[a + 1 : a + 17].hex() if packed[a] == 0 else unpack(packed, a)[0])
            if a >= 0
            else (added[n - first] if n >= 0 else None)
            for a, n in zip(starts, numbers.tolist(), strict=True)
        ]

    def nbytes(self) -> int:
        return self._keys.nbytes + self._numbers.nbytes + self._offsets.nbytes + len(self._packed)


def _ranges(queries: list[Query]) -> tuple[np.ndarray, np.ndarray]:
    """The queries' (from, until) as columns."""
    lo = np.array([q[1] for q in queries], np.int64)
    hi = np.array([q[2] for q in queries], np.int64)
    return lo, hi


class TracingIndexShard:
    """Shard `shard` of `shards`: the venues and the persons `shard_of` gives it."""

    def __init__(
        self,
        shard: int,
        shards: int,
        recent_rows: int = RECENT_ROWS,
        merge_rows: int = MERGE_MIN_ROWS,
    ) -> None:
        self.shard, self.shards = shard, shards
        self._venues = Numbering()  # venues this shard owns
        self._by_venue = Rows(np.int64, recent_rows, merge_rows)  # tag: person key
        self._persons = PersonNames()  # the persons this shard owns
        self._by_person = Rows(np.int32, recent_rows, merge_rows)  # tag: a number in self._visited
        self._visited = Numbering()  # venues this shard's persons checked in at
        self._cut = 0  # check-ins before this are past their retention

    def cut(self, before: int) -> None:
        """Drop the check-ins before `before`, as the record's retention did."""
        self._cut = max(self._cut, before)
        self._by_venue.drop_before(self._cut)
        self._by_person.drop_before(self._cut)

    def owns(self, name: str) -> bool:
        return shard_of(name, self.shards) == self.shard

    # --- changes -------------------------------------------------------------------
    def add(self, person: str, venue: str, start: int, end: int | None = None) -> None:
        e = NO_END if end is None else end
        if self.owns(venue):
            self._by_venue.add(self._venues.of(venue), start, e, key_of(person))
        if self.owns(person):
            number = self._persons.add(key_of(person), person)
            self._by_person.add(number, start, e, self._visited.of(venue))

    def close(self, person: str, venue: str, start: int, end: int) -> None:
        if self.owns(venue):
            self._by_venue.close(self._venues.get(venue), start, key_of(person), end)
        if self.owns(person) and (number := self._persons.number(key_of(person))) >= 0:
            self._by_person.close(number, start, self._visited.get(venue), end)

    def load(self, at_venues: Side, of_persons: Side) -> None:
        """Replace the shard's rows: the check-ins at the venues it owns (groups are
        venues, others persons) and those of the persons it owns (the other way)."""
        self._venues = Numbering.from_names(at_venues.groups)
        person_keys = np.array([key_of(p) for p in at_venues.others], np.int64)
        self._by_venue.bulk(
            at_venues.group,
            at_venues.start,
            at_venues.end,
            person_keys[at_venues.other] if len(person_keys) else at_venues.other,
            len(at_venues.groups),
        )
        self._persons = PersonNames(of_persons.groups)
        self._visited = Numbering.from_names(of_persons.others)
        self._by_person.bulk(
            of_persons.group,
            of_persons.start,
            of_persons.end,
            of_persons.other,
            len(of_persons.groups),
        )

    def apply(self, change: dict[str, str]) -> None:
        """One change from the record's stream: a check-in ("in"), a check-out ("out")
        or a retention cut ("cut")."""
        if change["op"] == "cut":
            self.cut(int(change["t"]))
            return
        person, venue, start = change["p"], change["v"], int(change["s"])
        if start < self._cut:
            return
        if change["op"] == "in":
            self.add(person, venue, start)
        else:
            self.close(person, venue, start, int(change["e"]))

    def merge(self) -> None:
        """Fold the rows added since the last merge into the sorted columns."""
        self._by_venue.merge()
        self._by_person.merge()

    # --- queries -------------------------------------------------------------------
    def meetings(self, queries: list[Query], margin_s: int, default_stay_min: int) -> Found:
        """Per query (venue, lo, hi), a widened stay at a venue this shard owns: the
        check-ins there whose own widened stay overlaps it."""
        group = np.array([self._venues.get(q[0]) for q in queries], np.int64)
        lo, hi = _ranges(queries)
        return Found.of(self._by_venue.overlapping(group, lo, hi, margin_s, default_stay_min))

    def stays_of_persons(self, queries: list[Query]) -> list[list[tuple[str, int, int | None]]]:
        """Per query (person, from, until): (venue, start, end) of each check-in."""
        keys = np.fromiter((key_of(q[0]) for q in queries), np.int64, len(queries))
        group = self._persons.numbers(keys)
        lo, hi = _ranges(queries)
        found = Found.of(self._by_person.in_ranges(group, lo, hi))
        out: list[list[tuple[str, int, int | None]]] = [[] for _ in queries]
        names = self._visited.names
        for q, s, e, v in zip(
            found.query.tolist(),
            found.start.tolist(),
            found.end.tolist(),
            found.other.tolist(),
            strict=True,
        ):
            out[q].append((names[v], s, None if e == NO_END else e))
        for found_stays in out:  # the rows added since the last merge come after the others
            found_stays.sort(key=lambda row: row[1])
        return out

    def names(self, keys: list[int]) -> list[str | None]:
        """The ids of persons this shard owns, by key."""
        return self._persons.names(self._persons.numbers(np.array(keys, np.int64)))

    def stats(self) -> dict[str, int]:
        """Rows on each side, the bytes the columns take and those of the persons'
        ids loaded in bulk."""
        return {
            "venue_rows": len(self._by_venue),
            "person_rows": len(self._by_person),
            "column_bytes": self._by_venue.nbytes() + self._by_person.nbytes(),
            "person_id_bytes": self._persons.nbytes(),
        }


# --- Redis: the record this is built from and follows --------------------------------
def stream_position(client: redis.Redis | redis.RedisCluster, keys: Keys) -> str:
    """The id of the latest change already in the record ("0-0": none yet); a shard
    built from the record follows the changes after it."""
    last = client.xrevrange(keys.tracing_changes(), count=1)
    if not last:
        return "0-0"
    position = last[0][0]
    return position.decode() if isinstance(position, bytes) else str(position)


def _scan_sets(
    client: redis.Redis | redis.RedisCluster,
    pattern: str,
    name_of: Callable[[str], str],
    wanted: Callable[[str], bool],
) -> Iterator[list[tuple[str, list[bytes]]]]:
    """Batches of (name, members) of the sorted sets matching `pattern` whose name (the
    person or venue `name_of` reads in the key) is `wanted`."""
    batch: list[tuple[str, str]] = []

    def read() -> list[tuple[str, list[bytes]]]:
        pipe = client.pipeline(transaction=False)
        for key, _ in batch:
            pipe.zrange(key, 0, -1)
        return [(name, members) for (_, name), members in zip(batch, pipe.execute(), strict=True)]

    for raw in client.scan_iter(match=pattern, count=SCAN_BATCH):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        name = name_of(key)
        if wanted(name):
            batch.append((key, name))
            if len(batch) >= SCAN_BATCH:
                yield read()
                batch.clear()
    if batch:
        yield read()


def load_from_redis(
    shard: TracingIndexShard, client: redis.Redis | redis.RedisCluster, keys: Keys
) -> dict[str, float]:
    """Rebuild the shard from the record (`client` undecoded: members are binary): the
    check-ins at its venues and those of its persons. Returns how long it took and how
    many rows."""
    t = time.perf_counter()
    at_venues, of_persons = SideBuilder(), SideBuilder()
    sides = (
        (keys.stays_at_venue_pattern(), keys.venue_of_stays_key, at_venues),
        (keys.stays_of_person_pattern(), keys.person_of_stays_key, of_persons),
    )
    for pattern, name_of, builder in sides:
        for batch in _scan_sets(client, pattern, name_of, shard.owns):
            for name, members in batch:
                for m in members:
                    other, start, end = stays.parse(m)
                    builder.add(name, other, start, NO_END if end is None else end)
    shard.load(at_venues.side(), of_persons.side())
    return {
        "seconds": time.perf_counter() - t,
        "rows": len(at_venues.start) + len(of_persons.start),
    }
