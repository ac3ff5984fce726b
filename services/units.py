"""What a health unit sees: its feed (every record routed to it, in order, resumable,
live), its work lists (declarations, cases, contacts, quarantine orders, venues, newest
first, filtered), and its webhooks. Each call checks the caller may read the unit."""

from __future__ import annotations

import base64
import json
import math
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar
from urllib.parse import urlparse

from pydantic import BaseModel, Field

from dichte.domain import admin_units
from dichte.domain.cases import (
    Case,
    CasePublic,
    Classification,
    ContactRecord,
    FollowUpStatus,
    QuarantineOrder,
    QuarantineStatus,
)
from dichte.domain.clock import today_in_vietnam
from dichte.domain.declaration import DeclarationCreate
from dichte.domain.errors import DomainError, not_found
from dichte.domain.events import EventType, RecordEvent, stream_time
from dichte.domain.flags import Flag, FlagRule, FlagStatus
from dichte.domain.jurisdictions import CENTRE, COMMUNE, Jurisdictions, parse_unit, unit_readable
from dichte.domain.tokens import StaffClaims
from dichte.domain.venues import Venue
from dichte.services.venues import VenuePublic
from dichte.store.outbox import Entry, OutboxStore

FEED_PAGE = 200
T = TypeVar("T")


class FeedItem(BaseModel):
    cursor: str = Field(description="Resume after this item with ?since=<cursor>")
    type: EventType
    subject: str = Field(description="The record's id")
    time: datetime = Field(description="When the record was written")
    record: dict[str, Any] | None = Field(
        description="The record as stored now (null: deleted at the end of its retention)"
    )


class FeedPage(BaseModel):
    items: list[FeedItem]
    next: str = Field(description="The cursor to ask with next (?since=)")


class DeclarationListed(BaseModel):
    id: str
    created_at: datetime
    declaration: DeclarationCreate


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="Cursor of the next (older) page; null at the end")


class DeclarationFilter(StrEnum):
    SYMPTOMATIC = "symptomatic"  # any symptom declared
    EXPOSED = "exposed"  # declared a contact with a case or a stay in an outbreak area


class CaseFilter(StrEnum):
    OPEN = "open"  # no outcome yet
    SUSPECTED = "suspected"
    PROBABLE = "probable"
    CONFIRMED = "confirmed"
    NOT_A_CASE = "not_a_case"


class ContactFilter(StrEnum):
    FOLLOWING = "following"  # follow-up period not over, not converted to a case
    CONVERTED = "converted"


class VenueFilter(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class UnitCommune(BaseModel):
    code: int
    name: str


class UnitInfo(BaseModel):
    unit: str
    kind: str = Field(description="commune, centre or province")
    code: int
    name: str
    province_code: int | None
    communes: list[UnitCommune] = Field(description="The communes a centre serves")


class WebhookCreate(BaseModel):
    url: str = Field(max_length=500, description="http(s) URL that receives the events")
    events: list[EventType] = Field(
        default_factory=list, max_length=20, description="Event types to send; empty: all"
    )


class Webhook(BaseModel):
    id: str
    unit: str
    url: str
    events: list[EventType]
    created_at: datetime
    created_by: str


class WebhookCreated(Webhook):
    secret: str = Field(
        description="The Standard Webhooks secret (whsec_…) to verify deliveries; shown once"
    )


def _cursor(score: float, member: str) -> str:
    return f"{int(score)}.{member}"


def _parse_cursor(cursor: str | None) -> tuple[float, str | None]:
    if not cursor:
        return float("inf"), None
    score, _, member = cursor.partition(".")
    if not score.isdigit() or not member or len(member) > 200:
        raise DomainError.of("cursor", "cursor_invalid")
    return float(score), member


class UnitService:
    def __init__(
        self,
        store: OutboxStore,
        jurisdictions: Jurisdictions,
        venue_public: Callable[[Venue], VenuePublic],
    ) -> None:
        self._store = store
        self._units = jurisdictions
        self._venue_public = venue_public

    def unit(self, staff: StaffClaims, unit: str | None) -> str:
        """The unit named, else the caller's own; checked."""
        chosen = unit or self._units.home_unit(staff)
        if chosen is None:
            raise DomainError.of("unit", "unit_required")
        return unit_readable(self._units, staff, chosen)

    def info(self, unit: str, staff: StaffClaims) -> UnitInfo:
        unit = self.unit(staff, unit)
        kind, code = parse_unit(unit)
        communes: tuple[int, ...] = ()
        if kind == COMMUNE:
            name = admin_units.commune_name(code) or unit
        elif kind == CENTRE:
            centre = self._units.centre(code)
            name, communes = (centre.name, centre.communes) if centre else (unit, ())
        else:
            province = admin_units.province(code)
            name = province.name if province else unit
        return UnitInfo(
            unit=unit,
            kind=kind,
            code=code,
            name=name,
            province_code=self._units.province_of(unit),
            communes=[
                UnitCommune(code=c, name=admin_units.commune_name(c) or str(c)) for c in communes
            ],
        )

    # --- the feed --------------------------------------------------------------------------
    async def _items(self, entries: list[Entry]) -> list[FeedItem]:
        events = [RecordEvent.of_fields(f) for _, f in entries]
        records = await self._store.records(events)
        return [
            FeedItem(
                cursor=entry_id,
                type=event.type,
                subject=event.subject,
                time=stream_time(entry_id),
                record=_shown(record),
            )
            for (entry_id, _), event, record in zip(entries, events, records, strict=True)
        ]

    async def feed(self, unit: str, staff: StaffClaims, since: str | None, limit: int) -> FeedPage:
        unit = self.unit(staff, unit)
        entries = await self._store.feed(unit, since or "0-0", limit)
        return FeedPage(
            items=await self._items(entries), next=entries[-1][0] if entries else since or "0-0"
        )

    async def latest(self, unit: str, staff: StaffClaims, count: int) -> FeedPage:
        """The unit's latest items, oldest first; `next` follows on from the newest."""
        unit = self.unit(staff, unit)
        entries = await self._store.latest_feed(unit, count)
        nxt = entries[-1][0] if entries else await self._store.feed_top(unit)
        return FeedPage(items=await self._items(entries), next=nxt)

    async def follow(
        self, unit: str, staff: StaffClaims, since: str | None
    ) -> AsyncIterator[FeedItem | None]:
        """Items as they are routed, after `since` (None: from now on); None after 15 s
        without one (a heartbeat)."""
        unit = self.unit(staff, unit)
        cursor = since or await self._store.feed_top(unit)
        while True:
            entries = await self._store.wait_feed(unit, cursor, block_ms=15_000)
            if not entries:
                yield None
                continue
            for item in await self._items(entries):
                cursor = item.cursor
                yield item

    # --- work lists ------------------------------------------------------------------------
    async def _page(
        self,
        kind: str,
        unit: str,
        cursor: str | None,
        limit: int,
        since: datetime | None,
        until: datetime | None,
        keep: Callable[[dict[str, Any]], bool],
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Records of the unit's list, newest first, that `keep` accepts; scans at most
        ten pages' worth per call (the cursor then resumes the scan)."""
        before, after_member = _parse_cursor(cursor)
        if until is not None:  # scores are whole seconds: `until`'s second is in
            before = min(before, float(math.floor(until.timestamp())))
        floor = math.ceil(since.timestamp()) - 1 if since is not None else float("-inf")
        kept: list[dict[str, Any]] = []
        scanned = 0
        last: str | None = None
        while len(kept) < limit and scanned < 10 * limit:
            # Inclusive of the cursor's second: ids written in the same second follow.
            ids = await self._store.work_list(kind, unit, before + 1, floor, limit + 50)
            if after_member is not None:
                ids = [(i, s) for i, s in ids if s < before or (s == before and i < after_member)]
            if not ids:
                return kept, None
            keys = [self._store.record_key(kind, i) or "" for i, _ in ids]
            raws = await self._store.raw_records(keys)
            for (record_id, score), raw in zip(ids, raws, strict=True):
                scanned += 1
                last = _cursor(score, record_id)
                before, after_member = score, record_id
                if raw is not None:
                    record = json.loads(raw)
                    if keep(record):
                        kept.append(record)
                        if len(kept) == limit:
                            break
        return kept, last

    async def declarations(
        self,
        staff: StaffClaims,
        unit: str | None,
        status: DeclarationFilter | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[DeclarationListed]:
        def keep(r: dict[str, Any]) -> bool:
            d = r["declaration"]
            if status is DeclarationFilter.SYMPTOMATIC:
                return any(v for v in d.get("symptoms", {}).values())
            if status is DeclarationFilter.EXPOSED:
                return any(d.get("exposure", {}).values())
            return True

        found, nxt = await self._page(
            "declaration", self.unit(staff, unit), cursor, limit, since, until, keep
        )
        return Page[DeclarationListed](
            items=[DeclarationListed.model_validate(r) for r in found], next=nxt
        )

    async def cases(
        self,
        staff: StaffClaims,
        unit: str | None,
        status: CaseFilter | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[CasePublic]:
        def keep(r: dict[str, Any]) -> bool:
            if status is None:
                return True
            if status is CaseFilter.OPEN:
                return r.get("outcome") is None
            return bool(r["classification"] == Classification(status.value))

        found, nxt = await self._page(
            "case", self.unit(staff, unit), cursor, limit, since, until, keep
        )
        return Page[CasePublic](
            items=[CasePublic.of(Case.model_validate(r)) for r in found], next=nxt
        )

    async def contacts(
        self,
        staff: StaffClaims,
        unit: str | None,
        status: ContactFilter | None,
        due_today: bool,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[ContactRecord]:
        today = today_in_vietnam()

        def keep(r: dict[str, Any]) -> bool:
            c = ContactRecord.model_validate(r)
            if due_today and not _due(c, today):
                return False
            if status is ContactFilter.CONVERTED:
                return c.converted_case_id is not None
            if status is ContactFilter.FOLLOWING:
                return c.converted_case_id is None and any(f.date >= today for f in c.follow_ups)
            return True

        found, nxt = await self._page(
            "contact", self.unit(staff, unit), cursor, limit, since, until, keep
        )
        return Page[ContactRecord](items=[ContactRecord.model_validate(r) for r in found], next=nxt)

    async def quarantine_orders(
        self,
        staff: StaffClaims,
        unit: str | None,
        status: QuarantineStatus | None,
        ending_within_days: int | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[QuarantineOrder]:
        now = datetime.now(UTC)

        def keep(r: dict[str, Any]) -> bool:
            o = QuarantineOrder.model_validate(r)
            if status is not None and o.status is not status:
                return False
            if ending_within_days is not None:
                return now <= o.end <= now + timedelta(days=ending_within_days)
            return True

        found, nxt = await self._page(
            "quarantine_order", self.unit(staff, unit), cursor, limit, since, until, keep
        )
        return Page[QuarantineOrder](
            items=[QuarantineOrder.model_validate(r) for r in found], next=nxt
        )

    async def venues(
        self,
        staff: StaffClaims,
        unit: str | None,
        status: VenueFilter | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[VenuePublic]:
        def keep(r: dict[str, Any]) -> bool:
            if status is None:
                return True
            return bool(r.get("active", True)) is (status is VenueFilter.ACTIVE)

        found, nxt = await self._page(
            "venue", self.unit(staff, unit), cursor, limit, since, until, keep
        )
        return Page[VenuePublic](
            items=[self._venue_public(Venue.model_validate(r)) for r in found], next=nxt
        )

    async def flags(
        self,
        staff: StaffClaims,
        unit: str | None,
        status: FlagStatus | None,
        rule: FlagRule | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Flag]:
        """Dishonest-declaration flags routed to the unit (health staff and the police
        of the unit's commune or province)."""
        chosen = unit or self._units.home_unit(staff)
        if chosen is None:
            raise DomainError.of("unit", "unit_required")
        chosen = unit_readable(self._units, staff, chosen, flags=True)

        def keep(r: dict[str, Any]) -> bool:
            return (status is None or r.get("status") == status.value) and (
                rule is None or r.get("rule") == rule.value
            )

        found, nxt = await self._page("flag", chosen, cursor, limit, since, until, keep)
        return Page[Flag](items=[Flag.model_validate(r) for r in found], next=nxt)

    # --- webhooks --------------------------------------------------------------------------
    async def add_webhook(
        self, unit: str, body: WebhookCreate, staff: StaffClaims
    ) -> WebhookCreated:
        unit = self.unit(staff, unit)
        parsed = urlparse(body.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise DomainError.of("url", "webhook_url_invalid")
        hook = WebhookCreated(
            id=secrets.token_hex(8),
            unit=unit,
            url=body.url,
            events=body.events,
            created_at=datetime.now(UTC).replace(microsecond=0),
            created_by=staff.subject,
            secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        )
        # Deliveries start with what is routed from now on.
        await self._store.ensure_group(self._store.keys.feed(unit), f"webhook-{hook.id}", "$")
        await self._store.add_webhook(hook.id, hook.model_dump(mode="json"))
        return hook

    async def webhooks(self, unit: str, staff: StaffClaims) -> list[Webhook]:
        unit = self.unit(staff, unit)
        return [
            Webhook.model_validate(h)
            for h in (await self._store.webhooks()).values()
            if h["unit"] == unit
        ]

    async def remove_webhook(self, unit: str, webhook_id: str, staff: StaffClaims) -> Webhook:
        unit = self.unit(staff, unit)
        hooks = await self._store.webhooks()
        if webhook_id not in hooks or hooks[webhook_id]["unit"] != unit:
            raise not_found("webhook_id", "webhook")
        await self._store.remove_webhook(webhook_id)
        return Webhook.model_validate(hooks[webhook_id])


def _due(contact: ContactRecord, today: date) -> bool:
    """A follow-up is due today and not yet recorded (a contact turned case is not)."""
    return contact.converted_case_id is None and any(
        f.date == today and f.status is FollowUpStatus.PENDING for f in contact.follow_ups
    )


def _shown(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What unit staff see of a record: everything but the receipt's hash."""
    if record is None:
        return None
    return {k: v for k, v in record.items() if k != "receipt_sha256"}
