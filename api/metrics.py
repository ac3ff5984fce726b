"""What the API reports. Inside Ray the numbers go to `ray.util.metrics` (see
`serving.metrics`); a plain uvicorn process uses prometheus_client below."""

from __future__ import annotations

import time
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ApiMetrics(Protocol):
    def declaration(self, outcome: str, province: int | None = None) -> None:
        """outcome: created | replayed | rejected | failed; province: the residence
        province of a stored declaration (a refused one's is unchecked input: none)"""

    def request(self, route: str, method: str, status: int, seconds: float) -> None: ...

    def trace(self, via: str) -> None:
        """via: index (the tracing shards) | record (Redis directly)"""


class NoMetrics:
    def declaration(self, outcome: str, province: int | None = None) -> None:
        pass

    def trace(self, via: str) -> None:
        pass

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        pass


class PrometheusMetrics:
    """For processes that are not Ray workers (the plain uvicorn deployment)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self._declarations = Counter(
            "dichte_declarations", "Declarations by outcome", ["outcome", "province"]
        )
        self._latency = Histogram(
            "dichte_request_latency_seconds", "HTTP request latency", ["route", "method", "status"]
        )
        self._traces = Counter("dichte_traces", "Cases traced, by where", ["via"])

    def declaration(self, outcome: str, province: int | None = None) -> None:
        self._declarations.labels(outcome, "" if province is None else str(province)).inc()

    def trace(self, via: str) -> None:
        self._traces.labels(via).inc()

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._latency.labels(route, method, str(status)).observe(seconds)


class RequestTiming:
    """ASGI middleware: one latency observation per request, labelled by route template
    (not the raw path, which would explode label cardinality with ids)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request(route, scope["method"], status, time.perf_counter() - start)
