"""The same API without Ray: one uvicorn process writing through the plain store.

For a commune-sized installation or a laptop, and the peer the benchmark compares
Serve against. `uvicorn --factory serving.standalone:build_standalone_app` with
DICHTE_REDIS_URL set.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import make_asgi_app

from actors.epi_service import EpiService
from actors.epi_store import EpiStore
from actors.store import DeclarationStore
from api.app import create_app
from api.metrics import PrometheusMetrics
from domain.keys import load_signing_key
from domain.settings import Settings


def build_standalone_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if not settings.redis_url:
        raise ValueError("the standalone app needs DICHTE_REDIS_URL")
    store = DeclarationStore(
        settings.redis_url,
        key_prefix=settings.redis_key_prefix,
        idempotency_window_s=settings.idempotency_window_hours * 3600,
    )
    epi = EpiService(
        EpiStore(settings.redis_url, key_prefix=settings.redis_key_prefix), settings.outbreak
    )
    app = create_app(settings, store, epi, load_signing_key(settings), PrometheusMetrics())
    app.mount("/metrics", make_asgi_app())
    return app
