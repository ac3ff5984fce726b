"""A Ray cluster of several nodes on one machine: a head and worker nodes, each with its
own raylet and metrics endpoint, started the way `ray start` starts them (Ray's
`cluster_utils`). What `dichte cluster-demo` stands up, and what the cluster tests take
nodes away from. It shows placement, failover and scraping; on one machine it cannot
show scale-out."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray._common.utils import get_ray_address_file
from ray.cluster_utils import Cluster

from dichte.serving.ports import free_port
from dichte.serving.runtime import FAST_INGRESS_ENV, haproxy_ports

SD_FILE = "prom_metrics_service_discovery.json"  # written by the head's dashboard


@dataclass
class LocalCluster:
    cluster: Cluster
    temp_dir: Path
    metrics_ports: list[int]  # head first
    dashboard_port: int  # where `serve deploy --address` and `serve status` reach it

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    @property
    def service_discovery_file(self) -> Path:
        """Ray's Prometheus file-based service discovery: every live node's endpoint."""
        return self.temp_dir / SD_FILE

    @property
    def head_node_id(self) -> str:
        head: Any = self.cluster.head_node
        return str(head.node_id)

    def workers(self) -> list[Any]:
        return list(self.cluster.worker_nodes)

    def remove_worker(self, node: Any) -> None:
        """The node's raylet and its workers are killed, as a lost machine would be."""
        self.cluster.remove_node(node, allow_graceful=False)


@contextlib.contextmanager
def local_cluster(
    temp_dir: Path, *, workers: int = 1, cpus_per_node: float = 2, env: dict[str, str] | None = None
) -> Iterator[LocalCluster]:
    """A head and `workers` worker nodes, `cpus_per_node` logical CPUs each (on one
    machine they share its cores: the count is what Ray schedules against). `env` is
    what the nodes' processes see in addition."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    # Ray's cluster_utils records the address in its default temp dir, which a fresh
    # machine does not have yet.
    Path(get_ray_address_file(None)).parent.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    os.environ.update({**FAST_INGRESS_ENV, **haproxy_ports(), **(env or {})})
    ports = [free_port() for _ in range(workers + 1)]
    dashboard_port = free_port()
    try:
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": cpus_per_node,
                "include_dashboard": True,  # its reporter writes the discovery file
                "dashboard_port": dashboard_port,
                "metrics_export_port": ports[0],
                "temp_dir": str(temp_dir),
            },
        )
        for port in ports[1:]:
            cluster.add_node(num_cpus=cpus_per_node, metrics_export_port=port)
        cluster.wait_for_nodes()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield LocalCluster(cluster, temp_dir, ports, dashboard_port)
    finally:
        cluster.shutdown()


def placement(address: str, namespace: str = "dichte") -> dict[str, Counter[str]]:
    """Alive actors (Serve replicas and dichte's own) per node id, counted by class."""
    import ray
    from ray.util.state import list_actors

    connected = ray.is_initialized()
    if not connected:
        ray.init(address=address, namespace=namespace, log_to_driver=False)
    try:
        nodes: dict[str, Counter[str]] = {}
        for actor in list_actors(filters=[("state", "=", "ALIVE")], limit=10_000):
            nodes.setdefault(actor.node_id or "", Counter())[actor.class_name or ""] += 1
        return nodes
    finally:
        if not connected:
            ray.shutdown()
