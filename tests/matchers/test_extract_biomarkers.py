"""Biomarker extraction: statuses, variants, HER2 categories, PD-L1 scores, negation."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

NEG = ("zero", "ultralow", "low")


def summary(facts: list[Any]) -> list[tuple[Any, ...]]:
    return [(f.marker, f.status, f.variant, f.negated) for f in facts]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HER2-positive metastatic breast cancer", [("HER2", "positive", None, False)]),
        ("PIK3CA-mutated tumors", [("PIK3CA", "mutated", None, False)]),
        ("KRAS G12C mutation", [("KRAS", "mutated", "G12C", False)]),
        ("BRAF V600E mutant melanoma", [("BRAF", "mutated", "V600E", False)]),
        ("EGFR wild-type", [("EGFR", "wild_type", None, False)]),
        ("ALK-positive NSCLC", [("ALK", "positive", None, False)]),
        (
            "Known EGFR sensitizing mutation or ALK rearrangement",
            [("EGFR", "mutated", "sensitizing", False), ("ALK", "rearranged", None, False)],
        ),
        (
            "EGFR exon 19 deletion or L858R mutation",
            [("EGFR", "mutated", "exon19del", False), ("EGFR", "mutated", "L858R", False)],
        ),
        (
            "No EGFR, ALK or ROS1 driver mutations",
            [
                ("EGFR", "mutated", None, True),
                ("ALK", "mutated", None, True),
                ("ROS1", "mutated", None, True),
            ],
        ),
        (
            "without EGFR, ALK or ROS1 genomic alterations",
            [
                ("EGFR", "mutated", None, True),
                ("ALK", "mutated", None, True),
                ("ROS1", "mutated", None, True),
            ],
        ),
        ("EGFR T790M negative", [("EGFR", "mutated", "T790M", True)]),
        (
            "ER-positive and/or PR-positive, HER2-negative breast cancer",
            [
                ("ER", "positive", None, False),
                ("PR", "positive", None, False),
                ("HER2", "negative", None, False),
            ],
        ),
        ("Hormone receptor positive (ER and/or PR >= 1%)", [("HR", "positive", None, False)]),
        (
            "Histologically confirmed HR+/ HER2- breast cancer determined from the most recent tumour sample",
            [("HR", "positive", None, False), ("HER2", "negative", None, False)],
        ),
        (
            "ER+/HER2- or triple-negative breast cancer",
            [
                ("ER", "positive", None, False),
                ("HER2", "negative", None, False),
                ("ER", "negative", None, False),
                ("PR", "negative", None, False),
                ("HER2", "negative", None, False),
            ],
        ),
    ],
)
def test_status_and_variant(
    parse_criterion: Callable[..., list[Any]], text: str, expected: list[tuple[Any, ...]]
) -> None:
    assert summary(parse_criterion(text, category="biomarker")) == expected


@pytest.mark.parametrize(
    ("text", "status", "categories"),
    [
        (
            "Histologically confirmed HER2-positive (IHC 3+ or IHC 2+ with ISH positive) metastatic breast cancer",
            "positive",
            ("positive",),
        ),
        ("HER2-negative (IHC 0, 1+, 2+/ISH-) disease", "negative", NEG),
        ("HER2-low (IHC 1+ or IHC 2+/ISH-)", "low", ("low",)),
        ("HER2 IHC 3+ or ISH amplified", "positive", ("positive",)),
        ("HER2 IHC 1+ or 2+/ISH-negative", "low", ("low",)),
        ("HER2 status: positive by IHC 3+ or FISH ratio >= 2.0", "positive", ("positive",)),
    ],
)
def test_her2_categories(
    parse_criterion: Callable[..., list[Any]], text: str, status: str, categories: tuple[str, ...]
) -> None:
    facts = [f for f in parse_criterion(text, category="biomarker") if f.marker == "HER2"]
    assert [(f.status, f.her2_categories) for f in facts] == [(status, categories)]


def test_her2_positive_is_never_negative(parse_criterion: Callable[..., list[Any]]) -> None:
    for f in parse_criterion(
        "HER2-positive (IHC 3+ or IHC 2+ with ISH positive)", category="biomarker"
    ):
        assert f.status == "positive" and not f.negated and "low" not in f.her2_categories


def test_triple_negative_is_three_facts_on_one_span(
    parse_criterion: Callable[..., list[Any]],
) -> None:
    facts = parse_criterion("Triple negative breast cancer", category="biomarker")
    assert sorted(f.marker for f in facts) == ["ER", "HER2", "PR"]
    assert len({f.span for f in facts}) == 1
    assert all(f.status == "negative" for f in facts)


@pytest.mark.parametrize(
    ("text", "score", "threshold", "threshold_max"),
    [
        ("PD-L1 TPS >= 50%", "TPS", 50.0, None),
        ("PD-L1 positive (CPS >= 10)", "CPS", 10.0, None),
        ("PD-L1 expression ≥ 1%", None, 1.0, None),
        ("PD-L1 TPS < 1%", "TPS", None, 1.0),
    ],
)
def test_pdl1_scores(
    parse_criterion: Callable[..., list[Any]],
    text: str,
    score: str | None,
    threshold: float | None,
    threshold_max: float | None,
) -> None:
    facts = [f for f in parse_criterion(text, category="biomarker") if f.marker == "PD-L1"]
    assert [(f.score, f.threshold, f.threshold_max) for f in facts] == [
        (score, threshold, threshold_max)
    ]


def test_conditional_subject_is_not_a_requirement(
    parse_criterion: Callable[..., list[Any]],
) -> None:
    facts = parse_criterion("Patients with EGFR mutation must have received prior osimertinib")
    assert [f for f in facts if f.category in ("biomarker", "prior_therapy")] == []


def test_marker_without_status_is_not_read(parse_criterion: Callable[..., list[Any]]) -> None:
    assert (
        parse_criterion(
            "Complete response (CR) or partial response (PR) to induction", category="biomarker"
        )
        == []
    )
