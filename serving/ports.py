"""Ports for servers that another process binds later (Serve's HAProxy, Redis, Ray).

A port the kernel hands out for `bind(0)` lies in its ephemeral range, the same range it
takes the local port of every outgoing connection from. Between choosing such a port and
the server binding it (seconds, while Ray and Serve start), a busy machine's connections
can take it, and the server then fails with "Address already in use". So the ports here
come from below the ephemeral range and above Ray's worker ports, where the kernel never
hands out a port on its own."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Collection
from pathlib import Path

_RAY_WORKER_PORTS_END = 19_999  # Ray's default max_worker_port
_handed_out: set[int] = set()
_lock = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def _bindable(port: int) -> bool:
    # Servers such as HAProxy bind every address; a listener on loopback alone shows too.
    for host in ("0.0.0.0", "127.0.0.1"):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def _kernel_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_port(*, also_free: int | None = None, avoid: Collection[int] = ()) -> int:
    """A TCP port nobody listens on now, outside the kernel's ephemeral range, and not
    one this process handed out before nor in `avoid` (ports chosen elsewhere and not
    bound yet). `also_free`: an offset whose port must be free too (a Redis Cluster
    node's bus port is its port + 10000)."""
    low, high = _RAY_WORKER_PORTS_END + 1, _ephemeral_range()[0] - 1
    with _lock:
        for _ in range(200) if high - low > 1_000 else ():
            port = random.randint(low, high)
            if port in _handed_out or port in avoid or not _bindable(port):
                continue
            if also_free is not None and not _bindable(port + also_free):
                continue
            _handed_out.add(port)
            return port
        # A machine whose ephemeral range leaves no room: the kernel's choice.
        while True:
            port = _kernel_port()
            if port in avoid:
                continue
            if also_free is None or (port + also_free < 65_536 and _bindable(port + also_free)):
                return port
