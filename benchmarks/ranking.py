"""Ranking benchmark on hand-judged gold patients (issue 4).

    python -m benchmarks.ranking --gold ../shared/data/benchmarks/gold_patients/dev.json \\
        [--corpus ../shared/data/ctgov/studies.jsonl.gz] [--json bench-ranking.json] \\
        [--redis-url redis://127.0.0.1:6379/0]

What it does, through the product's own code paths only:

1. imports the corpus with ``trial_cache.import_dump`` (the real parser, the real store)
   into a dedicated Redis namespace (``bench-ranking``) — on the server at
   ``--redis-url`` / ``TRIALMATCH_REDIS_URL`` if given, else the embedded default — then
   loads the published generation and builds the in-memory index with
   ``service.engine.load_published_index`` — the service's own start-up path.
   Parsed criteria are cached by parser version, so a re-run re-parses nothing;
2. maps each gold ``profile`` onto ``PatientProfile`` with ONE adapter,
   :func:`gold_profile_to_patient` (general field mapping, no per-patient cases), and
   matches it with ``service.engine.match_patient`` — the function behind
   ``POST /v1/match`` (normalize + ``matchers.rank.rank_trials``) — over the whole
   index, with ``today`` = the profile's ``reference_date``;
3. scores each patient's judged trials:

   * pair accuracy: system verdict (3 classes) == gold label;
   * safety-critical errors: gold ``ineligible`` with category cancer_type, histology,
     biomarker or stage, but system ``eligible`` (listed with NCT ID and reasons);
   * nDCG@10 over the judged trials in the system's order (gains eligible 2,
     possibly 1, ineligible 0; DCG = Σ gain / log2(rank + 1), normalized by the ideal
     order of the same judged pool);
   * recall@50: share of gold eligible + possibly trials found in the system's top 50
     over the *whole* index. Gold is judged regardless of recruitment status (several
     judged trials are COMPLETED/TERMINATED/WITHDRAWN), so this ranking includes closed
     trials (``include_closed=True``) — the API's default ranks closed trials out. The
     top 50 therefore competes with ~3,600 closed records, a harder bar than the
     open-only page a user sees; gold trials outside it are printed as ``missed@50``
     lines (rank, verdict, score terms, the 50th trial's score);
4. a BM25 baseline (``bm25s``; query = the patient's free-text ``description``;
   document = title + conditions + eligibility criteria), its nDCG@10 on the same
   judged pools;
5. full-index mode (on by default; ``--no-full-index`` skips it): what a user sees.
   For each patient the top 10 the whole index gives in two modes:

   * ``open``: the API's defaults for an answer page / navigator — open trials only
     (:data:`matchers.index.OPEN_STATUSES`), exactly what ``POST /v1/match`` returns
     by default (its first 10);
   * ``all``: every status (``include_closed=True``), the first 10 of the ranking used
     for recall@50 above.

   Per patient and mode, over those 10 (:func:`score_top10`): ``judged`` (trials with a
   gold label), ``relevant`` (judged eligible or possibly_eligible), ``P@10 judged`` =
   relevant / judged (None when none is judged), ``unjudged``, ``wrong cancer`` (judged
   ineligible with category ``cancer_type``) and ``share relevant`` = relevant / trials
   listed (10, fewer only if the index has fewer) — unjudged trials count as not
   relevant there, so it is a lower bound of the issue's "≥ 80% eligible or possibly
   eligible". Every row is printed (rank, NCT ID, verdict, score, gold label/category
   or ``unjudged``, title and conditions cut short) so that a human can read the
   unjudged ones;
6. prints a table per patient and overall, then the full-index tables; the last two
   lines are one-line summaries (``SUMMARY`` pairs, then ``SUMMARY full_index``);
   ``--explain NCT`` (repeatable) prints that trial's rank, verdict, score terms, every
   criterion result and the trials ranked just above it, for each patient;
   ``--json`` writes ``overall.{pair_accuracy, safety_errors, ndcg10, ndcg10_bm25,
   recall50, full_index}`` and ``by_patient`` (each with ``full_index.{open, all}``:
   the figures and the 10 rows).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from matchers.models import IndexedTrial, TrialMatch
from matchers.patient import PatientProfile, PriorTherapy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "ctgov" / "studies.jsonl.gz"
NAMESPACE = "bench-ranking"
SAFETY_CATEGORIES = frozenset({"cancer_type", "histology", "biomarker", "stage"})
GAIN = {"eligible": 2, "possibly_eligible": 1, "ineligible": 0}
LOCK_WAIT_S = 900.0
"""Longest wait, seconds, for another checkout's import into :data:`NAMESPACE`."""
LOCK_POLL_S = 15.0
"""Seconds between attempts while the namespace's import lock is held."""

# --------------------------------------------------------------------------------------
# The adapter: gold profile → PatientProfile
# --------------------------------------------------------------------------------------

_PROGRESSED = re.compile(r"progress|refractor|relaps|recurren|fail", re.I)
_NOT_PROGRESSED = re.compile(r"complete response|partial response|stable|ongoing response",
                             re.I)
_UNRESECTABLE = re.compile(
    r"unresectable|not resectable|inoperable|not amenable|unacceptable|not operable"
    r"|medically unfit", re.I)
_RESECTABLE = re.compile(r"\bresectable|\boperable", re.I)


def _progressed(outcome: Any) -> bool | None:
    if not isinstance(outcome, str):
        return None
    if _PROGRESSED.search(outcome):
        return True
    if _NOT_PROGRESSED.search(outcome):
        return False
    return None


def _resectable(text: Any) -> bool | None:
    if not isinstance(text, str):
        return None
    if _UNRESECTABLE.search(text):
        return False
    if _RESECTABLE.search(text):
        return True
    return None


_RECURRENT = re.compile(r"(?<!no )(?<!non-)(?<!without )\b(?:recurren|relaps)", re.I)


def _stage_words(note: Any) -> str | None:
    """The disease-status word of a free-text stage note, for a cancer with no AJCC
    stage: "No AJCC stage for primary brain tumours; first recurrence" → "recurrent"."""
    if isinstance(note, str) and _RECURRENT.search(note):
        return "recurrent"
    return None


def gold_profile_to_patient(profile: Mapping[str, Any]) -> PatientProfile:
    """Map a gold ``profile`` (gold_patients README) onto the API's ``PatientProfile``.

    Field mapping (the same for every patient):

    * ``cancer_type`` ← the OncoTree code (``oncotree_code``, last ``/`` segment: the
      most specific) when given, else the ``cancer_type`` text;
    * ``histology``, ``stage``, ``age``, ``sex``, ``ecog``, ``karnofsky``,
      ``brain_metastases``, ``measurable_disease``, ``pregnant`` ← same-named fields;
      with no ``stage``, the disease-status words of ``stage_note`` ("first recurrence"
      → "recurrent");
    * ``biomarkers`` ← every scalar entry as given;
    * ``prior_therapies`` ← ``name``, ``class``, ``line``, ``setting``; ``progressed`` ←
      the free-text ``outcome`` (progression/relapse/recurrence/failure → True; a
      response or stable disease → False; else None);
    * ``resectable`` ← the free-text ``resectability`` (unresectable / not amenable /
      unacceptable deficit → False; resectable/operable → True);
    * ``conditions`` ← ``other_conditions``; ``metastatic_diagnosis_date`` ← same;
    * each therapy's ``start_date``/``end_date``/``ongoing`` ← its ``dates`` ("2024-04 to
      2024-05-24", "2025-02-20 to present", "2024-12-18").

    Other gold fields (``tnm``, ``primary_site``, notes) have no API field.
    """
    code = profile.get("oncotree_code")
    cancer = str(code).split("/")[-1] if code else str(profile["cancer_type"])
    biomarkers = {
        str(k): v for k, v in (profile.get("biomarkers") or {}).items()
        if isinstance(v, (str, int, float, bool)) and str(k).strip()
    }
    therapies: list[PriorTherapy] = []
    for t in profile.get("prior_therapies") or []:
        line = t.get("line")
        start, end, ongoing = _dates(t.get("dates"))
        therapies.append(PriorTherapy.model_validate({
            "name": t.get("name"),
            "class": t.get("class"),
            "line": line if isinstance(line, int) else None,
            "setting": t.get("setting"),
            "progressed": _progressed(t.get("outcome")),
            "start_date": start,
            "end_date": end,
            "ongoing": ongoing,
        }))
    return PatientProfile(
        cancer_type=cancer,
        histology=profile.get("histology"),
        stage=profile.get("stage") or _stage_words(profile.get("stage_note")),
        biomarkers=biomarkers,
        age=profile.get("age"),
        sex=profile.get("sex"),
        ecog=profile.get("ecog"),
        karnofsky=profile.get("karnofsky"),
        prior_therapies=therapies,
        brain_metastases=profile.get("brain_metastases"),
        measurable_disease=profile.get("measurable_disease"),
        resectable=_resectable(profile.get("resectability")),
        pregnant=profile.get("pregnant"),
        conditions=[str(c) for c in profile.get("other_conditions") or []],
        metastatic_diagnosis_date=_day(profile.get("metastatic_diagnosis_date")),
    )


_DAY = re.compile(r"^\s*(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?\s*$")


def _day(text: object) -> str | None:
    """An ISO day from "2024", "2024-04" or "2024-04-12" (a year or month is read as its
    first day, as the patient contract does); None for anything else."""
    m = _DAY.match(str(text)) if text else None
    if m is None:
        return None
    return f"{m.group(1)}-{m.group(2) or '01'}-{m.group(3) or '01'}"


def _dates(text: object) -> tuple[str | None, str | None, bool | None]:
    """(start, end, ongoing) from a gold ``dates`` string: "2024-04 to 2024-05-24",
    "2025-02-20 to present" (ongoing True), "2024-12-18" (one day: start = end);
    ``ongoing`` is None unless the text says so."""
    if not text:
        return None, None, None
    parts = [p.strip() for p in str(text).split(" to ")]
    if len(parts) == 2:
        if parts[1].lower() in ("present", "now", "ongoing"):
            return _day(parts[0]), None, True
        return _day(parts[0]), _day(parts[1]), None
    one = _day(parts[0])
    return one, one, None


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------


def ndcg_at(gains_in_order: Sequence[int], k: int = 10) -> float:
    """nDCG@k with linear gains and log2(rank + 1) discounts; 1.0 for an all-zero pool."""
    def dcg(g: Sequence[int]) -> float:
        return sum(x / math.log2(i + 2) for i, x in enumerate(g[:k]))
    ideal = dcg(sorted(gains_in_order, reverse=True))
    return 1.0 if ideal == 0 else dcg(gains_in_order) / ideal


@dataclass
class PatientScore:
    id: str
    judged: int
    correct: int
    ndcg10: float
    ndcg10_bm25: float
    recall50: float
    relevant: int
    safety: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    match_ms: float = 0.0
    missed: list[dict[str, Any]] = field(default_factory=list)
    """Gold eligible/possibly trials outside the top 50: rank, verdict, score, score
    terms, and the 50th trial's score (``cutoff_score``)."""
    full_index: dict[str, Top10Score] = field(default_factory=dict)
    """Full-index mode (``open``, ``all``) → the patient's top-10 figures."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.judged if self.judged else 1.0


def score_patient(
    pid: str,
    judgments: Sequence[Mapping[str, Any]],
    ranked: Sequence[TrialMatch],
    bm25_scores: Mapping[str, float],
) -> PatientScore:
    pos = {m.nct_id: i for i, m in enumerate(ranked)}
    by_id = {m.nct_id: m for m in ranked}
    correct = 0
    safety: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for j in judgments:
        nct = j["nct_id"]
        m = by_id.get(nct)
        got = m.verdict.value if m else "ineligible"
        if got == j["label"]:
            correct += 1
        else:
            reasons = [c.reason for c in m.criteria if c.status.value != "met"][:4] if m else [
                "trial not in index"]
            errors.append({"nct_id": nct, "gold": j["label"], "system": got,
                           "category": j.get("category"), "reasons": reasons})
        if (j["label"] == "ineligible" and j.get("category") in SAFETY_CATEGORIES
                and got == "eligible"):
            reasons = [c.reason for c in m.criteria if c.status.value == "met"][:6] if m else []
            safety.append({"nct_id": nct, "category": j.get("category"), "reasons": reasons})
    inf = len(ranked) + 1
    judged_sorted = sorted(judgments, key=lambda j: (pos.get(j["nct_id"], inf), j["nct_id"]))
    ndcg = ndcg_at([GAIN[j["label"]] for j in judged_sorted])
    bm25_sorted = sorted(judgments, key=lambda j: (-bm25_scores.get(j["nct_id"], 0.0),
                                                    j["nct_id"]))
    ndcg_bm25 = ndcg_at([GAIN[j["label"]] for j in bm25_sorted])
    relevant = [j for j in judgments if j["label"] != "ineligible"]
    top50 = {m.nct_id for m in ranked[:50]}
    recall = (sum(1 for j in relevant if j["nct_id"] in top50) / len(relevant)
              if relevant else 1.0)
    missed: list[dict[str, Any]] = []
    for j in relevant:
        if j["nct_id"] in top50:
            continue
        m = by_id.get(j["nct_id"])
        rank = pos.get(j["nct_id"])
        missed.append({
            "nct_id": j["nct_id"], "gold": j["label"], "rank": None if rank is None
            else rank + 1, "system": m.verdict.value if m else None,
            "score": m.score if m else None,
            "explanation": list(m.score_explanation) if m else [],
            "cutoff_score": ranked[49].score if len(ranked) >= 50 else None,
        })
    return PatientScore(pid, len(judgments), correct, ndcg, ndcg_bm25, recall, len(relevant),
                        safety, errors, missed=missed)


FULL_INDEX_K = 10
"""Trials a full-index mode scores per patient (an answer page lists 10)."""
FULL_INDEX_MODES = ("open", "all")
"""``open``: the API's default status filter (open trials only); ``all``: every status."""
WRONG_CANCER = "cancer_type"
"""Gold category of an ineligible judgment that is "another cancer"."""


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class Top10Score:
    """One patient's top ``k`` of the whole index in one mode (``open`` or ``all``).

    ``n`` trials listed (``k`` unless the index holds fewer); ``judged`` of them have a
    gold label, ``relevant`` are judged eligible or possibly_eligible, ``wrong_cancer``
    are judged ineligible with category ``cancer_type``; ``unjudged`` = n - judged.
    ``rows`` are printable dicts (rank, nct_id, verdict, score, overall_status, gold,
    category, title, conditions).
    """

    mode: str
    n: int
    judged: int
    relevant: int
    wrong_cancer: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unjudged(self) -> int:
        return self.n - self.judged

    @property
    def p10_judged(self) -> float | None:
        """Relevant / judged among the listed trials; None when none is judged."""
        return self.relevant / self.judged if self.judged else None

    @property
    def share_relevant(self) -> float:
        """Relevant / listed: unjudged trials count as not relevant (a lower bound)."""
        return self.relevant / self.n if self.n else 0.0

    def figures(self) -> dict[str, Any]:
        p10 = self.p10_judged
        return {"n": self.n, "judged": self.judged, "unjudged": self.unjudged,
                "relevant": self.relevant, "wrong_cancer": self.wrong_cancer,
                "p10_judged": None if p10 is None else round(p10, 4),
                "share_relevant": round(self.share_relevant, 4)}


def score_top10(
    mode: str,
    top: Sequence[TrialMatch],
    judgments: Sequence[Mapping[str, Any]],
    conditions: Mapping[str, Sequence[str]],
    k: int = FULL_INDEX_K,
) -> Top10Score:
    """Score the first ``k`` of ``top`` (a system ranking, best first) against gold
    ``judgments`` (``nct_id``, ``label``, ``category``). ``conditions`` maps an NCT ID to
    the trial's CT.gov conditions (for the printed rows only)."""
    gold = {j["nct_id"]: j for j in judgments}
    rows: list[dict[str, Any]] = []
    judged = relevant = wrong = 0
    for rank, m in enumerate(top[:k], start=1):
        j = gold.get(m.nct_id)
        if j is not None:
            judged += 1
            if j["label"] != "ineligible":
                relevant += 1
            elif j.get("category") == WRONG_CANCER:
                wrong += 1
        rows.append({
            "rank": rank, "nct_id": m.nct_id, "verdict": m.verdict.value, "score": m.score,
            "overall_status": m.overall_status,
            "gold": j["label"] if j else None, "category": j.get("category") if j else None,
            "title": m.title, "conditions": list(conditions.get(m.nct_id, ())),
        })
    return Top10Score(mode, len(rows), judged, relevant, wrong, rows)


def summarize_top10(scores: Sequence[Top10Score]) -> dict[str, Any]:
    """Totals of one mode over patients: listed, judged, unjudged, relevant,
    wrong_cancer; ``p10_judged`` = relevant / judged (micro); ``share_relevant`` =
    relevant / listed (micro); ``patients_share_ge_80`` = patients whose share is ≥ 0.8;
    ``patients_wrong_cancer`` = patients with at least one wrong-cancer trial."""
    n = sum(s.n for s in scores)
    judged = sum(s.judged for s in scores)
    relevant = sum(s.relevant for s in scores)
    return {
        "patients": len(scores), "n": n, "judged": judged, "unjudged": n - judged,
        "relevant": relevant, "wrong_cancer": sum(s.wrong_cancer for s in scores),
        "p10_judged": round(relevant / judged, 4) if judged else None,
        "share_relevant": round(relevant / n, 4) if n else 0.0,
        "patients_share_ge_80": sum(1 for s in scores if s.share_relevant >= 0.8),
        "patients_wrong_cancer": sum(1 for s in scores if s.wrong_cancer),
    }


# --------------------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------------------


async def load_index(corpus: Path, redis_url: str | None, ontology: Any, *,
                     namespace: str = NAMESPACE) -> Any:
    """Import ``corpus`` through ``trial_cache.import_dump`` with the service's parser and
    index-code function into the Redis ``namespace``, then load the published generation
    exactly as the service does at start-up (``service.engine.load_published_index``).
    Returns the service's ``LoadedIndex`` snapshot. While another import holds the
    namespace's lock it waits (polling every :data:`LOCK_POLL_S` s, at most
    :data:`LOCK_WAIT_S` s). Exits
    (``SystemExit``) when the wait runs out, nothing is published, or the published
    generation was parsed by another parser version (another checkout imported into the
    same namespace after us)."""
    from matchers.parser import PARSER_VERSION
    from matchers.settings import MatcherSettings
    from service.engine import index_codes_for, load_published_index, make_parser
    from trial_cache.embedded import open_redis
    from trial_cache.errors import SyncInProgressError
    from trial_cache.importer import import_dump
    from trial_cache.settings import TrialCacheSettings
    from trial_cache.store import TrialStore

    overrides: dict[str, Any] = {"redis_namespace": namespace}
    if redis_url:
        overrides["redis_url"] = redis_url
    settings = TrialCacheSettings(**overrides)
    parser = make_parser(ontology, MatcherSettings())
    redis, close = await open_redis(settings)
    try:
        store = TrialStore(redis, settings.redis_namespace)
        t0 = time.perf_counter()
        while True:
            try:
                report = await import_dump(
                    corpus, store=store, parser=parser,
                    index_codes=index_codes_for(ontology), settings=settings,
                )
                break
            except SyncInProgressError as exc:
                # Another checkout imports into the same namespace: wait for its lock.
                if time.perf_counter() - t0 > LOCK_WAIT_S:
                    raise SystemExit(f"{exc}; gave up after {LOCK_WAIT_S:.0f}s") from exc
                print(f"import: {exc}; waiting", file=sys.stderr)
                await asyncio.sleep(LOCK_POLL_S)
        counts = report.model_dump_json(
            include={"new", "updated", "unchanged", "parsed", "quarantined"})
        print(f"import: {counts} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        t0 = time.perf_counter()
        loaded = await load_published_index(store, ontology)
    finally:
        await close()
    if loaded is None:
        raise SystemExit("nothing published after the import")
    if loaded.parser_version != PARSER_VERSION:
        # The namespace is shared by every checkout that runs this benchmark on the same
        # Redis: another parser may have published after our import.
        raise SystemExit(f"published generation {loaded.generation} was parsed by parser "
                         f"{loaded.parser_version}, not this checkout's {PARSER_VERSION}; "
                         "re-run (another checkout imported into the same namespace)")
    gc.collect()
    gc.freeze()  # long-lived index: keep it out of the cyclic GC (as build_index does)
    print(f"index: {len(loaded)} trials in {time.perf_counter() - t0:.1f}s (generation "
          f"{loaded.generation}, parser {loaded.parser_version})", file=sys.stderr)
    return loaded


def ranking_document(trial: IndexedTrial) -> str:
    """The BM25 document of this benchmark: title, official title, conditions and
    eligibility criteria text."""
    s = trial.summary
    return " ".join([s.title or "", s.official_title or "", " ".join(s.conditions),
                     s.eligibility_text])


def bm25_scorer(index: Iterable[IndexedTrial],
                document: Callable[[IndexedTrial], str] = ranking_document) -> Any:
    """A function ``query text -> {nct_id: score}`` over the whole index (bm25s), one
    document per trial built by ``document``."""
    import bm25s

    ids: list[str] = []
    docs: list[str] = []
    for t in index:
        ids.append(t.summary.nct_id)
        docs.append(document(t))
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(docs, stopwords="en", show_progress=False),
                    show_progress=False)

    def score(query: str) -> dict[str, float]:
        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False,
                                show_progress=False)[0]
        scores = retriever.get_scores(tokens)
        return {nct: float(x) for nct, x in zip(ids, scores, strict=True)}

    return score


def explain_trial(pid: str, nct: str, ranked: Sequence[TrialMatch]) -> None:
    """``--explain NCT``: print the trial's rank, verdict, score terms and every criterion
    result for one patient, plus the trials ranked just above it (debugging aid)."""
    for i, m in enumerate(ranked):
        if m.nct_id != nct:
            continue
        print(f"EXPLAIN {pid} {nct} rank={i + 1} verdict={m.verdict.value} "
              f"score={m.score}: " + "; ".join(m.score_explanation))
        for c in m.criteria:
            print(f"    [{c.kind.value[:4]} {c.status.value:<7} {c.category or '-'}"
                  f"{' key' if c.key else ''}] {c.reason[:200]}")
        for a in ranked[max(0, i - 3):i]:
            print(f"    above: {a.nct_id} {a.verdict.value} {a.score} {a.title[:70]}")
        return
    print(f"EXPLAIN {pid} {nct}: not ranked")


def run(gold_path: Path, corpus: Path, redis_url: str | None,
        explain: Sequence[str] = (), full_index: bool = True) -> dict[str, Any]:
    from ontologies import load_ontology

    gold = json.loads(gold_path.read_text())
    ontology = load_ontology()
    from service.engine import match_patient

    loaded = asyncio.run(load_index(corpus, redis_url, ontology))
    bm25 = bm25_scorer(loaded.index)
    conditions = {t.summary.nct_id: t.summary.conditions for t in loaded.index}
    scores: list[PatientScore] = []
    for p in gold["patients"]:
        profile = gold_profile_to_patient(p["profile"])
        ref = p["profile"].get("reference_date")
        today = date.fromisoformat(ref) if ref else date.today()
        t0 = time.perf_counter()
        ranked = match_patient(loaded, ontology, profile, today=today, limit=len(loaded),
                               include_closed=True).results
        ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        # The API's defaults (open trials only, TRIALMATCH_DEFAULT_MATCH_LIMIT = 20);
        # its first 10 are the full-index "open" mode.
        page = match_patient(loaded, ontology, profile, today=today, limit=20).results
        api_ms = (time.perf_counter() - t1) * 1000
        for nct in explain:
            explain_trial(p["id"], nct, ranked)
        sc = score_patient(p["id"], p["judgments"], ranked, bm25(p["description"]))
        sc.match_ms = api_ms
        if full_index:
            sc.full_index = {
                "open": score_top10("open", page, p["judgments"], conditions),
                "all": score_top10("all", ranked, p["judgments"], conditions),
            }
        print(f"  {p['id']}: full ranking {ms:.0f} ms, default page {api_ms:.1f} ms",
              file=sys.stderr)
        scores.append(sc)
    return report(scores)


def report(scores: Sequence[PatientScore]) -> dict[str, Any]:
    judged = sum(s.judged for s in scores)
    correct = sum(s.correct for s in scores)
    relevant = sum(s.relevant for s in scores)
    found = sum(round(s.recall50 * s.relevant) for s in scores)
    n = len(scores) or 1
    overall: dict[str, Any] = {
        "pair_accuracy": round(correct / judged, 4) if judged else 1.0,
        "safety_errors": sum(len(s.safety) for s in scores),
        "ndcg10": round(sum(s.ndcg10 for s in scores) / n, 4),
        "ndcg10_bm25": round(sum(s.ndcg10_bm25 for s in scores) / n, 4),
        "recall50": round(found / relevant, 4) if relevant else 1.0,
        "pairs": judged,
        "patients": len(scores),
    }
    header = f"{'patient':<58} {'pairs':>5} {'acc':>6} {'safety':>6} {'nDCG10':>7} " \
             f"{'BM25':>6} {'R@50':>6} {'ms':>6}"
    print(header)
    print("-" * len(header))
    for s in scores:
        print(f"{s.id[:58]:<58} {s.judged:>5} {s.accuracy:>6.3f} {len(s.safety):>6} "
              f"{s.ndcg10:>7.3f} {s.ndcg10_bm25:>6.3f} {s.recall50:>6.3f} {s.match_ms:>6.1f}")
    print("-" * len(header))
    print(f"{'overall':<58} {judged:>5} {overall['pair_accuracy']:>6.3f} "
          f"{overall['safety_errors']:>6} {overall['ndcg10']:>7.3f} "
          f"{overall['ndcg10_bm25']:>6.3f} {overall['recall50']:>6.3f}")
    for s in scores:
        for e in s.safety:
            print(f"SAFETY {s.id} {e['nct_id']} [{e['category']}]: " + " | ".join(e["reasons"]))
    for s in scores:
        for mi in s.missed:
            print(f"missed@50 {s.id} {mi['nct_id']} gold={mi['gold']} rank={mi['rank']} "
                  f"system={mi['system']} score={mi['score']} (50th: {mi['cutoff_score']}): "
                  + "; ".join(mi["explanation"]))
    for s in scores:
        for e in s.errors:
            print(f"error {s.id} {e['nct_id']} gold={e['gold']} system={e['system']} "
                  f"[{e['category']}]: " + " | ".join(e["reasons"])[:400])
    full = {mode: summarize_top10([s.full_index[mode] for s in scores
                                   if mode in s.full_index])
            for mode in FULL_INDEX_MODES if any(mode in s.full_index for s in scores)}
    if full:
        overall["full_index"] = full
        print_full_index(scores)
    print(f"SUMMARY pair_accuracy={overall['pair_accuracy']:.3f} "
          f"safety_errors={overall['safety_errors']} ndcg10={overall['ndcg10']:.3f} "
          f"ndcg10_bm25={overall['ndcg10_bm25']:.3f} recall50={overall['recall50']:.3f}")
    if full:
        print("SUMMARY full_index top10 " + " | ".join(
            f"{MODE_LABEL[mode]}: p10_judged={_fmt(f['p10_judged'])} "
            f"share_relevant={f['share_relevant']:.3f} unjudged={f['unjudged']}/{f['n']} "
            f"wrong_cancer={f['wrong_cancer']} "
            f"patients_share>=0.8={f['patients_share_ge_80']}/{f['patients']}"
            for mode, f in full.items()))
    return {
        "overall": overall,
        "by_patient": {
            s.id: {"pairs": s.judged, "pair_accuracy": round(s.accuracy, 4),
                   "safety_errors": s.safety, "ndcg10": round(s.ndcg10, 4),
                   "ndcg10_bm25": round(s.ndcg10_bm25, 4), "recall50": round(s.recall50, 4),
                   "match_ms_default_page": round(s.match_ms, 2), "errors": s.errors,
                   "missed_at_50": s.missed,
                   **({"full_index": {mode: {**t.figures(), "top10": t.rows}
                                      for mode, t in s.full_index.items()}}
                      if s.full_index else {})}
            for s in scores
        },
    }


MODE_LABEL = {"open": "open trials only (API default)",
              "all": "all statuses (include_closed)"}


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def print_full_index(scores: Sequence[PatientScore]) -> None:
    """Print, per full-index mode, a per-patient table of the top-10 figures and then
    every patient's 10 rows."""
    for mode in FULL_INDEX_MODES:
        tops = [(s.id, s.full_index[mode]) for s in scores if mode in s.full_index]
        if not tops:
            continue
        print()
        print(f"FULL INDEX top {FULL_INDEX_K}, {MODE_LABEL[mode]}")
        head = (f"{'patient':<58} {'judged':>6} {'unjudg':>6} {'P@10j':>6} "
                f"{'wrongCa':>7} {'share':>6}")
        print(head)
        print("-" * len(head))
        for pid, t in tops:
            print(f"{pid[:58]:<58} {t.judged:>6} {t.unjudged:>6} {_fmt(t.p10_judged):>6} "
                  f"{t.wrong_cancer:>7} {t.share_relevant:>6.3f}")
        f = summarize_top10([t for _, t in tops])
        print("-" * len(head))
        print(f"{'overall':<58} {f['judged']:>6} {f['unjudged']:>6} "
              f"{_fmt(f['p10_judged']):>6} {f['wrong_cancer']:>7} {f['share_relevant']:>6.3f}")
        for pid, t in tops:
            print(f"  {pid} ({mode}):")
            for r in t.rows:
                gold = (f"{r['gold']}/{r['category']}" if r["gold"] else "unjudged")
                print(f"    {r['rank']:>2} {r['nct_id']} {r['verdict']:<17} {r['score']:.2f} "
                      f"{(r['overall_status'] or '-')[:12]:<12} {gold:<28} "
                      f"{_cut(r['title'], 70)} | {_cut('; '.join(r['conditions']), 60)}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ranking", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", type=Path, required=True, help="gold patients JSON")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                    help="CT.gov v2 studies dump (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=None, help="write metrics JSON here")
    ap.add_argument("--redis-url", default=os.environ.get("TRIALMATCH_REDIS_URL"),
                    help="Redis server (default: TRIALMATCH_REDIS_URL, else embedded)")
    ap.add_argument("--explain", action="append", default=[], metavar="NCT",
                    help="print rank, score terms and criterion results of this trial for "
                         "every patient (repeatable)")
    ap.add_argument("--full-index", action=argparse.BooleanOptionalAction, default=True,
                    help="score and print each patient's top 10 of the whole index, open "
                         "trials only and all statuses (default: on)")
    args = ap.parse_args(argv)
    out = run(args.gold, args.corpus, args.redis_url, args.explain, args.full_index)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
