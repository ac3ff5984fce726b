"""Opening Redis: one server (redis://, rediss://, unix://) or a Redis Cluster
(redis+cluster:// or rediss+cluster://, any one node: the client learns the others and
follows their slots). Every store and actor opens its clients here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def _server_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return CLUSTER_SCHEMES.get(scheme, scheme) + sep + rest


def connect(url: str, *, decode: bool = True, **options: Any) -> Any:
    """An asyncio client (`decode`: replies as str, else bytes). Scripts, pipelines and
    transactions behave alike on both kinds as long as their keys share one hash slot
    (store.keys arranges it)."""
    kind = aioredis.RedisCluster if is_cluster(url) else aioredis.Redis
    return kind.from_url(_server_url(url), decode_responses=decode, **options)


def connect_sync(url: str, *, decode: bool = False, **options: Any) -> Any:
    """A blocking client, for processes that read the record in bulk (the tracing index)."""
    kind = redis.RedisCluster if is_cluster(url) else redis.Redis
    return kind.from_url(_server_url(url), decode_responses=decode, **options)


class ScriptsInPipelines:
    """Runs pipelines that call Lua scripts. A single server's pipeline loads the scripts
    it calls; a cluster's does not, so on a cluster they are loaded on every primary
    before the first pipeline, and again (the pipeline run once more) when a node answers
    that it lacks one: a restarted primary, or a replica promoted. Only read-only or
    repeat-safe scripts belong here."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._cluster = isinstance(client, aioredis.RedisCluster)
        self._scripts: list[Any] = []
        self._loaded = False

    def register(self, source: str) -> Any:
        script = self._client.register_script(source)
        self._scripts.append(script)
        return script

    async def execute(self, fill: Callable[[Any], Awaitable[None]]) -> list[Any]:
        """`fill(pipe)` queues the commands; their replies, in order."""
        for retry in (False, True):
            if self._cluster and (retry or not self._loaded):
                for script in self._scripts:
                    await self._client.script_load(script.script)
                self._loaded = True
            pipe = self._client.pipeline(transaction=False)
            await fill(pipe)
            try:
                return list(await pipe.execute())
            except redis.exceptions.NoScriptError:
                if retry or not self._cluster:
                    raise
        raise AssertionError("unreachable")
