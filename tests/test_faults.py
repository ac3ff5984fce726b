"""Faults as they happen to a running system, with real processes and real signals:
the embedded Redis killed outright under a declaration load."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.live import DeclarationLoad, live_server, wait_for


def test_embedded_redis_killed_under_load_comes_back_and_loses_nothing(tmp_path: Path) -> None:
    with live_server(tmp_path / "var") as server:
        pidfile = server.data_dir / "redis" / "redis.pid"
        with DeclarationLoad(server.base) as load:
            wait_for(lambda: len(load.acknowledged) >= 20, 60, "declarations before the kill")
            first = int(pidfile.read_text())
            os.kill(first, signal.SIGKILL)
            killed_at, before = time.monotonic(), len(load.acknowledged)
            # Nobody acts: the launcher restarts Redis and writes resume on their own.
            wait_for(lambda: len(load.acknowledged) >= before + 50, 90, "writes to resume")
            resumed_s = time.monotonic() - killed_at
        second = int(pidfile.read_text())
        assert second != first, "Redis was not restarted"
        assert not load.broken, load.broken[:5]
        for r in load.refused:  # refused while it was away: in the one shape, retry later
            assert r.json()["errors"][0]["code"], r.text
            assert int(r.headers["Retry-After"]) > 0
        assert httpx.get(f"{server.base}/healthz", timeout=10).json()["status"] == "ok"

        # Every declaration acknowledged, before, during and after, reads back.
        missing = load.unreadable(server)
        assert not missing, f"{len(missing)} of {len(load.acknowledged)} acknowledged are lost"
        print(
            f"resumed {resumed_s:.1f} s after the kill; {len(load.acknowledged)} acknowledged, "
            f"{len(load.refused)} refused with 503 while Redis was away"
        )
