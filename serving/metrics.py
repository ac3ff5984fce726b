"""API metrics inside Ray workers, exported by Ray's per-node metrics agent
(`--metrics-export-port`) in Prometheus text format."""

from __future__ import annotations

from ray.util import metrics

from dichte.actors.declaration_store import LATENCY_BOUNDARIES_S


class RayApiMetrics:
    def __init__(self) -> None:
        self._declarations = metrics.Counter(
            "dichte_declarations",
            description="Declarations by outcome (created, replayed, rejected, failed)",
            tag_keys=("outcome",),
        )
        self._latency = metrics.Histogram(
            "dichte_request_latency_seconds",
            description="HTTP request latency in the ingress",
            boundaries=LATENCY_BOUNDARIES_S,
            tag_keys=("route", "method", "status"),
        )
        self._traces = metrics.Counter(
            "dichte_traces",
            description="Cases traced, by where: index (the tracing shards) or record "
            "(Redis directly, when the shards do not answer or there are none)",
            tag_keys=("via",),
        )

    def declaration(self, outcome: str) -> None:
        self._declarations.inc(tags={"outcome": outcome})

    def trace(self, via: str) -> None:
        self._traces.inc(tags={"via": via})

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._latency.observe(
            seconds, tags={"route": route, "method": method, "status": str(status)}
        )
