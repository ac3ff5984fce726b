"""`dichte`: the one command line of the project."""

from __future__ import annotations

import base64
import sys
import time
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from rich.console import Console

from domain.keys import encode_private_key, load_signing_key, new_template_key
from domain.settings import Settings
from domain.tokens import Role, StaffClaims, public_key_bytes, sign_staff
from serving.thermal_cli import sim, thermal
from serving.vision_cli import faces, qr

app = typer.Typer(
    help="dichte: health declaration, tracing and checkpoint screening.", no_args_is_help=True
)
console = Console(stderr=True)
app.add_typer(thermal, name="thermal")
app.add_typer(faces, name="faces")
app.add_typer(qr, name="qr")
app.command()(sim)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        console.print(f"[red]Settings refused:[/red] {e}")
        raise typer.Exit(2) from None


@app.command()
def run(
    in_own_session: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Start Redis (embedded unless DICHTE_REDIS_URL), Ray, Serve and the API; stop on Ctrl-C."""
    from serving.runtime import StopSignal, running, supervise

    settings = _settings()
    if not in_own_session:
        # Ctrl-C reaches the whole terminal process group: Ray's and Redis' processes
        # would die before the orderly shutdown. Run the services in a session of their
        # own and turn our signals into one SIGTERM for it.
        raise typer.Exit(
            supervise([sys.executable, "-m", "serving.cli", "run", "--in-own-session"])
        )
    started = time.monotonic()
    stop = StopSignal()
    with running(settings, stop) as live:
        base = f"http://{live.http_host}:{live.http_port}"
        console.print(f"[green]dichte is running[/green] ({time.monotonic() - started:.1f} s)")
        console.print(f"  declaration page  {base}/")
        console.print(f"  API (OpenAPI)     {base}/openapi.json   docs: {base}/docs")
        console.print(f"  health            {base}/healthz")
        console.print(f"  metrics           http://127.0.0.1:{live.metrics_port}/metrics")
        console.print(f"  redis             {live.redis_url}")
        console.print("Ctrl-C or SIGTERM stops everything.")
        stop.wait()
        console.print("stopping ...")
        stopping = time.monotonic()
    console.print(f"dichte stopped ({time.monotonic() - stopping:.1f} s).")


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="Staff role")],
    unit: Annotated[int, typer.Option(help="Unit code: commune, province or centre id")],
    subject: Annotated[str, typer.Option(help="Who holds the token")] = "staff",
    communes: Annotated[
        str, typer.Option(help="Communes a health centre serves, comma-separated codes")
    ] = "",
    hours: Annotated[int | None, typer.Option(help="Lifetime; default from settings")] = None,
) -> None:
    """Print a staff bearer token signed with the server key."""
    settings = _settings()
    now = int(time.time())
    claims = StaffClaims(
        role,
        unit,
        subject,
        now,
        now + 3600 * (hours or settings.staff_token_ttl_hours),
        tuple(int(c) for c in communes.split(",") if c.strip()),
    )
    print(sign_staff(load_signing_key(settings), claims))


@app.command()
def prune() -> None:
    """Delete check-ins older than the retention period (DICHTE_CHECKIN_RETENTION_DAYS,
    default 21); run it daily, e.g. from cron."""
    import asyncio

    from actors.epi_store import EpiStore

    settings = _settings()
    if not settings.redis_url:
        console.print("[red]prune needs DICHTE_REDIS_URL (the running system's Redis)[/red]")
        raise typer.Exit(2)

    async def go() -> int:
        store = EpiStore(settings.redis_url or "", key_prefix=settings.redis_key_prefix)
        try:
            return await store.prune_checkins(
                int(time.time()) - settings.checkin_retention_days * 86_400
            )
        finally:
            await store.close()

    print(
        f"removed {asyncio.run(go())} check-ins older than {settings.checkin_retention_days} days"
    )


@app.command()
def keygen() -> None:
    """Print a new Ed25519 signing key (DICHTE_SIGNING_KEY), its public key, and a new
    face-template key (DICHTE_TEMPLATE_KEY)."""
    key = Ed25519PrivateKey.generate()
    print(f"DICHTE_SIGNING_KEY={encode_private_key(key)}")
    print(f"DICHTE_TEMPLATE_KEY={new_template_key()}")
    console.print(f"public key: {base64.b64encode(public_key_bytes(key)).decode()}")


if __name__ == "__main__":
    app()
