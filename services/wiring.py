"""Services built from the settings, for every process that runs them (an API
replica, a camera stream): one place that says which stores and rules they get."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dichte.domain.settings import Settings
from dichte.services.declarations import DeclarationGateway, DeclarationService
from dichte.services.faces import GalleryClient, Inference
from dichte.services.screening import ScreeningService
from dichte.services.vision import Vision, screening_policy
from dichte.store.checkpoints import CheckpointStore
from dichte.store.epi import EpiStore


class OutcomeMetrics(Protocol):
    def declaration(self, outcome: str) -> None: ...


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
        on_outcome=metrics.declaration if metrics else lambda outcome: None,
    )


def screening_service(
    settings: Settings,
    *,
    inference: Inference,
    gallery: GalleryClient,
    declarations: DeclarationService,
    vision: Vision | None = None,
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
    )
