"""Wiring: the services one process serves the API with, built from the stores and
the inference clients it has (a Serve replica: the actors and deployments; the
standalone app: plain stores and no inference)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dichte.api.deps import Services
from dichte.api.metrics import ApiMetrics, NoMetrics
from dichte.domain.keys import verifying_keys
from dichte.domain.settings import Settings
from dichte.services.cases import CaseService
from dichte.services.checkins import CheckinService
from dichte.services.checkpoints import CheckpointService
from dichte.services.declarations import DeclarationGateway
from dichte.services.faces import FaceService, GalleryClient, Inference
from dichte.services.inspections import InspectionService
from dichte.services.iris import IrisEncoding, IrisGalleryClient, IrisService
from dichte.services.reports import ReportService
from dichte.services.tracing import Tracer
from dichte.services.units import UnitService
from dichte.services.venues import VenueService
from dichte.services.vision import Vision, VisionService
from dichte.services.wiring import (
    declaration_service,
    flag_service,
    jurisdictions,
    population,
    screening_service,
)
from dichte.store.checkpoints import CheckpointStore
from dichte.store.epi import EpiStore
from dichte.store.inspections import InspectionStore
from dichte.store.outbox import OutboxStore
from dichte.store.replays import ReplayStore
from dichte.store.stats import StatsStore


def build_services(
    settings: Settings,
    *,
    declarations_gateway: DeclarationGateway,
    epi_store: EpiStore,
    signing_key: Ed25519PrivateKey,
    metrics: ApiMetrics | None = None,
    inference: Inference | None = None,
    gallery: GalleryClient | None = None,
    vision: Vision | None = None,
    iris: IrisEncoding | None = None,
    iris_gallery: IrisGalleryClient | None = None,
    tracer: Tracer | None = None,
) -> Services:
    """The services one process serves the API with. Without `inference` the face routes
    answer 503 faces_unavailable; without `iris`, the iris routes 503 iris_unavailable;
    without `vision`, thermal and QR photos 503; without `tracer`, tracing reads
    the Redis record directly."""
    metrics = metrics or NoMetrics()
    declarations_service = declaration_service(settings, declarations_gateway, signing_key, metrics)
    units = jurisdictions(settings)
    vision_service = VisionService(vision, declarations_service)
    venue_service = VenueService(
        epi_store,
        signing_key,
        settings.base_url(),
        settings.venue_registrations_per_hour,
        units,
        verifying_keys=verifying_keys(signing_key, settings),
    )
    return Services(
        declarations=declarations_service,
        venues=venue_service,
        checkins=CheckinService(epi_store, venue_service),
        cases=CaseService(
            epi_store,
            declarations_service,
            settings.outbreak,
            units,
            tracer=tracer,
            on_trace=metrics.trace,
        ),
        vision=vision_service,
        checkpoints=CheckpointService(CheckpointStore.of(settings)),
        units=UnitService(OutboxStore.of(settings), units, venue_service.public),
        flags=flag_service(settings, epi_store),
        inspections=InspectionService(
            InspectionStore.of(settings), venue_service, vision_service, units
        ),
        reports=ReportService(
            StatsStore.of(settings), CheckpointStore.of(settings), units, population(settings)
        ),
        screenings=(
            screening_service(
                settings,
                inference=inference,
                gallery=gallery,
                declarations=declarations_service,
                vision=vision,
                iris=iris,
                iris_gallery=iris_gallery,
            )
            if inference is not None and gallery is not None
            else None
        ),
        public_key=venue_service.verifying_keys,
        replays=ReplayStore.of(settings),
        metrics=metrics,
        trust_forwarded_for=settings.trust_forwarded_for,
        faces=(
            FaceService(inference, gallery, settings.face_match_threshold)
            if inference is not None
            else None
        ),
        iris=(
            IrisService(
                iris,
                iris_gallery,
                settings.iris_match_threshold,
                settings.iris_identification_fpir,
                settings.iris_impostor_dof,
            )
            if iris is not None
            else None
        ),
    )
