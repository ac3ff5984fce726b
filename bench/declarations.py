"""Durable declaration submits per second through Serve (HAProxy ingress ->
DeclarationIngress replica -> DeclarationStore actor -> Redis) against the same
FastAPI app under one plain uvicorn process writing the same record to the same
Redis. Both run here, alternating, against one embedded Redis (appendonly, everysec).

    make bench            # or: .venv/bin/python bench/declarations.py --seconds 20

Needs `wrk` (Debian: apt-get install wrk). Writes bench/results/declarations.{json,md}.
"""

from __future__ import annotations

from pathlib import Path

from http_load import ROOT, Workload, arguments, compare

LUA = ROOT / "bench" / "post_declaration.lua"

DECLARATIONS = Workload(
    name="declarations",
    title="Durable declaration submits",
    path="/api/v1/declarations",
    counter="declarations_by_day",
    prepare=lambda base, env: Path(LUA),
    labels={
        "serve": "Serve (HAProxy) → DeclarationStore actor → Redis",
        "uvicorn": "plain uvicorn, 1 process → same store code → Redis",
    },
)

if __name__ == "__main__":
    compare(DECLARATIONS, arguments(__doc__))
