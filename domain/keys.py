"""The server's Ed25519 signing key: from settings in production, generated once into
the data folder in development."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from dichte.domain.settings import Settings
from dichte.domain.tokens import VerifyingKeys


def encode_private_key(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


def _key_bytes(text: str, what: str) -> bytes:
    """32 bytes, base64-encoded: every key here is that long."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes, base64-encoded")
    return raw


def decode_private_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_key_bytes(text, "the signing key (Ed25519)"))


def decode_public_key(text: str) -> Ed25519PublicKey:
    raw = _key_bytes(text, "a previous signing key (an Ed25519 public key)")
    return Ed25519PublicKey.from_public_bytes(raw)


def development_key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "signing.key"


def _development_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret generated once into the data folder, shared by every process."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two processes starting together agree on one key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(make() + "\n")
    return path.read_text()


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    if settings.signing_key is not None:
        return decode_private_key(settings.signing_key.get_secret_value())
    return decode_private_key(
        _development_secret(
            development_key_path(settings),
            lambda: encode_private_key(Ed25519PrivateKey.generate()),
        )
    )


def verifying_keys(signing_key: Ed25519PrivateKey, settings: Settings) -> VerifyingKeys:
    """The signing key's public key, then DICHTE_PREVIOUS_SIGNING_KEYS' (a rotation)."""
    previous = [k for k in settings.previous_signing_keys.split(",") if k.strip()]
    return VerifyingKeys(signing_key.public_key(), [decode_public_key(k) for k in previous])


def new_template_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def load_template_keys(settings: Settings) -> tuple[bytes, ...]:
    """The AES-256-GCM key that seals face and iris templates at rest, then
    DICHTE_PREVIOUS_TEMPLATE_KEYS' (which only open: a rotation under way)."""
    text = (
        settings.template_key.get_secret_value()
        if settings.template_key is not None
        else _development_secret(settings.data_dir / "keys" / "template.key", new_template_key)
    )
    previous = settings.previous_template_keys
    earlier = [k for k in (previous.get_secret_value() if previous else "").split(",")]
    what = "a template key (AES-256)"
    return (_key_bytes(text, what), *(_key_bytes(k, what) for k in earlier if k.strip()))
