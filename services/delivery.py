"""Moving outbox entries on: into the health units' feeds (`UnitRouting`), and out to
an HTTP receiver, the IOC or a unit's webhook (`Delivery`).

Delivery is at-least-once. Entries are read through a Redis consumer group and
acknowledged only after the receiver answered 2xx; a restarted reader takes up what
it had read and not acknowledged. Each request is a CloudEvents 1.0 batch
(`application/cloudevents-batch+json`; an event's `id` is its outbox entry id, the
same on every redelivery) signed per Standard Webhooks. Order is kept: a batch that
fails is sent again, whole, before anything after it.

Two kinds of failure are told apart:
* the receiver is unavailable (no connection, timeout, 5xx, 408, 425, 429) or refuses
  the sender (401, 403, 404: a wrong URL or secret): retried with exponential back-off
  and jitter, without end (an outage must not lose data);
* the receiver refuses the content (any other 4xx): the batch is sent one event at a
  time to find the refused one; that event is tried `max_attempts` times and then
  moved to the target's dead letters, from where staff can replay it, and the rest
  flow on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from standardwebhooks import Webhook

from dichte.domain.events import (
    Minimisation,
    RecordEvent,
    cloudevent_attributes,
    outgoing_data,
)
from dichte.store.outbox import Entry, OutboxStore

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
BATCHES_PER_ROUND = 16  # then the caller counts, and may stop
ROUTER_GROUP = "units"
log = logging.getLogger(__name__)
_FORMAT = JSONFormat()


class UnitRouting:
    """Fans outbox entries out to the feeds and work lists of the units each names."""

    def __init__(self, store: OutboxStore, batch: int = 1000) -> None:
        self._store = store
        self._batch = batch
        self._stream = store.keys.outbox()

    async def start(self) -> None:
        await self._store.ensure_group(self._stream, ROUTER_GROUP)

    async def route_once(self, block_ms: int = 1000) -> int:
        entries = await self._store.read(self._stream, ROUTER_GROUP, self._batch, block_ms)
        if entries:
            await self._store.route(entries)
            await self._store.ack(self._stream, ROUTER_GROUP, [i for i, _ in entries])
        return len(entries)


@dataclass(frozen=True)
class Target:
    """Where one stream's entries go. `name` keys its bookkeeping ("ioc", "webhook-…")."""

    name: str
    url: str
    secret: str  # whsec_…
    stream: str
    group: str
    policy: Minimisation
    pseudonym_key: bytes
    source: str
    types: frozenset[str] = field(default_factory=frozenset)  # empty: every type


class Unavailable(Exception):
    """The receiver could not take the request now; try the same again later."""


class Refused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")


@dataclass
class DeliveryCounts:
    delivered: int = 0
    dead_lettered: int = 0
    retried: int = 0


# Not a verdict on the events: the receiver is busy (408, 425, 429), or the URL or the
# secret is wrong on one side (401, 403, 404), which staff fix without losing anything.
RETRYABLE = frozenset({401, 403, 404, 408, 425, 429})


class Delivery:
    def __init__(
        self,
        store: OutboxStore,
        target: Target,
        client: httpx.AsyncClient,
        *,
        batch: int = 1000,
        max_attempts: int = 5,
        backoff_s: tuple[float, float] = (0.2, 30.0),
        on_counts: Callable[[DeliveryCounts], None] = lambda counts: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self.target = target
        self._client = client
        self._batch = batch
        self._max_attempts = max_attempts
        self._backoff = backoff_s
        self._on_counts = on_counts
        self._clock = clock
        self._signer = Webhook(target.secret)
        self._failures = 0  # consecutive: sets the back-off

    async def start(self) -> None:
        await self._store.ensure_group(self.target.stream, self.target.group)

    # --- the request ---------------------------------------------------------------------
    async def _body(self, entries: Sequence[Entry]) -> bytes:
        events = [RecordEvent.of_fields(f) for _, f in entries]
        records = await self._store.records(events)
        t = self.target
        parts = []
        for (entry_id, _), event, record in zip(entries, events, records, strict=True):
            attributes = cloudevent_attributes(entry_id, event, t.source, t.policy, t.pseudonym_key)
            data = outgoing_data(event, record, t.policy, t.pseudonym_key)
            parts.append(_FORMAT.write(CloudEvent(attributes, data)))
        return b"[" + b",".join(parts) + b"]"

    async def _post(self, entries: Sequence[Entry], body: bytes | None = None) -> None:
        """One signed request; Unavailable or Refused unless the receiver took it."""
        if body is None:
            body = await self._body(entries)
        # The webhook id names this exact set of events: a retry is the same message.
        message_id = "msg_" + entries[0][0] + "_" + entries[-1][0] + f"_{len(entries)}"
        now = self._clock()
        text = body.decode()
        headers = {
            "content-type": BATCH_CONTENT_TYPE,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(message_id, now, text),
        }
        try:
            response = await self._client.post(self.target.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise Unavailable(f"{type(e).__name__}: {e}") from None
        if 200 <= response.status_code < 300:
            return
        if response.status_code >= 500 or response.status_code in RETRYABLE:
            raise Unavailable(f"HTTP {response.status_code}")
        raise Refused(response.status_code, response.text)

    # --- one round -----------------------------------------------------------------------
    async def deliver_once(self, block_ms: int = 1000) -> DeliveryCounts:
        """Deliver what is waiting (replayed dead letters first); Unavailable when the
        receiver is away (nothing acknowledged)."""
        counts = DeliveryCounts()
        replays = await self._store.replays(self.target.name, self._batch)
        if replays:
            await self._send(replays, counts, replay=True)
            return counts
        t = self.target
        entries = await self._wanted(
            await self._store.read(t.stream, t.group, self._batch, block_ms)
        )
        body = await self._body(entries) if entries else b""
        for _ in range(BATCHES_PER_ROUND):
            if not entries:
                break
            sending = asyncio.create_task(self._post(entries, body))
            try:
                # The next batch is read and written while the receiver reads this one;
                # if this one fails, the next stays pending and comes again after it.
                upcoming = await self._wanted(
                    await self._store.read(t.stream, t.group, self._batch, None, new_only=True)
                )
                upcoming_body = await self._body(upcoming) if upcoming else b""
            except BaseException:
                sending.cancel()
                raise
            try:
                await sending
            except Refused:
                await self._one_by_one(entries, counts, replay=False)
                return counts
            await self._done(entries, replay=False)
            counts.delivered += len(entries)
            entries, body = upcoming, upcoming_body
        return counts  # a batch read ahead and not sent stays pending: next round sends it

    async def _wanted(self, entries: list[Entry]) -> list[Entry]:
        """The entries of the types the target asked for; the others are acknowledged."""
        if not self.target.types:
            return entries
        skipped = [i for i, f in entries if f.get("type", "") not in self.target.types]
        await self._store.ack(self.target.stream, self.target.group, skipped)
        return [e for e in entries if e[1].get("type", "") in self.target.types]

    async def _done(self, entries: Sequence[Entry], replay: bool) -> None:
        if replay:
            await self._store.replayed(self.target.name, [f["replay_id"] for _, f in entries])
        else:
            ids = [i for i, _ in entries]
            await self._store.ack(self.target.stream, self.target.group, ids)
            await self._store.forget_attempts(self.target.name, ids)
        await self._store.delivered(self.target.name, len(entries), entries[-1][0])

    async def _send(self, entries: Sequence[Entry], counts: DeliveryCounts, replay: bool) -> None:
        try:
            await self._post(entries)
        except Refused:
            await self._one_by_one(entries, counts, replay)
            return
        await self._done(entries, replay)
        counts.delivered += len(entries)

    async def _one_by_one(
        self, entries: Sequence[Entry], counts: DeliveryCounts, replay: bool
    ) -> None:
        """Find the refused event(s): in order, stopping at one refused fewer than
        max_attempts times (it is tried again next round, ahead of what follows)."""
        for entry in entries:
            try:
                await self._post([entry])
            except Refused as e:
                attempts = await self._store.failed_attempt(self.target.name, entry[0])
                if attempts < self._max_attempts:
                    raise Unavailable(f"event {entry[0]} refused ({attempts}x): {e}") from None
                fields = {k: v for k, v in entry[1].items() if k != "replay_id"}
                if replay:
                    await self._store.replayed(self.target.name, [entry[1]["replay_id"]])
                    await self._store.dead_letter_again(self.target.name, entry[0], fields, str(e))
                else:
                    await self._store.dead_letter(
                        self.target.name,
                        self.target.stream,
                        self.target.group,
                        (entry[0], fields),
                        str(e),
                        attempts,
                    )
                counts.dead_lettered += 1
                log.warning("%s: event %s dead-lettered: %s", self.target.name, entry[0], e)
                continue
            await self._done([entry], replay)
            counts.delivered += 1

    # --- the loop ------------------------------------------------------------------------
    def backoff(self) -> float:
        """Full jitter over an exponentially growing cap (AWS's advice for retries)."""
        low, high = self._backoff
        cap = min(high, low * 2 ** min(self._failures, 20))
        return random.uniform(low, cap)

    async def step(self) -> None:
        """One round, and a wait after a failure."""
        try:
            counts = await self.deliver_once()
            self._failures = 0
        except Unavailable as e:
            self._failures += 1
            counts = DeliveryCounts(retried=1)
            await self._store.retried(self.target.name, str(e))
            self._on_counts(counts)
            await asyncio.sleep(self.backoff())
            return
        self._on_counts(counts)
