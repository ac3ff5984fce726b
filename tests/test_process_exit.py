"""What an operator sees when a process ends: nothing but its own output (no warnings
from native libraries about objects left behind at interpreter exit)."""

from __future__ import annotations

import subprocess
import sys

from tests.live import ROOT, SHARED_DATA, dichte, shared

QR_PHOTO = SHARED_DATA / "qr" / "zxing_blackbox" / "qrcode-1" / "1.png"


def quiet(stderr: str) -> bool:
    return "nanobind" not in stderr and "leaked" not in stderr


def test_importing_the_served_app_leaves_no_native_warnings() -> None:
    # What every API replica, the standalone app and the test processes import.
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dichte.api.app, dichte.serving.ingress, dichte.serving.standalone",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert quiet(r.stderr), r.stderr


def test_dichte_commands_end_cleanly() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    for args in (
        ("qr", "decode", str(shared(QR_PHOTO)), "--json"),
        ("token", "--role", "province", "--unit", "44"),
        ("--help",),
    ):
        r = dichte(*args, env=env)
        assert r.returncode == 0, (args, r.stderr)
        assert quiet(r.stderr), (args, r.stderr)
