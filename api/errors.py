"""Every error the API answers is `{"errors": [{field, code, message_vi, message_en}]}`."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dichte.domain.errors import THINGS, DomainError, FieldError, validation_error

log = logging.getLogger(__name__)


class ErrorItem(BaseModel):
    field: str = Field(description="The field's path, e.g. residence.commune_code")
    code: str = Field(description="Stable code, e.g. cccd_format, not_found")
    message_vi: str
    message_en: str


class ErrorBody(BaseModel):
    """Every refusal, whatever the status."""

    errors: list[ErrorItem]


_WHY = {
    400: "Malformed JSON, or a malformed token",
    401: "Missing or invalid staff token",
    403: "Outside the caller's area, or not allowed",
    404: "No such record",
    409: "Conflicts with what is stored",
    410: "Expired or withdrawn",
    413: "Body or file over the limit",
    422: "Invalid input: every problem at once, with the field's path",
    429: "Too many requests from this address",
    503: "Storage or inference unavailable, or at capacity: retry. `interrupted`: a write "
    "sent again whose first attempt never answered: check what is stored, then retry",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer, in the one shape."""
    return {status: {"model": ErrorBody, "description": _WHY[status]} for status in statuses}


# A 503 is a moment's outage (Redis restarting, a replica replaced, at capacity):
# clients and proxies are told when to try again instead of guessing.
RETRY_AFTER_S = 2


def error_response(status: int, errors: list[FieldError]) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse(DomainError(errors, status).body(), status_code=status, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        return error_response(400, [FieldError.of("body", "malformed_json")])
    return error_response(
        422,
        [
            validation_error(_field_path(tuple(e.get("loc", ()))), str(e.get("type", "invalid")))
            for e in errs
        ],
    )


def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc.status, exc.errors)


_HTTP_CODES = {
    400: "malformed_body",
    401: "unauthorized",
    403: "forbidden",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        error = FieldError.of("request", "not_found", thing=THINGS["page"])
    elif status == 413:
        error = FieldError.of("body", "body_too_large", limit=exc.detail)
    else:
        error = FieldError.of("request", _HTTP_CODES.get(status, "http_error"))
    return error_response(status, [error])


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, [FieldError.of("request", "internal_error")])


def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable: %r", exc)
    return error_response(503, [FieldError.of("store", "store_unavailable")])


def install_error_handlers(app: FastAPI, unavailable: tuple[type[Exception], ...] = ()) -> None:
    for kind in unavailable:
        app.add_exception_handler(kind, _store_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


class BodySizeLimit:
    """Refuses bodies over `limit` bytes with 413 before they are read into memory,
    whether announced by Content-Length or streamed in chunks."""

    def __init__(self, app: ASGIApp, limit: int, uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = limit
        # Paths that take files (thermal frames, photos) get their own limit: each key a
        # regular expression matched at the path's start.
        self.uploads = [(re.compile(p), limit) for p, limit in (uploads or {}).items()]

    def _limit(self, path: str) -> int:
        for pattern, limit in self.uploads:
            if pattern.match(path):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(limit, scope, receive, send)
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI re-raises HTTPException from body parsing: the 413 handler answers.
                    raise HTTPException(status_code=413, detail=str(limit))
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(413, [FieldError.of("body", "body_too_large", limit=limit)])(
            scope, receive, send
        )
