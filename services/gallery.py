"""The face gallery of one shard: the sealed templates in Redis (the record) and an
`EmbeddingMatrix` in memory (the 1:N search), kept in step."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import cast

import numpy as np

from dichte.domain.templates import Template, normalised
from dichte.store.gallery import TemplateStore

Match = tuple[str, float]  # person id, cosine similarity


def shard_of(person_id: str, shards: int) -> int:
    """Which shard holds a person's template (stable across restarts)."""
    return int.from_bytes(hashlib.blake2b(person_id.encode(), digest_size=4).digest()) % shards


class Gallery:
    def __init__(self, templates: TemplateStore, retention_s: int) -> None:
        # The search builds ONNX graphs: imported where a gallery lives (its shard
        # actor), not in every process that imports this module for `shard_of`/`Match`.
        from dichte.models.faces.search import EmbeddingMatrix

        self._templates = templates
        self._retention_s = retention_s
        self._matrix = EmbeddingMatrix()
        self._expires: dict[str, int] = {}

    @property
    def unreadable(self) -> int:
        return self._templates.unreadable

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
        now = int(time.time()) if now is None else now
        t = Template(person_id, normalised(embedding), source, now, now + self._retention_s)
        await self._templates.save(t)
        self._matrix.remove([person_id])
        self._matrix.add([person_id], t.embedding[None, :])
        self._expires[person_id] = t.expires_at
        return t

    async def forget(self, person_id: str) -> bool:
        removed = await self._templates.delete(person_id)
        self._matrix.remove([person_id])
        self._expires.pop(person_id, None)
        return removed

    def enrolled(self, person_ids: list[str], now: int | None = None) -> set[str]:
        """Which of these persons have a template in force here."""
        now = int(time.time()) if now is None else now
        return {p for p in person_ids if self._expires.get(p, 0) > now}

    def _purge_expired(self, now: int) -> None:
        gone = [p for p, exp in self._expires.items() if exp <= now]
        if gone:
            self._matrix.remove(gone)
            for p in gone:
                del self._expires[p]

    async def search(
        self, queries: np.ndarray, k: int, now: int | None = None
    ) -> list[list[Match]]:
        self._purge_expired(int(time.time()) if now is None else now)
        if len(self._expires) == 0:
            return [[] for _ in range(len(queries))]
        rows = np.stack([normalised(q) for q in np.asarray(queries).reshape(-1, 128)])
        # A 2-D query gives one list of (id, score) per row, from one matrix product.
        found = cast(list[list[tuple[str, float]]], self._matrix.search(rows, k))
        return [[(str(pid), float(score)) for pid, score in hits] for hits in found]

    async def close(self) -> None:
        await self._templates.close()
