"""The layers keep to what README's layout table says each may import, so a rule stays
in one place and HTTP never reaches Redis or a model but through a service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("domain", "models", "store", "services", "actors", "api", "serving", "cli")
# The project packages each layer may import (besides itself), as README states.
MAY_IMPORT = {
    "domain": set(),
    "models": set(),
    "store": {"domain"},
    "services": {"domain", "store", "models"},
    "actors": {"services", "store", "domain", "models"},  # + serving's inference client
    "api": {"services", "domain"},
    "serving": set(PROJECT),
    "cli": set(PROJECT),
}
# Camera streams call the inference deployments through the client Serve's side owns.
ALSO_MAY_IMPORT = {"actors": {"dichte.serving.inference_pool"}}
# Libraries that belong to other layers: Ray in actors/serving, Redis in store, web in
# api/serving, models' inference in models.
FORBIDDEN_LIBRARIES = {
    "domain": {"ray", "redis", "fastapi", "starlette", "cv2", "onnxruntime"},
    "models": {"ray", "redis", "fastapi", "starlette"},
    "store": {"ray", "fastapi", "starlette", "cv2", "onnxruntime"},
    "services": {"ray", "redis", "fastapi", "starlette"},
    "api": {"ray", "redis", "cv2", "onnxruntime"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", PROJECT)
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    wrong = []
    for path in modules(layer):
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "dichte" and len(parts) > 1:
                used = parts[1]
                if name in ALSO_MAY_IMPORT.get(layer, set()):
                    continue
                if used != layer and used not in MAY_IMPORT[layer]:
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            elif parts[0] in FORBIDDEN_LIBRARIES.get(layer, set()):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            elif parts[0] in PROJECT:
                wrong.append(f"{path.relative_to(ROOT)} imports {name} outside the namespace")
    assert modules(layer) and wrong == []


def test_no_router_imports_another_router() -> None:
    routes = ROOT / "api" / "routes"
    wrong = [
        f"{path.name} imports {name}"
        for path in routes.glob("*.py")
        for name in imports_of(path)
        if name.startswith("dichte.api.routes")
    ]
    assert wrong == []


def test_actors_holds_ray_actors_only() -> None:
    """Each module of actors/ defines a Ray actor (what the folder's name promises)."""
    plain = [
        path.name
        for path in modules("actors")
        if path.name != "__init__.py" and "@ray.remote" not in path.read_text()
    ]
    assert plain == []


def test_the_api_process_loads_no_model_library() -> None:
    """An API replica hands photos and thermal files to the inference deployments and
    only reads their answers: it never loads ONNX Runtime, OpenCV, zxing-cpp or numba."""
    import subprocess
    import sys

    probe = (
        "import sys, dichte.api.app, dichte.serving.composition, dichte.serving.ingress;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'onnxruntime', 'onnx', 'cv2', 'zxingcpp', 'numba'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
