"""Criterion shape, read once at parse time: what each criterion asks of the patient.

The extractors (:mod:`matchers.criteria`) read *facts*; this pass reads how the
criterion around them is built and writes the result into the parse output, so that
nothing re-reads criterion text after parsing (the evaluator only compares facts with
the patient, and ``GET /v1/trials/{nct_id}`` shows exactly what is evaluated).

:func:`shape_trial` takes a trial's criteria (with their extracted facts, under their
final kinds) and condition facts, and returns them final:

* **kind** (:func:`criterion_kinds`, applied by the parser before the facts are read
  for good) — a sub-heading that says "exclusion criteria" makes its items exclusions
  (and vice versa) (``shape.kind_from_heading``); in a text with no exclusion section
  at all, an item phrased as an exclusion ("Subjects with known … brain metastases,
  unless treated …") that asks nothing of the patient and does not name the targeted
  disease is an exclusion, as is everything after a lead-in "Exclusion Criteria (…
  will be excluded if …)" left among the items (``shape.exclusion_worded``,
  ``shape.exclusion_leadin``);
* **scope** — the phase/cohort/part a criterion is restricted to: its own head ("In the
  MTD Expansion Cohort only, …"), its sub-heading ("Cohort A:") or a sub-heading listed
  as a criterion ("Key exclusion criteria for the phase III only:"), with
  ``scope_only`` for "… only" scopes (``shape.scope_*``);
* **role** — ``uninterpreted`` (no facts), ``procedural`` (consent, contraception,
  sample provision), ``other_malignancy`` (only about other/prior cancers),
  ``not_required`` ("patients do not need to have measurable disease"), ``definition``
  (an item under "Each of the following is considered 1 relapse:", ``shape.definition``);
* **permission** spans ("… are eligible if …": a permission cannot exclude a patient
  it does not concern) and **washout** (a time window: prior therapy it names is
  timing, not a contradiction);
* **biomarker joins** — the connectors written between biomarker mentions;
* **fact rewrites**, each recorded in the fact's ``rule`` as ``+shape.<id>``:
  "Subjects must not be pregnant" among exclusions restates the exclusion
  (``condition_restated``); "No more than 3 lines" among exclusions is an upper limit
  (``lines_upper_limit``); "… including neoadjuvant or adjuvant treatment" widens the
  setting (``including_early``); "(except for (neo)adjuvant …)" makes the fact the
  advanced-setting one (``early_exception``); "more than one CDK 4/6 inhibitor" counts
  agents (``min_agents``);
* **mentions that are no scope are dropped**: the RECIST name, "tumor tissue/sample",
  a metastasis site read as a cancer type ("peritoneal metastases"), a biomarker that
  names a drug's target ("treatment targeting KRAS G12C"), a cancer named as a history
  of another cancer in an exclusion, facts inside "do not need to have …";
* a cancer type in an exclusion is marked ``qualified`` when a histology, biomarker or
  stage fact beside it (not inside it) narrows it, or when it is a type the trial enrols
  (its conditions, title or inclusions name it): then it can only mean a subtype;
* trial level: whether some conditions entry names no cancer
  (``conditions_non_cancer``), and what the title says of the line of therapy
  (``first_line_title``, ``newly_diagnosed_title``, ``line_hint``).

The cues are data (``matchers/rules/shape.toml``); the ontology is used only to tell a
metastasis site (an OncoTree tissue node) from a cancer type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from matchers.models import (
    BiomarkerFact,
    CancerTypeFact,
    ConditionFact,
    CriterionKind,
    CriterionRole,
    Fact,
    ParsedCriterion,
    PriorTherapyFact,
    Span,
    condition_spans,
)
from matchers.rules import Rules, ShapeRules, load_rules

if TYPE_CHECKING:
    from ontologies import Ontology

__all__ = ["TrialShape", "criterion_kinds", "setting_family", "shape_trial"]

EARLY_WORDS = ("adjuvant", "neoadjuvant", "perioperative", "curative", "early")
"""Setting words of the early (curative-intent) setting."""


def setting_family(setting: str | None) -> str | None:
    """``early`` for an adjuvant/neoadjuvant/perioperative/curative setting, ``advanced``
    for any other stated setting, None when none is stated."""
    if not setting:
        return None
    s = setting.lower()
    if any(w in s for w in EARLY_WORDS):
        return "early"
    return "advanced"


@dataclass(frozen=True, slots=True)
class _Rx:
    permission: re.Pattern[str]
    restrictive: re.Pattern[str]
    washout: re.Pattern[str]
    window_length: re.Pattern[str]
    at_least_two: re.Pattern[str]
    scope_only: re.Pattern[str]
    scope_label: re.Pattern[str]
    scope_all: re.Pattern[str]
    only: re.Pattern[str]
    procedural: re.Pattern[str]
    sample: re.Pattern[str]
    sample_sentence: re.Pattern[str]
    no_need: re.Pattern[str]
    including_early: re.Pattern[str]
    early_exception: re.Pattern[str]
    tumor_not_scope: re.Pattern[str]
    scope_key_stopwords: frozenset[str]
    definition_leadin: re.Pattern[str]
    recist: re.Pattern[str]
    site_words: re.Pattern[str]
    history_of_other_cancer: re.Pattern[str]
    target_before: re.Pattern[str]
    target_after: re.Pattern[str]
    exclusion_worded: re.Pattern[str]
    excluded_subject: re.Pattern[str]
    exclusion_leadin: re.Pattern[str]
    inclusion_leadin: re.Pattern[str]
    requirement: re.Pattern[str]
    or_words: re.Pattern[str]
    and_words: re.Pattern[str]
    untreated_title: re.Pattern[str]
    treated_title: re.Pattern[str]
    first_line: re.Pattern[str]
    later_line: re.Pattern[str]
    newly_diagnosed_title: re.Pattern[str]
    recurrent_title: re.Pattern[str]
    carcinoma_word: re.Pattern[str]
    bare_generic: frozenset[str]


def _alt(parts: Sequence[str]) -> str:
    return "|".join(parts)


@lru_cache(maxsize=4)
def _compiled(rules: ShapeRules) -> _Rx:
    def rx(parts: Sequence[str]) -> re.Pattern[str]:
        return re.compile(_alt(parts), re.I)

    words = f"(?:{_alt(rules.scope_words)})"
    scope_only = re.compile(
        rf"\bonly\b.{{0,60}}{words}|{words}.{{0,60}}\bonly\b|"
        rf"^\W*(?:for|in)\s+(?:the\s+|all\s+)?(?:[\w/-]+\s+){{0,4}}{words}|"
        rf"^\W*{words}[^:]{{0,40}}:", re.I)
    return _Rx(
        permission=rx(rules.permission),
        restrictive=rx(rules.restrictive),
        washout=rx(rules.washout),
        window_length=rx(rules.window_length),
        at_least_two=rx(rules.at_least_two),
        scope_only=scope_only,
        scope_label=rx(rules.scope_label),
        scope_all=rx(rules.scope_all),
        only=re.compile(r"\bonly\b", re.I),
        procedural=rx(rules.procedural),
        sample=rx(rules.sample),
        sample_sentence=rx(rules.sample_sentence),
        no_need=rx(rules.no_need),
        including_early=rx(rules.including_early),
        early_exception=rx(rules.early_exception),
        tumor_not_scope=rx(rules.tumor_not_scope),
        scope_key_stopwords=frozenset(rules.scope_key_stopwords),
        definition_leadin=rx(rules.definition_leadin),
        recist=rx(rules.recist),
        site_words=rx(rules.site_words),
        history_of_other_cancer=rx(rules.history_of_other_cancer),
        target_before=rx(rules.target_before),
        target_after=rx(rules.target_after),
        exclusion_worded=rx(rules.exclusion_worded),
        excluded_subject=rx(rules.excluded_subject),
        exclusion_leadin=rx(rules.exclusion_leadin),
        inclusion_leadin=rx(rules.inclusion_leadin),
        requirement=rx(rules.requirement),
        or_words=rx(rules.or_words),
        and_words=rx(rules.and_words),
        untreated_title=rx(rules.untreated_title),
        treated_title=rx(rules.treated_title),
        first_line=rx(rules.first_line),
        later_line=rx(rules.later_line),
        newly_diagnosed_title=rx(rules.newly_diagnosed_title),
        recurrent_title=rx(rules.recurrent_title),
        carcinoma_word=rx(rules.carcinoma_word),
        bare_generic=frozenset(w.lower() for w in rules.bare_generic_words),
    )


@dataclass(frozen=True, slots=True)
class TrialShape:
    """The shaped parse output of one trial (see :func:`shape_trial`)."""

    criteria: tuple[ParsedCriterion, ...]
    conditions: tuple[Fact, ...]
    conditions_non_cancer: bool
    first_line_title: str | None
    newly_diagnosed_title: str | None
    line_hint: Literal["first", "later"] | None


def _rewrite(f: Fact, rule: str, **update: object) -> Fact:
    return f.model_copy(update={**update, "rule": f"{f.rule}+shape.{rule}"})


_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
"""Days per unit of a window length (a month counted as 30 days: "6 months" = 180)."""
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12}


def _window_days(text: str, rx: _Rx) -> int | None:
    """The first window length of a washout criterion in days ("within 28 days" → 28,
    "at least 4 weeks since" → 28, "within six months" → 180); None when none is
    written (``shape.toml`` ``window_length``: groups ``n`` and ``unit``)."""
    m = rx.window_length.search(text)
    if m is None:
        return None
    n = m.group("n").lower()
    value = int(n) if n.isdigit() else _NUMBER_WORDS.get(n)
    unit = m.group("unit").lower().rstrip("s")
    if value is None or unit not in _UNIT_DAYS:
        return None
    return value * _UNIT_DAYS[unit]


def shape_trial(
    criteria: Sequence[ParsedCriterion],
    conditions: Sequence[Fact],
    *,
    contexts: Mapping[Span, tuple[str, ...]] | None = None,
    condition_text: str,
    condition_entries: Sequence[str],
    title: str,
    official_title: str | None,
    ontology: Ontology,
    rules: Rules | None = None,
) -> TrialShape:
    """Shape a trial's criteria and condition facts (see the module docstring).

    ``criteria`` carry the extractors' facts, with spans into the criteria text;
    ``conditions`` are the facts of the conditions list and title, with spans into
    ``condition_text`` (the non-empty ``condition_entries`` joined by ``"; "``, then the
    title). ``contexts`` gives, by criterion span, the texts of the items and labels
    enclosing it, outermost first (:attr:`matchers.sections.Segment.context`): a cohort
    label there scopes the criterion. Pure; raises nothing for odd input (an unreadable
    part keeps its facts).
    """
    rx = _compiled((rules or load_rules()).shape)
    # ---- conditions list --------------------------------------------------------------
    try:
        spans = condition_spans(condition_entries, condition_text)
    except ValueError:  # a conditions text that does not hold its entries
        spans = []
    covered = [any(lo <= f.span[0] < hi for f in conditions if isinstance(f, CancerTypeFact))
               for lo, hi in spans]
    non_cancer = bool(covered) and not all(covered)
    shaped_conditions: list[Fact] = []
    for f in conditions:
        if isinstance(f, CancerTypeFact):
            if _site_only(f, ontology, rx):
                continue
            f = _mark_generic(f, rx)
        shaped_conditions.append(f)
    # ---- criteria ----------------------------------------------------------------------
    # The cancer types the trial enrols (conditions, title, inclusion mentions): an
    # exclusion naming one of them can only mean a subtype of it.
    enrolled = frozenset(
        code for f in (*shaped_conditions, *(g for c in criteria
                                             if c.kind is CriterionKind.INCLUSION
                                             for g in c.facts))
        if isinstance(f, CancerTypeFact) and not f.negated for code in f.codes)
    out: list[ParsedCriterion] = []
    pseudo_scope: str | None = None
    label_scope: str | None = None
    last_heading: str | None = None
    for c in criteria:
        if c.heading != last_heading:
            pseudo_scope, last_heading = None, c.heading
        if not c.facts and _bare_label(c.text, rx):
            # A line that is only a part's label ("Cohort 1", then that cohort's inclusion
            # and exclusion lists, then "Cohort 2" …, NCT01515527): it scopes everything
            # after it up to the next label.
            label_scope = c.text.strip()
        elif not c.facts and c.text.rstrip().endswith(":"):
            # A sub-heading listed as a criterion ("Key exclusion criteria for the phase
            # III only:"): it scopes the criteria that follow it under the same heading.
            pseudo_scope = c.text.strip() if _cohort_scope(c.text, rx) else None
            if rx.scope_all.search(c.text):
                label_scope = None  # "For all cohorts:"
        enclosing = next((sc for sc in map(lambda t: _scope_of(t, rx),
                                           reversed((contexts or {}).get(c.span, ())))
                          if sc), None)
        out.append(_shape_criterion(c, list(c.shape_rules),
                                    enclosing or pseudo_scope or label_scope, ontology, rx,
                                    enrolled))
    return TrialShape(
        criteria=tuple(out),
        conditions=tuple(shaped_conditions),
        conditions_non_cancer=non_cancer,
        first_line_title=_first_line_title(title, official_title, rx),
        newly_diagnosed_title=_newly_diagnosed_title(title, official_title, rx),
        line_hint=_line_hint(title, official_title, rx),
    )


def criterion_kinds(
    criteria: Sequence[ParsedCriterion], rules: Rules | None = None
) -> list[tuple[CriterionKind, tuple[str, ...]]]:
    """The kind (inclusion/exclusion) each criterion has, with the ids of the rules that
    set it: a sub-heading that says "exclusion criteria" makes its items exclusions and
    vice versa (``shape.kind_from_heading``); in a text with no exclusion section at all,
    an item phrased as an exclusion (``shape.exclusion_worded``) and every item after a
    lead-in "Exclusion Criteria (… will be excluded if …)" left among the items
    (``shape.exclusion_leadin``) are exclusions.

    ``criteria`` carry facts extracted under the splitter's kind; the parser re-reads a
    criterion whose kind this changes, so its facts' polarity follows the final kind.
    """
    rx = _compiled((rules or load_rules()).shape)
    sectioned = [_section_kind(c) for c in criteria]
    no_exclusions = not any(kind is CriterionKind.EXCLUSION for kind, _ in sectioned)
    excl_mode = False
    out: list[tuple[CriterionKind, tuple[str, ...]]] = []
    for c, (kind, applied) in zip(criteria, sectioned, strict=True):
        if no_exclusions and not c.facts and rx.exclusion_leadin.search(c.text):
            excl_mode = True
        elif no_exclusions and not c.facts and rx.inclusion_leadin.search(c.text):
            excl_mode = False
        as_kind = c if kind is c.kind else c.model_copy(update={"kind": kind})
        if no_exclusions and (excl_mode or _exclusion_worded(as_kind, rx)):
            kind = CriterionKind.EXCLUSION
            applied = (*applied, "shape.exclusion_leadin" if excl_mode
                       else "shape.exclusion_worded")
        out.append((kind, applied))
    return out


def _shape_criterion(
    c: ParsedCriterion, applied: list[str], pseudo_scope: str | None, ontology: Ontology,
    rx: _Rx, enrolled: frozenset[str] = frozenset(),
) -> ParsedCriterion:
    kind = c.kind
    history_like = bool(rx.history_of_other_cancer.search(c.text))
    cancer_spans = [f.span for f in c.facts if isinstance(f, CancerTypeFact)]
    # A histology/biomarker/stage fact beside (not inside) the cancer mention narrows it
    # ("squamous cell histology NSCLC"); "adenocarcinoma of the breast" does not. A list
    # of several cancer types is a list of excluded types, qualified or not.
    qualified = len({f.codes for f in c.facts if isinstance(f, CancerTypeFact)}) == 1 \
        and any(f.category in ("histology", "biomarker", "stage") and not any(
            lo < f.span[1] and f.span[0] < hi for lo, hi in cancer_spans)
            for f in c.facts)
    no_need = rx.no_need.search(c.text)
    no_need_at = (c.span[0] + no_need.start(), c.span[0] + _clause_end(
        c.text, no_need.end())) if no_need else None
    facts: list[Fact] = []
    for f in sorted(c.facts, key=lambda x: x.span):
        if no_need_at is not None and no_need_at[0] <= f.span[0] < no_need_at[1]:
            continue  # "do not need to have measurable disease": no requirement
        if isinstance(f, CancerTypeFact):
            if _in_recist_name(c, f, rx) or _site_only(f, ontology, rx):
                continue  # "Response Evaluation Criteria in Solid Tumors" is no scope
            if kind is CriterionKind.EXCLUSION and history_like and not f.negated:
                continue  # a history of another cancer: the other-malignancy condition
            f = _mark_generic(f, rx)
            present = (kind is CriterionKind.INCLUSION) != f.negated
            if not present and qualified:
                f = _rewrite(f, "qualified", qualified=True)
            elif not present and f.codes and set(f.codes) <= enrolled:
                # "AML associated with favorable risk karyotypes" excluded from an AML
                # trial (NCT02785900): a subtype of the enrolled type, however worded
                f = _rewrite(f, "enrolled_type_excluded", qualified=True)
            facts.append(f)
            continue
        if isinstance(f, ConditionFact) and kind is CriterionKind.EXCLUSION and f.negated:
            # "Subjects must not be pregnant" listed among exclusions restates the
            # exclusion; excluding patients *without* a comorbidity is never meant.
            f = _rewrite(f, "condition_restated", negated=False)
        if isinstance(f, BiomarkerFact) and _is_therapy_target(c, f, rx):
            continue  # "Treatment targeting KRAS G12C": the drug's target, not the patient's
        if isinstance(f, PriorTherapyFact):
            f = _shape_therapy(c, f, rx)
        facts.append(f)
    cancer = [f for f in facts if isinstance(f, CancerTypeFact)]
    others = [f for f in facts if not isinstance(f, CancerTypeFact)]
    role = _role(c, c.facts, others, cancer, no_need is not None, rx)
    if role is CriterionRole.DEFINITION:
        applied.append("shape.definition")
    own_scope = _own_scope(c.text, rx)
    scope = own_scope or (_scope_of(c.heading, rx) if c.heading else None) or pseudo_scope
    if scope:
        applied.append("shape.scope_own" if own_scope else "shape.scope_heading")
    permission = _permission_spans(c, rx)
    washout = bool(rx.washout.search(c.text))
    washout_days = _window_days(c.text, rx) if washout else None
    if permission:
        applied.append("shape.permission")
    if washout:
        applied.append("shape.washout")
    return c.model_copy(update={
        "facts": tuple(facts),
        "role": role,
        "scope": scope,
        "scope_only": bool(scope and rx.only.search(scope)),
        "scope_key": (_scope_key(scope, rx) or scope.lower()) if scope else None,
        "permission": permission,
        "washout": washout,
        "washout_days": washout_days,
        "biomarker_joins": _biomarker_joins(c, kind, [f for f in facts
                                                       if f.category == "biomarker"], rx),
        "shape_rules": tuple(applied),
    })


def _shape_therapy(c: ParsedCriterion, f: PriorTherapyFact, rx: _Rx) -> PriorTherapyFact:
    out: Fact = f
    if (f.setting is not None and setting_family(f.setting) == "early"
            and rx.including_early.search(c.text)):
        # "… including neoadjuvant or adjuvant treatment": the setting words widen the
        # fact to every setting, they do not restrict it.
        out = _rewrite(out, "including_early", setting=None)
    if (f.exception and setting_family(f.setting) == "early"
            and rx.early_exception.search(f.exception)):
        # "chemotherapy (except for neoadjuvant/adjuvant chemotherapy)": the setting
        # words belong to the exception; the fact is the advanced one.
        out = _rewrite(out, "early_exception", setting="advanced", exception=None)
    if (c.kind is CriterionKind.EXCLUSION and f.max_lines is not None
            and f.min_lines is None and not f.negated):
        # "No more than 3 lines of chemotherapy" listed among exclusions is an upper
        # limit, i.e. a requirement: more lines exclude, fewer do not.
        out = _rewrite(out, "lines_upper_limit", negated=True)
    if f.min_lines is None and f.max_lines is None and rx.at_least_two.search(_before(c, f)):
        out = _rewrite(out, "min_agents", min_agents=2)
    assert isinstance(out, PriorTherapyFact)
    return out


def _mark_generic(f: CancerTypeFact, rx: _Rx) -> CancerTypeFact:
    """Record the bare generic word and the carcinoma-only reading of a mention."""
    if f.codes:
        return f
    word = f.text.strip().lower()
    generic = word if word in rx.bare_generic else None
    if generic is not None:
        generic = {"cancers": "cancer", "carcinomas": "carcinoma", "tumors": "tumor",
                   "tumour": "tumor", "tumours": "tumor", "neoplasms": "neoplasm",
                   "malignancies": "malignancy"}.get(generic, generic)
    carcinoma = (f.any_solid_tumor or f.any_malignancy) and bool(
        rx.carcinoma_word.fullmatch(f.text.strip()))
    if generic == f.generic_word and carcinoma == f.carcinoma_only:
        return f
    return f.model_copy(update={"generic_word": generic, "carcinoma_only": carcinoma})


def _role(c: ParsedCriterion, extracted: Sequence[Fact], others: Sequence[Fact],
          cancer: Sequence[CancerTypeFact], said_no_need: bool, rx: _Rx) -> CriterionRole:
    if c.heading and rx.definition_leadin.search(c.heading.strip()):
        return CriterionRole.DEFINITION
    if not extracted or (not others and not cancer and said_no_need):
        return CriterionRole.NOT_REQUIRED if extracted else CriterionRole.UNINTERPRETED
    categories = {f.category for f in others}
    generic_only = all(not f.codes for f in cancer)
    procedural = bool(rx.procedural.search(c.text) or rx.procedural.search(c.heading or ""))
    sample = bool(rx.sample.search(c.text)) and generic_only and all(
        _about_sample(c, f, rx) for f in others if f.category == "prior_therapy")
    if ((procedural and not cancer) or sample) and not (
            categories & {"biomarker", "histology", "stage", "performance_status"}):
        return CriterionRole.PROCEDURAL
    if not others and not cancer:
        return CriterionRole.OTHER_MALIGNANCY
    return CriterionRole.REQUIREMENT


def _section_kind(c: ParsedCriterion) -> tuple[CriterionKind, tuple[str, ...]]:
    """The kind the criterion's heading states ("Key exclusion criteria for both phases"
    above items the section splitter left under inclusion)."""
    h = (c.heading or "").lower()
    if not h:
        return c.kind, ()
    excl = "exclusion" in h or "exclude" in h
    incl = "inclusion" in h or "include" in h
    if excl and not incl and c.kind is CriterionKind.INCLUSION:
        return CriterionKind.EXCLUSION, ("shape.kind_from_heading",)
    if incl and not excl and c.kind is CriterionKind.EXCLUSION:
        return CriterionKind.INCLUSION, ("shape.kind_from_heading",)
    return c.kind, ()


def _about_sample(c: ParsedCriterion, f: Fact, rx: _Rx) -> bool:
    """True if the sentence holding ``f`` is about a biopsy/sample ("should have a baseline
    biopsy obtained after completion of the last prior CPI therapy")."""
    at = f.span[0] - c.span[0]
    lo = max(c.text.rfind(". ", 0, at), c.text.rfind("\n", 0, at)) + 1
    hi = _clause_end(c.text, at)
    return bool(rx.sample_sentence.search(c.text[lo:hi]))


_CLAUSE_END = re.compile(r"[.;\n]")


def _clause_end(text: str, start: int) -> int:
    m = _CLAUSE_END.search(text, start)
    return m.start() if m else len(text)


_FIRST_CLAUSE = re.compile(r";|\.\s")
_ELIGIBLE_WORD = re.compile(r"(?<!not )(?<!in)eligible\b", re.I)
_MUST_OR_COLON = re.compile(r"\bmust\b|:", re.I)


def _exclusion_worded(c: ParsedCriterion, rx: _Rx) -> bool:
    """True if an item listed as inclusion is phrased as an exclusion: it opens with
    "Subjects with known/active/a history of …" or states that someone "is not eligible /
    is excluded", and asks nothing of the patient ("must", "should", "are eligible").
    Used only for trials whose text has no exclusion section at all."""
    if c.kind is not CriterionKind.INCLUSION or not rx.exclusion_worded.search(c.text):
        return False
    if any(f.category in ("cancer_type", "histology", "biomarker", "stage")
           for f in c.facts):
        return False  # names the disease the trial targets ("Patients with known EGFR
        # mutation" is an inclusion)
    first = _FIRST_CLAUSE.split(c.text, maxsplit=1)[0]
    if (_ELIGIBLE_WORD.search(first) or rx.requirement.search(first)
            or _MUST_OR_COLON.search(c.text)):
        return False  # "… will only be eligible after …", "… must …", "Patients with
        # HIV: 1. Must have undetectable viral load" (conditions for them, not an exclusion)
    if rx.exclusion_worded.match(c.text) is not None:
        return True  # "Subjects with known X, unless …"
    # "Patients with X are not eligible": the whole first clause says whom it excludes.
    return bool(rx.exclusion_worded.search(first)) and bool(rx.excluded_subject.match(first))


def _cohort_scope(text: str, rx: _Rx) -> bool:
    """True if ``text`` restricts what follows to one phase/cohort/part."""
    return bool(rx.scope_only.search(text) or rx.scope_label.match(text)) and not (
        rx.scope_all.search(text))


def _bare_label(text: str, rx: _Rx) -> bool:
    """A line that is only a part's label ("Cohort 1", "PART B", "Arm 2:")."""
    t = text.strip()
    return len(t) <= 30 and "." not in t and bool(rx.scope_label.match(t))


def _scope_of(text: str, rx: _Rx) -> str | None:
    """The scope a heading or enclosing item sets: its labelled head ("Esophageal Cohort
    Expansion:" of "Esophageal Cohort Expansion: i. Group 1 …"), or the whole text when
    it is a scope as a whole ("Key exclusion criteria for the phase III only:")."""
    return _own_scope(text, rx) or (text if _cohort_scope(text, rx) else None)


_ROMAN_PHASE = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "ib": "1b", "ia": "1a",
                "iia": "2a", "iib": "2b"}


def _scope_key(scope: str, rx: _Rx) -> str:
    """``scope`` as a key: its lower-case words, plurals of part names singular, without
    stopwords (``shape.scope_key_stopwords``, "cohort" among them), roman phase
    numbers arabic ("Phase Ib" = "phase 1b"), sorted; "" when no word is left."""
    words = re.findall(r"[a-z0-9]+", scope.lower().replace("-", " "))
    out: set[str] = set()
    for i, w in enumerate(words):
        if w in ("cohorts", "parts", "arms", "phases", "groups", "expansions"):
            w = w[:-1]
        if w in rx.scope_key_stopwords:
            continue
        if i and words[i - 1] == "phase":
            w = _ROMAN_PHASE.get(w, w)
        out.add(w)
    return " ".join(sorted(out))


def _own_scope(text: str, rx: _Rx) -> str | None:
    """A scope stated at the head of the criterion itself ("In the MTD Expansion Cohort
    only, …", "Dose-escalation part: …")."""
    head = text[:90]
    cut = min((i for i in (head.find(":"), head.find(",")) if i > 0), default=-1)
    if cut < 0:
        return None
    head = head[: cut + 1]
    return head if _cohort_scope(head, rx) else None


_SENTENCE = re.compile(r"[^.;]+(?:[.;]|$)")
_PARENTHETICAL = re.compile(r"\([^()]*\)")


def _permission_spans(c: ParsedCriterion, rx: _Rx) -> tuple[tuple[int, int], ...]:
    """Absolute spans of the criterion's sentences that grant a permission ("Patients
    with prior anti-PD-1 … are eligible if …"). An aside in parentheses ("(prior CDK4/6
    inhibitors are allowed)") is no permission, nor is "only … are eligible"."""
    out: list[tuple[int, int]] = []
    base = c.span[0]
    for m in _SENTENCE.finditer(c.text):
        sentence = _PARENTHETICAL.sub(lambda x: " " * len(x.group()), m.group())
        hit = rx.permission.search(sentence)
        if hit is not None and not rx.restrictive.search(sentence[: hit.end()]):
            out.append((base + m.start(), base + m.end()))
    return tuple(out)


def _in_recist_name(c: ParsedCriterion, f: CancerTypeFact, rx: _Rx) -> bool:
    """True if a generic cancer mention is no scope at all: the name of RECIST
    ("Response Evaluation Criteria in Solid Tumors") or "tumor tissue/sample/lesion"."""
    base = c.span[0]
    lo = max(0, f.span[0] - base - 30)
    if rx.recist.search(c.text[lo: f.span[1] - base + 2]):
        return True
    if not f.codes and f.text.strip().lower() in (
            "tumor", "tumour", "tumors", "tumours", "cancer", "malignancy"):
        return bool(rx.tumor_not_scope.match(c.text[f.span[1] - base:]))
    return False


def _is_therapy_target(c: ParsedCriterion, f: Fact, rx: _Rx) -> bool:
    """True if a biomarker mention names a drug's target ("Treatment targeting KRAS G12C",
    "prior KRAS G12C inhibitor", "anti-HER2 therapy"), not the patient's tumour."""
    base = c.span[0]
    before = c.text[max(0, f.span[0] - base - 40): f.span[0] - base]
    after = c.text[f.span[1] - base: f.span[1] - base + 40]
    return bool(rx.target_before.search(before) or rx.target_after.match(after))


def _site_only(f: CancerTypeFact, ontology: Ontology, rx: _Rx) -> bool:
    """True for a metastasis *site* read as a cancer type ("peritoneal metastases",
    "malignant pleural effusion" → the PERITONEUM/PLEURA tissue nodes): a site is not a
    cancer type (a peritoneal mesothelioma is not a colorectal HIPEC trial's population)."""
    if not f.codes or not rx.site_words.search(f.text):
        return False
    tree = ontology.cancer_types
    return all(tree.get(code) is not None and not tree.ancestors(code) for code in f.codes)


def _before(c: ParsedCriterion, f: Fact) -> str:
    end = max(0, f.span[0] - c.span[0])
    return c.text[max(0, end - 40): end]


def _connector(c: ParsedCriterion, a: Fact, b: Fact, rx: _Rx) -> str:
    """``and``/``or``/``list`` between two facts, from the words written between them."""
    if a.span == b.span or b.span[0] < a.span[1]:
        return "and"
    base = c.span[0]
    between = c.text[max(0, a.span[1] - base): max(0, b.span[0] - base)]
    if "and/or" in between.lower() or rx.or_words.search(between):
        return "or"
    if rx.and_words.search(between):
        return "and"
    return "list"


def _biomarker_joins(c: ParsedCriterion, kind: CriterionKind, facts: Sequence[Fact],
                     rx: _Rx) -> tuple[Literal["and", "or"], ...]:
    """The connectors joining consecutive positive biomarker facts as written (a bare
    list is AND in an inclusion and OR in an exclusion); ``()`` when they name at most
    one marker (then they are alternatives)."""
    pos = [f for f in facts if not f.negated]
    if len({f.marker for f in pos if isinstance(f, BiomarkerFact)}) <= 1:
        return ()
    default: Literal["and", "or"] = "or" if kind is CriterionKind.EXCLUSION else "and"
    conns = [_connector(c, pos[i], pos[i + 1], rx) for i in range(len(pos) - 1)]
    resolved: list[Literal["and", "or"]] = []
    for i, conn in enumerate(conns):
        if conn == "list":
            nxt = next((x for x in conns[i + 1:] if x != "list"), default)
            conn = nxt
        resolved.append("or" if conn == "or" else "and")
    return tuple(resolved)


def _first_line_title(title: str, official: str | None, rx: _Rx) -> str | None:
    """The title if it says the trial treats untreated (first-line) disease and nothing
    about prior lines ("after first-line", "maintenance", "refractory")."""
    for text in (title, official or ""):
        if rx.untreated_title.search(text) and not rx.treated_title.search(
                f"{title} {official or ''}"):
            return text
    return None


def _newly_diagnosed_title(title: str, official: str | None, rx: _Rx) -> str | None:
    """The title if it says the trial is for newly diagnosed disease and nothing about
    recurrence or relapse ("Newly Diagnosed Glioblastoma", not "Newly Diagnosed or
    Recurrent …")."""
    both = f"{title} {official or ''}"
    if rx.recurrent_title.search(both):
        return None
    for text in (title, official or ""):
        if rx.newly_diagnosed_title.search(text):
            return text
    return None


def _line_hint(title: str, official: str | None, rx: _Rx) -> Literal["first", "later"] | None:
    text = f"{title} {official or ''}"
    first, later = bool(rx.first_line.search(text)), bool(rx.later_line.search(text))
    if first == later:
        return None
    return "first" if first else "later"
