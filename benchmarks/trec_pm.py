"""TREC Precision Medicine benchmark: topics as navigator inputs, over the whole index.

    python -m benchmarks.trec_pm \\
        --topics ../shared/data/benchmarks/trec_pm_2017/topics2017.xml \\
        --qrels ../shared/data/benchmarks/trec_pm_2017/qrels-treceval-clinical_trials.2017.txt \\
        [--corpus ../shared/data/ctgov/studies.jsonl.gz] [--redis-url redis://127.0.0.1:6379/6] \\
        [--json bench-trec.json] [--today 2025-11-01] [--depth 1000]

Any year's TREC PM topics and clinical-trials judgments run unchanged: topics are the
track's XML (``<topic number="N">`` with ``<disease>``, ``<gene>``, ``<demographic>``
and, in 2017 only, ``<other>``; a missing element is simply unknown), judgments are
trec_eval qrels lines ``topic iteration docno grade`` (grades 0 not relevant, 1
partially, 2 definitely relevant; a negative grade is read as 0).

What it does, through the product's own entry points only:

1. loads the index exactly as :mod:`benchmarks.ranking` does (its ``load_index`` and
   Redis namespace: ``trial_cache.import_dump`` then
   ``service.engine.load_published_index``; a first run parses the 7.5k-trial corpus,
   ≈ 1.5–2 min, later runs reuse the parse cache);
2. maps each topic onto a :class:`matchers.patient.PatientProfile` with ONE adapter,
   :func:`topic_to_profile` (no per-topic cases): disease → ``cancer_type`` text;
   gene → ``biomarkers`` (:func:`parse_genes`); demographic → ``age``/``sex``
   (:func:`parse_demographic`); other → ``conditions`` (:func:`parse_other`). Prior
   therapies, stage and everything else are unknown (absent);
3. ranks the WHOLE index for it, every status included (``include_closed=True``,
   ``limit`` = the index size), with ``service.engine.match_patient`` — the function
   behind ``POST /v1/match`` — and ``today`` = ``--today`` (default: the current date);
   a topic whose disease the ontology cannot resolve (``PatientProfileError``, a 422 in
   the API) is reported by name and scored 0 on every system metric, never dropped;
4. a BM25 baseline (``bm25s``) on the same corpus in the same run: query = disease +
   gene + demographic text; document = title, official title, conditions, keywords and
   eligibility criteria text;
5. scores both rankings on the judged trials that are in our corpus only
   (:func:`evaluate`; the counts of judged and relevant trials in and out of the corpus
   are printed per topic). See :func:`evaluate` for the exact definitions: nDCG@10,
   P@10 and R-precision on the ranking condensed to judged trials; recall@100 and
   recall@``depth`` over the full ranking; "returned" = ranked within the first
   ``depth`` (1000) AND not judged ineligible by the matcher;
6. prints a per-topic table, each topic's top 5 (NCT ID, verdict, score, TREC grade or
   ``unjudged``, title), every relevant judged trial that was not returned (rank,
   verdict, the reasons of its unmet criteria), the adapter's reading of every topic
   with the disease, genes and variants the ontology does not know, and a last
   ``SUMMARY`` line; ``--json`` writes all of it.

Means are over the topics with at least one relevant judged trial in the corpus (the
others have no defined nDCG/P@10/recall; they are listed, not averaged). Shares of
relevant trials ("returned", recall@depth) are also given pooled over all topics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from benchmarks.ranking import DEFAULT_CORPUS, bm25_scorer, load_index
from matchers.models import IndexedTrial, TrialMatch
from matchers.patient import PatientProfile

DEFAULT_DEPTH = 1000
"""Ranks that count as "returned" (a navigator scrolling far; the API's own page is at
most ``TRIALMATCH_MAX_MATCH_LIMIT`` = 200)."""
TOP_SHOWN = 5
"""Trials printed per topic."""
RELEVANT_GRADE = 1
"""Lowest qrels grade that counts as relevant (TREC PM: 1 partially, 2 definitely)."""


class TrecDataError(ValueError):
    """A topics or qrels file cannot be read. ``path`` and ``line`` (0 = the whole file)
    say where; the message says what."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}{f':{line}' if line else ''}: {message}")


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrecTopic:
    """One TREC PM topic. ``number`` is the topic id as a string (as in the qrels);
    absent or empty elements are None."""

    number: str
    disease: str | None = None
    gene: str | None = None
    demographic: str | None = None
    other: str | None = None


TOPIC_FIELDS = ("disease", "gene", "demographic", "other")


def read_topics(path: Path) -> list[TrecTopic]:
    """Read a TREC PM topics XML file (``<topics><topic number="N">…</topic></topics>``).

    Each of ``disease``, ``gene``, ``demographic``, ``other`` is the stripped text of
    that child element, or None when the element is missing or empty (2018/2019 topics
    have no ``<other>``). Raises :class:`TrecDataError` on malformed XML, a topic
    without a ``number`` attribute, or a duplicate number.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise TrecDataError(path, 0, f"not readable as topics XML ({exc})") from exc
    topics: list[TrecTopic] = []
    seen: set[str] = set()
    for el in root.iter("topic"):
        number = (el.get("number") or "").strip()
        if not number:
            raise TrecDataError(path, 0, f"topic #{len(topics) + 1} has no 'number'")
        if number in seen:
            raise TrecDataError(path, 0, f"topic number {number} appears twice")
        seen.add(number)
        values: dict[str, str | None] = {}
        for name in TOPIC_FIELDS:
            child = el.find(name)
            text = " ".join("".join(child.itertext()).split()) if child is not None else ""
            values[name] = text or None
        topics.append(TrecTopic(number=number, **values))
    if not topics:
        raise TrecDataError(path, 0, "no <topic> elements")
    return topics


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Read trec_eval qrels (``topic iteration docno grade``, whitespace-separated) into
    ``{topic: {docno: grade}}``. Blank lines are skipped; a negative grade is read as 0.

    Raises :class:`TrecDataError` (with the line number) on a line without exactly four
    fields, a non-integer grade, or the same (topic, docno) judged twice with different
    grades.
    """
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise TrecDataError(path, lineno, f"expected 4 fields, got {len(parts)}")
            topic, _iteration, doc, grade_text = parts
            try:
                grade = max(0, int(grade_text))
            except ValueError as exc:
                raise TrecDataError(path, lineno, f"grade {grade_text!r} is not an integer"
                                    ) from exc
            judged = qrels.setdefault(topic, {})
            if judged.get(doc, grade) != grade:
                raise TrecDataError(path, lineno, f"{doc} judged {judged[doc]} and {grade} "
                                    f"for topic {topic}")
            judged[doc] = grade
    return qrels


# --------------------------------------------------------------------------------------
# The adapter: topic → PatientProfile
# --------------------------------------------------------------------------------------

_SYMBOL = re.compile(r"(?<![\w-])[A-Z][A-Z0-9]*[0-9A-Z](?:-[A-Z0-9]+)*(?![\w-])")
"""An HGNC-style gene symbol (upper case letters and digits, ≥ 2 characters, hyphenated
pairs kept whole: "KRAS", "CDKN2A", "EML4-ALK", "MSI")."""
_PROTEIN_CHANGE = re.compile(
    r"^(?:p\.)?[A-Z]\d+(?:_[A-Z]\d+)?(?:[A-Z*]|fs\w*|del\w*|dup\w*|ins\w*|X)?$")
"""A protein change (HGVS-like, one-letter amino acids): "G13D", "K322", "A502_Y503dup",
"E17K", "Q61K", "p.V600E". Such tokens are variants, never gene symbols."""
_FUSION_WORDS = re.compile(r"\b(?:fusions?|rearrange\w*|translocat\w*)\b", re.I)
_ITEM_SPLIT = re.compile(r"[,;](?![^()]*\))")
"""Commas/semicolons outside parentheses separate the topic's alterations."""
BARE_GENE_RESULT = "altered"
"""Result given to a gene named without a variant or an alteration word ("KRAS",
"BRCA2"): the TREC PM gene field lists the patient's altered genes, kind unstated."""


def _result_words(text: str) -> str:
    """Result text of one alteration: parentheses unwrapped, whitespace collapsed,
    ordinary words lower-cased (alteration words: "Amplification" → "amplification"),
    tokens with digits or several capitals kept ("G13D", "A502_Y503dup")."""
    words = []
    for w in text.replace("(", " ").replace(")", " ").split():
        w = w.strip(" -:")
        if not w:
            continue
        keep = any(c.isdigit() for c in w) or sum(c.isupper() for c in w) > 1
        words.append(w if keep else w.lower())
    return " ".join(words)


def parse_genes(text: str | None) -> dict[str, str]:
    """The topic's ``gene`` field as ``PatientProfile.biomarkers`` (marker → result).

    One alteration per comma/semicolon-separated item (outside parentheses). In each,
    the first gene symbol that is not a protein change is the marker; the rest of the
    item is the result text (:func:`_result_words`):

    * ``"KRAS (G13D), BRAF (V600E)"`` → ``{"KRAS": "G13D", "BRAF": "V600E"}``
    * ``"CDK4 Amplification"`` → ``{"CDK4": "amplification"}``; ``"CDKN2A Deletion"``
      → ``{"CDKN2A": "deletion"}``; ``"high-level MSI"`` → ``{"MSI": "high-level"}``
    * a fusion (an item saying fusion/rearrangement/translocation whose symbol is a
      hyphenated pair, 5' partner first by HGNC convention): the marker is the 3'
      partner, the result keeps the pair: ``"EML4-ALK Fusion transcript"`` →
      ``{"ALK": "EML4-ALK fusion transcript"}``
    * a gene alone → :data:`BARE_GENE_RESULT` (``"KRAS"`` → ``{"KRAS": "altered"}``)
    * an item with no gene symbol ("microsatellite instability high") → the item is
      both the marker text and the result (the normalizer resolves marker names inside
      it)
    * the same marker twice → results joined with ``"; "``.

    ``None``, ``""`` and ``"None"`` give ``{}``. Keys longer than 60 characters (the
    profile's limit) are cut.
    """
    out: dict[str, str] = {}
    if not text or text.strip().lower() == "none":
        return out
    for raw in _ITEM_SPLIT.split(text):
        item = " ".join(raw.split())
        if not item:
            continue
        symbols = [m for m in _SYMBOL.finditer(item) if not _PROTEIN_CHANGE.match(m.group())]
        if not symbols:
            marker, result = item[:60], item
        else:
            sym = symbols[0]
            rest = _result_words(item[: sym.start()] + " " + item[sym.end():])
            parts = sym.group().split("-")
            if len(parts) > 1 and _FUSION_WORDS.search(item):
                marker = parts[-1]
                result = f"{sym.group()} {rest}".strip()
            else:
                marker = sym.group()
                result = rest or BARE_GENE_RESULT
        out[marker] = f"{out[marker]}; {result}" if marker in out else result
    return out


_DEMOGRAPHIC = re.compile(
    r"(?P<age>\d+(?:\.\d+)?)\s*[- ]?\s*(?P<unit>year|yr|month|week|day)s?[- ]?old"
    r"|(?P<sex>\b(?:male|female|man|woman|boy|girl)\b)", re.I)
_SEX: dict[str, Sex] = {"male": "male", "man": "male", "boy": "male",
        "female": "female", "woman": "female", "girl": "female"}
_UNIT_YEARS = {"year": 1.0, "yr": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25}


Sex = Literal["female", "male"]


def parse_demographic(text: str | None) -> tuple[float | None, Sex | None]:
    """``"38-year-old male"`` → (38.0, "male"); ``"8-month-old girl"`` → (0.67, "female");
    age in years (rounded to 2 decimals), sex ``male``/``female``; None for what the
    text does not say."""
    age: float | None = None
    sex: Sex | None = None
    for m in _DEMOGRAPHIC.finditer(text or ""):
        if m.group("age") and age is None:
            age = round(float(m.group("age")) * _UNIT_YEARS[m.group("unit").lower()], 2)
        elif m.group("sex") and sex is None:
            sex = _SEX[m.group("sex").lower()]
    return age, sex


def parse_other(text: str | None) -> list[str]:
    """The ``other`` field (comorbidities) as ``conditions``: comma/semicolon-separated
    items; ``"None"`` (or nothing) → ``[]``."""
    if not text or text.strip().lower() in {"none", "n/a", "-"}:
        return []
    items = (" ".join(x.split()) for x in re.split(r"[,;]", text))
    return [x for x in items if x and x.lower() != "none"]


def topic_to_profile(topic: TrecTopic) -> PatientProfile:
    """Map a topic onto the API's ``PatientProfile`` (the same for every topic):
    ``cancer_type`` ← disease text; ``biomarkers`` ← :func:`parse_genes`; ``age``,
    ``sex`` ← :func:`parse_demographic`; ``conditions`` ← :func:`parse_other`.
    ``prior_therapies`` and every other field stay absent (= unknown).

    Raises ``pydantic.ValidationError`` when the topic has no disease (``cancer_type``
    is required); a disease the ontology cannot resolve is refused later, by
    ``match_patient`` (``PatientProfileError``)."""
    age, sex = parse_demographic(topic.demographic)
    return PatientProfile(
        cancer_type=topic.disease or "",
        biomarkers=parse_genes(topic.gene),
        age=age,
        sex=sex,
        conditions=parse_other(topic.other),
    )


def topic_query(topic: TrecTopic) -> str:
    """The BM25 query: disease, gene and demographic text."""
    return " ".join(x for x in (topic.disease, topic.gene, topic.demographic) if x)


# --------------------------------------------------------------------------------------
# Metrics (on judged trials in the corpus)
# --------------------------------------------------------------------------------------


def dcg(gains: Sequence[int], k: int) -> float:
    """Σ gain / log2(rank + 1) over the first ``k`` (linear gains, rank from 1)."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))


def ndcg(gains_in_order: Sequence[int], all_gains: Sequence[int], k: int = 10) -> float:
    """nDCG@k of a ranking's gains against the ideal order of ``all_gains`` (the whole
    judged pool); 0.0 when the pool has no positive gain."""
    ideal = dcg(sorted(all_gains, reverse=True), k)
    return dcg(gains_in_order, k) / ideal if ideal else 0.0


def precision_at(relevant_flags: Sequence[bool], k: int) -> float:
    """Relevant among the first ``k`` / ``k`` (trec_eval: a short list still divides by
    ``k``)."""
    return sum(relevant_flags[:k]) / k if k else 0.0


def r_precision(relevant_flags: Sequence[bool], n_relevant: int) -> float:
    """Precision at rank R, R = the number of relevant trials; 0.0 when R = 0."""
    return sum(relevant_flags[:n_relevant]) / n_relevant if n_relevant else 0.0


def recall_at(ranks: Mapping[str, int], relevant: Sequence[str], k: int) -> float:
    """Share of ``relevant`` ids whose 1-based rank in ``ranks`` is ≤ ``k`` (absent =
    not ranked); 0.0 when there is nothing relevant."""
    if not relevant:
        return 0.0
    return sum(1 for r in relevant if ranks.get(r, k + 1) <= k) / len(relevant)


@dataclass
class RunScore:
    """One ranking of one topic. ``found_depth`` / ``returned`` count relevant trials
    (ranked within ``depth``; and not judged ineligible, for the matcher)."""

    ndcg10: float = 0.0
    p10: float = 0.0
    rprec: float = 0.0
    recall100: float = 0.0
    recall_depth: float = 0.0
    found_depth: int = 0
    returned: int | None = None
    unjudged10: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"ndcg10": round(self.ndcg10, 4), "p10": round(self.p10, 4),
                "rprec": round(self.rprec, 4), "recall100": round(self.recall100, 4),
                "recall_depth": round(self.recall_depth, 4), "found_depth": self.found_depth,
                "returned": self.returned, "unjudged10": self.unjudged10}


def evaluate(
    ranking: Sequence[str],
    judged: Mapping[str, int],
    *,
    depth: int = DEFAULT_DEPTH,
    ineligible: frozenset[str] | None = None,
) -> RunScore:
    """Score one topic's ``ranking`` (NCT IDs, best first, over the whole index) against
    ``judged`` (NCT ID → grade 0/1/2, only judged trials that are in the corpus).

    * nDCG@10 (gains = grades), P@10 and R-precision: on the ranking *condensed* to the
      judged trials (unjudged ones removed, judged ones the ranking lacks appended in
      NCT order), so trials TREC never judged (our corpus is newer than the 2017
      collection) neither help nor hurt;
    * recall@100 and recall@``depth``: share of relevant (grade ≥ 1) judged trials
      ranked within the first 100 / ``depth`` of the FULL ranking (unjudged trials do
      take ranks there: it is what a user scrolls through);
    * ``returned`` (only when ``ineligible`` — the matcher's ineligible NCT IDs — is
      given): relevant judged trials ranked within ``depth`` and not in ``ineligible``;
    * ``unjudged10``: unjudged trials among the first 10 of the full ranking.
    """
    positions = {nct: i + 1 for i, nct in enumerate(ranking)}
    seen = [nct for nct in ranking if nct in judged]
    seen_set = set(seen)
    condensed = seen + sorted(nct for nct in judged if nct not in seen_set)
    gains = [judged[n] for n in condensed]
    rel_flags = [g >= RELEVANT_GRADE for g in gains]
    relevant = [n for n, g in judged.items() if g >= RELEVANT_GRADE]
    score = RunScore(
        ndcg10=ndcg(gains, list(judged.values()), 10),
        p10=precision_at(rel_flags, 10),
        rprec=r_precision(rel_flags, len(relevant)),
        recall100=recall_at(positions, relevant, 100),
        recall_depth=recall_at(positions, relevant, depth),
        found_depth=sum(1 for r in relevant if positions.get(r, depth + 1) <= depth),
        unjudged10=sum(1 for nct in ranking[:10] if nct not in judged),
    )
    if ineligible is not None:
        score.returned = sum(1 for r in relevant if positions.get(r, depth + 1) <= depth
                             and r not in ineligible)
    return score


# --------------------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------------------


def trec_document(trial: IndexedTrial) -> str:
    """The BM25 document: title, official title, conditions, keywords and eligibility
    criteria text."""
    s = trial.summary
    return " ".join([s.title or "", s.official_title or "", " ".join(s.conditions),
                     " ".join(s.keywords), s.eligibility_text])


@dataclass
class TopicResult:
    topic: TrecTopic
    biomarkers: dict[str, str]
    judged_total: int
    relevant_total: int
    judged: dict[str, int]
    system: RunScore
    bm25: RunScore
    resolved: str | None = None
    """The disease as the ontology's ``resolve_one`` reads it ("LUAD Lung
    Adenocarcinoma"), for the reader; None when unresolved."""
    error: str | None = None
    """Why the matcher refused the topic (PatientProfileError), else None."""
    unknown_markers: list[str] = field(default_factory=list)
    unknown_variants: list[str] = field(default_factory=list)
    top: list[dict[str, Any]] = field(default_factory=list)
    not_returned: list[dict[str, Any]] = field(default_factory=list)
    """Relevant judged trials the matcher did not return: NCT ID, grade, rank, verdict
    and the reasons of its first criteria that are not met."""
    match_ms: float = 0.0

    @property
    def relevant(self) -> int:
        return sum(1 for g in self.judged.values() if g >= RELEVANT_GRADE)


def ontology_gaps(biomarkers: Mapping[str, str], ontology: Any) -> tuple[list[str], list[str]]:
    """(markers, variants) of a topic the ontology's biomarker vocabulary does not know:
    a marker key ``resolve_marker`` cannot resolve; a protein-change token of the result
    ("G13D") for which ``resolve_variant`` finds no variant of that marker."""
    vocab = ontology.biomarkers
    markers: list[str] = []
    variants: list[str] = []
    for key, result in biomarkers.items():
        marker = vocab.resolve_marker(key)
        if marker is None:
            markers.append(key)
            continue
        for token in result.replace(";", " ").split():
            if _PROTEIN_CHANGE.match(token) and vocab.resolve_variant(token, marker) is None:
                variants.append(f"{key} {token}")
    return markers, variants


def run(topics_path: Path, qrels_path: Path, corpus: Path, redis_url: str | None,
        today: date, depth: int) -> dict[str, Any]:
    from matchers.errors import PatientProfileError
    from ontologies import load_ontology
    from service.engine import match_patient

    topics = read_topics(topics_path)
    qrels = read_qrels(qrels_path)
    ontology = load_ontology()
    loaded = asyncio.run(load_index(corpus, redis_url, ontology))
    t0 = time.perf_counter()
    bm25 = bm25_scorer(loaded.index, trec_document)
    print(f"bm25: indexed {len(loaded)} trials in {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    in_corpus = {t.summary.nct_id for t in loaded.index}
    results: list[TopicResult] = []
    for topic in topics:
        all_judged = qrels.get(topic.number, {})
        judged = {n: g for n, g in all_judged.items() if n in in_corpus}
        scores = bm25(topic_query(topic))
        bm25_ranking = sorted(scores, key=lambda n: (-scores[n], n))
        res = TopicResult(
            topic=topic, biomarkers=parse_genes(topic.gene),
            judged_total=len(all_judged),
            relevant_total=sum(1 for g in all_judged.values() if g >= RELEVANT_GRADE),
            judged=judged, system=RunScore(returned=0),
            bm25=evaluate(bm25_ranking, judged, depth=depth),
        )
        res.unknown_markers, res.unknown_variants = ontology_gaps(res.biomarkers, ontology)
        if topic.disease:
            try:
                hit = ontology.cancer_types.resolve_one(topic.disease)
                res.resolved = f"{hit.code} {hit.name}"
            except Exception:  # UnknownConditionError: the matcher's refusal says it below
                res.resolved = None
        t1 = time.perf_counter()
        ranked: Sequence[TrialMatch] = ()
        try:
            ranked = match_patient(loaded, ontology, topic_to_profile(topic), today=today,
                                   limit=len(loaded), include_closed=True).results
        except PatientProfileError as exc:
            res.error = f"{exc.field}: {exc.message}" + (
                f" (suggestions: {', '.join(exc.suggestions[:3])})" if exc.suggestions else "")
        except ValidationError as exc:  # no <disease>: the profile itself is invalid
            res.error = "profile: " + "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        res.match_ms = (time.perf_counter() - t1) * 1000
        if ranked:
            ineligible = frozenset(m.nct_id for m in ranked if m.verdict.value == "ineligible")
            res.system = evaluate([m.nct_id for m in ranked], judged, depth=depth,
                                  ineligible=ineligible)
            for i, m in enumerate(ranked):
                grade = judged.get(m.nct_id, 0)
                if grade >= RELEVANT_GRADE and (i >= depth or m.verdict.value == "ineligible"):
                    res.not_returned.append({
                        "nct_id": m.nct_id, "grade": grade, "rank": i + 1,
                        "verdict": m.verdict.value, "title": m.title,
                        "reasons": [c.reason for c in m.criteria
                                    if c.status.value == "not_met"][:3]})
            res.top = [{"rank": i + 1, "nct_id": m.nct_id, "verdict": m.verdict.value,
                        "score": m.score, "overall_status": m.overall_status,
                        "grade": judged.get(m.nct_id), "title": m.title}
                       for i, m in enumerate(ranked[:TOP_SHOWN])]
        print(f"  topic {topic.number}: {res.match_ms:.0f} ms", file=sys.stderr)
        results.append(res)
    return report(results, depth=depth, today=today, topics_path=topics_path,
                  qrels_path=qrels_path, corpus_size=len(loaded))


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


METRICS = ("ndcg10", "p10", "rprec", "recall100", "recall_depth")


def overall(results: Sequence[TopicResult]) -> dict[str, Any]:
    """Means (over topics with ≥ 1 relevant judged trial in the corpus; unresolved
    topics included with their zeros) and pooled shares of relevant trials."""
    scored = [r for r in results if r.relevant]
    relevant = sum(r.relevant for r in scored)
    out: dict[str, Any] = {
        "topics": len(results), "scored_topics": len(scored),
        "no_relevant_in_corpus": [r.topic.number for r in results if not r.relevant],
        "unresolved": [r.topic.number for r in results if r.error],
        "judged_in_corpus": sum(len(r.judged) for r in results),
        "judged_total": sum(r.judged_total for r in results),
        "relevant_in_corpus": relevant,
        "relevant_total": sum(r.relevant_total for r in results),
    }
    for run_name in ("system", "bm25"):
        runs = [getattr(r, run_name) for r in scored]
        out[run_name] = {m: round(_mean([getattr(x, m) for x in runs]), 4) for m in METRICS}
        out[run_name]["found_depth_pooled"] = (
            round(sum(x.found_depth for x in runs) / relevant, 4) if relevant else 0.0)
    out["system"]["returned_pooled"] = (
        round(sum(r.system.returned or 0 for r in scored) / relevant, 4) if relevant else 0.0)
    out["system"]["returned_mean"] = round(_mean(
        [(r.system.returned or 0) / r.relevant for r in scored]), 4)
    return out


def report(results: Sequence[TopicResult], *, depth: int, today: date, topics_path: Path,
           qrels_path: Path, corpus_size: int) -> dict[str, Any]:
    ov = overall(results)
    print(f"TREC PM: {topics_path.name} × {qrels_path.name}; {corpus_size} trials in the "
          f"index, all statuses; today={today}; depth={depth}")
    print("judged = judged trials in our corpus / judged in the qrels; rel = the same for "
          "grade ≥ 1.\nnDCG@10, P@10, R-prec on the ranking condensed to judged trials; "
          f"R@100, R@{depth} over the full ranking;\nret = relevant ranked ≤ {depth} and "
          "not judged ineligible by the matcher (share of rel in corpus); "
          "unj = unjudged in the full top 10.")
    head = (f"{'topic':<5} {'disease':<24} {'judged':>9} {'rel':>7} | "
            f"{'nDCG10':>6} {'bm25':>5} | {'P@10':>5} {'bm25':>5} | {'Rprec':>5} {'bm25':>5} | "
            f"{'R@100':>5} {'bm25':>5} | {'ret':>5} {'R@' + str(depth):>6} {'bm25':>5} | "
            f"{'unj':>3}")
    print(head)
    print("-" * len(head))
    for r in results:
        s, b = r.system, r.bm25
        rel = r.relevant
        ret = f"{(s.returned or 0) / rel:.2f}" if rel else "  -"
        flag = " UNRESOLVED" if r.error else (" (no rel)" if not rel else "")
        print(f"{r.topic.number:<5} {(r.topic.disease or '-')[:24]:<24} "
              f"{len(r.judged):>4}/{r.judged_total:<4} {rel:>3}/{r.relevant_total:<3} | "
              f"{s.ndcg10:>6.3f} {b.ndcg10:>5.3f} | {s.p10:>5.2f} {b.p10:>5.2f} | "
              f"{s.rprec:>5.3f} {b.rprec:>5.3f} | {s.recall100:>5.2f} {b.recall100:>5.2f} | "
              f"{ret:>5} {s.recall_depth:>6.2f} {b.recall_depth:>5.2f} | "
              f"{s.unjudged10:>3}{flag}")
    print("-" * len(head))
    so, bo = ov["system"], ov["bm25"]
    over = f"over {ov['scored_topics']} topics"
    print(f"{'mean':<5} {over:<24} "
          f"{ov['judged_in_corpus']:>4}/{ov['judged_total']:<4} "
          f"{ov['relevant_in_corpus']:>3}/{ov['relevant_total']:<3} | "
          f"{so['ndcg10']:>6.3f} {bo['ndcg10']:>5.3f} | {so['p10']:>5.2f} {bo['p10']:>5.2f} | "
          f"{so['rprec']:>5.3f} {bo['rprec']:>5.3f} | "
          f"{so['recall100']:>5.2f} {bo['recall100']:>5.2f} | "
          f"{so['returned_mean']:>5.2f} {so['recall_depth']:>6.2f} {bo['recall_depth']:>5.2f} |")
    print()
    print("Adapter reading per topic (disease → ontology resolve_one; genes → biomarkers; "
          "unknown = not in the biomarker vocabulary):")
    for r in results:
        t = r.topic
        gaps = []
        if r.unknown_markers:
            gaps.append("unknown markers: " + ", ".join(r.unknown_markers))
        if r.unknown_variants:
            gaps.append("unknown variants: " + ", ".join(r.unknown_variants))
        print(f"  {t.number:>3} {t.disease!r} → {r.resolved or 'UNRESOLVED'}; "
              f"gene {t.gene!r} → {json.dumps(r.biomarkers)}"
              + (f"; {'; '.join(gaps)}" if gaps else ""))
    print()
    for r in results:
        if r.error:
            print(f"UNRESOLVED topic {r.topic.number} disease {r.topic.disease!r}: {r.error}")
            continue
        print(f"top {TOP_SHOWN} topic {r.topic.number} ({r.topic.disease}; {r.topic.gene}):")
        for row in r.top:
            grade = "unjudged" if row["grade"] is None else f"grade {row['grade']}"
            print(f"    {row['rank']} {row['nct_id']} {row['verdict']:<17} {row['score']:.2f} "
                  f"{(row['overall_status'] or '-')[:12]:<12} {grade:<9} "
                  f"{' '.join(row['title'].split())[:80]}")
    for r in results:
        for nr in r.not_returned:
            print(f"not returned: topic {r.topic.number} {nr['nct_id']} grade={nr['grade']} "
                  f"rank={nr['rank']} {nr['verdict']} ({' '.join(nr['title'].split())[:60]}): "
                  + " | ".join(nr["reasons"])[:300])
    unresolved = [f"{r.topic.number} {r.topic.disease!r}" for r in results if r.error]
    marker_gaps = [f"{r.topic.number} {', '.join(r.unknown_markers + r.unknown_variants)}"
                   for r in results if r.unknown_markers or r.unknown_variants]
    print(f"ontology gaps: diseases unresolved: {'; '.join(unresolved) or 'none'}; "
          f"genes/variants unknown: {'; '.join(marker_gaps) or 'none'}")
    print(f"SUMMARY trec_pm topics={ov['topics']} scored={ov['scored_topics']} "
          f"unresolved={len(ov['unresolved'])} "
          f"ndcg10={so['ndcg10']:.3f} (bm25 {bo['ndcg10']:.3f}) "
          f"p10={so['p10']:.3f} (bm25 {bo['p10']:.3f}) "
          f"rprec={so['rprec']:.3f} (bm25 {bo['rprec']:.3f}) "
          f"recall100={so['recall100']:.3f} (bm25 {bo['recall100']:.3f}) "
          f"returned@{depth}={so['returned_pooled']:.3f} "
          f"recall{depth}={so['found_depth_pooled']:.3f} "
          f"(bm25 {bo['found_depth_pooled']:.3f}; pooled over "
          f"{ov['relevant_in_corpus']} relevant judged trials in the corpus)")
    return {
        "topics_file": str(topics_path), "qrels_file": str(qrels_path), "today": str(today),
        "depth": depth, "corpus_trials": corpus_size, "overall": ov,
        "by_topic": {
            r.topic.number: {
                "topic": {f: getattr(r.topic, f) for f in TOPIC_FIELDS},
                "biomarkers": r.biomarkers, "resolved": r.resolved, "error": r.error,
                "unknown_markers": r.unknown_markers, "unknown_variants": r.unknown_variants,
                "judged_in_corpus": len(r.judged), "judged_total": r.judged_total,
                "relevant_in_corpus": r.relevant, "relevant_total": r.relevant_total,
                "system": r.system.as_dict(), "bm25": r.bm25.as_dict(),
                "top": r.top, "not_returned": r.not_returned,
                "match_ms": round(r.match_ms, 1),
            }
            for r in results
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.trec_pm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topics", type=Path, required=True, help="TREC PM topics XML")
    ap.add_argument("--qrels", type=Path, required=True, help="trec_eval qrels (trials)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                    help="CT.gov v2 studies dump (default: %(default)s)")
    ap.add_argument("--redis-url", default=os.environ.get("TRIALMATCH_REDIS_URL"),
                    help="Redis server (default: TRIALMATCH_REDIS_URL, else embedded)")
    ap.add_argument("--today", type=date.fromisoformat, default=date.today(),
                    help="date time windows count from (default: today)")
    ap.add_argument("--depth", type=int, default=DEFAULT_DEPTH,
                    help="ranks that count as returned (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=None, help="write everything as JSON here")
    args = ap.parse_args(argv)
    try:
        out = run(args.topics, args.qrels, args.corpus, args.redis_url, args.today,
                  args.depth)
    except TrecDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
