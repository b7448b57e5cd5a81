"""Bounded input: a body-size limit on every route (413), bounded collections in the
request models, and an access log that records route templates, never path values."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.app import create_app
from service.deps import ServiceState
from service.schemas import MAX_BATCH_PATIENTS, MESOTHELIOMA_PATIENT, BatchRequest

LIMIT = 4096


@pytest.fixture
def small_client(state: ServiceState) -> Iterator[TestClient]:
    limited = state.settings.model_copy(update={"max_body_bytes": LIMIT})
    state = ServiceState(
        settings=limited, ontology=state.ontology, holder=state.holder,
        answer_cache=state.answer_cache,
    )
    with TestClient(create_app(state=state), raise_server_exceptions=False) as c:
        yield c


def every_route(client: TestClient) -> list[tuple[str, str]]:
    routes = []
    for path, item in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        concrete = path.replace("{nct_id}", "NCT00700336").replace("{job_id}", "0" * 32)
        routes += [(method.upper(), concrete) for method in item]
    return routes


def test_every_route_answers_413_to_a_body_over_the_limit(small_client: TestClient) -> None:
    big = b'{"x": "' + b"a" * (LIMIT * 2) + b'"}'
    routes = every_route(small_client)
    assert ("POST", "/v1/match") in routes and ("GET", "/v1/batch/" + "0" * 32) in routes
    for method, path in routes:
        r = small_client.request(method, path, content=big,
                                 headers={"content-type": "application/json"})
        assert r.status_code == 413, (method, path, r.status_code)
        body = r.json()
        assert body["error"] == "payload_too_large"
        assert f"{LIMIT:,} bytes" in body["message"]


def test_a_chunked_body_is_cut_off_at_the_limit(small_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"patient": {"cancer_type": "'
        for _ in range(100):
            yield b"a" * 100
        yield b'"}}'

    r = small_client.post("/v1/match", content=chunks(),
                          headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_body_under_the_limit_is_served(small_client: TestClient) -> None:
    r = small_client.post("/v1/match", json={"patient": MESOTHELIOMA_PATIENT, "limit": 2})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"patient": {"cancer_type": "NSCLC", "biomarkers": {f"M{i}": "x" for i in range(61)}}},
         "patient.biomarkers"),
        ({"patient": {"cancer_type": "NSCLC", "conditions": ["x"] * 51}}, "patient.conditions"),
        ({"patient": {"cancer_type": "NSCLC",
                      "prior_therapies": [{"name": "cisplatin"}] * 51}},
         "patient.prior_therapies"),
        ({"patient": {"cancer_type": "NSCLC"}, "statuses": ["RECRUITING"] * 15}, "statuses"),
    ],
    ids=["biomarkers", "conditions", "therapies", "statuses"],
)
def test_collections_in_requests_are_bounded(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/match", json=body)
    assert r.status_code == 422
    assert field in r.json()["message"]


def test_query_lists_and_batch_members_are_bounded(client: TestClient) -> None:
    r = client.get("/v1/trials", params=[("phase", "PHASE1")] * 7)
    assert r.status_code == 422 and "phase" in r.json()["message"]
    with pytest.raises(ValidationError, match="patients"):
        BatchRequest.model_validate(
            {"patients": [{"id": f"p{i}", "patient": {"cancer_type": "NSCLC"}}
                          for i in range(MAX_BATCH_PATIENTS + 1)]}
        )


def test_the_access_log_records_route_templates_not_values(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_job = "5ec7e75ec7e75ec7e75ec7e75ec7e75e"
    client.get(f"/v1/batch/{secret_job}")  # 503 here (no Redis), logged either way
    client.get("/v1/trials/NCT00700336")
    client.get("/v1/trials", params={"zip": "10032", "condition": "mesothelioma"})
    client.get(f"/no/such/{secret_job}")
    # the service's own loggers (the test client's httpx logger prints its URLs)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("trialmatch")]
    logged = "\n".join(lines)
    assert secret_job not in logged and "10032" not in logged and "NCT00700336" not in logged
    access = [r.getMessage() for r in caplog.records if r.name == "trialmatch.access"]
    assert any(line.startswith("GET /v1/batch/{job_id} ") for line in access), access
    assert any(line.startswith("GET /v1/trials/{nct_id} 200") for line in access), access
    assert any(line.startswith("GET /v1/trials 200") for line in access), access
    assert any(line.startswith("GET <unmatched> 404") for line in access), access
