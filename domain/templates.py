"""Biometric templates at rest (face embeddings, iris codes): sealed with AES-256-GCM,
bound to their person.

A template is biometric data of a citizen: stored only sealed, only for people who
consented (or who showed a valid QR at a checkpoint), and only for the retention
period. The person id (and, for an iris, the eye) is the GCM associated data, so a
sealed template moved to another person's key fails to open instead of silently
matching the wrong person.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TEMPLATE_DIM = 128
_VERSION = b"\x01"
_NONCE = 12


class TemplateSources:
    DECLARATION = "declaration_selfie"  # consented at declaration time
    CHECKPOINT = "checkpoint"  # first passage with a valid QR


@dataclass(frozen=True)
class Template:
    person_id: str
    embedding: np.ndarray  # (128,) float32, L2-normalised
    source: str
    enrolled_at: int  # unix seconds
    expires_at: int


def normalised(embedding: np.ndarray) -> np.ndarray:
    v = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if v.shape != (TEMPLATE_DIM,) or not np.isfinite(v).all():
        raise ValueError(f"a template is {TEMPLATE_DIM} finite numbers")
    n = float(np.linalg.norm(v))
    if n == 0:
        raise ValueError("a template cannot be all zeros")
    return v / n


def _meta(source: str, enrolled_at: int, expires_at: int) -> bytes:
    return json.dumps(
        {"source": source, "enrolled_at": enrolled_at, "expires_at": expires_at}
    ).encode()


def _seal(key: bytes, bound_to: str, plain: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plain, bound_to.encode())


def _open(key: bytes, bound_to: str, blob: bytes) -> bytes:
    if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
        raise ValueError("not a sealed template")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], bound_to.encode())
    except InvalidTag:
        raise ValueError("template does not open with this key for this person") from None


def seal(key: bytes, t: Template) -> bytes:
    plain = normalised(t.embedding).astype("<f4").tobytes()
    return _seal(key, t.person_id, plain + _meta(t.source, t.enrolled_at, t.expires_at))


def open_sealed(key: bytes, person_id: str, blob: bytes) -> Template:
    """Raises ValueError when the blob is not a template sealed for this person."""
    plain = _open(key, person_id, blob)
    size = TEMPLATE_DIM * 4
    meta = json.loads(plain[size:])
    return Template(
        person_id,
        np.frombuffer(plain[:size], dtype="<f4").astype(np.float32),
        meta["source"],
        int(meta["enrolled_at"]),
        int(meta["expires_at"]),
    )


# --- iris --------------------------------------------------------------------------------

IRIS_CODE_BYTES = 512  # 2048 code bits then 2048 mask bits (models.iris.code)


class Eye(StrEnum):
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class IrisTemplate:
    person_id: str
    eye: Eye
    code: bytes  # IRIS_CODE_BYTES: the packed code and mask
    source: str
    enrolled_at: int
    expires_at: int

    @property
    def entry(self) -> str:
        return iris_entry(self.person_id, self.eye)


def iris_entry(person_id: str, eye: Eye) -> str:
    """One gallery entry per eye of a person: `<person>/<eye>`."""
    return f"{person_id}/{eye.value}"


def entry_person(entry: str) -> tuple[str, Eye]:
    person_id, _, eye = entry.rpartition("/")
    return person_id, Eye(eye)


def seal_iris(key: bytes, t: IrisTemplate) -> bytes:
    if len(t.code) != IRIS_CODE_BYTES:
        raise ValueError(f"an iris template is {IRIS_CODE_BYTES} bytes")
    return _seal(key, "iris:" + t.entry, t.code + _meta(t.source, t.enrolled_at, t.expires_at))


def open_iris(key: bytes, entry: str, blob: bytes) -> IrisTemplate:
    """Raises ValueError when the blob is not this eye's sealed iris template."""
    plain = _open(key, "iris:" + entry, blob)
    meta = json.loads(plain[IRIS_CODE_BYTES:])
    person_id, eye = entry_person(entry)
    return IrisTemplate(
        person_id,
        eye,
        plain[:IRIS_CODE_BYTES],
        meta["source"],
        int(meta["enrolled_at"]),
        int(meta["expires_at"]),
    )
