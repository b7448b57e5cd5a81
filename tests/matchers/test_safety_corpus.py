"""Safety rules of the product, checked over the real corpus, not over fixtures.

Every study of the shared corpus whose criteria text mentions HER2 or mesothelioma
histology is parsed with the real parser, indexed and ranked for two patients, exactly as
``POST /v1/match`` does (``matchers.rank.match_patient``). An independent oracle, plain
regular expressions over the trial's *inclusion* / *exclusion* sections, picks out:

* trials whose inclusion criteria require HER2-positive disease and never admit
  HER2-negative/low disease: none may be ``eligible`` for a HER2-low (IHC 2+/ISH−)
  patient (ASCO/CAP 2023: HER2-low is HER2-negative);
* trials whose inclusion criteria require sarcomatoid / non-epithelioid / biphasic
  histology without admitting epithelioid, or whose exclusion criteria exclude
  epithelioid histology: none may be ``eligible`` for an epithelioid patient.

The oracle is deliberately simpler than the parser (it shares none of its code), so the
test fails if parsing or evaluation lets such a trial through as ``eligible``.
"""

from __future__ import annotations

import gzip
import re
from datetime import date
from typing import Any

import orjson
import pytest

from matchers.index import TrialIndex, index_trial
from matchers.models import Verdict
from matchers.patient import PatientProfile, PriorTherapy
from matchers.rank import match_patient
from tests.conftest import CORPUS
from trial_cache.models import StudyRecord, validate_record

TODAY = date(2026, 11, 22)
MENTIONS = re.compile(rb"her-?2|erbb2|mesothelioma|sarcomatoid|epithelioid", re.IGNORECASE)
EXCLUSION_HEADING = re.compile(r"^\W*(key\s+)?exclusion criteria", re.IGNORECASE | re.MULTILINE)

HER2_POSITIVE = re.compile(
    r"her-?2\)?\s*(\(?erbb2\)?\s*)?[- ]?(positive|\+(?![/\w])|overexpress|amplified)"
    r"|her-?2\s+(gene\s+)?amplification",
    re.IGNORECASE,
)
HER2_NEGATIVE_ADMITTED = re.compile(
    r"her-?2\s*[- ]?(negative|low|ultra-?low|-(?!\w)|0\b|neg\b)|ihc\s*(0|1\+)|ish\s*-|"
    r"non-?amplified|not amplified|regardless of her-?2|any her-?2|"
    r"no evidence of\s+her-?2[- ]overexpress",  # NCT01131364 admits non-overexpressing
    re.IGNORECASE,
)
NON_EPITHELIOID = re.compile(r"\b(sarcomatoid|non-?epithelioid|biphasic)\b", re.IGNORECASE)
EPITHELIOID_ADMITTED = re.compile(r"(?<!non-)(?<!non )\bepithelioid\b", re.IGNORECASE)


def _sections(text: str) -> tuple[str, str]:
    """(inclusion, exclusion) halves split at the first exclusion heading."""
    m = EXCLUSION_HEADING.search(text)
    return (text, "") if m is None else (text[: m.start()], text[m.start() :])


def _her2_positive_only(inclusion: str) -> bool:
    return bool(HER2_POSITIVE.search(inclusion)) and not HER2_NEGATIVE_ADMITTED.search(inclusion)


def _non_epithelioid_only(inclusion: str, exclusion: str) -> bool:
    requires = bool(NON_EPITHELIOID.search(inclusion)) and not EPITHELIOID_ADMITTED.search(
        NON_EPITHELIOID.sub(" ", inclusion)
    )
    excludes = bool(EPITHELIOID_ADMITTED.search(exclusion)) and "mesothelioma" in exclusion.lower()
    return requires or excludes


@pytest.fixture(scope="module")
def records() -> list[StudyRecord]:
    out: list[StudyRecord] = []
    with gzip.open(CORPUS, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not MENTIONS.search(line):
                continue
            rec = validate_record(orjson.loads(line), location=f"studies.jsonl.gz:{n}")
            if isinstance(rec, StudyRecord) and rec.summary.eligibility_text:
                out.append(rec)
    assert len(out) > 150, "the corpus filter found too few HER2/mesothelioma studies"
    return out


@pytest.fixture(scope="module")
def index(records: list[StudyRecord], parser: Any, ontology: Any) -> TrialIndex:
    summaries = [r.summary for r in records]
    parsed = parser.parse_many(summaries)
    return TrialIndex(
        [index_trial(s, p, ontology) for s, p in zip(summaries, parsed, strict=True)], ontology
    )


def _eligible(index: TrialIndex, profile: PatientProfile, ontology: Any) -> set[str]:
    results = match_patient(index, profile, ontology, TODAY, limit=None, include_closed=True)
    return {r.nct_id for r in results.results if r.verdict is Verdict.ELIGIBLE}


def test_her2_positive_only_trials_are_never_eligible_for_her2_low(
    records: list[StudyRecord], index: TrialIndex, ontology: Any
) -> None:
    patient = PatientProfile(
        cancer_type="breast cancer",
        histology="invasive ductal carcinoma",
        stage="IV",
        biomarkers={"HER2_IHC": "2+", "HER2_ISH": "negative", "ER": "positive"},
        age=55,
        sex="female",
        ecog=1,
        prior_therapies=[
            PriorTherapy(
                name="letrozole + palbociclib",
                therapy_class="CDK4/6 inhibitor",
                line=1,
                setting="metastatic",
            ),
        ],
        brain_metastases="none",
        measurable_disease=True,
    )
    positive_only = {
        r.summary.nct_id
        for r in records
        if _her2_positive_only(_sections(r.summary.eligibility_text)[0])
    }
    assert len(positive_only) >= 10, "the oracle should find HER2-positive-only trials"
    wrongly_eligible = positive_only & _eligible(index, patient, ontology)
    assert not wrongly_eligible


def test_non_epithelioid_trials_are_never_eligible_for_epithelioid_mesothelioma(
    records: list[StudyRecord], index: TrialIndex, ontology: Any
) -> None:
    patient = PatientProfile(
        cancer_type="epithelioid pleural mesothelioma",
        stage="II",
        ecog=1,
        age=67,
        sex="male",
    )
    flagged = {
        r.summary.nct_id
        for r in records
        if _non_epithelioid_only(*_sections(r.summary.eligibility_text))
    }
    assert len(flagged) >= 3, "the oracle should find non-epithelioid-only trials"
    wrongly_eligible = flagged & _eligible(index, patient, ontology)
    assert not wrongly_eligible


@pytest.mark.parametrize(
    ("inclusion", "expected"),
    [
        ("HER2-positive expression (IHC 3+ or IHC 2+ with ISH positive)", True),
        ("HER2-negative (IHC zero, 1+, 2+/ISH-) locally-advanced or mBC", False),
        ("(HER2)-positive/estrogen receptor (ER)-positive adenocarcinoma of the breast", True),
        ("ER+/HER2- or triple-negative breast cancer", False),
    ],
)
def test_her2_oracle(inclusion: str, expected: bool) -> None:
    """The oracle itself, on real criterion texts (so a broken regex cannot pass)."""
    assert _her2_positive_only(inclusion) is expected
