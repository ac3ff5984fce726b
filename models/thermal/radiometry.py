"""Raw sensor counts ↔ °C for radiometric (FLIR-style) cameras.

A numpy port of Thermimage's `raw2temp`/`temp2raw` (gtatters/Thermimage, R/raw2temp.R):
Planck's law with the camera's factory constants, corrected for emissivity, reflected
radiation, atmospheric transmission (Minkina & Dudzik) and an external IR window that
sits half-way between object and camera. The order of the terms follows the R source
so that results agree with the published maps to float rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

KELVIN = 273.15


def _finite(obj: object) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if not math.isfinite(value):
            raise ValueError(f"{type(obj).__name__}.{f.name} must be a finite number, got {value}")


@dataclass(frozen=True)
class Planck:
    """Factory calibration of one camera (defaults: the FLIR SC660 Thermimage ships)."""

    r1: float = 21106.77
    r2: float = 0.012545258
    b: float = 1501.0
    f: float = 1.0
    o: float = -7340.0
    # atmospheric transmission constants (same in every FLIR file seen so far)
    alpha1: float = 0.006569
    alpha2: float = 0.01262
    beta1: float = -0.002276
    beta2: float = -0.00667
    x: float = 1.9

    def __post_init__(self) -> None:
        _finite(self)
        if self.r1 <= 0 or self.r2 <= 0 or self.b <= 0:
            raise ValueError(f"Planck R1, R2 and B must be > 0, got {self.r1}, {self.r2}, {self.b}")


@dataclass(frozen=True)
class ObjectParams:
    """Scene conditions at capture; Thermimage's defaults (callers pick skin emissivity)."""

    emissivity: float = 1.0
    distance_m: float = 1.0
    reflected_c: float = 20.0
    atmospheric_c: float = 20.0
    window_c: float = 20.0
    window_transmission: float = 1.0
    humidity_pct: float = 50.0

    def __post_init__(self) -> None:
        _finite(self)
        if not 0 < self.emissivity <= 1:
            raise ValueError(f"emissivity must be in (0, 1], got {self.emissivity}")
        if not 0 < self.window_transmission <= 1:
            raise ValueError(
                f"window_transmission must be in (0, 1], got {self.window_transmission}"
            )
        if not 0 <= self.humidity_pct <= 100:
            raise ValueError(f"humidity_pct must be in [0, 100], got {self.humidity_pct}")
        if self.distance_m < 0:
            raise ValueError(f"distance_m must be >= 0, got {self.distance_m}")
        for name in ("reflected_c", "atmospheric_c", "window_c"):
            if getattr(self, name) <= -KELVIN:
                raise ValueError(f"{name} must be above absolute zero, got {getattr(self, name)}")


def _blackbody_raw(t_c: float, p: Planck) -> float:
    """Raw counts a blackbody at t_c °C produces (Planck's law in camera units)."""
    return p.r1 / (p.r2 * (math.exp(p.b / (t_c + KELVIN)) - p.f)) - p.o


def _path_terms(p: Planck, obj: ObjectParams) -> tuple[float, float]:
    """(gain, offset) with raw = (raw_obj + offset) * gain, i.e. raw2temp's scene model."""
    e, irt, t_atm = obj.emissivity, obj.window_transmission, obj.atmospheric_c
    emiss_wind = 1 - irt
    refl_wind = 0.0  # anti-reflective coating on the window (as Thermimage assumes)
    # water vapour from relative humidity and air temperature
    h2o = (obj.humidity_pct / 100) * math.exp(
        1.5587 + 0.06939 * t_atm - 0.00027816 * t_atm**2 + 0.00000068455 * t_atm**3
    )
    # window at mid-distance: each half of the path attenuates with sqrt(OD/2)
    s = math.sqrt(obj.distance_m / 2)
    tau = p.x * math.exp(-s * (p.alpha1 + p.beta1 * math.sqrt(h2o))) + (1 - p.x) * math.exp(
        -s * (p.alpha2 + p.beta2 * math.sqrt(h2o))
    )
    tau1 = tau2 = tau
    raw_refl = _blackbody_raw(obj.reflected_c, p)
    raw_atm = _blackbody_raw(t_atm, p)
    raw_wind = _blackbody_raw(obj.window_c, p)
    refl1 = (1 - e) / e * raw_refl
    atm1 = (1 - tau1) / e / tau1 * raw_atm
    wind = emiss_wind / e / tau1 / irt * raw_wind
    refl2 = refl_wind / e / tau1 / irt * raw_refl
    atm2 = (1 - tau2) / e / tau1 / irt / tau2 * raw_atm
    return e * tau1 * irt * tau2, atm1 + atm2 + wind + refl1 + refl2


def _to_celsius(raw: np.ndarray, p: Planck, obj: ObjectParams) -> np.ndarray:
    gain, offset = _path_terms(p, obj)
    raw_obj = raw / gain - offset
    # counts below the camera's offset have no temperature: NaN, not a warning
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(p.b / np.log(p.r1 / (p.r2 * (raw_obj + p.o)) + p.f) - KELVIN)


@lru_cache(maxsize=32)
def _lookup(p: Planck, obj: ObjectParams) -> np.ndarray:
    # Every uint16 count once (Thermimage's own `templookup` trick): a frame is then
    # one gather instead of a log per pixel.
    lut = _to_celsius(np.arange(65536, dtype=np.float64), p, obj).astype(np.float32)
    lut.flags.writeable = False
    return lut


def raw_to_celsius(
    raw: np.ndarray | float, planck: Planck | None = None, obj: ObjectParams | None = None
) -> np.ndarray:
    """Thermimage `raw2temp`. Arrays give float32 (uint16 via a cached lookup table);
    a scalar gives a 0-d float64 array. Counts with no physical temperature give NaN."""
    p, o = planck or Planck(), obj or ObjectParams()
    a = np.asarray(raw)
    if a.ndim == 0:
        return _to_celsius(a.astype(np.float64), p, o)
    if a.dtype == np.uint16:
        return _lookup(p, o)[a]
    return _to_celsius(a.astype(np.float64), p, o).astype(np.float32)


def celsius_to_raw(
    celsius: np.ndarray | float, planck: Planck | None = None, obj: ObjectParams | None = None
) -> np.ndarray:
    """Thermimage `temp2raw` (float64 counts; the caller rounds/clips to uint16)."""
    p, o = planck or Planck(), obj or ObjectParams()
    t = np.asarray(celsius, dtype=np.float64)
    gain, offset = _path_terms(p, o)
    with np.errstate(over="ignore"):
        raw_obj = p.r1 / (p.r2 * (np.exp(p.b / (t + KELVIN)) - p.f)) - p.o
    return np.asarray((raw_obj + offset) * gain)
