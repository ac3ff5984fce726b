"""Enrolled biometric templates in Redis: face templates (one per person) and iris
templates (one per eye), sealed (AES-256-GCM, the person, and the eye, as associated
data) and expiring with the biometric retention. Only sealed bytes reach Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Generic, TypeVar, cast

from dichte.domain.templates import (
    IrisTemplate,
    Template,
    entry_person,
    open_iris,
    open_sealed,
    seal,
    seal_iris,
)
from dichte.store.connection import connect
from dichte.store.keys import Keys

LOAD_BATCH = 1000  # templates read per MGET when a shard loads
# The blob replaced only if it is still the one read (not forgotten, not enrolled again).
_REPLACE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""
T = TypeVar("T", Template, IrisTemplate)


class _SealedTemplates(Generic[T]):
    """Templates under `<prefix>:<kind>:<entry>`; an entry is what a template is bound to."""

    def __init__(
        self, redis_url: str, key_prefix: str, key: bytes, previous: Sequence[bytes] = ()
    ) -> None:
        """`key` seals; it and the `previous` keys (a rotation under way) open."""
        self._redis = connect(redis_url, decode=False)
        self._keys = Keys(key_prefix)
        self._key = key
        self._opening_keys = (key, *previous)
        self.unreadable = 0  # sealed blobs that did not open (wrong key, tampering)

    def _redis_key(self, entry: str) -> str:
        raise NotImplementedError

    def _pattern(self) -> str:
        raise NotImplementedError

    def _entry(self, t: T) -> str:
        raise NotImplementedError

    def _seal(self, t: T) -> bytes:
        raise NotImplementedError

    def _open_with(self, key: bytes, entry: str, blob: bytes) -> T:
        raise NotImplementedError

    def _open_blob(self, entry: str, blob: bytes) -> T:
        for key in self._opening_keys:
            try:
                return self._open_with(key, entry, blob)
            except ValueError:
                continue
        raise ValueError("template does not open with any template key")

    async def save(self, t: T) -> None:
        await self._redis.set(self._redis_key(self._entry(t)), self._seal(t), exat=t.expires_at)

    async def delete(self, entries: list[str]) -> int:
        return int(await self._redis.delete(*map(self._redis_key, entries))) if entries else 0

    async def load(self, owns: Callable[[str], bool] = lambda person_id: True) -> list[T]:
        """Every template whose person `owns` accepts."""
        found: list[T] = []
        async for batch in self._sealed(owns):
            for entry, blob in batch:
                try:
                    found.append(self._open_blob(entry, blob))
                except ValueError:
                    self.unreadable += 1
        return found

    def _person(self, entry: str) -> str:
        return entry

    async def _sealed(
        self, owns: Callable[[str], bool] = lambda person_id: True
    ) -> AsyncIterator[list[tuple[str, bytes]]]:
        """(entry, sealed blob) of every template whose person `owns` accepts, read in
        batches: SCAN, then one MGET a batch."""
        prefix = self._redis_key("")
        batch: list[str] = []
        async for raw_key in self._redis.scan_iter(self._pattern(), count=LOAD_BATCH):
            entry = raw_key.decode()[len(prefix) :]
            if owns(self._person(entry)):
                batch.append(entry)
            if len(batch) >= LOAD_BATCH:
                yield await self._read(batch)
                batch = []
        if batch:
            yield await self._read(batch)

    async def _read(self, entries: list[str]) -> list[tuple[str, bytes]]:
        blobs = await self._redis.mget([self._redis_key(e) for e in entries])
        # None: expired between SCAN and MGET
        return [(e, cast(bytes, b)) for e, b in zip(entries, blobs, strict=True) if b is not None]

    async def reseal(self) -> int:
        """Every template that opens only with a previous key sealed again with the
        current one (its expiry kept): once done, the previous keys are not needed.
        A template forgotten or enrolled again meanwhile is left as it now is. Returns
        how many were sealed again."""
        resealed = 0
        async for batch in self._sealed():
            for entry, blob in batch:
                try:
                    self._open_with(self._key, entry, blob)
                    continue  # already under the current key
                except ValueError:
                    pass
                try:
                    template = self._open_blob(entry, blob)
                except ValueError:
                    self.unreadable += 1
                    continue
                replaced = await self._redis.eval(
                    _REPLACE_IF_UNCHANGED, 1, self._redis_key(entry), blob, self._seal(template)
                )
                resealed += int(replaced or 0)
        return resealed

    async def close(self) -> None:
        await self._redis.aclose()


class TemplateStore(_SealedTemplates[Template]):
    """Face templates: one per person, the entry is the person id."""

    def _redis_key(self, entry: str) -> str:
        return self._keys.face_template(entry)

    def _pattern(self) -> str:
        return self._keys.face_templates_pattern()

    def _entry(self, t: Template) -> str:
        return t.person_id

    def _seal(self, t: Template) -> bytes:
        return seal(self._key, t)

    def _open_with(self, key: bytes, entry: str, blob: bytes) -> Template:
        return open_sealed(key, entry, blob)


class IrisTemplateStore(_SealedTemplates[IrisTemplate]):
    """Iris templates: one per eye, the entry is `<person>/<eye>`."""

    def _redis_key(self, entry: str) -> str:
        return self._keys.iris_template(entry)

    def _pattern(self) -> str:
        return self._keys.iris_templates_pattern()

    def _entry(self, t: IrisTemplate) -> str:
        return t.entry

    def _person(self, entry: str) -> str:
        return entry_person(entry)[0]

    def _seal(self, t: IrisTemplate) -> bytes:
        return seal_iris(self._key, t)

    def _open_with(self, key: bytes, entry: str, blob: bytes) -> IrisTemplate:
        return open_iris(key, entry, blob)
