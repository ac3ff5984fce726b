"""Services built from the settings, for every process that runs them (an API
replica, a camera stream): one place that says which stores and rules they get."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dichte.domain.events import Minimisation
from dichte.domain.jurisdictions import Jurisdictions
from dichte.domain.keys import load_signing_key, verifying_keys
from dichte.domain.reports import Population
from dichte.domain.settings import Settings
from dichte.domain.tokens import derived_key
from dichte.services.checkpoints import CheckpointCommunes
from dichte.services.declarations import DeclarationGateway, DeclarationService
from dichte.services.delivery import Target
from dichte.services.faces import GalleryClient, Inference
from dichte.services.flags import FlagService
from dichte.services.iris import IrisEncoding, IrisGalleryClient
from dichte.services.screening import ScreeningService
from dichte.services.vision import Vision, screening_policy
from dichte.store.checkpoints import CheckpointStore
from dichte.store.epi import EpiStore
from dichte.store.flags import FlagStore
from dichte.store.keys import Keys

IOC_TARGET = "ioc"


class OutcomeMetrics(Protocol):
    def declaration(self, outcome: str, province: int | None = None) -> None: ...


@cache
def _jurisdictions(path: Path) -> Jurisdictions:
    return Jurisdictions.load(path)


def jurisdictions(settings: Settings) -> Jurisdictions:
    """The health centres of cluster/health_centres.yaml (read once per process)."""
    return _jurisdictions(settings.health_centres_config)


def declaration_service(
    settings: Settings,
    gateway: DeclarationGateway,
    signing_key: Ed25519PrivateKey,
    metrics: OutcomeMetrics | None = None,
) -> DeclarationService:
    return DeclarationService(
        gateway,
        signing_key,
        timedelta(hours=settings.qr_token_ttl_hours),
        on_outcome=metrics.declaration if metrics else lambda outcome, province: None,
        jurisdictions=jurisdictions(settings),
        checkpoint_commune=CheckpointCommunes(CheckpointStore.of(settings)),
        verifying_keys=verifying_keys(signing_key, settings),
    )


def flag_service(settings: Settings, epi: EpiStore | None = None) -> FlagService:
    """The flag rules with the stores they read (the API's and the flag reader's)."""
    return FlagService(
        FlagStore.of(settings),
        epi or EpiStore.of(settings),
        CheckpointCommunes(CheckpointStore.of(settings)),
        jurisdictions(settings),
    )


@cache
def _population(path: Path) -> Population:
    return Population.load(path)


def population(settings: Settings) -> Population:
    """Inhabitants per unit (cluster/population.yaml, read once per process)."""
    return _population(settings.population_config)


def screening_service(
    settings: Settings,
    *,
    inference: Inference,
    gallery: GalleryClient,
    declarations: DeclarationService,
    vision: Vision | None = None,
    iris: IrisEncoding | None = None,
    iris_gallery: IrisGalleryClient | None = None,
) -> ScreeningService:
    """What turns a passage's frames into a stored screening event (the cameras', and
    the API's for frames a device pushes)."""
    return ScreeningService(
        inference=inference,
        gallery=gallery,
        declarations=declarations,
        epi=EpiStore.of(settings),
        events=CheckpointStore.of(settings),
        policy=screening_policy(settings),
        match_threshold=settings.face_match_threshold,
        qr_ttl=timedelta(hours=settings.qr_token_ttl_hours),
        vision=vision,
        jurisdictions=jurisdictions(settings),
        iris=iris,
        iris_gallery=iris_gallery,
        iris_threshold=settings.iris_match_threshold,
        iris_fpir=settings.iris_identification_fpir,
        iris_dof=settings.iris_impostor_dof,
    )


def ioc_target(settings: Settings) -> Target | None:
    """The IOC as a delivery target (None when DICHTE_IOC_URL is unset)."""
    if not settings.ioc_url or settings.ioc_secret is None:
        return None
    return Target(
        name=IOC_TARGET,
        url=settings.ioc_url,
        secret=settings.ioc_secret.get_secret_value(),
        stream=Keys(settings.redis_key_prefix).outbox(),
        group=IOC_TARGET,
        policy=settings.ioc_payload,
        pseudonym_key=pseudonym_key(settings),
        source=settings.ioc_source,
    )


def pseudonym_key(settings: Settings) -> bytes:
    if settings.ioc_pseudonym_key is not None:
        return settings.ioc_pseudonym_key.get_secret_value().encode()
    return derived_key(load_signing_key(settings), b"dichte/ioc-pseudonym/v1")


def webhook_target(settings: Settings, webhook: dict[str, Any]) -> Target:
    """A unit's webhook: its unit feed, full records (staff of that unit receive them),
    the event types it asked for."""
    return Target(
        name=f"webhook-{webhook['id']}",
        url=str(webhook["url"]),
        secret=str(webhook["secret"]),
        stream=Keys(settings.redis_key_prefix).feed(str(webhook["unit"])),
        group=f"webhook-{webhook['id']}",
        policy=Minimisation.FULL,
        pseudonym_key=b"",
        source=settings.ioc_source,
        types=frozenset(webhook.get("events") or ()),
    )
