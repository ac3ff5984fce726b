"""Following faces across the frames of one camera, so one person passing yields one
track (and one screening event). Plain Python over boxes; no model.

A detection joins the open track whose last box it overlaps most (IoU), else the one
whose last box centre is nearest within half a face width; otherwise it starts a new
track. A track ends when its face has been missing from `missed_frames` frames in a
row and for longer than `max_gap_s` (the person has left the frame), when nothing at
all has shown it for `max_silence_s`, or at the end of the stream. Counting missed
frames, not only time, keeps one person one track when frames are dropped under load
(the frames processed are then further apart than the gap). A track still in view
`due_after_s` after it began (a vehicle stopped at the barrier) is handed out once as
due, so its person is decided while still there rather than after driving off.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Box = tuple[float, float, float, float]  # x, y, w, h
Item = TypeVar("Item")


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _centre_distance(a: Box, b: Box) -> float:
    return float(
        ((a[0] + a[2] / 2 - b[0] - b[2] / 2) ** 2 + (a[1] + a[3] / 2 - b[1] - b[3] / 2) ** 2) ** 0.5
    )


@dataclass
class Track(Generic[Item]):
    id: int
    box: Box
    last_at: float
    items: list[Item] = field(default_factory=list)
    first_at: float = 0.0
    due: bool = False  # handed out while still in view (its end is then no news)
    missed: int = 0  # frames in a row without its face


@dataclass(frozen=True)
class TrackerParams:
    min_iou: float = 0.2
    max_gap_s: float = 0.5  # 2 missed frames at 5 fps; vehicles pass one at a time
    missed_frames: int = 2
    max_silence_s: float = 2.0  # no frame at all (a silent source): the person is gone
    due_after_s: float = 3.0  # longer than a rolling vehicle stays in view


class Tracker(Generic[Item]):
    """Feed each frame's detections (box, item); get back the tracks that ended."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self._open: list[Track[Item]] = []
        self._ids = itertools.count(1)

    @property
    def open_tracks(self) -> int:
        return len(self._open)

    def update(self, at: float, detections: Sequence[tuple[Box, Item]]) -> list[Track[Item]]:
        """Add one frame's detections (time `at`); returns the tracks that ended."""
        ended = self._expire(at)
        free = list(self._open)
        for box, item in sorted(detections, key=lambda d: -d[0][2] * d[0][3]):
            track = self._best(box, free)
            if track is None:
                track = Track(next(self._ids), box, at, first_at=at)
                self._open.append(track)
            else:
                free.remove(track)
                track.box, track.last_at, track.missed = box, at, 0
            track.items.append(item)
        for track in free:
            track.missed += 1
        return ended

    def due(self, at: float) -> list[Track[Item]]:
        """Open tracks in view for `due_after_s` by `at`, each handed out once."""
        due = [t for t in self._open if not t.due and at - t.first_at >= self.params.due_after_s]
        for t in due:
            t.due = True
        return due

    def flush(self) -> list[Track[Item]]:
        """The stream ended: every open track ends."""
        ended, self._open = self._open, []
        return ended

    def _expire(self, at: float) -> list[Track[Item]]:
        p = self.params
        ended = [
            t
            for t in self._open
            if (at - t.last_at > p.max_gap_s and t.missed >= p.missed_frames)
            or at - t.last_at > p.max_silence_s
        ]
        self._open = [t for t in self._open if t not in ended]
        return ended

    def _best(self, box: Box, candidates: list[Track[Item]]) -> Track[Item] | None:
        scored = [(iou(box, t.box), t) for t in candidates]
        overlap = max(scored, key=lambda s: s[0], default=None)
        if overlap is not None and overlap[0] >= self.params.min_iou:
            return overlap[1]
        near = [(d, t) for t in candidates if (d := _centre_distance(box, t.box)) <= box[2] / 2]
        return min(near, key=lambda s: s[0])[1] if near else None
