"""How long personal records are kept. Each kind is deleted this long after its time
(the periods are settings); the running system applies this on a schedule."""

from __future__ import annotations

from dataclasses import dataclass

from dichte.domain.settings import Settings

DAY_S = 86_400


@dataclass(frozen=True)
class Cutoffs:
    """Unix times: a record of each kind from before its cutoff is deleted."""

    checkins: int  # check-ins, check-outs, checkpoint passages: when they happened
    declarations: int  # declarations (and their IOC outbox entries): when submitted
    cases: int  # cases, their contacts and follow-ups: when opened
    quarantine_orders: int  # when the order ended


def cutoffs(settings: Settings, now: int) -> Cutoffs:
    case_cutoff = now - settings.case_retention_days * DAY_S
    return Cutoffs(
        checkins=now - settings.checkin_retention_days * DAY_S,
        declarations=now - settings.declaration_retention_days * DAY_S,
        cases=case_cutoff,
        quarantine_orders=case_cutoff,
    )
