"""A receiver on 127.0.0.1 playing the provincial IOC or a unit's webhook endpoint: a
real HTTP server that verifies each request per Standard Webhooks with the
`standardwebhooks` library and keeps the CloudEvents it accepted."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from tests.live import free_port

SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLXRoZS1pb2MtcmVjZWl2ZXI="


class Receiver:
    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/events"
        self.events: list[dict[str, Any]] = []  # every event accepted, in arrival order
        self.requests = 0
        self.bad_signatures = 0
        self.content_types: set[str] = set()
        self.refuse_subjects: set[str] = set()  # answer 400 to a batch holding one
        self.delay_s = 0.0  # a slow receiver: time for a sender to die mid-request
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- up and down: a real listening socket, opened and closed -------------------------
    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = receiver.take(dict(self.headers), body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def take(self, headers: dict[str, str], body: bytes) -> int:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.requests += 1
            try:
                Webhook(self.secret).verify(body, headers)
            except Exception:
                self.bad_signatures += 1
                return 401
            events = json.loads(body)
            if any(e.get("subject") in self.refuse_subjects for e in events):
                return 400
            self.content_types.add(headers.get("Content-Type", headers.get("content-type", "")))
            self.events.extend(events)
            return 200

    # --- what arrived ---------------------------------------------------------------------
    def ids(self) -> list[str]:
        with self._lock:
            return [str(e["id"]) for e in self.events]

    def subjects(self) -> set[str]:
        with self._lock:
            return {str(e["subject"]) for e in self.events}


@contextlib.contextmanager
def receiver(secret: str = SECRET) -> Iterator[Receiver]:
    r = Receiver(secret)
    r.start()
    try:
        yield r
    finally:
        r.stop()
