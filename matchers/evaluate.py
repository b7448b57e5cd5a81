"""Criterion evaluation: one :class:`IndexedTrial` × one :class:`NormalizedPatient`.

Pure: no I/O, no clock (``today`` is passed in), no module-level ontology.

Model
-----
Each extracted fact is an *atom*: a three-valued statement about the patient
(True / False / None = unknown) — "the patient has HER2-positive disease", "the patient
received platinum", "ECOG is within 0–1". A criterion's *condition* combines its atoms:

* atoms of one category are alternatives by default ("NSCLC or mesothelioma", "stage
  IIIB or IV") — OR; negated atoms within a category must all hold ("without EGFR,
  ALK or ROS1 alterations" = none of them) — AND;
* biomarkers of *different* markers follow the connectors written between them:
  "ER+/HER2−" is AND, "EGFR mutation or ALK rearrangement" is OR, "A, B, or C" is OR,
  mentions sharing one span ("triple-negative") are AND; in an exclusion, a bare list
  is OR (any listed alteration excludes);
* categories are conjunctive ("stage IV non-squamous NSCLC" = stage AND histology AND
  cancer type) — Kleene three-valued AND.

An inclusion criterion is met when its condition holds; an exclusion criterion is met
(the patient is *not* excluded) when its condition does not hold. Negation is already
folded into each atom through :func:`matchers.models.requires_presence` semantics.

Cancer type is judged once per trial (:func:`cancer_fit`) from ``ParsedTrial.conditions``
(conditions and title) and inclusion cancer-type facts, against the patient's OncoTree
lineage: a trial code equal to or an ancestor of the patient's code accepts
("mesothelioma" accepts pleural epithelioid); a sibling does not ("epithelioid" rejects
sarcomatoid); a trial code more specific than the patient's is unknown; "solid tumour"
accepts any malignant solid tumour and no haematologic one. Non-malignant
(intermediate) neoplasms such as desmoid-type fibromatosis are not accepted by their
malignant parents ("soft tissue sarcoma") and are only *possibly* accepted by generic
wording. Criteria naming another cancer type describe another cohort and are not held
against the patient when the trial accepts the patient's cancer elsewhere.

Criterion shape (precomputed per trial by :func:`prepare_trial`)
-----------------------------------------------------------------
* a heading that says "exclusion criteria" makes its items exclusions (and vice versa);
* cohort scopes — "Key exclusion criteria for the phase III only:", "In the MTD Expansion
  Cohort only, …", "PART B", "Cohort A:" — turn a failed criterion into a key *unknown*
  (the patient may enter another cohort); failing every labelled cohort is ``not_met``;
* a sentence granting a permission ("… are eligible if …", "… may participate") cannot
  exclude a patient it does not concern;
* consent / contraception / sample-provision criteria are procedural (never decide);
* prior therapy in a time window ("for at least 2 weeks", "within 28 days",
  "timeframes") is timing, not a contradiction (non-key unknown);
* "more than one CDK 4/6 inhibitor" counts distinct agents of the class; "No more than 3
  lines" listed among exclusions is an upper limit; "(except for (neo)adjuvant …)" makes
  the fact the advanced-setting one;
* mentions that are not scopes are dropped: the RECIST name, "tumor tissue", a biomarker
  that names a drug's target ("treatment targeting KRAS G12C");
* a cancer type in an exclusion is trial-wide only when it stands alone (not narrowed by
  a histology/biomarker/stage beside it) and is not the cancer the trial enrols;
* in a text with no exclusion section at all, an item phrased as an exclusion ("Subjects
  with known … brain metastases, unless treated …", "… are not eligible") that asks
  nothing of the patient and does not name the targeted disease is an exclusion;
* sample provision ("an archival or fresh biopsy will be acceptable", "availability of
  fresh tumor … specimens") is procedural; "patients do not need to have measurable
  disease" states no requirement;
* "systemic therapy for NSCLC" (a by-indication class, ``regimen_*``) is any systemic
  therapy; "… including neoadjuvant or adjuvant treatment" widens a prior-therapy fact to
  every setting instead of restricting it to the early one;
* a title that says first-line / previously untreated / treatment-naive (and nothing of
  later lines) makes a patient with prior systemic therapy for advanced disease only
  *possibly* eligible (a trial-level key unknown).

Verdict
-------
any ``not_met`` → ``ineligible``; else any unknown *key* criterion (cancer type,
histology, stage, biomarker, prior therapy, performance status, brain metastases,
age, sex, measurable disease when required) → ``possibly_eligible``; else
``eligible``. Uninterpreted criteria and non-key unknowns (labs, comorbidities,
consent, contraception) never block ``eligible``.

Score (ranking strength of fit): cancer-type specificity, targeted inclusion criteria met
(biomarker, histology, stage, prior therapy, title line words), biomarker match, key
criteria met; minus a penalty per *open key question* (one question counts once however
many criteria ask it: every cancer-type unknown is one question) and per ``not_met``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from matchers.models import (
    AgeFact,
    BiomarkerFact,
    BrainMetastasesFact,
    CancerTypeFact,
    ConditionFact,
    CriterionKind,
    CriterionResult,
    CriterionRole,
    CriterionStatus,
    Fact,
    FactCategory,
    HistologyFact,
    IndexedTrial,
    LabFact,
    MeasurableDiseaseFact,
    ParsedCriterion,
    PerformanceStatusFact,
    PriorTherapyFact,
    SexFact,
    SiteDistance,
    StageFact,
    TrialMatch,
    Verdict,
)
from matchers.normalize import NormalizedPatient, NormalizedTherapy, count_lines
from matchers.shape import setting_family

if TYPE_CHECKING:
    from ontologies import Ontology

Tri = bool | None

KEY_CATEGORIES: frozenset[str] = frozenset(
    {
        "cancer_type",
        "histology",
        "stage",
        "biomarker",
        "prior_therapy",
        "performance_status",
        "brain_metastases",
        "age",
        "sex",
    }
)
"""Disease-targeting categories whose unknown status makes a trial only *possibly*
eligible (``measurable_disease`` is key only when an inclusion criterion requires it)."""

HER2_NEGATIVE = frozenset({"zero", "ultralow", "low"})
"""ASCO/CAP 2023: HER2-zero, -ultralow and -low are all HER2-negative."""

_HER2_BY_STATUS: dict[str, frozenset[str]] = {
    "positive": frozenset({"positive"}),
    "amplified": frozenset({"positive"}),
    "negative": HER2_NEGATIVE,
    "low": frozenset({"low"}),
    "ultralow": frozenset({"ultralow"}),
    "zero": frozenset({"zero"}),
    "expressed": frozenset({"low", "positive"}),
}

# --------------------------------------------------------------------------------------
# Atoms
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Atom:
    """One fact checked against the patient: ``value`` of the fact's *positive*
    statement (before negation), what the patient has (``patient``), and for unknown
    values the ``question`` naming the missing fact."""

    fact: Fact
    value: Tri
    patient: str
    question: str | None = None
    key: bool = True
    specificity: float = 0.0


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
            self.cached = CriterionResult.model_construct(
                text=self.text,
                kind=self.kind,
                status=self.status,
                reason=self.reason_text(),
                span=self.span,
                category=self.category,
                question=self.question,
                key=self.key,
            )
        return self.cached


def _fmt_range(lo: float, hi: float) -> str:
    return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"


def _quote(text: str, limit: int = 180) -> str:
    t = " ".join(text.split())
    return f'"{t if len(t) <= limit else t[: limit - 1] + "…"}"'


# ---- histology ----------------------------------------------------------------------


def _histology_atom(f: HistologyFact, p: NormalizedPatient, onto: Ontology) -> Atom:
    if p.histology is None:
        return Atom(f, None, "histologic subtype not given", "histologic subtype?")
    vocab = onto.histology
    for term in f.terms:
        if p.histology in vocab.covers(term):
            return Atom(f, True, f"histology is {p.histology.replace('_', ' ')}")
    for term in f.terms:
        if term in vocab.covers(p.histology) and term != p.histology:
            return Atom(
                f, None, f"histology {p.histology.replace('_', ' ')} is broader than "
                f"{term.replace('_', ' ')}", "histologic subtype?",
            )
    return Atom(f, False, f"histology is {p.histology.replace('_', ' ')}")


# ---- stage / extent -----------------------------------------------------------------


def _stage_atom(f: StageFact, p: NormalizedPatient, stage_order: Sequence[str]) -> Atom:
    stages = set(f.stages)
    if stages and p.stage:
        label = p.stage
        group = p.stage_group or label
        if label in stages:
            return Atom(f, True, f"stage {label}")
        subs = [s for s in stage_order if s != group and s.startswith(group)
                and s[len(group):len(group) + 1] in ("A", "B", "C")]
        if label == group:
            inside = [s for s in subs if s in stages]
            if inside and len(inside) < len(subs):
                return Atom(f, None, f"stage {label} (sub-stage not given)", "exact stage?")
            if inside:
                return Atom(f, True, f"stage {label}")
        elif group in stages and not any(s in stages for s in subs):
            return Atom(f, True, f"stage {label}")
        if f.extents and p.extents.get("recurrent") is True and "recurrent" in f.extents:
            return Atom(f, True, f"stage {label}, recurrent")
        return Atom(f, False, f"stage {label}")
    if f.extents:
        values: list[Tri] = [p.extents.get(str(e)) for e in f.extents]
        desc = _extent_desc(p)
        if any(v is True for v in values):
            return Atom(f, True, desc)
        if all(v is False for v in values):
            return Atom(f, False, desc)
        return Atom(f, None, desc, _extent_question(f))
    if stages:
        return Atom(f, None, "stage not given", "stage?")
    return Atom(f, None, "stage not given", "stage?", key=False)


def _extent_desc(p: NormalizedPatient) -> str:
    bits: list[str] = []
    if p.stage:
        bits.append(f"stage {p.stage}")
    if p.extents.get("metastatic") is True:
        bits.append("metastatic")
    elif p.extents.get("metastatic") is False:
        bits.append("not metastatic")
    if p.resectable is True:
        bits.append("resectable")
    elif p.resectable is False:
        bits.append("unresectable")
    return ", ".join(bits) if bits else "extent of disease not given"


def _extent_question(f: StageFact) -> str:
    words = {str(e) for e in f.extents}
    if words & {"resectable", "unresectable"}:
        return "resectable?"
    if words & {"recurrent", "refractory"}:
        return "recurrent or refractory disease?"
    return "stage / metastatic?"


# ---- biomarkers ---------------------------------------------------------------------


def _her2_atom(f: BiomarkerFact, p: NormalizedPatient) -> Atom:
    cats = frozenset(f.her2_categories) or _HER2_BY_STATUS.get(f.status, frozenset())
    if f.status in ("negative", "wild_type") and not f.her2_categories:
        cats = HER2_NEGATIVE
    if not cats:
        return Atom(f, None, "HER2 requirement not understood", "HER2 status (IHC/ISH)?",
                    key=False)
    if p.her2_category is not None:
        name = {"positive": "HER2-positive", "low": "HER2-low", "ultralow": "HER2-ultralow",
                "zero": "HER2-0"}[p.her2_category]
        return Atom(f, p.her2_category in cats, f"patient is {name}", specificity=1.0)
    her2 = p.markers.get("HER2")
    if her2 is not None and her2.positive is not None:
        if her2.positive:
            return Atom(f, "positive" in cats, "patient is HER2-positive", specificity=1.0)
        if cats >= HER2_NEGATIVE:
            return Atom(f, True, "patient is HER2-negative", specificity=1.0)
        if not cats & HER2_NEGATIVE:
            return Atom(f, False, "patient is HER2-negative", specificity=1.0)
        return Atom(f, None, "HER2-negative, IHC score not given", "HER2 IHC score (0/1+/2+)?")
    return Atom(f, None, "HER2 status not given", "HER2 status (IHC/ISH)?")


def _score_atom(f: BiomarkerFact, p: NormalizedPatient) -> Atom:
    kind = f.score or "TPS"
    rng = p.pdl1_cps if kind == "CPS" else p.pdl1_tps
    label = f"PD-L1 {kind}"
    if rng is None and kind in ("TC",):
        rng = p.pdl1_tps
    lo_req = f.threshold
    hi_req = f.threshold_max
    if lo_req is None and hi_req is None:
        if f.status in ("negative",):
            hi_req = 0.999
        elif f.status in ("positive", "expressed", "high"):
            lo_req = 1.0
    if rng is None:
        marker = p.markers.get("PD-L1")
        if (marker is not None and marker.positive is not None and lo_req is not None
                and lo_req <= 1.0):
            word = "positive" if marker.positive else "negative"
            return Atom(f, marker.positive, f"PD-L1 {word}")
        return Atom(f, None, f"{label} not given", f"{label}?")
    lo, hi = rng
    ok_lo: Tri = True
    if lo_req is not None:
        ok_lo = True if lo >= lo_req else (False if hi < lo_req else None)
    ok_hi: Tri = True
    if hi_req is not None:
        ok_hi = True if hi <= hi_req else (False if lo > hi_req else None)
    value = _and([ok_lo, ok_hi])
    return Atom(f, value, f"{label} {_fmt_range(lo, hi)}",
                None if value is not None else f"exact {label}?", specificity=1.0)


def _biomarker_atom(f: BiomarkerFact, p: NormalizedPatient) -> Atom:
    marker = f.marker.upper() if f.marker.upper() in ("HER2", "PD-L1", "HR") else f.marker
    if marker == "HER2":
        return _her2_atom(f, p)
    if marker in ("PD-L1", "PDL1") or f.score is not None:
        return _score_atom(f, p)
    want_negative = f.status in ("negative", "wild_type")
    if marker == "HR":
        hr = p.hr_positive
        if hr is None:
            return Atom(f, None, "hormone-receptor status not given", "ER/PR status?")
        value = (not hr) if want_negative else hr
        return Atom(f, value, f"patient is HR-{'positive' if hr else 'negative'}",
                    specificity=1.0)
    if marker in ("TNBC", "TRIPLE_NEGATIVE"):
        parts = [p.hr_positive is False if p.hr_positive is not None else None,
                 None if p.her2_category is None and p.markers.get("HER2") is None
                 else (p.her2_category in HER2_NEGATIVE if p.her2_category
                       else p.markers["HER2"].positive is False)]
        tn = _and(parts)
        tn_value: Tri = (not tn) if (tn is not None and want_negative) else tn
        return Atom(f, tn_value, "triple-negative" if tn else "not triple-negative"
                    if tn is False else "receptor status incomplete",
                    None if tn is not None else "ER/PR/HER2 status?")
    r = p.markers.get(marker)
    label = marker + (f" {f.variant}" if f.variant else "")
    if r is None:
        return Atom(f, None, f"{marker} status not given", f"{marker} status?")
    positive: Tri
    if f.variant:
        v = f.variant
        if v in r.variants:
            positive = True
        elif v in r.absent_variants or r.positive is False:
            positive = False
        elif r.positive and r.variants:
            positive = False  # a different, identified variant (or variant group)
        else:
            positive = None
    elif f.status == "amplified":
        positive = r.amplified if r.amplified is not None else (
            False if r.positive is False else None)
    elif f.status == "rearranged":
        positive = r.rearranged if r.rearranged is not None else (
            False if r.positive is False else None)
    else:
        positive = r.positive
        if positive and f.threshold is not None and r.percent is not None:
            positive = r.percent >= f.threshold
    desc = "; ".join(r.raw) if r.raw else marker
    if positive is None:
        return Atom(f, None, f"{desc} (not enough detail)", f"{label} status?")
    value = (not positive) if want_negative else positive
    return Atom(f, value, desc, specificity=1.0)


# ---- prior therapy ------------------------------------------------------------------




def _therapy_label(f: PriorTherapyFact) -> str:
    names = [c.replace("_", " ") for c in f.classes] + list(f.drugs)
    return " / ".join(names) if names else "systemic therapy"


def _prior_therapy_atom(f: PriorTherapyFact, p: NormalizedPatient) -> Atom:
    # By-indication classes ("systemic therapy for NSCLC" -> regimen_nsclc; no drug lists
    # them) mean systemic therapy given for that cancer: the patient's own systemic
    # therapies were given for the patient's cancer.
    classes = {"systemic" if c.startswith("regimen_") else c for c in f.classes}
    drugs = {d.lower() for d in f.drugs}
    label = _therapy_label(f)
    fam = setting_family(f.setting)

    def matches(t: NormalizedTherapy) -> Tri:
        if classes or drugs:
            if classes & t.classes or drugs & {d.lower() for d in t.drugs}:
                return True
            if drugs and t.name.lower() and any(d in t.name.lower() for d in drugs):
                return True
            if not t.classes and not t.drugs and t.systemic is not False:
                return None
            return False
        return t.systemic

    sure: list[NormalizedTherapy] = []
    maybe: list[NormalizedTherapy] = []
    for t in p.therapies:
        m = matches(t)
        if m is False:
            continue
        in_setting: Tri = True
        if fam is not None:
            in_setting = None if t.setting_family is None else t.setting_family == fam
            if in_setting is False:
                continue
        (sure if m is True and in_setting is True else maybe).append(t)
    where = f" ({f.setting})" if f.setting else ""
    names = ", ".join(t.name for t in sure) if sure else "none"
    question = f"prior {label}{where}?"

    if f.min_lines is not None or f.max_lines is not None:
        n_lo = count_lines(sure)
        n_hi = count_lines([*sure, *maybe])
        lo = f.min_lines if f.min_lines is not None else 0
        hi = f.max_lines if f.max_lines is not None else 10_000
        desc = f"{n_lo} prior line(s) of {label}{where}"
        if n_hi != n_lo:
            desc = f"{n_lo}–{n_hi} prior line(s) of {label}{where}"
        if lo <= n_lo and n_hi <= hi:
            return Atom(f, True, desc)
        if n_hi < lo or n_lo > hi:
            return Atom(f, False, desc)
        return Atom(f, None, desc, f"number of prior lines of {label}{where}?")

    if f.relation == "naive":
        if sure:
            return Atom(f, False, f"received {names}")
        if maybe:
            return Atom(f, None, f"setting/class of {', '.join(t.name for t in maybe)} unclear",
                        question)
        return Atom(f, True, f"no prior {label}{where}")

    if f.relation == "progressed":
        if any(t.progressed for t in sure):
            return Atom(f, True, f"progressed on {names}")
        if sure:
            later = any(
                t.line is not None and any(o.line is not None and o.line > t.line
                                           for o in p.therapies)
                for t in sure
            )
            if later:
                return Atom(f, True, f"received {names}, followed by a later line")
            if all(t.progressed is False for t in sure):
                return Atom(f, False, f"received {names} without progression")
            return Atom(f, None, f"received {names}; progression not stated",
                        f"progressed on {label}?")
        if maybe:
            return Atom(f, None, "prior therapy unclear", question)
        return Atom(f, False, f"no prior {label}{where}")

    if f.relation == "intolerant":
        if sure or maybe:
            return Atom(f, None, f"received {names}; tolerance not stated",
                        f"intolerant of {label}?")
        return Atom(f, False, f"no prior {label}{where}")

    if sure:
        return Atom(f, True, f"received {names}")
    if maybe:
        return Atom(f, None, f"setting/class of {', '.join(t.name for t in maybe)} unclear",
                    question)
    return Atom(f, False, f"no prior {label}{where}")


# ---- other categories ---------------------------------------------------------------


def _ps_atom(f: PerformanceStatusFact, p: NormalizedPatient) -> Atom:
    if p.ecog is None:
        return Atom(f, None, "ECOG not given", "ECOG performance status?")
    lo = f.ecog_min if f.ecog_min is not None else 0
    hi = f.ecog_max if f.ecog_max is not None else 5
    if f.ecog_min is None and f.ecog_max is None:
        return Atom(f, None, f"ECOG {p.ecog}", "performance status?", key=False)
    return Atom(f, lo <= p.ecog <= hi, f"ECOG {p.ecog}")


def _age_atom(f: AgeFact, p: NormalizedPatient) -> Atom:
    if p.age is None:
        return Atom(f, None, "age not given", "age?")
    ok = (f.min_years is None or p.age >= f.min_years) and (
        f.max_years is None or p.age <= f.max_years)
    return Atom(f, ok, f"age {p.age:g}")


def _sex_atom(f: SexFact, p: NormalizedPatient) -> Atom:
    if p.sex is None:
        return Atom(f, None, "sex not given", "sex?")
    return Atom(f, p.sex == f.sex, p.sex)


def _brain_atom(f: BrainMetastasesFact, p: NormalizedPatient) -> Atom:
    bm = p.brain_metastases
    if bm is None:
        return Atom(f, None, "brain metastases status not given", "brain metastases?")
    desc = {"none": "no brain metastases", "active": "active brain metastases",
            "treated_stable": "treated, stable brain metastases"}[bm]
    if bm == "active" and f.qualifier in ("any", "active"):
        # "Known active CNS metastases and/or carcinomatous meningitis": either part holds.
        return Atom(f, True, desc)
    if f.leptomeningeal and f.qualifier == "any" and bm == "none":
        return Atom(f, False, desc)
    if f.leptomeningeal and bm != "none":
        return Atom(f, None, desc, "leptomeningeal disease?")
    if bm == "none":
        return Atom(f, False, desc)
    if f.qualifier == "active":
        return Atom(f, bm == "active", desc)
    if f.qualifier == "treated_stable":
        return Atom(f, bm == "treated_stable", desc)
    if bm == "treated_stable" and f.treated_allowed:
        return Atom(f, False, desc + " (allowed by the criterion)")
    return Atom(f, True, desc)


def _measurable_atom(f: MeasurableDiseaseFact, p: NormalizedPatient) -> Atom:
    m = p.measurable_disease
    if m is None:
        return Atom(f, None, "measurable disease not stated", "measurable disease?")
    if not m and f.evaluable_ok:
        return Atom(f, None, "no measurable disease (evaluable?)", "evaluable disease?")
    return Atom(f, m, "measurable disease" if m else "no measurable disease")


def _lab_atom(f: LabFact, p: NormalizedPatient) -> Atom:
    return Atom(f, None, f"{f.lab} not given", f"{f.lab.replace('_', ' ')}?", key=False)


def _condition_atom(f: ConditionFact, p: NormalizedPatient) -> Atom:
    c = f.condition
    name = c.replace("_", " ")
    if c in p.conditions_present:
        return Atom(f, True, f"has {name}", key=False)
    if c in p.conditions_absent:
        return Atom(f, False, f"no {name}", key=False)
    if c in ("brain_metastases", "cns_metastases") and p.brain_metastases is not None:
        return Atom(f, p.brain_metastases != "none", p.brain_metastases, key=False)
    return Atom(f, None, f"{name} not stated", f"{name}?", key=False)


# --------------------------------------------------------------------------------------
# Cancer type
# --------------------------------------------------------------------------------------

EXACT, ANCESTOR, GENERIC, SPECIFIC, NONE = 4, 3, 2, 1, 0
"""Cancer-type match levels, best first: exact code; trial code is an ancestor; generic
("solid tumour"); trial code more specific than the patient's (unknown); no match."""


@dataclass(frozen=True, slots=True)
class PreparedCancerFact:
    """A cancer-type fact with its codes' ancestors and levels precomputed."""

    fact: CancerTypeFact
    source: str  # "condition" | "inclusion" | "exclusion"
    criterion: ParsedCriterion | None
    ancestors: tuple[frozenset[str], ...]
    levels: tuple[int, ...]
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PreparedCriterion:
    """A criterion with facts grouped by category (spans sorted), as parsed."""

    criterion: ParsedCriterion
    groups: tuple[tuple[str, tuple[Fact, ...]], ...]
    cancer: tuple[PreparedCancerFact, ...]
    static: Outcome | None = None
    """The outcome when it cannot depend on the patient (no facts, a procedural item, only
    lab facts, or only mentions of other malignancies): computed once, shared, never
    mutated."""
    skip: list[Outcome] = field(default_factory=list)
    """Lazily built, shared outcome used when the trial is not for the patient's cancer
    type at all (the criterion is then not evaluated)."""


@dataclass(frozen=True, slots=True)
class PreparedTrial:
    """Everything trial-side the evaluator needs, computed once at index time from the
    parse output and the ontology (no criterion text is read here)."""

    trial: IndexedTrial
    criteria: tuple[PreparedCriterion, ...]
    positive_cancer: tuple[PreparedCancerFact, ...]
    negative_cancer: tuple[PreparedCancerFact, ...]
    conditions_generic: bool
    conditions_specific: bool
    conditions_non_cancer: bool = False
    """Some entry of the conditions list names no cancer ("Trauma Injury")."""
    stage_order: tuple[str, ...] = field(default=())
    codes_heme: bool | None = None
    """True if every specific cancer code the trial enrols is haematologic, False if every
    one is solid, None if mixed or none (a generic word beside them, "Relapsed/Refractory
    Lymphoid Malignancies", does not open the trial to the other kind)."""
    cond_kinds: frozenset[str] = frozenset()
    """Tissue-level codes of the conditions list's specific cancer types."""
    hints: tuple[BiomarkerFact, ...] = ()
    """Biomarker facts of the conditions/title ("EGFR-Mutated … NSCLC"): not criteria,
    but they say whom the trial targets (used for the score only)."""
    line_hint: str | None = None
    """"first" when the title says first-line/untreated/treatment-naive, "later" when it
    says previously treated/second-line/resistant/after progression (score only)."""
    skip_results: list[tuple[CriterionResult, ...]] = field(default_factory=list)
    """Lazily built, shared results for a patient whose cancer the trial is not for."""
    eval_order: tuple[int, ...] = ()
    """Criterion positions, most decisive first (cancer type, biomarker, stage, histology,
    prior therapy, …; static ones last): the early-exit path meets a ``not_met`` sooner."""
    first_line_title: str | None = None
    """The title, when it says the trial is for untreated disease ("First-line",
    "Previously Untreated", "Treatment-naive") and nothing about later lines: a patient
    with prior systemic therapy for advanced disease is then only possibly eligible."""
    label_scopes: frozenset[str] = frozenset()
    """Cohort labels that do not say "only" ("Cohort A:", "PART B"): a patient failing
    every one of them fits no cohort."""


def _prepare_cancer(
    fact: CancerTypeFact, source: str, crit: ParsedCriterion | None, onto: Ontology
) -> PreparedCancerFact:
    tree = onto.cancer_types
    anc: list[frozenset[str]] = []
    levels: list[int] = []
    names: list[str] = []
    for code in fact.codes:
        node = tree.get(code)
        anc.append(frozenset(tree.ancestors(code)) if node is not None else frozenset())
        levels.append(int(getattr(node, "level", 2)) if node is not None else 2)
        names.append(str(getattr(node, "name", code)) if node is not None else code)
    return PreparedCancerFact(fact, source, crit, tuple(anc), tuple(levels), tuple(names))


def prepare_trial(trial: IndexedTrial, ontology: Ontology) -> PreparedTrial:
    """Precompute the trial side of evaluation (fact grouping, cancer-type ancestry).

    Called by :class:`matchers.index.TrialIndex`; :func:`evaluate_trial` calls it itself
    when not given one. Reads only the parse output and the ontology.
    """
    from ontologies.stage import STAGE_ORDER

    parsed = trial.parsed
    positive: list[PreparedCancerFact] = []
    negative: list[PreparedCancerFact] = []
    cond_generic = False
    cond_specific = False
    for f in parsed.conditions:
        if isinstance(f, CancerTypeFact):
            pf = _prepare_cancer(f, "condition", None, ontology)
            if f.negated:
                negative.append(pf)
            else:
                positive.append(pf)
                cond_generic |= f.any_solid_tumor or f.any_malignancy or f.any_hematologic
                cond_specific |= bool(f.codes)
    crits: list[PreparedCriterion] = []
    excl_cancer: list[PreparedCancerFact] = []
    for c in parsed.criteria:
        groups: dict[str, list[Fact]] = {}
        cancer: list[PreparedCancerFact] = []
        for f in c.facts:
            if isinstance(f, CancerTypeFact):
                present = (c.kind is CriterionKind.INCLUSION) != f.negated
                pf = _prepare_cancer(f, "inclusion" if present else "exclusion", c, ontology)
                cancer.append(pf)
                (positive if present else excl_cancer).append(pf)
                continue
            groups.setdefault(f.category, []).append(f)
        crits.append(PreparedCriterion(
            criterion=c,
            groups=tuple((k, tuple(v)) for k, v in groups.items()),
            cancer=tuple(cancer),
            static=_static_outcome(c, groups, cancer),
        ))
    # A cancer type named in an exclusion excludes the patient's cancer trial-wide only
    # when it stands alone ("Diagnosis of GIST or Kaposi sarcoma") and is not the very
    # cancer the trial enrols ("Predominantly squamous cell histology NSCLC" in an NSCLC
    # trial narrows by histology; it does not exclude NSCLC).
    enrolled = {code for pf in positive for code in pf.fact.codes}
    enrolled_anc = set(enrolled)
    for pf in positive:
        for anc in pf.ancestors:
            enrolled_anc |= anc
    for pf in excl_cancer:
        if pf.fact.negated and pf.criterion is not None \
                and pf.criterion.kind is CriterionKind.INCLUSION:
            negative.append(pf)  # "other than …" in an inclusion: always trial-wide
            continue
        if pf.fact.qualified or any(code in enrolled_anc for code in pf.fact.codes):
            continue
        negative.append(pf)
    return PreparedTrial(
        trial=trial,
        criteria=tuple(crits),
        positive_cancer=tuple(positive),
        negative_cancer=tuple(negative),
        conditions_generic=cond_generic,
        conditions_non_cancer=parsed.conditions_non_cancer,
        conditions_specific=cond_specific,
        stage_order=tuple(STAGE_ORDER),
        codes_heme=_codes_heme(positive, ontology),
        line_hint=parsed.line_hint,
        first_line_title=parsed.first_line_title,
        hints=tuple(f for f in parsed.conditions if isinstance(f, BiomarkerFact)
                    and not f.negated),
        eval_order=_eval_order(crits),
        label_scopes=frozenset(c.scope for c in parsed.criteria if c.scope
                               and not c.scope_only),
    )


_NARROWING_BARE = frozenset({"cancer", "carcinoma", "tumor"})
"""Bare generic words that, in a criterion naming specific cancers too, are part of a
name the vocabulary missed ("locally advanced cancer cervix")."""
_BARE_CANCER_WORDS = frozenset({"cancer", "tumor", "neoplasm", "malignancy"})
"""A generic cancer word with no qualifier at all ("Tumor" in a spine-surgery study);
a bare "Carcinoma" is handled by :attr:`CancerTypeFact.carcinoma_only`."""


def _generic_conditions_narrowed(
    prep: PreparedTrial, p: NormalizedPatient
) -> tuple[str, ParsedCriterion] | None:
    """Generic conditions ("Locally Advanced Malignant Neoplasm", "cancer") narrowed by
    the inclusion criteria: when every cancer type the inclusion criteria name is
    specific, none of them fits the patient even as a parent or subtype, and no
    inclusion criterion keeps a generic scope ("any solid tumour"), the list *is* the
    population (NCT05099809: head and neck, cervix, breast, oesophagus, anorectum).
    Returns (the listed names, the first criterion naming them) or None.
    """
    inclusion = [c for c in prep.positive_cancer if c.source == "inclusion"]
    # A bare "cancer(s)" in a criterion that also names specific cancers is part of a
    # name the vocabulary missed ("locally advanced cancer cervix"), not a scope.
    with_specific = {id(c.criterion) for c in inclusion if c.fact.codes}
    inclusion = [
        c for c in inclusion
        if c.fact.codes or id(c.criterion) not in with_specific
        or c.fact.generic_word not in _NARROWING_BARE
    ]
    if not inclusion or any(
        c.fact.any_solid_tumor or c.fact.any_malignancy or c.fact.any_hematologic
        or not c.fact.codes for c in inclusion
    ):
        return None
    if any(_match_level(c, p)[0] >= SPECIFIC for c in inclusion):
        return None
    first = next((c.criterion for c in inclusion if c.criterion is not None), None)
    if first is None:
        return None
    names = sorted({n for c in inclusion for n in c.names})[:6]
    return ", ".join(names), first


def _sibling_shorthand(prep: PreparedTrial, p: NormalizedPatient,
                       best: PreparedCancerFact | None) -> bool:
    """True if the trial's only fit is a broad ancestor ("lung cancer") while it also names
    a more specific type under that ancestor on another branch ("non-small cell lung
    cancer") and nothing on the patient's branch: the broad word is shorthand for the
    specific one (an SCLC patient is not in a "lung cancer; NSCLC" trial)."""
    if best is None:
        return False
    lineage = set(p.cancer_lineage)
    broad = {c for c in best.fact.codes if c in lineage}
    if not broad:
        return False
    for pf in prep.positive_cancer:
        for code, anc in zip(pf.fact.codes, pf.ancestors, strict=False):
            if code in lineage:
                continue
            if anc & broad and code not in lineage:
                return True
    return False


_DECISIVE = {"biomarker": 0, "stage": 1, "histology": 1, "prior_therapy": 2, "sex": 2,
             "age": 3, "performance_status": 3, "brain_metastases": 3,
             "measurable_disease": 4, "condition": 5, "lab": 6}


def _eval_order(crits: Sequence[PreparedCriterion]) -> tuple[int, ...]:
    def rank(i: int) -> tuple[int, int]:
        pc = crits[i]
        if pc.static is not None:
            return (9, i)
        if pc.cancer:
            return (0, i)
        best = min((_DECISIVE.get(cat, 7) for cat, _ in pc.groups), default=8)
        return (1 + best, i)
    return tuple(sorted(range(len(crits)), key=rank))


def _codes_heme(positive: Sequence[PreparedCancerFact], onto: Ontology) -> bool | None:
    kinds: set[bool] = set()
    for pf in positive:
        for code, anc in zip(pf.fact.codes, pf.ancestors, strict=False):
            tissue = {code, *anc}
            kinds.add(bool(tissue & {"LYMPH", "MYELOID"}))
    return kinds.pop() if len(kinds) == 1 else None


def _static_outcome(
    c: ParsedCriterion, groups: dict[str, list[Fact]], cancer: list[PreparedCancerFact]
) -> Outcome | None:
    role = c.role
    if role in (CriterionRole.UNINTERPRETED, CriterionRole.NOT_REQUIRED):
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN, "", c.text, c.span,
                       lazy=("Not interpreted automatically:", "", (), ""))
    if role is CriterionRole.PROCEDURAL:
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN, "", c.text, c.span,
                       lazy=("Procedural requirement (consent, contraception, sampling), "
                             "checked at screening:", "", (), ""))
    if role is CriterionRole.OTHER_MALIGNANCY:
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN, "", c.text, c.span,
                       "condition", "other malignancy?",
                       lazy=("Concerns other or prior malignancies:", "", (), ""))
    if not cancer and list(groups) == ["lab"]:
        labs = [f for f in groups["lab"] if isinstance(f, LabFact)]
        names = ", ".join(dict.fromkeys(f.lab.replace("_", " ") for f in labs))
        return Outcome(c, c.kind, CriterionStatus.UNKNOWN,
                       f"Cannot decide {_quote(c.text)}: no laboratory values in the "
                       "profile (checked at screening).", c.text, c.span, "lab",
                       f"{names}?", False)
    return None


def _match_level(pf: PreparedCancerFact, p: NormalizedPatient) -> tuple[int, float, str]:
    """Best match level of one cancer fact for the patient, with a specificity in [0, 1]
    and the name of the matching trial code."""
    f = pf.fact
    best = (NONE, 0.0, "")
    lineage = p.cancer_lineage
    for code, anc, level, name in zip(f.codes, pf.ancestors, pf.levels, pf.names,
                                      strict=False):
        if code == p.cancer_code:
            return EXACT, 1.0, name
        if code in lineage:
            if not p.malignant:
                continue  # an intermediate neoplasm is not its malignant parent class
            depth = len(lineage) - lineage.index(code)  # 1 = tissue node
            spec = 0.7 if depth <= 1 else 0.9
            if level <= 1:
                spec = 0.7
            if best[0] < ANCESTOR or spec > best[1]:
                best = (ANCESTOR, spec, name)
        elif p.cancer_code in anc and best[0] < SPECIFIC:
            best = (SPECIFIC, 0.5, name)
    if best[0] >= ANCESTOR:
        return best
    generic: tuple[int, float, str] | None = None
    if f.carcinoma_only:
        # "Carcinoma": a carcinoma fits, a non-epithelial cancer does not, and a cancer
        # the ontology names as neither ("Small Cell Lung Cancer") is an open question.
        if p.carcinoma is True:
            generic = (GENERIC, 0.4, "carcinomas")
        elif p.carcinoma is None:
            generic = (SPECIFIC, 0.3, "carcinomas")
    else:
        if f.any_malignancy:
            generic = (GENERIC, 0.4, "any malignancy") if p.malignant else (
                SPECIFIC, 0.3, "any malignancy")
        if f.any_solid_tumor and not p.hematologic:
            generic = (GENERIC, 0.4, "solid tumours") if p.malignant else (
                SPECIFIC, 0.3, "solid tumours")
    if f.any_hematologic and p.hematologic:
        generic = (GENERIC, 0.4, "haematologic malignancies")
    if generic and generic[0] > best[0]:
        return generic
    return best


@dataclass(slots=True)
class CancerFit:
    """Trial-level cancer-type fit: status, specificity in [0, 1], and the deciding
    mention (text, span, or None for the trial's conditions list)."""

    status: CriterionStatus
    specificity: float
    reason: str
    text: str
    span: tuple[int, int]
    level: int = NONE


def cancer_fit(prep: PreparedTrial, p: NormalizedPatient) -> CancerFit:
    """Judge the trial's cancer types against the patient's (see module docstring)."""
    pname = p.cancer_name
    for neg in prep.negative_cancer:
        f = neg.fact
        if any(code in p.cancer_lineage for code in f.codes):
            text = neg.criterion.text if neg.criterion else prep.trial.parsed.condition_text
            span = neg.criterion.span if neg.criterion else (0, 0)
            return CancerFit(CriterionStatus.NOT_MET, 0.0,
                             f"Trial excludes {_quote(f.text)}; patient has {pname}.",
                             text, span)
    best: tuple[int, float, str, PreparedCancerFact | None] = (NONE, 0.0, "", None)
    cond_best = NONE
    for cand in prep.positive_cancer:
        lvl, sp, nm = _match_level(cand, p)
        if cand.source == "condition":
            cond_best = max(cond_best, lvl)
        if (lvl, sp) > (best[0], best[1]):
            best = (lvl, sp, nm, cand)
    level, spec, name, pf = best
    if (level == GENERIC and name == "any malignancy" and prep.codes_heme is not None
            and prep.codes_heme != p.hematologic):
        # "Lymphoid Malignancies": the generic word is qualified by the named cancers.
        level, spec = NONE, 0.0
    if (level >= GENERIC and pf is not None and pf.source == "inclusion" and cond_best
            < SPECIFIC and ((prep.conditions_specific and not prep.conditions_generic) or (
                not prep.conditions_generic and not prep.conditions_specific
                and prep.trial.summary.conditions))):
        # Only a criterion mention fits while the conditions list names other cancers
        # (or none: "chronic heart failure"): a stray mention ("MBC-CML", a history of
        # breast cancer in a cardiology study) or one cohort among others — not a clear
        # fit.
        return CancerFit(CriterionStatus.UNKNOWN, 0.3,
                         f"Trial's conditions name other cancer types; {pname} appears only "
                         f"in a criterion ({_quote(pf.fact.text)}).",
                         pf.criterion.text if pf.criterion else "", pf.criterion.span
                         if pf.criterion else (0, 0), SPECIFIC)
    mention = pf.fact.text if pf else ""
    text = pf.criterion.text if (pf and pf.criterion) else (
        f"Conditions: {prep.trial.parsed.condition_text}")
    span = pf.criterion.span if (pf and pf.criterion) else (0, 0)
    if not prep.positive_cancer:
        # Precision first: a trial naming no recognizable cancer type (most often a
        # non-oncology study) is not offered; the index never selects it either.
        return CancerFit(CriterionStatus.NOT_MET, 0.0,
                         "No cancer type recognized in the trial's conditions, title or "
                         f"criteria; not a trial for {pname}.",
                         f"Conditions: {prep.trial.parsed.condition_text}", (0, 0), NONE)
    if level == ANCESTOR and _sibling_shorthand(prep, p, pf):
        return CancerFit(
            CriterionStatus.UNKNOWN, 0.4,
            f"Trial names {_quote(pf.fact.text if pf else '')} but also a more specific "
            f"type that is not the patient's; {pname} may not be the population.",
            text if pf else "", span, SPECIFIC)
    if level >= ANCESTOR:
        how = "exactly" if level == EXACT else f"as {name}"
        return CancerFit(CriterionStatus.MET, spec,
                         f"Trial enrols {_quote(mention)}; patient's {pname} matches {how}.",
                         text, span, level)
    if level == GENERIC:
        narrowed = _generic_conditions_narrowed(prep, p)
        if narrowed is not None:
            return CancerFit(
                CriterionStatus.NOT_MET, 0.0,
                f"Trial's conditions are generic ({_quote(mention)}), but its inclusion "
                f"criteria enrol only {narrowed[0]}; patient has {pname}.",
                narrowed[1].text, narrowed[1].span, NONE)
        if (pf is not None and pf.source == "condition" and prep.conditions_non_cancer
                and not prep.conditions_specific
                and pf.fact.generic_word in _BARE_CANCER_WORDS):
            return CancerFit(
                CriterionStatus.UNKNOWN, 0.3,
                f"Trial names cancer only as {_quote(mention)} among non-cancer conditions "
                f"({_quote('; '.join(prep.trial.summary.conditions), 120)}); whether it is "
                f"a study for {pname} is unclear.", text, span, SPECIFIC)
        if prep.conditions_specific and not prep.conditions_generic and cond_best < SPECIFIC:
            return CancerFit(
                CriterionStatus.UNKNOWN, 0.3,
                f"Trial lists other cancer types in its conditions; {pname} fits only the "
                f"generic wording {_quote(mention)}.", text, span, level)
        return CancerFit(CriterionStatus.MET, spec,
                         f"Trial enrols {_quote(mention)}; {pname} is one.", text, span, level)
    if level == SPECIFIC:
        if not p.malignant:
            reason = (f"{pname} is an intermediate (non-metastasizing) neoplasm; whether it "
                      f"counts as {_quote(mention)} is a clinical judgement.")
        else:
            reason = f"Trial is for {name}; the patient's subtype of {pname} is not specified."
        return CancerFit(CriterionStatus.UNKNOWN, spec, reason, text, span, level)
    names = sorted({n for pf2 in prep.positive_cancer for n in pf2.names})[:6]
    generic = [g for g in ("solid tumours" if any(pf2.fact.any_solid_tumor
                                                   for pf2 in prep.positive_cancer) else "",)
               if g]
    listed = ", ".join(names + generic) or "other cancers"
    reason = f"Trial is for {listed}; patient has {pname}."
    if not p.malignant and any(code in p.cancer_lineage for pf2 in prep.positive_cancer
                               for code in pf2.fact.codes):
        reason = (f"Trial is for malignant {listed}; {pname} is an intermediate "
                  "(non-metastasizing) neoplasm, not a malignant tumour of that class.")
    return CancerFit(CriterionStatus.NOT_MET, 0.0, reason, text, span, NONE)


# --------------------------------------------------------------------------------------
# Combination
# --------------------------------------------------------------------------------------


def _and(values: Iterable[Tri]) -> Tri:
    out: Tri = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def _or(values: Iterable[Tri]) -> Tri:
    out: Tri = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out


def _not(v: Tri) -> Tri:
    return None if v is None else not v


def _combine_biomarkers(joins: Sequence[str], atoms: Sequence[Atom]) -> Tri:
    """Positive biomarker atoms combined by the written connectors ``joins`` (see
    :attr:`ParsedCriterion.biomarker_joins`; AND binds tighter)."""
    if not joins:
        return _or(a.value for a in atoms)
    segments: list[list[Tri]] = [[atoms[0].value]]
    for c, atom in zip(joins, atoms[1:], strict=True):
        if c == "or":
            segments.append([atom.value])
        else:
            segments[-1].append(atom.value)
    return _or(_and(seg) for seg in segments)


def _group_value(pc: PreparedCriterion, category: str, atoms: Sequence[Atom]) -> Tri:
    pos = [a for a in atoms if not a.fact.negated]
    neg = [a for a in atoms if a.fact.negated]
    parts: list[Tri] = []
    if pos:
        if category == "biomarker":
            parts.append(_combine_biomarkers(pc.criterion.biomarker_joins, pos))
        else:
            parts.append(_or(a.value for a in pos))
    if neg:
        parts.append(_and(_not(a.value) for a in neg))
    return _and(parts)


def _atom(f: Fact, p: NormalizedPatient, onto: Ontology, stage_order: Sequence[str]) -> Atom:
    if isinstance(f, HistologyFact):
        return _histology_atom(f, p, onto)
    if isinstance(f, StageFact):
        return _stage_atom(f, p, stage_order)
    fn = _SIMPLE_ATOMS.get(type(f))
    if fn is None:
        return Atom(f, None, "not evaluated", None, key=False)
    return fn(f, p)


_SIMPLE_ATOMS: dict[type, Callable[[Any, NormalizedPatient], Atom]] = {
    BiomarkerFact: _biomarker_atom,
    PriorTherapyFact: _prior_therapy_atom,
    PerformanceStatusFact: _ps_atom,
    AgeFact: _age_atom,
    SexFact: _sex_atom,
    BrainMetastasesFact: _brain_atom,
    MeasurableDiseaseFact: _measurable_atom,
    LabFact: _lab_atom,
    ConditionFact: _condition_atom,
}


def _cancer_atoms(
    pc: PreparedCriterion, p: NormalizedPatient
) -> tuple[Tri, float, str]:
    """The cancer-type part of one criterion: True if any of its mentions accepts the
    patient (exclusion: the patient is within a mention), with the best specificity."""
    crit = pc.criterion
    vals: list[Tri] = []
    spec = 0.0
    desc = p.cancer_name
    for pf in pc.cancer:
        present = pf.source == "inclusion"
        if present:
            level, s, _ = _match_level(pf, p)
            v: Tri = True if level >= GENERIC else (None if level == SPECIFIC else False)
            spec = max(spec, s)
        else:
            f = pf.fact
            if any(code in p.cancer_lineage for code in f.codes):
                v = True
            elif any(p.cancer_code in anc for anc in pf.ancestors):
                v = None
            elif (f.any_solid_tumor and not p.hematologic) or (
                    f.any_hematologic and p.hematologic) or f.any_malignancy:
                v = True if crit.kind is CriterionKind.INCLUSION else None
            else:
                v = False
            v = _not(v)  # the negative mention holds for the patient iff not within it
        vals.append(v)
    return _or(vals), spec, desc


_CATEGORY_PRIORITY = ("biomarker", "prior_therapy", "histology", "stage")


def _main_category(group_vals: Sequence[tuple[str, Tri, list[Atom]]]) -> str:
    """The category a met criterion is filed under: its most targeting one ("non-squamous
    NSCLC" is a histology criterion, not merely a cancer-type one)."""
    cats = [c for c, _, _ in group_vals]
    for c in _CATEGORY_PRIORITY:
        if c in cats:
            return c
    return cats[0]


def _therapy_adjust(pc: PreparedCriterion, a: Atom, p: NormalizedPatient,
                    onto: Ontology) -> Atom:
    """Prior-therapy atoms under the criterion's wording: a washout window makes a
    received/naive statement a timing matter (unknown, not key); "more than one CDK4/6
    inhibitor" counts distinct agents of the class."""
    f = a.fact
    assert isinstance(f, PriorTherapyFact)
    if (pc.criterion.washout and f.relation in ("received", "naive") and f.min_lines is None
            and f.max_lines is None and a.value is not None):
        return Atom(f, None, a.patient + " (timing/washout is checked at screening)",
                    "time since last treatment?", key=False)
    if f.min_agents is not None and a.value is not False:
        classes = set(f.classes)
        drugs = {d.lower() for d in f.drugs}
        agents: set[str] = set()
        unresolved = 0
        for t in p.therapies:
            if f.relation == "progressed" and t.progressed is False:
                continue
            hit = [d for d in t.drugs if d.lower() in drugs
                   or classes & set(onto.therapies.classes_of(d))]
            if hit:
                agents.update(hit)
            elif classes & t.classes:
                unresolved += 1
        n = len(agents) + unresolved
        if n >= 2:
            return Atom(f, a.value, a.patient)
        return Atom(f, False, f"{a.patient} (one agent of the class, not more)")
    return a


def evaluate_criterion(
    pc: PreparedCriterion,
    p: NormalizedPatient,
    onto: Ontology,
    stage_order: Sequence[str],
    trial_cancer_met: bool,
    trial_cancer_open: bool | None = None,
) -> Outcome:
    """Evaluate one criterion (see module docstring for the combination rules).

    ``trial_cancer_met``: the trial accepts the patient's cancer type;
    ``trial_cancer_open`` (default: the same): it accepts or may accept it (a cohort
    whose fit is unknown), so that criteria naming other cancer types are other cohorts.
    """
    if trial_cancer_open is None:
        trial_cancer_open = trial_cancer_met
    if pc.static is not None:
        return pc.static
    crit = pc.criterion
    kind = crit.kind
    cancer_v: Tri = True
    if pc.cancer:
        cancer_v, _spec, _ = _cancer_atoms(pc, p)
        if kind is CriterionKind.INCLUSION and cancer_v is False and trial_cancer_open:
            names = "; ".join(pf.fact.text for pf in pc.cancer)
            return Outcome(crit, kind, CriterionStatus.MET,
                           f"Applies to another cohort ({names}); the trial accepts "
                           f"{p.cancer_name} elsewhere.", crit.text, crit.span, "cancer_type")
        if kind is CriterionKind.INCLUSION and cancer_v is None and trial_cancer_met:
            cancer_v = True
    group_vals: list[tuple[str, Tri, list[Atom]]] = []
    if pc.cancer:
        # For an exclusion, the cancer mentions are "positive" statements of the
        # condition; _cancer_atoms returned whether the patient is *outside* them.
        cv = cancer_v if kind is CriterionKind.INCLUSION else _not(cancer_v)
        group_vals.append(("cancer_type", cv, []))
    for category, facts in pc.groups:
        atoms = [_atom(f, p, onto, stage_order) for f in facts]
        if category == "prior_therapy":
            atoms = [_therapy_adjust(pc, a, p, onto) for a in atoms]
        elif category == "condition" and kind is CriterionKind.INCLUSION:
            # Comorbidities named in an inclusion are conditional permissions ("HBsAg-
            # positive patients are eligible if …"), never requirements to have them.
            atoms = [Atom(a.fact, None, a.patient, a.question, key=False)
                     if a.value is False and not a.fact.negated else a for a in atoms]
        group_vals.append((category, _group_value(pc, category, atoms), atoms))
    condition = _and(v for _, v, _ in group_vals)
    satisfied = condition if kind is CriterionKind.INCLUSION else _not(condition)

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
                    p.cancer_name)
        else:
            hits = [(c, atoms) for c, v, atoms in group_vals if v is True]
            cat, atoms = hits[-1] if hits else (group_vals[0][0], [])
            lazy = ("Excluded by", "; patient: ",
                    [a for _, _, atoms2 in group_vals for a in atoms2 if a.value is not None],
                    p.cancer_name)
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
                           scope=scope)
        if deciding and all(_has_open_exception(a.fact) for a in deciding):
            # The text carves an exception into the fact ("unless …", "other than …")
            # that the profile cannot settle: never rest not_met on it alone.
            exc = next(a.fact.exception for a in deciding if a.fact.exception)
            return Outcome(crit, kind, CriterionStatus.UNKNOWN, "", crit.text, crit.span,
                           _category(cat), f"does the exception apply: {exc}?",
                           cat in KEY_CATEGORIES,
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
            is_key = a.key and (c in KEY_CATEGORIES or (
                c == "measurable_disease" and kind is CriterionKind.INCLUSION
                and not a.fact.negated))
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
    valid = {"cancer_type", "histology", "stage", "biomarker", "performance_status", "age",
             "sex", "measurable_disease", "brain_metastases", "prior_therapy", "lab",
             "condition"}
    return cat if cat in valid else None  # type: ignore[return-value]


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
    terms: tuple[Any, ...]
    """The score's terms, rendered as ``score_explanation`` by :func:`explain`."""
    questions: list[str]
    tail: tuple[CriterionResult, ...] = ()
    """Results appended after ``outcomes`` (shared, for criteria not evaluated)."""
    partial: bool = False
    """True if evaluation stopped at the first ``not_met`` (``full=False``): verdict and
    score are final, ``outcomes`` incomplete."""


def _summary_outcomes(prep: PreparedTrial, p: NormalizedPatient) -> list[Outcome]:
    s = prep.trial.summary
    out: list[Outcome] = []
    if s.min_age_years is not None or s.max_age_years is not None:
        lo = s.min_age_years
        hi = s.max_age_years
        text = "Age " + (f"{lo:g}" if lo is not None else "0") + (
            f"–{hi:g} years" if hi is not None else "+ years")
        if p.age is None:
            out.append(Outcome(None, CriterionKind.INCLUSION, CriterionStatus.UNKNOWN,
                               f"Trial enrols ages {text[4:]}; age not given.", text, (0, 0),
                               "age", "age?", True))
        else:
            ok = (lo is None or p.age >= lo) and (hi is None or p.age <= hi)
            out.append(Outcome(None, CriterionKind.INCLUSION,
                               CriterionStatus.MET if ok else CriterionStatus.NOT_MET,
                               f"Trial enrols ages {text[4:]} (registry); patient is "
                               f"{p.age:g}.", text, (0, 0), "age"))
    sex = (s.sex or "ALL").upper()
    if sex in ("FEMALE", "MALE"):
        text = f"Sex: {sex.lower()} (registry)"
        if p.sex is None:
            out.append(Outcome(None, CriterionKind.INCLUSION, CriterionStatus.UNKNOWN,
                               f"Trial enrols {sex.lower()} patients only; sex not given.",
                               text, (0, 0), "sex", "sex?", True))
        else:
            ok = p.sex == sex.lower()
            out.append(Outcome(None, CriterionKind.INCLUSION,
                               CriterionStatus.MET if ok else CriterionStatus.NOT_MET,
                               f"Trial enrols {sex.lower()} patients only; patient is "
                               f"{p.sex}.", text, (0, 0), "sex"))
    return out


def evaluate_prepared(prep: PreparedTrial, p: NormalizedPatient, ontology: Ontology,
                      today: date, *, skip_unfit: bool = False,
                      full: bool = True) -> Evaluation:
    """Evaluate a prepared trial (the fast path used by :mod:`matchers.rank`).

    ``skip_unfit``: when the trial is not for the patient's cancer type (trial-level
    ``not_met``), do not evaluate its criteria (listed as not evaluated) — used by the
    ranker for trials outside the index's candidate set. ``full=False``: stop at the
    first ``not_met`` (verdict and score are already final; ``partial`` is set).

    ``today`` is accepted for date-relative criteria (washout windows); the current
    fact model carries no dates, so it is not consulted yet.
    """
    del today
    fit = cancer_fit(prep, p)
    outcomes: list[Outcome] = [
        Outcome(None, CriterionKind.INCLUSION, fit.status, fit.reason, fit.text, fit.span,
                "cancer_type", "cancer subtype?" if fit.status is CriterionStatus.UNKNOWN
                and p.malignant else None, fit.status is CriterionStatus.UNKNOWN)
    ]
    outcomes.extend(_summary_outcomes(prep, p))
    if prep.first_line_title and p.malignant and p.systemic_lines_advanced > 0:
        outcomes.append(Outcome(
            None, CriterionKind.INCLUSION, CriterionStatus.UNKNOWN,
            f"Trial title says first-line / untreated ({_quote(prep.first_line_title)}); "
            f"patient has had {p.systemic_lines_advanced} line(s) of systemic therapy for "
            "advanced disease.", f"Title: {prep.first_line_title}", (0, 0),
            "prior_therapy", "eligible after prior systemic therapy?", True))
    if skip_unfit and fit.status is CriterionStatus.NOT_MET:
        # Not a trial for this cancer: the verdict is settled; list the criteria as not
        # evaluated (shared outcomes) instead of evaluating each one.
        if not prep.skip_results:
            prep.skip_results.append(tuple(_skipped(pc).result() for pc in prep.criteria))
        return Evaluation(prep, Verdict.INELIGIBLE, _ineligible_score(0.0), outcomes,
                          _ineligible_terms(0.0), [], tail=prep.skip_results[0])
    trial_met = fit.status is CriterionStatus.MET
    trial_open = trial_met or (fit.status is CriterionStatus.UNKNOWN)
    hint_vals = [_biomarker_atom(f, p).value for f in prep.hints]
    if (hint_vals and trial_open
            and not any(v is True for v in hint_vals) and any(v is False for v in hint_vals)):
        # The title/conditions target a biomarker status the patient lacks ("… NSCLC
        # Harbouring EGFR Mutations" for an EGFR wild-type patient) while no criterion the
        # parser reads states it ("PACC mutation"): never call such a trial eligible.
        named = ", ".join(dict.fromkeys(_quote(f.text, 60) for f in prep.hints))
        outcomes.append(Outcome(
            None, CriterionKind.INCLUSION, CriterionStatus.UNKNOWN,
            f"Trial's title/conditions target {named}; the patient's profile says otherwise.",
            f"Conditions/title: {prep.trial.parsed.condition_text}", (0, 0), "biomarker",
            "biomarker status the title targets?", True))
    if not full and any(o.status is CriterionStatus.NOT_MET for o in outcomes):
        return Evaluation(prep, Verdict.INELIGIBLE, _ineligible_score(fit.specificity),
                          outcomes, _ineligible_terms(fit.specificity), [], partial=True)
    if full or len(prep.eval_order) != len(prep.criteria):
        for pc in prep.criteria:
            outcomes.append(evaluate_criterion(pc, p, ontology, prep.stage_order, trial_met,
                                               trial_open))
    else:
        # Most decisive criteria first; stop at the first not_met: the verdict is settled
        # and an ineligible trial's score depends on its cancer-type fit only (the rest is
        # evaluated if the page shows the trial).
        slots: list[Outcome | None] = [None] * len(prep.criteria)
        crits = prep.criteria
        for i in prep.eval_order:
            o = evaluate_criterion(crits[i], p, ontology, prep.stage_order, trial_met,
                                   trial_open)
            if o.status is CriterionStatus.NOT_MET:
                outcomes.append(o)
                return Evaluation(prep, Verdict.INELIGIBLE,
                                  _ineligible_score(fit.specificity), outcomes,
                                  _ineligible_terms(fit.specificity), [], partial=True)
            slots[i] = o
        outcomes.extend(o for o in slots if o is not None)
    if prep.label_scopes:
        failed = {o.scope for o in outcomes if o.scope is not None}
        if prep.label_scopes <= failed:
            # Every labelled cohort fails: the patient fits none of them.
            for o in outcomes:
                if o.scope in prep.label_scopes and o.status is CriterionStatus.UNKNOWN:
                    o.status, o.key, o.lazy = CriterionStatus.NOT_MET, False, (
                        "Fits no cohort; fails", " ", o.lazy[2] if o.lazy else (), "")
    not_met = [o for o in outcomes if o.status is CriterionStatus.NOT_MET]
    key_unknown = [o for o in outcomes if o.status is CriterionStatus.UNKNOWN and o.key]
    if not_met:
        verdict = Verdict.INELIGIBLE
    elif key_unknown:
        verdict = Verdict.POSSIBLY_ELIGIBLE
    else:
        verdict = Verdict.ELIGIBLE
    n_met_key = 0
    targeted: set[str] = set()
    biomarker = False
    for o in outcomes:
        if o.status is CriterionStatus.MET and o.criterion is not None \
                and o.category in KEY_CATEGORIES:
            n_met_key += 1
            if o.kind is CriterionKind.INCLUSION and o.category in _TARGETING:
                targeted.add(o.category)
        biomarker = biomarker or o.biomarker_met
    hint_pen = 0.0
    if hint_vals:
        if any(v is True for v in hint_vals):
            biomarker = True
            targeted.add("biomarker")
        elif any(v is False for v in hint_vals):
            hint_pen = 0.1  # the title targets a biomarker status the patient lacks
    if prep.line_hint is not None and p.malignant:
        treated = p.systemic_lines_advanced > 0
        if (prep.line_hint == "later") == treated:
            targeted.add("line")
        elif prep.line_hint == "first" and treated:
            hint_pen += 0.1  # a first-line / untreated trial for a pretreated patient
    # Score: how specifically the trial targets this patient's disease, not merely how
    # many routine criteria it passes. Terms (kept in `terms`, rendered lazily):
    s_fit = 0.45 * fit.specificity
    s_tgt = 0.07 * len(targeted)
    s_bio = 0.12 if biomarker else 0.0
    s_met = 0.1 * min(n_met_key, 6) / 6
    # One open question counts once, however many criteria ask it (a generic "solid
    # tumour" in the conditions and again in two criteria is one cancer-type question).
    n_open = len({"cancer_type" if o.category == "cancer_type" else (o.category, o.question)
                  if o.question else id(o) for o in key_unknown})
    pen = min(0.3, 0.06 * n_open)
    pen_nm = min(0.3, 0.1 * len(not_met)) + hint_pen
    score = max(0.0, min(1.0, 0.05 + s_fit + s_tgt + s_bio + s_met - pen - pen_nm))
    terms = (fit.specificity, s_fit, tuple(sorted(targeted)), s_tgt, s_bio, n_met_key, s_met,
             n_open, pen, len(not_met), pen_nm)
    if verdict is Verdict.INELIGIBLE:
        score = _ineligible_score(fit.specificity)
        terms = _ineligible_terms(fit.specificity)
    questions: list[str] = []
    for o in key_unknown:
        if o.question and o.question not in questions:
            questions.append(o.question)
    return Evaluation(prep, verdict, round(score, 4), outcomes, terms, questions)


_TARGETING = frozenset({"biomarker", "histology", "stage", "prior_therapy"})
"""Inclusion categories that show a trial targets a disease subset (a met one is a sign
of a targeted fit: "EGFR-mutant", "after osimertinib", "stage IIIB-IV", "epithelioid")."""


def explain(ev: Evaluation) -> tuple[str, ...]:
    """The score's terms in words (``TrialMatch.score_explanation``)."""
    if ev.terms[0] == "ineligible":
        return (f"+{_ineligible_score(ev.terms[1]):.2f} ineligible: half the cancer-type "
                f"fit ({ev.terms[1]:.2f} specificity)",)
    spec, s_fit, targeted, s_tgt, s_bio, n_met, s_met, n_unk, pen, n_nm, pen_nm = ev.terms
    out = [f"+{s_fit:.2f} cancer-type fit ({spec:.2f} specificity)"]
    if targeted:
        out.append(f"+{s_tgt:.2f} targeted inclusion criteria met ({', '.join(targeted)})")
    if s_bio:
        out.append(f"+{s_bio:.2f} biomarker-targeted match")
    out.append(f"+{s_met:.2f} {n_met} key criteria met")
    out.append("+0.05 base")
    if n_unk:
        out.append(f"-{pen:.2f} {n_unk} open key questions")
    if n_nm:
        out.append(f"-{pen_nm:.2f} {n_nm} criteria not met")
    return tuple(out)


def _ineligible_score(specificity: float) -> float:
    """An ineligible trial's score: half its cancer-type fit (it orders ineligible trials
    among themselves, below every eligible and possibly eligible one)."""
    return round(0.5 * (0.05 + 0.45 * specificity), 4)


def _ineligible_terms(specificity: float) -> tuple[Any, ...]:
    return ("ineligible", specificity)


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
