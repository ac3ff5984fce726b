"""Camera streams on a started Ray with the real Serve application: the supervisor
starts a `CameraStream` per configured camera pair, a recorded passage of simulated
travellers (real face photos, known temperatures, declared or not, QR codes, one
shared) becomes one screening event and decision per person, a killed stream resumes
without losing or doubling an event, a slow inference drops frames instead of piling
them up, and broken sources say what is wrong while the rest keeps working."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import ray
from ray import serve

from dichte.actors.checkpoints import NAMESPACE, SUPERVISOR_NAME, actor_name
from dichte.actors.gallery import ShardedIrisGallery
from dichte.domain.checkpoints import CameraConfig, CheckpointConfig
from dichte.domain.keys import load_signing_key
from dichte.domain.settings import Settings
from dichte.domain.templates import Eye
from dichte.domain.tokens import verify_qr
from dichte.models.iris.pipeline import IrisPipeline
from dichte.models.iris.synthetic import render_eye
from dichte.models.thermal.simulator import SimConfig, write_scenes
from dichte.services.declarations import DeclarationService
from dichte.services.simulation import SimulatedTravellers
from dichte.serving.ingress import bind_ingress
from dichte.store.checkpoints import CheckpointStore
from dichte.store.declarations import DeclarationStore
from tests.live import SHARED_DATA, shared, wait_for

FACES = SHARED_DATA / "faces"
APP = "dichte"
SMALL = {"ray_actor_options": {"num_cpus": 0.2}, "autoscaling_config": None, "num_replicas": 1}


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, embedded_redis: Any
) -> Iterator[dict[str, Any]]:
    """Ray, Serve with the whole application (API ingress and inference), on the
    session's embedded Redis under a key prefix of its own."""
    shared(FACES)
    data_dir = tmp_path_factory.mktemp("cams")
    settings = Settings(
        redis_url=embedded_redis.url,
        redis_key_prefix=f"cams-{int(time.time())}",
        data_dir=data_dir,
        simulated_checkpoint=False,
        camera_frames_queued=4,
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    serve.start(http_options={"host": "127.0.0.1", "port": 0})
    options = {
        name: SMALL
        for name in (
            "DeclarationIngress",
            "FaceDetector",
            "FaceEmbedder",
            "ThermalMeter",
            "QrReader",
            "IrisEncoder",
        )
    }
    serve.run(bind_ingress(settings, options), name=APP, route_prefix=None)
    yield {"settings": settings, "data_dir": data_dir, "options": options}
    serve.shutdown()
    ray.shutdown()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def record_scene(
    settings: Settings, out: Path, **config: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """Simulated travellers written as a recording (visible and thermal folders): those
    who declared did so through the declaration service (real signed QR codes)."""

    async def tokens(identities: list[str]) -> dict[str, str]:
        store = DeclarationStore.of(settings)
        service = DeclarationService(
            store, load_signing_key(settings), timedelta(hours=settings.qr_token_ttl_hours)
        )
        travellers = SimulatedTravellers(service, f"test:{out.name}")
        found = {i: await travellers.token(i) for i in identities}
        await store.close()
        return found

    cache: dict[str, str] = {}

    def qr_text(identity: str) -> str:
        if identity not in cache:
            cache.update(run(tokens([identity])))
        return cache[identity]

    truth = write_scenes(SimConfig(faces_dir=FACES, **config), out, qr_text=qr_text)
    return truth, cache


def configure(settings: Settings, checkpoint: CheckpointConfig) -> None:
    async def save() -> None:
        store = CheckpointStore.of(settings)
        await store.save(checkpoint)
        await store.close()

    run(save())


def recorded_checkpoint(
    cid: str, folder: Path, sim: SimConfig, rate_fps: float = 5.0
) -> CheckpointConfig:
    return CheckpointConfig(
        id=cid,
        name="Chốt ghi hình",
        commune_code=19363,
        lanes=1,
        cameras=[
            CameraConfig(
                id="v1",
                kind="visible",
                lane=1,
                source=f"file://{folder}/visible/",
                rate_fps=rate_fps,
            ),
            CameraConfig(
                id="t1",
                kind="thermal",
                lane=1,
                source=f"file://{folder}/thermal/",
                pair_of="v1",
                homography=sim.homography().tolist(),
                blackbody={"roi": sim.blackbody_roi, "set_point_c": sim.blackbody_set_point_c},
            ),
        ],
    )


def stats(cid: str, camera: str) -> dict[str, Any]:
    supervisor = ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
    cameras: dict[str, Any] = ray.get(supervisor.cameras.remote(), timeout=60)
    return cameras.get(actor_name(cid, camera), {})


def wait_until(check: Any, timeout: float = 240, what: str = "something") -> Any:
    return wait_for(check, timeout, what)


def events(settings: Settings, cid: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        store = CheckpointStore.of(settings)
        found = await store.events(cid, None, 10_000)
        await store.close()
        return [json.loads(raw) for _, raw in found]

    return run(read())  # type: ignore[no-any-return]


def person_of(settings: Settings, token: str) -> str:
    return verify_qr(load_signing_key(settings).public_key(), token).document_hash.hex()


def expected_outcomes(
    people: list[dict[str, Any]], tokens: dict[str, str], settings: Settings
) -> list[dict[str, Any]]:
    """What the rule should make of each passage, replayed in arrival order from the
    truth (who showed whose QR, who was enrolled by then). Temperature and face-match
    outcomes are not predicted here: they are measured and reported."""
    enrolled: set[str] = set()  # identities whose face is in the gallery
    out = []
    for p in people:
        owner = p["qr_owner"]
        qr_person = person_of(settings, tokens[owner]) if owner else None
        if owner is not None and owner == p["identity"] and owner not in enrolled:
            enrolled.add(owner)
        out.append(
            {
                "via_qr": qr_person,
                "shared": owner is not None and owner != p["identity"],
                "owner_enrolled": owner in enrolled,
                "known_face": owner is None and p["identity"] in enrolled,
            }
        )
    return out


def match(got: list[dict[str, Any]], people: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """The event of each person: the one whose frames overlap theirs."""
    found: list[dict[str, Any] | None] = []
    for p in people:
        frames = {f["frame"] for f in p["frames"]}
        mine = [e for e in got if frames & set(range(e["frames"][0], e["frames"][1] + 1))]
        found.append(mine[0] if len(mine) == 1 else None)
    return found


@pytest.fixture(scope="module")
def scene(system: dict[str, Any]) -> dict[str, Any]:
    """Ten simulated travellers recorded once (visible and thermal folders, each frame
    stamped with its moment): some febrile, some returning, most declared and holding
    up their QR, a few showing someone else's."""
    folder = system["data_dir"] / "scene"
    params = {
        "seed": 5,
        "people": 10,
        "febrile_fraction": 0.3,
        "returning_fraction": 0.5,
        "qr_fraction": 0.8,
        "qr_shared_fraction": 0.25,
        "arrivals_per_min": 30.0,
        "min_headway_s": 1.0,
    }
    truth, tokens = record_scene(system["settings"], folder, **params)
    sim = SimConfig(faces_dir=FACES, **params)  # type: ignore[arg-type]
    return {"folder": folder, "truth": truth, "tokens": tokens, "sim": sim}


def test_a_recorded_passage_yields_one_event_per_person_with_the_right_decision(
    system: dict[str, Any], scene: dict[str, Any]
) -> None:
    settings = system["settings"]
    truth, tokens = scene["truth"], scene["tokens"]
    configure(settings, recorded_checkpoint("rec", scene["folder"], scene["sim"]))
    wait_until(lambda: stats("rec", "v1").get("state", "").startswith("ended"), what="the end")
    got = wait_until(lambda: events(settings, "rec") if stats("rec", "v1")["queued"] == 0 else None)
    people = truth["persons"]
    mine = match(got, people)
    expected = expected_outcomes(people, tokens, settings)
    febrile = [e for p, e in zip(people, mine, strict=True) if p["fever"] and e]
    well = [e for p, e in zip(people, mine, strict=True) if not p["fever"] and e]
    measured = [e for e in febrile + well if e["temperature"] is not None]
    print(
        f"{len(got)} events for {len(people)} people, {sum(m is None for m in mine)} unmatched;"
        f" fever caught {sum('fever' in e['reasons'] for e in febrile)}/{len(febrile)},"
        f" well flagged {sum('fever' in e['reasons'] for e in well)}/{len(well)},"
        f" measured {len(measured)}/{len(febrile) + len(well)}"
    )
    for p, e in zip(people, mine, strict=True):
        print(
            p["identity"],
            p["fever"],
            p["core_c"],
            p["qr_owner"],
            e and (e["frames"], e["decision"], e["reasons"], e["temperature"], e["person"]),
        )
    # One event per person passing (tracking errors would show here).
    assert len(got) == len(people) and None not in mine
    for p, e, x in zip(people, mine, expected, strict=True):
        assert e is not None
        if x["via_qr"]:  # the QR shown names the person recorded
            assert e["person"]["via"] == "qr" and e["person"]["person_id"] == x["via_qr"]
            assert e["declaration"]["status"] == "valid"
        if x["shared"] and x["owner_enrolled"]:  # someone else's QR, whose face we know
            assert "qr_face_mismatch" in e["reasons"], (p["identity"], e)
        if x["known_face"]:  # came back without a QR: known by face from a first passage
            assert e["person"] is not None and e["person"]["via"] == "face", (p["identity"], e)
        if not p["declared"]:
            assert "no_declaration" in e["reasons"] or e["person"] is not None
    # A febrile person with a reading is never let through as normal.
    assert all("fever" in e["reasons"] for e in febrile if e["temperature"] is not None)
    assert any(x["known_face"] for x in expected) and any(x["via_qr"] for x in expected)


def test_the_lanes_iris_camera_names_each_traveller_and_catches_borrowed_qrs(
    system: dict[str, Any], scene: dict[str, Any]
) -> None:
    """The same recording with an iris camera on the lane: every traveller has a
    synthetic iris of their own (models.iris.synthetic), the declared ones enrolled
    under their person; the camera shows the eye of whoever is at the window (a new
    capture each frame, turned a little), nothing between travellers."""
    settings = system["settings"]
    truth, tokens = scene["truth"], scene["tokens"]
    people = truth["persons"]
    iris_of = {p["identity"]: 810_000 + i for i, p in enumerate(people)}
    pipeline = IrisPipeline()
    gallery = ShardedIrisGallery(settings.for_workers(), shards=settings.face_gallery_shards)
    enrolled = {}
    for identity, token in tokens.items():  # those who declared (their own QR exists)
        enrolled[identity] = person_of(settings, token)
        code = pipeline.run(render_eye(iris_of[identity]).image).code
        run(gallery.enroll(enrolled[identity], Eye.RIGHT, code, "checkpoint"))
    # One traveller holding up their own QR is someone else at the iris camera: the eye
    # of another declared traveller (a borrowed QR, as the iris sees it).
    holders = [p["identity"] for p in people if p["qr_owner"] == p["identity"]]
    assert len(holders) >= 2  # the recording has QR holders to swap
    impostor, lender = holders[0], holders[1]
    eye_shown = {**{i: i for i in iris_of}, impostor: lender}
    in_frame = {f["frame"]: p["identity"] for p in people for f in p["frames"]}
    folder = system["data_dir"] / "scene-iris"
    (folder / "iris").mkdir(parents=True)
    blank = np.full((280, 320), 200, np.uint8)  # nobody at the window: no eye
    visible = sorted((scene["folder"] / "visible").iterdir())
    for index, frame in enumerate(visible):
        who = in_frame.get(index)
        eye = (
            render_eye(
                iris_of[eye_shown[who]], capture=index + 1, rotation_deg=float(index % 9 - 4)
            ).image
            if who
            else blank
        )
        cv2.imwrite(str(folder / "iris" / f"{frame.stem}.png"), eye)
    checkpoint = recorded_checkpoint("rec-iris", scene["folder"], scene["sim"])
    iris_camera = CameraConfig(id="i1", kind="iris", lane=1, source=f"file://{folder}/iris/")
    configure(
        settings, checkpoint.model_copy(update={"cameras": [*checkpoint.cameras, iris_camera]})
    )
    wait_until(lambda: stats("rec-iris", "v1").get("state", "").startswith("ended"), what="the end")
    got = wait_until(
        lambda: events(settings, "rec-iris") if stats("rec-iris", "v1")["queued"] == 0 else None
    )
    mine = match(got, people)
    assert None not in mine and len(got) == len(people)
    for p, e in zip(people, mine, strict=True):
        assert e is not None and e["iris"] is not None, (p["identity"], e)
        # The eye names its own enrolled person, and nobody when it was never enrolled.
        shown = eye_shown[p["identity"]]
        assert e["iris"]["person_id"] == enrolled.get(shown), (p["identity"], e)
        owner = p["qr_owner"]
        if owner is not None and owner != shown:  # a QR that is not the eye's person's
            assert "qr_iris_mismatch" in e["reasons"], (p["identity"], e)
        else:
            assert "qr_iris_mismatch" not in e["reasons"], (p["identity"], e)
        if owner is None and shown in enrolled:  # no QR shown: known by the eye
            assert e["person"]["via"] == "iris" and e["declaration"]["status"] == "valid"
    for person in enrolled.values():
        run(gallery.forget(person))


def test_a_killed_stream_resumes_and_loses_or_doubles_no_event(
    system: dict[str, Any], scene: dict[str, Any]
) -> None:
    settings = system["settings"]
    folder = scene["folder"]
    sim = SimConfig(faces_dir=FACES)
    configure(settings, recorded_checkpoint("kill", folder, sim))
    before = wait_until(
        lambda: events(settings, "kill")[:3] if len(events(settings, "kill")) >= 3 else None,
        what="three events",
    )
    stream = ray.get_actor(actor_name("kill", "v1"), namespace=NAMESPACE)
    ray.kill(stream, no_restart=False)  # a crash: Ray restarts it, it reads again
    wait_until(lambda: stats("kill", "v1").get("state", "").startswith("ended"), what="the end")
    after = wait_until(
        lambda: events(settings, "kill") if stats("kill", "v1")["queued"] == 0 else None
    )
    ids = [e["event_id"] for e in after]
    assert len(ids) == len(set(ids))  # nothing doubled
    assert {e["event_id"] for e in before} <= set(ids)  # nothing acknowledged lost
    people = json.loads((folder / "truth.json").read_text())["persons"]
    assert len(after) == len(people)


def test_a_slow_inference_drops_frames_and_keeps_memory_and_latency_bounded(
    system: dict[str, Any], scene: dict[str, Any], tmp_path: Path
) -> None:
    """Frames come faster than inference can take them (the detector told to wait a
    quarter second to fill each batch, the recording played at 30 frames a second): the
    oldest waiting frame is dropped and counted, the queue never grows past its bound,
    and every frame is accounted for."""
    settings = system["settings"]
    slow = {**SMALL, "user_config": {"max_batch_size": 8, "batch_wait_timeout_s": 0.25}}
    serve.run(
        bind_ingress(settings, {**system["options"], "FaceDetector": slow}),
        name=APP,
        route_prefix=None,
    )
    try:
        measure_a_fast_recording(system, scene["folder"], tmp_path)
    finally:
        serve.run(bind_ingress(settings, system["options"]), name=APP, route_prefix=None)


def measure_a_fast_recording(system: dict[str, Any], folder: Path, tmp_path: Path) -> None:
    settings = system["settings"]
    fast = tmp_path / "fast"
    for kind in ("visible", "thermal"):
        (fast / kind).mkdir(parents=True)
        for f in sorted((folder / kind).iterdir()):
            (fast / kind / f.name).write_bytes(f.read_bytes())  # new times: the rate decides
    sim = SimConfig(faces_dir=FACES)
    configure(settings, recorded_checkpoint("fast", fast, sim, rate_fps=30.0))
    queued = []

    def ended() -> bool:
        s = stats("fast", "v1")
        queued.append(s.get("queued", 0))
        return s.get("state", "").startswith("ended") and s.get("queued") == 0

    wait_until(ended, what="the fast recording")
    s = stats("fast", "v1")
    print(
        {k: s[k] for k in ("frames_read", "frames_processed", "frames_dropped", "slowest_frame_s")}
    )
    assert s["frames_dropped"] > 0
    assert max(queued) <= settings.camera_frames_queued + 1  # waiting, and the one in work
    accounted = s["frames_processed"] + s["frames_dropped"] + s["frames_failed"]
    assert s["frames_read"] == accounted and s["frames_failed"] <= 2, s
    frames = len(list((fast / "visible").iterdir()))
    # An unbounded queue would keep the last frame waiting for all the others (a quarter
    # second each at least): what waits is never more than the bound's worth.
    assert s["slowest_frame_s"] < (settings.camera_frames_queued + 2) * 0.25 + 2.0
    assert s["slowest_frame_s"] < frames * 0.25 / 2


def test_broken_sources_say_what_is_wrong_and_the_rest_keeps_working(
    system: dict[str, Any], scene: dict[str, Any], tmp_path: Path
) -> None:
    settings = system["settings"]
    folder = scene["folder"]
    broken = tmp_path / "broken"
    (broken / "visible").mkdir(parents=True)
    (broken / "thermal").mkdir(parents=True)
    names = sorted(p.name for p in (folder / "visible").iterdir())[:40]
    for i, name in enumerate(names):
        data = (folder / "visible" / name).read_bytes()
        (broken / "visible" / name).write_bytes(data[:200] if i == 5 else data)  # one cut
        # Thermal frames of another size than the checkpoint's homography expects.
        small = np.zeros((60, 80), np.uint16) + 30_000
        cv2.imwrite(str(broken / "thermal" / name.replace(".jpg", ".png")), small)
    sim = SimConfig(faces_dir=FACES)
    good = recorded_checkpoint("broken", broken, sim)
    unreachable = CameraConfig(id="v2", kind="visible", lane=2, source="rtsp://127.0.0.1:9/none")
    configure(
        settings, good.model_copy(update={"lanes": 2, "cameras": [*good.cameras, unreachable]})
    )
    wait_until(
        lambda: stats("broken", "v1").get("state", "").startswith("ended"),
        what=f"the end ({stats('broken', 'v1')})",
    )
    wait_until(lambda: stats("broken", "v2").get("reconnects", 0) >= 1, what="a reconnect")
    assert (
        "unreachable" in stats("broken", "v2")["state"] or stats("broken", "v2")["reconnects"] >= 1
    )

    def accounted() -> int:  # the last frame read may still be in the work queue
        s = stats("broken", "v1")
        return int(s["frames_processed"] + s["frames_dropped"] + s["frames_failed"])

    assert stats("broken", "v1")["frames_corrupt"] == 1
    # Every other frame is accounted for once the queue is empty: none lost, none twice.
    wait_until(lambda: accounted() >= len(names) - 1, timeout=30, what="the last frames")
    assert accounted() == len(names) - 1
    got = wait_until(lambda: events(settings, "broken"))
    assert got and all("no_reading" in e["reasons"] for e in got)
