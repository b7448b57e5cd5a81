"""Patient normalization against the real ontology."""

from __future__ import annotations

from typing import Any

import pytest

from matchers.errors import PatientProfileError
from matchers.normalize import normalize_patient
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
    assert p.cancer.code == code
    assert p.cancer.lineage[0] == code


def test_lineage_and_implied_histology(ontology: Any) -> None:
    p = patient(ontology, cancer_type="PLEMESO")
    assert p.cancer.lineage == ("PLEMESO", "PLMESO", "PLEURA")
    assert p.histology == "epithelioid"
    assert p.cancer.malignant and not p.cancer.hematologic


def test_unknown_cancer_type_is_a_profile_error(ontology: Any) -> None:
    with pytest.raises(PatientProfileError) as err:
        normalize_patient(PatientProfile(cancer_type="qwertyuiop zzz"), ontology)
    assert err.value.field == "cancer_type"
    assert isinstance(err.value.suggestions, list)


def test_desmoid_is_not_malignant_nor_metastatic(ontology: Any) -> None:
    p = patient(ontology, cancer_type="DES")
    assert not p.cancer.malignant
    assert p.stage.extents.get("metastatic") is False


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
        assert p.stage.extents.get(k) is v, (k, p.stage.extents)


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
    assert p.biomarkers.her2_category == category
    assert p.biomarkers.markers["HER2"].positive is (category == "positive")


def test_breast_receptors_and_germline(ontology: Any) -> None:
    p = patient(ontology, **BREAST_HER2_LOW)
    assert p.biomarkers.hr_positive is True
    assert p.biomarkers.markers["ER"].percent == 90
    assert p.biomarkers.markers["PIK3CA"].positive is False
    markers = p.biomarkers.markers
    assert markers["BRCA1"].positive is False and markers["BRCA2"].positive is False
    q = patient(ontology, cancer_type="IDC", biomarkers={"ER": "negative", "PR": "negative"})
    assert q.biomarkers.hr_positive is False


def test_egfr_pdl1_kras(ontology: Any) -> None:
    p = patient(ontology, **NSCLC_EGFR)
    egfr = p.biomarkers.markers["EGFR"]
    assert egfr.positive is True
    assert {"exon19del", "common", "sensitizing"} <= egfr.variants
    assert "T790M" in egfr.absent_variants
    assert p.biomarkers.pdl1_tps == (10.0, 10.0)
    assert p.biomarkers.markers["KRAS"].positive is False
    q = patient(ontology, cancer_type="LUAD", biomarkers={"KRAS": "G12C", "PD-L1_TPS": "<1%"})
    assert "G12C" in q.biomarkers.markers["KRAS"].variants
    assert q.biomarkers.pdl1_tps is not None and q.biomarkers.pdl1_tps[1] < 1.0


def test_prior_therapies(ontology: Any) -> None:
    p = patient(ontology, **BREAST_HER2_LOW)
    assert {"letrozole", "palbociclib", "capecitabine"} <= p.therapy.drugs
    assert {"cdk46", "chemotherapy", "systemic"} <= p.therapy.classes
    assert p.therapy.systemic_lines == 2 and p.therapy.systemic_lines_advanced == 2
    q = patient(ontology, **NSCLC_EGFR)
    assert "osimertinib" in q.therapy.drugs
    assert "egfr_tki" in q.therapy.classes
    r = patient(ontology, cancer_type="LUAD",
                prior_therapies=[{"name": "carboplatin/pemetrexed", "line": 1}])
    assert {"platinum", "chemotherapy"} <= r.therapy.classes
    assert r.therapy.systemic_lines == 1


def test_class_only_therapy_resolves(ontology: Any) -> None:
    p = patient(ontology, cancer_type="LUAD", prior_therapies=[
        {"class": "third-generation EGFR tyrosine kinase inhibitor", "line": 1}])
    assert "egfr_tki" in p.therapy.classes
    assert p.therapy.systemic_lines == 1


def test_surgery_is_not_a_systemic_line(ontology: Any) -> None:
    p = patient(ontology, cancer_type="DES", prior_therapies=[
        {"name": "marginal surgical resection", "class": "surgery", "line": 1},
        {"name": "sorafenib 400 mg daily", "line": 2, "setting": "recurrent/progressive"}])
    assert p.therapy.systemic_lines == 1
    assert "sorafenib" in p.therapy.drugs


def test_location_from_zip(ontology: Any) -> None:
    p = patient(ontology, cancer_type="LUAD", zip="10001")
    assert p.lat is not None and p.lon is not None
    assert abs(p.lat - 40.75) < 0.1 and abs(p.lon + 74.0) < 0.1


def test_conditions_present_and_absent(ontology: Any) -> None:
    p = patient(ontology, cancer_type="LUAD", conditions=["HIV", "no interstitial lung disease"])
    assert "hiv" in p.conditions.present
    assert p.conditions.absent  # ILD resolved as explicitly absent


def test_her2_category_word_given_as_the_ihc_result(ontology: Any) -> None:
    from matchers.normalize import normalize_patient
    from matchers.patient import PatientProfile

    p = normalize_patient(PatientProfile(cancer_type="BRCA",
                                         biomarkers={"HER2_IHC": "ultralow"}), ontology)
    assert p.biomarkers.her2_category == "ultralow"
