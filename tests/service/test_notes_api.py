"""POST /v1/patients/extract and POST /v1/match with a note (real small index)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from matchers.notes import NoteExtractor, build_note_nlp
from service.deps import ServiceState
from service.schemas import NOTE_EXAMPLE


@pytest.fixture(scope="module")
def note_extractor(ontology: Any) -> NoteExtractor:
    return NoteExtractor(build_note_nlp(ontology), ontology)


@pytest.fixture
def notes_client(state: ServiceState, client: TestClient,
                 note_extractor: NoteExtractor) -> TestClient:
    state.notes.set_extractor(note_extractor)
    return client


def test_extract_returns_draft_evidence_and_missing(notes_client: TestClient) -> None:
    r = notes_client.post("/v1/patients/extract", json={"note": NOTE_EXAMPLE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["profile"]["cancer_type"] == "IDC"
    assert body["draft"]["biomarkers"]["HER2_IHC"] == "2+"
    ev = body["evidence"]["ecog"][0]
    assert NOTE_EXAMPLE[ev["span"][0]:ev["span"][1]] == ev["text"]
    assert "karnofsky" in body["missing"]


def test_match_with_a_note_equals_match_with_its_profile(notes_client: TestClient) -> None:
    by_note = notes_client.post("/v1/match", json={"note": NOTE_EXAMPLE, "limit": 20})
    assert by_note.status_code == 200, by_note.text
    profile = by_note.json()["extraction"]["profile"]
    by_profile = notes_client.post("/v1/match", json={"patient": {
        k: v for k, v in profile.items() if v not in (None, [], {})
        or (k == "prior_therapies" and v == [])}, "limit": 20})
    assert by_profile.status_code == 200, by_profile.text

    def ranked(r: Any) -> list[tuple[str, str, float]]:
        return [(m["nct_id"], m["verdict"], m["score"]) for m in r.json()["results"]]

    assert ranked(by_note) == ranked(by_profile) and ranked(by_note)
    assert by_profile.json()["extraction"] is None


def test_note_and_patient_together_or_neither_is_a_422(notes_client: TestClient) -> None:
    both = notes_client.post("/v1/match", json={"note": "x", "patient": {"cancer_type": "NSCLC"}})
    assert both.status_code == 422
    neither = notes_client.post("/v1/match", json={"limit": 5})
    assert neither.status_code == 422


def test_note_without_cancer_is_a_422_on_the_note(notes_client: TestClient) -> None:
    r = notes_client.post("/v1/match", json={"note": "Hypertension, on amlodipine."})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "note"]
    assert "amlodipine" not in r.text  # the note is not echoed


def test_note_length_is_bounded(notes_client: TestClient) -> None:
    r = notes_client.post("/v1/patients/extract", json={"note": "a" * 20_001})
    assert r.status_code == 422
