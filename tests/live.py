"""Starting `dichte run` the way `make run` does, for tests over real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from dichte.serving.ports import free_port
from tests.factories import distinct_declaration

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    base: str
    metrics: str
    env: dict[str, str]
    data_dir: Path
    log: Path

    def staff_token(self, role: str, unit: int, communes: str = "") -> str:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "dichte.cli.main",
                "token",
                "--role",
                role,
                "--unit",
                str(unit),
                "--communes",
                communes,
            ],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()


@contextlib.contextmanager
def live_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICHTE_")}
    env.update(
        DICHTE_DATA_DIR=str(data_dir),
        DICHTE_HTTP_PORT=str(port),
        DICHTE_METRICS_PORT=str(metrics_port),
        DICHTE_VENUE_REGISTRATIONS_PER_HOUR="5",
        # The tests bring their own checkpoints; a simulated one would load every test.
        DICHTE_SIMULATED_CHECKPOINT="false",
    )
    env.update(extra_env or {})
    log = data_dir.parent / f"run-{port}.log"
    # What `make run` runs, in the same way: the supervisor that forwards signals.
    process = subprocess.Popen(
        [sys.executable, "-m", "dichte.cli.main", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    live = LiveServer(
        process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}", env, data_dir, log
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{live.base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"dichte run did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    try:
        yield live
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def only_error(response: httpx.Response, status: int) -> dict[str, str]:
    """The one error shape, with exactly one error in it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert set(error) == {"field", "code", "message_vi", "message_en"}
    return error  # type: ignore[no-any-return]


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not CHROMIUM.exists():
        missing(
            "Chromium is not installed (/usr/bin/chromium); `make test` installs it "
            "as root, or: apt-get install chromium"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def fill_declaration_form(page, body: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    page.fill("#full_name", body["full_name"])
    page.select_option("#document_type", body["document_type"])
    page.fill("#document_number", body["document_number"])
    page.fill("#date_of_birth", body["date_of_birth"])
    page.select_option("#sex", body["sex"])
    page.fill("#phone", body["phone"])
    page.wait_for_function("document.querySelectorAll('#residence_province option').length > 30")
    page.select_option("#residence_province", str(body["residence"]["province_code"]))
    page.wait_for_function("document.querySelectorAll('#residence_commune option').length > 1")
    page.select_option("#residence_commune", str(body["residence"]["commune_code"]))
    page.fill("#residence_street", body["residence"]["street"])
    page.select_option("#from_province", str(body["coming_from"]["province_code"]))
    page.select_option("#to_province", str(body["going_to"]["province_code"]))
    page.select_option("#vehicle_type", body["vehicle"]["type"])
    page.fill("#vehicle_plate", body["vehicle"]["plate"])
    page.check("input[name=cough]")


SHARED_DATA = ROOT.parent / "shared" / "data"


# In CI (CI=true) what a test needs must be there: a missing data folder or browser
# fails the run instead of quietly skipping every test that would have used it.
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> NoReturn:
    """Skip, saying what is missing; in CI, fail."""
    if IN_CI:
        pytest.fail(f"{what} (required in CI)")
    pytest.skip(what)


def shared(path: Path) -> Path:
    """A file of the shared real-data folder (../shared/data; see its MANIFEST.md)."""
    if not path.exists():
        missing(f"shared data not present: {path}")
    return path


def dichte(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """The `dichte` command line as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "dichte.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


AXE = (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def assert_accessible(page: Any, state: str) -> None:
    """axe-core on the page as it is now: nothing serious or critical."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(content=AXE)
    result = json.loads(page.evaluate("async () => JSON.stringify(await axe.run())"))
    bad = [v for v in result["violations"] if v["impact"] in {"serious", "critical"}]
    assert not bad, f"{state}: " + "; ".join(
        f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}" for v in bad
    )


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.1) -> Any:
    """What `check` answers once it is truthy, asked every `every_s`; fails naming
    `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


class DeclarationLoad:
    """Clients submitting declarations without pause; what they were told, kept."""

    def __init__(self, base: str, clients: int = 4) -> None:
        self.acknowledged: list[str] = []  # ids answered 201 (or 200: a replay)
        self.refused: list[httpx.Response] = []  # 503s while the store was away
        self.broken: list[str] = []  # anything else: a hang, a reset, a 500
        self.resent: list[str] = []  # closed before any answer, so sent again
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._submit, args=(base,), daemon=True) for _ in range(clients)
        ]

    def __enter__(self) -> DeclarationLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _submit(self, base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not self._stop.is_set():
                body = distinct_declaration()
                try:
                    r = self._post(http, body)
                except httpx.HTTPError as e:
                    self.broken.append(repr(e))
                    continue
                # 200: a replay of one already stored (a proxy's retry of a request
                # whose first answer was lost): acknowledged, the same record.
                if r.status_code in (201, 200):
                    self.acknowledged.append(r.json()["id"])
                elif r.status_code == 503:
                    self.refused.append(r)
                    time.sleep(0.05)
                else:
                    self.broken.append(f"{r.status_code} {r.text[:200]}")

    def _post(self, http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
        """As a browser does: a request whose kept-alive connection the server closed
        before answering (it was closing it as the request went out) is sent once more,
        on a new connection; a declaration is safe to send again."""
        try:
            return http.post("/api/v1/declarations", json=body)
        except httpx.RemoteProtocolError as e:
            if "without sending a response" not in str(e):
                raise
            self.resent.append(repr(e))
            return http.post("/api/v1/declarations", json=body)

    def hung_or_failed_in_the_app(self) -> list[str]:
        """What no client should see: a request that timed out (30 s), or an error the
        application answered other than 503 (its 500s carry the one error shape)."""
        return [b for b in self.broken if "Timeout" in b or '"errors"' in b]

    def nothing_lost_or_hung(self, server: LiveServer) -> str:
        """Fails when a request hung or the application answered an error other than
        503, or when an acknowledged declaration does not read back; else a summary."""
        assert not self.hung_or_failed_in_the_app(), self.broken
        missing = self.unreadable(server)
        assert not missing, f"{len(missing)} of {len(self.acknowledged)} acknowledged are lost"
        return (
            f"{len(self.acknowledged)} acknowledged, {len(self.refused)} refused (503), "
            f"{len(self.resent)} sent again, {len(self.broken)} cut: {self.broken[:3]}"
        )

    def unreadable(self, server: LiveServer) -> list[str]:
        """The acknowledged declarations that do not read back."""
        province = {"Authorization": f"Bearer {server.staff_token('province', 44)}"}
        with httpx.Client(base_url=server.base, headers=province, timeout=30) as http:
            return [
                i
                for i in self.acknowledged
                if http.get(f"/api/v1/declarations/{i}").status_code != 200
            ]
