"""Checkpoint configuration, the screening decision and face tracking: the rules, in
plain Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from dichte.domain import admin_units
from dichte.domain.checkpoints import CameraConfig, CheckpointConfig, check_checkpoint
from dichte.domain.screening import (
    DeclarationStatus,
    Outcome,
    PassageFacts,
    Reason,
    Temperature,
    decide,
    identified,
)
from dichte.models.tracking import Tracker, TrackerParams
from dichte.services.checkpoints import load_checkpoints, simulated_checkpoint

ROOT = Path(__file__).resolve().parents[1]
H = [[0.96, -0.02, 14.0], [0.02, 0.96, -10.0], [0.0, 0.0, 1.0]]


def lane(n: int, **thermal: object) -> list[CameraConfig]:
    return [
        CameraConfig(id=f"v{n}", kind="visible", lane=n, source="rtsp://10.0.0.1/s"),
        CameraConfig.model_validate(
            {
                "id": f"t{n}",
                "kind": "thermal",
                "lane": n,
                "source": "file:///srv/thermal/",
                "pair_of": f"v{n}",
                "homography": H,
                **thermal,
            }
        ),
    ]


def codes(config: CheckpointConfig) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in check_checkpoint(config)}


def test_the_shipped_checkpoints_load_with_the_letters_communes() -> None:
    configs = {c.id: c for c in load_checkpoints(ROOT / "cluster" / "checkpoints.yaml")}
    names = {cid: admin_units.commune_name(c.commune_code) for cid, c in configs.items()}
    assert names == {
        "ql1-vinh-linh": "Xã Vĩnh Linh",
        "ql1-hai-lang": "Xã Hải Lăng",
        "duong-ho-chi-minh": "Xã Khe Sanh",
    }
    assert all(c.province_code() == 44 for c in configs.values())


def test_a_good_configuration_and_the_simulated_one_pass() -> None:
    good = CheckpointConfig(
        id="cp-1", name="Chốt 1", commune_code=19363, lanes=2, cameras=lane(1) + lane(2)
    )
    assert check_checkpoint(good) == []
    assert check_checkpoint(simulated_checkpoint()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"commune_code": 1}, ("commune_code", "commune_unknown")),
        ({"lanes": 1}, ("cameras.2.lane", "lane_unknown")),
        (
            {"cameras": [*lane(1), lane(1)[0], *lane(2)]},
            ("cameras.2.id", "camera_id_taken"),
        ),
    ],
    ids=["unknown commune", "lane beyond the checkpoint", "camera id twice"],
)
def test_checkpoint_refusals(change: dict[str, object], expected: tuple[str, str]) -> None:
    base = {"id": "cp-1", "name": "Chốt 1", "commune_code": 19363, "lanes": 2}
    config = CheckpointConfig.model_validate({**base, "cameras": lane(1) + lane(2), **change})
    assert expected in codes(config)


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        ({"source": "ftp://x/y"}, "source_invalid"),
        ({"source": "sim://?seed=x"}, "source_invalid"),
        ({"pair_of": "nobody"}, "pair_unknown"),
        ({"homography": [[1, 0, 0], [2, 0, 0], [0, 0, 1]]}, "homography_invalid"),
        ({"homography": [[1, 0], [0, 1]]}, "homography_invalid"),
        ({"homography": [[1.0], [0, 1, 0], []]}, "homography_invalid"),
        ({"source": "http://[::1/stream"}, "source_invalid"),
        ({"source": "rtsp://cam:99999/live"}, "source_invalid"),
    ],
    ids=[
        "unknown scheme",
        "sim seed not a number",
        "pair unknown",
        "singular",
        "not 3x3",
        "ragged rows",
        "broken address",
        "port out of range",
    ],
)
def test_thermal_camera_refusals(camera: dict[str, object], expected: str) -> None:
    v, t = lane(1)
    bad = CameraConfig.model_validate({**t.model_dump(), **camera})
    config = CheckpointConfig(id="cp-1", name="Chốt 1", commune_code=19363, cameras=[v, bad])
    assert expected in {code for _, code in codes(config)}


def test_a_visible_camera_has_no_thermal_fields_and_a_lane_one_visible_camera() -> None:
    v, t = lane(1)
    odd = CameraConfig.model_validate({**v.model_dump(), "homography": H})
    second = CameraConfig(id="v1b", kind="visible", lane=1, source="rtsp://10.0.0.2/s")
    config = CheckpointConfig(
        id="cp-1", name="Chốt 1", commune_code=19363, cameras=[odd, t, second]
    )
    found = {code for _, code in codes(config)}
    assert {"thermal_fields_on_other_camera", "one_visible_camera_per_lane"} <= found


def facts(**changes: object) -> PassageFacts:
    base: dict[str, object] = {
        "temperature": Temperature.NORMAL,
        "declaration": DeclarationStatus.VALID,
        "qr_person": "p1",
        "face_checked": True,
        "face_person": "p1",
        "qr_person_enrolled": True,
        "case_or_contact": False,
    }
    return PassageFacts(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({}, ()),
        ({"temperature": Temperature.ELEVATED}, (Reason.FEVER,)),
        ({"temperature": Temperature.INVALID}, (Reason.NO_READING,)),
        ({"declaration": DeclarationStatus.NONE, "qr_person": None}, (Reason.NO_DECLARATION,)),
        (
            {"declaration": DeclarationStatus.EXPIRED, "qr_person": None},
            (Reason.DECLARATION_EXPIRED,),
        ),
        ({"declaration": DeclarationStatus.FORGED, "qr_person": None}, (Reason.QR_FORGED,)),
        ({"face_person": "p2"}, (Reason.QR_FACE_MISMATCH,)),
        ({"face_person": None}, (Reason.QR_FACE_MISMATCH,)),
        ({"face_person": None, "qr_person_enrolled": False}, ()),
        ({"face_person": None, "face_checked": False}, ()),
        ({"case_or_contact": True}, (Reason.CASE_OR_CONTACT,)),
        (
            {"temperature": Temperature.ELEVATED, "face_person": "p2", "case_or_contact": True},
            (Reason.FEVER, Reason.QR_FACE_MISMATCH, Reason.CASE_OR_CONTACT),
        ),
    ],
    ids=[
        "all clear",
        "fever",
        "no reading",
        "no declaration",
        "expired",
        "forged",
        "another enrolled face",
        "enrolled QR, unmatched face",
        "QR person not enrolled: nothing to compare",
        "no usable face: nothing claimed",
        "case or contact",
        "every reason at once",
    ],
)
def test_the_decision(changes: dict[str, object], reasons: tuple[Reason, ...]) -> None:
    outcome, got = decide(facts(**changes))
    assert got == reasons
    assert outcome is (Outcome.SECONDARY if reasons else Outcome.PASS)


IRIS = {"iris_checked": True, "qr_person_iris_enrolled": True}


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        pytest.param({**IRIS, "iris_person": "p1"}, (), id="the QR's own eye"),
        pytest.param(
            {**IRIS, "iris_person": "p2"}, (Reason.QR_IRIS_MISMATCH,), id="another enrolled eye"
        ),
        pytest.param(
            {**IRIS, "iris_person": None}, (Reason.QR_IRIS_MISMATCH,), id="enrolled QR, other eye"
        ),
        pytest.param(
            {**IRIS, "iris_person": None, "qr_person_iris_enrolled": False},
            (),
            id="QR person's eye not enrolled: nothing to compare",
        ),
        pytest.param(
            {"iris_checked": False, "qr_person_iris_enrolled": True},
            (),
            id="no usable eye: nothing claimed",
        ),
        pytest.param(
            {**IRIS, "iris_person": "p1", "face_person": "p2"},
            (),
            id="the iris overrides a face matched to someone else",
        ),
        pytest.param(
            {**IRIS, "iris_person": "p1", "face_person": None},
            (),
            id="the iris overrides an unmatched face",
        ),
        pytest.param(
            {**IRIS, "iris_person": "p2", "face_person": "p3"},
            (Reason.QR_IRIS_MISMATCH,),
            id="the iris names the borrower; the face is not used",
        ),
        pytest.param(
            {**IRIS, "iris_person": None, "face_person": "p2"},
            (Reason.QR_IRIS_MISMATCH, Reason.QR_FACE_MISMATCH),
            id="no eye matched: the face still counts",
        ),
    ],
)
def test_the_decision_with_an_iris_camera(
    changes: dict[str, object], reasons: tuple[Reason, ...]
) -> None:
    assert decide(facts(**changes))[1] == reasons


def test_who_passed_qr_then_iris_then_face() -> None:
    assert identified("q", "i", "f") == ("q", "qr")
    assert identified(None, "i", "f") == ("i", "iris")
    assert identified(None, None, "f") == ("f", "face")
    assert identified(None, None, None) == (None, None)


def test_one_iris_camera_per_lane() -> None:
    config = CheckpointConfig(
        id="c1",
        name="Chốt",
        commune_code=19363,
        lanes=1,
        cameras=[
            *lane(1),
            CameraConfig(id="i1", kind="iris", lane=1, source="rtsp://10.0.0.3/s"),
            CameraConfig(id="i2", kind="iris", lane=1, source="rtsp://10.0.0.4/s"),
        ],
    )
    assert [(e.field, e.code) for e in check_checkpoint(config)] == [
        ("cameras", "one_iris_camera_per_lane")
    ]
    assert config.iris_of(1) is not None and config.iris_of(1).id == "i1"  # type: ignore[union-attr]


def test_one_person_one_track_even_with_a_missed_frame() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(max_gap_s=0.6))
    ended = []
    # A face moving right and growing, missed in the frame at 0.4 s, then gone.
    for k, at in enumerate([0.0, 0.2, 0.6, 0.8]):
        ended += tracker.update(at, [((100 + 10 * k, 80, 50 + 4 * k, 60), k)])
    # The next traveller arrives 3 s later at the same place.
    ended += tracker.update(3.8, [((100, 80, 50, 60), 9)])
    ended += tracker.flush()
    assert [t.items for t in ended] == [[0, 1, 2, 3], [9]]


def test_two_faces_side_by_side_are_two_tracks() -> None:
    tracker: Tracker[str] = Tracker()
    for at in (0.0, 0.2, 0.4):
        tracker.update(at, [((50, 80, 60, 70), "driver"), ((300, 90, 50, 60), "passenger")])
    tracks = tracker.flush()
    assert sorted(t.items[0] for t in tracks) == ["driver", "passenger"]
    assert all(len(set(t.items)) == 1 and len(t.items) == 3 for t in tracks)


def test_a_track_still_in_view_is_due_once() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(due_after_s=3.0))
    due_at = []
    for k in range(25):  # 5 s standing still at 5 fps
        at = k * 0.2
        tracker.update(at, [((100, 80, 50, 60), k)])
        due_at += [at for _ in tracker.due(at)]
    assert due_at == [pytest.approx(3.0)]
    (track,) = tracker.flush()
    assert track.due and len(track.items) == 25


def test_dropped_frames_do_not_split_a_person() -> None:
    """Under load only every fourth frame is processed (0.8 s apart, more than the
    gap): the person seen in each stays one track, and ends after two frames without."""
    tracker: Tracker[int] = Tracker(TrackerParams(max_gap_s=0.5, missed_frames=2))
    ended = []
    for k, at in enumerate([0.0, 0.8, 1.6, 2.4]):
        ended += tracker.update(at, [((100 + 8 * k, 80, 50, 60), k)])
    for at in (3.2, 4.0):  # gone
        ended += tracker.update(at, [])
    assert ended == []
    ended += tracker.update(4.8, [])
    assert [t.items for t in ended] == [[0, 1, 2, 3]]


def test_a_silent_source_ends_the_track() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(max_silence_s=2.0))
    tracker.update(0.0, [((100, 80, 50, 60), 0)])
    assert tracker.update(1.9, []) == []
    assert [t.items for t in tracker.update(2.1, [])] == [[0]]
