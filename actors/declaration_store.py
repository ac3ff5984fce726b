"""DeclarationStore as a Ray actor: one per cluster, named, restarted when it dies.

Calls are retried on the restarted actor (max_task_retries); that is safe because
every write carries an idempotency key, so a retry of a write that reached Redis
before the crash returns the first record instead of a second one.
"""

from __future__ import annotations

import time
from typing import Any

import ray
from ray.util import metrics

from dichte.domain.records import Stored, Write
from dichte.domain.settings import Settings, actor_resources
from dichte.store.batching import GroupCommit
from dichte.store.declarations import DeclarationStore

ACTOR_NAME = "declaration-store"
NAMESPACE = "dichte"
LATENCY_BOUNDARIES_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]


# Restarted without limit and calls retried: safe because writes are idempotent. Its CPU
# share: `actors:` in the Serve config (cluster/serve_config.yaml).
@ray.remote(  # type: ignore[call-overload]
    max_restarts=-1, max_task_retries=-1, num_cpus=0, max_concurrency=4096
)
class DeclarationStoreActor:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._store = DeclarationStore.of(Settings(**settings))
        self._write_seconds = metrics.Histogram(
            "dichte_store_write_seconds",
            description="Declaration write latency in the store "
            "actor, queueing and the Redis round trip included",
            boundaries=LATENCY_BOUNDARIES_S,
        )

    async def submit(self, write: Write) -> Stored:
        (result,) = await self.submit_many([write])
        if isinstance(result, BaseException):
            raise result
        return result

    async def submit_many(self, writes: list[Write]) -> list[Stored | BaseException]:
        """Many writes in one actor call: the ingress batches to spare the per-call cost."""
        start = time.perf_counter()
        try:
            return await self._store.submit_many(writes)
        finally:
            self._write_seconds.observe(time.perf_counter() - start)

    async def get(self, declaration_id: str) -> str | None:
        return await self._store.get(declaration_id)

    async def ping(self) -> bool:
        return await self._store.ping()


def get_or_create_store_actor(settings: dict[str, Any]) -> Any:
    """The cluster's one store actor, created by whichever caller comes first."""
    return DeclarationStoreActor.options(  # type: ignore[attr-defined]
        name=ACTOR_NAME,
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        **actor_resources(settings, "DeclarationStoreActor"),
    ).remote(settings)


class ActorDeclarationGateway:
    """What the API awaits: the store actor behind a handle. Concurrent submits from
    one replica travel together in one actor call (a call costs ~1 ms of CPU)."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor
        self._writes: GroupCommit[Write, Stored] = GroupCommit(self._send, max_batch=256)

    async def _send(self, writes: list[Write]) -> list[Stored | BaseException]:
        results: list[Stored | BaseException] = await self._actor.submit_many.remote(writes)
        return results

    async def submit(self, write: Write) -> Stored:
        return await self._writes.submit(write)

    async def get(self, declaration_id: str) -> str | None:
        result: str | None = await self._actor.get.remote(declaration_id)
        return result

    async def ping(self) -> bool:
        return bool(await self._actor.ping.remote())
