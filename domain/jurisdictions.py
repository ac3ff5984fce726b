"""Which health units a record concerns, and which units a staff member answers for.

Three kinds of unit, named in URLs and feeds as `commune-<code>`, `centre-<code>` and
`province-<code>`: a commune health station, a regional health centre (the communes it
serves come from `cluster/health_centres.yaml`) and the provincial department. A record
is routed to the communes it concerns, their centres and their provinces, once, when it
is written; staff read a unit when their role covers it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dichte.domain import admin_units
from dichte.domain.errors import DomainError
from dichte.domain.tokens import Role, StaffClaims

COMMUNE, CENTRE, PROVINCE = "commune", "centre", "province"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Centre:
    code: int
    name: str
    province: int
    communes: tuple[int, ...]


@dataclass(frozen=True)
class Jurisdictions:
    centres: tuple[Centre, ...] = ()
    _by_commune: dict[int, Centre] = field(default_factory=dict, compare=False, repr=False)
    _by_code: dict[int, Centre] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, centres: Iterable[Centre]) -> Jurisdictions:
        """Checked: every commune known and in one centre's province, no commune twice."""
        listed = tuple(centres)
        by_commune: dict[int, Centre] = {}
        by_code: dict[int, Centre] = {}
        for c in listed:
            if c.code in by_code:
                raise ValueError(f"health centre {c.code} listed twice")
            by_code[c.code] = c
            for commune in c.communes:
                if admin_units.commune_province(commune) != c.province:
                    raise ValueError(f"commune {commune} of centre {c.code} is not in {c.province}")
                if commune in by_commune:
                    raise ValueError(f"commune {commune} is in two centres")
                by_commune[commune] = c
        return cls(listed, by_commune, by_code)

    @classmethod
    def load(cls, path: Path) -> Jurisdictions:
        if not path.exists():
            log.warning("no health centres: %s does not exist", path)
            return cls()
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.of(
            Centre(int(c["code"]), str(c["name"]), int(c["province"]), tuple(c["communes"]))
            for c in raw.get("centres", [])
        )

    def centre(self, code: int) -> Centre | None:
        return self._by_code.get(code)

    def centre_of(self, commune_code: int) -> Centre | None:
        return self._by_commune.get(commune_code)

    def units_of(
        self, communes: Iterable[int | None], provinces: Iterable[int | None] = ()
    ) -> tuple[str, ...]:
        """The units a record concerning these communes (and provinces) is routed to:
        each commune, its centre and its province, in a stable order, each once."""
        units: dict[str, None] = {}
        for commune in communes:
            if commune is None:
                continue
            province = admin_units.commune_province(commune)
            if province is None:
                continue
            units[f"{COMMUNE}-{commune}"] = None
            centre = self.centre_of(commune)
            if centre is not None:
                units[f"{CENTRE}-{centre.code}"] = None
            units[f"{PROVINCE}-{province}"] = None
        for province in provinces:
            if province is not None and admin_units.province(province) is not None:
                units[f"{PROVINCE}-{province}"] = None
        return tuple(units)

    def served_communes(self, staff: StaffClaims) -> tuple[int, ...]:
        """The communes a health-centre token serves: those it names, else its centre's."""
        if staff.communes:
            return staff.communes
        centre = self.centre(staff.unit)
        return centre.communes if centre else ()

    def may_read(self, staff: StaffClaims, unit: str, flags: bool = False) -> bool:
        """Commune staff read their commune; a centre its own unit and its communes; the
        province every unit in it; national staff every unit. The police read only the
        flags (`flags`) of their commune or province."""
        kind, code = parse_unit(unit)
        match staff.role:
            case Role.POLICE_COMMUNE:
                return flags and kind == COMMUNE and code == staff.unit
            case Role.POLICE_PROVINCE:
                return flags and self.province_of(unit) == staff.unit
            case Role.NATIONAL:
                return True
            case Role.PROVINCE:
                return self.province_of(unit) == staff.unit
            case Role.HEALTH_CENTRE:
                if kind == CENTRE:
                    return code == staff.unit
                return kind == COMMUNE and code in self.served_communes(staff)
            case Role.COMMUNE:
                return kind == COMMUNE and code == staff.unit
        return False

    def province_of(self, unit: str) -> int | None:
        kind, code = parse_unit(unit)
        if kind == PROVINCE:
            return code
        if kind == COMMUNE:
            return admin_units.commune_province(code)
        centre = self.centre(code)
        return centre.province if centre else None

    def exists(self, unit: str) -> bool:
        kind, code = parse_unit(unit)
        if kind == CENTRE:
            return self.centre(code) is not None
        if kind == PROVINCE:
            return admin_units.province(code) is not None
        return admin_units.commune_province(code) is not None

    def home_unit(self, staff: StaffClaims) -> str | None:
        """The unit a staff member's lists default to (national staff name one)."""
        match staff.role:
            case Role.COMMUNE | Role.POLICE_COMMUNE:
                return f"{COMMUNE}-{staff.unit}"
            case Role.HEALTH_CENTRE:
                return f"{CENTRE}-{staff.unit}"
            case Role.PROVINCE | Role.POLICE_PROVINCE:
                return f"{PROVINCE}-{staff.unit}"
        return None


def parse_unit(unit: str) -> tuple[str, int]:
    """("commune", 19363) from "commune-19363"; DomainError for anything else."""
    kind, _, code = unit.partition("-")
    if kind not in (COMMUNE, CENTRE, PROVINCE) or not code.isdigit() or len(code) > 9:
        raise DomainError.of("unit", "unit_unknown", unit=unit[:40])
    return kind, int(code)


def unit_readable(
    jurisdictions: Jurisdictions, staff: StaffClaims, unit: str, flags: bool = False
) -> str:
    """The unit, checked: 404 when there is no such unit, 403 when not the caller's."""
    if not jurisdictions.exists(unit):
        raise DomainError.of("unit", "unit_unknown", unit=unit[:40])
    if not jurisdictions.may_read(staff, unit, flags):
        raise DomainError.of("unit", "forbidden")
    return unit
