"""dichte on a Ray cluster of several nodes on one machine (a head and a worker node,
each its own raylet), as `make cluster-demo` stands it up: actors and replicas spread
over the nodes, Prometheus scrapes every node through Ray's service discovery with the
shipped config, the dashboard's queries run, and a worker node lost under load loses
no acknowledged declaration."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
import yaml
from ray.util.state import list_actors

from dichte.serving.local_cluster import LocalCluster, local_cluster, placement
from dichte.serving.serve_config import application, application_args
from tests.live import (
    ROOT,
    SHARED_DATA,
    DeclarationLoad,
    LiveServer,
    free_port,
    live_server,
    missing,
    wait_for,
)

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
MONITORING = ROOT / "cluster" / "prometheus"
DASHBOARD = ROOT / "cluster" / "grafana" / "dichte.json"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("ray"), workers=1) as c:
        yield c


@pytest.fixture(scope="module")
def server(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "DICHTE_RAY_ADDRESS": cluster.address,
        # The simulated two-lane checkpoint streams into camera actors.
        "DICHTE_SIMULATED_CHECKPOINT": "true",
    }
    faces = SHARED_DATA / "faces"
    if (faces / "labels").exists():  # faces the detector sees: decisions, not just frames
        env["DICHTE_SIM_FACES_DIR"] = str(faces)
    with live_server(tmp_path_factory.mktemp("node") / "var", env) as live:
        yield live


def _declare(server: LiveServer, n: int) -> None:
    with DeclarationLoad(server.base, clients=2) as load:
        wait_for(lambda: len(load.acknowledged) >= n, 60, f"{n} declarations")


def test_actors_and_replicas_spread_over_the_nodes(
    cluster: LocalCluster, server: LiveServer
) -> None:
    _declare(server, 5)
    wanted = ("DeclarationStoreActor", "IOCForwarder", "CameraSupervisor", "CameraStream")

    def all_up() -> dict[str, Counter[str]] | None:
        nodes = placement(cluster.address)
        everything = sum(nodes.values(), start=Counter[str]())
        lanes_up = everything["CameraStream"] == 2  # one per lane of the simulated checkpoint
        return nodes if lanes_up and all(everything[a] for a in wanted) else None

    nodes = wait_for(all_up, 120, f"{wanted} alive", every_s=1)  # each look connects anew
    assert len(nodes) == 2, nodes
    for counts in nodes.values():  # each node holds part of the application
        assert any(name.startswith("ServeReplica:dichte:") for name in counts), nodes
    everything = sum(nodes.values(), start=Counter[str]())
    assert everything["ServeReplica:dichte:DeclarationIngress"] >= 2, dict(everything)

    # dichte's own actors reserve what the Serve config's `actors:` gives them.
    given = application_args(ROOT / "cluster" / "serve_config.yaml")["actors"]
    ray.init(address=cluster.address, namespace="dichte", log_to_driver=False)
    try:
        reserved = {
            a.class_name: a.required_resources.get("CPU", 0)
            for a in list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=10_000)
        }
    finally:
        ray.shutdown()
    for actor_class, share in given.items():
        assert reserved[actor_class] == pytest.approx(share["num_cpus"]), reserved


def _metric_names_in(text: str) -> set[str]:
    return set(re.findall(r"\bray_(?:dichte|serve)_\w+", text))


def _declared_in_code() -> set[str]:
    """The exported names of the metrics dichte's code defines (Ray adds ray_, and
    _total to counters; histograms export _bucket, _sum and _count)."""
    names = set()
    for source in ROOT.glob("*/*.py"):
        for kind, name in re.findall(
            r"(Counter|Gauge|Histogram|counter)\(\s*\"(dichte_\w+)\"", source.read_text()
        ):
            if kind in ("Counter", "counter"):
                names.add(f"ray_{name}_total")
            elif kind == "Gauge":
                names.add(f"ray_{name}")
            else:
                names |= {f"ray_{name}_{s}" for s in ("bucket", "sum", "count")}
    return names


@pytest.fixture(scope="module")
def prometheus(
    cluster: LocalCluster, server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real Prometheus on the shipped config and rules; only the discovery file's
    place (this cluster's temp dir) and the intervals (seconds, not 15) are changed."""
    if not Path(PROMETHEUS).exists():
        missing(
            "Prometheus is not installed; `make test` installs it as root, "
            "or: apt-get install prometheus"
        )
    work = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="2s", evaluation_interval="2s")
    (job,) = [j for j in config["scrape_configs"] if "file_sd_configs" in j]
    job["file_sd_configs"] = [
        {"files": [str(cluster.service_discovery_file)], "refresh_interval": "2s"}
    ]
    shutil.copy(MONITORING / "alerts.yml", work / "alerts.yml")
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    return body["data"]["result"]  # type: ignore[no-any-return]


def test_prometheus_scrapes_every_node_with_the_shipped_config(
    cluster: LocalCluster, server: LiveServer, prometheus: str
) -> None:
    _declare(server, 10)
    wait_for(lambda: _ready(prometheus), 60, "Prometheus ready")

    # Both nodes' metrics endpoints, found through Ray's discovery file, answer.
    def scraped_nodes() -> set[int]:
        up = _query(prometheus, "up == 1")
        return {int(r["metric"]["instance"].rsplit(":", 1)[1]) for r in up}

    wait_for(lambda: set(cluster.metrics_ports) <= scraped_nodes(), 90, "both nodes scraped")

    def created() -> float:
        found = _query(prometheus, 'sum(ray_dichte_declarations_total{outcome="created"})')
        return float(found[0]["value"][1]) if found else 0.0

    # At least the ten this test made (scrapes every 2 s: wait for one after them).
    wait_for(lambda: created() >= 10, 90, "the declarations scraped")
    wait_for(
        lambda: _query(prometheus, "sum(rate(ray_dichte_camera_frames_processed_total[1m])) > 0"),
        120,
        "camera frames from the simulated checkpoint",
    )
    assert _query(prometheus, "min(ray_dichte_redis_up)")[0]["value"][1] == "1"

    # The rules load and evaluate without error.
    def rules() -> list[dict[str, Any]]:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return [r for g in groups for r in g["rules"]]

    evaluated = wait_for(
        lambda: (rs := rules()) and all(r["health"] == "ok" for r in rs) and rs,
        60,
        "rules evaluated",
    )
    assert len(evaluated) == len(re.findall(r"- alert:", (MONITORING / "alerts.yml").read_text()))

    # Every metric the rules and the dashboard name is one the system exports: seen in
    # this scrape, or defined in dichte's code (a counter not yet counted is not exported).
    names = {
        r["metric"]["__name__"] for r in _query(prometheus, '{__name__=~"ray_(dichte|serve)_.+"}')
    }
    used = _metric_names_in((MONITORING / "alerts.yml").read_text() + DASHBOARD.read_text())
    assert used - names - _declared_in_code() == set()
    assert len(used & names) >= len(used) // 2, sorted(used - names)

    # The dashboard loads: every panel's queries run on what was scraped.
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels and dashboard["uid"] == "dichte"
    for panel in panels:
        for target in panel["targets"]:
            _query(prometheus, target["expr"].replace("$checkpoint", ".*"))
    by_province = _query(
        prometheus, 'sum by (province) (ray_dichte_declarations_total{outcome="created"})'
    )
    assert any(r["metric"].get("province") for r in by_province), by_province


def _ready(prometheus: str) -> bool:
    try:
        return httpx.get(f"{prometheus}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _serve_config_for(server: LiveServer, ingress_replicas: int, folder: Path) -> Path:
    """The shipped Serve config as an operator deploys it to this running system: its
    settings in the application's args, and the API's replica count set."""
    config = yaml.safe_load((ROOT / "cluster" / "serve_config.yaml").read_text())
    del config["http_options"]  # Serve's HTTP is up already, on the test's port
    app = application(config)
    settings = {k[7:].lower(): v for k, v in server.env.items() if k.startswith("DICHTE_")}
    settings.pop("ray_address")
    settings["redis_url"] = (server.data_dir / "redis" / "url").read_text().strip()
    app["args"]["settings"] = settings
    (ingress,) = [d for d in app["deployments"] if d["name"] == "DeclarationIngress"]
    scaling = ingress["autoscaling_config"]
    scaling.update(min_replicas=ingress_replicas, initial_replicas=ingress_replicas)
    scaling["max_replicas"] = max(scaling["max_replicas"], ingress_replicas)
    path = folder / f"serve_config.{ingress_replicas}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _serve(cluster: LocalCluster, *args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "serve"), *args, "--address", cluster.dashboard],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class IngressReplicas:
    """The API deployment's running replicas once the deploy is done (the application
    running, the API healthy), as `serve status` shows them (it brings the cluster's
    token: Ray turns token authentication on once a token exists on the machine), else
    -1. The other deployments may be scaling themselves under the cameras' load, which
    the application's status allows. What it last saw, and when each state changed,
    are kept for a failure to show."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.started = time.monotonic()
        self.last = ""
        self.changes: list[str] = []
        self._seen: dict[str, str] = {}
        self.seen_deploying = False

    def __call__(self) -> int:
        try:
            self.last = _serve(self.cluster, "status")
            app = yaml.safe_load(self.last)["applications"]["dichte"]
            ingress = app["deployments"]["DeclarationIngress"]
        except (AssertionError, KeyError, TypeError, subprocess.TimeoutExpired) as busy:
            self.last = f"{type(busy).__name__}: {busy}"  # busy with the deploy, or building
            return -1
        states = {"application": app["status"]} | {
            name: f"{d['status']} {d['replica_states']}" for name, d in app["deployments"].items()
        }
        for name, state in states.items():
            if self._seen.get(name) != state:
                self._seen[name] = state
                self.changes.append(f"{time.monotonic() - self.started:6.1f}s {name}: {state}")
        self.seen_deploying |= app["status"] == "DEPLOYING"
        if app["status"] != "RUNNING" or ingress["status"] != "HEALTHY":
            return -1
        if set(ingress["replica_states"]) != {"RUNNING"}:
            return -1
        return int(ingress["replica_states"]["RUNNING"])

    def explain(self) -> str:
        ray_status = subprocess.run(
            [str(Path(sys.executable).parent / "ray"), "status", "--address", self.cluster.address],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return "\n".join(
            (
                "deployment states as they changed:",
                *self.changes,
                "serve status:",
                self.last,
                "ray status:",
                ray_status.stdout + ray_status.stderr,
            )
        )


def test_serve_deploy_scales_the_api_up_and_down_under_load(
    cluster: LocalCluster, server: LiveServer, tmp_path: Path
) -> None:
    with DeclarationLoad(server.base, clients=4) as load:
        wait_for(lambda: len(load.acknowledged) >= 20, 60, "declarations before deploying")
        # The first deploy takes over the application `dichte run` put up: to Serve its
        # code is new, so every replica of every deployment is replaced, as in an upgrade
        # (minutes on a busy 2-core machine: each replica's worker starts anew). The
        # same code deployed again with another replica count only adds or drains one.
        for step, replicas in enumerate((2, 3, 2)):
            _serve(cluster, "deploy", str(_serve_config_for(server, replicas, tmp_path)))
            running = IngressReplicas(cluster)

            def done(
                running: IngressReplicas = running, n: int = replicas, first: bool = step == 0
            ) -> bool:
                # The replacement keeps the count: it is done once the application,
                # seen deploying, runs again.
                return running() == n and (running.seen_deploying or not first)

            try:
                # Each `serve status` is a Python process busy for a second or two:
                # asked without pause, it would take a core from the deploy it watches.
                wait_for(done, 600, f"{replicas} API replicas", every_s=3)
            except AssertionError as timed_out:
                raise AssertionError(f"{timed_out}\n{running.explain()}") from None
            print(f"{replicas} API replicas after:", *running.changes, sep="\n")
            before = len(load.acknowledged)
            wait_for(lambda b=before: len(load.acknowledged) >= b + 20, 60, "declarations after")
    print(f"replaced, then scaled 2 -> 3 -> 2 API replicas: {load.nothing_lost_or_hung(server)}")
    # Keep-alive clients went on through all three: no connection cut or closed before
    # an answer, no error.
    assert load.broken == [] and load.resent == []


def test_losing_a_worker_node_under_load_loses_nothing_acknowledged(
    cluster: LocalCluster, server: LiveServer
) -> None:
    (worker,) = cluster.workers()
    lost_node = worker.node_id
    with DeclarationLoad(server.base, clients=2) as load:
        wait_for(lambda: len(load.acknowledged) >= 20, 60, "declarations before the loss")
        before = placement(cluster.address)
        assert before.get(lost_node), "nothing ran on the worker node"
        cluster.remove_worker(worker)
        lost_at, acknowledged = time.monotonic(), len(load.acknowledged)
        wait_for(lambda: len(load.acknowledged) >= acknowledged + 50, 180, "writes after the loss")
        resumed_s = time.monotonic() - lost_at

    # Ray restarts the system's own actors on the surviving node; Serve replaces replicas.
    wanted = Counter(
        {
            "DeclarationStoreActor": 1,
            "IOCForwarder": 1,
            "CameraSupervisor": 1,
            "CameraStream": 2,  # both lanes screen again
            "ServeReplica:dichte:DeclarationIngress": 1,
            "ServeReplica:dichte:FaceDetector": 1,
        }
    )

    def moved() -> Counter[str] | None:
        after = placement(cluster.address)  # lists the lost node until Ray marks it dead
        survivor = sum((c for node, c in after.items() if node != lost_node), Counter[str]())
        return survivor if lost_node not in after and not wanted - survivor else None

    try:
        wait_for(moved, 180, "the lost node's actors on the survivor", every_s=1)
    except AssertionError as timed_out:
        left = placement(cluster.address)
        raise AssertionError(
            f"not restarted: {wanted - sum(left.values(), Counter())}"
        ) from timed_out
    moved_s = time.monotonic() - lost_at
    # A request in flight on the lost node may see its connection drop (the client
    # retries it); none is answered with an error other than 503, none hangs.
    summary = load.nothing_lost_or_hung(server)
    print(f"worker node lost: writes resumed in {resumed_s:.1f} s, ", end="")
    print(f"actors moved in {moved_s:.1f} s; {summary}")
