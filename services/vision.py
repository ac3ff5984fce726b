"""What a checkpoint's cameras show: body temperature from a radiometric frame, and QR
codes in a photo (a declaration QR among them verified offline). The pixels are
worked on by the inference deployments (through a `Vision` client); this service
parses the request, keeps the rules and shapes the answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, Field

from dichte.domain.errors import DomainError
from dichte.domain.points import parse_numbers as numbers
from dichte.domain.settings import Settings
from dichte.domain.tokens import QR_PREFIX
from dichte.models.errors import InputError
from dichte.models.results import QrCode
from dichte.models.thermal.policy import ScreeningPolicy
from dichte.models.thermal.screening import Screening
from dichte.services.declarations import DeclarationService
from dichte.services.faces import InferenceBusy, refused_input

Point = tuple[float, float]


@dataclass(frozen=True)
class ThermalRequest:
    """Where the face is in the thermal frame (eyes, or a face box), and the context."""

    name: str = ""  # the file's name: tells .seq and .npz apart
    eyes: tuple[Point, Point] | None = None
    face_box: tuple[float, float, float, float] | None = None
    nose: Point | None = None
    ambient_c: float | None = None
    frame: int = 0


class Vision(Protocol):
    """The client of the thermal and QR deployments."""

    async def measure(self, data: bytes, request: ThermalRequest) -> dict[str, Any]: ...
    async def read_qr(self, photo: bytes) -> list[QrCode]: ...  # bytes or a decoded frame
    async def stored_photo(self, photo: bytes) -> bytes: ...  # checked, scaled, as JPEG

    async def read_passage(
        self,
        frames: list[tuple[str, bytes]],
        homography: list[list[float]],
        faces: list[tuple[Point, Point, Point] | None],
        blackbody: tuple[tuple[int, int, int, int], float] | None,
        ats: list[float],
    ) -> list[Screening | None]:
        """A pushed passage's radiometric frames → the reading at each face's canthus."""
        ...


class ThermalMeasurement(BaseModel):
    width: int
    height: int
    min_c: float
    mean_c: float
    max_c: float
    metadata: dict[str, Any] = Field(description="What the file said and what was used")
    canthus_c: float | None = Field(None, description="With eyes or a face box")
    core_c: float | None = None
    uncertainty_c: float | None = None
    decision: str | None = Field(None, description="normal, elevated or invalid")
    reason: str | None = Field(None, description="Why invalid")
    detail: str | None = None
    ambient_c: float | None = None
    ambient_source: str | None = Field(None, description="given, camera or frame_median")


class DeclarationCheck(BaseModel):
    valid: bool
    claims: dict[str, object] | None = None
    errors: list[dict[str, str]] | None = None


class DecodedQr(BaseModel):
    text: str
    points: list[list[float]] = Field(description="The code's four corners, in pixels")
    declaration: DeclarationCheck | None = Field(
        None, description="For a declaration QR (DT1.…): verified offline"
    )


class QrDecoded(BaseModel):
    codes: list[DecodedQr]


def parse_numbers(text: str | None, count: int, field: str) -> tuple[float, ...] | None:
    """'x1,y1,x2,y2' → floats; None when not given; 422 on `field` otherwise."""
    if text is None or text.strip() == "":
        return None
    try:
        return numbers(text, count, field)
    except ValueError:
        raise DomainError.of(field, "bad_coordinates", count=count) from None


def thermal_request(
    name: str,
    eyes: str | None,
    face_box: str | None,
    nose: str | None,
    ambient_c: float | None,
    frame: int,
) -> ThermalRequest:
    """The form fields of a measurement, checked."""
    e = parse_numbers(eyes, 4, "eyes")
    b = parse_numbers(face_box, 4, "face_box")
    n = parse_numbers(nose, 2, "nose")
    if b is not None and (b[2] <= 0 or b[3] <= 0):
        raise DomainError.of("face_box", "bad_coordinates", count=4)
    return ThermalRequest(
        name=name,
        eyes=((e[0], e[1]), (e[2], e[3])) if e else None,
        face_box=(b[0], b[1], b[2], b[3]) if b else None,
        nose=(n[0], n[1]) if n else None,
        ambient_c=ambient_c,
        frame=frame,
    )


class VisionService:
    def __init__(self, vision: Vision | None, declarations: DeclarationService) -> None:
        self._vision = vision
        self._declarations = declarations

    def _client(self) -> Vision:
        if self._vision is None:
            raise DomainError.of("request", "vision_unavailable")
        return self._vision

    async def measure(self, data: bytes, request: ThermalRequest) -> ThermalMeasurement:
        try:
            return ThermalMeasurement(**await self._client().measure(data, request))
        except InferenceBusy:
            raise DomainError.of("request", "busy") from None
        except InputError as e:
            raise refused_input("file", e) from None

    async def decode_qr(self, photo: bytes) -> QrDecoded:
        try:
            codes = await self._client().read_qr(photo)
        except InferenceBusy:
            raise DomainError.of("request", "busy") from None
        except InputError as e:
            raise refused_input("image", e) from None
        return QrDecoded(codes=[self._checked(c) for c in codes])

    async def stored_photo(self, photo: bytes, field: str = "photo") -> bytes:
        """A photo to keep, through the same bounded decoder as every upload."""
        try:
            return await self._client().stored_photo(photo)
        except InferenceBusy:
            raise DomainError.of("request", "busy") from None
        except InputError as e:
            raise refused_input(field, e) from None

    def _checked(self, code: QrCode) -> DecodedQr:
        check = None
        if code.text.startswith(QR_PREFIX):
            try:
                claims = self._declarations.verify(code.text)
                check = DeclarationCheck(valid=True, claims=claims.as_public_dict())
            except DomainError as e:
                check = DeclarationCheck(valid=False, errors=e.body()["errors"])
        return DecodedQr(
            text=code.text, points=[[float(x), float(y)] for x, y in code.points], declaration=check
        )


def screening_policy(settings: Settings) -> ScreeningPolicy:
    """The fever line from the settings: what the API, the cameras and the CLI apply."""
    return ScreeningPolicy(
        fever_threshold_c=settings.fever_threshold_c, margin_c=settings.fever_screen_margin_c
    )
