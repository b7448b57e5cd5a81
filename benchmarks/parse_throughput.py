"""Parser throughput: trials/s in one process and on N parse workers, and its cost
relative to bare tokenization.

    python -m benchmarks.parse_throughput [--sample N] [--workers 1,2] [--chunk-size 16]

Takes the eligibility texts of the shared corpus (every study with criteria text, or a
seeded random ``--sample``), validated as ``trial_cache`` does (so the texts are exactly
what a sync parses), and times:

1. the real parser (spaCy + scispaCy tokenizer + medspacy ConText + the rules) through
   :class:`trial_cache.parse_pool.ParserPool` — what ``trialmatch import`` runs — for
   each ``--workers`` count (1 = in this process; N = a pool of N processes), in
   batches of ``--batch-size`` (the ingest's ``TRIALMATCH_PARSE_BATCH_SIZE``). Pool
   start-up and pipeline construction are timed separately (a warm-up batch) and not
   counted;
2. bare scispaCy tokenization of the same texts in this process (``spacy.blank("en")``
   with scispaCy's ``combined_rule_tokenizer``, ``nlp.tokenizer.pipe``).

Prints, per worker count, seconds, trials/s, trials/s per worker and characters/s, the
speed-up over one worker, and the ratio parser time / tokenizer time (one process vs
one process: the cost of the pipeline per core). Other load on the machine shows in
the figures: run it a few times.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import resource

import spacy

from benchmarks.service_common import Timer, corpus_raw
from matchers.parser import PARSER_VERSION
from matchers.settings import MatcherSettings
from ontologies import load_ontology
from service.parsing import build_ingest_parser
from trial_cache.models import StudyRecord, validate_record
from trial_cache.parse_pool import DEFAULT_CHUNK_SIZE, ParserFactory, ParserPool


def cpu_s() -> float:
    """CPU seconds (user + system) of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sample", type=int, default=0, help="0 = every trial")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    ap.add_argument("--workers", default=f"1,{os.cpu_count() or 1}",
                    help="comma-separated worker counts (default: 1 and the CPU count)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    counts = sorted({int(w) for w in args.workers.split(",")})

    records = [validate_record(raw, location=f"#{i}") for i, raw in enumerate(corpus_raw())]
    summaries = [r.summary for r in records
                 if isinstance(r, StudyRecord) and r.summary.eligibility_text.strip()]
    if args.sample:
        summaries = random.Random(args.seed).sample(summaries, min(args.sample, len(summaries)))
    chars = sum(len(s.eligibility_text) for s in summaries)
    n = len(summaries)
    print(f"{n} trials with criteria text, {chars / 1e6:.1f} M characters "
          f"(mean {chars / n:.0f} per trial); {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} before the run")

    ontology = load_ontology()
    matcher = MatcherSettings()
    timings: dict[int, float] = {}
    for workers in counts:
        factory: ParserFactory = (
            functools.partial(build_ingest_parser, matcher) if workers > 1
            else functools.partial(build_ingest_parser, matcher, ontology)
        )
        with ParserPool(factory, version=PARSER_VERSION, workers=workers,
                        chunk_size=args.chunk_size) as pool:
            with Timer() as t_start:
                pool.parse_each(summaries[: workers])  # builds the pipeline(s)
            cpu0 = cpu_s()
            with Timer() as t_parse:
                for i in range(0, n, args.batch_size):
                    pool.parse_each(summaries[i : i + args.batch_size])
        cpu = cpu_s() - cpu0  # the pool's children are reaped on close
        timings[workers] = t_parse.s
        print(f"{workers} worker(s): pipeline(s) built in {t_start.s:.1f} s (not counted); "
              f"parsed in {t_parse.s:.1f} s wall, {cpu:.1f} s CPU (a pool's pipeline builds "
              "included)")

    from scispacy.custom_tokenizer import combined_rule_tokenizer

    nlp = spacy.blank("en")
    nlp.tokenizer = combined_rule_tokenizer(nlp)
    texts = [s.eligibility_text for s in summaries]
    with Timer() as t_tok:
        tokens = sum(len(doc) for doc in nlp.tokenizer.pipe(texts, batch_size=64))

    print(f"\n{'':24} {'seconds':>8} {'trials/s':>9} {'per worker':>10} {'kchars/s':>9} "
          f"{'speed-up':>8}")
    one = timings.get(1)
    for workers, s in timings.items():
        speedup = f"{one / s:8.2f}" if one else f"{'':8}"
        print(f"{f'parser, {workers} worker(s)':24} {s:8.1f} {n / s:9.1f} "
              f"{n / s / workers:10.1f} {chars / s / 1e3:9.0f} {speedup}")
    print(f"{'scispaCy tokenizer':24} {t_tok.s:8.1f} {n / t_tok.s:9.1f} {'':10} "
          f"{chars / t_tok.s / 1e3:9.0f}   ({tokens} tokens)")
    if one:
        print(f"\nparser time (1 worker) = {one / t_tok.s:.1f} x bare tokenization "
              f"(tokenizer throughput / parser throughput, both in one process)")


if __name__ == "__main__":
    main()
