"""File uploads: read into memory within the body limit (`BodySizeLimit`) and handed on
as bytes; decoding happens in the inference deployments, never in an API replica."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, UploadFile

ImageFile = Annotated[UploadFile, File(description="JPEG, PNG, WebP, BMP or TIFF photo")]
ThermalFile = Annotated[
    UploadFile, File(description="FLIR R-JPEG, .seq, 16-bit PNG/TIFF, .npy or .npz")
]
