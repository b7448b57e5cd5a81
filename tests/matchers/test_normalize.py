"""Patient normalization against the real ontology."""

from __future__ import annotations

from typing import Any

import pytest

from matchers.normalize import PatientProfileError, normalize_patient
from matchers.patient import PatientProfile
from tests.matchers.test_evaluate_builders import BREAST_HER2_LOW, NSCLC_EGFR, patient


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("epithelioid pleural mesothelioma", "PLEMESO"),
        ("PLEMESO", "PLEMESO"),
        ("BRCA/IDC", "IDC"),
        ("Lung adenocarcinoma", "LUAD"),
        ("Desmoid tumor", "DES"),
    ],
)
def test_cancer_type_resolves(ontology: Any, text: str, code: str) -> None:
    p = patient(ontology, cancer_type=text)
    assert p.cancer_code == code
    assert p.cancer_lineage[0] == code


def test_lineage_and_implied_histology(ontology: Any) -> None:
    p = patient(ontology, cancer_type="PLEMESO")
    assert p.cancer_lineage == ("PLEMESO", "PLMESO", "PLEURA")
    assert p.histology == "epithelioid"
    assert p.malignant and not p.hematologic


def test_unknown_cancer_type_is_a_profile_error(ontology: Any) -> None:
    with pytest.raises(PatientProfileError) as err:
        normalize_patient(PatientProfile(cancer_type="qwertyuiop zzz"), ontology)
    assert err.value.field == "cancer_type"
    assert isinstance(err.value.suggestions, list)


def test_desmoid_is_not_malignant_nor_metastatic(ontology: Any) -> None:
    p = patient(ontology, cancer_type="DES")
    assert not p.malignant
    assert p.extents.get("metastatic") is False


@pytest.mark.parametrize(
    ("stage", "resectable", "expected"),
    [
        ("IB", True, {"metastatic": False, "advanced": False, "locally_advanced": False,
                      "unresectable": False, "resectable": True, "early": True}),
        ("IV", None, {"metastatic": True, "advanced": True, "unresectable": True}),
        ("Stage IVB", None, {"metastatic": True}),
        ("IIIB", None, {"metastatic": False, "locally_advanced": True, "advanced": True}),
        ("IIIA", True, {"locally_advanced": True, "advanced": False}),
        ("metastatic", None, {"metastatic": True}),
    ],
)
def test_stage_extents(ontology: Any, stage: str, resectable: bool | None,
                       expected: dict[str, bool]) -> None:
    p = patient(ontology, cancer_type="LUAD", stage=stage, resectable=resectable)
    for k, v in expected.items():
        assert p.extents.get(k) is v, (k, p.extents)


@pytest.mark.parametrize(
    ("ihc", "ish", "category"),
    [
        ("0", None, "zero"),
        ("1+", None, "low"),
        ("2+", "negative", "low"),
        ("2+", "amplified", "positive"),
        ("3+", None, "positive"),
    ],
)
def test_her2_category(ontology: Any, ihc: str, ish: str | None, category: str) -> None:
    markers = {"HER2_IHC": ihc} | ({"HER2_ISH": ish} if ish else {})
    p = patient(ontology, cancer_type="IDC", biomarkers=markers)
    assert p.her2_category == category
    assert p.markers["HER2"].positive is (category == "positive")


def test_breast_receptors_and_germline(ontology: Any) -> None:
    p = patient(ontology, **BREAST_HER2_LOW)
    assert p.hr_positive is True
    assert p.markers["ER"].percent == 90
    assert p.markers["PIK3CA"].positive is False
    assert p.markers["BRCA1"].positive is False and p.markers["BRCA2"].positive is False
    q = patient(ontology, cancer_type="IDC", biomarkers={"ER": "negative", "PR": "negative"})
    assert q.hr_positive is False


def test_egfr_pdl1_kras(ontology: Any) -> None:
    p = patient(ontology, **NSCLC_EGFR)
    egfr = p.markers["EGFR"]
    assert egfr.positive is True
    assert {"exon19del", "common", "sensitizing"} <= egfr.variants
    assert "T790M" in egfr.absent_variants
    assert p.pdl1_tps == (10.0, 10.0)
    assert p.markers["KRAS"].positive is False
    q = patient(ontology, cancer_type="LUAD", biomarkers={"KRAS": "G12C", "PD-L1_TPS": "<1%"})
    assert "G12C" in q.markers["KRAS"].variants
    assert q.pdl1_tps is not None and q.pdl1_tps[1] < 1.0


def test_prior_therapies(ontology: Any) -> None:
    p = patient(ontology, **BREAST_HER2_LOW)
    assert {"letrozole", "palbociclib", "capecitabine"} <= p.drugs
    assert {"cdk46", "chemotherapy", "systemic"} <= p.classes
    assert p.systemic_lines == 2 and p.systemic_lines_advanced == 2
    q = patient(ontology, **NSCLC_EGFR)
    assert "osimertinib" in q.drugs
    assert "egfr_tki" in q.classes
    r = patient(ontology, cancer_type="LUAD",
                prior_therapies=[{"name": "carboplatin/pemetrexed", "line": 1}])
    assert {"platinum", "chemotherapy"} <= r.classes
    assert r.systemic_lines == 1


def test_class_only_therapy_resolves(ontology: Any) -> None:
    p = patient(ontology, cancer_type="LUAD", prior_therapies=[
        {"class": "third-generation EGFR tyrosine kinase inhibitor", "line": 1}])
    assert "egfr_tki" in p.classes
    assert p.systemic_lines == 1


def test_surgery_is_not_a_systemic_line(ontology: Any) -> None:
    p = patient(ontology, cancer_type="DES", prior_therapies=[
        {"name": "marginal surgical resection", "class": "surgery", "line": 1},
        {"name": "sorafenib 400 mg daily", "line": 2, "setting": "recurrent/progressive"}])
    assert p.systemic_lines == 1
    assert "sorafenib" in p.drugs


def test_location_from_zip(ontology: Any) -> None:
    p = patient(ontology, cancer_type="LUAD", zip="10001")
    assert p.lat is not None and p.lon is not None
    assert abs(p.lat - 40.75) < 0.1 and abs(p.lon + 74.0) < 0.1


def test_conditions_present_and_absent(ontology: Any) -> None:
    p = patient(ontology, cancer_type="LUAD", conditions=["HIV", "no interstitial lung disease"])
    assert "hiv" in p.conditions_present
    assert p.conditions_absent  # ILD resolved as explicitly absent


def test_her2_category_word_given_as_the_ihc_result(ontology: Any) -> None:
    from matchers.normalize import normalize_patient
    from matchers.patient import PatientProfile

    p = normalize_patient(PatientProfile(cancer_type="BRCA",
                                         biomarkers={"HER2_IHC": "ultralow"}), ontology)
    assert p.her2_category == "ultralow"
