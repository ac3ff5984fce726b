"""Checkpoint face pipeline: detect (YuNet) -> align -> quality -> embed (SFace).

open-iris style: each node is a class with a frozen, validated `Params` model and one
`run()`; what travels between nodes is immutable (`Face`, `Quality`, arrays).
Images are BGR uint8 (OpenCV's order); grey and BGRA inputs are converted.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dichte.models.faces.onnx_prep import Manifest, load_manifest, prepare_model
from dichte.models.faces.runtime import CUDA, default_providers, make_session
from dichte.models.results import Face, Quality, SeenFace, Sight

SFACE_THRESHOLD = 0.363  # OpenCV Zoo's published cosine threshold for SFace
EMBEDDING_DIM = 128
CROP = 112
# ArcFace 112x112 five-point template (insightface), in YuNet's landmark order.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],  # right eye (image left)
        [73.5318, 51.5014],  # left eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # right mouth corner
        [70.7299, 92.2041],  # left mouth corner
    ],
    dtype=np.float32,
)
STRIDES = (8, 16, 32)


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    manifest: str = Field(description="bundled manifest name or path to a manifest JSON")
    model_path: Path | None = Field(
        None, description="ONNX file of the manifest's family (default: the bundled one)"
    )
    threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads")
    cache_dir: Path | None = Field(
        None, description="where prepared models are kept (default <DICHTE_DATA_DIR|var>/models)"
    )
    providers: list[str] | None = Field(
        None, description="ORT providers (default: CUDA if any, CPU)"
    )


class DetectorParams(_Params):
    manifest: str = "yunet"
    score_threshold: float = Field(0.6, ge=0, le=1, description="min sqrt(cls*obj)")
    nms_threshold: float = Field(0.3, ge=0, le=1, description="IoU above which a box is dropped")
    top_k: int = Field(50, ge=1, description="candidates kept before NMS (OpenCV semantics)")
    max_side: int = Field(640, ge=32, description="long side the image is shrunk to, at most")


class EmbedderParams(_Params):
    manifest: str = "sface"
    max_batch: int | None = Field(
        None,
        ge=1,
        description="crops per ORT call; default 2 on CPU (bigger batches spill the "
        "112x112 activations out of L2: 17 vs 22 ms/face at 32 on 1 thread), 64 on CUDA",
    )


class QualityParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_eye_distance_px: float = Field(32.0, description="below: too small to recognise")
    min_sharpness: float = Field(12.0, description="Laplacian variance of the aligned crop")
    max_roll_deg: float = Field(30.0, description="head tilt")
    max_abs_yaw: float = Field(0.3, description="nose offset, in eye distances")


DEFAULT_DETECTOR, DEFAULT_EMBEDDER, DEFAULT_QUALITY = (
    DetectorParams(),
    EmbedderParams(),
    QualityParams(),
)


def to_bgr(image: np.ndarray) -> np.ndarray | None:
    """BGR uint8 from grey, grey+1, BGR or BGRA; None for empty or unusable arrays."""
    a = np.asarray(image)
    if a.size == 0 or a.ndim not in (2, 3) or min(a.shape[:2]) == 0:
        return None
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)
    if a.shape[2] != 3:
        return None
    return np.ascontiguousarray(a)


def _pad32(n: int) -> int:
    return (n - 1) // 32 * 32 + 32


class FaceDetector:
    """YuNet in ONNX Runtime, decoded the way OpenCV's FaceDetectorYN does it."""

    def __init__(self, params: DetectorParams = DEFAULT_DETECTOR) -> None:
        self.params = params
        self.manifest: Manifest = load_manifest(params.manifest)
        path = prepare_model(self.manifest, params.model_path, params.cache_dir)
        self._session = make_session(path, params.threads, params.providers)
        self._outputs = self.manifest.output_names

    def run(self, image_bgr: np.ndarray) -> list[Face]:
        return self.run_batch([image_bgr])[0]

    def run_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        """One ORT call: each image shrunk to max_side, all padded (right and bottom,
        zeros, as OpenCV does) to one common size, a multiple of 32."""
        live = [(i, *p) for i, im in enumerate(images) if (p := self._shrink(im)) is not None]
        results: list[list[Face]] = [[] for _ in images]
        if not live:
            return results
        pad_h = max(_pad32(small.shape[0]) for _, small, _, _ in live)
        pad_w = max(_pad32(small.shape[1]) for _, small, _, _ in live)
        blob = np.zeros((len(live), 3, pad_h, pad_w), np.float32)
        for j, (_, small, _, _) in enumerate(live):
            blob[j, :, : small.shape[0], : small.shape[1]] = small.transpose(2, 0, 1)
        outs = self._session.run(self._outputs, {self.manifest.input_name: blob})
        for j, (i, _, sx, sy) in enumerate(live):
            rows = self._decode([o[j] for o in outs], pad_h, pad_w)
            results[i] = [_face(r, sx, sy) for r in rows]
        return results

    def _shrink(self, image: np.ndarray) -> tuple[np.ndarray, float, float] | None:
        bgr = to_bgr(image)
        if bgr is None:
            return None
        h, w = bgr.shape[:2]
        scale = min(1.0, self.params.max_side / max(h, w))
        if scale == 1.0:
            return bgr, 1.0, 1.0
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        small = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA)
        return small, nw / w, nh / h

    def _decode(self, outs: list[np.ndarray], pad_h: int, pad_w: int) -> np.ndarray:
        """Rows of (x, y, w, h, 10 landmark coords, score) after NMS, best first;
        OpenCV's face_detect.cpp postProcess in numpy (float32 like the C++)."""
        p = self.params
        found = []
        for k, s in enumerate(STRIDES):
            cols = pad_w // s
            cls, obj, bbox, kps = outs[k], outs[k + 3], outs[k + 6], outs[k + 9]
            score = np.sqrt(np.clip(cls[:, 0], 0, 1) * np.clip(obj[:, 0], 0, 1))
            idx = np.nonzero(score >= p.score_threshold)[0]
            if idx.size == 0:
                continue
            c = (idx % cols).astype(np.float32)[:, None]
            r = (idx // cols).astype(np.float32)[:, None]
            b = bbox[idx]
            cx, cy = (c[:, 0] + b[:, 0]) * s, (r[:, 0] + b[:, 1]) * s
            w, h = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
            lm = kps[idx].reshape(-1, 5, 2)
            lmx, lmy = (lm[:, :, 0] + c) * s, (lm[:, :, 1] + r) * s
            land = np.stack([lmx, lmy], axis=2).reshape(-1, 10)
            found.append(
                np.column_stack([cx - w / 2, cy - h / 2, w, h, land, score[idx]]).astype(np.float32)
            )
        if not found:
            return np.zeros((0, 15), np.float32)
        rows = np.concatenate(found)
        if len(rows) == 1:
            return rows
        # OpenCV runs NMS on integer-truncated boxes, top_k candidates by score first.
        boxes = rows[:, :4].astype(np.int32).tolist()
        keep = cv2.dnn.NMSBoxes(
            boxes, rows[:, 14].tolist(), p.score_threshold, p.nms_threshold, 1.0, p.top_k
        )
        return rows[np.asarray(keep, dtype=np.int64).reshape(-1)]


def _face(row: np.ndarray, sx: float, sy: float) -> Face:
    scale = np.array([sx, sy], np.float32)
    return Face(
        box=(float(row[0] / sx), float(row[1] / sy), float(row[2] / sx), float(row[3] / sy)),
        landmarks=(row[4:14].reshape(5, 2) / scale).astype(np.float32),
        score=float(row[14]),
    )


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (Umeyama 1991) taking `src` points onto `dst`:
    all five landmarks count, no random sampling, so the crop is deterministic."""
    s, d = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = s.mean(0), d.mean(0)
    sc, dc = s - ms, d - md
    u, sig, vt = np.linalg.svd(dc.T @ sc / len(s))
    e = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1] = -1.0  # a reflection would mirror the face
    rot = u @ np.diag(e) @ vt
    var = (sc**2).sum() / len(s)
    scale = float(sig @ e / var) if var > 1e-12 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - scale * rot @ ms
    return m


def align(image_bgr: np.ndarray, face: Face) -> np.ndarray:
    """(112, 112, 3) uint8 BGR crop with the landmarks on the ArcFace template."""
    bgr = to_bgr(image_bgr)
    if bgr is None:
        raise ValueError("align: empty image")
    m = similarity_transform(face.landmarks, ARCFACE_TEMPLATE)
    return cv2.warpAffine(bgr, m, (CROP, CROP), flags=cv2.INTER_LINEAR)


class FaceEmbedder:
    """SFace in ONNX Runtime: aligned crops -> L2-normalised 128-d embeddings."""

    def __init__(self, params: EmbedderParams = DEFAULT_EMBEDDER) -> None:
        self.params = params
        self.manifest = load_manifest(params.manifest)
        providers = params.providers or default_providers()
        # MatMulNBits(int8) for the classifier only where it has a fast kernel: on CPU.
        path = prepare_model(
            self.manifest, params.model_path, params.cache_dir, fc_int8=CUDA not in providers
        )
        self._session = make_session(path, params.threads, providers)
        self._chunk = params.max_batch or (64 if CUDA in providers else 2)

    def run(self, crops: np.ndarray) -> np.ndarray:
        a = np.asarray(crops)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[1:] != (CROP, CROP, 3):
            raise ValueError(f"expected (N, {CROP}, {CROP}, 3) BGR crops, got {a.shape}")
        out = np.zeros((len(a), EMBEDDING_DIM), np.float32)
        name = self.manifest.input_name
        for i in range(0, len(a), self._chunk):
            blob = a[i : i + self._chunk].transpose(0, 3, 1, 2).astype(np.float32)
            out[i : i + len(blob)] = self._session.run(None, {name: blob})[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def quality(
    image_bgr: np.ndarray,
    face: Face,
    params: QualityParams = DEFAULT_QUALITY,
    crop: np.ndarray | None = None,
) -> Quality:
    """Size, blur and pose from the landmarks and the aligned crop (pass `crop` when the
    caller aligned already, for the embedding); never raises."""
    re, le, nose = (face.landmarks[i].astype(np.float64) for i in range(3))
    eye = le - re
    dist = float(np.hypot(*eye))
    roll = float(np.degrees(np.arctan2(eye[1], eye[0])))
    # Along the eye line, so a tilted but frontal head still reads yaw 0.
    yaw = float((nose - (re + le) / 2) @ eye / dist**2) if dist > 1e-6 else 0.0
    try:
        grey = cv2.cvtColor(align(image_bgr, face) if crop is None else crop, cv2.COLOR_BGR2GRAY)
        sharp = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    except ValueError:
        sharp = 0.0
    reasons = []
    if dist < params.min_eye_distance_px:
        reasons.append(f"eyes {dist:.0f} px apart < {params.min_eye_distance_px:.0f}")
    if sharp < params.min_sharpness:
        reasons.append(f"blurred (sharpness {sharp:.1f} < {params.min_sharpness:.0f})")
    if abs(roll) > params.max_roll_deg:
        reasons.append(f"head tilted {roll:.0f}°")
    if abs(yaw) > params.max_abs_yaw:
        reasons.append(f"head turned (yaw {yaw:+.2f})")
    return Quality(dist, sharp, roll, yaw, not reasons, tuple(reasons))


def look(
    image_bgr: np.ndarray, faces: list[Face], params: QualityParams = DEFAULT_QUALITY
) -> Sight:
    """Align each detected face once (the crop serves the quality check and the
    embedding), judge it, and order the faces largest first (a selfie, a driver at
    the window: the person meant is the largest face)."""
    seen = []
    for f in sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True):
        crop = align(image_bgr, f)
        seen.append(SeenFace(f, quality(image_bgr, f, params, crop=crop), crop))
    return Sight(int(image_bgr.shape[1]), int(image_bgr.shape[0]), seen)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()
    den = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / den) if den > 0 else 0.0
