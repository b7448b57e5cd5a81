"""Prior therapy: classes, drugs, lines, relation, setting, and what is not prior therapy."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from matchers.criteria.prior_therapy import parse_lines


def got(facts: list[Any]) -> list[tuple[Any, ...]]:
    return [(f.classes, f.drugs, f.relation, f.negated, f.min_lines, f.max_lines) for f in facts]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "At least one prior line of platinum-based chemotherapy for metastatic disease",
            [(("platinum",), (), "received", False, 1, None)],
        ),
        (
            "Patients must have demonstrated progression on or intolerance to platinum-based chemotherapy",
            [(("platinum",), (), "progressed", False, None, None)],
        ),
        (
            "No prior treatment with crizotinib or another ALK inhibitor",
            [
                ((), ("crizotinib",), "received", True, None, None),
                (("alk_tki",), (), "received", True, None, None),
            ],
        ),
        (
            "No prior chemotherapy for NSCLC",
            [(("chemotherapy",), (), "received", True, None, None)],
        ),
        (
            "Previously treated with 3 or more systemic regimens given for recurrent and/or metastatic disease",
            [(("systemic",), (), "received", False, 3, None)],
        ),
        (
            "Refractory to or intolerant of existing therapy(ies) known to provide clinical benefit.",
            [(("systemic",), (), "progressed", False, None, None)],
        ),
        ("Prior therapy with docetaxel", [((), ("docetaxel",), "received", False, None, None)]),
        (
            "Patients must have received no more than two prior chemotherapy regimens",
            [(("chemotherapy",), (), "received", False, None, 2)],
        ),
        (
            "Previously untreated, locally advanced TNBC.",
            [(("systemic",), (), "naive", False, None, None)],
        ),
    ],
)
def test_prior_therapy(
    parse_criterion: Callable[..., list[Any]], text: str, expected: list[tuple[Any, ...]]
) -> None:
    assert got(parse_criterion(text, category="prior_therapy")) == expected


def test_setting(parse_criterion: Callable[..., list[Any]]) -> None:
    (f,) = parse_criterion(
        "At least one prior line of platinum-based chemotherapy for metastatic disease",
        category="prior_therapy",
    )
    assert f.setting == "metastatic"
    # the setting is the therapy's, not a stage requirement on the patient
    assert (
        parse_criterion(
            "No prior chemotherapy for recurrent or metastatic disease", category="stage"
        )
        == []
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "Male participants should agree to use contraception through 120 days after the last dose of pembrolizumab",
            "inclusion",
        ),
        (
            "Patients must have recovered from the acute toxic effects of all prior chemotherapy",
            "inclusion",
        ),
        ("Chemotherapy within 4 weeks prior to registration", "exclusion"),
        (
            "Major surgical procedure within 4 weeks prior to initiation of study treatment",
            "exclusion",
        ),
        ("Prior cumulative exposure to doxorubicin > 350mg/m^2", "exclusion"),
        ("Patients with a history of radiotherapy to the lumbar spine", "exclusion"),
        ("Used benzodiazepines in the 48 hours prior to Cycle 2 chemotherapy", "exclusion"),
        ("HCV Treatment naive or treatment-experienced", "inclusion"),
        ("Concurrent chemotherapy", "exclusion"),
        ("Able to receive cisplatin", "inclusion"),
    ],
)
def test_not_prior_therapy(parse_criterion: Callable[..., list[Any]], text: str, kind: str) -> None:
    assert parse_criterion(text, kind, "prior_therapy") == []


def test_cytotoxic_t_lymphocyte_is_not_chemotherapy(
    parse_criterion: Callable[..., list[Any]],
) -> None:
    facts = parse_criterion(
        "Prior treatment with anti-PD-1, PD-L1 (including durvalumab), or cytotoxic T-lymphocyte-associated antigen-4 (CTLA-4)",
        "exclusion",
        "prior_therapy",
    )
    assert all("chemotherapy" not in f.classes for f in facts)
    assert ("pd1",) in [f.classes for f in facts]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at least one prior line of therapy", (1, None)),
        ("≤ 2 prior lines", (None, 2)),
        ("1-2 lines of chemotherapy", (1, 2)),
        ("no more than two prior chemotherapy regimens", (None, 2)),
        ("more than 1 prior regimen", (2, None)),
        ("3 or more systemic regimens", (3, None)),
        ("no line count here", (None, None)),
    ],
)
def test_parse_lines(text: str, expected: tuple[int | None, int | None]) -> None:
    lo, hi, _span = parse_lines(text)
    assert (lo, hi) == expected
