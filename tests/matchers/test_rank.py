"""Ranking order, status filtering, distance and questions."""

from __future__ import annotations

from typing import Any

from matchers.geo import haversine_km, nearest_site
from matchers.index import TrialIndex
from matchers.models import Site, Verdict
from matchers.rank import rank_trials
from tests.matchers.test_evaluate_builders import MESO_IB, TODAY, F, Inc, make_trial, patient

MESO = F("cancer_type", "mesothelioma", codes=("PLMESO", "PEMESO"))
ECOG01 = F("performance_status", "ECOG 0-1", scale="ECOG", ecog_min=0, ecog_max=1)
PDL1 = F("biomarker", "PD-L1 TPS >= 50%", marker="PD-L1", status="positive", score="TPS",
         threshold=50.0)

BOSTON = Site(city="Boston", status="RECRUITING", lat=42.36, lon=-71.06)
LA = Site(city="Los Angeles", status="RECRUITING", lat=34.05, lon=-118.24)


def _index(ontology: Any) -> TrialIndex:
    trials = [
        # eligible, near
        make_trial(ontology, [Inc("mesothelioma, ECOG 0-1", MESO, ECOG01)],
                   nct_id="NCT00000010", sites=(BOSTON,)),
        # eligible, far
        make_trial(ontology, [Inc("mesothelioma, ECOG 0-1", MESO, ECOG01)],
                   nct_id="NCT00000011", sites=(LA,)),
        # possibly (PD-L1 TPS unknown for this patient)
        make_trial(ontology, [Inc("mesothelioma PD-L1 TPS >= 50%", MESO, PDL1)],
                   nct_id="NCT00000020"),
        # ineligible (ECOG 2+ only)
        make_trial(ontology, [Inc("mesothelioma ECOG 2", MESO,
                                  F("performance_status", "ECOG 2", scale="ECOG",
                                    ecog_min=2, ecog_max=2))], nct_id="NCT00000030"),
        # eligible but closed
        make_trial(ontology, [Inc("mesothelioma", MESO)], nct_id="NCT00000040",
                   status="COMPLETED"),
        # another cancer
        make_trial(ontology, [Inc("NSCLC", F("cancer_type", "NSCLC", codes=("NSCLC",)))],
                   nct_id="NCT00000050"),
    ]
    return TrialIndex(trials, ontology)


def test_order_eligible_possibly_ineligible_then_distance(ontology: Any) -> None:
    p = patient(ontology, **{**MESO_IB, "biomarkers": {}, "zip": "02115"})
    res = rank_trials(_index(ontology), p, ontology, TODAY, limit=None)
    ids = [m.nct_id for m in res.results]
    assert ids[:3] == ["NCT00000010", "NCT00000011", "NCT00000020"]
    verdicts = [m.verdict for m in res.results]
    order = {Verdict.ELIGIBLE: 0, Verdict.POSSIBLY_ELIGIBLE: 1, Verdict.INELIGIBLE: 2}
    assert [order[v] for v in verdicts] == sorted(order[v] for v in verdicts)
    near = res.results[0].nearest_site
    assert near is not None and near.site.city == "Boston" and near.distance_km < 10
    assert res.results[2].questions == ("PD-L1 TPS?",)


def test_closed_trials_ranked_out_by_default(ontology: Any) -> None:
    p = patient(ontology, **MESO_IB)
    idx = _index(ontology)
    default = rank_trials(idx, p, ontology, TODAY, limit=None)
    assert "NCT00000040" not in {m.nct_id for m in default.results}
    everything = rank_trials(idx, p, ontology, TODAY, limit=None, include_closed=True)
    assert "NCT00000040" in {m.nct_id for m in everything.results}
    assert everything.total == len(idx)
    only = rank_trials(idx, p, ontology, TODAY, limit=None, statuses=["COMPLETED"])
    assert [m.nct_id for m in only.results] == ["NCT00000040"]


def test_open_trials_before_closed_ones_within_a_tier(ontology: Any) -> None:
    # A closed trial cannot enrol the patient: with closed trials ranked too, the closed
    # eligible NCT00000040 comes after every open eligible *and* possibly eligible trial
    # (its eligible bonus would otherwise lift it above the possibly eligible one).
    p = patient(ontology, **{**MESO_IB, "biomarkers": {}})
    res = rank_trials(_index(ontology), p, ontology, TODAY, limit=None, include_closed=True)
    ids = [m.nct_id for m in res.results]
    assert ids[:4] == ["NCT00000010", "NCT00000011", "NCT00000020", "NCT00000040"]
    closed = res.results[3]
    assert closed.verdict is Verdict.ELIGIBLE and closed.score > res.results[2].score
    assert res.results[2].verdict is Verdict.POSSIBLY_ELIGIBLE


def test_limit_and_non_candidates(ontology: Any) -> None:
    p = patient(ontology, **MESO_IB)
    idx = _index(ontology)
    page = rank_trials(idx, p, ontology, TODAY, limit=2)
    assert len(page.results) == 2
    full = rank_trials(idx, p, ontology, TODAY, limit=None)
    nsclc = next(m for m in full.results if m.nct_id == "NCT00000050")
    assert nsclc.verdict is Verdict.INELIGIBLE
    assert full.results[-1].verdict is Verdict.INELIGIBLE


def test_haversine_and_nearest_site() -> None:
    assert abs(haversine_km(42.36, -71.06, 34.05, -118.24) - 4170) < 30
    closed = Site(city="Closed", status="COMPLETED", lat=42.36, lon=-71.06)
    d = nearest_site([closed, LA], 42.35, -71.05)
    assert d is not None and d.site.city == "Los Angeles"
    assert nearest_site([], 0.0, 0.0) is None


def test_targeted_trial_outranks_generic_solid_tumour_trial(ontology: Any) -> None:
    """A trial for the patient's own disease and biomarker with one open question ranks
    above an "any solid tumour" trial with none; at equal fit, eligible stays first."""
    from tests.matchers.test_evaluate_builders import NSCLC_EGFR

    nsclc = F("cancer_type", "NSCLC", codes=("NSCLC",))
    egfr = F("biomarker", "EGFR exon 19 deletion", marker="EGFR", status="mutated",
             variant="exon19del")
    osi = F("prior_therapy", "progressed on osimertinib", drugs=("osimertinib",),
            relation="progressed")
    trials = [
        make_trial(ontology, [Inc("Advanced solid tumor, ECOG 0-1",
                                  F("cancer_type", "solid tumor", any_solid_tumor=True),
                                  ECOG01)], nct_id="NCT00000100"),
        make_trial(ontology, [
            Inc("NSCLC with EGFR exon 19 deletion", nsclc, egfr),
            Inc("Disease progressed on osimertinib", osi),
            Inc("PD-L1 TPS >= 50%", PDL1)], nct_id="NCT00000200"),
    ]
    index = TrialIndex(trials, ontology)
    res = rank_trials(index, patient(ontology, **dict(NSCLC_EGFR, biomarkers={
        "EGFR": "exon 19 deletion"})), ontology, TODAY, limit=None)
    order = [m.nct_id for m in res.results]
    verdicts = {m.nct_id: m.verdict for m in res.results}
    assert verdicts["NCT00000200"] is Verdict.POSSIBLY_ELIGIBLE
    assert verdicts["NCT00000100"] is Verdict.ELIGIBLE
    assert order.index("NCT00000200") < order.index("NCT00000100")


def test_open_questions_counted_over_possibly_eligible_trials(ontology: Any) -> None:
    """The response-level questions count the possibly eligible trials each would
    settle, most first, over every ranked trial (not only the page); each result's own
    questions follow that order; ineligible trials ask none."""
    brain = F("brain_metastases", "no brain metastases", negated=True, qualifier="any")
    trials = [
        make_trial(ontology, [Inc("mesothelioma PD-L1 TPS >= 50%", MESO, PDL1)],
                   nct_id=f"NCT0000010{n}") for n in range(3)
    ] + [
        make_trial(ontology, [Inc("mesothelioma PD-L1 TPS >= 50%", MESO, PDL1),
                              Inc("no brain metastases", brain)], nct_id="NCT00000200"),
        make_trial(ontology, [Inc("mesothelioma, no brain metastases", MESO, brain)],
                   nct_id="NCT00000201"),
        make_trial(ontology, [Inc("mesothelioma ECOG 2 PD-L1 TPS >= 50%", MESO,
                                  F("performance_status", "ECOG 2", scale="ECOG",
                                    ecog_min=2, ecog_max=2), PDL1)], nct_id="NCT00000300"),
    ]
    p = patient(ontology, **{**MESO_IB, "biomarkers": {}, "brain_metastases": None})
    res = rank_trials(TrialIndex(trials, ontology), p, ontology, TODAY, limit=2)
    asked = {q.question: q.trials for q in res.questions}
    assert asked == {"PD-L1 TPS?": 4, "brain metastases?": 2}
    assert [q.question for q in res.questions] == ["PD-L1 TPS?", "brain metastases?"]
    both = rank_trials(TrialIndex(trials, ontology), p, ontology, TODAY, limit=None)
    by_id = {m.nct_id: m for m in both.results}
    assert by_id["NCT00000200"].questions == ("PD-L1 TPS?", "brain metastases?")
    assert by_id["NCT00000300"].verdict is Verdict.INELIGIBLE
    assert by_id["NCT00000300"].questions == ()
