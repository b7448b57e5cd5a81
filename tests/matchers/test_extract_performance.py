"""Performance status extraction (criterion texts from NCI's curated set and CT.gov)."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize(
    ("text", "scale", "ecog_min", "ecog_max"),
    [
        (
            "Eastern Cooperative Oncology Group (ECOG) performance status of 0, 1, or 2",
            "ECOG",
            0,
            2,
        ),
        (
            "Eastern Cooperative Oncology Group (ECOG) performance status 0-1 at time of informed consent",
            "ECOG",
            0,
            1,
        ),
        ("ECOG PS 0 or 1.", "ECOG", 0, 1),
        ("Eastern Cooperative Oncology Group (ECOG) performance status =< 2", "ECOG", None, 2),
        (
            "Patients must have an Eastern Cooperative Oncology Group (ECOG) performance status < 2",
            "ECOG",
            None,
            1,
        ),
        (
            "Have an Eastern Cooperative Oncology group (ECOG) performance status of 2 or less at baseline/day 1 visit",
            "ECOG",
            None,
            2,
        ),
        (
            "Have a performance status of 0 or 1 on the Eastern Cooperative Oncology Group (ECOG) performance scale",
            "ECOG",
            0,
            1,
        ),
        ("Performance status ≤1 (ECOG).", "ECOG", None, 1),
        ("All patients must have a Zubrod performance status of 0, 1 or 2", "ZUBROD", 0, 2),
        (
            "World Health Organization (WHO)/Eastern Cooperative Oncology Group (ECOG) PS of 0, 1, or 2",
            "WHO",
            0,
            2,
        ),
        # Karnofsky: a required bound maps to every ECOG grade it may correspond to
        ("Karnofsky performance status (KPS) >= 70%", "KPS", None, 2),
        ("Karnofsky performance status (KPS) of >= 80%", "KPS", None, 1),
        ("Karnofsky/Lansky score ≥ 50%", "KPS", None, 3),
        ("KPS ≥ 70%", "KPS", None, 2),
        ("Karnofsky performance status 60-100%", "KPS", None, 2),
    ],
)
def test_inclusion_bounds(
    parse_criterion: Callable[..., list[Any]],
    text: str,
    scale: str,
    ecog_min: int | None,
    ecog_max: int | None,
) -> None:
    facts = parse_criterion(text, category="performance_status")
    assert len(facts) == 1
    f = facts[0]
    assert (f.scale, f.ecog_min, f.ecog_max) == (scale, ecog_min, ecog_max)
    assert not f.negated


def test_exclusion_three_or_four(parse_criterion: Callable[..., list[Any]]) -> None:
    (f,) = parse_criterion(
        "Eastern Cooperative Oncology Group (ECOG) performance status (PS) of 3 or 4",
        "exclusion",
        "performance_status",
    )
    assert (f.ecog_min, f.ecog_max, f.negated) == (3, 4, False)


def test_exclusion_karnofsky_below_70_uses_certain_grades(
    parse_criterion: Callable[..., list[Any]],
) -> None:
    # forbidding KPS ≤ 60 only forbids the ECOG grades that are surely ≤ 60: 3 and worse
    (f,) = parse_criterion("Karnofsky performance status < 70", "exclusion", "performance_status")
    assert (f.scale, f.value_max, f.ecog_min) == ("KPS", 60.0, 3)


def test_alternative_scales_are_separate_facts(parse_criterion: Callable[..., list[Any]]) -> None:
    facts = parse_criterion(
        "Eastern Cooperative Oncology Group (ECOG) performance status =< 2 or Karnofsky >= 60% in patients > 16 years of age",
        category="performance_status",
    )
    assert [(f.scale, f.ecog_max) for f in facts] == [("ECOG", 2), ("KPS", 2)]


def test_permitted_grade_widens_requirement(parse_criterion: Callable[..., list[Any]]) -> None:
    facts = parse_criterion(
        "Eastern Cooperative Oncology Group (ECOG) performance status 0-2; ECOG performance status (PS) 3 "
        "will be permitted if the decreased PS is attributed to the lymphoma",
        category="performance_status",
    )
    assert max(f.ecog_max for f in facts) == 3


def test_descriptions_between_grades(parse_criterion: Callable[..., list[Any]]) -> None:
    facts = parse_criterion(
        "Eastern Cooperative Oncology Group (ECOG) performance status of 0 (fully active, able to carry on all "
        "pre-disease performance without restriction), 1 (restricted in physically strenuous activity) or 2 "
        "(ambulatory and capable of all self-care; up and about more than 50% of waking hours)",
        category="performance_status",
    )
    assert [(f.ecog_min, f.ecog_max) for f in facts] == [(0, 2)]


@pytest.mark.parametrize(
    "text",
    [
        "Life expectancy of at least 12 weeks",
        "Karnofsky performance scale (KPS for > 16 years of age) assessed within two weeks of enrollment",
    ],
)
def test_no_bound_no_fact(parse_criterion: Callable[..., list[Any]], text: str) -> None:
    assert parse_criterion(text, category="performance_status") == []
