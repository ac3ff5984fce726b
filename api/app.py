"""The FastAPI application, built from its services (no globals), so Serve replicas, a
plain uvicorn process and tests all build the same app."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from dichte.api.deps import AllServices, Services
from dichte.api.errors import BodySizeLimit, install_error_handlers
from dichte.api.metrics import RequestTiming
from dichte.api.replay_guard import ReplayGuard
from dichte.api.routes import (
    admin_units,
    cases,
    checkins,
    checkpoints,
    declarations,
    faces,
    flags,
    inspections,
    iris,
    qr,
    reports,
    thermal,
    units,
    venues,
)
from dichte.domain.settings import Settings

API_PREFIX = "/api/v1"
# Paths that take files (regular expressions after the API prefix).
UPLOAD_PATHS = (
    "thermal/",
    "faces/",
    "iris/",
    "qr/decode",
    "screenings",
    r"venues/[^/]+/inspections$",
)


class Health(BaseModel):
    status: str
    store: bool


async def _health(services: AllServices) -> JSONResponse:
    ok = await services.declarations.ping()
    return JSONResponse(
        Health(status="ok" if ok else "degraded", store=ok).model_dump(),
        status_code=200 if ok else 503,
    )


_HEALTH_DOC = {
    "response_model": Health,
    "responses": {503: {"model": Health, "description": "The store does not answer"}},
    "methods": ["GET"],
    "tags": ["health"],
}


def create_app(
    settings: Settings, services: Services, unavailable: tuple[type[Exception], ...] = ()
) -> FastAPI:
    """`unavailable`: the store's exceptions that mean "not now" (connection lost, a
    failover under way): answered 503 with Retry-After instead of 500."""
    app = FastAPI(
        title="dichte",
        version="0.1.0",
        description="Health declaration, signed QR codes, venue check-in, tracing and "
        "checkpoint screening for a province. Every refusal is "
        '`{"errors": [{field, code, message_vi, message_en}]}`.',
    )
    app.state.services = services
    install_error_handlers(app, unavailable)
    app.add_middleware(
        ReplayGuard, replays=services.replays, prefix=API_PREFIX, unavailable=unavailable
    )
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        uploads={f"{API_PREFIX}/{path}": settings.max_upload_bytes for path in UPLOAD_PATHS},
    )
    app.add_middleware(RequestTiming, metrics=services.metrics)

    v1 = APIRouter(prefix=API_PREFIX)
    for module in (
        declarations,
        qr,
        admin_units,
        venues,
        checkins,
        cases,
        thermal,
        faces,
        iris,
        checkpoints,
        units,
        flags,
        inspections,
        reports,
    ):
        v1.include_router(module.router)
    v1.add_api_route("/healthz", _health, **_HEALTH_DOC)  # type: ignore[arg-type]
    app.include_router(v1)
    app.add_api_route("/healthz", _health, **_HEALTH_DOC)  # type: ignore[arg-type]

    web = resources.files("dichte.api")
    index = (web / "templates" / "index.html").read_text(encoding="utf-8")
    checkin = (web / "templates" / "checkin.html").read_text(encoding="utf-8")
    lane = (web / "templates" / "lane.html").read_text(encoding="utf-8")
    unit_html = (web / "templates" / "unit.html").read_text(encoding="utf-8")
    inspect_html = (web / "templates" / "inspect.html").read_text(encoding="utf-8")
    dashboard_html = (web / "templates" / "dashboard.html").read_text(encoding="utf-8")
    flags_html = (web / "templates" / "flags.html").read_text(encoding="utf-8")

    async def page() -> HTMLResponse:
        return HTMLResponse(index)

    async def checkin_page(code: str) -> HTMLResponse:
        # What a phone camera opens from a venue poster; the page reads the code itself.
        return HTMLResponse(checkin)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)

    async def lane_page(checkpoint_id: str) -> HTMLResponse:
        # The officer's view of a checkpoint's lanes; the page asks the API itself.
        return HTMLResponse(lane)

    app.add_api_route("/c/{code}", checkin_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/checkpoints/{checkpoint_id}", lane_page, methods=["GET"], include_in_schema=False
    )

    async def unit_page(unit: str) -> HTMLResponse:
        # A health unit's work page: its lists and its live feed; the page asks the API.
        return HTMLResponse(unit_html)

    app.add_api_route("/units/{unit}", unit_page, methods=["GET"], include_in_schema=False)

    async def inspect_page() -> HTMLResponse:
        # The field team's phone page: venues due for a visit, and the visit form.
        return HTMLResponse(inspect_html)

    async def dashboard_page() -> HTMLResponse:
        # The IOC's and the province's charts of the reports.
        return HTMLResponse(dashboard_html)

    app.add_api_route("/inspect", inspect_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/dashboard", dashboard_page, methods=["GET"], include_in_schema=False)

    async def flags_page() -> HTMLResponse:
        # The police's and the stations' flags: evidence, and what they decide.
        return HTMLResponse(flags_html)

    app.add_api_route("/flags", flags_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(web / "static")), name="static")
    return app
