"""The tracing storage on real Redis: check-in/out scripts and retention."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from actors.epi_store import EpiStore
from tests.live import ROOT

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


def test_prune_forgets_check_ins_past_retention(redis_url: str, key_prefix: str) -> None:
    now = int(time.time())

    async def fill() -> None:
        store = EpiStore(redis_url, key_prefix=key_prefix)
        await store.check_in("cafe", "an", now - 30 * DAY, "old")
        await store.check_out("cafe", "an", now - 30 * DAY + 600)
        await store.check_in("cafe", "an", now - DAY, "new")
        await store.close()

    asyncio.run(fill())
    env = {
        "DICHTE_REDIS_URL": redis_url,
        "DICHTE_REDIS_KEY_PREFIX": key_prefix,
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-m", "serving.cli", "prune"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("removed 1 check-ins older than 21 days")

    async def read() -> tuple[list[int], list[int]]:
        store = EpiStore(redis_url, key_prefix=key_prefix)
        (mine,) = await store.stays_of_persons([("an", 0, now + 1)])
        (here,) = await store.stays_at_venues([("cafe", 0, now + 1)])
        ends = await store._redis.hlen(store.keys.stay_ends())
        await store.close()
        return [s.start for s in mine] + [s.start for s in here], [ends]

    starts, ends = asyncio.run(read())
    assert starts == [now - DAY, now - DAY]
    assert ends == [0]
