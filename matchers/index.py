"""The in-memory trial index the matcher runs over.

* :func:`index_trial` turns a CT.gov summary and its parsed criteria into an
  :class:`IndexedTrial`: the trial's OncoTree codes (from its conditions, title and
  inclusion cancer-type facts, expanded with their ancestors up to the tissue node) and
  the generic flags ("any solid tumour", "any malignancy").
* :class:`TrialIndex` is built once from IndexedTrials (service startup, benchmark). It
  precomputes everything trial-side (:func:`matchers.evaluate.prepare_trial`, site
  coordinates) and answers lookups by OncoTree code, status and study type, and the
  candidate set for a patient: trials whose codes intersect the patient's code and
  ancestors, plus generic solid-tumour / any-malignancy (or haematologic) trials.
  Every other trial names no cancer type the patient has, and is ineligible on cancer
  type without evaluation.
* For pruning (:func:`matchers.rank.rank_trials`), the index keeps each trial's registry
  age limits and sex and its first-line / newly-diagnosed title flags
  (:meth:`TrialIndex.settled_ineligible_at`) and a memo of trial-level
  cancer-type fits per patient cancer (:class:`FitMemo`, :meth:`TrialIndex.fit_memo`:
  one byte per trial, the :data:`FIT_MEMO_SIZE` most recent cancers): a cache of a pure
  function, the only state that changes after construction.

Pure and in-memory: no Redis, no network. Memory (``benchmarks/scale.py``): ~57 KiB per
trial of RSS, most of it the pydantic summaries and parsed criteria (~50 KiB), the
prepared trial side ~7 KiB; 7.5k trials ≈ 420 MiB, 60k ≈ 3.4 GiB.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from matchers.criteria.cancer_type import PatientCancer
from matchers.evaluate import PreparedTrial, prepare_trial, registry_excludes, title_excludes
from matchers.models import (
    CancerTypeFact,
    CriterionKind,
    IndexedTrial,
    ParsedTrial,
    Site,
    TrialSummary,
)
from matchers.normalize import NormalizedPatient

if TYPE_CHECKING:
    from ontologies import Ontology


def _expand(codes: Iterable[str], ontology: Ontology) -> set[str]:
    tree = ontology.cancer_types
    out: set[str] = set()
    for code in codes:
        if tree.get(code) is None:
            continue
        out.add(code)
        out.update(tree.ancestors(code))
    return out


def trial_cancer_facts(parsed: ParsedTrial) -> list[CancerTypeFact]:
    """The cancer-type facts that say whom the trial enrols: non-negated facts of the
    conditions/title, and inclusion facts that require presence."""
    out: list[CancerTypeFact] = []
    for f in parsed.conditions:
        if isinstance(f, CancerTypeFact) and not f.negated:
            out.append(f)
    for c in parsed.criteria:
        if c.kind is not CriterionKind.INCLUSION:
            continue
        for f in c.facts:
            if isinstance(f, CancerTypeFact) and not f.negated:
                out.append(f)
    return out


def trial_codes(summary: TrialSummary, parsed: ParsedTrial, ontology: Ontology) -> tuple[str, ...]:
    """The OncoTree codes a trial is indexed under: the codes of its enrolling cancer-type
    facts (conditions, title, inclusion criteria) with all their ancestors, sorted.

    This is the ``index_codes`` callable ``trial_cache`` stores tags with (bind the
    ontology: ``functools.partial(trial_codes, ontology=onto)``). ``summary`` is unused
    (the parser already put the conditions and title into ``parsed.conditions``).
    """
    del summary
    facts = trial_cancer_facts(parsed)
    return tuple(sorted(_expand((c for f in facts for c in f.codes), ontology)))


def index_trial(summary: TrialSummary, parsed: ParsedTrial, ontology: Ontology) -> IndexedTrial:
    """Build the :class:`IndexedTrial` for one trial (pure).

    ``oncotree_codes`` is sorted, and contains each named code with all its ancestors up
    to (not including) the OncoTree ``TISSUE`` root. Unknown codes are dropped.
    Raises ``ValueError`` if ``summary`` and ``parsed`` are for different NCT IDs.
    """
    if summary.nct_id != parsed.nct_id:
        raise ValueError(f"summary {summary.nct_id} and parsed {parsed.nct_id} differ")
    facts = trial_cancer_facts(parsed)
    return IndexedTrial(
        summary=summary,
        parsed=parsed,
        oncotree_codes=trial_codes(summary, parsed, ontology),
        any_solid_tumor=any(f.any_solid_tumor for f in facts),
        any_malignancy=any(f.any_malignancy for f in facts),
    )


OPEN_STATUSES = frozenset(
    {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE"}
)
"""CT.gov overall statuses under which a trial takes new patients."""

STATUS_ORDER = {"RECRUITING": 0, "NOT_YET_RECRUITING": 1, "ENROLLING_BY_INVITATION": 2,
                "AVAILABLE": 2}
"""Sort rank of open statuses (lower first); any other status ranks after them (9)."""


class TrialIndex:
    """An immutable in-memory index over :class:`IndexedTrial` (build once, share).

    ``TrialIndex(trials, ontology)``; raises ``ValueError`` on duplicate NCT IDs.
    ``reuse`` maps NCT IDs to trials already prepared by another index (a refresh keeps
    the unchanged trials of the index it replaces): a prepared trial is reused only
    when it was prepared from the very same :class:`IndexedTrial` object.
    Lookups return tuples of NCT IDs in index order; :meth:`candidates` returns
    positions (ints) for the ranker's hot path.
    """

    def __init__(self, trials: Iterable[IndexedTrial], ontology: Ontology, *,
                 reuse: Mapping[str, PreparedTrial] | None = None) -> None:
        self._trials: list[IndexedTrial] = []
        self._prepared: list[PreparedTrial] = []
        self._sites: list[tuple[Site, ...]] = []
        self._pos: dict[str, int] = {}
        self._status: list[str] = []
        self._by_code: dict[str, list[int]] = {}
        self._by_status: dict[str, list[int]] = {}
        self._by_type: dict[str, list[int]] = {}
        self._solid: list[int] = []
        self._any: list[int] = []
        self._heme: list[int] = []
        self._registry: list[tuple[float | None, float | None, str]] = []
        self._nct: list[str] = []
        self._titles: list[tuple[bool, bool]] = []
        for t in trials:
            nct = t.summary.nct_id
            if nct in self._pos:
                raise ValueError(f"duplicate trial {nct} in index")
            i = len(self._trials)
            self._pos[nct] = i
            self._nct.append(nct)
            self._trials.append(t)
            prep = reuse.get(nct) if reuse else None
            if prep is None or prep.trial is not t:
                prep = prepare_trial(t, ontology)
            self._prepared.append(prep)
            self._sites.append(tuple(s for s in t.summary.sites
                                     if s.lat is not None and s.lon is not None))
            for code in t.oncotree_codes:
                self._by_code.setdefault(code, []).append(i)
            status = (t.summary.overall_status or "").upper()
            self._status.append(status)
            self._registry.append((t.summary.min_age_years, t.summary.max_age_years,
                                   (t.summary.sex or "ALL").upper()))
            self._titles.append((bool(t.parsed.first_line_title),
                                 bool(t.parsed.newly_diagnosed_title)))
            self._by_status.setdefault(status, []).append(i)
            self._by_type.setdefault((t.summary.study_type or "").upper(), []).append(i)
            if t.any_solid_tumor:
                self._solid.append(i)
            if t.any_malignancy:
                self._any.append(i)
            if any(isinstance(f, CancerTypeFact) and f.any_hematologic and not f.negated
                   for f in _enrolling_facts(t)):
                self._heme.append(i)

        self._fit_memo: OrderedDict[tuple[object, ...], FitMemo] = OrderedDict()
        rank = STATUS_ORDER
        self._display_order: tuple[int, ...] = tuple(sorted(
            range(len(self._trials)),
            key=lambda i: (rank.get(self._status[i], 9), self._trials[i].summary.nct_id)))

    def __len__(self) -> int:
        return len(self._trials)

    def display_order(self) -> tuple[int, ...]:
        """All positions, open statuses first (RECRUITING, NOT_YET_RECRUITING,
        ENROLLING_BY_INVITATION/AVAILABLE), then by NCT ID."""
        return self._display_order

    def __iter__(self) -> Iterator[IndexedTrial]:
        return iter(self._trials)

    def __contains__(self, nct_id: object) -> bool:
        return nct_id in self._pos

    def get(self, nct_id: str) -> IndexedTrial | None:
        """The indexed trial, or None."""
        i = self._pos.get(nct_id)
        return None if i is None else self._trials[i]

    def position(self, nct_id: str) -> int | None:
        return self._pos.get(nct_id)

    def at(self, i: int) -> IndexedTrial:
        return self._trials[i]

    def nct_at(self, i: int) -> str:
        """NCT ID of the trial at position ``i``."""
        return self._nct[i]

    def status_at(self, i: int) -> str:
        """Upper-case CT.gov overall status of the trial at position ``i`` ("" if none)."""
        return self._status[i]

    def count_statuses(self, statuses: Iterable[str] | None) -> int:
        """Number of trials whose status is in ``statuses`` (all trials for None)."""
        if statuses is None:
            return len(self._trials)
        return sum(len(self._by_status.get(s.upper(), ())) for s in set(statuses))

    def registry_excludes_at(self, i: int, age: float | None, sex: str | None) -> bool:
        """True if the registry's age limits or sex of the trial at position ``i`` settle
        it as ineligible for a patient of ``age``/``sex``
        (:func:`matchers.evaluate.registry_excludes`)."""
        lo, hi, registry_sex = self._registry[i]
        return registry_excludes(lo, hi, registry_sex, age, sex)

    def settled_ineligible_at(self, i: int, patient: NormalizedPatient) -> bool:
        """True if the trial at position ``i`` is ineligible for ``patient`` whatever
        its criteria say: the registry's age limits or sex exclude the patient, or its
        title (first-line / untreated, newly diagnosed) does
        (:func:`matchers.evaluate.registry_excludes`,
        :func:`matchers.evaluate.title_excludes`)."""
        lo, hi, registry_sex = self._registry[i]
        d = patient.demographics
        if registry_excludes(lo, hi, registry_sex, d.age, d.sex):
            return True
        first_line, newly = self._titles[i]
        return (first_line or newly) and title_excludes(first_line, newly, patient)

    def fit_memo(self, cancer: PatientCancer) -> FitMemo:
        """The memo of trial-level cancer-type fits for patients with ``cancer``
        (:class:`FitMemo`), created empty on first use; at most :data:`FIT_MEMO_SIZE`
        are kept (least recently used dropped). Thread-safe enough: entries only ever
        go from unknown to a value every thread would compute alike."""
        key = fit_key(cancer)
        memo = self._fit_memo.get(key)
        if memo is None:
            memo = FitMemo(len(self._trials))
            self._fit_memo[key] = memo
            while len(self._fit_memo) > FIT_MEMO_SIZE:
                try:
                    self._fit_memo.popitem(last=False)
                except KeyError:  # another thread emptied it meanwhile
                    break
        else:
            with suppress(KeyError):  # dropped by another thread meanwhile: still usable
                self._fit_memo.move_to_end(key)
        return memo

    def clear_fit_memo(self) -> None:
        """Forget every memoized fit (benchmarks measure cold requests with it)."""
        self._fit_memo.clear()

    def prepared_at(self, i: int) -> PreparedTrial:
        return self._prepared[i]

    def sites_at(self, i: int) -> tuple[Site, ...]:
        """Sites with coordinates of the trial at position ``i``."""
        return self._sites[i]

    def prepared(self, nct_id: str) -> PreparedTrial | None:
        i = self._pos.get(nct_id)
        return None if i is None else self._prepared[i]

    def by_code(self, code: str) -> tuple[str, ...]:
        """NCT IDs of trials whose (ancestor-expanded) codes include ``code``."""
        return tuple(self._trials[i].summary.nct_id for i in self._by_code.get(code, ()))

    def by_status(self, status: str) -> tuple[str, ...]:
        return tuple(self._trials[i].summary.nct_id
                     for i in self._by_status.get(status.upper(), ()))

    def by_study_type(self, study_type: str) -> tuple[str, ...]:
        return tuple(self._trials[i].summary.nct_id
                     for i in self._by_type.get(study_type.upper(), ()))

    def candidates(self, patient: NormalizedPatient) -> Sequence[int]:
        """Positions of trials worth evaluating for ``patient`` (sorted, unique).

        Trials coded with the patient's code or any ancestor (which, since codes are
        ancestor-expanded, includes trials for a more specific subtype), plus generic
        trials: any malignancy, and any solid tumour for a solid cancer or any
        haematologic malignancy for a blood cancer.
        """
        out: set[int] = set(self._any)
        for code in patient.cancer.lineage:
            out.update(self._by_code.get(code, ()))
        out.update(self._heme if patient.cancer.hematologic else self._solid)
        return sorted(out)


FIT_MEMO_SIZE = 256
"""Most patient cancers whose trial-level fits a :class:`TrialIndex` memoizes (each
memo is one byte per trial: 256 × 60k trials ≈ 15 MB at most)."""

UNKNOWN_FIT, UNFIT, FIT = 0, 1, 2
"""States of a :class:`FitMemo` entry: not computed yet; the trial-level cancer-type
fit is ``not_met`` (the trial is not for this cancer: ineligible); anything else."""


def fit_key(cancer: PatientCancer) -> tuple[object, ...]:
    """Everything :func:`matchers.criteria.cancer_type.cancer_fit` reads of the patient's
    cancer except its display name (which only words the reason): the memo key."""
    return (cancer.code, cancer.lineage, cancer.tissue, cancer.hematologic, cancer.malignant,
            cancer.carcinoma)


class FitMemo:
    """Trial-level cancer-type fit of every trial of one index for one patient cancer,
    filled as the ranker evaluates trials: ``state[i]`` is :data:`UNKNOWN_FIT`,
    :data:`UNFIT` or :data:`FIT`; ``specificity[i]`` is the fit's specificity of an
    UNFIT trial when not 0.0 (what an ineligible trial's score is made of).

    A cache of a pure function of (trial, patient cancer): the fit depends on nothing
    else (:func:`matchers.criteria.cancer_type.cancer_fit` takes only the trial's
    cancer scope and the patient's cancer), so a memoized UNFIT trial is ineligible for
    every patient with that cancer, with the same score.
    """

    __slots__ = ("specificity", "state")

    def __init__(self, size: int) -> None:
        self.state = bytearray(size)
        self.specificity: dict[int, float] = {}


def build_index(
    entries: Iterable[tuple[TrialSummary, ParsedTrial]], ontology: Ontology
) -> TrialIndex:
    """The service's start-up path: ``store.load_index_entries()`` → :class:`TrialIndex`.

    Each (summary, parsed) pair goes through :func:`index_trial`; ~7.5k trials take a
    few seconds. Raises ``ValueError`` on duplicate NCT IDs or mismatched pairs.
    """
    index = TrialIndex((index_trial(s, p, ontology) for s, p in entries), ontology)
    # The index lives as long as the process: move it out of the cyclic GC's young
    # generations so that full collections do not walk it during requests (the p99
    # of a match otherwise includes ~0.5 s gen-2 pauses over ~10⁷ objects).
    gc.collect()
    gc.freeze()
    return index


def _enrolling_facts(t: IndexedTrial) -> Iterator[CancerTypeFact]:
    yield from trial_cancer_facts(t.parsed)
