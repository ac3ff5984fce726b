"""Road checkpoints: their configuration (staff of the area change it while the system
runs), their screening events (a resumable list, and a live stream for the lane
page), and frames pushed by a checkpoint device that cannot stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from dichte.api.deps import (
    AllServices,
    Checkpoints,
    Screenings,
    Staff,
    bearer_or_query,
    bearer_staff,
)
from dichte.api.errors import documented
from dichte.api.sse import STREAM_RESPONSES, Cursor, Follower, Item, event_stream
from dichte.domain.checkpoints import CheckpointConfig
from dichte.domain.screening import ScreeningEvent
from dichte.services.checkpoints import EventPage

router = APIRouter(tags=["checkpoints"])


@router.post(
    "/checkpoints",
    status_code=201,
    response_model=CheckpointConfig,
    responses={
        200: {"description": "A new configuration of a checkpoint", "model": CheckpointConfig},
        **documented(400, 401, 403, 413, 422, 503),
    },
)
async def configure_checkpoint(
    body: CheckpointConfig, checkpoints: Checkpoints, staff: Staff, response: Response
) -> CheckpointConfig:
    """Add a checkpoint, or replace a checkpoint's configuration (cameras and all); its
    camera streams follow within seconds, without a restart."""
    config, created = await checkpoints.configure(body, staff)
    if not created:
        response.status_code = 200
    return config


@router.get(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointConfig,
    responses=documented(401, 403, 404, 422, 503),
)
async def read_checkpoint(
    checkpoint_id: str, checkpoints: Checkpoints, staff: Staff
) -> CheckpointConfig:
    return await checkpoints.config(checkpoint_id, staff)


@router.delete(
    "/checkpoints/{checkpoint_id}/cameras/{camera_id}",
    response_model=CheckpointConfig,
    responses=documented(401, 403, 404, 422, 503),
)
async def remove_camera(
    checkpoint_id: str, camera_id: str, checkpoints: Checkpoints, staff: Staff
) -> CheckpointConfig:
    """Take a camera away (a visible camera's thermal partner goes with it)."""
    return await checkpoints.remove_camera(checkpoint_id, camera_id, staff)


@router.get(
    "/checkpoints/{checkpoint_id}/events",
    response_model=EventPage,
    responses=documented(401, 403, 404, 422, 503),
)
async def checkpoint_events(
    checkpoint_id: str,
    checkpoints: Checkpoints,
    staff: Staff,
    since: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    last: Annotated[
        int | None, Query(ge=1, le=500, description="Instead: the latest `last` events")
    ] = None,
) -> EventPage:
    """Screening events in the order they were stored, after `since` (or the latest)."""
    if last is not None:
        return await checkpoints.latest(checkpoint_id, staff, last)
    return await checkpoints.events(checkpoint_id, since, staff, limit)


@router.get(
    "/checkpoints/{checkpoint_id}/events/{event_id}/face.jpg",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The passage's face, 112×112"},
        **documented(401, 403, 404, 422, 503),
    },
)
async def event_face(
    checkpoint_id: str,
    event_id: str,
    checkpoints: Checkpoints,
    services: AllServices,
    access_token: Annotated[str | None, Query(description="The staff token, for <img>")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """The face of a recent passage, for the officer's lane view (kept an hour)."""
    staff = await bearer_staff(services, bearer_or_query(authorization, access_token))
    jpeg = await checkpoints.face(checkpoint_id, event_id, staff)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private"})


@router.get(
    "/checkpoints/{checkpoint_id}/stream",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
)
async def checkpoint_stream(
    checkpoint_id: str, checkpoints: Checkpoints, request: Request, following: Follower
) -> StreamingResponse:
    """Each event as it is stored, after `Last-Event-ID` (what a reconnecting client
    sends), else after `since`, else from now; `id:` is each event's cursor. The stream
    opens with a comment line at once, and sends one every 15 s of quiet."""
    staff = following.staff
    await checkpoints.config(checkpoint_id, staff)  # refusals answer before the stream
    follow = checkpoints.follow(checkpoint_id, following.after, staff)

    async def items() -> AsyncIterator[Item]:
        async for item in follow:
            yield None if item is None else (item[0], "screening", item[1].model_dump_json())

    return event_stream(request, items())


@router.post(
    "/screenings",
    status_code=201,
    response_model=ScreeningEvent,
    responses={
        200: {"description": "The same passage again: its event", "model": ScreeningEvent},
        **documented(400, 401, 403, 404, 413, 422, 503),
    },
)
async def push_screening(
    screenings: Screenings,
    checkpoints: Checkpoints,
    staff: Staff,
    response: Response,
    checkpoint_id: Annotated[str, Form(max_length=40)],
    lane: Annotated[int, Form(ge=1, le=20)],
    at: Annotated[datetime, Form(description="When the first frame was taken")],
    visible: Annotated[list[UploadFile], File(description="The passage's visible frames")],
    thermal: Annotated[
        list[UploadFile] | None,
        File(description="Radiometric frames, as many as the visible ones, same order"),
    ] = None,
    qr_text: Annotated[str | None, Form(max_length=1000)] = None,
    iris: Annotated[
        list[UploadFile] | None,
        File(description="Near-infrared eye images of the person (an iris camera's), if any"),
    ] = None,
) -> ScreeningEvent:
    """One passage from a checkpoint device that cannot stream: the same fusion and rule
    as the cameras', answered with its event."""
    config = await checkpoints.config(checkpoint_id, staff)
    event, created = await screenings.screen_frames(
        config,
        lane=lane,
        at=at,
        visible=[await f.read() for f in visible],
        thermal=[(f.filename or "", await f.read()) for f in thermal or []],
        qr_text=qr_text,
        iris=[await f.read() for f in iris or []],
    )
    if not created:
        response.status_code = 200
    return event
