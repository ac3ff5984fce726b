"""What the tracing index's shards answer, and which shard owns a person or a venue:
the part of the index an API replica needs, without the compiled scans (numba stays
out of API processes; the index itself is store.tracing_index)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

NO_END = 0  # the end column's value for a stay never checked out


def key_of(name: str) -> int:
    """A person's or venue's 64-bit key: the same in every process (unlike hash())."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def shard_of(name: str, shards: int) -> int:
    return key_of(name) % shards


@dataclass(frozen=True)
class Found:
    """Rows a shard found for a batch of queries: which query, and the row's columns
    (`other`: a person key on the venue side)."""

    query: np.ndarray
    start: np.ndarray
    end: np.ndarray  # NO_END: no check-out
    other: np.ndarray

    @staticmethod
    def of(parts: list[tuple[Any, np.ndarray, np.ndarray]]) -> Found:
        return Found(
            np.concatenate([q for _, q, _ in parts]),
            np.concatenate([p.start[r] for p, _, r in parts]).astype(np.int64),
            np.concatenate([p.end[r] for p, _, r in parts]).astype(np.int64),
            np.concatenate([p.tag[r] for p, _, r in parts]).astype(np.int64),
        )
