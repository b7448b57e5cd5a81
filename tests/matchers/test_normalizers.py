"""Normalizers: units, ECOG↔KPS, comparators, stage ranges, HER2 categories.

Inputs are taken from real criterion texts of the CT.gov corpus / NCI's curated set.
"""

from __future__ import annotations

import pytest

from matchers.criteria.biomarker import her2_categories_from_text
from matchers.criteria.common import normalize_text, parse_comparator, parse_number
from matchers.criteria.labs import normalize_chemistry, normalize_count, normalize_hemoglobin
from matchers.criteria.performance_status import kps_to_ecog, ps_bounds
from matchers.rules import load_rules

BANDS = tuple(
    sorted(
        ((b.kps, b.ecog_min, b.ecog_max) for b in load_rules().performance_status.kps_to_ecog),
        reverse=True,
    )
)


@pytest.mark.parametrize(
    ("value", "unit", "lab", "raw", "expected"),
    [
        (1.5, " x 10^9/L", "anc", "1.5", 1500.0),  # "ANC ≥ 1.5 x 10^9/L"
        (1.5, " × 109/L", "anc", "1.5", 1500.0),  # superscript lost in conversion
        (1500, "/mm3", "anc", "1,500", 1500.0),  # "1,500/mm3"
        (1500, "/µL", "anc", "1500", 1500.0),
        (100, " K/mm^3", "platelets", "100", 100000.0),  # "Platelets ≥ 100 K/mm^3"
        (10, " x 10^4/µL", "platelets", "10", 100000.0),  # "10 x 10^4/µL"
        (100000, "/mcL", "platelets", "100,000", 100000.0),
        (100, " x 10^9/L", "platelets", "100", 100000.0),
        (100.0, "/mm3", "platelets", "100.000", 100000.0),  # European separator
        (100000, "/ml", "platelets", "100,000", 100000.0),  # the /mL typo for /µL
        (100, "", "platelets", "100", 100000.0),  # no unit: thousands
        (3.0, "", "wbc", "3.0", 3000.0),
        (100000, " x 10^9/L", "platelets", "100,000", 100000.0),  # contradictory unit
    ],
)
def test_counts(value: float, unit: str, lab: str, raw: str, expected: float) -> None:
    assert normalize_count(value, unit, lab, raw) == pytest.approx(expected)


def test_implausible_count_is_dropped() -> None:
    assert normalize_count(5, "/mm3", "platelets", "5") is None


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (9, " g/dL", 9.0),
        (90, " g/L", 9.0),
        (6.2, " mmol/L", 9.99),
        (10, " gm/dl", 10.0),
        (9, "", 9.0),
    ],
)
def test_hemoglobin(value: float, unit: str, expected: float) -> None:
    assert normalize_hemoglobin(value, unit) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("value", "unit", "lab", "expected"),
    [
        (1.5, " × ULN", "creatinine", (1.5, "xULN")),
        (2.5, " times the upper limit of normal", "ast", (2.5, "xULN")),
        (1.5, " x institutional ULN", "bilirubin", (1.5, "xULN")),
        (2, " mg/dL", "bilirubin", (2.0, "mg/dL")),
        (133, " µmol/L", "creatinine", (1.5, "mg/dL")),
        (34, " umol/L", "bilirubin", (1.99, "mg/dL")),
        (40, " U/L", "ast", None),
    ],
)
def test_chemistry(value: float, unit: str, lab: str, expected: tuple[float, str] | None) -> None:
    got = normalize_chemistry(value, unit, lab)
    if expected is None:
        assert got is None
    else:
        assert (
            got is not None
            and got[1] == expected[1]
            and got[0] == pytest.approx(expected[0], abs=0.01)
        )


@pytest.mark.parametrize(
    ("kps_min", "kps_max", "required", "expected"),
    [
        (70, None, True, (None, 2)),  # "KPS ≥ 70" admits ECOG ≤ 2 (NCI: "Performance Status =< 2")
        (80, None, True, (None, 1)),
        (60, None, True, (None, 2)),
        (50, None, True, (None, 3)),  # "Karnofsky/Lansky score ≥ 50%" -> =< 3
        (90, None, True, (None, 1)),
        (100, None, True, (None, 0)),
        (None, 60, False, (3, None)),  # exclusion "KPS < 70" forbids only ECOG ≥ 3
        (None, 60, True, (2, None)),
        (70, 100, True, (None, 2)),  # "Karnofsky performance status of 70-100"
    ],
)
def test_kps_to_ecog(
    kps_min: float | None,
    kps_max: float | None,
    required: bool,
    expected: tuple[int | None, int | None],
) -> None:
    assert kps_to_ecog(kps_min, kps_max, BANDS, required=required) == expected


@pytest.mark.parametrize(
    ("cmp", "value", "step", "expected"),
    [
        ("<", 2, 1, (None, 1)),
        ("<=", 2, 1, (None, 2)),
        (">", 1, 1, (2, None)),
        (">", 70, 10, (80, None)),
        (">=", 75, 10, (80, None)),
    ],
)
def test_ps_bounds(
    cmp: str, value: float, step: int, expected: tuple[float | None, float | None]
) -> None:
    assert ps_bounds(cmp, value, step=step) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("≥", ">="),
        (">=", ">="),
        ("=>", ">="),
        ("> or =", ">="),
        ("greater than or equal to", ">="),
        ("at least", ">="),
        ("no less than", ">="),
        (">", ">"),
        ("greater than", ">"),
        ("over", ">"),
        ("≤", "<="),
        ("=<", "<="),
        ("no more than", "<="),
        ("not to exceed", "<="),
        ("up to", "<="),
        ("<", "<"),
        ("less than", "<"),
        ("below", "<"),
        ("of", "="),
    ],
)
def test_comparators(text: str, expected: str) -> None:
    assert parse_comparator(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,500", 1500.0), ("1,5", 1.5), ("100 000", 100000.0), ("1.5", 1.5), (".5", 0.5)],
)
def test_numbers(text: str, expected: float) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("IHC 3+ or IHC 2+ with ISH positive", ("positive",)),  # HER2-positive definition
        ("IHC 0, 1+, 2+/ISH-", ("zero", "low")),
        ("IHC 1+ or IHC 2+/ISH-", ("low",)),
        ("IHC 2+/ISH+", ("positive",)),
        ("IHC 2+ and ISH-negative", ("low",)),
        ("ISH amplified", ("positive",)),
    ],
)
def test_her2_categories(detail: str, expected: tuple[str, ...]) -> None:
    assert her2_categories_from_text(detail) == expected


def test_normalize_text_keeps_length() -> None:
    raw = "ANC \\> 1500/µL – platelets ≧ 100\u00a0000 and μL’s"
    norm = normalize_text(raw)
    assert len(norm) == len(raw)
    assert "\\" not in norm and "–" not in norm and "≧" not in norm and "μ" not in norm
