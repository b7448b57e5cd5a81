"""HTTP API tests over a real small index (real parser, real ranker), no Redis."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from matchers.index import OPEN_STATUSES
from matchers.models import Verdict
from matchers.rank import ELIGIBLE_BONUS
from service.deps import ServiceState, get_today
from service.schemas import HER2_LOW_PATIENT, MESOTHELIOMA_PATIENT

MESO_IDS = {"NCT00700336", "NCT01211275", "NCT02639767"}


def _match(client: TestClient, body: dict[str, Any]) -> Any:
    r = client.post("/v1/match", json=body)
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------------------
# health
# --------------------------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_reports_missing_redis_as_not_ready(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_ready"
    assert body["redis"] is False
    assert body["index"]["trials"] > 10
    assert body["index"]["generation"] == 7
    assert any("redis" in p for p in body["problems"])


def test_no_index_loaded_is_503_with_instructions(state: ServiceState) -> None:
    state.holder._current = None
    from service.app import create_app

    with TestClient(create_app(state=state)) as c:
        r = c.post("/v1/match", json={"patient": {"cancer_type": "NSCLC"}})
    assert r.status_code == 503
    assert r.json()["error"] == "index_not_ready"
    assert "trialmatch import" in r.json()["message"]


# --------------------------------------------------------------------------------------
# POST /v1/match
# --------------------------------------------------------------------------------------


def test_match_mesothelioma_ranks_mesothelioma_trials_first(client: TestClient) -> None:
    body = _match(client, {"patient": MESOTHELIOMA_PATIENT, "limit": 5, "include_closed": True})
    results = body["results"]
    assert body["total"] >= len(results) > 0
    assert body["generation"] == 7
    # The best-scoring viable trial is a mesothelioma trial (an open basket trial may
    # still come first: open before closed within a tier).
    viable = [r for r in results if r["verdict"] != "ineligible"]
    assert max(viable, key=lambda r: r["score"])["nct_id"] in MESO_IDS
    # Best first, as matchers.rank documents: eligible/possibly before ineligible, open
    # before closed within a tier, then score plus the eligible ordering bonus.
    keys = [(r["verdict"] == "ineligible", r["overall_status"] not in OPEN_STATUSES,
             -round(r["score"] + ELIGIBLE_BONUS[Verdict(r["verdict"])], 2))
            for r in results]
    assert keys == sorted(keys)
    top = results[0]
    assert 0.0 <= top["score"] <= 1.0
    assert {"nct_id", "title", "overall_status", "verdict", "score", "criteria", "questions",
            "nearest_site"} <= set(top)
    for criterion in top["criteria"]:
        expected = {"text", "kind", "status", "reason", "span", "category", "question"}
        assert expected <= set(criterion)
        start, end = criterion["span"]
        assert 0 <= start <= end
        assert criterion["kind"] in {"inclusion", "exclusion"}
        assert criterion["status"] in {"met", "not_met", "unknown"}


def test_match_default_filter_ranks_only_open_trials(client: TestClient) -> None:
    body = _match(client, {"patient": MESOTHELIOMA_PATIENT, "limit": 50})
    statuses = {r["overall_status"] for r in body["results"]}
    assert statuses <= {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE"}
    assert not MESO_IDS & {r["nct_id"] for r in body["results"]}  # none is open


def test_match_statuses_picks_exact_statuses(client: TestClient) -> None:
    body = _match(client, {"patient": MESOTHELIOMA_PATIENT, "statuses": ["COMPLETED"]})
    assert body["results"]
    assert {r["overall_status"] for r in body["results"]} == {"COMPLETED"}


def test_match_her2_low_breast_prefers_breast_trials(client: TestClient) -> None:
    body = _match(client, {"patient": HER2_LOW_PATIENT, "limit": 5})
    top = body["results"][0]
    breast = {"NCT04862663", "NCT06380751", "NCT06131424", "NCT04482309", "NCT06038539"}
    assert top["nct_id"] in breast


def test_match_nearest_site_from_zip(client: TestClient) -> None:
    patient = {"cancer_type": "desmoid tumor", "zip": "10032", "age": 40}
    body = _match(client, {"patient": patient, "limit": 3})
    fixture = next(r for r in body["results"] if r["nct_id"] == "NCT09900003")
    assert fixture["nearest_site"]["distance_km"] < 5
    assert fixture["nearest_site"]["site"]["city"] == "New York"


def test_match_unknown_patient_field_is_422_naming_it(client: TestClient) -> None:
    r = client.post("/v1/match", json={"patient": {"cancer_type": "x", "ecgo": 1}})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_request"
    assert "patient.ecgo" in body["message"]
    assert any(d["loc"] == ["body", "patient", "ecgo"] for d in body["detail"])
    assert all("input" not in d for d in body["detail"])  # never echo health data


def test_match_unknown_top_level_field_is_422(client: TestClient) -> None:
    r = client.post("/v1/match", json={"patient": {"cancer_type": "NSCLC"}, "limt": 3})
    assert r.status_code == 422
    assert "limt" in r.json()["message"]


def test_match_bad_value_names_field(client: TestClient) -> None:
    r = client.post("/v1/match", json={"patient": {"cancer_type": "NSCLC", "ecog": 7}})
    assert r.status_code == 422
    assert any(d["loc"] == ["body", "patient", "ecog"] for d in r.json()["detail"])


def test_match_missing_cancer_type_is_422(client: TestClient) -> None:
    r = client.post("/v1/match", json={"patient": {"ecog": 1}})
    assert r.status_code == 422
    assert "patient.cancer_type: required field is missing" in r.json()["message"]


def test_match_unknown_cancer_type_is_422_with_suggestions(client: TestClient) -> None:
    r = client.post("/v1/match", json={"patient": {"cancer_type": "mesotheloma pleural"}})
    body = r.json()
    assert r.status_code in (200, 422), body  # fuzzy resolution may accept the typo
    r = client.post("/v1/match", json={"patient": {"cancer_type": "qwxz vbnm"}})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_patient"
    assert body["detail"][0]["loc"] == ["body", "patient", "cancer_type"]
    assert isinstance(body["suggestions"], list)


def test_match_limit_above_service_maximum_is_422(client: TestClient) -> None:
    r = client.post("/v1/match", json={"patient": {"cancer_type": "NSCLC"}, "limit": 999})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "limit"]


def test_match_uses_injected_today(client: TestClient) -> None:
    from datetime import date

    client.app.dependency_overrides[get_today] = lambda: date(2031, 1, 2)  # type: ignore[attr-defined]
    try:
        body = _match(client, {"patient": MESOTHELIOMA_PATIENT, "limit": 1})
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert body["as_of"] == "2031-01-02"


def test_match_never_logs_patient_data(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "Zebrafish-Marker-Histology"
    caplog.set_level(logging.DEBUG)
    client.post(
        "/v1/match",
        json={"patient": {"cancer_type": "NSCLC", "histology": marker, "zip": "10032"}},
    )
    client.post("/v1/match", json={"patient": {"cancer_type": marker}})
    client.post("/v1/match", json={"patient": {"cancer_type": "x", "ecgo": marker}})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/v1/match" in logged  # the access log ran
    assert marker not in logged
    assert "10032" not in logged


# --------------------------------------------------------------------------------------
# GET /v1/trials
# --------------------------------------------------------------------------------------


def test_search_by_condition(client: TestClient) -> None:
    r = client.get("/v1/trials", params={"condition": "pleural mesothelioma",
                                         "include_closed": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    ids = {i["nct_id"] for i in body["items"]}
    assert ids >= MESO_IDS
    assert body["condition"]["code"] == "PLMESO"
    assert all(i["url"].startswith("https://clinicaltrials.gov/study/NCT") for i in body["items"])


def test_search_default_is_open_trials(client: TestClient) -> None:
    body = client.get("/v1/trials", params={"condition": "pleural mesothelioma"}).json()
    assert body["total"] == 0
    body = client.get("/v1/trials", params={"condition": "desmoid tumor"}).json()
    assert [i["nct_id"] for i in body["items"]] == ["NCT09900003", "NCT09900001"]


def test_search_filters_status_phase_type_and_text(client: TestClient) -> None:
    body = client.get(
        "/v1/trials", params=[("status", "RECRUITING"), ("phase", "PHASE3")]
    ).json()
    assert body["items"]
    for item in body["items"]:
        assert item["overall_status"] == "RECRUITING"
        assert "PHASE3" in item["phases"]
    body = client.get("/v1/trials", params={"study_type": "EXPANDED_ACCESS",
                                            "include_closed": "true"}).json()
    assert {i["nct_id"] for i in body["items"]} == {"NCT09900001", "NCT09900002"}
    body = client.get("/v1/trials", params={"q": "fixturestat placebo"}).json()
    assert [i["nct_id"] for i in body["items"]] == ["NCT09900003"]


def test_search_by_distance(client: TestClient) -> None:
    near = client.get("/v1/trials", params={"zip": "10032", "distance_km": 50}).json()
    ids = [i["nct_id"] for i in near["items"]]
    assert "NCT09900003" in ids
    for item in near["items"]:
        assert item["nearest_site"]["distance_km"] <= 50
    far = client.get("/v1/trials", params={"zip": "99501", "distance_mi": 10}).json()
    assert "NCT09900003" not in {i["nct_id"] for i in far["items"]}


def test_search_pagination(client: TestClient) -> None:
    first = client.get("/v1/trials", params={"include_closed": "true", "page_size": 3}).json()
    assert first["total"] > 6 and len(first["items"]) == 3 and first["next_page"] == 2
    second = client.get(
        "/v1/trials", params={"include_closed": "true", "page_size": 3, "page": 2}
    ).json()
    assert not {i["nct_id"] for i in first["items"]} & {i["nct_id"] for i in second["items"]}
    last_page = -(-first["total"] // 3)
    last = client.get(
        "/v1/trials", params={"include_closed": "true", "page_size": 3, "page": last_page}
    ).json()
    assert last["next_page"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "OPEN"}, "status"),
        ({"phase": "PHASE9"}, "phase"),
        ({"zip": "1234"}, "zip"),
        ({"zip": "00000"}, "zip"),
        ({"distance_km": 10}, "distance_km"),
        ({"zip": "10032", "distance_km": 10, "distance_mi": 10}, "distance_mi"),
        ({"page": 0}, "page"),
        ({"page_size": 1000}, "page_size"),
    ],
)
def test_search_bad_parameters_are_422_naming_them(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    r = client.get("/v1/trials", params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert any(field in d["loc"] for d in body["detail"]), body
    assert field in body["message"]


def test_search_unknown_condition_is_404_with_suggestions(client: TestClient) -> None:
    r = client.get("/v1/trials", params={"condition": "mesothelomaa plural"})
    if r.status_code == 200:  # fuzzy matching accepted the typo; try real nonsense
        r = client.get("/v1/trials", params={"condition": "qwxz vbnm"})
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "unknown_condition"
    assert isinstance(body["suggestions"], list)
    assert "Unknown condition" in body["message"]


# --------------------------------------------------------------------------------------
# GET /v1/trials/{nct_id}
# --------------------------------------------------------------------------------------


def test_trial_detail_spans_quote_the_criteria_text(client: TestClient) -> None:
    r = client.get("/v1/trials/NCT02066181")
    assert r.status_code == 200, r.text
    body = r.json()
    text = body["summary"]["eligibility_text"]
    assert body["criteria"]
    assert body["interpreted"] + body["uninterpreted"] == len(body["criteria"])
    assert body["interpreted"] > 0
    for criterion in body["criteria"]:
        start, end = criterion["span"]
        assert text[start:end] == criterion["text"]
        for fact in criterion["facts"]:
            fs, fe = fact["span"]
            assert text[fs:fe] == fact["text"]
    assert "DES" in body["oncotree_codes"]
    assert body["url"] == "https://clinicaltrials.gov/study/NCT02066181"


def test_trial_detail_unknown_is_404(client: TestClient) -> None:
    r = client.get("/v1/trials/NCT00000001")
    assert r.status_code == 404
    assert r.json()["error"] == "trial_not_found"
    assert "NCT00000001" in r.json()["message"]


@pytest.mark.parametrize("bad", ["NCT123", "nct02066181", "NCT0206618X", "12345678"])
def test_trial_detail_malformed_id_is_422(client: TestClient, bad: str) -> None:
    r = client.get(f"/v1/trials/{bad}")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "nct_id"]


# --------------------------------------------------------------------------------------
# conditions and answer pages
# --------------------------------------------------------------------------------------


def test_resolve_condition_slug(client: TestClient) -> None:
    r = client.get("/v1/conditions/resolve", params={"q": "Desmoid_tumors"})
    assert r.status_code == 200, r.text
    assert r.json()["condition"]["code"] == "DES"


def test_resolve_unknown_condition_is_404(client: TestClient) -> None:
    r = client.get("/v1/conditions/resolve", params={"q": "qwxz vbnm"})
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_condition"


def test_answer_page_desmoid_with_expanded_access(
    client: TestClient, state: ServiceState
) -> None:
    r = client.get("/v1/answer-page", params={"condition": "Desmoid_tumors"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert 0 < int(r.headers["cache-control"].split("=")[1]) <= 60
    body = r.json()
    assert body["condition"]["code"] == "DES"
    assert body["condition"]["name"]
    assert [t["nct_id"] for t in body["trials"]] == ["NCT09900003"]
    assert body["trials"][0]["url"] == "https://clinicaltrials.gov/study/NCT09900003"
    programs = {p["nct_id"]: p for p in body["expanded_access"]}
    assert set(programs) == {"NCT09900001", "NCT09900004"}  # not NO_LONGER_AVAILABLE 02
    assert programs["NCT09900001"]["source"] == "record"
    assert programs["NCT09900004"]["source"] == "linked"
    assert programs["NCT09900004"]["linked_from"] == ["NCT09900003"]
    assert all(p["status"] == "AVAILABLE" for p in programs.values())

    hits = state.answer_cache.hits
    again = client.get("/v1/answer-page", params={"condition": "desmoid tumors"})
    assert again.json() == body
    assert state.answer_cache.hits == hits + 1


def test_answer_page_uses_corpus_expanded_access_links(client: TestClient) -> None:
    body = client.get("/v1/answer-page", params={"condition": "non-small cell lung cancer"}).json()
    programs = {p["nct_id"]: p for p in body["expanded_access"]}
    assert "NCT05926232" in programs  # NCT06140836 links it as AVAILABLE
    assert programs["NCT05926232"]["linked_from"] == ["NCT06140836"]
    assert "NCT05162443" not in programs  # APPROVED_FOR_MARKETING is not listed


def test_answer_page_unknown_condition_is_404(client: TestClient) -> None:
    r = client.get("/v1/answer-page", params={"condition": "qwxz_vbnm"})
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "unknown_condition"
    assert "suggestions" in body


# --------------------------------------------------------------------------------------
# OpenAPI, CORS
# --------------------------------------------------------------------------------------


def test_openapi_documents_routes_and_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/match", "/v1/trials", "/v1/trials/{nct_id}", "/v1/answer-page",
                 "/v1/conditions/resolve", "/v1/batch", "/v1/batch/{job_id}", "/healthz",
                 "/readyz"):
        assert path in spec["paths"], path
    match = spec["paths"]["/v1/match"]["post"]
    examples = match["requestBody"]["content"]["application/json"]["examples"]
    assert {"mesothelioma", "her2_low"} <= set(examples)
    assert "MatchResponse" in spec["components"]["schemas"]


def test_cors_only_when_configured(state: ServiceState) -> None:
    from service.app import create_app

    with TestClient(create_app(state=state)) as c:
        r = c.options("/v1/trials", headers={"Origin": "https://a.example",
                                             "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in r.headers
    state.settings = state.settings.model_copy(update={"cors_origins": ["https://a.example"]})
    with TestClient(create_app(state=state)) as c:
        r = c.get("/healthz", headers={"Origin": "https://a.example"})
        assert r.headers["access-control-allow-origin"] == "https://a.example"


def test_answer_page_keeps_biomarker_qualifiers(client: TestClient) -> None:
    """Issue 8: ``Her__low_breast_cancer`` is breast cancer *and* HER2-low: the page does
    not list the HER2-positive-only trial (NCT06038539) that plain breast cancer lists,
    and HER2-positive drops the HER2-low trial (NCT06380751) instead."""
    def page(q: str) -> dict[str, Any]:
        r = client.get("/v1/answer-page", params={"condition": q})
        assert r.status_code == 200, r.text
        return dict(r.json())

    plain, low, positive = (page(q) for q in (
        "breast_cancer", "Her__low_breast_cancer", "HER2-positive breast cancer"))
    ids = {name: {t["nct_id"] for t in p["trials"]}
           for name, p in (("plain", plain), ("low", low), ("positive", positive))}
    assert low["condition"]["code"] == plain["condition"]["code"] == "BREAST"
    assert low["condition"]["biomarkers"] == {"HER2": "low"}
    assert plain["condition"]["biomarkers"] == {}
    assert "NCT06038539" in ids["plain"] and "NCT06038539" not in ids["low"]
    assert "NCT06380751" in ids["low"] and "NCT06380751" not in ids["positive"]
    assert ids["low"] < ids["plain"] and low["total_recruiting"] == len(ids["low"])


@pytest.mark.parametrize(
    ("query", "rest", "qualifiers"),
    [
        ("Her__low_breast_cancer", "breast cancer", {"HER2": "low"}),
        ("EGFR-mutant NSCLC", "NSCLC", {"EGFR": "mutant"}),
        ("BRAF_mutant_melanoma", "melanoma", {"BRAF": "mutant"}),
        ("low grade glioma", "low grade glioma", {}),  # "low" here is no marker status
        ("Desmoid_tumors", "Desmoid tumors", {}),
    ],
)
def test_read_qualifiers(ontology: Any, query: str, rest: str,
                         qualifiers: dict[str, str]) -> None:
    from service.conditions import read_qualifiers

    assert read_qualifiers(ontology, query) == (rest, qualifiers)
