"""Retention on real Redis: every kind of personal record goes when its period is over,
nothing newer goes with it, and the command line can do it on the embedded store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dichte.domain.cases import Case, ContactRecord, QuarantineOrder
from dichte.domain.declaration import DeclarationCreate
from dichte.domain.records import DeclarationRecord
from dichte.domain.settings import Settings
from dichte.domain.tracing import Stay
from dichte.services.retention import RetentionService
from dichte.serving.embedded_redis import EmbeddedRedis
from dichte.store.connection import connect_sync
from dichte.store.declarations import DeclarationStore
from dichte.store.epi import EpiStore
from dichte.store.keys import Keys
from tests.factories import distinct_declaration
from tests.live import dichte

# The store's scripts and transactions also run on a three-primary Redis Cluster.
ON_REDIS_CLUSTER = True

DAY = 86_400
NOW = datetime.now(UTC).replace(microsecond=0)
T = int(NOW.timestamp())


def settings(redis_url: str, prefix: str, **periods: int) -> Settings:
    return Settings(redis_url=redis_url, redis_key_prefix=prefix, **periods)


def declared(days_ago: float, checkpoint: str | None = None) -> DeclarationRecord:
    body = DeclarationCreate(**{**distinct_declaration(), "checkpoint_id": checkpoint})
    return DeclarationRecord.new(body, now=NOW - timedelta(days=days_ago))


def case(days_ago: float) -> Case:
    at = NOW - timedelta(days=days_ago)
    return Case(
        id=f"{int(days_ago):032x}",
        person_id=f"p{days_ago}",
        document_number="",
        full_name="",
        commune_code=None,
        province_code=None,
        classification="suspected",
        created_at=at,
    )


def contact(of: Case, n: int) -> ContactRecord:
    return ContactRecord(
        id=f"{n:032x}",
        case_id=of.id,
        person_id=f"c{n}",
        document_number="",
        full_name="",
        commune_code=None,
        province_code=None,
        exposures=[],
        first_exposure=of.created_at,
        last_exposure=of.created_at,
        follow_ups=[],
    )


def order(ended_days_ago: float, n: int) -> QuarantineOrder:
    end = NOW - timedelta(days=ended_days_ago)
    return QuarantineOrder(
        id=f"{n:032x}",
        person_id=f"q{n}",
        kind="home",
        place="",
        start=end - timedelta(days=14),
        end=end,
    )


def test_each_kind_goes_after_its_period_and_nothing_newer(redis_url: str, key_prefix: str) -> None:
    # Periods of this test, unlike the defaults: 10 days of check-ins, 20 of
    # declarations, 100 of cases.
    s = settings(
        redis_url,
        key_prefix,
        checkin_retention_days=10,
        declaration_retention_days=20,
        case_retention_days=100,
    )
    keys = Keys(key_prefix)
    client = connect_sync(redis_url, decode=True)
    old_case, new_case = case(101), case(99)

    # An outbox entry written 21 days ago (stream ids begin with the time in ms), and a
    # checkpoint's screening events of 11 and 9 days ago.
    client.xadd(keys.outbox(), {"kind": "declaration"}, id=f"{(T - 21 * DAY) * 1000}-0")
    for days in (11, 9):
        client.xadd(
            keys.screening_events("cp-1"), {"event": "{}"}, id=f"{(T - days * DAY) * 1000}-0"
        )
    # A unit's feed and work lists as the router left them: a declaration of 21 and one
    # of 9 days ago, a case opened 101 and one 99 days ago, a venue of 300 days ago.
    for days in (21, 9):
        client.xadd(keys.feed("commune-1"), {"type": "x"}, id=f"{(T - days * DAY) * 1000}-0")
        client.zadd(keys.work_list("declaration", "commune-1"), {f"d{days}": T - days * DAY})
    for days in (101, 99):
        client.zadd(keys.work_list("case", "commune-1"), {f"c{days}": T - days * DAY})
    client.zadd(keys.work_list("venue", "commune-1"), {"v": T - 300 * DAY})

    async def fill() -> None:
        epi = EpiStore.of(s)
        declarations = DeclarationStore.of(s)
        for days in (11, 9):
            await epi.check_in("cafe", f"guest-{days}", T - days * DAY, "d")
            await epi.check_out("cafe", f"guest-{days}", T - days * DAY + 600)
        for days in (21, 11, 9):  # passages at a checkpoint, from declarations
            r = declared(days, checkpoint="cp-1")
            await declarations.submit(r.to_write(r.idempotency_key(None)))
        for c in (old_case, new_case):
            await epi.create_case(c)
        await epi.add_contacts(
            old_case.id, [(contact(old_case, 1), ()), (contact(old_case, 2), ())]
        )
        await epi.add_contacts(new_case.id, [(contact(new_case, 3), ())])
        await epi.add_quarantine(order(101, 1))
        await epi.add_quarantine(order(5, 2))
        await epi.close()
        await declarations.close()

    asyncio.run(fill())
    outbox_before = client.xlen(keys.outbox())

    async def prune() -> dict[str, int]:
        service = RetentionService(s)
        try:
            return await service.run_once(T)
        finally:
            await service.close()

    removed = asyncio.run(prune())
    assert removed == {
        "checkins": 1,
        "passages": 2,  # 21 and 11 days old; 9 stays
        "screening_events": 1,
        "declaration_index_entries": 1,  # the 21-day-old declaration's
        "outbox_entries": 1,  # entries are stamped when written: the 21-day-old one
        "feed_entries": 1,
        "work_list_entries": 2,  # the 21-day-old declaration, the 101-day-old case
        "cases": 1,
        "quarantine_orders": 1,
    }

    async def left() -> tuple[list[Stay], list[Stay], list[Stay]]:
        epi = EpiStore.of(s)
        try:
            (at_cafe,) = await epi.stays_at_venues([("cafe", T - 40 * DAY, T + DAY)])
            return (
                at_cafe,
                *(await epi.stays_of_persons([("guest-11", 0, 2**32), ("guest-9", 0, 2**32)])),
            )
        finally:
            await epi.close()

    # The 9-day-old stay keeps its check-out; nothing of the 11-day-old one is left.
    at_cafe, of_11, of_9 = asyncio.run(left())
    assert at_cafe == of_9 == [Stay("guest-9", "cafe", T - 9 * DAY, T - 9 * DAY + 600)]
    assert of_11 == []
    passages = client.zrange(keys.passages_at_checkpoint("cp-1"), 0, -1, withscores=True)
    assert [int(score) for _, score in passages] == [T - 9 * DAY]
    assert client.xlen(keys.outbox()) == outbox_before - 1
    assert client.zrange(keys.work_list("declaration", "commune-1"), 0, -1) == ["d9"]
    assert client.zrange(keys.work_list("case", "commune-1"), 0, -1) == ["c99"]
    assert client.zrange(keys.work_list("venue", "commune-1"), 0, -1) == ["v"]
    assert client.get(keys.case(old_case.id)) is None
    assert client.get(keys.case_of_person(old_case.person_id)) is None
    assert (
        client.get(keys.contact(f"{1:032x}")) is None
        and client.get(keys.contact(f"{2:032x}")) is None
    )
    assert client.get(keys.case(new_case.id)) is not None
    assert client.get(keys.contact(f"{3:032x}")) is not None
    assert client.get(keys.quarantine(f"{1:032x}")) is None
    assert client.zcard(keys.quarantines_of_person("q1")) == 0
    assert client.get(keys.quarantine(f"{2:032x}")) is not None
    # A second round finds nothing more.
    assert set(asyncio.run(prune()).values()) == {0}
    client.close()


def test_a_declaration_and_its_profile_expire_with_the_declaration_retention(
    redis_url: str, key_prefix: str
) -> None:
    s = settings(redis_url, key_prefix, declaration_retention_days=10)
    record = declared(0)
    write = record.to_write(record.idempotency_key(None))

    async def submit() -> None:
        store = DeclarationStore.of(s)
        await store.submit(write)
        await store.close()

    asyncio.run(submit())
    keys = Keys(key_prefix)
    client = connect_sync(redis_url)
    ten_days = 10 * DAY
    for key in (
        keys.declaration(record.id),
        keys.person(write.document_hash),
        keys.person_by_phone(write.phone),
    ):
        assert ten_days - 60 < client.ttl(key) <= ten_days, key
    client.close()


def test_dichte_prune_works_on_the_embedded_store_of_a_running_system(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with EmbeddedRedis(data_dir) as running:  # what `dichte run` keeps going

        async def fill() -> None:
            epi = EpiStore(running.url)
            await epi.check_in("cafe", "old", T - 30 * DAY, "d")
            await epi.check_in("cafe", "new", T - DAY, "d")
            await epi.close()

        asyncio.run(fill())
        r = dichte(
            "prune", "--json", env={"PATH": "/usr/bin:/bin", "DICHTE_DATA_DIR": str(data_dir)}
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["checkins"] == 1

        async def left() -> list[Stay]:
            epi = EpiStore(running.url)
            (at_cafe,) = await epi.stays_at_venues([("cafe", T - 40 * DAY, T + DAY)])
            await epi.close()
            return at_cafe

        assert [x.person for x in asyncio.run(left())] == ["new"]
