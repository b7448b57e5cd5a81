"""AJCC stage grammar (ontologies.stage)."""

from __future__ import annotations

import pytest

from ontologies.stage import (
    STAGE_ORDER,
    normalize_stage,
    parse_stage,
    stage_group,
    stage_in,
    substages,
)

III = {"III", "IIIA", "IIIA1", "IIIA2", "IIIB", "IIIC", "IIIC1", "IIIC2", "IIID"}
IV = {"IV", "IVA", "IVB", "IVC"}
IIIB_TO_IV = {"IIIB", "IIIC", "IIIC1", "IIIC2", "IIID"} | IV
II = {"II", "IIA", "IIA1", "IIA2", "IIB", "IIC"}

PARSE_CASES = [
    # real criterion phrases (shared CT.gov corpus and gold-patient deciding criteria)
    (
        "locally advanced or recurrent (stage IIIB) or metastatic (Stage IV) non-small cell "
        "lung Cancer or malignant pleural mesothelioma",
        {"IIIB"} | IV,
    ),
    ("Stage IIIB-IV", IIIB_TO_IV),
    ("stage III or IV", III | IV),
    (
        "Participants must not have received prior EGFR TKIs or other systemic therapy for "
        "Stage IIIB, IIIC or IV NSCLC.",
        {"IIIB", "IIIC", "IIIC1", "IIIC2"} | IV,
    ),
    ("The solid tumors must be in Stage IV at screening.", IV),
    ("Histologically confirmed metastatic breast adenocarcinoma (stage IV)", IV),
    ("AJCC 8th edition stage IB", {"IB", "IB1", "IB2", "IB3"}),
    # grammar
    ("IIIB–IV", IIIB_TO_IV),  # en dash
    ("IIIB—IV", IIIB_TO_IV),  # em dash
    ("IIIB-IV", IIIB_TO_IV),
    ("IIIB/IV", {"IIIB"} | IV),
    ("III/IV", III | IV),
    ("stages II-III", II | III),
    ("stages IIIB to IV", IIIB_TO_IV),
    ("IV", IV),
    ("≥ IIIB", IIIB_TO_IV),
    ("stage ≥IIIB", IIIB_TO_IV),
    ("stage IIIB or higher", IIIB_TO_IV),
    ("stage > IIIA", IIIB_TO_IV),
    ("IIB–IIIA", {"IIB", "IIC", "IIIA", "IIIA1", "IIIA2"}),
    ("stage 4", IV),
    ("3B", {"IIIB"}),
    ("stage 3b", {"IIIB"}),
    ("Stage Ⅳ", IV),  # Unicode roman numeral
    ("stage 0", {"0", "0a", "0is"}),
    ("FIGO stage IIIC1", {"IIIC1"}),
    ("Stage I, II, or III", {s for s in STAGE_ORDER if s[:1] == "I" and not s.startswith("IV")}),
    (
        "up to stage II",
        {s for s in STAGE_ORDER if STAGE_ORDER.index(s) <= STAGE_ORDER.index("IIC")},
    ),
    # not stages
    ("phase I/II study", set()),
    ("IV chemotherapy within 4 weeks", set()),
    ("grade II neuropathy", set()),
    ("NYHA class III or IV heart failure", set()),
    ("no stage given", set()),
    ("", set()),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_stage(text: str, expected: set[str]) -> None:
    assert parse_stage(text) == expected


def test_architecture_example_is_covered() -> None:
    # ARCHITECTURE.md: "IIIB-IV" -> {IIIB, IIIC, IV, IVA, IVB, IVC}; AJCC 8th also has
    # IIIC1/IIIC2 (corpus uteri) and IIID (melanoma) in that range
    assert {"IIIB", "IIIC", "IV", "IVA", "IVB", "IVC"} <= parse_stage("IIIB-IV")
    assert "IIIA" not in parse_stage("IIIB-IV")
    assert "III" not in parse_stage("IIIB-IV")


def test_bare_group_is_only_listed_when_complete() -> None:
    assert "III" not in parse_stage("IIB-IIIA")
    assert "III" in parse_stage("stage III")
    assert "II" in parse_stage("stage II")


@pytest.mark.parametrize(
    ("stage", "group"),
    [("IIIB", "III"), ("IA2", "I"), ("0is", "0"), ("IV", "IV"), ("stage 3b", "III"), ("IVc", "IV")],
)
def test_stage_group(stage: str, group: str) -> None:
    assert stage_group(stage) == group


@pytest.mark.parametrize("bad", ["V", "IIIE", "stage", "metastatic", ""])
def test_stage_group_rejects_non_stages(bad: str) -> None:
    with pytest.raises(ValueError, match="not an AJCC stage"):
        stage_group(bad)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("IIIb", "IIIB"),
        ("Stage IV", "IV"),
        ("stage 2A", "IIA"),
        ("0IS", "0is"),
        ("IIIE", None),
        ("IIIB-IV", None),
    ],
)
def test_normalize_stage(text: str, canonical: str | None) -> None:
    assert normalize_stage(text) == canonical


def test_stage_order_is_ordered_and_grouped() -> None:
    assert STAGE_ORDER[0] == "0" and STAGE_ORDER[-1] == "IVC"
    groups = [stage_group(s) for s in STAGE_ORDER]
    assert groups == sorted(groups, key=["0", "I", "II", "III", "IV"].index)
    assert substages("III") == frozenset(III)
    assert substages("IIIC") == {"IIIC", "IIIC1", "IIIC2"}


@pytest.mark.parametrize(
    ("patient", "allowed", "expected"),
    [
        ("IIIB", "Stage IIIB-IV", True),
        ("IVB", "Stage IIIB-IV", True),
        ("IV", "Stage IIIB-IV", True),
        ("IB", "Stage IIIB-IV", False),
        ("IIIA", "Stage IIIB-IV", False),
        ("III", "Stage IIIB-IV", None),  # unknown sub-stage: may or may not be IIIB+
        ("stage 4", "stage III or IV", True),
        ("IIIC3", "stage IIIC", True),  # unlisted sub-stage read as its parent
        ("metastatic", "stage IV", None),
    ],
)
def test_stage_in(patient: str, allowed: str, expected: bool | None) -> None:
    assert stage_in(patient, parse_stage(allowed)) is expected


def test_stage_in_expands_bare_groups_and_handles_empty() -> None:
    assert stage_in("IIIB", {"III"}) is True
    assert stage_in("IIIB", set()) is False
