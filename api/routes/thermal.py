"""Body temperature from a radiometric file: upload a frame, give the eyes (or a face
box) in its pixels, get the canthus and core temperatures and the decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import Context
from domain.errors import DomainError
from models.thermal.flir import ThermalFormatError
from models.thermal.measure import measure, parse_numbers

router = APIRouter(prefix="/thermal", tags=["thermal"])


def _numbers(value: str | None, count: int, field: str) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    try:
        return parse_numbers(value, count, field)
    except ValueError:
        raise DomainError.single(
            field,
            "bad_coordinates",
            f"Cần {count} số, cách nhau bởi dấu phẩy.",
            f"Expected {count} comma-separated numbers.",
        ) from None


@router.post("/measure")
async def measure_frame(
    ctx: Context,
    file: Annotated[UploadFile, File(description="FLIR R-JPEG, .seq, 16-bit PNG/TIFF, .npy, .npz")],
    eyes: Annotated[str | None, Form(description="x1,y1,x2,y2 in thermal pixels")] = None,
    face_box: Annotated[str | None, Form(description="x,y,w,h in thermal pixels")] = None,
    nose: Annotated[str | None, Form(description="x,y of the nose tip")] = None,
    ambient_c: Annotated[float | None, Form(ge=-20, le=60)] = None,
    frame: Annotated[int, Form(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    e = _numbers(eyes, 4, "eyes")
    b = _numbers(face_box, 4, "face_box")
    n = _numbers(nose, 2, "nose")
    if b is not None and (b[2] <= 0 or b[3] <= 0):
        raise DomainError.single(
            "face_box",
            "bad_coordinates",
            "Kích thước khung mặt phải dương.",
            "Box size must be positive.",
        )
    data = await file.read()
    try:
        # numpy work off the event loop: other requests keep flowing meanwhile
        return await run_in_threadpool(
            measure,
            data,
            name=file.filename or "",
            eyes=((e[0], e[1]), (e[2], e[3])) if e else None,
            face_box=(b[0], b[1], b[2], b[3]) if b else None,
            nose=(n[0], n[1]) if n else None,
            ambient_c=ambient_c,
            frame=frame,
            policy=ctx.screening,
        )
    except ThermalFormatError as err:
        raise DomainError.single("file", err.code, err.message_vi, err.message_en) from None
