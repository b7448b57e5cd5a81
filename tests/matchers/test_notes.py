"""matchers.notes: clinic notes → profile drafts, through the parser's own pipeline."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from matchers.normalize import normalize_patient
from matchers.notes import NoteExtraction, NoteExtractor, build_note_nlp
from matchers.notes.document import load_note_cues

TODAY = date(2025, 3, 1)


@pytest.fixture(scope="module")
def extractor(ontology: Any) -> NoteExtractor:
    return NoteExtractor(build_note_nlp(ontology), ontology)


def _read(extractor: NoteExtractor, note: str) -> NoteExtraction:
    return extractor.extract(note, today=TODAY)


def test_note_cues_load_and_validate() -> None:
    cues = load_note_cues()
    assert {c.category for c in cues.rules} >= {"HISTORICAL", "FAMILY", "HYPOTHETICAL"}


def test_breast_note_fields_and_evidence(extractor: NoteExtractor) -> None:
    note = ("55-year-old postmenopausal woman with de novo metastatic invasive ductal carcinoma "
            "of the left breast (bone and liver metastases). ER 90%, PR 20%, HER2 IHC 2+ with "
            "ISH not amplified. First line letrozole + palbociclib (April 2021 - June 2023, "
            "progression); second line capecitabine (July 2023 - January 2025, progression). "
            "ECOG 1. Brain MRI negative.")
    r = _read(extractor, note)
    d = r.draft
    assert (d["age"], d["sex"], d["menopausal_status"]) == (55, "female", "postmenopausal")
    assert d["cancer_type"] == "IDC"
    assert d["biomarkers"]["ER"] == "positive (90%)"
    assert d["biomarkers"]["HER2_IHC"] == "2+"
    assert d["biomarkers"]["HER2_ISH"] == "negative"
    therapies = d["prior_therapies"]
    assert [(t["name"], t["line"]) for t in therapies] == [
        ("letrozole + palbociclib", 1), ("capecitabine", 2)]
    assert therapies[0]["start_date"] == "2021-04-01" and therapies[0]["progressed"] is True
    assert d["ecog"] == 1 and d["brain_metastases"] == "none"
    assert set(d["metastasis_sites"]) == {"bone", "liver"}
    # every evidence quotes the note at its span
    for items in r.evidence.values():
        for ev in items:
            assert note[ev.span[0]:ev.span[1]] == ev.text
            assert 0 < ev.confidence <= 1
    assert r.profile is not None
    patient = normalize_patient(r.profile, extractor._onto)
    assert patient.biomarkers.her2_category == "low" and patient.biomarkers.hr_positive is True


def test_negated_mentions_are_read_as_absent(extractor: NoteExtractor) -> None:
    r = _read(extractor, "62-year-old man with lung adenocarcinoma, stage IV. No brain "
                         "metastases. Never received chemotherapy or immunotherapy.")
    assert r.draft["brain_metastases"] == "none"
    # denied therapies are not therapies, and denying some does not say "none at all"
    assert "prior_therapies" not in r.draft
    assert "prior_therapies" in r.missing
    assert any(i.reason == "negated" and i.category == "prior_therapies" for i in r.ignored)


def test_historical_and_family_cancers_are_not_the_current_one(
    extractor: NoteExtractor,
) -> None:
    r = _read(extractor, "70-year-old woman with a history of breast cancer 2009, treated. "
                         "Her mother had ovarian cancer. Now newly diagnosed lung "
                         "adenocarcinoma, stage IIIA.")
    assert r.draft["cancer_type"] == "LUAD"
    assert any("breast cancer" in c for c in r.draft["conditions"])
    assert any(i.reason == "family" for i in r.ignored)
    only_past = _read(extractor, "History of colon cancer in 2009.")
    assert only_past.draft.get("cancer_type") is not None
    assert only_past.evidence["cancer_type"][0].confidence < 0.5  # historical only


def test_planned_therapy_is_not_prior_therapy(extractor: NoteExtractor) -> None:
    r = _read(extractor, "Stage IV melanoma, BRAF V600E. Treatment-naive. Nivolumab is "
                         "planned.")
    assert r.draft["prior_therapies"] == []
    assert r.draft["biomarkers"]["BRAF"].startswith("V600E")


def test_marker_lists_share_their_value(extractor: NoteExtractor) -> None:
    r = _read(extractor, "Metastatic colon adenocarcinoma. KRAS, NRAS and BRAF wild-type, "
                         "microsatellite stable. No prior anti-EGFR antibody.")
    markers = r.draft["biomarkers"]
    assert {k: markers[k] for k in ("KRAS", "NRAS", "BRAF")} == {
        "KRAS": "wild-type", "NRAS": "wild-type", "BRAF": "wild-type"}
    assert markers["MSI"] == "MSS"
    assert "EGFR" not in markers  # a drug class named after a marker is not a result


def test_stage_from_tnm_and_performance_scales(extractor: NoteExtractor) -> None:
    r = _read(extractor, "48 M with glioblastoma, CNS WHO grade 4, Karnofsky 70 (ECOG 2). "
                         "Lung cancer staged cT2 N1 M1a.")
    assert r.draft["age"] == 48 and r.draft["sex"] == "male"
    assert r.draft["ecog"] == 2 and r.draft["karnofsky"] == 70  # WHO grade is no PS
    assert r.draft["stage"] == "IV"
    assert r.evidence["stage"][0].note  # inferred from M1


def test_progression_before_the_drug(extractor: NoteExtractor) -> None:
    r = _read(extractor, "Lung adenocarcinoma, EGFR exon 19 deletion, stage IVB, progressing "
                         "on first-line osimertinib.")
    (therapy,) = r.draft["prior_therapies"]
    assert therapy["name"] == "osimertinib" and therapy["line"] == 1
    assert therapy["progressed"] is True


def test_note_headings_set_the_context(extractor: NoteExtractor) -> None:
    note = ("HPI: 61F with metastatic lung adenocarcinoma, ECOG 1.\n"
            "Past Medical History:\n- breast cancer 2009, treated with lumpectomy\n"
            "- hypertension\nFamily History:\n- mother with ovarian cancer\n"
            "Plan:\n- start pembrolizumab\n")
    r = _read(extractor, note)
    assert r.draft["cancer_type"] == "LUAD"
    assert r.draft["age"] == 61 and r.draft["sex"] == "female"
    assert any("breast cancer" in c for c in r.draft["conditions"])
    names = [t["name"] for t in r.draft.get("prior_therapies", [])]
    assert "pembrolizumab" not in " ".join(names)  # planned, not given
    assert any(i.reason == "family" for i in r.ignored)


def test_note_without_a_cancer_has_no_profile(extractor: NoteExtractor) -> None:
    r = _read(extractor, "48 M with hypertension and severe aortic stenosis.")
    assert r.profile is None
    assert "cancer_type" in r.missing


def test_gold_descriptions(extractor: NoteExtractor, ontology: Any, shared_dir: Path) -> None:
    """Each gold description yields a profile whose cancer type is the gold code, below
    it or one of its ancestors (a note may be more or less specific than the curated
    code: "melanoma" vs cutaneous melanoma), and the gold ECOG."""
    from benchmarks.ranking import gold_profile_to_patient

    gold = json.loads((shared_dir / "data/benchmarks/gold_patients/dev.json").read_text())
    tree = ontology.cancer_types
    for p in gold["patients"]:
        r = extractor.extract(p["description"], today=TODAY)
        assert r.profile is not None, p["id"]
        g = normalize_patient(gold_profile_to_patient(p["profile"]), ontology)
        x = normalize_patient(r.profile, ontology)
        assert tree.is_within(x.cancer.code, g.cancer.code) or tree.is_within(
            g.cancer.code, x.cancer.code), (p["id"], x.cancer.code)
        assert x.performance.ecog == g.performance.ecog, p["id"]
