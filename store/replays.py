"""The answers given to writes, by request id, for a short while: the ingress sends a
request again when the replica it went to died before answering (its retry keeps the
request id), and a write that is not idempotent by itself must not be applied twice."""

from __future__ import annotations

from typing import Any

from dichte.domain.replays import Claim, StoredAnswer
from dichte.domain.settings import Settings
from dichte.store.connection import connect
from dichte.store.keys import Keys

# The ingress retries within seconds; ten minutes covers a client's own retry too.
REPLAY_TTL_S = 600
_PENDING = b""  # claimed, no answer stored yet


class ReplayStore:
    def __init__(self, redis_url: str, *, key_prefix: str = "dichte") -> None:
        self._redis: Any = connect(redis_url, decode=False)
        self.keys = Keys(key_prefix)

    @classmethod
    def of(cls, s: Settings) -> ReplayStore:
        if not s.redis_url:
            raise ValueError("ReplayStore needs a resolved redis_url")
        return cls(s.redis_url, key_prefix=s.redis_key_prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    async def claim(self, request: str) -> Claim:
        key = self.keys.replay(request)
        if await self._redis.set(key, _PENDING, nx=True, ex=REPLAY_TTL_S):
            return Claim(first=True)
        stored = await self._redis.get(key)
        if not stored:  # pending (or expired in between): the outcome is not known
            return Claim(first=False)
        head, _, body = bytes(stored).partition(b"\n\n")
        status, _, content_type = head.decode().partition(" ")
        return Claim(first=False, answer=StoredAnswer(int(status), content_type, body))

    async def answer(self, request: str, answer: StoredAnswer) -> None:
        stored = f"{answer.status} {answer.content_type}".encode() + b"\n\n" + answer.body
        await self._redis.set(self.keys.replay(request), stored, ex=REPLAY_TTL_S)

    async def release(self, request: str) -> None:
        """Nothing was applied (refused, or the store away): a retry may go on."""
        await self._redis.delete(self.keys.replay(request))
