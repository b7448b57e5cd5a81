"""Batch benchmark (issue 10): cohort runs spread over 1, 2 and 4 worker processes.

    python -m benchmarks.batch [--sizes 1000,10000] [--workers 1,2,4] [--shard-size 200]
                               [--json bench-batch.json]

What it measures, through the product's own paths only:

1. the published generation of the configured store (``TRIALMATCH_*``; by default the
   embedded Redis in ``var/trialmatch.rdb``, which the README's first command fills
   with the shared corpus — imported here first when nothing is published);
2. synthetic cohorts of each size built from the dev gold profiles
   (``../shared/data/benchmarks/gold_patients/dev.json``, mapped with
   ``benchmarks.ranking.gold_profile_to_patient``), varied with a fixed seed: age ±15
   years (18–90), AJCC stage from the patient's own group or a neighbouring one, ECOG
   0–2, and each positive/negative biomarker flipped with probability 0.3;
3. for each size: one warm-up run (4 workers; the first run of a cohort has no previous
   run, so no diff), then one measured run per worker count — each a full nightly run
   with diffs against the run before it — on ``N`` real ``trialmatch worker``
   processes started for it (their start-up, index load included, is not timed: they
   are ready before the run is queued). Time = the run record's ``duration_s``
   (queued → finished, i.e. every shard matched, diffed and committed, and the run
   closed).

Prints patients/s per worker count, the speed-up over 1 worker, and the wall time of
the largest cohort. Each worker runs in its own session (``start_new_session``), like a
separately started service: Linux autogroup scheduling gives one CPU share per session,
so workers sharing the benchmark's session would share one share between them.
Timings on a shared 2-core machine are noisy, and more than 2
workers cannot be faster than 2 cores allow: read the 4-worker figure as "does it
degrade under oversubscription", not as scaling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.ranking import gold_profile_to_patient
from benchmarks.service_common import ROOT, SHARED, ensure_published
from service.settings import Settings

GOLD = SHARED / "data" / "benchmarks" / "gold_patients" / "dev.json"
STAGES = ["I", "IA", "IB", "II", "IIA", "IIB", "III", "IIIA", "IIIB", "IIIC", "IV", "IVA",
          "IVB"]


def synthetic_members(n: int, *, seed: int = 10) -> list[dict[str, Any]]:
    """``n`` cohort members varied from the gold profiles (module docstring)."""
    gold = json.loads(GOLD.read_text())["patients"]
    base = [gold_profile_to_patient(p["profile"]).model_dump(mode="json", by_alias=True,
                                                             exclude_none=True)
            for p in gold]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = json.loads(json.dumps(base[i % len(base)]))
        if "age" in p:
            p["age"] = max(18, min(90, int(p["age"]) + rng.randint(-15, 15)))
        if p.get("stage") in STAGES:
            j = STAGES.index(p["stage"]) + rng.randint(-2, 2)
            p["stage"] = STAGES[max(0, min(len(STAGES) - 1, j))]
        p["ecog"] = rng.randint(0, 2)
        for marker, value in list(p.get("biomarkers", {}).items()):
            if value in ("positive", "negative") and rng.random() < 0.3:
                p["biomarkers"][marker] = "negative" if value == "positive" else "positive"
        out.append({"id": f"b-{i:06d}", "patient": p})
    return out


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        # Own session, as a separately started service would be: with the kernel's
        # autogroup scheduling (on here), processes of one session share one CPU share,
        # so workers left in the benchmark's session could never use more than it.
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "worker"],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.ready = threading.Event()
        self.tail: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.tail = [*self.tail[-20:], line]
            if "ready: generation" in line:
                self.ready.set()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _run_once(settings: Settings, cohort: str, workers: int, env: dict[str, str]
                    ) -> dict[str, Any]:
    from service.batch import arq_pool
    from service.cohorts.crypto import ProfileCipher
    from service.cohorts.jobs import start_run
    from service.cohorts.models import FINISHED
    from service.cohorts.store import CohortStore
    from trial_cache.embedded import open_redis
    from trial_cache.store import TrialStore

    procs = [Worker(env) for _ in range(workers)]
    try:
        for w in procs:
            while not w.ready.wait(0.5):
                if w.proc.poll() is not None:
                    raise SystemExit("worker died:\n" + "".join(w.tail))
        redis, close = await open_redis(settings.cache)
        ns = settings.cache.redis_namespace
        try:
            store = CohortStore(redis, ns, ProfileCipher.from_setting(settings.cohort_keys))
            generation = await TrialStore(redis, ns).current_generation()
            wall = time.perf_counter()
            record = await start_run(store, arq_pool(redis, ns), cohort, settings=settings,
                                     generation=generation, trigger="cli")
            while record.status not in FINISHED:
                await asyncio.sleep(0.5)
                record = await store.run(record.run_id)
            wall = time.perf_counter() - wall
        finally:
            await close()
    finally:
        for w in procs:
            w.stop()
    duration = record.duration_s or wall
    return {"workers": workers, "members": record.members, "status": record.status.value,
            "duration_s": round(duration, 2), "patients_per_s": round(record.members / duration, 1),
            "shards": record.shards.total, "diff": record.diff,
            "failed_members": record.failed_members}


async def main_async(sizes: list[int], worker_counts: list[int], shard_size: int
                     ) -> list[dict[str, Any]]:
    from pydantic import SecretStr

    from ontologies import load_ontology
    from service.cohorts.crypto import ProfileCipher, generate_key
    from service.cohorts.errors import CohortNotFound
    from service.cohorts.models import CohortPut
    from service.cohorts.store import CohortStore
    from trial_cache.embedded import open_redis

    key = generate_key()
    base = Settings()
    settings = base.model_copy(update={"cohort_keys": SecretStr(key),
                                       "batch_shard_size": shard_size, "batch_cron": ""})
    generation = await ensure_published(settings, load_ontology())
    env = {**os.environ, "TRIALMATCH_COHORT_KEYS": key, "TRIALMATCH_BATCH_CRON": "",
           "TRIALMATCH_LOG_LEVEL": "info"}
    print(f"generation {generation}; shard size {shard_size}; cpus {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    rows: list[dict[str, Any]] = []
    for size in sizes:
        cohort = f"bench-{size}"
        redis, close = await open_redis(settings.cache)
        store = CohortStore(redis, settings.cache.redis_namespace, ProfileCipher([key]))
        try:
            with contextlib.suppress(CohortNotFound):
                await store.delete(cohort)  # left over by an interrupted run
            body = CohortPut.model_validate({"members": synthetic_members(size), "limit": 10})
            await store.put(cohort, body, default_limit=10)
        finally:
            await close()
        warm = await _run_once(settings, cohort, max(worker_counts), env)
        print(f"{size:>6} members: warm-up run ({warm['workers']} workers, no diff) "
              f"{warm['duration_s']} s")
        for n in worker_counts:
            row = {"size": size, **await _run_once(settings, cohort, n, env),
                   "load_avg_1m": round(os.getloadavg()[0], 2)}
            rows.append(row)
            print(f"{size:>6} members, {n} worker(s): {row['patients_per_s']:>7} patients/s, "
                  f"{row['duration_s']:>7} s ({row['shards']} shards, {row['status']}, "
                  f"diff {row['diff']}, load {row['load_avg_1m']})")
        redis, close = await open_redis(settings.cache)
        try:
            await CohortStore(redis, settings.cache.redis_namespace, ProfileCipher([key])
                              ).delete(cohort)
        finally:
            await close()
    print()
    print("| members | workers | patients/s | speed-up vs 1 | wall s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        one = next((r for r in rows if r["size"] == size and r["workers"] == 1), None)
        for r in (r for r in rows if r["size"] == size):
            speed = (f"{r['patients_per_s'] / one['patients_per_s']:.2f} x" if one else "")
            print(f"| {size:,} | {r['workers']} | {r['patients_per_s']} | {speed} | "
                  f"{r['duration_s']} |")
    return rows


def main() -> None:
    # SIGTERM ends the run through the ``finally`` blocks, which stop the workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # progress lines as they come
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--shard-size", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = asyncio.run(main_async([int(s) for s in args.sizes.split(",")],
                                  [int(w) for w in args.workers.split(",")], args.shard_size))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
