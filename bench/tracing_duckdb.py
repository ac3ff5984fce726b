"""A DuckDB peer of `bench/tracing.py`'s SQLite index: the same synthetic check-ins, the
same `trace()`, answered by DuckDB. Each batch of look-ups is one SQL statement (the
batch as a VALUES relation joined to the stays): five statements a trace (the case's
stays, their venues, the case's passages, the F1's stays, their venues).

    .venv/bin/python bench/tracing_duckdb.py             # 200 k persons, 2 M check-ins
    .venv/bin/python bench/tracing_duckdb.py --persons 800000 --venues 20000 --checkins 20000000

The self-check traces the same random cases against SQLite and DuckDB, asserts that
both find the same F1 and F2 for every case, and prints p50/p99 of both.

Measured on 2 shared CPUs, DuckDB 2.0.1, 50 cases; p50/p99 per trace. 2 M check-ins
(200 k persons, 5 k venues; F1 mean 4.5, F2 mean 15): SQLite p50 0.7 ms, p99 4-5 ms.
- Two copies ordered by (venue, start) and (person, start), VARCHAR keys, the batch as
  a registered numpy relation: 46 / 66 ms. DuckDB keeps only an 8-byte prefix as a
  string column's min/max, and every synthetic id starts "v0000000"/"00000000", so no
  row group is ever skipped (17/17 scanned per look-up).
- One table in load order: 124 ms. threads=1: 77 ms. Keys as ENUM: 64 ms. UNION ALL
  of one constant-filtered SELECT per query: 46 / 274 ms; with ART indexes on the
  keys: 47 / 268 ms.
- Ordered by (hash(key), start) instead, the key itself still checked in the join:
  the hash join pushes the batch's hashes into the scan as an IN filter that integer
  zone maps can use. Replaying the 174 batches of the 50 traces, per statement:
  8.6 ms with 122,880-row row groups, 3.6 ms at 8,192, 3.1 ms at 2,048; the batch as
  VALUES parameters 2.4 ms, as unnest() of list parameters 2.6 ms, as a registered
  numpy relation 3.1 ms (register + unregister alone: 0.6 ms); strings stored
  uncompressed: no faster, 2.6x the file.
- Traces, hash order, VALUES: row groups of 2,048 rows 11.7 / 26-45 ms (183 MiB),
  8,192 rows 13.5 / 46 ms (118 MiB), 16,384 rows 15.3 / 56 ms (96 MiB); unnest()
  13.1 ms; threads=1 the same as 2 within noise.
20 M check-ins (800 k persons, 20 k venues; F1 mean 28, F2 mean 481; SQLite p50 27-29
ms, p99 127-152 ms, loaded in 131 s):
- row groups of 2,048: 71-83 / 165-235 ms, 1,561 MiB, loaded in 37-61 s;
  of 8,192: 47 / 177 ms, 1,419 MiB, loaded in 33 s;
  2,048 with DuckDB's default dynamic_or_filter_threshold (50): 292 / 754 ms.
Kept: two copies ordered by (hash(key), start), 8,192-row row groups (best at 20 M,
close at 2 M), the batch as VALUES, IN-filter pushdown up to 2,000 keys. DuckDB stays
well behind SQLite at 2 M (fixed cost of ~2 ms per statement, 5 statements a trace)
and within 2x of it at 20 M.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tracing import (  # noqa: E402
    SqliteIndex,
    pick_cases,
    pid,
    population_args,
    summary,
    synthesize,
    time_cases,
    vid,
)

from dichte.domain.tracing import Passage, Query, Stay  # noqa: E402

# pid()/vid() of bench/tracing.py written in SQL, so the 2 M-20 M id strings are built
# inside DuckDB rather than in a Python loop (checked against pid()/vid() in main()).
PID_SQL = "lower(lpad(hex({}), 32, '0'))"
VID_SQL = "('f' || lower(lpad(hex({}), 31, '0')))"
# Small row groups: a look-up reads whole row groups, so the zone maps skip more (2,048
# is faster at 2 M check-ins, 8,192 at 20 M; see above).
ROW_GROUP_SIZE = 8192
# The hash join pushes the batch's keys into the scan as an IN filter only up to this
# many keys (DuckDB's default is 50; an F2 step of a large case asks for more venues).
DYNAMIC_OR_FILTER_THRESHOLD = 2000

STAY = 'person VARCHAR, venue VARCHAR, start BIGINT, "end" BIGINT'  # Stay's fields
PASSAGE = 'person VARCHAR, checkpoint VARCHAR, plate VARCHAR, "at" BIGINT'  # Passage's
# table: (its columns, the key it is ordered by with the time, the time column)
TABLES = {
    "stays_by_person": (STAY, "person", "start"),
    "stays_by_venue": (STAY, "venue", "start"),
    "passages_by_person": (PASSAGE, "person", '"at"'),
    "passages_by_checkpoint": (PASSAGE, "checkpoint", '"at"'),
}


class DuckdbIndex:
    """Check-ins and passages in a DuckDB file, each kept twice, ordered by (hash of the
    key, time): a look-up's keys reach the scan as hashes, and integer zone maps skip
    every row group without them (string zone maps keep only 8-byte prefixes)."""

    def __init__(self, path: Path, row_group_size: int = ROW_GROUP_SIZE) -> None:
        self.con = duckdb.connect()
        quoted = str(path).replace("'", "''")
        self.con.execute(f"ATTACH '{quoted}' AS stays_db (ROW_GROUP_SIZE {row_group_size})")
        self.con.execute("USE stays_db")
        self.con.execute(f"SET threads = {os.cpu_count() or 1}")
        self.con.execute(f"SET dynamic_or_filter_threshold = {DYNAMIC_OR_FILTER_THRESHOLD}")

    def close(self) -> None:
        self.con.close()

    def load(self, data: dict[str, np.ndarray]) -> None:
        con = self.con
        for table, (columns, _, _) in TABLES.items():
            # kh: hash of the key, for zone maps that can tell keys apart.
            con.execute(f"CREATE TABLE {table} (kh UBIGINT, {columns})")
        # numpy columns are scanned in place; ids become strings and -1 NULL in SQL.
        con.register("raw", {k: data[k] for k in ("person", "venue", "start", "end")})
        stays = (
            f"SELECT {PID_SQL.format('person')} AS person, {VID_SQL.format('venue')} AS venue,"
            ' start, CASE WHEN "end" < 0 THEN NULL ELSE "end" END AS "end" FROM raw'
        )
        con.execute(f"CREATE TEMP TABLE stays_raw AS {stays}")
        con.unregister("raw")
        for table in ("stays_by_person", "stays_by_venue"):
            key = TABLES[table][1]
            con.execute(
                f"INSERT INTO {table} SELECT hash({key}) AS kh, * FROM stays_raw ORDER BY kh, start"
            )
        con.execute("DROP TABLE stays_raw")
        con.execute("CHECKPOINT")

    def _lookup(self, table: str, queries: list[Query]) -> list[list[tuple[Any, ...]]]:
        """Rows of `table` per query, in one statement: the batch as a VALUES relation
        (i, key, from, until) joined on the key's hash, then on the key itself."""
        out: list[list[tuple[Any, ...]]] = [[] for _ in queries]
        if not queries:
            return out
        _, key, at = TABLES[table]
        values = ", ".join(["(?, ?, ?, ?)"] * len(queries))
        params = [x for i, (k, lo, hi) in enumerate(queries) for x in (i, k, lo, hi)]
        rows = self.con.execute(
            "SELECT q.i, s.* EXCLUDE (kh)"
            f" FROM (VALUES {values}) q(i, k, lo, hi) JOIN {table} s"
            f" ON s.kh = hash(q.k) AND s.{key} = q.k AND s.{at} >= q.lo AND s.{at} < q.hi"
            f" ORDER BY q.i, s.{at}",
            params,
        ).fetchall()
        for i, *row in rows:
            out[i].append(tuple(row))
        return out

    async def stays_of_persons(self, queries: list[Query]) -> list[list[Stay]]:
        return [[Stay(*r) for r in rows] for rows in self._lookup("stays_by_person", queries)]

    async def stays_at_venues(self, queries: list[Query]) -> list[list[Stay]]:
        return [[Stay(*r) for r in rows] for rows in self._lookup("stays_by_venue", queries)]

    async def passages_of_persons(self, queries: list[Query]) -> list[list[Passage]]:
        found = self._lookup("passages_by_person", queries)
        return [[Passage(*r) for r in rows] for rows in found]

    async def passages_at_checkpoints(self, queries: list[Query]) -> list[list[Passage]]:
        found = self._lookup("passages_by_checkpoint", queries)
        return [[Passage(*r) for r in rows] for rows in found]


async def main() -> None:
    parser = population_args(__doc__, 2_000_000)
    parser.add_argument("--cases", type=int, default=50)
    args = parser.parse_args()

    t = time.perf_counter()
    data = synthesize(args.persons, args.venues, args.days, args.checkins, args.seed)
    print(f"synthesized {args.checkins:,} check-ins in {time.perf_counter() - t:.1f} s", flush=True)
    cases = pick_cases(data, args.cases, args.days, args.seed)

    work = Path(tempfile.mkdtemp(prefix="dichte-tracing-duckdb-"))
    sqlite = SqliteIndex(work / "stays.sqlite")
    t = time.perf_counter()
    sqlite.load(data)
    print(f"sqlite: loaded in {time.perf_counter() - t:.1f} s", flush=True)
    duck_path = work / "stays.duckdb"
    duck = DuckdbIndex(duck_path)
    t = time.perf_counter()
    duck.load(data)
    duck_load_s = time.perf_counter() - t
    size = duck_path.stat().st_size
    print(f"duckdb: loaded in {duck_load_s:.1f} s, {size / 2**20:.0f} MiB", flush=True)

    # The ids built in SQL are bench/tracing.py's pid()/vid().
    for table, key, ids, fmt in (
        ("stays_by_person", "person", data["person"], pid),
        ("stays_by_venue", "venue", data["venue"], vid),
    ):
        for i in (int(ids.min()), int(ids[0]), int(ids.max())):
            (n,) = duck.con.execute(
                f"SELECT count(*) FROM {table} WHERE kh = hash($1::VARCHAR) AND {key} = $1",
                [fmt(i)],
            ).fetchall()[0]
            assert n == int((ids == i).sum()), (key, i)

    await time_cases(sqlite, cases[:10])  # warm up both
    await time_cases(duck, cases[:10])
    s_times, sizes, s_found = await time_cases(sqlite, cases)
    d_times, _, d_found = await time_cases(duck, cases)
    for case, a, b in zip(cases, s_found, d_found, strict=True):
        assert a == b, f"SQLite and DuckDB traced different contacts for {case}"
    duck.close()

    print(
        f"{args.cases} cases, {args.persons:,} persons, {args.venues:,} venues, "
        f"{args.checkins:,} check-ins, {os.cpu_count()} CPUs, DuckDB {duckdb.__version__}"
    )
    f1, f2 = (np.mean([x[j] for x in sizes]) for j in (0, 1))
    print(f"F1 mean {f1:.1f}, F2 mean {f2:.1f}")
    for name, times in (("sqlite", s_times), ("duckdb", d_times)):
        s = summary(times)
        p50, p99, mean = s["p50_ms"], s["p99_ms"], s["mean_ms"]
        print(f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean {mean:.1f} ms")
    print("same contacts for every case")


if __name__ == "__main__":
    asyncio.run(main())
