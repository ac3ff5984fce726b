"""One person passing a checkpoint → one screening event: the frames of their track
fused into a temperature, an identity and a declaration status, the decision rule of
`domain.screening` applied, the event stored (with the passage tracing reads), and a
first passage with a consenting declaration enrolling the face.

Used by the camera streams (a track that ended) and by `POST /screenings` (frames a
device pushed); both hand over `Observation`s, so the two can never disagree.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image

from dichte.domain.cases import Classification, QuarantineStatus
from dichte.domain.checkpoints import CheckpointConfig
from dichte.domain.clock import now_utc, vietnam_day
from dichte.domain.errors import DomainError
from dichte.domain.events import place_units
from dichte.domain.jurisdictions import Jurisdictions
from dichte.domain.records import DeclarationRecord
from dichte.domain.screening import (
    DeclarationStatus,
    EventDeclaration,
    EventIris,
    EventPerson,
    EventTemperature,
    PassageFacts,
    Reason,
    ScreeningEvent,
    Temperature,
    decide,
    event_id,
    identified,
)
from dichte.domain.templates import TemplateSources
from dichte.domain.tokens import QR_PREFIX
from dichte.domain.tracing import lane_plate
from dichte.models.errors import ImageError, InputError
from dichte.models.iris.code import IMPOSTOR_DOF, TARGET_FPIR, identification_threshold
from dichte.models.results import EncodedIris, SeenFace
from dichte.models.thermal.screening import Screening, ScreeningPolicy, screen_person
from dichte.services.checkpoints import CheckpointCommunes
from dichte.services.declarations import DeclarationService
from dichte.services.faces import GalleryClient, Inference, InferenceBusy, refused_input
from dichte.services.iris import IrisEncoding, IrisGalleryClient
from dichte.services.vision import Vision
from dichte.store.checkpoints import CheckpointStore
from dichte.store.epi import EpiStore

PUSH_FRAME_INTERVAL_S = 0.2  # a device's frames of one passage: the detect rate, 5 fps
FACE_CROP_TTL_S = 3600  # the face beside an event on the lane view; no longer
IRIS_CANDIDATES = 5  # closest eyes searched: the QR's person is among them if theirs


def best_face(observations: tuple[Observation, ...]) -> SeenFace | None:
    """The passage's face to identify and to show: a usable one if any, the largest and
    sharpest first."""
    faces = [o.face for o in observations]
    if not faces:
        return None
    return max(
        faces,
        key=lambda f: (
            f.quality.ok,
            f.quality.eye_distance_px * max(f.quality.sharpness, 1.0) ** 0.25,
        ),
    )


def jpeg(crop: np.ndarray) -> bytes:
    """A BGR crop as a small JPEG."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(crop[:, :, ::-1])).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def best_iris(irises: list[EncodedIris]) -> EncodedIris | None:
    """The passage's eye to identify: a usable one, the most visible and sharpest."""
    usable = [e for e in irises if e.quality.ok]
    return max(usable, key=lambda e: e.quality.usable * e.quality.focus, default=None)


@dataclass(frozen=True)
class Observation:
    """One frame of one person's passage: their face in the visible frame, the thermal
    reading at their canthus in the paired frame (None: no thermal camera, or the frame
    was unusable before a reading), the QR texts read in the visible frame, and the
    lane's iris camera's encoded eye at that moment (None: no iris camera, or no eye)."""

    index: int
    at: float  # unix seconds
    face: SeenFace
    thermal: Screening | None
    qr_texts: tuple[str, ...] = ()
    iris: EncodedIris | None = None


@dataclass(frozen=True)
class Passage:
    checkpoint_id: str
    lane: int
    camera_id: str
    observations: tuple[Observation, ...]
    irises: tuple[EncodedIris, ...] = ()  # eye images a device pushed with the passage


class ScreeningService:
    def __init__(
        self,
        *,
        inference: Inference,
        gallery: GalleryClient,
        declarations: DeclarationService,
        epi: EpiStore,
        events: CheckpointStore,
        policy: ScreeningPolicy,
        match_threshold: float,
        qr_ttl: timedelta,
        vision: Vision | None = None,
        jurisdictions: Jurisdictions | None = None,
        iris: IrisEncoding | None = None,
        iris_gallery: IrisGalleryClient | None = None,
        iris_threshold: float = 0.37,
        iris_fpir: float = TARGET_FPIR,
        iris_dof: int = IMPOSTOR_DOF,
    ) -> None:
        self._jurisdictions = jurisdictions or Jurisdictions()
        self._checkpoint_commune = CheckpointCommunes(events)
        self._inference = inference
        self._gallery = gallery
        self._declarations = declarations
        self._epi = epi
        self._events = events
        self._policy = policy
        self._threshold = match_threshold
        self._qr_ttl = qr_ttl
        self._vision = vision
        self._iris = iris
        self._iris_gallery = iris_gallery
        self._iris_threshold = iris_threshold
        self._iris_fpir = iris_fpir
        self._iris_dof = iris_dof

    # --- the parts ---------------------------------------------------------------------
    def temperature(self, observations: tuple[Observation, ...]) -> Screening:
        """The median of the usable frames (one noisy frame cannot decide)."""
        readings = [o.thermal for o in observations if o.thermal is not None]
        return screen_person(readings, self._policy)

    def _qr(
        self, observations: tuple[Observation, ...]
    ) -> tuple[DeclarationStatus, str | None, str | None]:
        """(status, person, declaration id) from the declaration QR seen most often."""
        texts = Counter(t for o in observations for t in o.qr_texts if t.startswith(QR_PREFIX))
        if not texts:
            return DeclarationStatus.NONE, None, None
        text = texts.most_common(1)[0][0]
        try:
            claims = self._declarations.verify(text)
        except DomainError as e:
            expired = e.errors[0].code == "token_expired"
            return (DeclarationStatus.EXPIRED if expired else DeclarationStatus.FORGED), None, None
        return DeclarationStatus.VALID, claims.document_hash.hex(), claims.declaration_id

    async def _face(
        self, observations: tuple[Observation, ...]
    ) -> tuple[np.ndarray | None, str | None, float | None]:
        """The embedding of the best usable face of the passage, whom it matched (when
        the score clears the threshold), and the best score."""
        best = best_face(observations)
        if best is None or not best.quality.ok:
            return None, None, None

        embedding = (await self._inference.embed([best.crop]))[0]
        (matches,) = await self._gallery.search(embedding[None, :], 1)
        if matches and matches[0][1] >= self._threshold:
            return embedding, matches[0][0], float(matches[0][1])
        return embedding, None, (float(matches[0][1]) if matches else None)

    async def _iris_match(self, passage: Passage, qr_person: str | None) -> EventIris | None:
        """Whose eye the passage's best usable iris code is (None: no iris camera, no
        usable eye, or no iris gallery here). The QR's person is verified 1:1 (their
        eye within the match threshold); anyone else is named only by identification
        (within the threshold for the gallery's size)."""
        best = best_iris([o.iris for o in passage.observations if o.iris] + list(passage.irises))
        if best is None or self._iris_gallery is None:
            return None
        matches, size = await self._iris_gallery.search(best.code, IRIS_CANDIDATES)
        if not matches:
            return EventIris(person_id=None, eye=None, hd=None)
        own = next((m for m in matches if m[0] == qr_person), None)
        if own is not None and own[2] <= self._iris_threshold:
            person_id, eye, hd = own
            return EventIris(person_id=person_id, eye=eye, hd=round(hd, 4))
        person_id, eye, hd = matches[0]
        named = hd <= identification_threshold(
            size, self._iris_threshold, self._iris_fpir, dof=self._iris_dof
        )
        return EventIris(person_id=person_id if named else None, eye=eye, hd=round(hd, 4))

    async def _declaration_of(
        self, person_id: str, now: datetime
    ) -> tuple[DeclarationStatus, str | None]:
        """A person known by face: their latest declaration, if still valid."""
        declaration_id = (await self._epi.person(person_id)).get("declaration_id")
        if not declaration_id:
            return DeclarationStatus.NONE, None
        try:
            record = await self._declarations.record(declaration_id)
        except DomainError:  # past its retention
            return DeclarationStatus.NONE, None
        expires = datetime.fromtimestamp(record.qr_claims(self._qr_ttl).expires_at, UTC)
        status = DeclarationStatus.VALID if now < expires else DeclarationStatus.EXPIRED
        return status, declaration_id

    async def _case_or_contact(self, person_id: str, now: datetime) -> bool:
        """A confirmed case, or someone under a quarantine order in force now."""
        case_id = (await self._epi.cases_of_persons([person_id]))[person_id]
        if case_id:
            case = await self._epi.case(case_id)
            if case and case.classification is Classification.CONFIRMED and case.outcome is None:
                return True
        orders = (await self._epi.quarantine_orders([person_id]))[person_id]
        return any(o.status is QuarantineStatus.ACTIVE and o.start <= now < o.end for o in orders)

    async def _consents(self, declaration_id: str) -> bool:
        try:
            record: DeclarationRecord = await self._declarations.record(declaration_id)
        except DomainError:
            return False
        return record.declaration.biometric_consent

    # --- the whole -----------------------------------------------------------------------
    async def screen(self, passage: Passage) -> tuple[ScreeningEvent, bool]:
        """(the event, created): fuse, decide, enrol on a first consenting passage, and
        store; the same passage again (a restarted camera) returns the first event."""
        obs = passage.observations
        if not obs:
            raise ValueError("a passage has at least one observation")
        now = now_utc()
        temperature = self.temperature(obs)
        status, qr_person, declaration_id = self._qr(obs)
        try:
            embedding, face_person, score = await self._face(obs)
        except InferenceBusy:  # no identity this time; the rest still decides
            embedding, face_person, score = None, None, None
        iris = await self._iris_match(passage, qr_person)
        iris_person = iris.person_id if iris else None
        person, via = identified(qr_person, iris_person, face_person)
        if qr_person is None and person is not None:
            status, declaration_id = await self._declaration_of(person, now)
        enrolled = set(await self._gallery.enrolled([qr_person])) if qr_person else set()
        iris_enrolled = (
            await self._iris_gallery.enrolled([qr_person])
            if qr_person and iris and self._iris_gallery
            else set()
        )
        facts = PassageFacts(
            temperature=Temperature(temperature.decision.value),
            declaration=status,
            qr_person=qr_person,
            face_checked=embedding is not None,
            face_person=face_person,
            qr_person_enrolled=qr_person in enrolled,
            case_or_contact=person is not None and await self._case_or_contact(person, now),
            iris_checked=iris is not None,
            iris_person=iris_person,
            qr_person_iris_enrolled=qr_person in iris_enrolled,
        )
        outcome, reasons = decide(facts)
        enrol = (
            qr_person is not None
            and status is DeclarationStatus.VALID
            and embedding is not None
            and face_person is None
            and qr_person not in enrolled
            and Reason.QR_IRIS_MISMATCH not in reasons  # the eye says it is someone else
            and declaration_id is not None
            and await self._consents(declaration_id)
        )
        if enrol:
            assert qr_person is not None and embedding is not None
            await self._gallery.enroll(qr_person, embedding, TemplateSources.CHECKPOINT)
        first = obs[0]
        event = ScreeningEvent(
            event_id=event_id(
                passage.checkpoint_id, passage.camera_id, round(first.at * 1000), first.index
            ),
            checkpoint_id=passage.checkpoint_id,
            lane=passage.lane,
            camera_id=passage.camera_id,
            at=datetime.fromtimestamp(first.at, UTC).replace(microsecond=0),
            frames=(first.index, obs[-1].index),
            decision=outcome,
            reasons=list(reasons),
            temperature=(
                EventTemperature(
                    core_c=round(temperature.core_c, 2),
                    canthus_c=round(temperature.canthus_c, 2),
                    uncertainty_c=round(temperature.uncertainty_c or 0.0, 2),
                )
                if temperature.core_c is not None and temperature.canthus_c is not None
                else None
            ),
            person=(
                EventPerson(
                    person_id=person,
                    score=round(score, 4) if face_person == person and score is not None else None,
                    via=via or "qr",
                )
                if person
                else None
            ),
            declaration=EventDeclaration(status=status, declaration_id=declaration_id),
            enrolled=enrol,
            face_person_id=face_person if face_person != person else None,
            iris=iris,
            decision_ms=max(0, round((now_utc().timestamp() - obs[-1].at) * 1000)),
        )
        at = int(first.at)
        face = best_face(obs)
        if face is not None:  # for the officer's lane view, kept only briefly
            await self._events.save_face(event.event_id, jpeg(face.crop), FACE_CROP_TTL_S)
        commune = await self._checkpoint_commune(passage.checkpoint_id)
        created, _ = await self._events.record_event(
            units=place_units(self._jurisdictions, commune),
            event=event,
            day=vietnam_day(at),
            plate=lane_plate(passage.lane),
            at=at,
        )
        return event, created

    async def screen_frames(
        self,
        checkpoint: CheckpointConfig,
        *,
        lane: int,
        at: datetime,
        visible: list[bytes],
        thermal: list[tuple[str, bytes]],
        qr_text: str | None,
        iris: list[bytes] | None = None,
    ) -> tuple[ScreeningEvent, bool]:
        """A passage a device pushed (its frames 1/5 s apart, from `at`): the same
        fusion and rule as a camera's, for the largest face of each frame, and the eye
        images of its iris camera, if any (one without a usable eye is passed over; a
        file that is not an image is refused)."""
        camera = next((c for c in checkpoint.visible_cameras() if c.lane == lane), None)
        if lane > checkpoint.lanes:
            raise DomainError.of("lane", "lane_unknown", lanes=checkpoint.lanes)
        if thermal and len(thermal) != len(visible):
            raise DomainError.of("thermal", "thermal_frames_mismatch")
        if self._vision is None:
            raise DomainError.of("request", "vision_unavailable")
        try:
            sights = [await self._inference.see(photo) for photo in visible]
            codes = [] if qr_text else [await self._vision.read_qr(photo) for photo in visible]
        except InferenceBusy:
            raise DomainError.of("request", "busy") from None
        except InputError as e:
            raise refused_input("visible", e) from None
        faces = [s.faces[0] if s.faces else None for s in sights]
        if not any(faces):
            raise DomainError.of("visible", "no_face_in_frames")
        irises = await self._encode_irises(iris or [])
        start = at.timestamp()
        ats = [start + i * PUSH_FRAME_INTERVAL_S for i in range(len(visible))]
        thermal_camera = checkpoint.thermal_of(camera.id) if camera else None
        readings: list[Screening | None] = [None] * len(visible)
        if thermal and thermal_camera is not None and thermal_camera.homography is not None:
            points = [
                tuple(
                    (float(f.face.landmarks[i][0]), float(f.face.landmarks[i][1])) for i in range(3)
                )
                if f
                else None
                for f in faces
            ]
            blackbody = thermal_camera.blackbody
            try:
                readings = await self._vision.read_passage(
                    thermal,
                    thermal_camera.homography,
                    points,  # type: ignore[arg-type]
                    (blackbody.roi, blackbody.set_point_c) if blackbody else None,
                    ats,
                )
            except InputError as e:
                raise refused_input("thermal", e) from None
        observations = tuple(
            Observation(
                i,
                ats[i],
                face,
                readings[i],
                (qr_text,) if qr_text else tuple(c.text for c in codes[i]),
            )
            for i, face in enumerate(faces)
            if face is not None
        )
        return await self.screen(
            Passage(
                checkpoint.id,
                lane,
                camera.id if camera else f"lane-{lane}",
                observations,
                irises,
            )
        )

    async def _encode_irises(self, images: list[bytes]) -> tuple[EncodedIris, ...]:
        if not images:
            return ()
        encoder = self._iris
        if encoder is None:
            raise DomainError.of("request", "iris_unavailable")
        encoded = []
        for image in images:
            try:
                encoded.append(await encoder.encode_iris(image))
            except InferenceBusy:
                raise DomainError.of("request", "busy") from None
            except ImageError as e:  # not an image at all: the device sent the wrong file
                raise refused_input("iris", e) from None
            except InputError:  # an image without a usable eye (closed, turned away)
                continue
        return tuple(encoded)
