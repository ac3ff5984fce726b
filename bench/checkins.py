"""Durable check-ins per second through Serve (HAProxy ingress -> DeclarationIngress
replica -> Redis, the check-in steps of store.epi) against the same FastAPI app under
one plain uvicorn process, alternating, against one embedded Redis (appendonly,
everysec).

Each server gets 300 venues registered over HTTP; the citizens' QR tokens (20,000) are
signed with the server's key, as their phones would hold them. Every request scans a
random person into a random venue; a repeat of the same person, venue and minute is
answered as a replay (200) and not counted as a write.

    .venv/bin/python bench/checkins.py --seconds 20
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from http_load import ROOT, Workload, arguments, compare

from dichte.domain.keys import load_signing_key
from dichte.domain.settings import Settings
from dichte.domain.tokens import QrClaims, sign_qr
from tests.factories import DONG_HOI_WARD

VENUES, PERSONS = 300, 20_000


def prepare(base: str, env: dict[str, str]) -> Path:
    token = subprocess.run(
        [sys.executable, "-m", "dichte.cli.main", "token", "--role", "province", "--unit", "44"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    codes = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(VENUES):
            r = http.post(
                "/api/v1/venues",
                json={
                    "name": f"Điểm {i}",
                    "type": "market",
                    "owner_phone": "0912000111",
                    "commune_code": DONG_HOI_WARD,
                },
            )
            r.raise_for_status()
            codes.append(r.json()["code"])
    key = load_signing_key(Settings(data_dir=Path(env["DICHTE_DATA_DIR"])))
    now = int(time.time())
    tokens = [
        sign_qr(key, QrClaims(secrets.token_hex(16), secrets.token_bytes(16), now, now + 86_400))
        for _ in range(PERSONS)
    ]
    lua = Path(tempfile.mkstemp(prefix="checkins-", suffix=".lua")[1])
    lua.write_text(
        f"local venues = {{{','.join(json.dumps(c) for c in codes)}}}\n"
        f"local persons = {{{','.join(json.dumps(t) for t in tokens)}}}\n"
        + """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local seeded = false
local headers = {["Content-Type"] = "application/json"}
request = function()
  if not seeded then math.randomseed(os.time() * 7 + (tid or 0)); seeded = true end
  local body = '{"venue_code":"' .. venues[math.random(#venues)] ..
    '","person_token":"' .. persons[math.random(#persons)] .. '"}'
  return wrk.format("POST", nil, headers, body)
end
"""
    )
    return lua


CHECKINS = Workload(
    name="checkins",
    title="Durable check-ins (POST /api/v1/checkins)",
    path="/api/v1/checkins",
    counter="checkins_by_day",
    prepare=prepare,
    labels={
        "serve": "Serve (HAProxy) → replica → Redis (check-in steps)",
        "uvicorn": "plain uvicorn, 1 process → same code → Redis",
    },
)

if __name__ == "__main__":
    compare(CHECKINS, arguments(__doc__))
