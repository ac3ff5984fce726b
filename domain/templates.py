"""Face templates at rest: sealed with AES-256-GCM, bound to their person.

A template is biometric data of a citizen: stored only sealed, only for people who
consented (or who showed a valid QR at a checkpoint), and only for the retention
period. The person id is the GCM associated data, so a sealed template moved to
another person's key fails to open instead of silently matching the wrong person.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

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


def seal(key: bytes, t: Template) -> bytes:
    meta = json.dumps(
        {"source": t.source, "enrolled_at": t.enrolled_at, "expires_at": t.expires_at}
    ).encode()
    plain = normalised(t.embedding).astype("<f4").tobytes() + meta
    nonce = os.urandom(_NONCE)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plain, t.person_id.encode())


def open_sealed(key: bytes, person_id: str, blob: bytes) -> Template:
    """Raises ValueError when the blob is not a template sealed for this person."""
    if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
        raise ValueError("not a sealed template")
    try:
        plain = AESGCM(key).decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], person_id.encode())
    except InvalidTag:
        raise ValueError("template does not open with this key for this person") from None
    size = TEMPLATE_DIM * 4
    meta = json.loads(plain[size:])
    return Template(
        person_id,
        np.frombuffer(plain[:size], dtype="<f4").astype(np.float32),
        meta["source"],
        int(meta["enrolled_at"]),
        int(meta["expires_at"]),
    )
