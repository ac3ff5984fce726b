"""Synthetic near-infrared eye images with known identity — NOT real data.

For tests and benchmarks that need many identities, many captures per identity and
exact ground truth (pupil and limbus circles, rotation, eyelid occlusion), which the
real-data evaluation cannot give in such numbers. Numbers measured on these images
describe this generator's eyes, not real ones: they check that the pipeline works as
designed and how fast; recognition accuracy on real eyes comes from the real-data
evaluation (CASIA-Iris-Interval) only.

What is rendered, in the style of a CASIA-Iris-Interval frame (320×280, NIR, close-up):

- an identity's iris texture, procedural and seeded by the identity only
  (`iris_texture`): radial furrows and trabeculae, crypts (dark lacunae with a lighter
  rim), a wavy collarette ring, concentric contraction furrows, pigment spots and fine
  band-limited texture, with most of its energy at wavelengths of 8-40 columns of the
  512-column polar grid, where a Gabor phase code looks;
- the texture laid into the eye by Daugman's rubber-sheet model, so eye rotation
  rotates it and pupil dilation stretches it radially, as in a real eye;
- dark pupil, bright sclera and skin, parabolic upper and lower eyelids with a lid
  margin, crease and shadow, eyelashes, the illuminator's saturated reflections in the
  pupil, optics blur and Gaussian sensor noise;
- per capture: a small illumination gain/offset and contrast change, ±1 px of centre
  jitter, different eyelashes and noise, so two captures of an identity are two
  different images of one iris.

Coordinates: pixel (x = column, y = row) has its centre at integer (x, y). Angles are
image angles θ = atan2(y - cy, x - cx) (y points down, so θ grows clockwise on screen);
polar column j is at θ = 2πj/cols and polar row i at ρ = i/(rows - 1) of the way from the
pupil boundary (row 0) to the limbus (last row). The image point at (ρ, θ) is
(1 - ρ)·(pupil centre + r_pupil·u) + ρ·(iris centre + r_iris·u), u = (cos θ, sin θ),
and it shows the texture at (ρ, θ - rotation).
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass

import cv2
import numpy as np

TEXTURE_ROWS = 64
TEXTURE_COLS = 512

# Seed-sequence tags: each kind of randomness draws from its own stream, so the texture
# depends on the identity only, and e.g. asking for no lashes leaves the noise unchanged.
_TEXTURE_TAG = 0x1215_0001
_EYE_TAG = 0x1215_0002
_CAPTURE_TAG = 0x1215_0003

_TWO_PI = 2.0 * math.pi
# Feature sizes are given in columns of the reference 512-column grid, so that the same
# identity gives the same texture at any sampling.
_COL = _TWO_PI / TEXTURE_COLS
# Angular low-cut of the texture: removes this much of the energy at wavelengths well
# over 40 columns (Gaussian in cycles per turn, sigma = 1 / (10 columns in radians)).
_LOW_CUT = 0.75
_LOW_SIGMA = 10 * _COL
# The camera's own point spread (sigma, px) under any extra defocus: no edge in a camera
# image is a one-pixel step.
_OPTICS_SIGMA = 0.5
# Spare pixels the iris keeps from the frame edge: the capture jitter moves it by ≤ 1 px.
_JITTER_PX = 1.0


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angle differences into [-π, π): Gaussians in angle stay seamless across 0 / 2π."""
    return (angle + math.pi) % _TWO_PI - math.pi


def _window(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, soft: float) -> np.ndarray:
    """Soft box from `lo` to `hi` (one row per feature), edges `soft` wide."""
    x2 = x[None, :]
    rise = 1.0 / (1.0 + np.exp(-(x2 - lo[:, None]) / soft))
    fall = 1.0 / (1.0 + np.exp(-(hi[:, None] - x2) / soft))
    return rise * fall


def _gauss(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * ((x[None, :] - mu[:, None]) / sigma[:, None]) ** 2)


def _gauss_angle(theta: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian bumps in angle, one row per feature: von Mises exp((cos Δ - 1)/σ²), which
    is the Gaussian for small Δ and periodic by itself. cos Δ as an outer product is
    cheaper than wrapping Δ, and float32 (6× faster exp) is ample for a texture."""
    f32 = np.float32
    cos_d = np.outer(np.cos(mu).astype(f32), np.cos(theta).astype(f32))
    cos_d += np.outer(np.sin(mu).astype(f32), np.sin(theta).astype(f32))
    return np.exp((cos_d - f32(1.0)) * (1.0 / sigma**2).astype(f32)[:, None])


@functools.lru_cache(maxsize=128)  # ≤ 16 MB; renders of one identity share one
def _texture(identity: int, rows: int, cols: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([_TEXTURE_TAG, identity]))
    rho = np.linspace(0.0, 1.0, rows)
    theta = np.arange(cols) * (_TWO_PI / cols)
    # Most features are separable in (ρ, θ): sum of radial ⊗ angular profiles, one matmul.
    radial: list[np.ndarray] = []
    angular: list[np.ndarray] = []

    # Radial furrows (dark) and trabeculae (light): thin in angle, long in radius.
    n = int(rng.integers(60, 90))
    sign = np.where(rng.random(n) < 0.6, -1.0, 0.7)
    amp = sign * rng.uniform(0.5, 1.0, n)
    start = rng.uniform(-0.15, 0.55, n)
    angular.append(
        amp[:, None]
        * _gauss_angle(theta, rng.uniform(0, _TWO_PI, n), rng.uniform(1.2, 3.5, n) * _COL)
    )
    radial.append(_window(rho, start, start + rng.uniform(0.3, 1.0, n), 0.05))

    # Crypts: dark lacunae with a lighter rim (difference of Gaussians, each separable).
    n = int(rng.integers(12, 28))
    c_rho, c_theta = rng.uniform(0.08, 0.92, n), rng.uniform(0, _TWO_PI, n)
    s_rho, s_theta = rng.uniform(0.04, 0.11, n), rng.uniform(3.0, 10.0, n) * _COL
    amp = rng.uniform(1.2, 2.2, n)
    radial += [_gauss(rho, c_rho, s_rho), _gauss(rho, c_rho, 1.7 * s_rho)]
    angular += [
        -amp[:, None] * _gauss_angle(theta, c_theta, s_theta),
        0.35 * amp[:, None] * _gauss_angle(theta, c_theta, 1.7 * s_theta),
    ]

    # Concentric contraction furrows: thin dark arcs in the ciliary (outer) zone.
    n = int(rng.integers(3, 9))
    half = rng.uniform(20, 80, n) * (math.pi / 180)
    arc = _wrap(theta[None, :] - rng.uniform(0, _TWO_PI, n)[:, None]) / half[:, None]
    radial.append(_gauss(rho, rng.uniform(0.45, 0.95, n), rng.uniform(0.012, 0.03, n)))
    angular.append(-rng.uniform(0.4, 0.9, n)[:, None] * np.exp(-(arc**6)))

    # Pigment spots, light or dark.
    n = int(rng.integers(10, 26))
    radial.append(_gauss(rho, rng.uniform(0, 1, n), rng.uniform(0.02, 0.04, n)))
    amp = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.0, n)
    angular.append(
        amp[:, None]
        * _gauss_angle(theta, rng.uniform(0, _TWO_PI, n), rng.uniform(1.5, 3.0, n) * _COL)
    )

    # Stroma grain: many small light and dark flecks, a little longer radially than wide
    # (the fibres run radially), 3-8 columns across.
    n = 260
    radial.append(_gauss(rho, rng.uniform(-0.05, 1.05, n), rng.uniform(0.025, 0.07, n)))
    amp = rng.choice([-1.0, 1.0], n) * rng.uniform(0.3, 0.6, n)
    angular.append(
        amp[:, None]
        * _gauss_angle(theta, rng.uniform(0, _TWO_PI, n), rng.uniform(1.0, 2.5, n) * _COL)
    )

    f32 = np.float32
    features = np.concatenate(radial).astype(f32).T @ np.concatenate(angular).astype(f32)
    # Randomly placed features carry as much energy at long wavelengths as at their own
    # size; damp what is longer than ~40 columns (exactly periodic: done in Fourier).
    k = np.arange(cols // 2 + 1)
    damp = 1.0 - _LOW_CUT * np.exp(-0.5 * (k * _LOW_SIGMA) ** 2)
    tex: np.ndarray = np.fft.irfft(np.fft.rfft(features, axis=1) * damp, n=cols, axis=1)

    tex /= tex.std()  # the features at unit std; what follows is sized against it

    # The identity's own slow radial and angular shading (zero mean over identities).
    m = np.arange(1, 4)
    phase_r, phase_a = rng.uniform(0, _TWO_PI, (2, 3, 1))
    tex += (rng.normal(0, 0.2, (3, 1)) * np.cos(np.pi * m[:, None] * rho + phase_r)).sum(0)[:, None]
    tex += (rng.normal(0, 0.15, (3, 1)) * np.cos(m[:, None] * theta + phase_a)).sum(0)[None, :]

    # Collarette: a light, zig-zagging ring between the pupillary and ciliary zones, and
    # the pupillary zone a little lighter or darker than the rest.
    m = np.arange(3, 13)
    wave = rng.normal(0, 1, m.size) / m
    ring = rng.uniform(0.22, 0.42) + 0.045 * (
        (
            wave[:, None]
            * np.cos(m[:, None] * theta[None, :] + rng.uniform(0, _TWO_PI, m.size)[:, None])
        ).sum(0)
        / np.sqrt((wave**2).sum())
    )
    dist = rho[:, None] - ring[None, :]
    tex += rng.uniform(0.6, 1.0) * np.exp(-0.5 * (dist / rng.uniform(0.025, 0.045)) ** 2)
    tex += rng.uniform(-0.3, 0.3) / (1.0 + np.exp(dist / 0.03))

    # Tissue is not straight lines: bend everything by a smooth random displacement field,
    # periodic in angle (≈ 3 columns and 1.5 rows at 64 × 512).
    d_theta = np.zeros((rows, cols))
    d_rho = np.zeros((rows, cols))
    for d, scale in ((d_theta, 3.0 * _COL), (d_rho, 1.5 / (TEXTURE_ROWS - 1))):
        for _ in range(4):
            mm = int(rng.integers(1, 6))
            f = rng.uniform(0.3, 2.0)
            d += (
                scale
                * rng.normal(0, 0.6)
                * np.cos(np.pi * f * rho[:, None] + rng.uniform(0, _TWO_PI))
                * np.cos(mm * theta[None, :] + rng.uniform(0, _TWO_PI))
            )
    tex = _sample_polar(tex, rho[:, None] + d_rho, theta[None, :] + d_theta)

    z = (tex - tex.mean()) / tex.std()
    out = (0.5 + 0.5 * np.tanh(z / 3.0)).astype(np.float32)  # ≈ 0.5 ± 0.16, never clipped
    out.flags.writeable = False  # cached: callers get copies
    return out


def _sample_polar(tex: np.ndarray, rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Bilinear sample of a polar grid at (ρ ∈ [0, 1], θ any), wrapping in angle."""
    rows, cols = tex.shape
    padded = np.concatenate([tex[:, -1:], tex, tex[:, :1]], axis=1).astype(np.float32)
    map_x = (np.mod(theta * (cols / _TWO_PI), cols) + 1.0).astype(np.float32)
    map_y = (np.clip(rho, 0.0, 1.0) * (rows - 1)).astype(np.float32)
    map_x, map_y = np.broadcast_arrays(map_x, map_y)
    return cv2.remap(
        padded,
        np.ascontiguousarray(map_x),
        np.ascontiguousarray(map_y),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _index(value: int, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    return out


def _identity(identity: int) -> int:
    out = _index(identity, "identity")
    if out < 0:
        raise ValueError(f"identity must be ≥ 0, got {out}")
    return out


def iris_texture(identity: int, rows: int = TEXTURE_ROWS, cols: int = TEXTURE_COLS) -> np.ndarray:
    """The identity's iris texture in normalised polar coordinates, float32 in [0, 1].

    Row i is at ρ = i/(rows - 1) from the pupil boundary (row 0) to the limbus (last
    row); column j at angle 2πj/cols, seamless across 2π. Seeded by `identity` alone:
    always the same texture for an identity, independent ones for different identities,
    and the same texture (sampled more or less densely) at any rows × cols.
    """
    ident = _identity(identity)
    rows, cols = _index(rows, "rows"), _index(cols, "cols")
    if rows < 2 or cols < 8:
        raise ValueError(f"the polar grid needs rows ≥ 2 and cols ≥ 8, got {rows} × {cols}")
    return _texture(ident, rows, cols).copy()


@dataclass(frozen=True, eq=False)  # eq=False: == on the image array has no single answer
class SyntheticEye:
    image: np.ndarray  # (H, W) uint8 grey
    identity: int
    pupil: tuple[float, float, float]  # cx, cy, r (px), as rendered (jitter included)
    iris: tuple[float, float, float]  # cx, cy, r (px): the limbus
    rotation_deg: float
    occlusion: float  # fraction of the iris annulus under the eyelids, from the rendered mask


def _finite(value: float, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]
) -> np.ndarray:
    """Unit-variance-ish low-frequency field: a few random values, cubic-interpolated."""
    coarse = rng.normal(0.0, 1.0, cells).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def render_eye(
    identity: int,
    *,
    capture: int = 0,
    size: tuple[int, int] = (280, 320),
    iris_radius: float = 100.0,
    pupil_ratio: float = 0.4,
    rotation_deg: float = 0.0,
    center: tuple[float, float] | None = None,
    eyelid: float = 0.15,
    lower_eyelid: float = 0.05,
    noise: float = 3.0,
    blur: float = 0.0,
    specular: bool = True,
    lashes: int = 25,
    grey_levels: tuple[float, float, float] | None = None,
    pupil_offset: tuple[float, float] | None = None,
) -> SyntheticEye:
    """One synthetic NIR eye image of `identity` (see the module docstring).

    size: (height, width). center: the iris centre (x, y), default the image centre; each
    capture moves it by up to ±1 px. pupil_ratio: pupil radius / iris radius.
    rotation_deg: eye rotation, in the image's angle sense (clockwise on screen).
    eyelid / lower_eyelid: how far the upper / lower lid comes into the iris at its
    centre column, as a fraction of the iris diameter (0 = touches the limbus, covers
    nothing); the margins are parabolic arcs closing towards the eye corners, so off the
    centre column they come a little lower (higher for the lower lid). noise: std of the
    Gaussian sensor noise in grey levels. blur: extra defocus (Gaussian sigma, px) on top
    of the optics' own 0.5 px. lashes: number of eyelash strokes from the upper lid.
    grey_levels: (pupil, iris, sclera) mean grey, default the identity's own (pupil
    20-35, iris 90-140, sclera 170-200; skin a little brighter). pupil_offset: pupil
    centre minus iris centre (x, y) in px, default the identity's own (≤ 4 % of the
    iris radius, as real pupils sit slightly off-centre); (0, 0) for concentric circles.
    """
    ident = _identity(identity)
    cap = _index(capture, "capture")
    if cap < 0:
        raise ValueError(f"capture must be ≥ 0, got {cap}")
    try:
        height, width = (_index(v, "size") for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width) in pixels, got {size!r}") from None
    if height < 16 or width < 16:
        raise ValueError(f"size must be at least 16 × 16 px, got {size!r}")
    r_iris = _finite(iris_radius, "iris_radius")
    if r_iris < 8.0:
        raise ValueError(f"iris_radius must be ≥ 8 px, got {r_iris}")
    ratio = _finite(pupil_ratio, "pupil_ratio")
    if not 0.1 <= ratio <= 0.8:
        raise ValueError(f"pupil_ratio must be in [0.1, 0.8], got {ratio}")
    rotation = _finite(rotation_deg, "rotation_deg")
    upper = _finite(eyelid, "eyelid")
    lower = _finite(lower_eyelid, "lower_eyelid")
    if not 0.0 <= upper <= 1.0:
        raise ValueError(f"eyelid must be in [0, 1] (fraction of the iris diameter), got {upper}")
    if not 0.0 <= lower <= 1.0:
        raise ValueError(
            f"lower_eyelid must be in [0, 1] (fraction of the iris diameter), got {lower}"
        )
    if upper + lower > 1.0:
        raise ValueError(
            f"eyelid + lower_eyelid must be ≤ 1 (the lids would overlap), got {upper + lower}"
        )
    noise_std = _finite(noise, "noise")
    if noise_std < 0:
        raise ValueError(f"noise must be ≥ 0, got {noise_std}")
    defocus = _finite(blur, "blur")
    if defocus < 0:
        raise ValueError(f"blur must be ≥ 0, got {defocus}")
    n_lashes = _index(lashes, "lashes")
    if n_lashes < 0:
        raise ValueError(f"lashes must be ≥ 0, got {n_lashes}")
    if center is None:
        cx0, cy0 = (width - 1) / 2.0, (height - 1) / 2.0
    else:
        if len(center) != 2:
            raise ValueError(f"center must be (x, y), got {center!r}")
        cx0, cy0 = _finite(center[0], "center x"), _finite(center[1], "center y")
    if grey_levels is not None:
        if len(grey_levels) != 3:
            raise ValueError(f"grey_levels must be (pupil, iris, sclera), got {grey_levels!r}")
        g_pupil, g_iris, g_sclera = (_finite(v, "grey_levels") for v in grey_levels)
        if not 0 <= g_pupil < g_iris < g_sclera <= 255:
            raise ValueError(
                f"grey_levels must satisfy 0 ≤ pupil < iris < sclera ≤ 255, got {grey_levels!r}"
            )
    r_pupil = ratio * r_iris
    if pupil_offset is not None:
        if len(pupil_offset) != 2:
            raise ValueError(f"pupil_offset must be (dx, dy), got {pupil_offset!r}")
        off_x = _finite(pupil_offset[0], "pupil_offset dx")
        off_y = _finite(pupil_offset[1], "pupil_offset dy")
        # Keep a band of iris all round: the rubber sheet needs the pupil well inside.
        if math.hypot(off_x, off_y) > 0.5 * (r_iris - r_pupil):
            raise ValueError(
                f"pupil_offset {pupil_offset!r} is too large: it must be ≤ half the iris band "
                f"({0.5 * (r_iris - r_pupil):g} px)"
            )
    margin = r_iris + _JITTER_PX
    if (
        cx0 - margin < 0
        or cx0 + margin > width - 1
        or cy0 - margin < 0
        or cy0 + margin > height - 1
    ):
        raise ValueError(
            f"the iris (centre ({cx0:g}, {cy0:g}), radius {r_iris:g}) must fit inside the "
            f"{width} × {height} image with {_JITTER_PX:g} px to spare for capture jitter"
        )

    # Identity: appearance that belongs to the eye. Capture: what changes between shots.
    id_rng, spec_rng, skin_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([_EYE_TAG, ident]).spawn(3)
    )
    cap_rng, lash_rng, noise_rng = (
        np.random.default_rng(s)
        for s in np.random.SeedSequence([_CAPTURE_TAG, ident, cap]).spawn(3)
    )

    # Plain floats: numpy scalars would promote the float32 image arrays to float64.
    def draw(rng: np.random.Generator, lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    own_levels = (draw(id_rng, 20, 35), draw(id_rng, 90, 140), draw(id_rng, 170, 200))
    skin_delta = draw(id_rng, 0, 22)
    own_shift, own_angle = draw(id_rng, 0, 0.04) * r_iris, draw(id_rng, 0, _TWO_PI)
    lid_radius_up = draw(id_rng, 2.4, 3.4) * r_iris  # lid curvature radii (px)
    lid_radius_low = draw(id_rng, 3.0, 4.5) * r_iris
    contrast = draw(id_rng, 75, 100)  # grey levels per unit of texture
    lash_alpha = draw(id_rng, 0.6, 0.85)
    crease = draw(id_rng, 0.35, 0.55) * r_iris

    if grey_levels is None:
        g_pupil, g_iris, g_sclera = own_levels
    g_skin = max(g_sclera, min(g_sclera + skin_delta, 225.0))  # skin ≥ sclera
    if pupil_offset is None:
        off_x, off_y = own_shift * math.cos(own_angle), own_shift * math.sin(own_angle)

    # Per-capture variation.
    cxi = cx0 + draw(cap_rng, -_JITTER_PX, _JITTER_PX)
    cyi = cy0 + draw(cap_rng, -_JITTER_PX, _JITTER_PX)
    cxp, cyp = cxi + off_x, cyi + off_y
    gain = draw(cap_rng, 0.94, 1.06)
    offset = draw(cap_rng, -6, 6)
    contrast *= draw(cap_rng, 0.96, 1.04)
    lid_radius_up *= draw(cap_rng, 0.95, 1.05)
    lid_radius_low *= draw(cap_rng, 0.95, 1.05)
    spec_jitter = cap_rng.uniform(-0.04, 0.04, 2) * r_pupil

    def upper_edge_at(x: np.ndarray) -> np.ndarray:
        """The upper lid margin's y: `eyelid` × diameter below the iris top at the iris's
        centre column, parabolic and lower towards the corners."""
        return (cyi - r_iris) + upper * 2.0 * r_iris + (x - cxi) ** 2 / (2.0 * lid_radius_up)

    x = np.arange(width, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]

    # Anti-aliased coverage of each region: 1 inside, 0 outside, linear over the 1 px
    # across the edge (signed distance + ½), so edges look like a camera's, not steps.
    dist_iris = np.hypot(x - cxi, y - cyi)
    iris_cov = np.clip(r_iris + 0.5 - dist_iris, 0.0, 1.0)
    pupil_cov = np.clip(r_pupil + 0.5 - np.hypot(x - cxp, y - cyp), 0.0, 1.0)
    dx = x - cxi
    upper_edge = upper_edge_at(x)
    lower_edge = (cyi + r_iris) - lower * 2.0 * r_iris - dx**2 / (2.0 * lid_radius_low)
    # Signed distance from each lid margin, positive inside the lid.
    d_up = (upper_edge - y) / np.sqrt(1.0 + (dx / lid_radius_up) ** 2)
    d_low = (y - lower_edge) / np.sqrt(1.0 + (dx / lid_radius_low) ** 2)
    up_cov = np.clip(d_up + 0.5, 0.0, 1.0)
    low_cov = np.clip(d_low + 0.5, 0.0, 1.0)
    lid_cov = np.maximum(up_cov, low_cov)

    # Skin: the lids, with a darker margin (lash line), a crease above, slow shading. The
    # parabolas cross beyond the eye corners, where margins and crease fade out.
    opening = np.clip((lower_edge - upper_edge) / (0.2 * r_iris), 0.0, 1.0)
    skin = g_skin * (1.0 + 0.035 * _smooth_field(skin_rng, (height, width), (4, 5)))
    skin *= 1.0 - 0.35 * opening * np.exp(-np.abs(d_up) / (0.04 * r_iris))
    skin *= 1.0 - 0.12 * opening * np.exp(-0.5 * ((d_up - crease) / (0.07 * r_iris)) ** 2)
    skin *= 1.0 - 0.15 * opening * np.exp(-np.abs(d_low) / (0.03 * r_iris))

    # Sclera: darker towards the eye corners.
    sclera = g_sclera * (1.0 - 0.12 * np.minimum((dx / (1.8 * r_iris)) ** 2, 1.0))
    sclera = sclera + 3.0 * _smooth_field(skin_rng, (height, width), (3, 4))

    # Iris: the texture through the rubber sheet, inside the iris's bounding box only.
    iris_grey = np.full((height, width), g_iris, np.float32)
    x0, x1 = max(int(cxi - r_iris) - 2, 0), min(int(cxi + r_iris) + 3, width)
    y0, y1 = max(int(cyi - r_iris) - 2, 0), min(int(cyi + r_iris) + 3, height)
    vx = x[:, x0:x1] - cxp
    vy = y[y0:y1] - cyp
    # Invert X = (1-ρ)(Cp + rp·u) + ρ(Ci + ri·u): with v = X - Cp, d = Ci - Cp, Δ = ri - rp,
    # |v - ρd| = rp + ρΔ, a quadratic in ρ whose root with rp + ρΔ > 0 we take.
    ddx, ddy, delta = cxi - cxp, cyi - cyp, r_iris - r_pupil
    qa = ddx * ddx + ddy * ddy - delta * delta  # < 0: the pupil lies inside the iris
    qb = -2.0 * (vx * ddx + vy * ddy + r_pupil * delta)
    qc = vx * vx + vy * vy - r_pupil * r_pupil
    rho = (-qb - np.sqrt(np.maximum(qb * qb - 4.0 * qa * qc, 0.0))) / (2.0 * qa)
    theta = np.arctan2(vy - rho * ddy, vx - rho * ddx)
    tex = _sample_polar(
        _texture(ident, TEXTURE_ROWS, TEXTURE_COLS), rho, theta - math.radians(rotation)
    )
    # The limbus is a little darker than the iris body, as in NIR images.
    limbal = 1.0 - 0.12 * np.clip((rho - 0.85) / 0.15, 0.0, 1.0) ** 2
    iris_grey[y0:y1, x0:x1] = (g_iris + contrast * (tex - 0.5)) * limbal

    pupil_grey = g_pupil + 2.0 * _smooth_field(skin_rng, (height, width), (3, 3))

    eye = sclera * (1.0 - iris_cov) + iris_grey * iris_cov
    eye = eye * (1.0 - pupil_cov) + pupil_grey * pupil_cov
    # The upper lid shades the eye just below it.
    eye *= 1.0 - 0.22 * np.exp(-np.abs(d_up) / (0.06 * r_iris))
    img = (eye * (1.0 - lid_cov) + skin * lid_cov) * gain + offset

    if specular and r_pupil >= 6.0:
        # The illuminator's LEDs: a small ring of saturated dots inside the pupil. Drawn
        # over-bright so their cores stay saturated through the blur; hidden by the lids.
        n_spots = int(spec_rng.integers(6, 9))
        ring_c = np.array([cxp, cyp]) + spec_rng.uniform(-0.2, 0.2, 2) * r_pupil + spec_jitter
        ring_r = spec_rng.uniform(0.2, 0.35) * r_pupil
        spot_r = max(1.2, 0.07 * r_pupil)
        phase = spec_rng.uniform(0, _TWO_PI)
        angles = phase + np.arange(n_spots) * (_TWO_PI / n_spots)
        px0, px1 = max(int(cxp - r_pupil), 0), min(int(cxp + r_pupil) + 2, width)
        py0, py1 = max(int(cyp - r_pupil), 0), min(int(cyp + r_pupil) + 2, height)
        sx, sy = x[:, px0:px1], y[py0:py1]
        spots = np.zeros((py1 - py0, px1 - px0), np.float32)
        for a in angles:
            d = np.hypot(
                sx - (ring_c[0] + ring_r * math.cos(a)), sy - (ring_c[1] + ring_r * math.sin(a))
            )
            spots = np.maximum(spots, np.clip(spot_r + 0.5 - d, 0.0, 1.0))
        spots *= 1.0 - lid_cov[py0:py1, px0:px1]
        patch = img[py0:py1, px0:px1]
        img[py0:py1, px0:px1] = patch * (1.0 - spots) + 330.0 * spots

    if n_lashes:
        # Eyelashes: dark curved strokes hanging from the upper lid margin, leaning outward.
        layer = np.zeros((height, width), np.uint8)
        root_x = cxi + r_iris * lash_rng.uniform(-1.25, 1.25, n_lashes)
        root_y = upper_edge_at(root_x) - lash_rng.uniform(0, 0.03 * r_iris, n_lashes)
        lean = 0.35 * (root_x - cxi) / r_iris + lash_rng.normal(0, 0.2, n_lashes)
        length = r_iris * lash_rng.uniform(0.08, 0.3, n_lashes)
        bend = lash_rng.uniform(-0.3, 0.3, n_lashes) * length
        t = np.linspace(0.0, 1.0, 8)[:, None]
        strokes = []
        for i in range(n_lashes):
            tip = np.array(
                [
                    root_x[i] + length[i] * math.sin(lean[i]),
                    root_y[i] + length[i] * math.cos(lean[i]),
                ]
            )
            root = np.array([root_x[i], root_y[i]])
            mid = 0.5 * (root + tip) + bend[i] * np.array([math.cos(lean[i]), -math.sin(lean[i])])
            curve = (1 - t) ** 2 * root + 2 * (1 - t) * t * mid + t**2 * tip  # quadratic Bézier
            strokes.append(np.round(curve * 16).astype(np.int32))  # 4 fractional bits
        thickness = max(1, round(r_iris / 90))
        cv2.polylines(layer, strokes, False, 255, thickness, cv2.LINE_AA, shift=4)
        alpha = layer.astype(np.float32) * (lash_alpha / 255.0)
        img = img * (1.0 - alpha) + (0.35 * g_pupil + 25.0) * alpha

    sigma = math.hypot(_OPTICS_SIGMA, defocus)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    if noise_std > 0:
        img += noise_std * noise_rng.standard_normal(img.shape, dtype=np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    annulus = np.clip(iris_cov - pupil_cov, 0.0, 1.0)
    occlusion = float((annulus * lid_cov).sum() / annulus.sum())
    return SyntheticEye(
        image=image,
        identity=ident,
        pupil=(float(cxp), float(cyp), float(r_pupil)),
        iris=(float(cxi), float(cyi), float(r_iris)),
        rotation_deg=rotation,
        occlusion=occlusion,
    )
