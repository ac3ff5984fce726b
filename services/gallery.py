"""The galleries of one shard: the sealed templates in Redis (the record) and an index
in memory (the 1:N search), kept in step. Faces: an `EmbeddingMatrix` of embeddings, one
per person. Irises: a `CodeMatrix` of packed iris codes, one per eye."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from dichte.domain.templates import Eye, IrisTemplate, Template, iris_entry, normalised
from dichte.store.gallery import IrisTemplateStore, TemplateStore

if TYPE_CHECKING:
    from dichte.models.iris.code import IrisCode

Match = tuple[str, float]  # person id, cosine similarity
IrisMatch = tuple[str, str, float]  # person id, eye, normalised Hamming distance
IrisSearch = tuple[list[IrisMatch], int]  # the closest eyes, and how many were searched


def shard_of(person_id: str, shards: int) -> int:
    """Which shard holds a person's templates (stable across restarts)."""
    return int.from_bytes(hashlib.blake2b(person_id.encode(), digest_size=4).digest()) % shards


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


class _Held:
    """What a gallery keeps: the sealed templates (the record), an index in memory (the
    search), and each entry's expiry; an entry leaves the index when it expires."""

    def __init__(
        self, templates: TemplateStore | IrisTemplateStore, retention_s: int, matrix: Any
    ) -> None:
        self._templates = templates
        self._retention_s = retention_s
        self._matrix = matrix
        self._expires: dict[str, int] = {}

    @property
    def unreadable(self) -> int:
        return self._templates.unreadable

    def _drop(self, entries: list[str]) -> None:
        self._matrix.remove(entries)

    def _purge_expired(self, now: int) -> None:
        gone = [e for e, exp in self._expires.items() if exp <= now]
        if gone:
            self._drop(gone)
            for e in gone:
                del self._expires[e]

    async def close(self) -> None:
        await self._templates.close()


class Gallery(_Held):
    _templates: TemplateStore

    def __init__(self, templates: TemplateStore, retention_s: int) -> None:
        # The search builds ONNX graphs: imported where a gallery lives (its shard
        # actor), not in every process that imports this module for `shard_of`/`Match`.
        from dichte.models.faces.search import EmbeddingMatrix

        super().__init__(templates, retention_s, EmbeddingMatrix())

    async def load(self, owns: Callable[[str], bool] = lambda person_id: True) -> int:
        """Read every sealed template this shard owns into memory."""
        loaded = await self._templates.load(owns)
        if loaded:
            self._matrix.add([t.person_id for t in loaded], np.stack([t.embedding for t in loaded]))
            self._expires.update({t.person_id: t.expires_at for t in loaded})
        return len(loaded)

    async def enroll(
        self, person_id: str, embedding: np.ndarray, source: str, now: int | None = None
    ) -> Template:
        """Stored sealed first (so an acknowledged enrolment survives a restart), then
        searchable. A new enrolment replaces the person's previous template."""
        now = _now(now)
        t = Template(person_id, normalised(embedding), source, now, now + self._retention_s)
        await self._templates.save(t)
        self._matrix.remove([person_id])
        self._matrix.add([person_id], t.embedding[None, :])
        self._expires[person_id] = t.expires_at
        return t

    async def forget(self, person_id: str) -> bool:
        removed = await self._templates.delete([person_id])
        self._matrix.remove([person_id])
        self._expires.pop(person_id, None)
        return bool(removed)

    def enrolled(self, person_ids: list[str], now: int | None = None) -> set[str]:
        """Which of these persons have a template in force here."""
        now = _now(now)
        return {p for p in person_ids if self._expires.get(p, 0) > now}

    async def search(
        self, queries: np.ndarray, k: int, now: int | None = None
    ) -> list[list[Match]]:
        self._purge_expired(_now(now))
        if len(self._expires) == 0:
            return [[] for _ in range(len(queries))]
        rows = np.stack([normalised(q) for q in np.asarray(queries).reshape(-1, 128)])
        # A 2-D query gives one list of (id, score) per row, from one matrix product.
        found = cast(list[list[tuple[str, float]]], self._matrix.search(rows, k))
        return [[(str(pid), float(score)) for pid, score in hits] for hits in found]


class IrisGallery(_Held):
    """One entry per enrolled eye (`<person>/<eye>`); a search answers eyes, closest
    first, and a person's two eyes are searched as two entries."""

    _templates: IrisTemplateStore

    def __init__(self, templates: IrisTemplateStore, retention_s: int) -> None:
        from dichte.models.iris.matching import CodeMatrix  # numba: only where it runs

        super().__init__(templates, retention_s, CodeMatrix())

    async def load(self, owns: Callable[[str], bool] = lambda person_id: True) -> int:
        from dichte.models.iris.code import IrisCode

        loaded = await self._templates.load(owns)
        if loaded:
            self._matrix.add(
                [t.entry for t in loaded], [IrisCode.from_bytes(t.code) for t in loaded]
            )
            self._expires.update({t.entry: t.expires_at for t in loaded})
        return len(loaded)

    async def enroll(
        self, person_id: str, eye: Eye, code: IrisCode, source: str, now: int | None = None
    ) -> IrisTemplate:
        """Stored sealed first, then searchable; replaces this eye's previous template."""
        now = _now(now)
        t = IrisTemplate(person_id, eye, code.to_bytes(), source, now, now + self._retention_s)
        await self._templates.save(t)
        self._matrix.add([t.entry], [code])
        self._expires[t.entry] = t.expires_at
        return t

    async def forget(self, person_id: str) -> bool:
        """Both eyes."""
        entries = [iris_entry(person_id, eye) for eye in Eye]
        removed = await self._templates.delete(entries)
        self._drop(entries)
        for e in entries:
            self._expires.pop(e, None)
        return bool(removed)

    def enrolled(self, person_ids: list[str], now: int | None = None) -> set[str]:
        """Which of these persons have an iris (either eye) in force here."""
        now = _now(now)
        return {
            p
            for p in person_ids
            if any(self._expires.get(iris_entry(p, eye), 0) > now for eye in Eye)
        }

    async def search(self, code: IrisCode, k: int, now: int | None = None) -> IrisSearch:
        """The k closest eyes, and the number of eyes searched (the identification
        threshold depends on it)."""
        from dichte.domain.templates import entry_person

        self._purge_expired(_now(now))
        found = []
        for entry, hd in self._matrix.search(code, k):
            person_id, eye = entry_person(str(entry))
            found.append((person_id, eye.value, hd))
        return found, len(self._matrix)
