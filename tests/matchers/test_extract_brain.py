"""Brain/CNS metastases and measurable disease."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from matchers.models import CriterionKind, requires_presence


def one(parse_criterion: Callable[..., list[Any]], text: str, kind: str) -> Any:
    facts = parse_criterion(text, kind, "brain_metastases")
    assert len(facts) == 1, facts
    return facts[0]


@pytest.mark.parametrize(
    ("text", "kind", "qualifier", "treated_allowed", "lepto"),
    [
        (
            "Known active CNS metastases and/or carcinomatous meningitis",
            "exclusion",
            "active",
            None,
            True,
        ),
        ("Known brain metastases", "exclusion", "any", None, False),
        ("Untreated brain metastases", "exclusion", "active", None, False),
        (
            "Known brain/leptomengial involvement of the disease, active neurological disease, dementia",
            "exclusion",
            "any",
            None,
            True,
        ),
        ("Known brain metatstases", "exclusion", "any", None, False),
        (
            "Patients with spinal cord compression, symptomatic and unstable brain metastases except for those "
            "patients who have completed definitive therapy, and have had a stable neurological status for at least 2 weeks",
            "exclusion",
            "active",
            True,
            False,
        ),
        (
            "Brain metastases, unless treated and stable for at least 4 weeks",
            "exclusion",
            "any",
            True,
            False,
        ),
        ("Patients with known or treated brain metastases.", "exclusion", "any", False, False),
        ("Active or previous brain metastasis", "exclusion", "any", False, False),
    ],
)
def test_exclusions(
    parse_criterion: Callable[..., list[Any]],
    text: str,
    kind: str,
    qualifier: str,
    treated_allowed: bool | None,
    lepto: bool,
) -> None:
    f = one(parse_criterion, text, kind)
    assert (f.qualifier, f.treated_allowed, f.leptomeningeal) == (qualifier, treated_allowed, lepto)
    assert requires_presence(CriterionKind(kind), f) is False


@pytest.mark.parametrize(
    "text",
    [
        "Patients with treated brain metastases are eligible if stable for 4 weeks",
        "Participants with spinal cord compression or brain metastases must have received local treatment to "
        "these metastases and remained clinically controlled and asymptomatic for at least 7 days",
    ],
)
def test_permission_or_condition_forbids_active_only(
    parse_criterion: Callable[..., list[Any]], text: str
) -> None:
    f = one(parse_criterion, text, "inclusion")
    assert (f.qualifier, f.treated_allowed) == ("active", True)
    assert requires_presence(CriterionKind.INCLUSION, f) is False


def test_no_brain_metastases_in_inclusion(parse_criterion: Callable[..., list[Any]]) -> None:
    f = one(parse_criterion, "No known brain metastases", "inclusion")
    assert f.negated and requires_presence(CriterionKind.INCLUSION, f) is False


def test_primary_cns_tumour_is_not_metastasis(parse_criterion: Callable[..., list[Any]]) -> None:
    assert (
        parse_criterion(
            "Primary tumors of the central nervous system.", "exclusion", "brain_metastases"
        )
        == []
    )


@pytest.mark.parametrize(
    ("text", "criteria", "evaluable_ok"),
    [
        ("Measurable disease per RECIST 1.1", "RECIST 1.1", False),
        ("Measurable (RECIST 1.1) indicator lesion not previously irradiated", "RECIST 1.1", False),
        ("Patients must have measurable or evaluable disease", None, True),
        ("At least one measurable lesion according to RECIST v1.1", "RECIST v1.1", False),
    ],
)
def test_measurable(
    parse_criterion: Callable[..., list[Any]], text: str, criteria: str | None, evaluable_ok: bool
) -> None:
    facts = parse_criterion(text, category="measurable_disease")
    assert [(f.criteria, f.evaluable_ok, f.negated) for f in facts] == [
        (criteria, evaluable_ok, False)
    ]


def test_measurable_not_required(parse_criterion: Callable[..., list[Any]]) -> None:
    assert (
        parse_criterion("Measurable disease is not required", category="measurable_disease") == []
    )
