"""What `dichte run` (and so `make run`) starts, in order, and stops in reverse:
embedded Redis (when no URL is set; restarted if it dies) -> Ray (metrics on the
export port) -> Serve HTTP on 127.0.0.1 -> the declaration application. Everything
stops on SIGINT or SIGTERM, leaving nothing running."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Collection, Iterator

from dichte.domain.keys import load_signing_key, load_template_keys, verifying_keys
from dichte.domain.settings import Settings
from dichte.services.checkpoints import seed_checkpoints
from dichte.serving.embedded_redis import EmbeddedRedis
from dichte.serving.ports import free_port
from dichte.serving.serve_config import APP_NAME, deployment_options, with_actor_shares

# Serve's HAProxy ingress. Read by Serve's controller and proxies from the environment
# of the node they start on: set before ray.init (or before the nodes start); on a
# cluster, cluster/ray.env. A request whose replica died before answering (an empty
# response) is sent again to another replica: api.replay_guard keeps that to once for
# writes that are not idempotent by themselves. A starting proxy gets three ready checks
# before Serve gives up on it, 5 s each by default: on a busy node its worker can take
# longer to start, and Serve's start then fails (dichte run exits). 30 s each instead.
FAST_INGRESS_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_HAPROXY_RETRY_ON": "conn-failure empty-response",
    "RAY_SERVE_HAPROXY_RETRIES": "2",
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
}


def haproxy_ports(avoid: Collection[int] = ()) -> dict[str, str]:
    """Free ports for what Serve's HAProxy opens besides the HTTP port: its stats and
    metrics, and the Serve proxy it falls back to while no replica is up. Serve's
    defaults are fixed ports: a second system on the machine would fail to start its
    HAProxy, or send its first requests to the first system's proxy. `avoid`: ports
    configured for something not listening yet (the HTTP port, bound by HAProxy)."""
    return {
        name: str(free_port(avoid=avoid))
        for name in (
            "RAY_SERVE_HAPROXY_METRICS_PORT",
            "RAY_SERVE_HAPROXY_STATS_PORT",
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
        )
    }


def _enable_fast_ingress(settings: Settings) -> None:
    """For the Ray we start ourselves (its processes inherit our environment); an
    operator's cluster nodes have their own."""
    ours = (
        {} if settings.ray_address else haproxy_ports({settings.http_port, settings.metrics_port})
    )
    for name, value in {**FAST_INGRESS_ENV, **ours}.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def running(
    settings: Settings, stop: StopSignal, *, cluster_is_ours: bool = False
) -> Iterator[Settings]:
    """Start everything; yields the settings actually in force (the Redis URL resolved).
    A stop signal during start-up is kept and acted on once everything is up.
    `cluster_is_ours`: the Ray at settings.ray_address is stopped whole after us (the
    local cluster of `dichte cluster-demo`), so our application need not be taken off."""
    stop.listen()
    with contextlib.ExitStack() as stack:
        if not settings.redis_url:
            redis = EmbeddedRedis(settings.data_dir, strict_durability=settings.strict_durability)
            settings = settings.model_copy(update={"redis_url": redis.start()})
            stack.callback(redis.stop)
            redis.supervise()  # a crashed server comes back on the same file and socket
        settings = with_actor_shares(settings)  # from the same file as the deployments'
        # The development keys created once, before any replica; a malformed key stops
        # the start here, not in a replica.
        verifying_keys(load_signing_key(settings), settings)
        load_template_keys(settings)
        asyncio.run(seed_checkpoints(settings))  # before the API answers: it serves them
        if settings.fast_ingress:
            _enable_fast_ingress(settings)

        import ray
        from ray import serve

        from dichte.serving.ingress import bind_ingress

        ray.init(
            address=settings.ray_address,
            namespace="dichte",
            include_dashboard=False,
            _metrics_export_port=settings.metrics_port,
            log_to_driver=False,
        )
        stack.callback(ray.shutdown)
        stop.listen()  # Ray's core worker installs its own fatal SIGTERM handler: take it back
        serve.start(http_options={"host": settings.http_host, "port": settings.http_port})
        shared = settings.ray_address and not cluster_is_ours
        if shared:
            # A shared cluster outlives us: take our application away. A local Ray is
            # stopped whole by ray.shutdown (serve.shutdown would wait 30 s on replicas
            # that HAProxy keeps connections open to).
            stack.callback(serve.shutdown)
        options = deployment_options(settings.serve_config)
        serve.run(
            bind_ingress(settings, options),
            name=APP_NAME,
            route_prefix="/",
        )
        if shared:  # a shared cluster: our camera streams go with the app
            stack.callback(_stop_cameras)
        yield settings


def _stop_cameras() -> None:
    import ray

    from dichte.actors.checkpoints import NAMESPACE, SUPERVISOR_NAME

    with contextlib.suppress(Exception):
        supervisor = ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
        ray.get(supervisor.shutdown.remote(), timeout=30)
        ray.kill(supervisor, no_restart=True)


def supervise(command: list[str]) -> int:
    """Run `command` in a new session; forward SIGINT/SIGTERM to it as SIGTERM; return
    its exit status."""
    child = subprocess.Popen(command, start_new_session=True)

    def forward(*_: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    return child.wait()


class StopSignal:
    """SIGINT or SIGTERM, remembered from the moment `listen` is first called."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def listen(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._event.set())

    def wait(self) -> None:
        self._event.wait()
