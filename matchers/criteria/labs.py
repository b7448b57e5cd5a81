"""Laboratory thresholds: ANC, WBC, platelets, haemoglobin, creatinine clearance,
creatinine, bilirubin, AST, ALT — normalized (:func:`normalize_count` & co).

Grammar: a lab name (``matchers/rules/lab.toml``), optionally chained with others
sharing one value ("AST/ALT", "AST (SGOT) and ALT (SGPT)"), then within the clause a
comparator and a number with an optional unit — "Platelets ≥ 100,000/mm³", "ANC >
1.5 × 10^9/L", "haemoglobin of at least 9 g/dL", "creatinine ≤ 1.5 × ULN", "bilirubin
within normal limits", "Platelets 100 K/mm^3 or more". A value with no comparator is
not read (it could be a minimum or an exact value).

Units (source: SI conversion factors, AMA Manual of Style 11th ed.):

* counts → cells/µL: ``× 10^9/L`` (also "× 109/L" with the superscript lost, "G/L",
  "/nL") × 1000; ``× 10^3/µL``, ``K/mm³``, ``10^3/mcL`` × 1000; ``× 10^4/µL`` × 10 000;
  ``/mm³``, ``/µL``, ``/mcL``, ``cells/cmm`` × 1; no unit: inferred from magnitude
  (platelets ≤ 1,500 → × 1000, ANC/WBC ≤ 50 → × 1000); ``/mL`` with a count-sized value
  is read as the common typo for /µL; European thousands separators ("100.000/mm3")
  are read as thousands;
* haemoglobin → g/dL: ``g/L`` ÷ 10, ``mmol/L`` × 1.611, ``g%`` = g/dL; no unit: ≤ 25
  g/dL, 50–250 g/L;
* creatinine clearance / eGFR → mL/min (``mL/min/1.73 m²`` kept as mL/min);
* creatinine, bilirubin → mg/dL (``µmol/L`` ÷ 88.4 and ÷ 17.1 respectively) or
  ``xULN`` ("× ULN", "times the upper limit of normal", bare "ULN" = 1 × ULN, "within
  normal limits" = ≤ 1 × ULN); AST/ALT only as ``xULN``.

Values outside plausible ranges are dropped (a wrong threshold is worse than none).

**Patient side** (:func:`read_labs`) — ``profile.labs`` converted with the same
normalizers into the facts' units (counts in cells/µL, haemoglobin in g/dL, clearance in
mL/min, chemistry in mg/dL and/or ×ULN; AST/ALT in U/L need the ULN). **Comparison**
(:func:`compare_lab`) — the value against the threshold; a lab not given, or given only
in another unit, is unknown. Never key: labs are checked at screening, but a value that
fails the threshold is ``not_met``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import (
    CMP_BOUND,
    NUM,
    Comparator,
    CriterionText,
    compiled_per_rules,
    parse_comparator,
    parse_number,
    polarity,
)
from matchers.models import Fact, LabFact
from matchers.patient import LabValue
from matchers.rules import LabRules, Rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = [
    "CATEGORY",
    "PatientLabs",
    "compare_lab",
    "extract_labs",
    "normalize_chemistry",
    "normalize_count",
    "normalize_hemoglobin",
    "read_labs",
]

# plausible normalized ranges (inclusive)
_PLAUSIBLE: dict[str, tuple[float, float]] = {
    "anc": (100.0, 20_000.0),
    "wbc": (500.0, 200_000.0),
    "platelets": (5_000.0, 1_500_000.0),
    "hemoglobin": (4.0, 20.0),
    "creatinine_clearance": (5.0, 250.0),
}

_PER_UL = r"(?:µl|ul|μl|mcl|mm\s*\^?\s*3|mm³|mm\b|cumm|cmm|cu\.?\s*mm|microlit(?:er|re)s?|ml|mL)"
_COUNT_UNIT = re.compile(
    rf"""^\s*(?:
        (?P<sci>(?:x|×|\*|X)\s*10\s*(?:\^|\*\*|\*|e|E|-)?\s*\(?\s*(?P<exp>\d{{1,2}}|[⁹³⁴⁶⁵])\s*\)?
            \s*(?:cells?|platelets?|/)?\s*/?\s*(?P<svol>l\b|L\b|liters?|litres?|{_PER_UL})?)
      | (?P<e9>(?:e|E)\s*(?P<eexp>\d{{1,2}})\s*/\s*(?P<evol>l|L|µl|ul|mcl|mm3))
      | (?P<k>(?:k|K|thou|x\s*1000|×\s*1000|x\s*1,000|thousand)\s*(?:cells?)?\s*/\s*{_PER_UL})
      | (?P<gl>G\s*/\s*L\b|giga\s*/\s*l|/\s*nl\b|/\s*nL\b)
      | (?P<vol>(?:cells?|platelets?|neutrophils?)?\s*(?:/|per)\s*
          (?:{_PER_UL}|cubic\s+millimet(?:er|re)s?))
    )""",
    re.X | re.I,
)
_SUPERSCRIPT = {"⁹": 9, "³": 3, "⁴": 4, "⁶": 6, "⁵": 5}

_HB_UNIT = re.compile(
    r"^\s*(?:(?P<gdl>g(?:m|r|rams?)?\s*/\s*d\s*l|g(?:m|r)?\s*%|grams?\s+per\s+decilit(?:er|re)|g\s*/\s*100\s*ml)"
    r"|(?P<gl>g\s*/\s*l\b|grams?\s+per\s+lit(?:er|re))|(?P<mmol>mmol\s*/\s*l))",
    re.I,
)
_CLEAR_UNIT = re.compile(r"^\s*(?:ml|mL|cc)\s*/\s*min(?:ute)?", re.I)
_CHEM_UNIT = re.compile(
    r"""^\s*(?:
        (?P<uln>(?:x|×|\*|times|fold|-fold)?\s*(?:the\s+)?(?:institutional\s+|institution's\s+|laboratory\s+|local\s+)?
            (?:uln|iuln|upper\s+limits?\s+of\s+(?:the\s+)?normal(?:\s+range)?|upper\s+normal\s+limits?|unl|lsn|normal\s+upper\s+limits?)\b)
      | (?P<mgdl>mg\s*/\s*dl|mg\s*%|mg/100\s*ml)
      | (?P<umol>(?:µ|u|μ|micro)\s*mol\s*/\s*l|umol/l)
    )""",
    re.X | re.I,
)
_WNL = re.compile(
    r"\b(?:within\s+(?:the\s+)?(?:institutional\s+)?normal\s+(?:limits|range)|wnl|normal\s+limits|"
    r"(?:≤|<=|=<|less\s+than\s+or\s+equal\s+to|no\s+greater\s+than|not\s+greater\s+than)\s*(?:the\s+)?"
    r"(?:institutional\s+)?(?:uln|upper\s+limit\s+of\s+normal))\b",
    re.I,
)
_WNL_GATE = re.compile(r"normal|wnl|uln")
_TRAILING = re.compile(
    r"\s*(?:or|and)\s+(?P<w>more|greater|higher|above|over|less|lower|below|under|fewer)\b", re.I
)
_STOP = re.compile(r";|\.\s|\n\s*\n|\bor\s+if\b")
_LEADING = re.compile(rf"(?P<cmp>{CMP_BOUND})\s*(?:to\s+)?(?P<num>{NUM})", re.X | re.I)
_NUMBER = re.compile(rf"(?P<num>{NUM})", re.X)
_CONNECT = re.compile(
    r"^\s*(?:\([^()]{0,40}\))?\s*(?:/|,|and|or|and/or|&)\s*$|^\s*\([^()]{0,40}\)\s*$|^\s*$", re.I
)


@dataclass(frozen=True, slots=True)
class _Compiled:
    names: re.Pattern[str]
    kinds: dict[str, str]


@compiled_per_rules
def _compiled(rules: LabRules) -> _Compiled:
    parts = []
    kinds: dict[str, str] = {}
    for lab in rules.labs:
        alt = "|".join(sorted(lab.names, key=len, reverse=True))
        parts.append(f"(?P<{lab.id}>{alt})")
        kinds[lab.id] = lab.kind
    rx = re.compile(r"(?<![\w/-])(?:" + "|".join(parts) + r")(?![\w])", re.I)
    return _Compiled(names=rx, kinds=kinds)


# --------------------------------------------------------------------------------------
# unit normalizers (public for tests)
# --------------------------------------------------------------------------------------


def normalize_count(value: float, unit: str, lab: str, raw_number: str = "") -> float | None:
    """A cell count in cells/µL, from ``value`` and the ``unit`` text that followed it
    (possibly empty). ``raw_number`` is the number as written (for "100.000"
    European thousands). Returns None when the unit is not a count unit or the result is
    implausible for ``lab``."""
    um = _COUNT_UNIT.match(unit) if unit else None
    if re.fullmatch(r"\d{1,3}\.\d{3}", raw_number.strip()) and (um is None or um.group("vol")):
        # "100.000/mm3", "1.500/mm3": a European thousands separator before a per-volume
        # unit (with "x 10^9/L", "1.500" is 1.5)
        value = float(raw_number.strip().replace(".", ""))
    out: float | None = None
    if um is None:
        # no unit: infer from magnitude
        if lab == "platelets":
            out = value * 1000 if value <= 1500 else value
        elif value <= 50:
            out = value * 1000
        elif value >= 100:
            out = value
    elif um.group("sci"):
        exp_s = um.group("exp")
        exp = _SUPERSCRIPT.get(exp_s) if exp_s in _SUPERSCRIPT else int(exp_s)
        vol = (um.group("svol") or "").lower().replace(" ", "")
        if exp is None:
            return None
        if vol in ("l", "liter", "liters", "litre", "litres"):
            out = value * (10.0**exp) / 1e6
        elif vol in ("ml",):
            out = value * (10.0**exp) / 1e3
            if exp == 3:  # "x 10^3/mL" is a common typo for /µL
                out = value * 1e3
        elif vol:
            out = value * (10.0**exp)
        else:
            # "x 10^9" with the volume lost: 10^9 implies /L, 10^3 implies /µL
            out = value * 1e3 if exp in (9, 3) else None
    elif um.group("e9"):
        exp = int(um.group("eexp"))
        vol = um.group("evol").lower()
        out = value * (10.0**exp) / (1e6 if vol == "l" else 1.0)
    elif um.group("k") or um.group("gl"):
        out = value * 1000
    elif um.group("vol"):
        vol = um.group("vol").lower()
        out = value
        if re.search(r"/\s*ml$|per\s+ml$", vol) and value >= 1000:
            out = value  # "/mL" with a count-sized value: the /µL typo
        elif re.search(r"/\s*ml$|per\s+ml$", vol):
            out = None
    lo, hi = _PLAUSIBLE.get(lab, (0.0, float("inf")))
    if out is not None and lo <= out <= hi:
        return out
    if um is not None and (um.group("sci") or um.group("k")):
        # contradictory unit ("100,000 x 10^9/L", "75,000 K/mm3", "100 x 10^3/L"): take
        # the number as written if it is itself a plausible count, in cells/µL or in
        # thousands per µL
        for alt in (value, value * 1000):
            if lo <= alt <= hi:
                return alt
    return None


def normalize_hemoglobin(value: float, unit: str) -> float | None:
    """Haemoglobin in g/dL (g/L ÷ 10, mmol/L × 1.611); None if implausible."""
    um = _HB_UNIT.match(unit) if unit else None
    if um is None:
        out = value if value <= 25 else (value / 10 if 50 <= value <= 250 else None)
    elif um.group("gl"):
        out = value / 10
    elif um.group("mmol"):
        out = round(value * 1.611, 2)
    else:
        out = value
    if out is None:
        return None
    lo, hi = _PLAUSIBLE["hemoglobin"]
    return out if lo <= out <= hi else None


def normalize_chemistry(value: float, unit: str, lab: str) -> tuple[float, str] | None:
    """Creatinine/bilirubin/AST/ALT as ``(value, unit)`` with unit ``mg/dL`` or
    ``xULN``; µmol/L converts (creatinine ÷ 88.4, bilirubin ÷ 17.1). None if no
    recognized unit (a bare number is ambiguous)."""
    um = _CHEM_UNIT.match(unit) if unit else None
    if um is None:
        return None
    if um.group("uln"):
        return (value, "xULN") if 0 < value <= 20 else None
    if lab in ("ast", "alt"):
        return None
    if um.group("mgdl"):
        return (value, "mg/dL") if 0 < value <= 15 else None
    factor = 88.4 if lab == "creatinine" else 17.1
    mgdl = round(value / factor, 2)
    return (mgdl, "mg/dL") if 0 < mgdl <= 15 else None


# --------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------


def extract_labs(c: CriterionText, rules: Rules) -> list[LabFact]:
    """Lab-threshold facts of criterion ``c``; spans cover the lab name through the
    value and unit. See the module docstring for grammar and units."""
    comp = _compiled(rules.lab)
    body = c.body
    if not any(ch.isdigit() for ch in body) and not _WNL_GATE.search(c.body_lower):
        return []  # fast path: no number and no "normal limits"
    names = [m for m in comp.names.finditer(body) if m.lastgroup]
    if not names:
        return []
    facts: list[LabFact] = []
    # group names that share one value: "AST/ALT", "AST (SGOT) and ALT (SGPT)"
    groups: list[list[re.Match[str]]] = []
    for m in names:
        if groups and _CONNECT.match(body[groups[-1][-1].end() : m.start()]):
            groups[-1].append(m)
        else:
            groups.append([m])
    used_until = 0
    for gi, group in enumerate(groups):
        last = group[-1]
        nxt_start = groups[gi + 1][0].start() if gi + 1 < len(groups) else len(body)
        stop = _STOP.search(body, last.end())
        w_end = min(nxt_start, stop.start() if stop else len(body), last.end() + 90)
        start = max(last.end(), used_until)
        found = _find_value(body, start, w_end)
        for m in group:
            lab = m.lastgroup
            assert lab is not None
            kind = comp.kinds[lab]
            if found is None:
                if kind == "chemistry":
                    wm = _WNL.search(body, last.end(), w_end)
                    if (wm is not None and body[last.end() : wm.start()].strip(" :,(-") == "") or (
                        wm is not None and len(body[last.end() : wm.start()]) < 25
                    ):
                        fact = _fact(c, m.start(), wm.end(), lab, "<=", 1.0, "xULN")
                        if fact is not None:
                            facts.append(fact)
                continue
            cmp, num_text, unit_text, v_end = found
            value = parse_number(num_text)
            if value is None:
                continue
            norm = _normalize(lab, kind, value, unit_text, num_text)
            if norm is None:
                continue
            nval, nunit = norm
            fact = _fact(c, m.start(), v_end, lab, cmp, nval, nunit)
            if fact is not None:
                facts.append(fact)
        if found is not None:
            used_until = found[3]
    return facts


def _find_value(body: str, start: int, end: int) -> tuple[Comparator, str, str, int] | None:
    """First ``comparator number [unit]`` (or ``number [unit] or more``) in
    ``body[start:end]``: (comparator, number text, unit text, end offset)."""
    pos = start
    while pos < end:
        m = _LEADING.search(body, pos, end)
        if m is None:
            break
        # skip time/other quantities: "within 14 days", "for at least 4 weeks"
        after = body[m.end() : m.end() + 12]
        if re.match(
            r"\s*(?:days?|weeks?|months?|years?|hours?|hrs?|%|mg\b(?!\s*/\s*dl|\s*%))", after, re.I
        ):
            pos = m.end()
            continue
        gap = body[start : m.start()]
        if re.search(r"\d", re.sub(r"\([^()]*\)", "", gap)) or len(gap) > 60:
            return None
        cmp = parse_comparator(m.group("cmp"))
        if cmp is None or cmp == "=":
            pos = m.end()
            continue
        unit = body[m.end() : min(len(body), m.end() + 45)]
        um = _unit_end(unit)
        return cmp, m.group("num"), unit[:um], m.end() + um
    # "Platelets 100,000/mm3 or more"
    nm = _NUMBER.search(body, start, end)
    if nm is not None and not re.search(r"\d", body[start : nm.start()]):
        unit = body[nm.end() : min(len(body), nm.end() + 45)]
        um = _unit_end(unit)
        tm = _TRAILING.match(body, nm.end() + um)
        if tm is not None:
            w = tm.group("w").lower()
            cmp2: Comparator = ">=" if w in ("more", "greater", "higher", "above", "over") else "<="
            return cmp2, nm.group("num"), unit[:um], tm.end()
    return None


def _unit_end(unit: str) -> int:
    for rx in (_COUNT_UNIT, _HB_UNIT, _CLEAR_UNIT, _CHEM_UNIT):
        m = rx.match(unit)
        if m is not None and m.end() > 0 and unit[: m.end()].strip():
            end = m.end()
            # "ml/min/1.73 m2"
            tail = re.match(r"\s*/\s*1[.,]73\s*m\s*(?:\^?\s*2|²)?", unit[end:], re.I)
            if tail:
                end += tail.end()
            return end
    return 0


def _normalize(lab: str, kind: str, value: float, unit: str, raw: str) -> tuple[float, str] | None:
    if kind == "count":
        v = normalize_count(value, unit, lab, raw)
        return (v, "cells/µL") if v is not None else None
    if kind == "hemoglobin":
        v = normalize_hemoglobin(value, unit)
        return (v, "g/dL") if v is not None else None
    if kind == "clearance":
        if unit and not _CLEAR_UNIT.match(unit):
            return None
        lo, hi = _PLAUSIBLE["creatinine_clearance"]
        return (value, "mL/min") if lo <= value <= hi else None
    return normalize_chemistry(value, unit, lab)


def _fact(
    c: CriterionText, s_rel: int, e_rel: int, lab: str, cmp: Comparator, value: float, unit: str
) -> LabFact | None:
    s = c.start + s_rel
    e = c.start + e_rel
    while e > s and c.text[e - 1].isspace():
        e -= 1
    pol = polarity(c, s, e, use_negation=False)
    if pol.drop or pol.permitted:
        return None
    return LabFact(
        span=(s, e),
        text=c.text[s:e],
        negated=pol.negated,
        exception=pol.exception,
        lab=lab,
        comparator=cmp,
        value=round(value, 4),
        unit=unit,
    )


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": f"lab.{f.lab}"}) for f in extract_labs(c, ctx.rules)]


# --------------------------------------------------------------------------------------
# patient side
# --------------------------------------------------------------------------------------

_LAB_KIND = {"anc": "count", "wbc": "count", "platelets": "count", "hemoglobin": "hemoglobin",
             "creatinine_clearance": "clearance", "creatinine": "chemistry",
             "bilirubin": "chemistry", "ast": "chemistry", "alt": "chemistry"}
_DEFAULT_UNIT = {"count": "/uL", "hemoglobin": "g/dL", "clearance": "mL/min"}
_PATIENT_UNIT = {"10^9/l": "x 10^9/L", "10^3/ul": "x 10^3/uL", "10^3/µl": "x 10^3/uL",
                 "xuln": "x ULN", "uln": "x ULN"}


class PatientLabs(BaseModel):
    """The patient's laboratory values in the facts' units: lab id → unit → value
    (``cells/µL``, ``g/dL``, ``mL/min``, ``mg/dL``, ``xULN``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    values: dict[str, dict[str, float]] = Field(default_factory=dict)


def read_labs(profile: PatientProfile) -> PatientLabs:
    """``profile.labs`` converted (see the module docstring); a value whose unit is not
    understood, or that is implausible for the test, is left out (unknown)."""
    values: dict[str, dict[str, float]] = {}
    for lab, raw in profile.labs.items():
        reading = raw if isinstance(raw, LabValue) else LabValue(value=float(raw))
        kind = _LAB_KIND[lab]
        unit = (reading.unit or _DEFAULT_UNIT.get(kind, "")).strip()
        unit_text = _PATIENT_UNIT.get(unit.lower().replace(" ", ""), unit)
        out: dict[str, float] = {}
        if kind == "chemistry" and unit.lower().replace(" ", "") in ("u/l", "iu/l"):
            if reading.uln:
                out["xULN"] = round(reading.value / reading.uln, 3)
        else:
            got = _normalize(lab, kind, reading.value, unit_text, str(reading.value))
            if got is not None:
                out[got[1]] = got[0]
            if kind == "chemistry" and reading.uln and "mg/dL" in out:
                out["xULN"] = round(reading.value / reading.uln, 3)
        if out:
            values[lab] = out
    return PatientLabs(values=values)


# --------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------

_COMPARE = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__,
            "=": float.__eq__}


def compare_lab(f: LabFact, p: NormalizedPatient, ctx: CompareContext) -> Atom:
    """The patient's value against the fact's threshold, in the fact's unit."""
    name = f.lab.replace("_", " ")
    readings = p.labs.values.get(f.lab)
    if not readings:
        return Atom(f, None, f"{f.lab} not given", f"{name}?", key=False)
    value = readings.get(f.unit)
    if value is None:
        given = ", ".join(f"{v:g} {u}" for u, v in readings.items())
        return Atom(f, None, f"{name} {given} (threshold in {f.unit})", f"{name} in {f.unit}?",
                    key=False)
    ok = _COMPARE[f.comparator](float(value), float(f.value))
    return Atom(f, ok, f"{name} {value:g} {f.unit}", key=False)


CATEGORY = Category(
    name="lab",
    fact_type=LabFact,
    extract=_extract,
    compare=compare_lab,
    patient_part="labs",
    reader=read_labs,
    key=False,
    priority=9,
    rules_file="lab.toml",
    cases_file="lab.toml",
    module=__name__,
)
