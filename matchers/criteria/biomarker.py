"""Biomarker requirements: status, variant, HER2 categories, PD-L1 scores.

Markers and variants come from the ontology (``BIOMARKER``/``VARIANT`` terms). A
marker mention becomes a fact only with a status read next to it:

* after it: "HER2-positive", "ER+", "EGFR mutation", "ALK rearrangement/fusion",
  "KRAS wild-type", "HER2 amplification", "HER2-low", "EGFR mutation-negative";
* before it: "positive for ER", "activating EGFR mutation", "mutated KRAS";
* shared by a list: "without EGFR, ALK or ROS1 driver mutations" (one fact per marker,
  each negated), "ER and PR negative";
* a variant implies its marker and status ``mutated``: "KRAS G12C", "BRAF V600E",
  "EGFR exon 19 deletion or L858R", "T790M";
* "triple-negative"/"TNBC" → ER, PR and HER2 negative (three facts, one span);
* HER2 IHC/ISH detail ("HER2-positive (IHC 3+ or IHC 2+ with ISH positive)", "HER2-
  negative (IHC 0, 1+, 2+/ISH-)", "HER2 IHC 1+ or 2+/ISH-") sets ``her2_categories``
  through :func:`ontologies.biomarkers.her2_category` (ASCO/CAP 2023); a bare status
  maps positive → {positive}, negative → {zero, ultralow, low}, low → {low};
* PD-L1: "TPS ≥ 50%", "CPS ≥ 10", "PD-L1 expression ≥ 1%", "PD-L1 negative (TPS <
  1%)" → ``score`` and ``threshold``/``threshold_max``.

"negative" is a status, not a negation: "HER2-negative" is ``status="negative"``,
never a negated HER2-positive. Text negation ("no", "without", "must not have") sets
``negated``; a mention under a condition ("patients with EGFR mutation must have
received …") or permission is not a requirement.

**Patient side** (:func:`read_biomarkers`) — ``profile.biomarkers`` (marker → result)
resolved to per-marker results (:class:`MarkerResult`), the HER2 category per ASCO/CAP
2023 (:func:`ontologies.biomarkers.her2_category`: HER2-low = IHC 1+ or IHC 2+/ISH−;
HER2-positive = IHC 3+ or ISH amplified; zero/ultralow/low are all HER2-negative),
hormone-receptor status (HR+ if ER or PR positive, ASCO/CAP 2020: ≥ 1 % staining), PD-L1
TPS/CPS as closed ranges ("<1%" → [0, 0.999]); group markers (BRCA = BRCA1/BRCA2, RAS =
KRAS/NRAS/HRAS) altered if any member is, not altered if every member is known not to be.
A marker not listed is unknown.

**Comparison** (:func:`compare_biomarker`) — the fact's status (and variant, HER2
categories, score threshold) against the patient's result; biomarkers of different
markers in one criterion combine by the connectors written between them
(:func:`combine_biomarkers`; ``ParsedCriterion.biomarker_joins``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import (
    CMP_BOUND,
    NUM,
    CriterionText,
    compiled_per_rules,
    conditional_subject,
    parse_comparator,
    parse_number,
    polarity,
)
from matchers.logic import Tri, and_, or_
from matchers.models import BiomarkerFact, Fact, ParsedCriterion
from matchers.pipeline import Term
from matchers.rules import BiomarkerRules, Rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile
    from ontologies import Ontology

__all__ = [
    "CATEGORY",
    "HER2_NEGATIVE",
    "MarkerResult",
    "PatientBiomarkers",
    "combine_biomarkers",
    "compare_biomarker",
    "extract_biomarkers",
    "her2_categories_from_text",
    "read_biomarkers",
]

_HER2_NEG = ("zero", "ultralow", "low")

_AFTER_GRAMMAR = (
    r"""\s*(?:[-:]\s*|\s)?(?:\((?:[A-Za-z0-9/ -]{{1,25}})\)\s*)?
    (?:(?:gene|protein|receptor|receptors|status|expression|tumou?rs?|disease|cancer|nsclc)\s*(?:is\s+|of\s+|:\s*)?)?
    (?:by\s+\w+\s+)?
    (?:exons?\s*\d{{1,2}}(?:\s*(?:or|and|/|,|-)\s*\d{{1,2}})*\s+)?
    (?:(?:{qualifiers})\s+){{0,3}}
    (?P<st>
        mutation[s]?[- ]negative|mutation[s]?[- ]positive|fusion[- ]positive|fusion[- ]negative
      | rearrangement[- ]positive|rearrangement[- ]negative|amplification[- ]negative
      | non-?amplified|not\s+amplified|wild[- ]?type|wt\b
      | positive|positivity|pos\b|negative|negativity|neg\b
      | over-?expressi(?:on|ng)|over-?expressed|amplifi(?:ed|cation)s?|amplified
      | mutation[s]?|mutant|mutated|mutational|alteration[s]?|altered|variant[s]?
      | deletion[s]?|insertion[s]?
      | rearrangement[s]?|rearranged|fusion[s]?|translocation[s]?|translocated
      | ultra-?low|low\b|zero\b|null\b|high\b|expressing|expression|expressed
      | \+(?!\s*\d)|-(?=\s|$|[,;/)]|\s*(?:and|or)\b)
    )"""
)
"""The status words right after a marker ("-", "+", "positive", "mutation", …); the
mutation qualifiers in between come from ``biomarker.toml``."""
_BEFORE = re.compile(
    r"""(?P<st>positive\s+for|negative\s+for|activating|sensiti[sz]ing|driver|actionable|oncogenic|
        mutated|mutant|amplified|rearranged|wild[- ]?type|known|documented|confirmed|
        (?:mutations?|alterations?|variants?|rearrangements?|fusions?|amplifications?)
            \s+(?:in|of|involving)|
        (?:any\s+)?(?:other\s+)?(?:targetable|known))\s+(?:(?:\w+\s+){0,2})?$""",
    re.X | re.I,
)
_LIST_SEP = re.compile(
    r"^\s*(?:,\s*(?:and\s+|or\s+|and/or\s+)?|/|\s+or\s+|\s+and\s+|\s+and/or\s+|\s+nor\s+|,?\s*or\s+)\s*$",
    re.I,
)
_TRIPLE_NEG = re.compile(r"\btriple[- ]?negative\b|\bTNBC\b|\bER-?/PR-?/HER2-?\s*negative\b", re.I)
_IHC = re.compile(
    r"(?:IHC\s*(?:score\s*)?(?:of\s*)?)?(?P<ihc>[0-3]\s*\+|0(?!\s*[.%\d])|≥\s*2\s*\+|>=\s*2\s*\+)"
    r"(?:\s*(?:/|and|with|,)?\s*(?:(?:ISH|FISH|SISH|CISH|DISH)\s*[- ]?\s*"
    r"(?P<ish>positive|negative|non-?amplified|amplified|\+|-|neg|pos)"
    r"|(?P<ish2>negative|positive)\s+(?:by\s+)?(?:ISH|FISH|SISH|CISH)))?",
    re.I,
)
_ISH_ONLY = re.compile(
    r"(?:ISH|FISH|SISH|CISH)\s*[- ]?\s*(?P<ish>positive|negative|non-?amplified|amplified|\+|-)"
    r"|(?P<ish2>amplified|non-?amplified)\s+(?:by\s+)?(?:ISH|FISH)",
    re.I,
)
_PDL1_SCORE = re.compile(
    rf"""(?P<score>TPS|tumou?r\s+proportion\s+score|CPS|combined\s+positive\s+score|
        \bTC\b|tumou?r\s+cells?|\bIC\b|immune\s+cells?)?\s*(?:\(\w+\)\s*)?(?:score\s*)?(?:of\s+)?
        (?P<cmp>{CMP_BOUND})\s*(?P<num>{NUM})\s*%?
        (?:\s*(?:\(|by\s+|on\s+|using\s+)?\s*(?P<score2>TPS|CPS|tumou?r\s+proportion\s+score|combined\s+positive\s+score|tumou?r\s+cells?|immune\s+cells?))?""",
    re.X | re.I,
)
_SCORE_ALONE = re.compile(
    rf"(?<![\w-])(?P<score>TPS|CPS|tumou?r\s+proportion\s+score|combined\s+positive\s+score)\s*(?:\(\w+\)\s*)?(?:score\s*)?(?:of\s+)?(?P<cmp>{CMP_BOUND})\s*(?P<num>{NUM})\s*%?",
    re.X | re.I,
)
_CLAUSE_BREAK = re.compile(r"[;.]\s|\n\s*\n")
# receptor statuses written as compounds the tokenizer keeps whole: "HR+/HER2-",
# "HR+/ HER2-", "ER+/PR+/HER2-", "ER+ HER2-" (the PhraseMatcher sees no marker there)
_RECEPTOR = re.compile(
    r"(?<![A-Za-z0-9])(?P<m>ER|PR|PgR|HR|HER-?2|Her-?2|her2)\s?"
    r"(?P<s>\+|-|−|positive|negative|pos\b|neg\b)"
    r"(?=\s|$|[/,;:)\]]|\s*(?:and|or)\b)"
)
_RECEPTOR_ID = {"ER": "ER", "PR": "PR", "PGR": "PR", "HR": "HR"}


@compiled_per_rules
def _status_table(rules: BiomarkerRules) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(row.pattern, re.I), row.status) for row in rules.status)


@compiled_per_rules
def _mention_cues(rules: BiomarkerRules) -> tuple[re.Pattern[str], re.Pattern[str],
                                                  re.Pattern[str]]:
    """(optional-before, testing-after, testing-before) patterns; the "before" ones are
    anchored at the mention's start (searched in a window ending there)."""
    def alt(parts: tuple[str, ...]) -> str:
        return "(?:" + "|".join(parts) + ")"

    return (re.compile(alt(rules.optional_before) + r"$", re.I),
            re.compile(alt(rules.testing_after), re.I),
            re.compile(alt(rules.testing_before) + r"$", re.I))


@compiled_per_rules
def _after_rx(rules: BiomarkerRules) -> re.Pattern[str]:
    return re.compile(_AFTER_GRAMMAR.format(qualifiers="|".join(rules.mutation_qualifiers)),
                      re.X | re.I)


def _status(word: str, rules: BiomarkerRules) -> str | None:
    """The status a status word reads as (``biomarker.toml``: the first matching row)."""
    w = word.lower().strip()
    for pattern, status in _status_table(rules):
        if pattern.match(w):
            return status
    return None


def her2_categories_from_text(detail: str) -> tuple[str, ...]:
    """HER2 categories named by an IHC/ISH detail such as "IHC 3+ or IHC 2+ with ISH
    positive" or "IHC 0, 1+, 2+/ISH-" (ASCO/CAP 2023 via
    :func:`ontologies.biomarkers.her2_category`); empty if none is readable."""
    from ontologies.biomarkers import her2_category

    cats: list[str] = []
    found = False
    for m in _IHC.finditer(detail):
        ihc = re.sub(r"\s+", "", m.group("ihc"))
        ish_raw = (m.group("ish") or m.group("ish2") or "").lower()
        ish: str | None = None
        if ish_raw:
            ish = (
                "negative"
                if ish_raw in ("negative", "-", "neg") or "non" in ish_raw
                else "positive"
            )
        ihc_vals = ["2+", "3+"] if ihc.startswith((">=", "≥")) else [ihc]
        for v in ihc_vals:
            if v == "2+" and ish is None:
                # "2+" alone: equivocal, resolved by ISH elsewhere in the detail
                later = _ISH_ONLY.search(detail, m.end())
                if later is not None:
                    raw = (later.group("ish") or later.group("ish2") or "").lower()
                    ish = "negative" if raw in ("negative", "-") or "non" in raw else "positive"
            cat = her2_category(v, ish)
            found = True
            if cat is not None and cat not in cats:
                cats.append(cat)
    if not found:
        m2 = _ISH_ONLY.search(detail)
        if m2 is not None:
            raw = (m2.group("ish") or m2.group("ish2") or "").lower()
            if raw in ("positive", "+", "amplified", "pos"):
                cats.append("positive")
    return tuple(cats)


def _her2_cats(status: str, detail: str) -> tuple[str, ...]:
    """HER2 categories of a HER2 status. A status word decides (negative → zero,
    ultralow and low: the IHC/ISH detail after "HER2-negative" only illustrates it);
    the detail decides when there is no status word, and narrows "low"."""
    base: tuple[str, ...] = {
        "positive": ("positive",),
        "amplified": ("positive",),
        "negative": _HER2_NEG,
        "wild_type": _HER2_NEG,
        "low": ("low",),
        "ultralow": ("ultralow",),
        "zero": ("zero",),
    }.get(status, ())
    if base and status != "low":
        return base
    detailed = her2_categories_from_text(detail) if detail else ()
    if status == "low":
        if detailed and set(detailed) <= {"low", "ultralow"}:
            return tuple(c for c in ("ultralow", "low") if c in detailed)
        return base
    return detailed


def _dedupe(terms: Sequence[Term]) -> list[Term]:
    out: list[Term] = []
    for t in terms:
        if any(
            o.start <= t.start and t.end <= o.end and (o.start, o.end) != (t.start, t.end)
            for o in terms
        ):
            continue
        if out and (out[-1].start, out[-1].end) == (t.start, t.end):
            continue
        out.append(t)
    return out


def extract_biomarkers(
    c: CriterionText, rules: Rules, variants_marker: Mapping[str, str],
    status_names: Mapping[str, tuple[str, str]] | None = None,
) -> list[BiomarkerFact]:
    """Biomarker facts of criterion ``c``. ``variants_marker`` maps a variant id to
    its marker id (from the ontology); ``status_names`` maps a lower-case marker name
    that says its result ("MSI-H", "dMMR", "MSS") to (marker, status)
    (:meth:`ontologies.biomarkers.BiomarkerVocab.status_names`). See the module
    docstring."""
    body = c.body
    base = c.start
    facts: list[BiomarkerFact] = []
    markers = _dedupe(c.terms_of("BIOMARKER"))
    variants = _dedupe(c.terms_of("VARIANT"))
    covered: list[tuple[int, int]] = []

    # triple negative
    for m in _TRIPLE_NEG.finditer(body):
        s, e = base + m.start(), base + m.end()
        neg, keep, exc = _pol(c, s, e)
        if not keep:
            continue
        triple: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("ER", ()),
            ("PR", ()),
            ("HER2", _HER2_NEG),
        )
        for tn_marker, tn_cats in triple:
            facts.append(
                BiomarkerFact(
                    span=(s, e),
                    text=c.text[s:e],
                    negated=neg,
                    exception=exc,
                    marker=tn_marker,
                    status="negative",
                    her2_categories=tn_cats,
                )
            )
        covered.append((s, e))

    # receptor compounds ("HR+/ HER2-", "ER+/HER2-"): only where no other fact sits
    for m in _RECEPTOR.finditer(body):
        s, e = base + m.start(), base + m.end()
        if any(cs < e and s < ce for cs, ce in covered):
            continue
        word = m.group("m").upper().replace("-", "")
        rid = "HER2" if word.startswith("HER") else _RECEPTOR_ID[word]
        st = m.group("s").lower()
        status = "positive" if st in ("+", "positive", "pos") else "negative"
        neg, keep, exc = _pol(c, s, e)
        if not keep:
            continue
        facts.append(
            BiomarkerFact(
                span=(s, e),
                text=c.text[s:e],
                negated=neg,
                exception=exc,
                marker=rid,
                status=status,
                her2_categories=(
                    (_HER2_NEG if status == "negative" else ("positive",))
                    if rid == "HER2"
                    else ()
                ),
            )
        )
        covered.append((s, e))

    # marker statuses (own or shared by a list)
    resolved: list[tuple[Term, str, int, int, str | None]] = []  # term, status, s, e, variant
    pending: list[Term] = []
    carry: tuple[str, int] | None = None  # a status read before a marker, and its end
    for i, t in enumerate(markers):
        if any(cs <= t.start and t.end <= ce for cs, ce in covered):
            continue
        rel_s, rel_e = t.start - base, t.end - base
        marker = t.codes[0]
        st, st_end = _status_after(body, rel_e, marker, rules.biomarker)
        if st is None:
            st, st_start = _status_before(body, rel_s)
            if st is not None:
                resolved.append((t, st, base + st_start, t.end, None))
                for p in pending:
                    resolved.append((p, st, p.start, p.end, None))
                pending = []
                carry = (st, t.end)
                continue
            if carry is not None and _LIST_SEP.match(body[carry[1] - base : rel_s]):
                # "mutation in BRCA1 and/or BRCA2": the status before the list's first
                # marker is the status of each marker of the list
                resolved.append((t, carry[0], t.start, t.end, None))
                carry = (carry[0], t.end)
                continue
        carry = None
        if st is not None:
            resolved.append((t, st, t.start, base + st_end, None))
            for p in pending:
                resolved.append((p, st, p.start, p.end, None))
            pending = []
            continue
        named = (status_names or {}).get(c.lower[t.start:t.end])
        if named is not None and named[0] == marker:
            resolved.append((t, named[1], t.start, t.end, None))
            pending = []
            continue
        if marker == "HER2":
            detail = _detail_window(body, rel_e)
            dcats = (
                her2_categories_from_text(detail[:60])
                if re.match(
                    r"\s*(?:status\s*:?\s*)?(?:\(?\s*)?(?:IHC|ISH|FISH|[0-3]\s*\+)", detail, re.I
                )
                else ()
            )
            if dcats:
                st_d = (
                    "positive"
                    if set(dcats) <= {"positive"}
                    else (
                        "low"
                        if set(dcats) <= {"low", "ultralow"}
                        else ("negative" if set(dcats) <= set(_HER2_NEG) else "expressed")
                    )
                )
                resolved.append((t, st_d, t.start, t.end, None))
                pending = []
                continue
        if marker == "PD-L1":
            sm2 = _PDL1_SCORE.match(body, rel_e)
            if sm2 is not None and sm2.end() - rel_e <= 40:
                resolved.append((t, "expressed", t.start, t.end, None))
                pending = []
                continue
        # no status: maybe part of a list whose status follows
        nxt = markers[i + 1] if i + 1 < len(markers) else None
        if nxt is not None and _LIST_SEP.match(body[rel_e : nxt.start - base]):
            pending.append(t)
        else:
            pending = []

    # variants (overlapping mentions of one variant merged: "KRAS G12C" + "G12C mutation")
    merged_v: list[Term] = []
    for v in sorted(variants, key=lambda t: (t.start, -t.end)):
        if merged_v and v.codes[0] == merged_v[-1].codes[0] and v.start < merged_v[-1].end:
            last = merged_v[-1]
            merged_v[-1] = Term(last.start, max(last.end, v.end), last.label, last.codes)
            continue
        merged_v.append(v)
    used_markers: set[int] = set()
    for v in merged_v:
        vid = v.codes[0]
        v_marker = variants_marker.get(vid)
        if v_marker is None:
            continue
        mk = v_marker
        st_after, st_end = _status_after(body, v.end - base, mk, rules.biomarker)
        absent = st_after in ("negative", "wild_type")
        # attach to a resolved mention of its marker just before, if it has no variant
        host = None
        for idx, (t, st, _s0, _e0, var0) in enumerate(resolved):
            if (
                t.codes[0] == mk
                and var0 is None
                and t.start <= v.start
                and v.start - t.end <= 40
                and st in ("mutated", "positive", "expressed")
            ):
                host = idx
                break
        s, e = v.start, v.end
        mk_term = None
        if host is not None:
            t, _st, s0, _e0, _var = resolved.pop(host)
            s = min(s0, v.start)
            mk_term = t
            used_markers.add(t.start)
        else:
            mk_term = next(
                (
                    t
                    for t in markers
                    if t.codes[0] == mk
                    and 0 <= v.start - t.end <= 25
                    and t.start not in used_markers
                ),
                None,
            )
            if mk_term is not None:
                s = mk_term.start
                used_markers.add(mk_term.start)
                resolved = [r for r in resolved if r[0] is not mk_term]
        if st_after is not None and st_end - (v.end - base) <= 25:
            e = max(e, base + st_end)
        status = "absent" if absent else "mutated"
        resolved.append((mk_term or v, status, s, e, vid))

    optional, test_after, test_before = _mention_cues(rules.biomarker)
    variant_ends = [(v.end, variants_marker.get(v.codes[0])) for v in variants]
    for t, st, s, e, var in resolved:
        marker = (
            t.codes[0]
            if t.label == "BIOMARKER"
            else (variants_marker.get(t.codes[0]) or t.codes[0])
        )
        while e > s and c.text[e - 1].isspace():
            e -= 1
        rs, re_ = s - base, e - base
        if optional.search(body, max(0, rs - 25), rs):
            continue  # "with or without T790M mutation": an option, no requirement
        if test_after.match(body, re_) or test_before.search(body, max(0, rs - 60), rs):
            continue  # "EGFR T790M central testing": the test's target, not a result
        if var is None and any(0 <= s - ve <= 2 and vm == marker for ve, vm in variant_ends):
            continue  # "T790M EGFR mutation": the variant's own fact says it
        neg, keep, exc = _pol(c, s, e)
        if not keep:
            continue
        if st == "absent":  # "EGFR T790M negative": the variant is absent
            st, neg = "mutated", not neg
        cats: tuple[str, ...] = ()
        score = None
        thr = thr_max = None
        if marker == "HER2":
            detail = _detail_window(body, e - base)
            cats = _her2_cats(st, detail)
            if st == "expressed" and not cats:
                continue
        if marker == "PD-L1":
            score, thr, thr_max, st, e = _pdl1(body, base, e, st)
        facts.append(
            BiomarkerFact(
                span=(s, e),
                text=c.text[s:e],
                negated=neg,
                exception=exc,
                marker=marker,
                status=st,
                variant=var,
                her2_categories=cats,
                score=score,
                threshold=thr,
                threshold_max=thr_max,
            )
        )

    # PD-L1 scores without a PD-L1 mention ("TPS ≥ 50%")
    if not any(f.marker == "PD-L1" for f in facts):
        pdl1_terms = [t for t in markers if t.codes[0] == "PD-L1"]
        for m in _SCORE_ALONE.finditer(body):
            s, e = base + m.start(), base + m.end()
            host_t = next((t for t in pdl1_terms if 0 <= s - t.end <= 20), None)
            if host_t is not None:
                s = host_t.start
            neg, keep, exc = _pol(c, s, e)
            if not keep:
                continue
            score = _score_name(m.group("score"))
            cmp = parse_comparator(m.group("cmp"))
            val = parse_number(m.group("num"))
            if cmp is None or val is None:
                continue
            thr, thr_max = (val, None) if cmp in (">=", ">") else (None, val)
            st = (
                "expressed"
                if thr is not None
                else "negative"
                if (thr_max or 0) <= 1
                else "expressed"
            )
            facts.append(
                BiomarkerFact(
                    span=(s, e),
                    text=c.text[s:e],
                    negated=neg,
                    exception=exc,
                    marker="PD-L1",
                    status=st,
                    score=score,
                    threshold=thr,
                    threshold_max=thr_max,
                )
            )
    facts.sort(key=lambda f: f.span)
    return facts


def _pol(c: CriterionText, s: int, e: int) -> tuple[bool, bool, str | None]:
    """(negated, keep, exception) for a biomarker mention. A "negative for" cue is a
    status, not a negation."""
    pol = polarity(c, s, e)
    if pol.drop or pol.permitted:
        return False, False, None
    if conditional_subject(c, s, e):
        return False, False, None
    neg = pol.negated
    if neg:
        sc = c.in_scope(s, e, "NEGATED_EXISTENCE")
        if sc is not None and c.lower[sc.cue_start : sc.cue_end].startswith("negative"):
            neg = pol.negated and c.in_scope(s, e, "EXCLUDED") is not None
    return neg, True, pol.exception


def _status_after(body: str, pos: int, marker: str,
                  rules: BiomarkerRules) -> tuple[str | None, int]:
    m = _after_rx(rules).match(body, pos)
    if m is None:
        return None, pos
    word = m.group("st")
    if (
        word in ("-", "+")
        and m.start("st") - pos > 1
        and not (word == "-" and body[pos : m.start("st")].strip() == "")
    ):
        return None, pos  # "+"/"-" must touch the marker ("ER+", "HER2-")
    if word == "+" and pos < len(body) and body[m.start("st") - 1 : m.start("st")].isdigit():
        return None, pos
    st = _status(word, rules)
    if st is None:
        return None, pos
    if (
        st in ("low", "zero", "ultralow")
        and marker != "HER2"
        and not (marker == "PD-L1" and st == "low")
    ):
        return None, pos
    end = m.end()
    # "mutation-positive", "rearrangement-negative" were matched whole; "mutation" alone
    # may be followed by "positive"/"negative"
    tail = re.match(r"[- ]?(positive|negative)\b", body[end : end + 12], re.I)
    if tail and st in ("mutated", "rearranged", "amplified", "expressed"):
        st = st if tail.group(1).lower() == "positive" else "negative"
        end += tail.end()
    return st, end


def _status_before(body: str, pos: int) -> tuple[str | None, int]:
    """The status stated before the marker at ``pos`` ("activating EGFR", "mutation in
    EGFR"), with its start; the nearest cue that names a status wins ("documented
    mutation in EGFR": "mutation in")."""
    window = body[max(0, pos - 40) : pos]
    at = 0
    while (m := _BEFORE.search(window, at)) is not None:
        st = _before_status(m.group("st").lower())
        if st is not None:
            return st, pos - len(window) + m.start("st")
        at = m.start() + 1
    return None, pos


def _before_status(w: str) -> str | None:
    # a following "mutation" word confirms mutation words
    if w.startswith("positive"):
        return "positive"
    if w.startswith("negative"):
        return "negative"
    if w.startswith(
        ("mutated", "mutant", "activating", "sensiti", "driver", "actionable", "oncogenic")
    ):
        return "mutated"
    if w.startswith(("mutation", "alteration", "variant")):
        # "germline mutation in BRCA1 or BRCA2" (NCT02000622), "known mutation of the IDH1
        # or IDH2 genes" (NCT03367715): the status word before the gene, joined by in/of
        return "mutated"
    if w.startswith(("amplified", "amplification")):
        return "amplified"
    if w.startswith(("rearranged", "rearrangement", "fusion")):
        return "rearranged"
    if w.startswith("wild"):
        return "wild_type"
    return None


def _detail_window(body: str, pos: int) -> str:
    """Up to the end of the clause after a HER2 status: the IHC/ISH detail if any."""
    stop = _CLAUSE_BREAK.search(body, pos)
    end = stop.start() if stop else len(body)
    return body[pos : min(end, pos + 120)]


def _score_name(s: str | None) -> str | None:
    if not s:
        return None
    t = s.lower()
    if "tps" in t or "proportion" in t:
        return "TPS"
    if "cps" in t or "combined" in t:
        return "CPS"
    if t.strip() == "tc" or "tumor cell" in t or "tumour cell" in t:
        return "TC"
    if t.strip() == "ic" or "immune" in t:
        return "IC"
    return None


def _pdl1(
    body: str, base: int, e: int, st: str
) -> tuple[str | None, float | None, float | None, str, int]:
    """Score type and threshold after a PD-L1 mention: (score, min, max, status, end)."""
    rel = e - base
    stop = _CLAUSE_BREAK.search(body, rel)
    w_end = min(stop.start() if stop else len(body), rel + 80)
    m = _PDL1_SCORE.search(body, rel, w_end)
    if m is None or re.search(r"\d", re.sub(r"\([^()]*\)", "", body[rel : m.start()])):
        return None, None, None, st, e
    score = _score_name(m.group("score") or m.group("score2"))
    cmp = parse_comparator(m.group("cmp"))
    val = parse_number(m.group("num"))
    if cmp is None or val is None:
        return score, None, None, st, e
    if cmp in (">=", ">"):
        thr, thr_max = val, None
        if st in ("negative",):
            return score, None, None, st, e
        st = st if st in ("positive", "expressed") else "expressed"
    else:
        thr, thr_max = None, val
        if st in ("positive", "expressed") and val <= 1:
            return score, None, None, st, e
    return score, thr, thr_max, st, base + m.end()


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": f"biomarker.{f.score.lower()}" if f.score
                                 else "biomarker.status"})
            for f in extract_biomarkers(c, ctx.rules, ctx.variants_marker, ctx.status_names)]


# --------------------------------------------------------------------------------------
# patient side
# --------------------------------------------------------------------------------------


class MarkerResult(BaseModel):
    """What is known of one biomarker for the patient.

    ``positive`` is the overall call: for a gene, altered (mutated, rearranged,
    amplified, deleted, loss); for a protein, expressed/positive. ``None`` = unknown.
    ``variants`` are variant ids known present (``exon19del``, ``G12C``, plus the
    derived groups ``common``/``sensitizing``/``rare`` for EGFR), ``absent_variants``
    those tested and not found. ``percent`` keeps a reported staining percentage
    (ER 90 %). ``germline`` is True for a germline result (gBRCA).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    marker: str
    positive: bool | None = None
    variants: frozenset[str] = frozenset()
    absent_variants: frozenset[str] = frozenset()
    amplified: bool | None = None
    rearranged: bool | None = None
    germline: bool | None = None
    percent: float | None = None
    raw: tuple[str, ...] = ()


_UNKNOWN_VALUE = re.compile(
    r"\b(unknown|pending|not (?:tested|done|assessed|performed|available)|equivocal"
    r"|indeterminate|n/?a|insufficient)\b",
    re.I,
)


_NEGATIVE_VALUE = re.compile(
    r"\b(negative|neg|not detected|undetected|wild[- ]?type|wt|not mutated|non-?mutated"
    r"|unmutated|no (?:mutation|alteration|amplification|fusion|rearrangement)s?"
    r"|absent|not amplified|non-?amplified|not expressed|intact|retained|none|mss"
    r"|microsatellite stable|stable|proficient|pmmr)\b",
    re.I,
)


_POSITIVE_VALUE = re.compile(
    r"\b(positive|pos|detected|mutated|mutation|mutant|present|amplified|amplification"
    r"|rearranged|rearrangement|fusion|over-?expressed|overexpression|expressed|deletion"
    r"|insertion|loss|deficient|altered|alteration|high|msi-h|msi-high|dmmr|unstable)\b|\+",
    re.I,
)


_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


_FALLBACK_VARIANTS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("EGFR", "exon19del", re.compile(r"exon\s*19\s*del|ex19\s*del|del\s*19|E746_A750", re.I)),
    ("EGFR", "L858R", re.compile(r"L858R", re.I)),
    ("EGFR", "exon20ins", re.compile(r"exon\s*20\s*ins|ex20\s*ins", re.I)),
    ("EGFR", "T790M", re.compile(r"T790M", re.I)),
    ("EGFR", "C797S", re.compile(r"C797S", re.I)),
    ("KRAS", "G12C", re.compile(r"G12C", re.I)),
    ("BRAF", "V600E", re.compile(r"V600E", re.I)),
)


_HER2_CATEGORY_WORDS = (
    ("ultralow", "ultralow"),
    ("ultra-low", "ultralow"),
    ("low", "low"),
    ("zero", "zero"),
    ("positive", "positive"),
    ("amplified", "positive"),
)


def _her2_category_word(text: str) -> str | None:
    """The HER2 category a result names by a whole word ("HER2-low", "ultralow",
    "amplified" → positive), or None."""
    low = text.lower()
    for word, cat in _HER2_CATEGORY_WORDS:
        if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", low):
            return cat
    return None


def _polarity(value: str | float | bool) -> bool | None:
    """True (altered/positive), False (negative/wild-type) or None (unknown)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    text = value.strip()
    if not text or _UNKNOWN_VALUE.search(text):
        return None
    if _NEGATIVE_VALUE.search(text) or text.endswith("-") or text in {"0", "0%"}:
        return False
    if _POSITIVE_VALUE.search(text):
        return True
    return None


def _score_range(value: str | float | bool) -> tuple[float, float] | None:
    """A PD-L1 TPS (%) or CPS value as a closed range.

    ``60`` → (60, 60); ``"<1%"`` → (0, 0.999); ``"1-49%"`` → (1, 49); ``"≥50%"`` →
    (50, 100); ``"negative"`` → (0, 0.999); ``"high"`` → (50, 100); else None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value), float(value)
    t = value.strip().lower().replace("≥", ">=").replace("≤", "<=")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%?\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*%?", t)
    if m:
        return float(m.group(1)), float(m.group(2))
    m = re.fullmatch(r"(<=|<|>=|>)\s*(\d+(?:\.\d+)?)\s*%?", t)
    if m:
        op, x = m.group(1), float(m.group(2))
        if op == "<":
            return 0.0, max(0.0, x - 0.001)
        if op == "<=":
            return 0.0, x
        if op == ">=":
            return x, 100.0
        return x + 0.001, 100.0
    m = re.search(r"(\d+(?:\.\d+)?)", t)
    if m:
        x = float(m.group(1))
        return x, x
    if re.search(r"negative|not expressed", t):
        return 0.0, 0.999
    if "high" in t:
        return 50.0, 100.0
    return None


def _detect_variants(marker: str, text: str, ontology: Ontology) -> set[str]:
    """Variant ids of ``marker`` named in ``text`` (ontology names; a few regexes as a
    safety net for spellings such as "E746_A750del")."""
    found: set[str] = set()
    vid = ontology.biomarkers.resolve_variant(text, marker)
    if vid:
        found.add(str(vid))
    low = text.lower()
    for var in ontology.biomarkers.variants_of(marker).values():
        for name in (var.id, *var.names):
            n = name.lower()
            if n and re.search(r"(?<![a-z0-9])" + re.escape(n) + r"(?![a-z0-9])", low):
                found.add(var.id)
                break
    for m, fid, pat in _FALLBACK_VARIANTS:
        if m == marker and pat.search(text):
            found.add(fid)
    return found


def _variant_groups(marker: str, variants: set[str], ontology: Ontology) -> set[str]:
    """``variants`` plus every variant group of ``marker`` that covers one of them
    (ontology ``variant_covers``: exon19del → common, sensitizing)."""
    vocab = ontology.biomarkers
    out = set(variants)
    for gid in vocab.variants_of(marker):
        try:
            covered = vocab.variant_covers(gid)
        except KeyError:
            continue
        if gid not in out and (covered - {gid}) & variants:
            out.add(gid)
    return out


def _marker_id(base: str, ontology: Ontology) -> str:
    resolved = ontology.biomarkers.resolve_marker(base)
    if resolved:
        return str(resolved)
    return base.upper()


def _split_key(key: str) -> tuple[list[str], str, bool | None]:
    """``"gBRCA1/2"`` → (["BRCA1", "BRCA2"], "", True); ``"HER2_IHC"`` → (["HER2"], "IHC",
    None); ``"PD-L1_TPS"`` → (["PD-L1"], "TPS", None)."""
    k = key.strip()
    germline: bool | None = None
    m = re.match(r"^g(?=[A-Z])", k)
    if m:
        germline, k = True, k[1:]
    m = re.match(r"^[ts](?=BRCA)", k)
    if m:
        germline, k = False, k[1:]
    parts = re.split(r"[_\s]+", k, maxsplit=1)
    base = parts[0]
    qual = parts[1].upper() if len(parts) > 1 else ""
    if "GERMLINE" in qual:
        germline, qual = True, qual.replace("GERMLINE", "").strip("_ ")
    if "SOMATIC" in qual:
        germline, qual = False, qual.replace("SOMATIC", "").strip("_ ")
    bases = [base]
    m2 = re.fullmatch(r"([A-Za-z]+)(\d)/(\d)", base)
    if m2:
        bases = [m2.group(1) + m2.group(2), m2.group(1) + m2.group(3)]
    return bases, qual, germline


def _normalize_biomarkers(
    raw: Mapping[str, str | float | bool], ontology: Ontology
) -> tuple[
    dict[str, MarkerResult], str | None, bool | None,
    tuple[float, float] | None, tuple[float, float] | None,
]:
    from ontologies.biomarkers import her2_category

    acc: dict[str, dict[str, Any]] = {}
    her2_ihc: str | None = None
    her2_ish: str | None = None
    her2_cat: str | None = None
    tps: tuple[float, float] | None = None
    cps: tuple[float, float] | None = None

    def slot(marker: str) -> dict[str, Any]:
        return acc.setdefault(
            marker,
            {"positive": None, "variants": set(), "absent": set(), "amplified": None,
             "rearranged": None, "germline": None, "percent": None, "raw": []},
        )

    for key, value in raw.items():
        bases, qual, germline = _split_key(key)
        text = str(value)
        for base in bases:
            marker = _marker_id(base, ontology)
            if qual in {"ASSAY", "METHOD", "CLONE", "PLATFORM", "DATE"}:
                continue
            if marker in {"PD-L1", "PDL1"} or base.upper().replace("-", "") == "PDL1":
                marker = "PD-L1"
                score_kind = qual or ("CPS" if "cps" in text.lower() else "TPS")
                rng = _score_range(value)
                if rng is not None:
                    if "CPS" in score_kind:
                        cps = rng
                    else:
                        tps = rng
                s = slot(marker)
                s["raw"].append(f"{key}: {text}")
                if rng is not None:
                    s["positive"] = rng[0] >= 1.0 if rng[0] >= 1.0 or rng[1] < 1.0 else None
                continue
            if marker == "HER2" or base.upper() in {"HER2", "ERBB2"}:
                marker = "HER2"
                if qual in {"IHC", ""} and re.search(r"[0-3]\s*\+|^\s*0\s*$", text):
                    her2_ihc = text
                elif qual in {"ISH", "FISH", "CISH", "SISH", "AMPLIFICATION"}:
                    her2_ish = text
                elif qual in {"CATEGORY", "STATUS", "", "IHC"}:
                    # (also a category word given as the IHC result: "ultralow"). A
                    # negative result ("not amplified", "negative") is HER2-negative
                    # whatever words it contains.
                    pol = _polarity(value)
                    cat_word = None if pol is False else _her2_category_word(text)
                    if cat_word is not None:
                        her2_cat = her2_cat or cat_word
                    elif pol is not None:
                        slot(marker)["positive"] = pol
                slot(marker)["raw"].append(f"{key}: {text}")
                continue
            s = slot(marker)
            s["raw"].append(f"{key}: {text}")
            if germline is not None:
                s["germline"] = germline
            pol = _polarity(value)
            qual_variants = _detect_variants(marker, qual, ontology) if qual else set()
            if qual_variants:
                if pol is True:
                    s["variants"] |= qual_variants
                    s["positive"] = True
                elif pol is False:
                    s["absent"] |= qual_variants
                continue
            if qual.startswith("AMP") or "AMPLIF" in qual:
                s["amplified"] = pol
                if pol:
                    s["positive"] = True
                continue
            if qual in {"FUSION", "REARRANGEMENT"}:
                s["rearranged"] = pol
                if pol:
                    s["positive"] = True
                continue
            variants = _detect_variants(marker, text, ontology)
            if variants and pol is not False:
                pol = True
                s["variants"] |= variants
            if pol is not None:
                s["positive"] = pol if s["positive"] is not True else True
            if pol and re.search(r"amplif", text, re.I):
                s["amplified"] = True
            if pol and re.search(r"fusion|rearrang|translocat", text, re.I):
                s["rearranged"] = True
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                s["percent"] = float(value)
                s["positive"] = value >= 1.0
            else:
                pm = _PERCENT.search(text)
                if pm:
                    s["percent"] = float(pm.group(1))

    if her2_ihc is not None or her2_ish is not None:
        computed = her2_category(her2_ihc, her2_ish)
        if computed is not None:
            her2_cat = str(computed)

    if her2_cat is not None:
        slot("HER2")["positive"] = her2_cat == "positive"
        if her2_cat == "positive":
            slot("HER2")["amplified"] = None

    markers: dict[str, MarkerResult] = {}
    for marker, s in acc.items():
        variants = _variant_groups(marker, set(s["variants"]), ontology)
        markers[marker] = MarkerResult(
            marker=marker,
            positive=s["positive"],
            variants=frozenset(variants),
            absent_variants=frozenset(s["absent"] - variants),
            amplified=s["amplified"],
            rearranged=s["rearranged"],
            germline=s["germline"],
            percent=s["percent"],
            raw=tuple(s["raw"]),
        )
    # Group markers (ontology ``members``: BRCA = BRCA1/BRCA2, RAS = KRAS/NRAS/HRAS, …):
    # altered if any member is, not altered if every member is known not to be.
    for gid in ontology.biomarkers.markers:
        if gid in markers:
            continue
        try:
            members = ontology.biomarkers.members(gid) - {gid}
        except KeyError:
            continue
        known = [markers[m] for m in members if m in markers]
        if not members or not known:
            continue
        pos: bool | None = None
        if any(k.positive for k in known):
            pos = True
        elif len(known) == len(members) and all(k.positive is False for k in known):
            pos = False
        markers[gid] = MarkerResult(
            marker=gid, positive=pos,
            germline=next((k.germline for k in known if k.germline is not None), None),
            raw=tuple(r for k in known for r in k.raw),
        )
    er = markers.get("ER")
    pr = markers.get("PR")
    hr: bool | None = None
    if (er and er.positive) or (pr and pr.positive):
        hr = True
    elif er and pr and er.positive is False and pr.positive is False:
        hr = False
    if "HR" in markers and markers["HR"].positive is not None:
        hr = markers["HR"].positive
    return markers, her2_cat, hr, tps, cps



class PatientBiomarkers(BaseModel):
    """The patient's biomarker results (see the module docstring). ``pdl1_tps`` /
    ``pdl1_cps`` are closed ranges ``(low, high)`` in percent / score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    markers: dict[str, MarkerResult] = Field(default_factory=dict)
    her2_category: str | None = None
    hr_positive: bool | None = None
    pdl1_tps: tuple[float, float] | None = None
    pdl1_cps: tuple[float, float] | None = None


def read_biomarkers(profile: PatientProfile, ontology: Ontology) -> PatientBiomarkers:
    """The patient's :class:`PatientBiomarkers` from ``profile.biomarkers``."""
    markers, her2, hr, tps, cps = _normalize_biomarkers(profile.biomarkers, ontology)
    return PatientBiomarkers(markers=markers, her2_category=her2, hr_positive=hr,
                             pdl1_tps=tps, pdl1_cps=cps)


# --------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------


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


def _fmt_range(lo: float, hi: float) -> str:
    return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"


def _her2_atom(f: BiomarkerFact, p: PatientBiomarkers) -> Atom:
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


def _score_atom(f: BiomarkerFact, p: PatientBiomarkers) -> Atom:
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
    value = and_([ok_lo, ok_hi])
    return Atom(f, value, f"{label} {_fmt_range(lo, hi)}",
                None if value is not None else f"exact {label}?", specificity=1.0)


def biomarker_value(f: BiomarkerFact, p: PatientBiomarkers) -> Atom:
    """The fact checked against the patient's biomarker results."""
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
        tn = and_(parts)
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


def combine_biomarkers(criterion: ParsedCriterion, atoms: Sequence[Atom]) -> Tri:
    """Positive biomarker atoms combined by the connectors written between them
    (:attr:`ParsedCriterion.biomarker_joins`; AND binds tighter than OR; no connectors:
    alternatives, OR)."""
    joins = criterion.biomarker_joins
    if not joins:
        return or_(a.value for a in atoms)
    segments: list[list[Tri]] = [[atoms[0].value]]
    for c, atom in zip(joins, atoms[1:], strict=True):
        if c == "or":
            segments.append([atom.value])
        else:
            segments[-1].append(atom.value)
    return or_(and_(seg) for seg in segments)



def compare_biomarker(f: BiomarkerFact, p: NormalizedPatient, ctx: CompareContext) -> Atom:
    """The fact checked against the patient's biomarkers (:func:`biomarker_value`)."""
    return biomarker_value(f, p.biomarkers)


CATEGORY = Category(
    name="biomarker",
    fact_type=BiomarkerFact,
    extract=_extract,
    compare=compare_biomarker,
    combine=combine_biomarkers,
    patient_part="biomarkers",
    reader=read_biomarkers,
    key=True,
    priority=1,
    rules_file="biomarker.toml",
    cases_file="biomarker.toml",
    module=__name__,
)
