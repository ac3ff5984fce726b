"""The iris code: Daugman's phase bits with their mask, and the packed form the matcher
scans. Plain numpy, so processes that only store or compare codes (the gallery, an API
replica) need neither OpenCV nor ONNX Runtime.

Matching (one place, used by 1:1 and, in `matching`, 1:N): the masked fractional
Hamming distance with rotations and Daugman's normalisation for the bits compared,

    raw = popcount((a XOR b) AND mask_a AND mask_b) / popcount(mask_a AND mask_b)
    hd  = 0.5 - (0.5 - raw) * sqrt(n / TYPICAL_BITS_COMPARED), clipped to [0, 1],

taking the rotation (a circular shift of the angle columns within ±shifts) with the
lowest hd. The normalisation makes a distance over few bits (a half-closed eye) less
decisive than one over many, as in Daugman's "How iris recognition works" (2004).
Fewer than MIN_BITS_COMPARED bits decide nothing: hd = 0.5.

A code is (2, RINGS, ANGLES) bits: the signs of the real and imaginary parts of the
Gabor response at RINGS radii × ANGLES angles of the normalised iris; the mask says
which bits are iris texture (not eyelid, lash, reflection, or a fragile near-zero
response). Angles run along the last axis, so an eye turned by one column's angle is the
same code rolled by one: rotation is a circular shift there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RINGS = 8
ANGLES = 128
BITS = 2 * RINGS * ANGLES  # 2048, as Daugman's IrisCode
WORDS = BITS // 64
SHAPE = (2, RINGS, ANGLES)
DEGREES_PER_SHIFT = 360.0 / ANGLES


@dataclass(frozen=True, eq=False)
class IrisCode:
    bits: np.ndarray  # bool SHAPE
    mask: np.ndarray  # bool SHAPE: True where the bit is usable

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IrisCode)
            and np.array_equal(self.bits, other.bits)
            and np.array_equal(self.mask, other.mask)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not a dict key

    def __post_init__(self) -> None:
        if self.bits.shape != SHAPE or self.mask.shape != SHAPE:
            raise ValueError(f"an iris code is {SHAPE} bits with a mask of the same shape")

    @property
    def usable(self) -> float:
        """The fraction of bits the mask keeps."""
        return float(self.mask.mean())

    def rolled(self, shift: int) -> IrisCode:
        """The code of the same eye turned by `shift` columns."""
        return IrisCode(np.roll(self.bits, shift, axis=2), np.roll(self.mask, shift, axis=2))

    def to_bytes(self) -> bytes:
        """Code then mask, 256 bytes each."""
        return np.packbits(self.bits).tobytes() + np.packbits(self.mask).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> IrisCode:
        if len(data) != BITS // 4:
            raise ValueError(f"a packed iris code is {BITS // 4} bytes")
        raw = np.unpackbits(np.frombuffer(data, np.uint8)).astype(bool)
        return cls(raw[:BITS].reshape(SHAPE), raw[BITS:].reshape(SHAPE))

    def words(self) -> tuple[np.ndarray, np.ndarray]:
        """(code, mask) as WORDS uint64 each: the matcher's row format."""
        return packed(self.bits), packed(self.mask)

    def shifted_words(self, shifts: int) -> tuple[np.ndarray, np.ndarray]:
        """(code, mask) words of every rotation from -shifts to +shifts columns, (2s+1, WORDS)."""
        rotations = [self.rolled(s) for s in range(-shifts, shifts + 1)]
        return (
            np.stack([packed(r.bits) for r in rotations]),
            np.stack([packed(r.mask) for r in rotations]),
        )


def packed(bits: np.ndarray) -> np.ndarray:
    return np.packbits(np.asarray(bits, bool).reshape(-1)).view(np.uint64).copy()


# Bits compared in a typical genuine comparison of our codes (2048 bits, ~60 % kept by
# the masks of both eyes): the CASIA pairs compare about 950 (median). Daugman used 911.
TYPICAL_BITS_COMPARED = 1000
MIN_BITS_COMPARED = 256
DEFAULT_SHIFTS = 8  # ±8 columns of 2.8°: an eye turned up to ±22.5°
# Same eye (1:1) when hd ≤ this. CASIA's same-eye pairs reach 0.35 and its different
# eyes start at 0.42 (README's table): 0.37 keeps every same-eye pair, with margin.
MATCH_THRESHOLD = 0.37
# 1:N: the impostor model that sets the identification threshold for a gallery size.
# Degrees of freedom of a code comparison (Daugman's p(1-p)/sigma^2 of different-eye
# distances): 249 is Daugman's figure over millions of real comparisons; our codes
# measure 325 on CASIA's two eyes and 160 on the synthetic irises (README).
IMPOSTOR_DOF = 249
TARGET_FPIR = 0.01  # strangers named as someone enrolled, per search (NIST IREX's point)


def normalised_hd(disagree: np.ndarray, compared: np.ndarray) -> np.ndarray:
    """Daugman's normalised distance from the disagreeing and compared bit counts."""
    n = np.asarray(compared, np.float64)
    raw = np.divide(disagree, n, out=np.full(n.shape, 0.5), where=n > 0)
    hd = np.clip(0.5 - (0.5 - raw) * np.sqrt(n / TYPICAL_BITS_COMPARED), 0.0, 1.0)
    return np.where(n >= MIN_BITS_COMPARED, hd, 0.5)


def identification_threshold(
    gallery_size: int,
    verify_threshold: float = MATCH_THRESHOLD,
    fpir: float = TARGET_FPIR,
    shifts: int = DEFAULT_SHIFTS,
    dof: int = IMPOSTOR_DOF,
) -> float:
    """The hd at or below which a 1:N search names someone, for a gallery of this many
    eyes: every eye and rotation searched is a chance for a stranger to come close, so
    the threshold falls as the gallery grows, keeping the expected false match per
    search at `fpir` (Daugman's binomial model of impostor distances, normal tail, each
    rotation counted as a separate try). Never above the 1:1 threshold."""
    if gallery_size <= 0:
        return verify_threshold
    per_try = fpir / (gallery_size * (2 * shifts + 1))
    if per_try >= 0.5:
        return verify_threshold
    z = _normal_quantile_upper(per_try)
    return min(verify_threshold, 0.5 - z * math.sqrt(0.25 / dof))


def _normal_quantile_upper(p: float) -> float:
    """z with P(Z > z) = p for a standard normal (bisection on erfc: no scipy here)."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2)) > p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def distance(a: IrisCode, b: IrisCode, shifts: int = DEFAULT_SHIFTS) -> tuple[float, int, int]:
    """(hd, best shift of b relative to a in columns, bits compared there)."""
    codes, masks = b.shifted_words(shifts)
    code, mask = a.words()
    d = np.bitwise_count((codes ^ code) & (masks & mask)).sum(axis=1)
    n = np.bitwise_count(masks & mask).sum(axis=1)
    hd = normalised_hd(d, n)
    best = int(np.argmin(hd))
    return float(hd[best]), best - shifts, int(n[best])
