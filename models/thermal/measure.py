"""File in, numbers out: what `dichte thermal read/face` and `POST /thermal/measure`
both answer, so the two never disagree."""

from __future__ import annotations

from typing import Any

import numpy as np

from dichte.models.thermal.canthus import Point
from dichte.models.thermal.formats import Calibration, ThermalImage, read_thermal
from dichte.models.thermal.screening import DEFAULT_POLICY, ScreeningPolicy, screen_face


def frame_summary(img: ThermalImage) -> dict[str, Any]:
    c = img.celsius
    return {
        "width": int(c.shape[1]),
        "height": int(c.shape[0]),
        "min_c": round(float(c.min()), 3),
        "mean_c": round(float(c.mean()), 3),
        "max_c": round(float(c.max()), 3),
        "metadata": img.metadata,
    }


def eyes_from_face_box(box: tuple[float, float, float, float]) -> tuple[Point, Point]:
    """Eye centres at the usual proportions of a detector's face box (x, y, w, h): a
    fallback when only a box is known; landmarks are better."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise ValueError("face box width and height must be positive")
    return (x + 0.32 * w, y + 0.4 * h), (x + 0.68 * w, y + 0.4 * h)


def ambient_of(img: ThermalImage, given: float | None) -> tuple[float, str]:
    """The air temperature the skin→core model needs: the caller's (a roadside sensor),
    else the one the camera was set to, else the frame's median (a checkpoint scene is
    mostly background at ambient)."""
    if given is not None:
        return given, "given"
    params = img.metadata.get("object_params") or {}
    if "atmospheric_c" in params:
        return float(params["atmospheric_c"]), "camera"
    return float(np.median(img.celsius)), "frame_median"


def measure(
    data: bytes,
    *,
    name: str = "",
    eyes: tuple[Point, Point] | None = None,
    face_box: tuple[float, float, float, float] | None = None,
    nose: Point | None = None,
    ambient_c: float | None = None,
    frame: int = 0,
    calibration: Calibration | None = None,
    policy: ScreeningPolicy = DEFAULT_POLICY,
    keep_celsius: bool = False,
) -> dict[str, Any]:
    """Decode, summarise and, given eyes or a face box, screen the face. With
    `keep_celsius` the float32 °C map comes back too, under "celsius"."""
    img = read_thermal(data, name=name, calibration=calibration, frame=frame)
    out = frame_summary(img)
    if keep_celsius:
        out["celsius"] = img.celsius.astype(np.float32)
    if eyes is None and face_box is not None:
        eyes = eyes_from_face_box(face_box)
    if eyes is not None:
        ambient, source = ambient_of(img, ambient_c)
        screening = screen_face(
            img.celsius, eyes[0], eyes[1], nose=nose, ambient_c=ambient, policy=policy
        )
        out.update(screening.as_dict())
        out["ambient_source"] = source
    return out
