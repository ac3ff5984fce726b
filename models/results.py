"""What the models answer, as plain data (numpy only). A process that only receives
these (an API replica, from the inference deployments) loads none of the models'
libraries (ONNX Runtime, OpenCV, zxing-cpp) to read them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dichte.models.iris.code import IrisCode


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in the input image's pixels
    landmarks: np.ndarray  # (5, 2) float32: r eye, l eye, nose, r mouth, l mouth
    score: float


@dataclass(frozen=True)
class Quality:
    eye_distance_px: float
    sharpness: float  # variance of the Laplacian of the aligned grey crop
    roll_deg: float
    yaw: float  # nose offset from the eye midpoint along the eye line, in eye distances
    ok: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SeenFace:
    face: Face
    quality: Quality
    crop: np.ndarray  # aligned 112×112: what the quality was judged on and what is embedded


@dataclass(frozen=True)
class Sight:
    """What the detector saw in one photo: its size and every face, largest first."""

    width: int
    height: int
    faces: list[SeenFace]


@dataclass(frozen=True)
class QrCode:
    text: str
    # top-left, top-right, bottom-right, bottom-left of the symbol (as the code reads),
    # in pixels of the image given to decode_qr
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Frame:
    """One moment of a lane's cameras: the visible picture and, where the lane has them,
    the radiometric thermal frame in °C and the iris camera's eye image."""

    index: int
    at: float  # unix seconds
    visible: np.ndarray  # BGR uint8
    thermal_c: np.ndarray | None = None  # °C float32, same moment, thermal pixels
    iris: np.ndarray | None = None  # the lane's near-infrared iris camera, same moment


@dataclass(frozen=True)
class IrisQuality:
    iris_radius_px: float
    pupil_ratio: float
    usable: float  # fraction of the normalised iris that is texture
    focus: float
    centre_offset: float
    pupil_aspect: float  # minor / major axis of the pupil's ellipse (1 = round)
    ok: bool
    reasons: tuple[str, ...]  # IrisError codes, worst first


@dataclass(frozen=True)
class EncodedIris:
    pupil: tuple[float, float, float]  # centre x, y, radius in the image's pixels
    iris: tuple[float, float, float]
    quality: IrisQuality
    code: IrisCode


def quality_detail(q: IrisQuality) -> str:
    return (
        f"iris radius {q.iris_radius_px:.0f} px, pupil ratio {q.pupil_ratio:.2f}, "
        f"usable {q.usable:.0%}, focus {q.focus:.2f}, centre offset {q.centre_offset:.2f}, "
        f"pupil aspect {q.pupil_aspect:.2f}"
    )
