"""The tracing storage on real Redis: check-in/out scripts and retention."""

from __future__ import annotations

import asyncio

from dichte.store.epi import EpiStore

DAY = 86_400


def test_check_out_closes_the_latest_check_in_at_that_venue(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> tuple[object, ...]:
        store = EpiStore(redis_url, key_prefix=key_prefix)
        t = 1_790_000_000
        await store.check_in("cafe", "an", t, "d")
        await store.check_in("market", "an", t + 600, "d")
        await store.check_in("cafe", "an", t + 1200, "d")
        closed = await store.check_out("cafe", "an", t + 3000)
        again = await store.check_out("cafe", "an", t + 3000)
        none = await store.check_out("bar", "an", t + 3000)
        (stays,) = await store.stays_of_persons([("an", t, t + DAY)])
        await store.close()
        return closed, again, none, sorted((s.venue, s.start, s.end) for s in stays)

    closed, again, none, stays = asyncio.run(scenario())
    t = 1_790_000_000
    assert closed == (True, t + 1200, t + 3000)
    assert again == (False, t + 1200, t + 3000)  # idempotent
    assert none is None
    assert stays == [("cafe", t, None), ("cafe", t + 1200, t + 3000), ("market", t + 600, None)]
