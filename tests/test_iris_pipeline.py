"""Iris pipeline on real near-infrared eye images (../shared/data/iris, MANIFEST.md section 3).

Identities come from iris/labels/iris_identities.csv (CASIA and Warsaw file-name
conventions); expected shifts, lid positions and pair counts from the geometry we impose
or from the labels; the Gabor bank is checked against this file's own numpy correlation.
No expected value is copied from the pipeline's earlier output.

`pytest -s` prints the CASIA same-eye / other-eye distributions.
"""

from __future__ import annotations

import collections
import csv
import itertools
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from dichte.models.errors import IrisError
from dichte.models.iris.code import (
    ANGLES,
    BITS,
    DEFAULT_SHIFTS,
    DEGREES_PER_SHIFT,
    IMPOSTOR_DOF,
    MATCH_THRESHOLD,
    MIN_BITS_COMPARED,
    RINGS,
    SHAPE,
    TARGET_FPIR,
    TYPICAL_BITS_COMPARED,
    IrisCode,
    distance,
    identification_threshold,
)
from dichte.models.iris.encoder import COLS, ROWS, GaborBank, GaborParams, gabor_kernel
from dichte.models.iris.matching import CodeMatrix, scan, scan_numpy
from dichte.models.iris.pipeline import EncodedIris, IrisPipeline, PreparedIris
from tests.live import SHARED_DATA, missing, shared

IRIS = SHARED_DATA / "iris"
LABELS = IRIS / "labels" / "iris_identities.csv"
CASIA = "opencvblueprints_casia_interval/"
WARSAW = "czajka_warsaw_postmortem/"
OPEN_IRIS = IRIS / "open_iris" / "anonymized.png"
# MANIFEST section 1: the deepface files are colour web photos (visible light).
COLOUR_PHOTO = SHARED_DATA / "faces" / "deepface" / "img1.jpg"
TARGET_D_PRIME = 4.0  # the target for CASIA's same-eye vs other-eye separation

# Every refusal that says "no usable eye here" (not a format or size problem).
NO_USABLE_EYE = {"no_pupil", "no_iris", "occluded", "out_of_focus", "off_gaze", "pupil_ratio"}

# --- data -------------------------------------------------------------------------------


def _labels() -> list[dict[str, str]]:
    with shared(LABELS).open(newline="") as f:
        return list(csv.DictReader(f))


def _eye_of(prefix: str) -> dict[str, str]:
    """file (relative to iris/) → eye id, for the labelled files under `prefix`."""
    return {r["file"]: r["eye_id"] for r in _labels() if r["file"].startswith(prefix)}


def _grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(shared(path)), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return image


@pytest.fixture(scope="module")
def pipeline() -> IrisPipeline:
    return IrisPipeline()


@pytest.fixture(scope="module")
def casia_eyes() -> dict[str, str]:
    eyes = _eye_of(CASIA)
    if not eyes:
        missing("shared data not present: CASIA rows in iris_identities.csv")
    return eyes


@pytest.fixture(scope="module")
def casia_images(casia_eyes: dict[str, str]) -> dict[str, np.ndarray]:
    return {f: _grey(IRIS / f) for f in casia_eyes}


@pytest.fixture(scope="module")
def casia_prepared(
    pipeline: IrisPipeline, casia_images: dict[str, np.ndarray]
) -> dict[str, PreparedIris]:
    return {f: pipeline.prepare(image) for f, image in casia_images.items()}


@pytest.fixture(scope="module")
def casia_codes(
    pipeline: IrisPipeline, casia_prepared: dict[str, PreparedIris]
) -> dict[str, IrisCode]:
    """The 20 CASIA codes, encoded once (one filter-bank batch)."""
    files = list(casia_prepared)
    refused = {
        f: casia_prepared[f].quality.reasons for f in files if not casia_prepared[f].quality.ok
    }
    assert not refused, f"every CASIA image is a usable eye: {refused}"
    return dict(zip(files, pipeline.encode([casia_prepared[f] for f in files]), strict=True))


def _casia(name: str) -> str:
    return CASIA + name


def _same_and_other_eye(
    casia_eyes: dict[str, str], codes: dict[str, IrisCode], probe_file: str, probe: IrisCode
) -> tuple[list[float], list[float]]:
    """hd of `probe` (a capture of probe_file's eye) against every other CASIA image."""
    same, other = [], []
    for f, code in codes.items():
        if f == probe_file:
            continue
        hd = distance(code, probe)[0]
        (same if casia_eyes[f] == casia_eyes[probe_file] else other).append(hd)
    return same, other


# --- 1. CASIA: same eye vs other eye --------------------------------------------------------


def test_casia_same_eye_and_other_eye_are_separated(
    casia_eyes: dict[str, str], casia_codes: dict[str, IrisCode]
) -> None:
    per_eye = collections.Counter(casia_eyes.values())
    expected_genuine = sum(math.comb(n, 2) for n in per_eye.values())
    expected_impostor = sum(a * b for a, b in itertools.combinations(per_eye.values(), 2))
    assert (expected_genuine, expected_impostor) == (90, 100)  # MANIFEST section 3

    genuine, impostor = [], []
    for a, b in itertools.combinations(casia_codes, 2):
        hd = distance(casia_codes[a], casia_codes[b])[0]
        (genuine if casia_eyes[a] == casia_eyes[b] else impostor).append(hd)
    assert (len(genuine), len(impostor)) == (expected_genuine, expected_impostor)

    g, i = np.array(genuine), np.array(impostor)
    d_prime = (i.mean() - g.mean()) / math.sqrt((i.var() + g.var()) / 2)
    print(
        f"\nCASIA same eye  ({len(g)} pairs): mean {g.mean():.3f} std {g.std():.3f} "
        f"max {g.max():.3f}\nCASIA other eye ({len(i)} pairs): mean {i.mean():.3f} "
        f"std {i.std():.3f} min {i.min():.3f}\nd' = {d_prime:.2f}, threshold {MATCH_THRESHOLD}"
    )
    assert d_prime >= TARGET_D_PRIME
    assert g.max() <= MATCH_THRESHOLD, "a same-eye pair is rejected"
    assert i.min() > MATCH_THRESHOLD, "an other-eye pair is accepted"


# --- 2. rotation --------------------------------------------------------------------------


def _rotated(
    image: np.ndarray, centre: tuple[float, float], degrees: float
) -> tuple[np.ndarray, np.ndarray]:
    """The image turned by `degrees` (OpenCV: counter-clockwise on screen) about `centre`,
    and the matrix that did it."""
    m = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    h, w = image.shape
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE), m


def _expected_shift(m: np.ndarray, centre: tuple[float, float]) -> float:
    """The code columns a rotation moves the texture by, from the geometry alone.

    The rubber sheet's angle θ runs from the image's right with y down (clockwise on
    screen); a code column is DEGREES_PER_SHIFT of it. Send an iris point at angle θ
    through the rotation: it lands at θ'. `distance(a, b)` returns the s with
    `b.rolled(s)` ≈ a, i.e. b[c] ≈ a[c + s]: s = (column in a) - (column in b)."""
    cx, cy = centre
    theta = 0.7
    x, y = cx + 50 * math.cos(theta), cy + 50 * math.sin(theta)
    qx, qy = m @ np.array([x, y, 1.0])
    turned = math.atan2(qy - cy, qx - cx)
    delta = (theta - turned + math.pi) % (2 * math.pi) - math.pi
    return math.degrees(delta) / DEGREES_PER_SHIFT


@pytest.mark.parametrize("name", ["S1001L01.jpg", "S1001R01.jpg"])
@pytest.mark.parametrize("degrees", [-20, -12, 7, 18], ids=lambda d: f"{d:+d}deg")
def test_a_rotated_eye_still_matches_at_the_rotation_s_shift(
    pipeline: IrisPipeline,
    casia_images: dict[str, np.ndarray],
    casia_prepared: dict[str, PreparedIris],
    casia_codes: dict[str, IrisCode],
    name: str,
    degrees: int,
) -> None:
    f = _casia(name)
    px, py, _ = casia_prepared[f].pupil
    turned, m = _rotated(casia_images[f], (px, py), degrees)
    expected = _expected_shift(m, (px, py))
    assert abs(expected) <= DEFAULT_SHIFTS  # within the search range

    hd, shift, _ = distance(casia_codes[f], pipeline.run(turned).code)
    assert hd <= MATCH_THRESHOLD
    assert abs(shift - expected) <= 1, (shift, expected)


def test_a_slightly_rotated_weak_limbus_eye_is_still_encoded(
    pipeline: IrisPipeline,
    casia_images: dict[str, np.ndarray],
    casia_prepared: dict[str, PreparedIris],
    casia_codes: dict[str, IrisCode],
) -> None:
    f = _casia("S1001L05.jpg")  # the CASIA image with the faintest limbus
    px, py, _ = casia_prepared[f].pupil
    turned, m = _rotated(casia_images[f], (px, py), -4)
    hd, shift, _ = distance(casia_codes[f], pipeline.run(turned).code)
    assert hd <= MATCH_THRESHOLD
    assert abs(shift - _expected_shift(m, (px, py))) <= 1


def test_a_rotation_beyond_the_search_range_does_not_match(
    pipeline: IrisPipeline,
    casia_images: dict[str, np.ndarray],
    casia_prepared: dict[str, PreparedIris],
    casia_codes: dict[str, IrisCode],
) -> None:
    f = _casia("S1001L01.jpg")
    px, py, _ = casia_prepared[f].pupil
    turned, m = _rotated(casia_images[f], (px, py), 60)
    expected = _expected_shift(m, (px, py))
    assert abs(expected) > DEFAULT_SHIFTS + 1

    code = pipeline.run(turned).code
    assert distance(casia_codes[f], code)[0] > MATCH_THRESHOLD
    # It is the range that fails, not the image: a search wide enough finds the turn.
    wide = math.ceil(abs(expected)) + 3
    assert abs(distance(casia_codes[f], code, shifts=wide)[1] - expected) <= 1


# --- 3. occlusion -------------------------------------------------------------------------


def _with_lids(
    image: np.ndarray, iris: tuple[float, float, float], upper: float, lower: float = 0.0
) -> np.ndarray:
    """Eyelid skin (the image's 95th-percentile grey) drawn from the top of the iris down
    over `upper` of its diameter, and from its bottom up over `lower`; straight lid edges."""
    _, iy, ir = iris
    out = image.copy()
    skin = np.percentile(image, 95)
    rows = np.arange(image.shape[0])
    out[rows <= iy - ir + upper * 2 * ir] = skin
    if lower:
        out[rows >= iy + ir - lower * 2 * ir] = skin
    return out


def _squinting(image: np.ndarray, prepared: PreparedIris) -> tuple[np.ndarray, float]:
    """Both lids down (up) to 3 px from the pupil: the pupil whole, the iris mostly hidden.
    Returns the image and the fraction of the iris diameter covered."""
    (_, py, pr), (_, iy, ir) = prepared.pupil, prepared.iris
    upper = ((py - pr - 3) - (iy - ir)) / (2 * ir)
    lower = ((iy + ir) - (py + pr + 3)) / (2 * ir)
    return _with_lids(image, prepared.iris, upper, lower), upper + lower


@pytest.mark.parametrize("name", ["S1001L03.jpg", "S1001R01.jpg"])
def test_a_modest_eyelid_still_matches_its_eye(
    pipeline: IrisPipeline,
    casia_eyes: dict[str, str],
    casia_images: dict[str, np.ndarray],
    casia_prepared: dict[str, PreparedIris],
    casia_codes: dict[str, IrisCode],
    name: str,
) -> None:
    f = _casia(name)
    lidded = _with_lids(casia_images[f], casia_prepared[f].iris, upper=0.25)
    encoded = pipeline.run(lidded)  # strict: accepted
    assert encoded.code.usable < casia_codes[f].usable  # the lid is masked out
    same, other = _same_and_other_eye(casia_eyes, casia_codes, f, encoded.code)
    own = sum(e == casia_eyes[f] for e in casia_eyes.values())
    assert (len(same), len(other)) == (own - 1, len(casia_eyes) - own)
    assert max(same) <= MATCH_THRESHOLD
    assert min(other) > MATCH_THRESHOLD


def _squint(casia_images: dict[str, np.ndarray], prepared: dict[str, PreparedIris]) -> np.ndarray:
    f = _casia("S1001R10.jpg")  # the smallest pupil of the set: room for the lids
    image, covered = _squinting(casia_images[f], prepared[f])
    assert covered > 0.5
    return image


def _upper_lid_past_centre(
    casia_images: dict[str, np.ndarray], prepared: dict[str, PreparedIris]
) -> np.ndarray:
    f = _casia("S1001R10.jpg")
    (_, py, pr), (_, iy, ir) = prepared[f].pupil, prepared[f].iris
    upper = 0.6
    assert iy - ir + upper * 2 * ir < py + pr - 10  # the lower pupil still shows
    return _with_lids(casia_images[f], prepared[f].iris, upper)


@pytest.mark.parametrize(
    ("make", "codes"),
    [
        pytest.param(_squint, {"occluded"}, id="both-lids-to-the-pupil"),
        pytest.param(_upper_lid_past_centre, NO_USABLE_EYE, id="upper-lid-past-pupil-centre"),
    ],
)
def test_a_heavy_eyelid_is_refused(
    pipeline: IrisPipeline,
    casia_images: dict[str, np.ndarray],
    casia_prepared: dict[str, PreparedIris],
    make: Callable[..., np.ndarray],
    codes: set[str],
) -> None:
    image = make(casia_images, casia_prepared)
    with pytest.raises(IrisError) as refused:
        pipeline.run(image)
    assert refused.value.code in codes


def test_an_occluded_eye_without_strict_reports_why(
    pipeline: IrisPipeline,
    casia_images: dict[str, np.ndarray],
    casia_prepared: dict[str, PreparedIris],
) -> None:
    encoded = pipeline.run(_squint(casia_images, casia_prepared), strict=False)
    assert isinstance(encoded, EncodedIris)
    q = encoded.quality
    assert not q.ok
    assert "occluded" in q.reasons
    assert q.usable < pipeline.params.quality.min_usable


def test_masked_bits_do_not_count(casia_codes: dict[str, IrisCode]) -> None:
    a, b = casia_codes[_casia("S1001L01.jpg")], casia_codes[_casia("S1001L02.jpg")]
    assert (~a.mask).any() and (~b.mask).any()
    a2 = IrisCode(a.bits ^ ~a.mask, a.mask)
    b2 = IrisCode(b.bits ^ ~b.mask, b.mask)
    assert distance(a2, b2) == distance(a, b)
    assert distance(a2, b) == distance(a, b2) == distance(a, b)


# --- 4. pupil dilation --------------------------------------------------------------------


@pytest.fixture(scope="module")
def warsaw_live() -> dict[str, list[str]]:
    """Eye id → its two captures at different pupil dilation (the 256×256 live crops)."""
    eyes: dict[str, list[str]] = collections.defaultdict(list)
    for f, eye in _eye_of(WARSAW).items():
        if eye.startswith("X-"):
            eyes[eye].append(f)
    if not eyes:
        missing("shared data not present: Warsaw rows in iris_identities.csv")
    return {e: sorted(fs) for e, fs in eyes.items()}


@pytest.fixture(scope="module")
def warsaw_encoded(
    pipeline: IrisPipeline, warsaw_live: dict[str, list[str]]
) -> dict[str, EncodedIris]:
    return {f: pipeline.run(_grey(IRIS / f)) for fs in warsaw_live.values() for f in fs}


def test_the_same_eye_matches_across_pupil_dilation(
    warsaw_live: dict[str, list[str]], warsaw_encoded: dict[str, EncodedIris]
) -> None:
    assert set(warsaw_live) == {"X-45-P", "X-85-L"}
    notes = {r["file"]: r["notes"] for r in _labels()}
    for eye, (a, b) in warsaw_live.items():
        ea, eb = warsaw_encoded[a], warsaw_encoded[b]
        # A real change of dilation between the two captures, not two copies of one.
        assert abs(ea.quality.pupil_ratio - eb.quality.pupil_ratio) > 0.15, eye
        if "dilated" in notes[a] and "constricted" in notes[b]:
            assert ea.quality.pupil_ratio > eb.quality.pupil_ratio
        assert distance(ea.code, eb.code)[0] <= MATCH_THRESHOLD, eye


def test_different_eyes_do_not_match_across_dilation(
    warsaw_live: dict[str, list[str]], warsaw_encoded: dict[str, EncodedIris]
) -> None:
    (a_files, b_files) = warsaw_live.values()
    for a, b in itertools.product(a_files, b_files):
        assert distance(warsaw_encoded[a].code, warsaw_encoded[b].code)[0] > MATCH_THRESHOLD


# --- 5. open-iris segmentation --------------------------------------------------------------


def _darkest_blob(grey: np.ndarray, percentile: float = 5) -> tuple[float, float, float]:
    """(cx, cy, equivalent radius) of the largest component of the darkest pixels that
    does not touch the image border (the anonymisation caption runs along the bottom)."""
    mask = (grey <= np.percentile(grey, percentile)).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = grey.shape
    inside = [
        i
        for i in range(1, n)
        if stats[i, cv2.CC_STAT_LEFT] > 0
        and stats[i, cv2.CC_STAT_TOP] > 0
        and stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] < w
        and stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] < h
    ]
    assert inside
    best = max(inside, key=lambda i: stats[i, cv2.CC_STAT_AREA])
    cx, cy = centroids[best]
    return float(cx), float(cy), math.sqrt(stats[best, cv2.CC_STAT_AREA] / math.pi)


def test_open_iris_image_is_segmented_where_the_image_has_its_pupil_and_iris(
    pipeline: IrisPipeline,
) -> None:
    grey = _grey(OPEN_IRIS)
    prepared = pipeline.prepare(grey)
    (px, py, pr), (ix, iy, ir) = prepared.pupil, prepared.iris
    assert pr > 0 and ir > pr
    assert math.hypot(px - ix, py - iy) + pr < ir  # the pupil lies inside the iris

    yy, xx = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]]
    to_pupil, to_iris = np.hypot(xx - px, yy - py), np.hypot(xx - ix, yy - iy)
    pupil = grey[to_pupil <= 0.9 * pr].mean()
    annulus = grey[(to_pupil >= 1.1 * pr) & (to_iris <= 0.9 * ir)].mean()
    outside = grey[(to_iris >= 1.1 * ir) & (to_iris <= 1.3 * ir)].mean()
    assert pupil < annulus < outside, (pupil, annulus, outside)

    lo, hi = pipeline.params.quality.pupil_ratio
    assert lo <= prepared.quality.pupil_ratio <= hi

    bx, by, br = _darkest_blob(grey)
    assert math.hypot(px - bx, py - by) <= 0.1 * br, ((px, py), (bx, by))


# --- 6. bad input ---------------------------------------------------------------------------


def _colour_photo(pipeline: IrisPipeline) -> np.ndarray:
    image = cv2.imread(str(shared(COLOUR_PHOTO)), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _small_crop(pipeline: IrisPipeline) -> np.ndarray:
    image = _grey(IRIS / _casia("S1001L01.jpg"))
    px, py, _ = pipeline.prepare(image).pupil
    x, y = round(px) - 50, round(py) - 45
    crop = image[y : y + 90, x : x + 100]
    assert crop.shape == (90, 100)
    return crop


def _uniform_grey(pipeline: IrisPipeline) -> np.ndarray:
    return np.full((280, 320), 128, np.uint8)  # CASIA's frame size (MANIFEST)


def _defocused(pipeline: IrisPipeline) -> np.ndarray:
    return cv2.GaussianBlur(_grey(IRIS / _casia("S1001L01.jpg")), (0, 0), 6)


def _looking_away(pipeline: IrisPipeline, offset: float) -> np.ndarray:
    """The eye of S1001L01 with its pupil `offset` iris radii (+: right) off the limbus
    centre, the texture stretched between the moved pupil and the fixed limbus as in
    Daugman's rubber-sheet model: what an eye looking sideways shows the camera (the
    pupil, behind the cornea, moves against the limbus). Foreshortening is left out."""
    image = _grey(IRIS / _casia("S1001L01.jpg"))
    prepared = pipeline.prepare(image)
    (px, py, pr), (ix, iy, ir) = prepared.pupil, prepared.iris
    dx = offset * ir
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)

    def outside(rho: np.ndarray) -> np.ndarray:
        """> 0 where a pixel lies outside the circle at radial fraction rho (new pupil →
        limbus)."""
        cx, cy = (1 - rho) * (px + dx) + rho * ix, (1 - rho) * py + rho * iy
        return np.hypot(xx - cx, yy - cy) - ((1 - rho) * pr + rho * ir)

    lo, hi = np.zeros_like(xx), np.ones_like(xx)
    for _ in range(30):  # each pixel's radial fraction in the new eye, by bisection
        mid = (lo + hi) / 2
        out = outside(mid) > 0
        lo, hi = np.where(out, mid, lo), np.where(out, hi, mid)
    rho = np.clip((lo + hi) / 2, 0, 1)
    # The same (rho, angle) of the original eye: only the pupil end of the segment moved.
    src_x = (xx - (1 - rho) * dx).astype(np.float32)
    return cv2.remap(
        image, src_x, yy.astype(np.float32), cv2.INTER_LINEAR, None, cv2.BORDER_REPLICATE
    )


def _turned(degrees: float) -> np.ndarray:
    """S1001L01 as a camera sees the eye turned `degrees` sideways: foreshortened across
    by cos(angle), so the pupil and the limbus are ovals."""
    image = _grey(IRIS / _casia("S1001L01.jpg"))
    h, w = image.shape
    return cv2.resize(image, (round(w * math.cos(math.radians(degrees))), h))


BAD_INPUT = [
    pytest.param(_colour_photo, {"not_nir"}, id="colour-photo"),
    pytest.param(_small_crop, {"too_small"}, id="100x90-crop"),
    pytest.param(_uniform_grey, {"no_pupil"}, id="uniform-grey"),
    pytest.param(_defocused, {"out_of_focus", "no_iris"}, id="gaussian-blur-sigma-6"),
    pytest.param(lambda p: _turned(45), {"off_gaze"}, id="turned-45deg"),
    # Further round the pupil is no circle at all: refused, as no pupil or off gaze.
    pytest.param(lambda p: _turned(60), {"off_gaze", "no_pupil"}, id="turned-60deg"),
]


@pytest.mark.parametrize(("make", "codes"), BAD_INPUT)
def test_bad_input_is_refused_with_its_reason(
    pipeline: IrisPipeline, make: Callable[[IrisPipeline], np.ndarray], codes: set[str]
) -> None:
    image = make(pipeline)
    with pytest.raises(IrisError) as refused:
        pipeline.run(image)
    assert refused.value.code in codes, refused.value


def test_the_looking_away_simulation_moves_the_pupil_as_asked(
    pipeline: IrisPipeline, casia_codes: dict[str, IrisCode]
) -> None:
    """The simulated gaze is credible: a small offset (within the quality limit) is
    measured as imposed, and the rubber sheet still gives the eye's code."""
    offset = 0.1
    assert offset < pipeline.params.quality.max_centre_offset
    encoded = pipeline.run(_looking_away(pipeline, offset))
    assert encoded.quality.centre_offset == pytest.approx(offset, abs=0.03)
    assert distance(casia_codes[_casia("S1001L01.jpg")], encoded.code)[0] <= MATCH_THRESHOLD


def test_a_dimmer_capture_is_still_encoded(
    pipeline: IrisPipeline,
    casia_images: dict[str, np.ndarray],
    casia_codes: dict[str, IrisCode],
) -> None:
    """80 % of the contrast (a weaker illuminator, a lower gain) about mid-grey."""
    for f, image in casia_images.items():
        dimmer = cv2.convertScaleAbs(image, alpha=0.8, beta=0.2 * 128)
        assert distance(casia_codes[f], pipeline.run(dimmer).code)[0] <= MATCH_THRESHOLD, f


# --- 7. the Gabor bank ----------------------------------------------------------------------


def _expected_bank(
    texture: np.ndarray, validity: np.ndarray, params: GaborParams
) -> tuple[np.ndarray, np.ndarray]:
    """(response (2, RINGS, ANGLES), valid fraction (RINGS, ANGLES)) by plain numpy: the
    angle wrapped, the radius reflected (edge not repeated), correlated with the kernel at
    the middle row of each ring's band and every COLS/ANGLES-th column."""
    kernel = gabor_kernel(params)[:, 0].astype(np.float64)
    kh, kw = kernel.shape[1:]
    padded = np.pad(texture.astype(np.float64), ((kh // 2, kh // 2), (0, 0)), mode="reflect")
    padded = np.pad(padded, ((0, 0), (kw // 2, kw // 2)), mode="wrap")
    band, step = ROWS // RINGS, COLS // ANGLES
    rows = band // 2 + band * np.arange(RINGS)
    cols = step * np.arange(ANGLES)
    windows = sliding_window_view(padded, (kh, kw))[rows][:, cols]  # centred on (row, col)
    response = np.einsum("rcij,kij->krc", windows, kernel)
    valid = validity.reshape(RINGS, band, ANGLES, step).mean(axis=(1, 3))
    return response, valid


@pytest.fixture(scope="module")
def bank() -> GaborBank:
    return GaborBank(GaborParams())


@pytest.mark.parametrize("seed", [0, 1])
def test_the_onnx_filter_bank_equals_a_numpy_correlation(bank: GaborBank, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Texture at several scales, so that the Gabor band has energy.
    texture = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    texture += cv2.GaussianBlur(texture, (0, 0), 4) * 4
    validity = np.ones((ROWS, COLS), bool)
    validity[: ROWS // 3, 100:260] = False  # an eyelid
    validity[rng.random((ROWS, COLS)) < 0.05] = False  # specks
    texture[~validity] = 0.0  # as the pipeline hands it over

    bits, magnitude, valid = bank.run(texture[None], validity[None])
    assert bits.shape == (1, *SHAPE)
    response, expected_valid = _expected_bank(texture, validity, bank.params)

    # Deep inside the zeroed lid the response is 0 up to rounding: its sign says nothing.
    clear = np.abs(response) > 1e-4
    assert clear.mean() > 0.9
    assert np.array_equal(bits[0][clear], (response > 0)[clear])
    np.testing.assert_allclose(magnitude[0], np.hypot(*response), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(valid[0], expected_valid, atol=1e-6)


def test_encoding_a_batch_equals_encoding_one_by_one(
    pipeline: IrisPipeline, casia_prepared: dict[str, PreparedIris]
) -> None:
    five = list(casia_prepared.values())[::4]
    assert len(five) == 5
    together = pipeline.encode(five)
    for prepared, code in zip(five, together, strict=True):
        (alone,) = pipeline.encode([prepared])
        assert np.array_equal(alone.bits, code.bits)
        assert np.array_equal(alone.mask, code.mask)


# --- 8. the matcher -------------------------------------------------------------------------


def _random_code(rng: np.random.Generator, density: float) -> IrisCode:
    return IrisCode(rng.random(SHAPE) < 0.5, rng.random(SHAPE) < density)


def _noisy(rng: np.random.Generator, code: IrisCode, fraction: float) -> IrisCode:
    """The same bits with `fraction` of them flipped, and a mask of its own."""
    return IrisCode(code.bits ^ (rng.random(SHAPE) < fraction), rng.random(SHAPE) < 0.8)


@pytest.mark.parametrize("shifts", [0, DEFAULT_SHIFTS], ids=lambda s: f"shifts-{s}")
@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed-{s}")
def test_scan_equals_scan_numpy_and_distance(seed: int, shifts: int) -> None:
    rng = np.random.default_rng(seed)
    probe = _random_code(rng, 0.8)
    gallery = [_random_code(rng, d) for d in (0.9, 0.6, 0.3, 0.12) for _ in range(6)]
    gallery += [_noisy(rng, probe.rolled(k), 0.1) for k in (-shifts, 0, 3, shifts)]
    rows = [g.words() for g in gallery]
    codes, masks = np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    compiled = scan(probe, codes, masks, shifts)
    reference = scan_numpy(probe, codes, masks, shifts)
    one_by_one = np.array([distance(g, probe, shifts)[0] for g in gallery])
    assert (one_by_one == 0.5).any() and (one_by_one < MATCH_THRESHOLD).any()
    np.testing.assert_allclose(compiled, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(compiled, one_by_one, rtol=0, atol=1e-6)


def test_scan_reports_worse_than_chance_as_is() -> None:
    code = _random_code(np.random.default_rng(9), 0.8)
    inverse = IrisCode(~code.bits, code.mask)  # every compared bit disagrees
    hd = distance(inverse, code, shifts=0)[0]
    assert hd > 0.5
    codes, masks = inverse.words()
    assert scan(code, codes[None], masks[None], 0)[0] == pytest.approx(hd, abs=1e-6)


@pytest.mark.parametrize("k", [-DEFAULT_SHIFTS, -3, 0, 1, DEFAULT_SHIFTS])
def test_a_rolled_code_matches_its_original_at_its_shift(k: int) -> None:
    code = _random_code(np.random.default_rng(7), 0.8)
    assert code.usable * BITS >= TYPICAL_BITS_COMPARED  # hd 0 needs a full comparison
    turned = code.rolled(k)
    assert distance(code, turned) == (0.0, -k, int(code.mask.sum()))
    assert distance(turned, code)[:2] == (0.0, k)
    codes, masks = turned.words()
    assert scan(code, codes[None], masks[None], DEFAULT_SHIFTS)[0] == 0.0


def test_a_code_rolled_past_the_search_range_does_not_match() -> None:
    code = _random_code(np.random.default_rng(8), 0.8)
    assert distance(code, code.rolled(DEFAULT_SHIFTS + 1))[0] > MATCH_THRESHOLD


def test_code_matrix_add_search_replace_remove() -> None:
    rng = np.random.default_rng(3)
    probe = _random_code(rng, 0.8)
    # Far enough apart that the normalisation (floored at 0) keeps them apart.
    flips = {"a": 0.36, "b": 0.12, "c": 0.28, "d": 0.20, "e": 0.5}
    codes = {i: _noisy(rng, probe, f) for i, f in flips.items()}
    by_closeness = sorted(flips, key=flips.get)

    def hd(i: str) -> float:
        return distance(codes[i], probe)[0]

    m = CodeMatrix()
    assert m.search(probe, 3) == []
    m.add(list(codes), list(codes.values()))
    assert len(m) == 5
    top = m.search(probe, 3)
    assert [i for i, _ in top] == by_closeness[:3]
    assert [d for _, d in top] == pytest.approx([hd(i) for i in by_closeness[:3]], abs=1e-6)
    assert [i for i, _ in m.search(probe, 50)] == by_closeness

    codes["e"] = IrisCode(probe.bits, rng.random(SHAPE) < 0.8)  # "e" enrols again
    m.add(["e"], [codes["e"]])
    assert len(m) == 5
    assert m.search(probe, 1) == [("e", pytest.approx(hd("e"), abs=1e-6))]

    m.remove(["a", "unknown"])  # "a" is the first row: the last row moves into its place
    assert len(m) == 4
    found = dict(m.search(probe, 10))
    assert set(found) == {"b", "c", "d", "e"}
    for i, d in found.items():
        assert d == pytest.approx(hd(i), abs=1e-6), i
    for i in found:
        assert m.search(codes[i], 1)[0] == (i, pytest.approx(0.0, abs=1e-6))

    m.remove(list(found))
    assert len(m) == 0 and m.search(probe, 1) == []


def test_packed_code_round_trip(casia_codes: dict[str, IrisCode]) -> None:
    code = casia_codes[_casia("S1001R05.jpg")]
    blob = code.to_bytes()
    assert len(blob) == 2 * BITS // 8  # code and mask, 8 bits a byte
    back = IrisCode.from_bytes(blob)
    assert np.array_equal(back.bits, code.bits)
    assert np.array_equal(back.mask, code.mask)
    assert distance(back, code) == distance(code, code)


def test_codes_compare_equal_with_eq(casia_codes: dict[str, IrisCode]) -> None:
    code = casia_codes[_casia("S1001R05.jpg")]
    assert IrisCode.from_bytes(code.to_bytes()) == code


@pytest.mark.parametrize(
    "length",
    [0, 2 * BITS // 8 - 1, 2 * BITS // 8 + 1, BITS // 8],
    ids=["empty", "one-byte-short", "one-byte-long", "code-without-mask"],
)
def test_a_wrong_length_blob_is_refused(length: int) -> None:
    with pytest.raises(ValueError):
        IrisCode.from_bytes(bytes(length))


@pytest.mark.parametrize(
    "compared",
    [MIN_BITS_COMPARED - 1, MIN_BITS_COMPARED],
    ids=["one-bit-too-few", "just-enough"],
)
def test_too_few_bits_compared_decide_nothing(compared: int) -> None:
    rng = np.random.default_rng(5)
    bits = rng.random(SHAPE) < 0.5
    mask = np.zeros(BITS, bool)
    mask[rng.choice(BITS, compared, replace=False)] = True
    a = IrisCode(bits, mask.reshape(SHAPE))
    b = IrisCode(bits, np.ones(SHAPE, bool))  # every overlap is a's mask, at every shift
    hd, _, n = distance(a, b)
    # Identical bits: raw 0, normalised by the bits compared (Daugman 2004), unless too few.
    expected = (
        0.5 if compared < MIN_BITS_COMPARED else 0.5 - 0.5 * math.sqrt(n / TYPICAL_BITS_COMPARED)
    )
    assert n == compared
    assert hd == pytest.approx(expected)
    codes, masks = b.words()
    assert scan(a, codes[None], masks[None], DEFAULT_SHIFTS)[0] == pytest.approx(expected, abs=1e-6)


# --- 9. the identification threshold ---------------------------------------------------------


def test_the_identification_threshold_falls_with_the_gallery_and_keeps_the_fpir() -> None:
    sizes = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
    thresholds = [identification_threshold(n) for n in sizes]
    assert thresholds[0] == MATCH_THRESHOLD  # a gallery of one is a 1:1 comparison
    assert all(a >= b for a, b in itertools.pairwise(thresholds))
    assert thresholds[-1] < thresholds[3] < MATCH_THRESHOLD
    # The binomial model, summed exactly: strangers named per search at the threshold.
    for n, t in zip(sizes[3:], thresholds[3:], strict=True):
        dof, tries = IMPOSTOR_DOF, n * (2 * DEFAULT_SHIFTS + 1)
        below = sum(math.comb(dof, k) for k in range(math.floor(t * dof) + 1)) / 2**dof
        assert 0.2 * TARGET_FPIR < tries * below < 5 * TARGET_FPIR, (n, t, tries * below)


def test_casia_other_eyes_stay_above_the_identification_threshold_of_a_million(
    casia_codes: dict[str, IrisCode],
) -> None:
    left = [c for f, c in casia_codes.items() if "L" in Path(f).stem[-3:]]
    right = [c for f, c in casia_codes.items() if "R" in Path(f).stem[-3:]]
    closest = min(distance(a, b)[0] for a in left for b in right)
    assert closest > identification_threshold(1_000_000)
