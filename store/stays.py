"""How a check-in is written in Redis: compact binary members of small sorted sets.

A check-in is kept twice, scored by its start (unix seconds): in its person's set, as
the venue + start [+ end], and in its venue's set for that day (UTC), as the person +
start [+ end]. The end is appended when the person checks out (the member replaced).
An id of 32 lowercase hex digits (every person id, every venue id) takes 17 bytes, any
other id 2 + its UTF-8 length; times take 4 bytes each. A venue's day stays small, so
Redis keeps it as a listpack (about 30 bytes a member) instead of a skiplist.
"""

from __future__ import annotations

import struct

from dichte.domain.tracing import DAY

_HEX = frozenset("0123456789abcdef")
_TIME = struct.Struct(">I")


def pack_id(x: str) -> bytes:
    if len(x) == 32 and _HEX.issuperset(x):
        return b"\x00" + bytes.fromhex(x)
    raw = x.encode()
    if len(raw) > 255:
        raise ValueError("an id longer than 255 bytes")
    return b"\x01" + bytes([len(raw)]) + raw


def member(other: str, start: int, end: int | None = None) -> bytes:
    """The member naming `other` (the venue in a person's set, the person in a venue's)."""
    out = pack_id(other) + _TIME.pack(start)
    return out if end is None else out + _TIME.pack(end)


def unpack_id(m: bytes, at: int = 0) -> tuple[str, int]:
    """The id packed at `at`, and where it ends."""
    if m[at] == 0:
        return m[at + 1 : at + 17].hex(), at + 17
    n = m[at + 1]
    return m[at + 2 : at + 2 + n].decode(), at + 2 + n


def parse(m: bytes) -> tuple[str, int, int | None]:
    """(other, start, end or None) of a member."""
    other, rest = unpack_id(m)
    start = _TIME.unpack_from(m, rest)[0]
    end = _TIME.unpack_from(m, rest + 4)[0] if len(m) == rest + 8 else None
    return other, start, end


def day_of(t: int) -> int:
    """The UTC day number a venue's set is split by."""
    return t // DAY


def days(lo: int, hi: int) -> range:
    """The day numbers of the times in [lo, hi)."""
    return range(day_of(lo), day_of(hi - 1) + 1) if hi > lo else range(0)
