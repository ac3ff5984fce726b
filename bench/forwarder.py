"""How fast the outbox drains to the IOC, and how long a backlog left by an outage
takes to clear. A receiver in its own process (the tests' loopback IOC: it verifies
every Standard Webhooks signature) takes the CloudEvents; the forwarder's delivery and
the unit routing run together in one event loop, as in the IOCForwarder actor, against
an embedded Redis.

The backlog is one peak hour of a province: 120,000 record events (half declarations,
read from their records at delivery, half check-ins, whose record is their id), about a
third of Quảng Trị's 1.9 million people declaring or scanning twice in a 12-hour day.

Peer, same run: one event per request (how webhook senders usually deliver), the same
code with a batch of one, timed on a slice of the backlog.

    .venv/bin/python bench/forwarder.py [--events 120000] [--batches 100,1000,2000]

Writes bench/results/forwarder.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

import httpx  # noqa: E402

from dichte.domain.declaration import DeclarationCreate  # noqa: E402
from dichte.domain.events import EventType, Minimisation, RecordEvent  # noqa: E402
from dichte.domain.records import DeclarationRecord  # noqa: E402
from dichte.services.delivery import Delivery, Target, UnitRouting  # noqa: E402
from dichte.serving.embedded_redis import EmbeddedRedis  # noqa: E402
from dichte.store.outbox import OutboxStore  # noqa: E402
from tests.factories import distinct_declaration  # noqa: E402
from tests.receiver import SECRET, Receiver  # noqa: E402

UNITS = ("commune-19363", "centre-464", "province-44")


def receive(port: Any, received: Any, unique: Any, stop: Any) -> None:
    """The receiver process: counts the events it accepted (and distinct ids)."""
    r = Receiver(SECRET)
    port.value = r.port
    r.start()
    seen: set[str] = set()
    done = 0
    while not stop.is_set():
        time.sleep(0.05)
        with r._lock:
            fresh, r.events = r.events, []
        done += len(fresh)
        seen.update(str(e["id"]) for e in fresh)
        received.value, unique.value = done, len(seen)
    r.stop()


async def fill(store: OutboxStore, n: int) -> None:
    """n events, alternating: declarations of different people (their record stored as
    the store writes it) and check-ins of 5,000 people who come back."""
    redis = store._redis
    template = DeclarationCreate.model_validate(distinct_declaration())
    for start in range(0, n, 2000):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(n, start + 2000)):
            if i % 2:
                # A different person each time (pseudonyms are cached per person).
                person = {"full_name": f"Nguyễn Văn {i}", "document_number": f"045090{i:06d}"}
                record = DeclarationRecord.new(template.model_copy(update=person))
                pipe.set(store.keys.declaration(record.id), record.model_dump_json())
                event = RecordEvent(EventType.DECLARATION_CREATED, record.id, UNITS)
            else:
                at = 1_780_000_000 + i
                subject = f"venue-1|person-{i % 5000}|{at}"
                event = RecordEvent(EventType.CHECKIN_CREATED, subject, UNITS)
            pipe.xadd(store.keys.outbox(), event.fields())
        await pipe.execute()


async def drain(
    redis_url: str,
    prefix: str,
    url: str,
    n: int,
    batch: int,
    policy: Minimisation,
    received: Any,
    limit_s: float | None = None,
) -> dict[str, Any]:
    store = OutboxStore(redis_url, key_prefix=prefix)
    await fill(store, n)
    target = Target(
        name="ioc",
        url=url,
        secret=SECRET,
        stream=store.keys.outbox(),
        group="ioc",
        policy=policy,
        pseudonym_key=b"bench-key",
        source="urn:dichte:bench",
    )
    async with httpx.AsyncClient(timeout=30) as client:
        delivery = Delivery(store, target, client, batch=batch)
        routing = UnitRouting(store)
        await delivery.start()
        await routing.start()
        before = received.value
        started = time.perf_counter()
        stop = asyncio.Event()

        async def route() -> None:  # the router shares the loop, as in the actor
            while not stop.is_set():
                await routing.route_once(block_ms=100)

        router = asyncio.create_task(route())
        while received.value - before < n:
            await delivery.step()
            if limit_s is not None and time.perf_counter() - started > limit_s:
                break
        seconds = time.perf_counter() - started
        stop.set()
        await router
    delivered = received.value - before
    await store._redis.flushdb()
    await store.close()
    return {
        "events": delivered,
        "seconds": round(seconds, 2),
        "events_per_s": round(delivered / seconds),
    }


async def routing_latency(redis_url: str, prefix: str, n: int = 300) -> dict[str, float]:
    """From a record's outbox entry to its unit's feed, with the router waiting as in
    the actor: one entry at a time, a few ms apart."""
    store = OutboxStore(redis_url, key_prefix=prefix)
    routing = UnitRouting(store)
    await routing.start()
    stop = asyncio.Event()

    async def route() -> None:
        while not stop.is_set():
            await routing.route_once(block_ms=100)

    router = asyncio.create_task(route())
    seen = "0-0"
    took = []
    for i in range(n):
        event = RecordEvent(EventType.VENUE_CREATED, f"{i:032x}", UNITS)
        started = time.perf_counter()
        await store.append(event)
        while not (found := await store.feed("commune-19363", seen, 1)):
            await asyncio.sleep(0.0005)
        took.append(time.perf_counter() - started)
        seen = found[-1][0]
        await asyncio.sleep(0.005)
    stop.set()
    await router
    await store._redis.flushdb()  # the next case starts empty
    await store.close()
    took.sort()
    return {
        "p50_ms": round(took[len(took) // 2] * 1000, 2),
        "p95_ms": round(took[int(len(took) * 0.95)] * 1000, 2),
        "max_ms": round(took[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--batches", default="100,1000,2000")
    parser.add_argument("--peer-seconds", type=float, default=20.0)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    port, received, unique, stop = (
        ctx.Value("i", 0),
        ctx.Value("q", 0),
        ctx.Value("q", 0),
        ctx.Event(),
    )
    child = ctx.Process(target=receive, args=(port, received, unique, stop), daemon=True)
    child.start()
    while not port.value:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port.value}/events"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as redis:
        latency = asyncio.run(routing_latency(redis.url, "bench"))
        print("routing", latency, flush=True)
        for batch in [int(b) for b in args.batches.split(",")]:
            for policy in (Minimisation.PSEUDONYMISED, Minimisation.FULL):
                got = asyncio.run(
                    drain(redis.url, "bench", url, args.events, batch, policy, received)
                )
                rows.append({"way": "ours", "batch": batch, "payload": policy.value, **got})
                print(rows[-1], flush=True)
        peer = asyncio.run(
            drain(
                redis.url,
                "bench",
                url,
                args.events,
                1,
                Minimisation.PSEUDONYMISED,
                received,
                limit_s=args.peer_seconds,
            )
        )
        rows.append({"way": "peer", "batch": 1, "payload": "pseudonymised", **peer})
        print(rows[-1], flush=True)
    stop.set()
    child.join(10)
    duplicates = received.value - unique.value
    write(rows, args.events, duplicates, latency)


def write(
    rows: list[dict[str, Any]], backlog: int, duplicates: int, latency: dict[str, float]
) -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "backlog_events": backlog,
        "duplicates_received": duplicates,
        "routing_latency": latency,
    }
    (RESULTS / "forwarder.json").write_text(json.dumps({**meta, "rows": rows}, indent=2))
    lines = [
        f"Outbox to a loopback IOC, {meta['cpus']} CPUs, {backlog:,} events backlog, {meta['at']}",
        "",
        "| way | events per request | payload | events delivered | seconds "
        "| events/s | time to drain the backlog |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        drain_s = backlog / r["events_per_s"] if r["events_per_s"] else float("inf")
        note = "" if r["events"] >= backlog else " (at this rate)"
        lines.append(
            f"| {r['way']} | {r['batch']} | {r['payload']} | {r['events']:,} | {r['seconds']} "
            f"| {r['events_per_s']:,} | {drain_s:.0f} s{note} |"
        )
    lines += [
        "",
        f"Events received twice: {duplicates}. From a record's outbox entry to its unit's "
        f"feed: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, "
        f"max {latency['max_ms']} ms (300 records, one at a time).",
    ]
    (RESULTS / "forwarder.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
