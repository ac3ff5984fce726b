"""Schemathesis against the live app: every route, with generated input and a staff
token, never answers 5xx and always answers in the shape its OpenAPI says (status,
content type, body schema). A stateful run chains real records (a declaration, then
its QR, a case from it, ...) so record routes are reached with ids that exist."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    multiple,
    rule,
    run_state_machine_as_test,
)
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dichte.domain.clock import today_in_vietnam
from tests.factories import distinct_declaration
from tests.live import LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and mode: valid input (the record routes reach the store) and input
# the schema forbids (each must be a documented 4xx in the one error shape).
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}


@pytest.fixture(scope="module")
def api_schema(server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{server.base}/openapi.json")


@pytest.fixture(scope="module")
def staff_headers(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.staff_token('national', 0)}"}


def test_every_route_answers_in_its_documented_shape(
    api_schema: Any, staff_headers: dict[str, str]
) -> None:
    failures: dict[str, str] = {}
    calls = 0
    runs = [
        (result.ok(), mode, examples)
        for result in api_schema.get_all_operations()
        for mode, examples in EXAMPLES.items()
    ]
    for operation, mode, examples in runs:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=staff_headers, checks=CHECKS, timeout=60)

        try:
            call()
        except Unsatisfiable:  # no input of this kind exists (no parameter to get wrong)
            continue
        except (Exception, BaseExceptionGroup) as failure:  # report every operation's
            failures[f"{operation.label} ({mode.value})"] = str(failure)[:3000]
    assert failures == {}, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
    assert calls >= 1000


class Records(RuleBasedStateMachine):
    """A province at work: people declare, venues register, people check in, staff open
    cases, change them with generated bodies, trace, follow up, convert and quarantine.
    Every call is checked against the OpenAPI schema; a refused change must leave the
    record exactly as it was."""

    api: ClassVar[Any] = None
    headers: ClassVar[dict[str, str]] = {}
    answered: ClassVar[Counter[str]] = Counter()  # "METHOD path status" over the run

    declarations = Bundle("declarations")
    venues = Bundle("venues")
    cases = Bundle("cases")
    contacts = Bundle("contacts")
    orders = Bundle("orders")

    def call(self, data: st.DataObject, path: str, method: str, **given: Any) -> Any:
        """One request built by schemathesis (generated where not given), validated."""
        case = data.draw(self.api[path][method].as_strategy(**given))
        response = case.call(headers=self.headers, timeout=60)
        self.answered[f"{method} {path} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS)
        return response

    def json_of(self, response: Any) -> Any:
        return response.json() if response.status_code < 300 else None

    @rule(target=declarations, data=st.data(), consent=st.booleans(), cough=st.booleans())
    def declare(self, data: st.DataObject, consent: bool, cough: bool) -> Any:
        body = {**distinct_declaration(), "biometric_consent": consent}
        body["symptoms"] = {"cough": cough}
        key = {"Idempotency-Key": uuid.uuid4().hex}
        r = self.call(data, "/api/v1/declarations", "POST", body=body, headers=key)
        assert r.status_code == 201, r.text
        return r.json() | {"document_number": body["document_number"]}

    @rule(target=venues, data=st.data(), name=st.text(min_size=2, max_size=40).filter(str.strip))
    def register_venue(self, data: st.DataObject, name: str) -> Any:
        body = {"name": name, "type": "market", "owner_phone": "0912345678", "commune_code": 18880}
        r = self.call(data, "/api/v1/venues", "POST", body=body)
        assert r.status_code in (201, 422), r.text  # 422: a name of blanks only
        return multiple(*([r.json()] if r.status_code == 201 else []))

    @rule(data=st.data(), who=declarations, where=venues, minutes=st.integers(0, 600))
    def check_in(self, data: st.DataObject, who: Any, where: Any, minutes: int) -> None:
        at = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()
        body = {"venue_code": where["code"], "person_token": who["qr_token"], "at": at}
        r = self.call(data, "/api/v1/checkins", "POST", body=body)
        assert r.status_code in (200, 201), r.text

    @rule(
        target=cases,
        data=st.data(),
        who=declarations,
        confirmed=st.booleans(),
        days=st.integers(0, 10),
    )
    def open_case(self, data: st.DataObject, who: Any, confirmed: bool, days: int) -> Any:
        body = {
            "declaration_id": who["id"],
            "classification": "confirmed" if confirmed else "suspected",
            "onset_date": str(today_in_vietnam() - timedelta(days=days)),
        }
        r = self.call(data, "/api/v1/cases", "POST", body=body)
        assert r.status_code in (200, 201), r.text
        return r.json()["id"]

    @rule(data=st.data(), case_id=cases)
    def change_case(self, data: st.DataObject, case_id: str) -> None:
        path = "/api/v1/cases/{case_id}"
        before = self.call(data, path, "GET", path_parameters={"case_id": case_id}).json()
        r = self.call(data, path, "PATCH", path_parameters={"case_id": case_id})
        after = self.call(data, path, "GET", path_parameters={"case_id": case_id}).json()
        if r.status_code >= 400:  # refused: nothing saved
            assert after == before
        else:
            assert after == {**r.json(), "contacts_recorded": None}
        # And a plain change (isolated now), so the route is reached with a real record
        # however the generated bodies fell (all of them may be refused: 422).
        isolation = {"isolation_at": datetime.now(UTC).replace(microsecond=0).isoformat()}
        self.call(data, path, "PATCH", path_parameters={"case_id": case_id}, body=isolation)

    @rule(target=contacts, data=st.data(), case_id=cases, depth=st.sampled_from([1, 2]))
    def trace(self, data: st.DataObject, case_id: str, depth: int) -> Any:
        ids = {"case_id": case_id}
        self.call(
            data,
            "/api/v1/cases/{case_id}/contacts",
            "GET",
            path_parameters=ids,
            query={"depth": depth},
        )
        self.call(data, "/api/v1/cases/{case_id}/chain", "GET", path_parameters=ids)
        self.call(data, "/api/v1/cases/{case_id}/chain.svg", "GET", path_parameters=ids)
        r = self.call(data, "/api/v1/cases/{case_id}/recorded-contacts", "GET", path_parameters=ids)
        return multiple(*[c["id"] for c in r.json()])

    @rule(target=contacts, data=st.data(), case_id=cases, who=declarations)
    def name_a_contact(self, data: st.DataObject, case_id: str, who: Any) -> Any:
        r = self.call(
            data,
            "/api/v1/cases/{case_id}/contacts",
            "POST",
            path_parameters={"case_id": case_id},
            body={
                "document_number": who["document_number"],
                "kind": "household",
                "at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    @rule(data=st.data(), contact_id=contacts)
    def follow_up(self, data: st.DataObject, contact_id: str) -> None:
        ids = {"contact_id": contact_id}
        self.call(data, "/api/v1/contacts/{contact_id}/follow-ups", "POST", path_parameters=ids)
        self.call(data, "/api/v1/contacts/{contact_id}", "GET", path_parameters=ids)

    @rule(target=cases, data=st.data(), contact_id=contacts)
    def convert(self, data: st.DataObject, contact_id: str) -> Any:
        r = self.call(
            data,
            "/api/v1/contacts/{contact_id}/convert",
            "POST",
            path_parameters={"contact_id": contact_id},
        )
        return multiple(*([r.json()["id"]] if r.status_code < 300 else []))

    @rule(target=orders, data=st.data(), who=declarations, days=st.integers(1, 21))
    def quarantine(self, data: st.DataObject, who: Any, days: int) -> Any:
        start = datetime.now(UTC) - timedelta(days=1)
        body = {
            "document_number": who["document_number"],
            "kind": "home",
            "start": start.isoformat(),
            "end": (start + timedelta(days=days)).isoformat(),
        }
        r = self.call(data, "/api/v1/quarantine-orders", "POST", body=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    @rule(data=st.data(), order_id=orders)
    def change_order(self, data: st.DataObject, order_id: str) -> None:
        self.call(
            data,
            "/api/v1/quarantine-orders/{order_id}",
            "PATCH",
            path_parameters={"order_id": order_id},
        )

    @rule(data=st.data(), who=declarations)
    def read_declaration(self, data: st.DataObject, who: Any) -> None:
        ids = {"declaration_id": who["id"]}
        self.call(data, "/api/v1/declarations/{declaration_id}", "GET", path_parameters=ids)
        self.call(
            data,
            "/api/v1/declarations/{declaration_id}/qr.{image_format}",
            "GET",
            path_parameters=ids,
        )
        self.call(data, "/api/v1/checkins/mine", "POST", body={"person_token": who["qr_token"]})
        self.call(data, "/api/v1/qr/verify", "POST", body={"token": who["qr_token"]})

    @rule(data=st.data(), where=venues)
    def read_venue(self, data: st.DataObject, where: Any) -> None:
        self.call(
            data, "/api/v1/venues/{venue_id}", "GET", path_parameters={"venue_id": where["id"]}
        )
        self.call(
            data, "/api/v1/venues/by-code/{code}", "GET", path_parameters={"code": where["code"]}
        )
        self.call(
            data,
            "/api/v1/venues/{venue_id}/poster.{poster_format}",
            "GET",
            path_parameters={"venue_id": where["id"]},
        )


def test_chained_calls_on_real_records(api_schema: Any, staff_headers: dict[str, str]) -> None:
    Records.api, Records.headers = api_schema, staff_headers
    run_state_machine_as_test(
        Records,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            # The server keeps state between runs, so a run cannot be replayed to shrink it:
            # report the sequence as found.
            phases=[Phase.generate],
        ),
    )
    # Record routes were reached with records that exist, not only answered 404.
    reached = {k.rsplit(" ", 1)[0] for k, n in Records.answered.items() if k.endswith(" 200")}
    assert {
        "PATCH /api/v1/cases/{case_id}",
        "GET /api/v1/cases/{case_id}/chain",
        "GET /api/v1/venues/{venue_id}",
        "GET /api/v1/declarations/{declaration_id}",
    } <= reached, Records.answered
