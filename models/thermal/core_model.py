"""Skin → core: the oral temperature estimated from the inner-canthus maximum and the
ambient temperature, fitted on the FDA/PhysioNet facial-vs-oral table.

Model: oral = c0 + c1·canthus + c2·ambient + c3·max(0, canthus − knot), a line with
one bend. The bend matters: below the knot (~36 °C) the canthus varies mostly with skin
cooling and little with the core; above it the core follows the canthus more than one
to one, so a single straight line under-reads exactly the people the screen is for
(held-out MAE 0.25 → 0.21 °C). Unlike a square term it stays monotonic, so a colder
face never reads as a warmer core. The knot is chosen on the training volunteers
only (least squares over a 0.1 °C grid). Fitted on single readings
(each of a volunteer's four rounds is one sample), because a checkpoint gets one look.
The split is by volunteer, seeded, so the held-out figures are for unseen people.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from dichte.models.thermal.policy import ScreeningPolicy

FEATURES = ("1", "canthus", "ambient", "max(0, canthus - knot)")
KNOTS = np.round(np.arange(34.8, 37.01, 0.1), 1)
SOURCE = (
    "PhysioNet 'Facial and oral temperature data from a large set of human subject "
    "volunteers' v1.0.0, doi:10.13026/3bhc-9065 (FLIR_groups1and2.csv, aveOralM)"
)
ROUNDS = 4


@dataclass(frozen=True)
class CoreEstimate:
    core_c: float
    uncertainty_c: float  # one standard deviation
    extrapolated: bool  # an input lay outside what the model was fitted on


@dataclass(frozen=True)
class CoreModel:
    coefficients: tuple[float, float, float, float]
    knot_c: float
    residual_sd_c: float
    canthus_range_c: tuple[float, float]
    ambient_range_c: tuple[float, float]
    source: str = SOURCE

    def estimate(
        self, canthus_c: float, ambient_c: float, measurement_sd_c: float = 0.0
    ) -> CoreEstimate:
        lo, hi = self.ambient_range_c
        # Outside the fitted ambient range hold the ambient at the nearest edge (the
        # term is small, ~0.03 °C per °C) and widen the uncertainty instead of trusting
        # a slope nobody measured there.
        held = min(max(ambient_c, lo), hi)
        c0, c1, c2, c3 = self.coefficients
        bent = canthus_c > self.knot_c
        core = c0 + c1 * canthus_c + c2 * held + c3 * max(0.0, canthus_c - self.knot_c)
        outside = abs(ambient_c - held)
        c_lo, c_hi = self.canthus_range_c
        extrapolated = outside > 0 or not c_lo <= canthus_c <= c_hi
        # d(core)/d(canthus) carries the measurement error through the line.
        slope = c1 + (c3 if bent else 0.0)
        sd = float(
            np.sqrt(self.residual_sd_c**2 + (slope * measurement_sd_c) ** 2 + (0.05 * outside) ** 2)
        )
        return CoreEstimate(float(core), sd, extrapolated)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CoreModel:
        d = json.loads(text)
        return cls(
            coefficients=tuple(d["coefficients"]),
            knot_c=float(d["knot_c"]),
            residual_sd_c=float(d["residual_sd_c"]),
            canthus_range_c=tuple(d["canthus_range_c"]),
            ambient_range_c=tuple(d["ambient_range_c"]),
            source=d.get("source", SOURCE),
        )


@lru_cache(maxsize=1)
def default_core_model() -> CoreModel:
    """The model shipped in the package (refit with `dichte thermal fit-core`)."""
    text = resources.files("dichte.models.thermal").joinpath("core_model.json").read_text()
    return CoreModel.from_json(text)


@dataclass(frozen=True)
class Volunteer:
    subject: str
    canthus_rounds: tuple[float, ...]  # canthiMax per round that was recorded
    ambient_c: float
    oral_c: float


def read_fda_table(path: Path) -> list[Volunteer]:
    """Volunteers with an oral reference, an ambient reading and ≥ 1 canthus reading."""
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            rounds = tuple(
                float(v) for i in range(1, ROUNDS + 1) if (v := row.get(f"canthiMax{i}", ""))
            )
            if rounds and row.get("aveOralM") and row.get("T_atm"):
                out.append(
                    Volunteer(row["SubjectID"], rounds, float(row["T_atm"]), float(row["aveOralM"]))
                )
    return out


def split_volunteers(
    volunteers: list[Volunteer], seed: int = 7, test_fraction: float = 0.2
) -> tuple[list[Volunteer], list[Volunteer]]:
    order = np.random.default_rng(seed).permutation(len(volunteers))
    n_test = int(len(volunteers) * test_fraction)
    test = {int(i) for i in order[:n_test]}
    return (
        [v for i, v in enumerate(volunteers) if i not in test],
        [v for i, v in enumerate(volunteers) if i in test],
    )


def _samples(volunteers: list[Volunteer]) -> tuple[np.ndarray, np.ndarray]:
    rows = [(c, v.ambient_c, v.oral_c) for v in volunteers for c in v.canthus_rounds]
    a = np.array(rows, dtype=np.float64)
    return a[:, :2], a[:, 2]


def _design(x: np.ndarray, knot: float) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x[:, 0], x[:, 1], np.maximum(0.0, x[:, 0] - knot)])


def fit_core_model(train: list[Volunteer]) -> CoreModel:
    x, y = _samples(train)
    fits = []
    for knot in KNOTS:
        design = _design(x, float(knot))
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = design @ coef - y
        fits.append((float((residual**2).sum()), float(knot), coef, residual))
    _, knot, coef, residual = min(fits, key=lambda f: f[0])
    return CoreModel(
        coefficients=tuple(round(float(c), 8) for c in coef),  # type: ignore[arg-type]
        knot_c=knot,
        residual_sd_c=round(float(residual.std(ddof=len(coef))), 4),
        canthus_range_c=(float(x[:, 0].min()), float(x[:, 0].max())),
        ambient_range_c=(float(x[:, 1].min()), float(x[:, 1].max())),
    )


@dataclass(frozen=True)
class Evaluation:
    readings: int
    volunteers: int
    mae_c: float
    rmse_c: float
    febrile: int  # readings whose oral reference is ≥ the threshold
    sensitivity: float
    specificity: float


def evaluate(model: CoreModel, test: list[Volunteer], policy: ScreeningPolicy) -> Evaluation:
    """Single-reading errors against the oral reference, and the screen's hit rates
    (febrile: oral at or over the policy's fever threshold)."""
    x, y = _samples(test)
    est = np.array([model.estimate(c, a).core_c for c, a in x])
    err = est - y
    febrile = y >= policy.fever_threshold_c
    flagged = policy.elevated(est)
    return Evaluation(
        readings=len(y),
        volunteers=len(test),
        mae_c=float(np.abs(err).mean()),
        rmse_c=float(np.sqrt((err**2).mean())),
        febrile=int(febrile.sum()),
        sensitivity=float((flagged & febrile).sum() / max(1, febrile.sum())),
        specificity=float((~flagged & ~febrile).sum() / max(1, (~febrile).sum())),
    )
