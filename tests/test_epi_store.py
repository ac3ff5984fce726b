"""The tracing storage on real Redis: check-in/out scripts and retention."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Any

from dichte.domain.cases import Case
from dichte.domain.settings import Settings
from dichte.domain.tokens import Role, StaffClaims
from dichte.domain.tracing import MAX_STAY_S, Stay
from dichte.services.cases import CaseService
from dichte.store import stays
from dichte.store.epi import EpiStore

# The store's scripts and transactions also run on a three-primary Redis Cluster.
ON_REDIS_CLUSTER = True

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


def test_a_check_in_or_out_cut_off_part_way_is_completed_when_sent_again(
    redis_url: str, key_prefix: str
) -> None:
    """A check-in is written slot by slot; a failure after the first step (here: only
    that step run, as a connection lost after it would leave it) is completed by the
    same scan sent again, announced once; a check-out likewise."""

    async def scenario() -> dict[str, Any]:
        store = EpiStore(redis_url, key_prefix=key_prefix)
        k, t = store.keys, 1_790_000_000
        await store._add_to_person(
            keys=[k.stays_of_person("an")], args=[t, stays.member("cafe", t)]
        )
        out: dict[str, Any] = {
            "half_at_venue": await store.stays_at_venues([("cafe", t - 60, t + 60)]),
            "half_changes": await store._redis.xlen(k.tracing_changes()),
            "retried": await store.check_in("cafe", "an", t, "d", ("unit-1",)),
            "scanned_again": await store.check_in("cafe", "an", t + 30, "d", ("unit-1",)),
        }
        # A check-out whose person's step ran and whose venue's step did not.
        await store._close_at_person(
            keys=[k.stays_of_person("an")], args=[stays.pack_id("cafe"), t + 900, MAX_STAY_S]
        )
        out["checked_out_again"] = await store.check_out("cafe", "an", t + 900)
        out["at_venue"] = await store.stays_at_venues([("cafe", t - 60, t + 60)])
        out["changes"] = [f["op"] for _, f in await store._redis.xrange(k.tracing_changes())]
        out["announced"] = [f["type"] for _, f in await store._redis.xrange(k.outbox())]
        await store.close()
        return out

    out = asyncio.run(scenario())
    t = 1_790_000_000
    assert out["half_at_venue"] == [[]] and out["half_changes"] == 0
    assert out["retried"] == (True, t)  # completed, and announced now
    assert out["scanned_again"] == (False, t)  # the same minute: the first scan
    assert out["checked_out_again"] == (False, t, t + 900)
    assert out["at_venue"] == [[Stay("an", "cafe", t, t + 900)]]
    assert out["changes"] == ["in", "out"]
    assert out["announced"] == ["checkin.created"]


class RoundTrips:
    """Counts what goes to Redis: each single command and each pipeline is one trip."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        self.scans = 0  # SCAN pages: as many as the key space needs, whatever is read
        single, pipeline = client.execute_command, client.pipeline

        async def command(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            self.scans += str(args[0]).upper() == "SCAN"
            return await single(*args, **kwargs)

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def run(*a: Any, **k: Any) -> Any:
                self.count += 1
                return await execute(*a, **k)

            pipe.execute = run
            return pipe

        client.execute_command = command
        client.pipeline = counted_pipeline


def test_contacts_and_chain_cost_the_same_round_trips_for_4_or_40_contacts(
    redis_url: str, key_prefix: str
) -> None:
    """Reading a case's contacts and chain batches its reads per tracing step: the
    number of round trips does not grow with the number of people met."""
    staff = StaffClaims(Role.NATIONAL, 0, "test", 0, 2**31)
    t = int(time.time()) - 6 * 3600

    async def trips(n: int) -> tuple[int, int, int]:
        settings = Settings(redis_url=redis_url, redis_key_prefix=f"{key_prefix}-{n}")
        store = EpiStore.of(settings)
        case = Case(
            id=f"{n:032x}",
            person_id="case",
            document_number="",
            full_name="F0",
            commune_code=None,
            province_code=None,
            classification="confirmed",
            onset_date=date.today(),
            isolation_at=datetime.fromtimestamp(t + 5 * 3600, UTC),
            created_at=datetime.now(UTC),
        )
        await store.create_case(case)
        await store.check_in("cafe", "case", t, "d")
        for i in range(n):
            await store.ensure_person(f"f1-{i}", {"full_name": f"F1 {i}"})
            await store.check_in("cafe", f"f1-{i}", t + 60, "d")
            await store.check_in(f"shop-{i}", f"f1-{i}", t + 3 * 3600, "d")
            await store.check_in(f"shop-{i}", f"f2-{i}", t + 3 * 3600 + 60, "d")
        service = CaseService(store, None, settings.outbreak)  # type: ignore[arg-type]
        counter = RoundTrips(store._redis)
        traced = await service.contacts(case.id, 2, staff)
        contacts_trips = counter.count
        chain = await service.chain(case.id, staff)
        await store.close()
        assert len(traced.f1) == n and len(traced.f2) == n
        assert len(chain.nodes) == 2 * n + 1
        return contacts_trips, counter.count - contacts_trips, len(traced.f2)

    few, many = asyncio.run(trips(4)), asyncio.run(trips(40))
    assert few[:2] == many[:2], (few, many)
