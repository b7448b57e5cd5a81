"""Comorbidities and statuses: HIV, hepatitis B/C, pregnancy, autoimmune disease,
interstitial lung disease, other malignancy, ….

**Extraction** (:func:`extract_conditions`) — ontology ``CONDITION`` terms
(``ontologies/data/conditions.toml``) and "other malignancy" phrases
(``matchers/rules/cancer_type.toml``); tests are not conditions ("HIV test"), except
"negative pregnancy test" → pregnancy, negated; "avoid/prevent …" is no condition.

**Patient side** (:func:`read_conditions`) — the profile's ``conditions`` resolved to
condition ids present, and explicitly absent ("no HIV", "negative for hepatitis B or
C"); ``pregnant`` (a male patient is not pregnant); ``brain_metastases: "none"`` is an
absent brain-metastasis condition.

**Grades** — a CTCAE grade threshold beside the mention ("grade ≥ 2 sensory
neuropathy") is the fact's ``min_grade`` (``condition.toml`` grade patterns; "≤ grade 1"
in an inclusion is the absence of grade 2 and up); a profile entry may state the grade
("grade 1 residual peripheral sensory neuropathy").

**Severity** — a qualifier beside the mention ("symptomatic", "uncontrolled", "active",
"NYHA class III or IV", ``condition.toml`` ``severity_words``) makes the fact
``severe_only``; a profile entry may say severe ("uncontrolled hypertension") or mild
("well controlled", "in remission", "history of").

**Comparison** (:func:`compare_condition`) — present → true (with a ``min_grade``: true
only at that grade or above, unknown when the profile gives no grade; ``severe_only``:
true only when the entry says severe, false when it says mild, else unknown), absent →
false, else unknown; never key (comorbidities are checked at screening). A comorbidity
named in an inclusion is a conditional permission ("HBsAg-positive patients are eligible if …"),
never a requirement to have it: a false value there is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.cancer_type import CANCER_GATE, NOT_DISEASE_AFTER, cancer_rx
from matchers.criteria.common import CriterionText, compiled_per_rules, keep_mention, keep_terms
from matchers.models import ConditionFact, CriterionKind, Fact
from matchers.rules import ConditionRules, Rules, load_rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile
    from ontologies import Ontology

__all__ = [
    "CATEGORY",
    "PatientConditions",
    "compare_condition",
    "extract_conditions",
    "read_conditions",
]

_EXCLUSION_MALIGNANCY_CUE = (
    r"\b(?:any|active|diagnos\w*|known|history|suspected|concurrent|current|invasive|"
    r"prior|previous|other|second|malignant)\b"
)


_NEG_TEST = re.compile(r"\bnegative\s+(?:serum\s+|urine\s+|blood\s+)?(?:\w+\s+)?$", re.I)
_POS_TEST = re.compile(r"\bpositive\s+(?:serum\s+|blood\s+)?$|\bknown\s+", re.I)


@compiled_per_rules
def _cues(rules: ConditionRules) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    test_after = re.compile(r"[\s-]*(?:" + "|".join(rules.test_words) + r")\b", re.I)
    avoid = re.compile(r"\b(?:" + "|".join(rules.avoid_words) + r")\b[^.;]{0,25}$", re.I)
    absence = re.compile(
        r"^\s*(?:" + "|".join(re.escape(w) for w in rules.absence_words) + r")\b|"
        r"\s+(?:" + "|".join(re.escape(w) for w in rules.trailing_absence_words)
        + r")\s*\.?\s*$", re.I)
    return test_after, avoid, absence


def extract_conditions(c: CriterionText, rules: Rules) -> list[ConditionFact]:
    """Condition facts of criterion ``c`` (see the module docstring)."""
    facts: list[ConditionFact] = []
    if not c.terms_of("CONDITION") and not CANCER_GATE.search(c.body_lower):
        return facts  # fast path
    rx = cancer_rx(rules.cancer_type)
    test_after, avoid, _ = _cues(rules.condition)
    for t in keep_terms(c, ("CONDITION",)):
        before = c.norm[max(c.start, t.start - 40) : t.start]
        neg_test = False
        if test_after.match(c.norm, t.end):
            if _NEG_TEST.search(before) and t.codes[0] == "pregnancy":
                neg_test = True
            elif not _POS_TEST.search(before):
                continue
        if avoid.search(before):
            continue
        keep, neg, exc = keep_mention(c, t.start, t.end)
        if not keep:
            continue
        if neg_test:
            neg = not neg
        grade, at_most = _grade(c, t.start, t.end, rules.condition)
        facts.append(
            ConditionFact(
                span=(t.start, t.end),
                text=c.text[t.start : t.end],
                negated=neg != at_most,
                exception=exc,
                condition=t.codes[0],
                min_grade=grade,
                severe_only=grade is None and _severe(c, t.start, t.end, rules.condition),
            )
        )
    if not any(f.condition == "other_malignancy" for f in facts):
        found = list(rx.other.finditer(c.body))
        if c.kind.value == "exclusion":
            # in an exclusion, "any malignancy", "diagnosis of malignant disease" is
            # another malignancy than the trial's (as a cancer-type fact it would
            # exclude every patient)
            for m in rx.malignancy.finditer(c.body):
                ms, me = c.start + m.start(), c.start + m.end()
                if any(ms < t.end and t.start < me for t in c.terms_of("CANCER")):
                    continue
                if re.search(
                    _EXCLUSION_MALIGNANCY_CUE, c.body[max(0, m.start() - 40) : m.start()], re.I
                ):
                    found.append(m)
        for m in sorted(found, key=lambda x: x.start()):
            s, e = c.start + m.start(), c.start + m.end()
            if NOT_DISEASE_AFTER.match(c.body, m.end()):
                continue  # "prior cancer therapy"
            keep, neg, exc = keep_mention(c, s, e)
            if not keep:
                continue
            facts.append(
                ConditionFact(
                    span=(s, e),
                    text=c.text[s:e],
                    negated=neg,
                    exception=exc,
                    condition="other_malignancy",
                )
            )
            break
    return facts


@compiled_per_rules
def _grade_rx(rules: ConditionRules) -> tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]:
    def rx(parts: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.I) for p in parts)

    return (("at_most", rx(rules.grade_at_most)), ("above", rx(rules.grade_above)),
            ("at_least", rx(rules.grade_at_least)))


_CLAUSE_CUT = re.compile(r"[.;]")


def _window(c: CriterionText, s: int, e: int) -> str:
    """The mention ``[s, e)`` with up to 40 characters either side, within its clause."""
    before = c.norm[max(c.start, s - 40) : s]
    cut = list(_CLAUSE_CUT.finditer(before))
    if cut:
        before = before[cut[-1].end():]
    after = c.norm[e : min(c.end, e + 40)]
    stop = _CLAUSE_CUT.search(after)
    if stop:
        after = after[: stop.start()]
    return f"{before}{c.norm[s:e]}{after}"


@compiled_per_rules
def _severity_rx(rules: ConditionRules) -> tuple[re.Pattern[str], re.Pattern[str],
                                                 re.Pattern[str]]:
    def rx(parts: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.I)

    return rx(rules.severity_words), rx(rules.patient_severe_words), rx(rules.patient_mild_words)


def _severe(c: CriterionText, s: int, e: int, rules: ConditionRules) -> bool:
    """True if a severity qualifier ("symptomatic", "uncontrolled", "NYHA class III or
    IV", ``condition.toml`` ``severity_words``) stands beside the mention."""
    return bool(_severity_rx(rules)[0].search(_window(c, s, e)))


def _grade(c: CriterionText, s: int, e: int, rules: ConditionRules) -> tuple[int | None, bool]:
    """The CTCAE grade threshold written next to the condition mention ``[s, e)`` in its
    clause (``condition.toml`` grade patterns), as (lowest grade that counts, whether the
    text states the highest grade *allowed*: "neuropathy ≤ grade 1" allows grade 1, so
    grade 2 and up count, with the mention's polarity flipped). (None, False) if none."""
    window = _window(c, s, e)
    for how, patterns in _grade_rx(rules):
        for p in patterns:
            m = p.search(window)
            if m is None:
                continue
            g = int(m.group("g"))
            if how == "at_most":
                return g + 1, True
            if how == "above":
                return g + 1, False
            return max(g, 1), False
    return None, False


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "condition.other_malignancy"
                                 if f.condition == "other_malignancy"
                                 else "condition.ontology_term"})
            for f in extract_conditions(c, ctx.rules)]


# --------------------------------------------------------------------------------------
# patient side
# --------------------------------------------------------------------------------------


class PatientConditions(BaseModel):
    """Condition ids (``ontologies/data/conditions.toml``) the patient has
    (``present``) and is stated not to have (``absent``); ``pregnant`` as stated (False
    for a male patient)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    present: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    pregnant: bool | None = None
    grades: tuple[tuple[str, int], ...] = ()
    """(condition id, CTCAE grade) for present conditions whose entry states a grade
    ("grade 1 residual peripheral sensory neuropathy")."""
    severe: frozenset[str] = frozenset()
    """Present conditions whose entry says they are severe ("uncontrolled hypertension",
    "NYHA class III heart failure")."""
    mild: frozenset[str] = frozenset()
    """Present conditions whose entry says they are mild, controlled or past ("well
    controlled hypertension", "lupus in remission")."""

    def grade(self, condition: str) -> int | None:
        return next((g for c, g in self.grades if c == condition), None)


_CONDITION_LIST = re.compile(r"\s*(?:/|,|;|\bor\b|\band\b)\s*", re.I)


def _resolve_conditions(
    items: Iterable[str], ontology: Ontology, absence: re.Pattern[str],
    grade_rx: tuple[re.Pattern[str], ...] = (),
    severity: tuple[re.Pattern[str], re.Pattern[str]] | None = None,
) -> tuple[set[str], set[str], dict[str, int], set[str], set[str]]:
    present: set[str] = set()
    absent: set[str] = set()
    grades: dict[str, int] = {}
    severe: set[str] = set()
    mild: set[str] = set()
    for item in items:
        text = item.strip()
        if not text:
            continue
        negated = bool(absence.search(text))
        core = absence.sub("", text).strip(" :,-")
        for piece in _CONDITION_LIST.split(core) if negated else [core]:
            if not piece:
                continue
            # every condition an entry names ("HIV positive, Crohn's disease"), else
            # the one it resolves to as a whole
            found = list(ontology.conditions.find(piece))
            if not found and (whole := ontology.conditions.resolve(piece)):
                found = [whole]
            for cid in found:
                (absent if negated else present).add(str(cid))
                m = None if negated else next(
                    (m for p in grade_rx if (m := p.search(piece))), None)
                if m is not None:
                    grades[str(cid)] = max(grades.get(str(cid), 0), int(m.group("g")))
                if severity is not None and not negated:
                    if severity[0].search(piece):
                        severe.add(str(cid))
                    elif severity[1].search(piece):
                        mild.add(str(cid))
    return present, absent - present, grades, severe, mild - severe


def read_conditions(profile: PatientProfile, ontology: Ontology,
                    rules: Rules | None = None) -> PatientConditions:
    """The patient's :class:`PatientConditions` (see the module docstring)."""
    crules = (rules or load_rules()).condition
    _, _, absence = _cues(crules)
    _, severe_rx, mild_rx = _severity_rx(crules)
    present, absent, grades, severe, mild = _resolve_conditions(
        profile.conditions, ontology, absence, _patient_grade_rx(crules), (severe_rx, mild_rx))
    pregnant = False if profile.sex == "male" else profile.pregnant
    if pregnant is True:
        present.add("pregnancy")
    elif pregnant is False:
        absent.add("pregnancy")
    if profile.brain_metastases == "none":
        absent.add("brain_metastases")
    return PatientConditions(present=frozenset(present), absent=frozenset(absent - present),
                             pregnant=pregnant, grades=tuple(sorted(grades.items())),
                             severe=frozenset(severe), mild=frozenset(mild))


@compiled_per_rules
def _patient_grade_rx(rules: ConditionRules) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) if "G(?P" in p else re.compile(p, re.I)
                 for p in rules.patient_grade)


# --------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------


def compare_condition(f: ConditionFact, p: NormalizedPatient, ctx: CompareContext) -> Atom:
    """Whether the patient has the condition (see the module docstring); never key."""
    atom = _condition_value(f, p, ctx.ontology)
    if ctx.kind is CriterionKind.INCLUSION and atom.value is False and not f.negated:
        # Comorbidities named in an inclusion are conditional permissions ("HBsAg-
        # positive patients are eligible if …"), never requirements to have them.
        return Atom(f, None, atom.patient, atom.question, key=False)
    return atom


def _condition_value(f: ConditionFact, p: NormalizedPatient, ontology: Ontology) -> Atom:
    c = f.condition
    name = c.replace("_", " ")
    vocab = ontology.conditions
    known = vocab.conditions
    included = vocab.covers(c) if c in known else frozenset({c})
    had = included & p.conditions.present
    if had and c not in p.conditions.present:
        # the criterion's condition includes the patient's ("cardiac disease" covers
        # heart failure): judged as the patient's own
        c = sorted(had)[0]
    elif c not in p.conditions.present and any(
            c in (vocab.covers(a) if a in known else ()) for a in p.conditions.absent):
        return Atom(f, False, f"no {name}", key=False)  # "no cardiac disease" covers CHF
    if c in p.conditions.present:
        if f.min_grade is not None:
            # "grade ≥ 2 neuropathy": only the stated grade settles it
            g = p.conditions.grade(c)
            if g is None:
                return Atom(f, None, f"has {name}, grade not stated",
                            f"{name}: CTCAE grade?", key=False)
            return Atom(f, g >= f.min_grade, f"has {name} grade {g}", key=False)
        if f.severe_only and c not in p.conditions.severe:
            # "symptomatic CHF (NYHA III/IV)", "active autoimmune disease": the profile
            # must say how severe it is
            if c in p.conditions.mild:
                return Atom(f, False, f"has {name}, not in the severe form", key=False)
            return Atom(f, None, f"has {name}, severity not stated",
                        f"{name}: {_quote_severity(f)}?", key=False)
        return Atom(f, True, f"has {name}", key=False)
    if c in p.conditions.absent:
        return Atom(f, False, f"no {name}", key=False)
    if c in ("brain_metastases", "cns_metastases") and p.brain_metastases is not None:
        return Atom(f, p.brain_metastases != "none", p.brain_metastases, key=False)
    return Atom(f, None, f"{name} not stated", f"{name}?", key=False)


def _quote_severity(f: ConditionFact) -> str:
    return "active, uncontrolled or symptomatic"


CATEGORY = Category(
    name="condition",
    fact_type=ConditionFact,
    extract=_extract,
    compare=compare_condition,
    patient_part="conditions",
    reader=read_conditions,
    key=False,
    priority=8,
    rules_file="condition.toml",
    cases_file="condition.toml",
    module=__name__,
)
