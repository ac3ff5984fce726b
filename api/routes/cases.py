"""Cases (F0), their contacts (F1, F2), follow-up, quarantine and transmission chains.
Staff only; each officer sees their own area."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse

from dichte.api.chain_svg import chain_svg
from dichte.api.deps import Cases, Staff
from dichte.api.errors import documented
from dichte.domain.cases import (
    CaseChanges,
    CaseCreate,
    CasePublic,
    Chain,
    Classification,
    ContactRecord,
    ConversionCreate,
    FollowUpRecord,
    ManualContactCreate,
    QuarantineChange,
    QuarantineOrder,
    QuarantineOrderCreate,
    TracedContacts,
    TraceWave,
    WaveResult,
)

router = APIRouter(tags=["cases"])

_READ = documented(401, 403, 404, 422, 503)
_WRITE = documented(400, 401, 403, 404, 413, 422, 503)


def _first(model: type) -> dict[int | str, dict[str, object]]:
    return {200: {"description": "Already on record: the existing one", "model": model}}


@router.post(
    "/cases", status_code=201, response_model=CasePublic, responses={**_first(CasePublic), **_WRITE}
)
async def create_case(
    body: CaseCreate, cases: Cases, staff: Staff, response: Response
) -> CasePublic:
    """A confirmed case is traced at once and its F1 recorded; one case per person."""
    case, created = await cases.create(body, staff)
    if not created:
        response.status_code = 200
    return case


@router.post(
    "/cases/trace",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON line per distinct case (a WaveResult), as each trace finishes",
            "content": {"application/x-ndjson": {"schema": WaveResult.model_json_schema()}},
        },
        **documented(400, 401, 413, 422, 503),
    },
)
async def trace_wave(body: TraceWave, cases: Cases, staff: Staff) -> StreamingResponse:
    """A wave: cases confirmed together traced at once, each answered as soon as it is
    done (`application/x-ndjson`, one line a case, fastest first): F1 and, with
    depth 2, F2, as `GET /cases/{id}/contacts` gives them, or the case's own error
    (403, 404) while the others go on."""

    async def lines() -> AsyncIterator[bytes]:
        async for result in cases.trace_wave(body, staff):
            yield result.model_dump_json().encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/cases/{case_id}", response_model=CasePublic, responses=_READ)
async def read_case(case_id: str, cases: Cases, staff: Staff) -> CasePublic:
    return await cases.read(case_id, staff)


@router.patch("/cases/{case_id}", response_model=CasePublic, responses=_WRITE)
async def change_case(case_id: str, body: CaseChanges, cases: Cases, staff: Staff) -> CasePublic:
    """Reclassify (confirming traces the case and records its F1), add lab tests,
    isolate, record the outcome. A refused change saves nothing."""
    return await cases.change(case_id, body, staff)


@router.get("/cases/{case_id}/contacts", response_model=TracedContacts, responses=_READ)
async def case_contacts(
    case_id: str, cases: Cases, staff: Staff, depth: Annotated[int, Query(ge=1, le=2)] = 2
) -> TracedContacts:
    """F1 (and with depth=2, F2) traced from the check-ins now on record."""
    return await cases.contacts(case_id, depth, staff)


@router.get("/cases/{case_id}/chain", response_model=Chain, responses=_READ)
async def case_chain(case_id: str, cases: Cases, staff: Staff) -> Chain:
    return await cases.chain(case_id, staff)


@router.get(
    "/cases/{case_id}/chain.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "F0 → F1 → F2"},
        **_READ,
    },
)
async def case_chain_svg(case_id: str, cases: Cases, staff: Staff) -> Response:
    chain = await cases.chain(case_id, staff)
    root = next(n.id for n in chain.nodes if n.case_id == chain.case_id)
    return Response(chain_svg(chain.model_dump(by_alias=True), root), media_type="image/svg+xml")


@router.get(
    "/cases/{case_id}/recorded-contacts", response_model=list[ContactRecord], responses=_READ
)
async def recorded_contacts(case_id: str, cases: Cases, staff: Staff) -> list[ContactRecord]:
    """The F1 contact records created on confirmation, with their follow-up schedules."""
    return await cases.recorded_contacts(case_id, staff)


@router.post(
    "/cases/{case_id}/contacts", status_code=201, response_model=ContactRecord, responses=_WRITE
)
async def add_contact(
    case_id: str, body: ManualContactCreate, cases: Cases, staff: Staff
) -> ContactRecord:
    """Record a household member or a person the case named as F1 (idempotent)."""
    return await cases.add_contact(case_id, body, staff)


@router.get("/contacts/{contact_id}", response_model=ContactRecord, responses=_READ)
async def read_contact(contact_id: str, cases: Cases, staff: Staff) -> ContactRecord:
    return await cases.contact(contact_id, staff)


@router.post("/contacts/{contact_id}/follow-ups", response_model=ContactRecord, responses=_WRITE)
async def record_follow_up(
    contact_id: str, body: FollowUpRecord, cases: Cases, staff: Staff
) -> ContactRecord:
    return await cases.record_follow_up(contact_id, body, staff)


@router.post(
    "/contacts/{contact_id}/convert",
    status_code=201,
    response_model=CasePublic,
    responses={**_first(CasePublic), **_WRITE},
)
async def convert_contact(
    contact_id: str,
    cases: Cases,
    staff: Staff,
    response: Response,
    classification: Annotated[
        Classification | None, Query(description="Shorthand for the body's classification")
    ] = None,
    body: Annotated[ConversionCreate | None, Body()] = None,
) -> CasePublic:
    """The contact fell ill: open a case for them, linked to the case they met. A
    confirmed one takes its onset from the body, else the person's latest positive test."""
    conversion = body or ConversionCreate()
    if classification is not None:
        conversion = conversion.model_copy(update={"classification": classification})
    case, created = await cases.convert(contact_id, conversion, staff)
    if not created:
        response.status_code = 200
    return case


@router.post(
    "/quarantine-orders", status_code=201, response_model=QuarantineOrder, responses=_WRITE
)
async def order_quarantine(
    body: QuarantineOrderCreate, cases: Cases, staff: Staff
) -> QuarantineOrder:
    return await cases.order_quarantine(body, staff)


@router.patch("/quarantine-orders/{order_id}", response_model=QuarantineOrder, responses=_WRITE)
async def change_quarantine(
    order_id: str, body: QuarantineChange, cases: Cases, staff: Staff
) -> QuarantineOrder:
    """Complete, cancel or extend an order. A cancelled order no longer bounds F2."""
    return await cases.change_quarantine(order_id, body, staff)
