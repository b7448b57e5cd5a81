"""Prior therapy: classes, drugs, number of lines, relation and setting.

A therapy mention (ontology ``THERAPY_CLASS``/``DRUG`` terms, plus the generic phrases
of ``matchers/rules/therapy.toml`` such as "prior therapy", "lines of systemic
therapy") becomes a :class:`~matchers.models.PriorTherapyFact` only when its clause
says it is *prior* therapy ("prior", "previously", "received", "treated with",
"progressed on", "refractory to", "lines of", "-naive", "untreated") and not
concomitant or planned therapy ("concurrent", "eligible for", "willing to receive",
"allergy to").

* relation: ``naive`` ("treatment-naive", "previously untreated", "naive to"),
  ``progressed`` ("progressed on/after", "refractory", "resistant", "failed"),
  ``intolerant``, else ``received``; "No prior X" / "must not have received X" is
  ``received`` with ``negated=True``;
* lines: "at least one prior line" (min 1), "≤ 2 prior lines" / "no more than two
  prior regimens" (max 2), "1-2 lines of chemotherapy" (1–2), "≥ 1 prior therapy";
* setting: "for metastatic disease", "in the advanced setting", "(neo)adjuvant";
* adjacent class words merge into the most specific class ("platinum-based
  chemotherapy" → platinum).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matchers.extract.common import CriterionText, compiled_per_rules, conditional_subject, polarity
from matchers.models import PriorTherapyFact
from matchers.rules import Rules, TherapyRules

if TYPE_CHECKING:
    from ontologies import Ontology

__all__ = ["extract_prior_therapy", "parse_lines"]

_WORDNUM = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "single": 1,
    "first": 1,
    "second": 2,
    "third": 3,
    "a": 1,
    "an": 1,
}
_NUMW = r"(?:\d{1,2}|one|two|three|four|five|six|single)"
_LINE = (
    r"(?:prior\s+|previous\s+|standard\s+|systemic\s+|chemotherapy\s+|treatment\s+|therapeutic\s+"
    r"|cytotoxic\s+|line(?:s)?\s+of\s+|different\s+|separate\s+|additional\s+)*"
    r"(?:lines?|regimens?|therapies|therapy|treatments?|courses?)"
)
_AT_LEAST = (
    r"at\s+least|a\s+minimum\s+of|minimum\s+of|≥|>=|=>|more\s+than|greater\s+than|>"
    r"|no\s+fewer\s+than|not\s+less\s+than"
)
_AT_MOST = (
    r"no\s+more\s+than|not\s+more\s+than|at\s+most|a\s+maximum\s+of|maximum\s+of|up\s+to|≤|<=|=<"
    r"|fewer\s+than|less\s+than|<|not\s+exceeding|max(?:imum)?"
)
_LINES_RX = re.compile(
    rf"""
    (?P<range>(?P<r1>{_NUMW})\s*(?:-|to|or|–)\s*(?P<r2>{_NUMW})\s+(?:\w+\s+){{0,3}}?{_LINE})
  | (?P<min>(?:{_AT_LEAST})\s*(?P<mn>{_NUMW})\s+(?:\w+[- ]?\w*\s+){{0,3}}?{_LINE})
  | (?P<max>(?:{_AT_MOST})\s*(?P<mx>{_NUMW})\s+(?:\w+[- ]?\w*\s+){{0,3}}?{_LINE})
  | (?P<ormore>(?P<om>{_NUMW})\s+or\s+more\s+(?:\w+\s+){{0,3}}?{_LINE})
  | (?P<orless>(?P<ol>{_NUMW})\s+or\s+(?:fewer|less)\s+(?:\w+\s+){{0,3}}?{_LINE})
    """,
    re.X | re.I,
)
_NAIVE_NO_CLASS = re.compile(
    r"\b(?:treatment|therapy|systemic(?:\s+therapy)?)[- ]na[iï]ve\b"
    r"|\bpreviously\s+untreated\b(?!\s+(?:brain|cns|central|metasta))",
    re.I,
)
_PREVIOUSLY_TREATED = re.compile(r"\b(?:previously|heavily)[- ]treated\b|\bpre-?treated\b", re.I)


def _n(word: str) -> int | None:
    w = word.lower()
    if w.isdigit():
        return int(w)
    return _WORDNUM.get(w)


def parse_lines(text: str) -> tuple[int | None, int | None, tuple[int, int] | None]:
    """``(min_lines, max_lines, span)`` of the first line-count phrase in ``text``
    ("at least 1 prior line" → (1, None); "no more than 2 prior regimens" → (None, 2);
    "1-2 lines" → (1, 2); strict "more than 1" → (2, None)). ``(None, None, None)``
    if there is none."""
    m = _LINES_RX.search(text)
    if m is None:
        return None, None, None
    span = (m.start(), m.end())
    if m.group("range"):
        a, b = _n(m.group("r1")), _n(m.group("r2"))
        if a is None or b is None or a > b:
            return None, None, None
        return a, b, span
    if m.group("min"):
        v = _n(m.group("mn"))
        if v is None:
            return None, None, None
        strict = re.match(r"(?:more|greater)\s+than|>(?!=)", m.group("min"), re.I)
        return (v + 1 if strict else v), None, span
    if m.group("max"):
        v = _n(m.group("mx"))
        if v is None:
            return None, None, None
        strict = re.match(r"(?:fewer|less)\s+than|<(?!=)", m.group("max"), re.I)
        return None, (v - 1 if strict else v), span
    if m.group("ormore"):
        v = _n(m.group("om"))
        return v, None, span
    if m.group("orless"):
        v = _n(m.group("ol"))
        return None, v, span
    return None, None, None


@dataclass(frozen=True, slots=True)
class _Compiled:
    progressed: re.Pattern[str]
    intolerant: re.Pattern[str]
    naive: re.Pattern[str]
    received: re.Pattern[str]
    not_prior: re.Pattern[str]
    settings: tuple[tuple[str, re.Pattern[str]], ...]
    generic: tuple[tuple[str, re.Pattern[str]], ...]


def _alt(words: tuple[str, ...]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


@compiled_per_rules
def _compiled(rules: TherapyRules) -> _Compiled:
    return _Compiled(
        progressed=re.compile(rf"\b(?:{_alt(rules.progressed_cues)})\b", re.I),
        intolerant=re.compile(rf"\b(?:{_alt(rules.intolerant_cues)})\b", re.I),
        naive=re.compile(rf"(?:{_alt(rules.naive_cues)})", re.I),
        received=re.compile(rf"\b(?:{_alt(rules.received_cues)})\b", re.I),
        not_prior=re.compile(rf"\b(?:{_alt(rules.not_prior_cues)})\b", re.I),
        settings=tuple(
            (name, re.compile(rf"\b(?:{_alt(words)})\b", re.I))
            for name, words in rules.settings.items()
        ),
        generic=tuple(
            (cls, re.compile(rf"(?<![\w-])(?:{_alt(words)})(?![\w-])", re.I))
            for cls, words in rules.generic_classes.items()
        ),
    )


@dataclass(slots=True)
class _Mention:
    start: int  # absolute
    end: int
    classes: list[str]
    drugs: list[str]
    generic: bool = False


_THERAPY_GATE = re.compile(
    r"therap|treat|regimen|chemo|agent|drug|lines?\b|na[iï]ve|cytotoxic|medication", re.I
)
_NOT_HISTORY = re.compile(
    r"\bcontracept\w*|\bbirth\s+control\b|\brecover\w*\s+from\b|\btoxicit(?:y|ies)\b|"
    r"\badverse\s+(?:events?|effects?)\b|\bside[\s-]+effects?\b|\bunresolved\b|\bwash-?out\b",
    re.I,
)
_WINDOW = re.compile(
    r"\bwithin\s+(?:the\s+)?(?:last\s+|past\s+|previous\s+)?\d+|\b\d+\s*(?:days?|weeks?|wks?|months?|hours?|half[\s-]lives)\s+"
    r"(?:of|prior|before|from|since|preceding)|\bin\s+the\s+(?:last|past|previous)\s+\d+|\bcurrently\s+(?:receiving|taking|on|using)\b|"
    r"\bongoing\b|\bconcurrent\w*\b",
    re.I,
)
_DOSE_OR_SITE = re.compile(
    r"[\s,(]*(?:\([^)]{0,40}\)\s*)?(?:(?:>|≥|<|≤|=|exceeding|greater\s+than|more\s+than|of\s+more\s+than)\s*\d[\d,.]*\s*"
    r"(?:mg|g|gy|cgy|units?|mcg)|(?:to|of|on|involving)\s+(?:the\s+|a\s+|any\s+)?(?!date|study|first|start|day|the\s+start)\w+)",
    re.I,
)
_SPECIFIC_AFTER = re.compile(
    r"\s*(?:\(\w+\)\s*)?(?:with|of|using|including|such\s+as|consisting\s+of|:|containing)\b", re.I
)


_CLAUSE = re.compile(r";|\.\s|\n\s*\n|:\s")


def extract_prior_therapy(
    c: CriterionText, rules: Rules, ontology: Ontology
) -> list[PriorTherapyFact]:
    """Prior-therapy facts of criterion ``c`` (one per therapy mention, sharing the
    clause's relation, lines and setting). See the module docstring."""
    comp = _compiled(rules.therapy)
    body = c.body
    base = c.start
    if not c.terms_of("THERAPY_CLASS", "DRUG") and not _THERAPY_GATE.search(body):
        return []  # no therapy named, no therapy word: nothing to read (fast path)
    if _NOT_HISTORY.search(body):
        return []  # contraception windows, recovery from toxicity: not therapy history
    mentions = _mentions(c, comp, ontology)
    if not mentions:
        # "previously treated", "treatment-naive", "previously untreated NSCLC" with no
        # therapy named: systemic therapy — unless a non-cancer condition is what was
        # treated ("HCV treatment-naive", "previously treated for hepatitis B")
        m = _PREVIOUSLY_TREATED.search(body) or _NAIVE_NO_CLASS.search(body)
        if m is None or any(
            -15 <= t.start - (base + m.end()) <= 30 or 0 <= (base + m.start()) - t.end <= 15
            for t in c.terms_of("CONDITION")
        ):
            return []
        mentions = [_Mention(base + m.start(), base + m.end(), ["systemic"], [], generic=True)]
    facts: list[PriorTherapyFact] = []
    for mt in mentions:
        rel_s, rel_e = mt.start - base, mt.end - base
        cs, ce = _clause(body, rel_s, rel_e)
        clause = body[cs:ce]
        local = body[max(cs, rel_s - 60) : min(ce, rel_e + 60)]
        if comp.not_prior.search(body[max(cs, rel_s - 40) : rel_s]) or re.match(
            r"[\s-]*(?:naive)?\s*(?:is|are)?\s*(?:planned|scheduled|required|indicated)",
            body[rel_e : rel_e + 25],
            re.I,
        ):
            continue
        mention_text = body[rel_s:rel_e]
        if mt.generic and _SPECIFIC_AFTER.match(body, rel_e):
            continue  # "previous treatment with X": X is the therapy (named or not)
        after = body[rel_e : min(ce, rel_e + 60)]
        if _WINDOW.search(
            body[max(cs, rel_s - 50) : min(ce, rel_e + 60)]
        ) and not comp.progressed.search(local):
            continue  # "chemotherapy within 4 weeks": a washout, not a history rule
        if _DOSE_OR_SITE.match(after):
            continue  # "doxorubicin > 350 mg/m2", "radiotherapy to the pelvis"
        naive = bool(
            re.match(r"[\s-]*(?:treatment|therapy)?[\s-]*na[iï]ve", after, re.I)
            or re.search(
                r"na[iï]ve\s+to\s+(?:[\w-]+\s+){0,3}$|(?:previously\s+)?untreated\s+(?:with\s+)?$",
                body[max(cs, rel_s - 40) : rel_s],
                re.I,
            )
            or re.search(r"na[iï]ve|untreated", mention_text, re.I)
        )
        received_cue = (
            comp.received.search(local) is not None or _PREVIOUSLY_TREATED.search(local) is not None
        )
        lines_min, lines_max, lspan = parse_lines(clause)
        if not (naive or received_cue or lspan is not None):
            continue
        pol = polarity(c, mt.start, mt.end)
        if pol.drop or pol.permitted or conditional_subject(c, mt.start, mt.end):
            continue
        relation = "received"
        negated = pol.negated
        if naive:
            relation = "naive"
            negated = False if not c.in_scope(mt.start, mt.end, "EXCLUDED") else pol.negated
        elif comp.progressed.search(local):
            relation = "progressed"
        elif comp.intolerant.search(local):
            relation = "intolerant"
        if negated and relation != "received":
            relation = (
                "received"  # "no progression on X" is too rare to model; read as not received
            )
            if comp.progressed.search(local):
                continue
        setting = None
        for name, rx in comp.settings:
            sm = rx.search(clause)
            if sm is not None and abs((cs + sm.start()) - rel_s) <= 120:
                setting = name
                break
        if lspan is not None and not (cs + lspan[0] - 15 <= rel_e and rel_s <= cs + lspan[1] + 40):
            lines_min = lines_max = None  # the line count belongs to another mention
        if negated:
            lines_min = lines_max = None
        s, e = mt.start, mt.end
        if lspan is not None and (lines_min is not None or lines_max is not None):
            s = min(s, base + cs + lspan[0])
            e = max(e, base + cs + lspan[1])
        while e > s and c.text[e - 1].isspace():
            e -= 1
        facts.append(
            PriorTherapyFact(
                span=(s, e),
                text=c.text[s:e],
                negated=negated,
                exception=pol.exception,
                classes=tuple(mt.classes),
                drugs=tuple(mt.drugs),
                min_lines=lines_min,
                max_lines=lines_max,
                relation=relation,
                setting=setting,
            )
        )
    return facts


def _clause(body: str, s: int, e: int) -> tuple[int, int]:
    start = 0
    for m in _CLAUSE.finditer(body, 0, s):
        start = m.end()
    m2 = _CLAUSE.search(body, e)
    return start, (m2.start() if m2 else len(body))


def _mentions(c: CriterionText, comp: _Compiled, ontology: Ontology) -> list[_Mention]:
    ther = ontology.therapies
    raw: list[_Mention] = []
    for t in c.terms_of("THERAPY_CLASS", "DRUG"):
        if re.match(
            r"[\s-]*(?:T[\s-]*(?:lymph|cell)|antigen|lymphocyte)", c.norm[t.end : t.end + 15], re.I
        ):
            continue  # "cytotoxic T-lymphocyte-associated antigen 4" is not chemotherapy
        if t.label == "THERAPY_CLASS":
            raw.append(
                _Mention(t.start, t.end, list(t.codes[:1]), [], generic=t.codes[0] == "systemic")
            )
        else:
            raw.append(_Mention(t.start, t.end, [], list(t.codes[:1])))
    body = c.body
    for cls, rx in comp.generic:
        if cls not in ther.classes:
            continue
        for gm in rx.finditer(body):
            s, e = c.start + gm.start(), c.start + gm.end()
            if any(
                r.start <= s < r.end or r.start < e <= r.end or (s <= r.start and r.end <= e)
                for r in raw
            ):
                continue
            raw.append(_Mention(s, e, [cls], [], generic=True))
    raw.sort(key=lambda m: (m.start, -m.end))
    # drop mentions inside longer ones
    kept: list[_Mention] = []
    for mt in raw:
        if kept and kept[-1].start <= mt.start and mt.end <= kept[-1].end:
            continue
        kept.append(mt)
    # merge adjacent class words ("platinum-based" + "chemotherapy")
    merged: list[_Mention] = []
    for mt in kept:
        if merged:
            prev = merged[-1]
            gap = c.norm[prev.end : mt.start]
            if len(gap) <= 2 and gap.strip(" -") == "":
                prev.end = mt.end
                prev.classes += [x for x in mt.classes if x not in prev.classes]
                prev.drugs += [x for x in mt.drugs if x not in prev.drugs]
                prev.generic = prev.generic and mt.generic
                continue
        merged.append(_Mention(mt.start, mt.end, list(mt.classes), list(mt.drugs), mt.generic))
    for mt in merged:
        if len(mt.classes) > 1:
            implied: set[str] = set()
            for cl in mt.classes:
                implied |= set(ther.class_closure([cl])) - {cl}
            mt.classes = [cl for cl in mt.classes if cl not in implied] or mt.classes
        if mt.drugs and mt.classes:
            drug_classes: set[str] = set()
            for d in mt.drugs:
                drug_classes |= set(ther.classes_of(d))
            mt.classes = [cl for cl in mt.classes if cl not in drug_classes]
    return merged
