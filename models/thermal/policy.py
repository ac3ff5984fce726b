"""The screening decision, in one place: `elevated` when the core estimate reaches the
fever threshold less a margin. The API, the checkpoint and the command line build the
policy from the same settings (DICHTE_FEVER_THRESHOLD_C, DICHTE_FEVER_SCREEN_MARGIN_C)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np

Temperature = TypeVar("Temperature", float, np.ndarray)


class Decision(StrEnum):
    NORMAL = "normal"
    ELEVATED = "elevated"
    INVALID = "invalid"


@dataclass(frozen=True)
class ScreeningPolicy:
    fever_threshold_c: float = 37.5  # Vietnamese Ministry of Health practice
    margin_c: float = 0.3
    # One standard deviation of the camera's absolute error: ~0.25 °C for a camera
    # alone (vendors claim ±0.5 °C), ~0.1 °C when a blackbody corrects each frame.
    camera_sd_c: float = 0.25
    referenced_camera_sd_c: float = 0.1

    def elevated(self, core_c: Temperature) -> Temperature:
        """Whether a core estimate (or an array of them) is flagged for a clinical
        thermometer: a screen leans towards catching fevers."""
        return core_c >= self.fever_threshold_c - self.margin_c

    def decide(self, core_c: float) -> Decision:
        return Decision.ELEVATED if self.elevated(core_c) else Decision.NORMAL


DEFAULT_POLICY = ScreeningPolicy()
