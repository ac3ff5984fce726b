"""The declaration API as a Ray Serve application.

`build_app` is the import path named in cluster/serve_config.yaml
(`dichte.serving.ingress:build_app`); replicas, CPUs and request limits are set there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from dichte.actors.checkpoints import get_or_create_supervisor
from dichte.actors.declaration_store import ActorDeclarationGateway, get_or_create_store_actor
from dichte.actors.forwarder import get_or_create_forwarder
from dichte.actors.gallery import ShardedGallery, ShardedIrisGallery
from dichte.actors.retention import get_or_create_retention_keeper
from dichte.actors.tracing import ShardedTracer, tracing_shards
from dichte.api.app import create_app
from dichte.domain.keys import load_signing_key
from dichte.domain.settings import ActorResources, Settings, check_actor_classes
from dichte.services.checkpoints import seed_checkpoints
from dichte.serving.composition import build_services
from dichte.serving.inference_pool import InferencePool, IrisPool, VisionPool
from dichte.store.connection import UNAVAILABLE
from dichte.store.epi import EpiStore


@serve.deployment(name="DeclarationIngress")
@serve.ingress()
class DeclarationIngress:
    def __init__(
        self,
        settings: dict[str, Any],
        detector: DeploymentHandle | None = None,
        embedder: DeploymentHandle | None = None,
        thermal: DeploymentHandle | None = None,
        qr: DeploymentHandle | None = None,
        iris: DeploymentHandle | None = None,
    ) -> None:
        self._settings = Settings(**settings)
        self._workers = settings
        self._store = get_or_create_store_actor(settings)
        # Retention, the outbox forwarder and the camera streams run inside the system,
        # whatever starts it (dichte run, serve deploy): the first replica creates them.
        self._retention = get_or_create_retention_keeper(settings)
        self._forwarder = get_or_create_forwarder(settings)
        self._cameras = get_or_create_supervisor(settings, serve.get_replica_context().app_name)
        s = self._settings
        self._inference = (
            InferencePool(detector, embedder, max_in_flight=s.face_requests_in_flight)
            if detector is not None and embedder is not None
            else None
        )
        self._vision = (
            VisionPool(thermal, qr, max_in_flight=s.face_requests_in_flight)
            if thermal is not None and qr is not None
            else None
        )
        self._iris = (
            IrisPool(iris, max_in_flight=s.face_requests_in_flight) if iris is not None else None
        )

    def __serve_build_asgi_app__(self) -> Any:
        from dichte.serving.metrics import RayApiMetrics

        s = self._settings
        # Check-ins go to Redis straight from the replica: its scripts keep concurrent
        # replicas consistent. Tracing reads the tracing shards, which follow Redis.
        services = build_services(
            s,
            declarations_gateway=ActorDeclarationGateway(self._store),
            epi_store=EpiStore.of(s),
            signing_key=load_signing_key(s),
            metrics=RayApiMetrics(),
            inference=self._inference,
            gallery=(
                ShardedGallery(self._workers, shards=s.face_gallery_shards)
                if self._inference
                else None
            ),
            vision=self._vision,
            iris=self._iris,
            iris_gallery=(
                ShardedIrisGallery(self._workers, shards=s.face_gallery_shards)
                if self._iris
                else None
            ),
            tracer=(
                ShardedTracer(tracing_shards(self._workers, s.tracing_shards))
                if s.tracing_shards
                else None
            ),
        )
        return create_app(s, services, UNAVAILABLE)


class IngressArgs(BaseModel):
    """Arguments of the application builder (the `args:` of the Serve config)."""

    model_config = ConfigDict(extra="forbid")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the DICHTE_* settings, e.g. {redis_url: redis://...}",
    )
    actors: dict[str, ActorResources] = Field(
        default_factory=dict,
        description="CPU/GPU share of each of dichte's own actors, by class name",
    )

    @field_validator("actors")
    @classmethod
    def _known(cls, actors: dict[str, ActorResources]) -> dict[str, ActorResources]:
        check_actor_classes(actors)
        return actors


def build_app(args: dict[str, Any]) -> Application:
    parsed = IngressArgs.model_validate(args)
    settings = Settings(**{"actors": parsed.actors, **parsed.settings})
    if not settings.redis_url:
        raise ValueError(
            "set DICHTE_REDIS_URL (or settings.redis_url in the Serve config); "
            "only `dichte run` starts an embedded Redis"
        )
    # What `dichte run` does before it deploys: the shipped checkpoints into the store.
    asyncio.run(seed_checkpoints(settings))
    return bind_ingress(settings)


def bind_ingress(
    settings: Settings, deployment_options: dict[str, dict[str, Any]] | None = None
) -> Application:
    """The application: the API ingress bound to the inference deployments.
    `deployment_options` maps deployment names to their Serve options."""
    # Imported here, not at the top: the ingress replicas import this module, and must
    # not load the models' libraries they never run (tests/test_layers.py checks it).
    from dichte.serving.inference import (
        FaceDetectorDeployment,
        FaceEmbedderDeployment,
        IrisEncoderDeployment,
        QrReaderDeployment,
        ThermalMeterDeployment,
    )

    options = deployment_options or {}
    workers = settings.for_workers()

    def bound(deployment: Any, name: str) -> Any:
        return deployment.options(**options.get(name, {})).bind(workers)

    return DeclarationIngress.options(**options.get("DeclarationIngress", {})).bind(  # type: ignore[attr-defined]
        workers,
        bound(FaceDetectorDeployment, "FaceDetector"),
        bound(FaceEmbedderDeployment, "FaceEmbedder"),
        bound(ThermalMeterDeployment, "ThermalMeter"),
        bound(QrReaderDeployment, "QrReader"),
        bound(IrisEncoderDeployment, "IrisEncoder"),
    )
