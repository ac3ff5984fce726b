"""`dichte faces ...`, `dichte iris compare` and `dichte qr decode`: the checkpoint's
vision on one machine, with the same rules the served API applies (no Ray needed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer
from rich.console import Console

faces = typer.Typer(help="Face detection and verification on local photos.")
qr = typer.Typer(help="QR codes in camera photos.")
iris = typer.Typer(help="Iris comparison of local near-infrared eye images.")
console = Console(stderr=True)
out = Console()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
T = TypeVar("T")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        console.print(f"[red]{path}: {e.strerror}[/red]")
        raise typer.Exit(2) from None


def _image(path: Path) -> np.ndarray:
    from dichte.models.images import ImageError, decode_image

    try:
        return decode_image(_read(path))
    except ImageError as e:
        console.print(f"[red]{path}: {e.message_en}[/red]")
        raise typer.Exit(2) from None


def _answer(call: Coroutine[Any, Any, T]) -> T:
    """The service's answer, or its refusal said on stderr (exit status 2)."""
    from dichte.domain.errors import DomainError

    try:
        return asyncio.run(call)
    except DomainError as e:
        console.print(f"[red]{e.errors[0].field}: {e.errors[0].message_en}[/red]")
        raise typer.Exit(2) from None


@faces.command()
def verify(
    image_a: Path,
    image_b: Path,
    threshold: Annotated[
        float | None, typer.Option(help="Cosine threshold (default: DICHTE_FACE_MATCH_THRESHOLD)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Are the largest faces of two photos the same person?"""
    from dichte.domain.settings import Settings
    from dichte.services.faces import FaceService
    from dichte.serving.local import LocalInference

    s = Settings()
    service = FaceService(
        LocalInference(s.data_dir / "models", s.max_image_pixels),
        None,
        s.face_match_threshold if threshold is None else threshold,
    )
    result = _answer(service.verify(_read(image_a), _read(image_b)))
    if as_json:
        out.print_json(result.model_dump_json(include={"same", "score", "threshold"}))
        return
    verdict = "same person" if result.same else "different people"
    out.print(f"{verdict}: cosine {result.score:.3f} (threshold {result.threshold})")


@iris.command()
def compare(
    image_a: Path,
    image_b: Path,
    threshold: Annotated[
        float | None,
        typer.Option(help="Hamming distance threshold (default: DICHTE_IRIS_MATCH_THRESHOLD)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Are the irises of two eye images the same eye?"""
    from dichte.domain.settings import Settings
    from dichte.services.iris import IrisService
    from dichte.serving.local import LocalIris

    s = Settings()
    service = IrisService(
        LocalIris(s.max_image_pixels),
        None,
        s.iris_match_threshold if threshold is None else threshold,
    )
    result = _answer(service.compare(_read(image_a), _read(image_b)))
    if as_json:
        out.print_json(result.model_dump_json(include={"hd", "same", "threshold"}))
        return
    verdict = "same eye" if result.same else "different eyes"
    out.print(
        f"{verdict}: Hamming distance {result.hd:.3f} (threshold {result.threshold}), "
        f"turned {result.rotation_deg:+.1f}°, {result.bits_compared} bits compared"
    )


@qr.command()
def decode(image: Path, as_json: JsonOpt = False) -> None:
    """Every QR code in a photo, with its corner points."""
    from dichte.models.qr import decode_qr

    codes = decode_qr(_image(image))
    found = [{"text": c.text, "points": [list(p) for p in c.points]} for c in codes]
    if as_json:
        out.print_json(json.dumps({"codes": found}))
        return
    if not found:
        out.print("no QR code found")
    for c in found:
        out.print(c["text"])
