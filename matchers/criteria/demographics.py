"""Age and sex restrictions (two categories, ``age`` and ``sex``, one module).

**Patient side** (:func:`read_demographics`) — ``profile.age`` (years) and
``profile.sex``. **Comparison** — the age within the fact's inclusive bounds; the sex
equal to the fact's. The registry's own age/sex limits (CT.gov ``eligibilityModule``)
are checked by the evaluator against the same part.

**Extraction.** Age (:func:`extract_age`) is read only where the number is tied to age: an age word
("age ≥ 18", "aged 18 to 75", "Age: 18 and over" under an "Age" heading), an age unit
("18 years of age or older", "≥ 18 years old", "18-year-old"), or a person subject at
the start of the criterion ("Patients ≥ 18 years", "Men and women between 18 and 70
years"); "adults"/"adult patients" means ≥ 18. Durations ("disease-free for ≥ 5
years", "within 3 years") are not ages. Months, weeks and days convert to years
(6 months = 0.5). An age inside a condition ("for patients > 16 years", "Patients ≥
70 years must have ...") is not a restriction, nor is an age that describes who gives
consent ("informed consent from adolescents > 16 years"), one alternative among non-age
conditions ("age < 30 or at least one islet autoantibody"), a labelled cohort ("18-35
years (young group)"), part of a definition of menopause ("no menstruation for 12
months, at the age > 50"), or, in an exclusion, an age of a one-sex subgroup
("Postmenopausal women < age 65"). Two bounds joined by "and" are one age ("≥ 18 and
≤ 75 years", "28 days or older and less than 18 years"); "18 years < age < 50 years" is
a range. An "are not included" statement about a later age with its own subject ("Age ≥
18 years Subjects < 18 years old are not being included") does not negate the first.

Strict bounds: a *required* strict bound keeps its limit ("> 18" → min 18, "< 75" →
max 75: a patient exactly at the limit is not turned away); a *forbidden* strict bound
moves one day inward ("Exclusion: age < 18" → forbids up to 17.997 years), so a
patient exactly at the limit is not excluded either.

Sex (:func:`extract_sex`) is read from a criterion that names one sex as the population
("Female", "Women aged ≥ 18 with …", "Postmenopausal women", "Male patients", "Sex:
female", "Patients must be female") — never from contraception, pregnancy or partner
clauses ("women of childbearing potential", "pregnant or nursing women", "men with
female partners") and not when both sexes are named — in the criterion, or, for an
inclusion criterion, by another inclusion criterion that enrols the other sex ("Males"
next to "Females who are highly unlikely to become pregnant", "If female, …").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import (
    CMP_BOUND,
    CriterionText,
    compiled_per_rules,
    parse_comparator,
    polarity,
)
from matchers.models import AgeFact, CriterionKind, Fact, SexFact
from matchers.rules import DemographicsRules, Rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = [
    "AGE",
    "SEX",
    "PatientDemographics",
    "age_bounds",
    "compare_age",
    "compare_sex",
    "extract_age",
    "extract_sex",
    "read_demographics",
]

_DAY = 1.0 / 365.25
_UNIT = r"(?:years?|yrs?|y\.?o\.?|y(?=\s|$|[),;.])|months?|mos?\.?|weeks?|wks?|days?)"
_N = r"\d{1,3}(?:\.\d+)?"

_EXPR = re.compile(
    rf"""
    (?P<between>between\s+(?P<b1>{_N})\s*(?P<bu1>{_UNIT})?\s*(?:and|-|to)\s+(?P<b2>{_N})\s*(?P<bu2>{_UNIT})?
        (?:\s*(?:of\s+age|old))?(?:\s*\(?\s*(?P<binc>inclusive|both\s+inclusive)\)?)?)
  | (?P<sand>(?P<s1>{_N})\s*(?P<su1>{_UNIT})?\s*(?P<sc1><\s*=?|≤)\s*age\s*
        (?P<sc2><\s*=?|≤)\s*(?P<s2>{_N})\s*(?P<su2>{_UNIT})?)
  | (?P<range>(?P<r1>{_N})\s*(?P<ru1>{_UNIT})?\s*(?:-|to|through|–)\s*
        (?P<rcmp><\s*=?|≤|less\s+than\s+)?\s*(?P<r2>{_N})\s*(?P<ru2>{_UNIT})?)
  | (?P<cmp>(?P<cw>{CMP_BOUND})\s*(?:(?:the\s+)?age\s+(?:of\s+)?)?(?P<cn>{_N})\s*(?P<cu>{_UNIT})?)
  | (?P<trail>(?P<tn>{_N})\s*\+?\s*(?P<tu>{_UNIT})?(?:\s+of\s+age|\s+old)?\s*(?:,\s*)?
        (?P<tw>and\s+(?:over|older|above|up|greater)|or\s+(?:older|over|above|greater|more)
          |or\s+(?:younger|less|under|below)|\+|and\s+(?:younger|under|below)))
  | (?P<plus>(?P<pn>{_N})\s*\+)
    """,
    re.X | re.I,
)
_AGE_WORD = re.compile(
    r"\b(?:age[sd]?|aged|ages?)\b(?:\s|[:=(,]|\bof\b|\bis\b|\bmust\b|\bbe\b|\bshould\b|\brange\b|"
    r"\bfrom\b|\bat\b|\bthe\b|\bwill\b|\bpatients?\b|\bsubjects?\b|\bparticipants?\b|\byears?\b)*$",
    re.I,
)
_NOT_CURRENT_AGE = re.compile(
    r"\b(?:onset|at\s+(?:the\s+time\s+of\s+)?(?:(?:first|initial)\s+)?diagnosis|(?:diagnosed|diagnosis|made)\s+(?:at|before|after|between|under|over|prior|in|when)|"
    r"age\s+(?:at|of)\s+diagnosis|menarche|menopaus\w*|menstruat\w*|amenorrh\w*|fsh|gestation\w*|donor|"
    r"parent|mother|father|sibling|relatives?|family|death|died|child\s+(?:is|was)|birth|born|weight|"
    r"bmi|percentile|smok\w*|pack|drink\w*|duration)\b",
    re.I,
)
_COHORT_AFTER = re.compile(
    r"\s*(?:years?|yrs?)?\s*(?:of\s+age|old)?\s*\(?\s*(?:for|in)\s+(?:the\s+)?(?:[\w-]+\s+){0,3}(?:groups?|cohorts?|arms?|parts?|phases?|stratum|strata)\b",
    re.I,
)
_COHORT_LABEL = re.compile(
    r"\s*(?:years?|yrs?)?\s*(?:of\s+age|old)?\s*(?:\(\s*(?:both\s+)?inclusive\s*\)\s*)?"
    r"\(\s*(?:[\w-]+\s+){0,3}(?:groups?|cohorts?|arms?|parts?|stratum|strata)\s*\)",
    re.I,
)
_EVENT_BEFORE = re.compile(
    r"\b(?:menstruat\w*|menses|menarche|amenorrh\w*|(?:post|peri|pre)?-?\s*menopaus\w*\s+(?:is|are)\s+defined)",
    re.I,
)
_CONSENT_BY = re.compile(
    r"\b(?:consent|assent)\s+(?:\w+\s+){0,2}(?:from|by|of|for)\s+(?:\w+\s+){0,2}$", re.I
)
_OR_AFTER = re.compile(
    r"\s*(?:years?|yrs?|months?)?\s*(?:of\s+age|old)?\s*,?\s*or\s+(?!if\b)(?P<alt>.{0,30})", re.I
)
_AGE_ALTERNATIVE = re.compile(
    r"\d|[<>≤≥=]|\b(?:age[sd]?|older|younger|over|above|under|below|more|less|greater|equal|"
    r"years?|adults?|minors?|emancipated|legal\w*|law|local\w*|regulat\w*|countr\w*|jurisdiction\w*|"
    r"consent\w*|majority)\b",
    re.I,
)
_AND_BETWEEN = re.compile(
    r"\s*(?:years?|yrs?|months?)?\s*(?:of\s+age|old)?\s*,?\s*(?:and|but)\s+", re.I
)
_AGE_UNIT_AFTER = re.compile(
    r"^\s*(?:-\s*)?(?:years?|yrs?|months?|weeks?|days?)?\s*(?:of\s+age|old|-old|\s*-\s*year-old)",
    re.I,
)
_SUBJECT_START = re.compile(
    r"^\s*(?:(?:all|adult|male|female|pediatric|paediatric)\s+)?(?:(?:male\s+(?:and|or)\s+female|female\s+(?:and|or)\s+male|men\s+(?:and|or)\s+women|women\s+(?:and|or)\s+men|males?\s+(?:and|or)\s+females?|females?\s+(?:and|or)\s+males?|patients?|subjects?|participants?|individuals?|volunteers?|people|persons?|adults?|children|men|women|males?|females?|boys|girls|infants|adolescents|healthy\s+volunteers?)\s*(?:,\s*)?)+(?:aged?\s*|who\s+are\s*|must\s+be\s*|of\s*)?",
    re.I,
)
_DURATION_CTX = re.compile(
    r"\b(?:since|after|before|prior|ago|within|for|duration|history|free|survival|expectancy|follow|smok|"
    r"diagnos|interval|elapsed|last|past|previous|during|from|post|gestation|of\s+(?!age\b)\w+)",
    re.I,
)
_CONDITIONAL_SUBJECT = re.compile(
    r"\b(?:must|should|will\s+(?:need|be\s+required)|need\s+to|are\s+required|is\s+required|require)\b",
    re.I,
)
_AGE_GATE = re.compile(r"\b(?:age[sd]?|years?|yrs?|y\.?o|months?|adults?)\b|\d\s*y\b", re.I)
_NOT_SPECIFIED = re.compile(
    r"^\s*(?:not\s+specified|any\s+age|no\s+age\s+(?:limit|restriction))", re.I
)


@dataclass(frozen=True, slots=True)
class _Rx:
    adult: re.Pattern[str]
    child: re.Pattern[str]
    sex_word: re.Pattern[str]
    sex_start: re.Pattern[str]
    both: re.Pattern[str]
    not_population: re.Pattern[str]
    female: str
    male: str


@compiled_per_rules
def _rx(rules: DemographicsRules) -> _Rx:
    female_alt, male_alt = "|".join(rules.female_words), "|".join(rules.male_words)
    female, male = f"(?:{female_alt})", f"(?:{male_alt})"
    child = "|".join(rules.child_words)
    menopausal = "|".join(rules.menopausal_words)
    sex_start = re.compile(
        rf"""^\s*(?:(?:patients?|subjects?|participants?)\s+must\s+be\s+(?:an?\s+)?|sex\s*[:=]?\s*|gender\s*[:=]?\s*|only\s+)?
        (?:(?:pre-?\s*(?:or|and|/)\s*post-?\s*|peri-?\s*(?:or|and|/)\s*post-?\s*|post-?|pre-?|peri-?)menopausal\s+|adult\s+|healthy\s+|ambulatory\s+)?
        (?:(?P<f>{female})|(?P<m>{male}))\b
        (?:\s+(?:patients?|subjects?|participants?|only|sex|gender|volunteers?))?""",
        re.X | re.I,
    )
    both = re.compile(
        rf"\b(?:{male}\s*(?:and|or|/|&|and/or)\s*{female}|{female}\s*(?:and|or|/|&|and/or)\s*{male}"
        r"|both\s+(?:sexes|genders)|either\s+sex|all\s+(?:sexes|genders))\b",
        re.I,
    )
    return _Rx(
        adult=re.compile(r"\b(?:" + "|".join(rules.adult_words) + r")\b(?!\s*(?:and|or|/)\s*(?:"
                         + child + "))", re.I),
        child=re.compile(r"\b(?:" + child + ")", re.I),
        sex_word=re.compile(rf"\b(?:{female_alt}|{male_alt}|{menopausal})\b", re.I),
        sex_start=sex_start,
        both=both,
        not_population=re.compile("|".join(rules.not_population), re.I),
        female=female,
        male=male,
    )


def _to_years(value: float, unit: str | None) -> float:
    u = (unit or "years").lower()
    if u.startswith(("mo",)):
        return round(value / 12.0, 4)
    if u.startswith("w"):
        return round(value / 52.1786, 4)
    if u.startswith("d"):
        return round(value / 365.25, 4)
    return value


def age_bounds(
    expr: re.Match[str], *, required: bool, default_unit: str | None = None
) -> tuple[float | None, float | None] | None:
    """Inclusive ``(min_years, max_years)`` of an age expression matched by the module
    grammar; ``required`` chooses how strict bounds are stored (see module docstring).
    None if the expression is not an age bound."""
    g = expr.groupdict()
    if g.get("sand"):  # "18 years < age < 50 years"
        u2 = g.get("su2") or g.get("su1") or default_unit
        u1 = g.get("su1") or u2
        lo, hi = _to_years(float(g["s1"]), u1), _to_years(float(g["s2"]), u2)
        if lo >= hi:
            return None
        if not required:
            lo += 0.0 if "=" in g["sc1"] or "≤" in g["sc1"] else _DAY
            hi -= 0.0 if "=" in g["sc2"] or "≤" in g["sc2"] else _DAY
        return (lo, hi)
    if g.get("between"):
        u2 = g.get("bu2") or g.get("bu1") or default_unit
        u1 = g.get("bu1") or u2
        lo, hi = _to_years(float(g["b1"]), u1), _to_years(float(g["b2"]), u2)
        return (lo, hi) if lo < hi else None
    if g.get("range"):
        u2 = g.get("ru2") or g.get("ru1") or default_unit
        u1 = g.get("ru1") or u2
        lo, hi = _to_years(float(g["r1"]), u1), _to_years(float(g["r2"]), u2)
        if lo >= hi:
            return None
        if g.get("rcmp") and not required:
            hi -= _DAY
        return (lo, hi)
    if g.get("cmp"):
        cmp = parse_comparator(g["cw"])
        v = _to_years(float(g["cn"]), g.get("cu") or default_unit)
        if cmp == ">=":
            return (v, None)
        if cmp == ">":
            return (v if required else v + _DAY, None)
        if cmp == "<=":
            return (None, v)
        if cmp == "<":
            return (None, v if required else v - _DAY)
        return None
    if g.get("trail"):
        v = _to_years(float(g["tn"]), g.get("tu") or default_unit)
        w = " ".join(g["tw"].lower().split())
        if w == "+" or any(k in w for k in ("over", "older", "above", "up", "greater", "more")):
            return (v, None)
        return (None, v)
    if g.get("plus"):
        return (_to_years(float(g["pn"]), default_unit), None)
    return None


def _plausible(lo: float | None, hi: float | None) -> bool:
    vals = [v for v in (lo, hi) if v is not None]
    return bool(vals) and all(0 <= v <= 120 for v in vals)


def extract_age(c: CriterionText, rules: Rules) -> list[AgeFact]:
    """Age facts of criterion ``c`` (at most one per age mention); see the module
    docstring for what counts as an age."""
    rx = _rx(rules.demographics)
    body = c.body
    base = c.start
    facts: list[AgeFact] = []
    heading_age = bool(c.heading and re.fullmatch(r"\s*age\s*:?\s*", c.heading, re.I))
    if not heading_age and not _AGE_GATE.search(body):
        return facts
    if heading_age and _NOT_SPECIFIED.match(body):
        return facts
    spans: list[tuple[int, int, float | None, float | None]] = []
    pos = 0
    for m in _EXPR.finditer(body):
        if m.start() < pos:
            continue
        s, e = m.start(), m.end()
        before = body[max(0, s - 40) : s]
        after = body[e : e + 30]
        unit_keys = ("su1", "su2", "bu1", "bu2", "ru1", "ru2", "cu", "tu")
        unit_given = any(m.group(k) for k in unit_keys)
        units = " ".join(m.group(k) or "" for k in unit_keys).lower()
        if units.strip() and not re.search(r"y|mo|w|d", units):
            continue
        age_word = _AGE_WORD.search(before) is not None and not re.search(
            r"\b(?:gestational|bone|menopaus|skeletal|fetal|for\s+age)", before[-25:], re.I
        )
        age_word = age_word or bool(re.search(r"\bage\b", m.group(0), re.I))
        # "Age of 28 days or older and less than 18 years": the second bound of one age
        cont = (
            bool(spans)
            and bool(m.group("cmp"))
            and _AND_BETWEEN.fullmatch(body, spans[-1][1], s) is not None
            and (
                parse_comparator(m.group("cw")) in ("<", "<=")
                if spans[-1][3] is None
                else parse_comparator(m.group("cw")) in (">", ">=") and spans[-1][2] is None
            )
        )
        cont = cont and not _DURATION_CTX.search(body[m.end() : m.end() + 20])
        age_word = age_word or cont
        age_unit = _AGE_UNIT_AFTER.match(after) is not None or bool(
            re.search(r"(?:of\s+age|\bold\b|year-old)\s*$", m.group(0), re.I)
        )
        at_start = s < 120 and (
            body[:s].strip() == "" or _SUBJECT_START.fullmatch(body[:s]) is not None
        )
        years_unit = unit_given and bool(re.search(r"\by", units))
        ok = age_word or age_unit or heading_age or (at_start and years_unit)
        if not ok:
            continue
        if not (age_word or age_unit or heading_age) and (
            _DURATION_CTX.search(after[:20]) or _DURATION_CTX.search(before[-15:])
        ):
            continue  # a number of years after a person subject, but a duration
        if m.group("plus") and not (age_word or heading_age):
            continue
        if re.search(r"\b(?:within|since|for|after|last|past|ago)\s*$", before, re.I):
            continue
        # age at onset/diagnosis, a donor's or parent's age, cohort-specific ages
        ctx_window = body[max(0, s - 45) : min(len(body), e + 45)]
        clause_before = re.split(r"[.;]\s", body[max(0, s - 70) : s])[-1]
        if (
            _NOT_CURRENT_AGE.search(ctx_window)
            or _EVENT_BEFORE.search(clause_before)
            or _COHORT_AFTER.match(body, e)
            or _COHORT_LABEL.match(body, e)
        ):
            continue
        if _CONSENT_BY.search(before):
            continue  # "Informed consent from adolescents > 16 years": who consents
        if re.search(r"\brisk\s+factors?\b", body[:s], re.I):
            continue  # an age among risk factors, not an age limit
        if re.match(
            r"\s*(?:years?|yrs?|weeks?|months?|days?)?\s*(?:\([^)]*\)\s*)?(?:must\s+have\s+)?(?:elapsed|passed)",
            body[e:],
            re.I,
        ):
            continue
        paren = _enclosing_parenthetical(body, s, e)
        if paren is not None and (
            re.search(r"\b(?:if|for|when|in|only)\b", paren, re.I)
            or not re.search(
                r"(?:\b(?:adults?|patients?|subjects?|participants?|men|women|males?|females?|"
                r"children|age[sd]?|volunteers?|individuals?)\s*)$",
                body[: body.rfind("(", 0, s)],
                re.I,
            )
        ):
            continue  # "(30-75 years old if South Asian origin)", "ECOG 2 (≥18 years)"
        if re.match(r"\s*(?:years?|yrs?)?\s*(?:of\s+age|old)?\s*:", body[e:], re.I):
            continue  # "Subjects age 11 and older: ...": a cohort label
        # the thing bounded must be the person: "18 years" right after the subject or
        # an age word, and not e.g. "BMI 18-30"
        if re.search(
            r"(?:bmi|kg|score|mg|cm|%|points?|grade|stage|ecog|kps)\s*[:=]?\s*$", before[-12:], re.I
        ):
            continue
        pol = polarity(c, base + s, base + e, use_negation=False)
        if pol.drop or pol.permitted:
            continue
        # "Patients ≥ 70 years must have CrCl ≥ 60": a conditional subject
        rest = body[e:]
        if (
            not age_word
            and not heading_age
            and _CONDITIONAL_SUBJECT.search(rest[:40])
            and (
                re.match(
                    r"\s*(?:years?|yrs?)?\s*(?:of\s+age|old)?\s*(?:,\s*)?(?:must|should|will|need|are|is)\b",
                    rest,
                    re.I,
                )
            )
        ):
            continue
        negated = pol.negated and not _later_age_owns_exclusion(c, base + e)
        required = (c.kind is CriterionKind.INCLUSION) != negated
        alt = _OR_AFTER.match(body, e)
        if required and alt is not None and not _AGE_ALTERNATIVE.search(alt.group("alt")):
            continue  # "age < 30 or at least one islet autoantibody": one alternative
        if not required and _one_sex_subject(re.split(r"[.;:]\s", body[:s])[-1], rx):
            continue  # "Postmenopausal women < age 65": a subgroup (sex and age)
        bounds = age_bounds(m, required=required, default_unit="years")
        if bounds is None or not _plausible(*bounds):
            continue
        lo, hi = bounds
        if not required and lo is not None and hi is not None:
            continue  # a forbidden closed range is a subgroup, not an age limit
        if (
            not required
            and re.match(
                r"\s*(?:years?|yrs?|months?)?\s*(?:of\s+age|old)?\s*(?:and\s+(?:over|older))?\s*\)?\s*,?\s*(?:who|with)\b",
                body[e:],
                re.I,
            )
            and re.search(r"\(\s*$", body[max(0, s - 3) : s])
        ):
            continue  # "Subjects (18 years of age and over) with ...": a subgroup
        if not required and re.match(
            r"\s*(?:years?|yrs?)?\s*(?:of\s+age|old)?\s*,?\s*(?:who|whose)\b", body[e:], re.I
        ):
            continue  # "female over 60 years of age who weighs ...": a subgroup
        if not (age_word or heading_age) and not unit_given and not m.group("trail"):
            continue
        pos = e
        if cont and not (required and facts and facts[-1].negated == negated):
            continue  # a second bound of a forbidden age: read only as a range
        if cont:
            ps, _pe, plo, phi = spans[-1]
            if (plo is None) != (lo is None) and (phi is None) != (hi is None):
                lo = lo if lo is not None else plo
                hi = hi if hi is not None else phi
                if lo is None or hi is None or lo >= hi:
                    continue  # "Age ≥ 18 and < 6 months since …": not the same age
                spans.pop()
                facts.pop()
                s = ps
        spans.append((s, e, lo, hi))
        facts.append(
            AgeFact(
                span=(base + s, base + e),
                text=c.text[base + s : base + e],
                negated=negated,
                exception=pol.exception,
                min_years=round(lo, 4) if lo is not None else None,
                max_years=round(hi, 4) if hi is not None else None,
            )
        )
    if not facts and not body.rstrip().endswith(":"):
        am = rx.adult.search(body)
        if am is not None and not rx.child.search(body) and _adult_subject(body, am):
            pol = polarity(c, base + am.start(), base + am.end(), use_negation=False)
            if not (pol.drop or pol.permitted):
                facts.append(
                    AgeFact(
                        span=(base + am.start(), base + am.end()),
                        text=c.text[base + am.start() : base + am.end()],
                        negated=pol.negated,
                        min_years=18.0,
                    )
                )
    return facts


def _one_sex_subject(clause: str, rx: _Rx) -> bool:
    """The clause before an age names one sex as its subject ("Postmenopausal women",
    "Men"), not both: the age then defines a subgroup of that sex."""
    return rx.sex_word.search(clause) is not None and rx.both.search(clause) is None


def _later_age_owns_exclusion(c: CriterionText, e: int) -> bool:
    """An "are not included" statement after the age mention ending at ``e`` is about a
    later age mention with its own subject: in "Age >= 18 years Subjects < 18 years old
    are not being included because …" it negates "< 18", not "Age >= 18"."""
    for sc in c.scopes:
        if sc.category == "EXCLUDED" and sc.cue_start >= e and sc.start < e:
            between = c.norm[e : sc.cue_start]
            if re.search(
                rf"\b(?:patients?|subjects?|participants?|individuals?|children|those)\s*"
                rf"(?:aged?\s*)?(?:{CMP_BOUND})?\s*{_N}\s*{_UNIT}",
                between,
                re.I | re.X,
            ):
                return True
    return False


def _enclosing_parenthetical(body: str, s: int, e: int) -> str | None:
    """The text of the innermost parenthesis around ``[s, e)``, or None."""
    open_at = body.rfind("(", 0, s)
    if open_at < 0 or body.rfind(")", open_at, s) >= 0:
        return None
    close_at = body.find(")", e)
    if close_at < 0:
        return None
    return body[open_at + 1 : close_at]


def _adult_subject(body: str, m: re.Match[str]) -> bool:
    """ "Adults", "Adult patients with …", "must be an adult": the population is adult."""
    before = body[: m.start()].strip().lower()
    after = body[m.end() : m.end() + 30].lower()
    person_after = bool(
        re.match(
            r"\s*(?:$|[,(;:.]|(?:male\s+|female\s+)?(?:patients?|subjects?|participants?|men|women|"
            r"males?|females?|volunteers?|individuals?)\b|with\b|aged\b|who\b)",
            after,
        )
    )
    if before in ("", "-", "*", "healthy") and person_after:
        return True
    return before.endswith(("must be an", "must be", "be an", "are")) and person_after


# --------------------------------------------------------------------------------------
# sex
# --------------------------------------------------------------------------------------

def extract_sex(c: CriterionText, rules: Rules) -> list[SexFact]:
    """A sex fact when the criterion names one sex as its population (see the module
    docstring); at most one per criterion."""
    body = c.body
    rx = _rx(rules.demographics)
    m = rx.sex_start.match(body)
    if m is None:
        return []
    if rx.both.search(body[: max(m.end() + 20, 60)]):
        return []
    if body.rstrip().endswith(":"):
        return []  # "Female participants:" introduces sub-criteria
    if rx.not_population.search(body[: m.end() + 200]) or re.search(
        r"menopaus|steril", body[m.end() : m.end() + 200], re.I
    ):
        return []
    other = rx.male if m.group("f") else rx.female
    if re.search(rf"\b{other}\b", body[m.end() :], re.I):
        return []  # both sexes named
    # "Women" must lead the criterion's subject: "Women with ...", "Female, aged ...",
    # "Female patients >= 18", "Female" alone.
    tail = body[m.end() :].lstrip()
    if tail and not re.match(
        r"(?:$|[,;:.(]|with\b|aged?\b|who\s+(?:have|has)\s+(?:been\s+)?(?:diagnosed|histolog|confirmed|a\s+diagnosis)|"
        r"\d{1,3}\s*(?:-|to\b|years|yrs|\+|or\s+older|and\s+older)|≥|>|between|over|older|at\s+least|of\s+(?:any|age|at\s+least|\d)|diagnosed|"
        r"must\s+(?:have|be\s+(?:at\s+least|\d|aged|over|≥|>))|having|presenting|undergoing|scheduled|"
        r"affected|suffering|newly|histolog|patients?|subjects?|participants?|only|sex|gender|from|in\b|above)",
        tail,
        re.I,
    ):
        return []
    if c.kind is CriterionKind.EXCLUSION and (
        body[m.end() :].strip(" .;:") or re.search(r"menopaus|adult|healthy", body[: m.end()], re.I)
    ):
        return []  # "Women with renal disease", "Pre-menopausal women": not a sex rule
    if c.kind is CriterionKind.INCLUSION and _other_sex_enrolled(c, other):
        return []  # "Males" next to "Females who are unlikely to become pregnant"
    s, e = (
        c.start + m.start("f" if m.group("f") else "m"),
        c.start + m.end("f" if m.group("f") else "m"),
    )
    pol = polarity(c, s, e, use_negation=False)
    if pol.drop or pol.permitted:
        return []
    sex = "female" if m.group("f") else "male"
    return [SexFact(span=(s, e), text=c.text[s:e], negated=pol.negated, sex=sex)]


_HEADING = re.compile(r"^\W*(?P<h>inclusion|exclusion)\b[^\n]*$", re.I | re.M)


def _other_sex_enrolled(c: CriterionText, other: str) -> bool:
    """Another inclusion criterion of the trial enrols the other sex: it starts with it
    ("Females who are highly unlikely to become pregnant", "not pregnant female") or
    conditions on it ("If female, …", "Women of childbearing potential must …")."""
    text = c.norm
    start, end = 0, len(text)
    for h in _HEADING.finditer(text):
        if h.group("h").lower() == "inclusion" and h.end() <= c.start:
            start = h.end()
        elif h.group("h").lower() == "exclusion" and h.start() >= c.end:
            end = h.start()
            break
    region = text[start : c.start] + "\n" + text[c.end : end]
    lead = re.compile(
        rf"(?:^|\n)[ \t]*(?:[-*•·]|\d{{1,2}}[.)]|[a-z][.)])?[ \t]*"
        rf"(?:(?:not|non)[\s-]*pregnant(?:\s+(?:or|and|,)\s+non[\s-]*lactating)?,?\s+)?{other}\b"
        rf"|\b(?:if|for)\s+(?:a\s+)?{other}\b"
        rf"|\b{other}\s+(?:of\s+)?(?:child[\s-]*bearing|reproductive)",
        re.I,
    )
    return lead.search(region) is not None


def _extract_age(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "age.bound"}) for f in extract_age(c, ctx.rules)]


def _extract_sex(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "sex.population"}) for f in extract_sex(c, ctx.rules)]


class PatientDemographics(BaseModel):
    """Age in years and sex, as stated (None = unknown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    age: float | None = None
    sex: str | None = None


def read_demographics(profile: PatientProfile) -> PatientDemographics:
    """The patient's age (years) and sex."""
    return PatientDemographics(age=profile.age, sex=profile.sex)


def compare_age(f: AgeFact, p: NormalizedPatient, ctx: CompareContext) -> Atom:
    """The patient's age within ``[min_years, max_years]`` (inclusive)."""
    age = p.demographics.age
    if age is None:
        return Atom(f, None, "age not given", "age?")
    ok = (f.min_years is None or age >= f.min_years) and (
        f.max_years is None or age <= f.max_years)
    return Atom(f, ok, f"age {age:g}")


def compare_sex(f: SexFact, p: NormalizedPatient, ctx: CompareContext) -> Atom:
    """The patient's sex equal to the one the fact names."""
    sex = p.demographics.sex
    if sex is None:
        return Atom(f, None, "sex not given", "sex?")
    return Atom(f, sex == f.sex, sex)


AGE = Category(
    name="age",
    fact_type=AgeFact,
    extract=_extract_age,
    compare=compare_age,
    patient_part="demographics",
    reader=read_demographics,
    key=True,
    priority=6,
    rules_file="demographics.toml",
    cases_file="demographics.toml",
    module=__name__,
)
SEX = Category(
    name="sex",
    fact_type=SexFact,
    extract=_extract_sex,
    compare=compare_sex,
    patient_part="demographics",
    reader=read_demographics,
    key=True,
    priority=5,
    rules_file="demographics.toml",
    cases_file="demographics.toml",
    module=__name__,
)
