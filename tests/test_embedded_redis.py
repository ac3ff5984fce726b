"""The embedded Redis that `make run` starts: durable across a crash, and recovers
from the stale state a crashed run leaves behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import redis

from dichte.serving.embedded_redis import EmbeddedRedis


def test_data_written_a_second_before_a_crash_survives(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    client = redis.Redis.from_url(server.start())
    for i in range(100):
        client.set(f"k{i}", i)
    time.sleep(1.5)  # appendfsync everysec: at most one second is at risk
    server.kill()  # SIGKILL: no shutdown, no final fsync

    restarted = EmbeddedRedis(tmp_path)
    client = redis.Redis.from_url(restarted.start())
    try:
        assert [int(client.get(f"k{i}")) for i in range(100)] == list(range(100))
    finally:
        restarted.stop()


def test_strict_durability_syncs_every_write(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, strict_durability=True)
    client = redis.Redis.from_url(server.start())
    assert client.config_get("appendfsync")["appendfsync"] == "always"
    client.set("k", "v")
    server.kill()  # no waiting at all: 'always' synced before answering

    with EmbeddedRedis(tmp_path, strict_durability=True) as restarted:
        assert redis.Redis.from_url(restarted.url).get("k") == b"v"


def test_a_server_left_running_by_a_killed_launcher_is_replaced(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    redis.Redis.from_url(first.start()).set("k", "kept")
    orphan = first.pid
    assert orphan is not None
    first._process = None  # the launcher vanished without stopping it

    second = EmbeddedRedis(tmp_path)
    client = redis.Redis.from_url(second.start())
    try:
        assert client.get("k") == b"kept"
        time.sleep(0.2)
        try:
            os.kill(orphan, 0)
            alive = Path(f"/proc/{orphan}/status").read_text().find("State:\tZ") < 0
        except ProcessLookupError:
            alive = False
        assert not alive, "the stale server from the earlier run is still running"
    finally:
        second.stop()
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)


def test_a_supervised_server_killed_outright_comes_back_with_its_data(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, strict_durability=True)
    url = server.start()
    server.supervise()
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.set("before", "kept")
        first = server.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)  # as the OOM killer or an operator's mistake would

        # The same URL answers again, without anyone restarting it, with what it held.
        deadline = time.monotonic() + 60
        while True:
            try:
                client.set("after", "written")
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the server did not come back"
                time.sleep(0.1)
        assert server.pid not in (None, first)
        # The watcher counts the restart just after the server answers again.
        while server.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.restarts == 1
        assert client.get("before") == b"kept"
    finally:
        server.stop()
    # Stopped on purpose: it stays stopped (no restart after stop).
    time.sleep(1.0)
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
        answered = True
    except redis.ConnectionError:
        answered = False
    assert not answered, "a server stopped on purpose was restarted"


def test_a_copy_of_the_append_only_file_restores_the_store_elsewhere(tmp_path: Path) -> None:
    # The backup README describes: rewrite the file, copy it while the system runs;
    # the restore: the copy in an empty data folder's redis/, then start.
    with EmbeddedRedis(tmp_path / "live") as server:
        client = redis.Redis.from_url(server.url)
        for i in range(100):
            client.set(f"k{i}", i)
        client.bgrewriteaof()
        while True:
            info = client.info("persistence")
            if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
                break
            time.sleep(0.05)
        client.set("after-the-rewrite", "kept")
        backup = tmp_path / "backup.aof"
        shutil.copy(server.dir / "appendonly.aof", backup)
    restored_dir = tmp_path / "restored" / "redis"
    restored_dir.mkdir(parents=True)
    shutil.copy(backup, restored_dir / "appendonly.aof")
    with EmbeddedRedis(tmp_path / "restored") as restored:
        client = redis.Redis.from_url(restored.url)
        assert [int(client.get(f"k{i}")) for i in range(100)] == list(range(100))
        assert client.get("after-the-rewrite") == b"kept"


def test_ports_for_later_servers_are_outside_the_range_outgoing_connections_use() -> None:
    """A port chosen now and bound seconds later (HAProxy's stats, a test's HTTP port)
    must not be one the kernel may hand an outgoing connection meanwhile."""
    from dichte.serving.ports import free_port

    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(40)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert not low <= port <= high
        with socket.socket() as s:  # and nobody holds it
            s.bind(("0.0.0.0", port))
    bus = free_port(also_free=10_000)  # a Redis Cluster node's bus port is free too
    with socket.socket() as s:
        s.bind(("127.0.0.1", bus + 10_000))
