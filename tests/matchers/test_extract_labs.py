"""Lab thresholds with unit normalization (criterion texts from the corpus / NCI set)."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize(
    ("text", "lab", "comparator", "value", "unit"),
    [
        ("Platelet count >= 100 x 10^9/L", "platelets", ">=", 100_000, "cells/µL"),
        ("Platelets ≥ 100 x 109/L", "platelets", ">=", 100_000, "cells/µL"),  # superscript lost
        ("Platelets >= 100,000/mcL", "platelets", ">=", 100_000, "cells/µL"),
        (
            "Platelets ≥ 100 K/mm^3 (transfusion to achieve this level is not permitted)",
            "platelets",
            ">=",
            100_000,
            "cells/µL",
        ),
        ("Platelets >= 100,000/ml.", "platelets", ">=", 100_000, "cells/µL"),  # the /µL typo
        ("Platelets >= 100.000/mm3", "platelets", ">=", 100_000, "cells/µL"),  # European separator
        ("Platelets 100,000/ul or more", "platelets", ">=", 100_000, "cells/µL"),
        ("Platelet count greater than 75,000/mm^3", "platelets", ">", 75_000, "cells/µL"),
        ("Platelets larger than or equal to 100,000/mm^3", "platelets", ">=", 100_000, "cells/µL"),
        ("Absolute neutrophil count (ANC) ≥1,000 cells/mm³.", "anc", ">=", 1_000, "cells/µL"),
        ("ANC ≥ 1.5 x 10^9/L", "anc", ">=", 1_500, "cells/µL"),
        ("Absolute neutrophil count ≥ 1500/µL", "anc", ">=", 1_500, "cells/µL"),
        ("WBC > 3,000/μL", "wbc", ">", 3_000, "cells/µL"),
        ("Hemoglobin ≥ 9.0g/dL.", "hemoglobin", ">=", 9.0, "g/dL"),
        ("Haemoglobin ≥ 90 g/L", "hemoglobin", ">=", 9.0, "g/dL"),
        ("Creatinine clearance ≥ 60ml/min", "creatinine_clearance", ">=", 60, "mL/min"),
        ("Total bilirubin ≤ 2.0 x ULN", "bilirubin", "<=", 2.0, "xULN"),
        ("Creatinine < 1.5 times ULN", "creatinine", "<", 1.5, "xULN"),
        ("Bilirubin ≤ 2 mg/dL", "bilirubin", "<=", 2.0, "mg/dL"),
    ],
)
def test_normalized_thresholds(
    parse_criterion: Callable[..., list[Any]],
    text: str,
    lab: str,
    comparator: str,
    value: float,
    unit: str,
) -> None:
    facts = [f for f in parse_criterion(text, category="lab") if f.lab == lab]
    assert facts, text
    f = facts[0]
    assert (f.comparator, f.unit) == (comparator, unit)
    assert f.value == pytest.approx(value)


def test_several_labs_in_one_criterion(parse_criterion: Callable[..., list[Any]]) -> None:
    facts = parse_criterion(
        "Adequate bone marrow function (hemoglobin > 10 g/dl, leukocytes ≥ 3.000/mm3, neutrophils ≥ 1.500/mm3, "
        "platelets ≥ 100.000/mm3).",
        category="lab",
    )
    assert [(f.lab, f.value) for f in facts] == [
        ("hemoglobin", 10.0),
        ("wbc", 3000.0),
        ("anc", 1500.0),
        ("platelets", 100000.0),
    ]


def test_shared_value_ast_alt(parse_criterion: Callable[..., list[Any]]) -> None:
    facts = parse_criterion("AST, ALT ≤ 3.0 x ULN", category="lab")
    assert sorted(f.lab for f in facts) == ["alt", "ast"]
    assert {f.value for f in facts} == {3.0}


def test_conditional_alternative_is_not_a_requirement(
    parse_criterion: Callable[..., list[Any]],
) -> None:
    # "(>= 50,000 for patients with ...)" is a condition, not the trial's threshold
    facts = parse_criterion(
        "Platelets >= 75,000/mcL (>= 50,000 for patients with hematologic malignancies)",
        category="lab",
    )
    assert [f.value for f in facts] == [75000.0]


def test_no_comparator_no_fact(parse_criterion: Callable[..., list[Any]]) -> None:
    assert parse_criterion("Platelet count 100,000/mm3 within 14 days", category="lab") == []
