"""A real three-primary Redis Cluster on loopback, from the same redis-server binary the
embedded Redis uses: each node a separate process in cluster mode, the 16,384 hash slots
split between them, joined with CLUSTER MEET."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from dichte.serving.embedded_redis import redis_server_binary
from dichte.serving.ports import free_port
from dichte.store.connection import connect_sync

SLOTS = 16_384


def _free_ports(n: int) -> list[int]:
    """Ports whose cluster bus port (+10000) is free too."""
    return [free_port(also_free=10_000) for _ in range(n)]


def _wait(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster: {what} did not happen in {timeout:.0f} s")
        time.sleep(0.05)


@contextmanager
def redis_cluster(folder: Path, primaries: int = 3) -> Iterator[str]:
    """Yields the cluster's URL (redis+cluster://, its first node)."""
    ports = _free_ports(primaries)
    processes = []
    clients = []
    try:
        for port in ports:
            node = folder / str(port)
            node.mkdir(parents=True)
            (node / "redis.conf").write_text(
                "\n".join(
                    [
                        "bind 127.0.0.1",
                        f"port {port}",
                        f"dir {node}",
                        "cluster-enabled yes",
                        "cluster-config-file nodes.conf",
                        "cluster-node-timeout 5000",
                        "appendonly no",
                        'save ""',
                        f"logfile {node / 'redis.log'}",
                    ]
                )
                + "\n"
            )
            processes.append(
                subprocess.Popen(
                    [str(redis_server_binary()), str(node / "redis.conf")],
                    cwd=node,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            clients.append(redis.Redis(host="127.0.0.1", port=port))
        for c in clients:
            _wait(c.ping, "a node answering")
        share = SLOTS // primaries
        for i, c in enumerate(clients):
            last = SLOTS if i == primaries - 1 else (i + 1) * share
            c.execute_command("CLUSTER ADDSLOTS", *range(i * share, last))
        for port in ports[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)

        def formed() -> bool:
            infos = [c.cluster("info") for c in clients]
            return all(
                i["cluster_state"] == "ok" and int(i["cluster_known_nodes"]) == primaries
                for i in infos
            )

        _wait(formed, "forming the cluster")
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for c in clients:
            c.close()
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def keys_per_primary(url: str, pattern: str) -> list[int]:
    """How many keys matching `pattern` each primary holds."""
    client = connect_sync(url)
    try:
        return [
            sum(1 for _ in client.scan_iter(match=pattern, count=1000, target_nodes=node))
            for node in client.get_primaries()
        ]
    finally:
        client.close()
