"""Dishonest-declaration flags: the rules of `domain.flags` applied when evidence
arrives, and what staff do with a flag.

`FlagWatch` reads the outbox through its own consumer group (every declaration,
check-in and screening event written, in order, at least once) and hands each batch
to `FlagService.evaluate`. Raising a flag is idempotent (one flag per rule,
declaration and person; new evidence joins it), so a batch read twice after a
restart changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

from dichte.domain import admin_units
from dichte.domain.clock import VIETNAM_TZ, now_utc
from dichte.domain.errors import DomainError, not_found
from dichte.domain.events import RecordEvent, person_units
from dichte.domain.flags import (
    DECLARED_PERIOD,
    Evidence,
    EvidenceKind,
    Flag,
    FlagAction,
    FlagChange,
    FlagRule,
    FlagStatus,
    RecordedContact,
    Sighting,
    borrowed_qr,
    borrower,
    flag_id,
    undeclared_contact,
    undeclared_fever,
    undeclared_travel,
)
from dichte.domain.identity import document_hash
from dichte.domain.jurisdictions import Jurisdictions
from dichte.domain.records import DeclarationRecord, covers
from dichte.domain.screening import Reason, ScreeningEvent
from dichte.domain.tokens import StaffClaims
from dichte.services.checkpoints import CheckpointCommunes
from dichte.store.epi import EpiStore
from dichte.store.flags import FlagStore
from dichte.store.outbox import Entry, OutboxStore

FLAGS_GROUP = "flags"
SYSTEM = "system"
log = logging.getLogger(__name__)
_PERIOD_S = int(DECLARED_PERIOD.total_seconds())


def _day_bounds(at: datetime) -> tuple[int, int]:
    """[start, end) of the Vietnam day of `at`, in unix seconds."""
    day = at.astimezone(VIETNAM_TZ).date()
    start = datetime.combine(day, time(), VIETNAM_TZ)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp())


def _province(commune: int | None) -> int | None:
    return admin_units.commune_province(commune) if commune else None


class FlagService:
    def __init__(
        self,
        flags: FlagStore,
        epi: EpiStore,
        checkpoint_commune: CheckpointCommunes,
        jurisdictions: Jurisdictions,
    ) -> None:
        self._flags = flags
        self._epi = epi
        self._checkpoint_commune = checkpoint_commune
        self._units = jurisdictions

    # --- raising -----------------------------------------------------------------------
    async def _raise(
        self,
        rule: FlagRule,
        record: DeclarationRecord,
        person_id: str,
        evidence: list[Evidence],
        commune: int | None = None,
    ) -> list[Flag]:
        """The flag for this evidence (none without evidence), routed to `commune`
        (default: where the declaration says the person lives) and to the commune
        where the first evidence was seen."""
        if not evidence:
            return []
        home = commune if commune is not None else record.declaration.residence.commune_code
        now = now_utc().replace(microsecond=0)
        first = min(evidence, key=lambda e: e.at)
        place_commune = await self._place_commune(first.place, first.kind)
        flag = Flag(
            id=flag_id(rule, record.id, person_id),
            rule=rule,
            person_id=person_id,
            declaration_id=record.id,
            commune_code=home,
            province_code=_province(home),
            place_commune_code=place_commune,
            evidence=sorted(evidence, key=lambda e: e.at),
            raised_at=now,
            history=[FlagChange(status=FlagStatus.OPEN, by=SYSTEM, role=SYSTEM, at=now)],
        )
        stored, _ = await self._flags.raise_flag(
            flag, person_units(self._units, home, place_commune)
        )
        return [stored]

    async def _place_commune(self, place: str, kind: EvidenceKind) -> int | None:
        """Where a piece of evidence was seen: a venue's or a checkpoint's commune."""
        if not place:
            return None
        if kind is EvidenceKind.CHECKIN:
            venues = await self._epi.venues({place})
            return venues[place].commune_code if place in venues else None
        return await self._checkpoint_commune(place)

    async def _sightings(self, person: str, lo: int, hi: int) -> list[Sighting]:
        """The person's check-ins and checkpoint passages in [lo, hi)."""
        (stays,) = await self._epi.stays_of_persons([(person, lo, hi)])
        (passages,) = await self._epi.passages_of_persons([(person, lo, hi)])
        venues = await self._epi.venues({s.venue for s in stays})
        out = [
            Sighting(
                EvidenceKind.CHECKIN,
                f"{s.venue}|{s.start}",
                s.venue,
                venues[s.venue].commune_code if s.venue in venues else None,
                s.start,
            )
            for s in stays
        ]
        for p in passages:
            commune = await self._checkpoint_commune(p.checkpoint)
            out.append(Sighting(EvidenceKind.PASSAGE, p.checkpoint, p.checkpoint, commune, p.at))
        return out

    async def _fevers(self, person: str, lo: int, hi: int) -> list[Evidence]:
        out = []
        for event_id, checkpoint, at in await self._flags.fevers(person, lo, hi):
            commune = await self._checkpoint_commune(checkpoint)
            out.append(
                Evidence(
                    kind=EvidenceKind.SCREENING,
                    record=event_id,
                    at=datetime.fromtimestamp(at, VIETNAM_TZ),
                    place=checkpoint,
                    province_code=_province(commune),
                    detail="fever",
                )
            )
        return out

    async def _contacts(self, person: str) -> list[RecordedContact]:
        recorded = dict(await self._epi.contacts_of_person(person))
        records = await self._epi.contacts(sorted(recorded))
        return [
            RecordedContact(c.id, c.case_id, recorded[c.id], int(c.last_exposure.timestamp()))
            for c in records
        ]

    async def on_declaration(self, record: DeclarationRecord) -> list[Flag]:
        """A new declaration against what was recorded before it."""
        d = record.declaration
        person = document_hash(d.document_type, d.document_number).hex()
        end = int(record.created_at.timestamp())
        sightings = await self._sightings(person, end - _PERIOD_S, end)
        day = _day_bounds(record.created_at)
        return [
            *await self._raise(
                FlagRule.UNDECLARED_TRAVEL,
                record,
                person,
                undeclared_travel(d, record.created_at, sightings),
            ),
            *await self._raise(
                FlagRule.UNDECLARED_FEVER,
                record,
                person,
                undeclared_fever(d, record.created_at, await self._fevers(person, *day)),
            ),
            *await self._raise(
                FlagRule.UNDECLARED_CONTACT,
                record,
                person,
                undeclared_contact(d, record.created_at, await self._contacts(person)),
            ),
        ]

    async def _declarations(self, person: str, lo: int, hi: int) -> list[DeclarationRecord]:
        raws = await self._flags.declarations_of_person(person, lo, hi)
        return [DeclarationRecord.model_validate_json(r) for r in raws]

    async def on_sighting(self, person: str, kind: EvidenceKind, place: str, at: int) -> list[Flag]:
        """A check-in (`place` its venue) or passage (its checkpoint) recorded after
        declarations whose period it falls in. Most have none: the place's commune is
        read only when one does."""
        records = await self._declarations(person, at + 1, at + _PERIOD_S + 1)
        if not records:
            return []
        record_id = f"{place}|{at}" if kind is EvidenceKind.CHECKIN else place
        sighting = Sighting(kind, record_id, place, await self._place_commune(place, kind), at)
        raised = []
        for record in records:
            travel = undeclared_travel(record.declaration, record.created_at, [sighting])
            raised += await self._raise(FlagRule.UNDECLARED_TRAVEL, record, person, travel)
        return raised

    async def on_screening(self, event: ScreeningEvent) -> list[Flag]:
        if event.person is None:
            return []
        person = event.person.person_id
        at = int(event.at.timestamp())
        commune = await self._checkpoint_commune(event.checkpoint_id)
        raised = await self.on_sighting(person, EvidenceKind.PASSAGE, event.checkpoint_id, at)
        seen = Evidence(
            kind=EvidenceKind.SCREENING,
            record=event.event_id,
            at=event.at,
            place=event.checkpoint_id,
            province_code=_province(commune),
        )
        if Reason.FEVER in event.reasons:
            fever = seen.model_copy(update={"detail": "fever"})
            for record in await self._declarations(person, *_day_bounds(event.at)):
                found = undeclared_fever(record.declaration, record.created_at, [fever])
                raised += await self._raise(FlagRule.UNDECLARED_FEVER, record, person, found)
        presenter = borrower(event)
        shown = event.declaration.declaration_id
        if shown and presenter:
            raw = await self._flags.declaration(shown)
            if raw is not None and borrowed_qr(person, presenter):
                profile = await self._epi.person(presenter)
                home = int(profile["commune_code"]) if profile.get("commune_code") else None
                raised += await self._raise(
                    FlagRule.BORROWED_QR,
                    DeclarationRecord.model_validate_json(raw),
                    presenter,
                    [seen.model_copy(update={"detail": _borrowed_detail(event)})],
                    home,
                )
        return raised

    async def evaluate(
        self, events: list[RecordEvent], records: list[dict[str, Any] | None]
    ) -> list[Flag]:
        """Apply the rules to a batch of outbox events; the flags raised or that gained
        evidence. A record that cannot be read as its kind is logged and passed over
        (the store being away is not: it propagates, and the batch is read again)."""
        touched: list[Flag] = []
        for event, record in zip(events, records, strict=True):
            if record is None:
                continue
            try:
                touched += await self._evaluate_one(event, record)
            except (ValueError, KeyError, TypeError):  # pydantic's errors are ValueErrors
                log.exception("outbox entry %s not judged", event.subject)
        return touched

    async def _evaluate_one(self, event: RecordEvent, record: dict[str, Any]) -> list[Flag]:
        kind = event.type.kind
        if kind == "declaration":
            return await self.on_declaration(DeclarationRecord.model_validate(record))
        if kind == "checkin":
            at = int(datetime.fromisoformat(str(record["at"])).timestamp())
            return await self.on_sighting(
                str(record["person_id"]), EvidenceKind.CHECKIN, str(record["venue_id"]), at
            )
        if kind == "screening":
            return await self.on_screening(ScreeningEvent.model_validate(record))
        return []

    # --- staff -------------------------------------------------------------------------
    def _may_read(self, staff: StaffClaims, flag: Flag) -> bool:
        return covers(staff, flag.commune_code, flag.province_code, police=True) or covers(
            staff, flag.place_commune_code, _province(flag.place_commune_code), police=True
        )

    async def read(self, flag_id_: str, staff: StaffClaims) -> Flag:
        flag = await self._flags.get(flag_id_) if len(flag_id_) == 32 else None
        if flag is None:
            raise not_found("flag_id", "flag")
        if not self._may_read(staff, flag):
            raise DomainError.of("request", "forbidden")
        return flag

    async def act(self, flag_id_: str, action: FlagAction, staff: StaffClaims) -> Flag:
        """Confirm, dismiss (with a reason), refer or reopen a flag; kept in its history."""
        flag = await self.read(flag_id_, staff)
        if action.status is FlagStatus.DISMISSED and not action.reason:
            raise DomainError.of("reason", "reason_required")
        if action.status is flag.status:
            raise DomainError.of("status", "flag_unchanged")
        change = FlagChange(
            status=action.status,
            by=staff.subject,
            role=staff.role.value,
            at=datetime.now(UTC).replace(microsecond=0),
            reason=action.reason,
        )
        after = flag.changed(change)
        units = person_units(self._units, flag.commune_code, flag.place_commune_code)
        if not await self._flags.change(flag, after, units):
            raise DomainError.of("status", "flag_changed_meanwhile")
        return after


class FlagWatch:
    """The outbox's flag reader: every declaration, check-in and screening event,
    once each, in order (at least once across restarts)."""

    def __init__(self, store: OutboxStore, service: FlagService, batch: int = 500) -> None:
        self._store = store
        self._service = service
        self._batch = batch
        self._stream = store.keys.outbox()

    async def start(self) -> None:
        await self._store.ensure_group(self._stream, FLAGS_GROUP)

    async def check_once(self, block_ms: int = 1000) -> list[Flag]:
        """One batch judged; the flags it raised or added evidence to."""
        entries: list[Entry] = await self._store.read(
            self._stream, FLAGS_GROUP, self._batch, block_ms
        )
        if not entries:
            return []
        events = [RecordEvent.of_fields(f) for _, f in entries]
        wanted = [
            (i, e)
            for i, e in enumerate(events)
            if e.type.kind in ("declaration", "checkin", "screening")
        ]
        records = await self._store.records([e for _, e in wanted])
        flags = await self._service.evaluate([e for _, e in wanted], records)
        await self._store.ack(self._stream, FLAGS_GROUP, [i for i, _ in entries])
        return flags


def _borrowed_detail(event: ScreeningEvent) -> str:
    """What showed the QR was someone else's: their iris, or their face."""
    by_iris = Reason.QR_IRIS_MISMATCH in event.reasons and event.iris is not None
    return "qr_of_another_person_by_iris" if by_iris else "qr_of_another_person"
