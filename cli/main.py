"""`dichte`: the one command line of the project."""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from dichte.cli.ioc import ioc
from dichte.cli.store import settings_or_exit, store_settings
from dichte.cli.thermal import sim, thermal
from dichte.cli.vision import faces, iris, qr
from dichte.domain.keys import encode_private_key, load_signing_key, new_template_key
from dichte.domain.settings import Mode, Settings
from dichte.domain.tokens import Role, StaffClaims, public_key_bytes, sign_staff

app = typer.Typer(
    help="dichte: health declaration, tracing and checkpoint screening.", no_args_is_help=True
)
console = Console(stderr=True)
app.add_typer(thermal, name="thermal")
app.add_typer(faces, name="faces")
app.add_typer(iris, name="iris")
app.add_typer(qr, name="qr")
app.add_typer(ioc, name="ioc")
app.command()(sim)


_settings = settings_or_exit


@app.command()
def run(
    in_own_session: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Start Redis (embedded unless DICHTE_REDIS_URL), Ray, Serve and the API; stop on Ctrl-C."""
    from dichte.serving.runtime import StopSignal, running, supervise

    settings = _settings()
    if not in_own_session:
        # Ctrl-C reaches the whole terminal process group: Ray's and Redis' processes
        # would die before the orderly shutdown. Run the services in a session of their
        # own and turn our signals into one SIGTERM for it.
        raise typer.Exit(
            supervise([sys.executable, "-m", "dichte.cli.main", "run", "--in-own-session"])
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
        console.print(f"  staff pages       {base}/dashboard   {base}/flags   {base}/inspect")
        for line in lane_pages(live, base):
            console.print(line, soft_wrap=True)  # a token must stay one line to copy
        console.print("Ctrl-C or SIGTERM stops everything.")
        stop.wait()
        console.print("stopping ...")
        stopping = time.monotonic()
    console.print(f"dichte stopped ({time.monotonic() - stopping:.1f} s).")


@app.command(name="serve-config")
def serve_config(
    gpu: Annotated[bool, typer.Option("--gpu", help="Write cluster/serve_config.gpu.yaml")] = False,
) -> None:
    """Print the Serve config for GPU clusters: cluster/serve_config.yaml with
    cluster/serve_config.gpu-overlay.yaml laid over it (--gpu writes it in place)."""
    from dichte.serving.serve_config import CLUSTER, gpu_config_text

    text = gpu_config_text()
    if gpu:
        (CLUSTER / "serve_config.gpu.yaml").write_text(text)
        console.print("wrote cluster/serve_config.gpu.yaml")
    else:
        print(text, end="")


@app.command(name="cluster-demo")
def cluster_demo(
    workers: Annotated[int, typer.Option(help="Worker nodes besides the head")] = 1,
    cpus_per_node: Annotated[float, typer.Option(help="Logical CPUs Ray gives each node")] = 2,
    in_own_session: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """A Ray cluster of a head and worker nodes on this machine (each its own raylet and
    metrics endpoint), dichte deployed on it as `dichte run` deploys it (the simulated
    checkpoint streaming into camera actors), and where each actor and replica runs.
    One machine shows placement and failover, not scale-out. Ctrl-C stops everything."""
    import shutil
    import tempfile
    from pathlib import Path

    from dichte.serving.local_cluster import local_cluster, placement
    from dichte.serving.runtime import StopSignal, running, supervise

    if not in_own_session:  # as `run`: our signals become one SIGTERM for the session
        raise typer.Exit(
            supervise(
                [
                    *(sys.executable, "-m", "dichte.cli.main", "cluster-demo", "--in-own-session"),
                    *(f"--workers={workers}", f"--cpus-per-node={cpus_per_node}"),
                ]
            )
        )
    settings = _settings()
    stop = StopSignal()
    stop.listen()
    # Short: Ray's socket paths under it must fit a Unix socket name.
    temp_dir = Path(tempfile.mkdtemp(prefix="dichte-ray-"))
    with local_cluster(temp_dir, workers=workers, cpus_per_node=cpus_per_node) as cluster:
        console.print(f"Ray cluster: head and {workers} worker node(s) at {cluster.address}")
        on_cluster = settings.model_copy(update={"ray_address": cluster.address})
        with running(on_cluster, stop, cluster_is_ours=True) as live:
            base = f"http://{live.http_host}:{live.http_port}"
            console.print(f"[green]dichte is running on the cluster[/green]: {base}/")
            time.sleep(10)  # the camera streams start once the application is up
            head = cluster.head_node_id
            for node, actors in sorted(placement(cluster.address).items()):
                console.print(f"  {'head' if node == head else 'worker'} node {node[:12]}:")
                for name, n in sorted(actors.items()):
                    console.print(f"    {n} x {name}")
            console.print(f"  Prometheus service discovery: {cluster.service_discovery_file}")
            ports = ", ".join(str(p) for p in cluster.metrics_ports)
            console.print(f"  metrics endpoints (head first): {ports}")
            console.print("Ctrl-C or SIGTERM stops everything.")
            stop.wait()
            console.print("stopping ...")
    shutil.rmtree(temp_dir, ignore_errors=True)


def lane_pages(settings: Settings, base: str) -> list[str]:
    """What `run` prints of the checkpoints once the system is up. The system is already
    serving: a store that does not answer now (a Sentinel failover under way, say)
    costs the listing, not the running system."""
    from dichte.store.connection import UNAVAILABLE

    try:
        return asyncio.run(_lane_pages(settings, base))
    except UNAVAILABLE as e:
        return [f"  lane views        not listed: the store did not answer ({e})"]


async def _lane_pages(settings: Settings, base: str) -> list[str]:
    """The lane view of each checkpoint with cameras; in development, a staff token of
    its province to open it with (production: make one with `dichte token`)."""
    from dichte.store.checkpoints import CheckpointStore

    store = CheckpointStore.of(settings)
    try:
        _, configs = await store.all()
    finally:
        await store.close()
    lines = []
    for config in configs:
        if not config.cameras:
            continue
        lines.append(f"  lane view         {base}/checkpoints/{config.id}   ({config.name})")
        province = config.province_code()
        if settings.mode is not Mode.PRODUCTION and province is not None:
            token = _staff_token(settings, Role.PROVINCE, province, "make-run", 12)
            lines.append(f"    staff token (development, 12 h): {token}")
    return lines


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="Staff role")],
    unit: Annotated[int, typer.Option(help="Unit code: commune, province or centre id")],
    subject: Annotated[str, typer.Option(help="Who holds the token")] = "staff",
    communes: Annotated[
        str,
        typer.Option(
            help="Communes a health centre serves, comma-separated codes; default: those "
            "cluster/health_centres.yaml gives the centre"
        ),
    ] = "",
    hours: Annotated[int | None, typer.Option(help="Lifetime; default from settings")] = None,
) -> None:
    """Print a staff bearer token signed with the server key."""
    settings = _settings()
    served = tuple(int(c) for c in communes.split(",") if c.strip())
    if role is Role.HEALTH_CENTRE and not served:  # the centre's communes, as mapped
        from dichte.services.wiring import jurisdictions

        centre = jurisdictions(settings).centre(unit)
        served = centre.communes if centre else ()
    print(
        _staff_token(settings, role, unit, subject, hours or settings.staff_token_ttl_hours, served)
    )


def _staff_token(
    settings: Settings,
    role: Role,
    unit: int,
    subject: str,
    hours: int,
    communes: tuple[int, ...] = (),
) -> str:
    now = int(time.time())
    claims = StaffClaims(role, unit, subject, now, now + 3600 * hours, communes)
    return sign_staff(load_signing_key(settings), claims)


@app.command()
def prune(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Delete now what is past its retention (check-ins and passages, declaration
    indexes and outbox, cases, quarantine orders). The running system does this on its
    own every DICHTE_RETENTION_INTERVAL_MINUTES; this is for an operator who wants it now.
    Uses DICHTE_REDIS_URL, else the embedded Redis of DICHTE_DATA_DIR (running or not)."""
    import json

    from dichte.services.retention import RetentionService

    with store_settings(_settings()) as settings:
        service = RetentionService(settings)

        async def go() -> dict[str, int]:
            try:
                return await service.run_once()
            finally:
                await service.close()

        removed = asyncio.run(go())
    if as_json:
        print(json.dumps(removed))
        return
    for kind, n in removed.items():
        print(f"{kind.replace('_', ' ')}: {n} removed")


@app.command()
def reseal() -> None:
    """Seal every face and iris template that opens only with a previous template key
    (DICHTE_PREVIOUS_TEMPLATE_KEYS) again with DICHTE_TEMPLATE_KEY; afterwards the
    previous keys can be dropped (README, "Keys"). Safe while the system runs. Uses
    DICHTE_REDIS_URL, else the embedded Redis of DICHTE_DATA_DIR (running or not)."""
    from dichte.domain.keys import load_template_keys
    from dichte.store.gallery import IrisTemplateStore, TemplateStore

    with store_settings(_settings()) as settings:
        key, *previous = load_template_keys(settings)
        url, prefix = settings.redis_url or "", settings.redis_key_prefix

        async def go() -> list[tuple[str, int, int]]:
            done = []
            for kind, store in (
                ("face", TemplateStore(url, prefix, key, previous)),
                ("iris", IrisTemplateStore(url, prefix, key, previous)),
            ):
                try:
                    done.append((kind, await store.reseal(), store.unreadable))
                finally:
                    await store.close()
            return done

        results = asyncio.run(go())
    for kind, resealed, unreadable in results:
        print(f"{kind} templates: {resealed} sealed again, {unreadable} open with no key")
    if any(unreadable for _, _, unreadable in results):
        raise typer.Exit(1)


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
