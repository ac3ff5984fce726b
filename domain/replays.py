"""What is known of a write by its request id when it arrives (api.replay_guard)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Claim:
    first: bool  # seen for the first time: go on, and store the answer
    answer: StoredAnswer | None = None  # answered before: this answer
    # Neither: an earlier attempt claimed it and never answered (its replica died
    # mid-way), so whether it was applied is not known.
