"""The synthetic NIR eye generator's own properties: determinism, independent identities,
the rubber-sheet mapping (re-sampled from the image at the reported circles, the texture
comes back; rotation shifts it, dilation does not change it), grey levels, eyelids,
occlusion, noise, blur, lashes, reflections, and argument checks.

Measurements are made on the rendered image with this file's own polar re-sampling, not
with the pipeline's code (models/iris), so a mapping error in either would show."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from dichte.models.iris.synthetic import SyntheticEye, iris_texture, render_eye

ROWS, COLS = 64, 512
# Rows near the pupil and limbus mix with the neighbouring region through anti-aliasing
# and optics blur; compare the band inside them.
INNER = slice(3, ROWS - 3)
CLEAN: dict[str, Any] = {"eyelid": 0.0, "lower_eyelid": 0.0, "lashes": 0}


def unwrap(eye: SyntheticEye, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """Daugman's rubber sheet from the image at the eye's reported circles: row i at
    ρ = i/(rows-1) between the pupil and limbus points of angle 2πj/cols."""
    cxp, cyp, rp = eye.pupil
    cxi, cyi, ri = eye.iris
    rho = np.linspace(0.0, 1.0, rows)[:, None]
    theta = np.arange(cols) * (2 * math.pi / cols)
    ux, uy = np.cos(theta)[None, :], np.sin(theta)[None, :]
    map_x = (1 - rho) * (cxp + rp * ux) + rho * (cxi + ri * ux)
    map_y = (1 - rho) * (cyp + rp * uy) + rho * (cyi + ri * uy)
    return cv2.remap(
        eye.image.astype(np.float32),
        map_x.astype(np.float32),
        map_y.astype(np.float32),
        cv2.INTER_LINEAR,
    )


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def best_shift(polar: np.ndarray, texture: np.ndarray) -> tuple[int, float]:
    """The circular column shift s with polar ≈ roll(texture, s), and its correlation."""
    scores = [corr(polar, np.roll(texture, s, axis=1)) for s in range(texture.shape[1])]
    s = int(np.argmax(scores))
    return (s if s <= texture.shape[1] // 2 else s - texture.shape[1]), scores[s]


def ring(image: np.ndarray, cx: float, cy: float, r: float, degrees: np.ndarray) -> np.ndarray:
    """Grey values on a circle (bilinear), at the given angles."""
    a = np.radians(degrees)
    xs = (cx + r * np.cos(a)).astype(np.float32)[None, :]
    ys = (cy + r * np.sin(a)).astype(np.float32)[None, :]
    return cv2.remap(image.astype(np.float32), xs, ys, cv2.INTER_LINEAR)[0]


# --- the texture -------------------------------------------------------------------------


def test_texture_shape_range_and_determinism() -> None:
    tex = iris_texture(5)
    assert tex.shape == (ROWS, COLS) and tex.dtype == np.float32
    assert tex.min() >= 0.0 and tex.max() <= 1.0
    assert tex.std() > 0.08  # texture, not a flat grey
    assert np.array_equal(tex, iris_texture(5))
    small = iris_texture(5, rows=16, cols=128)
    assert small.shape == (16, 128)


def test_texture_returned_is_a_copy() -> None:
    tex = iris_texture(6)
    tex[:] = 0.0
    assert iris_texture(6).std() > 0.08


def test_texture_is_one_function_at_any_sampling() -> None:
    # Row 2i, column 2j of a 127 × 1024 grid is at the (ρ, θ) of row i, column j at 64 × 512.
    fine = iris_texture(9, rows=127, cols=1024)
    assert corr(fine[::2, ::2], iris_texture(9)) > 0.95


@pytest.mark.parametrize("identity", [0, 1, 2, 3])
def test_texture_is_seamless_in_angle(identity: int) -> None:
    tex = iris_texture(identity)
    steps = np.abs(tex - np.roll(tex, 1, axis=1)).mean(axis=0)  # steps[0]: across 2π
    assert steps[0] < np.percentile(steps, 99)


def test_texture_energy_where_a_gabor_code_looks() -> None:
    # Power along the angle, per cycles per turn: wavelengths of 8-40 columns of 512 are
    # 13-64 cycles.
    power = np.zeros(COLS // 2 + 1)
    for identity in range(8):
        tex = iris_texture(identity)
        spectrum = np.fft.rfft(tex - tex.mean(axis=1, keepdims=True), axis=1)
        power += (np.abs(spectrum) ** 2).sum(axis=0)
    share = power[13:65].sum() / power[1:].sum()
    assert share > 0.6, share


@pytest.mark.parametrize("pair", [(0, 1), (1, 2), (2, 3), (10, 11), (20, 57), (100, 1000)])
def test_identities_have_independent_textures(pair: tuple[int, int]) -> None:
    assert abs(corr(iris_texture(pair[0]), iris_texture(pair[1]))) < 0.2


def test_identity_textures_are_uncorrelated_on_average() -> None:
    textures = np.stack([iris_texture(i).ravel() for i in range(30)])
    c = np.corrcoef(textures)[np.triu_indices(30, 1)]
    assert abs(c.mean()) < 0.05 and np.abs(c).max() < 0.3


# --- the rendered eye --------------------------------------------------------------------


def test_render_is_deterministic() -> None:
    a = render_eye(7, capture=3)
    b = render_eye(7, capture=3)
    assert np.array_equal(a.image, b.image)
    assert (a.pupil, a.iris, a.occlusion, a.rotation_deg) == (
        b.pupil,
        b.iris,
        b.occlusion,
        b.rotation_deg,
    )


def _digest() -> str:
    eye = render_eye(7, capture=3, rotation_deg=5.0)
    return hashlib.sha256(iris_texture(5).tobytes() + eye.image.tobytes()).hexdigest()


def test_same_images_in_a_fresh_process() -> None:
    # In-process repeats come from the texture cache; a new interpreter shows that only
    # the arguments, not global random state or call order, decide the pixels.
    code = "from tests.test_iris_synthetic import _digest; print(_digest())"
    fresh = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],  # where `tests` imports from
    )
    assert fresh.stdout.strip() == _digest()


def test_record_fields_and_frozen() -> None:
    eye = render_eye(2, size=(240, 300), iris_radius=90, pupil_ratio=0.5, rotation_deg=12)
    assert eye.image.shape == (240, 300) and eye.image.dtype == np.uint8
    assert eye.identity == 2 and eye.rotation_deg == 12.0
    cx, cy, r = eye.iris
    assert r == 90.0 and abs(cx - 149.5) <= 1.0 and abs(cy - 119.5) <= 1.0
    assert eye.pupil[2] == pytest.approx(45.0)
    # The pupil sits a little off the iris centre, as real ones do, but well inside it.
    assert math.hypot(eye.pupil[0] - cx, eye.pupil[1] - cy) <= 0.04 * r + 1e-9
    record: Any = eye  # the assignment is what is tested, not a typing slip
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.identity = 3


def test_captures_differ_but_show_the_same_iris() -> None:
    own, other = iris_texture(3)[INNER], iris_texture(4)[INNER]
    eyes = [render_eye(3, capture=c) for c in range(4)]
    for a, b in itertools.pairwise(eyes):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 2.0
    for eye in eyes:
        polar = unwrap(eye)[INNER]
        # Lids and lashes cover the top: compare over the lower half (θ in 20°-160°;
        # y grows downwards), where only the lower lid's edge may reach the last rows.
        # A quarter of the texture holds fewer independent features than the whole, so
        # an impostor's chance correlation spreads wider (std ≈ 0.09) than the whole
        # annulus's (≈ 0.06, tested below with < 0.2).
        lower = slice(COLS * 20 // 360, COLS * 160 // 360)
        assert corr(polar[:-6, lower], own[:-6, lower]) > 0.6
        assert abs(corr(polar[:-6, lower], other[:-6, lower])) < 0.3


@pytest.mark.parametrize("capture", [0, 1, 2])
def test_whole_annulus_matches_the_texture_without_lids(capture: int) -> None:
    eye = render_eye(11, capture=capture, **CLEAN)
    polar = unwrap(eye)[INNER]
    assert corr(polar, iris_texture(11)[INNER]) > 0.8
    assert abs(corr(polar, iris_texture(12)[INNER])) < 0.2


@pytest.mark.parametrize("degrees", [-25.0, 10.0, 33.0, 90.0])
def test_rotation_shifts_the_polar_texture(degrees: float) -> None:
    eye = render_eye(8, rotation_deg=degrees, **CLEAN)
    shift, score = best_shift(unwrap(eye)[INNER], iris_texture(8)[INNER])
    assert abs(shift - degrees / 360 * COLS) <= 2, (shift, degrees / 360 * COLS)
    assert score > 0.8


@pytest.mark.parametrize("ratio", [0.2, 0.4, 0.65])
def test_dilation_stretches_the_texture_radially(ratio: float) -> None:
    # The rubber sheet absorbs dilation: the polar texture is the same at any pupil size.
    eye = render_eye(13, pupil_ratio=ratio, **CLEAN)
    assert corr(unwrap(eye)[INNER], iris_texture(13)[INNER]) > 0.75


def test_off_centre_pupil_follows_daugmans_rubber_sheet() -> None:
    eye = render_eye(14, pupil_offset=(6.0, -4.0), **CLEAN)
    assert eye.pupil[0] - eye.iris[0] == pytest.approx(6.0)
    assert eye.pupil[1] - eye.iris[1] == pytest.approx(-4.0)
    assert corr(unwrap(eye)[INNER], iris_texture(14)[INNER]) > 0.8
    concentric = render_eye(14, pupil_offset=(0.0, 0.0))
    assert concentric.pupil[:2] == concentric.iris[:2]


@pytest.mark.parametrize("identity", [0, 1, 2, 3, 4])
def test_pupil_darker_than_iris_darker_than_sclera(identity: int) -> None:
    eye = render_eye(identity)
    cxp, cyp, rp = eye.pupil
    cxi, cyi, ri = eye.iris
    everywhere = np.arange(0, 360, 2.0)
    pupil = np.median(ring(eye.image, cxp, cyp, 0.75 * rp, everywhere))
    iris = np.median(ring(eye.image, cxi, cyi, 0.5 * (rp + ri), everywhere))
    # Sclera beside the iris, left and right, where no lid comes.
    beside = np.concatenate([np.arange(-15, 16, 1.0), np.arange(165, 196, 1.0)])
    sclera = np.median(ring(eye.image, cxi, cyi, 1.15 * ri, beside))
    assert pupil < 45 and 75 < iris < 160 and sclera > 150, (pupil, iris, sclera)
    assert iris - pupil > 40 and sclera - iris > 25, (pupil, iris, sclera)


def test_grey_levels_are_honoured() -> None:
    eye = render_eye(1, grey_levels=(30.0, 120.0, 200.0), noise=0.0)
    cxp, cyp, rp = eye.pupil
    cxi, cyi, ri = eye.iris
    everywhere = np.arange(0, 360, 2.0)
    beside = np.concatenate([np.arange(-15, 16, 1.0), np.arange(165, 196, 1.0)])
    measured = (
        np.median(ring(eye.image, cxp, cyp, 0.75 * rp, everywhere)),
        np.median(ring(eye.image, cxi, cyi, 0.5 * (rp + ri), everywhere)),
        np.median(ring(eye.image, cxi, cyi, 1.15 * ri, beside)),
    )
    # Per-capture gain (±6 %) and offset (±6), the sclera's shading towards the corners.
    for got, want in zip(measured, (30.0, 120.0, 200.0), strict=True):
        assert abs(got - want) <= 0.1 * want + 8, (measured, want)


def _edge(image: np.ndarray, cx: float, cy: float, degrees: float, lo: float, hi: float) -> float:
    """Radius of the steepest rise in grey along a ray, between lo and hi."""
    radii = np.arange(lo, hi, 0.1)
    a = math.radians(degrees)
    xs = (cx + radii * math.cos(a)).astype(np.float32)[None, :]
    ys = (cy + radii * math.sin(a)).astype(np.float32)[None, :]
    profile = cv2.remap(image.astype(np.float32), xs, ys, cv2.INTER_LINEAR)[0]
    profile = np.convolve(profile, np.ones(5) / 5, mode="valid")  # noise down, no padding
    return float(radii[2:-2][np.argmax(np.gradient(profile))])


@pytest.mark.parametrize("identity", [0, 5])
def test_reported_circles_are_where_the_image_has_its_edges(identity: int) -> None:
    eye = render_eye(identity, noise=1.0, lashes=0)
    cxp, cyp, rp = eye.pupil
    cxi, cyi, ri = eye.iris
    mid = 0.5 * (rp + ri)
    # Rays left and right, clear of the lids.
    rays = np.concatenate([np.arange(-30, 31, 5.0), np.arange(150, 211, 5.0)])
    pupil = np.array([_edge(eye.image, cxp, cyp, d, 0.6 * rp, rp + 0.3 * (ri - rp)) for d in rays])
    limbus = np.array([_edge(eye.image, cxi, cyi, d, mid, 1.25 * ri) for d in rays])
    # Texture next to an edge moves a single ray's steepest rise by up to ~0.7 px, but
    # not on average: a half-pixel slip (pixel corners for centres) would show there.
    for found, r in ((pupil, rp), (limbus, ri)):
        assert np.abs(found - r).max() <= 1.0, found - r
        assert abs((found - r).mean()) <= 0.25, found - r


def _chord_fraction(eye: SyntheticEye, line_y: float) -> float:
    """Share of the ideal annulus above a horizontal line (fine grid, our own count)."""
    cxp, cyp, rp = eye.pupil
    cxi, cyi, ri = eye.iris
    ys, xs = np.mgrid[0 : eye.image.shape[0] : 0.25, 0 : eye.image.shape[1] : 0.25]
    annulus = (np.hypot(xs - cxi, ys - cyi) <= ri) & (np.hypot(xs - cxp, ys - cyp) > rp)
    return float((annulus & (ys < line_y)).sum() / annulus.sum())


def test_occlusion_grows_with_the_eyelid() -> None:
    lids = [0.0, 0.1, 0.25, 0.4, 0.6, 0.8]
    eyes = [render_eye(21, eyelid=e, lower_eyelid=0.05) for e in lids]
    occlusion = [eye.occlusion for eye in eyes]
    assert all(a < b for a, b in itertools.pairwise(occlusion)), occlusion
    for eyelid, eye in zip(lids, eyes, strict=True):
        # The lid reaches eyelid × diameter below the iris top at the centre column and
        # comes lower towards the corners, so it covers at least the chord at that height.
        top = eye.iris[1] - eye.iris[2]
        assert eye.occlusion >= _chord_fraction(eye, top + eyelid * 2 * eye.iris[2]) - 0.005


def test_no_lids_no_occlusion() -> None:
    eye = render_eye(21, eyelid=0.0, lower_eyelid=0.0)
    assert eye.occlusion < 0.005
    assert 0.0 <= render_eye(21, eyelid=1.0, lower_eyelid=0.0).occlusion <= 1.0
    assert render_eye(21, eyelid=0.95, lower_eyelid=0.05).occlusion > 0.99


@pytest.mark.parametrize("eyelid", [0.2, 0.45])
def test_upper_lid_edge_is_where_asked(eyelid: float) -> None:
    eye = render_eye(30, eyelid=eyelid, lashes=0, noise=0.0)
    cxi, cyi, ri = eye.iris
    edge_y = cyi - ri + eyelid * 2 * ri
    column = eye.image[:, round(cxi)].astype(float)
    skin, iris = column[round(edge_y - 12)], column[round(edge_y + 12)]
    assert skin > iris + 30, (skin, iris)


@pytest.mark.parametrize(
    ("eyelid", "lower_eyelid"),
    [(0.0, 0.0), (0.1, 0.0), (0.0, 0.15), (0.3, 0.1), (0.6, 0.0)],
    ids=["open", "upper-0.1", "lower-0.15", "both", "upper-0.6"],
)
def test_occlusion_agrees_with_the_bright_lid_in_the_image(
    eyelid: float, lower_eyelid: float
) -> None:
    # With the sclera (and so the skin) at 200 and the iris at 110, no iris texture
    # reaches 160 but the lids do (except a px or two along the darker lid margin).
    eye = render_eye(
        31,
        eyelid=eyelid,
        lower_eyelid=lower_eyelid,
        lashes=0,
        noise=0.0,
        specular=False,
        grey_levels=(30.0, 110.0, 200.0),
    )
    cxp, cyp, rp = eye.pupil
    cxi, cyi, ri = eye.iris
    ys, xs = np.mgrid[0 : eye.image.shape[0], 0 : eye.image.shape[1]]
    annulus = (np.hypot(xs - cxi, ys - cyi) <= ri) & (np.hypot(xs - cxp, ys - cyp) > rp)
    covered = ((eye.image > 160) & annulus).sum() / annulus.sum()
    assert abs(covered - eye.occlusion) < 0.03, (covered, eye.occlusion)


@pytest.mark.parametrize("noise", [1.5, 3.0, 6.0])
def test_noise_has_the_asked_std(noise: float) -> None:
    quiet = render_eye(40, noise=0.0).image.astype(float)
    noisy = render_eye(40, noise=noise).image.astype(float)
    unclipped = (quiet > 20) & (quiet < 235)
    assert 0.9 * noise < (noisy - quiet)[unclipped].std() < 1.1 * noise


def test_blur_softens_the_image() -> None:
    sharp = render_eye(41, noise=0.0, blur=0.0).image
    soft = render_eye(41, noise=0.0, blur=2.0).image
    detail = [np.abs(cv2.Laplacian(i.astype(np.float32), cv2.CV_32F)).mean() for i in (sharp, soft)]
    assert detail[1] < 0.5 * detail[0], detail


def test_lashes_darken_below_the_upper_lid() -> None:
    bare = render_eye(42, lashes=0, noise=0.0).image.astype(int)
    lashed = render_eye(42, lashes=60, noise=0.0).image.astype(int)
    diff = lashed - bare
    assert diff.max() <= 1  # strokes only ever darken
    assert (diff < -15).sum() > 300
    _, cyi, ri = render_eye(42, lashes=60, noise=0.0).iris
    rows = np.nonzero((diff < -15).any(axis=1))[0]
    # They hang from the lid edge (0.15 × diameter below the iris top, a little lower
    # towards the sides) and reach no further than about a third of the iris radius.
    edge_y = cyi - ri + 0.15 * 2 * ri
    assert rows.min() > edge_y - 0.15 * ri and rows.max() < edge_y + 0.7 * ri


def test_reflections_are_saturated_spots_inside_the_pupil() -> None:
    eye = render_eye(43)
    cxp, cyp, rp = eye.pupil
    ys, xs = np.mgrid[0 : eye.image.shape[0], 0 : eye.image.shape[1]]
    inside = np.hypot(xs - cxp, ys - cyp) < rp
    saturated = eye.image >= 250
    assert saturated[inside].sum() >= 4
    assert not saturated[~inside].any()
    plain = render_eye(43, specular=False)
    assert plain.image[np.hypot(xs - cxp, ys - cyp) < 0.8 * rp].max() < 80


def test_render_accepts_numpy_integers() -> None:
    identity: Any = np.int64(3)  # as from an array of identities
    capture: Any = np.int32(1)
    a = render_eye(identity, capture=capture)
    assert np.array_equal(a.image, render_eye(3, capture=1).image)


INVALID: list[Any] = [
    pytest.param({"identity": -1}, "identity", id="negative-identity"),
    pytest.param({"identity": 1.5}, "identity", id="float-identity"),
    pytest.param({"capture": -2}, "capture", id="negative-capture"),
    pytest.param({"size": (10, 320)}, "size", id="tiny-image"),
    pytest.param({"size": (280,)}, "size", id="size-not-a-pair"),
    pytest.param({"iris_radius": 150.0}, "fit inside", id="iris-larger-than-image"),
    pytest.param({"iris_radius": 120.0, "center": (160.0, 60.0)}, "fit inside", id="iris-off-top"),
    pytest.param({"center": (100.5, 140.0)}, "fit inside", id="jitter-would-leave-image"),
    pytest.param({"iris_radius": 4.0}, "iris_radius", id="iris-too-small"),
    pytest.param({"iris_radius": math.nan}, "iris_radius", id="iris-radius-nan"),
    pytest.param({"pupil_ratio": 0.05}, "pupil_ratio", id="pupil-too-small"),
    pytest.param({"pupil_ratio": 0.9}, "pupil_ratio", id="pupil-too-large"),
    pytest.param({"eyelid": -0.1}, "eyelid", id="negative-eyelid"),
    pytest.param({"eyelid": 1.2}, "eyelid", id="eyelid-beyond-iris"),
    pytest.param({"lower_eyelid": -0.01}, "lower_eyelid", id="negative-lower-eyelid"),
    pytest.param({"eyelid": 0.7, "lower_eyelid": 0.4}, "overlap", id="lids-overlap"),
    pytest.param({"noise": -1.0}, "noise", id="negative-noise"),
    pytest.param({"blur": -0.5}, "blur", id="negative-blur"),
    pytest.param({"lashes": -3}, "lashes", id="negative-lashes"),
    pytest.param({"rotation_deg": math.inf}, "rotation_deg", id="infinite-rotation"),
    pytest.param({"grey_levels": (120.0, 30.0, 200.0)}, "grey_levels", id="grey-levels-order"),
    pytest.param({"grey_levels": (30.0, 120.0)}, "grey_levels", id="grey-levels-pair"),
    pytest.param({"pupil_offset": (40.0, 0.0)}, "pupil_offset", id="pupil-outside-iris"),
]


@pytest.mark.parametrize(("kwargs", "message"), INVALID)
def test_invalid_arguments_raise(kwargs: dict[str, Any], message: str) -> None:
    args = {"identity": 0, **kwargs}
    identity = args.pop("identity")
    with pytest.raises(ValueError, match=message):
        render_eye(identity, **args)


@pytest.mark.parametrize(
    ("identity", "rows", "cols"),
    [
        pytest.param(-1, 64, 512, id="negative-identity"),
        pytest.param(0, 1, 512, id="one-row"),
        pytest.param(0, 64, 4, id="too-few-columns"),
    ],
)
def test_invalid_texture_arguments_raise(identity: int, rows: int, cols: int) -> None:
    with pytest.raises(ValueError):
        iris_texture(identity, rows, cols)
