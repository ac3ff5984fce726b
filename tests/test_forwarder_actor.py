"""The IOCForwarder actor in a started Ray: it routes every record into its units'
feeds and delivers to the IOC; killed in the middle of a request, it is restarted and
the IOC still receives every event (a redelivered one under the same id)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from dichte.actors.forwarder import NAMESPACE, IOCForwarder
from dichte.domain.events import EventType, RecordEvent
from dichte.domain.settings import Settings
from dichte.store.connection import connect_sync
from dichte.store.keys import Keys
from dichte.store.outbox import OutboxStore
from tests.live import wait_for
from tests.receiver import receiver
from tests.test_delivery import UNITS, checkins


@pytest.fixture(scope="module")
def ray_started() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    yield
    ray.shutdown()


def test_a_forwarder_killed_mid_request_delivers_everything(
    ray_started: None, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with receiver() as r:
        r.delay_s = 0.3
        settings = Settings(
            data_dir=tmp_path,
            redis_url=redis_url,
            redis_key_prefix=key_prefix,
            ioc_url=r.url,
            ioc_secret=r.secret,
            ioc_pseudonym_key="test-key",
            delivery_batch=200,
        )

        async def fill() -> set[str]:
            store = OutboxStore.of(settings)
            try:
                subjects = set(await checkins(store, 2000, lambda i: f"p{i}"))
                for i in range(50):  # venues: these go into the commune's feed too
                    event = RecordEvent(EventType.VENUE_CREATED, f"{i:032x}", UNITS)
                    await store.append(event)
                return subjects
            finally:
                await store.close()

        subjects = asyncio.run(fill())
        forwarder = IOCForwarder.options(  # type: ignore[attr-defined]
            name=f"forwarder-{uuid.uuid4().hex[:8]}"
        ).remote(settings.for_workers())
        try:
            wait_for(lambda: r.requests >= 2, 60, "the first deliveries")
            ray.kill(forwarder, no_restart=False)  # mid-request: the receiver is slow
            wait_for(lambda: len(set(r.ids())) >= 2050, 90, "every event after the restart")

            def ioc_status() -> dict[str, object]:
                statuses = ray.get(forwarder.status.remote(), timeout=30)
                return next(s for s in statuses if s["target"] == "ioc")

            wait_for(lambda: ioc_status()["backlog"] == 0, 30, "the last acknowledgement")
            # What every target took leaves the outbox (the forwarder trims it).
            outbox = connect_sync(redis_url, decode=True)
            wait_for(lambda: outbox.xlen(Keys(key_prefix).outbox()) == 0, 30, "the trim")
            outbox.close()
        finally:
            ray.kill(forwarder, no_restart=True)
    ids = r.ids()
    assert len(set(ids)) == 2050
    # Pseudonymised subjects: the IOC sees 2000 distinct check-ins.
    checkins_seen = {e["subject"] for e in r.events if e["type"].endswith("checkin.created")}
    assert len(checkins_seen) == 2000 and not (checkins_seen & subjects)
    by_id: dict[str, str] = {}
    for event in r.events:  # a redelivered event carries the same id and the same content
        assert by_id.setdefault(str(event["id"]), str(event["subject"])) == event["subject"]
    # Routing ran too: the commune's feed holds each venue once (check-ins go to the IOC
    # only).
    client = connect_sync(redis_url, decode=True)
    assert client.xlen(Keys(key_prefix).feed("commune-19363")) == 50
    client.close()
