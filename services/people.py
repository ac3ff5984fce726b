"""Who a record is about. A person's id is the hash of their identity document, so the
same person declared, checked in by staff or named as a contact is one profile."""

from __future__ import annotations

from dataclasses import dataclass

from dichte.domain import admin_units
from dichte.domain.identity import DocumentType, document_hash, normalize_document_number
from dichte.store.epi import EpiStore


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


async def person_of_document(
    store: EpiStore,
    document_type: DocumentType,
    number: str,
    *,
    full_name: str = "",
    commune_code: int | None = None,
) -> str:
    """The person a document names, their profile started if we had none (what a
    declaration wrote is never overwritten)."""
    person = document_hash(document_type, number).hex()
    profile = {
        "document_type": document_type.value,
        "document_number": normalize_document_number(number),
    }
    if full_name:
        profile["full_name"] = full_name
    if commune_code is not None:
        profile["commune_code"] = str(commune_code)
        province = admin_units.commune_province(commune_code)
        if province is not None:
            profile["province_code"] = str(province)
    await store.ensure_person(person, profile)
    return person


async def people(store: EpiStore, person_ids: list[str]) -> dict[str, PersonView]:
    """Many profiles in one round trip."""
    profiles = await store.persons(person_ids)
    return {p: PersonView.of(p, profiles[p]) for p in person_ids}
