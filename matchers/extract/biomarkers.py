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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from matchers.extract.common import (
    CMP_BOUND,
    NUM,
    CriterionText,
    conditional_subject,
    parse_comparator,
    parse_number,
    polarity,
)
from matchers.models import BiomarkerFact
from matchers.pipeline import Term
from matchers.rules import Rules

__all__ = ["extract_biomarkers", "her2_categories_from_text"]

_HER2_NEG = ("zero", "ultralow", "low")

# status words right after a marker ("-", "+", "positive", "mutation", ...)
_AFTER = re.compile(
    r"""\s*(?:[-:]\s*|\s)?(?:\((?:[A-Za-z0-9/ -]{1,25})\)\s*)?
    (?:(?:gene|protein|receptor|receptors|status|expression|tumou?rs?|disease|cancer|nsclc)\s*(?:is\s+|of\s+|:\s*)?)?
    (?:by\s+\w+\s+)?
    (?:exons?\s*\d{1,2}(?:\s*(?:or|and|/|,|-)\s*\d{1,2})*\s+)?
    (?:(?:activating|sensiti[sz]ing|driver|oncogenic|genomic|actionable|targetable|somatic|germline|
        pathogenic|deleterious|likely\s+pathogenic|gene|genetic|known|documented|point|kinase|domain|
        resistance|hotspot)\s+){0,3}
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
    )""",
    re.X | re.I,
)
_BEFORE = re.compile(
    r"""(?P<st>positive\s+for|negative\s+for|activating|sensiti[sz]ing|driver|actionable|oncogenic|
        mutated|mutant|amplified|rearranged|wild[- ]?type|known|documented|confirmed|
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


def _status(word: str, marker: str) -> str | None:
    w = word.lower().strip()
    if w in ("+",):
        return "positive"
    if w == "-":
        return "negative"
    if re.match(
        r"mutations?[- ]negative|fusion[- ]negative|rearrangement[- ]negative"
        r"|amplification[- ]negative|non-?amplified|not\s+amplified",
        w,
    ):
        return "negative"
    if re.match(r"mutations?[- ]positive", w):
        return "mutated"
    if re.match(r"(?:fusion|rearrangement)[- ]positive", w):
        return "rearranged"
    if re.match(r"wild[- ]?type|wt$", w):
        return "wild_type"
    if re.match(r"positiv|pos$|over-?express|expressing$", w):
        return "positive"
    if re.match(r"negativ|neg$|null$", w):
        return "negative" if w != "null" else "zero"
    if re.match(r"amplifi", w):
        return "amplified"
    if re.match(r"mutat|mutant|alteration|altered|variant|deletion|insertion", w):
        return "mutated"
    if re.match(r"rearrange|fusion|transloca", w):
        return "rearranged"
    if re.match(r"ultra-?low", w):
        return "ultralow"
    if w == "low":
        return "low"
    if w == "zero":
        return "zero"
    if w == "high":
        return "positive"
    if re.match(r"expression|expressed", w):
        return "expressed"
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
    c: CriterionText, rules: Rules, variants_marker: Mapping[str, str]
) -> list[BiomarkerFact]:
    """Biomarker facts of criterion ``c``. ``variants_marker`` maps a variant id to
    its marker id (from the ontology). See the module docstring."""
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
    for i, t in enumerate(markers):
        if any(cs <= t.start and t.end <= ce for cs, ce in covered):
            continue
        rel_s, rel_e = t.start - base, t.end - base
        marker = t.codes[0]
        st, st_end = _status_after(body, rel_e, marker)
        if st is None:
            st, st_start = _status_before(body, rel_s)
            if st is not None:
                resolved.append((t, st, base + st_start, t.end, None))
                for p in pending:
                    resolved.append((p, st, p.start, p.end, None))
                pending = []
                continue
        if st is not None:
            resolved.append((t, st, t.start, base + st_end, None))
            for p in pending:
                resolved.append((p, st, p.start, p.end, None))
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
        st_after, st_end = _status_after(body, v.end - base, mk)
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

    for t, st, s, e, var in resolved:
        marker = (
            t.codes[0]
            if t.label == "BIOMARKER"
            else (variants_marker.get(t.codes[0]) or t.codes[0])
        )
        while e > s and c.text[e - 1].isspace():
            e -= 1
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


def _status_after(body: str, pos: int, marker: str) -> tuple[str | None, int]:
    m = _AFTER.match(body, pos)
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
    st = _status(word, marker)
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
    window = body[max(0, pos - 40) : pos]
    m = _BEFORE.search(window)
    if m is None:
        return None, pos
    w = m.group("st").lower()
    start = pos - len(window) + m.start("st")
    # a following "mutation" word confirms mutation words
    if w.startswith("positive"):
        return "positive", start
    if w.startswith("negative"):
        return "negative", start
    if w.startswith(
        ("mutated", "mutant", "activating", "sensiti", "driver", "actionable", "oncogenic")
    ):
        return "mutated", start
    if w.startswith("amplified"):
        return "amplified", start
    if w.startswith("rearranged"):
        return "rearranged", start
    if w.startswith("wild"):
        return "wild_type", start
    return None, pos


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
