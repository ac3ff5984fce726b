"""The server's Ed25519 signing key: from settings in production, generated once into
the data folder in development."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from dichte.domain.settings import Settings


def encode_private_key(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


def decode_private_key(text: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the signing key is not base64") from None
    if len(raw) != 32:
        raise ValueError("the signing key must be 32 bytes (Ed25519), base64-encoded")
    return Ed25519PrivateKey.from_private_bytes(raw)


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


def new_template_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def load_template_key(settings: Settings) -> bytes:
    """The AES-256-GCM key that seals face templates at rest."""
    text = (
        settings.template_key.get_secret_value()
        if settings.template_key is not None
        else _development_secret(settings.data_dir / "keys" / "template.key", new_template_key)
    )
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the template key is not base64") from None
    if len(raw) != 32:
        raise ValueError("the template key must be 32 bytes (AES-256), base64-encoded")
    return raw
