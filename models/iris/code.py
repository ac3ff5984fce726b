"""The iris code: Daugman's phase bits with their mask, and the packed form the matcher
scans. Plain numpy, so processes that only store or compare codes (the gallery, an API
replica) need neither OpenCV nor ONNX Runtime.

A code is (2, RINGS, ANGLES) bits: the signs of the real and imaginary parts of the
Gabor response at RINGS radii × ANGLES angles of the normalised iris; the mask says
which bits are iris texture (not eyelid, lash, reflection, or a fragile near-zero
response). Angles run along the last axis, so an eye turned by one column's angle is the
same code rolled by one: rotation is a circular shift there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RINGS = 8
ANGLES = 128
BITS = 2 * RINGS * ANGLES  # 2048, as Daugman's IrisCode
WORDS = BITS // 64
SHAPE = (2, RINGS, ANGLES)
DEGREES_PER_SHIFT = 360.0 / ANGLES


@dataclass(frozen=True)
class IrisCode:
    bits: np.ndarray  # bool SHAPE
    mask: np.ndarray  # bool SHAPE: True where the bit is usable

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
