"""The one settings model. Loaded once at start-up (`Settings()` reads DICHTE_*
variables) and passed down to every actor and replica as a plain dict."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dichte.domain.events import Minimisation
from dichte.domain.tracing import OutbreakSettings


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


# Values that appear in documentation: refused as secrets in production.
_DOCUMENTED_SECRETS = {"changethis", "secret", "dev"}


class ActorResources(BaseModel):
    """The share of a node one of dichte's own actors reserves (Ray's logical units)."""

    model_config = ConfigDict(extra="forbid")
    num_cpus: float = Field(0, ge=0)
    num_gpus: float = Field(0, ge=0)


# dichte's own actors (not Serve deployments), by class name.
ACTOR_CLASSES = (
    "DeclarationStoreActor",
    "GalleryShard",
    "TracingShard",
    "CameraStream",
    "CameraSupervisor",
    "IOCForwarder",
    "RetentionKeeper",
)


def check_actor_classes(names: Mapping[str, Any]) -> None:
    unknown = set(names) - set(ACTOR_CLASSES)
    if unknown:
        raise ValueError(f"actors: no actor class {sorted(unknown)}; known: {ACTOR_CLASSES}")


def actor_resources(settings: Mapping[str, Any], actor_class: str) -> dict[str, float]:
    """Ray options for `actor_class` from the settings dict actors receive: what the
    Serve config's `actors:` gives it, else nothing (the class's own default)."""
    given = settings.get("actors", {}).get(actor_class)
    return ActorResources.model_validate(given).model_dump() if given else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DICHTE_", extra="forbid", env_nested_delimiter="__"
    )

    mode: Mode = Field(
        Mode.DEVELOPMENT,
        description="development generates keys and starts "
        "an embedded Redis; production refuses missing or default secrets",
    )
    data_dir: Path = Field(
        Path("var"),
        description="Folder for the embedded Redis (AOF) and the development signing key",
    )
    redis_url: str | None = Field(
        None,
        description="Redis server to use (redis://, rediss://, unix://), or a Redis "
        "Cluster (redis+cluster://, rediss+cluster://, any one node); unset starts "
        "an embedded one",
    )
    redis_key_prefix: str = Field(
        "dichte",
        description="Prefix of every Redis key, so several deployments can share one server",
    )
    strict_durability: bool = Field(
        False, description="appendfsync always instead of everysec for the embedded Redis"
    )
    http_host: str = Field("127.0.0.1", description="Address Serve's HTTP ingress binds")
    http_port: int = Field(8000, description="Port of the API and pages")
    public_base_url: str | None = Field(
        None,
        description="Address citizens' phones reach the service at, printed into venue "
        "QR codes (e.g. https://khaibao.quangtri.gov.vn); default http://HTTP_HOST:HTTP_PORT",
    )
    metrics_port: int = Field(8080, description="Port of Ray's Prometheus metrics endpoint")
    fast_ingress: bool = Field(
        True,
        description="Serve's HAProxy ingress (RAY_SERVE_ENABLE_HA_PROXY) instead of its "
        "Python proxy: about 10x the requests per second on a small node",
    )
    ray_address: str | None = Field(
        None, description="Existing Ray cluster to join (e.g. 'auto'); unset starts a local Ray"
    )
    serve_config: Path = Field(
        Path("cluster/serve_config.yaml"),
        description="Serve config YAML: replicas, CPUs/GPUs and limits per deployment",
    )
    actors: dict[str, ActorResources] = Field(
        default_factory=dict,
        description="CPU/GPU share of each of dichte's own actors, by class name "
        f"({', '.join(ACTOR_CLASSES)}); set by the Serve config's application args",
    )
    signing_key: SecretStr | None = Field(
        None, description="Ed25519 private key, 32 bytes base64; required in production"
    )
    previous_signing_keys: str = Field(
        "",
        description="Public keys (32 bytes base64, comma-separated) of earlier signing "
        "keys: what they signed (QR codes, venue codes, staff tokens) is still accepted "
        "while a rotation is under way; everything new is signed with the current key",
    )
    qr_token_ttl_hours: int = Field(
        14 * 24, gt=0, description="How long a declaration's QR code stays valid"
    )
    staff_token_ttl_hours: int = Field(
        12, gt=0, description="Lifetime of staff tokens issued by `dichte token`"
    )
    idempotency_window_hours: int = Field(
        24,
        gt=0,
        description="A resubmitted identical body within this window returns the first record",
    )
    outbreak: OutbreakSettings = Field(
        default_factory=OutbreakSettings,
        description="Per-outbreak tracing parameters, e.g. DICHTE_OUTBREAK__FOLLOW_UP_DAYS=14",
    )
    checkin_retention_days: int = Field(
        21,
        gt=0,
        description="Check-ins, check-outs and checkpoint passages are deleted this long "
        "after they happened",
    )
    declaration_retention_days: int = Field(
        28,
        gt=0,
        description="Declarations, the person profiles and phone index they write and their "
        "IOC outbox entries are deleted this long after the last declaration (the QR "
        "code lives 14 days; tracing reaches 14 days back)",
    )
    case_retention_days: int = Field(
        365,
        gt=0,
        description="Cases with their contacts and follow-ups, and quarantine orders, are "
        "deleted this long after they were opened (orders: after they ended)",
    )
    retention_interval_minutes: int = Field(
        60,
        ge=1,
        le=24 * 60,
        description="How often the running system deletes what is past its retention",
    )
    venue_registrations_per_hour: int = Field(
        120,
        gt=0,
        description="Public venue registrations allowed an hour per client address "
        "(behind Serve's proxy that is the proxy's, unless trust_forwarded_for)",
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the client address from the last X-Forwarded-For entry "
        "(only behind a load balancer that sets it)",
    )
    max_body_bytes: int = Field(64 * 1024, gt=0, description="Largest request body accepted")
    max_upload_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest file upload (thermal frames, images) on the measuring endpoints",
    )
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="Photos with more pixels are refused before decoding"
    )
    face_requests_in_flight: int = Field(
        64,
        ge=1,
        description="Inference requests one API replica keeps in flight (faces; thermal and "
        "QR photos counted apart); more are refused at once (503 busy) instead of queueing",
    )
    face_gallery_shards: int = Field(
        1, ge=1, le=64, description="Gallery actors the enrolled templates are split over"
    )
    tracing_shards: int = Field(
        2,
        ge=0,
        le=256,
        description="Actors the in-memory tracing index is split over (by venue and by "
        "person); 0 traces from the Redis record directly",
    )
    template_key: SecretStr | None = Field(
        None,
        description="AES-256 key (32 bytes, base64) sealing stored face and iris templates; "
        "generated into the data dir in development (`dichte keygen` prints one)",
    )
    previous_template_keys: SecretStr | None = Field(
        None,
        description="Earlier template keys (32 bytes base64, comma-separated): templates "
        "sealed with them still open while a rotation is under way; `dichte reseal` "
        "seals them again with the current key",
    )
    biometric_retention_days: int = Field(
        21, ge=1, le=365, description="Face and iris templates expire this long after enrolment"
    )
    face_match_threshold: float = Field(
        0.363,
        ge=0.0,
        le=1.0,
        description="Cosine similarity at or above which two faces are the same person "
        "(SFace's published threshold)",
    )
    iris_match_threshold: float = Field(
        0.37,
        ge=0.0,
        le=0.5,
        description="Normalised Hamming distance at or below which two irises are the same "
        "eye, 1:1 (CASIA same-eye pairs reach 0.35, different eyes start at 0.42: README)",
    )
    iris_identification_fpir: float = Field(
        0.01,
        gt=0.0,
        lt=1.0,
        description="1:N: the share of searches for a stranger that may name someone "
        "enrolled; the identification threshold falls with the gallery's size to keep it",
    )
    iris_impostor_dof: int = Field(
        249,
        ge=20,
        le=2048,
        description="Degrees of freedom of different-eye distances (p(1-p)/variance, "
        "measured on the enrolled population) the 1:N threshold assumes; Daugman's 249 "
        "by default",
    )
    checkpoints_config: Path = Field(
        Path("cluster/checkpoints.yaml"),
        description="Checkpoints and cameras loaded at start when the store has none of "
        "that id (changes made through the API are kept)",
    )
    simulated_checkpoint: bool = Field(
        True,
        description="When no camera is configured anywhere, start a simulated two-lane "
        "checkpoint (sim:// cameras), so a fresh `make run` shows screenings",
    )
    sim_faces_dir: Path | None = Field(
        None,
        description="Labelled face photos the simulator composites into its scenes (e.g. "
        "../shared/data/faces); unset: synthetic faces, which the face detector cannot see",
    )
    camera_frames_queued: int = Field(
        4,
        ge=1,
        le=64,
        description="Frames a camera keeps waiting for inference; beyond, the oldest is "
        "dropped and counted (traffic must not wait on a backlog of stale frames)",
    )
    fever_threshold_c: float = Field(
        37.5, ge=36.5, le=39.0, description="Core temperature that counts as fever (°C)"
    )
    fever_screen_margin_c: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Flag as elevated this far below the threshold: a screen sends people "
        "to a clinical thermometer, so it leans towards catching fevers",
    )

    health_centres_config: Path = Field(
        Path("cluster/health_centres.yaml"),
        description="Regional health centres and the communes each serves (records are "
        "routed to a commune, its centre and its province)",
    )
    population_config: Path = Field(
        Path("cluster/population.yaml"),
        description="Inhabitants per commune and province (check-ins per 1,000 "
        "inhabitants in the QR deployment report)",
    )
    ioc_url: str | None = Field(
        None,
        description="Where record events are POSTed for the provincial IOC (CloudEvents "
        "batches signed per Standard Webhooks); unset: nothing leaves the province",
    )
    ioc_secret: SecretStr | None = Field(
        None, description="The IOC's Standard Webhooks secret (whsec_…); needed with ioc_url"
    )
    ioc_payload: Minimisation = Field(
        Minimisation.PSEUDONYMISED,
        description="What leaves for the IOC: full records, records with identity fields "
        "replaced by a keyed hash (pseudonymised), or aggregates (kind and units only)",
    )
    ioc_pseudonym_key: SecretStr | None = Field(
        None,
        description="Key of the pseudonyms sent to the IOC (any string); unset: derived "
        "from the signing key, so pseudonyms stay stable while that key does",
    )
    ioc_source: str = Field(
        "urn:dichte", description="The CloudEvents `source` of events this system sends"
    )
    delivery_batch: int = Field(
        1000,
        ge=1,
        le=5000,
        description="Events per request to the IOC and to webhooks (at most; ~1.3 MB at 1000)",
    )
    delivery_max_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Times an event a receiver refuses (4xx) is tried before it goes to "
        "the dead letters (a receiver that is down or answers 5xx is retried without end)",
    )

    @model_validator(mode="after")
    def _known_actors(self) -> Settings:
        check_actor_classes(self.actors)
        return self

    @model_validator(mode="after")
    def _ioc_needs_secret(self) -> Settings:
        if self.ioc_url and not (self.ioc_secret and self.ioc_secret.get_secret_value()):
            raise ValueError("DICHTE_IOC_URL needs DICHTE_IOC_SECRET (whsec_…)")
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.mode is Mode.PRODUCTION:
            key = self.signing_key.get_secret_value() if self.signing_key else ""
            if not key or key.lower() in _DOCUMENTED_SECRETS:
                raise ValueError(
                    "production mode needs DICHTE_SIGNING_KEY (an Ed25519 key, "
                    "32 bytes base64; `dichte keygen` makes one)"
                )
            if not self.template_key or not self.template_key.get_secret_value():
                raise ValueError(
                    "production mode needs DICHTE_TEMPLATE_KEY (32 bytes base64) to "
                    "seal face templates; `dichte keygen` prints one"
                )
            if not self.redis_url:
                raise ValueError(
                    "production mode needs DICHTE_REDIS_URL (a managed Redis "
                    "with persistence); the embedded server is for development"
                )
        return self

    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    def for_workers(self) -> dict[str, object]:
        """The settings as a plain dict to hand to actors and replicas."""
        values = self.model_dump(mode="json")
        if self.signing_key is not None:
            values["signing_key"] = self.signing_key.get_secret_value()
        for name in ("template_key", "previous_template_keys", "ioc_secret", "ioc_pseudonym_key"):
            secret = getattr(self, name)
            if secret is not None:
                values[name] = secret.get_secret_value()
        return values
