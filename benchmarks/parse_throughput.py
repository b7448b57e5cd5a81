"""Parser throughput: trials/s on one core, and its cost relative to bare tokenization.

    python -m benchmarks.parse_throughput [--sample N] [--batch-size B]

Takes the eligibility texts of the shared corpus (every study with criteria text, or a
seeded random ``--sample``), validated as ``trial_cache`` does (so the texts are exactly
what a sync parses), and times, in this single process (= one core):

1. the real parser (``EligibilityParser.parse_many``: spaCy + scispaCy tokenizer +
   medspacy ConText + the rules), in batches of ``--batch-size``;
2. bare scispaCy tokenization of the same texts (``spacy.blank("en")`` with scispaCy's
   ``combined_rule_tokenizer``, ``nlp.tokenizer.pipe``).

Prints trials/s and characters/s for both and the ratio parser/tokenizer time. Pipeline
construction time is printed separately and not counted.
"""

from __future__ import annotations

import argparse
import random

import spacy

from benchmarks.service_common import Timer, corpus_raw
from matchers.settings import MatcherSettings
from ontologies import load_ontology
from service.engine import make_parser
from trial_cache.models import StudyRecord, validate_record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sample", type=int, default=0, help="0 = every trial")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    records = [validate_record(raw, location=f"#{i}") for i, raw in enumerate(corpus_raw())]
    summaries = [r.summary for r in records
                 if isinstance(r, StudyRecord) and r.summary.eligibility_text.strip()]
    if args.sample:
        summaries = random.Random(args.seed).sample(summaries, min(args.sample, len(summaries)))
    chars = sum(len(s.eligibility_text) for s in summaries)
    print(f"{len(summaries)} trials with criteria text, {chars / 1e6:.1f} M characters "
          f"(mean {chars / len(summaries):.0f} per trial)")

    ontology = load_ontology()
    with Timer() as t_build:
        parser = make_parser(ontology, MatcherSettings(batch_size=args.batch_size))
    print(f"parser built in {t_build.s:.1f} s (not counted)")

    with Timer() as t_parse:
        for i in range(0, len(summaries), args.batch_size):
            parser.parse_many(summaries[i : i + args.batch_size])

    from scispacy.custom_tokenizer import combined_rule_tokenizer

    nlp = spacy.blank("en")
    nlp.tokenizer = combined_rule_tokenizer(nlp)
    texts = [s.eligibility_text for s in summaries]
    with Timer() as t_tok:
        tokens = sum(len(doc) for doc in nlp.tokenizer.pipe(texts, batch_size=args.batch_size))

    n = len(summaries)
    print(f"\n{'':24} {'seconds':>8} {'trials/s':>9} {'kchars/s':>9}")
    print(f"{'parser (1 core)':24} {t_parse.s:8.1f} {n / t_parse.s:9.1f} "
          f"{chars / t_parse.s / 1e3:9.0f}")
    print(f"{'scispaCy tokenizer':24} {t_tok.s:8.1f} {n / t_tok.s:9.1f} "
          f"{chars / t_tok.s / 1e3:9.0f}   ({tokens} tokens)")
    print(f"\nparser time = {t_parse.s / t_tok.s:.1f} x bare tokenization "
          f"(tokenizer throughput / parser throughput)")


if __name__ == "__main__":
    main()
