"""The eligibility parser: a trial's criteria text → :class:`~matchers.models.ParsedTrial`.

>>> nlp = build_nlp(load_ontology())                       # doctest: +SKIP
>>> parser = EligibilityParser(nlp, load_ontology())        # doctest: +SKIP
>>> parsed = parser.parse(summary)                          # doctest: +SKIP

The spaCy pipeline (:func:`matchers.pipeline.build_nlp`) runs once per trial text —
on a same-length normalization of ``summary.eligibility_text``, so every offset is an
offset into the original text — and the per-category extractors
(:mod:`matchers.criteria`) slice its annotations per criterion. A criterion the rules
do not understand is kept with no facts (uninterpreted), never dropped.

Trial-level checks after extraction (precision over recall):

* a criterion kept whole as a list of alternatives ("1 of the following:") keeps its
  facts only if they are all of one category (facts of one category are read as
  alternatives; across categories they would be read as a conjunction);
* inclusion age bounds that disagree between criteria (cohort-specific ages: "Adults
  18-60 …", "Children 8-17 …") are dropped, as are inclusion sex facts naming both
  sexes.

``ParsedTrial.conditions`` holds facts read from the trial's conditions and title
(cancer types, generic "solid tumour", biomarker words, stage/extent words), with
spans into ``ParsedTrial.condition_text``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from spacy.language import Language
from spacy.tokens import Doc

from matchers.criteria import ExtractContext, extract_all
from matchers.criteria.biomarker import extract_biomarkers
from matchers.criteria.cancer_type import coordinated_cancers, extract_cancer_types
from matchers.criteria.common import CriterionText, Scope, normalize_text
from matchers.criteria.stage import extract_stage
from matchers.models import (
    AgeFact,
    CancerTypeFact,
    CriterionKind,
    Fact,
    ParsedCriterion,
    ParsedTrial,
    SexFact,
    TrialSummary,
    condition_spans,
)
from matchers.pipeline import (
    CRITERIA_KEY,
    NEGATIONS_KEY,
    TERMINATING,
    TERMS_KEY,
    TEXT_LENGTH_KEY,
    Term,
    TermMatcher,
)
from matchers.rules import Rules, load_rules
from matchers.sections import Segment
from matchers.settings import MatcherSettings
from matchers.shape import criterion_kinds, shape_trial

if TYPE_CHECKING:
    from ontologies import Ontology

__all__ = ["PARSER_SOURCES_SHA256", "PARSER_VERSION", "EligibilityParser", "parser_sources_digest"]

PARSER_VERSION = "2026.12.59"
"""Version of the parsing rules; bump on any rule or code change that alters output.
Part of the store's parsed-criteria key, so a new version re-parses on the next sync.
``tests/matchers/test_parser_version.py`` holds it to :data:`PARSER_SOURCES_SHA256`."""

PARSER_SOURCES_SHA256 = "f0680eac1bac36f5e73f57c23325becf0edc3e50714be7b3dbedddcba8f4a04f"
"""SHA-256 of everything the parse output depends on (:func:`parser_sources_digest`),
recorded with :data:`PARSER_VERSION`: a test fails when the sources change and the
version is not bumped. Print the new value with ``python -m matchers.parser``."""

_SOURCE_GLOBS = (
    "matchers/parser.py", "matchers/pipeline.py", "matchers/sections.py", "matchers/shape.py",
    "matchers/models.py", "matchers/criteria/*.py", "matchers/rules/*.toml",
    "ontologies/*.py", "ontologies/data/*",
)
_NOT_PARSER_SOURCES = ("matchers/rules/score.toml",)  # ranking weights: no parse effect


def parser_sources_digest() -> str:
    """SHA-256 over the parser's sources (code, rule files, ontology data), in path
    order. Evaluation-only files (score weights) are left out."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    paths = sorted({p for g in _SOURCE_GLOBS for p in root.glob(g) if p.is_file()})
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if rel in _NOT_PARSER_SOURCES:
            continue
        data = path.read_bytes()
        if rel == "matchers/parser.py":  # the recorded digest itself is no source
            data = b"\n".join(line for line in data.split(b"\n")
                              if not line.startswith(b"PARSER_SOURCES_SHA256 ="))
        digest.update(rel.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()

_SCOPE_CATEGORIES = frozenset(
    {"NEGATED_EXISTENCE", "EXCLUDED", "PERMITTED", "EXCEPTION", "CONDITIONAL"}
)


class EligibilityParser:
    """Parse trials' eligibility criteria into facts.

    ``nlp`` is the pipeline from :func:`matchers.pipeline.build_nlp` (built with the
    same ``ontology``). Thread-safe for reading; one instance per process is enough.
    ``settings`` (default: from the environment) gives ``batch_size`` and
    ``max_text_chars``; ``rules`` defaults to the packaged rule files.
    """

    def __init__(
        self,
        nlp: Language,
        ontology: Ontology,
        *,
        settings: MatcherSettings | None = None,
        rules: Rules | None = None,
    ) -> None:
        self._nlp = nlp
        self._ontology = ontology
        self._settings = settings or MatcherSettings()
        self._rules = rules or load_rules()
        self._variants_marker = {vid: v.marker for vid, v in ontology.biomarkers.variants.items()}
        self._status_names = ontology.biomarkers.status_names()
        # OncoTree tissue names ("CNS/Brain" → "cns", "brain"): organs named alone
        self._tissues = {part.strip().lower(): code
                         for code, node in ontology.cancer_types.nodes.items()
                         if node.parent in (None, "TISSUE") and code != "TISSUE"
                         for part in str(node.name).split("/") if part.strip()}
        self._extract = ExtractContext(self._rules, ontology, self._variants_marker,
                                       self._status_names)
        terms = nlp.get_pipe("trialmatch_terms") if "trialmatch_terms" in nlp.pipe_names else None
        self._terms: TermMatcher | None = terms if isinstance(terms, TermMatcher) else None

    @property
    def version(self) -> str:
        """The parser's rule version (:data:`PARSER_VERSION`)."""
        return PARSER_VERSION

    # ----------------------------------------------------------------------------------

    def parse(self, summary: TrialSummary) -> ParsedTrial:
        """Parse one trial. Spans index ``summary.eligibility_text``; condition facts
        index the returned ``condition_text``."""
        text = summary.eligibility_text
        norm = normalize_text(text)
        doc = self._nlp(norm[: self._settings.max_text_chars])
        return self._assemble(summary, text, norm, doc)

    def parse_many(
        self, summaries: Sequence[TrialSummary], batch_size: int | None = None
    ) -> list[ParsedTrial]:
        """Parse several trials with ``nlp.pipe`` (same output as :meth:`parse`, in
        order). ``batch_size`` defaults to ``MatcherSettings.batch_size``."""
        texts = [s.eligibility_text for s in summaries]
        norms = [normalize_text(t) for t in texts]
        cut = self._settings.max_text_chars
        docs: Iterable[Doc] = self._nlp.pipe(
            (n[:cut] for n in norms), batch_size=batch_size or self._settings.batch_size
        )
        return [
            self._assemble(s, t, n, d)
            for s, t, n, d in zip(summaries, texts, norms, docs, strict=True)
        ]

    # ----------------------------------------------------------------------------------

    def _assemble(self, summary: TrialSummary, text: str, norm: str, doc: Doc) -> ParsedTrial:
        lower = norm.lower()
        segments: list[Segment] = list(doc.user_data.get(CRITERIA_KEY, []))
        terms: list[Term] = list(doc.user_data.get(TERMS_KEY, []))
        scopes = _scopes(doc, segments, norm)
        term_starts = [t.start for t in terms]
        scope_cues = [s.cue_start for s in scopes]
        views: list[CriterionText] = []
        criteria: list[ParsedCriterion] = []
        for i, seg in enumerate(segments):
            lo = bisect.bisect_left(term_starts, seg.start)
            hi = bisect.bisect_left(term_starts, seg.end)
            seg_terms = [t for t in terms[lo:hi] if t.end <= seg.end]
            slo = bisect.bisect_left(scope_cues, seg.start)
            shi = bisect.bisect_left(scope_cues, seg.end)
            c = CriterionText(
                text=text,
                norm=norm,
                lower=lower,
                start=seg.start,
                end=seg.end,
                kind=seg.kind,
                heading=seg.heading,
                terms=seg_terms,
                scopes=scopes[slo:shi],
                group=seg.group,
            )
            views.append(c)
            criteria.append(
                ParsedCriterion(
                    index=i,
                    kind=seg.kind,
                    text=text[seg.start : seg.end],
                    span=(seg.start, seg.end),
                    facts=self._facts(c),
                    heading=seg.heading,
                )
            )
        # The final kind of each criterion (headings, exclusions in disguise); a criterion
        # whose kind changes is read again, so its facts' polarity follows that kind.
        for i, (kind, kind_rules) in enumerate(criterion_kinds(criteria, self._rules)):
            crit = criteria[i]
            update: dict[str, object] = {"shape_rules": kind_rules}
            if kind is not crit.kind:
                update.update(kind=kind, facts=self._facts(replace(views[i], kind=kind)))
            criteria[i] = crit.model_copy(update=update)
        cut = int(doc.user_data.get(TEXT_LENGTH_KEY, len(norm)))
        if cut < len(text) and text[cut:].strip():
            s = cut + (len(text[cut:]) - len(text[cut:].lstrip()))
            e = len(text.rstrip())
            kind = criteria[-1].kind if criteria else CriterionKind.INCLUSION
            criteria.append(
                ParsedCriterion(index=len(criteria), kind=kind, text=text[s:e], span=(s, e))
            )
        criteria = _drop_conflicts(criteria)
        cond_text, cond_facts = self._condition_facts(summary)
        shape = shape_trial(
            criteria,
            cond_facts,
            contexts={(seg.start, seg.end): seg.context for seg in segments},
            condition_text=cond_text,
            condition_entries=summary.conditions,
            title=summary.title,
            official_title=summary.official_title,
            ontology=self._ontology,
            rules=self._rules,
        )
        return ParsedTrial(
            nct_id=summary.nct_id,
            parser_version=PARSER_VERSION,
            criteria=shape.criteria,
            conditions=shape.conditions,
            condition_text=cond_text,
            conditions_non_cancer=shape.conditions_non_cancer,
            first_line_title=shape.first_line_title,
            newly_diagnosed_title=shape.newly_diagnosed_title,
            line_hint=shape.line_hint,
        )

    def _facts(self, c: CriterionText) -> tuple[Fact, ...]:
        facts = extract_all(c, self._extract)
        if c.group and len({f.category for f in facts}) > 1:
            return ()  # a list of alternatives of several categories: not a conjunction
        return tuple(facts)

    def _condition_facts(self, summary: TrialSummary) -> tuple[str, list[Fact]]:
        parts = [p.strip() for p in summary.conditions if p.strip()]
        if summary.title.strip():
            parts.append(summary.title.strip())
        cond_text = "; ".join(parts)
        if not cond_text or self._terms is None:
            return cond_text, []
        norm = normalize_text(cond_text)
        doc = self._terms(self._nlp.make_doc(norm))
        terms: list[Term] = list(doc.user_data.get(TERMS_KEY, []))
        facts: list[Fact] = []
        entries = len(parts) - (1 if summary.title.strip() else 0)
        for n, (start, end) in enumerate(condition_spans(parts, cond_text)):
            c = CriterionText(
                text=cond_text,
                norm=norm,
                lower=norm.lower(),
                start=start,
                end=end,
                kind=CriterionKind.INCLUSION,
                terms=[t for t in terms if start <= t.start and t.end <= end],
            )
            cancers = extract_cancer_types(c, self._rules)
            cancers += coordinated_cancers(c, cancers, self._ontology)
            if n < entries:  # a conditions-list entry, not the title
                cancers = _excluded_in_entry(c, cancers, self._rules, self._tissues)
            found: list[Fact] = sorted(cancers, key=lambda f: f.span)
            if not any(isinstance(f, CancerTypeFact) for f in found):
                found += _generic_condition(c)
            found += extract_biomarkers(c, self._rules, self._variants_marker,
                                        self._status_names)
            found += [f for f in extract_stage(c, self._rules) if f.extents or f.stages]
            facts += found
        return cond_text, facts


def _excluded_in_entry(
    c: CriterionText, cancers: Sequence[CancerTypeFact], rules: Rules,
    tissues: Mapping[str, str],
) -> list[CancerTypeFact]:
    """The entry's cancer facts, those after an exclusion cue ("Any Tumor Type Excluding
    Breast, Gastric, Colorectal Cancer") negated: the entry excludes them. An organ named
    alone after the cue ("solid tumor (excluding CNS)") excludes its tissue's cancers
    (``tissues``: OncoTree tissue names, lower case → code)."""
    import re

    cues = "|".join(re.escape(w) for w in rules.cancer_type.condition_exclusion_cues)
    m = re.search(rf"\b(?:{cues})\b", c.body, re.I)
    if m is None:
        return sorted(cancers, key=lambda f: f.span)
    cut = c.start + m.end()
    out = [f.model_copy(update={"negated": True, "rule": f"{f.rule}+condition.excluded"})
           if f.span[0] >= cut else f for f in cancers]
    for w in re.finditer(r"[A-Za-z][\w-]*", c.norm[cut:c.end]):
        s, e = cut + w.start(), cut + w.end()
        code = tissues.get(w.group(0).lower())
        if code is None or any(f.span[0] < e and s < f.span[1] for f in out):
            continue
        out.append(CancerTypeFact(span=(s, e), text=c.text[s:e], negated=True, codes=(code,),
                                  rule="cancer_type.tissue+condition.excluded"))
    return sorted(out, key=lambda f: f.span)


def _generic_condition(c: CriterionText) -> list[Fact]:
    """A condition entry that is itself a generic diagnosis ("Cancer", "Neoplasms",
    "Advanced Malignancies")."""
    import re

    body = c.body.strip().lower()
    m = re.fullmatch(
        r"(?:advanced\s+|metastatic\s+|refractory\s+|recurrent\s+|malignant\s+)*"
        r"(cancers?|malignanc(?:y|ies)|neoplasms?|tumou?rs?|carcinomas?)",
        body,
    )
    if m is None:
        return []
    s = c.start + (len(c.body) - len(c.body.lstrip()))
    e = s + len(body)
    return [CancerTypeFact(span=(s, e), text=c.text[s:e], any_malignancy=True)]


def _scopes(doc: Doc, segments: Sequence[Segment], norm: str) -> list[Scope]:
    """ConText modifiers as character :class:`Scope` s, clipped to the cue's criterion
    and, for a cue inside parentheses, to those parentheses. Sorted by cue start."""
    graph = getattr(doc._, "context_graph", None) if Doc.has_extension("context_graph") else None
    if graph is None:
        return []
    seg_starts = [s.start for s in segments]
    out: list[Scope] = []
    n = len(doc)
    # cue positions that end other cues' scopes (ConText's own termination does not
    # always apply to backward scopes): terminators and the starts of other cues
    stops = sorted(
        (doc[m.modifier_span[0]].idx, m.category)
        for m in graph.modifiers
        if m.modifier_span[0] < n and (m.category == "TERMINATE" or m.category in _SCOPE_CATEGORIES)
    )
    stop_pos = [p for p, _ in stops]
    for mod in graph.modifiers:
        cat = mod.category
        if cat not in _SCOPE_CATEGORIES:
            continue
        ms, me = mod.modifier_span
        ss, se = mod.scope_span
        if me <= ms or ms >= n:
            continue
        cue_s = doc[ms].idx
        cue_e = doc[me - 1].idx + len(doc[me - 1].text)
        if se > ss:
            sc_s = doc[ss].idx
            sc_e = doc[se - 1].idx + len(doc[se - 1].text)
        else:
            sc_s, sc_e = cue_s, cue_e
        k = bisect.bisect_right(seg_starts, cue_s) - 1
        if k < 0 or cue_s >= segments[k].end:
            continue
        seg = segments[k]
        sc_s, sc_e = max(sc_s, seg.start), min(sc_e, seg.end)
        # a cue inside parentheses modifies only the parenthetical
        open_at = norm.rfind("(", seg.start, cue_s)
        if open_at >= 0 and norm.rfind(")", open_at, cue_s) < 0:
            close_at = norm.find(")", cue_e, seg.end)
            sc_s = max(sc_s, open_at + 1)
            if close_at >= 0:
                sc_e = min(sc_e, close_at)
        direction = str(getattr(mod, "direction", "")).upper()
        if direction == "BACKWARD":
            k2 = bisect.bisect_left(stop_pos, cue_s) - 1
            while k2 >= 0 and stop_pos[k2] >= sc_s:
                if stops[k2][1] == "TERMINATE" or stops[k2][1] in TERMINATING.get(cat, ()):
                    sc_s = max(sc_s, _token_end(doc, stop_pos[k2]))
                    break
                k2 -= 1
        elif direction == "FORWARD":
            k2 = bisect.bisect_right(stop_pos, cue_s)
            while k2 < len(stop_pos) and stop_pos[k2] < sc_e:
                if stop_pos[k2] >= cue_e and (
                    stops[k2][1] == "TERMINATE" or stops[k2][1] in TERMINATING.get(cat, ())
                ):
                    sc_e = min(sc_e, stop_pos[k2])
                    break
                k2 += 1
        out.append(Scope(cat, cue_s, cue_e, min(sc_s, cue_s), max(sc_e, cue_e)))
    # negspacy mode: negation scopes come from NegEx, clipped like ConText's
    for cue_s, cue_e, sc_s, sc_e in doc.user_data.get(NEGATIONS_KEY, ()):
        k = bisect.bisect_right(seg_starts, cue_s) - 1
        if k < 0 or cue_s >= segments[k].end:
            continue
        seg = segments[k]
        out.append(
            Scope(
                "NEGATED_EXISTENCE",
                cue_s,
                cue_e,
                max(min(sc_s, cue_s), seg.start),
                min(max(sc_e, cue_e), seg.end),
            )
        )
    out.sort(key=lambda s: s.cue_start)
    return out


def _token_end(doc: Doc, char: int) -> int:
    """End offset of the token starting at ``char``."""
    tok = doc.char_span(char, char + 1, alignment_mode="expand")
    return tok.end_char if tok is not None else char


def _drop_conflicts(criteria: list[ParsedCriterion]) -> list[ParsedCriterion]:
    """Drop inclusion age facts whose bounds differ between (or within) criteria, and
    inclusion sex facts naming both sexes: they describe cohorts, not the trial."""
    ages = {
        (f.min_years, f.max_years)
        for c in criteria
        if c.kind is CriterionKind.INCLUSION
        for f in c.facts
        if isinstance(f, AgeFact) and not f.negated
    }
    sexes = {
        f.sex
        for c in criteria
        if c.kind is CriterionKind.INCLUSION
        for f in c.facts
        if isinstance(f, SexFact) and not f.negated
    }
    drop_age = len(ages) > 1
    drop_sex = len(sexes) > 1
    if not (drop_age or drop_sex):
        return criteria
    out: list[ParsedCriterion] = []
    for c in criteria:
        if c.kind is CriterionKind.INCLUSION:
            keep = tuple(
                f
                for f in c.facts
                if not (drop_age and isinstance(f, AgeFact) and not f.negated)
                and not (drop_sex and isinstance(f, SexFact) and not f.negated)
            )
            if len(keep) != len(c.facts):
                c = c.model_copy(update={"facts": keep})
        out.append(c)
    return out


if __name__ == "__main__":  # python -m matchers.parser: the digest to record
    print(f"PARSER_VERSION = {PARSER_VERSION!r}\nPARSER_SOURCES_SHA256 = "
          f"{parser_sources_digest()!r}")
