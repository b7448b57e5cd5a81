"""Free-text patients: note extraction accuracy and note-driven ranking (issue 9).

    python -m benchmarks.notes [--gold ../shared/data/benchmarks/gold_patients/dev.json]
        [--topics ../shared/data/benchmarks/trec_ct_2021/topics.jsonl
         --qrels ../shared/data/benchmarks/trec_ct_2021/qrels.txt]
        [--corpus ../shared/data/ctgov/studies.jsonl.gz] [--redis-url redis://127.0.0.1:6379/0]
        [--skip-gold] [--skip-trec] [--json bench-notes.json]

Two measurements, through the product's own code paths only
(:class:`matchers.notes.NoteExtractor` behind ``POST /v1/patients/extract``, and
``service.engine.match_patient`` behind ``POST /v1/match``):

1. **Field accuracy of note extraction** on the ``description`` texts of the gold
   patients, against their ``profile`` (mapped with ``benchmarks.ranking``'s one
   adapter). Both profiles go through ``matchers.normalize.normalize_patient`` and are
   compared on what the matcher uses: cancer type (OncoTree code exactly; "consistent"
   also counts a code in the other's lineage), AJCC stage label, histology id, each
   biomarker the gold profile states with a result for a marker of the ontology (per
   marker: altered/expressed call and variants;
   plus HER2 category, HR status, PD-L1 TPS/CPS ranges), ECOG, prior-therapy classes
   (the class closure, as a set), systemic lines (overall and in the advanced setting),
   brain metastases. A field counts for a patient when the gold profile states it;
   ``spurious`` counts patients where the gold leaves it unknown and the note
   extraction states something. ``today`` = the profile's ``reference_date``.
2. **TREC Clinical Trials 2021** (topics: free-text patient descriptions; qrels:
   0 not relevant, 1 excluded, 2 eligible): each topic → extracted profile → match over
   the whole index, closed trials included. Scored on the judged trials that are in the
   corpus: nDCG@10 (gains 0/1/2), P@10 (relevant = eligible), and the separation of
   eligible (2) from excluded (1): AUC (the chance that a random eligible trial ranks
   above a random excluded one, ties ½) and the gap between the shares of eligible and
   excluded trials the system does not call ineligible. Beside it, BM25 (``bm25s``;
   query = the topic text; documents = title + conditions + eligibility text, as
   ``benchmarks.ranking``). A topic without an extracted cancer type gets no ranking
   (the service needs a cancer type): its judged trials are tied and ordered by NCT ID.
   Cancer topics — whose text names a cancer word outside a negation and outside a
   sentence about another person (:func:`is_cancer_topic`), or for which the extractor
   found a cancer type — are reported separately; the TREC 2021 best automatic run's nDCG@10
   (0.71) was on the full 375k-trial collection, not comparable.
   Topic ids: a qrels topic matches a topic ``_id`` exactly, or the number after a
   ``trec-YYYY`` prefix (``trec-20211`` → ``1``), so other years' files in the same
   format run unchanged.

The index is imported into the Redis namespace ``bench-notes`` (on ``--redis-url`` /
``TRIALMATCH_REDIS_URL``, else the embedded Redis), with the real parser; parsed
criteria are cached by parser version, so only the first run parses (1.5-2 min).
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.ranking import ROOT, bm25_scorer, gold_profile_to_patient, load_index, ndcg_at

SHARED = ROOT.parent / "shared" / "data"
DEFAULT_GOLD = SHARED / "benchmarks" / "gold_patients" / "dev.json"
DEFAULT_TOPICS = SHARED / "benchmarks" / "trec_ct_2021" / "topics.jsonl"
DEFAULT_QRELS = SHARED / "benchmarks" / "trec_ct_2021" / "qrels.txt"
DEFAULT_CORPUS = SHARED / "ctgov" / "studies.jsonl.gz"
NAMESPACE = "bench-notes"
TREC_REFERENCE_DATE = date(2021, 4, 1)
"""``today`` for TREC topics (they carry no date): the track's 2021 run period."""

_CANCER_WORDS = re.compile(
    r"\b(?:cancer|carcinoma|adenocarcinoma|tumou?r|malignan\w+|neoplasm|lymphoma|leuka?emia"
    r"|melanoma|sarcoma|myeloma|glioma|astrocytoma|glioblastoma|\w+blastoma|mesothelioma"
    r"|metasta\w+)\b", re.I)

_NEGATED_BEFORE = re.compile(r"\b(?:no|negative\s+for|without|free\s+of|ruled\s+out|denies)"
                             r"\b[^.;]{0,25}$", re.I)


_OTHER_PERSON = re.compile(r"\b(?:husband|wife|spouse|partner|mother|father|sister|brother"
                           r"|son|daughter|aunt|uncle|cousin|grand\w+|family)\b", re.I)


def is_cancer_topic(text: str) -> bool:
    """True if the text names a cancer word outside a negation ("negative for
    hepatocellular carcinoma") and outside a sentence about another person ("her husband
    was diagnosed with colon cancer"). A word rule, independent of the extractor."""
    for m in _CANCER_WORDS.finditer(text):
        start = max(text.rfind(". ", 0, m.start()), 0)
        end = text.find(". ", m.end())
        sentence = text[start:end if end >= 0 else len(text)]
        if not _NEGATED_BEFORE.search(text[max(0, m.start() - 40):m.start()]) and not (
                _OTHER_PERSON.search(sentence)):
            return True
    return False


# --------------------------------------------------------------------------------------
# 1. field accuracy
# --------------------------------------------------------------------------------------


@dataclass
class FieldScore:
    n: int = 0
    right: int = 0
    spurious: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, gold: Any, got: Any, *, pid: str, right: bool | None = None) -> None:
        if gold is None:
            if got is not None:
                self.spurious += 1
                self.misses.append(f"{pid}: spurious {got!r}")
            return
        self.n += 1
        ok = (gold == got) if right is None else right
        if ok:
            self.right += 1
        else:
            self.misses.append(f"{pid}: gold {gold!r} got {got!r}")


def _marker_view(m: Any) -> tuple[Any, tuple[str, ...]]:
    return (m.positive, tuple(sorted(m.variants)))


def field_accuracy(gold_path: Path, extractor: Any, ontology: Any) -> dict[str, Any]:
    """Per-field share of gold patients whose note extraction is exactly right."""
    from matchers.normalize import normalize_patient

    gold = json.loads(gold_path.read_text())
    fields = {k: FieldScore() for k in (
        "cancer_type", "cancer_type_consistent", "stage", "histology", "biomarker",
        "ecog", "therapy_classes", "systemic_lines", "systemic_lines_advanced",
        "brain_metastases")}
    per_patient: dict[str, Any] = {}
    times: list[float] = []
    for p in gold["patients"]:
        pid = p["id"]
        ref = p["profile"].get("reference_date")
        today = date.fromisoformat(ref) if ref else date.today()
        t0 = time.perf_counter()
        result = extractor.extract(p["description"], today=today)
        times.append((time.perf_counter() - t0) * 1000)
        g = normalize_patient(gold_profile_to_patient(p["profile"]), ontology)
        x = normalize_patient(result.profile, ontology) if result.profile is not None else None
        tree = ontology.cancer_types
        fields["cancer_type"].add(g.cancer.code, x.cancer.code if x else None, pid=pid)
        fields["cancer_type_consistent"].add(
            g.cancer.code, x.cancer.code if x else None, pid=pid,
            right=bool(x and (tree.is_within(x.cancer.code, g.cancer.code)
                              or tree.is_within(g.cancer.code, x.cancer.code))))
        fields["stage"].add(g.stage.label, x.stage.label if x else None, pid=pid)
        fields["histology"].add(g.histology, x.histology if x else None, pid=pid)
        for marker, mr in sorted(g.biomarkers.markers.items()):
            if marker not in ontology.biomarkers.markers or (mr.positive is None
                                                             and not mr.variants):
                continue  # a marker the matcher does not know, or "not tested"
            got = x.biomarkers.markers.get(marker) if x else None
            fields["biomarker"].add(f"{marker}={_marker_view(mr)}",
                                    f"{marker}={_marker_view(got)}" if got else None,
                                    pid=pid)
        for name in ("her2_category", "hr_positive", "pdl1_tps", "pdl1_cps"):
            gv = getattr(g, name)
            if gv is not None:
                fields["biomarker"].add(f"{name}={gv}", f"{name}={getattr(x, name)}" if x
                                        else None, pid=pid)
        fields["ecog"].add(g.performance.ecog, x.performance.ecog if x else None, pid=pid)
        gold_known = p["profile"].get("prior_therapies") is not None
        fields["therapy_classes"].add(
            sorted(g.therapy.classes) if gold_known else None,
            sorted(x.therapy.classes) if x and result.profile and result.profile.therapies_known
            else None, pid=pid)
        fields["systemic_lines"].add(g.therapy.systemic_lines if gold_known else None,
                                     x.therapy.systemic_lines if x and result.profile and
                                     result.profile.therapies_known else None, pid=pid)
        fields["systemic_lines_advanced"].add(
            g.therapy.systemic_lines_advanced if gold_known else None,
            x.therapy.systemic_lines_advanced if x and result.profile and
            result.profile.therapies_known else None, pid=pid)
        fields["brain_metastases"].add(g.brain_metastases, x.brain_metastases if x else None,
                                       pid=pid)
        per_patient[pid] = {"draft": result.draft, "missing": result.missing}
    print(f"\nNote extraction on {len(gold['patients'])} gold descriptions "
          f"(median {sorted(times)[len(times) // 2]:.0f} ms per note, 2 shared cores)")
    print(f"{'field':<26} {'n':>4} {'right':>6} {'share':>7} {'spurious':>9}")
    out: dict[str, Any] = {}
    for name, sc in fields.items():
        share = sc.right / sc.n if sc.n else float("nan")
        print(f"{name:<26} {sc.n:>4} {sc.right:>6} {share:>7.3f} {sc.spurious:>9}")
        out[name] = {"n": sc.n, "right": sc.right, "share": round(share, 4) if sc.n else None,
                     "spurious": sc.spurious, "misses": sc.misses}
    for name, sc in fields.items():
        for miss in sc.misses:
            print(f"  miss {name}: {miss}")
    return {"fields": out, "patients": per_patient}


# --------------------------------------------------------------------------------------
# 2. TREC CT
# --------------------------------------------------------------------------------------


def read_topics(path: Path) -> dict[str, str]:
    """``_id`` → text of a TREC topics JSONL file (``{"_id", "text"}`` per line)."""
    topics: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            topics[str(row["_id"])] = str(row["text"])
    return topics


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Topic → {NCT ID: relevance} of a TREC qrels file (``topic 0 doc rel`` lines)."""
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].lstrip("-").isdigit():
            qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return qrels


def qrels_topic(topic_id: str, qrels: Mapping[str, Any]) -> str | None:
    """The qrels topic of a topic ``_id``: itself, or the number after ``trec-YYYY``."""
    if topic_id in qrels:
        return topic_id
    m = re.fullmatch(r"trec-?(?:19|20)\d\d-?(\d+)", topic_id)
    if m and m.group(1) in qrels:
        return m.group(1)
    m = re.search(r"(\d+)$", topic_id)
    return m.group(1) if m and m.group(1) in qrels else None


def auc(order: Sequence[str], labels: Mapping[str, int]) -> float | None:
    """P(random eligible (2) ranks above random excluded (1)); ties ½; None without both."""
    pos = {d: i for i, d in enumerate(order)}
    eligible = [pos[d] for d, r in labels.items() if r == 2 and d in pos]
    excluded = [pos[d] for d, r in labels.items() if r == 1 and d in pos]
    if not eligible or not excluded:
        return None
    wins = sum(1.0 if e < x else 0.5 if e == x else 0.0 for e in eligible for x in excluded)
    return wins / (len(eligible) * len(excluded))


@dataclass
class TopicScore:
    topic: str
    cancer: bool
    profiled: bool
    judged: int
    ndcg10: float
    p10: float
    auc: float | None
    ndcg10_bm25: float
    p10_bm25: float
    auc_bm25: float | None
    gap: float | None


def _metrics(order: Sequence[str], labels: Mapping[str, int]) -> tuple[float, float, float | None]:
    gains = [labels[d] for d in order]
    top = order[:10]
    p10 = sum(1 for d in top if labels[d] == 2) / 10
    return ndcg_at(gains, 10), p10, auc(order, labels)


def _open_share(ids: Sequence[str], verdicts: Mapping[str, str]) -> float:
    """Share of ``ids`` the system does not call ineligible (unranked = ineligible)."""
    return sum(1 for d in ids if verdicts.get(d, "ineligible") != "ineligible") / len(ids)


def _mean(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(vals) / len(vals) if vals else None


def trec(topics_path: Path, qrels_path: Path, corpus: Path, redis_url: str | None,
         extractor: Any, ontology: Any) -> dict[str, Any]:
    from service.engine import match_patient

    topics = read_topics(topics_path)
    qrels = read_qrels(qrels_path)
    loaded = asyncio.run(load_index(corpus, redis_url, ontology, namespace=NAMESPACE))
    in_corpus = {t.summary.nct_id for t in loaded.index}
    bm25 = bm25_scorer(loaded.index)
    scores: list[TopicScore] = []
    for tid, text in topics.items():
        qt = qrels_topic(tid, qrels)
        if qt is None:
            continue
        labels = {d: r for d, r in qrels[qt].items() if d in in_corpus}
        if not labels:
            continue
        result = extractor.extract(text, today=TREC_REFERENCE_DATE)
        cancer = is_cancer_topic(text) or "cancer_type" in result.draft
        verdicts: dict[str, str] = {}
        ranked_ids: list[str] = []
        if result.profile is not None:
            try:
                ranked = match_patient(loaded, ontology, result.profile,
                                       today=TREC_REFERENCE_DATE, limit=len(loaded),
                                       include_closed=True).results
            except Exception as exc:  # a profile the matcher refuses: scored as no ranking
                print(f"  {tid}: not matched ({type(exc).__name__})", file=sys.stderr)
                ranked = ()
            ranked_ids = [m.nct_id for m in ranked]
            verdicts = {m.nct_id: m.verdict.value for m in ranked}
        pos = {d: i for i, d in enumerate(ranked_ids)}
        order = sorted(labels, key=lambda d: (pos.get(d, len(pos)), d))
        ndcg, p10, a = _metrics(order, labels)
        bscores = bm25(text)
        border = sorted(labels, key=lambda d: (-bscores.get(d, 0.0), d))
        bndcg, bp10, ba = _metrics(border, labels)
        gap: float | None = None
        el = [d for d, r in labels.items() if r == 2]
        ex = [d for d, r in labels.items() if r == 1]
        if el and ex and verdicts:
            gap = _open_share(el, verdicts) - _open_share(ex, verdicts)
        scores.append(TopicScore(qt, cancer, result.profile is not None, len(labels), ndcg, p10,
                                 a, bndcg, bp10, ba, gap))
        print(f"  topic {qt:>3}: cancer={cancer!s:<5} profile={result.draft.get('cancer_type')}"
              f" judged={len(labels)} nDCG10={ndcg:.3f} bm25={bndcg:.3f}", file=sys.stderr)
    report: dict[str, Any] = {}
    print(f"\nTREC CT ({topics_path.parent.name}): judged trials in the corpus only; "
          f"index {len(loaded)} trials, closed included")
    header = (f"{'topics':<22} {'n':>3} {'prof':>4} {'nDCG10':>7} {'BM25':>6} {'P@10':>6} "
              f"{'BM25':>6} {'AUC2v1':>7} {'BM25':>6} {'gap2v1':>7}")
    print(header)
    print("-" * len(header))
    for name, group in (("all", scores), ("cancer", [s for s in scores if s.cancer]),
                        ("non-cancer", [s for s in scores if not s.cancer]),
                        ("with a profile", [s for s in scores if s.profiled])):
        row = {
            "topics": len(group),
            "profiled": sum(1 for s in group if s.profiled),
            "ndcg10": _mean(s.ndcg10 for s in group),
            "ndcg10_bm25": _mean(s.ndcg10_bm25 for s in group),
            "p10": _mean(s.p10 for s in group),
            "p10_bm25": _mean(s.p10_bm25 for s in group),
            "auc_2v1": _mean(s.auc for s in group),
            "auc_2v1_bm25": _mean(s.auc_bm25 for s in group),
            "verdict_gap_2v1": _mean(s.gap for s in group),
        }
        report[name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}

        def fmt(v: Any, w: int) -> str:
            return f"{v:>{w}.3f}" if isinstance(v, float) else f"{'-':>{w}}"

        print(f"{name:<22} {row['topics']:>3} {row['profiled']:>4} {fmt(row['ndcg10'], 7)} "
              f"{fmt(row['ndcg10_bm25'], 6)} {fmt(row['p10'], 6)} {fmt(row['p10_bm25'], 6)} "
              f"{fmt(row['auc_2v1'], 7)} {fmt(row['auc_2v1_bm25'], 6)} "
              f"{fmt(row['verdict_gap_2v1'], 7)}")
    report["by_topic"] = [s.__dict__ for s in scores]
    return report


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.notes", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    ap.add_argument("--topics", type=Path, default=DEFAULT_TOPICS)
    ap.add_argument("--qrels", type=Path, default=DEFAULT_QRELS)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--redis-url", default=os.environ.get("TRIALMATCH_REDIS_URL"))
    ap.add_argument("--skip-gold", action="store_true")
    ap.add_argument("--skip-trec", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from matchers.notes import NoteExtractor, build_note_nlp
    from ontologies import load_ontology

    ontology = load_ontology()
    extractor = NoteExtractor(build_note_nlp(ontology), ontology)
    out: dict[str, Any] = {}
    if not args.skip_gold:
        out["field_accuracy"] = field_accuracy(args.gold, extractor, ontology)
    if not args.skip_trec:
        out["trec"] = trec(args.topics, args.qrels, args.corpus, args.redis_url, extractor,
                           ontology)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
