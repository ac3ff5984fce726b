"""Offline-verifiable QR tokens: verify one, or fetch the public key to verify locally."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Context
from domain.tokens import public_key_bytes, verify_qr

router = APIRouter(prefix="/qr", tags=["qr"])


class VerifyRequest(BaseModel):
    token: str = Field(max_length=1000)


@router.post("/verify")
async def verify_token(body: VerifyRequest, ctx: Context) -> dict[str, Any]:
    claims = verify_qr(ctx.signing_key.public_key(), body.token)
    return {"valid": True, "claims": claims.as_public_dict()}


@router.get("/public-key")
async def public_key(ctx: Context) -> dict[str, str]:
    """What a checkpoint device stores to verify QR codes without a network."""
    pub = ctx.signing_key.public_key()
    return {
        "algorithm": "Ed25519",
        "raw_base64": base64.b64encode(public_key_bytes(pub)).decode(),
        "pem": pub.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(),
    }
