"""A Redis primary, its replicas and three Sentinels on loopback, from the redis-server
binary the project bundles (it runs as a Sentinel with --sentinel): what a province
runs on three machines, here as processes that tests can kill."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from dichte.serving.embedded_redis import redis_server_binary
from tests.live import free_port

SERVICE = "dichte"


@dataclass
class SentinelGroup:
    folder: Path
    sentinel_ports: list[int]
    servers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)  # port: process

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def primary_port(self) -> int:
        client = redis.Redis(port=self.sentinel_ports[0], socket_timeout=2)
        try:
            _, port = client.sentinel_get_master_addr_by_name(SERVICE)
            return int(port)
        finally:
            client.close()

    def diagnosis(self) -> str:
        """What the Sentinels know, and their logs' ends: for a failover that did not
        happen."""
        lines = []
        for port in self.sentinel_ports:
            client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
            try:
                master = client.sentinel_master(SERVICE)
                replicas = client.sentinel_slaves(SERVICE)
                lines.append(f"sentinel {port}: {master} replicas {replicas}")
            except redis.RedisError as e:
                lines.append(f"sentinel {port}: {e!r}")
            finally:
                client.close()
            log = self.folder / f"sentinel-{port}.log"
            if log.exists():
                lines.append(log.read_text()[-1500:])
        return "\n".join(lines)

    def kill(self, port: int) -> None:
        """SIGKILL, as a lost machine."""
        process = self.servers.pop(port)
        process.kill()
        process.wait()

    def start_server(self, port: int, replica_of: int | None = None) -> None:
        """A data server on `port` (its own append-only file); a replica when given a
        primary. A killed one started again rejoins: the Sentinels make it a replica."""
        work = self.folder / f"redis-{port}"
        work.mkdir(exist_ok=True)
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {work}",
            "appendonly yes",
            'save ""',
            f"logfile {work / 'redis.log'}",
        ]
        if replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {replica_of}")
        (work / "redis.conf").write_text("\n".join(lines) + "\n")
        self.servers[port] = subprocess.Popen(
            [str(redis_server_binary()), str(work / "redis.conf")]
        )
        _wait_for_ping(port)


def _wait_for_ping(port: int, timeout_s: float = 15) -> None:
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis on {port} did not start")
            time.sleep(0.05)
    finally:
        client.close()


@contextlib.contextmanager
def sentinel_group(folder: Path, replicas: int = 1) -> Iterator[SentinelGroup]:
    """A primary, `replicas` replicas and three Sentinels (quorum two) that declare the
    primary down after one second without an answer."""
    folder.mkdir(parents=True, exist_ok=True)
    group = SentinelGroup(folder, [free_port() for _ in range(3)])
    sentinels: list[subprocess.Popen[bytes]] = []
    try:
        primary = free_port()
        group.start_server(primary)
        for _ in range(replicas):
            group.start_server(free_port(), replica_of=primary)
        for port in group.sentinel_ports:
            conf = folder / f"sentinel-{port}.conf"  # rewritten by the Sentinel as it learns
            conf.write_text(
                "\n".join(
                    [
                        f"port {port}",
                        "bind 127.0.0.1",
                        f"dir {folder}",
                        f"logfile {folder / f'sentinel-{port}.log'}",
                        f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2",
                        f"sentinel down-after-milliseconds {SERVICE} 1000",
                        f"sentinel failover-timeout {SERVICE} 10000",
                        f"sentinel parallel-syncs {SERVICE} 1",
                    ]
                )
                + "\n"
            )
            sentinels.append(
                subprocess.Popen([str(redis_server_binary()), str(conf), "--sentinel"])
            )
        for port in group.sentinel_ports:
            _wait_for_ping(port)
        _wait_for_replicas(primary, replicas)
        yield group
    finally:
        for process in [*sentinels, *group.servers.values()]:
            process.kill()
            process.wait()


def _online(replication: dict[str, object]) -> int:
    return sum(
        1
        for key, value in replication.items()
        if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )


def _wait_for_replicas(primary: int, replicas: int, timeout_s: float = 30) -> None:
    client = redis.Redis(port=primary, socket_timeout=2)
    deadline = time.monotonic() + timeout_s
    try:
        # Online: the initial copy done and the stream flowing (a replica still loading
        # the primary's snapshot would be promoted empty).
        while _online(client.info("replication")) < replicas:
            if time.monotonic() > deadline:
                raise RuntimeError("replicas did not connect")
            time.sleep(0.1)
    finally:
        client.close()
