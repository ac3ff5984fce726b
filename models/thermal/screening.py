"""One face, one decision: canthus reading → core estimate → normal / elevated / invalid.

`elevated` is a screen, not a diagnosis: the person is sent to a clinical thermometer.
So the line sits `margin_c` below the fever threshold: on held-out FDA volunteers a
0.3 °C margin catches ~90 % of oral ≥ 37.5 °C at ~89 % specificity, where the bare
threshold catches ~68 % (see README). Both numbers are settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dichte.models.thermal.blackbody import Correction
from dichte.models.thermal.canthus import DEFAULT_LIMITS, CanthusLimits, Point, read_canthus
from dichte.models.thermal.core_model import CoreModel, default_core_model
from dichte.models.thermal.policy import DEFAULT_POLICY, Decision, ScreeningPolicy

__all__ = ["DEFAULT_POLICY", "Decision", "Screening", "ScreeningPolicy", "screen_face"]


@dataclass(frozen=True)
class Screening:
    decision: Decision
    canthus_c: float | None
    core_c: float | None
    uncertainty_c: float | None
    reason: str | None  # why invalid; None otherwise
    detail: str = ""
    ambient_c: float | None = None

    def as_dict(self) -> dict[str, object]:
        r = lambda v: None if v is None else round(v, 3)  # noqa: E731
        return {
            "canthus_c": r(self.canthus_c),
            "core_c": r(self.core_c),
            "uncertainty_c": r(self.uncertainty_c),
            "decision": self.decision.value,
            "reason": self.reason,
            "detail": self.detail,
            "ambient_c": r(self.ambient_c),
        }


def screen_face(
    frame_c: np.ndarray,
    eye_a: Point,
    eye_b: Point,
    *,
    ambient_c: float,
    nose: Point | None = None,
    reference: Correction | None = None,
    policy: ScreeningPolicy = DEFAULT_POLICY,
    model: CoreModel | None = None,
    limits: CanthusLimits = DEFAULT_LIMITS,
) -> Screening:
    model = model or default_core_model()
    if reference is not None and not reference.usable:
        return Screening(
            Decision.INVALID,
            None,
            None,
            None,
            "reference_lost",
            f"blackbody reference {reference.state.value}",
            ambient_c,
        )
    reading = read_canthus(frame_c, eye_a, eye_b, nose, limits)
    if reading.canthus_c is None:
        return Screening(
            Decision.INVALID, None, None, None, reading.refused, reading.detail, ambient_c
        )
    canthus = reading.canthus_c + (reference.offset_c if reference else 0.0)
    camera_sd = policy.referenced_camera_sd_c if reference else policy.camera_sd_c
    est = model.estimate(canthus, ambient_c, camera_sd)
    return Screening(
        policy.decide(est.core_c),
        canthus,
        est.core_c,
        est.uncertainty_c,
        None,
        "ambient or canthus outside the fitted range" if est.extrapolated else "",
        ambient_c,
    )


def screen_person(frames: list[Screening], policy: ScreeningPolicy = DEFAULT_POLICY) -> Screening:
    """One decision per person from the frames they were seen in: the median of the
    valid frames (one noisy or half-occluded frame cannot decide), invalid if none was."""
    valid = [s for s in frames if s.core_c is not None and s.canthus_c is not None]
    if not valid:
        reasons = sorted({s.reason or "" for s in frames} - {""})
        return Screening(
            Decision.INVALID,
            None,
            None,
            None,
            reasons[0] if reasons else "no_face",
            ", ".join(reasons),
        )
    core = float(np.median([s.core_c for s in valid]))
    canthus = float(np.median([s.canthus_c for s in valid]))
    sd = float(np.median([s.uncertainty_c for s in valid]))
    return Screening(
        policy.decide(core),
        canthus,
        core,
        sd,
        None,
        f"{len(valid)} of {len(frames)} frames usable",
        valid[0].ambient_c,
    )
