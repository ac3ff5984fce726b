"""Inspections of QR check-in points in Redis: each visit kept under the venue, its
photo beside it, and the commune's deployment counters (venues inspected, compliant)
moved with the write, in one transaction with the outbox entry."""

from __future__ import annotations

from typing import Any

from dichte.domain.events import EventType, RecordEvent
from dichte.domain.inspections import Inspection
from dichte.domain.settings import Settings
from dichte.domain.venues import Venue
from dichte.store.connection import connect
from dichte.store.keys import Keys


class InspectionStore:
    def __init__(
        self, redis_url: str, *, key_prefix: str = "dichte", retention_s: int = 365 * 86_400
    ) -> None:
        self._redis: Any = connect(redis_url)
        self._bytes: Any = connect(redis_url, decode=False)  # photos
        self.keys = Keys(key_prefix)
        self._retention_s = retention_s

    @classmethod
    def of(cls, s: Settings) -> InspectionStore:
        if not s.redis_url:
            raise ValueError("InspectionStore needs a resolved redis_url")
        return cls(
            s.redis_url, key_prefix=s.redis_key_prefix, retention_s=s.case_retention_days * 86_400
        )

    async def close(self) -> None:
        await self._redis.aclose()
        await self._bytes.aclose()

    async def record(
        self, inspection: Inspection, photo: bytes | None, units: tuple[str, ...]
    ) -> None:
        k, i = self.keys, inspection
        at = int(i.at.timestamp())
        if photo is not None:  # first: a visit never names a photo that is not there
            await self._bytes.set(k.inspection_photo(i.id), photo, ex=self._retention_s)
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(k.inspection(i.id), i.model_dump_json(), ex=self._retention_s)
        pipe.zadd(k.inspections_of_venue(i.venue_id), {i.id: at})
        pipe.expire(k.inspections_of_venue(i.venue_id), self._retention_s)
        pipe.zadd(k.venues_inspected(i.commune_code), {i.venue_id: at})
        if i.poster_displayed:
            pipe.zadd(k.venues_compliant(i.commune_code), {i.venue_id: at})
        else:
            pipe.zrem(k.venues_compliant(i.commune_code), i.venue_id)
        pipe.xadd(k.outbox(), RecordEvent(EventType.INSPECTION_CREATED, i.id, units).fields())
        await pipe.execute()

    async def of_venue(self, venue_id: str, limit: int) -> list[Inspection]:
        """The venue's inspections, latest first."""
        ids = await self._redis.zrevrange(self.keys.inspections_of_venue(venue_id), 0, limit - 1)
        raws = await self._redis.mget([self.keys.inspection(str(i)) for i in ids]) if ids else []
        return [Inspection.model_validate_json(r) for r in raws if r]

    async def get(self, inspection_id: str) -> Inspection | None:
        raw = await self._redis.get(self.keys.inspection(inspection_id))
        return None if raw is None else Inspection.model_validate_json(raw)

    async def photo(self, inspection_id: str) -> bytes | None:
        value = await self._bytes.get(self.keys.inspection_photo(inspection_id))
        return None if value is None else bytes(value)

    async def commune_venues(
        self, commune_code: int
    ) -> list[tuple[Venue, int | None, int | None, bool | None]]:
        """Each registered venue of the commune with its latest scan, latest inspection
        (unix seconds) and whether that inspection found the poster (None: never)."""
        k = self.keys
        ids = sorted(str(i) for i in await self._redis.smembers(k.venues_of_commune(commune_code)))
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget([k.venue(i) for i in ids])
        pipe.zmscore(k.venues_scanned(commune_code), ids)
        pipe.zmscore(k.venues_inspected(commune_code), ids)
        pipe.zmscore(k.venues_compliant(commune_code), ids)
        raws, scans, inspected, compliant = await pipe.execute()
        out = []
        for raw, scan, seen, ok in zip(raws, scans, inspected, compliant, strict=True):
            if raw is None:
                continue
            out.append(
                (
                    Venue.model_validate_json(raw),
                    None if scan is None else int(scan),
                    None if seen is None else int(seen),
                    None if seen is None else ok is not None,
                )
            )
        return out
