"""API metrics inside Ray workers, exported by Ray's per-node metrics agent
(`--metrics-export-port`) in Prometheus text format."""

from __future__ import annotations

from ray.util import metrics

from dichte.actors.declaration_store import LATENCY_BOUNDARIES_S


class RayApiMetrics:
    def __init__(self) -> None:
        self._declarations = metrics.Counter(
            "dichte_declarations",
            description="Declarations by outcome (created, replayed, rejected, failed) "
            "and, once stored, the residence province",
            tag_keys=("outcome", "province"),
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

    def declaration(self, outcome: str, province: int | None = None) -> None:
        tags = {"outcome": outcome, "province": "" if province is None else str(province)}
        self._declarations.inc(tags=tags)

    def trace(self, via: str) -> None:
        self._traces.inc(tags={"via": via})

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._latency.observe(
            seconds, tags={"route": route, "method": method, "status": str(status)}
        )
