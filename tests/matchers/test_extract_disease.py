"""Cancer type, histology, stage/extent and comorbid conditions, with negation."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from matchers.criteria.stage import parse_stage_text


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        (
            "Histologically or cytologically confirmed locally advanced or metastatic non-small cell lung cancer",
            ("NSCLC",),
        ),
        ("Patients with pathologically proven diagnosis of NSCLC", ("NSCLC",)),
        ("Histological confirmation of ER+ breast cancer", ("BREAST",)),
        (
            "Documented cluster of differentiation (CD) 20+ B-CLL according to NCI/IWCLL guideline",
            ("CLLSLL",),
        ),
    ],
)
def test_cancer_codes(
    parse_criterion: Callable[..., list[Any]], text: str, codes: tuple[str, ...]
) -> None:
    facts = parse_criterion(text, category="cancer_type")
    assert [f.codes for f in facts] == [codes]
    assert not facts[0].negated


def test_non_small_cell_is_not_small_cell(parse_criterion: Callable[..., list[Any]]) -> None:
    facts = parse_criterion(
        "Histologically confirmed non-small cell lung cancer", category="cancer_type"
    )
    assert [f.codes for f in facts] == [("NSCLC",)]
    histology = parse_criterion(
        "Histologically confirmed non-small cell lung cancer", category="histology"
    )
    assert all("small_cell" not in f.terms for f in histology)


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("Histologically or cytologically confirmed advanced solid tumor", "any_solid_tumor"),
        (
            "DOSE ESCALATION PHASE: Histological or cytopathological diagnosis of an advanced cancer that is refractory to standard therapy",
            "any_malignancy",
        ),
    ],
)
def test_generic_cancer(parse_criterion: Callable[..., list[Any]], text: str, flag: str) -> None:
    facts = parse_criterion(text, category="cancer_type")
    assert [getattr(f, flag) for f in facts] == [True]


@pytest.mark.parametrize(
    "text",
    [
        # NCT05994521: "periampullary cancer" is a clinical group (ampulla, pancreatic
        # head, distal bile duct, duodenum), not "any cancer"
        "Radiological diagnosis of a periampullary cancer that is precluded from upfront surgical resection of curative intent due to advanced tumor stage.",
        "Prophylactic EUS-guided Gastroenterostomy in Advanced Periampullary Cancers",
    ],
)
def test_periampullary_is_a_group_not_any_cancer(
    parse_criterion: Callable[..., list[Any]], text: str
) -> None:
    facts = parse_criterion(text, category="cancer_type")
    assert [set(f.codes) for f in facts] == [{"AMPULLA_OF_VATER", "PANCREAS", "EHCH", "DA"}]
    assert not any(f.any_malignancy for f in facts)


@pytest.mark.parametrize(
    "text",
    [
        "Platelets >= 100,000/mcL",  # not mantle cell lymphoma
        "IGA score ≥3 (on the 0 to 4 IGA scale) at the screening and baseline visits",
        "No prior biologic therapy for NSCLC",  # the cancer is the therapy's setting, not negated

    ],
)
def test_no_wrong_cancer_fact(parse_criterion: Callable[..., list[Any]], text: str) -> None:
    assert parse_criterion(text, category="cancer_type") == []


def test_other_malignancy_in_exclusion_is_a_condition(
    parse_criterion: Callable[..., list[Any]],
) -> None:
    text = "Diagnosis of malignant disease within the previous 12 months (excluding basal cell carcinoma)"
    facts = parse_criterion(text, "exclusion")
    assert [f.category for f in facts] == ["condition"]
    assert facts[0].condition == "other_malignancy"
    assert facts[0].exception == "excluding basal cell carcinoma"


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Histologically confirmed epithelioid malignant pleural mesothelioma", ("epithelioid",)),
        (
            "Subjects with histologically confirmed Stage IV or recurrent NSCLC squamous or non-squamous histology",
            None,
        ),
    ],
)
def test_histology(
    parse_criterion: Callable[..., list[Any]], text: str, terms: tuple[str, ...] | None
) -> None:
    facts = parse_criterion(text, category="histology")
    if terms is not None:
        assert facts and facts[0].terms == terms
    else:
        got = {t for f in facts for t in f.terms}
        assert {"squamous", "non_squamous"} <= got


@pytest.mark.parametrize(
    ("text", "stages", "extents"),
    [
        ("Stage IIIB-IV NSCLC", ("IIIB", "IV"), ()),
        ("Patient has Stage II, III, or IV disease", ("II", "III", "IV"), ()),
        ("Metastatic melanoma with measurable disease.", (), ("metastatic",)),
        (
            "Patients with borderline resectable, locally advanced or metastatic disease.",
            (),
            ("locally_advanced", "metastatic"),
        ),
        (
            "Unresectable, previously untreated, locally advanced or metastatic BTC.",
            (),
            ("unresectable", "locally_advanced", "metastatic"),
        ),
        (  # NCT00598091: the extent in a relative clause after the cancer
            "Patients must have histologically confirmed solid tumor malignancy that is "
            "metastatic\n     or unresectable and for which standard therapy would include "
            "gemcitabine.",
            (),
            ("metastatic", "unresectable"),
        ),
    ],
)
def test_stage(
    parse_criterion: Callable[..., list[Any]],
    text: str,
    stages: tuple[str, ...],
    extents: tuple[str, ...],
) -> None:
    facts = parse_criterion(text, category="stage")
    got_stages = {s for f in facts for s in f.stages}
    got_extents = [str(x) for f in facts for x in f.extents]
    assert set(stages) <= got_stages
    assert got_extents == list(extents)


@pytest.mark.parametrize(
    "text",
    [
        "Patients with advanced heart failure",
        "Recurrent urinary tract infections",
        "Known brain metastases",  # brain metastases are not a stage/extent fact
        "Patients with AST greater than ULN are eligible if liver imaging does not demonstrate metastatic disease",
    ],
)
def test_not_a_stage(parse_criterion: Callable[..., list[Any]], text: str) -> None:
    assert parse_criterion(text, category="stage") == []


def test_no_evidence_of_metastatic_disease_is_negated(
    parse_criterion: Callable[..., list[Any]],
) -> None:
    (f,) = parse_criterion("No evidence of metastatic disease", category="stage")
    assert f.negated and [str(x) for x in f.extents] == ["metastatic"]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("HIV infection or active hepatitis B or C", "exclusion", {("hiv", False)}),
        ("Known human immunodeficiency virus (HIV) positivity", "exclusion", {("hiv", False)}),
        (
            "Patients must not be human immunodeficiency virus (HIV) positive",
            "inclusion",
            {("hiv", True)},
        ),
        ("Negative pregnancy test", "inclusion", {("pregnancy", True)}),
        ("Pregnant or breastfeeding women", "exclusion", {("pregnancy", False)}),
        (
            "Pregnant, breastfeeding, or lactating women.",
            "exclusion",
            {("pregnancy", False), ("breastfeeding", False)},
        ),
        (
            "History of interstitial lung disease",
            "exclusion",
            {("interstitial_lung_disease", False)},
        ),
    ],
)
def test_conditions(
    parse_criterion: Callable[..., list[Any]], text: str, kind: str, expected: set[tuple[str, bool]]
) -> None:
    facts = parse_criterion(text, kind, "condition")
    assert expected <= {(f.condition, f.negated) for f in facts}


@pytest.mark.parametrize(
    "text",
    [
        "Participants with known human immunodeficiency virus (HIV) infection must be receiving anti-retroviral therapy",
        "More than 1 plasma HIV-1 RNA measurement 50 c/mL to <200 c/mL within 24 weeks",
        "HIV testing is not required",
    ],
)
def test_not_a_condition_requirement(parse_criterion: Callable[..., list[Any]], text: str) -> None:
    assert [
        f for f in parse_criterion(text, "exclusion", "condition") if f.condition == "hiv"
    ] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IIIB-IV", {"IIIB", "IIIC", "IV", "IVA", "IVB", "IVC"}),
        ("III or IV", {"III", "IIIA", "IIIB", "IIIC", "IV"}),
        ("IIIB/IV", {"IIIB", "IV"}),
        ("3-4", {"III", "IV"}),
        ("I to IIIA", {"I", "IA", "II", "IIB", "IIIA"}),
    ],
)
def test_stage_ranges(text: str, expected: set[str]) -> None:
    assert expected <= set(parse_stage_text(text))
