"""Epidemiological use cases: check in, confirm a case and trace it, list contacts,
draw the chain. Sequencing only; the rules are in domain.tracing and domain.cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from actors.epi_store import EpiStore
from domain import admin_units
from domain.cases import (
    Case,
    Classification,
    ContactRecord,
    FollowUp,
    ManualContactCreate,
    ManualExposureKind,
    contact_id,
    exposures_out,
    follow_up_days,
    traced_contact,
)
from domain.declaration import VIETNAM_TZ
from domain.identity import document_hash, normalize_document_number
from domain.tracing import Contact, Exposure, OutbreakSettings, TraceResult, trace

MANUAL_KINDS = {k.value for k in ManualExposureKind}


@dataclass(frozen=True)
class PersonView:
    person_id: str
    document_number: str
    full_name: str
    commune_code: int | None
    province_code: int | None

    @classmethod
    def of(cls, person_id: str, profile: dict[str, str]) -> PersonView:
        def code(name: str) -> int | None:
            return int(profile[name]) if profile.get(name) else None

        return cls(
            person_id,
            profile.get("document_number", ""),
            profile.get("full_name", ""),
            code("commune_code"),
            code("province_code"),
        )


class EpiService:
    def __init__(self, store: EpiStore, outbreak: OutbreakSettings) -> None:
        self.store = store
        self.outbreak = outbreak

    async def trace_case(
        self, case: Case, depth: int, now: datetime | None = None
    ) -> TraceResult | None:
        window = case.window(self.outbreak, now or datetime.now(UTC))
        if window is None:
            return None
        known = {
            c.person_id: traced_contact(c)
            for c in await self.store.contacts_of(case.id)
            if all(e.kind in MANUAL_KINDS for e in c.exposures)
        }
        first = await trace(self.store, case.person_id, window, self.outbreak, depth=1, known=known)
        if depth < 2:
            return first
        quarantine = await self.store.quarantine_starts(sorted(first.f1))
        return await trace(
            self.store, case.person_id, window, self.outbreak, quarantine, depth, known=known
        )

    async def add_manual_contact(self, case: Case, body: ManualContactCreate) -> ContactRecord:
        """A household member or a person the case names: recorded as F1 with a follow-up
        schedule, and traced onwards for F2 like any F1."""
        person = document_hash(body.document_type, body.document_number).hex()
        profile = {
            "document_type": body.document_type.value,
            "document_number": normalize_document_number(body.document_number),
        }
        if body.full_name:
            profile["full_name"] = body.full_name
        if body.commune_code is not None:
            profile["commune_code"] = str(body.commune_code)
            province = admin_units.commune_province(body.commune_code)
            if province is not None:
                profile["province_code"] = str(province)
        await self.store.ensure_person(person, profile)
        who = (await self.profiles([person]))[person]
        exposure = Exposure(body.kind.value, int(body.at.timestamp()), body.place, case.person_id)
        record = self._contact_record(case, Contact(person, [exposure]), who)
        await self.store.add_contacts(case.id, [record])
        stored = await self.store.contact(record.id)
        assert stored is not None
        return stored

    async def profiles(self, person_ids: list[str]) -> dict[str, PersonView]:
        return {p: PersonView.of(p, await self.store.person(p)) for p in person_ids}

    async def record_contacts(self, case: Case, now: datetime | None = None) -> int:
        """On confirmation: an F1 contact record with its follow-up schedule for each
        person traced. Idempotent; returns how many were new."""
        if case.classification is not Classification.CONFIRMED:
            return 0
        result = await self.trace_case(case, depth=1, now=now)
        if result is None:
            return 0
        people = await self.profiles(sorted(result.f1))
        records = [self._contact_record(case, c, people[p]) for p, c in result.f1.items()]
        return await self.store.add_contacts(case.id, records)

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

    async def contacts_view(self, case: Case, depth: int) -> dict[str, list[dict[str, Any]]]:
        result = await self.trace_case(case, depth)
        if result is None:
            return {"f1": [], "f2": []}
        recorded = {c.person_id: c.id for c in await self.store.contacts_of(case.id)}
        people = await self.profiles(sorted({*result.f1, *result.f2}))

        def row(person: str, contact: Contact) -> dict[str, Any]:
            who = people[person]
            return {
                "person_id": person,
                "document_number": who.document_number,
                "full_name": who.full_name,
                "first_exposure": datetime.fromtimestamp(contact.first_exposure, UTC),
                "exposures": [e.model_dump() for e in exposures_out(contact)],
                "contact_id": recorded.get(person),
            }

        def ordered(found: dict[str, Contact]) -> list[dict[str, Any]]:
            return [
                row(p, c)
                for p, c in sorted(found.items(), key=lambda kv: (kv[1].first_exposure, kv[0]))
            ]

        return {"f1": ordered(result.f1), "f2": ordered(result.f2)}

    async def chain(self, case: Case) -> dict[str, Any]:
        """Nodes and edges of the transmission chain around a case: the case, its F1 and
        F2, and any contact since converted into a case."""
        view = await self.contacts_view(case, depth=2)
        me = await self.profiles([case.person_id])
        nodes: dict[str, dict[str, Any]] = {
            case.person_id: {
                "id": case.person_id,
                "kind": "case",
                "label": me[case.person_id].full_name,
                "case_id": case.id,
                "classification": case.classification.value,
                "onset": case.onset(),
            }
        }
        edges = []
        for level in ("f1", "f2"):
            for row in view[level]:
                converted = await self.store.case_of_person(row["person_id"])
                nodes.setdefault(
                    row["person_id"],
                    {
                        "id": row["person_id"],
                        "kind": "case" if converted else level,
                        "label": row["full_name"] or row["document_number"],
                        "case_id": converted,
                    },
                )
                for e in row["exposures"]:
                    edges.append(
                        {
                            "from": e["with_person"],
                            "to": row["person_id"],
                            "at": e["at"],
                            "kind": e["kind"],
                            "place": e["place"],
                        }
                    )
        first_edges: dict[tuple[str, str], dict[str, Any]] = {}
        for e in sorted(edges, key=lambda e: e["at"]):
            first_edges.setdefault((e["from"], e["to"]), e)
        return {
            "case_id": case.id,
            "nodes": list(nodes.values()),
            "edges": list(first_edges.values()),
        }


def vietnam_day(ts: int) -> str:
    return datetime.fromtimestamp(ts, VIETNAM_TZ).date().isoformat()
