"""The outbox in Redis: record events (domain.events) appended with the record they
describe, read by consumer groups, routed into per-unit feeds and work lists, and the
bookkeeping of delivery targets (attempts, dead letters, replays, last delivery).

A consumer group keeps each target's place: an entry is acknowledged only once its
target has taken it, so a restarted reader resumes with what it had not finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError

from dichte.domain.events import EventType, RecordEvent, checkin_record, stream_time
from dichte.domain.settings import Settings
from dichte.store.connection import connect
from dichte.store.keys import Keys

Entry = tuple[str, dict[str, str]]  # (stream id, fields)
# Kinds with a work list (screening events are read through the feed).
LISTED_KINDS = ("declaration", "case", "contact", "quarantine_order", "venue", "flag")
# Kinds that go to the IOC but not into the units' feeds: a station has no use for a
# line per QR scan (tracing reads check-ins directly), and at a province's volume they
# would be most of the feeds' memory.
NOT_FED = ("checkin",)
CONSUMER = "worker"
BACKLOG_COUNTED = 100_000
# Routing a batch: per entry (id, type, subject, units, list key prefix or "", score,
# data or ""), an XADD to each unit's feed under the entry's id (refused, and so
# skipped, when the feed already has it) and a ZADD NX to each unit's work list.
_ROUTE = """
local feed_prefix = ARGV[1]
local added = 0
for i = 2, #ARGV, 7 do
  local id, subject, list_prefix = ARGV[i], ARGV[i + 2], ARGV[i + 4]
  local score, data = ARGV[i + 5], ARGV[i + 6]
  for unit in string.gmatch(ARGV[i + 3], '%S+') do
    local r
    if data ~= '' then
      r = redis.pcall('XADD', feed_prefix .. unit, id, 'type', ARGV[i + 1], 'subject', subject,
        'data', data)
    else
      r = redis.pcall('XADD', feed_prefix .. unit, id, 'type', ARGV[i + 1], 'subject', subject)
    end
    if type(r) == 'string' then added = added + 1 end
    if list_prefix ~= '' then
      redis.call('ZADD', list_prefix .. unit, 'NX', score, subject)
    end
  end
end
return added
"""
_COUNT_AFTER = """
return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
"""  # one reader per group: a restarted one takes over its pending entries


class OutboxStore:
    def __init__(self, redis_url: str, *, key_prefix: str = "dichte") -> None:
        # Any: redis-py types stream replies as bytes-or-str unions that say nothing here
        # (decode_responses makes every one a str).
        self._redis: Any = connect(redis_url)
        self.keys = Keys(key_prefix)
        self._count_after = self._redis.register_script(_COUNT_AFTER)
        self._route = self._redis.register_script(_ROUTE)

    @classmethod
    def of(cls, s: Settings) -> OutboxStore:
        if not s.redis_url:
            raise ValueError("OutboxStore needs a resolved redis_url")
        return cls(s.redis_url, key_prefix=s.redis_key_prefix)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()

    def record_key(self, kind: str, record_id: str) -> str | None:
        """Where a record of this kind is stored (None for check-ins and screening
        events: see `records`)."""
        k = self.keys
        return {
            "declaration": k.declaration,
            "case": k.case,
            "contact": k.contact,
            "quarantine_order": k.quarantine,
            "venue": k.venue,
            "inspection": k.inspection,
            "flag": k.flag,
        }.get(kind, lambda _: None)(record_id)

    # --- writing -------------------------------------------------------------------
    async def append(self, event: RecordEvent, *, pipe: Any = None) -> None:
        """Append an event; with `pipe`, queued in the caller's transaction."""
        target = pipe if pipe is not None else self._redis
        result = target.xadd(self.keys.outbox(), event.fields())
        if pipe is None:
            await result

    # --- consumer groups -------------------------------------------------------------
    async def ensure_group(self, stream: str, group: str, start: str = "0") -> None:
        try:
            await self._redis.xgroup_create(stream, group, id=start, mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def read(
        self, stream: str, group: str, count: int, block_ms: int | None, new_only: bool = False
    ) -> list[Entry]:
        """Entries this group's reader took before and did not acknowledge (a restart),
        else new ones, waiting up to block_ms for some (None: not at all). `new_only`:
        only entries not taken before."""
        for start in (">",) if new_only else ("0", ">"):
            reply = await self._redis.xreadgroup(
                group,
                CONSUMER,
                {stream: start},
                count=count,
                block=None if start == "0" else block_ms,
            )
            found = [(str(i), f) for _, items in reply or [] for i, f in items]
            # An entry trimmed (retention) while it waited comes back without fields.
            await self.ack(stream, group, [i for i, f in found if not f])
            entries = [(i, f) for i, f in found if f]
            if entries or start == ">":
                return entries
        return []

    async def trim_delivered(self, stream: str) -> int:
        """Remove the entries every consumer group of the stream has taken and
        acknowledged (the outbox keeps only what some target still needs)."""
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError:
            return 0
        if not groups:
            return 0
        keep_from = None
        for g in groups:
            first_pending = None
            if int(g.get("pending") or 0):
                summary = await self._redis.xpending(stream, g["name"])
                first_pending = str(summary["min"])
            point = first_pending or _after(str(g["last-delivered-id"]))
            keep_from = point if keep_from is None else min(keep_from, point, key=_id_key)
        return int(await self._redis.xtrim(stream, minid=keep_from, approximate=False))

    async def ack(self, stream: str, group: str, ids: Sequence[str]) -> None:
        if ids:
            await self._redis.xack(stream, group, *ids)

    async def records(self, events: Sequence[RecordEvent]) -> list[dict[str, Any] | None]:
        """Each event's record as stored now, in one MGET (a check-in's from its subject,
        a screening event's from the entry); None where it is gone (retention)."""
        keys = [self.record_key(e.type.kind, e.subject) for e in events]
        wanted = [k for k in keys if k]
        raws = iter(await self._redis.mget(wanted) if wanted else [])
        out: list[dict[str, Any] | None] = []
        for event, key in zip(events, keys, strict=True):
            if event.type.kind == "checkin":
                out.append(checkin_record(event.subject))
                continue
            raw = next(raws) if key else event.data
            out.append(_record(event.type, raw) if raw else None)
        return out

    # --- routing into units ------------------------------------------------------------
    async def route(self, entries: Sequence[Entry]) -> int:
        """Each entry into its units' feeds (under the outbox entry's own id, so routing
        an entry twice adds it once) and work lists (scored by when the record was first
        written), in one script call per batch. Returns how many feed entries were added."""
        args: list[str | int] = [self.keys.feed("")]
        for entry_id, fields in entries:
            event = RecordEvent.of_fields(fields)
            if event.type.kind in NOT_FED or not event.units:
                continue
            listed = event.type.kind in LISTED_KINDS
            args += [
                entry_id,
                fields["type"],
                event.subject,
                " ".join(event.units),
                self.keys.work_list(event.type.kind, "") if listed else "",
                int(stream_time(entry_id).timestamp()),
                event.data,
            ]
        if len(args) == 1:
            return 0
        # The outbox as the one key named: it routes the script to the record's slot,
        # where the feeds and work lists are (store.keys).
        return int(await self._route(keys=[self.keys.outbox()], args=args))

    async def feed(self, unit: str, after: str, count: int) -> list[Entry]:
        reply = await self._redis.xrange(self.keys.feed(unit), min=f"({after}", count=count)
        return [(str(i), f) for i, f in reply]

    async def latest_feed(self, unit: str, count: int) -> list[Entry]:
        """The unit's `count` latest feed entries, oldest first."""
        reply = await self._redis.xrevrange(self.keys.feed(unit), count=count)
        return [(str(i), f) for i, f in reversed(reply)]

    async def wait_feed(self, unit: str, after: str, block_ms: int) -> list[Entry]:
        reply = await self._redis.xread({self.keys.feed(unit): after}, count=200, block=block_ms)
        return [(str(i), f) for _, items in reply or [] for i, f in items]

    async def feed_top(self, unit: str) -> str:
        reply = await self._redis.xrevrange(self.keys.feed(unit), count=1)
        return str(reply[0][0]) if reply else "0-0"

    async def work_list(
        self, kind: str, unit: str, before: float, after: float, count: int
    ) -> list[tuple[str, float]]:
        """Ids of the unit's records of this kind, newest first, scored in (after, before)."""
        reply = await self._redis.zrevrangebyscore(
            self.keys.work_list(kind, unit),
            f"({before}",
            f"({after}",
            start=0,
            num=count,
            withscores=True,
        )
        return [(str(m), float(s)) for m, s in reply]

    async def raw_records(self, keys: Sequence[str]) -> list[str | None]:
        return list(await self._redis.mget(keys)) if keys else []

    # --- delivery bookkeeping ------------------------------------------------------------
    async def failed_attempt(self, target: str, entry_id: str) -> int:
        return int(await self._redis.hincrby(self.keys.delivery_attempts(target), entry_id, 1))

    async def forget_attempts(self, target: str, ids: Sequence[str]) -> None:
        if ids:
            await self._redis.hdel(self.keys.delivery_attempts(target), *ids)

    async def dead_letter(
        self, target: str, stream: str, group: str, entry: Entry, reason: str, attempts: int
    ) -> None:
        """Move an entry its target keeps refusing out of the way, atomically."""
        entry_id, fields = entry
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(
            self.keys.dead_letters(target),
            {**fields, "entry": entry_id, "reason": reason[:500], "attempts": str(attempts)},
        )
        pipe.xack(stream, group, entry_id)
        pipe.hdel(self.keys.delivery_attempts(target), entry_id)
        pipe.hincrby(self.keys.delivery_state(target), "dead_letters_total", 1)
        await pipe.execute()

    async def dead_letter_again(
        self, target: str, entry_id: str, fields: dict[str, str], reason: str
    ) -> None:
        """A replayed dead letter refused again goes back among the dead letters."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(self.keys.dead_letters(target), {**fields, "entry": entry_id, "reason": reason})
        pipe.hdel(self.keys.delivery_attempts(target), entry_id)
        await pipe.execute()

    async def dead_letters(self, target: str, count: int = 100) -> list[Entry]:
        reply = await self._redis.xrange(self.keys.dead_letters(target), count=count)
        return [(str(i), f) for i, f in reply]

    async def replay_dead_letters(self, target: str) -> int:
        """Queue every dead letter of the target for delivery again (under its original
        entry id: the receiver sees the same CloudEvent id)."""
        moved = 0
        while True:
            batch = await self.dead_letters(target, 500)
            if not batch:
                return moved
            pipe = self._redis.pipeline(transaction=True)
            for dead_id, fields in batch:
                pipe.xadd(self.keys.replays(target), fields)
                pipe.xdel(self.keys.dead_letters(target), dead_id)
            await pipe.execute()
            moved += len(batch)

    async def replays(self, target: str, count: int) -> list[Entry]:
        """Replayed dead letters, as (original entry id, fields), oldest first."""
        reply = await self._redis.xrange(self.keys.replays(target), count=count)
        return [(str(f["entry"]), {**f, "replay_id": str(i)}) for i, f in reply]

    async def replayed(self, target: str, replay_ids: Sequence[str]) -> None:
        if replay_ids:
            await self._redis.xdel(self.keys.replays(target), *replay_ids)

    async def delivered(self, target: str, n: int, last_entry: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        state = self.keys.delivery_state(target)
        pipe.hincrby(state, "delivered_total", n)
        pipe.hset(state, mapping={"last_delivery_at": time.time(), "last_entry": last_entry})
        await pipe.execute()

    async def retried(self, target: str, error: str) -> None:
        state = self.keys.delivery_state(target)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(state, "retries_total", 1)
        pipe.hset(state, mapping={"last_error": error[:300], "last_error_at": time.time()})
        await pipe.execute()

    async def status(self, target: str, stream: str, group: str) -> dict[str, Any]:
        """Backlog (entries not yet taken, counted up to BACKLOG_COUNTED where Redis is
        older than 7 and does not keep a group's lag), lag (age of the oldest), last
        delivery, dead letters, retries."""
        backlog, oldest = 0, None
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError:
            groups = []
        for g in groups:
            if g["name"] != group:
                continue
            last = str(g["last-delivered-id"])
            waiting = g.get("lag")
            if waiting is None:
                waiting = await self._count_after(keys=[stream], args=[f"({last}", BACKLOG_COUNTED])
            backlog = int(waiting) + int(g.get("pending") or 0)
            pending = await self._redis.xpending_range(stream, group, "-", "+", 1)
            if pending:
                oldest = str(pending[0]["message_id"])
            else:
                after = await self._redis.xrange(stream, min=f"({last}", count=1)
                oldest = str(after[0][0]) if after else None
        state = await self._redis.hgetall(self.keys.delivery_state(target))
        last = state.get("last_delivery_at")
        return {
            "target": target,
            "backlog": backlog,
            "lag_s": round(time.time() - stream_time(oldest).timestamp(), 3) if oldest else 0.0,
            "last_delivery_at": float(last) if last else None,
            "delivered_total": int(state.get("delivered_total", 0)),
            "retries_total": int(state.get("retries_total", 0)),
            "last_error": state.get("last_error"),
            "dead_letters": int(await self._redis.xlen(self.keys.dead_letters(target))),
            "replays_queued": int(await self._redis.xlen(self.keys.replays(target))),
        }

    # --- webhooks --------------------------------------------------------------------
    async def add_webhook(self, webhook_id: str, config: dict[str, Any]) -> None:
        await self._redis.hset(self.keys.webhooks(), webhook_id, json.dumps(config))

    async def webhooks(self) -> dict[str, dict[str, Any]]:
        raw = await self._redis.hgetall(self.keys.webhooks())
        return {str(k): json.loads(v) for k, v in raw.items()}

    async def remove_webhook(self, webhook_id: str) -> bool:
        return bool(await self._redis.hdel(self.keys.webhooks(), webhook_id))


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _after(entry_id: str) -> str:
    """The smallest stream id after this one."""
    ms, seq = _id_key(entry_id)
    return f"{ms}-{seq + 1}"


def _record(event_type: EventType, raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if event_type.kind == "screening" and isinstance(value, dict):
        value.pop("face_crop", None)  # a picture of the person's face stays at the checkpoint
    return value if isinstance(value, dict) else None
