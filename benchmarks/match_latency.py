"""Match latency in process over the full corpus index.

    python -m benchmarks.match_latency [--rounds 20] [--limit 20] [--gc-freeze]

Builds the in-memory index from the published generation (importing the shared corpus
into the store first if nothing is published), then times
``service.engine.match_patient`` (normalize + rank + materialize the page) for each
patient of :data:`benchmarks.service_common.PATIENTS`, ``--rounds`` times each, after
one warm-up round. Prints p50/p99/max per patient and overall, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from datetime import UTC, datetime

from benchmarks.service_common import PATIENTS, Timer, percentile, published_entries
from matchers.patient import PatientProfile
from ontologies import load_ontology
from service.engine import build_loaded_index, index_entries, match_patient
from service.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--gc-freeze", action="store_true",
                    help="gc.collect(); gc.freeze() after the index build (what "
                         "matchers.index.build_index does; service.engine does not yet)")
    args = ap.parse_args()

    settings = Settings()
    ontology = load_ontology()
    generation, entries = asyncio.run(published_entries(settings, ontology))
    with Timer() as t:
        loaded = build_loaded_index(index_entries(entries, ontology), ontology,
                                    generation=generation)
    print(f"index: {len(loaded)} trials (generation {generation}) built in {t.s:.1f} s")
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    today = datetime.now(UTC).date()
    profiles = {k: PatientProfile.model_validate(v) for k, v in PATIENTS.items()}
    for profile in profiles.values():  # warm-up
        match_patient(loaded, ontology, profile, today=today, limit=args.limit)

    all_ms: list[float] = []
    print(f"\n{'patient':32} {'results':>7} {'ranked':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8}")
    for name, profile in profiles.items():
        times: list[float] = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            ranked = match_patient(loaded, ontology, profile, today=today, limit=args.limit)
            times.append((time.perf_counter() - start) * 1000)
        all_ms.extend(times)
        print(f"{name:32} {len(ranked.results):7d} {ranked.total:7d} "
              f"{percentile(times, 50):8.1f} {percentile(times, 99):8.1f} {max(times):8.1f}")
    print(f"\noverall ({len(all_ms)} calls, limit {args.limit}): "
          f"p50 {percentile(all_ms, 50):.1f} ms, p99 {percentile(all_ms, 99):.1f} ms, "
          f"max {max(all_ms):.1f} ms")


if __name__ == "__main__":
    main()
