"""A synthetic road checkpoint with ground truth: people arrive in vehicles, face a
visible camera and a radiometric thermal camera side by side, and every number the
screen should find is known.

The thermal frame is built from physics a screening thermograph sees: background and
road at ambient, a warm engine, skin 33–36 °C with a cooler nose, hair and edges, the
inner canthus as the hottest spot, glasses opaque in long-wave IR, optics blur,
sensor noise (NETD), a slow camera offset drift, and a blackbody patch at a known
set-point. Faces in the visible frame are simple synthetic ones; the two cameras are
related by a fixed similarity transform (the checkpoint's homography).

The anatomy here is its own (a person's canthus offset is sampled from anthropometry),
not the measuring code's constants, so measuring simulator output tests something.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

# Population the simulator draws from. Healthy oral temperature ~ N(36.9, 0.3); the
# febrile ones 37.6–39.5. Skin at the canthus follows the core with a slope below one,
# rises with the ambient temperature and scatters from person to person: the forward
# regression of canthus on oral and ambient over the FDA/PhysioNet table (4,013
# readings; residual SD 0.33 °C), the opposite direction of the screen's model.
HEALTHY_CORE = (36.9, 0.3)
FEBRILE_CORE = (37.6, 39.5)
CANTHUS_AT_37 = 35.84
CANTHUS_PER_CORE = 0.80
CANTHUS_PER_AMBIENT = 0.085
CANTHUS_SCATTER = 0.33


@dataclass(frozen=True)
class SimConfig:
    seed: int = 0
    people: int = 20
    arrivals_per_min: float = 12.0
    febrile_fraction: float = 0.1
    glasses_fraction: float = 0.1
    far_fraction: float = 0.05  # too far for the 32-px rule
    turned_fraction: float = 0.05  # frames with the head turned away
    defocus_fraction: float = 0.05  # frames out of focus
    fps: float = 5.0
    seconds_in_view: float = 1.6
    ambient_c: float = 26.0  # inside the range the skin→core model was fitted on
    size: tuple[int, int] = (640, 480)  # both cameras, width × height
    netd_c: float = 0.05
    blur_px: float = 0.7
    drift_c_per_min: float = 0.02  # camera offset, slow (~1.2 °C an hour)
    drift_wobble_c: float = 0.3  # plus a slow oscillation (camera housing heating)
    blackbody: bool = True
    blackbody_set_point_c: float = 35.0
    blackbody_roi: tuple[int, int, int, int] = (596, 16, 28, 28)
    # visible → thermal: scale, rotation (degrees), shift (pixels)
    homography_params: tuple[float, float, float, float] = (0.96, 1.5, 14.0, -10.0)

    def homography(self) -> np.ndarray:
        s, deg, tx, ty = self.homography_params
        c, n = s * math.cos(math.radians(deg)), s * math.sin(math.radians(deg))
        return np.array([[c, -n, tx], [n, c, ty], [0.0, 0.0, 1.0]])


@dataclass
class FaceInFrame:
    frame: int
    t_s: float
    face_box: tuple[int, int, int, int]  # visible pixels, x y w h
    eyes: tuple[float, float, float, float]  # visible pixels, x1 y1 x2 y2
    nose: tuple[float, float]
    eyes_thermal: tuple[float, float, float, float]
    nose_thermal: tuple[float, float]
    eye_distance_thermal_px: float
    yaw: float  # nose offset in eye distances
    blur_px: float
    drift_c: float


@dataclass
class Person:
    id: str
    core_c: float
    fever: bool
    canthus_c: float
    canthus_offset: float  # where the inner canthus lies, fraction of eye distance
    glasses: bool
    far: bool
    vehicle: str
    arrival_s: float
    frames: list[FaceInFrame] = field(default_factory=list)


@dataclass
class SimFrame:
    index: int
    t_s: float
    visible_bgr: np.ndarray
    thermal_c: np.ndarray
    person: Person


def _apply(h: np.ndarray, x: float, y: float) -> tuple[float, float]:
    p = h @ np.array([x, y, 1.0])
    return float(p[0] / p[2]), float(p[1] / p[2])


class CheckpointSimulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        w, h = config.size
        self._background = self._thermal_background(w, h)
        self._visible_background = self._visible_scene(w, h)
        self.people: list[Person] = []

    # -- population ---------------------------------------------------------------
    def _draw_person(self, i: int, arrival_s: float) -> Person:
        c, r = self.config, self.rng
        fever = bool(r.random() < c.febrile_fraction)
        core = (
            float(r.uniform(*FEBRILE_CORE))
            if fever
            else float(np.clip(r.normal(*HEALTHY_CORE), 35.8, 37.4))
        )
        canthus = (
            CANTHUS_AT_37
            + CANTHUS_PER_CORE * (core - 37.0)
            + CANTHUS_PER_AMBIENT * (c.ambient_c - 25.0)
            + float(r.normal(0.0, CANTHUS_SCATTER))
        )
        ipd, icd = r.normal(63.0, 3.5), r.normal(32.0, 2.5)  # mm, adults
        return Person(
            id=f"P{i + 1:04d}",
            core_c=round(core, 3),
            fever=core >= 37.5,
            canthus_c=round(canthus, 3),
            canthus_offset=round(float((ipd - icd) / 2 / ipd), 4),
            glasses=bool(r.random() < c.glasses_fraction),
            far=bool(r.random() < c.far_fraction),
            vehicle=str(r.choice(["motorbike", "car", "truck"], p=[0.7, 0.25, 0.05])),
            arrival_s=round(arrival_s, 3),
        )

    # -- scenes -------------------------------------------------------------------
    def _thermal_background(self, w: int, h: int) -> np.ndarray:
        amb = self.config.ambient_c
        rows = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        bg = np.full((h, w), amb - 2.0, np.float32)  # sky and trees, a little cooler
        bg += np.where(rows > 0.62, 4.0 * (rows - 0.62) / 0.38, 0.0).astype(
            np.float32
        )  # sunlit road
        texture = cv2.GaussianBlur(self.rng.normal(0, 0.6, (h, w)).astype(np.float32), (0, 0), 6)
        return bg + texture

    def _visible_scene(self, w: int, h: int) -> np.ndarray:
        img = np.zeros((h, w, 3), np.uint8)
        img[: int(h * 0.62)] = (200, 170, 120)  # sky-ish
        img[int(h * 0.62) :] = (90, 90, 90)  # asphalt
        cv2.line(img, (0, int(h * 0.8)), (w, int(h * 0.8)), (230, 230, 230), 3)
        noise = self.rng.integers(0, 12, (h, w, 1), dtype=np.uint8)
        return cv2.add(img, np.repeat(noise, 3, axis=2))

    def _pose(self, person: Person, k: int, n: int) -> tuple[float, float, float]:
        """Eye midpoint (visible px) and eye distance for frame k of n: approaching."""
        w, h = self.config.size
        f = k / max(n - 1, 1)
        d = (22.0 if person.far else 40.0) + f * (8.0 if person.far else 22.0)
        return w * (0.42 + 0.12 * f), h * (0.36 + 0.04 * f), d

    def frames(self) -> Iterator[SimFrame]:
        """Every frame with a person in view, in time order. People drawn lazily, so a
        long run streams in constant memory; `self.people` fills as it goes."""
        c = self.config
        t_free, index = 0.0, 0
        n = max(1, round(c.seconds_in_view * c.fps))
        for i in range(c.people):
            # A single lane: the next vehicle reaches the camera when the last has left.
            t_free += float(self.rng.exponential(60.0 / c.arrivals_per_min))
            person = self._draw_person(i, t_free)
            self.people.append(person)
            for k in range(n):
                t = person.arrival_s + k / c.fps
                yield self._render(index, t, person, k, n)
                index += 1
            t_free = person.arrival_s + n / c.fps

    def drift(self, t_s: float) -> float:
        c = self.config
        return c.drift_c_per_min * t_s / 60.0 + c.drift_wobble_c * math.sin(2 * math.pi * t_s / 600)

    def _render(self, index: int, t: float, person: Person, k: int, n: int) -> SimFrame:
        c, r = self.config, self.rng
        mx, my, d = self._pose(person, k, n)
        roll = float(r.normal(0, 3))
        yaw = float(
            r.choice([0.0, 0.35]) if r.random() < c.turned_fraction * 2 else r.normal(0, 0.04)
        )
        blur = c.blur_px * (5.0 if r.random() < c.defocus_fraction else 1.0)
        ux, uy = math.cos(math.radians(roll)), math.sin(math.radians(roll))
        eye_a = (mx - d / 2 * ux, my - d / 2 * uy)
        eye_b = (mx + d / 2 * ux, my + d / 2 * uy)
        nose = (mx + yaw * d * ux - 0.55 * d * uy, my + yaw * d * uy + 0.55 * d * ux)
        hmat = c.homography()
        ta, tb, tn = _apply(hmat, *eye_a), _apply(hmat, *eye_b), _apply(hmat, *nose)
        d_th = math.dist(ta, tb)
        drift = self.drift(t)

        visible = self._visible_background.copy()
        self._draw_vehicle(visible, person, mx, my, d)
        box = self._draw_face_visible(visible, person, eye_a, eye_b, nose, d, roll)

        thermal = self._background.copy()
        self._draw_vehicle_thermal(thermal, person, hmat, mx, my, d)
        self._draw_face_thermal(thermal, person, ta, tb, tn)
        if c.blackbody:
            x, y, w, h = c.blackbody_roi
            thermal[y : y + h, x : x + w] = c.blackbody_set_point_c
        noise = r.normal(0.0, c.netd_c, thermal.shape).astype(np.float32)
        # Optics blur, sensor noise, and the camera's offset error moving the whole frame.
        thermal = (cv2.GaussianBlur(thermal, (0, 0), blur) + noise + drift).astype(np.float32)

        person.frames.append(
            FaceInFrame(
                frame=index,
                t_s=round(t, 3),
                face_box=box,
                eyes=tuple(round(v, 2) for v in (*eye_a, *eye_b)),  # type: ignore[arg-type]
                nose=(round(nose[0], 2), round(nose[1], 2)),
                eyes_thermal=tuple(round(v, 2) for v in (*ta, *tb)),  # type: ignore[arg-type]
                nose_thermal=(round(tn[0], 2), round(tn[1], 2)),
                eye_distance_thermal_px=round(d_th, 2),
                yaw=round(yaw, 3),
                blur_px=blur,
                drift_c=round(drift, 4),
            )
        )
        return SimFrame(index, t, visible, thermal, person)

    # -- drawing ------------------------------------------------------------------
    def _draw_vehicle(self, img: np.ndarray, p: Person, mx: float, my: float, d: float) -> None:
        colour = {"motorbike": (40, 40, 160), "car": (160, 160, 170), "truck": (30, 120, 200)}
        x0, x1 = int(mx - 3.2 * d), int(mx + 3.2 * d)
        y0 = int(my + 2.2 * d)
        cv2.rectangle(img, (x0, y0), (x1, img.shape[0] - 1), colour[p.vehicle], -1)

    def _draw_vehicle_thermal(
        self, frame: np.ndarray, p: Person, hmat: np.ndarray, mx: float, my: float, d: float
    ) -> None:
        amb = self.config.ambient_c
        x0, y0 = _apply(hmat, mx - 3.2 * d, my + 2.2 * d)
        x1, _ = _apply(hmat, mx + 3.2 * d, my + 2.2 * d)
        warm = {"motorbike": 12.0, "car": 6.0, "truck": 9.0}[p.vehicle]  # engine heat
        frame[max(int(y0), 0) :, max(int(x0), 0) : max(int(x1), 0)] = amb + warm

    def _draw_face_visible(
        self,
        img: np.ndarray,
        p: Person,
        a: tuple[float, float],
        b: tuple[float, float],
        nose: tuple[float, float],
        d: float,
        roll: float,
    ) -> tuple[int, int, int, int]:
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        centre = (int(mx), int(my + 0.35 * d))
        axes = (int(1.15 * d), int(1.55 * d))
        skin = (120, 160, 200)
        cv2.ellipse(img, centre, axes, roll, 0, 360, skin, -1)
        cv2.ellipse(
            img,
            (centre[0], int(my - 0.9 * d)),
            (int(1.15 * d), int(0.6 * d)),
            roll,
            180,
            360,
            (30, 30, 40),
            -1,
        )
        for e in (a, b):
            centre = (int(e[0]), int(e[1]))

            def ring(ax: float, ay: float, colour: tuple[int, int, int], width: int) -> None:
                axes = (int(ax * d), int(ay * d))
                cv2.ellipse(img, centre, axes, roll, 0, 360, colour, width)  # noqa: B023

            ring(0.2, 0.09, (245, 245, 245), -1)  # the white of the eye
            cv2.circle(img, centre, max(int(0.07 * d), 1), (40, 30, 20), -1)
            if p.glasses:
                ring(0.3, 0.22, (20, 20, 20), 2)
        cv2.circle(img, (int(nose[0]), int(nose[1])), max(int(0.08 * d), 1), (100, 130, 180), -1)
        cv2.ellipse(
            img,
            (int(mx), int(my + 1.05 * d)),
            (int(0.35 * d), int(0.1 * d)),
            roll,
            0,
            360,
            (80, 80, 170),
            -1,
        )
        x0, y0 = int(mx - 1.15 * d), int(my + 0.35 * d - 1.55 * d)
        return (x0, y0, int(2.3 * d), int(3.1 * d))

    def _draw_face_thermal(
        self,
        frame: np.ndarray,
        p: Person,
        a: tuple[float, float],
        b: tuple[float, float],
        nose: tuple[float, float],
    ) -> None:
        amb = self.config.ambient_c
        d = math.dist(a, b)
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        ux, uy = (b[0] - a[0]) / d, (b[1] - a[1]) / d
        h, w = frame.shape
        x0, x1 = max(int(mx - 1.4 * d), 0), min(int(mx + 1.4 * d) + 1, w)
        y0, y1 = max(int(my - 1.6 * d), 0), min(int(my + 2.2 * d) + 1, h)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        # Face coordinates in eye distances: u along the eye line, v down the face.
        u = ((xx - mx) * ux + (yy - my) * uy) / d
        v = (-(xx - mx) * uy + (yy - my) * ux) / d
        head = (u / 1.15) ** 2 + ((v - 0.35) / 1.55) ** 2
        inside = head <= 1.0
        c = p.canthus_c
        skin = c - 1.3 - 1.2 * np.clip(head, 0, 1) ** 3  # cooler towards the edges
        skin = np.where(v < -0.3, np.maximum(skin, c - 1.0 - 0.8 * np.clip(head, 0, 1) ** 3), skin)
        # Nose: cooler towards the tip, along the (possibly turned) nose direction.
        nu = ((nose[0] - mx) * ux + (nose[1] - my) * uy) / d
        nose_zone = (np.abs(u - nu * np.clip(v / 0.55, 0, 1)) < 0.14) & (v > 0.15) & (v < 0.7)
        skin = np.where(nose_zone, c - 2.0 - 1.5 * np.clip((v - 0.15) / 0.55, 0, 1), skin)
        hair = v < -0.85
        skin = np.where(hair, amb + 3.0, skin)
        # Eyes (cornea cooler than the canthus) and the inner canthi, flat-topped.
        for side in (-1.0, 1.0):
            eye = ((u - side * 0.5) / 0.2) ** 2 + (v / 0.09) ** 2 <= 1.0
            skin = np.where(eye, c - 0.7, skin)
            cu = side * (0.5 - p.canthus_offset)
            r2 = (u - cu) ** 2 + (v - 0.01) ** 2
            spot = np.clip(
                (0.075 - np.sqrt(r2)) / 0.025, 0, 1
            )  # 1 inside radius 0.05, 0 past 0.075
            skin = skin + spot * (c - skin)
            if p.glasses:
                lens = ((u - side * 0.5) / 0.3) ** 2 + (v / 0.22) ** 2 <= 1.0
                skin = np.where(lens, amb + 1.5, skin)
        if p.glasses:
            skin = np.where((np.abs(u) < 0.2) & (np.abs(v) < 0.04), amb + 2.0, skin)
        region = frame[y0:y1, x0:x1]
        region[inside] = skin[inside]

    # -- output -------------------------------------------------------------------
    def truth(self) -> dict[str, object]:
        c = self.config
        return {
            "config": asdict(c),
            "homography_visible_to_thermal": c.homography().round(8).tolist(),
            "thermal_encoding": "uint16 PNG, centi-kelvin (K × 100), like FLIR Lepton TLinear",
            "blackbody": {"roi": c.blackbody_roi, "set_point_c": c.blackbody_set_point_c}
            if c.blackbody
            else None,
            "persons": [asdict(p) for p in self.people],
        }


def write_scenes(config: SimConfig, out: Path) -> dict[str, object]:
    """Frames under out/visible (JPEG) and out/thermal (16-bit PNG, centi-kelvin), plus
    out/truth.json. Returns the truth."""
    (out / "visible").mkdir(parents=True, exist_ok=True)
    (out / "thermal").mkdir(parents=True, exist_ok=True)
    sim = CheckpointSimulator(config)
    for f in sim.frames():
        cv2.imwrite(str(out / "visible" / f"{f.index:06d}.jpg"), f.visible_bgr)
        ck = np.clip(np.round((f.thermal_c + 273.15) * 100), 0, 65535).astype(np.uint16)
        cv2.imwrite(str(out / "thermal" / f"{f.index:06d}.png"), ck)
    truth = sim.truth()
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth
