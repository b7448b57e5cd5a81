"""Candidate pruning in the ranker: what it defers is ineligible, and the page is the
page the full evaluation gives (same trials, verdicts, scores, criteria, questions)."""

from __future__ import annotations

from typing import Any

import pytest

from matchers.evaluate import evaluate_trial, registry_excludes
from matchers.index import FIT, UNFIT, UNKNOWN_FIT, TrialIndex
from matchers.models import Verdict
from matchers.rank import rank_trials
from tests.matchers.test_evaluate_builders import MESO_IB, TODAY, F, Inc, make_trial, patient

MESO = F("cancer_type", "mesothelioma", codes=("PLMESO", "PEMESO"))
SARCOMATOID = F("cancer_type", "sarcomatoid pleural mesothelioma", codes=("PLSMESO",))
SOLID = F("cancer_type", "solid tumors", any_solid_tumor=True, generic_word="tumor")
ECOG01 = F("performance_status", "ECOG 0-1", scale="ECOG", ecog_min=0, ecog_max=1)
ECOG2 = F("performance_status", "ECOG 2", scale="ECOG", ecog_min=2, ecog_max=2)
PDL1 = F("biomarker", "PD-L1 TPS >= 50%", marker="PD-L1", status="positive", score="TPS",
         threshold=50.0)

# name, make_trial keyword arguments, how the ranker prunes it for the MESO_IB patient
# (58-year-old man with epithelioid pleural mesothelioma): "age"/"sex" (registry limits),
# "unfit" (trial-level cancer-type fit not_met, memoized), None (evaluated)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("eligible", {"criteria": [Inc("mesothelioma, ECOG 0-1", MESO, ECOG01)]}, None),
    ("possibly", {"criteria": [Inc("mesothelioma PD-L1 TPS >= 50%", MESO, PDL1)]}, None),
    ("ineligible on a criterion", {"criteria": [Inc("mesothelioma ECOG 2", MESO, ECOG2)]},
     None),
    ("too young", {"criteria": [Inc("mesothelioma", MESO)], "min_age": 65.0}, "age"),
    ("paediatric", {"criteria": [Inc("mesothelioma", MESO)], "max_age": 18.0}, "age"),
    ("women only", {"criteria": [Inc("mesothelioma", MESO)], "sex": "FEMALE"}, "sex"),
    ("age within limits", {"criteria": [Inc("mesothelioma", MESO)], "min_age": 18.0,
                           "max_age": 75.0}, None),
    ("men only", {"criteria": [Inc("mesothelioma", MESO)], "sex": "MALE"}, None),
    ("another subtype", {"criteria": [Inc("sarcomatoid pleural mesothelioma",
                                          SARCOMATOID)]}, "unfit"),
    ("another subtype, closed", {"criteria": [Inc("sarcomatoid pleural mesothelioma",
                                                  SARCOMATOID)],
                                 "status": "COMPLETED"}, "unfit"),
    ("solid tumours", {"criteria": [Inc("solid tumors, ECOG 0-1", SOLID, ECOG01)]}, None),
    ("closed, eligible", {"criteria": [Inc("mesothelioma", MESO)], "status": "COMPLETED"},
     None),
]


def _trials(ontology: Any) -> list[Any]:
    return [make_trial(ontology, nct_id=f"NCT{n + 100:08d}", **kwargs)
            for n, (_, kwargs, _) in enumerate(CASES)]


@pytest.mark.parametrize(("n", "name", "pruned"),
                         [(n, name, how) for n, (name, _, how) in enumerate(CASES)])
def test_pruned_trial_is_ineligible_in_full(ontology: Any, n: int, name: str,
                                            pruned: str | None) -> None:
    trials = _trials(ontology)
    index = TrialIndex(trials, ontology)
    p = patient(ontology, **MESO_IB)
    i = index.position(trials[n].summary.nct_id)
    assert i is not None and i in index.candidates(p)
    memo = index.fit_memo(p.cancer)
    assert memo.state[i] == UNKNOWN_FIT
    rank_trials(index, p, ontology, TODAY, include_closed=True)  # fills the memo
    by_registry = index.registry_excludes_at(i, p.demographics.age, p.demographics.sex)
    s = trials[n].summary
    registry_sex = (s.sex or "ALL").upper()
    how = "unfit" if memo.state[i] == UNFIT else None
    if how is None and by_registry:
        how = "sex" if registry_sex in ("FEMALE", "MALE") and \
            p.demographics.sex != registry_sex.lower() else "age"
    assert how == pruned, name
    full = evaluate_trial(trials[n], p, ontology, TODAY)
    if pruned is not None:
        assert full.verdict is Verdict.INELIGIBLE, name
    if memo.state[i] == FIT:
        assert full.criteria[0].status.value != "not_met"


def test_registry_excludes_table() -> None:
    rows = [
        # lo, hi, sex, patient age, patient sex, excluded
        (None, None, "ALL", 58.0, "male", False),
        (65.0, None, "ALL", 58.0, "male", True),
        (None, 18.0, "ALL", 58.0, "male", True),
        (18.0, 58.0, "ALL", 58.0, "male", False),
        (65.0, None, "ALL", None, "male", False),  # age unknown: a question, not a prune
        (None, None, "FEMALE", 58.0, "male", True),
        (None, None, "FEMALE", 58.0, None, False),
        (None, None, "MALE", 58.0, "male", False),
    ]
    for lo, hi, sex, age, psex, excluded in rows:
        assert registry_excludes(lo, hi, sex, age, psex) is excluded, (lo, hi, sex, age, psex)


@pytest.mark.parametrize("mode", [{}, {"include_closed": True},
                                  {"statuses": ["COMPLETED"]}])
@pytest.mark.parametrize("profile", [MESO_IB, {**MESO_IB, "sex": None},
                                     {**MESO_IB, "age": 17, "biomarkers": {}}])
def test_page_equals_full_ranking(ontology: Any, mode: dict[str, Any],
                                  profile: dict[str, Any]) -> None:
    """Every limit gives the first ``limit`` trials of the full ranking, identical (the
    pruned trials are evaluated only when the page reaches them), memo cold or warm."""
    index = TrialIndex(_trials(ontology), ontology)
    p = patient(ontology, **profile)
    full = rank_trials(index, p, ontology, TODAY, limit=None, **mode)
    assert full.total == len(full.results)
    for warm in (False, True):
        if not warm:
            index.clear_fit_memo()
        for limit in range(len(CASES) + 2):
            page = rank_trials(index, p, ontology, TODAY, limit=limit, **mode)
            assert page.total == full.total
            assert page.questions == full.questions
            assert [m.model_dump() for m in page.results] == \
                [m.model_dump() for m in full.results[:limit]], (warm, limit)


def test_fit_memo_is_per_cancer_and_bounded(ontology: Any) -> None:
    from matchers import index as index_module

    index = TrialIndex(_trials(ontology), ontology)
    meso = patient(ontology, **MESO_IB)
    lung = patient(ontology, **{**MESO_IB, "cancer_type": "LUAD", "stage": "IV"})
    assert index.fit_memo(meso.cancer) is index.fit_memo(meso.cancer)
    assert index.fit_memo(meso.cancer) is not index.fit_memo(lung.cancer)
    rank_trials(index, meso, ontology, TODAY)
    assert UNFIT in index.fit_memo(meso.cancer).state
    assert index.fit_memo(lung.cancer).state == bytearray(len(index))
    old = index_module.FIT_MEMO_SIZE
    index_module.FIT_MEMO_SIZE = 1
    try:
        index.fit_memo(patient(ontology, cancer_type="desmoid tumor").cancer)
        assert UNFIT not in index.fit_memo(meso.cancer).state  # dropped, made anew
    finally:
        index_module.FIT_MEMO_SIZE = old


def test_first_line_title_prunes_a_pretreated_patient(ontology: Any) -> None:
    from tests.matchers.test_evaluate_builders import NSCLC_EGFR

    nsclc = F("cancer_type", "NSCLC", codes=("NSCLC",))
    trials = [
        make_trial(ontology, [Inc("Non-squamous NSCLC", nsclc)], conditions=("NSCLC",),
                   condition_facts=(nsclc,), nct_id="NCT00000201",
                   title="A Study of Apatinib Plus EGFR-TKI as First Line Treatment in "
                         "Patients With Non-squamous NSCLC"),
        make_trial(ontology, [Inc("Non-squamous NSCLC", nsclc)], conditions=("NSCLC",),
                   condition_facts=(nsclc,), nct_id="NCT00000202",
                   title="Maintenance After First-line Chemotherapy in NSCLC"),
        make_trial(ontology, [Inc("Non-squamous NSCLC", nsclc)], conditions=("NSCLC",),
                   condition_facts=(nsclc,), nct_id="NCT00000203"),
    ]
    index = TrialIndex(trials, ontology)
    treated = patient(ontology, **NSCLC_EGFR)
    naive = patient(ontology, **{**NSCLC_EGFR, "prior_therapies": []})
    assert [index.settled_ineligible_at(i, treated) for i in range(3)] == [True, False, False]
    assert not any(index.settled_ineligible_at(i, naive) for i in range(3))
    assert evaluate_trial(trials[0], treated, ontology, TODAY).verdict is Verdict.INELIGIBLE
    for p in (treated, naive):
        full = rank_trials(index, p, ontology, TODAY, limit=None)
        for limit in range(5):
            page = rank_trials(index, p, ontology, TODAY, limit=limit)
            assert [m.model_dump() for m in page.results] == \
                [m.model_dump() for m in full.results[:limit]]
