"""What routes depend on, as Annotated aliases: the services, and who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Header, Request

from dichte.api.metrics import ApiMetrics
from dichte.api.replay_guard import Replays
from dichte.domain.errors import DomainError
from dichte.domain.tokens import StaffClaims, Verifier, verify_staff
from dichte.services.cases import CaseService
from dichte.services.checkins import CheckinService
from dichte.services.checkpoints import CheckpointService
from dichte.services.declarations import DeclarationService
from dichte.services.faces import FaceService
from dichte.services.flags import FlagService
from dichte.services.inspections import InspectionService
from dichte.services.iris import IrisService
from dichte.services.reports import ReportService
from dichte.services.screening import ScreeningService
from dichte.services.units import UnitService
from dichte.services.venues import VenueService
from dichte.services.vision import VisionService


@dataclass(frozen=True)
class Services:
    """Everything the routes call; built once per process (replica) by the app's owner."""

    declarations: DeclarationService
    venues: VenueService
    checkins: CheckinService
    cases: CaseService
    vision: VisionService
    checkpoints: CheckpointService
    units: UnitService
    flags: FlagService
    inspections: InspectionService
    reports: ReportService
    public_key: Verifier  # staff tokens: the signing key's, and earlier keys' in a rotation
    metrics: ApiMetrics
    trust_forwarded_for: bool = False
    faces: FaceService | None = None  # None: face recognition not deployed here
    iris: IrisService | None = None  # None: iris recognition not deployed here
    screenings: ScreeningService | None = None  # None: no inference here (standalone)
    replays: Replays | None = None  # None: writes are not guarded against repeats


async def _services(request: Request) -> Services:
    # async: a plain def dependency would be sent to the thread pool on every request
    services: Services = request.app.state.services
    return services


AllServices = Annotated[Services, Depends(_services)]


async def _declarations(s: AllServices) -> DeclarationService:
    return s.declarations


async def _venues(s: AllServices) -> VenueService:
    return s.venues


async def _checkins(s: AllServices) -> CheckinService:
    return s.checkins


async def _cases(s: AllServices) -> CaseService:
    return s.cases


async def _vision(s: AllServices) -> VisionService:
    return s.vision


async def _checkpoints(s: AllServices) -> CheckpointService:
    return s.checkpoints


async def _units(s: AllServices) -> UnitService:
    return s.units


async def _flags(s: AllServices) -> FlagService:
    return s.flags


async def _inspections(s: AllServices) -> InspectionService:
    return s.inspections


async def _reports(s: AllServices) -> ReportService:
    return s.reports


async def _screenings(s: AllServices) -> ScreeningService:
    if s.screenings is None:
        raise DomainError.of("request", "faces_unavailable")
    return s.screenings


async def _faces(s: AllServices) -> FaceService:
    if s.faces is None:
        raise DomainError.of("request", "faces_unavailable")
    return s.faces


Declarations = Annotated[DeclarationService, Depends(_declarations)]
Venues = Annotated[VenueService, Depends(_venues)]
Checkins = Annotated[CheckinService, Depends(_checkins)]
Cases = Annotated[CaseService, Depends(_cases)]
Vision = Annotated[VisionService, Depends(_vision)]
Faces = Annotated[FaceService, Depends(_faces)]


async def _iris(s: AllServices) -> IrisService:
    if s.iris is None:
        raise DomainError.of("request", "iris_unavailable")
    return s.iris


Irises = Annotated[IrisService, Depends(_iris)]
Checkpoints = Annotated[CheckpointService, Depends(_checkpoints)]
Screenings = Annotated[ScreeningService, Depends(_screenings)]
Units = Annotated[UnitService, Depends(_units)]
Flags = Annotated[FlagService, Depends(_flags)]
Inspections = Annotated[InspectionService, Depends(_inspections)]
Reports = Annotated[ReportService, Depends(_reports)]


async def bearer_staff(s: Services, authorization: str | None) -> StaffClaims:
    """The staff member an `Authorization: Bearer …` value names; 401 otherwise."""
    if not authorization or not authorization.startswith("Bearer "):
        raise DomainError.of("Authorization", "unauthorized")
    try:
        return verify_staff(s.public_key, authorization[len("Bearer ") :])
    except DomainError as e:
        raise DomainError(e.errors, status=401) from None


def bearer_or_query(authorization: str | None, access_token: str | None) -> str | None:
    """The Authorization header, else the token given in the query (EventSource and
    <img> send no headers)."""
    return authorization or (f"Bearer {access_token}" if access_token else None)


async def _staff(
    s: AllServices,
    authorization: Annotated[
        str | None, Header(description="Bearer <staff token> (`dichte token`)")
    ] = None,
) -> StaffClaims:
    return await bearer_staff(s, authorization)


async def _optional_staff(
    s: AllServices,
    authorization: Annotated[
        str | None, Header(description="Bearer <staff token>, when staff act")
    ] = None,
) -> StaffClaims | None:
    return None if authorization is None else await _staff(s, authorization)


Staff = Annotated[StaffClaims, Depends(_staff)]
MaybeStaff = Annotated[StaffClaims | None, Depends(_optional_staff)]


async def _client_address(s: AllServices, request: Request) -> str:
    """Who is asking, for rate limits: the last X-Forwarded-For entry behind a load
    balancer that sets it (trust_forwarded_for), else the peer address."""
    forwarded = request.headers.get("x-forwarded-for", "")
    trusted = forwarded.split(",")[-1].strip() if s.trust_forwarded_for else ""
    return trusted or (request.client.host if request.client else "unknown")


ClientAddress = Annotated[str, Depends(_client_address)]

# The form fields that name a person by their declaration (biometric enrolment, forget).
PersonToken = Annotated[str, Form(max_length=300, description="The person's declaration QR")]
ReceiptSecret = Annotated[
    str | None,
    Form(
        max_length=100,
        description="The receipt secret the declaration's submit returned (the citizen's "
        "phone keeps it); not needed with a staff token",
    ),
]
