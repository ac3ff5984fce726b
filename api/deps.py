"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Header, Request

from actors.epi_service import EpiService
from actors.face_service import FaceService
from api.metrics import ApiMetrics
from domain.errors import DomainError
from domain.records import Stored, Write
from domain.tokens import StaffClaims, verify_staff
from models.thermal.screening import DEFAULT_POLICY, ScreeningPolicy


class DeclarationGateway(Protocol):
    """The store as the API sees it: a Ray actor in Serve, the plain store elsewhere."""

    async def submit(self, write: Write) -> Stored: ...

    async def get(self, declaration_id: str) -> str | None: ...

    async def ping(self) -> bool: ...


@dataclass(frozen=True)
class ApiContext:
    declarations: DeclarationGateway
    epi: EpiService
    signing_key: Ed25519PrivateKey
    metrics: ApiMetrics
    qr_ttl: timedelta
    venue_registrations_per_hour: int
    trust_forwarded_for: bool
    base_url: str
    screening: ScreeningPolicy = DEFAULT_POLICY
    faces: FaceService | None = None  # None: face recognition not deployed here
    max_image_pixels: int = 40_000_000


async def _context(request: Request) -> ApiContext:
    # async: a plain def dependency would be sent to the thread pool on every request
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(_context)]


async def _staff(
    ctx: Context, authorization: Annotated[str | None, Header()] = None
) -> StaffClaims:
    if not authorization or not authorization.startswith("Bearer "):
        raise DomainError.single(
            "Authorization",
            "unauthorized",
            "Cần mã nhân viên (Authorization: Bearer ...).",
            "A staff bearer token is required (Authorization: Bearer ...).",
            status=401,
        )
    try:
        return verify_staff(ctx.signing_key.public_key(), authorization[len("Bearer ") :])
    except DomainError as e:
        raise DomainError(e.errors, status=401) from None


async def _optional_staff(
    ctx: Context, authorization: Annotated[str | None, Header()] = None
) -> StaffClaims | None:
    return None if authorization is None else await _staff(ctx, authorization)


Staff = Annotated[StaffClaims, Depends(_staff)]
MaybeStaff = Annotated[StaffClaims | None, Depends(_optional_staff)]


def forbidden() -> DomainError:
    return DomainError.single(
        "request",
        "forbidden",
        "Mục này nằm ngoài địa bàn của bạn.",
        "This is outside your area.",
        status=403,
    )


def not_found(field: str, what_vi: str, what_en: str) -> DomainError:
    return DomainError.single(
        field, "not_found", f"Không tìm thấy {what_vi}.", f"No such {what_en}.", status=404
    )
