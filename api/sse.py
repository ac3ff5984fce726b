"""Server-sent event streams, the one way the staff pages follow records live: the
parameters a stream takes and the response that writes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from dichte.api.deps import AllServices, bearer_or_query, bearer_staff
from dichte.api.errors import documented
from dichte.domain.tokens import StaffClaims

CURSOR_PATTERN = r"^\d{1,20}-\d{1,20}$"
Cursor = Annotated[
    str | None, Query(pattern=CURSOR_PATTERN, description="Resume after this cursor")
]
StreamToken = Annotated[
    str | None,
    Query(description="The staff token, for browsers' EventSource (no headers there)"),
]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", pattern=CURSOR_PATTERN)]
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
    **documented(401, 403, 404, 422, 503),
}


@dataclass(frozen=True)
class Following:
    """Who opens a stream, and after which cursor: `Last-Event-ID` (what a reconnecting
    client sends), else `since`, else None (from now on)."""

    staff: StaffClaims
    after: str | None


async def _following(
    services: AllServices,
    access_token: StreamToken = None,
    since: Cursor = None,
    authorization: Annotated[str | None, Header()] = None,
    last_event_id: LastEventId = None,
) -> Following:
    staff = await bearer_staff(services, bearer_or_query(authorization, access_token))
    return Following(staff, last_event_id or since)


Follower = Annotated[Following, Depends(_following)]

# (id, event name, data), or None after a quiet while: a comment keeps the line open.
Item = tuple[str, str, str] | None


def event_stream(request: Request, items: AsyncIterator[Item]) -> StreamingResponse:
    """Opens with a comment line at once (so a client knows it is connected), then one
    event per item, until the client goes."""

    async def lines() -> AsyncIterator[str]:
        yield ": connected\n\n"
        async for item in items:
            if await request.is_disconnected():
                return
            if item is None:
                yield ": quiet\n\n"
            else:
                event_id, name, data = item
                yield f"id: {event_id}\nevent: {name}\ndata: {data}\n\n"

    return StreamingResponse(
        lines(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
