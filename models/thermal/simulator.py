"""A synthetic road checkpoint with ground truth: people arrive in vehicles, face a
visible camera and a radiometric thermal camera side by side, and every number the
screen should find is known.

The thermal frame is built from physics a screening thermograph sees: background and
road at ambient, a warm engine, skin 33–36 °C with a cooler nose, hair and edges, the
inner canthus as the hottest spot, glasses opaque in long-wave IR, optics blur,
sensor noise (NETD), a slow camera offset drift, and a blackbody patch at a known
set-point. The two cameras are related by a fixed similarity transform (the
checkpoint's homography).

Faces in the visible frame are simple synthetic ones, or, given a folder of labelled
photos (`faces_dir`: ../shared/data/faces), real faces a detector finds: each photo
is warped so its own eye landmarks land on the frame's eyes and blended in with a soft
mask, and the thermal face follows the same landmarks (eyes, nose, mouth), so eyes
found in the visible frame and mapped by the homography land on the thermal canthus.
People then have identities (some come back, shown with another photo of themselves),
and declared ones may hold up a phone with their declaration QR (or someone else's).

The anatomy here is its own (a person's canthus offset is sampled from anthropometry),
not the measuring code's constants, so measuring simulator output tests something.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import segno

if TYPE_CHECKING:
    from dichte.models.faces.pipeline import FaceDetector

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
    # Real faces: a folder laid out as ../shared/data/faces (labels/*.csv and photos);
    # None draws synthetic faces.
    faces_dir: Path | None = None
    returning_fraction: float = 0.3  # arrivals who are someone seen before
    declared_fraction: float = 0.85  # identities with a health declaration
    qr_fraction: float = 0.7  # declared people who hold up their QR (real faces only)
    qr_shared_fraction: float = 0.05  # of those, showing another declared person's QR
    # Seconds at least between one vehicle leaving the cameras and the next arriving (a
    # lane's traffic has headway); 0 keeps the earlier runs' timing.
    min_headway_s: float = 0.0

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
    qr_shown: bool = False  # a phone with a declaration QR held up in this frame
    phone_box: tuple[int, int, int, int] | None = None  # visible pixels, x y w h


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
    identity: str  # "deepface:P01", "face_recognition:barack_obama"; "synthetic:<n>"
    photo: str | None  # relative to faces_dir; None for synthetic faces
    declared: bool
    qr_owner: str | None  # whose declaration QR this person shows; None: shows none
    frames: list[FaceInFrame] = field(default_factory=list)


@dataclass
class SimFrame:
    index: int
    t_s: float
    visible_bgr: np.ndarray
    thermal_c: np.ndarray
    person: Person
    qr_text: str | None = None  # what the phone in this frame shows


Point2 = tuple[float, float]


def _apply(h: np.ndarray, x: float, y: float) -> tuple[float, float]:
    p = h @ np.array([x, y, 1.0])
    return float(p[0] / p[2]), float(p[1] / p[2])


# -- real faces ------------------------------------------------------------------------

# The label tables name one person twice: facenet-pytorch's angelina_jolie is deepface's
# cluster P01 (faces/labels/face_recognition_identities.csv, its label_source).
SAME_PERSON = {"facenet_pytorch:angelina_jolie": "deepface:P01"}
# What of a photo is composited: an ellipse in face coordinates (eye distances, origin
# between the eyes, v down the face) taking in hair, ears and chin, feathered at its rim
# so the face sits in the scene. A photo is used only if the face proper (a smaller
# ellipse) lies wholly inside it: a face cut by the photo's edge would be cut here too.
PHOTO_MASK = (1.45, 1.85, 0.3)  # half-width, half-height, v of the centre
PHOTO_FEATHER = 0.15  # of the ellipse's radius
FACE_PROPER = (1.0, 1.3, 0.35)
# Photos are kept at eye distances of at most this, halved down to at least the least:
# warping one down by more than 2× would alias.
LEVEL_EYE_PX = (128.0, 16.0)
# Head turns: depth (towards the camera, eye distances) of an ellipsoidal head, of the
# midface (mouth and chin stand ~1 cm before the eyes) and of a nose ridge (its tip
# ~3 cm), so a turned head moves the nose and mouth off the eyes' midpoint.
HEAD_DEPTH = 0.55
MIDFACE_HEIGHT, MIDFACE_WIDTH = 0.2, 0.35
NOSE_HEIGHT, NOSE_WIDTH = 0.45, 0.25
# The phone held up beside the face: QR modules in pixels per eye distance (held out
# towards the camera, so larger than the face's scale would make it), its bezel in
# modules, and how far it is warmed above the air by the hand holding it.
QR_MODULE_PER_EYE_DISTANCE = 0.08
PHONE_BEZEL = (1, 3)  # sides, ends
PHONE_SOURCE_PX = 4  # pixels per module of the phone picture before it is warped
PHONE_WARMTH_C = 2.5


@dataclass(frozen=True)
class LabelledPhoto:
    path: str  # relative to the faces folder
    identity: str


def labelled_photos(faces_dir: Path) -> list[LabelledPhoto]:
    """The single-person photos of the label tables (../shared/data/MANIFEST.md §1) that
    are present, each with its identity: deepface's clusters P01–P13 and the
    face_recognition / facenet-pytorch names."""
    labels = faces_dir / "labels"
    photos = []
    with (labels / "deepface_identity_clusters.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            identity = f"deepface:{row['identity_cluster']}"
            photos.append(LabelledPhoto(f"deepface/{row['file']}", identity))
    with (labels / "face_recognition_identities.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["faces_expected"] != "1":
                continue  # which of several faces is whose is not labelled
            identity = f"{row['file'].split('/')[0]}:{row['identities']}"
            photos.append(LabelledPhoto(row["file"], SAME_PERSON.get(identity, identity)))
    return [p for p in photos if (faces_dir / p.path).is_file()]


# Each photo's largest face, found once per file version and detector setting.
_LANDMARKS: dict[tuple[str, int, int, str], tuple[np.ndarray, tuple[int, int]] | None] = {}


def photo_landmarks(
    path: Path, detector: FaceDetector
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The 5 landmarks (eyes image-left and right, nose tip, mouth corners) of the
    photo's largest face and the photo's (height, width); None without a face."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, detector.params.model_dump_json())
    if key not in _LANDMARKS:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        faces = detector.run(image) if image is not None else []
        if image is None or not faces:
            _LANDMARKS[key] = None
        else:
            largest = max(faces, key=lambda f: f.box[2] * f.box[3])
            shape = (int(image.shape[0]), int(image.shape[1]))
            _LANDMARKS[key] = (largest.landmarks.astype(np.float64), shape)
    return _LANDMARKS[key]


def _face_axes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Midpoint, unit vectors along the eye line and down the face, eye distance."""
    d = float(np.hypot(*(b - a)))
    along = (b - a) / d
    return (a + b) / 2, along, np.array([-along[1], along[0]]), d


def _face_inside(landmarks: np.ndarray, shape: tuple[int, int]) -> bool:
    mid, along, down, d = _face_axes(landmarks[0], landmarks[1])
    half_w, half_h, centre_v = FACE_PROPER
    t = np.linspace(0, 2 * math.pi, 72)
    rim = (
        mid
        + np.outer(half_w * d * np.cos(t), along)
        + np.outer((centre_v + half_h * np.sin(t)) * d, down)
    )
    h, w = shape
    return bool(np.all((rim >= 0) & (rim <= [w - 1, h - 1])))


def _similarity(src: tuple[np.ndarray, np.ndarray], dst: tuple[Point2, Point2]) -> np.ndarray:
    """2×3 similarity taking the two `src` points exactly onto the two `dst` points."""
    (sa, sb), (da, db) = src, dst
    k = complex(db[0] - da[0], db[1] - da[1]) / complex(sb[0] - sa[0], sb[1] - sa[1])
    t = complex(*da) - k * complex(sa[0], sa[1])
    return np.array([[k.real, -k.imag, t.real], [k.imag, k.real, t.imag]])


class _PhotoFace:
    """One photo ready to composite: area-averaged copies at a few scales, each with its
    landmarks."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.levels: list[tuple[np.ndarray, np.ndarray]] = []
        eye = float(np.hypot(*(landmarks[1] - landmarks[0])))
        scale = min(1.0, LEVEL_EYE_PX[0] / eye)
        while True:
            h, w = image.shape[:2]
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            if (nw, nh) != (w, h):
                image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
                # Pixel centres: x' + 0.5 = (x + 0.5) · nw / w.
                landmarks = (landmarks + 0.5) * [nw / w, nh / h] - 0.5
                eye *= nw / w
            self.levels.append((image, landmarks))
            if eye / 2 < LEVEL_EYE_PX[1]:
                break
            scale = 0.5

    def for_eye_distance(self, d: float) -> tuple[np.ndarray, np.ndarray]:
        """The smallest copy whose eyes are at least `d` apart (the largest if none)."""
        chosen = self.levels[0]
        for image, landmarks in self.levels:
            if np.hypot(*(landmarks[1] - landmarks[0])) >= d:
                chosen = (image, landmarks)
        return chosen


@dataclass(frozen=True)
class _Turn:
    """A head turned about its vertical axis by `angle` radians, in face coordinates (u
    along the eye line, v down the face, eye distances, origin between the eyes): each
    point moves along the eye line to u·cos + depth·sin, so the face narrows and the
    nose, standing out of it, moves furthest. Depth is measured from the eyes, so they
    stay symmetric about the midpoint."""

    angle: float
    nose_v: float  # where the nose stands out most (its tip)

    def depth(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._relief(u, v) - self._relief(np.asarray(0.5), np.asarray(0.0))

    def _relief(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        def ramp(t: np.ndarray) -> np.ndarray:  # 0 → 1, smoothly
            t = np.clip(t, 0, 1)
            return t * t * (3 - 2 * t)

        head = 1 - (u / 1.2) ** 2 - ((v - 0.35) / 1.6) ** 2
        midface = ramp((v + 0.1) / 0.35) * (1 - ramp((v - 1.3) / 0.4))
        # The nose: from half its height at the bridge to all of it at the tip, then
        # back into the upper lip.
        ridge = (0.5 + 0.5 * ramp(v / self.nose_v)) * ramp((v + 0.15) / 0.15)
        ridge = ridge * (1 - ramp((v - self.nose_v) / 0.25))
        return (
            HEAD_DEPTH * np.sqrt(np.clip(head, 0, None))
            + MIDFACE_HEIGHT * midface * np.exp(-(u**2) / (2 * MIDFACE_WIDTH**2))
            + NOSE_HEIGHT * ridge * np.exp(-(u**2) / (2 * NOSE_WIDTH**2))
        )

    def turned(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return u * math.cos(self.angle) + self.depth(u, v) * math.sin(self.angle)

    def frontal(self, u_turned: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Where each turned point was before the turn (Newton on `turned`, which
        increases along u for turns up to ~45°)."""
        if self.angle == 0.0:
            return u_turned
        u = u_turned / math.cos(self.angle)
        step = 1e-3
        for _ in range(8):
            slope = (self.turned(u + step, v) - self.turned(u - step, v)) / (2 * step)
            u = u - (self.turned(u, v) - u_turned) / np.maximum(slope, 0.05)
        return u


class CheckpointSimulator:
    """`qr_text(identity)`: the text of that identity's declaration QR (the running
    system passes real signed tokens); None, or no callback: `SIM:<identity>`.
    `detector` finds the photos' landmarks (default: YuNet with its default settings)."""

    def __init__(
        self,
        config: SimConfig,
        qr_text: Callable[[str], str | None] | None = None,
        *,
        detector: FaceDetector | None = None,
    ) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        # Identities, declarations, QR codes and the phones draw from a stream of their
        # own: a synthetic run renders exactly what it did before they existed.
        self._people_rng = np.random.default_rng([config.seed, 1])
        self._qr_text = qr_text
        w, h = config.size
        self._background = self._thermal_background(w, h)
        self._visible_background = self._visible_scene(w, h)
        self.people: list[Person] = []
        self._seen: dict[str, list[str | None]] = {}  # identity → photos shown so far
        self._declared: dict[str, bool] = {}
        self._showing: dict[str, tuple[int, int, int, float]] = {}  # first, last, side, tilt
        self._qr_modules: dict[str, np.ndarray] = {}
        self._photos: dict[str, _PhotoFace] = {}
        self._landmarks: dict[str, np.ndarray] = {}
        self._by_identity: dict[str, list[str]] = {}
        if config.faces_dir is not None:
            self._load_catalogue(config.faces_dir, detector)

    def _load_catalogue(self, faces_dir: Path, detector: FaceDetector | None) -> None:
        if detector is None:
            from dichte.models.faces.pipeline import FaceDetector

            detector = FaceDetector()
        for label in labelled_photos(faces_dir):
            found = photo_landmarks(faces_dir / label.path, detector)
            if found is None or not _face_inside(*found):
                continue
            self._landmarks[label.path] = found[0]
            self._by_identity.setdefault(label.identity, []).append(label.path)
        if not self._landmarks:
            raise ValueError(f"no usable labelled face photos under {faces_dir}")

    def _photo(self, path: str) -> _PhotoFace:
        if path not in self._photos:
            assert self.config.faces_dir is not None
            image = cv2.imread(str(self.config.faces_dir / path), cv2.IMREAD_COLOR)
            if image is None:  # changed since its landmarks were found
                raise ValueError(f"{path}: not readable as an image")
            self._photos[path] = _PhotoFace(image, self._landmarks[path])
        return self._photos[path]

    # -- identities ---------------------------------------------------------------
    def _next_identity(self) -> tuple[str, str | None]:
        """Who arrives: someone seen before (`returning_fraction`, shown with a photo of
        them not shown yet when there is one), else someone new."""
        c, x = self.config, self._people_rng
        returning = bool(self._seen) and x.random() < c.returning_fraction
        photo: str | None = None
        if not self._by_identity:
            identity = (
                str(x.choice(sorted(self._seen)))
                if returning
                else f"synthetic:{len(self._seen) + 1}"
            )
        else:
            new = sorted(set(self._by_identity) - set(self._seen))
            pool = sorted(self._seen) if returning or not new else new
            identity = str(x.choice(pool))
            photos = self._by_identity[identity]
            shown = self._seen.get(identity, [])
            unseen = [p for p in photos if p not in shown]
            other = [p for p in photos if p != shown[-1]] if shown else photos
            photo = str(x.choice(unseen or other or photos))
        self._seen.setdefault(identity, []).append(photo)
        return identity, photo

    def _declaration(self, identity: str) -> tuple[bool, str | None]:
        """Whether the identity declared, and whose QR this passage shows (real faces
        only: a synthetic face carries no phone)."""
        c, x = self.config, self._people_rng
        if identity not in self._declared:
            self._declared[identity] = bool(x.random() < c.declared_fraction)
        declared = self._declared[identity]
        if not (declared and self._by_identity and x.random() < c.qr_fraction):
            return declared, None
        owner = identity
        others = sorted(i for i, d in self._declared.items() if d and i != identity)
        if others and x.random() < c.qr_shared_fraction:
            owner = str(x.choice(others))  # QR sharing: someone else's declaration
        return declared, owner

    # -- population ---------------------------------------------------------------
    def _draw_person(self, i: int, arrival_s: float, n_frames: int) -> Person:
        identity, photo, declared, qr_owner = self._who(f"P{i + 1:04d}", n_frames)
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
            identity=identity,
            photo=photo,
            declared=declared,
            qr_owner=qr_owner,
        )

    def _who(self, person_id: str, n_frames: int) -> tuple[str, str | None, bool, str | None]:
        identity, photo = self._next_identity()
        declared, owner = self._declaration(identity)
        if owner is not None:
            # The phone is up for a run of frames, on one side of the face, a little tilted.
            x = self._people_rng
            first = int(x.integers(0, n_frames // 2 + 1))
            last = int(x.integers(min(first + n_frames // 3, n_frames - 1), n_frames))
            side = int(x.choice([-1, 1]))
            self._showing[person_id] = (first, last, side, float(x.normal(0.0, 5.0)))
        return identity, photo, declared, owner

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
            t_free += c.min_headway_s + float(self.rng.exponential(60.0 / c.arrivals_per_min))
            person = self._draw_person(i, t_free, n)
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
        hmat = c.homography()
        drift = self.drift(t)

        visible = self._visible_background.copy()
        self._draw_vehicle(visible, person, mx, my, d)
        thermal = self._background.copy()
        self._draw_vehicle_thermal(thermal, person, hmat, mx, my, d)
        if person.photo is None:
            nose = (mx + yaw * d * ux - 0.55 * d * uy, my + yaw * d * uy + 0.55 * d * ux)
            box = self._draw_face_visible(visible, person, eye_a, eye_b, nose, d, roll)
            tn = _apply(hmat, *nose)
            self._draw_face_thermal(thermal, person, _apply(hmat, *eye_a), _apply(hmat, *eye_b), tn)
        else:
            eye_a, eye_b, nose, yaw = self._draw_photo_face(
                visible, thermal, person, eye_a, eye_b, yaw, roll
            )
            x0, y0 = int(mx - 1.15 * d), int(my + 0.35 * d - 1.55 * d)
            box = (x0, y0, int(2.3 * d), int(3.1 * d))
        qr_text, phone_box = None, None
        showing = self._showing.get(person.id)
        if person.qr_owner is not None and showing and showing[0] <= k <= showing[1]:
            qr_text = (self._qr_text(person.qr_owner) if self._qr_text else None) or (
                f"SIM:{person.qr_owner}"
            )
            phone_box = self._draw_phone(visible, thermal, qr_text, mx, my, d, *showing[2:])
        ta, tb, tn = _apply(hmat, *eye_a), _apply(hmat, *eye_b), _apply(hmat, *nose)
        d_th = math.dist(ta, tb)
        thermal = self._as_sensed(thermal, blur, drift)

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
                qr_shown=qr_text is not None,
                phone_box=phone_box,
            )
        )
        return SimFrame(index, t, visible, thermal, person, qr_text)

    def empty_road(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The visible and thermal frames at moment t with no vehicle in view (a camera
        keeps sending these between vehicles)."""
        c = self.config
        return self._visible_background.copy(), self._as_sensed(
            self._background.copy(), c.blur_px, self.drift(t)
        )

    def _as_sensed(self, thermal: np.ndarray, blur: float, drift: float) -> np.ndarray:
        """The blackbody in its corner, then optics blur, sensor noise and the camera's
        offset error moving the whole frame."""
        c = self.config
        if c.blackbody:
            x, y, w, h = c.blackbody_roi
            thermal[y : y + h, x : x + w] = c.blackbody_set_point_c
        noise = self.rng.normal(0.0, c.netd_c, thermal.shape).astype(np.float32)
        return (cv2.GaussianBlur(thermal, (0, 0), blur) + noise + drift).astype(np.float32)

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

    def _draw_photo_face(
        self,
        visible: np.ndarray,
        thermal: np.ndarray,
        p: Person,
        eye_a: Point2,
        eye_b: Point2,
        yaw: float,
        roll: float,
    ) -> tuple[Point2, Point2, Point2, float]:
        """Composite the person's photo with its eyes on `eye_a`, `eye_b`, turned by the
        head turn `yaw` asks for; draw the thermal face on the same landmarks. Returns
        the eyes and nose tip where they end up (visible pixels) and the nose's offset
        from the eyes' midpoint in eye distances (the photo's own turn included)."""
        assert p.photo is not None
        image, landmarks = self._photo(p.photo).for_eye_distance(math.dist(eye_a, eye_b))
        warp = _similarity((landmarks[0], landmarks[1]), (eye_a, eye_b))
        placed = landmarks @ warp[:, :2].T + warp[:, 2]  # the photo's landmarks, frontal
        mid, along, down, d = _face_axes(np.array(eye_a), np.array(eye_b))

        def face_uv(point: np.ndarray) -> tuple[float, float]:
            rel = (point - mid) / d
            return float(rel @ along), float(rel @ down)

        def in_frame(u: float, v: float) -> Point2:
            x, y = mid + d * (u * along + v * down)
            return float(x), float(y)

        nose_u, nose_v = face_uv(placed[2])
        nose_v = max(nose_v, 0.3)  # a nose above the eyes is a detector's slip
        mouth_v = face_uv((placed[3] + placed[4]) / 2)[1]
        nose_depth = float(_Turn(0.0, nose_v).depth(np.asarray(0.0), np.asarray(nose_v)))
        turn = _Turn(math.atan(yaw / nose_depth), nose_v)

        def turned(u: float, v: float) -> Point2:
            return in_frame(float(turn.turned(np.asarray(u), np.asarray(v))), v)

        seen_a, seen_b, seen_nose = turned(-0.5, 0.0), turned(0.5, 0.0), turned(nose_u, nose_v)
        self._composite(visible, image, warp, mid, along, down, d, turn)
        if p.glasses:
            for e in (seen_a, seen_b):
                axes = (int(0.3 * d), int(0.22 * d))
                cv2.ellipse(visible, (int(e[0]), int(e[1])), axes, roll, 0, 360, (20, 20, 20), 2)
        hmat = self.config.homography()
        self._draw_face_thermal(
            thermal,
            p,
            _apply(hmat, *eye_a),
            _apply(hmat, *eye_b),
            _apply(hmat, *in_frame(nose_u, nose_v)),
            turn=turn,
            v_scale=max(mouth_v, 0.5) / 1.05,  # the synthetic face's mouth is at 1.05
        )
        seen_d = math.dist(seen_a, seen_b)
        seen_mid = ((seen_a[0] + seen_b[0]) / 2, (seen_a[1] + seen_b[1]) / 2)
        offset = (seen_nose[0] - seen_mid[0]) * along[0] + (seen_nose[1] - seen_mid[1]) * along[1]
        return seen_a, seen_b, seen_nose, float(offset / seen_d)

    def _composite(
        self,
        img: np.ndarray,
        photo: np.ndarray,
        warp: np.ndarray,
        mid: np.ndarray,
        along: np.ndarray,
        down: np.ndarray,
        d: float,
        turn: _Turn,
    ) -> None:
        """Blend the warped photo into `img` inside the feathered face ellipse; each frame
        pixel takes the photo pixel of the point that was there before the head turned."""
        h, w = img.shape[:2]
        x0, x1 = max(int(mid[0] - 1.9 * d), 0), min(int(mid[0] + 1.9 * d) + 1, w)
        y0, y1 = max(int(mid[1] - 1.9 * d), 0), min(int(mid[1] + 2.6 * d) + 1, h)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        u = ((xx - mid[0]) * along[0] + (yy - mid[1]) * along[1]) / d
        v = ((xx - mid[0]) * down[0] + (yy - mid[1]) * down[1]) / d
        u = turn.frontal(u, v)
        fx, fy = (
            mid[0] + d * (u * along[0] + v * down[0]),
            mid[1] + d * (u * along[1] + v * down[1]),
        )
        back = cv2.invertAffineTransform(warp)
        px = (back[0, 0] * fx + back[0, 1] * fy + back[0, 2]).astype(np.float32)
        py = (back[1, 0] * fx + back[1, 1] * fy + back[1, 2]).astype(np.float32)
        face = cv2.remap(photo, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        half_w, half_h, centre_v = PHOTO_MASK
        rho = np.sqrt((u / half_w) ** 2 + ((v - centre_v) / half_h) ** 2)
        edge = np.clip((1 - rho) / PHOTO_FEATHER, 0, 1)
        # Fade out, too, where the warp reaches past the photo's own edge.
        ph, pw = photo.shape[:2]
        margin = np.minimum(np.minimum(px, pw - 1 - px), np.minimum(py, ph - 1 - py))
        scale = math.hypot(back[0, 0], back[1, 0])  # photo pixels per frame pixel
        edge = edge * np.clip(margin / (4 * scale), 0, 1)
        alpha = (edge * edge * (3 - 2 * edge))[..., None]
        region = img[y0:y1, x0:x1].astype(np.float32)
        img[y0:y1, x0:x1] = np.round(region * (1 - alpha) + face * alpha).astype(np.uint8)

    def _draw_phone(
        self,
        visible: np.ndarray,
        thermal: np.ndarray,
        text: str,
        mx: float,
        my: float,
        d: float,
        side: int,
        tilt_deg: float,
    ) -> tuple[int, int, int, int]:
        """A phone showing `text` as a QR (error correction M) held up beside the face;
        warm in the thermal frame. Returns its bounding box (visible pixels)."""
        if text not in self._qr_modules:
            qr = segno.make(text, error="m", boost_error=False, micro=False)
            rows = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
            self._qr_modules[text] = np.array(rows, dtype=bool)
        modules = self._qr_modules[text]
        n = modules.shape[0]
        (bezel_side, bezel_end), k = PHONE_BEZEL, PHONE_SOURCE_PX
        picture = np.full(((n + 2 * bezel_end) * k, (n + 2 * bezel_side) * k, 3), 38, np.uint8)
        screen = np.where(np.kron(modules, np.ones((k, k), bool)), 28, 232).astype(np.uint8)
        picture[bezel_end * k : (bezel_end + n) * k, bezel_side * k : (bezel_side + n) * k] = (
            screen[..., None]
        )
        h, w = visible.shape[:2]
        wide, tall = n + 2 * bezel_side, n + 2 * bezel_end  # in modules
        # As large as the face's scale allows, and small enough to fit beside the face.
        gap = 1.35 * d  # from the face's centre to the phone's near edge
        room = (w - 8 - (mx + gap)) if side > 0 else (mx - gap - 8)
        module = max(min(QR_MODULE_PER_EYE_DISTANCE * d, room / wide, (h - 16) / tall), 1.0)
        cx = mx + side * (gap + wide * module / 2)
        cy = min(max(my + 0.45 * d, tall * module / 2 + 8), h - 8 - tall * module / 2)
        tilt = tilt_deg + float(self._people_rng.normal(0.0, 1.5))
        place = cv2.getRotationMatrix2D(
            (picture.shape[1] / 2, picture.shape[0] / 2), tilt, module / k
        )
        place[:, 2] += (cx - picture.shape[1] / 2, cy - picture.shape[0] / 2)
        drawn = cv2.warpAffine(picture, place, (w, h), flags=cv2.INTER_LINEAR)
        cover = cv2.warpAffine(
            np.full(picture.shape[:2], 255, np.uint8), place, (w, h), flags=cv2.INTER_LINEAR
        )
        alpha = (cover.astype(np.float32) / 255)[..., None]
        visible[:] = np.round(visible * (1 - alpha) + drawn * alpha).astype(np.uint8)
        ph, pw = picture.shape[:2]
        corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64) @ place[:, :2].T
        corners += place[:, 2]
        hmat = self.config.homography()
        in_thermal = np.array([_apply(hmat, *c) for c in corners])
        cv2.fillConvexPoly(
            thermal, np.round(in_thermal).astype(np.int32), self.config.ambient_c + PHONE_WARMTH_C
        )
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))

    def _draw_face_thermal(
        self,
        frame: np.ndarray,
        p: Person,
        a: tuple[float, float],
        b: tuple[float, float],
        nose: tuple[float, float],
        turn: _Turn | None = None,
        v_scale: float = 1.0,
    ) -> None:
        """The face with its eyes at `a`, `b` and nose tip at `nose` before any turn
        (`turn`: a real face's head turn); `v_scale` stretches it down the face so its
        mouth lands where a real face's is (1: the synthetic face's)."""
        amb = self.config.ambient_c
        d = math.dist(a, b)
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        ux, uy = (b[0] - a[0]) / d, (b[1] - a[1]) / d
        h, w = frame.shape
        x0, x1 = max(int(mx - 1.4 * d), 0), min(int(mx + 1.4 * d) + 1, w)
        y0, y1 = max(int(my - 1.6 * d), 0), min(int(my + 2.2 * d * max(v_scale, 1.0)) + 1, h)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        # Face coordinates in eye distances: u along the eye line, v down the face.
        u = ((xx - mx) * ux + (yy - my) * uy) / d
        v = (-(xx - mx) * uy + (yy - my) * ux) / d
        if turn is not None:  # each pixel shows the point that was there before the turn
            u = turn.frontal(u, v).astype(np.float32)
        if v_scale != 1.0:
            v = (v / v_scale).astype(np.float32)
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
        config = asdict(c)
        config["faces_dir"] = None if c.faces_dir is None else str(c.faces_dir)
        return {
            "config": config,
            "homography_visible_to_thermal": c.homography().round(8).tolist(),
            "thermal_encoding": "uint16 PNG, centi-kelvin (K × 100), like FLIR Lepton TLinear",
            "blackbody": {"roi": c.blackbody_roi, "set_point_c": c.blackbody_set_point_c}
            if c.blackbody
            else None,
            "persons": [asdict(p) for p in self.people],
        }


def write_scenes(
    config: SimConfig,
    out: Path,
    qr_text: Callable[[str], str | None] | None = None,
    *,
    detector: FaceDetector | None = None,
    empty_road: bool = False,
) -> dict[str, object]:
    """Frames under out/visible (JPEG) and out/thermal (16-bit PNG, centi-kelvin), plus
    out/truth.json. Returns the truth. By default only the frames with someone in view
    (named by their index in the truth); `empty_road` also writes the road between
    vehicles at the frame rate, as a camera streams it (files then numbered in order)."""
    (out / "visible").mkdir(parents=True, exist_ok=True)
    (out / "thermal").mkdir(parents=True, exist_ok=True)
    sim = CheckpointSimulator(config, qr_text, detector=detector)
    # Each file stamped with its moment (as a recorder does): the scene starts now.
    start = time.time()
    written = 0

    def write(index: int, t: float, visible_bgr: np.ndarray, thermal_c: np.ndarray) -> None:
        visible = out / "visible" / f"{index:06d}.jpg"
        thermal = out / "thermal" / f"{index:06d}.png"
        cv2.imwrite(str(visible), visible_bgr)
        ck = np.clip(np.round((thermal_c + 273.15) * 100), 0, 65535).astype(np.uint16)
        cv2.imwrite(str(thermal), ck)
        for path in (visible, thermal):
            os.utime(path, (start + t, start + t))

    last_t = -1.0 / config.fps
    for f in sim.frames():
        if not empty_road:
            write(f.index, f.t_s, f.visible_bgr, f.thermal_c)
            continue
        # The road between vehicles, one frame per period until this one.
        t = last_t + 1.0 / config.fps
        while t < f.t_s - 0.5 / config.fps:
            write(written, t, *sim.empty_road(t))
            written, t = written + 1, t + 1.0 / config.fps
        write(written, f.t_s, f.visible_bgr, f.thermal_c)
        written, last_t = written + 1, f.t_s
    truth = sim.truth()
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth
