"""Record events: what the outbox carries for every record written, which units each
concerns (the routing rule, one function per kind of record), and the form it leaves
the province in (CloudEvents 1.0, with identity fields kept, pseudonymised or left out).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from dichte.domain.jurisdictions import Jurisdictions

CLOUDEVENT_TYPE_PREFIX = "vn.dichte."


class EventType(StrEnum):
    DECLARATION_CREATED = "declaration.created"
    CHECKIN_CREATED = "checkin.created"
    CASE_CREATED = "case.created"
    CASE_UPDATED = "case.updated"
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    QUARANTINE_CREATED = "quarantine_order.created"
    QUARANTINE_UPDATED = "quarantine_order.updated"
    SCREENING_CREATED = "screening.created"
    VENUE_CREATED = "venue.created"
    VENUE_UPDATED = "venue.updated"
    INSPECTION_CREATED = "inspection.created"
    FLAG_CREATED = "flag.created"
    FLAG_UPDATED = "flag.updated"

    @property
    def kind(self) -> str:
        """The kind of record: declaration, checkin, case, contact, … (the work list)."""
        return self.value.split(".", 1)[0]


@dataclass(frozen=True)
class RecordEvent:
    """One outbox entry as written: `subject` is the record's id; `data` is carried
    inline only for screening events (kept in their checkpoint's stream, not under a
    key); a check-in's record is its subject; the others are read from the store when
    delivered."""

    type: EventType
    subject: str
    units: tuple[str, ...]
    data: str = ""  # JSON

    def fields(self) -> dict[str, str]:
        out = {"type": self.type.value, "subject": self.subject, "units": " ".join(self.units)}
        if self.data:
            out["data"] = self.data
        return out

    @classmethod
    def of_fields(cls, fields: dict[str, str]) -> RecordEvent:
        return cls(
            EventType(fields["type"]),
            fields["subject"],
            tuple(fields.get("units", "").split()),
            fields.get("data", ""),
        )


def stream_time(entry_id: str) -> datetime:
    """When an entry was appended: a Redis stream id starts with the time in ms."""
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, UTC)


# --- routing: the units each kind of record concerns ------------------------------


def declaration_units(
    j: Jurisdictions,
    residence_commune: int,
    destination_province: int | None,
    checkpoint_commune: int | None = None,
) -> tuple[str, ...]:
    """Where the person lives (commune, its centre, its province), the checkpoint's
    commune when declared at one (its centre, its province), and the province they are
    travelling to."""
    return j.units_of([residence_commune, checkpoint_commune], provinces=[destination_province])


def place_units(j: Jurisdictions, commune_code: int | None) -> tuple[str, ...]:
    """A check-in (the venue's commune), a venue, a screening event (the checkpoint's)."""
    return j.units_of([commune_code])


def person_units(
    j: Jurisdictions, commune_code: int | None, also: int | None = None
) -> tuple[str, ...]:
    """A case or quarantine order (where the person lives), a contact (where the contact
    lives, and `also` where their case lives: both stations follow them up)."""
    return j.units_of([commune_code, also])


# --- what leaves the province ------------------------------------------------------


class Minimisation(StrEnum):
    FULL = "full"  # records as stored
    PSEUDONYMISED = "pseudonymised"  # identity fields replaced by a keyed hash
    AGGREGATES = "aggregates"  # no record content: kind, units and day, to count


# Identity fields, wherever they appear in a record: replaced by a keyed hash (the same
# person gets the same pseudonym in every event, so the IOC can still link records).
IDENTITY_FIELDS = frozenset(
    {
        "full_name",
        "document_number",
        "phone",
        "owner_phone",
        "person_id",
        "document_hash",
        "with_person",
        "street",
        "plate",
        "detail",
        "receipt_sha256",
        "face_crop",
        "face_person_id",
    }
)


@functools.lru_cache(maxsize=1 << 16)  # people recur across events: one HMAC each
def pseudonym(key: bytes, value: str) -> str:
    return "ps_" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:24]


def pseudonymised(value: Any, key: bytes) -> Any:
    """The record with every identity field hashed and dates of birth cut to the year.
    (Records come from JSON: containers are dicts and lists; `type` checks are the
    fast path, as every event leaving for the IOC passes here.)"""
    kind = type(value)
    if kind is list:
        return [pseudonymised(v, key) if type(v) in _CONTAINERS else v for v in value]
    if kind is not dict:
        return value
    out = {}
    for name, v in value.items():
        if name in IDENTITY_FIELDS and type(v) is str and v:
            out[name] = pseudonym(key, v)
        elif type(v) in _CONTAINERS:  # only containers are walked: scalars stay
            out[name] = pseudonymised(v, key)
        elif name == "date_of_birth" and type(v) is str:
            out["birth_year"] = v[:4]
        else:
            out[name] = v
    return out


_CONTAINERS = (dict, list)


def outgoing_data(
    event: RecordEvent, record: dict[str, Any] | None, policy: Minimisation, key: bytes
) -> dict[str, Any] | None:
    """The `data` of the CloudEvent for this record under the policy."""
    if policy is Minimisation.AGGREGATES:
        return {"kind": event.type.kind, "units": list(event.units)}
    if record is None:  # deleted (retention) before it could be delivered
        return None
    if policy is Minimisation.PSEUDONYMISED:
        hashed: dict[str, Any] = pseudonymised(record, key)
        return hashed
    return record


def cloudevent_attributes(
    entry_id: str, event: RecordEvent, source: str, policy: Minimisation, key: bytes
) -> dict[str, Any]:
    """The CloudEvents 1.0 attributes of one outbox entry. `id` is the entry's id, so a
    redelivery carries the same one; `subject` the record's id (a check-in's id names
    the person: pseudonymised unless full records leave)."""
    subject = event.subject
    if policy is not Minimisation.FULL and event.type.kind == "checkin":
        subject = pseudonym(key, subject)
    return {
        "specversion": "1.0",
        "id": entry_id,
        "source": source,
        "type": CLOUDEVENT_TYPE_PREFIX + event.type.value,
        "subject": subject,
        "time": stream_time(entry_id),
        "datacontenttype": "application/json",
    }


def checkin_record(subject: str) -> dict[str, Any] | None:
    """A check-in's record, from its subject `venue|person|unix seconds` (a check-in
    has no record of its own: it is an entry in two time indexes)."""
    venue, _, rest = subject.partition("|")
    person, _, at = rest.rpartition("|")
    if not venue or not person or not at.isdigit():
        return None
    return {
        "venue_id": venue,
        "person_id": person,
        "at": datetime.fromtimestamp(int(at), UTC).isoformat(),
    }
