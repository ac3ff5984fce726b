"""The head's control plane (Ray's GCS) killed and started again on a cluster with GCS
fault tolerance (RAY_REDIS_ADDRESS: a Redis kept for Ray), under a declaration load:
the system goes on serving while it is down, and after it the same actors run on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import ray
from ray.util.state import list_actors

from dichte.serving.local_cluster import LocalCluster, local_cluster
from tests.live import (
    DeclarationLoad,
    LiveServer,
    free_port,
    live_server,
    wait_for,
)
from tests.redis_sentinel import SentinelGroup


@pytest.fixture(scope="module")
def gcs_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Redis for Ray's GCS only (not dichte's record), as an operator would run one."""
    group = SentinelGroup(tmp_path_factory.mktemp("gcs-redis"), [])
    port = free_port()
    group.start_server(port)
    try:
        yield port
    finally:
        group.kill(port)


@pytest.fixture(scope="module")
def cluster(gcs_redis: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    env = {"RAY_REDIS_ADDRESS": f"127.0.0.1:{gcs_redis}"}
    with local_cluster(tmp_path_factory.mktemp("ray"), workers=1, env=env) as c:
        yield c


@pytest.fixture(scope="module")
def server(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"DICHTE_RAY_ADDRESS": cluster.address, "DICHTE_SIMULATED_CHECKPOINT": "false"}
    with live_server(tmp_path_factory.mktemp("node") / "var", env) as live:
        yield live


def _actor_pids(cluster: LocalCluster) -> dict[str, int]:
    ray.init(address=cluster.address, namespace="dichte", log_to_driver=False)
    try:
        alive = list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=10_000)
        return {a.name: a.pid for a in alive if a.name}
    finally:
        ray.shutdown()


def test_the_gcs_killed_and_restarted_keeps_the_system_serving(
    cluster: LocalCluster, server: LiveServer
) -> None:
    names = ("declaration-store", "ioc-forwarder", "camera-supervisor")
    head = cluster.cluster.head_node
    with DeclarationLoad(server.base, clients=2) as load:
        wait_for(lambda: len(load.acknowledged) >= 20, 60, "declarations before")

        # The actors the first requests started (the API starts them when first needed).
        def running() -> dict[str, int] | None:
            pids = _actor_pids(cluster)
            return pids if all(n in pids for n in names) else None

        before = wait_for(running, 60, f"{names} running")
        head.kill_gcs_server()
        try:
            down = len(load.acknowledged)
            # Requests do not go through the GCS: declarations go on while it is away.
            wait_for(lambda: len(load.acknowledged) >= down + 50, 60, "writes without the GCS")
        finally:
            with contextlib.suppress(Exception):
                head.start_gcs_server()
        up = len(load.acknowledged)
        wait_for(lambda: len(load.acknowledged) >= up + 50, 60, "writes after the restart")
    after = _actor_pids(cluster)
    # The restarted GCS found the cluster in its Redis: the same actors, not new ones.
    for name in names:
        assert after.get(name) == before.get(name), (name, before.get(name), after.get(name))
    print(f"GCS restarted: {load.nothing_lost_or_hung(server)}")
