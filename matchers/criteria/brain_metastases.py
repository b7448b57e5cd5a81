"""Brain/CNS metastases (and leptomeningeal disease).

**Extraction** — :func:`extract_brain_metastases` reads one fact per criterion from mentions such as
"brain metastases", "CNS metastases", "intracranial disease", "brain/leptomeningeal
involvement", "carcinomatous meningitis", "leptomeningeal disease":

* ``qualifier``: ``active`` when the mention is qualified as active, untreated,
  symptomatic, progressive, unstable or uncontrolled ("known active CNS metastases",
  "untreated brain metastases"); ``treated_stable`` when it is qualified as treated
  or stable and the criterion *requires* it; else ``any``;
* ``treated_allowed``: True when the criterion lets treated/stable metastases in
  ("unless treated and stable for 4 weeks", "patients with treated brain metastases are
  eligible if stable", "except those who have completed definitive therapy"); False
  when it says treated ones are excluded too ("treated or untreated", "regardless of
  treatment"); None when silent;
* a permission alone ("Patients with treated, stable brain metastases are eligible")
  or a condition on the metastases ("Participants with brain metastases must have
  received local treatment and be stable") becomes: active metastases forbidden,
  treated allowed;
* ``leptomeningeal`` marks leptomeningeal disease / carcinomatous meningitis.

**Patient side** — ``profile.brain_metastases``: ``none``, ``treated_stable``,
``active`` or None (unknown).

**Comparison** (:func:`compare_brain_metastases`) — the fact's positive statement is
"the patient has brain metastases of this qualifier": active metastases satisfy an
``any``/``active`` mention; treated-stable ones satisfy ``any`` unless the criterion
allows treated ones (``treated_allowed``) and satisfy ``treated_stable``; none satisfies
nothing; leptomeningeal disease is absent for a patient with no or treated, stable brain
metastases (the stated CNS status covers it); for one with active metastases a mention
joined to them ("active CNS metastases and/or carcinomatous meningitis") holds, a
leptomeningeal mention alone is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import (
    CriterionText,
    compiled_per_rules,
    conditional_subject,
    polarity,
)
from matchers.models import BrainMetastasesFact, CriterionKind, Fact
from matchers.rules import BrainRules, Rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = [
    "CATEGORY",
    "compare_brain_metastases",
    "extract_brain_metastases",
    "read_brain_metastases",
]

_BM = re.compile(
    r"""(?<![\w-])(?:
        (?:brain|cns|central\s+nervous\s+system|intracranial|intra-cranial|cerebral|intracerebral|
           intra-?axial|parenchymal\s+brain)
        (?:\s*\((?:cns|brain)\)\s*|\s*)(?:(?:and/or|or|and|/)\s*(?:lepto\w*|mening\w*|spinal(?:\s+cord)?|dural)\s*)?
        (?:\s*(?:and/or\s+|or\s+|and\s+|/\s*)?(?:leptomeningeal\s+))?
        (?:meta\w*sta\w*|mets\b|involvement|lesions?|disease|tumou?r\s+involvement|spread|deposits?)
      | meta\w*sta\w*\s+(?:to|in|of|involving)\s+(?:the\s+)?(?:brain|cns|central\s+nervous\s+system)
      | (?:primary\s+(?:and|or|and/or)\s+)?metastatic\s+
        (?:brain|cns|intracranial|central\s+nervous\s+system)\s+(?:disease|tumou?rs?|lesions?|involvement)
      | (?P<lepto>leptomeningeal\s+
        (?:disease|metasta\w+|carcinomatosis|involvement|spread|enhancement)
      | leptomeningeal
      | carcinomatous\s+meningitis|meningeal\s+(?:carcinomatosis|metasta\w+|disease|involvement)
      | neoplastic\s+meningitis|lymphomatous\s+meningitis)
    )(?![\w-])""",
    re.X | re.I,
)
@dataclass(frozen=True, slots=True)
class _Cues:
    active: re.Pattern[str]
    treated: re.Pattern[str]
    both: re.Pattern[str]
    allow_treated: re.Pattern[str]
    must_treated: re.Pattern[str]


@compiled_per_rules
def _cues(rules: BrainRules) -> _Cues:
    def rx(words: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)

    return _Cues(rx(rules.active), rx(rules.treated), rx(rules.both), rx(rules.allow_treated),
                 rx(rules.must_treated))


def extract_brain_metastases(c: CriterionText, rules: Rules) -> list[BrainMetastasesFact]:
    cue = _cues(rules.brain_metastases)
    """At most one brain-metastases fact for criterion ``c`` (see module docstring)."""
    body = c.body
    mentions = list(_BM.finditer(body))
    if not mentions:
        return []
    base = c.start
    lepto = any(m.group("lepto") or re.search(r"lepto|mening", m.group(0), re.I) for m in mentions)
    # the main mention: the first one outside permissions/exceptions/conditions
    main = None
    for m in mentions:
        pol = polarity(c, base + m.start(), base + m.end())
        if not pol.drop and not pol.permitted:
            main = m
            break
    if main is None:
        # only a permission/condition: "patients with treated brain metastases are
        # eligible if stable" -> active ones forbidden, treated allowed
        m = mentions[0]
        window = body[max(0, m.start() - 60) : m.end() + 120]
        if not (cue.treated.search(window) or cue.active.search(window)):
            return []
        s, e = base + m.start(), base + m.end()
        return [_fact(c, s, e, "active", True, lepto, forbidden=True, exception=None)]
    s, e = base + main.start(), base + main.end()
    pol = polarity(c, s, e)
    before = body[max(0, main.start() - 60) : main.start()]
    clause_before = re.split(r"[;.]\s|,\s*(?=\w+\s+(?:is|are)\b)", before)[-1]
    qualifier = "any"
    if cue.both.search(body):
        treated_allowed: bool | None = False
    else:
        treated_allowed = None
    if (treated_allowed is None and cue.active.search(clause_before)) or re.match(
        r"\s*(?:that\s+are\s+|which\s+are\s+)?(?:active|untreated|symptomatic|progressive|unstable|uncontrolled)\b",
        body[main.end() :],
        re.I,
    ):
        qualifier = "active"
    required = (c.kind is CriterionKind.INCLUSION) != pol.negated
    conditional = conditional_subject(c, s, e) or bool(
        re.search(
            r"\b(?:patients|participants|subjects|those)\s+with\s+(?:\w+\s+){0,4}$", before, re.I
        )
        and cue.must_treated.search(body[main.end() : main.end() + 160])
    )
    if conditional:
        return [_fact(c, s, e, "active", True, lepto, forbidden=True, exception=None)]
    if treated_allowed is None:
        rest = body[main.end() :]
        am = cue.allow_treated.search(rest)
        if am is not None and cue.treated.search(rest[am.start() : am.start() + 200]):
            treated_allowed = True
        elif (
            c.in_scope(s, e, "EXCEPTION") is None
            and cue.allow_treated.search(body[: main.start()])
            and cue.treated.search(body[: main.start()])
        ):
            treated_allowed = None
    if (
        required
        and qualifier == "any"
        and cue.treated.search(clause_before)
        and not cue.active.search(clause_before)
        and not re.search(r"\bor\b", clause_before)
    ):
        qualifier = "treated_stable"
    if (
        not required
        and qualifier == "any"
        and re.search(r"\b(?:known|or)\s+treated\b", clause_before, re.I)
    ):
        treated_allowed = False
    exc = pol.exception
    return [
        BrainMetastasesFact(
            span=(s, e),
            text=c.text[s:e],
            negated=pol.negated,
            exception=exc,
            qualifier=qualifier,
            treated_allowed=treated_allowed
            if not (qualifier == "active" and treated_allowed is False)
            else False,
            leptomeningeal=lepto,
        )
    ]


def _fact(
    c: CriterionText,
    s: int,
    e: int,
    qualifier: str,
    treated_allowed: bool | None,
    lepto: bool,
    *,
    forbidden: bool,
    exception: str | None,
) -> BrainMetastasesFact:
    negated = forbidden == (c.kind is CriterionKind.INCLUSION)
    return BrainMetastasesFact(
        span=(s, e),
        text=c.text[s:e],
        negated=negated,
        exception=exception,
        qualifier=qualifier,
        treated_allowed=treated_allowed,
        leptomeningeal=lepto,
    )


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "brain_metastases.mention"})
            for f in extract_brain_metastases(c, ctx.rules)]


def read_brain_metastases(profile: PatientProfile) -> str | None:
    """``none``, ``treated_stable``, ``active`` or None (not stated)."""
    return profile.brain_metastases


def compare_brain_metastases(f: BrainMetastasesFact, p: NormalizedPatient,
                             ctx: CompareContext) -> Atom:
    """Whether the patient has brain metastases of the fact's kind (see the module
    docstring)."""
    bm = p.brain_metastases
    if bm is None:
        return Atom(f, None, "brain metastases status not given", "brain metastases?")
    desc = {"none": "no brain metastases", "active": "active brain metastases",
            "treated_stable": "treated, stable brain metastases"}[bm]
    if bm == "active" and f.qualifier in ("any", "active"):
        # "Known active CNS metastases and/or carcinomatous meningitis": either part holds.
        return Atom(f, True, desc)
    if f.leptomeningeal:
        # The stated CNS status covers leptomeningeal disease: "none" and "treated,
        # stable" describe all of it (eligible with treated,
        # stable brain metastases); beside active metastases (the mention not read as
        # "active … and/or carcinomatous meningitis" above) it stays open.
        if bm == "active":
            return Atom(f, None, desc, "leptomeningeal disease?")
        return Atom(f, False, desc)
    if bm == "none":
        return Atom(f, False, desc)
    if f.qualifier == "active":
        return Atom(f, bm == "active", desc)
    if f.qualifier == "treated_stable":
        return Atom(f, bm == "treated_stable", desc)
    if bm == "treated_stable" and f.treated_allowed:
        return Atom(f, False, desc + " (allowed by the criterion)")
    return Atom(f, True, desc)


CATEGORY = Category(
    name="brain_metastases",
    fact_type=BrainMetastasesFact,
    extract=_extract,
    compare=compare_brain_metastases,
    patient_part="brain_metastases",
    reader=read_brain_metastases,
    key=True,
    priority=6,
    rules_file="brain_metastases.toml",
    cases_file="brain_metastases.toml",
    module=__name__,
)
