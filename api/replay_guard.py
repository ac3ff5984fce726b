"""Writes applied once per request id. Serve's HAProxy ingress gives every request an
`x-request-id` and sends it again, id unchanged, to another replica when the first
died before answering (README, "Faults, as tested"). A repeat of a write answered
before gets that answer again; of one whose first attempt never answered, 503
`interrupted` with Retry-After, since whether it was applied is not known. A client
may send its own `x-request-id` to get the same for its retries.

Writes that are idempotent by themselves (a declaration or check-in replays as the
first record) and pure computations (reading a photo, a QR code) are left alone: a
second attempt is safe, and they are the hot paths."""

from __future__ import annotations

import contextlib
import hashlib
import re
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dichte.api.errors import error_response
from dichte.domain.errors import FieldError
from dichte.domain.replays import Claim, StoredAnswer

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Writes a second attempt cannot harm (regular expressions after the API prefix).
REPEATABLE_WRITES = (
    "declarations$",  # the same content or Idempotency-Key: the first record
    "checkins$",  # the same person, venue and minute: the first check-in
    "checkins/mine$",  # a read, by POST (the phone's tokens in the body)
    "cases/trace$",  # a read
    "qr/(verify|decode)$",
    "faces/(detect|verify|identify)$",
    "iris/(compare|identify)$",
    "thermal/",
)
_MAX_STORED_BODY = 1 << 20  # answers larger than this are not kept (none is today)


class Replays(Protocol):
    async def claim(self, request: str) -> Claim: ...
    async def answer(self, request: str, answer: StoredAnswer) -> None: ...
    async def release(self, request: str) -> None: ...


class ReplayGuard:
    def __init__(
        self,
        app: ASGIApp,
        replays: Replays | None,
        prefix: str,
        unavailable: tuple[type[Exception], ...] = (),
    ) -> None:
        self.app = app
        self.replays = replays
        self.repeatable = re.compile(f"{re.escape(prefix)}/(?:{'|'.join(REPEATABLE_WRITES)})")
        self.unavailable = unavailable

    def _request_id(self, scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return None
        if self.replays is None or self.repeatable.match(scope["path"]):
            return None
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"")
        if not 0 < len(request_id) <= 128:
            return None
        # The caller's credentials are part of the key: a repeat from anyone else,
        # knowing the id, is not handed the first caller's answer.
        caller = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()[:16]
        return f"{scope['method']} {scope['path']} {request_id.decode('latin-1')} {caller}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self._request_id(scope)
        if request is None or self.replays is None:
            await self.app(scope, receive, send)
            return
        try:
            claim = await self.replays.claim(request)
        except self.unavailable:
            await error_response(503, [FieldError.of("store", "store_unavailable")])(
                scope, receive, send
            )
            return
        if claim.answer is not None:
            await _send_stored(claim.answer, send)
        elif not claim.first:
            await error_response(503, [FieldError.of("request", "interrupted")])(
                scope, receive, send
            )
        else:
            await self._first_attempt(request, scope, receive, send)

    async def _first_attempt(
        self, request: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        assert self.replays is not None
        status, content_type, body = 500, "", bytearray()

        async def send_and_keep(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                content_type = headers.get(b"content-type", b"").decode("latin-1")
            elif message["type"] == "http.response.body" and len(body) <= _MAX_STORED_BODY:
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_keep)
        finally:
            # A 5xx is not kept (the store away, a dependency down: nothing applied), so
            # a retry may go on; anything else is the answer, for a repeat. With the
            # store away the claim stays, and a repeat answers `interrupted`.
            with contextlib.suppress(*self.unavailable):
                if status >= 500 or len(body) > _MAX_STORED_BODY:
                    await self.replays.release(request)
                else:
                    answer = StoredAnswer(status, content_type, bytes(body))
                    await self.replays.answer(request, answer)


async def _send_stored(answer: StoredAnswer, send: Send) -> None:
    headers = [(b"content-length", str(len(answer.body)).encode()), (b"x-replayed", b"true")]
    if answer.content_type:
        headers.append((b"content-type", answer.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
