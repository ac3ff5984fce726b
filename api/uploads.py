"""Photo uploads: decoded off the event loop with bounded memory; a bad file is a 422
on its field with the reason (`not_an_image`, `truncated`, `too_large`, ...)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import File, UploadFile
from starlette.concurrency import run_in_threadpool

from domain.errors import DomainError
from models.images import ImageError, decode_image

ImageFile = Annotated[UploadFile, File(description="JPEG, PNG, WebP, BMP or TIFF photo")]


async def read_image(upload: UploadFile, field: str, max_pixels: int) -> np.ndarray:
    data = await upload.read()
    try:
        return await run_in_threadpool(decode_image, data, max_pixels=max_pixels)
    except ImageError as e:
        raise DomainError.single(field, e.code, e.message_vi, e.message_en) from None
