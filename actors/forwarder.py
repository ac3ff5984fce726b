"""`IOCForwarder`: one per cluster (named, restarted without limit). It moves the
outbox on: routes every record event into its health units' feeds and work lists,
applies the dishonest-declaration rules to each declaration, check-in and screening
event as it arrives (services.flags), delivers events to the provincial IOC (when
DICHTE_IOC_URL is set) and each unit's webhooks to their receivers. The rules are
in `services.delivery` and `services.flags`; this is the loop, the metrics and the
handle `dichte ioc` and the tests talk to.

Nothing is kept in the actor that Redis does not also hold: a restarted forwarder
resumes from the consumer groups where its predecessor stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import ray
from ray.util import metrics

from dichte.domain.settings import Settings, actor_resources
from dichte.services.delivery import Delivery, DeliveryCounts, Target, UnitRouting
from dichte.services.flags import FlagWatch
from dichte.services.wiring import flag_service, ioc_target, webhook_target
from dichte.store.outbox import OutboxStore

ACTOR_NAME = "ioc-forwarder"
NAMESPACE = "dichte"
STATUS_EVERY_S = 5.0
log = logging.getLogger(__name__)


# Needs no CPU share: it waits on Redis and on receivers.
@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class IOCForwarder:
    def __init__(self, settings: dict[str, Any], poll_webhooks_s: float = 2.0) -> None:
        self._settings = Settings(**settings)
        s = self._settings
        assert s.redis_url, "the forwarder needs a resolved redis_url"
        self._store = OutboxStore(s.redis_url, key_prefix=s.redis_key_prefix)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self._poll_webhooks_s = poll_webhooks_s
        self._deliveries: dict[str, tuple[Delivery, asyncio.Task[None]]] = {}
        tags = ("target",)
        self._delivered = metrics.Counter(
            "dichte_outbox_delivered", "Events a receiver took (2xx)", tag_keys=tags
        )
        self._retries = metrics.Counter(
            "dichte_outbox_retries", "Requests that failed and will be retried", tag_keys=tags
        )
        self._dead = metrics.Counter(
            "dichte_outbox_dead_letters", "Events moved to the dead letters", tag_keys=tags
        )
        self._backlog = metrics.Gauge(
            "dichte_outbox_backlog", "Events waiting for a target", tag_keys=tags
        )
        self._lag = metrics.Gauge(
            "dichte_outbox_lag_seconds", "Age of the oldest event not yet delivered", tag_keys=tags
        )
        # The forwarder runs as long as the system does and polls the store anyway:
        # the one place that says, every few seconds, whether Redis answers.
        self._redis_up = metrics.Gauge(
            "dichte_redis_up", "1 while the system of record (Redis) answers a ping, else 0"
        )
        self._flagged = metrics.Counter(
            "dichte_flags",
            "Dishonest-declaration flags raised or given new evidence",
            tag_keys=("rule",),
        )
        self._routing = UnitRouting(self._store)
        self._flags = FlagWatch(self._store, flag_service(s))
        self._tasks = [
            asyncio.get_event_loop().create_task(self._forever("routing", self._route)),
            asyncio.get_event_loop().create_task(self._forever("flags", self._watch_flags)),
            asyncio.get_event_loop().create_task(self._supervise()),
        ]

    async def _forever(self, what: str, step: Callable[[], Awaitable[Any]]) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away for a moment: try again shortly
                log.exception("%s failed", what)
                await asyncio.sleep(1.0)

    async def _route(self) -> None:
        await self._routing.start()
        while True:
            await self._routing.route_once()

    async def _watch_flags(self) -> None:
        await self._flags.start()
        while True:
            for flag in await self._flags.check_once():
                self._flagged.inc(1, tags={"rule": flag.rule.value})

    def _counted(self, target: str) -> Callable[[DeliveryCounts], None]:
        tags = {"target": target}

        def count(c: DeliveryCounts) -> None:
            if c.delivered:
                self._delivered.inc(c.delivered, tags=tags)
            if c.retried:
                self._retries.inc(c.retried, tags=tags)
            if c.dead_lettered:
                self._dead.inc(c.dead_lettered, tags=tags)

        return count

    async def _run_delivery(self, delivery: Delivery) -> None:
        await delivery.start()
        while True:
            await delivery.step()

    def _start(self, target: Target) -> None:
        delivery = Delivery(
            self._store,
            target,
            self._client,
            batch=self._settings.delivery_batch,
            max_attempts=self._settings.delivery_max_attempts,
            on_counts=self._counted(target.name),
        )
        task = asyncio.get_event_loop().create_task(
            self._forever(target.name, lambda: self._run_delivery(delivery))
        )
        self._deliveries[target.name] = (delivery, task)

    async def _supervise(self) -> None:
        """Start the IOC delivery, follow webhooks added and removed, publish gauges."""
        ioc = ioc_target(self._settings)
        if ioc is not None:
            self._start(ioc)
        since_status = STATUS_EVERY_S
        while True:
            await self._publish_redis_up()
            try:
                await self._sync_webhooks()
                if since_status >= STATUS_EVERY_S:
                    since_status = 0.0
                    # What every target took leaves the outbox (feeds keep their copy).
                    await self._store.trim_delivered(self._store.keys.outbox())
                    for st in await self.status():
                        tags = {"target": st["target"]}
                        self._backlog.set(st["backlog"], tags=tags)
                        self._lag.set(st["lag_s"], tags=tags)
            except Exception:
                log.exception("forwarder supervision failed")
            await asyncio.sleep(self._poll_webhooks_s)
            since_status += self._poll_webhooks_s

    async def _publish_redis_up(self) -> None:
        try:
            up = await asyncio.wait_for(self._store.ping(), timeout=5.0)
        except Exception:  # refused, timed out, loading: all "not answering" to an operator
            up = False
        self._redis_up.set(1.0 if up else 0.0)

    async def _sync_webhooks(self) -> None:
        hooks = await self._store.webhooks()
        wanted = {f"webhook-{h}": h for h in hooks}
        for name in [n for n in self._deliveries if n.startswith("webhook-")]:
            if name not in wanted:
                _, task = self._deliveries.pop(name)
                task.cancel()
        for name, hook_id in wanted.items():
            if name not in self._deliveries:
                self._start(webhook_target(self._settings, hooks[hook_id]))

    # --- what operators and tests ask ------------------------------------------------------
    async def status(self) -> list[dict[str, Any]]:
        out = []
        for delivery, _ in list(self._deliveries.values()):
            t = delivery.target
            out.append(await self._store.status(t.name, t.stream, t.group))
        return out

    async def replay_dead_letters(self, target: str = "ioc") -> int:
        return await self._store.replay_dead_letters(target)

    async def targets(self) -> list[str]:
        return sorted(self._deliveries)

    async def shutdown(self) -> None:
        for task in [*self._tasks, *(t for _, t in self._deliveries.values())]:
            task.cancel()
        with contextlib.suppress(Exception):
            await self._client.aclose()
            await self._store.close()


def get_or_create_forwarder(settings: dict[str, Any]) -> Any:
    """The cluster's one forwarder, created (and so started) by whichever caller comes
    first."""
    return IOCForwarder.options(  # type: ignore[attr-defined]
        name=ACTOR_NAME,
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        **actor_resources(settings, "IOCForwarder"),
    ).remote(settings)
