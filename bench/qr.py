"""QR decoding on real phone photos: correct / wrong / none per set, ms per image, 1 thread.

Data: zxing's blackbox photos (shared/data/qr/zxing_blackbox/qrcode-{1,3,4,5,6}, each
N.png with its exact text in N.txt; MANIFEST.md §4). Decoders: ours (models.qr.decode_qr,
zxing-cpp cascade), OpenCV QRCodeDetector and QRCodeDetectorAruco (detectAndDecodeMulti),
zxing-cpp with its defaults; then the cheap fallbacks tried before choosing the cascade.
Time: per image the median of REPEATS calls; p50/p99 over the images.

    .venv/bin/python bench/qr.py          # writes bench/results/qr.{json,md}
"""

from __future__ import annotations

import os

# One core: a checkpoint shares its CPU with the other models.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import zxingcpp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dichte.models.images import decode_image  # noqa: E402
from dichte.models.qr import decode_qr  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DATA = ROOT.parent / "shared" / "data" / "qr" / "zxing_blackbox"
SETS = ("qrcode-1", "qrcode-3", "qrcode-4", "qrcode-5", "qrcode-6")
REPEATS = 3
OURS = "ours (decode_qr)"
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)  # the peer: QR family

cv2.setNumThreads(1)
Decoder = Callable[[np.ndarray], list[str]]


def _opencv(detector: cv2.QRCodeDetector | cv2.QRCodeDetectorAruco) -> Decoder:
    def run(image: np.ndarray) -> list[str]:
        try:
            ok, texts, _, _ = detector.detectAndDecodeMulti(image)
        except cv2.error:
            return []
        return [t for t in texts if t] if ok else []

    return run


def _zxing(image: np.ndarray, binarizer: Any = zxingcpp.Binarizer.LocalAverage) -> list[str]:
    found = zxingcpp.read_barcodes(image, formats=_QR, binarizer=binarizer)
    return [r.text for r in found if r.text]


def _up2(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def _clahe(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)


def decoders() -> dict[str, Decoder]:
    classic, aruco = _opencv(cv2.QRCodeDetector()), _opencv(cv2.QRCodeDetectorAruco())
    return {
        OURS: lambda im: [c.text for c in decode_qr(im)],
        "cv2 QRCodeDetector": classic,
        "cv2 QRCodeDetectorAruco": aruco,
        "zxing-cpp": _zxing,
        # fallbacks tried (each alone, on every image)
        "cv2 classic, 2× upscale": lambda im: classic(_up2(im)),
        "cv2 aruco, 2× upscale": lambda im: aruco(_up2(im)),
        "cv2 aruco, CLAHE grey": lambda im: aruco(_clahe(im)),
        "zxing-cpp, 2× upscale": lambda im: _zxing(_up2(im)),
        "zxing-cpp, CLAHE grey": lambda im: _zxing(_clahe(im)),
        "zxing-cpp, global-histogram binarizer": lambda im: _zxing(
            im, zxingcpp.Binarizer.GlobalHistogram
        ),
    }


def load() -> list[tuple[str, str, np.ndarray, str]]:
    if not DATA.is_dir():
        sys.exit(f"missing {DATA} (see shared/data/MANIFEST.md §4)")
    photos = []
    for name in SETS:
        for path in sorted((DATA / name).glob("*.png")):
            expected = path.with_suffix(".txt").read_bytes().decode("utf-8")
            photos.append((name, path.name, decode_image(path.read_bytes()), expected))
    return photos


def evaluate(decode: Decoder, photos: list[tuple[str, str, np.ndarray, str]]) -> dict[str, Any]:
    counts = {s: {"correct": 0, "wrong": 0, "none": 0, "images": 0} for s in (*SETS, "total")}
    ms: list[float] = []
    wrong: list[str] = []
    correct: list[str] = []
    for name, file, image, expected in photos:
        times = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            texts = decode(image)
            times.append((time.perf_counter() - t) * 1000)
        ms.append(statistics.median(times))
        bad = [t for t in texts if t != expected]
        outcome = "wrong" if bad else "correct" if texts else "none"
        wrong += [f"{name}/{file}: {t[:60]!r}" for t in bad]
        correct += [f"{name}/{file}"] if outcome == "correct" else []
        for key in (name, "total"):
            counts[key][outcome] += 1
            counts[key]["images"] += 1
    return {
        "counts": counts,
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p99": float(np.percentile(ms, 99)),
        "ms_mean": float(np.mean(ms)),
        "wrong_texts": wrong,
        "correct_images": correct,
    }


def markdown(result: dict[str, Any]) -> str:
    rows: dict[str, Any] = result["decoders"]
    v = result["versions"]
    sizes = next(iter(rows.values()))["counts"]
    lines = [
        f"QR decoding on zxing's real blackbox photos, 1 thread of a {result['cpus']}-CPU "
        f"machine, {result['when']} (opencv {v['opencv']}, zxing-cpp {v['zxing-cpp']})",
        "",
        "Cells: correct / wrong / none. Time: per image the median of "
        f"{result['repeats']} calls, then p50/p99 over the {result['images']} images. "
        "Set sizes: " + ", ".join(f"{s} {sizes[s]['images']}" for s in SETS) + ".",
        "",
        "Read where ours is not: photos this decoder reads correctly that decode_qr misses.",
        "",
        "| decoder | " + " | ".join(SETS) + " | total | read where ours is not | p50 ms | p99 ms |",
        "| --- |" + " ---: |" * (len(SETS) + 4),
    ]
    ours = set(rows[OURS]["correct_images"])
    for name, r in rows.items():
        cells = [f"{c['correct']} / {c['wrong']} / {c['none']}" for c in r["counts"].values()]
        extra = len(set(r["correct_images"]) - ours)
        lines.append(
            f"| {name} | {' | '.join(cells)} | {extra} | {r['ms_p50']:.2f} | {r['ms_p99']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    photos = load()
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "images": len(photos),
        "repeats": REPEATS,
        "versions": {"opencv": cv2.__version__, "zxing-cpp": version("zxing-cpp")},
        "decoders": {name: evaluate(fn, photos) for name, fn in decoders().items()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "qr.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    md = markdown(result)
    (RESULTS / "qr.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
