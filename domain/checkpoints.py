"""Road checkpoints and their cameras, as configuration: what ops write in
`cluster/checkpoints.yaml` and staff change at run time through the API.

A checkpoint has lanes; each lane has a visible camera and, where present, a
radiometric thermal camera paired to it with the homography that maps visible pixels
to thermal pixels, an optional blackbody patch in the thermal frame, and an optional
near-infrared iris camera (the person at the window looks into it).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated
from urllib.parse import parse_qs, urlparse

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dichte.domain import admin_units
from dichte.domain.errors import FieldError

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
SOURCE_SCHEMES = ("rtsp", "rtsps", "http", "https", "file", "sim")


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraKind(StrEnum):
    VISIBLE = "visible"
    THERMAL = "thermal"
    IRIS = "iris"


class Blackbody(Frozen):
    roi: tuple[int, int, int, int] = Field(description="x, y, width, height in thermal pixels")
    set_point_c: float = Field(35.0, ge=20.0, le=50.0)


class CameraConfig(Frozen):
    id: Slug
    kind: CameraKind
    lane: int = Field(ge=1, le=20)
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = Field(
        description="rtsp://, http(s):// (MJPEG), file:// (a video, or a folder of frames "
        "read in name order), or sim://?seed=N (the simulator)"
    )
    rate_fps: float = Field(5.0, gt=0.0, le=30.0, description="Frames read per second")
    pair_of: Slug | None = Field(None, description="A thermal camera names its visible camera")
    homography: list[list[float]] | None = Field(
        None, description="3×3, visible → thermal pixels (thermal cameras)"
    )
    blackbody: Blackbody | None = None


class CheckpointConfig(Frozen):
    id: Slug
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120)]
    commune_code: int
    lanes: int = Field(1, ge=1, le=20)
    cameras: list[CameraConfig] = Field(default_factory=list, max_length=64)

    def province_code(self) -> int | None:
        return admin_units.commune_province(self.commune_code)

    def visible_cameras(self) -> list[CameraConfig]:
        return [c for c in self.cameras if c.kind is CameraKind.VISIBLE]

    def iris_of(self, lane: int) -> CameraConfig | None:
        """The lane's iris camera, if any."""
        return next((c for c in self.cameras if c.kind is CameraKind.IRIS and c.lane == lane), None)

    def thermal_of(self, visible_id: str) -> CameraConfig | None:
        """The thermal camera paired with a visible one, if any."""
        return next(
            (c for c in self.cameras if c.kind is CameraKind.THERMAL and c.pair_of == visible_id),
            None,
        )


def _source_problem(source: str) -> str | None:
    try:
        url = urlparse(source)
        url.port  # noqa: B018 (parsed here: out of range or not a number raises)
    except ValueError as e:
        return str(e)
    if url.scheme not in SOURCE_SCHEMES:
        return f"scheme {url.scheme or '(none)'}"
    if url.scheme == "sim":
        try:
            params = {k: int(v[-1]) for k, v in parse_qs(url.query).items()}
        except ValueError:
            return "sim parameters are whole numbers"
        if set(params) - {"seed", "people"}:
            return "sim takes seed and people"
    elif url.scheme == "file" and not url.path:
        return "file:// needs a path"
    elif url.scheme != "file" and not url.netloc:
        return "no host"
    return None


def check_checkpoint(c: CheckpointConfig) -> list[FieldError]:
    """The rules a checkpoint's configuration keeps; every problem at once."""
    errors: list[FieldError] = []
    if admin_units.commune_province(c.commune_code) is None:
        errors.append(FieldError.of("commune_code", "commune_unknown"))
    ids = [cam.id for cam in c.cameras]
    by_id = {cam.id: cam for cam in c.cameras}
    for i, cam in enumerate(c.cameras):
        at = f"cameras.{i}"
        if ids.count(cam.id) > 1:
            errors.append(FieldError.of(f"{at}.id", "camera_id_taken"))
        if cam.lane > c.lanes:
            errors.append(FieldError.of(f"{at}.lane", "lane_unknown", lanes=c.lanes))
        problem = _source_problem(cam.source)
        if problem:
            errors.append(FieldError.of(f"{at}.source", "source_invalid", detail=problem))
        if cam.kind is CameraKind.THERMAL:
            partner = by_id.get(cam.pair_of or "")
            if partner is None or partner.kind is not CameraKind.VISIBLE:
                errors.append(FieldError.of(f"{at}.pair_of", "pair_unknown"))
            elif partner.lane != cam.lane:
                errors.append(FieldError.of(f"{at}.pair_of", "pair_other_lane"))
            if not _usable_homography(cam.homography):
                errors.append(FieldError.of(f"{at}.homography", "homography_invalid"))
        elif cam.pair_of or cam.homography or cam.blackbody:
            errors.append(FieldError.of(f"{at}.kind", "thermal_fields_on_other_camera"))
    for lane in range(1, c.lanes + 1):
        visible = [cam for cam in c.visible_cameras() if cam.lane == lane]
        if len(visible) > 1:
            errors.append(FieldError.of("cameras", "one_visible_camera_per_lane", lane=lane))
        irises = [cam for cam in c.cameras if cam.kind is CameraKind.IRIS and cam.lane == lane]
        if len(irises) > 1:
            errors.append(FieldError.of("cameras", "one_iris_camera_per_lane", lane=lane))
    return errors


def _usable_homography(h: list[list[float]] | None) -> bool:
    if h is None or len(h) != 3 or any(len(row) != 3 for row in h):
        return False
    m = np.asarray(h, dtype=np.float64)
    return (
        m.shape == (3, 3)
        and bool(np.isfinite(m).all())
        and abs(float(np.linalg.det(m))) > 1e-9
        and abs(float(m[2, 2])) > 1e-12
    )


def stream_key(checkpoint: CheckpointConfig, visible_id: str) -> str:
    """What a lane's camera stream depends on (its cameras, thermal and iris included,
    and the checkpoint's id): a stream restarts when this changes, and only then."""
    visible = next(c for c in checkpoint.cameras if c.id == visible_id)
    paired = (checkpoint.thermal_of(visible_id), checkpoint.iris_of(visible.lane))
    material = "|".join(
        (
            checkpoint.id,
            visible.model_dump_json(),
            *(c.model_dump_json() if c else "" for c in paired),
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]
