"""Ranking: every trial of a :class:`TrialIndex` for one patient, best first.

Order (a total order, so results are deterministic):

1. ``eligible``/``possibly_eligible`` before ``ineligible``;
2. open before closed: a trial under :data:`matchers.index.OPEN_STATUSES` before any
   other (matters only when closed trials are ranked too — ``include_closed`` or an
   explicit ``statuses``): a closed trial cannot enrol the patient, however well it
   fits, so it never displaces an open one of the same verdict tier;
3. score (strength of fit, rounded to 0.01 so that near-ties fall to the next keys), an
   eligible trial's raised by :data:`ELIGIBLE_BONUS` — so eligible ranks above possibly
   eligible at equal fit, while a disease-targeted possibly-eligible trial still ranks
   above a generic eligible one;
4. recruiting status — RECRUITING, NOT_YET_RECRUITING, ENROLLING_BY_INVITATION (and
   AVAILABLE), then everything else (:data:`matchers.index.STATUS_ORDER`);
5. distance to the nearest open site (km, haversine; trials without located sites last);
6. NCT ID.

Status filter: by default only open trials (:data:`matchers.index.OPEN_STATUSES`) are
ranked — closed, completed, unknown-status and status-less records stay in the index
but are ranked out; ``include_closed=True`` ranks every trial; ``statuses`` ranks
exactly those CT.gov statuses.

Performance: the patient is normalized once by the caller; only the index's candidate
trials (cancer-type codes intersecting the patient's lineage, plus generic trials) are
evaluated, over trial-side data precomputed at index time, each stopping at its first
``not_met`` (most decisive criteria first); :class:`TrialMatch` models are materialized
only for the returned page. Candidates that are provably ineligible are not evaluated at
all — the registry's age limits or sex, or a first-line / newly-diagnosed title, exclude the
patient (:meth:`matchers.index.TrialIndex.settled_ineligible_at`), or the index's memo
(:meth:`matchers.index.TrialIndex.fit_memo`) already knows that the trial-level cancer-type
fit is ``not_met`` for this cancer — and neither are the non-candidates (ineligible on
cancer type): all of them are evaluated only when the page reaches the ineligible tier
(fewer eligible/possibly eligible trials than ``limit``). The output is the same as
evaluating everything (``tests/matchers/test_rank_pruning.py``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from matchers.evaluate import Evaluation, evaluate_prepared, to_match
from matchers.geo import nearest_site
from matchers.index import FIT, OPEN_STATUSES, STATUS_ORDER, UNFIT, UNKNOWN_FIT, TrialIndex
from matchers.models import CriterionStatus, SiteDistance, TrialMatch, Verdict
from matchers.normalize import NormalizedPatient, normalize_patient
from matchers.patient import PatientProfile
from matchers.score import ineligible_score, load_weights

if TYPE_CHECKING:
    from ontologies import Ontology

ELIGIBLE_BONUS = {Verdict.ELIGIBLE: load_weights().eligible_bonus,
                  Verdict.POSSIBLY_ELIGIBLE: 0.0, Verdict.INELIGIBLE: 0.0}
"""Added to an eligible trial's score for ordering (``eligible_bonus`` of
``matchers/rules/score.toml``): eligible and possibly eligible trials share one tier, so
a disease-targeted trial with one open question ranks above a generic "any solid tumour"
trial that happens to have none."""


class OpenQuestion(BaseModel):
    """A question about the patient and how many possibly eligible trials ask it
    (``trials``): answering it settles a key criterion of each of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    trials: int


class MatchResults(BaseModel):
    """A page of ranked trials. ``total`` is the number of trials ranked (after the
    status filter), of which ``results`` holds the first ``limit``. ``questions`` are
    the open key questions over every possibly eligible trial ranked (not only the
    page), most trials settled first (at most :data:`MAX_QUESTIONS`); each result's own
    ``questions`` follow the same order. Ineligible trials ask none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    results: tuple[TrialMatch, ...]
    total: int
    questions: tuple[OpenQuestion, ...] = ()


MAX_QUESTIONS = 10
"""Most open questions a :class:`MatchResults` lists."""


def _status_filter(
    statuses: Iterable[str] | None, include_closed: bool
) -> frozenset[str] | None:
    if statuses is not None:
        return frozenset(s.upper() for s in statuses)
    if include_closed:
        return None
    return OPEN_STATUSES


def rank_trials(
    index: TrialIndex,
    patient: NormalizedPatient,
    ontology: Ontology,
    today: date,
    limit: int | None = 20,
    statuses: Iterable[str] | None = None,
    include_closed: bool = False,
) -> MatchResults:
    """Rank the index for ``patient`` (pure; the same call serves ``POST /v1/match``).

    ``limit=None`` returns every ranked trial. Raises ``ValueError`` for a negative
    ``limit``.
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    allowed = _status_filter(statuses, include_closed)
    status_at = index.status_at
    candidates = [i for i in index.candidates(patient)
                  if allowed is None or status_at(i) in allowed]
    total = index.count_statuses(allowed)
    w = load_weights()

    # Prune before any per-criterion work, keeping the output identical: a candidate
    # is *deferred* (not evaluated) when it is provably ineligible — its registry age
    # limits or sex, or its first-line / newly-diagnosed title, exclude the patient
    # (TrialIndex.settled_ineligible_at), or the index's memo says its trial-level
    # cancer-type fit is not_met for this cancer. Ineligible trials ask no questions and
    # rank after every eligible/possibly eligible one, so a deferred trial is evaluated
    # only if the page reaches the ineligible tier.
    memo = index.fit_memo(patient.cancer)
    state, unfit_spec = memo.state, memo.specificity
    unfit: list[int] = []
    excluded: list[int] = []
    evaluations: list[tuple[Evaluation, int]] = []
    for i in candidates:
        known = state[i]
        if known == UNFIT:
            unfit.append(i)
            continue
        if index.settled_ineligible_at(i, patient):
            excluded.append(i)
            continue
        ev = evaluate_prepared(index.prepared_at(i), patient, ontology, today, full=False)
        if known == UNKNOWN_FIT:
            # outcomes[0] is always the trial-level cancer-type fit
            if ev.outcomes[0].status is CriterionStatus.NOT_MET:
                if ev.specificity:
                    unfit_spec[i] = ev.specificity
                state[i] = UNFIT
            else:
                state[i] = FIT
        evaluations.append((ev, i))
    located = patient.lat is not None and patient.lon is not None
    distances: dict[int, SiteDistance | None] = {}

    def distance(i: int) -> SiteDistance | None:
        if not located:
            return None
        if i not in distances:
            assert patient.lat is not None and patient.lon is not None
            distances[i] = nearest_site(index.sites_at(i), patient.lat, patient.lon)
        return distances[i]

    def sort_key(verdict: Verdict, score: float, i: int
                 ) -> tuple[int, int, float, int, float, str]:
        status = status_at(i)
        d = distance(i) if verdict is not Verdict.INELIGIBLE else None
        return (
            1 if verdict is Verdict.INELIGIBLE else 0,
            0 if status in OPEN_STATUSES else 1,
            -round(score + ELIGIBLE_BONUS[verdict], 2),
            STATUS_ORDER.get(status, 9),
            d.distance_km if d is not None else math.inf,
            index.nct_at(i),
        )

    # (key, evaluation or None for a deferred unfit trial, position); keys are unique
    # (they end with the NCT ID), so sorting never compares the evaluations
    ranked: list[tuple[tuple[int, int, float, int, float, str], Evaluation | None, int]] = [
        (sort_key(ev.verdict, ev.score, i), ev, i) for ev, i in evaluations]
    n_open_tier = sum(1 for ev, _ in evaluations if ev.verdict is not Verdict.INELIGIBLE)
    page_reaches_ineligible = limit is None or n_open_tier < limit
    if page_reaches_ineligible and (limit is None or limit > 0):
        for i in excluded:
            ev = evaluate_prepared(index.prepared_at(i), patient, ontology, today, full=False)
            ranked.append((sort_key(ev.verdict, ev.score, i), ev, i))
        # an unfit trial's key is known without evaluating it: ineligible, scored by its
        # fit's specificity (evaluated below only if it makes the page)
        ranked.extend((sort_key(Verdict.INELIGIBLE,
                                ineligible_score(unfit_spec.get(i, 0.0), w), i), None, i)
                      for i in unfit)
    ranked.sort(key=lambda item: item[0])
    head = ranked if limit is None else ranked[:limit]
    if page_reaches_ineligible and total > len(candidates) and (limit is None or limit > 0):
        # Trials outside the candidate set name no cancer type the patient has: they are
        # ineligible on cancer type, so only as many as the page can hold are evaluated
        # (open ones first, the display order), and merged by the same key — an open
        # one still ranks above a closed candidate of the same verdict tier.
        cand_set = set(candidates)
        others: list[int] = []
        for i in index.display_order():
            if i in cand_set or (allowed is not None and status_at(i) not in allowed):
                continue
            others.append(i)
            if limit is not None and len(others) >= limit:
                break
        lazy = [(evaluate_prepared(index.prepared_at(i), patient, ontology, today,
                                   skip_unfit=True), i)
                for i in others]
        head = sorted([*head, *((sort_key(ev.verdict, ev.score, i), ev, i)
                                for ev, i in lazy)], key=lambda item: item[0])
        if limit is not None:
            head = head[:limit]

    def complete(ev: Evaluation) -> Evaluation:
        if not ev.partial:
            return ev
        return evaluate_prepared(ev.prep, patient, ontology, today)

    asked = Counter(q for ev, _ in evaluations if ev.verdict is Verdict.POSSIBLY_ELIGIBLE
                    for q in dict.fromkeys(ev.questions))
    rank_of = {q: n for n, (q, _) in enumerate(
        sorted(asked.items(), key=lambda qc: (-qc[1], qc[0])))}
    results = []
    for _, maybe, i in head:
        ev = complete(maybe) if maybe is not None else evaluate_prepared(
            index.prepared_at(i), patient, ontology, today)
        if len(ev.questions) > 1:  # the questions that settle the most trials first
            ev.questions = sorted(ev.questions, key=lambda q: rank_of.get(q, len(rank_of)))
        results.append(to_match(ev, distance(i)))
    top = sorted(asked.items(), key=lambda qc: (-qc[1], qc[0]))[:MAX_QUESTIONS]
    return MatchResults(results=tuple(results), total=total,
                        questions=tuple(OpenQuestion(question=q, trials=n) for q, n in top))


def match_patient(
    index: TrialIndex,
    profile: PatientProfile,
    ontology: Ontology,
    today: date,
    limit: int | None = 20,
    statuses: Iterable[str] | None = None,
    include_closed: bool = False,
) -> MatchResults:
    """``POST /v1/match`` in one call: normalize ``profile`` then :func:`rank_trials`.

    Raises :class:`matchers.normalize.PatientProfileError` for an unresolvable cancer
    type (HTTP 422), ``ValueError`` for a negative ``limit``.
    """
    patient = normalize_patient(profile, ontology)
    return rank_trials(index, patient, ontology, today, limit=limit, statuses=statuses,
                       include_closed=include_closed)
