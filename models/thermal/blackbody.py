"""Blackbody reference: a patch in the scene held at a known set-point (35–37 °C is
best, per FDA's research on screening thermographs). The camera's offset drifts with
its own temperature; every frame we read the patch, and the difference from the
set-point, smoothed over time, is added back to the whole frame.

Alarms, because a screen that silently loses its reference reads wrong for hours:
- `lost`: the patch reads far from the set-point or is not uniform (someone stands in
  front of it, the heater failed, the camera moved) — that frame gives no correction,
  and after `grace_s` without a good frame readings are refused;
- `drifting`: the correction itself grew beyond `max_correction_c`; the camera needs
  service even though readings are still corrected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class ReferenceState(StrEnum):
    OK = "ok"
    DRIFTING = "drifting"
    LOST = "lost"
    NONE = "none"  # never seen yet


@dataclass(frozen=True)
class BlackbodyConfig:
    roi: tuple[int, int, int, int]  # x, y, width, height in thermal pixels
    set_point_c: float = 35.0
    time_constant_s: float = 20.0  # smoothing of the correction; drift is minutes-slow
    max_correction_c: float = 1.0
    lost_beyond_c: float = 3.0  # a raw reading this far off is not the blackbody
    max_spread_c: float = 0.5  # interquartile range of the patch
    grace_s: float = 10.0


@dataclass(frozen=True)
class Correction:
    offset_c: float  # add to the frame's °C
    state: ReferenceState
    usable: bool  # False: readings must be refused
    measured_c: float | None


@dataclass
class BlackbodyReference:
    config: BlackbodyConfig
    _offset: float | None = None
    _last_good_s: float | None = None
    _last_s: float | None = field(default=None, repr=False)

    def update(self, frame_c: np.ndarray, t_s: float) -> Correction:
        x, y, w, h = self.config.roi
        # Read only the patch's inner part: its edges are blurred with the background.
        mx, my = max(w // 4, 0), max(h // 4, 0)
        patch = frame_c[y + my : y + h - my, x + mx : x + w - mx]
        measured: float | None = None
        good = False
        if patch.size:
            q1, med, q3 = np.percentile(patch, [25, 50, 75])
            measured = float(med)
            good = (
                abs(measured - self.config.set_point_c) <= self.config.lost_beyond_c
                and q3 - q1 <= self.config.max_spread_c
            )
        if good and measured is not None:
            target = self.config.set_point_c - measured
            if self._offset is None or self._last_s is None:
                self._offset = target
            else:
                alpha = 1 - math.exp(-max(t_s - self._last_s, 0.0) / self.config.time_constant_s)
                self._offset += alpha * (target - self._offset)
            self._last_good_s = t_s
            self._last_s = t_s
        fresh = self._last_good_s is not None and t_s - self._last_good_s <= self.config.grace_s
        if self._offset is None:
            state = ReferenceState.LOST if patch.size else ReferenceState.NONE
            return Correction(0.0, state, False, measured)
        if not good:
            state = ReferenceState.LOST
        elif abs(self._offset) > self.config.max_correction_c:
            state = ReferenceState.DRIFTING
        else:
            state = ReferenceState.OK
        return Correction(self._offset, state, fresh, measured)
