"""Eye image → iris code, open-iris style: typed nodes with frozen parameters, immutable
results between them.

    segment (IrisSegmenter) → judge (quality) → normalise (Daugman's rubber sheet)
    → Gabor bank (ONNX, batched) → code + mask (fragile bits masked)

`prepare` does everything before the filter bank for one image (numpy and OpenCV, per
request); `encode` runs the bank over a batch of prepared irises. A Serve replica calls
the first per request and batches the second; `run` chains them for one image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dichte.models.errors import IrisError
from dichte.models.iris.code import IrisCode
from dichte.models.iris.encoder import COLS, ROWS, GaborBank, GaborParams
from dichte.models.iris.segmentation import Circle, IrisSegmenter, Segmentation, SegmenterParams
from dichte.models.results import EncodedIris, IrisQuality, quality_detail


class QualityParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_iris_radius_px: float = Field(
        40.0,
        description="below: too few pixels across the iris (ISO/IEC 29794-6 asks ≥ 80 "
        "px of iris diameter)",
    )
    pupil_ratio: tuple[float, float] = Field(
        (0.15, 0.75), description="pupil radius / iris radius outside this: refused"
    )
    min_usable: float = Field(
        0.6,
        description="fraction of the iris that must be visible texture (not lids, lashes "
        "or reflections)",
    )
    min_focus: float = Field(
        0.15,
        description="high-frequency energy of the normalised iris (std of its Laplacian "
        "at unit variance); a defocused eye falls below",
    )
    min_pupil_aspect: float = Field(
        0.8,
        description="minor/major axis of the pupil: an eye turned 37° or more from the camera "
        "shows an oval pupil (cos 37° = 0.8)",
    )
    max_centre_offset: float = Field(
        0.2,
        description="pupil-to-limbus centre distance in iris radii; an eye looking away "
        "shows its pupil off-centre",
    )


class IrisParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    segmenter: SegmenterParams = SegmenterParams()
    quality: QualityParams = QualityParams()
    gabor: GaborParams = GaborParams()
    fragile_fraction: float = Field(
        0.15,
        ge=0,
        lt=1,
        description="the weakest responses' bits are masked (their phase flips with noise)",
    )
    min_valid: float = Field(0.9, description="iris pixels under a code sample for its bits")


@dataclass(frozen=True)
class PreparedIris:
    """One eye, segmented, judged and unwrapped, ready for the filter bank."""

    pupil: Circle  # in the pixels of the image given
    iris: Circle
    quality: IrisQuality
    texture: np.ndarray  # (ROWS, COLS) float32, standardised, masked pixels at 0
    validity: np.ndarray  # (ROWS, COLS) bool


def rubber_sheet(seg: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    """Daugman's normalisation: each angle's segment from the pupil boundary to the limbus
    sampled at ROWS radii (so dilation and non-concentric circles cancel out), COLS angles
    from the image's right, clockwise. Returns (grey, valid)."""
    theta = np.linspace(0, 2 * np.pi, COLS, endpoint=False)
    rho = ((np.arange(ROWS) + 0.5) / ROWS)[:, None]
    (px, py, pr), (ix, iy, ir) = seg.pupil, seg.iris
    x = (1 - rho) * (px + pr * np.cos(theta)) + rho * (ix + ir * np.cos(theta))
    y = (1 - rho) * (py + pr * np.sin(theta)) + rho * (iy + ir * np.sin(theta))
    xs, ys = x.astype(np.float32), y.astype(np.float32)
    grey = cv2.remap(
        seg.grey.astype(np.float32),
        xs,
        ys,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=-1.0,
    )
    noise = cv2.remap(
        seg.noise.astype(np.uint8),
        xs,
        ys,
        cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=1,
    )
    return grey, (noise == 0) & (grey >= 0)


def standardised(grey: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the iris; masked pixels at 0 (the mean)."""
    if not valid.any():
        return np.zeros_like(grey, np.float32)
    values = grey[valid]
    out = (grey - values.mean()) / (values.std() + 1e-6)
    return np.where(valid, out, 0.0).astype(np.float32)


def judge(
    seg: Segmentation, texture: np.ndarray, valid: np.ndarray, p: QualityParams
) -> IrisQuality:
    (px, py, pr), (ix, iy, ir) = seg.pupil, seg.iris
    radius = ir / seg.scale
    ratio = pr / ir
    usable = float(valid.mean())
    offset = float(np.hypot(px - ix, py - iy) / ir)
    lap = cv2.Laplacian(texture, cv2.CV_32F)
    inner = cv2.erode(valid.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    focus = float(lap[inner].std()) if inner.sum() > 100 else 0.0
    reasons = []
    if radius < p.min_iris_radius_px:
        reasons.append("too_small")
    if not p.pupil_ratio[0] <= ratio <= p.pupil_ratio[1]:
        reasons.append("pupil_ratio")
    if offset > p.max_centre_offset or seg.pupil_aspect < p.min_pupil_aspect:
        reasons.append("off_gaze")
    if usable < p.min_usable:
        reasons.append("occluded")
    if focus < p.min_focus:
        reasons.append("out_of_focus")
    return IrisQuality(
        iris_radius_px=radius,
        pupil_ratio=ratio,
        usable=usable,
        focus=focus,
        centre_offset=offset,
        pupil_aspect=seg.pupil_aspect,
        ok=not reasons,
        reasons=tuple(reasons),
    )


def _unscaled(c: Circle, scale: float) -> Circle:
    return (c[0] / scale, c[1] / scale, c[2] / scale)


class IrisPipeline:
    def __init__(self, params: IrisParams | None = None) -> None:
        self.params = params or IrisParams()
        self._segmenter = IrisSegmenter(self.params.segmenter)
        self._bank = GaborBank(self.params.gabor)

    def prepare(self, image: np.ndarray) -> PreparedIris:
        """Segment, unwrap and judge one eye image; IrisError when it has no eye in it."""
        seg = self._segmenter.run(image)
        grey, valid = rubber_sheet(seg)
        texture = standardised(grey, valid)
        quality = judge(seg, texture, valid, self.params.quality)
        return PreparedIris(
            _unscaled(seg.pupil, seg.scale), _unscaled(seg.iris, seg.scale), quality, texture, valid
        )

    def encode(self, prepared: list[PreparedIris]) -> list[IrisCode]:
        """The codes of a batch, one filter-bank call."""
        if not prepared:
            return []
        bits, magnitude, valid = self._bank.run(
            np.stack([p.texture for p in prepared]), np.stack([p.validity for p in prepared])
        )
        return [
            IrisCode(bits[i], np.broadcast_to(self._usable(magnitude[i], valid[i]), bits[i].shape))
            for i in range(len(prepared))
        ]

    def _usable(self, magnitude: np.ndarray, valid: np.ndarray) -> np.ndarray:
        usable = valid >= self.params.min_valid
        if self.params.fragile_fraction > 0 and usable.any():
            usable &= magnitude > np.quantile(magnitude[usable], self.params.fragile_fraction)
        return usable

    def run(self, image: np.ndarray, *, strict: bool = True) -> EncodedIris:
        """One image → its code; with `strict`, a quality problem is an IrisError."""
        prepared = self.prepare(image)
        if strict and not prepared.quality.ok:
            reason = prepared.quality.reasons[0]
            raise IrisError(reason, quality_detail(prepared.quality))
        (code,) = self.encode([prepared])
        return EncodedIris(prepared.pupil, prepared.iris, prepared.quality, code)
