"""`dichte thermal ...` and `dichte sim`: radiometric files and synthetic checkpoints
from the command line (plain Python; no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

thermal = typer.Typer(help="Radiometric thermal files: read, screen a face, fit the model.")
console = Console(stderr=True)
out = Console()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(2)


def _calibration(path: Path | None) -> Any:
    from dichte.models.thermal.formats import load_calibration

    if path is None:
        return None
    try:
        return load_calibration(json.loads(path.read_text()))
    except (OSError, ValueError) as e:
        raise _fail(f"calibration {path}: {e}") from None


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as e:
        raise _fail(f"{file}: {e.strerror}") from None


FileArg = Annotated[Path, typer.Argument(help="FLIR R-JPEG, .seq, 16-bit PNG/TIFF, .npy or .npz")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
FrameOpt = Annotated[int, typer.Option(help="Frame of a .seq video")]
CalOpt = Annotated[
    Path | None,
    typer.Option(help="JSON with Planck constants / object parameters (raw counts input)"),
]


def _policy() -> Any:
    """The fever line from DICHTE_FEVER_THRESHOLD_C / DICHTE_FEVER_SCREEN_MARGIN_C, as the
    API and the checkpoints apply it."""
    from pydantic import ValidationError

    from dichte.domain.settings import Settings
    from dichte.services.vision import screening_policy

    try:
        return screening_policy(Settings())
    except ValidationError as e:
        raise _fail(f"settings refused: {e}") from None


def _measure(file: Path, frame: int, calibration: Path | None, **face: Any) -> dict[str, Any]:
    from dichte.models.errors import ThermalFormatError
    from dichte.models.thermal.measure import measure

    try:
        return measure(
            _read(file),
            name=file.name,
            frame=frame,
            calibration=_calibration(calibration),
            policy=_policy(),
            **face,
        )
    except ThermalFormatError as e:
        raise _fail(f"{file}: {e.message_en}") from None


@thermal.command()
def read(
    file: FileArg,
    out_npy: Annotated[
        Path | None, typer.Option("--out", help="Write the float32 °C map (rows × columns)")
    ] = None,
    as_json: JsonOpt = False,
    frame: FrameOpt = 0,
    calibration: CalOpt = None,
) -> None:
    """Decode a radiometric file: size, min/mean/max °C and the metadata used."""
    summary = _measure(file, frame, calibration, keep_celsius=out_npy is not None)
    celsius = summary.pop("celsius", None)
    if out_npy is not None:
        np.save(out_npy, celsius)
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"{file.name}: {summary['width']}×{summary['height']}  "
        f"min {summary['min_c']:.2f} °C  mean {summary['mean_c']:.2f} °C  "
        f"max {summary['max_c']:.2f} °C"
    )
    for key, value in summary["metadata"].items():
        out.print(f"  {key}: {value}")


@thermal.command()
def face(
    file: FileArg,
    eyes: Annotated[str, typer.Option(help="Eye centres in thermal pixels: x1,y1,x2,y2")],
    nose: Annotated[str | None, typer.Option(help="Nose tip x,y (checks head turn)")] = None,
    ambient: Annotated[
        float | None, typer.Option(help="Air temperature °C (default: the camera's setting)")
    ] = None,
    as_json: JsonOpt = False,
    frame: FrameOpt = 0,
    calibration: CalOpt = None,
) -> None:
    """Inner-canthus temperature, the core estimate and the screening decision."""
    from dichte.domain.points import parse_numbers

    try:
        x1, y1, x2, y2 = parse_numbers(eyes, 4, "--eyes")
        nose_xy = parse_numbers(nose, 2, "--nose") if nose else None
    except ValueError as e:
        raise _fail(str(e)) from None
    result = _measure(
        file,
        frame,
        calibration,
        eyes=((x1, y1), (x2, y2)),
        nose=(nose_xy[0], nose_xy[1]) if nose_xy else None,
        ambient_c=ambient,
    )
    keys = ("canthus_c", "core_c", "uncertainty_c", "decision", "reason", "detail", "ambient_c")
    if as_json:
        out.print_json(json.dumps({k: result[k] for k in keys}))
        return
    if result["canthus_c"] is None:
        out.print(f"invalid: {result['reason']} — {result['detail']}")
        return
    out.print(
        f"canthus {result['canthus_c']:.2f} °C → core {result['core_c']:.2f} ± "
        f"{result['uncertainty_c']:.2f} °C ({result['decision']}; ambient "
        f"{result['ambient_c']:.1f} °C from {result['ambient_source']})"
    )


@thermal.command("fit-core")
def fit_core(
    table: Annotated[Path, typer.Argument(help="FDA/PhysioNet FLIR_groups1and2.csv")],
    write: Annotated[
        Path | None, typer.Option("--out", help="Write the fitted model JSON here")
    ] = None,
    seed: int = 7,
) -> None:
    """Fit skin → core on the FDA table; print the held-out error and screen rates."""
    from dichte.models.thermal.core_model import (
        evaluate,
        fit_core_model,
        read_fda_table,
        split_volunteers,
    )

    train, test = split_volunteers(read_fda_table(table), seed=seed)
    model = fit_core_model(train)
    result = evaluate(model, test, _policy())
    if write:
        write.write_text(model.to_json())
    out.print_json(json.dumps({"model": json.loads(model.to_json()), "held_out": vars(result)}))


def sim(
    out_dir: Annotated[Path, typer.Argument(help="Where frames and truth.json go")],
    people: int = 20,
    seed: int = 0,
    rate: Annotated[float, typer.Option(help="Vehicles per minute")] = 12.0,
    febrile: Annotated[float, typer.Option(help="Fraction of people with fever")] = 0.1,
    ambient: Annotated[float, typer.Option(help="Air temperature °C")] = 26.0,
    blackbody: Annotated[bool, typer.Option(help="A blackbody patch in the scene")] = True,
    faces: Annotated[
        Path | None,
        typer.Option(
            help="Labelled face photos to composite (laid out as ../shared/data/faces: "
            "labels/*.csv and the photos); default: synthetic faces"
        ),
    ] = None,
) -> None:
    """Render a synthetic checkpoint: visible JPEGs, centi-kelvin thermal PNGs and the
    ground truth (per person: identity, core temperature, fever, declaration, QR shown,
    arrival, face per frame)."""
    from dichte.models.thermal.simulator import SimConfig, write_scenes

    if faces is not None and not (faces / "labels").is_dir():
        raise _fail(f"{faces}: no labels/ folder of labelled face photos")
    config = SimConfig(
        seed=seed,
        people=people,
        arrivals_per_min=rate,
        febrile_fraction=febrile,
        ambient_c=ambient,
        blackbody=blackbody,
        faces_dir=faces,
    )
    try:
        truth = write_scenes(config, out_dir)
    except (OSError, ValueError, KeyError) as e:
        raise _fail(f"sim: {e}") from None
    persons = truth["persons"]
    assert isinstance(persons, list)
    frames = sum(len(p["frames"]) for p in persons)
    febrile_n = sum(p["fever"] for p in persons)
    identities = len({p["identity"] for p in persons})
    with_qr = sum(f["qr_shown"] for p in persons for f in p["frames"])
    out.print(
        f"{len(persons)} people ({febrile_n} febrile, {identities} identities), {frames} frames "
        f"({with_qr} with a QR shown) → {out_dir}/visible, {out_dir}/thermal, "
        f"{out_dir}/truth.json"
    )
