"""Every error the API answers is `{"errors": [{field, code, message_vi, message_en}]}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import DomainError, FieldError

log = logging.getLogger(__name__)

# Vietnamese for the pydantic error types a form can produce.
_VI = {
    "missing": "Thiếu thông tin bắt buộc.",
    "string_too_short": "Quá ngắn.",
    "string_too_long": "Quá dài.",
    "string_pattern_mismatch": "Sai định dạng.",
    "string_type": "Phải là chuỗi ký tự.",
    "int_parsing": "Phải là số nguyên.",
    "int_type": "Phải là số nguyên.",
    "bool_parsing": "Phải là có/không.",
    "bool_type": "Phải là có/không.",
    "date_from_datetime_parsing": "Ngày không hợp lệ (YYYY-MM-DD).",
    "date_parsing": "Ngày không hợp lệ (YYYY-MM-DD).",
    "date_type": "Ngày không hợp lệ (YYYY-MM-DD).",
    "enum": "Giá trị không nằm trong danh sách cho phép.",
    "extra_forbidden": "Trường này không được phép.",
    "greater_than_equal": "Giá trị quá nhỏ.",
    "less_than_equal": "Giá trị quá lớn.",
    "too_long": "Quá nhiều mục.",
    "model_attributes_type": "Phải là một đối tượng JSON.",
    "dict_type": "Phải là một đối tượng JSON.",
    "list_type": "Phải là một danh sách.",
}


def error_response(status: int, errors: list[FieldError]) -> JSONResponse:
    return JSONResponse(DomainError(errors, status).body(), status_code=status)


def one_error(status: int, field: str, code: str, vi: str, en: str) -> JSONResponse:
    return error_response(status, [FieldError(field, code, vi, en)])


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        return one_error(
            400,
            "body",
            "malformed_json",
            "Nội dung gửi lên không phải JSON hợp lệ.",
            "The request body is not valid JSON.",
        )
    return error_response(
        422,
        [
            FieldError(
                _field_path(tuple(e.get("loc", ()))),
                e.get("type", "invalid"),
                _VI.get(e.get("type", ""), "Giá trị không hợp lệ."),
                str(e.get("msg", "")),
            )
            for e in errs
        ],
    )


def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc.status, exc.errors)


_HTTP_CODES = {
    401: ("unauthorized", "Cần đăng nhập (mã nhân viên).", "A staff bearer token is required."),
    403: ("forbidden", "Không có quyền xem mục này.", "Not allowed to see this."),
    404: ("not_found", "Không tìm thấy.", "Not found."),
    405: ("method_not_allowed", "Phương thức không được hỗ trợ.", "Method not allowed."),
    413: ("body_too_large", "Dữ liệu gửi lên quá lớn.", "The request body is too large."),
    415: ("unsupported_media_type", "Kiểu dữ liệu không được hỗ trợ.", "Unsupported media type."),
}


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, vi, en = _HTTP_CODES.get(exc.status_code, ("http_error", "Lỗi yêu cầu.", str(exc.detail)))
    return one_error(exc.status_code, "request", code, vi, en)


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return one_error(
        500,
        "request",
        "internal_error",
        "Lỗi hệ thống, vui lòng thử lại.",
        "Internal error, please retry.",
    )


def install_error_handlers(app: FastAPI) -> None:
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
        # Path prefixes that take files (thermal frames, photos) get their own limit.
        self.uploads = uploads or {}

    def _limit(self, path: str) -> int:
        for prefix, limit in self.uploads.items():
            if path.startswith(prefix):
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
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        code, vi, en = _HTTP_CODES[413]
        await one_error(
            413,
            "body",
            code,
            f"{vi} (tối đa {limit} byte)",
            f"{en} (at most {limit} bytes)",
        )(scope, receive, send)
