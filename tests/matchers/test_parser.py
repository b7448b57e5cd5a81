"""EligibilityParser API: parse / parse_many / version, spans, uninterpreted criteria,
conditions, negation and exceptions across categories."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from matchers.models import CriterionKind, ParsedTrial, TrialSummary, requires_presence
from matchers.parser import PARSER_VERSION
from tests.matchers.conftest import NCT, check_spans

TEXT = (
    "Inclusion Criteria:\n\n"
    "* Histologically confirmed HER2-positive (IHC 3+ or IHC 2+ with ISH positive) metastatic breast cancer\n"
    "* ECOG performance status 0-1\n"
    "* Willing and able to comply with the protocol\n\n"
    "Exclusion Criteria:\n\n"
    "* Known active CNS metastases and/or carcinomatous meningitis\n"
    "* History of other malignancy within 5 years, except non-melanoma skin cancer\n"
)


def test_version(parser: Any) -> None:
    assert parser.version == PARSER_VERSION
    assert isinstance(PARSER_VERSION, str) and PARSER_VERSION


def test_parse_structure_and_spans(parse_text: Callable[..., ParsedTrial]) -> None:
    trial = parse_text(TEXT)
    assert trial.nct_id == NCT and trial.parser_version == PARSER_VERSION
    kinds = [c.kind for c in trial.criteria]
    assert kinds == [CriterionKind.INCLUSION] * 3 + [CriterionKind.EXCLUSION] * 2
    assert [c.index for c in trial.criteria] == list(range(5))
    # uninterpreted criteria are kept, with no facts
    consent = trial.criteria[2]
    assert (
        consent.text == "Willing and able to comply with the protocol" and not consent.interpreted
    )


def test_parse_many_equals_parse(parser: Any) -> None:
    summaries = [
        TrialSummary(nct_id=NCT, eligibility_text=TEXT),
        TrialSummary(
            nct_id="NCT07654321", eligibility_text="Inclusion Criteria:\n* Age ≥ 18 years\n"
        ),
        TrialSummary(nct_id="NCT07654322", eligibility_text=""),
    ]
    many = parser.parse_many(summaries, batch_size=2)
    assert [t.nct_id for t in many] == [s.nct_id for s in summaries]
    assert many == [parser.parse(s) for s in summaries]
    assert many[2].criteria == ()


def test_markdown_escapes_keep_offsets(parse_text: Callable[..., ParsedTrial]) -> None:
    # trial_cache unescapes, but a stray escape must not shift spans or hide a comparator
    text = "Inclusion Criteria:\n\n* Platelets \\>= 100,000/mm3\n"
    trial = parse_text(text)
    (f,) = [f for f in trial.criteria[0].facts if f.category == "lab"]
    assert (f.lab, f.value) == ("platelets", 100000.0)


def test_conditions_from_conditions_and_title(parse_text: Callable[..., ParsedTrial]) -> None:
    trial = parse_text(
        "Inclusion Criteria:\n* Age ≥ 18\n",
        conditions=("HER2-positive Breast Cancer", "Solid Tumor"),
        title="A Study in EGFR-mutant NSCLC",
    )
    assert (
        trial.condition_text
        == "HER2-positive Breast Cancer; Solid Tumor; A Study in EGFR-mutant NSCLC"
    )
    for f in trial.conditions:
        assert trial.condition_text[f.span[0] : f.span[1]] == f.text
    kinds = {
        (f.category, getattr(f, "marker", None), tuple(getattr(f, "codes", ())))
        for f in trial.conditions
    }
    assert ("cancer_type", None, ("BREAST",)) in kinds
    assert ("biomarker", "HER2", ()) in kinds
    assert ("biomarker", "EGFR", ()) in kinds
    assert ("cancer_type", None, ("NSCLC",)) in kinds
    assert any(getattr(f, "any_solid_tumor", False) for f in trial.conditions)


@pytest.mark.parametrize(
    ("text", "kind", "category", "present"),
    [
        # negation cues
        ("No prior platinum-based chemotherapy", "inclusion", "prior_therapy", False),
        (
            "Patients must not have received prior anti-PD-1 therapy",
            "inclusion",
            "prior_therapy",
            False,
        ),
        ("Without EGFR mutation", "inclusion", "biomarker", False),
        # exclusion statements in an inclusion section
        (
            "Patients with known brain metastases are not eligible",
            "inclusion",
            "brain_metastases",
            False,
        ),
        ("Patients with interstitial lung disease are excluded", "inclusion", "condition", False),
        # a negated fact in an exclusion is required
        ("Patients without measurable disease", "exclusion", "measurable_disease", True),
        # status words are statuses, not negations
        ("HER2-negative breast cancer", "inclusion", "biomarker", True),
    ],
)
def test_polarity(
    parse_criterion_kind: Callable[..., tuple[CriterionKind, list[Any]]], text: str, kind: str,
    category: str, present: bool,
) -> None:
    # The requirement is judged under the criterion's final kind: "Patients with X are
    # not eligible" alone in an inclusion list becomes an exclusion of X (not negated).
    final, facts = parse_criterion_kind(text, kind, category)
    assert facts, text
    assert {requires_presence(final, f) for f in facts} == {present}


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Prior radiotherapy is allowed", "prior_therapy"),
        ("Patients with HIV are eligible if CD4 count > 350", "condition"),
        ("For women of childbearing potential: negative pregnancy test", "condition"),
    ],
)
def test_permissions_and_conditions_are_not_requirements(
    parse_criterion: Callable[..., list[Any]], text: str, category: str
) -> None:
    assert parse_criterion(text, "inclusion", category) == []


def test_exception_recorded_not_inverted(parse_criterion: Callable[..., list[Any]]) -> None:
    facts = parse_criterion(
        "History of other malignancy within 5 years, except non-melanoma skin cancer", "exclusion"
    )
    assert [(f.category, f.negated) for f in facts] == [("condition", False)]
    assert facts[0].exception == "except non-melanoma skin cancer"


def test_group_with_mixed_categories_has_no_facts(parse_text: Callable[..., ParsedTrial]) -> None:
    text = (
        "Inclusion Criteria:\n\n  -  Meets 1 of the following criteria:\n\n"
        "       -  ECOG 0-1\n\n       -  Measurable disease per RECIST 1.1\n"
    )
    trial = parse_text(text)
    assert len(trial.criteria) == 1 and trial.criteria[0].facts == ()


def test_group_of_alternatives_of_one_category_keeps_facts(
    parse_text: Callable[..., ParsedTrial],
) -> None:
    text = (
        "DISEASE CHARACTERISTICS:\n\n  -  Histologically confirmed diagnosis of 1 of the following:\n\n"
        "       -  Ovarian epithelial cancer\n\n       -  Fallopian tube cancer\n"
    )
    trial = parse_text(text)
    cats = {f.category for c in trial.criteria for f in c.facts}
    assert cats == {"cancer_type"}


def test_large_text_is_bounded(parser: Any) -> None:
    from matchers.parser import EligibilityParser
    from matchers.settings import MatcherSettings

    small = EligibilityParser(
        parser._nlp, parser._ontology, settings=MatcherSettings(max_text_chars=1000)
    )
    text = "Inclusion Criteria:\n" + "".join(
        f"* Criterion number {i} about nothing\n" for i in range(80)
    )
    trial = small.parse(TrialSummary(nct_id=NCT, eligibility_text=text))
    check_spans(trial, text)
    last = trial.criteria[-1]
    assert last.span[1] == len(text.rstrip()) and not last.facts


def test_negspacy_mode_agrees_on_negation(ontology: Any) -> None:
    from matchers.parser import EligibilityParser
    from matchers.pipeline import build_nlp
    from matchers.settings import MatcherSettings

    settings = MatcherSettings(negation="negspacy")
    nlp = build_nlp(ontology, settings)
    assert "trialmatch_negex" in nlp.pipe_names
    parser = EligibilityParser(nlp, ontology, settings=settings)
    text = (
        "Inclusion Criteria:\n* No known brain metastases\n* Without EGFR mutation\n"
        "* HER2-negative breast cancer\nExclusion Criteria:\n* Patients without measurable disease\n"
    )
    trial = parser.parse(TrialSummary(nct_id=NCT, eligibility_text=text))
    check_spans(trial, text)
    got = [
        (f.category, f.negated)
        for c in trial.criteria
        for f in c.facts
        if f.category != "cancer_type"
    ]
    assert got == [
        ("brain_metastases", True),
        ("biomarker", True),
        ("biomarker", False),
        ("measurable_disease", True),
    ]


def test_unknown_spacy_model_is_an_error(ontology: Any) -> None:
    from matchers.errors import PipelineError
    from matchers.pipeline import build_nlp
    from matchers.settings import MatcherSettings

    with pytest.raises(PipelineError):
        build_nlp(ontology, MatcherSettings(spacy_model="en_core_sci_not_installed"))


def test_condition_spans_strip_and_skip_blank_entries() -> None:
    from matchers.models import condition_spans

    text = "Tumor; Trauma Injury; A Safety Study"
    assert condition_spans([" Tumor ", "", "Trauma Injury"], text) == [(0, 5), (7, 20)]
    with pytest.raises(ValueError):
        condition_spans(["Sarcoma"], text)


def test_cohort_scope_from_enclosing_item(parse_text: Callable[..., ParsedTrial]) -> None:
    """NCT03983954: a criterion nested in "b. Esophageal Cohort Expansion: …" is scoped to
    that cohort, and the cohort named two ways has one scope key."""
    from tests.matchers.test_sections import COHORTS

    trial = parse_text(COHORTS + "2. For the Esophageal Expansion Cohort: Subjects must have histologically confirmed metastatic esophageal cancer.\n")
    by_text = {c.text[:20]: c for c in trial.criteria}
    assert by_text["Previous therapy:"].scope is None
    para = by_text["If subjects received"]
    assert para.scope == "Esophageal Cohort Expansion:"
    assert by_text["For the Esophageal E"].scope_key == para.scope_key == "esophageal expansion"
    assert by_text["Subjects with AC tha"].scope == "Group 2 - prior CPI:"


@pytest.mark.parametrize(
    ("leadin", "item"),
    [
        # NCT00335764
        ("Each of the following is considered 1 relapse:", "Failed prior radiotherapy"),
        # NCT00301938
        ("The following are considered adverse cytogenetic abnormalities for AML:",
         "Complex karyotype"),
        # NCT02421939
        ("Refractory to first-line AML therapy is defined as:",
         "Not achieving CR after 2 cycles of intensive induction chemotherapy"),
    ],
)
def test_items_under_a_definitional_leadin_are_definitions(
    parse_text: Callable[..., ParsedTrial], leadin: str, item: str
) -> None:
    from matchers.models import CriterionRole

    trial = parse_text(f"Inclusion Criteria:\n\n* {leadin}\n\n    * {item}\n\n* ECOG 0-1\n")
    by_text = {c.text: c for c in trial.criteria}
    assert by_text[item].role is CriterionRole.DEFINITION
    assert "shape.definition" in by_text[item].shape_rules
    assert by_text["ECOG 0-1"].role is CriterionRole.REQUIREMENT
