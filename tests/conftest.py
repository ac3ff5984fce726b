"""Shared fixtures: real Redis servers (embedded, DICHTE_REDIS_URL when set, and a
three-primary Redis Cluster for the modules that ask for it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dichte.serving.embedded_redis import EmbeddedRedis
from dichte.store.connection import connect_sync
from dichte.store.keys import Keys
from tests.live import LiveServer, chromium, live_server
from tests.receiver import Receiver, receiver
from tests.redis_cluster import redis_cluster

# Taken out of the environment so that no Settings() built by a test picks it up by
# accident; tests that want the external server ask for it through `redis_url`.
EXTERNAL_REDIS_URL = os.environ.pop("DICHTE_REDIS_URL", None)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("var"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A three-primary Redis Cluster (tests.redis_cluster), started once when asked for."""
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


REDIS_KINDS = ["embedded", "external"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`redis_url` runs a test on each kind of Redis; a module that sets
    `ON_REDIS_CLUSTER = True` also runs on a Redis Cluster."""
    if "redis_url" in metafunc.fixturenames:
        cluster = ["cluster"] if getattr(metafunc.module, "ON_REDIS_CLUSTER", False) else []
        metafunc.parametrize("redis_url", [*REDIS_KINDS, *cluster], indirect=True)


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, embedded_redis: EmbeddedRedis) -> str:
    if request.param == "embedded":
        return embedded_redis.url
    if request.param == "cluster":
        return str(request.getfixturevalue("redis_cluster_url"))
    if not EXTERNAL_REDIS_URL:
        pytest.skip("DICHTE_REDIS_URL is not set: no external Redis to test against")
    connect_sync(EXTERNAL_REDIS_URL).ping()
    return EXTERNAL_REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A fresh key space per test, removed afterwards (the external server is shared)."""
    prefix = f"dichte-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = connect_sync(redis_url)
    for pattern in Keys(prefix).patterns():
        for key in list(client.scan_iter(match=pattern, count=1000)):
            client.delete(key)  # one by one: a cluster's keys are in many slots
    client.close()


@pytest.fixture(scope="session")
def ioc() -> Iterator[Receiver]:
    """The provincial IOC's receiver, on loopback, for the one `dichte run`."""
    with receiver() as r:
        yield r


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, ioc: Receiver) -> Iterator[LiveServer]:
    """One `dichte run` for every test over HTTP, forwarding to the `ioc` receiver."""
    env = {"DICHTE_IOC_URL": ioc.url, "DICHTE_IOC_SECRET": ioc.secret}
    with live_server(tmp_path_factory.mktemp("live") / "var", env) as live:
        yield live


@pytest.fixture(scope="session")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        yield client


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh phone: its own context, so nothing kept in its storage from another test."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    yield context.new_page()
    context.close()


# Per module, not per session: Playwright's sync API keeps an event loop running in
# this thread while it is open, and asyncio.run() in later modules would refuse to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b
