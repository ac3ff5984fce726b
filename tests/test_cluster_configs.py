"""The files ops deploy with are valid for the tools that read them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.serve.schema import ServeDeploySchema

from dichte.domain.settings import Settings, actor_resources
from dichte.serving.ingress import IngressArgs
from dichte.serving.runtime import FAST_INGRESS_ENV
from dichte.serving.serve_config import (
    application,
    application_args,
    deployment_options,
    gpu_config_text,
    with_actor_shares,
    with_overlay,
)
from tests.live import missing

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", ["ray_config.yaml", "cluster/ray_config.aws.yaml"])
def test_ray_cluster_configs_pass_rays_own_schema(path: str) -> None:
    config = yaml.safe_load((ROOT / path).read_text())
    validate_config(prepare_config(config))  # what `ray up` does: raises on a bad field
    # Every node exports metrics where cluster/prometheus/prometheus.yml expects them.
    starts = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert starts.count("--metrics-export-port=8080") == 2
    # What the launcher mounts exists here.
    for source in config["file_mounts"].values():
        assert (ROOT / source).exists(), source


def _sourced(env_file: Path) -> dict[str, str]:
    """What a node's shell has after the start commands' `set -a; . file; set +a`."""
    shown = subprocess.run(
        ["bash", "-c", f"set -a; . {env_file}; set +a; env -0"],
        env={},
        capture_output=True,
        check=True,
    ).stdout.decode()
    return dict(line.split("=", 1) for line in shown.split("\0") if line.startswith("RAY_"))


@pytest.mark.parametrize("path", ["ray_config.yaml", "cluster/ray_config.aws.yaml"])
def test_every_node_starts_with_the_ingress_environment_dichte_run_uses(path: str) -> None:
    assert _sourced(ROOT / "cluster" / "ray.env") == FAST_INGRESS_ENV
    config = yaml.safe_load((ROOT / path).read_text())
    for start in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        ray_start = next(c for c in start if "ray start" in c)
        assert ray_start.index(". ~/dichte/cluster/ray.env") < ray_start.index("ray start")
    manifest = yaml.safe_load((ROOT / "cluster" / "kuberay" / "rayservice.yaml").read_text())
    cluster = manifest["spec"]["rayClusterConfig"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        for container in group["template"]["spec"]["containers"]:
            assert {e["name"]: e["value"] for e in container["env"]} == FAST_INGRESS_ENV


def test_the_on_premise_config_names_the_provinces_machines() -> None:
    config = yaml.safe_load((ROOT / "ray_config.yaml").read_text())
    assert config["provider"]["type"] == "local"
    assert config["provider"]["head_ip"] and config["provider"]["worker_ips"]
    # GPU machines get ONNX Runtime's CUDA build.
    assert any("[gpu]" in c and "nvidia-smi" in c for c in config["setup_commands"])


def test_the_cloud_config_has_a_cpu_head_and_gpu_workers() -> None:
    config = yaml.safe_load((ROOT / "cluster" / "ray_config.aws.yaml").read_text())
    types = config["available_node_types"]
    assert "GPU" not in types[config["head_node_type"]]["resources"]
    assert types["gpu_worker"]["resources"]["GPU"] >= 1
    assert types["gpu_worker"]["max_workers"] >= types["gpu_worker"]["min_workers"]


@pytest.mark.parametrize("name", ["serve_config.yaml", "serve_config.gpu.yaml"])
def test_serve_config_is_a_valid_serve_deploy_config(name: str) -> None:
    path = ROOT / "cluster" / name
    config = ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    (app,) = config.applications
    assert app.import_path == "dichte.serving.ingress:build_app"
    options = deployment_options(path)
    # The default (5) collapses throughput under load: the config must raise it.
    assert options["DeclarationIngress"]["max_ongoing_requests"] > 5
    # Inference batches, and refuses instead of queueing without end.
    for deployment in ("FaceDetector", "FaceEmbedder", "IrisEncoder"):
        assert options[deployment]["user_config"]["max_batch_size"] > 1
        assert options[deployment]["max_queued_requests"] > 0
        resources = options[deployment]["ray_actor_options"]
        assert ("num_gpus" in resources) == name.endswith("gpu.yaml")
    # dichte's own actors take their shares from the same file, in names the builder knows.
    args = IngressArgs.model_validate(application_args(path))
    assert args.actors["DeclarationStoreActor"].num_cpus > 0


def test_the_gpu_serve_config_is_the_cpu_one_with_the_overlay() -> None:
    # Edit serve_config.yaml or the overlay, then `dichte serve-config --gpu`.
    on_disk = (ROOT / "cluster" / "serve_config.gpu.yaml").read_text()
    assert on_disk == gpu_config_text(ROOT / "cluster")


def test_an_overlay_replaces_only_what_it_names() -> None:
    base = yaml.safe_load((ROOT / "cluster" / "serve_config.yaml").read_text())
    overlay = {"deployments": {"FaceDetector": {"ray_actor_options": {"num_gpus": 0.5}}}}
    merged = deployment_options_of(with_overlay(base, overlay))
    original = deployment_options_of(base)
    assert merged["FaceDetector"]["ray_actor_options"] == {
        **original["FaceDetector"]["ray_actor_options"],
        "num_gpus": 0.5,
    }
    assert merged["FaceEmbedder"] == original["FaceEmbedder"]
    with pytest.raises(ValueError, match="FaceDetektor"):
        with_overlay(base, {"deployments": {"FaceDetektor": {}}})


def test_an_unknown_actor_class_in_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="DeclarationStore"):
        IngressArgs.model_validate({"actors": {"DeclarationStore": {"num_cpus": 1}}})
    with pytest.raises(ValueError):
        IngressArgs.model_validate({"actors": {"GalleryShard": {"num_cpus": -1}}})


def deployment_options_of(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in application(config)["deployments"]}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        missing("promtool is not installed; `make test` installs it as root (Debian: prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def test_prometheus_config_and_rules_pass_promtool() -> None:
    monitoring = ROOT / "cluster" / "prometheus"
    rules = _promtool("check", "rules", str(monitoring / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = _promtool("check", "config", str(monitoring / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr  # also loads alerts.yml
    groups = yaml.safe_load((monitoring / "alerts.yml").read_text())["groups"]
    named = {rule["alert"] for group in groups for rule in group["rules"]}
    # What an operator of checkpoints and the IOC feed must hear about.
    assert {
        "RedisUnreachable",
        "IOCBacklogGrowing",
        "CameraStreamDown",
        "InferenceSlow",
        "FeverRateSpike",
        "BlackbodyDrift",
    } <= named


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    # The check above can fail: a rule with a bad expression is refused.
    broken = tmp_path / "alerts.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(\n")
    assert _promtool("check", "rules", str(broken)).returncode != 0


def test_the_kuberay_service_runs_the_gpu_serve_config_with_gcs_fault_tolerance() -> None:
    manifest = yaml.safe_load((ROOT / "cluster" / "kuberay" / "rayservice.yaml").read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayService")
    serve_config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(serve_config)
    gpu = yaml.safe_load((ROOT / "cluster" / "serve_config.gpu.yaml").read_text())
    assert serve_config["applications"] == gpu["applications"], (
        "cluster/kuberay/rayservice.yaml's serveConfigV2 differs from serve_config.gpu.yaml"
    )
    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__  # the Ray the project installs
    assert cluster["gcsFaultToleranceOptions"]["redisAddress"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    assert all(g["rayStartParams"]["metrics-export-port"] == "8080" for g in groups)
    limits = [
        c["resources"]["limits"]
        for g in cluster["workerGroupSpecs"]
        for c in g["template"]["spec"]["containers"]
    ]
    assert any("nvidia.com/gpu" in lim for lim in limits)


def test_actor_shares_come_from_the_serve_config_under_the_settings_own() -> None:
    settings = Settings(
        serve_config=ROOT / "cluster" / "serve_config.yaml",
        actors={"GalleryShard": {"num_cpus": 0.5}},
    )
    workers = with_actor_shares(settings).for_workers()
    given = application_args(ROOT / "cluster" / "serve_config.yaml")["actors"]
    # What the file gives, as Ray options; what the settings give wins; others: nothing.
    assert actor_resources(workers, "DeclarationStoreActor") == {
        "num_cpus": given["DeclarationStoreActor"]["num_cpus"],
        "num_gpus": 0,
    }
    assert actor_resources(workers, "GalleryShard") == {"num_cpus": 0.5, "num_gpus": 0}
    assert actor_resources(workers, "IOCForwarder") == {}


# Grafana's own published types for a dashboard (the JSON a Grafana imports), checked
# with TypeScript: no Grafana server can be run here, its schema can.
GRAFANA_SCHEMA = ("@grafana/schema@13.2.3", "typescript@7.0.2")


def _grafana_schema_checker() -> Path:
    """The npm packages, installed once under .venv (a few seconds, 33 MB)."""
    folder = ROOT / ".venv" / "grafana-schema"
    if (folder / "node_modules" / ".bin" / "tsc").exists():
        return folder
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is not installed: Grafana's dashboard schema cannot be checked")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", *GRAFANA_SCHEMA],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


def _dashboard_type_errors(dashboard: str, folder: Path) -> str:
    # The JSON written inline (not imported), so its strings keep their literal types.
    check = folder / "dashboard.ts"
    check.write_text(
        "import type { Dashboard } from '@grafana/schema';\n"
        f"export const dashboard: Dashboard = {dashboard};\n"
    )
    (folder / "tsconfig.json").write_text(
        json.dumps(
            {
                "compilerOptions": {
                    "strict": True,
                    "module": "nodenext",
                    "moduleResolution": "nodenext",
                    "noEmit": True,
                    "skipLibCheck": True,
                },
                "files": ["dashboard.ts"],
            }
        )
    )
    done = subprocess.run(
        [str(folder / "node_modules" / ".bin" / "tsc"), "-p", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr if done.returncode else ""


def test_the_grafana_dashboard_is_what_grafanas_schema_describes() -> None:
    folder = _grafana_schema_checker()
    shipped = (ROOT / "cluster" / "grafana" / "dichte.json").read_text()
    assert _dashboard_type_errors(shipped, folder) == ""
    # The check can fail: a panel whose gridPos is a string is refused.
    broken = json.loads(shipped)
    broken["panels"][0]["gridPos"] = "top left"
    assert "GridPos" in _dashboard_type_errors(json.dumps(broken), folder)
