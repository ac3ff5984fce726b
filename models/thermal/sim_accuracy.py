"""Accuracy of the thermal screen on simulator output, where the truth is known:
landmarks from the visible camera (with detector jitter) mapped into the thermal frame,
the blackbody correction (or none), canthus → core → one decision per person."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from dichte.models.thermal.blackbody import BlackbodyConfig, BlackbodyReference
from dichte.models.thermal.canthus import to_thermal
from dichte.models.thermal.core_model import default_core_model
from dichte.models.thermal.screening import (
    Decision,
    Screening,
    ScreeningPolicy,
    screen_face,
    screen_person,
)
from dichte.models.thermal.simulator import CheckpointSimulator, SimConfig


@dataclass(frozen=True)
class SimAccuracy:
    people: int
    frames: int
    frames_measured: int
    canthus_mae_c: float  # per measured frame, against the simulated canthus
    canthus_max_error_c: float
    person_canthus_mae_c: float
    core_mae_c: float  # per screened person, against the simulated core
    febrile: int
    sensitivity: float
    specificity: float
    invalid_people: int
    # Screened people whose decision is the one the true canthus would have given:
    # what the measurement chain (not physiology) is responsible for.
    agreement_with_true_canthus: float
    refusals: dict[str, int]  # frames refused, by reason


def simulate_and_screen(
    config: SimConfig, *, use_blackbody: bool = True, landmark_jitter_px: float = 0.7
) -> SimAccuracy:
    sim = CheckpointSimulator(config)
    jitter = np.random.default_rng(config.seed + 1)
    reference = (
        BlackbodyReference(
            BlackbodyConfig(roi=config.blackbody_roi, set_point_c=config.blackbody_set_point_c)
        )
        if use_blackbody and config.blackbody
        else None
    )
    hmat = config.homography()
    model = default_core_model()
    policy = ScreeningPolicy()
    per_person: dict[str, list[Screening]] = {}
    errors: list[float] = []
    refusals: Counter[str] = Counter()
    for f in sim.frames():
        seen = f.person.frames[-1]
        x1, y1, x2, y2 = (v + jitter.normal(0, landmark_jitter_px) for v in seen.eyes)
        nx, ny = seen.nose
        eye_a, eye_b, nose = to_thermal(hmat, [(x1, y1), (x2, y2), (nx, ny)])
        correction = reference.update(f.thermal_c, f.t_s) if reference else None
        s = screen_face(
            f.thermal_c, eye_a, eye_b, nose=nose, ambient_c=config.ambient_c, reference=correction
        )
        per_person.setdefault(f.person.id, []).append(s)
        if s.canthus_c is None:
            refusals[s.reason or "?"] += 1
        else:
            errors.append(s.canthus_c - f.person.canthus_c)
    truth = {p.id: p for p in sim.people}
    decided = {pid: screen_person(frames) for pid, frames in per_person.items()}
    valid = {pid: s for pid, s in decided.items() if s.decision is not Decision.INVALID}
    fever = [pid for pid in valid if truth[pid].fever]
    well = [pid for pid in valid if not truth[pid].fever]

    def ideal(pid: str) -> Decision:
        return policy.decide(model.estimate(truth[pid].canthus_c, config.ambient_c).core_c)

    agree = sum(s.decision is ideal(pid) for pid, s in valid.items()) / max(len(valid), 1)
    err = np.abs(np.array(errors)) if errors else np.array([np.nan])
    return SimAccuracy(
        people=len(truth),
        frames=sum(len(v) for v in per_person.values()),
        frames_measured=len(errors),
        canthus_mae_c=float(err.mean()),
        canthus_max_error_c=float(err.max()),
        person_canthus_mae_c=float(
            np.mean([abs(s.canthus_c - truth[pid].canthus_c) for pid, s in valid.items()])  # type: ignore[operator]
        ),
        core_mae_c=float(np.mean([abs(s.core_c - truth[pid].core_c) for pid, s in valid.items()])),  # type: ignore[operator]
        febrile=len(fever),
        sensitivity=sum(valid[p].decision is Decision.ELEVATED for p in fever) / max(len(fever), 1),
        specificity=sum(valid[p].decision is Decision.NORMAL for p in well) / max(len(well), 1),
        invalid_people=len(decided) - len(valid),
        agreement_with_true_canthus=agree,
        refusals=dict(refusals),
    )
