"""Cases (F0), their contacts (F1, F2), follow-up, quarantine and transmission chains.
Sequencing and access only: the rules are in domain.tracing and domain.cases."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

from dichte.domain import admin_units
from dichte.domain.cases import (
    Case,
    CaseChanges,
    CaseCreate,
    CasePublic,
    Chain,
    ChainEdge,
    ChainNode,
    Classification,
    ContactRecord,
    ConversionCreate,
    FollowUp,
    FollowUpRecord,
    ManualContactCreate,
    ManualExposureKind,
    QuarantineChange,
    QuarantineOrder,
    QuarantineOrderCreate,
    TracedContacts,
    TracedPerson,
    TraceWave,
    WaveResult,
    check_case_changes,
    check_confirmable,
    contact_id,
    exposures_out,
    follow_up_days,
    follow_ups_done_change,
    new_case_id,
    traced_contact,
)
from dichte.domain.clock import VIETNAM_TZ, in_future, now_utc, today_in_vietnam
from dichte.domain.declaration import DiagnosticResult
from dichte.domain.errors import DomainError, not_found, refuse
from dichte.domain.events import person_units
from dichte.domain.jurisdictions import Jurisdictions
from dichte.domain.records import covers
from dichte.domain.tokens import Role, StaffClaims
from dichte.domain.tracing import (
    Contact,
    Exposure,
    OutbreakSettings,
    TraceResult,
    trace,
)
from dichte.services.declarations import DeclarationService
from dichte.services.people import PersonView, people, person_of_document
from dichte.services.tracing import IndexUnavailable, Tracer, TraceRequest, quarantine_starts
from dichte.store.epi import EpiStore

log = logging.getLogger(__name__)

# Traces of one wave in flight at once: enough to keep Redis busy, few enough that one
# wave of a thousand cases cannot crowd out a replica's other requests.
WAVE_CONCURRENCY = 8

_ID = re.compile(r"^[0-9a-f]{32}$")
MANUAL_KINDS = {k.value for k in ManualExposureKind}


def _area(
    profile: dict[str, str], commune_given: int | None, staff: StaffClaims
) -> tuple[int | None, int | None]:
    """A record's commune and province: from the person's declaration, else as given,
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


def _seconds(now: datetime) -> datetime:
    return now.replace(microsecond=0)


class CaseService:
    def __init__(
        self,
        store: EpiStore,
        declarations: DeclarationService,
        outbreak: OutbreakSettings,
        jurisdictions: Jurisdictions | None = None,
        tracer: Tracer | None = None,
        on_trace: Callable[[str], None] = lambda via: None,
    ) -> None:
        """`tracer`: where cases are traced (the tracing shards); from the store itself
        when there is none or it does not answer. `on_trace` is told which did."""
        self._store = store
        self._tracer = tracer
        self._on_trace = on_trace
        self._declarations = declarations
        self.outbreak = outbreak
        self._units = jurisdictions or Jurisdictions()

    def _contact_units(self, contact: ContactRecord, case_commune: int | None) -> tuple[str, ...]:
        return person_units(self._units, contact.commune_code, case_commune)

    async def _case_commune(self, case_id: str) -> int | None:
        case = await self._store.case(case_id)
        return case.commune_code if case else None

    # --- access ------------------------------------------------------------------------
    async def case(self, case_id: str, staff: StaffClaims) -> Case:
        case = await self._store.case(case_id) if _ID.match(case_id) else None
        if case is None:
            raise not_found("case_id", "case")
        if not covers(staff, case.commune_code, case.province_code):
            raise DomainError.of("request", "forbidden")
        return case

    async def contact(self, contact_id: str, staff: StaffClaims) -> ContactRecord:
        """A contact is seen by staff of its own area and by staff of its case's area."""
        contact = await self._store.contact(contact_id) if _ID.match(contact_id) else None
        if contact is None:
            raise not_found("contact_id", "contact")
        if covers(staff, contact.commune_code, contact.province_code):
            return contact
        case = await self._store.case(contact.case_id)
        if case is None or not covers(staff, case.commune_code, case.province_code):
            raise DomainError.of("request", "forbidden")
        return contact

    # --- cases -------------------------------------------------------------------------
    async def _person(self, body: CaseCreate) -> tuple[str, dict[str, str]]:
        if body.declaration_id:
            record = await self._declarations.record(body.declaration_id, "declaration_id")
            d = record.declaration
            person = await person_of_document(self._store, d.document_type, d.document_number)
        elif body.document_number:
            person = await person_of_document(self._store, body.document_type, body.document_number)
        else:
            raise DomainError.of("document_number", "case_person_required")
        return person, await self._store.person(person)

    async def create(self, body: CaseCreate, staff: StaffClaims) -> tuple[CasePublic, bool]:
        """(the case, created): one case per person, so a second one returns the first."""
        now = now_utc()
        refuse(check_case_changes(body, today_in_vietnam(), now))
        person, profile = await self._person(body)
        commune, province = _area(profile, body.commune_code, staff)
        if not covers(staff, commune, province):
            raise DomainError.of("request", "forbidden")
        given = body.model_dump(
            exclude={"document_type", "document_number", "declaration_id", "full_name"},
            exclude_none=True,
        )
        given.pop("commune_code", None)
        case = Case(
            id=new_case_id(),
            person_id=person,
            document_number=profile.get("document_number", ""),
            full_name=profile.get("full_name") or body.full_name or "",
            commune_code=commune,
            province_code=province,
            created_at=_seconds(now),
            **given,
        )
        case, created = await self._open(case)
        return CasePublic.of(case, await self.record_contacts(case)), created

    async def _open(self, case: Case) -> tuple[Case, bool]:
        """Store a new case (one per person: the existing one otherwise); a confirmed one
        must be traceable and is confirmed from its creation."""
        if case.classification is Classification.CONFIRMED:
            case = case.model_copy(update={"confirmed_at": case.created_at})
        refuse(check_confirmable(case))
        return await self._store.create_case(case, person_units(self._units, case.commune_code))

    async def read(self, case_id: str, staff: StaffClaims) -> CasePublic:
        return CasePublic.of(await self.case(case_id, staff))

    async def change(self, case_id: str, body: CaseChanges, staff: StaffClaims) -> CasePublic:
        """Reclassify (confirming traces the case and records its F1), add lab tests,
        isolate, record the outcome. Every check runs before anything is saved."""
        now = now_utc()
        refuse(check_case_changes(body, today_in_vietnam(), now))
        case = (await self.case(case_id, staff)).changed(body, _seconds(now))
        refuse(check_confirmable(case))
        await self._store.save_case(case, person_units(self._units, case.commune_code))
        return CasePublic.of(case, await self.record_contacts(case))

    async def convert(
        self, contact_id: str, body: ConversionCreate, staff: StaffClaims
    ) -> tuple[CasePublic, bool]:
        """The contact fell ill: open a case for them, linked to the case they met. A
        confirmed conversion takes its onset from the request, else the person's latest
        positive test on record (their declaration's)."""
        contact = await self.contact(contact_id, staff)
        now = now_utc()
        refuse(check_case_changes(body, today_in_vietnam(), now))
        given = body.model_dump(exclude_none=True)
        if body.onset_date is None and body.first_positive_sample_date is None and not body.tests:
            sample = await self._latest_positive_test(contact.person_id)
            if sample is not None:
                given["first_positive_sample_date"] = sample
        case = Case(
            id=new_case_id(),
            person_id=contact.person_id,
            document_number=contact.document_number,
            full_name=contact.full_name,
            commune_code=contact.commune_code,
            province_code=contact.province_code,
            source_case_id=contact.case_id,
            created_at=_seconds(now),
            **given,
        )
        case, created = await self._open(case)
        if created:
            await self._store.save_contact(
                contact.model_copy(update={"converted_case_id": case.id}),
                self._contact_units(contact, await self._case_commune(contact.case_id)),
            )
        return CasePublic.of(case, await self.record_contacts(case) if created else None), created

    async def _latest_positive_test(self, person_id: str) -> date | None:
        declaration_id = (await self._store.person(person_id)).get("declaration_id")
        if not declaration_id:
            return None
        try:
            test = (await self._declarations.record(declaration_id)).declaration.latest_test
        except DomainError:  # past its retention
            return None
        return test.date if test and test.result is DiagnosticResult.POSITIVE else None

    # --- tracing -----------------------------------------------------------------------
    async def _quarantine_starts(self, person_ids: list[str]) -> dict[str, int]:
        return await quarantine_starts(self._store, person_ids)

    async def trace(self, case: Case, depth: int, now: datetime | None = None) -> TraceResult:
        window = case.window(self.outbreak, now or now_utc())
        if window is None:
            return TraceResult({}, {})
        known = {
            c.person_id: traced_contact(c)
            for c in await self._store.contacts_of(case.id)
            if all(e.kind in MANUAL_KINDS for e in c.exposures)
        }
        if self._tracer is not None:
            try:
                result = await self._tracer.trace(
                    TraceRequest(case.person_id, window, self.outbreak, depth, known)
                )
                self._on_trace("index")
                return result
            except IndexUnavailable as e:
                log.warning("tracing index unavailable (%s): tracing from the record", e)
        self._on_trace("record")
        return await trace(
            self._store,
            case.person_id,
            window,
            self.outbreak,
            self._quarantine_starts,
            depth=depth,
            known=known,
        )

    async def record_contacts(self, case: Case, now: datetime | None = None) -> int:
        """On confirmation: an F1 contact record with its follow-up schedule for each
        person traced, and each F2 counted for the reports (F2 are not followed up
        individually). Idempotent; returns how many F1 were new."""
        if case.classification is not Classification.CONFIRMED:
            return 0
        at = now or now_utc()
        result = await self.trace(case, depth=2, now=at)
        if not result.f1:
            return 0
        found = await people(self._store, sorted({*result.f1, *result.f2}))
        records = [self._contact_record(case, c, found[p]) for p, c in result.f1.items()]
        added = await self._store.add_contacts(
            case.id, [(r, self._contact_units(r, case.commune_code)) for r in records], now=at
        )
        await self._store.count_f2(
            case.id,
            {p: found[p].commune_code for p in result.f2},
            at.astimezone(VIETNAM_TZ).date().isoformat(),
        )
        return added

    def _contact_record(self, case: Case, contact: Contact, who: PersonView) -> ContactRecord:
        exposures = exposures_out(contact)
        last = max(e.at for e in exposures)
        return ContactRecord(
            id=contact_id(case.id, who.person_id),
            case_id=case.id,
            person_id=who.person_id,
            document_number=who.document_number,
            full_name=who.full_name,
            commune_code=who.commune_code,
            province_code=who.province_code,
            exposures=exposures,
            first_exposure=min(e.at for e in exposures),
            last_exposure=last,
            follow_ups=[FollowUp(date=d) for d in follow_up_days(last, self.outbreak)],
        )

    async def _traced(self, case: Case, depth: int) -> TracedContacts:
        result = await self.trace(case, depth)
        recorded = {c.person_id: c.id for c in await self._store.contacts_of(case.id)}
        found = await people(self._store, sorted({*result.f1, *result.f2}))

        def ordered(level: dict[str, Contact]) -> list[TracedPerson]:
            return [
                TracedPerson(
                    person_id=p,
                    document_number=found[p].document_number,
                    full_name=found[p].full_name,
                    first_exposure=datetime.fromtimestamp(c.first_exposure, UTC),
                    exposures=exposures_out(c),
                    contact_id=recorded.get(p),
                )
                for p, c in sorted(level.items(), key=lambda kv: (kv[1].first_exposure, kv[0]))
            ]

        return TracedContacts(f1=ordered(result.f1), f2=ordered(result.f2))

    async def contacts(self, case_id: str, depth: int, staff: StaffClaims) -> TracedContacts:
        """F1 (and with depth 2, F2) traced from the check-ins on record now."""
        return await self._traced(await self.case(case_id, staff), depth)

    async def trace_wave(
        self, wave: TraceWave, staff: StaffClaims, concurrency: int = WAVE_CONCURRENCY
    ) -> AsyncIterator[WaveResult]:
        """Each case of the wave as soon as its trace is done (fastest first), at most
        `concurrency` at once; a case the officer may not read, or that does not exist,
        is answered with its error and the others go on."""
        queue: asyncio.Queue[WaveResult] = asyncio.Queue()
        slots = asyncio.Semaphore(concurrency)

        async def one(case_id: str) -> None:
            async with slots:
                started = time.perf_counter()
                try:
                    contacts = await self.contacts(case_id, wave.depth, staff)
                    result = WaveResult(case_id=case_id, status=200, contacts=contacts, ms=0)
                except DomainError as e:
                    result = WaveResult(
                        case_id=case_id, status=e.status, errors=e.body()["errors"], ms=0
                    )
                ms = round((time.perf_counter() - started) * 1000, 1)
                await queue.put(result.model_copy(update={"ms": ms}))

        distinct = list(dict.fromkeys(wave.case_ids))
        tasks = [asyncio.create_task(one(case_id)) for case_id in distinct]
        try:
            for _ in distinct:
                yield await queue.get()
        finally:  # the client went away: stop what is left
            for task in tasks:
                task.cancel()

    async def chain(self, case_id: str, staff: StaffClaims) -> Chain:
        """Nodes and edges of the transmission chain around a case: the case, its F1 and
        F2, and any contact since converted into a case. One trace, batched reads."""
        case = await self.case(case_id, staff)
        traced = await self._traced(case, depth=2)
        rows = [("f1", r) for r in traced.f1] + [("f2", r) for r in traced.f2]
        converted = await self._store.cases_of_persons([r.person_id for _, r in rows])
        me = (await people(self._store, [case.person_id]))[case.person_id]
        nodes: dict[str, ChainNode] = {
            case.person_id: ChainNode(
                id=case.person_id,
                kind="case",
                label=me.full_name or case.full_name,
                case_id=case.id,
                classification=case.classification,
                onset=case.onset(),
            )
        }
        edges: dict[tuple[str, str], ChainEdge] = {}
        for level, row in rows:
            nodes.setdefault(
                row.person_id,
                ChainNode(
                    id=row.person_id,
                    kind="case" if converted[row.person_id] else level,
                    label=row.full_name or row.document_number,
                    case_id=converted[row.person_id],
                ),
            )
            for e in row.exposures:  # exposures come earliest first: keep the first edge
                edges.setdefault(
                    (e.with_person, row.person_id),
                    ChainEdge(
                        from_=e.with_person, to=row.person_id, at=e.at, kind=e.kind, place=e.place
                    ),
                )
        return Chain(
            case_id=case.id,
            nodes=list(nodes.values()),
            edges=sorted(edges.values(), key=lambda e: e.at),
        )

    # --- contacts ----------------------------------------------------------------------
    async def recorded_contacts(self, case_id: str, staff: StaffClaims) -> list[ContactRecord]:
        return await self._store.contacts_of((await self.case(case_id, staff)).id)

    async def add_contact(
        self, case_id: str, body: ManualContactCreate, staff: StaffClaims
    ) -> ContactRecord:
        """A household member or a person the case names: recorded as F1 with a follow-up
        schedule, and traced onwards for F2 like any F1 (idempotent)."""
        case = await self.case(case_id, staff)
        if in_future(body.at, now_utc()):
            raise DomainError.of("at", "date_in_future")
        person = await person_of_document(
            self._store,
            body.document_type,
            body.document_number,
            full_name=body.full_name,
            commune_code=body.commune_code,
        )
        who = (await people(self._store, [person]))[person]
        exposure = Exposure(body.kind.value, int(body.at.timestamp()), body.place, case.person_id)
        record = self._contact_record(case, Contact(person, [exposure]), who)
        await self._store.add_contacts(
            case.id, [(record, self._contact_units(record, case.commune_code))]
        )
        stored = await self._store.contact(record.id)
        assert stored is not None
        return stored

    async def record_follow_up(
        self, contact_id: str, body: FollowUpRecord, staff: StaffClaims
    ) -> ContactRecord:
        contact = await self.contact(contact_id, staff)
        if body.date > today_in_vietnam():
            raise DomainError.of("date", "date_in_future")
        try:
            recorded = contact.recorded(body)
        except ValueError:
            raise DomainError.of("date", "not_a_follow_up_day") from None
        await self._store.save_contact(
            recorded,
            self._contact_units(recorded, await self._case_commune(recorded.case_id)),
            follow_ups_done=follow_ups_done_change(contact, recorded),
        )
        return recorded

    # --- quarantine --------------------------------------------------------------------
    async def order_quarantine(
        self, body: QuarantineOrderCreate, staff: StaffClaims
    ) -> QuarantineOrder:
        if body.end <= body.start:
            raise DomainError.of("end", "end_before_start")
        person = await person_of_document(self._store, body.document_type, body.document_number)
        commune, province = _area(await self._store.person(person), None, staff)
        if not covers(staff, commune, province):
            raise DomainError.of("request", "forbidden")
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
        await self._store.add_quarantine(order, person_units(self._units, order.commune_code))
        return order

    async def change_quarantine(
        self, order_id: str, body: QuarantineChange, staff: StaffClaims
    ) -> QuarantineOrder:
        """Complete, cancel or extend an order. A cancelled order no longer bounds F2."""
        order = await self._store.quarantine(order_id) if _ID.match(order_id) else None
        if order is None:
            raise not_found("order_id", "quarantine_order")
        if not covers(staff, order.commune_code, order.province_code):
            raise DomainError.of("request", "forbidden")
        update: dict[str, Any] = {"status": body.status}
        if body.end is not None:
            if body.end <= order.start:
                raise DomainError.of("end", "end_before_start")
            update["end"] = body.end
        changed = order.model_copy(update=update)
        await self._store.save_quarantine(
            changed, person_units(self._units, changed.commune_code), before=order
        )
        return changed
