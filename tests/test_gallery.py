"""The face gallery on real Redis: templates sealed at rest and bound to their person,
found again after a restart, expired with the retention, forgotten on request."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest
import redis

from dichte.domain.templates import Template, TemplateSources, open_sealed, seal
from dichte.services.gallery import Gallery, shard_of
from dichte.store.gallery import TemplateStore
from dichte.store.keys import Keys
from tests.test_epi_store import RoundTrips

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
    client = redis.Redis.from_url(redis_url)
    keys = Keys(key_prefix)
    # Sealed at rest: no 4-byte run of any enrolled embedding, in any float encoding
    # a reader might try, appears anywhere in what Redis holds for the gallery.
    stored = b"".join(
        client.get(k) or b"" for k in client.scan_iter(f"{key_prefix}:face:*", count=1000)
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
