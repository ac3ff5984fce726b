"""Body temperature from a radiometric file: upload a frame, give the eyes (or a face
box) in its pixels, get the canthus and core temperatures and the decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from dichte.api.deps import Vision
from dichte.api.errors import documented
from dichte.api.uploads import ThermalFile
from dichte.services.vision import ThermalMeasurement, thermal_request

router = APIRouter(prefix="/thermal", tags=["thermal"])


@router.post(
    "/measure", response_model=ThermalMeasurement, responses=documented(400, 413, 422, 503)
)
async def measure_frame(
    vision: Vision,
    file: ThermalFile,
    eyes: Annotated[str | None, Form(description="x1,y1,x2,y2 in thermal pixels")] = None,
    face_box: Annotated[str | None, Form(description="x,y,w,h in thermal pixels")] = None,
    nose: Annotated[str | None, Form(description="x,y of the nose tip")] = None,
    ambient_c: Annotated[float | None, Form(ge=-20, le=60)] = None,
    frame: Annotated[int, Form(ge=0, le=100_000)] = 0,
) -> ThermalMeasurement:
    request = thermal_request(file.filename or "", eyes, face_box, nose, ambient_c, frame)
    return await vision.measure(await file.read(), request)
