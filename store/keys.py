"""Every Redis key the system writes, in one place. Time-indexed sorted sets (score =
unix seconds) serve the tracing queries.

Hash slots (Redis Cluster): the record's keys carry the deployment's hash tag,
`{prefix}:...`, so the scripts and transactions that write several of them at once
find them in one slot; that part of the record lives on one primary. The check-ins,
the bulk (tens of bytes each, hundreds of millions nationally), are tagged by their
own person or venue, `prefix:ci:person:{person}` and `prefix:ci:venue:{venue}:day`, so
they spread over every primary; store.epi writes them slot by slot."""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.tag = "{" + prefix + "}"

    def _k(self, *parts: str) -> str:
        return ":".join((self.tag, *parts))

    def patterns(self) -> tuple[str, str]:
        """Every key of the deployment: the record's and the check-ins'."""
        return f"{self.tag}:*", f"{self.prefix}:ci:*"

    # declarations
    def declaration(self, declaration_id: str) -> str:
        return self._k("decl", declaration_id)

    def idempotency(self, key: str) -> str:
        return self._k("idem", key)

    def replay(self, request: str) -> str:
        """A write's answer by its request id (api.replay_guard)."""
        return self._k("replay", request)

    def declarations_of_document(self, document_hash: str) -> str:
        return self._k("decl", "by_doc", document_hash)

    def declarations_by_day(self) -> str:
        return self._k("stats", "declarations_by_day")

    # the outbox: one stream entry per record event (domain.events), read by consumer
    # groups (the unit router, the IOC forwarder); per-unit feeds and work lists are
    # filled from it; each delivery target has its dead letters and replays
    def outbox(self) -> str:
        return self._k("outbox", "records")

    def feed(self, unit: str) -> str:
        return self._k("feed", unit)

    def feeds_pattern(self) -> str:
        return self._k("feed", "*")

    def work_list(self, kind: str, unit: str) -> str:
        return self._k("list", kind, unit)

    def work_lists_pattern(self, kind: str) -> str:
        return self._k("list", kind, "*")

    def dead_letters(self, target: str) -> str:
        return self._k("outbox", "dead", target)

    def replays(self, target: str) -> str:
        return self._k("outbox", "replay", target)

    def delivery_attempts(self, target: str) -> str:
        return self._k("outbox", "attempts", target)

    def delivery_state(self, target: str) -> str:
        return self._k("outbox", "state", target)

    def webhooks(self) -> str:
        return self._k("webhooks")

    # persons (id = document hash): profile from the latest declaration
    def person(self, person_id: str) -> str:
        return self._k("person", person_id)

    def person_by_phone(self, phone: str) -> str:
        return self._k("person", "by_phone", phone)

    # checkpoint passages: member "checkpoint|plate|at" / "person|plate|at"
    def passages_of_person(self, person_id: str) -> str:
        return self._k("pass", "person", person_id)

    def passages_at_checkpoint(self, checkpoint: str) -> str:
        return self._k("pass", "cp", checkpoint)

    # venues and check-ins: binary members (store.stays), per venue and day, per person
    def venue(self, venue_id: str) -> str:
        return self._k("venue", venue_id)

    def venues_of_commune(self, commune_code: int) -> str:
        return self._k("venue", "by_commune", str(commune_code))

    def stays_at_venue(self, venue_id: str, day: int) -> str:
        """A venue's check-ins on one UTC day (store.stays.day_of), in the venue's slot."""
        return f"{self.prefix}:ci:venue:{{{venue_id}}}:{day}"

    def stays_at_venue_pattern(self) -> str:
        return f"{self.prefix}:ci:venue:*"

    def venue_of_stays_key(self, key: str) -> str:
        """The venue whose day `key` (a stays_at_venue key) holds."""
        return key[len(self.prefix) + 11 : key.rindex(":") - 1]

    def stays_of_person(self, person_id: str) -> str:
        """The person's check-ins, in the person's slot."""
        return f"{self.prefix}:ci:person:{{{person_id}}}"

    def stays_of_person_pattern(self) -> str:
        return f"{self.prefix}:ci:person:*"

    def person_of_stays_key(self, key: str) -> str:
        return key[len(self.prefix) + 12 : -1]

    def replication_probe(self) -> str:
        """Written just before a WAIT (store.connection.replicated)."""
        return self._k("replication-probe")

    def checkin_recorded(self, person_id: str, venue_id: str, start: int) -> str:
        """Set once a check-in is announced (store.epi: a retried write announces it
        once); kept a few minutes."""
        return self._k("ci", "recorded", person_id, venue_id, str(start))

    # every check-in, check-out and retention cut, in order: the tracing index
    # (store.tracing_index) follows it
    def tracing_changes(self) -> str:
        return self._k("ci", "changes")

    def checkins_by_day(self) -> str:
        return self._k("stats", "checkins_by_day")

    def rate(self, name: str, who: str, window: int) -> str:
        return self._k("rate", name, who, str(window))

    # cases, contacts, quarantine
    def case(self, case_id: str) -> str:
        return self._k("case", case_id)

    def case_of_person(self, person_id: str) -> str:
        return self._k("case", "by_person", person_id)

    def cases_by_time(self) -> str:
        """Every case id, scored by when it was opened (retention)."""
        return self._k("case", "by_time")

    def contacts_of_case(self, case_id: str) -> str:
        return self._k("case", case_id, "contacts")

    def contact(self, contact_id: str) -> str:
        return self._k("contact", contact_id)

    def quarantine(self, order_id: str) -> str:
        return self._k("quarantine", order_id)

    def quarantines_of_person(self, person_id: str) -> str:
        return self._k("quarantine", "by_person", person_id)

    def quarantines_by_end(self) -> str:
        """Every quarantine order id, scored by when it ends (retention)."""
        return self._k("quarantine", "by_end")

    # checkpoints: configuration (JSON per checkpoint, a version counter so camera
    # supervisors see changes) and screening events (a stream per checkpoint)
    def checkpoint(self, checkpoint_id: str) -> str:
        return self._k("cp", "config", checkpoint_id)

    def checkpoints(self) -> str:
        return self._k("cp", "configs")

    def checkpoints_version(self) -> str:
        return self._k("cp", "configs", "version")

    def screening_events(self, checkpoint_id: str) -> str:
        return self._k("cp", "events", checkpoint_id)

    def screening_event(self, event_id: str) -> str:
        return self._k("cp", "event", event_id)

    def screening_face(self, event_id: str) -> str:
        return self._k("cp", "face", event_id)

    def screenings_by_day(self) -> str:
        return self._k("stats", "screenings_by_day")

    # face templates (sealed, AES-GCM), one per person, expiring with the retention
    def face_template(self, person_id: str) -> str:
        return self._k("face", person_id)

    def face_templates_pattern(self) -> str:
        return self._k("face", "*")

    # iris templates (sealed, AES-GCM), one per eye (`<person>/<eye>`), expiring alike
    def iris_template(self, entry: str) -> str:
        return self._k("iris", entry)

    def iris_templates_pattern(self) -> str:
        return self._k("iris", "*")

    # counters the reports read (domain.reports names their fields)
    def commune_day(self, commune_code: int | str, day: str) -> str:
        return self._k("stats", "commune", str(commune_code), day)

    def commune_day_prefix(self) -> str:
        """What `commune_day` keys start with (scripts append "<commune>:<day>")."""
        return self._k("stats", "commune", "")

    def quarantine_changes(self, commune_code: int | str) -> str:
        """Day -> change of the number under quarantine in the commune."""
        return self._k("stats", "quarantine", str(commune_code))

    def checkpoint_day(self, checkpoint_id: str, day: str) -> str:
        return self._k("stats", "cp", checkpoint_id, day)

    def venues_scanned(self, commune_code: int | str) -> str:
        """The commune's venues scored by their latest check-in."""
        return self._k("venue", "scanned", str(commune_code))

    def venues_inspected(self, commune_code: int | str) -> str:
        """The commune's venues scored by their latest inspection."""
        return self._k("venue", "inspected", str(commune_code))

    def venues_compliant(self, commune_code: int | str) -> str:
        """Venues whose latest inspection found the poster displayed, scored by it."""
        return self._k("venue", "compliant", str(commune_code))

    # inspections of QR points
    def inspections_of_venue(self, venue_id: str) -> str:
        return self._k("insp", "venue", venue_id)

    def inspection(self, inspection_id: str) -> str:
        return self._k("insp", inspection_id)

    def inspection_photo(self, inspection_id: str) -> str:
        return self._k("insp", "photo", inspection_id)

    # dishonest-declaration flags and the evidence indexes their rules read
    def flag(self, flag_id: str) -> str:
        return self._k("flag", flag_id)

    def fevers_of_person(self, person_id: str) -> str:
        """Screening events that measured a fever, scored by time."""
        return self._k("cp", "fever", person_id)

    def contacts_of_person(self, person_id: str) -> str:
        """The person's contact records, scored by when each was written."""
        return self._k("contact", "by_person", person_id)

    def f2_of_case(self, case_id: str) -> str:
        """Persons counted as F2 of a case (each once)."""
        return self._k("case", case_id, "f2")
