"""The face and iris galleries on real Redis: templates sealed at rest and bound to
their person (and eye), found again after a restart, expired with the retention,
forgotten on request."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from dichte.domain.templates import (
    Eye,
    IrisTemplate,
    Template,
    TemplateSources,
    open_iris,
    open_sealed,
    seal,
    seal_iris,
)
from dichte.models.iris.code import SHAPE, IrisCode
from dichte.services.gallery import Gallery, IrisGallery, shard_of
from dichte.store.connection import connect_sync
from dichte.store.gallery import IrisTemplateStore, TemplateStore
from dichte.store.keys import Keys
from tests.test_epi_store import RoundTrips

# The store's scripts and transactions also run on a three-primary Redis Cluster.
ON_REDIS_CLUSTER = True

KEY = os.urandom(32)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def noisy(v: np.ndarray, seed: int, amount: float = 0.3) -> np.ndarray:
    w = v + amount * unit(seed + 10_000) / np.sqrt(1 + amount**2)
    return w / np.linalg.norm(w)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_sealed_template_opens_only_for_its_person_and_key() -> None:
    t = Template("p1", unit(1), TemplateSources.DECLARATION, 100, 200)
    blob = seal(KEY, t)
    assert unit(1).astype("<f4").tobytes() not in blob
    back = open_sealed(KEY, "p1", blob)
    assert np.allclose(back.embedding, t.embedding) and back.expires_at == 200
    with pytest.raises(ValueError):
        open_sealed(KEY, "p2", blob)  # moved to another person
    with pytest.raises(ValueError):
        open_sealed(os.urandom(32), "p1", blob)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(ValueError):
        open_sealed(KEY, "p1", tampered)


def test_enrol_search_restart_forget_and_expire(redis_url: str, key_prefix: str) -> None:
    people = {f"person-{i}": unit(i) for i in range(300)}

    async def scenario() -> None:
        g = Gallery(TemplateStore(redis_url, key_prefix, KEY), retention_s=3600)
        for pid, v in people.items():
            await g.enroll(pid, v, TemplateSources.CHECKPOINT)
        # Another photo of person-7 (noisy) finds person-7 first.
        (top,) = await g.search(noisy(people["person-7"], 7)[None], k=3)
        assert top[0][0] == "person-7" and top[0][1] > 0.8
        assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
        await g.close()

        # A fresh process reads the same gallery back from Redis, in batches: a few
        # round trips for 300 templates, not one each.
        templates = TemplateStore(redis_url, key_prefix, KEY)
        trips = RoundTrips(templates._redis)
        g2 = Gallery(templates, retention_s=3600)
        assert await g2.load() == 300
        assert trips.count - trips.scans <= 3, trips.count
        (top,) = await g2.search(people["person-42"][None], k=1)
        assert top[0][0] == "person-42"
        assert await g2.forget("person-42")
        (top,) = await g2.search(people["person-42"][None], k=1)
        assert top[0][0] != "person-42" and top[0][1] < 0.5
        # Past the retention, a template is neither searched nor kept.
        (top,) = await g2.search(people["person-1"][None], k=1, now=10**10)
        assert top == []
        await g2.close()

        # With another key the blobs do not open: counted, never matched.
        g3 = Gallery(TemplateStore(redis_url, key_prefix, os.urandom(32)), retention_s=3600)
        assert await g3.load() == 0 and g3.unreadable == 299
        await g3.close()

    run(scenario())
    client = connect_sync(redis_url)
    keys = Keys(key_prefix)
    # Sealed at rest: no 4-byte run of any enrolled embedding, in any float encoding
    # a reader might try, appears anywhere in what Redis holds for the gallery.
    stored = b"".join(
        client.get(k) or b"" for k in client.scan_iter(keys.face_templates_pattern(), count=1000)
    )
    assert len(stored) > 290 * 128  # the templates are there
    for v in people.values():
        for encoded in (v.astype("<f4").tobytes(), v.astype("<f2").tobytes()):
            pieces = [encoded[i : i + 8] for i in range(0, len(encoded), 8)]
            assert not any(piece in stored for piece in pieces)
    ttl = client.ttl(keys.face_template("person-7"))
    assert 3500 < ttl <= 3600
    assert client.get(keys.face_template("person-42")) is None


def test_shards_split_people_evenly() -> None:
    counts = np.bincount([shard_of(f"p{i}", 4) for i in range(4000)], minlength=4)
    assert counts.min() > 800


def iris_code(seed: int) -> IrisCode:
    rng = np.random.default_rng(seed)
    return IrisCode(rng.random(SHAPE) < 0.5, rng.random(SHAPE) < 0.8)


def noisy_code(code: IrisCode, seed: int, flips: float = 0.1) -> IrisCode:
    """Another capture of the same eye: a tenth of the bits flipped, turned 3 columns."""
    rng = np.random.default_rng(seed)
    return IrisCode(code.bits ^ (rng.random(SHAPE) < flips), code.mask).rolled(3)


def test_a_sealed_iris_opens_only_for_its_person_eye_and_key() -> None:
    code = iris_code(1).to_bytes()
    t = IrisTemplate("p1", Eye.LEFT, code, TemplateSources.CHECKPOINT, 100, 200)
    blob = seal_iris(KEY, t)
    assert code[:64] not in blob and code[256:320] not in blob
    back = open_iris(KEY, "p1/left", blob)
    assert back.code == code and (back.person_id, back.eye, back.expires_at) == (
        "p1",
        Eye.LEFT,
        200,
    )
    for entry in ("p1/right", "p2/left"):  # moved to the other eye, or another person
        with pytest.raises(ValueError):
            open_iris(KEY, entry, blob)
    with pytest.raises(ValueError):
        open_sealed(KEY, "p1/left", blob)  # an iris blob is no face template


def test_iris_enrol_search_restart_forget_and_expire(redis_url: str, key_prefix: str) -> None:
    eyes = {
        (f"person-{i}", eye): iris_code(2 * i + (eye is Eye.RIGHT))
        for i in range(200)
        for eye in Eye
    }

    async def scenario() -> None:
        g = IrisGallery(IrisTemplateStore(redis_url, key_prefix, KEY), retention_s=3600)
        for (pid, eye), code in eyes.items():
            await g.enroll(pid, eye, code, TemplateSources.CHECKPOINT)
        found, size = await g.search(noisy_code(eyes[("person-7", Eye.RIGHT)], 7), k=3)
        assert size == 400 and found[0][:2] == ("person-7", "right") and found[0][2] < 0.2
        assert found[0][2] <= found[1][2] <= found[2][2] and found[1][2] > 0.4
        # Enrolling an eye again replaces it: the old code no longer answers for it.
        await g.enroll("person-8", Eye.LEFT, iris_code(99_999), TemplateSources.CHECKPOINT)
        (best, *_), size = await g.search(eyes[("person-8", Eye.LEFT)], k=1)
        assert size == 400 and best[:2] != ("person-8", "left")
        await g.close()

        # A fresh process reads it back from Redis; forgetting takes both eyes.
        g2 = IrisGallery(IrisTemplateStore(redis_url, key_prefix, KEY), retention_s=3600)
        assert await g2.load() == 400
        assert g2.enrolled(["person-42", "nobody"]) == {"person-42"}
        (best, *_), _ = await g2.search(eyes[("person-42", Eye.LEFT)], k=1)
        assert best == ("person-42", "left", 0.0)
        assert await g2.forget("person-42")
        for eye in Eye:
            (best, *_), size = await g2.search(eyes[("person-42", eye)], k=1)
            assert best[0] != "person-42" and size == 398
        # Past the retention, no eye is searched.
        assert await g2.search(eyes[("person-1", Eye.LEFT)], k=1, now=10**10) == ([], 0)
        await g2.close()

        # With another key the blobs do not open: counted, never matched.
        g3 = IrisGallery(IrisTemplateStore(redis_url, key_prefix, os.urandom(32)), retention_s=3600)
        assert await g3.load() == 0 and g3.unreadable == 398
        await g3.close()

    run(scenario())
    client = connect_sync(redis_url)
    keys = Keys(key_prefix)
    assert 3500 < client.ttl(keys.iris_template("person-7/right")) <= 3600
    assert client.get(keys.iris_template("person-42/left")) is None
    assert client.get(keys.iris_template("person-42/right")) is None
