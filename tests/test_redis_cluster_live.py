"""The whole system on a Redis Cluster: `dichte run` with DICHTE_REDIS_URL naming one
node of a three-primary cluster (tests.redis_cluster), used as citizens and a health
officer would: declarations, a venue, check-ins and a check-out, a confirmed case whose
F1 and F2 are traced by the tracing index built from the cluster."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dichte.store.connection import connect_sync
from dichte.store.keys import Keys
from tests.factories import DONG_HOI_WARD, QUANG_TRI
from tests.live import LiveServer, live_server
from tests.test_tracing_api import bearer, confirm, declare, scan, venue


@pytest.fixture(scope="module")
def on_cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_cluster_url: str
) -> Iterator[LiveServer]:
    env = {"DICHTE_REDIS_URL": redis_cluster_url}
    with live_server(tmp_path_factory.mktemp("on-cluster") / "var", env) as live:
        yield live


def test_declare_check_in_and_trace_a_case_on_a_redis_cluster(
    on_cluster: LiveServer, redis_cluster_url: str
) -> None:
    with httpx.Client(base_url=on_cluster.base, timeout=30) as http:
        cafe = venue(http, bearer(on_cluster, "commune", DONG_HOI_WARD), "Quán Gió")
        market = venue(http, bearer(on_cluster, "commune", DONG_HOI_WARD), "Chợ Đồng Hới")
        case, friend, neighbour, stranger = (declare(http) for _ in range(4))
        scan(http, "checkins", cafe["code"], case, 6)
        scan(http, "checkouts", cafe["code"], case, 5, status=200)
        scan(http, "checkins", cafe["code"], friend, 5.5)  # overlaps the case: F1
        scan(http, "checkins", market["code"], friend, 3)
        scan(http, "checkins", market["code"], neighbour, 2.5)  # meets the friend: F2
        scan(http, "checkins", market["code"], stranger, 12)  # before anyone: no one
        again = scan(http, "checkins", market["code"], neighbour, 2.5, status=200)
        assert again["replayed"] is True  # the same minute: the first scan

        province = bearer(on_cluster, "province", QUANG_TRI)
        created = confirm(http, province, case)
        assert created["contacts_recorded"] == 1
        r = http.get(f"/api/v1/cases/{created['id']}/contacts?depth=2", headers=province)
        assert r.status_code == 200, r.text
        assert [c["document_number"] for c in r.json()["f1"]] == [friend.document_number]
        assert [c["document_number"] for c in r.json()["f2"]] == [neighbour.document_number]
        assert http.get("/healthz").status_code == 200

    # The check-ins are in the cluster, in their own slots, beside the record's keys.
    client = connect_sync(redis_cluster_url)
    keys = Keys("dichte")
    assert sum(1 for _ in client.scan_iter(match=keys.stays_of_person_pattern())) == 4
    assert client.xlen(keys.tracing_changes()) == 6  # five check-ins and a check-out
    client.close()
