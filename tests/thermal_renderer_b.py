"""A second thermal face renderer, written apart from models/thermal/simulator.py so the
canthus reading is not only judged on the faces it was developed against.

Its own anatomy and physics: the face an ellipse with a smooth temperature field
(warmer forehead, cooling towards the edge, a cool nose and mouth, a little low-
frequency texture), the eye openings cooler than the skin, and each inner canthus a
2-D Gaussian hot spot whose width in pixels is a free parameter (distance and camera
resolution shrink it to about a pixel). The scene is drawn on a grid three times finer
than the sensor, spread by the optics (a Gaussian core with a faint wide halo, the
scatter of real lenses), averaged over each pixel's area, then given sensor noise
(NETD) and centi-kelvin quantisation like a radiometric Lepton's TLinear output.

The truth is the scene's own peak canthus temperature (before optics and noise), the
eye centres (pupils) and the nose tip, in pixels (x = column, y = row, pixel centres
at integers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Point = tuple[float, float]

SUPERSAMPLE = 3  # odd: sub-samples sit symmetrically around each pixel centre
HALO_FRACTION = 0.04  # of the energy, scattered into a wide halo
HALO_SIGMA_PX = 3.0


@dataclass(frozen=True)
class RenderedFace:
    frame_c: np.ndarray  # float32 °C, rows × columns
    eye_a: Point  # image-left pupil
    eye_b: Point
    nose: Point
    canthus_c: float  # the hotter inner canthus's true peak
    # What the optics and pixels leave of that peak (noise-free, at the best sub-pixel
    # position): the most any reading of this camera's frame can recover.
    resolved_c: float
    canthus_at: tuple[Point, Point]  # where each hot spot peaks
    spot_sigma_px: float
    eye_distance_px: float


def render_face(
    rng: np.random.Generator,
    *,
    eye_distance_px: float,
    spot_sigma_px: float,
    canthus_c: float | None = None,
    ambient_c: float = 24.0,
    psf_sigma_px: float = 0.5,
    netd_c: float = 0.05,
    roll_deg: float | None = None,
    glasses: bool = False,
    dead_pixel_c: float | None = None,
) -> RenderedFace:
    """One frame with one face. `dead_pixel_c`: one defective pixel reading that value,
    placed next to the hotter canthus's peak."""
    d = float(eye_distance_px)
    height, width = int(3.6 * d) + 48, int(3.2 * d) + 48
    peak_c = float(canthus_c if canthus_c is not None else rng.uniform(34.8, 37.6))
    other_c = peak_c - float(rng.uniform(0.0, 0.35))  # the cooler eye
    roll = math.radians(float(rng.normal(0.0, 4.0)) if roll_deg is None else roll_deg)
    # Eye midpoint a little above the centre, at a random sub-pixel position.
    mx = width / 2 + float(rng.uniform(-0.5, 0.5))
    my = 0.42 * height + float(rng.uniform(-0.5, 0.5))
    ux, uy = math.cos(roll), math.sin(roll)

    def to_pixels(u: float, v: float) -> Point:
        return (mx + d * (u * ux - v * uy), my + d * (u * uy + v * ux))

    # Anthropometry (mm): interpupillary and intercanthal distances of adults; the hot
    # spot sits at the medial end of the eye opening, a touch below the pupils' line.
    ipd, icd = float(rng.normal(62.5, 3.3)), float(rng.normal(31.5, 2.3))
    spot_u = icd / ipd / 2
    spot_v = float(rng.normal(0.015, 0.01))
    spots = ((-spot_u, spot_v, other_c), (spot_u, spot_v, peak_c))
    if rng.random() < 0.5:  # either eye may be the hotter one
        spots = ((-spot_u, spot_v, peak_c), (spot_u, spot_v, other_c))

    s = SUPERSAMPLE
    sub = (np.arange(width * s, dtype=np.float32) + 0.5) / s - 0.5
    sub_y = (np.arange(height * s, dtype=np.float32) + 0.5) / s - 0.5
    xx, yy = np.meshgrid(sub, sub_y)
    u = ((xx - mx) * ux + (yy - my) * uy) / d
    v = (-(xx - mx) * uy + (yy - my) * ux) / d

    scene = _scene(rng, u, v, yy / height, peak_c, ambient_c, spots, glasses)
    # Hot spots: a Gaussian in pixels, blended so the spot's centre is exactly its peak
    # temperature and nothing around it is hotter.
    for su, sv, temp in spots:
        if glasses:
            break  # lenses are opaque in long-wave IR: the spots are behind them
        r2 = ((u - su) ** 2 + (v - sv) ** 2) * d * d
        g = np.exp(-r2 / (2 * spot_sigma_px**2))
        scene = scene * (1 - g) + temp * g
    truth = max(t for _, _, t in spots)

    # Optics, in sub-samples; then each pixel integrates its own area.
    core = cv2.GaussianBlur(scene, (0, 0), psf_sigma_px * s)
    halo = cv2.GaussianBlur(scene, (0, 0), HALO_SIGMA_PX * s)
    blurred = (1 - HALO_FRACTION) * core + HALO_FRACTION * halo
    frame = blurred.reshape(height, s, width, s).mean(axis=(1, 3))
    hot = spots[0] if spots[0][2] >= spots[1][2] else spots[1]
    hot_x, hot_y = to_pixels(hot[0], hot[1])
    reach = spot_sigma_px + 2.0  # pixels around the spot where its peak can land
    near_spot = (np.abs(xx - hot_x) <= reach) & (np.abs(yy - hot_y) <= reach)
    resolved = float(np.max(np.where(near_spot, cv2.blur(blurred, (s, s)), -np.inf)))
    frame = frame + rng.normal(0.0, netd_c, frame.shape)
    if dead_pixel_c is not None:
        frame[round(hot_y), round(hot_x) + 1] = dead_pixel_c
    frame = np.round((frame + 273.15) * 100) / 100 - 273.15  # centi-kelvin output
    return RenderedFace(
        frame_c=frame.astype(np.float32),
        eye_a=to_pixels(-0.5, 0.0),
        eye_b=to_pixels(0.5, 0.0),
        nose=to_pixels(0.0, 0.62),
        canthus_c=truth,
        resolved_c=resolved,
        canthus_at=(to_pixels(spots[0][0], spots[0][1]), to_pixels(spots[1][0], spots[1][1])),
        spot_sigma_px=spot_sigma_px,
        eye_distance_px=d,
    )


def _scene(
    rng: np.random.Generator,
    u: np.ndarray,
    v: np.ndarray,
    row: np.ndarray,
    peak_c: float,
    ambient_c: float,
    spots: tuple[tuple[float, float, float], ...],
    glasses: bool,
) -> np.ndarray:
    """Temperature of every sub-sample before the hot spots, in face coordinates (u along
    the eye line, v down the face, both in eye distances; origin between the pupils)."""
    background = ambient_c - 1.5 + 2.5 * row  # cooler sky above, warmer ground below
    # Head: an ellipse centred below the eyes; rho = 1 on its outline.
    rho2 = (u / 1.08) ** 2 + ((v - 0.4) / 1.45) ** 2
    cheeks = peak_c - rng.uniform(1.2, 2.0)
    skin = cheeks - rng.uniform(1.0, 2.0) * np.clip(rho2, 0, 1) ** 2
    # Forehead: warmer than the cheeks (but under the canthus), blended in smoothly.
    forehead = 1 / (1 + np.exp((v + 0.3) / 0.06))
    skin = skin + forehead * rng.uniform(0.2, 0.6)
    # Nose: cools towards its tip; mouth: a cool line (both give the image edges).
    along = np.clip((v - 0.15) / 0.5, 0, 1)
    skin = skin - rng.uniform(0.8, 2.0) * along * np.exp(-(u**2) / (2 * 0.09**2)) * (v < 0.7)
    skin = skin - 1.2 * np.exp(-(((v - 1.02) / 0.035) ** 2)) * (np.abs(u) < 0.32)
    # Low-frequency texture: a few random plane waves, a tenth of a degree.
    for _ in range(3):
        k = rng.uniform(2.0, 5.0)
        angle, phase = rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi)
        skin = skin + 0.05 * np.sin(k * (u * math.cos(angle) + v * math.sin(angle)) + phase)
    # Around each inner corner the skin warms towards the canthus (the medial orbit,
    # fed by the angular vessels): a broad warm patch the sharp hot spot sits on.
    for su, sv, temp in spots:
        near = np.exp(-(((u - su) / 0.12) ** 2 + ((v - sv) / 0.08) ** 2) / 2)
        warm = temp - rng.uniform(0.35, 0.8)
        skin = skin + near * np.maximum(warm - skin, 0)
    # Eye openings (cornea and sclera, cooler than the skin around them).
    eye_c = peak_c - rng.uniform(0.5, 1.1)
    for side in (-1.0, 1.0):
        opening = ((u - side * 0.5) / 0.24) ** 2 + (v / 0.075) ** 2 <= 1.0
        skin = np.where(opening, eye_c, skin)
    hair = v < -0.95
    skin = np.where(hair, ambient_c + rng.uniform(2.0, 4.0), skin)
    if glasses:
        for side in (-1.0, 1.0):
            lens = ((u - side * 0.5) / 0.36) ** 2 + (v / 0.26) ** 2 <= 1.0
            skin = np.where(lens, ambient_c + 1.0, skin)
        skin = np.where((np.abs(u) < 0.16) & (np.abs(v) < 0.03), ambient_c + 1.5, skin)
    # Nothing on the skin reaches the canthi's temperature.
    skin = np.minimum(skin, min(t for _, _, t in spots) - 0.3)
    return np.where(rho2 <= 1.0, skin, background)
