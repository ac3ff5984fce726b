"""Venues, check-ins, persons, cases, contacts and quarantine orders in Redis: the
storage behind tracing, plain asyncio (Serve replicas hold one each; Redis scripts keep
concurrent writers consistent).

Check-ins are kept twice, in a sorted set per venue and day and one per person, scored
by check-in time, so tracing reads only the time slices it needs and never scans all
check-ins; their members are compact binary (store.stays), the check-out appended.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from dichte.domain.cases import Case, ContactRecord, QuarantineOrder, quarantine_changes
from dichte.domain.clock import VIETNAM_TZ
from dichte.domain.events import EventType, RecordEvent
from dichte.domain.settings import Settings
from dichte.domain.tracing import MAX_STAY_S, Passage, Query, Stay
from dichte.domain.venues import Venue
from dichte.store import stays
from dichte.store.connection import connect, replicas_to_wait, replicated
from dichte.store.keys import Keys

# A check-in is written slot by slot (store.keys: a Redis Cluster keeps the person's
# set, the venue's and the record's counters on different primaries), each step safe
# to repeat, so that a write retried after a failure completes what the first began:
#   1. the person's set: a second scan at the venue in the same minute finds the first
#      one; otherwise the stay is added. ARGV: at, the member (store.stays).
_ADD_TO_PERSON = """
local at = tonumber(ARGV[1])
local minute = at - at % 60
local prefix = string.sub(ARGV[2], 1, #ARGV[2] - 4)
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], minute, minute + 59)) do
  if (#m == #prefix + 4 or #m == #prefix + 8) and string.sub(m, 1, #prefix) == prefix then
    local first = struct.unpack('>I4', m, #prefix + 1)
    return first
  end
end
redis.call('ZADD', KEYS[1], at, ARGV[2])
return at
"""

#   2. the venue's set for the day of the stay's start: added unless there, open or
#      closed. ARGV: start, the open member.
_ADD_TO_VENUE = """
local open = ARGV[2]
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
  if (#m == #open or #m == #open + 4) and string.sub(m, 1, #open) == open then
    return 0
  end
end
redis.call('ZADD', KEYS[1], ARGV[1], open)
return 1
"""

#   3. the record's slot, once per stay (a key kept a few minutes says it was done):
#      the outbox event, the counters, the tracing index's change. KEYS: that key,
#      check-ins by day, the outbox, the commune-day counters, the commune's scanned
#      venues, the tracing changes. ARGV: person, venue, start, Vietnam day, units,
#      changes kept, how long the key is kept.
_ANNOUNCE_CHECKIN = """
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[7]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
redis.call('XADD', KEYS[3], '*', 'type', 'checkin.created',
  'subject', ARGV[2] .. '|' .. ARGV[1] .. '|' .. ARGV[3], 'units', ARGV[5])
redis.call('HINCRBY', KEYS[4], 'checkins', 1)
redis.call('ZADD', KEYS[5], 'GT', ARGV[3], ARGV[2])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*',
  'op', 'in', 'p', ARGV[1], 'v', ARGV[2], 's', ARGV[3])
return 1
"""

# A check-out closes the person's latest check-in at the venue that is at most
# MAX_STAY old, in the person's set (the end appended to its member): {1, start, end}
# closed now, {0, start, end} closed before, {-1} none. ARGV: the venue's packed id,
# at, MAX_STAY. The venue's set and the tracing change follow, in their own slots.
_CLOSE_AT_PERSON = """
local at = tonumber(ARGV[2])
local vp = ARGV[1]
for _, m in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], at, at - ARGV[3])) do
  if (#m == #vp + 4 or #m == #vp + 8) and string.sub(m, 1, #vp) == vp then
    local start = struct.unpack('>I4', m, #vp + 1)
    if #m == #vp + 8 then
      local closed = struct.unpack('>I4', m, #vp + 5)
      return {0, start, closed}
    end
    redis.call('ZREM', KEYS[1], m)
    redis.call('ZADD', KEYS[1], start, m .. struct.pack('>I4', at))
    return {1, start, at}
  end
end
return {-1}
"""

# How long a check-in's "announced" key is kept: longer than a client retries a write.
CHECKIN_RECORDED_S = 600

_CREATE_CASE = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('XADD', KEYS[4], '*', 'type', 'case.created', 'subject', ARGV[1], 'units', ARGV[4])
redis.call('HINCRBY', KEYS[5], 'cases', 1)
return false
"""

# Contacts already recorded keep their follow-ups; each new one is announced, indexed
# under its person and counted: an F1 on the day it is recorded, a follow-up due on
# each day of its schedule (ARGV[1] the commune-day counter prefix, ARGV[2] today,
# ARGV[3] now, ARGV[4] how long the person index is kept; then per contact: key,
# JSON, id, units, commune, person index key, follow-up days).
_ADD_CONTACTS = """
local added = 0
for i = 5, #ARGV, 7 do
  if redis.call('SET', ARGV[i], ARGV[i + 1], 'NX') then
    redis.call('SADD', KEYS[1], ARGV[i + 2])
    redis.call('XADD', KEYS[2], '*', 'type', 'contact.created', 'subject', ARGV[i + 2],
      'units', ARGV[i + 3])
    local counters = ARGV[1] .. ARGV[i + 4] .. ':'
    redis.call('HINCRBY', counters .. ARGV[2], 'f1', 1)
    for day in string.gmatch(ARGV[i + 6], '%S+') do
      redis.call('HINCRBY', counters .. day, 'fu_due', 1)
    end
    redis.call('ZADD', ARGV[i + 5], ARGV[3], ARGV[i + 2])
    redis.call('EXPIRE', ARGV[i + 5], ARGV[4])
    added = added + 1
  end
end
return added
"""

# F2 persons of a case, each counted once on the day first found (ARGV[1] the
# commune-day counter prefix, ARGV[2] today, ARGV[3] how long the set is kept; then
# person, commune pairs).
_COUNT_F2 = """
local added = 0
for i = 4, #ARGV, 2 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('HINCRBY', ARGV[1] .. ARGV[i + 1] .. ':' .. ARGV[2], 'f2', 1)
    added = added + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return added
"""

# Changes kept for the tracing index to follow (about: the stream is trimmed lazily);
# a shard that starts reads the record itself and follows only what comes after.
TRACING_CHANGES_KEPT = 1_000_000


def _commune(code: int | None) -> str:
    """A counter key's commune part ("none" for a person with no known commune)."""
    return "none" if code is None else str(code)


def _passages(
    members: Iterable[object], person: str | None, checkpoint: str | None
) -> list[Passage]:
    """Members are "checkpoint|plate|at" (per person) or "person|plate|at" (per checkpoint)."""
    out = []
    for m in members:
        who_or_where, plate, at = str(m).rsplit("|", 2)
        out.append(Passage(person or who_or_where, checkpoint or who_or_where, plate, int(at)))
    return out


class EpiStore:
    def __init__(
        self,
        redis_url: str,
        *,
        key_prefix: str = "dichte",
        person_retention_s: int = 28 * 86_400,
        case_retention_s: int = 365 * 86_400,
        replicas: int = 0,
    ) -> None:
        self._redis = connect(redis_url)
        self._replicas = replicas  # check-ins acknowledged once this many replicas have them
        # Check-ins are binary members (store.stays): read and written undecoded.
        self._bytes = connect(redis_url, decode=False)
        self.keys = Keys(key_prefix)
        self._person_retention_s = person_retention_s
        self._case_retention_s = case_retention_s
        self._add_to_person = self._bytes.register_script(_ADD_TO_PERSON)
        self._add_to_venue = self._bytes.register_script(_ADD_TO_VENUE)
        self._announce_checkin = self._bytes.register_script(_ANNOUNCE_CHECKIN)
        self._close_at_person = self._bytes.register_script(_CLOSE_AT_PERSON)
        self._create_case = self._redis.register_script(_CREATE_CASE)
        self._add_contacts = self._redis.register_script(_ADD_CONTACTS)
        self._count_f2 = self._redis.register_script(_COUNT_F2)

    @classmethod
    def of(cls, s: Settings) -> EpiStore:
        """The store as the settings configure it (a resolved redis_url needed)."""
        if not s.redis_url:
            raise ValueError("EpiStore needs a resolved redis_url")
        return cls(
            s.redis_url,
            key_prefix=s.redis_key_prefix,
            person_retention_s=s.declaration_retention_days * 86_400,
            case_retention_s=s.case_retention_days * 86_400,
            replicas=replicas_to_wait(s.redis_url, s.strict_durability),
        )

    async def close(self) -> None:
        await self._redis.aclose()
        await self._bytes.aclose()

    # --- rate limits ---------------------------------------------------------------
    async def allow(self, name: str, who: str, limit: int, window_s: int) -> bool:
        window = int(datetime.now(UTC).timestamp()) // window_s
        key = self.keys.rate(name, who, window)
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window_s)
        count, _ = await pipe.execute()
        return int(count) <= limit

    # --- persons -------------------------------------------------------------------
    async def person(self, person_id: str) -> dict[str, str]:
        return (await self.persons([person_id]))[person_id]

    async def persons(self, person_ids: list[str]) -> dict[str, dict[str, str]]:
        """The profiles of many persons in one round trip ({} for an unknown one)."""
        if not person_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for pid in person_ids:
            pipe.hgetall(self.keys.person(pid))
        raws = await pipe.execute()
        return {
            pid: {str(k): str(v) for k, v in raw.items()}
            for pid, raw in zip(person_ids, raws, strict=True)
        }

    async def person_by_phone(self, phone: str) -> str | None:
        value = await self._redis.get(self.keys.person_by_phone(phone))
        return None if value is None else str(value)

    async def ensure_person(self, person_id: str, fields: dict[str, str]) -> None:
        """A person known only from a staff check-in or a case: keep what we know,
        never overwrite what a declaration said."""
        key = self.keys.person(person_id)
        pipe = self._redis.pipeline()
        for name, value in fields.items():
            pipe.hsetnx(key, name, value)
        pipe.expire(key, self._person_retention_s)  # kept as long as a declaration's
        await pipe.execute()

    # --- venues --------------------------------------------------------------------
    def _announce(self, pipe: object, event: RecordEvent) -> None:
        """Queue the record's event in the caller's transaction (store.outbox reads it)."""
        pipe.xadd(self.keys.outbox(), event.fields())  # type: ignore[attr-defined]

    async def add_venue(self, venue: Venue, units: tuple[str, ...] = ()) -> None:
        pipe = self._redis.pipeline()
        pipe.set(self.keys.venue(venue.id), venue.model_dump_json())
        pipe.sadd(self.keys.venues_of_commune(venue.commune_code), venue.id)
        self._announce(pipe, RecordEvent(EventType.VENUE_CREATED, venue.id, units))
        await pipe.execute()

    async def save_venue(self, venue: Venue, units: tuple[str, ...] = ()) -> None:
        """A withdrawn venue leaves its commune's registered venues and the deployment
        counts (scanned, inspected); put back, it counts again from its next scan."""
        k, commune = self.keys, venue.commune_code
        pipe = self._redis.pipeline()
        pipe.set(k.venue(venue.id), venue.model_dump_json())
        if venue.active:
            pipe.sadd(k.venues_of_commune(commune), venue.id)
        else:
            pipe.srem(k.venues_of_commune(commune), venue.id)
            for key in (k.venues_scanned, k.venues_inspected, k.venues_compliant):
                pipe.zrem(key(commune), venue.id)
        self._announce(pipe, RecordEvent(EventType.VENUE_UPDATED, venue.id, units))
        await pipe.execute()

    async def venue(self, venue_id: str) -> Venue | None:
        raw = await self._redis.get(self.keys.venue(venue_id))
        return None if raw is None else Venue.model_validate_json(raw)

    async def venues(self, venue_ids: set[str]) -> dict[str, Venue]:
        ids = sorted(venue_ids)
        raws = await self._redis.mget([self.keys.venue(i) for i in ids]) if ids else []
        return {i: Venue.model_validate_json(r) for i, r in zip(ids, raws, strict=True) if r}

    # --- check-ins -----------------------------------------------------------------
    async def check_in(
        self,
        venue_id: str,
        person_id: str,
        at: int,
        day: str,
        units: tuple[str, ...] = (),
        commune_code: int | None = None,
    ) -> tuple[bool, int]:
        """(created, start): a second scan in the same minute returns the first one. A
        new check-in is announced in the outbox for `units` and counted for the venue's
        commune. Written in three steps, one slot each (see _ADD_TO_PERSON); a call
        repeated after a failure completes the steps the first did not."""
        k = self.keys
        commune = commune_code if commune_code is not None else "none"
        start = int(
            await self._add_to_person(
                keys=[k.stays_of_person(person_id)], args=[at, stays.member(venue_id, at)]
            )
        )
        await self._add_to_venue(
            keys=[k.stays_at_venue(venue_id, stays.day_of(start))],
            args=[start, stays.member(person_id, start)],
        )
        created = await self._announce_checkin(
            keys=[
                k.checkin_recorded(person_id, venue_id, start),
                k.checkins_by_day(),
                k.outbox(),
                k.commune_day(commune, day),
                k.venues_scanned(commune),
                k.tracing_changes(),
            ],
            args=[
                person_id,
                venue_id,
                start,
                day,
                " ".join(units),
                TRACING_CHANGES_KEPT,
                CHECKIN_RECORDED_S,
            ],
        )
        await self._replicated()
        return bool(int(created)), start

    async def check_out(
        self, venue_id: str, person_id: str, at: int
    ) -> tuple[bool, int, int] | None:
        """(closed now, start, end) of the stay closed, or None when there is no check-in
        at this venue in the day before `at`. The person's set first, then the venue's
        and the tracing change, each safe to repeat (a check-out scanned again, or
        retried after a failure, writes the same)."""
        result = await self._close_at_person(
            keys=[self.keys.stays_of_person(person_id)],
            args=[stays.pack_id(venue_id), at, MAX_STAY_S],
        )
        if int(result[0]) < 0:
            return None
        closed_now, start, end = bool(int(result[0])), int(result[1]), int(result[2])
        venue_day = self.keys.stays_at_venue(venue_id, stays.day_of(start))
        pipe = self._bytes.pipeline(transaction=True)
        pipe.zrem(venue_day, stays.member(person_id, start))
        pipe.zadd(venue_day, {stays.member(person_id, start, end): start})
        await pipe.execute()
        changes = {"op": "out", "p": person_id, "v": venue_id, "s": start, "e": end}
        await self._bytes.xadd(
            self.keys.tracing_changes(), changes, maxlen=TRACING_CHANGES_KEPT, approximate=True
        )
        await self._replicated()
        return closed_now, start, end

    async def _replicated(self) -> None:
        if self._replicas:
            await replicated(self._redis, self.keys.replication_probe(), self._replicas)

    async def tracing_position(self) -> str:
        """The id of the latest check-in change ("0-0": none): what the tracing index
        must have applied to answer as the record would now."""
        last = await self._redis.xrevrange(self.keys.tracing_changes(), count=1)
        return str(last[0][0]) if last else "0-0"

    async def _ranges(self, keys: list[str], queries: list[Query]) -> list[list[str]]:
        """One pipeline: the members of each sorted set scored in [from, until)."""
        if not queries:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for key, (_, lo, hi) in zip(keys, queries, strict=True):
            pipe.zrangebyscore(key, lo, f"({hi}")
        return [[str(m) for m in members] for members in await pipe.execute()]

    async def stays_of_persons(self, queries: list[Query]) -> list[list[Stay]]:
        pipe = self._bytes.pipeline(transaction=False)
        for person, lo, hi in queries:
            pipe.zrangebyscore(self.keys.stays_of_person(person), lo, f"({hi}")
        found = await pipe.execute() if queries else []
        return [
            [Stay(q[0], *stays.parse(m)) for m in members]
            for q, members in zip(queries, found, strict=True)
        ]

    async def stays_at_venues(self, queries: list[Query]) -> list[list[Stay]]:
        """Each query reads the venue's set of every day it spans, in one pipeline."""
        pipe = self._bytes.pipeline(transaction=False)
        spans = []
        for venue, lo, hi in queries:
            span = stays.days(lo, hi)
            for day in span:
                pipe.zrangebyscore(self.keys.stays_at_venue(venue, day), lo, f"({hi}")
            spans.append(len(span))
        found = iter(await pipe.execute() if queries else [])
        out = []
        for (venue, _, _), n in zip(queries, spans, strict=True):
            batch = []
            for _ in range(n):
                for m in next(found):
                    person, start, end = stays.parse(m)
                    batch.append(Stay(person, venue, start, end))
            out.append(batch)
        return out

    async def passages_of_persons(self, queries: list[Query]) -> list[list[Passage]]:
        found = await self._ranges([self.keys.passages_of_person(q[0]) for q in queries], queries)
        return [
            _passages(members, person=q[0], checkpoint=None)
            for q, members in zip(queries, found, strict=True)
        ]

    async def passages_at_checkpoints(self, queries: list[Query]) -> list[list[Passage]]:
        found = await self._ranges(
            [self.keys.passages_at_checkpoint(q[0]) for q in queries], queries
        )
        return [
            _passages(members, person=None, checkpoint=q[0])
            for q, members in zip(queries, found, strict=True)
        ]

    # --- cases and contacts ----------------------------------------------------------
    async def create_case(self, case: Case, units: tuple[str, ...] = ()) -> tuple[Case, bool]:
        """One case per person: creating it again returns the existing one."""
        existing = await self._create_case(
            keys=[
                self.keys.case_of_person(case.person_id),
                self.keys.case(case.id),
                self.keys.cases_by_time(),
                self.keys.outbox(),
                self.keys.commune_day(
                    case.commune_code if case.commune_code is not None else "none",
                    case.created_at.astimezone(VIETNAM_TZ).date().isoformat(),
                ),
            ],
            args=[
                case.id,
                case.model_dump_json(),
                int(case.created_at.timestamp()),
                " ".join(units),
            ],
        )
        if existing:
            found = await self.case(str(existing))
            assert found is not None
            return found, False
        return case, True

    async def case(self, case_id: str) -> Case | None:
        raw = await self._redis.get(self.keys.case(case_id))
        return None if raw is None else Case.model_validate_json(raw)

    async def case_of_person(self, person_id: str) -> str | None:
        return (await self.cases_of_persons([person_id]))[person_id]

    async def cases_of_persons(self, person_ids: list[str]) -> dict[str, str | None]:
        """Each person's case id (None: no case), in one round trip."""
        if not person_ids:
            return {}
        values = await self._redis.mget([self.keys.case_of_person(p) for p in person_ids])
        return {p: None if v is None else str(v) for p, v in zip(person_ids, values, strict=True)}

    async def save_case(self, case: Case, units: tuple[str, ...] = ()) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.keys.case(case.id), case.model_dump_json())
        self._announce(pipe, RecordEvent(EventType.CASE_UPDATED, case.id, units))
        await pipe.execute()

    async def add_contacts(
        self,
        case_id: str,
        contacts: list[tuple[ContactRecord, tuple[str, ...]]],
        now: datetime | None = None,
    ) -> int:
        """Idempotent: a contact already recorded keeps its follow-ups. Each contact comes
        with the units it is routed to. Returns how many are new."""
        if not contacts:
            return 0
        k = self.keys
        at = now or datetime.now(UTC)
        args: list[str | int] = [
            k.commune_day_prefix(),
            at.astimezone(VIETNAM_TZ).date().isoformat(),
            int(at.timestamp()),
            self._case_retention_s,
        ]
        for c, units in contacts:
            args += [
                k.contact(c.id),
                c.model_dump_json(),
                c.id,
                " ".join(units),
                _commune(c.commune_code),
                k.contacts_of_person(c.person_id),
                " ".join(f.date.isoformat() for f in c.follow_ups),
            ]
        added = await self._add_contacts(keys=[k.contacts_of_case(case_id), k.outbox()], args=args)
        return int(added)

    async def count_f2(self, case_id: str, persons: dict[str, int | None], day: str) -> int:
        """Count each person found as F2 of the case once, for their commune, on `day`."""
        if not persons:
            return 0
        args: list[str | int] = [self.keys.commune_day_prefix(), day, self._case_retention_s]
        for person, commune in sorted(persons.items()):
            args += [person, _commune(commune)]
        return int(await self._count_f2(keys=[self.keys.f2_of_case(case_id)], args=args))

    async def contacts_of_person(self, person_id: str) -> list[tuple[str, int]]:
        """(contact id, when recorded) of every contact record of the person."""
        found: list[Any] = await self._redis.zrange(
            self.keys.contacts_of_person(person_id), 0, -1, withscores=True
        )
        return [(str(m), int(s)) for m, s in found]

    async def contacts(self, contact_ids: list[str]) -> list[ContactRecord]:
        raws = (
            await self._redis.mget([self.keys.contact(i) for i in contact_ids])
            if contact_ids
            else []
        )
        return [ContactRecord.model_validate_json(r) for r in raws if r]

    async def contacts_of(self, case_id: str) -> list[ContactRecord]:
        ids = sorted(
            str(i) for i in await self._redis.smembers(self.keys.contacts_of_case(case_id))
        )
        raws = await self._redis.mget([self.keys.contact(i) for i in ids]) if ids else []
        return [ContactRecord.model_validate_json(r) for r in raws if r]

    async def contact(self, contact_id: str) -> ContactRecord | None:
        raw = await self._redis.get(self.keys.contact(contact_id))
        return None if raw is None else ContactRecord.model_validate_json(raw)

    async def save_contact(
        self,
        contact: ContactRecord,
        units: tuple[str, ...] = (),
        follow_ups_done: dict[str, int] | None = None,
    ) -> None:
        """`follow_ups_done`: the change of follow-ups done per follow-up day (+1 when
        one is recorded, -1 when one is set back to pending), counted with the write."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.keys.contact(contact.id), contact.model_dump_json())
        self._announce(pipe, RecordEvent(EventType.CONTACT_UPDATED, contact.id, units))
        for day, change in (follow_ups_done or {}).items():
            key = self.keys.commune_day(_commune(contact.commune_code), day)
            pipe.hincrby(key, "fu_done", change)
        await pipe.execute()

    # --- quarantine ------------------------------------------------------------------
    def _count_quarantine(self, pipe: Any, order: QuarantineOrder, sign: int) -> None:
        for day, change in quarantine_changes(order).items():
            pipe.hincrby(
                self.keys.quarantine_changes(_commune(order.commune_code)), day, sign * change
            )

    async def add_quarantine(self, order: QuarantineOrder, units: tuple[str, ...] = ()) -> None:
        pipe = self._redis.pipeline(transaction=True)
        self._count_quarantine(pipe, order, +1)
        self._announce(pipe, RecordEvent(EventType.QUARANTINE_CREATED, order.id, units))
        pipe.set(self.keys.quarantine(order.id), order.model_dump_json())
        pipe.zadd(
            self.keys.quarantines_of_person(order.person_id),
            {order.id: int(order.start.timestamp())},
        )
        pipe.zadd(self.keys.quarantines_by_end(), {order.id: int(order.end.timestamp())})
        await pipe.execute()

    async def quarantine(self, order_id: str) -> QuarantineOrder | None:
        raw = await self._redis.get(self.keys.quarantine(order_id))
        return None if raw is None else QuarantineOrder.model_validate_json(raw)

    async def save_quarantine(
        self,
        order: QuarantineOrder,
        units: tuple[str, ...] = (),
        before: QuarantineOrder | None = None,
    ) -> None:
        """`before`: the order as it was, whose count is replaced by the new one's."""
        pipe = self._redis.pipeline(transaction=True)
        if before is not None:
            self._count_quarantine(pipe, before, -1)
        self._count_quarantine(pipe, order, +1)
        self._announce(pipe, RecordEvent(EventType.QUARANTINE_UPDATED, order.id, units))
        pipe.set(self.keys.quarantine(order.id), order.model_dump_json())
        pipe.zadd(self.keys.quarantines_by_end(), {order.id: int(order.end.timestamp())})
        await pipe.execute()

    async def quarantine_orders(self, person_ids: list[str]) -> dict[str, list[QuarantineOrder]]:
        """Each person's quarantine orders, earliest start first: two round trips for
        any number of persons."""
        if not person_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for pid in person_ids:
            pipe.zrange(self.keys.quarantines_of_person(pid), 0, -1)
        ids_per_person = [[str(i) for i in ids] for ids in await pipe.execute()]
        flat = [i for ids in ids_per_person for i in ids]
        raws = await self._redis.mget([self.keys.quarantine(i) for i in flat]) if flat else []
        orders = {
            i: QuarantineOrder.model_validate_json(r)
            for i, r in zip(flat, raws, strict=True)
            if r is not None
        }
        return {
            pid: [orders[i] for i in ids if i in orders]
            for pid, ids in zip(person_ids, ids_per_person, strict=True)
        }
