"""Golden outputs of parsing and matching, to land a refactor behind a diff.

    python -m benchmarks.golden --write before.json [--redis-url redis://127.0.0.1:6379/6]
    python -m benchmarks.golden --compare before.json [--write after.json]

Records, through the product's own code paths (the same import and index load as
:mod:`benchmarks.ranking`):

* **extraction**: for every trial of the corpus, each criterion's final kind and its
  facts, projected on the fields that existed when the file was written (fields added
  later are ignored, so adding a field is not a diff; changing a value is);
* **matching**: for every gold patient (``--gold``) and every benchmark patient of
  :data:`benchmarks.service_common.PATIENTS` (which include the README's two
  ``/v1/match`` examples), the verdict of every trial of the index (closed included)
  and the top 50 in order with scores;
* **README /v1/match**: the README examples' first page (NCT ID, verdict, score).

``--compare`` prints what changed: verdict changes per patient (with the trials), top-10
sets that changed, and criteria whose kind or facts changed (counts by category and the
first examples). Exit code 0 either way: a diff is information, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.ranking import DEFAULT_CORPUS, gold_profile_to_patient, load_index
from benchmarks.service_common import PATIENTS
from matchers.patient import PatientProfile

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GOLD = ROOT.parent / "shared" / "data" / "benchmarks" / "gold_patients" / "dev.json"
README_PATIENTS = ("mesothelioma_epithelioid_II", "breast_her2_low_after_cdk46")
TODAY = date(2025, 3, 1)
VERDICT_CODE = {"eligible": "E", "possibly_eligible": "P", "ineligible": "I"}


def _fact_projection(fact: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fact.items() if k not in ("text",)}


def evaluated_criteria(index: Any, trial: Any) -> list[tuple[Any, list[Any]]]:
    """Each criterion of ``trial`` with the facts the evaluator compares, in span order:
    the parsed criteria themselves (the parser's output is what is evaluated)."""
    return [(c, sorted(c.facts, key=lambda f: f.span)) for c in trial.parsed.criteria]


def record(gold_path: Path, corpus: Path, redis_url: str | None) -> dict[str, Any]:
    from ontologies import load_ontology
    from service.engine import match_patient

    ontology = load_ontology()
    loaded = asyncio.run(load_index(corpus, redis_url, ontology))
    extraction: dict[str, list[Any]] = {}
    for t in loaded.index:
        extraction[t.summary.nct_id] = [
            [c.kind.value, [_fact_projection(f.model_dump(mode="json")) for f in facts]]
            for c, facts in evaluated_criteria(loaded.index, t)
        ]
    patients: dict[str, tuple[PatientProfile, date]] = {}
    gold = json.loads(gold_path.read_text())
    for p in gold["patients"]:
        ref = p["profile"].get("reference_date")
        patients[p["id"]] = (gold_profile_to_patient(p["profile"]),
                             date.fromisoformat(ref) if ref else TODAY)
    for pid, data in PATIENTS.items():
        patients[f"bench:{pid}"] = (PatientProfile.model_validate(data), TODAY)
    matching: dict[str, Any] = {}
    for pid, (profile, today) in patients.items():
        ranked = match_patient(loaded, ontology, profile, today=today, limit=len(loaded),
                               include_closed=True).results
        matching[pid] = {
            "verdicts": "".join(f"{m.nct_id[3:]}{VERDICT_CODE[m.verdict.value]}"
                                for m in sorted(ranked, key=lambda m: m.nct_id)),
            "top50": [[m.nct_id, m.verdict.value, m.score] for m in ranked[:50]],
        }
    readme: dict[str, Any] = {}
    for pid in README_PATIENTS:
        profile = PatientProfile.model_validate(PATIENTS[pid])
        page = match_patient(loaded, ontology, profile, today=TODAY, limit=20).results
        readme[pid] = [[m.nct_id, m.verdict.value, m.score] for m in page]
    return {"extraction": extraction, "matching": matching, "readme_match": readme}


def _verdicts(packed: str) -> dict[str, str]:
    return {f"NCT{packed[i:i + 8]}": packed[i + 8] for i in range(0, len(packed), 9)}


def _project(old: Any, new: Any) -> Any:
    """``new`` restricted to the keys ``old`` has (recursively for fact dicts)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: _project(old[k], new.get(k)) for k in old}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [_project(a, b) for a, b in zip(old, new, strict=True)]
    return new


def _by_span(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(facts, key=lambda f: (f["span"], f["category"]))


def compare(before: Mapping[str, Any], after: Mapping[str, Any], examples: int = 8) -> None:
    # ---- matching ------------------------------------------------------------------
    print("== matching: verdict changes over the whole index (closed trials included)")
    for pid, b in before["matching"].items():
        a = after["matching"].get(pid)
        if a is None:
            print(f"{pid}: missing after")
            continue
        vb, va = _verdicts(b["verdicts"]), _verdicts(a["verdicts"])
        moves = Counter(f"{vb.get(n, '-')}>{va.get(n, '-')}" for n in set(vb) | set(va)
                        if vb.get(n) != va.get(n))
        top_b = [x[0] for x in b["top50"][:10]]
        top_a = [x[0] for x in a["top50"][:10]]
        changed_top = len(set(top_b) ^ set(top_a)) // 2
        print(f"{pid[:60]:<60} changed={sum(moves.values()):>5} "
              f"{dict(sorted(moves.items()))} top10 swapped={changed_top}")
    print("== README /v1/match first page")
    for pid, b in before["readme_match"].items():
        a = after["readme_match"].get(pid, [])
        same = [x[:2] for x in b] == [x[:2] for x in a]
        print(f"{pid}: {'unchanged' if same else 'CHANGED'}")
        if not same:
            for x in a[:5]:
                print("    after ", x)
            for x in b[:5]:
                print("    before", x)
    # ---- extraction ----------------------------------------------------------------
    print("== extraction: criteria whose kind or facts changed")
    by_cat: Counter[str] = Counter()
    kinds = 0
    shown = 0
    trials_changed = 0
    for nct, crits_b in before["extraction"].items():
        crits_a = after["extraction"].get(nct)
        if crits_a is None:
            continue
        if len(crits_a) != len(crits_b):
            trials_changed += 1
            by_cat["(segmentation)"] += 1
            continue
        changed = False
        for (kb, fb), (ka, fa) in zip(crits_b, crits_a, strict=True):
            fb, fa = _by_span(fb), _by_span(fa)
            if kb != ka:
                kinds += 1
                changed = True
            fa_p = [_project(x, y) for x, y in zip(fb, fa, strict=False)] if len(fa) == len(
                fb) else fa
            if fa_p != fb:
                changed = True
                cats = {f["category"] for f in fb} ^ {f["category"] for f in fa} or {
                    f["category"] for f in fb}
                for cat in cats:
                    by_cat[cat] += 1
                if shown < examples:
                    shown += 1
                    print(f"  {nct}: before {json.dumps(fb)[:300]}\n  {' ' * len(nct)}  after "
                          f" {json.dumps(fa_p)[:300]}")
        trials_changed += changed
    print(f"trials changed: {trials_changed}; criteria kind changes: {kinds}; "
          f"fact changes by category: {dict(by_cat)}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.golden", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--redis-url", default=os.environ.get("TRIALMATCH_REDIS_URL"))
    ap.add_argument("--write", type=Path, help="write this run's golden outputs here")
    ap.add_argument("--compare", type=Path, help="compare this run with a golden file")
    args = ap.parse_args(argv)
    if not (args.write or args.compare):
        ap.error("give --write and/or --compare")
    out = record(args.gold, args.corpus, args.redis_url)
    if args.write:
        args.write.write_text(json.dumps(out))
        print(f"wrote {args.write}", file=sys.stderr)
    if args.compare:
        compare(json.loads(args.compare.read_text()), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
