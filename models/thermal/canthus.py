"""Face-region temperature: the inner eye corners (canthi), the spot IEC 80601-2-59
screening practice reads, because it tracks core temperature best of the face.

Input: a float °C frame and the two eye centres in that frame's pixels (from a
detector in the visible camera, mapped through the checkpoint's homography). The
inner canthus sits about a quarter of the eye distance from each eye centre towards
the other eye; we read the peak of the hot spot in a small disc there and keep the
hotter eye (as the FDA table's canthiMax does). The peak, not a high percentile: far
away or on a low-resolution camera the hot spot covers a pixel or two, and a
percentile of the disc then reads its flank (0.2-0.5 °C low). A defective pixel
cannot decide: one standing more than `SPIKE_C` above or below all eight neighbours
is set to the nearest of their values first. A reading is refused, with a reason,
when the screening practice says it cannot be trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]  # (x = column, y = row)

# Where the inner canthus lies, from the eye centre towards the other eye, and how
# wide a disc we search (both as fractions of the eye distance): anthropometry gives
# intercanthal ≈ 32 mm and interpupillary ≈ 63 mm, so (63 - 32) / 2 / 63 ≈ 0.25.
CANTHUS_OFFSET = 0.25
CANTHUS_RADIUS = 0.12
# A pixel more than this above (or below) every one of its 8 neighbours is a defect,
# not skin: the optics spread any real spot, so its hottest neighbour keeps a quarter
# or more of its rise; a real peak that steep would be > 1.3 °C over its surroundings
# and under a pixel wide. Sensor noise (NETD ~0.05 °C) is far below it.
SPIKE_C = 1.0
# Whether the canthus shows at all (glasses, hair, a hand) is judged on the disc's warm
# area: its 95th percentile against the forehead.
WARM_AREA_PERCENTILE = 95.0


@dataclass(frozen=True)
class CanthusLimits:
    min_eye_distance_px: float = 32.0  # screening practice: ≥ 32 px between the eyes
    max_roll_deg: float = 30.0  # head tilt: eye line against the horizontal
    max_yaw_ratio: float = 0.25  # nose off the eyes' midpoint, in eye distances
    # Focus: the steepest thermal edge around the eyes, in °C per 1/32 of the eye
    # distance. On simulated faces a focused one shows ≥ 0.55 °C per such step; one
    # defocused to a 3.5 px blur ≤ 0.3, and its canthus reads ~0.8 °C low. Tune per
    # camera: real optics and faces differ.
    min_edge_c: float = 0.4
    # The canthus is the hottest part of a bare face: in the FDA table it is 0.14 °C
    # or more above the forehead centre for every one of ~1,000 volunteers (median
    # 1.2). Less than that, and something (glasses, hair, a hand) covers it.
    min_canthus_over_forehead_c: float = 0.2


DEFAULT_LIMITS = CanthusLimits()


@dataclass(frozen=True)
class CanthusReading:
    canthus_c: float | None  # None when refused
    per_eye_c: tuple[float, float] | None
    eye_distance_px: float
    refused: (
        str | None
    )  # face_outside_frame, face_too_small, too_oblique, out_of_focus, eyes_occluded
    detail: str = ""


def _peak(frame: np.ndarray, centre: Point, radius: float) -> float:
    """Peak of the hot spot in the disc. Defective pixels are set aside first. The
    spot's centre is the hottest pixel of the lightly smoothed patch (a 3×3 binomial
    kernel: on a flat top its middle, not its noisiest pixel); its value is then raised
    to the vertex of a parabola through it and its two neighbours along each axis,
    because a small spot's top mostly falls between pixels and the nearest pixel reads
    its shoulder. A parabola whose vertex lies beyond the neighbours (a flat top, a
    slope) adds nothing: reading a peak into noise would bias a broad spot high."""
    x, y = centre
    r = max(radius, 1.5)
    # One pixel beyond the disc on every side: the neighbours the checks and fit need.
    x0, x1 = math.floor(x - r) - 1, math.ceil(x + r) + 2
    y0, y1 = math.floor(y - r) - 1, math.ceil(y + r) + 2
    patch = frame[y0:y1, x0:x1].astype(np.float64)
    patch = _without_spikes(patch, _neighbours(patch))
    smooth = (np.tensordot(BINOMIAL_RING, _neighbours(patch), axes=1) + 4 * patch) / 16
    yy, xx = np.mgrid[y0:y1, x0:x1]
    in_disc = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    iy, ix = np.unravel_index(np.argmax(np.where(in_disc, smooth, -np.inf)), patch.shape)
    middle = float(patch[iy, ix])
    top = middle
    for before, after in (
        (float(patch[iy, ix - 1]), float(patch[iy, ix + 1])),
        (float(patch[iy - 1, ix]), float(patch[iy + 1, ix])),
    ):
        curvature = before - 2 * middle + after
        if curvature < 0 and abs(after - before) <= -2 * curvature:  # vertex within a pixel
            top += (after - before) ** 2 / (-8 * curvature)
    return top


# Weights of the 8 neighbours in a 3×3 binomial kernel ([1 2 1] ⊗ [1 2 1] / 16; the
# middle weighs 4), in `_neighbours`' order.
BINOMIAL_RING = np.array([1.0, 2.0, 1.0, 2.0, 2.0, 1.0, 2.0, 1.0])


def _neighbours(patch: np.ndarray) -> np.ndarray:
    """(8, h, w): each pixel's 8 neighbours, row by row (edges repeated)."""
    padded = np.pad(patch, 1, mode="edge")
    h, w = patch.shape
    return np.stack(
        [
            padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if dy or dx
        ]
    )


def _without_spikes(patch: np.ndarray, around: np.ndarray) -> np.ndarray:
    """Pixels more than SPIKE_C above all 8 neighbours set to the hottest of them (below
    all: to the coolest); every other pixel kept."""
    hottest, coolest = around.max(axis=0), around.min(axis=0)
    cleaned = np.where(patch - hottest > SPIKE_C, hottest, patch)
    return np.where(coolest - patch > SPIKE_C, coolest, cleaned)


def _disc(frame: np.ndarray, centre: Point, radius: float) -> np.ndarray:
    x, y = centre
    r = max(radius, 1.5)
    x0, x1 = math.floor(x - r), math.ceil(x + r) + 1
    y0, y1 = math.floor(y - r), math.ceil(y + r) + 1
    patch = frame[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return patch[(xx - x) ** 2 + (yy - y) ** 2 <= r * r]


def _inside(frame: np.ndarray, pts: list[Point], margin: float) -> bool:
    h, w = frame.shape
    return all(margin <= x < w - margin and margin <= y < h - margin for x, y in pts)


def canthus_points(eye_a: Point, eye_b: Point) -> tuple[Point, Point]:
    ax, ay = eye_a
    bx, by = eye_b
    k = CANTHUS_OFFSET
    return (ax + k * (bx - ax), ay + k * (by - ay)), (bx + k * (ax - bx), by + k * (ay - by))


def read_canthus(
    frame: np.ndarray,
    eye_a: Point,
    eye_b: Point,
    nose: Point | None = None,
    limits: CanthusLimits = DEFAULT_LIMITS,
) -> CanthusReading:
    d = math.dist(eye_a, eye_b)
    ca, cb = canthus_points(eye_a, eye_b)
    radius = CANTHUS_RADIUS * d
    mid = ((eye_a[0] + eye_b[0]) / 2, (eye_a[1] + eye_b[1]) / 2)
    # Forehead: above the eyes' midpoint, perpendicular to the eye line.
    ux, uy = (eye_b[0] - eye_a[0]) / max(d, 1e-9), (eye_b[1] - eye_a[1]) / max(d, 1e-9)
    px, py = uy, -ux
    if py > 0:  # the perpendicular that points up the image
        px, py = -px, -py
    forehead = (mid[0] + 0.7 * d * px, mid[1] + 0.7 * d * py)

    def refuse(code: str, detail: str) -> CanthusReading:
        return CanthusReading(None, None, d, code, detail)

    if not _inside(frame, [eye_a, eye_b, ca, cb, forehead], radius + 2):
        return refuse("face_outside_frame", "the eyes or forehead fall outside the frame")
    if d < limits.min_eye_distance_px:
        return refuse(
            "face_too_small",
            f"{d:.0f} px between the eyes; at least {limits.min_eye_distance_px:.0f} needed",
        )
    roll = abs(math.degrees(math.atan2(eye_b[1] - eye_a[1], eye_b[0] - eye_a[0])))
    roll = min(roll, 180 - roll)
    if roll > limits.max_roll_deg:
        return refuse("too_oblique", f"head tilted {roll:.0f}°")
    if nose is not None:
        yaw = abs((nose[0] - mid[0]) * ux + (nose[1] - mid[1]) * uy) / d
        if yaw > limits.max_yaw_ratio:
            return refuse("too_oblique", f"head turned: nose {yaw:.2f} eye distances off centre")

    edge = _steepest_edge(frame, eye_a, eye_b, d)
    if edge < limits.min_edge_c:
        return refuse("out_of_focus", f"steepest edge {edge:.2f} °C per step")

    # Occlusion is judged on the disc's warm area (its 95th percentile), not the peak: a
    # sliver of canthus showing past a lens rim is hot but not a reading.
    warm_area = max(
        float(np.percentile(_disc(frame, c, radius), WARM_AREA_PERCENTILE)) for c in (ca, cb)
    )
    forehead_c = float(np.median(_disc(frame, forehead, 0.2 * d)))
    if warm_area - forehead_c < limits.min_canthus_over_forehead_c:
        return refuse(
            "eyes_occluded",
            f"canthus area {warm_area:.2f} °C is not above the forehead's {forehead_c:.2f} °C",
        )
    per_eye = tuple(_peak(frame, c, radius) for c in (ca, cb))
    return CanthusReading(max(per_eye), (per_eye[0], per_eye[1]), d, None)


def _steepest_edge(frame: np.ndarray, eye_a: Point, eye_b: Point, d: float) -> float:
    """High percentile of the gradient magnitude in the box around both eyes, scaled to
    a step of d/32 px so near and far faces compare."""
    xs = (eye_a[0], eye_b[0])
    ys = (eye_a[1], eye_b[1])
    x0, x1 = int(min(xs) - 0.3 * d), int(max(xs) + 0.3 * d) + 1
    y0, y1 = int(min(ys) - 0.25 * d), int(max(ys) + 0.25 * d) + 1
    h, w = frame.shape
    box = frame[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)].astype(np.float32)
    if box.shape[0] < 3 or box.shape[1] < 3:
        return 0.0
    gy, gx = np.gradient(box)
    return float(np.percentile(np.hypot(gx, gy), 99) * d / 32.0)


def to_thermal(homography: np.ndarray, points: list[Point]) -> list[Point]:
    """Visible-camera pixels → thermal pixels through the checkpoint's 3×3 homography."""
    p = np.column_stack([np.asarray(points, dtype=np.float64), np.ones(len(points))])
    q = p @ np.asarray(homography, dtype=np.float64).T
    return [(float(x / w), float(y / w)) for x, y, w in q]
