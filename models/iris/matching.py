"""Iris 1:N over packed codes: the distance of `code.distance` (masked, normalised,
best rotation) against every gallery row.

1:N scans every gallery row for every rotation in one compiled loop (numba; the codes
and masks of a row are read once from memory for all rotations). The plain numpy form,
`bitwise_count` shift by shift, is kept as the reference the tests and the benchmark
compare with.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numba
import numpy as np

from dichte.models.iris.code import (
    DEFAULT_SHIFTS,
    MIN_BITS_COMPARED,
    TYPICAL_BITS_COMPARED,
    WORDS,
    IrisCode,
    normalised_hd,
)


@numba.njit(parallel=True, cache=True, boundscheck=False)
def _scan(
    probe_codes: np.ndarray,  # (S, W) uint64: the probe at each rotation
    probe_masks: np.ndarray,
    codes: np.ndarray,  # (N, W) uint64
    masks: np.ndarray,
    typical: float,
    min_bits: int,
    out: np.ndarray,  # (N,) float32: the best normalised hd of each row
) -> None:
    n_rows, n_words = codes.shape
    n_shifts = probe_codes.shape[0]
    for i in numba.prange(n_rows):
        best = 1.0
        for s in range(n_shifts):
            disagree = np.uint64(0)
            compared = np.uint64(0)
            for w in range(n_words):
                m = probe_masks[s, w] & masks[i, w]
                disagree += _popcount((probe_codes[s, w] ^ codes[i, w]) & m)
                compared += _popcount(m)
            hd = 0.5  # too few bits compared decide nothing (as `normalised_hd`)
            if compared >= min_bits:
                hd = 0.5 - (0.5 - disagree / compared) * np.sqrt(compared / typical)
                hd = min(max(hd, 0.0), 1.0)
            best = min(best, hd)
        out[i] = best


@numba.njit(inline="always")
def _popcount(x: np.uint64) -> np.uint64:
    # The SWAR count LLVM recognises and turns into POPCNT (vectorised where it can).
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


def scan(probe: IrisCode, codes: np.ndarray, masks: np.ndarray, shifts: int) -> np.ndarray:
    """The best normalised hd of the probe against every row, (N,) float32."""
    probe_codes, probe_masks = probe.shifted_words(shifts)
    out = np.empty(len(codes), np.float32)
    if len(codes):
        _scan(probe_codes, probe_masks, codes, masks, TYPICAL_BITS_COMPARED, MIN_BITS_COMPARED, out)
    return out


def scan_numpy(probe: IrisCode, codes: np.ndarray, masks: np.ndarray, shifts: int) -> np.ndarray:
    """The same as `scan` with numpy's bitwise_count, rotation by rotation (the reference)."""
    probe_codes, probe_masks = probe.shifted_words(shifts)
    best = np.full(len(codes), 1.0)
    for code, mask in zip(probe_codes, probe_masks, strict=True):
        both = masks & mask
        d = np.bitwise_count((codes ^ code) & both).sum(axis=1)
        n = np.bitwise_count(both).sum(axis=1)
        best = np.minimum(best, normalised_hd(d, n))
    return best.astype(np.float32)


Match = tuple[Hashable, float]  # id, normalised hd (lower is closer)


class CodeMatrix:
    """The gallery's codes as packed rows: add, replace, remove by id, top-k by hd.
    Not thread-safe: one owner (a gallery shard) calls it."""

    def __init__(self, shifts: int = DEFAULT_SHIFTS) -> None:
        self.shifts = shifts
        self._codes = np.zeros((0, WORDS), np.uint64)
        self._masks = np.zeros((0, WORDS), np.uint64)
        self._ids: list[Hashable] = []
        self._row: dict[Hashable, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Iterable[Hashable], codes: Iterable[IrisCode]) -> None:
        ids, codes = list(ids), list(codes)
        self.remove([i for i in ids if i in self._row])
        if not ids:
            return
        words = [c.words() for c in codes]
        self._codes = np.concatenate([self._codes, np.stack([w[0] for w in words])])
        self._masks = np.concatenate([self._masks, np.stack([w[1] for w in words])])
        for i in ids:
            self._row[i] = len(self._ids)
            self._ids.append(i)

    def add_packed(self, ids: list[Hashable], codes: np.ndarray, masks: np.ndarray) -> None:
        """Rows already packed (a benchmark's gallery): ids must be new."""
        start = len(self._ids)
        self._codes = np.concatenate([self._codes, codes.astype(np.uint64)])
        self._masks = np.concatenate([self._masks, masks.astype(np.uint64)])
        self._ids += ids
        self._row.update({i: start + k for k, i in enumerate(ids)})

    def remove(self, ids: Iterable[Hashable]) -> None:
        """Moves the last rows into the holes: O(removed), no tombstones to scan."""
        for i in ids:
            row = self._row.pop(i, None)
            if row is None:
                continue
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._codes[row], self._masks[row] = self._codes[last], self._masks[last]
                self._ids[row] = moved
                self._row[moved] = row
            self._ids.pop()
            self._codes, self._masks = self._codes[:last], self._masks[:last]

    def search(self, probe: IrisCode, k: int) -> list[Match]:
        """The k closest rows, closest first."""
        if not self._ids:
            return []
        hd = scan(probe, self._codes, self._masks, self.shifts)
        k = min(k, len(hd))
        top = np.argpartition(hd, k - 1)[:k]
        top = top[np.argsort(hd[top], kind="stable")]
        return [(self._ids[i], float(hd[i])) for i in top]
