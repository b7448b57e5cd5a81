"""Histology terms and comorbidities."""

from __future__ import annotations

import pytest

from ontologies import Ontology


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("epithelioid", "epithelioid"),
        ("Epithelioid mesothelioma", "epithelioid"),
        ("sarcomatoid", "sarcomatoid"),
        ("biphasic", "biphasic"),
        ("non-epithelioid", "non_epithelioid"),
        ("desmoplastic", "desmoplastic"),
        ("Adenocarcinoma", "adenocarcinoma"),
        ("non-squamous NSCLC", "non_squamous"),
        ("nonsquamous", "non_squamous"),
        ("squamous cell carcinoma", "squamous"),
        ("Invasive ductal carcinoma", "ductal"),
        ("IDC", "ductal"),
        ("invasive lobular carcinoma", "lobular"),
        ("small cell", "small_cell"),
        ("non-small cell", "non_small_cell"),
        ("large cell", "large_cell"),
        ("high-grade serous", "high_grade_serous"),
        ("clear cell", "clear_cell"),
        ("Desmoid-type fibromatosis", None),
    ],
)
def test_resolve(ontology: Ontology, text: str, term: str | None) -> None:
    assert ontology.histology.resolve(text) == term


@pytest.mark.parametrize(
    ("term", "covered"),
    [
        ("non_epithelioid", {"non_epithelioid", "sarcomatoid", "biphasic", "desmoplastic"}),
        ("sarcomatoid", {"sarcomatoid", "desmoplastic"}),
        (
            "non_squamous",
            {"non_squamous", "adenocarcinoma", "large_cell", "mucinous", "signet_ring"},
        ),
        ("epithelioid", {"epithelioid"}),
    ],
)
def test_covers(ontology: Ontology, term: str, covered: set[str]) -> None:
    assert ontology.histology.covers(term) == covered


def test_covers_semantics(ontology: Ontology) -> None:
    h = ontology.histology
    assert h.satisfies("adenocarcinoma", "non_squamous")
    assert not h.satisfies("squamous", "non_squamous")
    assert h.satisfies("biphasic", "non_epithelioid")
    assert not h.satisfies("epithelioid", "non_epithelioid")
    assert "squamous" in h.covers("non_small_cell")


@pytest.mark.parametrize(
    ("code", "term"),
    [
        ("PLEMESO", "epithelioid"),
        ("PLSMESO", "sarcomatoid"),
        ("PLBMESO", "biphasic"),
        ("PLMESO", None),  # unspecified
        ("LUAD", "adenocarcinoma"),
        ("LUSC", "squamous"),
        ("NSCLC", "non_small_cell"),
        ("NSCLCPD", "non_small_cell"),  # inherited from NSCLC
        ("READ", "adenocarcinoma"),  # inherited from COADREAD
        ("IDC", "ductal"),
        ("ILC", "lobular"),
        ("SCLC", "small_cell"),
        ("CCRCC", "clear_cell"),
        ("DES", None),
        ("plemeso", "epithelioid"),
    ],
)
def test_of_oncotree(ontology: Ontology, code: str, term: str | None) -> None:
    assert ontology.histology.of_oncotree(code) == term


def test_histology_phrases(ontology: Ontology) -> None:
    phrases = set(ontology.histology.phrases())
    assert ("non-squamous", "non_squamous") in phrases
    assert ("non squamous", "non_squamous") in phrases
    assert ("nonsquamous", "non_squamous") in phrases
    assert ("adenocarcinomas", "adenocarcinoma") in phrases
    assert ("idc", "ductal") in phrases


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("HIV", "hiv"),
        ("known HIV infection on antiretroviral therapy", "hiv"),
        ("hepatitis B", "hepatitis_b"),
        ("HBV", "hepatitis_b"),
        ("HCV", "hepatitis_c"),
        ("ILD", "interstitial_lung_disease"),
        ("non-infectious pneumonitis", "interstitial_lung_disease"),
        ("no autoimmune disease", "autoimmune_disease"),
        ("pregnant", "pregnancy"),
        ("breastfeeding", "breastfeeding"),
        ("no other malignancy", "other_malignancy"),
        ("active infection requiring systemic therapy", "active_infection"),
        ("congestive heart failure", "heart_failure"),
        ("solid organ transplant", "organ_transplant"),
        ("hypertension (controlled)", None),
    ],
)
def test_conditions_resolve(ontology: Ontology, text: str, condition: str | None) -> None:
    assert ontology.conditions.resolve(text) == condition


def test_conditions_fields(ontology: Ontology) -> None:
    c = ontology.conditions
    assert "C15175" in c.conditions["hiv"].nci
    assert {"hepatitis_b", "hepatitis_c"} <= c.covers("viral_hepatitis")
    assert "heart_failure" in c.covers("cardiac_disease")
    assert ("interstitial lung disease", "interstitial_lung_disease") in set(c.phrases())
    assert ("hiv", "hiv") in set(c.phrases())
    assert ("MI", "myocardial_infarction") in set(c.abbreviations())
