"""Shared helpers of the service benchmarks (sync, parse, match, HTTP, memory).

The benchmarks read the shared corpus in place (``../shared/data/ctgov/studies.jsonl.gz``)
and the published trials of the configured store (``TRIALMATCH_*`` settings; by default
the embedded Redis in ``var/trialmatch.rdb``). :func:`published_entries` imports the
corpus first when nothing is published, exactly as ``trialmatch import`` does.
"""

from __future__ import annotations

import gzip
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from matchers.models import ParsedTrial, TrialSummary
from service.settings import Settings

if TYPE_CHECKING:
    from trial_cache.store import TrialStore

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "data" / "ctgov" / "studies.jsonl.gz"
REPLAY = SHARED / "tools" / "ctgov_replay.py"

PATIENTS: dict[str, dict[str, Any]] = {
    "mesothelioma_epithelioid_II": {
        "cancer_type": "epithelioid pleural mesothelioma", "stage": "II", "ecog": 1, "age": 67,
        "sex": "male", "zip": "10032",
    },
    "breast_her2_low_after_cdk46": {
        "cancer_type": "breast cancer", "stage": "IV",
        "biomarkers": {"HER2_IHC": "2+", "HER2_ISH": "negative", "ER": "positive"},
        "prior_therapies": [{"name": "letrozole + palbociclib", "class": "CDK4/6 inhibitor",
                             "line": 1, "setting": "metastatic", "progressed": True}],
        "ecog": 1, "age": 58, "sex": "female",
    },
    "nsclc_egfr_after_osimertinib": {
        "cancer_type": "lung adenocarcinoma", "stage": "IV",
        "biomarkers": {"EGFR": "exon 19 deletion", "PD-L1_TPS": 5},
        "prior_therapies": [{"name": "osimertinib", "line": 1, "setting": "metastatic",
                             "progressed": True}],
        "ecog": 1, "age": 62, "sex": "female", "brain_metastases": "treated_stable",
    },
    "desmoid": {"cancer_type": "desmoid tumor", "age": 34, "sex": "female", "ecog": 0},
    "tnbc_first_line": {
        "cancer_type": "triple negative breast cancer", "stage": "IV", "ecog": 0, "age": 45,
        "sex": "female", "biomarkers": {"ER": "negative", "PR": "negative", "HER2_IHC": "0"},
    },
    "crc_kras_g12c": {
        "cancer_type": "colorectal adenocarcinoma", "stage": "IV",
        "biomarkers": {"KRAS": "G12C"}, "ecog": 1, "age": 59, "sex": "male",
        "prior_therapies": [{"name": "FOLFOX"}, {"name": "FOLFIRI + bevacizumab"}],
    },
    "melanoma_braf": {
        "cancer_type": "melanoma", "stage": "IIIC", "biomarkers": {"BRAF": "V600E"},
        "ecog": 0, "age": 51, "sex": "male",
    },
    "aml": {"cancer_type": "acute myeloid leukemia", "age": 71, "ecog": 2, "sex": "female"},
}
"""Patients the latency and HTTP benchmarks rank for (valid PatientProfiles)."""


def corpus_lines(path: Path = CORPUS) -> Iterator[bytes]:
    with gzip.open(path, "rb") as fh:
        yield from (line for line in fh if line.strip())


def corpus_raw(path: Path = CORPUS) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in corpus_lines(path)]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by linear interpolation, for 0 < p < 100 (resolution 0.1:
    ``p`` is cut to a multiple of 0.1; ``p = 100`` raises IndexError)."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, int(p * 10) - 1)]


class Timer:
    """``with Timer() as t: ...``; then ``t.s`` is the elapsed wall time in seconds."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self._start


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[TrialStore]:
    """The configured store (embedded Redis unless ``TRIALMATCH_REDIS_URL``), closed on
    exit."""
    from trial_cache.embedded import open_redis
    from trial_cache.store import TrialStore

    redis, close = await open_redis(settings.cache)
    try:
        yield TrialStore(redis, settings.cache.redis_namespace)
    finally:
        await close()


async def ensure_published(settings: Settings, ontology: Any) -> int:
    """The published generation; imports the shared corpus first when nothing is
    published (slow: it parses every trial, as ``trialmatch import`` does)."""
    async with open_store(settings) as store:
        generation = await store.current_generation()
        if generation is not None:
            return generation
        from service.engine import index_codes_for, make_parser
        from trial_cache.importer import import_dump

        print(f"nothing published in the store: importing {CORPUS} (parses every trial)")
        report = await import_dump(
            CORPUS, store=store, parser=make_parser(ontology, settings.matcher),
            index_codes=index_codes_for(ontology), settings=settings.cache,
        )
        assert report.generation is not None
        return report.generation


async def published_entries(
    settings: Settings, ontology: Any, *, import_if_empty: bool = True
) -> tuple[int, list[tuple[TrialSummary, ParsedTrial]]]:
    """(generation, entries) of the published generation; with ``import_if_empty``,
    imports the corpus into the store first when nothing is published."""
    if import_if_empty:
        await ensure_published(settings, ontology)
    async with open_store(settings) as store:
        generation = await store.require_current_generation()
        return generation, await store.load_index_entries(generation=generation)
