"""Sectioning of eligibility texts into criteria (formats seen in the CT.gov corpus)."""

# ruff: noqa: E501  (criterion texts are quoted whole from the corpus)

from __future__ import annotations

import pytest

from matchers.models import CriterionKind
from matchers.sections import split_criteria

INC, EXC = CriterionKind.INCLUSION, CriterionKind.EXCLUSION


def crits(text: str) -> list[tuple[str, str, str | None]]:
    segs = split_criteria(text)
    for s in segs:
        piece = text[s.start : s.end]
        assert piece == piece.strip() and piece
    return [(s.kind.value, text[s.start : s.end], s.heading) for s in segs]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CT.gov v2 Markdown bullets
        (
            "Inclusion Criteria:\n\n* ECOG PS 0 or 1.\n* Measurable disease as per RECIST 1.1.\n\n"
            "Exclusion Criteria:\n\n* Known pregnancy\n* Prisoner",
            [
                ("inclusion", "ECOG PS 0 or 1.", None),
                ("inclusion", "Measurable disease as per RECIST 1.1.", None),
                ("exclusion", "Known pregnancy", None),
                ("exclusion", "Prisoner", None),
            ],
        ),
        # HINT/legacy: "-" bullets, wrapped lines indented to the body column
        (
            "Inclusion Criteria:\n\n  -  Pathologic evidence of advanced (non-operable or metastatic) "
            "biopsy-proven stage IV or\n     recurrent lung cancer reviewed at MSKCC.\n\n  -  KPS ≥ 70%\n\n"
            "Exclusion Criteria:\n\n  -  Concurrent therapy with a potent CYP3A4 inducer or inhibitor.",
            [
                (
                    "inclusion",
                    "Pathologic evidence of advanced (non-operable or metastatic) biopsy-proven stage "
                    "IV or\n     recurrent lung cancer reviewed at MSKCC.",
                    None,
                ),
                ("inclusion", "KPS ≥ 70%", None),
                (
                    "exclusion",
                    "Concurrent therapy with a potent CYP3A4 inducer or inhibitor.",
                    None,
                ),
            ],
        ),
        # "Key Inclusion Criteria" without colon, numbered items
        (
            "Key Inclusion Criteria\n\n1. Age ≥ 18 years\n2. ECOG 0-1\n\nKey Exclusion Criteria\n\n"
            "1. Active CNS metastases",
            [
                ("inclusion", "Age ≥ 18 years", None),
                ("inclusion", "ECOG 0-1", None),
                ("exclusion", "Active CNS metastases", None),
            ],
        ),
        # NCT00250679: "Key Inclusion Criteria:" must not leave a "Key" criterion behind
        (
            "Key Inclusion Criteria:\n\n  -  Male and female subjects must be at least 35 years old\n\n"
            "Key Exclusion Criteria:\n\n  -  HIV",
            [
                ("inclusion", "Male and female subjects must be at least 35 years old", None),
                ("exclusion", "HIV", None),
            ],
        ),
        # upper-case headings, "1)" numbering
        (
            "INCLUSION CRITERIA\n1) Histologically confirmed NSCLC\n2) ECOG 0-2\nEXCLUSION CRITERIA\n"
            "1) Pregnancy",
            [
                ("inclusion", "Histologically confirmed NSCLC", None),
                ("inclusion", "ECOG 0-2", None),
                ("exclusion", "Pregnancy", None),
            ],
        ),
        # no headings at all: everything is inclusion, one criterion per line
        (
            "Age 18 or older\nDiagnosis of type 2 diabetes",
            [
                ("inclusion", "Age 18 or older", None),
                ("inclusion", "Diagnosis of type 2 diabetes", None),
            ],
        ),
        # heading with text on the same line and "-" separator
        (
            "Inclusion Criteria: Age ≥ 18 years\nExclusion criteria - Pregnant women",
            [("inclusion", "Age ≥ 18 years", None), ("exclusion", "Pregnant women", None)],
        ),
        # bullet "•"
        (
            "Inclusion Criteria:\n• Adults\n• Written consent\nExclusion Criteria:\n• HIV",
            [
                ("inclusion", "Adults", None),
                ("inclusion", "Written consent", None),
                ("exclusion", "HIV", None),
            ],
        ),
    ],
)
def test_bullet_and_heading_formats(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert crits(text) == expected


def test_old_ctgov_format_with_run_together_subheadings() -> None:
    # NCT00003005 (legacy PDQ layout, line breaks lost inside sections)
    text = (
        "DISEASE CHARACTERISTICS: TdT positive acute lymphocytic leukemia\n\n"
        "PATIENT CHARACTERISTICS: Age: 18 and over Performance status: Karnofsky greater than 70%\n"
        "Life expectancy: At least 3 months Other: Not pregnant or nursing No serious concurrent illness\n\n"
        "PRIOR CONCURRENT THERAPY: Chemotherapy: At least 3 weeks since chemotherapy"
    )
    got = crits(text)
    assert (
        "inclusion",
        "TdT positive acute lymphocytic leukemia",
        "DISEASE CHARACTERISTICS",
    ) in got
    assert ("inclusion", "18 and over", "Age") in got
    assert ("inclusion", "Karnofsky greater than 70%", "Performance status") in got
    assert ("inclusion", "Not pregnant or nursing", "Other") in got
    assert ("inclusion", "No serious concurrent illness", "Other") in got
    assert ("inclusion", "At least 3 weeks since chemotherapy", "Chemotherapy") in got
    assert all(k == "inclusion" for k, _, _ in got)


def test_nested_bullets_get_their_lead_in_as_heading() -> None:
    # NCT00878657-style nesting under a lead-in ending with ":"
    text = (
        "Inclusion Criteria:\n\n  -  Patients must have adequate organ function:\n\n"
        "       -  Total bilirubin ≤ 2.0 x ULN\n\n       -  Platelet count ≥ 100,000/mm³\n"
    )
    got = crits(text)
    assert got[0] == ("inclusion", "Patients must have adequate organ function:", None)
    assert got[1] == (
        "inclusion",
        "Total bilirubin ≤ 2.0 x ULN",
        "Patients must have adequate organ function:",
    )
    assert got[2][1] == "Platelet count ≥ 100,000/mm³"


def test_one_of_the_following_is_kept_as_one_group() -> None:
    # NCT00303888: alternatives must not become a conjunction of criteria
    text = (
        "DISEASE CHARACTERISTICS:\n\n  -  Histologically confirmed diagnosis of 1 of the following:\n\n"
        "       -  Ovarian epithelial cancer\n\n       -  Fallopian tube cancer\n\n"
        "       -  Primary peritoneal cavity cancer\n\n  -  Recurrent advanced disease\n"
    )
    segs = split_criteria(text)
    assert segs[0].group is True
    assert text[segs[0].start : segs[0].end].endswith("Primary peritoneal cavity cancer")
    assert text[segs[1].start : segs[1].end] == "Recurrent advanced disease"


def test_negative_lead_in_makes_its_items_exclusions() -> None:
    text = (
        "Inclusion Criteria:\n  -  Age ≥ 18\n  -  No severe, active comorbidity, including any of the following:\n"
        "       -  Unstable angina\n       -  Myocardial infarction within the past 6 months\n"
    )
    got = crits(text)
    assert ("exclusion", "Unstable angina", got[2][2]) in got
    assert got[2][0] == "exclusion" and got[3][0] == "exclusion"


def test_item_number_running_into_previous_item() -> None:
    text = "Inclusion Criteria:\n1. Prior treatment with one regimen 2 Adequate bone marrow function 3 ECOG 0-1"
    assert [t for _, t, _ in crits(text)] == [
        "Prior treatment with one regimen",
        "Adequate bone marrow function",
        "ECOG 0-1",
    ]


def test_inline_exclusion_heading_mid_line() -> None:
    # TrialGPT-converted record: halves re-joined with "Exclusion Criteria"
    text = "Inclusion criteria: - Male or female, age at least 18 years. - HbA1c 7.0 - 10.0 percent Exclusion Criteria: - Female who is pregnant"
    got = crits(text)
    assert got[0] == ("inclusion", "Male or female, age at least 18 years.", None)
    assert got[-1] == ("exclusion", "Female who is pregnant", None)


def test_subheading_recorded() -> None:
    text = "Inclusion Criteria:\nPhase Ib:\n* ECOG 0-1\nCohort 2:\n* Prior platinum\n"
    got = crits(text)
    assert got == [
        ("inclusion", "ECOG 0-1", "Phase Ib"),
        ("inclusion", "Prior platinum", "Cohort 2"),
    ]


def test_patients_must_not_have_heading() -> None:
    text = "Inclusion Criteria:\n* Age ≥ 18\nPatients must not have:\n* HIV infection\n"
    got = crits(text)
    assert got[-1][0] == "exclusion" and got[-1][1] == "HIV infection"


def test_empty_and_blank_text() -> None:
    assert split_criteria("") == []
    assert split_criteria("   \n\n ") == []


# NCT03983954: a roman-numeral item at the letter item's column belongs to the letter item,
# and an unmarked paragraph at a marker's column continues that item.
COHORTS = (
    "Inclusion Criteria:\n\n"
    "1. Previous therapy:\n\n"
    "   b. Esophageal Cohort Expansion: i. Group 1 - no prior CPI: Subjects with only ESCC who may have received up to 1 prior chemotherapy as a line for metastatic disease.\n\n"
    "   If subjects received prior chemotherapy for metastatic disease, they should have documented radiographic or clinical progression.\n\n"
    "   ii. Group 2 - prior CPI: Subjects with either ESCC or AC of the esophagus or GEJ (Siewert type 1) who must not have had more than 2 prior lines of therapy.\n\n"
    "   Subjects with AC that is HER 2/neu negative.\n"
)


def test_enclosing_items_are_kept_as_context() -> None:
    segs = {COHORTS[s.start : s.end][:20]: s for s in split_criteria(COHORTS)}
    assert segs["Previous therapy:"].context == ()
    for head in ("Group 2 - prior CPI:", "If subjects received"):
        assert segs[head].context[-1].startswith("Esophageal Cohort Expansion:"), head
    assert segs["Subjects with AC tha"].context[-1].startswith("Group 2 - prior CPI:")
