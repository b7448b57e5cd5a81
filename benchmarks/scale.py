"""Scale benchmark: load time, index memory and match latency at 7.5k / 20k / 60k trials.

    python -m benchmarks.scale [--sizes 7527,22581,60216] [--rounds 5]
        [--source-url redis://127.0.0.1:6379/13] [--source-namespace bench-ranking]
        [--target-url redis://127.0.0.1:6379/14]

The source is a store where the shared corpus is already imported and published (by
default the namespace ``benchmarks.ranking`` / ``benchmarks.golden`` import into; run one
of them first). For each size, a child process (so that each size's RSS is measured in a
fresh interpreter):

1. **builds the corpus by duplication**: copy ``k`` of every published trial gets the
   NCT ID ``NCT{k}…`` (the real IDs all start with ``NCT0``); its stored documents (raw
   study, summary, parsed criteria) are *re-stored* with the ID rewritten rather than
   re-parsed, which gives the same parse output in seconds instead of minutes. The copies
   are written to namespace ``bench-scale-{size}`` of ``--target-url`` (flushed first),
   as one generation published through :meth:`trial_cache.store.TrialStore.
   publish_generation`. Index tag sets are not written (the load path does not read them).
   The import time of the real corpus is what ``benchmarks.parse_throughput`` measures.
2. **loads it as the API does** (:func:`service.engine.load_published_index`, published
   generation → serving :class:`~service.engine.LoadedIndex`): wall time, and the RSS
   growth after a full collection (the index, its search data and allocator slack) per
   trial. ``--tracemalloc`` also gives the Python heap the index keeps alive (slower).
3. **matches** every gold patient (``--gold``), every patient of
   :data:`benchmarks.service_common.PATIENTS` and :data:`EXTRA_PATIENTS` (≥ 20 varied
   profiles) with :func:`service.engine.match_patient` (normalize + rank + page of 20), on
   one CPU (the process is pinned to one core), ``--rounds`` rounds after one warm-up
   round: p50 / p99 / max in ms. The ranker memoizes trial-level cancer-type fits per
   patient cancer (:meth:`matchers.index.TrialIndex.fit_memo`), so these are warm
   figures; "cpu" is the thread's CPU time of the same calls (what the request costs
   one core, without the waits a shared machine adds to wall time); "cold" is the CPU
   time of each call after clearing the memo (the first request for a
   cancer type since the index was loaded). A separate, untimed pass counts the trials evaluated per
   request (calls of :func:`matchers.evaluate.evaluate_prepared`, whatever the ranker
   does to avoid them).

The parent prints one table. Timings are wall clock: on a shared machine, run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import psutil

from benchmarks.service_common import PATIENTS, SHARED, percentile
from matchers.patient import PatientProfile

GOLD = SHARED / "data" / "benchmarks" / "gold_patients" / "dev.json"
SOURCE_URL = "redis://127.0.0.1:6379/13"
SOURCE_NAMESPACE = "bench-ranking"
TARGET_URL = "redis://127.0.0.1:6379/14"
DEFAULT_SIZES = (7527, 22581, 60216)
TODAY = date(2025, 3, 1)
MIB = 1024 * 1024

EXTRA_PATIENTS: dict[str, dict[str, Any]] = {
    "prostate_crpc": {"cancer_type": "prostate adenocarcinoma", "stage": "IV", "ecog": 1,
                      "age": 72, "sex": "male",
                      "prior_therapies": [{"name": "enzalutamide", "setting": "metastatic",
                                           "progressed": True}]},
    "pancreatic": {"cancer_type": "pancreatic adenocarcinoma", "stage": "IV", "ecog": 1,
                   "age": 66, "sex": "female"},
    "glioblastoma": {"cancer_type": "glioblastoma", "ecog": 1, "age": 55, "sex": "male"},
    "ovarian_brca": {"cancer_type": "high-grade serous ovarian cancer", "stage": "IIIC",
                     "biomarkers": {"BRCA1": "pathogenic mutation"}, "ecog": 0, "age": 49,
                     "sex": "female"},
    "hnscc": {"cancer_type": "head and neck squamous cell carcinoma", "stage": "IVA",
              "ecog": 1, "age": 61, "sex": "male"},
    "myeloma": {"cancer_type": "multiple myeloma", "age": 68, "ecog": 1, "sex": "male"},
}
"""More profiles (other organs, a blood cancer) so the benchmark has ≥ 20."""


def profiles(gold: Path) -> dict[str, tuple[PatientProfile, date]]:
    from benchmarks.ranking import gold_profile_to_patient

    out: dict[str, tuple[PatientProfile, date]] = {}
    if gold.exists():
        for p in json.loads(gold.read_text())["patients"]:
            ref = p["profile"].get("reference_date")
            out[f"gold:{p['id']}"] = (gold_profile_to_patient(p["profile"]),
                                      date.fromisoformat(ref) if ref else TODAY)
    for name, data in {**PATIENTS, **EXTRA_PATIENTS}.items():
        out[name] = (PatientProfile.model_validate(data), TODAY)
    return out


def _copy_id(nct_id: str, k: int) -> str:
    if not nct_id.startswith("NCT0"):
        raise ValueError(f"{nct_id}: expected an ID starting with NCT0")
    return nct_id if k == 0 else f"NCT{k}{nct_id[4:]}"


async def build_corpus(size: int, source_url: str, source_ns: str, target_url: str,
                       target_ns: str) -> tuple[int, float]:
    """Write ``size`` trials (copies of the source's published ones) as a published
    generation of ``target_ns``; returns (trials written, seconds)."""
    from redis.asyncio import Redis

    from trial_cache.keys import KeySpace
    from trial_cache.state import SyncKind
    from trial_cache.store import TrialStore

    t0 = time.perf_counter()
    src_redis = Redis.from_url(source_url)
    dst_redis = Redis.from_url(target_url)
    try:
        src = TrialStore(src_redis, source_ns)
        generation = await src.require_current_generation()
        info = await src.generation_info(generation)
        assert info is not None
        members = sorted((await src.members(generation=generation)).items())
        sk, dk = KeySpace(source_ns), KeySpace(target_ns)
        pipe = src_redis.pipeline(transaction=False)
        for nct, h in members:
            pipe.hgetall(sk.study(nct, h))
            pipe.hgetall(sk.parsed(info.parser_version, nct, h))
        values = await pipe.execute()
        docs = [(nct, h, values[2 * i], values[2 * i + 1])
                for i, (nct, h) in enumerate(members)]
        async for key in dst_redis.scan_iter(match=f"{target_ns}:*", count=5000):
            await dst_redis.delete(key)
        dst = TrialStore(dst_redis, target_ns)
        new = await dst.begin_generation(kind=SyncKind.IMPORT,
                                         parser_version=info.parser_version,
                                         base=None, copy_base=False)
        written = 0
        k = 0
        while written < size:
            pipe = dst_redis.pipeline(transaction=False)
            batch: dict[str, str] = {}
            for nct, h, study, parsed in docs:
                if written >= size:
                    break
                new_id = _copy_id(nct, k)
                old_b, new_b = nct.encode(), new_id.encode()
                pipe.hset(dk.study(new_id, h), mapping={
                    f: v.replace(old_b, new_b) for f, v in study.items()})
                pipe.hset(dk.parsed(info.parser_version, new_id, h), mapping={
                    f: v.replace(old_b, new_b) for f, v in parsed.items()})
                batch[new_id] = h
                written += 1
                if len(batch) >= 1000:
                    pipe.hset(dk.gen_members(new.generation), mapping=batch)
                    await pipe.execute()
                    pipe, batch = dst_redis.pipeline(transaction=False), {}
            if batch:
                pipe.hset(dk.gen_members(new.generation), mapping=batch)
            await pipe.execute()
            k += 1
        current = await dst.current_generation()
        await dst.publish_generation(new.generation, expected_current=current, checkpoint=None)
    finally:
        await src_redis.aclose()
        await dst_redis.aclose()
    return written, time.perf_counter() - t0


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def _load(target_url: str, target_ns: str, ontology: Any) -> Any:
    from redis.asyncio import Redis

    from service.engine import load_published_index
    from trial_cache.store import TrialStore

    redis = Redis.from_url(target_url)
    try:
        return await load_published_index(TrialStore(redis, target_ns), ontology)
    finally:
        await redis.aclose()


def run_one(size: int, args: argparse.Namespace) -> dict[str, Any]:
    from matchers import rank as rank_module
    from matchers.evaluate import evaluate_prepared
    from ontologies import load_ontology
    from service.engine import match_patient

    try:  # one core: the figure is per core whatever the machine runs meanwhile
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    except (AttributeError, OSError):
        pass
    ns = f"bench-scale-{size}"
    written, build_s = asyncio.run(build_corpus(size, args.source_url, args.source_namespace,
                                                args.target_url, ns))
    ontology = load_ontology()
    pats = profiles(Path(args.gold))
    base = rss()
    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    loaded = asyncio.run(_load(args.target_url, ns, ontology))
    load_s = time.perf_counter() - t0
    live = tracemalloc.get_traced_memory()[0] if args.tracemalloc else None
    tracemalloc.stop()
    assert loaded is not None, "nothing published"
    grown = rss() - base
    n = len(loaded)

    def call(profile: PatientProfile, today: date) -> Any:
        return match_patient(loaded, ontology, profile, today=today, limit=args.limit)

    for profile, today in pats.values():  # warm-up
        call(profile, today)
    times: list[float] = []
    cpu: list[float] = []
    for _ in range(args.rounds):
        for profile, today in pats.values():
            start, start_cpu = time.perf_counter(), time.thread_time()
            call(profile, today)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            times.append((time.perf_counter() - start) * 1000)

    cold: list[float] = []
    clear = getattr(loaded.index, "clear_fit_memo", None)
    if clear is not None:  # the first request for a cancer type, with no memoized fits
        for _ in range(args.rounds):
            for profile, today in pats.values():
                clear()
                start_cpu = time.thread_time()
                call(profile, today)
                cold.append((time.thread_time() - start_cpu) * 1000)

    counted: list[int] = []
    calls = [0]

    def counting(*a: Any, **kw: Any) -> Any:
        calls[0] += 1
        return evaluate_prepared(*a, **kw)

    original = rank_module.evaluate_prepared
    rank_module.evaluate_prepared = counting  # type: ignore[assignment]
    try:
        for profile, today in pats.values():
            calls[0] = 0
            call(profile, today)
            counted.append(calls[0])
    finally:
        rank_module.evaluate_prepared = original  # type: ignore[assignment]
    return {
        "size": n, "written": written, "build_s": round(build_s, 1),
        "load_s": round(load_s, 2), "rss_mib": round(grown / MIB, 1),
        "kib_per_trial": round(grown / max(n, 1) / 1024, 1),
        "heap_kib_per_trial": None if live is None else round(live / max(n, 1) / 1024, 1),
        "profiles": len(pats), "calls": len(times),
        "p50_ms": round(percentile(times, 50), 1), "p99_ms": round(percentile(times, 99), 1),
        "max_ms": round(max(times), 1),
        "cpu_p50_ms": round(percentile(cpu, 50), 1), "cpu_p99_ms": round(percentile(cpu, 99), 1),
        "cold_p50_ms": round(percentile(cold, 50), 1) if cold else None,
        "cold_p99_ms": round(percentile(cold, 99), 1) if cold else None,
        "evaluated_mean": round(statistics.mean(counted), 1), "evaluated_max": max(counted),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--gold", default=str(GOLD))
    ap.add_argument("--source-url", default=SOURCE_URL)
    ap.add_argument("--source-namespace", default=SOURCE_NAMESPACE)
    ap.add_argument("--target-url", default=TARGET_URL)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        print("RESULT " + json.dumps(run_one(args.one, args)), flush=True)
        return 0
    rows: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",")):
        child = [sys.executable, "-m", "benchmarks.scale", "--one", str(size),
                 "--rounds", str(args.rounds), "--limit", str(args.limit),
                 "--gold", args.gold, "--source-url", args.source_url,
                 "--source-namespace", args.source_namespace, "--target-url", args.target_url,
                 *(["--tracemalloc"] if args.tracemalloc else [])]
        out = subprocess.run(child, capture_output=True, text=True, check=False)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(out.stdout, out.stderr[-4000:], file=sys.stderr)
            return 1
        row = json.loads(line[7:])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"\n{'trials':>7} {'load s':>7} {'RSS MiB':>8} {'KiB/trial':>9} {'heap KiB':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'cpu p50':>7} {'cpu p99':>7} "
          f"{'cold p50':>8} {'cold p99':>8} "
          f"{'evaluated':>9} {'eval max':>8}")
    for r in rows:
        heap = "-" if r["heap_kib_per_trial"] is None else f"{r['heap_kib_per_trial']:.1f}"
        print(f"{r['size']:7d} {r['load_s']:7.1f} {r['rss_mib']:8.1f} "
              f"{r['kib_per_trial']:9.1f} {heap:>8} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
              f"{r['max_ms']:7.1f} {r['cpu_p50_ms']:7.1f} {r['cpu_p99_ms']:7.1f} "
              f"{_ms(r['cold_p50_ms']):>8} {_ms(r['cold_p99_ms']):>8} "
              f"{r['evaluated_mean']:9.1f} {r['evaluated_max']:8d}")
    print(f"({rows[0]['profiles'] if rows else 0} profiles × {args.rounds} rounds, "
          f"limit {args.limit}, one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
