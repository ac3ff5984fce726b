"""Irises through the served API (`dichte run`: Serve, the IrisEncoder deployment, the
gallery actor, Redis), as an officer at a checkpoint and a citizen use them, and the
`dichte iris compare` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import redis

from dichte.domain.settings import Settings
from dichte.models.iris.code import MATCH_THRESHOLD, distance
from dichte.models.iris.pipeline import IrisPipeline
from dichte.store.keys import Keys
from tests.live import LiveServer, missing
from tests.test_faces_api import declare, redis_url_of, staff

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASIA = DATA / "iris" / "opencvblueprints_casia_interval"
ROOT = Path(__file__).resolve().parents[1]


def eye(name: str) -> bytes:
    path = CASIA / f"S1001{name}.jpg"
    if not path.exists():
        missing(f"shared data not present: {path}")
    return path.read_bytes()


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def compare(http: httpx.Client, a: bytes, b: bytes) -> httpx.Response:
    return http.post(
        "/api/v1/iris/compare", files={"image_a": ("a.jpg", a), "image_b": ("b.jpg", b)}
    )


def test_compare_tells_the_same_eye_from_the_other_eye(http: httpx.Client) -> None:
    # CASIA file names: L = the subject's left eye, R = the right (MANIFEST section 3).
    same = compare(http, eye("L01"), eye("L06"))
    assert same.status_code == 200, same.text
    got = same.json()
    assert got["same"] is True and got["hd"] <= got["threshold"]
    assert got["bits_compared"] > 0 and len(got["irises"]) == 2
    pupil, limbus = got["irises"][0]["pupil"], got["irises"][0]["iris"]
    assert 0 < pupil[2] < limbus[2] <= 160  # radii in the 320x280 image
    other = compare(http, eye("L01"), eye("R01"))
    assert other.status_code == 200, other.text
    assert other.json()["same"] is False and other.json()["hd"] > same.json()["hd"]


def _casia_grey(name: str) -> np.ndarray:
    eye(name)
    return cv2.imread(str(CASIA / f"S1001{name}.jpg"), cv2.IMREAD_GRAYSCALE)


def _lidded(fraction: float) -> bytes:
    """A CASIA eye with a bright lid drawn down over `fraction` of the iris diameter."""
    image = _casia_grey("L03")
    found = IrisPipeline().prepare(image)
    cx, cy, r = found.iris
    edge = int(cy - r + 2 * r * fraction)
    skin = int(np.percentile(image, 95))
    cv2.ellipse(image, (int(cx), edge - 400), (400, 400), 0, 0, 360, skin, -1)
    return png(image)


def _colour_face() -> bytes:
    path = DATA / "faces" / "face_recognition" / "tests" / "test_images" / "obama.jpg"
    if not path.exists():
        missing(f"shared data not present: {path}")
    return path.read_bytes()


# A lid down over half the iris also hides the top of the pupil: refused either way.
HIDDEN = {"occluded", "no_pupil", "no_iris"}


@pytest.mark.parametrize(
    ("make", "codes"),
    [
        pytest.param(_colour_face, {"not_nir"}, id="colour-photo"),
        pytest.param(lambda: png(_casia_grey("L02")[100:190, 100:200]), {"too_small"}, id="tiny"),
        pytest.param(lambda: png(np.full((280, 320), 140, np.uint8)), {"no_pupil"}, id="no-eye"),
        pytest.param(lambda: _lidded(0.55), HIDDEN, id="lid-over-half-the-iris"),
        pytest.param(lambda: b"%PDF-1.4 not a picture", {"not_an_image"}, id="not-an-image"),
    ],
)
def test_bad_eye_images_are_refused_with_the_reason(
    http: httpx.Client, make: object, codes: set[str]
) -> None:
    r = compare(http, make(), eye("L01"))  # type: ignore[operator]
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "image_a" and error["code"] in codes
    assert error["message_en"] and error["message_vi"]


def test_served_codes_equal_the_plain_pipeline_under_concurrent_requests(
    http: httpx.Client,
) -> None:
    """Eight comparisons at once (the encoder batches the eyes of concurrent requests):
    each distance equals the one the plain pipeline gives in this process."""
    pipeline = IrisPipeline()
    names = ["L01", "L04", "L08", "R02", "R05", "R09", "L10", "R10"]
    codes = {n: pipeline.run(_casia_grey(n)).code for n in names}
    pairs = list(zip(names, names[1:] + names[:1], strict=True))
    with ThreadPoolExecutor(len(pairs)) as pool:
        answers = list(pool.map(lambda p: compare(http, eye(p[0]), eye(p[1])), pairs))
    for (a, b), r in zip(pairs, answers, strict=True):
        assert r.status_code == 200, r.text
        expected, _, bits = distance(codes[a], codes[b])
        assert r.json()["hd"] == pytest.approx(expected, abs=1e-4), (a, b)
        assert r.json()["bits_compared"] == bits
        assert r.json()["same"] == (a[0] == b[0])  # same letter: same eye (MANIFEST)


def test_officer_enrols_both_eyes_then_the_person_is_identified_by_iris(
    http: httpx.Client, server: LiveServer
) -> None:
    person = declare(http, consent=True)
    for side, image in (("left", "L01"), ("right", "R01")):
        r = http.post(
            "/api/v1/iris/enroll",
            files={"image": ("eye.jpg", eye(image))},
            data={"person_token": person["qr_token"], "eye": side},
            headers=staff(server),
        )
        assert r.status_code == 201, r.text
        assert r.json()["eye"] == side and r.json()["source"] == "checkpoint"
    person_id = r.json()["person_id"]
    # Later captures of each eye name the person and the eye.
    for side, image in (("left", "L07"), ("right", "R04")):
        seen = http.post(
            "/api/v1/iris/identify",
            files={"image": ("cam.jpg", eye(image))},
            data={"k": "3"},
            headers=staff(server),
        )
        assert seen.status_code == 200, seen.text
        got = seen.json()
        assert got["identified"] and (got["person_id"], got["eye"]) == (person_id, side)
        assert got["candidates"][0]["hd"] <= got["threshold"] <= MATCH_THRESHOLD
    # Sealed at rest, expiring with the biometric retention: the stored bytes do not hold
    # the code in clear (as this process computes it for the enrolled image).
    client = redis.Redis.from_url(redis_url_of(server))
    key = Keys("dichte").iris_template(f"{person_id}/left")
    blob = client.get(key)
    assert blob is not None
    clear = IrisPipeline().run(_casia_grey("L01")).code.to_bytes()
    assert clear[:256] not in blob and clear[256:] not in blob
    assert 0 < client.ttl(key) <= Settings().biometric_retention_days * 86400
    # Identification needs staff.
    assert (
        http.post("/api/v1/iris/identify", files={"image": ("c.jpg", eye("L02"))}).status_code
        == 401
    )
    # Withdrawn by the person: both eyes forgotten at once, the eye is unknown again.
    gone = http.post(
        "/api/v1/iris/forget",
        data={"person_token": person["qr_token"], "receipt_secret": person["receipt_secret"]},
    )
    assert gone.status_code == 200 and gone.json()["forgotten"] is True
    assert client.get(key) is None
    again = http.post(
        "/api/v1/iris/identify", files={"image": ("cam.jpg", eye("L07"))}, headers=staff(server)
    )
    assert again.json()["person_id"] != person_id


def test_enrolment_needs_consent_a_known_eye_side_and_a_usable_eye(
    http: httpx.Client, server: LiveServer
) -> None:
    refused = declare(http, consent=False)
    r = http.post(
        "/api/v1/iris/enroll",
        files={"image": ("eye.jpg", eye("L01"))},
        data={"person_token": refused["qr_token"], "eye": "left"},
        headers=staff(server),
    )
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "no_consent"
    ok = declare(http, consent=True)
    r = http.post(
        "/api/v1/iris/enroll",
        files={"image": ("eye.jpg", eye("L01"))},
        data={"person_token": ok["qr_token"], "eye": "middle"},
        headers=staff(server),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "eye"
    r = http.post(
        "/api/v1/iris/enroll",
        files={"image": ("eye.png", _lidded(0.55))},
        data={"person_token": ok["qr_token"], "eye": "left"},
        headers=staff(server),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] in HIDDEN
    # Nothing was enrolled for them: their other image is nobody's.
    seen = http.post(
        "/api/v1/iris/identify", files={"image": ("c.jpg", eye("L05"))}, headers=staff(server)
    )
    assert seen.status_code == 200
    # The QR alone (seen at every checkpoint) cannot enrol an eye for its person.
    r = http.post(
        "/api/v1/iris/enroll",
        files={"image": ("eye.jpg", eye("L01"))},
        data={"person_token": ok["qr_token"], "eye": "left"},
    )
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "receipt_secret_invalid"


def test_cli_compare_prints_hd_same_threshold(tmp_path: Path) -> None:
    def run(a: str, b: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dichte.cli.main", "iris", "compare", a, b, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={"DICHTE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )

    eye("L01")
    same = run(str(CASIA / "S1001L01.jpg"), str(CASIA / "S1001L09.jpg"), "--json")
    assert same.returncode == 0, same.stderr
    got = json.loads(same.stdout)
    assert set(got) == {"hd", "same", "threshold"}
    assert got["same"] is True and got["hd"] <= got["threshold"] == Settings().iris_match_threshold
    other = json.loads(
        run(str(CASIA / "S1001L01.jpg"), str(CASIA / "S1001R03.jpg"), "--json").stdout
    )
    assert other["same"] is False
    grey = tmp_path / "grey.png"
    grey.write_bytes(png(np.full((280, 320), 140, np.uint8)))
    refused = run(str(grey), str(CASIA / "S1001L01.jpg"))
    assert refused.returncode == 2 and "pupil" in refused.stderr
