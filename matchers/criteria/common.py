"""Shared pieces of the per-criterion extractors.

* :func:`normalize_text` — a same-length normalization of the criteria text (unicode
  dashes, spaces, quotes, micro signs, Markdown escape backslashes), so offsets into the
  normalized text are offsets into the original;
* :class:`CriterionText` — what an extractor receives: the full text (original and
  normalized), the criterion's ``[start, end)``, its kind and heading, the ontology
  :class:`~matchers.pipeline.Term` s and ConText :class:`Scope` s inside it;
* :func:`polarity` — how negation, exclusion/permission statements, exceptions and
  conditions bear on a mention;
* the number/comparator grammar (:data:`NUM`, :data:`CMP`, :func:`parse_number`,
  :func:`parse_comparator`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from matchers.models import CriterionKind
from matchers.pipeline import Term

__all__ = [
    "CMP",
    "CMP_BOUND",
    "NUM",
    "OTHER_CONTEXT",
    "Comparator",
    "CriterionText",
    "Polarity",
    "Scope",
    "compiled_per_rules",
    "conditional_predicate",
    "conditional_subject",
    "direct_negation",
    "keep_mention",
    "keep_terms",
    "normalize_text",
    "parse_comparator",
    "parse_number",
    "polarity",
]

# --------------------------------------------------------------------------------------
# text normalization (same length)
# --------------------------------------------------------------------------------------

_TRANSLATE = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\ufe63": "-",
        "\uff0d": "-",
        "\u00ad": "-",
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\u200a": " ",
        "\u202f": " ",
        "\u3000": " ",
        "\t": " ",
        "\u200b": " ",
        "\ufeff": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u03bc": "\u00b5",  # Greek mu -> micro sign
        "\uff1e": ">",
        "\uff1c": "<",
        "\uff1d": "=",
        "\u2267": "\u2265",
        "\u2266": "\u2264",
        "\u2a7e": "\u2265",
        "\u2a7d": "\u2264",
    }
)
_ESCAPE = re.compile(r"\\(?=[^\w\s])")


def normalize_text(text: str) -> str:
    """Same-length normalization: ``len(normalize_text(t)) == len(t)`` always.

    Unicode dashes → ``-``; exotic spaces and tabs → space; curly quotes → straight;
    Greek mu → micro sign; full-width comparators → ASCII; a Markdown escape backslash
    (``\\>``) → space. Case is kept.
    """
    out = text.translate(_TRANSLATE)
    if "\\" in out:
        out = _ESCAPE.sub(" ", out)
    return out


# --------------------------------------------------------------------------------------
# compiled-rule cache
# --------------------------------------------------------------------------------------

_T = TypeVar("_T")
_R = TypeVar("_R")


def compiled_per_rules(fn: Callable[[_R], _T]) -> Callable[[_R], _T]:
    """Cache ``fn(rules)`` per rules object (by identity; rule models may hold dicts,
    which are not hashable). The cache keeps the rules object alive, so an id is
    never reused while cached."""
    cache: dict[int, tuple[_R, _T]] = {}

    def wrapper(rules: _R) -> _T:
        hit = cache.get(id(rules))
        if hit is not None and hit[0] is rules:
            return hit[1]
        value = fn(rules)
        cache[id(rules)] = (rules, value)
        return value

    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = getattr(fn, "__name__", "compiled")
    return wrapper


# --------------------------------------------------------------------------------------
# criterion view
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """A ConText modifier: its ``category`` (see ``context.toml``), the cue's
    character range and the range of text it modifies (clipped to the cue's clause)."""

    category: str
    cue_start: int
    cue_end: int
    start: int
    end: int

    def covers(self, s: int, e: int) -> bool:
        """True if ``[s, e)`` lies inside the scope and does not overlap the cue."""
        return self.start <= s and e <= self.end and (e <= self.cue_start or s >= self.cue_end)


@dataclass(frozen=True, slots=True)
class CriterionText:
    """One criterion as the extractors see it.

    ``text`` is the full original criteria text and ``norm`` its same-length
    normalization (what the pipeline processed); ``start``/``end`` delimit the
    criterion. ``lower`` is ``norm`` lower-cased (same length). ``terms`` and
    ``scopes`` are restricted to the criterion. Offsets everywhere are into ``text``.
    """

    text: str
    norm: str
    lower: str
    start: int
    end: int
    kind: CriterionKind
    heading: str | None = None
    terms: Sequence[Term] = ()
    scopes: Sequence[Scope] = ()
    group: bool = False

    @property
    def body(self) -> str:
        """The normalized criterion text."""
        return self.norm[self.start : self.end]

    @property
    def body_lower(self) -> str:
        """The normalized, lower-cased criterion text."""
        return self.lower[self.start : self.end]

    def quote(self, s: int, e: int) -> str:
        """The original text of ``[s, e)``."""
        return self.text[s:e]

    def terms_of(self, *labels: str) -> list[Term]:
        """Terms with one of ``labels``, in text order."""
        return [t for t in self.terms if t.label in labels]

    def in_scope(self, s: int, e: int, *categories: str) -> Scope | None:
        """The first scope of ``categories`` covering ``[s, e)``, or None."""
        for sc in self.scopes:
            if sc.category in categories and sc.covers(s, e):
                return sc
        return None


# --------------------------------------------------------------------------------------
# polarity
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Polarity:
    """How the context bears on a mention.

    * ``drop`` — the mention is inside an exception ("unless …", "other than …") or a
      condition ("if …", "for patients with …"): not a requirement, make no fact;
    * ``permitted`` — the mention is allowed, not required ("… are eligible");
    * ``negated`` — the value for ``FactBase.negated`` (text negation, flipped for
      "X are not eligible" statements inside an inclusion criterion);
    * ``exception`` — text of an exception clause that follows the mention in its
      sentence ("unless treated and stable"), for ``FactBase.exception``.
    """

    drop: bool = False
    permitted: bool = False
    negated: bool = False
    exception: str | None = None


def polarity(c: CriterionText, s: int, e: int, *, use_negation: bool = True) -> Polarity:
    """The :class:`Polarity` of the mention ``[s, e)`` in criterion ``c``.

    ``use_negation=False`` ignores plain negation cues (for numeric bounds such as
    "ECOG 0-1", which "no" does not negate), while still honouring exclusion
    statements, permissions, exceptions and conditions.
    """
    if c.in_scope(s, e, "EXCEPTION", "CONDITIONAL") is not None or conditional_predicate(c, s):
        return Polarity(drop=True)
    neg = use_negation and c.in_scope(s, e, "NEGATED_EXISTENCE") is not None
    permitted = c.in_scope(s, e, "PERMITTED") is not None
    excluded = c.in_scope(s, e, "EXCLUDED") is not None
    negated = neg
    if excluded:
        negated = neg != (c.kind is CriterionKind.INCLUSION)
    exc: str | None = None
    for sc in c.scopes:
        if sc.category == "EXCEPTION" and sc.cue_start >= e and sc.start <= sc.cue_start:
            # an exception later in the same sentence/clause carves into this mention
            between = c.norm[e : sc.cue_start]
            if "." not in between.replace("e.g.", "").replace("i.e.", "") and ";" not in between:
                exc = c.text[sc.cue_start : sc.end].strip()
                break
    return Polarity(
        drop=False, permitted=permitted and not excluded, negated=negated, exception=exc
    )


_CLAUSE_END = re.compile(r"[;.]\s|\n\s*\n")

_SUBJ = re.compile(
    r"\b(?:patients?|participants?|subjects?|those|individuals|women|men|cases)\s+(?:with|who\s+(?:have|has|harbor|harbour))\b",
    re.I,
)
_MODAL = re.compile(
    r"\b(?:must|should|need\s+to|needs\s+to|are\s+required|is\s+required|will\s+(?:need|be\s+required|have\s+to)|may|can|could)\b(?!\s+not\s+(?:be\s+)?(?:enrolled|eligible|included|participate))",
    re.I,
)


_COND_CLAUSE = re.compile(
    r"(?:^|[.;:]\s+)\W{0,3}(?:for\s+)?(?:patients?|participants?|subjects?|those|women|men|individuals|females?|males?)\s+"
    r"(?:with|who\s+(?:have|has|had|are|were|received))\s+[^.;]{2,150}?\s"
    r"(?:must|should|need\s+to|needs\s+to|will\s+need|are\s+required\s+to|is\s+required\s+to|require)\b",
    re.I,
)


def conditional_predicate(c: CriterionText, s: int) -> bool:
    """True if position ``s`` follows, in the same sentence, a subject that makes the
    requirement conditional: in "Patients with EGFR mutation must have received
    osimertinib" the prior-therapy requirement applies only to some patients."""
    body = c.norm[c.start : s]
    if "must" not in body and "should" not in body and "need" not in body and "requir" not in body:
        return False
    last = None
    for m in _COND_CLAUSE.finditer(body):
        last = m
    if last is None:
        return False
    return not re.search(r"[.;]\s", body[last.end() :])


def conditional_subject(c: CriterionText, s: int, e: int) -> bool:
    """True if ``[s, e)`` sits in a subject that conditions a requirement: "Patients
    with EGFR mutation must have received a TKI", "Participants with HIV must be on
    antiretroviral therapy"."""
    sent_start = max(c.norm.rfind(". ", c.start, s), c.norm.rfind(";", c.start, s), c.start)
    before = c.norm[sent_start:s]
    subjects = list(_SUBJ.finditer(before))
    if not subjects:
        return False
    sm = subjects[-1]
    if re.search(r"\b(?:must|should|are|is|have|has|will)\b", before[sm.end() :], re.I):
        return False  # the subject closed before the mention
    stop = _CLAUSE_END.search(c.norm, e, c.end)
    after = c.norm[e : stop.start() if stop else c.end]
    mm = _MODAL.search(after)
    if mm is None:
        return False
    return not re.search(
        r"\b(?:excluded|ineligible|not\s+eligible)\b", after[: mm.end() + 30], re.I
    )


# --------------------------------------------------------------------------------------
# numbers and comparators
# --------------------------------------------------------------------------------------

Comparator = Literal[">=", ">", "<=", "<", "="]

NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?:\s\d{3})+(?![\d.,])|\d+(?:[.,]\d+)?|\.\d+)"
"""A number: ``1,500``, ``100 000``, ``1.5``, ``1,5`` (decimal comma), ``.5``."""

CMP = r"""(?:
    (?:≥|>\s*/?\s*=|=\s*>|>\s*or\s*=|≥\s*or\s*=|>\s*or\s*equal\s*to|
       (?:greater|more|higher|larger)\s+(?:than\s+)?(?:or|and)\s+equal(?:s)?\s+(?:to|than)|
       equal\s+(?:to\s+)?or\s+(?:greater|more|higher|above|larger)(?:\s+than)?|
       at\s+least|no\s+less\s+than|not\s+less\s+than|no\s+lower\s+than|not\s+lower\s+than|
       a\s+minimum\s+of|minimum(?:\s+of)?|min\.?|no\s+fewer\s+than|not\s+below|
       greater\s+than\s+or\s+equal|≧|⩾|>/=|>\s*or\s*equal|
       (?:or|and)\s+(?:greater|higher|above|more))
  | (?:≤|<\s*/?\s*=|=\s*<|<\s*or\s*=|≤\s*or\s*=|<\s*or\s*equal\s*to|
       (?:less|lower|fewer)\s+(?:than\s+)?(?:or|and)\s+equal(?:s)?\s+(?:to|than)|
       equal\s+(?:to\s+)?or\s+(?:less|lower|below|fewer)(?:\s+than)?|
       at\s+most|no\s+more\s+than|not\s+more\s+than|no\s+greater\s+than|not\s+greater\s+than|
       no\s+higher\s+than|not\s+higher\s+than|not\s+(?:to\s+)?exceed(?:ing)?|
       a\s+maximum\s+of|maximum(?:\s+of)?|max\.?|up\s+to|not\s+above|≦|⩽|</=|<\s*or\s*equal)
  | (?:>|greater\s+than|more\s+than|higher\s+than|larger\s+than|above|over|exceed(?:s|ing)?|
       in\s+excess\s+of)
  | (?:<|less\s+than|lower\s+than|fewer\s+than|below|under|beneath)
  | (?:=|equal\s+to|of)
)"""
"""A comparator, words or symbols (verbose regex; compile with ``re.X | re.I``)."""

CMP_BOUND = CMP.replace("\n  | (?:=|equal\\s+to|of)\n", "\n")
""":data:`CMP` without the equality branch (``=``, ``equal to``, ``of``): bounds only."""

_GE = re.compile(
    r"^(?:≥|>\s*/?\s*=|=\s*>|>\s*or|≥\s*or|(?:greater|more|higher|larger)\s+(?:than\s+)?(?:or|and)\s+equal"
    r"|equal\s+(?:to\s+)?or\s+(?:greater|more|higher|above|larger)|at\s+least|no\s+less|not\s+less"
    r"|no\s+lower|not\s+lower|a\s+minimum|minimum|min|no\s+fewer|not\s+below|greater\s+than\s+or"
    r"|≧|⩾|>/=|(?:or|and)\s+(?:greater|higher|above|more))",
    re.I,
)
_LE = re.compile(
    r"^(?:≤|<\s*/?\s*=|=\s*<|<\s*or|≤\s*or|(?:less|lower|fewer)\s+(?:than\s+)?(?:or|and)\s+equal"
    r"|equal\s+(?:to\s+)?or\s+(?:less|lower|below|fewer)|at\s+most|no\s+more|not\s+more"
    r"|no\s+greater|not\s+greater|no\s+higher|not\s+higher|not\s+(?:to\s+)?exceed|a\s+maximum"
    r"|maximum|max|up\s+to|not\s+above|≦|⩽|</=)",
    re.I,
)
_GT = re.compile(r"^(?:>|greater|more|higher|larger|above|over|exceed|in\s+excess)", re.I)
_LT = re.compile(r"^(?:<|less|lower|fewer|below|under|beneath)", re.I)


def parse_comparator(text: str) -> Comparator | None:
    """Canonical comparator of a :data:`CMP` match: ``>=``, ``>``, ``<=``, ``<`` or
    ``=`` (``"of"``, ``"equal to"``); None if unrecognized."""
    t = text.strip()
    if _GE.match(t):
        return ">="
    if _LE.match(t):
        return "<="
    if _GT.match(t):
        return ">"
    if _LT.match(t):
        return "<"
    if t in {"=", "of"} or t.lower().startswith("equal") or t.lower() == "of":
        return "="
    return None


def parse_number(text: str) -> float | None:
    """Parse a :data:`NUM` match: ``1,500`` → 1500; ``1,5`` → 1.5 (decimal comma);
    ``100 000`` → 100000; returns None if not a number."""
    t = text.strip().replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", t):
        t = t.replace(",", "")
    elif re.fullmatch(r"\d+,\d+", t):
        t = t.replace(",", ".")
    try:
        return float(t)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# keeping mentions (shared by the disease categories)
# --------------------------------------------------------------------------------------

_NON_BEFORE = re.compile(r"non[\s-]*$", re.I)
OTHER_CONTEXT = re.compile(  # a cancer named as another/prior one, right before it
    r"\b(?:other|another|second|secondary|prior|previous|history\s+of|concurrent|additional|"
    r"synchronous|metachronous|past)\b[^.;]{0,40}$",
    re.I,
)

def keep_terms(c: CriterionText, labels: tuple[str, ...]) -> list[Term]:
    """The terms of ``labels`` worth reading: the longest of nested matches, none right
    after "non-" ("non-small cell" is not "small cell"), one per span."""
    terms = c.terms_of(*labels)
    out: list[Term] = []
    for t in terms:
        if any(
            o is not t
            and o.label in labels
            and o.start <= t.start
            and t.end <= o.end
            and (o.end - o.start) > (t.end - t.start)
            for o in terms
        ):
            continue
        if _NON_BEFORE.search(c.norm[max(c.start, t.start - 5) : t.start]) and not c.lower[
            t.start : t.end
        ].startswith("non"):
            continue
        if out and (out[-1].start, out[-1].end) == (t.start, t.end):
            continue
        out.append(t)
    return out

def direct_negation(c: CriterionText, s: int) -> bool:
    """True if the negation cue governing a mention at ``s`` is close and no therapy
    term lies between ("no history of breast cancer"), as opposed to a cancer named as
    the setting of something negated ("no prior chemotherapy for NSCLC")."""
    sc = c.in_scope(s, s + 1, "NEGATED_EXISTENCE")
    if sc is None:
        return c.in_scope(s, s + 1, "EXCLUDED") is not None
    between = c.norm[sc.cue_end : s]
    if len(between) > 60:
        return False
    if any(sc.cue_end <= t.start < s for t in c.terms_of("THERAPY_CLASS", "DRUG")):
        return False
    return not re.search(
        r"\b(?:for|to\s+treat|treatment\s+of|therapy|treatment|eligible|trials?)\b", between, re.I
    )


def keep_mention(c: CriterionText, s: int, e: int) -> tuple[bool, bool, str | None]:
    """(keep, negated, exception) for an ontology or cue mention ``[s, e)``: dropped
    inside an exception, a condition or a permission, or when it is the subject of a
    condition ("for patients with X: ...")."""
    pol = polarity(c, s, e)
    if pol.drop or pol.permitted or conditional_subject(c, s, e):
        return False, False, None
    return True, pol.negated, pol.exception
