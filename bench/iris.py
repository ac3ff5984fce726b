"""Iris models: encode time per image (segmentation + quality + rubber sheet, then the
Gabor bank on ONNX Runtime at batch 1 / 8 / 32 on 1 and 2 threads) on the 20 CASIA
images; 1:N identification with rotation search (±8 code columns of 2.8°, 17 rotations)
over 10 000 and 100 000 codes of synthetic identities, the compiled scan against the
numpy reference and against this machine's popcount bound, with its top-1 accuracy,
false-positive identification rate and genuine / impostor distance distributions; and
the matching accuracy on CASIA (all same-eye pairs, left against right).

    cd bench && ../.venv/bin/python iris.py     # writes bench/results/iris.{json,md}

The gallery codes are the pipeline's own (Gabor bank + its masking rule) computed from
the procedural textures of `dichte.models.iris.synthetic` with noise, a rotation and an
occlusion mask drawn here, without rendering 100 000 eyes (a few rendered eyes check
that the shortcut's codes are the pipeline's). Building them is most of the run: about
4-5 minutes in all on 2 shared cores.

Target (issue): 1:N over 100 000 codes < 100 ms per probe on 2 cores. For the record:
no CASIA pair on the wrong side of MATCH_THRESHOLD, top-1 ≈ 100 % for enrolled probes,
FPIR 0 for probes not enrolled. The machine is shared: its load average is recorded.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import Executor, ProcessPoolExecutor  # noqa: E402
from dataclasses import fields  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from itertools import combinations  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import measure, stats_ms  # noqa: E402

from dichte.models.iris import code as iris_code  # noqa: E402
from dichte.models.iris.code import (  # noqa: E402
    DEFAULT_SHIFTS,
    MATCH_THRESHOLD,
    WORDS,
    IrisCode,
    distance,
    normalised_hd,
)
from dichte.models.iris.encoder import COLS, ROWS, GaborParams  # noqa: E402
from dichte.models.iris.matching import CodeMatrix, _popcount, scan, scan_numpy  # noqa: E402
from dichte.models.iris.pipeline import (  # noqa: E402
    IrisParams,
    IrisPipeline,
    IrisQuality,
    PreparedIris,
    standardised,
)
from dichte.models.iris.synthetic import iris_texture, render_eye  # noqa: E402

# The 1:N threshold for a gallery size, where the code module has one (being added).
identification_threshold: Callable[[int], float] | None = getattr(
    iris_code, "identification_threshold", None
)

RESULTS = ROOT / "bench" / "results"
CASIA = ROOT.parent / "shared" / "data" / "iris" / "opencvblueprints_casia_interval"
CORES = os.cpu_count() or 1
NUMBA_THREADS = numba.config.NUMBA_NUM_THREADS
SHIFTS = DEFAULT_SHIFTS
ROTATIONS = 2 * SHIFTS + 1
COLS_PER_SHIFT = COLS // 128  # polar columns per code column (ANGLES = 128)
GALLERY = (10_000, 100_000)
ENROLLED_PROBES = 50
STRANGER_PROBES = 50
NOISE = 0.5  # capture noise (band-limited), in standard deviations of the texture
# iris_texture costs ~6 ms at 64 × 512 on an idle core (10 CPU-minutes for 100 000
# identities), ~1.5 ms at 16 × 256; resized, the latter's code differs from the
# full-density one in ~5 % of bits (measured in the run: `texture_fidelity`), under
# the capture noise's share. Fewer columns (128) lose the texture the bank sees (15 %).
TEXTURE_SAMPLING = (16, 256)
STRANGER_BASE = 10_000_000  # identities of the probes that are not enrolled


def cpu() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text()
    lines = info.splitlines()
    flags = set(next(li for li in lines if li.startswith("flags")).split(":")[1].split())
    model = next(li for li in lines if li.startswith("model name")).split(":")[1]
    mhz = float(next(li for li in lines if li.startswith("cpu MHz")).split(":")[1])
    return {
        "model": model.strip(),
        "machine": platform.machine(),
        "cores": CORES,
        "numba_threads": NUMBA_THREADS,
        "mhz_reported": mhz,
        "popcnt": "popcnt" in flags,
        "avx2": "avx2" in flags,
        "avx512_vpopcntdq": "avx512_vpopcntdq" in flags,
        "load_average": os.getloadavg(),
        "numpy": np.__version__,
        "numba": numba.__version__,
    }


# ------------------------------------------------------------------ encode (CASIA)


def casia_images() -> dict[str, np.ndarray]:
    return {p.stem: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(CASIA.glob("*.jpg"))}


def encode_section(images: dict[str, np.ndarray]) -> dict[str, Any]:
    cv2.setNumThreads(1)
    pipelines = {t: IrisPipeline(IrisParams(gabor=GaborParams(threads=t))) for t in (1, 2)}
    one = pipelines[1]
    prepared = [one.prepare(im) for im in images.values()]
    times: list[float] = []
    for _ in range(5):  # every image 5 times, one call each: the per-image spread
        for im in images.values():
            t = time.perf_counter()
            one.prepare(im)
            times.append(time.perf_counter() - t)
    prepare = stats_ms(times)
    rows = []
    for threads, pipe in pipelines.items():
        for batch in (1, 8, 32):
            items = [prepared[i % len(prepared)] for i in range(batch)]
            t = measure(lambda p=pipe, x=items: p.encode(x), 0.8)
            rows.append(
                {
                    "threads": threads,
                    "batch": batch,
                    **t,
                    "ms_per_image": t["p50_ms"] / batch,
                    "images_per_s": batch / t["mean_ms"] * 1e3,
                }
            )
    image = next(iter(images.values()))
    run1 = measure(lambda: one.run(image), 1.0)
    return {"prepare": prepare, "encode": rows, "run_1_thread": run1}


# ------------------------------------------------------------------ accuracy (CASIA)


def d_prime(genuine: np.ndarray, impostor: np.ndarray) -> float:
    return float(
        abs(impostor.mean() - genuine.mean()) / np.sqrt((genuine.var() + impostor.var()) / 2)
    )


def summary(hd: np.ndarray) -> dict[str, float]:
    return {
        "n": int(hd.size),
        "mean": float(hd.mean()),
        "std": float(hd.std()),
        "min": float(hd.min()),
        "max": float(hd.max()),
    }


def casia_section(images: dict[str, np.ndarray]) -> dict[str, Any]:
    pipe = IrisPipeline()
    encoded = {k: pipe.run(im, strict=False) for k, im in images.items()}
    codes = {k: e.code for k, e in encoded.items()}
    left = sorted(k for k in codes if k[5] == "L")
    right = sorted(k for k in codes if k[5] == "R")
    same = [*combinations(left, 2), *combinations(right, 2)]
    other = [(a, b) for a in left for b in right]
    genuine = np.array([distance(codes[a], codes[b])[0] for a, b in same])
    impostor = np.array([distance(codes[a], codes[b])[0] for a, b in other])
    bits = np.array([distance(codes[a], codes[b])[2] for a, b in same])
    words = [codes[k].words() for k in left + right]
    index = {k: i for i, k in enumerate(left + right)}
    dof = degrees_of_freedom(
        np.stack([w[0] for w in words]),
        np.stack([w[1] for w in words]),
        [(index[a], index[b]) for a, b in other],
    )
    return {
        "images": len(codes),
        "quality_ok": sum(e.quality.ok for e in encoded.values()),
        "code_usable_mean": float(np.mean([c.usable for c in codes.values()])),
        "genuine": summary(genuine),
        "impostor": summary(impostor),
        "genuine_bits_compared_median": float(np.median(bits)),
        "d_prime": d_prime(genuine, impostor),
        "degrees_of_freedom": dof,
        "false_non_matches": int((genuine > MATCH_THRESHOLD).sum()),
        # Same-eye pairs a 1:N search of each gallery size would still name (hd ≤ its
        # threshold): the cost of the lower threshold on real captures.
        "genuine_under_1n_threshold": {
            n: {"threshold": t, "fraction": float((genuine <= t).mean())}
            for n in GALLERY
            if identification_threshold and (t := identification_threshold(n))
        },
        "false_matches": int((impostor <= MATCH_THRESHOLD).sum()),
    }


# ------------------------------------------------------------------ synthetic codes


_RHO = ((np.arange(ROWS) + 0.5) / ROWS)[:, None]
_SIN = np.sin(np.linspace(0, 2 * np.pi, COLS, endpoint=False))[None, :]  # + down, - up


def occlusion(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, ROWS, COLS) bool validity: eyelids as straight lines across the eye (the upper
    at angles near 270°, columns near 3/4 of COLS, the lower near 90°, random heights in
    iris radii from the centre; outer rings hidden first), and 0–3 small blobs (lashes,
    reflections). Pupil radius 0.35–0.55 of the iris's."""
    pupil = rng.uniform(0.35, 0.55, (n, 1, 1))
    r = pupil + (1 - pupil) * _RHO[None]  # (n, ROWS, 1): radius in iris radii
    upper = rng.uniform(0.4, 1.05, (n, 1, 1))
    lower = rng.uniform(0.55, 1.15, (n, 1, 1))
    valid = (r * -_SIN[None] < upper) & (r * _SIN[None] < lower)
    for i in range(n):
        for _ in range(rng.integers(0, 4)):
            h, w = rng.integers(2, 7), rng.integers(6, 25)
            y, x = rng.integers(0, ROWS - h), rng.integers(0, COLS - w)
            valid[i, y : y + h, x : x + w] = False
    return valid


# The encoder reads only texture and validity; the rest of a PreparedIris is a stand-in.
_QUALITY = IrisQuality(**{f.name: 0.0 for f in fields(IrisQuality)} | {"ok": True, "reasons": ()})
_WORKER: dict[str, IrisPipeline] = {}


def texture(identity: int) -> np.ndarray:
    """The identity's texture at TEXTURE_SAMPLING, resized to ROWS × COLS."""
    rows, cols = TEXTURE_SAMPLING
    return cv2.resize(
        iris_texture(identity, rows, cols), (COLS, ROWS), interpolation=cv2.INTER_CUBIC
    )


def capture_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, ROWS, COLS): white noise drawn at half density and resized (correlated over ~2
    rows × 2 columns), at NOISE standard deviations: the part of a second capture's
    difference that a Gabor phase code sees (pixel noise alone averages out under it)."""
    half = rng.standard_normal((n, ROWS // 2, COLS // 2), dtype=np.float32)
    out = np.stack([cv2.resize(x, (COLS, ROWS), interpolation=cv2.INTER_CUBIC) for x in half])
    return out * (NOISE / out.std())


def _codes_chunk(
    job: tuple[np.ndarray, int, bool],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One chunk of `synthetic_codes`, in a worker process (its own 1-thread pipeline)."""
    identities, seed, rotate = job
    pipe = _WORKER.setdefault("pipe", IrisPipeline(IrisParams(gabor=GaborParams(threads=1))))
    rng = np.random.default_rng(seed)
    rolls = np.zeros(len(identities), np.int64)
    if rotate:
        span = SHIFTS * COLS_PER_SHIFT
        rolls = rng.integers(-span, span + 1, len(identities))
    valid = occlusion(rng, len(identities))
    noise = capture_noise(rng, len(identities))
    batch = []
    for k, identity in enumerate(identities):
        tex = texture(int(identity))
        tex = (tex - tex.mean()) / tex.std() + noise[k]
        tex = np.roll(tex, int(rolls[k]), axis=1)  # the eye turned; its lids are not
        batch.append(
            PreparedIris((0, 0, 0), (0, 0, 0), _QUALITY, standardised(tex, valid[k]), valid[k])
        )
    codes = np.empty((len(identities), WORDS), np.uint64)
    masks = np.empty((len(identities), WORDS), np.uint64)
    usable = 0.0
    for start in range(0, len(batch), 64):
        for k, code in enumerate(pipe.encode(batch[start : start + 64]), start):
            codes[k], masks[k] = code.words()
            usable += code.usable
    return codes, masks, rolls, usable


def synthetic_codes(
    pool: Executor, identities: np.ndarray, seed: int, rotate: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Packed (code, mask) words of one capture of each identity: its texture plus
    capture noise, rolled by a random number of columns within ±SHIFTS code columns when
    `rotate`, occluded, standardised like the pipeline, through `IrisPipeline.encode`
    (the Gabor bank and its masking rule). Returns (codes, masks, roll in columns, mean
    fraction of bits usable). Chunks seeded by their index: the same on any pool."""
    chunk = 2000
    jobs = [
        (identities[i : i + chunk], seed * 100_003 + i // chunk, rotate)
        for i in range(0, len(identities), chunk)
    ]
    parts = list(pool.map(_codes_chunk, jobs))
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        sum(p[3] for p in parts) / len(identities),
    )


def degrees_of_freedom(codes: np.ndarray, masks: np.ndarray, pairs: list[tuple[int, int]]) -> dict:
    """Daugman's measure of a code's independent bits: p(1-p)/σ² of the raw fractional
    distance between different eyes, at zero rotation (2 048 bits; Daugman's codes: 249)."""
    a, b = np.array([i for i, _ in pairs]), np.array([j for _, j in pairs])
    both = masks[a] & masks[b]
    d = np.bitwise_count((codes[a] ^ codes[b]) & both).sum(axis=1)
    n = np.bitwise_count(both).sum(axis=1)
    raw = d / n
    p = raw.mean()
    hd = normalised_hd(d, n)  # what identification_threshold's impostor model describes
    return {
        "pairs": len(pairs),
        "mean": float(p),
        "std": float(raw.std()),
        "dof": float(p * (1 - p) / raw.var()),
        "bits_compared_median": float(np.median(n)),
        "normalised_std": float(hd.std()),
        "dof_normalised": float(0.25 / hd.var()),
    }


def texture_fidelity(pipe: IrisPipeline, identities: range) -> dict[str, float]:
    """Raw fraction of bits that differ between the code of a texture drawn at full
    density and at TEXTURE_SAMPLING (resized), same eye, no noise, no mask."""
    valid = np.ones((ROWS, COLS), bool)

    def prepared(t: np.ndarray) -> PreparedIris:
        return PreparedIris(
            (0, 0, 0), (0, 0, 0), _QUALITY, standardised((t - t.mean()) / t.std(), valid), valid
        )

    full = pipe.encode([prepared(iris_texture(i)) for i in identities])
    fast = pipe.encode([prepared(texture(i)) for i in identities])
    diff = [
        float(((a.bits ^ b.bits) & a.mask & b.mask).sum() / (a.mask & b.mask).sum())
        for a, b in zip(full, fast, strict=True)
    ]
    return {"identities": len(diff), "mean": float(np.mean(diff)), "max": float(np.max(diff))}


def rendered_check(pipe: IrisPipeline, fast: dict[int, IrisCode]) -> dict[str, Any]:
    """A few eyes rendered and run through the whole pipeline, compared with the fast
    path's code of the same identity: do the shortcut's codes look like the pipeline's?"""
    rows = []
    for identity, code in fast.items():
        eye = render_eye(identity, capture=1)
        try:
            real = pipe.run(eye.image, strict=False).code
        except Exception as e:
            rows.append({"identity": identity, "error": repr(e)})
            continue
        hd, shift, bits = distance(real, code, SHIFTS)
        rows.append({"identity": identity, "hd": hd, "shift": shift, "bits": bits})
    return {"pairs": rows}


# ------------------------------------------------------------------ the popcount bound


@numba.njit(boundscheck=False)
def _popcount_loop(words: np.ndarray, repeats: int) -> int:
    total = np.uint64(0)
    for r in range(repeats):
        salt = np.uint64(r)
        for i in range(words.size):
            total += _popcount(words[i] ^ salt)
    return total


def popcount_throughput() -> dict[str, Any]:
    """Popcounts per second of one core over 2 048 words (16 KB, L1-resident): compute,
    not memory. The same SWAR count the scan uses (LLVM turns it into POPCNT, or
    VPOPCNTQ where the CPU has AVX-512 VPOPCNTDQ, as the scan's loop); the xor with the
    pass number keeps the passes from being folded."""
    words = np.random.default_rng(1).integers(0, 2**63, 2048, dtype=np.uint64)
    repeats = 20_000
    _popcount_loop(words, 2)
    best = min(measure(lambda: _popcount_loop(words, repeats), 0.5, 5)["p50_ms"] for _ in range(3))
    asm = next(iter(_popcount_loop.inspect_asm().values()))
    return {
        "words": words.size,
        "words_per_s": words.size * repeats / (best / 1e3),
        "scalar_popcntq": asm.count("\tpopcntq"),
        "vector_vpopcntq": asm.count("vpopcntq"),
        "vector_registers": sorted({r for r in ("xmm", "ymm", "zmm") if f"%{r}" in asm}),
    }


def memory_pass(codes: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """One sequential np.bitwise_count over the gallery's code and mask words."""
    out = np.empty(codes.shape, np.uint8)

    def run() -> None:
        np.bitwise_count(codes, out=out)
        np.bitwise_count(masks, out=out)

    t = measure(run, 0.5, 5)
    gb = (codes.nbytes + masks.nbytes) / 1e9
    return {**t, "gbytes": gb, "gbytes_per_s": gb / (t["p50_ms"] / 1e3)}


# ------------------------------------------------------------------ 1:N


def identify_section() -> dict[str, Any]:
    pipe = IrisPipeline(IrisParams(gabor=GaborParams(threads=CORES)))
    rng = np.random.default_rng(20)
    enrolled = np.sort(rng.choice(min(GALLERY), ENROLLED_PROBES, replace=False))
    strangers = STRANGER_BASE + np.arange(STRANGER_PROBES)
    t0 = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")  # no fork of ORT / numba threads
    with ProcessPoolExecutor(CORES, mp_context=spawn) as pool:
        codes, masks, _, usable = synthetic_codes(pool, np.arange(max(GALLERY)), 10, False)
        built = time.perf_counter() - t0
        pc, pm, rolls, probe_usable = synthetic_codes(
            pool, np.concatenate([enrolled, strangers]), 30, True
        )
    probes = [_unpacked(pc[i], pm[i]) for i in range(len(pc))]
    fast = {int(i): _unpacked(codes[i], masks[i]) for i in enrolled[:6]}
    first = range(300)
    result: dict[str, Any] = {
        "build_s": built,
        "codes_per_s": max(GALLERY) / built,
        "texture_sampling": TEXTURE_SAMPLING,
        "texture_fidelity": texture_fidelity(pipe, range(20)),
        "gallery_usable_mean": usable,
        "probe_usable_mean": probe_usable,
        "noise": NOISE,
        "degrees_of_freedom": degrees_of_freedom(codes, masks, list(combinations(first, 2))),
        "probe_rolls_cols": rolls[: len(enrolled)].tolist(),
        "rendered_check": rendered_check(pipe, fast),
        "popcount": popcount_throughput(),
        "sizes": [],
    }
    for n in GALLERY:
        result["sizes"].append(one_size(n, codes[:n], masks[:n], probes, enrolled, result))
    return result


def _unpacked(code: np.ndarray, mask: np.ndarray) -> IrisCode:
    def bits(w: np.ndarray) -> np.ndarray:
        return np.unpackbits(w.view(np.uint8)).astype(bool).reshape(2, 8, 128)

    return IrisCode(bits(code), bits(mask))


def one_size(
    n: int,
    codes: np.ndarray,
    masks: np.ndarray,
    probes: list[IrisCode],
    enrolled: np.ndarray,
    shared: dict[str, Any],
) -> dict[str, Any]:
    genuine_probes = len(enrolled)
    scan(probes[0], codes, masks, SHIFTS)  # compiled (or loaded from numba's cache)
    timings: dict[str, list[float]] = {"numba_2": [], "numba_1": [], "numpy": []}
    hds: list[np.ndarray] = []
    for round_ in range(2):
        for p in probes:
            t = time.perf_counter()
            hd = scan(p, codes, masks, SHIFTS)
            timings["numba_2"].append(time.perf_counter() - t)
            if round_ == 0:
                hds.append(hd)
    numba.set_num_threads(1)
    try:
        for p in probes:
            t = time.perf_counter()
            scan(p, codes, masks, SHIFTS)
            timings["numba_1"].append(time.perf_counter() - t)
    finally:
        numba.set_num_threads(NUMBA_THREADS)
    reference = range(0, len(probes), 10 if n > 10_000 else 4)
    worst_diff = 0.0
    for j in reference:
        t = time.perf_counter()
        ref = scan_numpy(probes[j], codes, masks, SHIFTS)
        timings["numpy"].append(time.perf_counter() - t)
        worst_diff = max(worst_diff, float(np.abs(ref - hds[j]).max()))

    gallery = CodeMatrix(SHIFTS)
    gallery.add_packed(list(range(n)), codes, masks)
    search_t, top1 = [], []
    for p in probes:
        t = time.perf_counter()
        top1.append(gallery.search(p, 1)[0])
        search_t.append(time.perf_counter() - t)

    genuine = np.array([hds[k][enrolled[k]] for k in range(genuine_probes)])
    correct = sum(top1[k][0] == enrolled[k] for k in range(genuine_probes))
    stranger_best = np.array([top1[k][1] for k in range(genuine_probes, len(probes))])
    threshold_1n = identification_threshold(n) if identification_threshold else None
    # The same rule with the degrees of freedom measured on this population (what
    # DICHTE_IRIS_IMPOSTOR_DOF is for): does it then hold its FPIR?
    measured = round(shared["degrees_of_freedom"]["dof_normalised"])
    threshold_measured = iris_code.identification_threshold(n, dof=measured)
    at: dict[str, Any] = {}
    for name, threshold in (
        ("verify", MATCH_THRESHOLD),
        ("identify", threshold_1n),
        (f"identify, dof {measured}", threshold_measured),
    ):
        if threshold is None:
            continue
        identified = sum(
            top1[k][0] == enrolled[k] and top1[k][1] <= threshold for k in range(genuine_probes)
        )
        false_candidates = [
            int((np.delete(hds[k], enrolled[k]) <= threshold).sum()) for k in range(genuine_probes)
        ] + [int((hds[k] <= threshold).sum()) for k in range(genuine_probes, len(probes))]
        at[name] = {
            "threshold": threshold,
            "tpir": identified / genuine_probes,
            "fpir": float((stranger_best <= threshold).mean()),
            "false_candidates_per_probe": float(np.mean(false_candidates)),
            "false_match_rate_per_comparison": float(np.mean(false_candidates) / n),
        }
    impostor_all = np.concatenate(
        [np.delete(hds[k], enrolled[k]) for k in range(genuine_probes)]
        + [hds[k] for k in range(genuine_probes, len(probes))]
    )
    words = n * ROTATIONS * WORDS * 2
    bound_ms = words / shared["popcount"]["words_per_s"] / CORES * 1e3
    mem = memory_pass(codes, masks)
    scans = {k: stats_ms(v) for k, v in timings.items()}
    return {
        "gallery": n,
        "probes": len(probes),
        "scan": scans,
        "search_top1": stats_ms(search_t),
        "numpy_probes": len(reference),
        "numba_vs_numpy_max_abs_diff": worst_diff,
        "popcounts_per_probe": words,
        "compute_bound_ms": bound_ms,
        "memory_pass": mem,
        "scan_over_bound": scans["numba_2"]["p50_ms"] / bound_ms,
        "top1_accuracy": correct / genuine_probes,
        "at_threshold": at,
        "stranger_best": summary(stranger_best),
        "genuine": summary(genuine),
        "impostor": summary(impostor_all),
        "d_prime": d_prime(genuine, impostor_all),
    }


# ------------------------------------------------------------------ report


def markdown(r: dict[str, Any]) -> str:
    c, e, s, k = r["cpu"], r["encode"], r["identify"], r["casia"]
    pc = s["popcount"]
    by = {(x["threads"], x["batch"]): x for x in e["encode"]}
    kind = "POPCNT"
    if pc["vector_vpopcntq"]:
        kind = "VPOPCNTQ on " + "/".join(pc["vector_registers"])
    best = min(x["ms_per_image"] for x in e["encode"])
    out = [
        f"Iris on `{c['model']}` ({c['machine']}, {c['cores']} CPUs shared with other work, "
        f"load average {c['load_average'][0]:.2f} at start; numba {c['numba']} on "
        f"{c['numba_threads']} threads), {r['when']}, whole run {r['seconds']:.0f} s",
        "",
        f"Pipeline: Gabor wavelength {r['params']['iris']['gabor']['wavelength']:g} columns "
        f"of {COLS}, angular σ {r['params']['iris']['gabor']['sigma_angle']:g} wavelengths, "
        f"radial σ {r['params']['iris']['gabor']['sigma_radius']:g} rows; fragile bits "
        f"masked {r['params']['iris']['fragile_fraction']:.0%}; 1:1 threshold "
        f"{MATCH_THRESHOLD}.",
        "",
        f"**Encode**, per image, on the {k['images']} CASIA-Iris-Interval images (320×280): "
        f"`prepare` (segmentation + quality + rubber sheet, OpenCV on 1 thread) "
        f"p50 **{e['prepare']['p50_ms']:.1f} ms**, p99 {e['prepare']['p99_ms']:.1f} ms; "
        f"`encode` (the Gabor bank on ONNX Runtime + masking), ms per image at p50:",
        "",
        "| ORT threads | batch 1 | batch 8 | batch 32 |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for t in (1, 2):
        out.append(
            f"| {t} | " + " | ".join(f"{by[(t, b)]['ms_per_image']:.3f}" for b in (1, 8, 32)) + " |"
        )
    out += [
        "",
        f"Per image in all: **{e['prepare']['p50_ms'] + best:.1f} ms** (prepare p50 + the "
        f"best encode); `run` on one image, 1 thread, p50 {e['run_1_thread']['p50_ms']:.1f} ms.",
        "",
        f"**1:N identify**, rotation search ±{SHIFTS} code columns ({ROTATIONS} rotations), "
        f"{len(s['probe_rolls_cols'])} probes of enrolled identities turned by up to "
        f"±{SHIFTS * COLS_PER_SHIFT} of {COLS} polar columns + {STRANGER_PROBES} of "
        f"identities not enrolled; p50 / p99 ms per probe. Bound = popcounts "
        f"(N × {ROTATIONS} rotations × {WORDS} words × 2) ÷ one core's popcount rate "
        f"({pc['words_per_s'] / 1e9:.2f} G words/s, L1-resident; "
        f"{kind}, as the scan's loop) ÷ {c['cores']} cores; memory "
        f"pass = one np.bitwise_count over the gallery's code + mask words, 1 thread:",
        "",
        "| gallery | numba, 2 threads | numba, 1 thread | numpy reference | "
        "CodeMatrix.search | bound | memory pass | scan ÷ bound |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for z in s["sizes"]:
        sc = z["scan"]
        out.append(
            f"| {z['gallery']:,} | {_pp(sc['numba_2'])} | {_pp(sc['numba_1'])} | "
            f"{_pp(sc['numpy'])} | {_pp(z['search_top1'])} | {z['compute_bound_ms']:.1f} | "
            f"{z['memory_pass']['p50_ms']:.1f} ({z['memory_pass']['gbytes'] * 1e3:.0f} MB) | "
            f"{z['scan_over_bound']:.1f}× |"
        )
    out += [
        "",
        "Accuracy on the synthetic gallery, at the 1:1 threshold (MATCH_THRESHOLD "
        f"{MATCH_THRESHOLD}) and at the 1:N one for the gallery's size "
        "(`identification_threshold`): TPIR = enrolled probes named correctly at or under "
        "it, FPIR = probes not enrolled whose best hd is at or under it, false candidates = "
        "other identities' rows at or under it per probe; impostor = every probe against "
        "every other identity's row (best rotation):",
        "",
        "| gallery | top-1 | threshold | TPIR | FPIR | false candidates per probe "
        "| genuine hd mean ± std (max) | impostor hd mean ± std (min) | best stranger hd (min) "
        "| d′ |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for z in s["sizes"]:
        g, i = z["genuine"], z["impostor"]
        for name, a in z["at_threshold"].items():
            first = name == next(iter(z["at_threshold"]))
            dist = (
                f"{g['mean']:.3f} ± {g['std']:.3f} ({g['max']:.3f}) | "
                f"{i['mean']:.3f} ± {i['std']:.3f} ({i['min']:.3f}) | "
                f"{z['stranger_best']['min']:.3f} | {z['d_prime']:.1f}"
                if first
                else " | | |"
            )
            out.append(
                f"| {z['gallery']:,} | {z['top1_accuracy']:.0%} | {name} {a['threshold']:.3f} | "
                f"{a['tpir']:.0%} | {a['fpir']:.0%} | {a['false_candidates_per_probe']:.1f} | "
                f"{dist} |"
            )
    fid, dof, rc = s["texture_fidelity"], s["degrees_of_freedom"], s["rendered_check"]
    rendered = [x["hd"] for x in rc["pairs"] if "hd" in x]
    out += [
        "",
        f"Synthetic codes: `iris_texture` drawn at {s['texture_sampling'][0]}×"
        f"{s['texture_sampling'][1]} and resized to {ROWS}×{COLS} (its code differs from the "
        f"full-density one in {fid['mean']:.1%} of bits, max {fid['max']:.1%}), + capture "
        f"noise (white at half density, resized) at {s['noise']} σ of the texture, random "
        f"eyelids and blobs, standardised, through `IrisPipeline.encode` (bank + masking); "
        f"{s['gallery_usable_mean']:.0%} of bits usable (CASIA {k['code_usable_mean']:.0%}); "
        f"{s['codes_per_s']:.0f} codes/s on {c['cores']} processes. Rendered eyes "
        f"(`render_eye`, full pipeline) against the gallery code of the same identity: hd "
        + (", ".join(f"{h:.2f}" for h in rendered) or "none")
        + f". Degrees of freedom (Daugman's p(1−p)/σ² over {dof['pairs']:,} pairs of "
        f"different synthetic identities, no rotation): **{dof['dof']:.0f}** over a median "
        f"{dof['bits_compared_median']:.0f} bits compared, **{dof['dof_normalised']:.0f}** in "
        f"normalised hd (0.25 / its variance: the figure `identification_threshold`'s "
        f"IMPOSTOR_DOF = {r['params']['impostor_dof']} stands for); Daugman's codes "
        f"249; CASIA left vs right {k['degrees_of_freedom']['dof']:.0f}, but that is one "
        f"subject: 100 pairs of the same two irises, not a population figure.",
    ]
    g, i = k["genuine"], k["impostor"]
    out += [
        "",
        f"**CASIA-Iris-Interval** (subject 1001, {k['images']} images, "
        f"{k['quality_ok']} pass quality): {g['n']} same-eye pairs, {i['n']} left-vs-right "
        f"pairs, `distance` with ±{SHIFTS} shifts:",
        "",
        "| pairs | mean ± std | min | max | d′ | errors at hd ≤ " + f"{MATCH_THRESHOLD} |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| same eye | {g['mean']:.3f} ± {g['std']:.3f} | {g['min']:.3f} | {g['max']:.3f} | "
        f"{k['d_prime']:.1f} | {k['false_non_matches']} false non-matches |",
        f"| left vs right | {i['mean']:.3f} ± {i['std']:.3f} | {i['min']:.3f} | "
        f"{i['max']:.3f} | | {k['false_matches']} false matches |",
        "",
        *(
            [
                "Same-eye pairs a 1:N search would still name (hd at or under its threshold): "
                + "; ".join(
                    f"gallery {n:,}, threshold {u['threshold']:.3f}: {u['fraction']:.0%}"
                    for n, u in k["genuine_under_1n_threshold"].items()
                )
                + ".",
                "",
            ]
            if k["genuine_under_1n_threshold"]
            else []
        ),
        "Targets: "
        + "; ".join(
            f"{name}: {v['value']:.2f} {v['unit']} ({'met' if v['met'] else 'NOT met'})"
            for name, v in r["targets"].items()
        ),
        "",
    ]
    return "\n".join(out)


def _pp(t: dict[str, float]) -> str:
    return f"{t['p50_ms']:.1f} / {t['p99_ms']:.1f}"


def main() -> None:
    started = time.perf_counter()
    info = cpu()
    images = casia_images()
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": info,
        "params": {
            "iris": IrisParams().model_dump(),
            "match_threshold": MATCH_THRESHOLD,
            "shifts": SHIFTS,
            "impostor_dof": getattr(iris_code, "IMPOSTOR_DOF", None),
        },
        "encode": encode_section(images),
        "casia": casia_section(images),
        "identify": identify_section(),
    }
    big = next(z for z in result["identify"]["sizes"] if z["gallery"] == max(GALLERY))
    measured_rule = next(a for name, a in big["at_threshold"].items() if "dof" in name)
    k = result["casia"]
    result["targets"] = {
        "1:N over 100k, 2 cores (< 100 ms)": {
            "value": big["scan"]["numba_2"]["p50_ms"],
            "unit": "ms",
            "met": big["scan"]["numba_2"]["p50_ms"] < 100,
        },
        "CASIA errors at threshold (0)": {
            "value": k["false_matches"] + k["false_non_matches"],
            "unit": "pairs",
            "met": k["false_matches"] + k["false_non_matches"] == 0,
        },
        "synthetic top-1 at 100k (≈ 100 %)": {
            "value": big["top1_accuracy"] * 100,
            "unit": "%",
            "met": big["top1_accuracy"] >= 0.99,
        },
        # The 1:N rule holds its FPIR (1 %, within the sampling of 50 strangers) when it
        # is given the population's degrees of freedom; the 1:1 threshold is not a 1:N
        # one, and the default 249 is a real-iris figure these textures do not reach.
        "synthetic FPIR at 100k, the 1:N rule at the measured dof (≤ 2 %)": {
            "value": measured_rule["fpir"] * 100,
            "unit": "%",
            "met": measured_rule["fpir"] <= 0.02,
        },
    }
    result["seconds"] = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "iris.json").write_text(
        json.dumps(result, indent=1, default=lambda o: o.item()) + "\n"
    )
    (RESULTS / "iris.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
