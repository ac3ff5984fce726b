"""The declaration API as a Ray Serve application.

`build_app` is the import path named in cluster/serve_config.yaml
(`serving.ingress:build_app`); replicas, CPUs and request limits are set there.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from actors.declaration_store import ActorDeclarationGateway, get_or_create_store_actor
from actors.epi_service import EpiService
from actors.epi_store import EpiStore
from actors.face_service import FaceService
from actors.gallery import ShardedGallery
from actors.inference_pool import InferencePool
from api.app import create_app
from domain.keys import load_signing_key
from domain.settings import Settings
from serving.inference import FaceDetectorDeployment, FaceEmbedderDeployment


@serve.deployment(name="DeclarationIngress")
@serve.ingress()
class DeclarationIngress:
    def __init__(
        self,
        settings: dict[str, Any],
        detector: DeploymentHandle | None = None,
        embedder: DeploymentHandle | None = None,
    ) -> None:
        self._settings = Settings(**settings)
        self._store = get_or_create_store_actor(settings)
        self._faces: FaceService | None = None
        if detector is not None and embedder is not None:
            s = self._settings
            self._faces = FaceService(
                InferencePool(detector, embedder, max_in_flight=s.face_requests_in_flight),
                ShardedGallery(settings, shards=s.face_gallery_shards),
                threshold=s.face_match_threshold,
            )

    def __serve_build_asgi_app__(self) -> Any:
        from serving.metrics import RayApiMetrics

        s = self._settings
        assert s.redis_url is not None
        # Check-ins and tracing go to Redis straight from the replica: its scripts keep
        # concurrent replicas consistent, and a hop through an actor would only add latency.
        epi = EpiService(EpiStore(s.redis_url, key_prefix=s.redis_key_prefix), s.outbreak)
        return create_app(
            s,
            ActorDeclarationGateway(self._store),
            epi,
            load_signing_key(s),
            RayApiMetrics(),
            faces=self._faces,
        )


class IngressArgs(BaseModel):
    """Arguments of the application builder (the `args:` of the Serve config)."""

    model_config = ConfigDict(extra="forbid")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the DICHTE_* settings, e.g. {redis_url: redis://...}",
    )


def build_app(args: dict[str, Any]) -> Application:
    parsed = IngressArgs.model_validate(args)
    settings = Settings(**parsed.settings)
    if not settings.redis_url:
        raise ValueError(
            "set DICHTE_REDIS_URL (or settings.redis_url in the Serve config); "
            "only `dichte run` starts an embedded Redis"
        )
    return bind_ingress(settings)


def bind_ingress(
    settings: Settings, deployment_options: dict[str, dict[str, Any]] | None = None
) -> Application:
    """The application: the API ingress bound to the face inference deployments.
    `deployment_options` maps deployment names to their Serve options."""
    options = deployment_options or {}
    workers = settings.for_workers()
    detector = FaceDetectorDeployment.options(**options.get("FaceDetector", {})).bind(workers)  # type: ignore[attr-defined]
    embedder = FaceEmbedderDeployment.options(**options.get("FaceEmbedder", {})).bind(workers)  # type: ignore[attr-defined]
    return DeclarationIngress.options(**options.get("DeclarationIngress", {})).bind(  # type: ignore[attr-defined]
        workers, detector, embedder
    )
