"""Sync the cache with the ClinicalTrials.gov API v2.

:func:`sync_trials` decides between three outcomes:

* **up to date** — an incremental sync would be possible (next point) and the API's
  ``/version`` ``dataTimestamp`` equals the checkpoint's: nothing is fetched or published.
* **incremental** — ``full`` is false, a checkpoint exists for the same scope and parser
  version, and its generation is still the published one: fetch studies in scope with
  ``filter.advanced=AREA[LastUpdatePostDate]RANGE[<checkpoint date - overlap>,MAX]`` and
  lay them over a copy of the published generation (a status change, e.g. to WITHDRAWN,
  moves the trial between status indexes).
* **full** — otherwise (first sync, scope or parser changed, after an import, or
  ``full=True``): fetch everything in scope into a fresh generation. Unchanged studies
  are still not re-parsed.

Scope: ``query.cond = settings.sync_scope`` (default: an OR of cancer words), any status,
any study type. The new generation is published atomically with the new checkpoint; if
the API stays down mid-sync, the sync stops with :class:`UpstreamUnavailable`, nothing is
published and the checkpoint is unchanged (the message says which generation is served).

Deletions upstream and studies leaving the scope are only noticed by a full sync.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, date, datetime, timedelta

from trial_cache.client import CTGovClient, StudyQuery
from trial_cache.errors import UpstreamUnavailable
from trial_cache.ingest import IndexCodes, TrialParser, ingest_generation, nothing_published
from trial_cache.models import QuarantineEntry, StudyRecord
from trial_cache.progress import NO_PROGRESS, Progress
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncCheckpoint, SyncKind, SyncReport
from trial_cache.store import TrialStore

__all__ = ["incremental_filter", "sync_trials"]


def incremental_filter(since: date) -> str:
    """The ``filter.advanced`` expression for studies updated on or after ``since``."""
    return f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"


async def sync_trials(
    *,
    client: CTGovClient,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    settings: TrialCacheSettings,
    progress: Progress | None = None,
    full: bool = False,
) -> SyncReport:
    """Bring the store up to date with the API and publish a new generation.

    Holds the namespace's sync lock throughout. Returns the report (also saved under
    ``{ns}:sync:stats``). Raises SyncInProgressError (another sync/import runs),
    UpstreamUnavailable (API down through every retry; nothing published),
    UpstreamRejected (the API refused a request, e.g. a malformed scope), StoreError, or
    ParserContractError.
    """
    progress = progress or NO_PROGRESS
    started_at = datetime.now(UTC)
    scope = settings.sync_scope.strip()
    async with store.sync_lock(ttl_s=settings.sync_lock_ttl_s):
        current = await store.current_generation()
        try:
            version = await client.version()
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(
                f"{exc}; sync {nothing_published(current)}", url=exc.url, attempts=exc.attempts
            ) from exc
        checkpoint = await store.get_checkpoint()
        incremental = (
            not full
            and checkpoint is not None
            and checkpoint.data_timestamp is not None
            and checkpoint.generation == current
            and checkpoint.scope == scope
            and checkpoint.parser_version == parser.version
        )
        if incremental and checkpoint is not None and checkpoint.data_timestamp is not None:
            if version.data_timestamp == checkpoint.data_timestamp:
                now = datetime.now(UTC)
                report = SyncReport(
                    kind=SyncKind.UP_TO_DATE,
                    source=client.base_url,
                    generation=current,
                    previous_generation=current,
                    data_timestamp=version.data_timestamp,
                    started_at=started_at,
                    finished_at=now,
                )
                await store.save_report(report)
                return report
            since = checkpoint.data_timestamp.date() - timedelta(days=settings.sync_overlap_days)
            query = StudyQuery(cond=scope or None, advanced=incremental_filter(since))
            kind = SyncKind.INCREMENTAL
        else:
            query = StudyQuery(cond=scope or None)
            kind = SyncKind.FULL

        def checkpoint_for(generation: int) -> SyncCheckpoint:
            return SyncCheckpoint(
                data_timestamp=version.data_timestamp,
                scope=scope,
                parser_version=parser.version,
                generation=generation,
                completed_at=datetime.now(UTC),
            )

        async with aclosing(_fetch(client, query, progress, f"{kind.value} sync")) as items:
            return await ingest_generation(
                items,
                store=store,
                parser=parser,
                index_codes=index_codes,
                settings=settings,
                kind=kind,
                source=client.base_url,
                checkpoint_for=checkpoint_for,
                data_timestamp=version.data_timestamp,
                progress=progress,
                started_at=started_at,
            )


async def _fetch(
    client: CTGovClient, query: StudyQuery, progress: Progress, description: str
) -> AsyncGenerator[StudyRecord | QuarantineEntry, None]:
    """Every record of every page, valid and quarantined; starts ``progress`` with the
    API's total when the first page arrives."""
    async with aclosing(client.iter_study_pages(query)) as pages:
        async for page in pages:
            if page.number == 1:
                progress.start(description=description, total=page.total_count)
            for record in page.records:
                yield record
            for entry in page.quarantined:
                yield entry
