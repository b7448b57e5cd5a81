"""A clinic note run through the eligibility parser's spaCy pipeline.

:func:`read_note` normalizes the note with :func:`matchers.criteria.common.normalize_text` (same
length, so every offset indexes the original), runs the pipeline of
:func:`matchers.pipeline.build_nlp` (criteria/sentence segmentation from
:mod:`matchers.sections`, scispaCy tokens, the ontology ``PhraseMatcher`` terms, medspacy
ConText with the project's cues plus the note cues of ``notes/context.toml``) and keeps:

* ``terms`` — the ontology :class:`~matchers.pipeline.Term` s;
* ``scopes`` — every ConText modifier as a :class:`~matchers.criteria.common.Scope`
  (character ranges; a cue inside parentheses modifies only the parenthetical);
* ``sections`` — :func:`matchers.sections.split_criteria` segments with the heading
  above them ("Past Medical History:", "Family History:", "Plan:"), which
  :meth:`NoteDocument.heading_context` reads as historical / family / planned context;
* ``sentences`` — the pipeline's sentence spans, and ``clauses`` — note clauses: text
  between sentence ends (``.``, ``;``, ``?``, ``!``, a line break) outside parentheses,
  which is where a regimen, its dates and its outcome are read together.

:meth:`NoteDocument.unit` gives the :class:`~matchers.criteria.common.CriterionText` of
a span, which is what the ``matchers.criteria`` extractors take.
"""

from __future__ import annotations

import bisect
import re
import tomllib
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from spacy.language import Language
from spacy.tokens import Doc

from matchers.criteria.common import CriterionText, Scope, normalize_text
from matchers.models import CriterionKind
from matchers.pipeline import TERMS_KEY, Term
from matchers.sections import Segment, split_criteria

CUES_PATH = Path(__file__).resolve().parent / "context.toml"

NOTE_CATEGORIES = ("HISTORICAL", "FAMILY", "HYPOTHETICAL")


class NoteCue(BaseModel):
    """One note ConText cue (``notes/context.toml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    literal: str = Field(min_length=1)
    category: Literal["HISTORICAL", "FAMILY", "HYPOTHETICAL", "PSEUDO"]
    direction: Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "PSEUDO"]
    max_scope: int | None = Field(default=None, ge=1, le=50)


class NoteCues(BaseModel):
    """The cue file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[NoteCue, ...]


@lru_cache(maxsize=1)
def load_note_cues(path: Path = CUES_PATH) -> NoteCues:
    """The packaged note cues (validated; cached)."""
    return NoteCues.model_validate(tomllib.loads(path.read_text()))


def add_note_cues(nlp: Language) -> Language:
    """Add the note cues to ``nlp``'s ``medspacy_context`` component and return ``nlp``.

    Call it on a pipeline built for notes only: the extra cues would change what the
    eligibility parser reads. Raises ``KeyError`` if ``nlp`` has no ConText component.
    """
    with warnings.catch_warnings():  # medspacy's import resets warning filters
        from medspacy.context import ConTextRule

    ctx: Any = nlp.get_pipe("medspacy_context")
    ctx.add([
        ConTextRule(literal=c.literal, category=c.category, direction=c.direction,
                    max_scope=c.max_scope)
        for c in load_note_cues().rules
    ])
    return nlp


HEADING_CONTEXT: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("FAMILY", re.compile(r"\bfamily\b|\bFHx?\b", re.I)),
    ("HISTORICAL", re.compile(r"\bpast\b|\bprevious\b|\bPMH\b|\bPSH\b|^history$", re.I)),
    ("HYPOTHETICAL", re.compile(r"\bplan\b|recommendation|\bto do\b|next steps", re.I)),
)
"""Note headings that set the context of the lines under them."""

_CLAUSE_END = re.compile(r"[.;!?](?=\s|$)|\n")


def _clauses(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and _CLAUSE_END.match(text, i) and not _decimal_point(text, i):
            if text[start:i].strip():
                out.append((start, i))
            start = i + 1
        elif ch == "\n":
            depth = 0
            if text[start:i].strip():
                out.append((start, i))
            start = i + 1
    if text[start:].strip():
        out.append((start, len(text)))
    return out


def _decimal_point(text: str, i: int) -> bool:
    return text[i] == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[
        i + 1].isdigit()


@dataclass(frozen=True)
class NoteDocument:
    """A note after the pipeline (see the module docstring). Offsets index ``text``."""

    text: str
    norm: str
    terms: tuple[Term, ...]
    scopes: tuple[Scope, ...]
    sentences: tuple[tuple[int, int], ...]
    clauses: tuple[tuple[int, int], ...]
    sections: tuple[Segment, ...] = ()

    def heading_context(self, pos: int) -> str | None:
        """``HISTORICAL``, ``FAMILY`` or ``HYPOTHETICAL`` when ``pos`` lies under a note
        heading that says so (:data:`HEADING_CONTEXT`), else None."""
        for seg in self.sections:
            if seg.start <= pos < seg.end and seg.heading:
                for category, rx in HEADING_CONTEXT:
                    if rx.search(seg.heading):
                        return category
        return None

    @property
    def lower(self) -> str:
        return self.norm.lower()

    def clause_of(self, pos: int) -> tuple[int, int]:
        """The clause containing ``pos`` (or the nearest before it)."""
        starts = [c[0] for c in self.clauses]
        k = max(0, bisect.bisect_right(starts, pos) - 1)
        return self.clauses[k] if self.clauses else (0, len(self.text))

    def sentence_of(self, pos: int) -> tuple[int, int]:
        starts = [s[0] for s in self.sentences]
        k = max(0, bisect.bisect_right(starts, pos) - 1)
        return self.sentences[k] if self.sentences else (0, len(self.text))

    def scope(self, start: int, end: int, *categories: str) -> Scope | None:
        """The first ConText scope of ``categories`` covering ``[start, end)``."""
        for sc in self.scopes:
            if sc.category in categories and sc.covers(start, end):
                return sc
        return None

    def terms_of(self, *labels: str) -> list[Term]:
        return [t for t in self.terms if t.label in labels]

    def unit(self, start: int, end: int) -> CriterionText:
        """``[start, end)`` as the extractors' :class:`CriterionText` (an inclusion
        "criterion" stating what the patient has)."""
        return CriterionText(
            text=self.text, norm=self.norm, lower=self.lower, start=start, end=end,
            kind=CriterionKind.INCLUSION,
            terms=[t for t in self.terms if start <= t.start and t.end <= end],
            scopes=[s for s in self.scopes if start <= s.cue_start < end],
        )


def _scopes(doc: Doc, norm: str) -> list[Scope]:
    graph = getattr(doc._, "context_graph", None) if Doc.has_extension("context_graph") else None
    if graph is None:
        return []
    n = len(doc)
    out: list[Scope] = []
    for mod in graph.modifiers:
        ms, me = mod.modifier_span
        ss, se = mod.scope_span
        if me <= ms or ms >= n:
            continue
        cue_s = doc[ms].idx
        cue_e = doc[me - 1].idx + len(doc[me - 1].text)
        sc_s = doc[ss].idx if se > ss else cue_s
        sc_e = doc[se - 1].idx + len(doc[se - 1].text) if se > ss else cue_e
        open_at = norm.rfind("(", 0, cue_s)
        if open_at >= 0 and norm.rfind(")", open_at, cue_s) < 0:
            close_at = norm.find(")", cue_e)
            sc_s = max(sc_s, open_at + 1)
            if close_at >= 0:
                sc_e = min(sc_e, close_at)
        out.append(Scope(str(mod.category), cue_s, cue_e, min(sc_s, cue_s), max(sc_e, cue_e)))
    out.sort(key=lambda s: s.cue_start)
    return out


def read_note(nlp: Language, text: str) -> NoteDocument:
    """Run ``nlp`` (a pipeline from ``build_nlp`` with :func:`add_note_cues`) over the
    note. Pure apart from spaCy; raises nothing on odd text."""
    norm = normalize_text(text)
    doc = nlp(norm)
    terms = tuple(doc.user_data.get(TERMS_KEY, ()))
    sentences = tuple((s.start_char, s.end_char) for s in doc.sents)
    return NoteDocument(text=text, norm=norm, terms=terms, scopes=tuple(_scopes(doc, norm)),
                        sentences=sentences, clauses=tuple(_clauses(norm)),
                        sections=tuple(split_criteria(norm)))
