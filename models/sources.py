"""Where a checkpoint camera's frames come from: `rtsp://` and `http(s)://` (MJPEG)
streams and video files through OpenCV, a folder of frames (`file:///…/visible/`, read
in name order), and the simulator (`sim://?seed=N&people=M`).

A source yields `Frame`s at the configured rate: the visible picture and, where the
lane has them, the radiometric thermal frame in °C and the iris camera's eye image
(both from folders of frames paired by position; live thermal and iris streams: not
yet). Frame times come from the source when it has them (a stream's or a file's
position), else start + index / rate.
Problems are `SourceError`s with a code: `unreachable` (cannot open; worth retrying),
`ended` (a file or folder is finished; a live stream that stops). A frame that does not
decode is skipped and reported to `on_corrupt` (the camera counts it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import cv2
import numpy as np

from dichte.models.errors import InputError, SourceError
from dichte.models.results import Frame
from dichte.models.thermal.formats import read_thermal

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
THERMAL_SUFFIXES = {".png", ".tif", ".tiff", ".npy", ".npz", ".jpg"}


def _folder(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def _frames_in(folder: Path, suffixes: set[str]) -> list[Path]:
    if not folder.is_dir():
        raise SourceError("unreachable", f"no folder {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)


def _thermal(path: Path) -> np.ndarray | None:
    try:
        return read_thermal(path.read_bytes(), name=path.name).celsius.astype(np.float32)
    except (OSError, InputError):
        return None  # no reading for this frame; the visible one still counts


def _iris(path: Path) -> np.ndarray | None:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # None: no eye image this moment


def folder_frames(
    visible_url: str,
    thermal_url: str | None,
    rate_fps: float,
    on_corrupt: Callable[[str], None] = lambda name: None,
    iris_url: str | None = None,
) -> Iterator[Frame]:
    """A folder of pictures (and, paired by position in name order, a folder of
    radiometric frames and one of iris camera images)."""
    visible = _frames_in(_folder(visible_url), IMAGE_SUFFIXES)
    thermal = _frames_in(_folder(thermal_url), THERMAL_SUFFIXES) if thermal_url else []
    irises = _frames_in(_folder(iris_url), IMAGE_SUFFIXES) if iris_url else []
    # A recording's own clock: each picture's modification time when they increase (a
    # recorder stamps them so), else the first one's and the configured rate. Read
    # again (a restart), the frames have the same times.
    stamps = [p.stat().st_mtime for p in visible]
    recorded = all(b > a for a, b in pairwise(stamps))
    times = stamps if recorded else [stamps[0] + i / rate_fps for i in range(len(visible))]
    for i, path in enumerate(visible):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            on_corrupt(path.name)
            continue
        t = _thermal(thermal[i]) if i < len(thermal) else None
        yield Frame(i, times[i], image, t, _iris(irises[i]) if i < len(irises) else None)
    raise SourceError("ended", f"{len(visible)} frames read")


def video_frames(
    url: str,
    rate_fps: float,
    start: float,
    live: bool,
    on_corrupt: Callable[[str], None] = lambda name: None,
) -> Iterator[Frame]:
    """A stream or a video file through OpenCV, sampled at `rate_fps`: a file by its
    own clock (every n-th frame), a live stream by taking the newest frame when due."""
    target = unquote(urlparse(url).path) if url.startswith("file:") else url
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        raise SourceError("unreachable", url.split("@")[-1])  # never echo credentials
    try:
        native = capture.get(cv2.CAP_PROP_FPS) or 0.0
        step = max(1, round(native / rate_fps)) if native > 0 and not live else 1
        index = read = 0
        next_due = time.monotonic()
        while True:
            ok = capture.grab()
            if not ok:
                raise SourceError("ended", f"{read} frames read")
            read += 1
            if live:
                if time.monotonic() < next_due:
                    continue
                next_due += 1.0 / rate_fps
            elif (read - 1) % step:
                continue
            ok, image = capture.retrieve()
            if not ok or image is None:
                on_corrupt(f"frame {read}")
                continue
            if live:
                at = time.time()
            else:  # the file's own clock, else its frame count at our rate
                position_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
                at = start + (position_ms / 1000 if position_ms > 0 else index / rate_fps)
            yield Frame(index, at, image)
            index += 1
    finally:
        capture.release()


def sim_frames(
    url: str,
    rate_fps: float,
    start: float,
    *,
    faces_dir: Path | None,
    qr_text: Callable[[str], str | None] | None = None,
    on_person: Callable[[object], None] | None = None,
) -> Iterator[Frame]:
    """The checkpoint simulator as a camera pair: its visible and thermal frames, timed
    from `start` by the simulator's own clock (arrivals, 1/fps between frames)."""
    from dichte.models.thermal.simulator import CheckpointSimulator, SimConfig

    params = {k: int(v[-1]) for k, v in parse_qs(urlparse(url).query).items()}
    sim = CheckpointSimulator(
        SimConfig(
            seed=params.get("seed", 0),
            people=params.get("people", 1_000_000),
            fps=rate_fps,
            faces_dir=faces_dir,
            min_headway_s=1.0,  # one vehicle at a time, as at a real lane
        ),
        qr_text=qr_text,
    )
    seen: set[str] = set()
    for f in sim.frames():
        if on_person is not None and f.person.id not in seen:
            seen.add(f.person.id)
            on_person(f.person)
        yield Frame(f.index, start + f.t_s, f.visible_bgr, f.thermal_c)
    raise SourceError("ended", f"{len(seen)} simulated people")


def open_frames(
    source: str,
    rate_fps: float,
    *,
    thermal_source: str | None = None,
    iris_source: str | None = None,
    start: float | None = None,
    faces_dir: Path | None = None,
    qr_text: Callable[[str], str | None] | None = None,
    on_person: Callable[[object], None] | None = None,
    on_corrupt: Callable[[str], None] = lambda name: None,
) -> Iterator[Frame]:
    """The frames of a camera pair, whatever the source's kind."""
    begin = time.time() if start is None else start
    scheme = urlparse(source).scheme
    if scheme == "sim":
        return sim_frames(
            source, rate_fps, begin, faces_dir=faces_dir, qr_text=qr_text, on_person=on_person
        )
    if scheme == "file" and Path(unquote(urlparse(source).path)).is_dir():
        return folder_frames(source, thermal_source, rate_fps, on_corrupt, iris_source)
    if scheme in ("file", "rtsp", "rtsps", "http", "https"):
        return video_frames(source, rate_fps, begin, live=scheme != "file", on_corrupt=on_corrupt)
    raise SourceError("unreachable", f"unsupported source {scheme}")
