"""The FastAPI application, built from its collaborators (no globals), so Serve
replicas, a plain uvicorn process and tests all build the same app."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from actors.epi_service import EpiService
from actors.face_service import FaceService
from api.deps import ApiContext, Context, DeclarationGateway
from api.errors import BodySizeLimit, install_error_handlers
from api.metrics import ApiMetrics, NoMetrics, RequestTiming
from api.routes import (
    admin_units,
    cases,
    checkins,
    declarations,
    qr,
    thermal,
    venues,
)
from api.routes import (
    faces as face_routes,
)
from domain.settings import Settings
from models.thermal.screening import ScreeningPolicy

API_PREFIX = "/api/v1"


async def _health(ctx: Context) -> JSONResponse:
    try:
        ok = await ctx.declarations.ping()
    except Exception:
        ok = False
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "store": ok}, status_code=200 if ok else 503
    )


def create_app(
    settings: Settings,
    declarations_gateway: DeclarationGateway,
    epi: EpiService,
    signing_key: Ed25519PrivateKey,
    metrics: ApiMetrics | None = None,
    faces: FaceService | None = None,
) -> FastAPI:
    metrics = metrics or NoMetrics()
    app = FastAPI(
        title="dichte",
        version="0.1.0",
        description="Health declaration, signed QR codes and epidemiological "
        "management for a province.",
    )
    app.state.context = ApiContext(
        declarations=declarations_gateway,
        epi=epi,
        signing_key=signing_key,
        metrics=metrics,
        qr_ttl=timedelta(hours=settings.qr_token_ttl_hours),
        venue_registrations_per_hour=settings.venue_registrations_per_hour,
        trust_forwarded_for=settings.trust_forwarded_for,
        base_url=settings.base_url(),
        faces=faces,
        max_image_pixels=settings.max_image_pixels,
        screening=ScreeningPolicy(
            fever_threshold_c=settings.fever_threshold_c, margin_c=settings.fever_screen_margin_c
        ),
    )
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        uploads={
            f"{API_PREFIX}/{path}": settings.max_upload_bytes
            for path in ("thermal/", "faces/", "qr/decode")
        },
    )
    app.add_middleware(RequestTiming, metrics=metrics)

    v1 = APIRouter(prefix=API_PREFIX)
    for module in (declarations, qr, admin_units, venues, checkins, cases, thermal, face_routes):
        v1.include_router(module.router)
    v1.add_api_route("/healthz", _health, methods=["GET"], tags=["health"])
    app.include_router(v1)
    app.add_api_route("/healthz", _health, methods=["GET"], tags=["health"])

    web = resources.files("api")
    index = (web / "templates" / "index.html").read_text(encoding="utf-8")
    checkin = (web / "templates" / "checkin.html").read_text(encoding="utf-8")

    async def page() -> HTMLResponse:
        return HTMLResponse(index)

    async def checkin_page(code: str) -> HTMLResponse:
        # What a phone camera opens from a venue poster; the page reads the code itself.
        return HTMLResponse(checkin)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/c/{code}", checkin_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(web / "static")), name="static")
    return app
