"""The case tables: real criteria from the shared corpus, parsed and evaluated.

Each case of ``cases/<category>.toml`` (see :class:`tests.matchers.criteria.conftest.Case`)
is checked three ways: its quote is really in the trial it cites; the parser reads it
into the expected facts; the evaluator gives the expected status for the patient. Every
``rule`` (a class of criteria) is backed by cases from at least two different trials:
a rule written for one trial is a defect.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from matchers.evaluate import evaluate_trial
from matchers.index import index_trial
from matchers.models import CriterionResult, ParsedTrial, TrialMatch, TrialSummary
from matchers.normalize import normalize_patient
from matchers.patient import PatientProfile
from tests.matchers.criteria.conftest import Case, all_cases, squash

CASES = all_cases()


def _case_id(item: tuple[str, Case]) -> str:
    return f"{item[0]}:{item[1].id}"


def test_case_ids_are_unique() -> None:
    ids = [_case_id(item) for item in CASES]
    assert len(ids) == len(set(ids))


def test_every_rule_rests_on_two_trials() -> None:
    trials: dict[str, set[str]] = defaultdict(set)
    for _, case in CASES:
        trials[case.rule].add(case.nct_id)
    single = {rule: sorted(ids) for rule, ids in trials.items() if len(ids) < 2}
    assert not single, f"rules backed by one trial only: {single}"


@pytest.mark.parametrize("item", CASES, ids=_case_id)
def test_case_quotes_the_trial(item: tuple[str, Case], corpus_trials: dict[str, Any]) -> None:
    case = item[1]
    summary = corpus_trials.get(case.nct_id)
    assert summary is not None, f"{case.nct_id} is not in the shared corpus"
    if case.text is not None:
        haystack = squash(" ".join([summary.eligibility_text, *summary.conditions,
                                    summary.title, summary.official_title or ""]))
        assert squash(case.text) in haystack, f"{case.id}: quote not found in {case.nct_id}"


def _criterion_trial(case: Case, real: TrialSummary) -> TrialSummary:
    assert case.text is not None
    heading = "Inclusion Criteria:" if case.kind == "inclusion" else "Exclusion Criteria:"
    return TrialSummary(nct_id=real.nct_id, title=real.title, conditions=real.conditions,
                        official_title=real.official_title, overall_status="RECRUITING",
                        eligibility_text=f"{heading}\n\n* {case.text}\n")


def _same(a: str, b: str) -> bool:
    """The parsed criterion is the quoted one: equal, or one holds the other (a quote
    may carry the sub-heading the splitter keeps apart, e.g. "DISEASE CHARACTERISTICS:")."""
    a, b = squash(a), squash(b)
    return a == b or (len(a) > 12 and a in b) or (len(b) > 12 and b in a)


def _result(match: TrialMatch, text: str) -> CriterionResult:
    hits = [c for c in match.criteria if c.span != (0, 0) and _same(c.text, text)]
    if not hits:
        raise AssertionError(f"criterion not in the result: {[c.text for c in match.criteria]}")
    # the criterion's own result, not the trial-level cancer fit quoting the same text
    # (that one comes first)
    return max(reversed(hits), key=lambda c: len(c.text))


def _subset(expected: dict[str, Any], fact: dict[str, Any]) -> bool:
    for k, v in expected.items():
        got = fact.get(k)
        if isinstance(got, (list, tuple)) and isinstance(v, (list, tuple)):
            if tuple(got) != tuple(v):
                return False
        elif got != v:
            return False
    return True


@pytest.mark.parametrize("item", CASES, ids=_case_id)
def test_case(item: tuple[str, Case], corpus_trials: dict[str, TrialSummary], parser: Any,
              ontology: Any) -> None:
    case = item[1]
    real = corpus_trials[case.nct_id]
    summary = real if case.text is None else _criterion_trial(case, real)
    parsed: ParsedTrial = parser.parse(summary)
    trial = index_trial(summary, parsed, ontology)
    patient = normalize_patient(PatientProfile.model_validate(case.patient), ontology)
    match = evaluate_trial(trial, patient, ontology, case.today)
    if case.text is not None:
        crit = max((c for c in parsed.criteria if _same(c.text, case.text)),
                   key=lambda c: len(c.text))
        facts = [f.model_dump(mode="json") for f in crit.facts]
        for want in case.facts:
            assert any(_subset(want, f) for f in facts), f"{case.id}: {want} not in {facts}"
        result = _result(match, case.text)
        if case.status is not None:
            assert result.status.value == case.status, f"{case.id}: {result.reason}"
        if case.key is not None:
            assert result.key is case.key, f"{case.id}: {result.reason}"
    if case.verdict is not None:
        reasons = [c.reason for c in match.criteria if c.status.value != "met"][:6]
        assert match.verdict.value == case.verdict, f"{case.id}: {reasons}"
    if case.cohort is not None:
        assert match.cohort == (case.cohort or None), f"{case.id}: cohort {match.cohort!r}"
    if case.cancer_fit is not None:
        fit = match.criteria[0]
        assert fit.category == "cancer_type"
        assert fit.status.value == case.cancer_fit, f"{case.id}: {fit.reason}"
