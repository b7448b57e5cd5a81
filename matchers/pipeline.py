"""The spaCy pipeline the eligibility parser runs once per trial text.

:func:`build_nlp` assembles, in order:

1. ``spacy.blank("en")`` with scispaCy's ``combined_rule_tokenizer`` (or an installed
   trained pipeline named by ``MatcherSettings.spacy_model`` — never downloaded);
2. ``trialmatch_criteria`` — splits the text into criteria
   (:func:`matchers.sections.split_criteria`), stores the segments in
   ``doc.user_data[CRITERIA_KEY]`` and starts a sentence at every criterion, so no
   sentence (and no negation scope) crosses a criterion boundary;
3. ``sentencizer`` — spaCy's rule-based sentence splitter (``.``, ``!``, ``?``, ``;``)
   inside criteria;
4. ``abbreviation_detector`` — scispaCy's Schwartz–Hearst detector (optional);
5. ``trialmatch_terms`` — lower-case and case-sensitive ``PhraseMatcher`` s fed from
   the ontologies' ``phrases()``/``abbreviations()`` (cancer types, histology,
   biomarkers, drugs and therapy classes, comorbid conditions). Matches become
   ``doc.ents`` (longest wins) and, with every code of ambiguous surface forms,
   :class:`Term` s in ``doc.user_data[TERMS_KEY]``. Short forms defined in the text
   ("malignant pleural mesothelioma (MPM)") inherit their long form's codes;
6. ``medspacy_context`` — medspacy's ConText with the project's cues
   (``matchers/rules/context.toml``): negation, exclusion/permission statements,
   exceptions, conditions. The parser reads the modifiers' scopes
   (``doc._.context_graph``) as character ranges.

Each component follows spaCy style: the algorithm is a plain function
(:func:`mark_criterion_boundaries`, :func:`match_terms`); a ``@Language.factory``
component wraps it. The pipeline only *annotates*; turning annotations into facts is
``matchers.criteria``' job.
"""

import bisect
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from matchers.errors import PipelineError
from matchers.rules import ContextRuleData, load_rules
from matchers.sections import Segment, split_criteria
from matchers.settings import MatcherSettings

if TYPE_CHECKING:
    from ontologies import Ontology

__all__ = [
    "CRITERIA_KEY",
    "LABELS",
    "TERMINATING",
    "TERMS_KEY",
    "CriteriaSegmenter",
    "Term",
    "TermMatcher",
    "build_nlp",
    "mark_criterion_boundaries",
    "match_terms",
    "ontology_phrases",
]

CRITERIA_KEY = "trialmatch.criteria"
"""``doc.user_data`` key of the criterion :class:`~matchers.sections.Segment` list."""

CONTEXT_TARGETS = "trialmatch_context_targets"
"""Span group ConText runs over: left empty (the parser reads modifier scopes only)."""

TEXT_LENGTH_KEY = "trialmatch.text_length"
"""``doc.user_data`` key of the length of the text the pipeline processed."""

TERMS_KEY = "trialmatch.terms"
"""``doc.user_data`` key of the :class:`Term` list (all ontology matches)."""

LABELS = ("CANCER", "HISTOLOGY", "BIOMARKER", "VARIANT", "THERAPY_CLASS", "DRUG", "CONDITION")
"""Entity labels set by ``trialmatch_terms``, in priority order for equal spans."""


@dataclass(frozen=True, slots=True)
class Term:
    """An ontology term found in the text: character offsets ``[start, end)``,
    ``label`` (one of :data:`LABELS`) and every id/code the surface form maps to."""

    start: int
    end: int
    label: str
    codes: tuple[str, ...]


# --------------------------------------------------------------------------------------
# criteria segmentation component
# --------------------------------------------------------------------------------------


def mark_criterion_boundaries(
    doc: Doc, segments: Sequence[Segment], text: str | None = None
) -> None:
    """Start a sentence at the first token of every criterion (and at the token after
    it), and at line starts inside multi-line criteria that begin with a bullet marker.

    A criterion that starts inside a token marks that token.
    """
    n = len(doc)
    if n == 0:
        return
    starts: list[int] = doc.to_array("IDX").tolist()
    if text is None:
        text = doc.text
    doc[0].is_sent_start = True
    for seg in segments:
        i = bisect.bisect_right(starts, seg.start) - 1
        j = bisect.bisect_left(starts, seg.end)
        if i < 0 or i >= n:
            continue
        doc[i].is_sent_start = True
        if j < n:
            doc[j].is_sent_start = True
        nl = text.find("\n", seg.start, seg.end)
        while nl >= 0:
            k = bisect.bisect_right(starts, nl)  # first token after the line break
            while k < j and text[starts[k]].isspace():
                k += 1
            if i < k < j:
                nxt = doc[k]
                if nxt.text in _BULLETS or nxt.text[:1].isdigit():
                    nxt.is_sent_start = True
            nl = text.find("\n", nl + 1, seg.end)


_BULLETS = frozenset({"-", "*", "•", "·", "○"})


class CriteriaSegmenter:
    """Pipeline component wrapping :func:`split_criteria` and
    :func:`mark_criterion_boundaries`."""

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text  # built from the tokens on every access: read once
        segments = split_criteria(text)
        doc.user_data[CRITERIA_KEY] = segments
        doc.user_data[TEXT_LENGTH_KEY] = len(text)
        doc.spans[CONTEXT_TARGETS] = []
        mark_criterion_boundaries(doc, segments, text)
        return doc


@Language.factory("trialmatch_criteria")
def make_criteria_segmenter(nlp: Language, name: str) -> CriteriaSegmenter:
    """Factory of the ``trialmatch_criteria`` component."""
    return CriteriaSegmenter()


# --------------------------------------------------------------------------------------
# ontology term matcher component
# --------------------------------------------------------------------------------------


def match_terms(
    doc: Doc,
    lower: PhraseMatcher,
    orth: PhraseMatcher,
    keys: dict[int, tuple[str, str]],
) -> list[Term]:
    """All ontology matches in ``doc`` as :class:`Term` s (one per distinct span and
    label, codes merged), sorted by position. ``keys`` maps a match id to
    ``(label, code)``. A cancer or histology match inside a gene or drug name is no
    disease mention: "anaplastic lymphoma kinase (ALK)" (NCT06097962, NCT02134015),
    "breast cancer gene 1" (NCT02032277) and "anaplastic lymphoma kinase inhibitor" keep
    only the gene/drug term."""
    found: dict[tuple[int, int, str], list[str]] = {}
    for matcher in (lower, orth):
        for match_id, start, end in matcher(doc):
            label, code = keys[match_id]
            codes = found.setdefault((start, end, label), [])
            if code not in codes:
                codes.append(code)
    names = [(start, end) for (start, end, label) in found if label in _NAME_LABELS]
    terms: list[Term] = []
    for (start, end, label), codes in found.items():
        if label in _DISEASE_LABELS and any(
                s <= start and end <= e and (s, e) != (start, end) for s, e in names):
            continue  # the disease word of a gene or drug name: "anaplastic lymphoma kinase"
        s = doc[start].idx
        last = doc[end - 1]
        terms.append(Term(s, last.idx + len(last.text), label, tuple(codes)))
    terms.sort(key=lambda t: (t.start, -t.end, LABELS.index(t.label)))
    return terms


_NAME_LABELS = frozenset({"BIOMARKER", "VARIANT", "THERAPY_CLASS", "DRUG"})
_DISEASE_LABELS = frozenset({"CANCER", "HISTOLOGY"})


def _apply_abbreviations(doc: Doc, terms: list["Term"]) -> list["Term"]:
    """Short forms defined in the text inherit the codes of their long form."""
    abbrs = getattr(doc._, "abbreviations", None) if Span.has_extension("long_form") else None
    if not abbrs:
        return terms
    by_span = {(t.start, t.end): t for t in terms}
    extra: list[Term] = []
    for short in abbrs:
        long_form = short._.long_form
        if long_form is None:
            continue
        t = by_span.get((long_form.start_char, long_form.end_char))
        if t is None:
            continue
        if (short.start_char, short.end_char) not in by_span:
            extra.append(Term(short.start_char, short.end_char, t.label, t.codes))
    if not extra:
        return terms
    merged = sorted([*terms, *extra], key=lambda t: (t.start, -t.end, LABELS.index(t.label)))
    return merged


class TermMatcher:
    """Pipeline component: ontology phrases → ``doc.ents`` and ``doc.user_data[TERMS_KEY]``.

    Fill it with :meth:`add_phrases` after ``nlp.add_pipe``; phrases are tokenized
    with the pipeline's own tokenizer, so they match the way the text is tokenized.
    """

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        self.lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.orth = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.keys: dict[int, tuple[str, str]] = {}

    def add_phrases(
        self, label: str, pairs: Iterable[tuple[str, str]], *, case_sensitive: bool = False
    ) -> int:
        """Add ``(surface form, code)`` pairs under ``label``; returns how many were
        added. Raises ``ValueError`` for an unknown label."""
        if label not in LABELS:
            raise ValueError(f"unknown term label {label!r}")
        by_key: dict[str, list[str]] = {}
        for surface, code in pairs:
            surface = surface.strip()
            if len(surface) < 2:
                continue
            by_key.setdefault(f"{label}|{code}", []).append(surface)
        matcher = self.orth if case_sensitive else self.lower
        n = 0
        tokenizer = cast(Any, self.nlp.tokenizer)
        for key, surfaces in by_key.items():
            if case_sensitive:
                forms = sorted(set(surfaces))
            else:
                # The tokenizer splits by case ("PI3K" → "PI3" "K", but "pi3k" is one
                # token), so a lower-case pattern alone misses the upper-case text: add
                # the written and upper-case forms too, one pattern per token sequence.
                forms = sorted({f for s in surfaces for f in (s.lower(), s, s.upper())})
            docs, seen = [], set()
            for d in tokenizer.pipe(forms):
                seq = tuple(t.lower_ for t in d)
                if seq not in seen:
                    seen.add(seq)
                    docs.append(d)
            matcher.add(key, docs)
            match_id = self.nlp.vocab.strings[key]
            lab, code = key.split("|", 1)
            self.keys[match_id] = (lab, code)
            n += len(docs)
        return n

    def __call__(self, doc: Doc) -> Doc:
        terms = match_terms(doc, self.lower, self.orth, self.keys)
        terms = _apply_abbreviations(doc, terms)
        doc.user_data[TERMS_KEY] = terms
        spans: list[Span] = []
        for t in terms:
            sp = doc.char_span(t.start, t.end, label=t.label, kb_id=t.codes[0])
            if sp is not None:
                spans.append(sp)
        doc.ents = filter_spans(spans)
        return doc


@Language.factory("trialmatch_terms")
def make_term_matcher(nlp: Language, name: str) -> TermMatcher:
    """Factory of the ``trialmatch_terms`` component (empty until ``add_phrases``)."""
    return TermMatcher(nlp)


# --------------------------------------------------------------------------------------
# ontology phrases
# --------------------------------------------------------------------------------------


def _pairs(obj: Any, method: str) -> list[tuple[str, str]]:
    fn = getattr(obj, method, None)
    if fn is None:
        return []
    return [(str(a), str(b)) for a, b in fn()]


def ontology_phrases(ontology: "Ontology") -> dict[tuple[str, bool], list[tuple[str, str]]]:
    """``{(label, case_sensitive): [(surface, code), ...]}`` from the ontology.

    Uses each vocabulary's ``phrases()`` (lower-case matching) and, where present,
    ``abbreviations()`` (case-sensitive); biomarker variants come from
    ``variant_phrases()``/``variant_abbreviations()``. Therapy phrases are split into
    classes and drugs by id membership.
    """
    out: dict[tuple[str, bool], list[tuple[str, str]]] = {}

    def put(label: str, cs: bool, pairs: Iterable[tuple[str, str]]) -> None:
        for surface, code in pairs:
            if not cs and _SHORT_ABBR.fullmatch(surface):
                # a short abbreviation listed among lower-case phrases ("mcl", "aml"):
                # matched case-insensitively it hits units and words ("/mcL"), so match
                # its upper-case form case-sensitively instead
                out.setdefault((label, True), []).append((surface.upper(), code))
            else:
                out.setdefault((label, cs), []).append((surface, code))

    ct = ontology.cancer_types
    put("CANCER", False, _pairs(ct, "phrases"))
    put("CANCER", True, _pairs(ct, "abbreviations"))
    hist = ontology.histology
    put("HISTOLOGY", False, _pairs(hist, "phrases"))
    put("HISTOLOGY", True, _pairs(hist, "abbreviations"))
    bio = getattr(ontology, "biomarkers", None)
    if bio is not None:
        put("BIOMARKER", False, _pairs(bio, "phrases"))
        put("BIOMARKER", True, _pairs(bio, "abbreviations"))
        put("VARIANT", False, _pairs(bio, "variant_phrases"))
        put("VARIANT", True, _pairs(bio, "variant_abbreviations"))
    ther = getattr(ontology, "therapies", None)
    if ther is not None:
        classes = set(getattr(ther, "classes", {}) or {})
        if hasattr(ther, "class_phrases") and hasattr(ther, "drug_phrases"):
            put("THERAPY_CLASS", False, _pairs(ther, "class_phrases"))
            put("DRUG", False, _pairs(ther, "drug_phrases"))
        else:
            put("THERAPY_CLASS", False, [p for p in _pairs(ther, "phrases") if p[1] in classes])
            put("DRUG", False, [p for p in _pairs(ther, "phrases") if p[1] not in classes])
        for surface, code in _pairs(ther, "abbreviations"):
            put("THERAPY_CLASS" if code in classes else "DRUG", True, [(surface, code)])
    cond = getattr(ontology, "conditions", None)
    if cond is not None:
        put("CONDITION", False, _pairs(cond, "phrases"))
        put("CONDITION", True, _pairs(cond, "abbreviations"))
    return out


# --------------------------------------------------------------------------------------
# ConText
# --------------------------------------------------------------------------------------

TERMINATING: dict[str, list[str]] = {
    "NEGATED_EXISTENCE": ["EXCEPTION", "TERMINATE", "PERMITTED", "EXCLUDED", "CONDITIONAL"],
    "EXCLUDED": ["EXCEPTION", "TERMINATE", "PERMITTED", "CONDITIONAL"],
    "PERMITTED": ["EXCEPTION", "TERMINATE", "EXCLUDED", "NEGATED_EXISTENCE"],
    "EXCEPTION": ["TERMINATE", "EXCLUDED", "PERMITTED"],
    "CONDITIONAL": ["TERMINATE", "EXCEPTION", "EXCLUDED", "PERMITTED"],
}


def _context_rules(data: Sequence[ContextRuleData]) -> list[Any]:
    with warnings.catch_warnings():  # medspacy's import resets warning filters
        from medspacy.context import ConTextRule

    return [
        ConTextRule(
            literal=r.literal,
            category=r.category,
            direction=r.direction,
            max_scope=r.max_scope,
        )
        for r in data
    ]


# --------------------------------------------------------------------------------------
# negspacy (alternative negation engine)
# --------------------------------------------------------------------------------------

NEGATIONS_KEY = "trialmatch.negations"
"""``doc.user_data`` key of the negation scopes found by ``trialmatch_negex``: a list of
``(cue_start, cue_end, scope_start, scope_end)`` character offsets."""


def negex_termset(data: Sequence[ContextRuleData]) -> dict[str, list[str]]:
    """negspacy's termset from the project's cues: forward negation cues precede,
    backward ones follow, PSEUDO cues cancel, and every scope-ending cue (TERMINATE and
    the starts of exceptions, conditions, permissions, exclusions) terminates."""
    ts: dict[str, list[str]] = {
        "pseudo_negations": [],
        "preceding_negations": [],
        "following_negations": [],
        "termination": [],
    }
    for r in data:
        if r.category == "NEGATED_EXISTENCE":
            key = "following_negations" if r.direction == "BACKWARD" else "preceding_negations"
            ts[key].append(r.literal)
        elif r.category == "PSEUDO":
            ts["pseudo_negations"].append(r.literal)
        else:
            ts["termination"].append(r.literal)
    return ts


def negation_scopes(doc: Doc, negex: Any) -> list[tuple[int, int, int, int]]:
    """NegEx (negspacy) negation scopes of ``doc`` as character offsets ``(cue_start,
    cue_end, scope_start, scope_end)``: a preceding cue negates up to the next
    terminator or sentence end, a following cue back to the previous one."""
    preceding, following, terminating = negex.process_negations(doc)
    boundaries = negex.termination_boundaries(doc, terminating)
    out: list[tuple[int, int, int, int]] = []

    def chars(a: int, b: int) -> tuple[int, int]:
        if b <= a:
            return doc[a].idx if a < len(doc) else len(doc.text), doc[a].idx if a < len(doc) else 0
        return doc[a].idx, doc[b - 1].idx + len(doc[b - 1].text)

    for b0, b1 in boundaries:
        for _mid, s, e in preceding:
            if b0 <= s < b1:
                cs, ce = chars(s, e)
                ss, se = chars(e, b1)
                out.append((cs, ce, ce, max(se, ce)))
        for _mid, s, e in following:
            if b0 <= s < b1:
                cs, ce = chars(s, e)
                ss, _se = chars(b0, s)
                out.append((cs, ce, min(ss, cs), cs))
    return out


class NegexScopes:
    """Pipeline component: negspacy's NegEx (``ent._.negex`` on entities) plus its
    scopes as :data:`NEGATIONS_KEY` for the parser's non-entity mentions."""

    def __init__(self, nlp: Language, name: str, neg_termset: dict[str, list[str]]) -> None:
        from negspacy.negation import Negex

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.negex = Negex(
                nlp,
                name,
                neg_termset=neg_termset,
                ent_types=[],
                extension_name="negex",
                chunk_prefix=[],
            )

    def __call__(self, doc: Doc) -> Doc:
        doc = self.negex(doc)
        doc.user_data[NEGATIONS_KEY] = negation_scopes(doc, self.negex)
        return doc


@Language.factory("trialmatch_negex", default_config={"neg_termset": {}})
def make_negex_scopes(nlp: Language, name: str, neg_termset: dict[str, list[str]]) -> NegexScopes:
    """Factory of the ``trialmatch_negex`` component (negspacy mode)."""
    return NegexScopes(nlp, name, neg_termset)


# --------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------


def _base_pipeline(settings: MatcherSettings) -> Language:
    if settings.spacy_model:
        if not spacy.util.is_package(settings.spacy_model):
            raise PipelineError(
                f"spaCy model {settings.spacy_model!r} is configured "
                "(TRIALMATCH_SPACY_MODEL) but not installed; install it or unset the setting"
            )
        nlp = spacy.load(settings.spacy_model, exclude=["ner"])
        return nlp
    from scispacy.custom_tokenizer import combined_rule_tokenizer

    nlp = spacy.blank("en")
    with warnings.catch_warnings():
        # scispaCy's tokenizer regex triggers Python's "Possible set union" warning.
        warnings.simplefilter("ignore", FutureWarning)
        tokenizer = combined_rule_tokenizer(nlp)
        # scispaCy keeps hyphenated and slashed compounds whole ("HER2-positive",
        # "PD-1/PD-L1"); eligibility text packs markers, statuses and classes into such
        # compounds, so split them (phrase patterns are tokenized the same way).
        base = cast(Any, tokenizer.infix_finditer).__self__.pattern
        tokenizer.infix_finditer = re.compile(base + _EXTRA_INFIXES).finditer
        nlp.tokenizer = tokenizer
    return nlp


_SHORT_ABBR = re.compile(r"[a-z][a-z0-9]{1,3}")
"""A lower-case phrase of 2–4 letters/digits: treated as an abbreviation."""

_EXTRA_INFIXES = r"|(?<=[A-Za-z0-9])[-/^](?=[A-Za-z0-9])"


def build_nlp(ontology: "Ontology", settings: MatcherSettings | None = None) -> Language:
    """Build the parser's spaCy pipeline (see the module docstring for the components).

    ``ontology`` supplies the phrase lists; ``settings`` (default: from the
    environment) chooses the base pipeline and optional components. Raises
    :class:`matchers.errors.PipelineError` if a configured ``spacy_model`` is not
    installed or the ontology yields no cancer-type phrases.
    """
    settings = settings or MatcherSettings()
    rules = load_rules()
    nlp = _base_pipeline(settings)
    first = nlp.pipe_names[0] if nlp.pipe_names else None
    if first is not None:
        nlp.add_pipe("trialmatch_criteria", before=first)
    else:
        nlp.add_pipe("trialmatch_criteria")
    if not ({"parser", "senter"} & set(nlp.pipe_names)):
        nlp.add_pipe("sentencizer", config={"punct_chars": [".", "!", "?", ";", "。"]})
    if settings.abbreviations:
        import scispacy.abbreviation  # noqa: F401  (registers the factory)

        nlp.add_pipe("abbreviation_detector")
    terms = nlp.add_pipe("trialmatch_terms")
    assert isinstance(terms, TermMatcher)
    phrases = ontology_phrases(ontology)
    n_cancer = 0
    for (label, cs), pairs in phrases.items():
        n = terms.add_phrases(label, pairs, case_sensitive=cs)
        if label == "CANCER":
            n_cancer += n
    if n_cancer == 0:
        raise PipelineError("the ontology yielded no cancer-type phrases")
    with warnings.catch_warnings():
        # Importing medspacy calls warnings.filterwarnings("ignore") process-wide;
        # catch_warnings() restores the caller's filters (pytest's "error" included).
        import medspacy.context  # noqa: F401  (registers the factory)

    ctx = nlp.add_pipe(
        "medspacy_context",
        config={
            "rules": None,
            "terminating_types": TERMINATING,
            "span_attrs": None,
            "prune_on_modifier_overlap": True,
            # The parser reads modifier scopes, not ConText's target edges: run it on
            # an empty span group so no target/modifier pairing is computed.
            "input_span_type": "group",
            "span_group_name": CONTEXT_TARGETS,
        },
    )
    context_rules = rules.context.rules
    if settings.negation == "negspacy":
        # negspacy's NegEx finds the negation cues and their scopes; ConText keeps the
        # other categories (exclusion/permission statements, exceptions, conditions)
        context_rules = tuple(r for r in context_rules if r.category != "NEGATED_EXISTENCE")
        nlp.add_pipe("trialmatch_negex", config={"neg_termset": negex_termset(rules.context.rules)})
    ctx.add(_context_rules(context_rules))  # type: ignore[attr-defined]
    return nlp
