"""Age and sex restrictions (criterion texts from the CT.gov corpus)."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize(
    ("text", "kind", "min_years", "max_years"),
    [
        ("Age ≥ 18 years", "inclusion", 18.0, None),
        ("Age>18 years old", "inclusion", 18.0, None),
        ("Aged 18-65", "inclusion", 18.0, 65.0),
        ("Age between 20 and 65 years", "inclusion", 20.0, 65.0),
        ("Age 2 to < 18 years", "inclusion", 2.0, 18.0),
        ("Males and females between 8 and 18 years old.", "inclusion", 8.0, 18.0),
        ("16 years or older", "inclusion", 16.0, None),
        (
            "Adults over age 21 diagnosed with type 2 diabetes for at least one year.",
            "inclusion",
            21.0,
            None,
        ),
        ("Patients who are < 18 years of age.", "exclusion", None, 18.0 - 1 / 365.25),
        ("Adults", "inclusion", 18.0, None),
        ("Children 6 months to 17 years of age", "inclusion", 0.5, 17.0),
        ("18 years < age < 50 years", "inclusion", 18.0, 50.0),  # NCT00497536
        # NCT03633708: two bounds of one age
        ("Age of 28 days or older and less than 18 years", "inclusion", 28 / 365.25, 18.0),
        ("Male or female subjects < 18 years of age", "exclusion", None, 18.0 - 1 / 365.25),
        ("Postmenopausal women aged 50 to 75 years", "inclusion", 50.0, 75.0),
        ("Age ≥ 18 and ≤ 65 years", "inclusion", 18.0, 65.0),  # NCT05507827
        ("Age ≥ 18 years or as required by local law", "inclusion", 18.0, None),
        ("Age ≥ 18 years and < 6 months since diagnosis", "inclusion", 18.0, None),
    ],
)
def test_age_bounds(
    parse_criterion: Callable[..., list[Any]],
    text: str,
    kind: str,
    min_years: float | None,
    max_years: float | None,
) -> None:
    facts = parse_criterion(text, kind, "age")
    assert len(facts) == 1, facts
    f = facts[0]
    assert f.min_years == (pytest.approx(min_years, abs=1e-3) if min_years is not None else None)
    assert f.max_years == (pytest.approx(max_years, abs=1e-3) if max_years is not None else None)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("More than 10 years of T2DM diagnosis", "exclusion"),  # a duration
        (
            "At least 3 weeks (21 days) must have elapsed since the end of the most recent therapy",
            "inclusion",
        ),
        ("Type 1 diabetes diagnosed between 5-40 years of age", "inclusion"),  # age at onset
        (
            "BMI greater than 90th percentile for age or less than 10th percentile for age.",
            "exclusion",
        ),
        (
            "Age ≥ 60 years and at least 2 of the following cardiovascular disease risk factors:",
            "inclusion",
        ),
        ("Age > 75 for surgery groups; Age > 65 for VLCD group.", "exclusion"),  # cohort ages
        (
            "If age < 18 yr, linear growth of 1cm during the previous year.",
            "exclusion",
        ),  # condition
        ("40-75 years old (30 -75 years old if South Asian origin)", "inclusion"),
        # NCT00146484: the age of who gives consent, not of who is enrolled
        (
            "Informed consent from adolescents greater than 16 years of age, or if less than 16 years, informed consent from the parents",
            "inclusion",
        ),
        # NCT00585936: an age as one alternative among non-age conditions
        (
            "Recent onset type 1 diabetes as defined by clinical diagnosis within the last 6 months and age less than 30 or at least one islet autoantibody marker (GAD, IAA, or IA-2). or",
            "inclusion",
        ),
        # NCT00964418: two cohorts with labelled age ranges
        (
            "Male or female aged 18-35 years (both inclusive) (young group) or at least 65 years (geriatric group)",
            "inclusion",
        ),
        # NCT02795884: part of a definition of menopause
        ("With no menstruation at least for 12 months, at the age >50 years old, or", "exclusion"),
        # NCT05587465: a subgroup of one sex, not an age limit of the trial
        ("Postmenopausal women < age 65", "exclusion"),
    ],
)
def test_not_an_age_limit(parse_criterion: Callable[..., list[Any]], text: str, kind: str) -> None:
    facts = parse_criterion(text, kind, "age")
    # only the unconditional bound may be read
    assert all(
        f.text.strip()
        not in (
            "More than 10 years",
            "At least 3 weeks",
            "5-40 years",
            "less than 10",
            "at least 2",
            "30 -75 years",
        )
        for f in facts
    )
    if "South Asian" in text:
        assert [(f.min_years, f.max_years) for f in facts] == [(40.0, 75.0)]
    elif "cardiovascular" in text:
        assert [(f.min_years, f.max_years) for f in facts] == [(60.0, None)]
    else:
        assert facts == []


def test_cohort_ages_across_criteria_are_dropped(parse_text: Callable[..., Any]) -> None:
    # NCT00726440: one trial, two age groups; a single bound would be wrong for one
    trial = parse_text(
        "Inclusion Criteria:\n* Children between 8 and 18 years old\n* Adults between 18 and 60 years old\n"
    )
    assert not [f for c in trial.criteria for f in c.facts if f.category == "age"]


@pytest.mark.parametrize(
    ("text", "kind", "sex"),
    [
        ("Female", "inclusion", "female"),
        (
            "Women aged ≥ 18 years with histologically confirmed breast cancer",
            "inclusion",
            "female",
        ),
        ("Postmenopausal women", "inclusion", "female"),
        ("Male patients ≥ 18 years", "inclusion", "male"),
        ("Men", "inclusion", "male"),
        ("Male", "exclusion", "male"),
    ],
)
def test_sex(parse_criterion: Callable[..., list[Any]], text: str, kind: str, sex: str) -> None:
    facts = parse_criterion(text, kind, "sex")
    assert [f.sex for f in facts] == [sex]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Women of childbearing potential must have a negative pregnancy test", "inclusion"),
        ("Male or female, age at least 18 years", "inclusion"),
        ("Men and women aged 45-80 years old", "inclusion"),
        ("Pregnant or breastfeeding women", "exclusion"),
        ("Women with renal or hepatic disease", "exclusion"),
        (
            "Female participants must be ≥ 1 year post-menopausal, surgically sterile, or using 1 highly effective form of birth control",
            "inclusion",
        ),
        ("Male participants:", "inclusion"),
    ],
)
def test_not_a_sex_restriction(
    parse_criterion: Callable[..., list[Any]], text: str, kind: str
) -> None:
    assert parse_criterion(text, kind, "sex") == []


@pytest.mark.parametrize(
    "text",
    [
        # NCT00704132: "Males" next to a criterion that enrols females
        "Inclusion Criteria:\n\n  -  Participant has type 2 diabetes mellitus\n\n  -  Males\n\n  -  Females who are highly unlikely to become pregnant\n\nExclusion Criteria:\n\n  -  Participant has a history of type 1 diabetes mellitus or history of ketoacidosis\n",
        # NCT04157569
        "Inclusion Criteria:\n\n* Written informed consent\n* Male\n* not pregnant female\n* patients >=60 years old\n* Diagnosis of acute leukemia\n\nExclusion Criteria:\n\n* Pregnancy\n* HIV positive\n",
    ],
)
def test_other_sex_enrolled_elsewhere(parse_text: Callable[..., Any], text: str) -> None:
    trial = parse_text(text)
    assert not [f for c in trial.criteria for f in c.facts if f.category == "sex"]


def test_single_sex_kept_when_other_sex_only_excluded(parse_text: Callable[..., Any]) -> None:
    # the other sex named only under the exclusion heading does not enrol it
    trial = parse_text(
        "Inclusion Criteria:\n* Male\n* Age 18-45 years\n\nExclusion Criteria:\n* Females\n"
    )
    sexes = [f for c in trial.criteria for f in c.facts if f.category == "sex"]
    assert [(f.sex, f.negated) for f in sexes][:1] == [("male", False)]


def test_exclusion_statement_about_a_later_age(parse_criterion: Callable[..., list[Any]]) -> None:
    # NCT00846092: "are not being included" is about "< 18", not "Age >= 18"
    facts = parse_criterion(
        "Age >= 18 years Subjects <18 years old are not being included because DME is so rare in this age group that the diagnosis of DME may be questionable.",
        "inclusion",
        "age",
    )
    assert facts
    assert all(f.negated or f.min_years == 18.0 for f in facts)
    assert (18.0, None, False) in [(f.min_years, f.max_years, f.negated) for f in facts]
