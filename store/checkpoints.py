"""Checkpoints in Redis: their configuration (changeable while the system runs; a
version counter tells the camera supervisor to look again) and their screening events.

An event is one Lua script: idempotent by event id (a camera that restarts and sends
an event again gets the first one back), appended to the checkpoint's event stream,
recorded as a checkpoint passage of the identified person (tracing reads those), put
in the IOC outbox and counted per day, all together.
"""

from __future__ import annotations

from dichte.domain.checkpoints import CheckpointConfig
from dichte.domain.reports import screening_counters
from dichte.domain.screening import Reason, ScreeningEvent
from dichte.domain.settings import Settings
from dichte.store.connection import connect
from dichte.store.keys import Keys

_EVENT = """
local first = redis.call('GET', KEYS[1])
if first then return {0, first} end
local sid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[2])
redis.call('SET', KEYS[1], sid, 'EX', ARGV[3])
redis.call('XADD', KEYS[3], '*', 'type', 'screening.created', 'subject', ARGV[1],
  'units', ARGV[10], 'data', ARGV[2])
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
if ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[5] .. '|' .. ARGV[8] .. '|' .. ARGV[9])
  redis.call('ZADD', KEYS[6], ARGV[9], ARGV[6] .. '|' .. ARGV[8] .. '|' .. ARGV[9])
end
-- the checkpoint's day counters (domain.reports): ARGV[11] the fields to add one to
for field in string.gmatch(ARGV[11], '%S+') do
  redis.call('HINCRBY', KEYS[7], field, 1)
end
if ARGV[12] == '1' and ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[8], ARGV[9], ARGV[1] .. '|' .. ARGV[5])
  redis.call('EXPIRE', KEYS[8], ARGV[3])
end
return {1, sid}
"""

STREAM_MAXLEN = 1_000_000


class CheckpointStore:
    def __init__(
        self, redis_url: str, *, key_prefix: str = "dichte", event_ttl_s: int = 21 * 86_400
    ) -> None:
        self._redis = connect(redis_url)
        self.keys = Keys(key_prefix)
        self._event_ttl_s = event_ttl_s
        self._event = self._redis.register_script(_EVENT)

    @classmethod
    def of(cls, s: Settings) -> CheckpointStore:
        if not s.redis_url:
            raise ValueError("CheckpointStore needs a resolved redis_url")
        return cls(
            s.redis_url,
            key_prefix=s.redis_key_prefix,
            event_ttl_s=s.checkin_retention_days * 86_400,
        )

    async def close(self) -> None:
        await self._redis.aclose()

    # --- configuration -------------------------------------------------------------
    async def save(self, config: CheckpointConfig) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.keys.checkpoint(config.id), config.model_dump_json())
        pipe.sadd(self.keys.checkpoints(), config.id)
        pipe.incr(self.keys.checkpoints_version())
        await pipe.execute()

    async def add_if_absent(self, config: CheckpointConfig) -> bool:
        """Store a configuration only if none has that id (shipped defaults never
        overwrite what staff changed)."""
        if not await self._redis.set(
            self.keys.checkpoint(config.id), config.model_dump_json(), nx=True
        ):
            return False
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(self.keys.checkpoints(), config.id)
        pipe.incr(self.keys.checkpoints_version())
        await pipe.execute()
        return True

    async def get(self, checkpoint_id: str) -> CheckpointConfig | None:
        raw = await self._redis.get(self.keys.checkpoint(checkpoint_id))
        return None if raw is None else CheckpointConfig.model_validate_json(raw)

    async def all(self) -> tuple[int, list[CheckpointConfig]]:
        """(version, every configuration)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(self.keys.checkpoints_version())
        pipe.smembers(self.keys.checkpoints())
        version, ids = await pipe.execute()
        ordered = sorted(str(i) for i in ids)
        raws = await self._redis.mget([self.keys.checkpoint(i) for i in ordered]) if ordered else []
        configs = [CheckpointConfig.model_validate_json(r) for r in raws if r]
        return int(version or 0), configs

    async def version(self) -> int:
        return int(await self._redis.get(self.keys.checkpoints_version()) or 0)

    # --- events --------------------------------------------------------------------
    async def record_event(
        self,
        *,
        event: ScreeningEvent,
        day: str,
        plate: str,
        at: int,
        units: tuple[str, ...] = (),
    ) -> tuple[bool, str]:
        """(created, stream id): the same event id again returns the first. The outbox
        entry carries the event itself and the units it is routed to; the checkpoint's
        day counters and the person's fevers are kept with it."""
        k = self.keys
        event_id, checkpoint_id = event.event_id, event.checkpoint_id
        person_id = event.person.person_id if event.person else None
        created, sid = await self._event(
            keys=[
                k.screening_event(event_id),
                k.screening_events(checkpoint_id),
                k.outbox(),
                k.screenings_by_day(),
                k.passages_of_person(person_id or "-"),  # member checkpoint|plate|at
                k.passages_at_checkpoint(checkpoint_id),  # member person|plate|at
                k.checkpoint_day(checkpoint_id, day),
                k.fevers_of_person(person_id or "-"),
            ],
            args=[
                event_id,
                event.model_dump_json(),
                self._event_ttl_s,
                day,
                checkpoint_id,
                person_id or "",
                STREAM_MAXLEN,
                plate,
                at,
                " ".join(units),
                " ".join(screening_counters(event)),
                "1" if Reason.FEVER in event.reasons else "0",
            ],
        )
        return bool(int(created)), str(sid)

    async def save_face(self, event_id: str, jpeg: bytes, ttl_s: int) -> None:
        """The face crop the officer sees beside an event (kept only briefly)."""
        await self._redis.set(self.keys.screening_face(event_id), jpeg.hex(), ex=ttl_s)

    async def face(self, event_id: str) -> bytes | None:
        raw = await self._redis.get(self.keys.screening_face(event_id))
        return None if raw is None else bytes.fromhex(str(raw))

    async def events(
        self, checkpoint_id: str, since: str | None, limit: int
    ) -> list[tuple[str, str]]:
        """(stream id, event JSON) after `since` (exclusive), oldest first."""
        start = f"({since}" if since else "-"
        found = await self._redis.xrange(
            self.keys.screening_events(checkpoint_id), min=start, max="+", count=limit
        )
        return _entries(found)

    async def latest_events(self, checkpoint_id: str, limit: int) -> list[tuple[str, str]]:
        found = await self._redis.xrevrange(
            self.keys.screening_events(checkpoint_id), max="+", min="-", count=limit
        )
        return list(reversed(_entries(found)))


def _entries(found: object) -> list[tuple[str, str]]:
    """(stream id, event JSON) of XRANGE's answer."""
    return [(str(sid), str(fields["event"])) for sid, fields in found or []]  # type: ignore[attr-defined]
