"""Timing helpers the benchmarks share: p50 / p99 / mean milliseconds of a call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np


def stats_ms(seconds: Iterable[float]) -> dict[str, float]:
    ms = np.asarray(list(seconds)) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "runs": len(ms),
    }


def measure(fn: Callable[[], object], seconds: float = 1.2, min_runs: int = 15) -> dict[str, float]:
    """p50 / p99 / mean ms over ≥ min_runs calls and ≥ `seconds` (after 2 warm-ups)."""
    fn()
    fn()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return stats_ms(times)
