"""Face models: detect (YuNet) and embed (SFace) speed, ours on ONNX Runtime against
OpenCV's own (cv2.FaceDetectorYN, cv2.dnn) on the same inputs in the same run; the
GFLOP/s achieved against the core's peak; the prep steps one by one; and 1:N search
latency against the memory-bandwidth bound.

    .venv/bin/python bench/faces.py          # writes bench/results/faces.{json,md}

Targets: embed ≤ 11 ms per face on 1 thread, detect at 320×240 ≥ 50 frames/s per core,
1:N over 1M embeddings < 20 ms. The machine is shared: its load average is recorded.
"""

from __future__ import annotations

import os

# numpy's BLAS on one thread: its sgemm is the measured fp32 peak of one core.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import measure  # noqa: E402

from dichte.models.faces import onnx_prep as prep  # noqa: E402
from dichte.models.faces.pipeline import (  # noqa: E402
    DetectorParams,
    EmbedderParams,
    FaceDetector,
    FaceEmbedder,
    align,
)
from dichte.models.faces.runtime import make_session  # noqa: E402
from dichte.models.faces.search import EmbeddingMatrix  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FACES = ROOT.parent / "shared" / "data" / "faces"
CACHE = Path(tempfile.mkdtemp(prefix="faces-bench-"))


# ------------------------------------------------------------------ the core's peak


def cpu() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text()
    flags = set(
        next(li for li in info.splitlines() if li.startswith("flags")).split(":")[1].split()
    )
    mhz = float(next(li for li in info.splitlines() if li.startswith("cpu MHz")).split(":")[1])
    model = next(li for li in info.splitlines() if li.startswith("model name")).split(":")[1]
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma = 2 if "fma" in flags else 1
    # Two FMA pipes per core (Zen 2/3/4, Skylake-SP and later): 2 pipes x lanes x 2 FLOP
    nominal = 2 * lanes * fma * mhz / 1e3
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    best = min(measure(lambda: a @ a, 0.5, 5)["p50_ms"] for _ in range(3))
    return {
        "model": model.strip(),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "fma": "fma" in flags,
        "avx_vnni": "avx_vnni" in flags or "avx512_vnni" in flags,
        "mhz_reported": mhz,
        "peak_nominal_gflops": nominal,
        "peak_rule": f"2 FMA pipes x {lanes} fp32 lanes x 2 FLOP x {mhz:.0f} MHz",
        "sgemm_2048_gflops": 2 * 2048**3 / (best / 1e3) / 1e9,
        "load_average": os.getloadavg(),
    }


def copy_bandwidth() -> float:
    """GB/s by the STREAM-copy convention: 2 x bytes (read + write) / time."""
    src = np.ones(64_000_000, np.float32)  # 256 MB
    dst = np.empty_like(src)
    t = min(measure(lambda: np.copyto(dst, src), 0.5, 5)["p50_ms"] for _ in range(2))
    return 2 * src.nbytes / (t / 1e3) / 1e9


def macs(path: Path, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of Conv / Gemm / MatMul(NBits) at `shape`, from the graph's
    weight shapes and inferred output shapes; the 1x1 depthwise convs our PRelu
    rewrite adds are left out (they are not the model's work)."""
    m = onnx.load(str(path))
    for d, v in zip(m.graph.input[0].type.tensor_type.shape.dim, shape, strict=True):
        d.dim_value = v
    m = onnx.shape_inference.infer_shapes(m)
    dims = {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in [*m.graph.value_info, *m.graph.output, *m.graph.input]
    }
    inits = {i.name: list(i.dims) for i in m.graph.initializer}
    total = 0
    for n in m.graph.node:
        if "_prelu" in n.name:
            continue
        if n.op_type == "Conv":
            w, out = inits[n.input[1]], dims[n.output[0]]
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            a, w = dims[n.input[0]], inits[n.input[1]]
            total += a[0] * int(np.prod(w))
        elif n.op_type == "MatMulNBits":
            attrs = {x.name: x.i for x in n.attribute}
            total += int(np.prod(dims[n.input[0]][:-1])) * attrs["K"] * attrs["N"]
    return total


# ------------------------------------------------------------------ inputs


def frames() -> dict[str, np.ndarray]:
    small = cv2.imread(str(FACES / "face_recognition/examples/obama_small.jpg"))  # 320×240
    two = cv2.imread(str(FACES / "face_recognition/examples/two_people.jpg"))
    return {"320x240": small, "640x480": cv2.resize(two, (640, 480))}


def crops(detector: FaceDetector, n: int = 32) -> np.ndarray:
    out: list[np.ndarray] = []
    for p in sorted((FACES / "deepface").glob("img*.jpg")):
        image = cv2.imread(str(p))
        out += [align(image, f) for f in detector.run(image)[:1]]
        if len(out) == n:
            break
    return np.stack(out)


# ------------------------------------------------------------------ detect / embed


def detect_rows(images: dict[str, np.ndarray], macs_by_size: dict[str, int]) -> list[dict]:
    yunet = str(prep.bundled_path(prep.load_manifest("yunet")))
    rows = []
    for threads in (1, 2):
        ours = FaceDetector(DetectorParams(threads=threads, cache_dir=CACHE))
        cv2.setNumThreads(threads)
        for size, image in images.items():
            h, w = image.shape[:2]
            cv = cv2.FaceDetectorYN.create(yunet, "", (w, h), 0.6, 0.3, 50)
            for batch in (1, 8, 32):
                frames_ = [image] * batch
                runs = {
                    "ours (ORT)": lambda f=frames_, o=ours: o.run_batch(f),
                    "cv2.FaceDetectorYN": lambda f=frames_, d=cv: [d.detect(x) for x in f],
                }
                for impl, fn in runs.items():
                    t = measure(fn)
                    rows.append(
                        {
                            "size": size,
                            "impl": impl,
                            "threads": threads,
                            "batch": batch,
                            **t,
                            "frames_per_s": batch / t["mean_ms"] * 1e3,
                            "gflops": 2 * macs_by_size[size] * batch / t["p50_ms"] / 1e6,
                        }
                    )
    return rows


def embed_rows(batch_crops: np.ndarray, sface_macs: int) -> list[dict]:
    sface = str(prep.bundled_path(prep.load_manifest("sface")))
    rows = []
    for threads in (1, 2):
        ours = FaceEmbedder(EmbedderParams(threads=threads, cache_dir=CACHE))
        cv2.setNumThreads(threads)
        net = cv2.dnn.readNetFromONNX(sface)

        def opencv(c: np.ndarray, net: Any = net) -> list[np.ndarray]:
            out = []
            for crop in c:  # the ONNX batch is fixed at 1: one forward per face
                net.setInput(cv2.dnn.blobFromImage(crop), "data")
                out.append(net.forward())
            return out

        for batch in (1, 8, 32):
            c = batch_crops[:batch]
            for impl, fn in {
                "ours (ORT)": lambda c=c, o=ours: o.run(c),
                "cv2.dnn": lambda c=c: opencv(c),
            }.items():
                t = measure(fn, 1.5)
                rows.append(
                    {
                        "impl": impl,
                        "threads": threads,
                        "batch": batch,
                        **t,
                        "ms_per_face": t["p50_ms"] / batch,
                        "faces_per_s": batch / t["mean_ms"] * 1e3,
                        "gflops": 2 * sface_macs * batch / t["p50_ms"] / 1e6,
                    }
                )
    return rows


def sface_variants(batch_crops: np.ndarray) -> list[dict]:
    """The prep steps one at a time, 1 thread, batch 1: why the prepared graph is the
    way it is. Cosine against ORT's run of the plain fixed graph (the original math)."""
    src = prep.bundled_path(prep.load_manifest("sface"))
    blob = batch_crops[:8].transpose(0, 3, 1, 2).astype(np.float32)

    def variant(fold: bool, prelu: bool, fc8: bool) -> bytes:
        m = onnx.load(str(src))
        g = m.graph
        prep._strip_per_tensor_block_size(g)
        prep._drop_unused_inputs(g)
        if fc8:
            prep._gemm_to_matmul_nbits(m)
        if fold:
            prep._fold_constant_dequantize(g)
        if prelu:
            prep._prelu_to_nchwc_ops(g)
        prep._dynamic_dims(g, False)
        prep._drop_unused_initializers(g)
        del g.value_info[:]
        return bytes(m.SerializeToString())

    plain = variant(False, False, False)
    ref_session = make_session(plain, 1, ["CPUExecutionProvider"], disable_quant_qdq=True)
    ref = np.concatenate([ref_session.run(None, {"data": b[None]})[0] for b in blob])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    rows = []
    for name, model, qdq_off in [
        ("fixed only (block_size, inputs, batch)", plain, False),
        ("fixed + session.disable_quant_qdq=1", plain, True),
        ("weights folded to fp32", variant(True, False, False), False),
        ("+ PRelu as NCHWc ops", variant(True, True, False), False),
        ("+ classifier as MatMulNBits int8 (ours)", variant(True, True, True), False),
    ]:
        s = make_session(model, 1, ["CPUExecutionProvider"], disable_quant_qdq=qdq_off)
        out = np.concatenate([s.run(None, {"data": b[None]})[0] for b in blob])
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        t = measure(lambda s=s: s.run(None, {"data": blob[:1]}), 1.5)
        rows.append({"variant": name, **t, "min_cosine": float((out * ref).sum(1).min())})
    return rows


# ------------------------------------------------------------------ 1:N search


def search_rows(bandwidth_gbs: float) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for n in (10_000, 100_000, 1_000_000):
        e = rng.standard_normal((n, 128), dtype=np.float32)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        q = e[n // 2] + 0.05 * rng.standard_normal(128).astype(np.float32)
        q /= np.linalg.norm(q)
        ids = np.arange(n).tolist()
        for dtype, row_bytes in (("int8", 128 + 4), ("float16", 256)):
            m = EmbeddingMatrix(dtype=dtype)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            m.add(ids, e)
            m.search(q, 10)  # builds the int8 snapshot
            build = time.perf_counter() - t0
            t = measure(lambda m=m, q=q: m.search(q, 10), 1.0, 10)
            assert m.search(q, 1)[0][0] == n // 2
            rows.append(_search_row(n, f"ours {dtype}", row_bytes, t, bandwidth_gbs, build))
            del m
        naive = _naive(e, q)
        for name, (fn, row_bytes) in naive.items():
            if n > 100_000 and "float32" not in name:
                continue  # seconds per query at 1M: shown at 10k/100k
            t = measure(fn, 0.8, 5)
            rows.append(_search_row(n, name, row_bytes, t, bandwidth_gbs, None))
    return rows


def _naive(e: np.ndarray, q: np.ndarray) -> dict[str, tuple[Callable[[], object], int]]:
    """The textbook way in numpy: one matrix-vector product + argpartition."""
    e16, q16 = e.astype(np.float16), q.astype(np.float16)
    scale = np.abs(e).max(axis=1) / 127
    e8 = np.rint(e / scale[:, None]).astype(np.int8)
    q8 = np.rint(q / (np.abs(q).max() / 127)).astype(np.int8)
    return {
        "numpy float32 (BLAS sgemv)": (lambda: np.argpartition(e @ q, -10)[-10:], 512),
        "numpy float16": (lambda: np.argpartition(e16 @ q16, -10)[-10:], 256),
        "numpy int8 (int32 accumulate)": (
            lambda: np.argpartition(np.matmul(e8, q8, dtype=np.int32) * scale, -10)[-10:],
            132,
        ),
    }


def _search_row(n: int, impl: str, row_bytes: int, t: dict, bw: float, build: float | None) -> dict:
    scanned = n * row_bytes
    bound_ms = scanned / (bw * 1e9) * 1e3
    return {
        "gallery": n,
        "impl": impl,
        **t,
        "bytes_scanned": scanned,
        "bound_ms": bound_ms,
        "of_bound": bound_ms / t["p50_ms"],
        "build_s": build,
    }


# ------------------------------------------------------------------ report


def markdown(r: dict[str, Any]) -> str:
    c = r["cpu"]
    out = [
        f"Face models on `{c['model']}` ({platform.machine()}, 2 CPUs shared with other "
        f"work, load average {c['load_average'][0]:.2f} at start), {r['when']}",
        "",
        f"Peak of one core: **{c['peak_nominal_gflops']:.0f} GFLOP/s** nominal fp32 "
        f"({c['peak_rule']}; AVX2+FMA, no AVX-512, no VNNI; the reported clock is the "
        f"VM's base, the core boosts above it); numpy/OpenBLAS sgemm 2048² on one "
        f"thread reaches **{c['sgemm_2048_gflops']:.0f} GFLOP/s**: the measured peak. "
        f"Model work: SFace {r['macs']['sface'] / 1e6:.0f} M MAC per face, YuNet "
        f"{r['macs']['320x240'] / 1e6:.0f} M MAC at 320×240 (padded to 320×256), "
        f"{r['macs']['640x480'] / 1e6:.0f} M at 640×480.",
        "",
        "**Embed (SFace, 112×112 aligned crops)**, p50 / p99 per call:",
        "",
        "| impl | threads | batch | p50 ms | p99 ms | ms per face | faces/s | GFLOP/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in r["embed"]:
        out.append(
            f"| {e['impl']} | {e['threads']} | {e['batch']} | {e['p50_ms']:.2f} | "
            f"{e['p99_ms']:.2f} | {e['ms_per_face']:.2f} | {e['faces_per_s']:.0f} | "
            f"{e['gflops']:.0f} |"
        )
    out += [
        "",
        "**Detect (YuNet)**, one face per frame, p50 / p99 per call:",
        "",
        "| frame | impl | threads | batch | p50 ms | p99 ms | frames/s | GFLOP/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in r["detect"]:
        out.append(
            f"| {d['size']} | {d['impl']} | {d['threads']} | {d['batch']} | {d['p50_ms']:.2f} "
            f"| {d['p99_ms']:.2f} | {d['frames_per_s']:.0f} | {d['gflops']:.0f} |"
        )
    out += [
        "",
        "**SFace prep steps** (1 thread, batch 1; cosine against the plain fixed graph):",
        "",
        "| graph | p50 ms | p99 ms | min cosine |",
        "| --- | ---: | ---: | ---: |",
    ]
    for v in r["sface_variants"]:
        out.append(
            f"| {v['variant']} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['min_cosine']:.6f} |"
        )
    out += [
        "",
        f"**1:N search**, one 128-d query, top-10; bound = bytes scanned ÷ copy bandwidth "
        f"({r['copy_bandwidth_gbs']:.1f} GB/s, np.copyto of 256 MB, read + write counted):",
        "",
        "| gallery | impl | p50 ms | p99 ms | MB scanned | bound ms | of bound | build s |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in r["search"]:
        build = f"{s['build_s']:.2f}" if s["build_s"] is not None else ""
        out.append(
            f"| {s['gallery']:,} | {s['impl']} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
            f"{s['bytes_scanned'] / 1e6:.1f} | {s['bound_ms']:.2f} | {s['of_bound']:.0%} | "
            f"{build} |"
        )
    t = r["targets"]
    out += [
        "",
        "Targets: "
        + "; ".join(
            f"{k}: {v['value']:.2f} {v['unit']} ({'met' if v['met'] else 'NOT met'})"
            for k, v in t.items()
        ),
        "",
    ]
    return "\n".join(out)


def main() -> None:
    started = time.perf_counter()
    info = cpu()
    bw = copy_bandwidth()
    detector = FaceDetector(DetectorParams(cache_dir=CACHE))
    FaceEmbedder(EmbedderParams(cache_dir=CACHE))  # prepares the SFace file in CACHE
    batch_crops = crops(detector)
    yunet_path = next(CACHE.glob("yunet-*.onnx"))
    sface_path = next(CACHE.glob("sface-*.onnx"))
    counted = {
        "sface": macs(sface_path, (1, 3, 112, 112)),
        "320x240": macs(yunet_path, (1, 3, 256, 320)),
        "640x480": macs(yunet_path, (1, 3, 480, 640)),
    }
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": info,
        "copy_bandwidth_gbs": bw,
        "macs": counted,
        "embed": embed_rows(batch_crops, counted["sface"]),
        "detect": detect_rows(frames(), counted),
        "sface_variants": sface_variants(batch_crops),
        "search": search_rows(bw),
    }
    embed1 = min(
        e["ms_per_face"]
        for e in result["embed"]
        if e["impl"].startswith("ours") and e["threads"] == 1
    )
    det320 = max(
        d["frames_per_s"]
        for d in result["detect"]
        if d["impl"].startswith("ours") and d["threads"] == 1 and d["size"] == "320x240"
    )
    search1m = min(
        s["p50_ms"] for s in result["search"] if s["gallery"] == 1_000_000 and "ours" in s["impl"]
    )
    result["targets"] = {
        "embed ms/face, 1 thread (≤ 11)": {"value": embed1, "unit": "ms", "met": embed1 <= 11},
        "detect 320×240 frames/s per core (≥ 50)": {
            "value": det320,
            "unit": "fps",
            "met": det320 >= 50,
        },
        "1:N over 1M (< 20 ms)": {"value": search1m, "unit": "ms", "met": search1m < 20},
    }
    result["seconds"] = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "faces.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "faces.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
