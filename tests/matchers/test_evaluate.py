"""Table-driven tests of criterion logic, on real criterion texts from the corpus (the
facts are built by hand, so the tests pin the evaluator, not the parser)."""

from __future__ import annotations

from typing import Any

import pytest

from matchers.evaluate import evaluate_trial
from matchers.models import CriterionStatus, TrialMatch, Verdict
from tests.matchers.test_evaluate_builders import (
    BREAST_HER2_LOW,
    MESO_IB,
    NSCLC_EGFR,
    TODAY,
    Exc,
    F,
    Inc,
    make_trial,
    patient,
)

MET, NOT_MET, UNKNOWN = CriterionStatus.MET, CriterionStatus.NOT_MET, CriterionStatus.UNKNOWN
ELIGIBLE, POSSIBLY, INELIGIBLE = (Verdict.ELIGIBLE, Verdict.POSSIBLY_ELIGIBLE,
                                  Verdict.INELIGIBLE)

MESO = F("cancer_type", "mesothelioma", codes=("PLMESO", "PEMESO"))
BREAST = F("cancer_type", "breast cancer", codes=("BRCA",))
NSCLC = F("cancer_type", "NSCLC", codes=("NSCLC",))


def run(ontology: Any, p: dict[str, Any], criteria: list[Any], **kw: Any) -> TrialMatch:
    kw.setdefault("conditions", ())
    trial = make_trial(ontology, criteria, **kw)
    return evaluate_trial(trial, patient(ontology, **p), ontology, TODAY)


def status_of(match: TrialMatch, text: str) -> CriterionStatus:
    """Status of the parsed criterion with ``text`` (the last result quoting it: the
    trial-level cancer-type result may quote the same criterion first)."""
    for c in reversed(match.criteria):
        if c.text == text:
            return c.status
    raise AssertionError(f"criterion {text!r} not in result")


# --------------------------------------------------------------------------------------
# HER2 (ASCO/CAP 2023)
# --------------------------------------------------------------------------------------

HER2_POS = "HER2-positive expression (IHC 3+ or IHC 2+ with ISH positive)"
HER2_NEG = "HER2-negative (IHC zero, 1+, 2+/ISH-) locally-advanced or mBC"
HER2_LOW = "HER2-low (IHC 1+ or IHC 2+/ISH-) metastatic breast cancer"


@pytest.mark.parametrize(
    ("text", "fact", "ihc", "ish", "expected"),
    [
        (HER2_POS, dict(status="positive", her2_categories=("positive",)), "2+", "negative",
         NOT_MET),
        (HER2_POS, dict(status="positive", her2_categories=("positive",)), "3+", None, MET),
        (HER2_POS, dict(status="positive", her2_categories=("positive",)), "2+", "amplified",
         MET),
        (HER2_POS, dict(status="positive"), "1+", None, NOT_MET),
        (HER2_NEG, dict(status="negative", her2_categories=("zero", "low")), "2+",
         "negative", MET),
        (HER2_NEG, dict(status="negative"), "1+", None, MET),
        (HER2_NEG, dict(status="negative"), "0", None, MET),
        (HER2_NEG, dict(status="negative"), "3+", None, NOT_MET),
        (HER2_LOW, dict(status="low", her2_categories=("low",)), "0", None, NOT_MET),
        (HER2_LOW, dict(status="low", her2_categories=("low",)), "1+", None, MET),
        (HER2_LOW, dict(status="low", her2_categories=("low",)), "2+", "negative", MET),
        (HER2_LOW, dict(status="low", her2_categories=("low",)), "3+", None, NOT_MET),
    ],
)
def test_her2_categories(ontology: Any, text: str, fact: dict[str, Any], ihc: str,
                         ish: str | None, expected: CriterionStatus) -> None:
    markers: dict[str, Any] = {"ER": "positive", "HER2_IHC": ihc}
    if ish:
        markers["HER2_ISH"] = ish
    p = {**BREAST_HER2_LOW, "biomarkers": markers}
    quote = text.split(" (")[0] if "(" in text else text
    m = run(ontology, p, [Inc(text, F("biomarker", quote, marker="HER2", **fact))],
            conditions=("Breast Cancer",), condition_facts=(BREAST,))
    assert status_of(m, text) is expected


def test_her2_positive_only_trial_never_eligible_for_her2_low(ontology: Any) -> None:
    text = "(HER2)-positive/estrogen receptor (ER)-positive adenocarcinoma of the breast"
    m = run(ontology, BREAST_HER2_LOW, [Inc(
        text,
        F("biomarker", "(HER2)-positive", marker="HER2", status="positive"),
        F("biomarker", "estrogen receptor (ER)-positive", marker="ER", status="positive"),
        F("cancer_type", "adenocarcinoma of the breast", codes=("BRCA",)),
    )], conditions=("Breast Cancer",), condition_facts=(BREAST,))
    assert m.verdict is INELIGIBLE
    assert status_of(m, text) is NOT_MET


def test_receptor_alternatives_follow_written_connectors(ontology: Any) -> None:
    text = "ER+/HER2- or triple-negative breast cancer"
    facts = (
        F("biomarker", "ER+", marker="ER", status="positive"),
        F("biomarker", "HER2-", marker="HER2", status="negative"),
        F("biomarker", "triple-negative", marker="ER", status="negative"),
        F("biomarker", "triple-negative", marker="PR", status="negative"),
        F("biomarker", "triple-negative", marker="HER2", status="negative"),
    )
    m = run(ontology, BREAST_HER2_LOW, [Inc(text, *facts)], condition_facts=(BREAST,),
            conditions=("Breast Cancer",))
    assert status_of(m, text) is MET
    her2_pos = {**BREAST_HER2_LOW, "biomarkers": {"ER": "positive", "HER2_IHC": "3+"}}
    m2 = run(ontology, her2_pos, [Inc(text, *facts)], condition_facts=(BREAST,),
             conditions=("Breast Cancer",))
    assert status_of(m2, text) is NOT_MET


# --------------------------------------------------------------------------------------
# Cancer type and histology
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patient_code", "trial_codes", "generic", "expected"),
    [
        ("PLEMESO", ("PLMESO", "PEMESO"), {}, ELIGIBLE),       # mesothelioma ⊇ epithelioid
        ("PLSMESO", ("PLEMESO",), {}, INELIGIBLE),            # epithelioid ⊉ sarcomatoid
        ("PLEMESO", ("PLSMESO", "PLBMESO"), {}, INELIGIBLE),
        ("PLMESO", ("PLEMESO",), {}, POSSIBLY),               # subtype not given
        ("PLEMESO", (), {"any_solid_tumor": True}, ELIGIBLE),  # generic solid tumour
        ("PLEMESO", (), {"any_hematologic": True}, INELIGIBLE),
        ("PLEMESO", ("NSCLC",), {}, INELIGIBLE),
        ("DES", ("SOFT_TISSUE",), {}, INELIGIBLE),            # desmoid is not a sarcoma
        ("DES", (), {"any_solid_tumor": True}, POSSIBLY),      # judgement
        ("DES", ("DES",), {}, ELIGIBLE),
    ],
)
def test_cancer_type_fit(ontology: Any, patient_code: str, trial_codes: tuple[str, ...],
                         generic: dict[str, bool], expected: Verdict) -> None:
    text = "Histologically confirmed diagnosis of the disease under study"
    m = run(ontology, {"cancer_type": patient_code},
            [Inc(text, F("cancer_type", "the disease under study", codes=trial_codes,
                         **generic))])
    assert m.verdict is expected, m.criteria[0].reason


def test_trial_excluding_patients_cancer_type(ontology: Any) -> None:
    exc = ("Subjects with pseudomyxoma, mesothelioma, adenocarcinoma of unknown primary "
           "tumor, sarcoma, or neuroendocrine histology are excluded.")
    m = run(ontology, MESO_IB, [
        Inc("Histologically confirmed solid tumor",
            F("cancer_type", "solid tumor", any_solid_tumor=True)),
        Exc(exc, F("cancer_type", "mesothelioma", codes=("PLMESO", "PEMESO"))),
    ])
    assert m.verdict is INELIGIBLE


def test_other_malignancy_history_is_not_a_cancer_type_exclusion(ontology: Any) -> None:
    exc = "History of another primary malignancy (e.g. mesothelioma) within 3 years"
    m = run(ontology, MESO_IB, [
        Inc("malignant pleural mesothelioma", MESO),
        Exc(exc, F("cancer_type", "mesothelioma", codes=("PLMESO",))),
    ])
    assert m.verdict is not INELIGIBLE


@pytest.mark.parametrize(
    ("kind", "terms", "negated", "expected"),
    [
        ("inc", ("sarcomatoid",), False, NOT_MET),
        ("inc", ("non_epithelioid",), False, NOT_MET),
        ("inc", ("sarcomatoid", "biphasic"), False, NOT_MET),
        ("inc", ("epithelioid",), False, MET),
        ("exc", ("epithelioid",), False, NOT_MET),
        ("inc", ("epithelioid",), True, NOT_MET),  # "non-epithelioid" written as negation
        ("exc", ("sarcomatoid",), False, MET),
    ],
)
def test_histology_epithelioid_patient(ontology: Any, kind: str, terms: tuple[str, ...],
                                       negated: bool, expected: CriterionStatus) -> None:
    text = "Histologically confirmed sarcomatoid or biphasic (non-epithelioid) mesothelioma"
    quote = "sarcomatoid or biphasic (non-epithelioid)"
    builder = Inc if kind == "inc" else Exc
    m = run(ontology, MESO_IB, [
        Inc("malignant pleural mesothelioma", MESO),
        builder(text, F("histology", quote, terms=terms, negated=negated)),
    ])
    assert status_of(m, text) is expected
    if expected is NOT_MET:
        assert m.verdict is INELIGIBLE


# --------------------------------------------------------------------------------------
# Stage and extent
# --------------------------------------------------------------------------------------

STAGES_IIIB_IV = ("IIIB", "IIIC", "IV", "IVA", "IVB", "IVC")


@pytest.mark.parametrize(
    ("stage", "resectable", "fact", "expected"),
    [
        ("IB", True, dict(extents=("unresectable",)), NOT_MET),
        ("IB", True, dict(extents=("metastatic",)), NOT_MET),
        ("IB", True, dict(extents=("advanced",)), NOT_MET),
        ("IB", True, dict(extents=("locally_advanced", "metastatic")), NOT_MET),
        ("IB", True, dict(stages=STAGES_IIIB_IV,
                          extents=("locally_advanced", "recurrent", "metastatic")), NOT_MET),
        ("IB", True, dict(extents=("resectable",)), MET),
        ("IV", None, dict(extents=("metastatic",)), MET),
        ("IVB", None, dict(stages=STAGES_IIIB_IV), MET),
        ("IIIA", None, dict(stages=STAGES_IIIB_IV), NOT_MET),
        ("IIIB", None, dict(extents=("locally_advanced", "metastatic")), MET),
        ("IV", None, dict(stages=("IVB",)), UNKNOWN),
        (None, None, dict(extents=("metastatic",)), UNKNOWN),
    ],
)
def test_stage(ontology: Any, stage: str | None, resectable: bool | None,
               fact: dict[str, Any], expected: CriterionStatus) -> None:
    text = ("locally advanced or recurrent (stage IIIB) or metastatic (Stage IV) "
            "non-small cell lung Cancer or malignant pleural mesothelioma")
    p = {**MESO_IB, "stage": stage, "resectable": resectable}
    m = run(ontology, p, [Inc(text, F("stage", "locally advanced or recurrent (stage IIIB) "
                                      "or metastatic (Stage IV)", **fact),
                              F("cancer_type", "malignant pleural mesothelioma",
                                codes=("PLMESO",)))])
    assert status_of(m, text) is expected


def test_desmoid_is_not_metastatic(ontology: Any) -> None:
    text = "The solid tumors must be in Stage IV at screening."
    m = run(ontology, {"cancer_type": "DES", "resectable": False}, [
        Inc("desmoid tumor", F("cancer_type", "desmoid tumor", codes=("DES",))),
        Inc(text, F("stage", "Stage IV", stages=("IV", "IVA", "IVB", "IVC"),
                    extents=("metastatic",))),
    ])
    assert status_of(m, text) is NOT_MET


# --------------------------------------------------------------------------------------
# Prior therapy
# --------------------------------------------------------------------------------------

LINES2 = ("solid tumor patients must have received at least two lines of systemic "
          "therapies in the metastatic incurable settings")
NO_CHEMO = "Has received prior chemotherapy for unresectable locally advanced or metastatic"
CDK = "Prior treatment with CDK4/6 inhibitors in the metastatic setting"
NAIVE = "Treatment-naïve for locally advanced/metastatic EGFR-mutated NSCLC"
OSI_PROG = ("Documented extra-cranial radiologic progression on prior osimertinib "
            "monotherapy")
EGFR_TKI_MAX2 = "(<=2) prior lines of EGFR TKIs"
PLATINUM = "Prior platinum-based chemotherapy"


@pytest.mark.parametrize(
    ("who", "kind", "text", "quote", "fact", "expected"),
    [
        ("breast", "inc", LINES2, "at least two lines of systemic therapies",
         dict(min_lines=2, setting="metastatic"), MET),
        ("meso", "inc", LINES2, "at least two lines of systemic therapies",
         dict(min_lines=2, setting="metastatic"), NOT_MET),
        ("nsclc", "inc", LINES2, "at least two lines of systemic therapies",
         dict(min_lines=2, setting="metastatic"), NOT_MET),
        ("breast", "exc", NO_CHEMO, "prior chemotherapy",
         dict(classes=("chemotherapy",), setting="metastatic"), NOT_MET),
        ("nsclc", "exc", NO_CHEMO, "prior chemotherapy",
         dict(classes=("chemotherapy",), setting="metastatic"), MET),
        ("breast", "exc", CDK, "CDK4/6 inhibitors", dict(classes=("cdk46",),
                                                        setting="metastatic"), NOT_MET),
        ("nsclc", "inc", NAIVE, "Treatment-naïve", dict(relation="naive",
                                                        setting="metastatic"), NOT_MET),
        ("meso", "inc", NAIVE, "Treatment-naïve", dict(relation="naive"), MET),
        ("nsclc", "inc", OSI_PROG, "progression on prior osimertinib",
         dict(drugs=("osimertinib",), relation="progressed"), MET),
        ("breast", "inc", OSI_PROG, "progression on prior osimertinib",
         dict(drugs=("osimertinib",), relation="progressed"), NOT_MET),
        ("nsclc", "inc", EGFR_TKI_MAX2, "prior lines of EGFR TKIs",
         dict(classes=("egfr_tki",), max_lines=2), MET),
        ("breast", "inc", PLATINUM, "platinum", dict(classes=("platinum",)), NOT_MET),
    ],
)
def test_prior_therapy(ontology: Any, who: str, kind: str, text: str, quote: str,
                       fact: dict[str, Any], expected: CriterionStatus) -> None:
    p, cond = {
        "breast": (BREAST_HER2_LOW, BREAST),
        "meso": (MESO_IB, MESO),
        "nsclc": (NSCLC_EGFR, NSCLC),
    }[who]
    builder = Inc if kind == "inc" else Exc
    m = run(ontology, p, [builder(text, F("prior_therapy", quote, **fact))],
            condition_facts=(cond,), conditions=(cond[1],))
    assert status_of(m, text) is expected


def test_carboplatin_counts_as_platinum_and_chemotherapy(ontology: Any) -> None:
    p = {**NSCLC_EGFR, "prior_therapies": [{"name": "carboplatin/pemetrexed", "line": 1,
                                             "setting": "metastatic"}]}
    text = "Prior platinum-based chemotherapy"
    for classes in (("platinum",), ("chemotherapy",)):
        m = run(ontology, p, [Inc(text, F("prior_therapy", "platinum", classes=classes))],
                condition_facts=(NSCLC,), conditions=("NSCLC",))
        assert status_of(m, text) is MET


# --------------------------------------------------------------------------------------
# ECOG, brain metastases, measurable disease, labs, unknowns
# --------------------------------------------------------------------------------------

ECOG01 = "Eastern Cooperative Oncology Group (ECOG) performance status of 0 or 1."


@pytest.mark.parametrize(("ecog", "expected"), [(0, MET), (1, MET), (2, NOT_MET),
                                                (None, UNKNOWN)])
def test_ecog(ontology: Any, ecog: int | None, expected: CriterionStatus) -> None:
    m = run(ontology, {**MESO_IB, "ecog": ecog}, [
        Inc("mesothelioma", MESO),
        Inc(ECOG01, F("performance_status", "performance status of 0 or 1", scale="ECOG",
                      ecog_min=0, ecog_max=1)),
    ])
    assert status_of(m, ECOG01) is expected
    if expected is UNKNOWN:
        assert m.verdict is POSSIBLY
        assert "ECOG performance status?" in m.questions


ACTIVE_CNS = "Known active central nervous system metastases and/or carcinomatous meningitis."
ANY_BM = "Patients with brain metastases are excluded unless treated and stable"


@pytest.mark.parametrize(
    ("bm", "text", "fact", "expected"),
    [
        ("none", ACTIVE_CNS, dict(qualifier="active"), MET),
        ("active", ACTIVE_CNS, dict(qualifier="active"), NOT_MET),
        ("treated_stable", ACTIVE_CNS, dict(qualifier="active"), MET),
        (None, ACTIVE_CNS, dict(qualifier="active"), UNKNOWN),
        ("treated_stable", ANY_BM, dict(qualifier="any", treated_allowed=True), MET),
        ("active", ANY_BM, dict(qualifier="any", treated_allowed=True), NOT_MET),
    ],
)
def test_brain_metastases(ontology: Any, bm: str | None, text: str, fact: dict[str, Any],
                          expected: CriterionStatus) -> None:
    quote = "central nervous system metastases" if text == ACTIVE_CNS else "brain metastases"
    m = run(ontology, {**NSCLC_EGFR, "brain_metastases": bm}, [
        Inc("NSCLC", NSCLC), Exc(text, F("brain_metastases", quote, **fact))])
    assert status_of(m, text) is expected


def test_brain_metastases_required_but_absent(ontology: Any) -> None:
    text = "Patients with radiologically confirmed parenchymal brain metastases"
    m = run(ontology, NSCLC_EGFR, [Inc("NSCLC", NSCLC),
                                   Inc(text, F("brain_metastases", "brain metastases"))])
    assert m.verdict is INELIGIBLE


def test_unknown_pdl1_makes_possibly_with_question(ontology: Any) -> None:
    text = ("Tumor tissue that demonstrates PD-L1 expression in ≥1% of tumor cells "
            "(TPS ≥1%) as assessed by IHC 22C3 pharmDx.")
    no_pdl1 = {**NSCLC_EGFR, "biomarkers": {"EGFR": "exon 19 deletion"}}
    fact = F("biomarker", "PD-L1 expression in ≥1% of tumor cells", marker="PD-L1",
             status="positive", score="TPS", threshold=1.0)
    m = run(ontology, no_pdl1, [Inc("NSCLC", NSCLC), Inc(text, fact)])
    assert m.verdict is POSSIBLY
    assert m.questions == ("PD-L1 TPS?",)
    m2 = run(ontology, NSCLC_EGFR, [Inc("NSCLC", NSCLC), Inc(text, fact)])
    assert m2.verdict is ELIGIBLE
    m3 = run(ontology, MESO_IB, [Inc("mesothelioma", MESO), Inc(text, fact)])
    assert m3.verdict is INELIGIBLE  # "<1%"


def test_labs_and_uninterpreted_do_not_block_eligible(ontology: Any) -> None:
    m = run(ontology, MESO_IB, [
        Inc("histologically or cytologically diagnosed malignant mesothelioma", MESO),
        Inc("Absolute neutrophil count ≥ 1,500/µL",
            F("lab", "Absolute neutrophil count ≥ 1,500/µL", lab="anc", comparator=">=",
              value=1500, unit="cells/uL")),
        Inc("Signed informed consent"),
        Exc("Known HIV infection", F("condition", "HIV", condition="hiv")),
    ])
    assert m.verdict is ELIGIBLE
    assert m.questions == ()


@pytest.mark.parametrize(
    ("egfr", "variant", "expected"),
    [
        ("exon 19 deletion", "exon20ins", NOT_MET),
        ("exon 19 deletion", "exon19del", MET),
        ("exon 19 deletion", "common", MET),
        ("exon 19 deletion", "rare", NOT_MET),
        ("L858R", "sensitizing", MET),
        ("mutated", "exon20ins", UNKNOWN),
    ],
)
def test_egfr_variants(ontology: Any, egfr: str, variant: str,
                       expected: CriterionStatus) -> None:
    text = "locally advanced or metastatic NSCLC with EGFR exon20ins mutation"
    p = {**NSCLC_EGFR, "biomarkers": {"EGFR": egfr}}
    m = run(ontology, p, [Inc(text, NSCLC, F("biomarker", "EGFR exon20ins mutation",
                                              marker="EGFR", status="mutated",
                                              variant=variant))])
    assert status_of(m, text) is expected


def test_driver_negative_requirement_excludes_egfr_mutant(ontology: Any) -> None:
    text = ("Participants with nonsquamous tumors were required to have available genetic "
            "testing to confirm without EGFR, ALK, or ROS1 driver mutations")
    facts = [F("biomarker", q, marker=q, status="mutated", negated=True)
             for q in ("EGFR", "ALK", "ROS1")]
    m = run(ontology, NSCLC_EGFR, [Inc("NSCLC", NSCLC), Inc(text, *facts)])
    assert status_of(m, text) is NOT_MET
    exc = "Known EGFR, ALK, ROS1 alterations"
    facts2 = [F("biomarker", q, marker=q, status="mutated") for q in ("EGFR", "ALK", "ROS1")]
    m2 = run(ontology, NSCLC_EGFR, [Inc("NSCLC", NSCLC), Exc(exc, *facts2)])
    assert status_of(m2, exc) is NOT_MET


def test_registry_age_and_sex(ontology: Any) -> None:
    m = run(ontology, {**MESO_IB, "age": 58}, [Inc("mesothelioma", MESO)], max_age=17)
    assert m.verdict is INELIGIBLE
    m2 = run(ontology, MESO_IB, [Inc("mesothelioma", MESO)], sex="FEMALE")
    assert m2.verdict is INELIGIBLE
    m3 = run(ontology, MESO_IB, [Inc("mesothelioma", MESO)], min_age=18)
    assert m3.verdict is ELIGIBLE


def test_other_cohort_criterion_is_not_held_against_patient(ontology: Any) -> None:
    m = run(ontology, MESO_IB, [
        Inc("Participants with histologic diagnosis of malignant mesothelioma", MESO),
        Inc("Stage IV NSCLC", F("cancer_type", "NSCLC", codes=("NSCLC",)),
            F("stage", "Stage IV", stages=("IV", "IVA", "IVB", "IVC"))),
    ])
    assert m.verdict is ELIGIBLE


def test_reasons_quote_the_trial(ontology: Any) -> None:
    m = run(ontology, MESO_IB, [Inc("mesothelioma", MESO), Inc(
        ECOG01, F("performance_status", "performance status of 0 or 1", scale="ECOG",
                  ecog_min=0, ecog_max=1))])
    ecog = next(c for c in m.criteria if c.text == ECOG01)
    assert "performance status of 0 or 1" in ecog.reason
    assert 0.0 <= m.score <= 1.0
    assert m.score_explanation


def test_exception_clause_never_alone_makes_not_met(ontology: Any) -> None:
    text = "Prior chemotherapy, unless given as adjuvant therapy more than 12 months ago"
    fact = F("prior_therapy", "Prior chemotherapy", classes=("chemotherapy",),
             exception="unless given as adjuvant therapy more than 12 months ago")
    m = run(ontology, BREAST_HER2_LOW, [Exc(text, fact)], condition_facts=(BREAST,),
            conditions=("Breast Cancer",))
    assert status_of(m, text) is UNKNOWN
    plain = F("prior_therapy", "Prior chemotherapy", classes=("chemotherapy",))
    m2 = run(ontology, BREAST_HER2_LOW, [Exc(text, plain)], condition_facts=(BREAST,),
             conditions=("Breast Cancer",))
    assert status_of(m2, text) is NOT_MET
