"""The service's one integration point with ``matchers`` and ``trial_cache``.

* :class:`LoadedIndex` — an immutable snapshot: the matcher's
  :class:`~matchers.index.TrialIndex` over one published store generation, plus the
  navigator's search data (:class:`service.search.SearchData`).
* :func:`build_loaded_index` — CPU-bound construction (run it in a thread).
* :func:`load_published_index` — reads the store's published generation and builds a
  snapshot; returns None when nothing newer than what is held is published. Given the
  snapshot it replaces, it reads and prepares only the trials whose content hash
  changed and takes the others over (a refresh after a sync that changed a few trials
  costs little time and little memory beyond the steady state).
* :class:`IndexHolder` — holds the current snapshot; swaps it atomically (readers keep
  the snapshot they started with). The API lifespan and the batch worker each own one.
* :func:`match_patient` — normalize + rank for one patient (pure, CPU-bound).
* :func:`make_parser` / :func:`index_codes` — what a sync or an import needs from
  ``matchers`` (the spaCy pipeline is built only here, on demand).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from matchers.evaluate import PreparedTrial
from matchers.index import TrialIndex, index_trial
from matchers.models import IndexedTrial, ParsedTrial, TrialSummary
from matchers.normalize import normalize_patient
from matchers.patient import PatientProfile
from matchers.rank import MatchResults, rank_trials
from service.errors import IndexNotReady
from service.search import SearchData
from trial_cache.store import TrialStore

if TYPE_CHECKING:
    from matchers.settings import MatcherSettings
    from ontologies import Ontology
    from trial_cache.ingest import TrialParser

log = logging.getLogger("trialmatch.service.index")


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    """One immutable snapshot of the trials the API serves.

    ``generation`` is the store generation it was built from (None for an index built
    directly from trials, e.g. in tests); ``loaded_at`` is UTC.
    """

    index: TrialIndex
    search: SearchData
    generation: int | None
    parser_version: str | None
    loaded_at: datetime
    hashes: Mapping[str, str] = field(default_factory=dict)
    """NCT id -> content hash of every indexed trial (empty for an index built directly
    from trials): what a refresh compares the next generation with."""
    reused: int = 0
    """Trials taken over from the replaced snapshot without re-reading them (refresh)."""

    def __len__(self) -> int:
        return len(self.index)


def build_loaded_index(
    trials: Iterable[IndexedTrial],
    ontology: Ontology,
    *,
    generation: int | None = None,
    parser_version: str | None = None,
    hashes: Mapping[str, str] | None = None,
    reuse: Mapping[str, PreparedTrial] | None = None,
) -> LoadedIndex:
    """Build a snapshot from indexed trials (CPU-bound; call it in a thread).

    ``hashes``: the content hash of each trial (for the next refresh); ``reuse``: trials
    prepared by the snapshot this one replaces (:class:`matchers.index.TrialIndex`)."""
    index = TrialIndex(trials, ontology, reuse=reuse)
    loaded = LoadedIndex(
        index=index,
        search=SearchData.build(index, ontology),
        generation=generation,
        parser_version=parser_version,
        loaded_at=datetime.now(UTC),
        hashes=dict(hashes) if hashes is not None else {},
        reused=len(reuse) if reuse else 0,
    )
    # The snapshot is hundreds of thousands of long-lived objects. Left in the cyclic
    # GC's generations, every full collection re-scans them and a request that happens
    # to trigger one stalls (p99 spikes of ~0.8 s were measured). Freezing moves them
    # out of the collector's reach; a replaced snapshot is still freed by reference
    # counting (it holds no reference cycles), so nothing leaks on reload.
    gc.collect()
    gc.freeze()
    return loaded


def index_entries(
    entries: Iterable[tuple[TrialSummary, ParsedTrial]], ontology: Ontology
) -> list[IndexedTrial]:
    """``matchers.index.index_trial`` over (summary, parsed) pairs, skipping (and
    logging by NCT id) a pair that does not index."""
    out: list[IndexedTrial] = []
    for summary, parsed in entries:
        try:
            out.append(index_trial(summary, parsed, ontology))
        except ValueError as exc:
            log.warning("not indexed: %s (%s)", summary.nct_id, exc)
    return out


async def load_published_index(
    store: TrialStore,
    ontology: Ontology,
    *,
    held_generation: int | None = None,
    previous: LoadedIndex | None = None,
) -> LoadedIndex | None:
    """The published generation as a new snapshot, or None when nothing is published or
    the published generation is ``held_generation`` (one cheap GET in that case).

    With ``previous`` (the snapshot being replaced, parsed by the same parser version),
    only the trials whose content hash changed are read from Redis and prepared; the
    unchanged ones are taken over as they are (same objects, so a refresh that changed
    a few trials costs little time and little extra memory). Otherwise every trial is
    read (:meth:`trial_cache.store.TrialStore.load_index_entries`).

    Raises :class:`trial_cache.errors.StoreError` when Redis fails.
    """
    for _ in range(3):
        generation = await store.current_generation()
        if generation is None or generation == held_generation:
            return None
        info = await store.generation_info(generation)
        parser_version = info.parser_version if info is not None else None
        members = await store.members(generation=generation)
        base = previous if (previous is not None and previous.hashes
                            and parser_version is not None
                            and previous.parser_version == parser_version) else None
        if base is not None:
            changed = sorted((n, h) for n, h in members.items() if base.hashes.get(n) != h)
            entries, missing = await store.load_entries_of(changed, generation=generation)
            if missing:
                log.warning("generation %d lacks %d document(s) (e.g. %s); those trials "
                            "are left out", generation, len(missing), missing[0])
        else:
            entries = await store.load_index_entries(generation=generation)
        if await store.current_generation() != generation:
            continue  # republished while we read: read the newer one

        def build(
            entries: Sequence[tuple[TrialSummary, ParsedTrial]] = entries,
            generation: int = generation,
            parser_version: str | None = parser_version,
            members: Mapping[str, str] = members,
            base: LoadedIndex | None = base,
        ) -> LoadedIndex:
            fresh = index_entries(entries, ontology)
            if base is None:
                trials = fresh
                reuse: dict[str, PreparedTrial] = {}
            else:
                by_id = {t.summary.nct_id: t for t in fresh}
                trials, reuse = [], {}
                for nct in sorted(members):
                    t = by_id.get(nct)
                    if t is None and base.hashes.get(nct) == members[nct]:
                        t = base.index.get(nct)
                        prep = base.index.prepared(nct)
                        if t is not None and prep is not None:
                            reuse[nct] = prep
                    if t is not None:
                        trials.append(t)
            return build_loaded_index(
                trials,
                ontology,
                generation=generation,
                parser_version=parser_version,
                hashes={t.summary.nct_id: members[t.summary.nct_id] for t in trials
                        if t.summary.nct_id in members},
                reuse=reuse,
            )

        loaded = await asyncio.to_thread(build)
        log.info(
            "loaded generation %s: %d trials (%d unchanged kept, parser %s)", generation,
            len(loaded), loaded.reused, parser_version
        )
        return loaded
    return None


class IndexHolder:
    """The current :class:`LoadedIndex`, swapped whole. Reading is lock-free: a request
    takes :attr:`current` once and works on that snapshot."""

    def __init__(self, current: LoadedIndex | None = None) -> None:
        self._current = current
        self._lock = asyncio.Lock()

    @property
    def current(self) -> LoadedIndex | None:
        return self._current

    def require(self) -> LoadedIndex:
        """The current snapshot; raises :class:`IndexNotReady` (503) if none is loaded."""
        if self._current is None:
            raise IndexNotReady()
        return self._current

    def swap(self, loaded: LoadedIndex) -> None:
        self._current = loaded

    async def refresh(self, store: TrialStore, ontology: Ontology) -> bool:
        """Load the published generation if it differs from the held one. Returns True
        when a new snapshot was swapped in. Concurrent calls are serialized."""
        async with self._lock:
            current = self._current
            held = current.generation if current is not None else None
            loaded = await load_published_index(store, ontology, held_generation=held,
                                                previous=current)
            if loaded is None:
                return False
            self.swap(loaded)
            return True


def match_patient(
    loaded: LoadedIndex,
    ontology: Ontology,
    profile: PatientProfile,
    *,
    today: date,
    limit: int,
    statuses: Sequence[str] | None = None,
    include_closed: bool = False,
) -> MatchResults:
    """Normalize ``profile`` and rank the snapshot for it (pure, CPU-bound).

    Raises :class:`matchers.normalize.PatientProfileError` (→ 422) when the cancer type
    resolves to nothing.
    """
    patient = normalize_patient(profile, ontology)
    return rank_trials(
        loaded.index,
        patient,
        ontology,
        today,
        limit=limit,
        statuses=statuses,
        include_closed=include_closed,
    )


def index_codes_for(ontology: Ontology) -> Callable[[TrialSummary, ParsedTrial], tuple[str, ...]]:
    """The ``index_codes`` callable a sync/import needs: a trial's ancestor-expanded
    OncoTree codes, exactly as :func:`matchers.index.index_trial` computes them."""

    def codes(summary: TrialSummary, parsed: ParsedTrial) -> tuple[str, ...]:
        return index_trial(summary, parsed, ontology).oncotree_codes

    return codes


def make_parser(ontology: Ontology, settings: MatcherSettings) -> TrialParser:
    """Build the spaCy pipeline and the eligibility parser (slow: seconds). Only the
    CLI's sync and import (and benchmarks) call this; the API never
    does, so request latency never waits on spaCy."""
    from matchers.parser import EligibilityParser
    from matchers.pipeline import build_nlp

    nlp = build_nlp(ontology, settings)
    parser: TrialParser = EligibilityParser(nlp, ontology, settings=settings)
    return parser
