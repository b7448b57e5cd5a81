"""Performance status: ECOG, Karnofsky (KPS), Lansky, WHO, Zubrod bounds.

:func:`extract_performance` finds a scale name and the value expression that follows
(or, for "a performance status of 0 or 1 on the ECOG scale", precedes) it:

* ranges and lists: "0-1", "0 to 2", "0, 1, or 2", "3 or 4", "70-100%";
* comparators: "≤ 2", "=< 1", "< 2", "≥ 70%", "> 60", "at least 70";
* trailing words: "2 or less", "1 or better", "70 or above", "2 or worse";
* a single ECOG grade: "ECOG PS 1".

ECOG, WHO and Zubrod share the 0–5 scale. Strict bounds are integral: ECOG "< 2" =
"≤ 1"; KPS "> 70" = "≥ 80" (KPS is scored in steps of 10). Karnofsky and Lansky values
convert to ECOG through the band table of ``matchers/rules/performance_status.toml``
(:func:`kps_to_ecog`): a bound the trial *requires* becomes the ECOG grades that
*might* satisfy it under either published correspondence (Oken 1982 / Buccheri 1996),
a bound it *forbids* the grades that *certainly* satisfy it — so the conversion never
makes an eligible patient ineligible. E.g. "KPS ≥ 70" → ECOG ≤ 2; "KPS ≥ 80" → ECOG
≤ 1; an exclusion "KPS < 70" → excludes ECOG ≥ 3.

**Patient side** (:func:`read_performance`) — ``profile.ecog`` (0–4) and
``profile.karnofsky`` (0–100). **Comparison** (:func:`compare_performance`) — the ECOG
grade within the fact's ECOG bounds; a fact with no bound ("adequate performance
status") is a non-key unknown.
"""

from __future__ import annotations

import math
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
from matchers.models import CriterionKind, Fact, PerformanceStatusFact
from matchers.rules import PerformanceRules, Rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = [
    "CATEGORY",
    "PatientPerformance",
    "compare_performance",
    "extract_performance",
    "kps_to_ecog",
    "ps_bounds",
    "read_performance",
]

_ScaleName = str  # "ECOG" | "KPS" | "LANSKY" | "WHO" | "ZUBROD" | "GENERIC"


@dataclass(frozen=True, slots=True)
class _Compiled:
    scale: re.Pattern[str]
    value: re.Pattern[str]
    bands: tuple[tuple[int, int, int], ...]  # (kps, ecog_min, ecog_max), kps descending


_VALUE = rf"""
  (?P<range>(?P<ra>\d{{1,3}})\s*%?\s*(?:-|to|through|thru|and)\s*(?P<rb>\d{{1,3}})\s*%?)
| (?P<list>\d{{1,3}}\s*%?(?:\s*(?:,\s*or|,\s*and|,|or|and|/)\s*\d{{1,3}}\s*%?)+(?!\d|[.,]\d))
| (?P<word>(?P<wn>\d{{1,3}})\s*%?\s*
    (?P<ww>or\s+(?:less|lower|below|fewer|better|worse|greater|higher|more|above|over|under)
        |and\s+(?:less|lower|below|greater|higher|above|over|up|better)|\+|or\s+(?:higher|greater|above)\s+than))
| (?P<cmp>(?P<cw>{CMP_BOUND})\s*(?P<cn>\d{{1,3}})\s*%?)
| (?P<single>(?<![\d.])(?P<sn>\d{{1,3}})\s*%?(?![\d.,]\d))
"""


def _compile(rules: PerformanceRules) -> _Compiled:
    def alt(names: tuple[str, ...]) -> str:
        return "|".join(sorted(names, key=len, reverse=True))

    scale = re.compile(
        rf"""(?<![\w])(?:
            (?P<KPS>{alt(rules.kps_names)})(?:\s*/\s*(?:{alt(rules.lansky_names)}))?
          | (?P<LANSKY>{alt(rules.lansky_names)})(?:\s*/\s*(?:{alt(rules.kps_names)}))?
          | (?P<ZUBROD>{alt(rules.zubrod_names)})
          | (?P<ECOG>{alt(rules.ecog_names)})
          | (?P<WHO>{alt(rules.who_names)})
          | (?P<GENERIC>{alt(rules.generic_names)})
        )(?![\w])""",
        re.X | re.I,
    )
    value = re.compile(_VALUE, re.X | re.I)
    bands = tuple(
        sorted(((b.kps, b.ecog_min, b.ecog_max) for b in rules.kps_to_ecog), reverse=True)
    )
    return _Compiled(scale=scale, value=value, bands=bands)


@compiled_per_rules
def _compiled(rules: PerformanceRules) -> _Compiled:
    return _compile(rules)


# --------------------------------------------------------------------------------------
# normalizers (public for tests)
# --------------------------------------------------------------------------------------


def ps_bounds(comparator: str, value: float, *, step: int) -> tuple[float | None, float | None]:
    """Inclusive ``(min, max)`` of a comparator bound on an integral scale of ``step``.

    ``ps_bounds("<", 2, step=1)`` → ``(None, 1)``; ``ps_bounds(">", 70, step=10)`` →
    ``(80, None)``; ``"="`` gives ``(value, value)``.
    """
    if comparator == ">=":
        return (float(math.ceil(value / step) * step), None)
    if comparator == ">":
        return (float(math.floor(value / step) * step + step), None)
    if comparator == "<=":
        return (None, float(math.floor(value / step) * step))
    if comparator == "<":
        return (None, float(math.ceil(value / step) * step - step))
    return (value, value)


def kps_to_ecog(
    kps_min: float | None,
    kps_max: float | None,
    bands: tuple[tuple[int, int, int], ...],
    *,
    required: bool,
) -> tuple[int | None, int | None]:
    """ECOG ``(min, max)`` for a Karnofsky/Lansky interval ``[kps_min, kps_max]``.

    ``bands`` lists ``(kps, ecog_min, ecog_max)``: the ECOG grades compatible with each
    KPS decile. With ``required=True`` the result covers every grade that *might*
    satisfy the interval (some compatible KPS inside it); with ``required=False`` only
    the grades that *certainly* do (all compatible KPS inside). Open ends map to None
    (0 and 5 are left implicit). Returns ``(None, None)`` if no grade qualifies.
    """
    lo = kps_min if kps_min is not None else 0.0
    hi = kps_max if kps_max is not None else 100.0
    grades: list[int] = []
    for g in range(6):
        compat = [k for k, gmin, gmax in bands if gmin <= g <= gmax]
        if not compat:
            continue
        inside = [lo <= k <= hi for k in compat]
        if any(inside) if required else all(inside):
            grades.append(g)
    if not grades:
        return (None, None)
    gmin, gmax = min(grades), max(grades)
    return (gmin if gmin > 0 else None, gmax if gmax < 5 else None)


# --------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------

_TIME_AFTER = re.compile(
    r"\s*(?:days?|weeks?|wks?|months?|years?|yrs?|hours?|hrs?|mg|cm|mm)\b", re.I
)
_STOP = re.compile(r"[.;]\s|\n\s*\n")


def _value_bounds(
    m: re.Match[str], scale: _ScaleName, *, required: bool = True
) -> tuple[float | None, float | None] | None:
    """Inclusive bounds of a value expression on ``scale``. A strict Karnofsky/Lansky
    bound is read inclusively when the criterion requires it ("KPS > 70%" admits 70:
    trials often write ">" for "≥" on the 10-point scale) and strictly when it
    excludes, so that either reading never turns away an eligible patient."""
    step = 10 if scale in ("KPS", "LANSKY") else 1
    if m.group("range"):
        a, b = float(m.group("ra")), float(m.group("rb"))
        if a > b:
            a, b = b, a
        return (a, b)
    if m.group("list"):
        nums = [float(x) for x in re.findall(r"\d{1,3}", m.group("list"))]
        return (min(nums), max(nums))
    if m.group("word"):
        n = float(m.group("wn"))
        w = " ".join(m.group("ww").lower().split())
        higher_is_better = scale in ("KPS", "LANSKY")
        if w.endswith(("less", "lower", "below", "fewer", "under")):
            return (None, n)
        if w.endswith(("greater", "higher", "more", "above", "over", "up", "than")) or w == "+":
            return (n, None)
        if w.endswith("better"):
            return (n, None) if higher_is_better else (None, n)
        if w.endswith("worse"):
            return (None, n) if higher_is_better else (n, None)
        return None
    if m.group("cmp"):
        cmp = parse_comparator(m.group("cw"))
        n = float(m.group("cn"))
        if cmp is None:
            return None
        if step == 10 and required and cmp in (">", "<"):
            cmp = ">=" if cmp == ">" else "<="
        return ps_bounds(cmp, n, step=step)
    if m.group("single"):
        n = float(m.group("sn"))
        if scale in ("KPS", "LANSKY"):
            return None  # a bare Karnofsky value is ambiguous (minimum or exact?)
        return (n, n)
    return None


def _resolve_scale(name: _ScaleName, lo: float | None, hi: float | None) -> _ScaleName | None:
    """The scale a value belongs to, or None if it does not fit the named scale (a
    generic "performance status" takes ECOG for 0–5 and Karnofsky for 10–100)."""
    vals = [v for v in (lo, hi) if v is not None]
    if not vals:
        return None
    big = max(vals) > 5
    if name == "GENERIC":
        if big:
            return "KPS" if all(v % 10 == 0 and v <= 100 for v in vals) else None
        return "ECOG"
    if name in ("ECOG", "WHO", "ZUBROD"):
        if big:
            return None
        return name
    if name in ("KPS", "LANSKY") and (min(vals) < 10 or max(vals) > 100):
        return None  # "Karnofsky 0-2", "(age < 16)": not a Karnofsky value
    return name


def extract_performance(c: CriterionText, rules: Rules) -> list[PerformanceStatusFact]:
    """Performance-status facts of criterion ``c`` (one per scale mention with a
    value). Spans cover the scale name through the value. See the module docstring."""
    comp = _compiled(rules.performance_status)
    body = _mask_parentheticals(c.body, comp.scale)
    base = c.start
    facts: list[PerformanceStatusFact] = []
    scales = list(comp.scale.finditer(body))
    if not scales:
        return facts
    used_values: set[int] = set()
    permitted: list[PerformanceStatusFact] = []
    for i, sm in enumerate(scales):
        name = sm.lastgroup or "GENERIC"
        if name == "GENERIC" and any(
            o is not sm and abs(o.start() - sm.end()) <= 40 and o.lastgroup != "GENERIC"
            for o in scales
        ):
            continue  # "ECOG performance status": the named scale carries it
        pol0 = polarity(c, base + sm.start(), base + sm.end(), use_negation=False)
        required = (c.kind is CriterionKind.INCLUSION) != pol0.negated
        w_end = _window_end(body, scales, i, name)
        found = _first_value(comp, body, sm.end(), w_end, name, used_values, required)
        if (
            found is None
            and i + 1 < len(scales)
            and re.fullmatch(r"\s*(?:/|or|and|and/or)\s*", body[sm.end() : scales[i + 1].start()])
        ):
            # "ECOG/Karnofsky performance status of 0, 1, or 2": the value follows the
            # second name and fits the first
            nxt = scales[i + 1]
            found = _first_value(
                comp,
                body,
                nxt.end(),
                _window_end(body, scales, i + 1, nxt.lastgroup or "GENERIC"),
                name,
                used_values,
                required,
            )
        if found is None:
            # value before the scale: "performance status of 0 or 1 on the ECOG scale",
            # "Performance status ≤1 (ECOG)"
            found = _value_before(comp, body, sm, scales, i, name, used_values, required)
        if found is None:
            continue
        vm, lo, hi, scale = found
        if vm.start() in used_values:
            continue
        used_values.add(vm.start())
        s = base + min(sm.start(), vm.start())
        e = base + max(sm.end(), vm.end())
        while e > s and c.text[e - 1].isspace():
            e -= 1
        pol = polarity(c, base + vm.start(), base + vm.end(), use_negation=False)
        if pol.drop:
            continue
        fact = _make_fact(c, s, e, scale, lo, hi, comp, pol.negated, pol.exception)
        if pol.permitted:
            permitted.append(fact)
        else:
            facts.append(fact)
        alt = _alternative_value(comp, body, vm, scale, required)
        if alt is not None and not pol.permitted:
            am, alo, ahi = alt
            used_values.add(am.start())
            ae = base + am.end()
            facts.append(_make_fact(c, s, ae, scale, alo, ahi, comp, pol.negated, pol.exception))
    # "ECOG 0-1 (PS 2 allowed if due to the disease)": a permitted grade widens the
    # requirement (facts of one criterion are alternatives); alone it requires nothing
    if facts and permitted:
        facts += [f for f in permitted if not f.negated]
    return facts


_ALT_AFTER = re.compile(r"\s*(?:\([^()]{1,30}\)\s*)?(?:,\s*)?(?:or|and)\s+(?=\d)", re.I)


def _alternative_value(
    comp: _Compiled, body: str, vm: re.Match[str], scale: _ScaleName, required: bool
) -> tuple[re.Match[str], float | None, float | None] | None:
    """A second value for the same scale: "0-1 (Part 1) or 0-2 (Part 2)"."""
    am = _ALT_AFTER.match(body, vm.end())
    if am is None:
        return None
    m2 = comp.value.match(body, am.end())
    if m2 is None or not (m2.group("range") or m2.group("cmp")):
        return None
    if _TIME_AFTER.match(body, m2.end()):
        return None
    bounds = _value_bounds(m2, scale, required=required)
    if bounds is None or _resolve_scale(scale, *bounds) != scale:
        return None
    return m2, bounds[0], bounds[1]


_PAREN_AFTER_DIGIT = re.compile(r"(?<=\d)(\s*)\(([^()]{3,400})\)")
_PAREN_AGE = re.compile(
    r"\((?=[^()]*\b(?:years?|yrs?|age[sd]?|pediatric|adults?|children)\b)[^()]{0,80}\)", re.I
)


def _mask_parentheticals(body: str, scale: re.Pattern[str]) -> str:
    """Blank out, keeping offsets, descriptive parentheses after a grade ("0 (fully
    active), 1 (...)") so a list of grades reads as one list, and age qualifiers ("(KPS
    for > 16 years of age)") so their numbers are not read as scores. Parentheses that
    name a scale or hold a comparator ("(Karnofsky ≥ 70%)") are kept."""

    def blank(m: re.Match[str]) -> str:
        inner = m.group(0)
        if (
            scale.search(inner) or re.search(r"[<>≤≥=]|\d\s*-\s*\d", inner)
        ) and not _PAREN_AGE.fullmatch(inner.strip()):
            return inner
        return " " * len(inner)

    body = _PAREN_AFTER_DIGIT.sub(blank, body)
    return _PAREN_AGE.sub(
        lambda m: m.group(0) if scale.search(m.group(0)) else " " * len(m.group(0)), body
    )


_BLANKS = re.compile(r" {6,}")


def _window_end(body: str, scales: list[re.Match[str]], i: int, name: _ScaleName) -> int:
    sm = scales[i]
    w_end = len(body)
    if i + 1 < len(scales):
        nxt = scales[i + 1]
        if nxt.lastgroup != "GENERIC" or name == "GENERIC":
            w_end = nxt.start()
        else:
            j = i + 2
            while j < len(scales) and scales[j].lastgroup == "GENERIC":
                j += 1
            if j < len(scales):
                w_end = scales[j].start()
    stop = _STOP.search(body, sm.end())
    if stop is not None:
        w_end = min(w_end, stop.start())
    limit = sm.end() + 160
    for blank in _BLANKS.finditer(body, sm.end()):
        if blank.start() >= limit:
            break
        limit += len(blank.group(0))  # masked parentheses do not count
    return min(w_end, limit)


_AGE_BEFORE = re.compile(
    r"(?:\bage[sd]?|years?|yrs?|patients|children|subjects)\s*(?:of\s*)?$", re.I
)


def _first_value(
    comp: _Compiled,
    body: str,
    start: int,
    end: int,
    name: _ScaleName,
    used: set[int],
    required: bool,
) -> tuple[re.Match[str], float | None, float | None, _ScaleName] | None:
    pos = start
    while pos < end:
        vm = comp.value.search(body, pos, end)
        if vm is None:
            return None
        pos = vm.end() if vm.end() > pos else pos + 1
        if vm.start() in used:
            continue
        before = body[max(0, vm.start() - 14) : vm.start()]
        if (
            _TIME_AFTER.match(body, vm.end())
            or re.search(r"within\s*$", before, re.I)
            or _AGE_BEFORE.search(before)
        ):
            start = vm.end()  # numbers of other kinds do not break the window
            continue
        # the value must follow the scale name closely (numbers with time units aside)
        gap = body[start : vm.start()]
        if len(gap) > 100 or (len(gap) > 60 and re.search(r"[;:]", gap)):
            return None
        if re.search(
            r"\d", re.sub(r"\d+\s*(?:days?|weeks?|months?|years?|hours?)", "", gap, flags=re.I)
        ):
            return None
        bounds = _value_bounds(vm, name, required=required)
        if bounds is None:
            continue
        lo, hi = bounds
        scale = _resolve_scale(name, lo, hi)
        if scale is None:
            continue
        return vm, lo, hi, scale
    return None


def _value_before(
    comp: _Compiled,
    body: str,
    sm: re.Match[str],
    scales: list[re.Match[str]],
    i: int,
    name: _ScaleName,
    used: set[int],
    required: bool,
) -> tuple[re.Match[str], float | None, float | None, _ScaleName] | None:
    if name == "GENERIC" or i == 0:
        return None
    prev = scales[i - 1]
    if prev.lastgroup != "GENERIC":
        return None
    gap = body[prev.end() : sm.start()]
    if len(gap) > 60:
        return None
    for vm in comp.value.finditer(body, prev.end(), sm.start()):
        if vm.start() in used:
            continue
        bounds = _value_bounds(vm, name, required=required)
        if bounds is None:
            continue
        scale = _resolve_scale(name, *bounds)
        if scale is None:
            continue
        return vm, bounds[0], bounds[1], scale
    return None


def _make_fact(
    c: CriterionText,
    s: int,
    e: int,
    scale: _ScaleName,
    lo: float | None,
    hi: float | None,
    comp: _Compiled,
    negated: bool,
    exception: str | None,
) -> PerformanceStatusFact:
    if scale in ("KPS", "LANSKY"):
        required = (c.kind is CriterionKind.INCLUSION) != negated
        emin, emax = kps_to_ecog(lo, hi, comp.bands, required=required)
    else:
        emin = int(lo) if lo is not None and lo > 0 else None
        emax = int(hi) if hi is not None and hi < 5 else None
        if lo is not None and lo == 0:
            emin = 0
        if hi is not None and hi >= 5:
            emax = None
    lit_scale = "KPS" if scale == "KPS" else scale
    return PerformanceStatusFact(
        span=(s, e),
        text=c.text[s:e],
        negated=negated,
        scale=lit_scale,
        value_min=lo,
        value_max=hi,
        ecog_min=emin,
        ecog_max=emax,
        exception=exception,
    )


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": f"performance_status.{f.scale.lower()}"})
            for f in extract_performance(c, ctx.rules)]


class PatientPerformance(BaseModel):
    """ECOG performance status (0–4) and Karnofsky performance status (0–100), as
    stated (None = unknown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ecog: int | None = None
    karnofsky: int | None = None


def read_performance(profile: PatientProfile) -> PatientPerformance:
    """The patient's ECOG and Karnofsky scores."""
    return PatientPerformance(ecog=profile.ecog, karnofsky=profile.karnofsky)


def compare_performance(f: PerformanceStatusFact, p: NormalizedPatient,
                        ctx: CompareContext) -> Atom:
    """The patient's performance status against the fact's bounds: a Karnofsky/Lansky
    bound against the patient's Karnofsky score when both are on that scale, else the
    ECOG grade within the fact's ECOG bounds — a patient known only by Karnofsky counts
    as every ECOG grade the score may mean (:func:`kps_to_ecog` bands, Oken 1982 and
    Buccheri 1996): true if all of them fit, false if none does, else unknown."""
    ecog, kps = p.performance.ecog, p.performance.karnofsky
    if (kps is not None and f.scale in ("KPS", "LANSKY")
            and (f.value_min is not None or f.value_max is not None)):
        ok = (f.value_min is None or kps >= f.value_min) and (
            f.value_max is None or kps <= f.value_max)
        return Atom(f, ok, f"Karnofsky {kps}")
    if f.ecog_min is None and f.ecog_max is None:
        said = f"ECOG {ecog}" if ecog is not None else (
            f"Karnofsky {kps}" if kps is not None else "performance status not given")
        return Atom(f, None, said, "performance status?", key=False)
    lo = f.ecog_min if f.ecog_min is not None else 0
    hi = f.ecog_max if f.ecog_max is not None else 5
    if ecog is not None:
        return Atom(f, lo <= ecog <= hi, f"ECOG {ecog}")
    if kps is not None:
        grades = _kps_grades(kps)
        inside = [lo <= g <= hi for g in grades]
        value = True if all(inside) else (False if not any(inside) else None)
        return Atom(f, value, f"Karnofsky {kps} (ECOG {_range(grades)})",
                    None if value is not None else "ECOG performance status?")
    return Atom(f, None, "ECOG not given", "ECOG performance status?")


def _kps_grades(kps: int) -> list[int]:
    """The ECOG grades a Karnofsky score may mean (``performance_status.toml`` bands)."""
    from matchers.rules import load_rules

    bands = _compiled(load_rules().performance_status).bands
    band = next((b for b in bands if kps >= b[0]), bands[-1])
    return list(range(band[1], band[2] + 1))


def _range(grades: list[int]) -> str:
    return f"{grades[0]}" if len(grades) == 1 else f"{grades[0]}–{grades[-1]}"


CATEGORY = Category(
    name="performance_status",
    fact_type=PerformanceStatusFact,
    extract=_extract,
    compare=compare_performance,
    patient_part="performance",
    reader=read_performance,
    key=True,
    priority=6,
    rules_file="performance_status.toml",
    cases_file="performance_status.toml",
    module=__name__,
)
