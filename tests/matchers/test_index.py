"""The in-memory index: codes, flags, lookups and candidate selection."""

from __future__ import annotations

from typing import Any

import pytest

from matchers.index import TrialIndex, index_trial
from tests.matchers.test_evaluate_builders import Exc, F, Inc, make_trial, patient


def test_codes_expanded_with_ancestors(ontology: Any) -> None:
    t = make_trial(ontology, [Inc("epithelioid pleural mesothelioma",
                                  F("cancer_type", "epithelioid pleural mesothelioma",
                                    codes=("PLEMESO",)))])
    assert set(t.oncotree_codes) == {"PLEMESO", "PLMESO", "PLEURA"}
    assert not t.any_solid_tumor


def test_exclusion_codes_are_not_indexed(ontology: Any) -> None:
    t = make_trial(ontology, [
        Inc("advanced solid tumor", F("cancer_type", "solid tumor", any_solid_tumor=True)),
        Exc("breast cancer", F("cancer_type", "breast cancer", codes=("BRCA",))),
    ])
    assert t.oncotree_codes == ()
    assert t.any_solid_tumor


def test_condition_facts_are_indexed(ontology: Any) -> None:
    t = make_trial(ontology, [], conditions=("NSCLC",),
                   condition_facts=(F("cancer_type", "NSCLC", codes=("NSCLC",)),))
    assert {"NSCLC", "LUNG"} <= set(t.oncotree_codes)


def test_mismatched_ids_rejected(ontology: Any) -> None:
    a = make_trial(ontology, [], nct_id="NCT00000001")
    b = make_trial(ontology, [], nct_id="NCT00000002")
    with pytest.raises(ValueError):
        index_trial(a.summary, b.parsed, ontology)


def test_candidates_and_lookups(ontology: Any) -> None:
    trials = [
        make_trial(ontology, [Inc("mesothelioma", F("cancer_type", "mesothelioma",
                                                    codes=("PLMESO",)))],
                   nct_id="NCT00000001"),
        make_trial(ontology, [Inc("sarcomatoid", F("cancer_type", "sarcomatoid",
                                                   codes=("PLSMESO",)))],
                   nct_id="NCT00000002", status="COMPLETED"),
        make_trial(ontology, [Inc("solid tumor", F("cancer_type", "solid tumor",
                                                   any_solid_tumor=True))],
                   nct_id="NCT00000003"),
        make_trial(ontology, [Inc("lymphoma", F("cancer_type", "lymphoma",
                                                any_hematologic=True))],
                   nct_id="NCT00000004"),
        make_trial(ontology, [Inc("breast", F("cancer_type", "breast", codes=("BRCA",)))],
                   nct_id="NCT00000005"),
    ]
    idx = TrialIndex(trials, ontology)
    assert len(idx) == 5
    assert idx.by_code("PLMESO") == ("NCT00000001", "NCT00000002")
    assert idx.by_status("completed") == ("NCT00000002",)
    assert idx.by_study_type("INTERVENTIONAL") == tuple(f"NCT0000000{i}" for i in range(1, 6))
    p = patient(ontology, cancer_type="PLEMESO")
    got = {idx.at(i).summary.nct_id for i in idx.candidates(p)}
    assert got == {"NCT00000001", "NCT00000002", "NCT00000003"}
    with pytest.raises(ValueError):
        TrialIndex([trials[0], trials[0]], ontology)
