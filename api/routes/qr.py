"""Offline-verifiable QR tokens: verify one, or fetch the public key to verify locally."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import Context
from api.uploads import ImageFile, read_image
from domain.errors import DomainError
from domain.tokens import QR_PREFIX, public_key_bytes, verify_qr
from models.qr import decode_qr

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


@router.post("/decode")
async def decode_qr_photo(ctx: Context, image: ImageFile) -> dict[str, Any]:
    """QR codes in a camera photo; a declaration QR among them is verified offline."""
    frame = await read_image(image, "image", ctx.max_image_pixels)
    codes = await run_in_threadpool(decode_qr, frame)
    out = []
    for code in codes:
        item: dict[str, Any] = {"text": code.text, "points": [list(p) for p in code.points]}
        if code.text.startswith(QR_PREFIX):
            try:
                claims = verify_qr(ctx.signing_key.public_key(), code.text)
                item["declaration"] = {"valid": True, "claims": claims.as_public_dict()}
            except DomainError as e:
                item["declaration"] = {"valid": False, "errors": e.body()["errors"]}
        out.append(item)
    return {"codes": out}
