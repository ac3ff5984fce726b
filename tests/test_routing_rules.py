"""Which units a record goes to, who may read a unit, and what leaves for the IOC."""

from __future__ import annotations

from pathlib import Path

import pytest

from dichte.domain import admin_units
from dichte.domain.errors import DomainError
from dichte.domain.events import (
    EventType,
    Minimisation,
    RecordEvent,
    cloudevent_attributes,
    declaration_units,
    outgoing_data,
    person_units,
    pseudonymised,
)
from dichte.domain.jurisdictions import Centre, Jurisdictions, parse_unit
from dichte.domain.tokens import Role, StaffClaims

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = Jurisdictions.load(ROOT / "cluster" / "health_centres.yaml")
VINH_LINH, CUA_TUNG, HAI_LANG, DONG_HOI = 19363, 19414, 19702, 18880
QUANG_TRI_CODE = 44
HANOI_BA_DINH = next(u.code for u in admin_units.communes_of(1))


def staff(role: Role, unit: int, communes: tuple[int, ...] = ()) -> StaffClaims:
    return StaffClaims(role, unit, "t", 0, 2**31, communes)


def test_the_shipped_mapping_gives_every_commune_of_quang_tri_one_centre() -> None:
    communes = {u.code for u in admin_units.communes_of(44)}
    listed = [c for centre in SHIPPED.centres for c in centre.communes]
    assert len(listed) == len(set(listed)) == len(communes) == 78
    assert set(listed) == communes


def test_a_record_goes_to_its_commune_centre_and_province_and_the_destination() -> None:
    assert declaration_units(SHIPPED, VINH_LINH, 1) == (
        "commune-19363",
        "centre-464",
        "province-44",
        "province-1",
    )
    # Declared at the Vĩnh Linh checkpoint by a resident of Hải Lăng: both communes.
    assert declaration_units(SHIPPED, HAI_LANG, QUANG_TRI_CODE, VINH_LINH) == (
        "commune-19702",
        "centre-470",
        "province-44",
        "commune-19363",
        "centre-464",
    )
    # A contact living in Hải Lăng whose case lives in Vĩnh Linh: both stations.
    assert person_units(SHIPPED, HAI_LANG, VINH_LINH) == (
        "commune-19702",
        "centre-470",
        "province-44",
        "commune-19363",
        "centre-464",
    )
    # A commune in no centre (Hà Nội has no mapping here): commune and province only.
    assert person_units(SHIPPED, HANOI_BA_DINH) == (f"commune-{HANOI_BA_DINH}", "province-1")
    assert person_units(SHIPPED, None) == ()


@pytest.mark.parametrize(
    ("who", "readable", "not_readable"),
    [
        (staff(Role.COMMUNE, VINH_LINH), ["commune-19363"], ["commune-19414", "centre-464"]),
        (
            staff(Role.HEALTH_CENTRE, 464),
            ["centre-464", "commune-19363", "commune-19414"],
            ["commune-19702", "centre-470", "province-44"],
        ),
        (
            staff(Role.PROVINCE, 44),
            ["province-44", "centre-470", "commune-18880"],
            ["province-1", f"commune-{HANOI_BA_DINH}"],
        ),
        (staff(Role.NATIONAL, 0), ["province-1", "commune-19363"], []),
    ],
)
def test_staff_read_exactly_their_units(
    who: StaffClaims, readable: list[str], not_readable: list[str]
) -> None:
    assert all(SHIPPED.may_read(who, u) for u in readable)
    assert not any(SHIPPED.may_read(who, u) for u in not_readable)


def test_a_centre_token_naming_its_communes_is_held_to_them() -> None:
    named = staff(Role.HEALTH_CENTRE, 464, communes=(VINH_LINH,))
    assert SHIPPED.may_read(named, "commune-19363")
    assert not SHIPPED.may_read(named, "commune-19414")


@pytest.mark.parametrize("bad", ["19363", "commune-", "district-464", "commune-12a", "x" * 50])
def test_unit_names_are_checked(bad: str) -> None:
    with pytest.raises(DomainError) as e:
        parse_unit(bad)
    assert e.value.errors[0].code == "unit_unknown"


def test_a_mapping_that_puts_a_commune_twice_or_abroad_is_refused() -> None:
    with pytest.raises(ValueError, match="two centres"):
        Jurisdictions.of(
            [Centre(1, "a", 44, (VINH_LINH,)), Centre(2, "b", 44, (VINH_LINH, CUA_TUNG))]
        )
    with pytest.raises(ValueError, match="not in 44"):
        Jurisdictions.of([Centre(1, "a", 44, (HANOI_BA_DINH,))])


RECORD = {
    "id": "d" * 32,
    "declaration": {
        "full_name": "Nguyễn Văn An",
        "document_number": "045090001234",
        "phone": "0912345678",
        "date_of_birth": "1990-05-17",
        "residence": {"commune_code": VINH_LINH, "street": "12 Lê Lợi"},
        "symptoms": {"fever": True},
    },
}


def test_pseudonymised_records_keep_linkage_not_identity() -> None:
    out = pseudonymised(RECORD, b"key-1")
    text = str(out)
    for secret in ("Nguyễn Văn An", "045090001234", "0912345678", "12 Lê Lợi", "1990-05-17"):
        assert secret not in text
    d = out["declaration"]
    assert d["birth_year"] == "1990" and d["symptoms"] == {"fever": True}
    assert d["residence"]["commune_code"] == VINH_LINH
    # The same person, the same pseudonym; another key, another one.
    assert pseudonymised(RECORD, b"key-1") == out
    assert (
        pseudonymised(RECORD, b"key-2")["declaration"]["document_number"] != (d["document_number"])
    )


def test_what_leaves_under_each_policy() -> None:
    event = RecordEvent(EventType.DECLARATION_CREATED, "d" * 32, ("commune-19363", "province-44"))
    assert outgoing_data(event, RECORD, Minimisation.FULL, b"k") == RECORD
    assert outgoing_data(event, RECORD, Minimisation.AGGREGATES, b"k") == {
        "kind": "declaration",
        "units": ["commune-19363", "province-44"],
    }
    attrs = cloudevent_attributes("1764590400000-3", event, "urn:x", Minimisation.FULL, b"k")
    assert attrs["id"] == "1764590400000-3"
    assert attrs["type"] == "vn.dichte.declaration.created"
    assert attrs["time"].isoformat() == "2025-12-01T12:00:00+00:00"
