"""The embedded Redis that `make run` starts: durable across a crash, and recovers
from the stale state a crashed run leaves behind."""

from __future__ import annotations

import contextlib
import os
import signal
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
