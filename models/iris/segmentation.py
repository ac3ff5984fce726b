"""Classical iris segmentation for near-infrared eye images (no network is available
offline): the pupil as the darkest round blob, refined by Daugman's integro-differential
operator; the limbus by the same operator on the lateral arcs (eyelids hide the top and
the bottom); eyelids, eyelashes and specular reflections as a noise mask.

Circles are (cx, cy, r) in the pixels of the image given. Every refusal is an
`IrisError` with a stable code, so the API and the CLI can say why.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dichte.models.errors import IrisError

Circle = tuple[float, float, float]


class SegmenterParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_side: int = Field(640, ge=160, description="longer side the eye image is shrunk to")
    min_side: int = Field(120, ge=32, description="below: the image is too small to hold an iris")
    max_channel_spread: float = Field(
        12.0,
        description="mean grey-level difference between colour channels above which an "
        "image is not a near-infrared (grey) capture",
    )
    specular_level: int = Field(230, description="grey level from which a pixel is a reflection")
    min_pupil_px: float = Field(8.0, description="smallest pupil radius looked for")
    iris_to_pupil: tuple[float, float] = Field(
        (1.3, 5.0), description="limbus radius range searched, in pupil radii"
    )
    lateral_arcs_deg: tuple[tuple[float, float], ...] = Field(
        ((-30.0, 20.0), (160.0, 210.0)),
        description="angles (0 = image right, 90 = down) where the limbus is looked for: "
        "the sides and a little below, away from the eyelids",
    )


@dataclass(frozen=True)
class Segmentation:
    pupil: Circle
    iris: Circle
    noise: np.ndarray  # bool (H, W): eyelid, eyelash, reflection pixels (not iris texture)
    grey: np.ndarray  # uint8 (H, W): the image segmented (after any shrink)
    scale: float  # pixels of `grey` per pixel of the image given
    pupil_aspect: float  # minor / major axis of the pupil blob's ellipse (1 = round)


def as_grey(image: np.ndarray, max_channel_spread: float) -> np.ndarray:
    """uint8 grey from a grey or BGR(A) image; a colour photo is not an NIR capture."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3:
        if a.shape[2] not in (3, 4):
            raise IrisError("not_nir", f"{a.shape[2]} channels")
        bgr = a[:, :, :3].astype(np.int16)
        spread = float(
            np.mean(np.abs(bgr[:, :, 0] - bgr[:, :, 1]) + np.abs(bgr[:, :, 1] - bgr[:, :, 2])) / 2
        )
        if spread > max_channel_spread:
            raise IrisError("not_nir", f"colour spread {spread:.0f} grey levels")
        a = cv2.cvtColor(a[:, :, :3].astype(np.uint8), cv2.COLOR_BGR2GRAY)
    if a.ndim != 2:
        raise IrisError("not_nir", f"shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def _radial_samples(
    img: np.ndarray, cx: float, cy: float, radii: np.ndarray, angles: np.ndarray
) -> np.ndarray:
    """Grey levels at each radius (rows) and angle (columns), bilinear."""
    xs = (cx + radii[:, None] * np.cos(angles)[None, :]).astype(np.float32)
    ys = (cy + radii[:, None] * np.sin(angles)[None, :]).astype(np.float32)
    return cv2.remap(img, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _best_boundary(
    img: np.ndarray,
    centres: list[tuple[float, float]],
    radii: np.ndarray,
    arcs: list[np.ndarray],
    contains: Circle | None = None,
) -> tuple[float, float, float, float]:
    """Daugman's integro-differential operator, made robust: the centre and radius where
    the Gaussian-smoothed radial derivative is largest, taking for each arc the mean of
    the middle half of its angles (an eyelid or lashes over part of an arc cannot
    move the answer) and
    the weakest arc (every arc must show the edge, so one arc crossing another boundary
    cannot win). A limbus must hold the pupil (`contains`) with a margin, so the
    pupil's own edge cannot pass for it. Returns (cx, cy, r, strength)."""
    best = (0.0, 0.0, 0.0, -np.inf)
    kernel = cv2.getGaussianKernel(7, 1.5).astype(np.float32)
    mid = (radii[:-1] + radii[1:]) / 2
    for cx, cy in centres:
        per_arc = []
        for angles in arcs:
            samples = _radial_samples(img, cx, cy, radii, angles)
            smooth = cv2.filter2D(samples, -1, kernel, borderType=cv2.BORDER_REPLICATE)
            # grey levels per pixel of radius, whatever the radial step
            slopes = np.sort(np.diff(smooth, axis=0) / np.diff(radii)[:, None], axis=1)
            quarter = slopes.shape[1] // 4
            per_arc.append(slopes[:, quarter : slopes.shape[1] - quarter].mean(axis=1))
        d = np.min(per_arc, axis=0)
        if contains is not None:
            ox, oy, orad = contains
            d[mid <= np.hypot(cx - ox, cy - oy) + 1.15 * orad] = -np.inf
        i = int(np.argmax(d))
        if d[i] > best[3]:
            best = (cx, cy, float(mid[i]), float(d[i]))
    return best


def _grid(cx: float, cy: float, half: float, step: float) -> list[tuple[float, float]]:
    offsets = np.arange(-half, half + 1e-6, step)
    return [(cx + dx, cy + dy) for dx in offsets for dy in offsets]


class IrisSegmenter:
    def __init__(self, params: SegmenterParams | None = None) -> None:
        self.params = params or SegmenterParams()

    def run(self, image: np.ndarray) -> Segmentation:
        p = self.params
        grey = as_grey(image, p.max_channel_spread)
        h, w = grey.shape
        if min(h, w) < p.min_side:
            raise IrisError("too_small", f"{w}x{h} px")
        scale = min(1.0, p.max_side / max(h, w))
        if scale < 1.0:
            grey = cv2.resize(
                grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        specular = self._specular(grey)
        clean = cv2.inpaint(grey, specular.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        smooth = cv2.GaussianBlur(clean, (0, 0), 1.5).astype(np.float32)
        pupil, aspect = self._pupil(clean, smooth)
        iris = self._limbus(smooth, pupil)
        noise = self._noise(clean, smooth, pupil, iris) | specular
        return Segmentation(pupil, iris, noise, grey, scale, aspect)

    def _specular(self, grey: np.ndarray) -> np.ndarray:
        bright = grey >= self.params.specular_level
        # Only small spots are reflections; large bright areas are skin or sclera.
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            bright.astype(np.uint8), connectivity=8
        )
        small = np.zeros(n, bool)
        small[1:] = stats[1:, cv2.CC_STAT_AREA] <= max(60, grey.size // 1500)
        spots = small[labels]
        return cv2.dilate(spots.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)

    def _pupil(self, clean: np.ndarray, smooth: np.ndarray) -> tuple[Circle, float]:
        """The darkest, roundest blob of a plausible size away from the image border,
        then the operator around it."""
        p = self.params
        h, w = clean.shape
        blurred = cv2.medianBlur(clean, 7)
        low = float(np.percentile(blurred, 1))
        min_r = max(p.min_pupil_px, 0.025 * min(h, w))
        candidates: list[tuple[float, Circle, float]] = []
        for delta in (10, 18, 28, 40, 55):
            dark = (blurred <= low + delta).astype(np.uint8)
            # Opening removes eyelashes (thin and dark): a pupil survives it.
            mask = cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            for c in contours:
                area = cv2.contourArea(c)
                (cx, cy), r = cv2.minEnclosingCircle(c)
                if area < np.pi * min_r**2 or r > 0.45 * min(h, w):
                    continue
                x, y, bw, bh = cv2.boundingRect(c)
                if x <= 1 or y <= 1 or x + bw >= w - 1 or y + bh >= h - 1:
                    continue  # cut by the frame: hair, a lid's shadow, not a whole pupil
                roundness = area / (np.pi * r * r)
                if roundness < 0.5:
                    continue
                darkness = 255.0 - float(smooth[int(cy), int(cx)])
                axes = cv2.fitEllipse(c)[1] if len(c) >= 5 else (1.0, 1.0)
                aspect = min(axes) / max(max(axes), 1e-6)
                score = roundness**2 * darkness * np.sqrt(area)
                candidates.append((score, (cx, cy, r), aspect))
        if not candidates:
            raise IrisError("no_pupil")
        _, (cx, cy, r), aspect = max(candidates, key=lambda c: c[0])
        radii = np.arange(max(min_r, 0.7 * r), 1.3 * r + 2, 1.0)
        whole = [np.linspace(0, 2 * np.pi, 90, endpoint=False)]  # one arc: the whole circle
        best = _best_boundary(smooth, _grid(cx, cy, max(2.0, 0.1 * r), 1.0), radii, whole)
        if best[3] < 3.0:  # no dark-to-bright edge worth the name around the blob
            raise IrisError("no_pupil", "no pupil boundary")
        return best[:3], aspect

    def _limbus(self, smooth: np.ndarray, pupil: Circle) -> Circle:
        p = self.params
        px, py, pr = pupil
        h, w = smooth.shape
        lo, hi = p.iris_to_pupil
        radii = np.arange(max(lo * pr, pr + 6), min(hi * pr, 0.75 * max(h, w)), 1.0)
        if len(radii) < 8:
            raise IrisError("no_iris", "the pupil fills the image")
        arcs = [np.deg2rad(np.linspace(a, b, 24)) for a, b in p.lateral_arcs_deg]
        # Limbus and pupil are nearly concentric in an eye facing the camera: the
        # centre is searched near the pupil's (a wide search finds false edges:
        # lashes, lids). An eye looking aside is told by its oval pupil (`_pupil`).
        centres = _grid(px, py, 0.25 * pr, max(1.0, 0.08 * pr))
        cx, cy, r, _ = _best_boundary(smooth, centres, radii, arcs, pupil)
        fine = np.arange(max(radii[0], r - 6), r + 7, 0.5)
        best = _best_boundary(smooth, _grid(cx, cy, 2.0, 1.0), fine, arcs, pupil)
        if best[3] < 1.0:
            raise IrisError("no_iris", "no limbus")
        return best[:3]

    def _noise(
        self, clean: np.ndarray, smooth: np.ndarray, pupil: Circle, iris: Circle
    ) -> np.ndarray:
        """Pixels of the annulus that are not iris texture: eyelid skin and sclera (much
        brighter than the iris), eyelashes and shadows (much darker)."""
        h, w = clean.shape
        yy, xx = np.mgrid[0:h, 0:w]
        ix, iy, ir = iris
        px, py, pr = pupil
        annulus = ((xx - ix) ** 2 + (yy - iy) ** 2 <= ir**2) & (
            (xx - px) ** 2 + (yy - py) ** 2 > pr**2
        )
        # The iris's own grey statistics from the lateral band, rarely occluded.
        ring = annulus & (np.abs(yy - py) < 0.5 * ir)
        values = clean[ring] if ring.any() else clean[annulus]
        med = float(np.median(values))
        mad = float(np.median(np.abs(values - med))) + 1.0
        f = clean.astype(np.float32)
        bright = f > med + 4.5 * mad
        dark = f < med - 5.0 * mad
        return (bright | dark) & annulus
