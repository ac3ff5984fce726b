"""The same API without Ray: one uvicorn process writing through the plain store.

For a commune-sized installation or a laptop, and the peer the benchmark compares
Serve against. `uvicorn --factory dichte.serving.standalone:build_standalone_app` with
DICHTE_REDIS_URL set.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import make_asgi_app

from dichte.api.app import create_app
from dichte.api.metrics import PrometheusMetrics
from dichte.domain.keys import load_signing_key
from dichte.domain.settings import Settings
from dichte.serving.composition import build_services
from dichte.store.connection import UNAVAILABLE
from dichte.store.declarations import DeclarationStore
from dichte.store.epi import EpiStore


def build_standalone_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if not settings.redis_url:
        raise ValueError("the standalone app needs DICHTE_REDIS_URL")
    services = build_services(
        settings,
        declarations_gateway=DeclarationStore.of(settings),
        epi_store=EpiStore.of(settings),
        signing_key=load_signing_key(settings),
        metrics=PrometheusMetrics(),
    )
    app = create_app(settings, services, UNAVAILABLE)
    app.mount("/metrics", make_asgi_app())
    return app
