"""Opening Redis: one server (redis://, rediss://, unix://), a Redis Cluster
(redis+cluster:// or rediss+cluster://, any one node: the client learns the others and
follows their slots), or a primary watched by Sentinels
(redis+sentinel://host:port,host:port,.../service[/db]: the client asks the Sentinels
for the current primary and asks again after a failover). Every store and actor opens
its clients here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # scheme: TLS
# How long a write waits for a replica in strict mode before it is refused (503).
REPLICA_WAIT_MS = 2000


class NotReplicated(redis.exceptions.RedisError):
    """No replica confirmed the write in time (strict durability): the write is on the
    primary, but not acknowledged; a retry is idempotent."""


# What a Redis client raises when the store is away for a moment (a restart, a
# failover, a resharding): the API answers these 503 with Retry-After, not 500.
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,  # also BusyLoading and Sentinel's MasterNotFound
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a demoted primary, until the client follows
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    NotReplicated,
)


@dataclass(frozen=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None  # the primary's and replicas' (the Sentinels' own: none)
    ssl: bool = False


def is_sentinel(url: str) -> bool:
    return url.partition("://")[0] in SENTINEL_SCHEMES


def parse_sentinel(url: str) -> SentinelAddress:
    """redis+sentinel://[:password@]host:port[,host:port...]/service[/db]"""
    scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    auth, at, hosts_and_path = rest.rpartition("@")
    hosts, _, path = (hosts_and_path if at else rest).partition("/")
    service, _, db = path.partition("/")
    if not hosts or not service:
        raise ValueError(f"a Sentinel URL names its Sentinels and the service: {url!r}")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        sentinels.append((name, int(port)) if name else (host, 26379))
    password = unquote(auth.partition(":")[2]) if at else None
    password = parse_qs(query).get("password", [password])[0]
    return SentinelAddress(
        tuple(sentinels), unquote(service), int(db or 0), password, SENTINEL_SCHEMES[scheme]
    )


def is_cluster(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def _server_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return CLUSTER_SCHEMES.get(scheme, scheme) + sep + rest


def connect(url: str, *, decode: bool = True, **options: Any) -> Any:
    """An asyncio client (`decode`: replies as str, else bytes). Scripts, pipelines and
    transactions behave alike on every kind as long as their keys share one hash slot
    (store.keys arranges it)."""
    if is_sentinel(url):
        a = parse_sentinel(url)
        sentinels = aiosentinel.Sentinel(a.sentinels, socket_timeout=1.0, ssl=a.ssl)
        return sentinels.master_for(
            a.service, db=a.db, password=a.password, ssl=a.ssl, decode_responses=decode, **options
        )
    kind = aioredis.RedisCluster if is_cluster(url) else aioredis.Redis
    return kind.from_url(_server_url(url), decode_responses=decode, **options)


def connect_sync(url: str, *, decode: bool = False, **options: Any) -> Any:
    """A blocking client, for processes that read the record in bulk (the tracing index)."""
    if is_sentinel(url):
        a = parse_sentinel(url)
        sentinels = redis.sentinel.Sentinel(a.sentinels, socket_timeout=1.0, ssl=a.ssl)
        return sentinels.master_for(
            a.service, db=a.db, password=a.password, ssl=a.ssl, decode_responses=decode, **options
        )
    kind = redis.RedisCluster if is_cluster(url) else redis.Redis
    return kind.from_url(_server_url(url), decode_responses=decode, **options)


def replicas_to_wait(url: str, strict_durability: bool) -> int:
    """Strict durability behind Sentinels: a write is acknowledged once a replica has it
    (a failover then loses none). The embedded server has no replica: strict there is
    appendfsync always; a plain redis:// URL is not assumed to have replicas."""
    return 1 if strict_durability and is_sentinel(url) else 0


async def replicated(client: Any, probe_key: str, replicas: int = 1) -> None:
    """Return once `replicas` replicas hold every write the primary had before this call,
    from any connection; raise NotReplicated after REPLICA_WAIT_MS. WAIT counts only the
    writes of its own connection, so it follows a write of its own (`probe_key`), which
    the primary applied after all those: a replica that has it has them."""
    pipe = client.pipeline(transaction=False)
    pipe.set(probe_key, 1, ex=60)
    pipe.execute_command("WAIT", replicas, REPLICA_WAIT_MS)
    _, acknowledged = await pipe.execute()
    if int(acknowledged) < replicas:
        raise NotReplicated(f"{acknowledged} of {replicas} replica(s) confirmed the write")


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
