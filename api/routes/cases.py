"""Cases (F0), their contacts (F1, F2), follow-up, quarantine and transmission chains.
Staff only; each officer sees their own area."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response

from api.chain_svg import chain_svg
from api.deps import ApiContext, Context, Staff, forbidden, not_found
from domain import admin_units
from domain.cases import (
    Case,
    CaseChanges,
    CaseCreate,
    Classification,
    ContactRecord,
    FollowUpRecord,
    ManualContactCreate,
    QuarantineChange,
    QuarantineOrder,
    QuarantineOrderCreate,
    check_case_changes,
    check_confirmable,
    new_case_id,
)
from domain.declaration import today_in_vietnam
from domain.errors import DomainError
from domain.identity import document_hash, normalize_document_number
from domain.records import DeclarationRecord, covers
from domain.tokens import Role, StaffClaims

router = APIRouter(tags=["cases"])
_ID = re.compile(r"^[0-9a-f]{32}$")


def _check(errors: list[Any]) -> None:
    if errors:
        raise DomainError(errors)


async def _case(ctx: ApiContext, case_id: str, staff: StaffClaims) -> Case:
    case = await ctx.epi.store.case(case_id) if _ID.match(case_id) else None
    if case is None:
        raise not_found("case_id", "ca bệnh", "case")
    if not covers(staff, case.commune_code, case.province_code):
        raise forbidden()
    return case


async def _contact(ctx: ApiContext, contact_id: str, staff: StaffClaims) -> ContactRecord:
    contact = await ctx.epi.store.contact(contact_id) if _ID.match(contact_id) else None
    if contact is None:
        raise not_found("contact_id", "người tiếp xúc", "contact")
    case = await ctx.epi.store.case(contact.case_id)
    area_ok = covers(staff, contact.commune_code, contact.province_code) or (
        case is not None and covers(staff, case.commune_code, case.province_code)
    )
    if not area_ok:
        raise forbidden()
    return contact


async def _person_of(ctx: ApiContext, body: CaseCreate) -> tuple[str, dict[str, str]]:
    if body.declaration_id:
        raw = await ctx.declarations.get(body.declaration_id)
        if raw is None:
            raise not_found("declaration_id", "tờ khai", "declaration")
        d = DeclarationRecord.model_validate_json(raw).declaration
        person = document_hash(d.document_type, d.document_number).hex()
    elif body.document_number:
        person = document_hash(body.document_type, body.document_number).hex()
        await ctx.epi.store.ensure_person(
            person,
            {
                "document_type": body.document_type.value,
                "document_number": normalize_document_number(body.document_number),
            },
        )
    else:
        raise DomainError.single(
            "document_number",
            "person_required",
            "Cần số giấy tờ hoặc mã tờ khai của người bệnh.",
            "Give the person's document number or declaration id.",
        )
    return person, await ctx.epi.store.person(person)


def _area(
    profile: dict[str, str], commune_given: int | None, staff: StaffClaims
) -> tuple[int | None, int | None]:
    """The case's commune and province: from the person's declaration, else as given,
    else the officer's own unit."""
    commune = int(profile["commune_code"]) if profile.get("commune_code") else commune_given
    if commune is None and staff.role is Role.COMMUNE:
        commune = staff.unit
    province = int(profile["province_code"]) if profile.get("province_code") else None
    if province is None and commune is not None:
        province = admin_units.commune_province(commune)
    if province is None and staff.role is Role.PROVINCE:
        province = staff.unit
    return commune, province


def _case_out(case: Case, recorded: int | None = None) -> dict[str, Any]:
    out = case.model_dump(mode="json")
    onset = case.onset()
    out["onset"] = onset.isoformat() if onset else None
    if recorded is not None:
        out["contacts_recorded"] = recorded
    return out


@router.post("/cases", status_code=201)
async def create_case(
    body: CaseCreate, ctx: Context, staff: Staff, response: Response
) -> dict[str, Any]:
    now = datetime.now(UTC)
    _check(check_case_changes(body, today_in_vietnam(), now))
    person, profile = await _person_of(ctx, body)
    commune, province = _area(profile, body.commune_code, staff)
    if not covers(staff, commune, province):
        raise forbidden()
    case = Case(
        id=new_case_id(),
        person_id=person,
        document_number=profile.get("document_number", ""),
        full_name=profile.get("full_name") or body.full_name or "",
        commune_code=commune,
        province_code=province,
        created_at=now.replace(microsecond=0),
        **body.model_dump(
            exclude={
                "document_type",
                "document_number",
                "declaration_id",
                "full_name",
                "commune_code",
            },
            exclude_none=True,
        ),
    )
    if case.classification is Classification.CONFIRMED:
        case = case.model_copy(update={"confirmed_at": case.created_at})
    _check(check_confirmable(case))
    case, created = await ctx.epi.store.create_case(case)
    if not created:
        response.status_code = 200  # one case per person: the existing one
    return _case_out(case, await ctx.epi.record_contacts(case))


@router.get("/cases/{case_id}")
async def read_case(case_id: str, ctx: Context, staff: Staff) -> dict[str, Any]:
    return _case_out(await _case(ctx, case_id, staff))


@router.patch("/cases/{case_id}")
async def change_case(
    case_id: str, body: CaseChanges, ctx: Context, staff: Staff
) -> dict[str, Any]:
    """Reclassify (confirming traces the case and records its F1), add tests, isolate,
    record the outcome."""
    now = datetime.now(UTC)
    _check(check_case_changes(body, today_in_vietnam(), now))
    case = (await _case(ctx, case_id, staff)).changed(body, now.replace(microsecond=0))
    _check(check_confirmable(case))
    await ctx.epi.store.save_case(case)
    return _case_out(case, await ctx.epi.record_contacts(case))


@router.get("/cases/{case_id}/contacts")
async def case_contacts(
    case_id: str, ctx: Context, staff: Staff, depth: int = Query(2, ge=1, le=2)
) -> dict[str, Any]:
    """F1 (and with depth=2, F2) traced from the check-ins now on record."""
    return await ctx.epi.contacts_view(await _case(ctx, case_id, staff), depth)


@router.get("/cases/{case_id}/chain")
async def case_chain(case_id: str, ctx: Context, staff: Staff) -> dict[str, Any]:
    return await ctx.epi.chain(await _case(ctx, case_id, staff))


@router.get(
    "/cases/{case_id}/chain.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def case_chain_svg(case_id: str, ctx: Context, staff: Staff) -> Response:
    case = await _case(ctx, case_id, staff)
    return Response(
        chain_svg(await ctx.epi.chain(case), case.person_id), media_type="image/svg+xml"
    )


@router.get("/cases/{case_id}/recorded-contacts")
async def recorded_contacts(case_id: str, ctx: Context, staff: Staff) -> list[dict[str, Any]]:
    """The F1 contact records created on confirmation, with their follow-up schedules."""
    case = await _case(ctx, case_id, staff)
    return [c.model_dump(mode="json") for c in await ctx.epi.store.contacts_of(case.id)]


@router.post("/cases/{case_id}/contacts", status_code=201)
async def add_contact(
    case_id: str, body: ManualContactCreate, ctx: Context, staff: Staff
) -> dict[str, Any]:
    """Record a household member or a person the case named as F1 (idempotent)."""
    case = await _case(ctx, case_id, staff)
    if body.at.astimezone(UTC) > datetime.now(UTC):
        raise DomainError.single(
            "at",
            "date_in_future",
            "Thời điểm không được ở tương lai.",
            "The time cannot be in the future.",
        )
    return (await ctx.epi.add_manual_contact(case, body)).model_dump(mode="json")


@router.get("/contacts/{contact_id}")
async def read_contact(contact_id: str, ctx: Context, staff: Staff) -> dict[str, Any]:
    return (await _contact(ctx, contact_id, staff)).model_dump(mode="json")


@router.post("/contacts/{contact_id}/follow-ups")
async def record_follow_up(
    contact_id: str, body: FollowUpRecord, ctx: Context, staff: Staff
) -> dict[str, Any]:
    contact = await _contact(ctx, contact_id, staff)
    if body.date > today_in_vietnam():
        raise DomainError.single(
            "date",
            "date_in_future",
            "Ngày không được ở tương lai.",
            "The date cannot be in the future.",
        )
    try:
        contact = contact.recorded(body)
    except ValueError:
        raise DomainError.single(
            "date",
            "not_a_follow_up_day",
            "Ngày này không thuộc lịch theo dõi của người này.",
            "This date is not in the contact's follow-up schedule.",
        ) from None
    await ctx.epi.store.save_contact(contact)
    return contact.model_dump(mode="json")


@router.post("/contacts/{contact_id}/convert", status_code=201)
async def convert_contact(
    contact_id: str,
    ctx: Context,
    staff: Staff,
    response: Response,
    classification: Literal["suspected", "probable", "confirmed"] = Query("suspected"),
) -> dict[str, Any]:
    """The contact fell ill: open a case for them, linked to the case they met."""
    contact = await _contact(ctx, contact_id, staff)
    now = datetime.now(UTC).replace(microsecond=0)
    case = Case(
        id=new_case_id(),
        person_id=contact.person_id,
        document_number=contact.document_number,
        full_name=contact.full_name,
        commune_code=contact.commune_code,
        province_code=contact.province_code,
        classification=Classification(classification),
        source_case_id=contact.case_id,
        created_at=now,
    )
    _check(check_confirmable(case))
    case, created = await ctx.epi.store.create_case(case)
    if created:
        await ctx.epi.store.save_contact(contact.model_copy(update={"converted_case_id": case.id}))
    else:
        response.status_code = 200
    return _case_out(case)


@router.post("/quarantine-orders", status_code=201)
async def order_quarantine(
    body: QuarantineOrderCreate, ctx: Context, staff: Staff
) -> dict[str, Any]:
    if body.end <= body.start:
        raise DomainError.single(
            "end",
            "end_before_start",
            "Ngày kết thúc phải sau ngày bắt đầu.",
            "The end must be after the start.",
        )
    person = document_hash(body.document_type, body.document_number).hex()
    commune, province = _area(await ctx.epi.store.person(person), None, staff)
    if not covers(staff, commune, province):
        raise forbidden()
    order = QuarantineOrder(
        id=secrets.token_hex(16),
        person_id=person,
        kind=body.kind,
        place=body.place,
        start=body.start,
        end=body.end,
        commune_code=commune,
        province_code=province,
    )
    await ctx.epi.store.add_quarantine(order)
    return order.model_dump(mode="json")


@router.patch("/quarantine-orders/{order_id}")
async def change_quarantine(
    order_id: str, body: QuarantineChange, ctx: Context, staff: Staff
) -> dict[str, Any]:
    """Complete, cancel or extend an order. A cancelled order no longer bounds F2."""
    order = await ctx.epi.store.quarantine(order_id) if _ID.match(order_id) else None
    if order is None:
        raise not_found("order_id", "lệnh cách ly", "quarantine order")
    if not covers(staff, order.commune_code, order.province_code):
        raise forbidden()
    update: dict[str, Any] = {"status": body.status}
    if body.end is not None:
        if body.end <= order.start:
            raise DomainError.single(
                "end",
                "end_before_start",
                "Ngày kết thúc phải sau ngày bắt đầu.",
                "The end must be after the start.",
            )
        update["end"] = body.end
    order = order.model_copy(update=update)
    await ctx.epi.store.save_quarantine(order)
    return order.model_dump(mode="json")
