"""F1+F2 tracing over a synthetic province: the tracing index (production `TracingShard`
actors rebuilt from the check-ins written into Redis in the store's layout; each case
traced in its person's shard, as the API does) against Redis read directly (the
record, the fallback), SQLite with indexes on (venue, start) and (person, start), and
DuckDB (bench/tracing_duckdb.py). All answer the same `trace()` from domain.tracing
and must find the same contacts for every case. Per back end: p50/p99 per case, and
for the index cases/s for a wave confirmed at once (WAVE_CONCURRENCY in flight, as
`POST /cases/trace`), its rebuild time and memory per check-in.

    .venv/bin/python bench/tracing.py        # quick: 200 k persons, 5 k venues, 5 M check-ins
    .venv/bin/python bench/tracing.py --persons 2000000 --venues 50000 --checkins 50000000 \
        --cases 500 --peer-cases 200       # a 2 M-person province, 30 days

Writes bench/results/tracing.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import ray
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dichte.actors.tracing import (  # noqa: E402
    ShardedTracer,
    tracing_shards,
)
from dichte.domain.tracing import (  # noqa: E402
    DAY,
    OutbreakSettings,
    Passage,
    Query,
    Stay,
    TraceResult,
    trace,
)
from dichte.services.cases import WAVE_CONCURRENCY  # noqa: E402
from dichte.services.tracing import TraceRequest  # noqa: E402
from dichte.serving.embedded_redis import EmbeddedRedis  # noqa: E402
from dichte.store import stays  # noqa: E402
from dichte.store.epi import EpiStore  # noqa: E402
from dichte.store.keys import Keys  # noqa: E402

RESULTS = ROOT / "bench" / "results"
Case = tuple[str, tuple[int, int]]
T0 = 1_790_000_000 - 1_790_000_000 % DAY  # a midnight (UTC), day 0 of the synthetic month
CHUNK = 50_000


def synthesize(
    persons: int, venues: int, days: int, checkins: int, seed: int
) -> dict[str, np.ndarray]:
    """People mostly visit venues near home (clustered ids); arrivals between 06:00 and
    22:00; 70 % check out after 10-120 min, 30 % never do."""
    rng = np.random.default_rng(seed)
    person = rng.integers(0, persons, checkins, dtype=np.int64)
    neighbourhoods = max(1, venues // 50)
    home = person % neighbourhoods
    local = rng.random(checkins) < 0.8
    venue = (
        np.where(
            local, home * 50 + rng.integers(0, 50, checkins), rng.integers(0, venues, checkins)
        )
        % venues
    )
    start = T0 + rng.integers(0, days, checkins) * DAY + rng.integers(6 * 3600, 22 * 3600, checkins)
    end = np.where(rng.random(checkins) < 0.7, start + rng.integers(600, 7200, checkins), -1)
    return {"person": person, "venue": venue, "start": start, "end": end}


def pid(i: int) -> str:
    return f"{i:032x}"  # same length as a production person id (document hash)


def vid(i: int) -> str:
    return f"f{i:031x}"  # 32 hex digits like a production venue id, none a person's


def load_redis(url: str, data: dict[str, np.ndarray], keys: Keys) -> None:
    """The check-ins in the store's Redis layout (store.stays), as its scripts write them."""
    client = redis.Redis.from_url(url, socket_timeout=600)
    persons = range(int(data["person"].max()) + 1)
    venues = range(int(data["venue"].max()) + 1)
    person_ids, venue_ids = (
        [stays.pack_id(pid(i)) for i in persons],
        [stays.pack_id(vid(i)) for i in venues],
    )
    person_keys = [keys.stays_of_person(pid(i)) for i in persons]
    venue_prefixes = [keys.stays_at_venue(vid(i), 0)[:-1] for i in venues]
    time_of = struct.Struct(">I").pack
    connection = client.connection_pool.get_connection()
    n = len(data["person"])
    for lo in range(0, n, CHUNK):
        p, v, s, e = (
            data[k][lo : lo + CHUNK].tolist() for k in ("person", "venue", "start", "end")
        )
        by_key: dict[str, list[bytes]] = {}
        for pi, vi, si, ei in zip(p, v, s, e, strict=True):
            times = time_of(si) if ei < 0 else time_of(si) + time_of(ei)
            score = b"$10\r\n%d\r\n" % si  # unix seconds: 10 digits
            by_key.setdefault(f"{venue_prefixes[vi]}{si // DAY}", []).append(
                score + _bulk(person_ids[pi] + times)
            )
            by_key.setdefault(person_keys[pi], []).append(score + _bulk(venue_ids[vi] + times))
        # The protocol written directly: redis-py's packing, argument by argument, is
        # what limits a load of tens of millions.
        connection.send_packed_command(
            [
                b"".join(
                    b"*%d\r\n$4\r\nZADD\r\n" % (2 + 2 * len(members))
                    + _bulk(key.encode())
                    + b"".join(members)
                    for key, members in by_key.items()
                )
            ]
        )
        for _ in by_key:
            connection.read_response()
    client.connection_pool.release(connection)
    client.close()


def _bulk(x: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(x), x)


class SqliteIndex:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)

    def load(self, data: dict[str, np.ndarray]) -> None:
        db = self.db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE stays (person TEXT, venue TEXT, start INTEGER, end INTEGER)")
        db.execute("CREATE TABLE passages (person TEXT, checkpoint TEXT, plate TEXT, at INTEGER)")
        n = len(data["person"])
        for lo in range(0, n, CHUNK):
            rows = [
                (pid(p), vid(v), s, None if e < 0 else e)
                for p, v, s, e in zip(
                    *(
                        data[k][lo : lo + CHUNK].tolist()
                        for k in ("person", "venue", "start", "end")
                    ),
                    strict=True,
                )
            ]
            db.executemany("INSERT INTO stays VALUES (?, ?, ?, ?)", rows)
        db.execute("CREATE INDEX stays_venue_time ON stays (venue, start)")
        db.execute("CREATE INDEX stays_person_time ON stays (person, start)")
        db.execute("CREATE INDEX passages_person_time ON passages (person, at)")
        db.execute("CREATE INDEX passages_cp_time ON passages (checkpoint, at)")
        db.commit()

    def _rows(self, sql: str, queries: list[Query]) -> list[list[tuple]]:  # type: ignore[type-arg]
        return [self.db.execute(sql, q).fetchall() for q in queries]

    async def stays_of_persons(self, queries: list[Query]) -> list[list[Stay]]:
        sql = "SELECT * FROM stays WHERE person = ? AND start >= ? AND start < ?"
        return [[Stay(*r) for r in rows] for rows in self._rows(sql, queries)]

    async def stays_at_venues(self, queries: list[Query]) -> list[list[Stay]]:
        sql = "SELECT * FROM stays WHERE venue = ? AND start >= ? AND start < ?"
        return [[Stay(*r) for r in rows] for rows in self._rows(sql, queries)]

    async def passages_of_persons(self, queries: list[Query]) -> list[list[Passage]]:
        sql = "SELECT * FROM passages WHERE person = ? AND at >= ? AND at < ?"
        return [[Passage(*r) for r in rows] for rows in self._rows(sql, queries)]

    async def passages_at_checkpoints(self, queries: list[Query]) -> list[list[Passage]]:
        sql = "SELECT * FROM passages WHERE checkpoint = ? AND at >= ? AND at < ?"
        return [[Passage(*r) for r in rows] for rows in self._rows(sql, queries)]


async def traced(back_end: object, person: str, window: tuple[int, int]) -> TraceResult:
    """F1 + F2 of a case, traced the day after isolation, as a health centre would: F1
    stays from then on are not F2 sources (the F1 are in quarantine by then)."""
    s, as_of = OutbreakSettings(), window[1] + DAY
    if isinstance(back_end, ShardedTracer):  # in the case's shard, as the API does
        return await back_end.trace(TraceRequest(person, window, s, as_of=as_of))
    return await trace(back_end, person, window, s, {}, 2, None, as_of)  # type: ignore[arg-type]


async def time_cases(
    index: object, cases: list[tuple[str, tuple[int, int]]]
) -> tuple[list[float], list[tuple[int, int]], list[tuple[frozenset, frozenset]]]:
    times, sizes, found = [], [], []
    for person, window in cases:
        t = time.perf_counter()
        result = await traced(index, person, window)
        times.append((time.perf_counter() - t) * 1000)
        sizes.append((len(result.f1), len(result.f2)))
        found.append((frozenset(result.f1), frozenset(result.f2)))
    return times, sizes, found


async def wave_rate(index: object, cases: list[tuple[str, tuple[int, int]]]) -> float:
    """Cases per second for all of `cases` confirmed at once, traced WAVE_CONCURRENCY at
    a time as `POST /cases/trace` does."""
    slots = asyncio.Semaphore(WAVE_CONCURRENCY)

    async def one(person: str, window: tuple[int, int]) -> None:
        async with slots:
            await traced(index, person, window)

    t = time.perf_counter()
    await asyncio.gather(*(one(p, w) for p, w in cases))
    return len(cases) / (time.perf_counter() - t)


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "mean_ms": statistics.fmean(ordered),
    }


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def pick_cases(
    data: dict[str, np.ndarray], n: int, days: int, seed: int
) -> list[tuple[str, tuple[int, int]]]:
    """Persons who checked in somewhere, with a 5-day infectious window inside the month."""
    rng = np.random.default_rng(seed + 1)
    cases = []
    for i in rng.choice(len(data["person"]), n, replace=False).tolist():
        onset = T0 + int(rng.integers(5, days - 2)) * DAY
        cases.append((pid(int(data["person"][i])), (onset - 2 * DAY, onset + 3 * DAY)))
    return cases


async def run_index(
    cases: list[Case], shards: int, settings: dict[str, Any], args: Any
) -> tuple[dict[str, Any], list[tuple[int, int]], list[tuple[frozenset, frozenset]]]:
    """`shards` production `TracingShard` actors rebuilt from the check-ins in Redis,
    each case traced in its person's shard as the API does."""
    t = time.perf_counter()
    handles = tracing_shards(settings, shards)
    stats = await asyncio.gather(*(h.stats.remote() for h in handles))
    rebuild_s = time.perf_counter() - t
    resident = sum(x["rebuilt"]["rss_growth"] for x in stats)
    columns = sum(x["column_bytes"] for x in stats)
    index = ShardedTracer(handles)
    await time_cases(index, cases[:20])  # warm up
    times, sizes, found = await time_cases(index, cases[: args.cases])
    rate = await wave_rate(index, cases[: args.wave])
    for h in handles:
        ray.kill(h)
    result = {
        **summary(times),
        "shards": shards,
        "cases_per_s_wave": rate,
        "rebuild_s": rebuild_s,
        "resident_bytes_per_checkin": resident / args.checkins,
        "column_bytes_per_checkin": columns / args.checkins,
        "per_shard": stats,
    }
    print(f"index: {result}", flush=True)
    return result, sizes, found


def population_args(doc: str | None, checkins: int) -> argparse.ArgumentParser:
    """The synthetic province's options, shared by the tracing benchmarks."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--venues", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--checkins", type=int, default=checkins)
    parser.add_argument("--seed", type=int, default=7)
    return parser


async def main() -> None:
    parser = population_args(__doc__, 5_000_000)
    parser.add_argument("--cases", type=int, default=200, help="timed one after another")
    parser.add_argument("--peer-cases", type=int, default=100, help="of those, also on peers")
    parser.add_argument("--wave", type=int, default=1000, help="cases confirmed at once")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    work = Path(tempfile.mkdtemp(prefix="dichte-tracing-"))
    # No AOF: the data is throwaway, and a multi-GB append-only file only slows the load.
    with EmbeddedRedis(work, append_only=False) as server:
        t = time.perf_counter()
        data = synthesize(args.persons, args.venues, args.days, args.checkins, args.seed)
        print(f"synthesized {args.checkins:,} check-ins in {time.perf_counter() - t:.1f} s")
        cases = pick_cases(data, max(args.cases, args.wave), args.days, args.seed)
        t = time.perf_counter()
        load_redis(server.url, data, Keys("bench"))
        redis_load_s = time.perf_counter() - t
        memory = int(redis.Redis.from_url(server.url).info("memory")["used_memory"])
        print(f"redis: {redis_load_s:.0f} s, {memory / args.checkins:.0f} B/check-in", flush=True)
        gc.freeze()  # the synthetic data: millions of objects no trace should rescan

        settings = {"redis_url": server.url, "redis_key_prefix": "bench"}
        indexes, found_by = [], []
        for shards in args.shards:
            result, sizes, found = await run_index(cases, shards, settings, args)
            indexes.append(result)
            found_by.append(found)
        assert all(f == found_by[0] for f in found_by), "shard counts traced differently"
        store = EpiStore(server.url, key_prefix="bench")
        r_times, _, r_found = await time_cases(store, cases[: args.peer_cases])
        await store.close()
        assert r_found == found_by[0][: args.peer_cases], "Redis traced different contacts"
        peers: dict[str, Any] = {
            "redis": {
                **summary(r_times),
                "load_s": redis_load_s,
                "cases_per_s": 1000 / statistics.fmean(r_times),
                "bytes_per_checkin": memory / args.checkins,
            }
        }

        peer_cases = cases[: args.peer_cases]
        from tracing_duckdb import DuckdbIndex  # needs this module's names: imported late

        for name, peer in (
            ("sqlite", SqliteIndex(work / "stays.sqlite")),
            ("duckdb", DuckdbIndex(work / "stays.duckdb")),
        ):
            t = time.perf_counter()
            peer.load(data)
            load_s = time.perf_counter() - t
            await time_cases(peer, peer_cases[:10])
            times, _, found = await time_cases(peer, peer_cases)
            assert found == found_by[0][: len(peer_cases)], f"{name} traced different contacts"
            peers[name] = {
                **summary(times),
                "load_s": load_s,
                "cases_per_s": 1000 / statistics.fmean(times),
            }
            print(f"{name}: {peers[name]}", flush=True)
            del peer
    ray.shutdown()
    duckdb_version = importlib.metadata.version("duckdb")

    f1 = [a for a, _ in sizes]
    f2 = [b for _, b in sizes]
    report = {
        "benchmark": "F1+F2 trace of random cases (5-day infectious window)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "duckdb": duckdb_version,
        },
        "population": vars(args),
        "contacts_per_case": {
            "f1_mean": statistics.fmean(f1),
            "f2_mean": statistics.fmean(f2),
            "f2_max": max(f2),
        },
        "index": indexes,
        "peers": peers,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracing.json").write_text(json.dumps(report, indent=2) + "\n")
    faster = min(p["p99_ms"] for name, p in peers.items() if name != "redis")
    lines = [
        f"F1+F2 per case: {args.cases} random cases (peers: the first {args.peer_cases}); "
        f"{args.persons:,} persons, {args.venues:,} venues, {args.days} days, "
        f"{args.checkins:,} check-ins; {os.cpu_count()} CPUs, {report['date']}",
        "",
        f"| back end | p50 | p99 | wave of {args.wave} | load | memory per check-in |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for x in indexes:
        lines.append(
            f"| tracing index, {x['shards']} `TracingShard` actor(s) | {x['p50_ms']:.1f} ms | "
            f"{x['p99_ms']:.1f} ms | {x['cases_per_s_wave']:.0f} cases/s | "
            f"rebuilt from Redis in {x['rebuild_s']:.0f} s | "
            f"{x['resident_bytes_per_checkin']:.1f} B resident "
            f"({x['column_bytes_per_checkin']:.1f} B columns) |"
        )
    labels = {
        "redis": "Redis directly (the record, the fallback)",
        "sqlite": f"SQLite {sqlite3.sqlite_version}, indexes (venue, start), (person, start)",
        "duckdb": f"DuckDB {duckdb_version}, ordered by (hash(key), start)",
    }
    for name, p in peers.items():
        lines.append(
            f"| {labels[name]} | {p['p50_ms']:.1f} ms | {p['p99_ms']:.1f} ms | "
            f"{p['cases_per_s']:.0f} cases/s (one at a time) | {p['load_s']:.0f} s | "
            + (f"{p['bytes_per_checkin']:.0f} B |" if "bytes_per_checkin" in p else "|")
        )
    best = min(x["p99_ms"] for x in indexes)
    lines += [
        "",
        f"p99: the index {faster / best:.1f}× faster than the faster peer. Contacts per "
        f"case: F1 mean {statistics.fmean(f1):.1f}, F2 mean {statistics.fmean(f2):.1f} "
        f"(max {max(f2)}); every back end found the same contacts for every case.",
    ]
    (RESULTS / "tracing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
