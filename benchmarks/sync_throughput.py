"""Sync throughput: studies/s through the real CT.gov client and the real Redis store.

    python -m benchmarks.sync_throughput [--parser fake|real|both] [--redis-url URL]

Starts the shared replay server (``../shared/tools/ctgov_replay.py --port 0``) on
loopback and runs ``trial_cache.sync.sync_trials`` (a full sync of the default
oncology scope) into a fresh namespace of a throw-away embedded Redis (or of
``--redis-url``), once per parser:

* ``fake`` — a parser that returns empty criteria instantly: the figure is the
  client + validation + hashing + store pipeline alone;
* ``real`` — the project's parser (spaCy + scispaCy + medspacy + rules): end to end.

The client's rate limit is lifted for the local server (the real API allows ~50
requests/min; at 1000 studies a page that caps a sync at ~50,000 studies/min, far above
either figure). Prints studies fetched, seconds and studies/s for each run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from benchmarks.service_common import CORPUS, REPLAY, Timer
from matchers.models import ParsedTrial, TrialSummary
from ontologies import load_ontology
from service.engine import index_codes_for, make_parser
from service.settings import Settings
from trial_cache.client import CTGovClient
from trial_cache.embedded import open_redis
from trial_cache.settings import TrialCacheSettings
from trial_cache.store import TrialStore
from trial_cache.sync import sync_trials


class FakeParser:
    """Instant parser: no criteria, no facts (measures everything but parsing)."""

    version = "bench-fake-0"

    def parse_many(self, summaries: Sequence[TrialSummary]) -> list[ParsedTrial]:
        return [ParsedTrial(nct_id=s.nct_id, parser_version=self.version) for s in summaries]


def start_replay() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPLAY), "--data", str(CORPUS), "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"replay server did not start: {line!r}")
    return proc, line.strip().split(" on ", 1)[1]


async def run(kind: str, base_url: str, redis_url: str | None, tmp: Path) -> None:
    cache = TrialCacheSettings(
        ctgov_base_url=base_url,
        ctgov_rate_limit_per_minute=1_000_000,
        redis_url=redis_url,
        redis_db_path=tmp / "bench.rdb",
        redis_namespace=f"bench-sync-{uuid.uuid4().hex[:8]}",
    )
    ontology = load_ontology()
    with Timer() as t_parser:
        parser = FakeParser() if kind == "fake" else make_parser(ontology, Settings().matcher)
    redis, close = await open_redis(cache)
    try:
        store = TrialStore(redis, cache.redis_namespace)
        async with CTGovClient(settings=cache) as client:
            with Timer() as t:
                report = await sync_trials(
                    client=client, store=store, parser=parser,
                    index_codes=index_codes_for(ontology) if kind == "real" else lambda s, p: (),
                    settings=cache,
                )
        entries = await store.load_index_entries()
        chars = sum(len(summary.eligibility_text) for summary, _ in entries)
        keys = [k async for k in redis.scan_iter(match=f"{cache.redis_namespace}:*", count=1000)]
        for i in range(0, len(keys), 1000):
            await redis.delete(*keys[i : i + 1000])
    finally:
        await close()
    print(
        f"{kind:5} parser: {report.fetched} studies fetched ({report.new} new, "
        f"{report.quarantined} quarantined, {report.parsed} parsed) in {t.s:.1f} s "
        f"= {report.fetched / t.s:.0f} studies/s, {chars / t.s / 1e3:.0f} kchars/s of criteria"
        + (f"  [parser built in {t_parser.s:.1f} s, not counted]" if kind == "real" else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parser", choices=["fake", "real", "both"], default="both")
    ap.add_argument("--redis-url", default=None, help="default: a throw-away embedded Redis")
    args = ap.parse_args()
    proc, base_url = start_replay()
    print(f"replay server: {base_url}")
    try:
        with tempfile.TemporaryDirectory(prefix="trialmatch-bench-") as tmp:
            kinds = ["fake", "real"] if args.parser == "both" else [args.parser]
            for kind in kinds:
                asyncio.run(run(kind, base_url, args.redis_url, Path(tmp)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
