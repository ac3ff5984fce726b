"""Face and iris inference as Serve deployments on a started Ray: requests from
concurrent callers form batches (and give what the plain pipeline gives), irises on
two gallery shards are searched as one, a full pool says busy instead of queueing, and
a replica killed under load loses no request from the caller's point of view."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import ray
from ray import serve

from dichte.actors.gallery import ShardedIrisGallery
from dichte.domain.settings import Settings
from dichte.domain.templates import Eye, TemplateSources
from dichte.models.faces.pipeline import (
    DetectorParams,
    EmbedderParams,
    FaceDetector,
    FaceEmbedder,
    align,
)
from dichte.models.iris.code import SHAPE, IrisCode
from dichte.models.iris.pipeline import IrisPipeline
from dichte.services.faces import InferenceBusy
from dichte.services.gallery import shard_of
from dichte.serving.inference import (
    FaceDetectorDeployment,
    FaceEmbedderDeployment,
    IrisEncoderDeployment,
)
from dichte.serving.inference_pool import InferencePool, IrisPool
from tests.live import missing

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
CASIA = FACES.parent / "iris" / "opencvblueprints_casia_interval"
OBAMA = FACES / "face_recognition" / "tests" / "test_images" / "obama.jpg"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not OBAMA.exists():
        missing(f"shared data not present: {OBAMA}")
    data_dir = tmp_path_factory.mktemp("faces")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 0})
    settings = {"data_dir": str(data_dir)}
    detector = serve.run(
        FaceDetectorDeployment.options(  # type: ignore[attr-defined]
            ray_actor_options={"num_cpus": 0.25},
            user_config={"max_batch_size": 8, "batch_wait_timeout_s": 0.02},
        ).bind(settings),
        name="detector",
        route_prefix=None,
    )
    embedder = serve.run(
        FaceEmbedderDeployment.options(  # type: ignore[attr-defined]
            num_replicas=2,
            ray_actor_options={"num_cpus": 0.25},
            user_config={"max_batch_size": 16, "batch_wait_timeout_s": 0.02},
        ).bind(settings),
        name="embedder",
        route_prefix=None,
    )
    image = cv2.imread(str(OBAMA))
    local_detector = FaceDetector(DetectorParams(cache_dir=data_dir / "models"))
    (face,) = local_detector.run(image)
    crop = align(image, face)
    reference = FaceEmbedder(EmbedderParams(cache_dir=data_dir / "models")).run(crop[None])[0]
    yield {
        "detector": detector,
        "embedder": embedder,
        "image": image,
        "face": face,
        "crop": crop,
        "reference": reference,
    }
    serve.shutdown()
    ray.shutdown()


def test_frames_go_by_reference_and_detections_match_local(served: dict[str, Any]) -> None:
    pool = InferencePool(served["detector"], served["embedder"])
    sight = asyncio.run(pool.see(served["image"]))  # ray.put inside: an ObjectRef travels
    assert len(sight.faces) == 1
    assert np.allclose(sight.faces[0].face.box, served["face"].box, atol=0.5)
    # The crop the deployment aligned is the one aligned here, to the pixel.
    assert np.abs(sight.faces[0].crop.astype(int) - served["crop"].astype(int)).max() <= 1
    # Also an ObjectRef the caller put itself, e.g. one frame for several deployments.
    ref = ray.put(served["image"])
    assert len(asyncio.run(pool.see(ref)).faces) == 1
    # And an upload as it came: encoded bytes, decoded in the replica.
    assert len(asyncio.run(pool.see(OBAMA.read_bytes())).faces) == 1


def test_concurrent_callers_are_batched(served: dict[str, Any]) -> None:
    pool = InferencePool(served["detector"], served["embedder"], max_in_flight=64)

    async def many() -> np.ndarray:
        return await pool.embed([served["crop"]] * 48)

    vectors = asyncio.run(many())
    assert vectors.shape == (48, 128)
    assert np.allclose(vectors @ served["reference"], 1.0, atol=1e-3)
    # Ask several times: the two replicas answer in turn.
    seen = [served["embedder"].batch_sizes.remote().result() for _ in range(8)]
    largest = max(size for replica in seen for size in replica)
    assert largest > 1, seen


def test_the_batched_iris_encoder_gives_the_plain_pipelines_codes(
    served: dict[str, Any], tmp_path: Path
) -> None:
    """Twelve eye images sent at once, as bytes (decoded in the replica): the Gabor bank
    runs on batches of several eyes, and every code is, bit for bit, the plain
    pipeline's for that image."""
    files = sorted(CASIA.glob("S1001*.jpg"))[:12]
    if len(files) < 12:
        missing(f"shared data not present: {CASIA}")
    encoder = serve.run(
        IrisEncoderDeployment.options(  # type: ignore[attr-defined]
            ray_actor_options={"num_cpus": 0.1},
            user_config={"max_batch_size": 16, "batch_wait_timeout_s": 0.05},
        ).bind({"data_dir": str(tmp_path)}),
        name="iris",
        route_prefix=None,
    )
    try:
        pool = IrisPool(encoder, max_in_flight=64)

        async def together() -> list[Any]:
            return await asyncio.gather(*(pool.encode_iris(f.read_bytes()) for f in files))

        served_codes = [e.code for e in asyncio.run(together())]
        plain = IrisPipeline()
        for f, code in zip(files, served_codes, strict=True):
            assert code == plain.run(cv2.imread(str(f), cv2.IMREAD_COLOR)).code, f.name
        assert max(encoder.batch_sizes.remote().result()) > 1
    finally:
        serve.delete("iris")


def test_irises_spread_over_two_gallery_shards_are_searched_as_one(
    served: dict[str, Any], embedded_redis: Any, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=embedded_redis.url,
        redis_key_prefix=f"shards-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path,
    )
    gallery = ShardedIrisGallery(settings.for_workers(), shards=2)
    rng = np.random.default_rng(4)
    codes = {f"p{i}": IrisCode(rng.random(SHAPE) < 0.5, rng.random(SHAPE) < 0.8) for i in range(24)}
    assert {shard_of(p, 2) for p in codes} == {0, 1}  # both shards hold some

    async def scenario() -> None:
        for person, code in codes.items():
            await gallery.enroll(person, Eye.LEFT, code, TemplateSources.CHECKPOINT)
        for person, code in codes.items():
            (best, *_), size = await gallery.search(code.rolled(-2), 3)
            assert best == (person, "left", 0.0) and size == 24
        assert await gallery.enrolled(["p3", "p17", "nobody"]) == {"p3", "p17"}
        assert await gallery.forget("p3")
        (best, *_), size = await gallery.search(codes["p3"], 1)
        assert best[0] != "p3" and size == 23

    asyncio.run(scenario())


def test_a_full_pool_says_busy_at_once_instead_of_queueing(served: dict[str, Any]) -> None:
    pool = InferencePool(served["detector"], served["embedder"], max_in_flight=4)

    async def burst() -> list[object]:
        calls = [pool.embed([served["crop"]]) for _ in range(20)]
        return await asyncio.gather(*calls, return_exceptions=True)

    started = time.perf_counter()
    results = asyncio.run(burst())
    busy = [r for r in results if isinstance(r, InferenceBusy)]
    done = [r for r in results if isinstance(r, np.ndarray)]
    assert len(done) == 4 and len(busy) == 16
    assert pool.stats.busy == 16 and pool.stats.in_flight == 0
    # Later calls go through again once the pool has room.
    assert asyncio.run(pool.embed([served["crop"]])).shape == (1, 128)
    assert time.perf_counter() - started < 60


def test_a_replica_killed_under_load_loses_no_request(served: dict[str, Any]) -> None:
    pool = InferencePool(served["detector"], served["embedder"], max_in_flight=1000, retries=5)
    replicas = [
        a
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "FaceEmbedder" in a["name"] and a["namespace"] == "serve"
    ]
    assert len(replicas) == 2, replicas
    victim = ray.get_actor(replicas[0]["name"], namespace="serve")

    async def load_and_kill() -> np.ndarray:
        # 300 single-crop requests; the kill lands once the first 20 answered, while the
        # rest are still queued or running (whatever the machine's speed).
        calls = [asyncio.ensure_future(pool.embed([served["crop"]])) for _ in range(300)]
        for done, finished in enumerate(asyncio.as_completed(calls), start=1):
            await finished
            if done == 20:
                ray.kill(victim, no_restart=True)
                break
        return np.concatenate(await asyncio.gather(*calls))

    vectors = asyncio.run(load_and_kill())
    assert vectors.shape == (300, 128)
    assert np.allclose(vectors @ served["reference"], 1.0, atol=1e-3)
    # The replica is gone for good, killed with 280 requests still unanswered: they were
    # retried on the survivor (by this pool, or by Serve's router before they reached
    # the dead replica; which one depends on timing).
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(victim.__ray_ready__.remote(), timeout=30)
