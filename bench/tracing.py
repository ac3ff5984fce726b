"""F1+F2 tracing latency over a synthetic province, Redis (the production layout:
sorted sets per venue and per person) against SQLite holding the same check-ins with
indexes on (venue, start) and (person, start). Both answer the same `trace()` from
domain.tracing, so only the storage differs, and both must find the same contacts.

    .venv/bin/python bench/tracing.py                    # quick: 200 k persons, 2 M check-ins
    .venv/bin/python bench/tracing.py --persons 800000 --venues 20000 --checkins 20000000
        # 40 % of a 2 M-person province at the same density per venue and per person

Writes bench/results/tracing.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dichte.domain.tracing import DAY, OutbreakSettings, Passage, Query, Stay, trace  # noqa: E402
from dichte.serving.embedded_redis import EmbeddedRedis  # noqa: E402
from dichte.store.epi import EpiStore  # noqa: E402
from dichte.store.keys import Keys  # noqa: E402

RESULTS = ROOT / "bench" / "results"
T0 = 1_790_000_000 - 1_790_000_000 % DAY  # a midnight (UTC), day 0 of the synthetic month
CHUNK = 20_000


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
    return f"v{i:031x}"


def load_redis(url: str, data: dict[str, np.ndarray], keys: Keys) -> None:
    client = redis.Redis.from_url(url, socket_timeout=600)
    n = len(data["person"])
    for lo in range(0, n, CHUNK):
        pipe = client.pipeline(transaction=False)
        p, v, s, e = (data[k][lo : lo + CHUNK] for k in ("person", "venue", "start", "end"))
        by_venue: dict[str, dict[str, int]] = {}
        by_person: dict[str, dict[str, int]] = {}
        ends: dict[str, int] = {}
        for pi, vi, si, ei in zip(p.tolist(), v.tolist(), s.tolist(), e.tolist(), strict=True):
            ps, vs = pid(pi), vid(vi)
            by_venue.setdefault(vs, {})[f"{ps}|{si}"] = si
            by_person.setdefault(ps, {})[f"{vs}|{si}"] = si
            if ei >= 0:
                ends[f"{vs}|{ps}|{si}"] = ei
        for vs, members in by_venue.items():
            pipe.zadd(keys.stays_at_venue(vs), members)
        for ps, members in by_person.items():
            pipe.zadd(keys.stays_of_person(ps), members)
        if ends:
            pipe.hset(keys.stay_ends(), mapping=ends)
        pipe.execute()
    client.close()


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


async def time_cases(
    index: object, cases: list[tuple[str, tuple[int, int]]]
) -> tuple[list[float], list[tuple[int, int]], list[tuple[frozenset, frozenset]]]:
    s = OutbreakSettings()
    times, sizes, found = [], [], []
    for person, window in cases:
        t = time.perf_counter()
        # Traced the day after isolation, as a health centre would: F1 stays from then on
        # are not F2 sources (the F1 are in quarantine by then).
        result = await trace(
            index,
            person,
            window,
            s,
            {},
            depth=2,  # type: ignore[arg-type]
            as_of=window[1] + DAY,
        )
        times.append((time.perf_counter() - t) * 1000)
        sizes.append((len(result.f1), len(result.f2)))
        found.append((frozenset(result.f1), frozenset(result.f2)))
    return times, sizes, found


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "mean_ms": statistics.fmean(ordered),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--venues", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--checkins", type=int, default=2_000_000)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    t = time.perf_counter()
    data = synthesize(args.persons, args.venues, args.days, args.checkins, args.seed)
    print(f"synthesized {args.checkins:,} check-ins in {time.perf_counter() - t:.1f} s", flush=True)
    rng = np.random.default_rng(args.seed + 1)
    cases = []
    for i in rng.choice(len(data["person"]), args.cases, replace=False).tolist():
        onset = T0 + int(rng.integers(5, args.days - 2)) * DAY
        cases.append((pid(int(data["person"][i])), (onset - 2 * DAY, onset + 3 * DAY)))

    work = Path(tempfile.mkdtemp(prefix="dichte-tracing-"))
    # No AOF: the data is throwaway, and a 10+ GB append-only file only slows the load.
    with EmbeddedRedis(work, append_only=False) as server:
        keys = Keys("bench")
        t = time.perf_counter()
        load_redis(server.url, data, keys)
        redis_load_s = time.perf_counter() - t
        memory = redis.Redis.from_url(server.url).info("memory")["used_memory"]
        print(f"redis: loaded in {redis_load_s:.0f} s, {memory / 2**30:.2f} GiB", flush=True)
        sqlite = SqliteIndex(work / "stays.sqlite")
        t = time.perf_counter()
        sqlite.load(data)
        sqlite_load_s = time.perf_counter() - t
        print(f"sqlite: loaded in {sqlite_load_s:.0f} s", flush=True)

        store = EpiStore(server.url, key_prefix="bench")
        await time_cases(store, cases[:10])  # warm up both
        await time_cases(sqlite, cases[:10])
        r_times, r_sizes, r_found = await time_cases(store, cases)
        s_times, _, s_found = await time_cases(sqlite, cases)
        await store.close()
    assert r_found == s_found, "Redis and SQLite traced different contacts"

    f1 = [a for a, _ in r_sizes]
    f2 = [b for _, b in r_sizes]
    report = {
        "benchmark": "F1+F2 trace of random cases (5-day infectious window)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "population": vars(args),
        "contacts_per_case": {
            "f1_mean": statistics.fmean(f1),
            "f2_mean": statistics.fmean(f2),
            "f2_max": max(f2),
        },
        "redis": {**summary(r_times), "load_s": redis_load_s, "memory_bytes": memory},
        "sqlite": {**summary(s_times), "load_s": sqlite_load_s},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracing.json").write_text(json.dumps(report, indent=2) + "\n")
    r, s = report["redis"], report["sqlite"]
    lines = [
        f"F1+F2 for {args.cases} random cases; {args.persons:,} persons, {args.venues:,} venues, "
        f"{args.days} days, {args.checkins:,} check-ins; {os.cpu_count()} CPUs, {report['date']}",
        "",
        "| store | p50 | p99 | mean | load |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| Redis sorted sets (dichte) | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
        f"{r['mean_ms']:.1f} ms | {r['load_s']:.0f} s, {memory / 2**30:.2f} GiB |",
        f"| SQLite {sqlite3.sqlite_version}, indexes (venue, start), (person, start) | "
        f"{s['p50_ms']:.1f} ms | {s['p99_ms']:.1f} ms | {s['mean_ms']:.1f} ms | "
        f"{s['load_s']:.0f} s |",
        "",
        f"Contacts per case: F1 mean {statistics.fmean(f1):.1f}, F2 mean {statistics.fmean(f2):.1f}"
        f" (max {max(f2)}); both stores found the same contacts for every case.",
    ]
    (RESULTS / "tracing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
