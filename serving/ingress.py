"""The declaration API as a Ray Serve application.

`build_app` is the import path named in cluster/serve_config.yaml
(`serving.ingress:build_app`); replicas, CPUs and request limits are set there.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application

from actors.declaration_store import ActorDeclarationGateway, get_or_create_store_actor
from actors.epi_service import EpiService
from actors.epi_store import EpiStore
from api.app import create_app
from domain.keys import load_signing_key
from domain.settings import Settings


@serve.deployment(name="DeclarationIngress")
@serve.ingress()
class DeclarationIngress:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = Settings(**settings)
        self._store = get_or_create_store_actor(settings)

    def __serve_build_asgi_app__(self) -> Any:
        from serving.metrics import RayApiMetrics

        s = self._settings
        assert s.redis_url is not None
        # Check-ins and tracing go to Redis straight from the replica: its scripts keep
        # concurrent replicas consistent, and a hop through an actor would only add latency.
        epi = EpiService(EpiStore(s.redis_url, key_prefix=s.redis_key_prefix), s.outbreak)
        return create_app(
            s, ActorDeclarationGateway(self._store), epi, load_signing_key(s), RayApiMetrics()
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
    settings: Settings, deployment_options: dict[str, Any] | None = None
) -> Application:
    return DeclarationIngress.options(**(deployment_options or {})).bind(  # type: ignore[attr-defined]
        settings.for_workers()
    )
