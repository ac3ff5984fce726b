"""Delivery of outbox entries to a real HTTP receiver on loopback: signed per Standard
Webhooks, CloudEvents batches, at-least-once through an outage, a refused event set
aside while the rest flow, a reader that dies mid-batch replaced without loss."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from dichte.domain.declaration import DeclarationCreate
from dichte.domain.events import EventType, Minimisation, RecordEvent
from dichte.domain.records import DeclarationRecord
from dichte.services.delivery import Delivery, Target, UnitRouting
from dichte.store.connection import connect_sync
from dichte.store.declarations import DeclarationStore
from dichte.store.outbox import OutboxStore
from tests.factories import distinct_declaration
from tests.receiver import Receiver, receiver

# The store's scripts and transactions also run on a three-primary Redis Cluster.
ON_REDIS_CLUSTER = True

UNITS = ("commune-19363", "centre-464", "province-44")
T = TypeVar("T")


def target(store: OutboxStore, r: Receiver, policy: Minimisation) -> Target:
    return Target(
        name="ioc",
        url=r.url,
        secret=r.secret,
        stream=store.keys.outbox(),
        group="ioc",
        policy=policy,
        pseudonym_key=b"k" * 32,
        source="urn:dichte:test",
    )


async def checkins(store: OutboxStore, n: int, person: Callable[[int], str]) -> list[str]:
    """n check-in events as the store writes them; their subjects."""
    subjects = []
    for i in range(n):
        at = 1_780_000_000 + i
        subject = f"venue-1|{person(i)}|{at}"
        await store.append(RecordEvent(EventType.CHECKIN_CREATED, subject, UNITS))
        subjects.append(subject)
    return subjects


async def drain(delivery: Delivery, store: OutboxStore, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    t = delivery.target
    while time.monotonic() < deadline:
        await delivery.step()
        st = await store.status(t.name, t.stream, t.group)
        if st["backlog"] == 0 and st["replays_queued"] == 0:
            return
    raise AssertionError(f"not drained: {await store.status(t.name, t.stream, t.group)}")


def run(
    coro_fn: Callable[[OutboxStore, httpx.AsyncClient], Awaitable[T]], redis_url: str, prefix: str
) -> T:
    async def go() -> T:
        store = OutboxStore(redis_url, key_prefix=prefix)
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                return await coro_fn(store, client)
            finally:
                await store.close()

    return asyncio.run(go())


def test_events_arrive_signed_in_order_and_pseudonymised(redis_url: str, key_prefix: str) -> None:
    with receiver() as r:

        async def go(store: OutboxStore, client: httpx.AsyncClient) -> None:
            await checkins(store, 1200, lambda i: f"person-{i % 7}")
            t = target(store, r, Minimisation.PSEUDONYMISED)
            delivery = Delivery(store, t, client, batch=500)
            await delivery.start()
            await drain(delivery, store)

        run(go, redis_url, key_prefix)
        assert r.bad_signatures == 0
        assert r.content_types == {"application/cloudevents-batch+json"}
        assert r.requests == 3  # 500 + 500 + 200
        ids = r.ids()
        assert len(ids) == 1200 and len(set(ids)) == 1200
        assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))
        first = r.events[0]
        assert first["specversion"] == "1.0"
        assert first["type"] == "vn.dichte.checkin.created"
        assert first["source"] == "urn:dichte:test"
        # Identity is gone, linkage is kept: the same person has the same pseudonym.
        body = json.dumps(r.events)
        assert "person-" not in body
        by_person = {r.events[i]["data"]["person_id"] for i in range(0, 1200, 7)}
        assert len(by_person) == 1
        assert first["data"]["venue_id"] == "venue-1"
        assert first["data"]["at"] == "2026-05-28T20:26:40+00:00"  # 1_780_000_000


def test_declarations_made_during_an_outage_all_arrive(redis_url: str, key_prefix: str) -> None:
    r = Receiver()  # not listening: connections are refused

    async def go(store: OutboxStore, client: httpx.AsyncClient) -> dict[str, object]:
        t = target(store, r, Minimisation.PSEUDONYMISED)
        delivery = Delivery(store, t, client, batch=64, backoff_s=(0.01, 0.05))
        await delivery.start()
        # A burst of declarations, written by the store as the API does, while the
        # IOC is away and the forwarder keeps trying.
        declarations = DeclarationStore(redis_url, key_prefix=key_prefix)
        writes = []
        for _ in range(300):
            record = DeclarationRecord.new(DeclarationCreate.model_validate(distinct_declaration()))
            writes.append(record.to_write(record.idempotency_key(None), units=UNITS))
        burst = asyncio.gather(*(declarations.submit(w) for w in writes))
        for _ in range(5):
            await delivery.step()
        assert all(s.created for s in await burst)
        await declarations.close()
        for _ in range(3):
            await delivery.step()
        away = await store.status(t.name, t.stream, t.group)
        assert away["backlog"] == 300 and away["retries_total"] >= 8
        r.start()
        try:
            await drain(delivery, store)
        finally:
            r.stop()
        assert r.subjects() == {w.declaration_id for w in writes}
        return await store.status(t.name, t.stream, t.group)

    status = run(go, redis_url, key_prefix)
    assert status["delivered_total"] == 300 and status["dead_letters"] == 0
    assert len(r.ids()) == len(set(r.ids())) == 300  # every event, each once here
    assert {e["type"] for e in r.events} == {"vn.dichte.declaration.created"}
    assert all(e["data"]["declaration"]["full_name"].startswith("ps_") for e in r.events)


def test_a_refused_event_goes_to_dead_letters_and_the_rest_flow(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with receiver() as r:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DICHTE_")},
            "DICHTE_REDIS_URL": redis_url,
            "DICHTE_REDIS_KEY_PREFIX": key_prefix,
            "DICHTE_DATA_DIR": str(tmp_path),
            "DICHTE_IOC_URL": r.url,
            "DICHTE_IOC_SECRET": r.secret,
        }

        def dichte_ioc(*args: str) -> str:
            """What an operator runs: `dichte ioc …`."""
            command = [sys.executable, "-m", "dichte.cli.main", "ioc", *args]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            return done.stdout

        async def go(store: OutboxStore, client: httpx.AsyncClient) -> None:
            subjects = await checkins(store, 50, lambda i: f"p{i}")
            refused = subjects[20]
            r.refuse_subjects.add(refused)
            t = target(store, r, Minimisation.FULL)
            delivery = Delivery(store, t, client, batch=16, max_attempts=3, backoff_s=(0.01, 0.05))
            await delivery.start()
            await drain(delivery, store)
            assert r.subjects() == set(subjects) - {refused}
            status = await store.status(t.name, t.stream, t.group)
            assert status["dead_letters"] == 1
            (dead,) = json.loads(dichte_ioc("dead-letters", "--json"))
            assert (dead["subject"], dead["attempts"]) == (refused, 3)
            assert "HTTP 400" in dead["reason"]
            (ioc,) = json.loads(dichte_ioc("status", "--json"))
            assert (ioc["target"], ioc["backlog"], ioc["dead_letters"]) == ("ioc", 0, 1)
            # Staff fix the receiver and replay: it arrives under its original id.
            r.refuse_subjects.clear()
            assert "1 dead letters queued" in dichte_ioc("replay", "--dead-letters")
            refused_id = dead["id"]
            await drain(delivery, store)
            assert refused in r.subjects()
            assert refused_id in r.ids()
            assert (await store.status(t.name, t.stream, t.group))["dead_letters"] == 0

        run(go, redis_url, key_prefix)


def test_a_reader_that_dies_mid_batch_is_replaced_without_loss(
    redis_url: str, key_prefix: str
) -> None:
    with receiver() as r:

        async def go(store: OutboxStore, client: httpx.AsyncClient) -> None:
            subjects = await checkins(store, 100, lambda i: f"p{i}")
            t = target(store, r, Minimisation.FULL)
            await store.ensure_group(t.stream, t.group)
            # A reader takes a batch and dies before the receiver answered.
            taken = await store.read(t.stream, t.group, 40, 100)
            assert len(taken) == 40
            successor = Delivery(store, t, client, batch=500)
            await drain(successor, store)
            assert r.subjects() == set(subjects)

        run(go, redis_url, key_prefix)


def test_routing_fills_each_units_feed_once(redis_url: str, key_prefix: str) -> None:
    async def go(store: OutboxStore, client: httpx.AsyncClient) -> None:
        for i in range(20):
            await store.append(RecordEvent(EventType.DECLARATION_CREATED, f"{i:032x}", UNITS))
        await store.append(
            RecordEvent(EventType.CASE_CREATED, "c" * 32, ("commune-19702", "province-44"))
        )
        await checkins(store, 5, lambda i: f"p{i}")  # for the IOC only: no feed has them
        routing = UnitRouting(store, batch=7)
        await routing.start()
        while await routing.route_once(block_ms=50):
            pass
        # Routing the same entries again (a router that died before acknowledging)
        # adds nothing.
        outbox = connect_sync(redis_url, decode=True)
        assert await store.route(outbox.xrange(store.keys.outbox())) == 0
        outbox.close()
        province = await store.feed("province-44", "0-0", 1000)
        vinh_linh = await store.feed("commune-19363", "0-0", 1000)
        hai_lang = await store.feed("commune-19702", "0-0", 1000)
        assert (len(vinh_linh), len(hai_lang), len(province)) == (20, 1, 21)
        assert {f["type"] for _, f in province} == {"declaration.created", "case.created"}
        listed = await store.work_list("declaration", "centre-464", float("inf"), 0, 100)
        assert len(listed) == 20
        assert await store.work_list("case", "commune-19702", float("inf"), 0, 10) != []
        # Delivered everywhere, the outbox lets the entries go.
        assert await store.trim_delivered(store.keys.outbox()) == 26

    run(go, redis_url, key_prefix)


@pytest.mark.parametrize("policy", [Minimisation.AGGREGATES])
def test_aggregates_carry_no_record(redis_url: str, key_prefix: str, policy: Minimisation) -> None:
    with receiver() as r:

        async def go(store: OutboxStore, client: httpx.AsyncClient) -> None:
            await checkins(store, 5, lambda i: f"p{i}")
            delivery = Delivery(store, target(store, r, policy), client)
            await delivery.start()
            await drain(delivery, store)

        run(go, redis_url, key_prefix)
        assert [e["data"] for e in r.events] == [{"kind": "checkin", "units": list(UNITS)}] * 5
        assert all(not e["subject"].startswith("venue-1|") for e in r.events)
