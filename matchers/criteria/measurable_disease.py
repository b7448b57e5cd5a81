"""Measurable disease (RECIST 1.1, mRECIST, RANO, Lugano, …).

**Extraction** (:func:`extract_measurable`) — "measurable disease (per RECIST 1.1)", "at
least one measurable lesion", "measurable or evaluable disease" (``evaluable_ok``),
"evaluable disease"; "not required"/"optional" statements are not requirements.

**Patient side** — ``profile.measurable_disease`` (True/False/None).

**Comparison** (:func:`compare_measurable`) — measurable → true; not measurable → false,
or unknown where evaluable disease is accepted. Key only when an inclusion requires
measurable disease (a missing answer then makes the trial only possibly eligible).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import (
    CriterionText,
    compiled_per_rules,
    conditional_subject,
    polarity,
)
from matchers.models import CriterionKind, Fact, MeasurableDiseaseFact
from matchers.rules import MeasurableRules, Rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = ["CATEGORY", "compare_measurable", "extract_measurable", "read_measurable"]

_MEAS = re.compile(
    r"""(?<![\w-])(?:
        (?P<both>measurable\s+(?:and/or|or|and)\s+(?:non-?measurable\s+(?:but\s+)?)?evaluable|evaluable\s+(?:and/or|or)\s+measurable)
      | (?P<nonmeas>non-?measurable)
      | (?P<meas>(?:uni-?\s*(?:or\s+bi-?)?dimensionally\s+)?measurable|target\s+lesions?)
      | (?P<eval>evaluable)
    )\s*(?:\w+\s+){0,2}?(?P<what>disease|lesions?|tumou?rs?|cancer|malignancy|lymphoma|nodes?|site)?""",
    re.X | re.I,
)
@compiled_per_rules
def _cues(rules: MeasurableRules) -> tuple[re.Pattern[str], re.Pattern[str]]:
    criteria = re.compile(r"\b(?P<c>" + "|".join(rules.response_criteria) + r")\b", re.I)
    not_required = re.compile(r"\b(?:" + "|".join(rules.not_required) + r")\b", re.I)
    return criteria, not_required


def extract_measurable(c: CriterionText, rules: Rules) -> list[MeasurableDiseaseFact]:
    """At most one measurable-disease fact for criterion ``c`` (see module docstring)."""
    criteria_rx, not_required = _cues(rules.measurable_disease)
    body = c.body
    for m in _MEAS.finditer(body):
        if m.group("nonmeas") and not m.group("both"):
            continue
        what = m.group("what")
        if (
            not what
            and not criteria_rx.search(body[m.end() : m.end() + 60])
            and not re.match(r"\s*(?:per|by|according|as\s+defined|using)\b", body[m.end() :], re.I)
            and not (m.group("meas") and "lesion" in m.group(0).lower())
        ):
            continue
        if m.group("meas") and re.search(
            r"\b(?:lab|biomarker|level|marker|antigen|psa|ca-?125)\b",
            body[m.end() : m.end() + 15],
            re.I,
        ):
            continue
        if not_required.search(body[m.end() : m.end() + 60]) or not_required.search(
            body[max(0, m.start() - 30) : m.start()]
        ):
            return []
        s, e = c.start + m.start(), c.start + m.end()
        pol = polarity(c, s, e)
        if pol.drop or pol.permitted or conditional_subject(c, s, e):
            continue
        cm = criteria_rx.search(body, m.start(), min(len(body), m.end() + 80))
        crit = " ".join(cm.group("c").split()) if cm else None
        if cm is not None:
            e = max(e, c.start + cm.end())
        while e > s and c.text[e - 1].isspace():
            e -= 1
        evaluable_ok = bool(m.group("both") or m.group("eval"))
        return [
            MeasurableDiseaseFact(
                span=(s, e),
                text=c.text[s:e],
                negated=pol.negated,
                exception=pol.exception,
                criteria=crit,
                evaluable_ok=evaluable_ok,
            )
        ]
    return []


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "measurable_disease.mention"})
            for f in extract_measurable(c, ctx.rules)]


def read_measurable(profile: PatientProfile) -> bool | None:
    """Whether the patient has measurable disease (None = not stated)."""
    return profile.measurable_disease


def compare_measurable(f: MeasurableDiseaseFact, p: NormalizedPatient,
                       ctx: CompareContext) -> Atom:
    """Whether the patient has measurable (or, where accepted, evaluable) disease."""
    required = ctx.kind is CriterionKind.INCLUSION and not f.negated
    m = p.measurable_disease
    if m is None:
        return Atom(f, None, "measurable disease not stated", "measurable disease?",
                    key=required)
    if not m and f.evaluable_ok:
        return Atom(f, None, "no measurable disease (evaluable?)", "evaluable disease?",
                    key=required)
    return Atom(f, m, "measurable disease" if m else "no measurable disease", key=required)


CATEGORY = Category(
    name="measurable_disease",
    fact_type=MeasurableDiseaseFact,
    extract=_extract,
    compare=compare_measurable,
    patient_part="measurable_disease",
    reader=read_measurable,
    key=True,
    priority=7,
    rules_file="measurable_disease.toml",
    cases_file="measurable_disease.toml",
    module=__name__,
)
