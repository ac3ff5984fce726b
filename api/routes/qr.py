"""Offline-verifiable QR tokens: verify one, fetch the public key to verify locally, or
read the QR codes in a camera photo."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dichte.api.deps import Declarations, Vision
from dichte.api.errors import documented
from dichte.api.uploads import ImageFile
from dichte.services.declarations import PublicKey, QrVerification
from dichte.services.vision import QrDecoded

router = APIRouter(prefix="/qr", tags=["qr"])


class VerifyRequest(BaseModel):
    token: str = Field(max_length=1000)


@router.post("/verify", response_model=QrVerification, responses=documented(400, 410, 413, 422))
async def verify_token(body: VerifyRequest, declarations: Declarations) -> QrVerification:
    return declarations.verification(body.token)


@router.get("/public-key", response_model=PublicKey)
async def public_key(declarations: Declarations) -> PublicKey:
    """What a checkpoint device stores to verify QR codes without a network."""
    return declarations.public_key()


@router.post("/decode", response_model=QrDecoded, responses=documented(400, 413, 422, 503))
async def decode_qr_photo(vision: Vision, image: ImageFile) -> QrDecoded:
    """QR codes in a camera photo; a declaration QR among them is verified offline."""
    return await vision.decode_qr(await image.read())
