"""dichte on a Ray cluster of one, two and three nodes on this machine (`dichte
cluster-demo --workers N-1`, each node its own raylet with the same logical CPUs), and
the failover pause of its Redis behind Sentinels.

1. Durable declarations/s and check-ins/s through Serve (wrk, as bench/declarations.py
   and bench/checkins.py), the one-node cluster being the peer. All nodes share this
   machine's cores, so the figures show what more nodes cost (placement, hops between
   raylets), not scale-out.
2. A Redis primary, replicas and three Sentinels (tests/redis_sentinel.py): writers
   submit declarations through the store; the primary is SIGKILLed; how long until
   writes are acknowledged again, and how many acknowledged ones were lost, in the
   default and the strict mode.

    .venv/bin/python bench/cluster.py --seconds 20 --repeat 2
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from checkins import CHECKINS
from declarations import DECLARATIONS
from http_load import RESULTS, arguments, free_port, measure

from dichte.serving.embedded_redis import EmbeddedRedis
from tests.redis_sentinel import sentinel_group
from tests.test_redis_sentinel import _lost, _write_through_a_failover

NODES = (1, 2, 3)


def throughput(args: object) -> dict[str, dict[int, list[dict[str, object]]]]:
    runs: dict[str, dict[int, list[dict[str, object]]]] = {}
    data = Path(tempfile.mkdtemp(prefix="dichte-bench-cluster-"))
    with EmbeddedRedis(data) as server:
        client = redis.Redis.from_url(server.url)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DICHTE_")}
        base_env.update(
            DICHTE_REDIS_URL=server.url,
            DICHTE_DATA_DIR=str(data),
            DICHTE_SIMULATED_CHECKPOINT="false",  # the API alone
        )
        for work in (DECLARATIONS, CHECKINS):
            runs[work.name] = {n: [] for n in NODES}
            for i in range(args.repeat):  # type: ignore[attr-defined]
                for nodes in NODES:
                    port = free_port()
                    prefix = f"bench-cluster-{work.name}-{nodes}-{i}"
                    env = {
                        **base_env,
                        "DICHTE_HTTP_PORT": str(port),
                        "DICHTE_REDIS_KEY_PREFIX": prefix,
                    }
                    command = [sys.executable, "-m", "dichte.cli.main", "cluster-demo"]
                    command += [f"--workers={nodes - 1}", "--cpus-per-node=2"]
                    row = measure(work, f"{nodes} node", command, env, port, prefix, client, args)  # type: ignore[arg-type]
                    runs[work.name][nodes].append(row)
    return runs


def failover(repeat: int) -> list[dict[str, object]]:
    rows = []
    for strict, replicas in ((False, 1), (True, 2)):
        for _ in range(repeat):
            with (
                tempfile.TemporaryDirectory() as folder,
                sentinel_group(Path(folder), replicas=replicas) as group,
            ):
                first = group.primary_port()
                acknowledged, pause = asyncio.run(
                    _write_through_a_failover(
                        group.url, lambda g=group, p=first: g.kill(p), replicas=int(strict)
                    )
                )
                lost = len(_lost(group.url, acknowledged))
            rows.append(
                {
                    "mode": "strict" if strict else "default",
                    "replicas": replicas,
                    "pause_s": pause,
                    "acknowledged": len(acknowledged),
                    "lost": lost,
                }
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    args = arguments(__doc__)
    started = time.monotonic()
    runs = throughput(args)
    failovers = failover(max(args.repeat, 3))
    report = {
        "benchmark": "dichte on 1, 2 and 3 local Ray nodes; Redis Sentinel failover",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "load": {"tool": "wrk", "connections": args.connections, "seconds": args.seconds},
        "throughput_runs": {w: {str(n): r for n, r in by.items()} for w, by in runs.items()},
        "failover_runs": failovers,
        "wall_s": time.monotonic() - started,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cluster.json").write_text(json.dumps(report, indent=2) + "\n")

    def median(rows: list[dict[str, object]], key: str) -> float:
        return float(statistics.median(float(r[key]) for r in rows))  # type: ignore[arg-type]

    lines = [
        f"Durable writes/s through Serve, {args.connections} connections, {args.seconds} s, "
        f"{os.cpu_count()} CPUs shared by every node, median of {args.repeat}, {report['date']}",
        "",
        "| workload | nodes | durable writes/s | vs 1 node | p50 | p99 | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for work, by in runs.items():
        one = median(by[1], "durable_writes_per_s")
        for nodes, rows in by.items():
            rate = median(rows, "durable_writes_per_s")
            lines.append(
                f"| {work} | {nodes} | {rate:,.0f} | {rate / one:.2f} | "
                f"{median(rows, 'p50_ms'):.1f} ms | {median(rows, 'p99_ms'):.1f} ms | "
                f"{sum(int(r['non_2xx']) for r in rows)} |"  # type: ignore[call-overload]
            )
    lines += [
        "",
        "Redis primary SIGKILLed under 4 writers (Sentinels: down after 1 s, quorum 2)",
        "",
        "| mode | replicas | writes resumed after (median, range) | acknowledged lost |",
        "| --- | ---: | ---: | ---: |",
    ]
    for mode in ("default", "strict"):
        rows = [r for r in failovers if r["mode"] == mode]
        pauses = [float(r["pause_s"]) for r in rows]  # type: ignore[arg-type]
        lost = sum(int(r["lost"]) for r in rows)  # type: ignore[call-overload]
        acked = sum(int(r["acknowledged"]) for r in rows)  # type: ignore[call-overload]
        lines.append(
            f"| {mode} | {rows[0]['replicas']} | {statistics.median(pauses):.1f} s "
            f"({min(pauses):.1f}–{max(pauses):.1f}) | {lost} of {acked:,} |"
        )
    (RESULTS / "cluster.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
