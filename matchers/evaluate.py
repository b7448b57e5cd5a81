"""Criterion evaluation: one :class:`IndexedTrial` × one :class:`NormalizedPatient`.

Pure: no I/O, no clock (``today`` is passed in), no module-level ontology. Nothing here
reads criterion text: the parser has already read it into facts and criterion shape
(:mod:`matchers.shape`); this module only compares those with the patient, through the
categories of :mod:`matchers.criteria`.

Model
-----
Each fact is an *atom*: a three-valued statement about the patient (True / False /
None = unknown, :mod:`matchers.logic`) given by its category's comparison — "the
patient has HER2-positive disease", "the patient received platinum", "ECOG is within
0–1". A criterion's *condition* combines its atoms:

* atoms of one category are alternatives ("NSCLC or mesothelioma", "stage IIIB or IV")
  — OR — unless the category combines them itself (biomarkers follow the connectors
  written between them, :func:`matchers.criteria.biomarker.combine_biomarkers`);
  negated atoms within a category must all hold ("without EGFR, ALK or ROS1
  alterations" = none of them) — AND;
* categories are conjunctive ("stage IV non-squamous NSCLC" = stage AND histology AND
  cancer type) — Kleene AND.

An inclusion criterion is met when its condition holds; an exclusion criterion is met
(the patient is *not* excluded) when its condition does not hold.

Cancer type is judged once per trial (:func:`matchers.criteria.cancer_type.cancer_fit`);
criteria naming another cancer type describe another cohort and are not held against the
patient when the trial accepts the patient's cancer elsewhere.

Criterion shape, as parsed: a permission ("… are eligible if …") cannot exclude a
patient it does not concern; a failure of a criterion restricted to one cohort/phase is
a key unknown (the patient may enter another cohort), and failing every labelled cohort
is ``not_met``; a labelled cohort none of whose criteria fail and some of whose key
criteria the patient meets makes the other cohorts' failures moot (and their open
questions too, when it names the patient's cancer and leaves no key question open), and
is named in the result (``Evaluation.cohort``); an exception clause the profile cannot
settle never rests a ``not_met`` alone; procedural items, uninterpreted text and
other-malignancy items never decide.

Verdict
-------
any ``not_met`` → ``ineligible``; else any unknown *key* criterion (a category whose
:attr:`~matchers.criteria.base.Category.key` is set: cancer type, histology, stage,
biomarker, prior therapy, performance status, brain metastases, age, sex, measurable
disease when required) → ``possibly_eligible``; else ``eligible``. Uninterpreted
criteria and non-key unknowns (labs, comorbidities, consent, contraception, washout
timing) never block ``eligible``. A title that says first-line/untreated makes a patient
with prior systemic therapy for advanced disease only possibly eligible; a biomarker the
title or conditions target that the patient lacks does the same.

Score: :mod:`matchers.score` (weights in ``matchers/rules/score.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from matchers.criteria import REGISTRY, Atom, CompareContext
from matchers.criteria.biomarker import biomarker_value
from matchers.criteria.cancer_type import (
    PreparedCancerFact,
    TrialCancerScope,
    cancer_fit,
    criterion_cancer_value,
    mention_fits,
    prepare_cancer_scope,
)
from matchers.logic import Tri, and_, not_, or_
from matchers.models import (
    BiomarkerFact,
    BrainMetastasesFact,
    CriterionKind,
    CriterionResult,
    CriterionRole,
    CriterionStatus,
    Fact,
    FactCategory,
    IndexedTrial,
    ParsedCriterion,
    ParsedTrial,
    SiteDistance,
    TrialMatch,
    Verdict,
    condition_spans,
)
from matchers.normalize import NormalizedPatient
from matchers.score import (
    ScoreTerms,
    ScoreWeights,
    explain_terms,
    fit_score,
    ineligible_score,
    load_weights,
)

if TYPE_CHECKING:
    from ontologies import Ontology

__all__ = [
    "Evaluation",
    "PreparedCriterion",
    "PreparedTrial",
    "age_within",
    "evaluate_criterion",
    "evaluate_prepared",
    "evaluate_trial",
    "explain",
    "prepare_trial",
    "registry_excludes",
    "title_excludes",
    "to_match",
]

TARGETING = frozenset({"biomarker", "histology", "stage", "prior_therapy"})
"""Inclusion categories that show a trial targets a disease subset (a met one is a sign
of a targeted fit: "EGFR-mutant", "after osimertinib", "stage IIIB-IV", "epithelioid")."""


@dataclass(slots=True)
class Outcome:
    """A criterion's outcome before it is turned into a :class:`CriterionResult`.

    The reason text is built only when the outcome is materialized (:meth:`result`):
    ``lazy`` = (prefix, connector, atoms, fallback) renders as
    ``'<prefix> "<criterion>"<connector><what the patient has>.'``.
    """

    criterion: ParsedCriterion | None
    kind: CriterionKind
    status: CriterionStatus
    reason: str
    text: str
    span: tuple[int, int]
    category: FactCategory | None = None
    question: str | None = None
    key: bool = False
    biomarker_met: bool = False
    lazy: tuple[str, str, Sequence[Atom], str] | None = None
    cached: CriterionResult | None = None
    scope: str | None = None
    """Key of the cohort whose criterion this outcome fails (the patient fails it, or
    it names another cohort's cancer): read by the cohort logic of
    :func:`evaluate_prepared`."""

    def reason_text(self) -> str:
        if self.lazy is None:
            return self.reason
        prefix, connector, atoms, fallback = self.lazy
        seen: list[str] = []
        for a in atoms:
            if a.patient not in seen:
                seen.append(a.patient)
        said = "; ".join(seen) or fallback
        return f"{prefix} {_quote(self.text)}" + (f"{connector}{said}." if said else ".")

    def result(self) -> CriterionResult:
        """The validated API model (cached: static outcomes are shared by patients)."""
        if self.cached is None:
            # Built from validated parts (criterion text/span from the parsed trial, enum
            # members, strings): construct without re-validation (hot path).
            self.cached = _construct_result({
                "text": self.text,
                "kind": self.kind,
                "status": self.status,
                "reason": self.reason_text(),
                "span": self.span,
                "category": self.category,
                "question": self.question,
                "key": self.key,
            })
        return self.cached


_set_attr = object.__setattr__
_RESULT_FIELDS = tuple(CriterionResult.model_fields)
assert _RESULT_FIELDS == ("text", "kind", "status", "reason", "span", "category", "question",
                          "key"), _RESULT_FIELDS
assert not CriterionResult.__pydantic_post_init__ and not any(
    f.alias or f.validation_alias for f in CriterionResult.model_fields.values())


def _construct_result(values: dict[str, object]) -> CriterionResult:
    """``CriterionResult.model_construct(**values)`` for a dict holding every field in
    declaration order, without its per-field loop (the page's hot path: ~300 results per
    request). Same instance state as ``model_construct``: ``__dict__`` in field order,
    every field set, no extra, no private attributes (the asserts above keep the model
    what this relies on)."""
    m = CriterionResult.__new__(CriterionResult)
    _set_attr(m, "__dict__", values)
    _set_attr(m, "__pydantic_fields_set__", set(_RESULT_FIELDS))
    _set_attr(m, "__pydantic_extra__", None)
    _set_attr(m, "__pydantic_private__", None)
    return m


@lru_cache(maxsize=65536)
def _quote(text: str, limit: int = 180) -> str:
    t = " ".join(text.split())
    return f'"{t if len(t) <= limit else t[: limit - 1] + "…"}"'


# --------------------------------------------------------------------------------------
# Trial side, prepared once at index time (from the parse output and the ontology)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedCriterion:
    """A criterion with facts grouped by category (as parsed) and its cancer mentions
    prepared against the ontology."""

    criterion: ParsedCriterion
    groups: tuple[tuple[str, tuple[Fact, ...]], ...]
    cancer: tuple[PreparedCancerFact, ...]
    static: Outcome | None = None
    """The outcome when it cannot depend on the patient (no facts, a procedural item, or
    only mentions of other malignancies): computed once, shared, never mutated."""
    skip: list[Outcome] = field(default_factory=list)
    """Lazily built, shared outcome used when the trial is not for the patient's cancer
    type at all (the criterion is then not evaluated)."""


@dataclass(frozen=True, slots=True)
class PreparedTrial:
    """Everything trial-side the evaluator needs, computed once at index time."""

    trial: IndexedTrial
    criteria: tuple[PreparedCriterion, ...]
    cancer: TrialCancerScope
    stage_order: tuple[str, ...] = field(default=())
    hints: tuple[tuple[tuple[BiomarkerFact, ...], tuple[PreparedCancerFact, ...]], ...] = ()
    """Per conditions entry (and the title) that names a biomarker: its biomarker facts
    ("EGFR-Mutated", "ER+", "MSIhi or dMMR") and the cancers the entry names — a
    biomarker qualifies the cancer of its own entry ("ER+ Breast Cancer" says nothing
    of the melanoma cohort of a basket trial)."""
    skip_results: list[tuple[CriterionResult, ...]] = field(default_factory=list)
    """Lazily built, shared results for a patient whose cancer the trial is not for."""
    eval_order: tuple[int, ...] = ()
    """Criterion positions, most decisive first (cancer type, then by category
    priority; static ones last): the early-exit path meets a ``not_met`` sooner."""
    label_scopes: frozenset[str] = frozenset()
    """Keys of the cohort labels that do not say "only" ("Cohort A:", "PART B"), when
    there are at least two: a patient failing every one of them fits no cohort."""


def prepare_trial(trial: IndexedTrial, ontology: Ontology) -> PreparedTrial:
    """Precompute the trial side of evaluation (fact grouping, cancer-type ancestry).

    Called by :class:`matchers.index.TrialIndex`; :func:`evaluate_trial` calls it itself
    when not given one. Reads only the parse output and the ontology.
    """
    from ontologies.stage import STAGE_ORDER

    parsed = trial.parsed
    scope, cancer_by_index = prepare_cancer_scope(
        parsed.conditions, parsed.criteria,
        conditions_non_cancer=parsed.conditions_non_cancer,
        condition_text=parsed.condition_text,
        condition_entries=trial.summary.conditions,
        ontology=ontology,
    )
    crits: list[PreparedCriterion] = []
    for c in parsed.criteria:
        groups: dict[str, list[Fact]] = {}
        for f in c.facts:
            if f.category != "cancer_type":
                groups.setdefault(f.category, []).append(f)
        cancer = cancer_by_index.get(c.index, ())
        crits.append(PreparedCriterion(
            criterion=c,
            groups=tuple((k, tuple(v)) for k, v in groups.items()),
            cancer=cancer,
            static=_static_outcome(c, groups, cancer),
        ))
    return PreparedTrial(
        trial=trial,
        criteria=tuple(crits),
        cancer=scope,
        stage_order=tuple(STAGE_ORDER),
        hints=_hint_entries(parsed, trial.summary.conditions, scope),
        eval_order=_eval_order(crits),
        label_scopes=_label_scopes(parsed),
    )


def _other_cohort(o: Outcome, labels: AbstractSet[str], fits: AbstractSet[str]) -> bool:
    """Whether ``o``'s criterion is restricted to a labelled cohort other than those the
    patient fits. A label naming every word of a fitting cohort's key names that cohort
    too ("Dose Escalation and MTD Expansion" covers "MTD Dose Expansion")."""
    key = o.criterion.scope_key if o.criterion is not None else None
    if not fits or key is None or key not in labels or key in fits:
        return False
    words = set(key.split())
    return not any(set(f.split()) <= words for f in fits)


def _settled(fits: AbstractSet[str], outcomes: Sequence[Outcome]) -> set[str]:
    """The fitting cohorts that name the patient's cancer in their own scope (a
    cancer-type criterion met there, under a label covering the cohort's) and have no
    open key question of their own: only these make another cohort's open questions
    moot."""
    open_keys = {o.criterion.scope_key for o in outcomes
                 if o.status is CriterionStatus.UNKNOWN and o.key and o.criterion is not None}
    named = [set(o.criterion.scope_key.split()) for o in outcomes
             if o.category == "cancer_type" and o.status is CriterionStatus.MET
             and o.scope is None and o.criterion is not None and o.criterion.scope_key]
    return {f for f in fits if f not in open_keys
            and any(set(f.split()) <= words for words in named)}


def _label_scopes(parsed: ParsedTrial) -> frozenset[str]:
    """The keys of the cohorts the criteria name without "only", when they name at
    least two: a trial whose criteria name a single cohort may have unnamed others."""
    keys = frozenset(c.scope_key or c.scope for c in parsed.criteria
                     if c.scope and not c.scope_only)
    return keys if len(keys) >= 2 else frozenset()


def _hint_entries(
    parsed: ParsedTrial, entries: Sequence[str], scope: TrialCancerScope
) -> tuple[tuple[tuple[BiomarkerFact, ...], tuple[PreparedCancerFact, ...]], ...]:
    try:
        spans = condition_spans(entries, parsed.condition_text)
    except ValueError:
        spans = []
    if parsed.condition_text:
        title_start = spans[-1][1] + 2 if spans else 0
        if title_start < len(parsed.condition_text):
            spans.append((title_start, len(parsed.condition_text)))
    out = []
    for lo, hi in spans:
        hints = tuple(f for f in parsed.conditions if isinstance(f, BiomarkerFact)
                      and not f.negated and lo <= f.span[0] < hi)
        if not hints:
            continue
        cancers = tuple(pf for pf in scope.positive
                        if pf.source == "condition" and lo <= pf.fact.span[0] < hi)
        out.append((hints, cancers))
    return tuple(out)


def _title_biomarkers(prep: PreparedTrial, p: NormalizedPatient) -> tuple[Tri, bool]:
    """What the conditions/title biomarkers say for the patient: (True if an entry that
    applies to the patient's cancer has all its biomarkers, False if the applicable
    entries' biomarkers all fail, None otherwise; and whether the patient's cancer is
    named only qualified by a failing biomarker — the trial is then not for them)."""
    applicable: list[tuple[Tri, bool]] = []
    for hints, cancers in prep.hints:
        if cancers and not any(mention_fits(pf, p.cancer) for pf in cancers):
            continue  # qualifies another cancer of the trial
        value = and_(biomarker_value(f, p.biomarkers).value for f in hints)
        applicable.append((value, bool(cancers)))
    if not applicable:
        return None, False
    if any(v is True for v, _ in applicable):
        return True, False
    if all(v is False for v, _ in applicable):
        plain = any(mention_fits(pf, p.cancer) for pf in prep.cancer.positive
                    if pf.source == "condition"
                    and not any(pf in cancers for _, cancers in prep.hints))
        return False, not plain and all(named for _, named in applicable)
    return None, False


def _eval_order(crits: Sequence[PreparedCriterion]) -> tuple[int, ...]:
    def rank(i: int) -> tuple[int, int]:
        pc = crits[i]
        if pc.static is not None:
            return (99, i)
        if pc.cancer:
            return (0, i)
        best = min((REGISTRY[cat].priority for cat, _ in pc.groups), default=98)
        return (1 + best, i)
    return tuple(sorted(range(len(crits)), key=rank))


def _static_outcome(
    c: ParsedCriterion, groups: dict[str, list[Fact]], cancer: Sequence[PreparedCancerFact]
) -> Outcome | None:
    role = c.role
    if role in (CriterionRole.UNINTERPRETED, CriterionRole.NOT_REQUIRED):
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN, "", c.text, c.span,
                       lazy=("Not interpreted automatically:", "", (), ""))
    if role is CriterionRole.PROCEDURAL:
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN, "", c.text, c.span,
                       lazy=("Procedural requirement (consent, contraception, sampling), "
                             "checked at screening:", "", (), ""))
    if role is CriterionRole.DEFINITION:
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN, "", c.text, c.span,
                       lazy=("Defines a term of another criterion (asks nothing itself):",
                             "", (), ""))
    if role is CriterionRole.OTHER_MALIGNANCY:
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN, "", c.text, c.span,
                       "condition", "other malignancy?",
                       lazy=("Concerns other or prior malignancies:", "", (), ""))
    return None


# --------------------------------------------------------------------------------------
# Criterion
# --------------------------------------------------------------------------------------


def _group_value(pc: PreparedCriterion, category: str, atoms: Sequence[Atom]) -> Tri:
    pos = [a for a in atoms if not a.fact.negated]
    neg = [a for a in atoms if a.fact.negated]
    parts: list[Tri] = []
    if pos:
        combine = REGISTRY[category].combine
        parts.append(combine(pc.criterion, pos) if combine is not None
                     else or_(a.value for a in pos))
    if neg:
        parts.append(and_(not_(a.value) for a in neg))
    return and_(parts)


def _main_category(group_vals: Sequence[tuple[str, Tri, list[Atom]]]) -> str:
    """The category a met criterion is filed under: its most decisive targeting one by
    category priority ("non-squamous NSCLC" is a histology criterion, not merely a
    cancer-type one), else the first one it names."""
    cats = [c for c, _, _ in group_vals]
    targeting = [c for c in cats if c in TARGETING]
    if targeting:
        return min(targeting, key=lambda c: REGISTRY[c].priority)
    return cats[0]


def evaluate_criterion(
    pc: PreparedCriterion,
    p: NormalizedPatient,
    ctx: CompareContext,
    trial_cancer_met: bool,
    trial_cancer_open: bool | None = None,
) -> Outcome:
    """Evaluate one criterion (see the module docstring for the combination rules).

    ``trial_cancer_met``: the trial accepts the patient's cancer type;
    ``trial_cancer_open`` (default: the same): it accepts or may accept it (a cohort
    whose fit is unknown), so that criteria naming other cancer types are other cohorts.
    ``ctx.criterion`` is ignored (the criterion's own is used).
    """
    if trial_cancer_open is None:
        trial_cancer_open = trial_cancer_met
    if pc.static is not None:
        return pc.static
    crit = pc.criterion
    kind = crit.kind
    cctx = CompareContext(crit, ctx.ontology, ctx.today, ctx.stage_order)
    cancer_v: Tri = True
    if pc.cancer:
        cancer_v, _spec, _ = criterion_cancer_value(crit, pc.cancer, p.cancer)
        if kind is CriterionKind.INCLUSION and cancer_v is False and trial_cancer_open:
            names = "; ".join(pf.fact.text for pf in pc.cancer)
            return Outcome(crit, kind, CriterionStatus.MET,
                           f"Applies to another cohort ({names}); the trial accepts "
                           f"{p.cancer.name} elsewhere.", crit.text, crit.span,
                           "cancer_type", scope=crit.scope_key)  # that cohort is not theirs
        if kind is CriterionKind.INCLUSION and cancer_v is None and trial_cancer_met:
            cancer_v = True
    group_vals: list[tuple[str, Tri, list[Atom]]] = []
    if pc.cancer:
        # For an exclusion, the cancer mentions are "positive" statements of the
        # condition; criterion_cancer_value returned whether the patient is outside them.
        cv = cancer_v if kind is CriterionKind.INCLUSION else not_(cancer_v)
        group_vals.append(("cancer_type", cv, []))
    for category, facts in pc.groups:
        compare = REGISTRY[category].compare
        assert compare is not None
        atoms = [compare(f, p, cctx) for f in facts]
        group_vals.append((category, _group_value(pc, category, atoms), atoms))
    condition = and_(v for _, v, _ in group_vals)
    satisfied = condition if kind is CriterionKind.INCLUSION else not_(condition)

    if satisfied is True:
        all_atoms = [a for _, _, atoms in group_vals for a in atoms]
        if kind is CriterionKind.INCLUSION:
            biomarker_met = any(c == "biomarker" and v is True for c, v, _ in group_vals)
            lazy = ("Meets", ": ", all_atoms, "")
        else:
            biomarker_met = False
            lazy = ("Not excluded by", ": ", all_atoms, "")
        return Outcome(crit, kind, CriterionStatus.MET, "", crit.text, crit.span,
                       _category(_main_category(group_vals)), biomarker_met=biomarker_met,
                       lazy=lazy)
    if satisfied is False:
        if kind is CriterionKind.INCLUSION:
            failing = [(c, atoms) for c, v, atoms in group_vals if v is False]
            cat, atoms = failing[0] if failing else (group_vals[0][0], [])
            lazy = ("Requires", "; patient: ", [a for a in atoms if a.value is not None],
                    p.cancer.name)
        else:
            hits = [(c, atoms) for c, v, atoms in group_vals if v is True]
            cat, atoms = hits[-1] if hits else (group_vals[0][0], [])
            lazy = ("Excluded by", "; patient: ",
                    [a for _, _, atoms2 in group_vals for a in atoms2 if a.value is not None],
                    p.cancer.name)
        deciding = [a for a in atoms if a.value is not None]
        permission = crit.permission
        if permission and deciding and all(
                any(lo <= a.fact.span[0] < hi for lo, hi in permission) for a in deciding):
            return Outcome(crit, kind, CriterionStatus.MET, "", crit.text, crit.span,
                           _category(cat), lazy=("Permission that does not apply to the "
                                                 "patient:", " ", deciding, ""))
        scope = crit.scope
        if scope and cat != "cancer_type":
            return Outcome(crit, kind, CriterionStatus.UNKNOWN, "", crit.text, crit.span,
                           _category(cat), f"eligible for a cohort not restricted by "
                           f"{_quote(scope, 80)}?", True,
                           lazy=(f"Fails a criterion restricted to one cohort/phase "
                                 f"({_quote(scope, 80)}):", " ", deciding, ""),
                           scope=crit.scope_key or scope)
        if deciding and all(_has_open_exception(a.fact) for a in deciding):
            # The text carves an exception into the fact ("unless …", "other than …")
            # that the profile cannot settle: never rest not_met on it alone.
            exc = next(a.fact.exception for a in deciding if a.fact.exception)
            return Outcome(crit, kind, CriterionStatus.UNKNOWN, "", crit.text, crit.span,
                           _category(cat), f"does the exception apply: {exc}?",
                           REGISTRY[cat].key and any(a.key for a in deciding),
                           lazy=("Cannot decide (exception clause)", ": ", deciding, ""))
        return Outcome(crit, kind, CriterionStatus.NOT_MET, "", crit.text, crit.span,
                       _category(cat), lazy=lazy)
    unknown = [(c, atoms) for c, v, atoms in group_vals if v is None]
    key = False
    question: str | None = None
    ucat = unknown[0][0] if unknown else None
    for c, atoms in unknown:
        if c == "cancer_type":
            key = True
            question = question or "cancer subtype?"
            ucat = c
            continue
        for a in atoms:
            if a.value is not None:
                continue
            is_key = a.key and REGISTRY[c].key
            if is_key and not key:
                key, ucat, question = True, c, a.question
            elif question is None:
                question = a.question
    lazy = ("Cannot decide", ": ",
            [a for _, atoms in unknown for a in atoms if a.value is None], "")
    return Outcome(crit, kind, CriterionStatus.UNKNOWN, "", crit.text, crit.span,
                   _category(ucat), question, key, lazy=lazy)


def _has_open_exception(f: Fact) -> bool:
    """True if ``f`` carries an exception clause the evaluator has not already modelled
    (brain-metastasis facts encode "unless treated and stable" in ``treated_allowed``)."""
    if not getattr(f, "exception", None):
        return False
    return not (isinstance(f, BrainMetastasesFact) and f.treated_allowed is not None)


def _category(cat: str | None) -> FactCategory | None:
    return cat if cat in REGISTRY else None  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# Trial
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Evaluation:
    """A trial's evaluation before materialization (cheap to sort)."""

    prep: PreparedTrial
    verdict: Verdict
    score: float
    outcomes: list[Outcome]
    terms: ScoreTerms | None
    """The score's terms (None for an ineligible trial), rendered as
    ``score_explanation`` by :func:`explain`."""
    specificity: float
    questions: list[str]
    tail: tuple[CriterionResult, ...] = ()
    """Results appended after ``outcomes`` (shared, for criteria not evaluated)."""
    partial: bool = False
    """True if evaluation stopped at the first ``not_met`` (``full=False``): verdict and
    score are final, ``outcomes`` incomplete."""
    cohort: str | None = None
    """The labelled cohort the patient may fit, when the trial names cohorts and the
    patient fails the others' criteria (as written: "Cohort 1")."""


def age_within(lo: float | None, hi: float | None, age: float) -> bool:
    """The registry's age limits (years, inclusive; None = no limit) admit ``age``."""
    return (lo is None or age >= lo) and (hi is None or age <= hi)


def registry_excludes(lo: float | None, hi: float | None, registry_sex: str,
                      age: float | None, sex: str | None) -> bool:
    """True if the registry's age limits or sex (``registry_sex`` upper case: ALL, FEMALE,
    MALE) settle the trial as not for a patient of ``age``/``sex``: one of the
    :func:`_summary_outcomes` is then ``not_met``, so the verdict is ``ineligible``
    whatever the criteria say (nothing turns a ``not_met`` back). The ranker prunes with
    it before evaluating (:func:`matchers.rank.rank_trials`)."""
    if age is not None and (lo is not None or hi is not None) and not age_within(lo, hi, age):
        return True
    return sex is not None and registry_sex in ("FEMALE", "MALE") and sex != registry_sex.lower()


def _first_line_excludes(first_line_title: bool, p: NormalizedPatient) -> bool:
    """A first-line / untreated title against a patient with systemic therapy for
    advanced disease: a ``not_met`` of :func:`evaluate_prepared`."""
    return first_line_title and p.cancer.malignant and p.therapy.systemic_lines_advanced > 0


def _newly_diagnosed_excludes(newly_diagnosed_title: bool, p: NormalizedPatient) -> bool:
    """A newly-diagnosed title against recurred disease: a ``not_met``."""
    return newly_diagnosed_title and p.stage.extents.get("recurrent") is True


def title_excludes(first_line_title: bool, newly_diagnosed_title: bool,
                   p: NormalizedPatient) -> bool:
    """True if the trial's title (first-line / untreated, newly diagnosed) settles it as
    ineligible for ``p`` whatever its criteria and cancer fit say (the ranker prunes
    with it, like :func:`registry_excludes`)."""
    return (_first_line_excludes(first_line_title, p)
            or _newly_diagnosed_excludes(newly_diagnosed_title, p))


def _summary_outcomes(prep: PreparedTrial, p: NormalizedPatient) -> list[Outcome]:
    s = prep.trial.summary
    age, sex = p.demographics.age, p.demographics.sex
    out: list[Outcome] = []
    if s.min_age_years is not None or s.max_age_years is not None:
        lo = s.min_age_years
        hi = s.max_age_years
        text = "Age " + (f"{lo:g}" if lo is not None else "0") + (
            f"–{hi:g} years" if hi is not None else "+ years")
        if age is None:
            out.append(Outcome(None, CriterionKind.INCLUSION, CriterionStatus.UNKNOWN,
                               f"Trial enrols ages {text[4:]}; age not given.", text, (0, 0),
                               "age", "age?", True))
        else:
            ok = age_within(lo, hi, age)
            out.append(Outcome(None, CriterionKind.INCLUSION,
                               CriterionStatus.MET if ok else CriterionStatus.NOT_MET,
                               f"Trial enrols ages {text[4:]} (registry); patient is "
                               f"{age:g}.", text, (0, 0), "age"))
    registry_sex = (s.sex or "ALL").upper()
    if registry_sex in ("FEMALE", "MALE"):
        text = f"Sex: {registry_sex.lower()} (registry)"
        if sex is None:
            out.append(Outcome(None, CriterionKind.INCLUSION, CriterionStatus.UNKNOWN,
                               f"Trial enrols {registry_sex.lower()} patients only; sex not "
                               "given.", text, (0, 0), "sex", "sex?", True))
        else:
            ok = sex == registry_sex.lower()
            out.append(Outcome(None, CriterionKind.INCLUSION,
                               CriterionStatus.MET if ok else CriterionStatus.NOT_MET,
                               f"Trial enrols {registry_sex.lower()} patients only; patient "
                               f"is {sex}.", text, (0, 0), "sex"))
    return out


def _ineligible(prep: PreparedTrial, outcomes: list[Outcome], specificity: float,
                w: ScoreWeights, *, partial: bool = False,
                tail: tuple[CriterionResult, ...] = ()) -> Evaluation:
    return Evaluation(prep, Verdict.INELIGIBLE, ineligible_score(specificity, w), outcomes,
                      None, specificity, [], tail=tail, partial=partial)


def evaluate_prepared(prep: PreparedTrial, p: NormalizedPatient, ontology: Ontology,
                      today: date, *, skip_unfit: bool = False,
                      full: bool = True) -> Evaluation:
    """Evaluate a prepared trial (the fast path used by :mod:`matchers.rank`).

    ``skip_unfit``: when the trial is not for the patient's cancer type (trial-level
    ``not_met``), do not evaluate its criteria (listed as not evaluated) — used by the
    ranker for trials outside the index's candidate set. ``full=False``: stop at the
    first ``not_met`` (verdict and score are already final; ``partial`` is set).
    ``today`` is the day eligibility is judged on (dates in the profile count from it).
    """
    w = load_weights()
    ctx = CompareContext(None, ontology, today, prep.stage_order)
    fit = cancer_fit(prep.cancer, p.cancer)
    outcomes: list[Outcome] = [
        Outcome(None, CriterionKind.INCLUSION, fit.status, fit.reason, fit.text, fit.span,
                "cancer_type", (fit.question or "cancer subtype?")
                if fit.status is CriterionStatus.UNKNOWN and p.cancer.malignant else None,
                fit.status is CriterionStatus.UNKNOWN)
    ]
    outcomes.extend(_summary_outcomes(prep, p))
    parsed = prep.trial.parsed
    lines_advanced = p.therapy.systemic_lines_advanced
    if _first_line_excludes(bool(parsed.first_line_title), p):
        # A first-line / previously-untreated trial is not for a patient who has had
        # systemic therapy for advanced disease (only stated therapies count).
        outcomes.append(Outcome(
            None, CriterionKind.INCLUSION, CriterionStatus.NOT_MET,
            f"Trial title says first-line / untreated ({_quote(parsed.first_line_title)}); "
            f"patient has had {lines_advanced} line(s) of systemic therapy for advanced "
            "disease.", f"Title: {parsed.first_line_title}", (0, 0), "prior_therapy"))
    if _newly_diagnosed_excludes(bool(parsed.newly_diagnosed_title), p):
        outcomes.append(Outcome(
            None, CriterionKind.INCLUSION, CriterionStatus.NOT_MET,
            f"Trial title says newly diagnosed ({_quote(parsed.newly_diagnosed_title)}); "
            "patient's disease has recurred.", f"Title: {parsed.newly_diagnosed_title}",
            (0, 0), "stage"))
    if skip_unfit and fit.status is CriterionStatus.NOT_MET:
        # Not a trial for this cancer: the verdict is settled; list the criteria as not
        # evaluated (shared outcomes) instead of evaluating each one.
        if not prep.skip_results:
            prep.skip_results.append(tuple(_skipped(pc).result() for pc in prep.criteria))
        return _ineligible(prep, outcomes, 0.0, w, tail=prep.skip_results[0])
    trial_met = fit.status is CriterionStatus.MET
    trial_open = trial_met or (fit.status is CriterionStatus.UNKNOWN)
    hint_value, hint_decisive = _title_biomarkers(prep, p) if trial_open else (None, False)
    if hint_value is False:
        # The title/conditions target a biomarker status the patient lacks ("… NSCLC
        # Harbouring EGFR Mutations" for an EGFR wild-type patient, "MSIhi or dMMR …
        # Solid Tumors" for an MSS one): not eligible when the patient's cancer is named
        # only with that biomarker, else an open key question.
        named = ", ".join(dict.fromkeys(_quote(f.text, 60) for hints, _ in prep.hints
                                        for f in hints))
        outcomes.append(Outcome(
            None, CriterionKind.INCLUSION,
            CriterionStatus.NOT_MET if hint_decisive else CriterionStatus.UNKNOWN,
            f"Trial's title/conditions target {named}; the patient's profile says otherwise.",
            f"Conditions/title: {parsed.condition_text}", (0, 0), "biomarker",
            None if hint_decisive else "biomarker status the title targets?",
            not hint_decisive))
    if not full and any(o.status is CriterionStatus.NOT_MET for o in outcomes):
        return _ineligible(prep, outcomes, fit.specificity, w, partial=True)
    if full or len(prep.eval_order) != len(prep.criteria):
        for pc in prep.criteria:
            outcomes.append(evaluate_criterion(pc, p, ctx, trial_met, trial_open))
    else:
        # Most decisive criteria first; stop at the first not_met: the verdict is settled
        # and an ineligible trial's score depends on its cancer-type fit only (the rest is
        # evaluated if the page shows the trial).
        slots: list[Outcome | None] = [None] * len(prep.criteria)
        crits = prep.criteria
        for i in prep.eval_order:
            o = evaluate_criterion(crits[i], p, ctx, trial_met, trial_open)
            if o.status is CriterionStatus.NOT_MET:
                outcomes.append(o)
                return _ineligible(prep, outcomes, fit.specificity, w, partial=True)
            slots[i] = o
        outcomes.extend(o for o in slots if o is not None)
    cohort: str | None = None
    if prep.label_scopes:
        failed = {o.scope for o in outcomes if o.scope is not None}
        if prep.label_scopes <= failed:
            # Every labelled cohort fails: the patient fits none of them.
            for o in outcomes:
                if o.scope in prep.label_scopes and o.status is CriterionStatus.UNKNOWN:
                    o.status, o.key, o.lazy = CriterionStatus.NOT_MET, False, (
                        "Fits no cohort; fails", " ", o.lazy[2] if o.lazy else (), "")
        else:
            # A labelled cohort none of whose criteria fail, and some of whose key
            # criteria other than the cancer type (which may name another cohort's
            # cancer) the patient meets ("Cohort 1" untreated AML, age ≥ 60, ECOG ≤ 2),
            # is open to the patient: the criteria failed in the other cohorts ("Cohort
            # 2": ECOG 3 or 4) do not apply to them. Open questions of criteria
            # restricted to another labelled cohort do not apply either ("Group 2 -
            # prior CPI: Subjects with AC that is HER 2/neu negative" for a patient of
            # the "MTD Dose Expansion"), once a fitting cohort is settled (_settled).
            fits = (prep.label_scopes - failed) & {
                o.criterion.scope_key for o in outcomes
                if o.status is CriterionStatus.MET and o.criterion is not None
                and o.category is not None and o.category != "cancer_type"
                and REGISTRY[o.category].key}
            settled = _settled(fits, outcomes) if fits else set()
            moot = [o for o in outcomes if o.status is CriterionStatus.UNKNOWN and (
                o.scope in failed or _other_cohort(o, prep.label_scopes, settled))]
            if fits and (failed or any(o.key and o.scope not in failed for o in moot)):
                cohort = next((pc.criterion.scope for pc in prep.criteria
                               if pc.criterion.scope_key in fits), None)
                for o in moot:
                    o.status, o.key, o.question, o.lazy = CriterionStatus.MET, False, None, (
                        "For another cohort than the one the patient may fit:", "; patient: ",
                        o.lazy[2] if o.lazy else (), "")
    not_met = [o for o in outcomes if o.status is CriterionStatus.NOT_MET]
    key_unknown = [o for o in outcomes if o.status is CriterionStatus.UNKNOWN and o.key]
    if not_met:
        return _ineligible(prep, outcomes, fit.specificity, w)
    verdict = Verdict.POSSIBLY_ELIGIBLE if key_unknown else Verdict.ELIGIBLE
    n_met_key = 0
    targeted: set[str] = set()
    biomarker = False
    for o in outcomes:
        if o.status is CriterionStatus.MET and o.criterion is not None \
                and o.category is not None and REGISTRY[o.category].key:
            n_met_key += 1
            if o.kind is CriterionKind.INCLUSION and o.category in TARGETING:
                targeted.add(o.category)
        biomarker = biomarker or o.biomarker_met
    title_penalty = 0.0
    if hint_value is True:
        biomarker = True
        targeted.add("biomarker")
    elif hint_value is False:
        title_penalty = w.title_biomarker_lacking
    if parsed.line_hint is not None and p.cancer.malignant and p.therapy.known:
        treated = lines_advanced > 0
        if (parsed.line_hint == "later") == treated:
            targeted.add("line")
        elif parsed.line_hint == "first" and treated:
            title_penalty += w.first_line_for_pretreated
    # One open question counts once, however many criteria ask it (a generic "solid
    # tumour" in the conditions and again in two criteria is one cancer-type question).
    n_open = len({"cancer_type" if o.category == "cancer_type" else (o.category, o.question)
                  if o.question else id(o) for o in key_unknown})
    terms = ScoreTerms(specificity=fit.specificity, targeted=tuple(sorted(targeted)),
                       biomarker=biomarker, n_key_met=n_met_key, n_open=n_open,
                       n_not_met=0, title_penalty=title_penalty)
    questions: list[str] = []
    for o in key_unknown:
        if o.question and o.question not in questions:
            questions.append(o.question)
    return Evaluation(prep, verdict, fit_score(terms, w), outcomes, terms, fit.specificity,
                      questions, cohort=cohort)


def explain(ev: Evaluation) -> tuple[str, ...]:
    """The score's terms in words (``TrialMatch.score_explanation``)."""
    return explain_terms(ev.terms, ev.specificity, load_weights())


def _skipped(pc: PreparedCriterion) -> Outcome:
    if not pc.skip:
        c = pc.criterion
        pc.skip.append(Outcome(c, c.kind, CriterionStatus.UNKNOWN,
                               "Not evaluated: the trial is not for the patient's cancer "
                               "type.", c.text, c.span))
    return pc.skip[0]


def to_match(ev: Evaluation, nearest: SiteDistance | None = None) -> TrialMatch:
    """Materialize an :class:`Evaluation` as the API's :class:`TrialMatch`."""
    s = ev.prep.trial.summary
    return TrialMatch.model_construct(
        nct_id=s.nct_id,
        title=s.title or s.official_title or "",
        overall_status=s.overall_status,
        verdict=ev.verdict,
        score=ev.score,
        criteria=tuple(o.result() for o in ev.outcomes) + ev.tail,
        questions=tuple(ev.questions),
        nearest_site=nearest,
        score_explanation=explain(ev),
        cohort=ev.cohort,
    )


def evaluate_trial(
    trial: IndexedTrial,
    patient: NormalizedPatient,
    ontology: Ontology,
    today: date,
    *,
    prepared: PreparedTrial | None = None,
) -> TrialMatch:
    """Evaluate every criterion of ``trial`` for ``patient``; pure.

    Returns a :class:`TrialMatch` whose ``criteria`` start with the trial-level
    cancer-type fit, then the registry's age/sex limits, then each parsed criterion in
    order (met / not_met / unknown with a reason quoting the trial and, when unknown,
    the question that would settle it). ``nearest_site`` is left empty (the ranker
    fills it). Raises nothing for odd trials: uninterpretable parts become unknown.
    """
    prep = prepared if prepared is not None else prepare_trial(trial, ontology)
    return to_match(evaluate_prepared(prep, patient, ontology, today))
