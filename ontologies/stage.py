"""AJCC stage-group grammar (AJCC Cancer Staging Manual, 8th edition).

Stage groups are ``0``, ``I``, ``II``, ``III``, ``IV`` with letter sub-stages (``IIIB``)
and, for some sites, numbered ones: lung IA1–IA3; cervix IA1/IA2, IB1–IB3, IIA1/IIA2;
ovary IC1–IC3, IIIA1/IIIA2; corpus uteri IIIC1/IIIC2; melanoma IIID. A group written
without a sub-stage covers all of its sub-stages ("III" → III, IIIA, …, IIID), and a range
runs to the last sub-stage of its upper bound ("IIIB–IV" → IIIB, IIIC, IIIC1, IIIC2,
IIID, IV, IVA, IVB, IVC). A bare group is returned only when all its sub-stages are in
the set, so ``"III" in parse_stage("IIB-IIIA")`` is False.

Pure functions; nothing here reads files.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "STAGE_GROUPS",
    "STAGE_ORDER",
    "normalize_stage",
    "parse_stage",
    "stage_group",
    "stage_in",
    "substages",
]

STAGE_ORDER: tuple[str, ...] = (
    "0", "0a", "0is",
    "I", "IA", "IA1", "IA2", "IA3", "IB", "IB1", "IB2", "IB3", "IC", "IC1", "IC2", "IC3",
    "II", "IIA", "IIA1", "IIA2", "IIB", "IIC",
    "III", "IIIA", "IIIA1", "IIIA2", "IIIB", "IIIC", "IIIC1", "IIIC2", "IIID",
    "IV", "IVA", "IVB", "IVC",
)  # fmt: skip
"""AJCC 8th stage groups and sub-stages, earliest first."""

STAGE_GROUPS: tuple[str, ...] = ("0", "I", "II", "III", "IV")
"""The five main groups."""

_INDEX = {s: i for i, s in enumerate(STAGE_ORDER)}
_ARABIC = {"0": "0", "1": "I", "2": "II", "3": "III", "4": "IV"}


def _group_of(stage: str) -> str:
    if stage.startswith("0"):
        return "0"
    m = re.match(r"^(IV|III|II|I)", stage)
    assert m is not None  # every STAGE_ORDER entry starts with a roman group
    return m.group(1)


_GROUP = {s: _group_of(s) for s in STAGE_ORDER}
_SUBSTAGES = {
    s: frozenset(t for t in STAGE_ORDER if _GROUP[t] == _GROUP[s] and t.startswith(s))
    for s in STAGE_ORDER
}
_LAST = {s: max(_SUBSTAGES[s], key=_INDEX.__getitem__) for s in STAGE_ORDER}

_TOKEN = r"(?P<g>iv|iii|ii|i|0)(?P<s>is|[a-d][1-3]?)?"
_TOKEN_ARABIC = r"(?P<g>[0-4])(?P<s>is|[a-d][1-3]?)?"
_STAGE_RE = re.compile(rf"(?<![a-z0-9]){_TOKEN}(?![a-z0-9])")
_STAGE_ARABIC_RE = re.compile(rf"(?<![a-z0-9.]){_TOKEN_ARABIC}(?![a-z0-9.%])")
_ANCHOR = re.compile(r"\bstages?\b")
_FILLER = re.compile(
    r"(?:\s+|[(\[:]|\bajcc\b|\buicc\b|\bfigo\b|\btnm\b|\b(?:v|version\s*)?[78](?:th)?\s+(?:edition|ed\.?)\b|"
    r"\bv[78]\b|\b(?:clinical|pathologic(?:al)?|anatomic|prognostic)\b|\bgroup(?:ing)?\b|\bis\b|\bof\b|"
    r"\bdisease\b|\bcancer\b|\b(?:c|p|y|yp|r)stage\b)*"
)
_CMP = re.compile(
    r"(?P<op>≥|>=|=>|≤|<=|=<|>|<|greater than or equal to|at least|higher than|greater than|"
    r"more advanced than|less than or equal to|up to|no higher than|no greater than|"
    r"lower than|less than|at most)\s*(?:stages?\s*)?"
)
_CMP_OPS = {
    "≥": "ge", ">=": "ge", "=>": "ge", "greater than or equal to": "ge", "at least": "ge",
    ">": "gt", "higher than": "gt", "greater than": "gt", "more advanced than": "gt",
    "≤": "le", "<=": "le", "=<": "le", "less than or equal to": "le", "up to": "le",
    "no higher than": "le", "no greater than": "le", "at most": "le",
    "<": "lt", "lower than": "lt", "less than": "lt",
}  # fmt: skip
_RANGE_SEP = re.compile(r"\s*(?:-|\bto\b|\bthrough\b|\bthru\b)\s*(?:stages?\s*)?")
_LIST_SEP = re.compile(r"\s*(?:(?:,|/|&|\band/or\b|\band\b|\bor\b)\s*)+(?:stages?\s*)?")
_TAIL_GE = re.compile(
    r"\s*\)?\s*(?:\+|(?:or|and)\s+(?:higher|greater|above|beyond|later|worse|more advanced)\b)"
)
_TAIL_LE = re.compile(r"\s*\)?\s*(?:or|and)\s+(?:lower|less|below|earlier)\b")
_NOT_STAGE_BEFORE = re.compile(
    r"(?:phase|grade|class|type|part|cohort|arm|level|nyha|tier|step|category|dose|schedule|"
    r"cycle|day|week|line|version|v|ecog|who|ps|gleason|ctcae|isup|g)\s*[-:]?\s*$"
)
_UPPER_ROMAN = re.compile(r"(?<![A-Za-z0-9])(?:IV|III|II|I)(?:[A-D][1-3]?)?(?![A-Za-z0-9])")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)  # "Ⅳ" -> "IV", full-width digits
    text = re.sub(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]", "-", text)
    return text.lower()


def _canonical(group: str, sub: str | None) -> str | None:
    group = _ARABIC.get(group, group.upper())
    if sub is None:
        stage = group
    elif group == "0":
        stage = "0" + sub.lower()
    else:
        stage = group + sub.upper()
    return stage if stage in _INDEX else None


def normalize_stage(text: str) -> str | None:
    """The canonical stage for one stage token: "IIIb" → "IIIB", "stage 3B" → "IIIB",
    "Stage IV" → "IV", "0is" → "0is". None if ``text`` is not exactly one stage."""
    t = _fold(text).strip()
    t = re.sub(r"^(?:ajcc\s+)?(?:(?:clinical|pathologic(?:al)?)\s+)?stage\s*", "", t).strip(" .()")
    m = re.fullmatch(_TOKEN, t) or re.fullmatch(_TOKEN_ARABIC, t)
    if not m:
        return None
    return _canonical(m.group("g"), m.group("s"))


def stage_group(stage: str) -> str:
    """The main group of a stage: "IIIB" → "III", "IA2" → "I", "0is" → "0".

    Accepts anything :func:`normalize_stage` accepts. Raises ValueError otherwise.
    """
    canonical = normalize_stage(stage)
    if canonical is None:
        raise ValueError(f"not an AJCC stage: {stage!r}")
    return _GROUP[canonical]


def substages(stage: str) -> frozenset[str]:
    """A stage and every sub-stage under it: "IIIC" → {IIIC, IIIC1, IIIC2}.

    Raises ValueError if ``stage`` is not a stage.
    """
    canonical = normalize_stage(stage)
    if canonical is None:
        raise ValueError(f"not an AJCC stage: {stage!r}")
    return _SUBSTAGES[canonical]


def _span(lo: int, hi: int) -> set[str]:
    if lo > hi:
        lo, hi = hi, lo
    return set(STAGE_ORDER[lo : hi + 1])


def _complete(stages: set[str]) -> frozenset[str]:
    """Drop group ids whose sub-stages are not all present."""
    return frozenset(s for s in stages if _SUBSTAGES[s] <= stages)


@dataclass
class _Expr:
    stages: set[str]
    end: int
    items: int
    has_sub: bool
    has_cmp: bool


def _match_token(t: str, pos: int, digits: bool) -> tuple[str, int, bool] | None:
    for rx in (_STAGE_RE, _STAGE_ARABIC_RE) if digits else (_STAGE_RE,):
        m = rx.match(t, pos)
        if m:
            stage = _canonical(m.group("g"), m.group("s"))
            if stage is not None:
                return stage, m.end(), m.group("s") is not None
    return None


def _apply_cmp(op: str, stage: str) -> set[str]:
    if op == "ge":
        return _span(_INDEX[stage], len(STAGE_ORDER) - 1)
    if op == "gt":
        return (
            _span(_INDEX[_LAST[stage]] + 1, len(STAGE_ORDER) - 1)
            if _LAST[stage] != STAGE_ORDER[-1]
            else set()
        )
    if op == "le":
        return _span(0, _INDEX[_LAST[stage]])
    return _span(0, _INDEX[stage] - 1) if _INDEX[stage] > 0 else set()  # lt


def _scan(t: str, pos: int, digits: bool, op: str | None = None) -> _Expr | None:
    """Parse one stage expression of lower-cased ``t`` starting at ``pos``."""
    m = _CMP.match(t, pos)
    if m:
        op = _CMP_OPS[m.group("op")]
        pos = m.end()
    first = _match_token(t, pos, digits)
    if first is None:
        return None
    stage, pos, has_sub = first
    out: set[str] = set()
    prev = stage
    pending_range = False
    items = 1
    collected = [stage]
    while True:
        rng = _RANGE_SEP.match(t, pos)
        lst = None if rng else _LIST_SEP.match(t, pos)
        sep = rng or lst
        if not sep:
            break
        nxt = _match_token(t, sep.end(), digits)
        if nxt is None:
            break
        stage, pos, sub = nxt
        has_sub = has_sub or sub
        items += 1
        if rng:
            out |= _span(_INDEX[prev], _INDEX[_LAST[stage]])
            pending_range = True
        else:
            if not pending_range:
                out |= _SUBSTAGES[prev]
            pending_range = False
        prev = stage
        collected.append(stage)
    if not pending_range:
        out |= _SUBSTAGES[prev]
    if op is not None:
        # "≥ IIIB", "< III": the comparator defines the set for a single stage
        cmp_set = _apply_cmp(op, collected[0])
        out = cmp_set if items == 1 else out | cmp_set
    tail = _TAIL_GE.match(t, pos)
    if tail:
        out |= _apply_cmp("ge", collected[-1])
        pos, op = tail.end(), op or "ge"
    else:
        tail = _TAIL_LE.match(t, pos)
        if tail:
            out |= _apply_cmp("le", collected[-1])
            pos, op = tail.end(), op or "le"
    return _Expr(out, pos, items, has_sub, op is not None)


def parse_stage(text: str) -> frozenset[str]:
    """The AJCC stage groups a criterion or patient phrase covers, sub-stages included.

    Handles ranges ("IIIB–IV", "stages II-III", "IIB to IIIA"), lists ("stage III or IV",
    "IIIB/IV", "stage IIIB, IIIC or IV"), comparators ("≥ IIIB", "stage IIIB or higher",
    "up to stage II"), arabic numerals after "stage" ("stage 4", "stage 3B") or alone
    ("3B"), several mentions in one text ("locally advanced (stage IIIB) or metastatic
    (stage IV)"), and en/em dashes. Roman numerals without the word "stage" count only
    when unambiguous (a sub-stage "IIIB", a list/range "III/IV", a comparator) and not
    after "phase"/"grade"/"class"/… — "IV chemotherapy" or "phase I/II" give nothing.

    Returns an empty set when no stage is found. Never raises.
    """
    if not text:
        return frozenset()
    t = _fold(text)
    stripped = t.strip()
    # the whole text is one stage expression ("3B", "IIIB-IV", "≥ IIIB", "stage 4")
    lead = _FILLER.match(stripped, 0)
    start = lead.end() if lead else 0
    anchor = _ANCHOR.match(stripped, start)
    if anchor:
        lead = _FILLER.match(stripped, anchor.end())
        start = lead.end() if lead else anchor.end()
    whole = _scan(stripped, start, digits=True)
    if (whole is not None and not stripped[whole.end :].strip(" .,;:)]-")) or (
        whole is not None
        and re.fullmatch(r"[\s.,;:)\]]*(?:disease|cancer)?[\s.,;:)\]]*", stripped[whole.end :])
    ):
        return _complete(whole.stages)

    found: set[str] = set()
    consumed: list[tuple[int, int]] = []
    for anchor in _ANCHOR.finditer(t):
        lead = _FILLER.match(t, anchor.end())
        pos = lead.end() if lead else anchor.end()
        before = t[max(0, anchor.start() - 40) : anchor.start()]
        op = None
        cmp_before = re.search(
            r"(≥|>=|=>|≤|<=|=<|>|<|at least|up to|no higher than|greater than or equal to)\s*$",
            before,
        )
        if cmp_before:
            op = _CMP_OPS.get(cmp_before.group(1))
        expr = _scan(t, pos, digits=True, op=op)
        if expr is not None:
            found |= expr.stages
            consumed.append((anchor.start(), expr.end))

    for m in _UPPER_ROMAN.finditer(text):
        if any(a <= m.start() < b for a, b in consumed):
            continue
        if _NOT_STAGE_BEFORE.search(t[max(0, m.start() - 20) : m.start()]):
            continue
        cmp_before = re.search(r"(≥|>=|=>|≤|<=|=<|>|<)\s*$", t[max(0, m.start() - 5) : m.start()])
        op = _CMP_OPS.get(cmp_before.group(1)) if cmp_before else None
        expr = _scan(t, m.start(), digits=False, op=op)
        if expr is None:
            continue
        if expr.items >= 2 or expr.has_sub or expr.has_cmp:
            found |= expr.stages
            consumed.append((m.start(), expr.end))
    return _complete(found)


def stage_in(patient_stage: str, allowed: Iterable[str]) -> bool | None:
    """Whether a patient's stage satisfies an allowed set (from :func:`parse_stage`).

    ``True`` when every sub-stage the patient's stage may be is allowed ("IIIB" in
    {IIIB…IVC}; "IV" in {IV, IVA, IVB, IVC}); ``False`` when none is ("IB" vs {IIIB…});
    ``None`` when it depends on an unknown sub-stage (patient "III" vs {IIIB…IVC}) or the
    patient's stage cannot be read. ``allowed`` entries are expanded to their sub-stages,
    so {"III"} allows "IIIB". A patient sub-stage this grammar does not list ("IIIC3")
    is read as its nearest listed parent ("IIIC"). An empty ``allowed`` gives False.
    """
    canonical = normalize_stage(patient_stage)
    if canonical is None:
        token = _fold(patient_stage).strip()
        token = re.sub(r"^(?:ajcc\s+)?(?:(?:clinical|pathologic(?:al)?)\s+)?stage\s*", "", token)
        while token and canonical is None:
            token = token[:-1]
            canonical = normalize_stage(token) if token else None
        if canonical is None:
            return None
    expanded: set[str] = set()
    for a in allowed:
        norm = a if a in _INDEX else normalize_stage(a)
        if norm is not None:
            expanded |= _SUBSTAGES[norm]
    if not expanded:
        return False
    possible = _SUBSTAGES[canonical]
    if possible <= expanded:
        return True
    if not (possible & expanded):
        return False
    return None
