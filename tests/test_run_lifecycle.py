"""`make run` stops cleanly: SIGTERM to the launcher stops Ray, Serve, HAProxy and the
embedded Redis, leaving nothing running."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from pathlib import Path

import psutil

from tests.live import live_server


def test_sigterm_stops_everything(tmp_path: Path) -> None:
    with live_server(tmp_path / "var") as server:
        launcher = psutil.Process(server.process.pid)
        family = [launcher, *launcher.children(recursive=True)]
        names = set()
        for p in family:  # a short-lived helper may exit between listing and reading
            with contextlib.suppress(psutil.NoSuchProcess):
                names.add(p.name())
        assert any("redis-server" in n for n in names), names
        assert any("raylet" in n for n in names), names
        assert any("haproxy" in n for n in names), names
        port = int(server.base.rsplit(":", 1)[1])

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0
        _gone, alive = psutil.wait_procs(family, timeout=30)
        left = [p for p in alive if _running(p)]
        assert not left, f"left running: {[(p.pid, p.name()) for p in left]}"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the HTTP port still answers"
        assert not (server.data_dir / "redis" / "redis.sock").exists()
        print(f"stopped in {time.monotonic() - started:.1f} s")


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # it exited after wait_procs looked
        return False
