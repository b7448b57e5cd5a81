"""Sync the cache with the ClinicalTrials.gov API v2.

:func:`sync_trials` decides between four outcomes:

* **resumed** — an earlier sync was interrupted (crash, SIGKILL, the API down through the
  retry budget) after storing some pages: its resume point ``{ns}:sync:resume`` still
  fits (same scope, query, page size and parser version, and the generation it built on
  is still the published one). The sync continues from the next page token into the
  same unpublished generation; pages already stored are not fetched again.
* **up to date** — an incremental sync would be possible (next point) and the API's
  ``/version`` ``dataTimestamp`` equals the checkpoint's: nothing is fetched or published.
* **incremental** — ``full`` is false, a checkpoint exists for the same scope and parser
  version, and its generation is still the published one: fetch studies in scope with
  ``filter.advanced=AREA[LastUpdatePostDate]RANGE[<checkpoint date - overlap>,MAX]`` and
  lay them over a copy of the published generation (a status change, e.g. to WITHDRAWN,
  moves the trial between status indexes).
* **full** — otherwise (first sync, scope or parser changed, after an import, or
  ``full=True``): fetch everything in scope into a fresh generation. Unchanged studies
  are still not re-parsed. Trials of the published generation that the sync did not
  fetch (imported ones outside the scope, studies deleted upstream) are **kept** unless
  ``prune=True``; pruning asks the API which of them still exist (``filter.ids``) and
  reports them as "outside the sync scope" or "no longer on ClinicalTrials.gov".

Scope: ``query.cond = settings.sync_scope`` (default :data:`~trial_cache.settings.
ONCOLOGY_SCOPE`), any status, any study type.

No change, no publish: a sync (of any kind) whose generation ends up holding exactly the
published trial versions and index tags, with the same parser, publishes nothing (see
:func:`trial_cache.ingest.ingest_generation`): the checkpoint moves on, the report has
``published=False``. The parser is only asked to parse studies whose (parser version,
content hash) was never parsed, so a lazily built one
(:class:`trial_cache.parse_pool.ParserPool`) is not built by an up-to-date sync or one
that fetched only unchanged studies.

Progress: after each page's studies are stored in the generation being built, the
resume point is saved (next page token and number, running counts). The new generation
is published atomically with the new checkpoint, and the resume point is deleted in the
same MULTI/EXEC. If the API stays down mid-sync beyond the retry budget, the sync stops
with :class:`UpstreamUnavailable`: nothing is published, the checkpoint is unchanged,
and the next run resumes. A page token the API no longer accepts (it expired) restarts
the paging from page 1 into the same generation (stored studies are not re-parsed).

Concurrency: the whole run holds the namespace's lease (:mod:`trial_cache.lease`); it
checks the lease is still its own before each resume point and before publishing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from datetime import UTC, date, datetime, timedelta

from trial_cache.client import CTGovClient, StudyQuery
from trial_cache.errors import LeaseLost, TrialCacheError, UpstreamRejected, UpstreamUnavailable
from trial_cache.ingest import (
    IndexCodes,
    IngestCounts,
    PageMark,
    Prune,
    TrialParser,
    ingest_generation,
    nothing_published,
)
from trial_cache.lease import Lease
from trial_cache.models import QuarantineEntry, StudyRecord
from trial_cache.progress import NO_PROGRESS, Progress
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import (
    ResumeCounts,
    ResumePoint,
    SyncCheckpoint,
    SyncKind,
    SyncReport,
)
from trial_cache.store import TrialStore

__all__ = ["OUTSIDE_SCOPE", "UPSTREAM_GONE", "incremental_filter", "sync_trials"]

log = logging.getLogger(__name__)

OUTSIDE_SCOPE = "outside the sync scope (still on ClinicalTrials.gov)"
"""Removal reason: the API has the study, but the scope's query did not return it."""
UPSTREAM_GONE = "no longer on ClinicalTrials.gov (deleted or withheld)"
"""Removal reason: ``filter.ids`` did not return the study."""


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
    prune: bool = False,
    force: bool = False,
) -> SyncReport:
    """Bring the store up to date with the API and publish a new generation (none when
    nothing changed: the report's ``published`` is then False).

    Holds the namespace's sync lease throughout (``force`` takes over the lease of a
    run that is gone; the report's ``took_over_lease_of`` says whose). ``prune`` lets a
    full sync remove trials it did not fetch. Returns the report (also saved under
    ``{ns}:sync:stats``). Raises SyncInProgressError (another sync/import runs),
    UpstreamUnavailable (API down through the retry budget; nothing published, the next
    run resumes), UpstreamRejected (the API refused a request, e.g. a malformed scope),
    LeaseLost, StoreError, or ParserContractError.
    """
    progress = progress or NO_PROGRESS
    started_at = datetime.now(UTC)
    scope = settings.sync_scope.strip()
    async with store.sync_lease(
        ttl_s=settings.sync_lease_ttl_s, command="sync", force=force
    ) as lease:
        took_over = lease.took_over.describe() if lease.took_over is not None else None
        current = await store.current_generation()
        try:
            version = await client.version()
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(
                f"{exc}; sync {nothing_published(current)}", url=exc.url, attempts=exc.attempts
            ) from exc

        resume = await _usable_resume(store, current=current, scope=scope, parser=parser,
                                      settings=settings, full=full)
        if resume is not None:
            return await _run(
                client=client, store=store, parser=parser, index_codes=index_codes,
                settings=settings, progress=progress, lease=lease, scope=scope,
                kind=resume.kind,
                query=StudyQuery(
                    cond=resume.query.get("query.cond"),
                    advanced=resume.query.get("filter.advanced"),
                ),
                data_timestamp=resume.data_timestamp, started_at=resume.started_at,
                resume=resume, prune=prune, took_over=took_over,
            )

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
                    took_over_lease_of=took_over,
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
        return await _run(
            client=client, store=store, parser=parser, index_codes=index_codes,
            settings=settings, progress=progress, lease=lease, scope=scope, kind=kind,
            query=query, data_timestamp=version.data_timestamp, started_at=started_at,
            resume=None, prune=prune, took_over=took_over,
        )


async def _usable_resume(
    store: TrialStore,
    *,
    current: int | None,
    scope: str,
    parser: TrialParser,
    settings: TrialCacheSettings,
    full: bool,
) -> ResumePoint | None:
    """The stored resume point if this run can continue it; otherwise clears it (and
    discards the generation it was building) and returns None."""
    point = await store.get_resume()
    if point is None:
        return None
    info = await store.generation_info(point.generation)
    why = None
    if info is None or info.published_at is not None:
        why = f"generation {point.generation} is gone or published"
    elif point.base != current:
        why = f"generation {current} was published since (the run was built on {point.base})"
    elif point.scope != scope:
        why = "the sync scope changed"
    elif point.parser_version != parser.version:
        why = "the parser changed"
    elif point.page_size != settings.ctgov_page_size:
        why = "the page size changed"
    elif full and point.kind is not SyncKind.FULL:
        why = "a full sync was asked for"
    if why is None:
        log.info(
            "trial_cache: resuming the %s sync of generation %d from page %d",
            point.kind.value,
            point.generation,
            point.next_page,
        )
        return point
    log.warning("trial_cache: not resuming the interrupted sync: %s", why)
    if info is not None and info.published_at is None and point.generation != current:
        await store.discard_generation(point.generation)
    await store.clear_resume()
    return None


async def _run(
    *,
    client: CTGovClient,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    settings: TrialCacheSettings,
    progress: Progress,
    lease: Lease,
    scope: str,
    kind: SyncKind,
    query: StudyQuery,
    data_timestamp: datetime | None,
    started_at: datetime,
    resume: ResumePoint | None,
    prune: bool,
    took_over: str | None,
) -> SyncReport:
    """Fetch pages into a generation (new, or the resumed one) and publish it."""
    point = resume
    counts = IngestCounts()
    if point is not None:
        c = point.counts
        counts = IngestCounts(
            fetched=c.fetched, new=c.new, updated=c.updated, unchanged=c.unchanged,
            quarantined=c.quarantined, parsed=c.parsed, quarantine=list(point.quarantine),
        )
    total: list[int | None] = [point.total_count if point is not None else None]
    generation_box: list[int] = []

    async def on_mark(mark: PageMark, running: IngestCounts) -> None:
        if mark.total_count is not None:
            total[0] = mark.total_count
        await lease.ensure()
        if mark.next_page_token is None:
            return  # last page: the publish deletes the resume point
        await store.save_resume(
            ResumePoint(
                kind=kind,
                scope=scope,
                query=query.to_params(),
                page_size=settings.ctgov_page_size,
                parser_version=parser.version,
                base=base,
                generation=generation_box[0],
                next_page_token=mark.next_page_token,
                next_page=mark.number + 1,
                total_count=total[0],
                data_timestamp=data_timestamp,
                counts=ResumeCounts(
                    fetched=running.fetched, new=running.new, updated=running.updated,
                    unchanged=running.unchanged, quarantined=running.quarantined,
                    parsed=running.parsed,
                ),
                quarantine=tuple(running.quarantine),
                started_at=started_at,
                updated_at=datetime.now(UTC),
            )
        )

    base = await store.current_generation()
    if point is not None:
        generation_box.append(point.generation)
    else:
        info = await store.begin_generation(
            kind=kind, parser_version=parser.version, base=base,
            copy_base=kind is SyncKind.INCREMENTAL,
        )
        generation_box.append(info.generation)
    resume_into = await store.generation_info(generation_box[0])

    def checkpoint_for(generation: int) -> SyncCheckpoint:
        return SyncCheckpoint(
            data_timestamp=data_timestamp,
            scope=scope,
            parser_version=parser.version,
            generation=generation,
            completed_at=datetime.now(UTC),
        )

    async def classify(nct_ids: Sequence[str]) -> dict[str, list[str]]:
        existing = await client.existing_ids(nct_ids)
        out: dict[str, list[str]] = {}
        for nct_id in nct_ids:
            out.setdefault(OUTSIDE_SCOPE if nct_id in existing else UPSTREAM_GONE, []).append(
                nct_id
            )
        return out

    prune_by: Prune | None = classify if prune else None
    description = f"{kind.value} sync" + (f" (resumed at page {point.next_page})" if point else "")
    fetch = _fetch(client, query, progress, description, point=point, counts=counts,
                   page_size=settings.ctgov_page_size)
    try:
        async with aclosing(fetch) as items:
            return await ingest_generation(
                items,
                store=store,
                parser=parser,
                index_codes=index_codes,
                settings=settings,
                kind=kind,
                source=client.base_url,
                checkpoint_for=checkpoint_for,
                data_timestamp=data_timestamp,
                progress=progress,
                started_at=started_at,
                prune=prune_by,
                resume_into=resume_into,
                counts=counts,
                on_mark=on_mark,
                before_publish=lease.ensure,
                keep_on_failure=True,
                resumed_from_page=point.next_page if point is not None else None,
                took_over_lease_of=took_over,
            )
    except Exception as exc:
        if isinstance(exc, LeaseLost):
            raise  # the run that took the lease over may be continuing this generation
        try:
            saved = await store.get_resume()
        except TrialCacheError:  # Redis is down: leave everything for the next run
            raise exc from exc.__cause__
        if saved is None or saved.generation != generation_box[0]:
            try:
                await store.discard_generation(generation_box[0])  # no page stored yet
            except TrialCacheError:
                log.exception("trial_cache: could not discard generation %d", generation_box[0])
            raise
        if isinstance(exc, UpstreamUnavailable):
            raise UpstreamUnavailable(
                f"{exc}; the next `trialmatch sync` resumes from page {saved.next_page}",
                url=exc.url,
                attempts=exc.attempts,
            ) from exc
        exc.add_note(f"the next `trialmatch sync` resumes from page {saved.next_page}")
        raise


async def _fetch(
    client: CTGovClient,
    query: StudyQuery,
    progress: Progress,
    description: str,
    *,
    point: ResumePoint | None,
    counts: IngestCounts,
    page_size: int,
) -> AsyncGenerator[StudyRecord | QuarantineEntry | PageMark, None]:
    """Every record of every page, valid and quarantined, each page closed by a
    :class:`PageMark`; starts ``progress`` with the API's total when known. With
    ``point``, starts at its page token; if the API rejects that token (expired),
    starts again at page 1 (``counts`` are reset: the same generation is rebuilt)."""
    token = point.next_page_token if point is not None else None
    number = point.next_page if point is not None else 1
    if point is not None:
        progress.start(description=description, total=point.total_count)
        progress.advance(count=point.counts.fetched)
    while True:
        pages = client.iter_study_pages(
            query, page_token=token, page_number=number, page_size=page_size
        )
        try:
            async with aclosing(pages) as stream:
                async for page in stream:
                    if page.number == 1:
                        progress.start(description=description, total=page.total_count)
                    for record in page.records:
                        yield record
                    for entry in page.quarantined:
                        yield entry
                    yield PageMark(
                        number=page.number,
                        next_page_token=page.next_page_token,
                        total_count=page.total_count,
                    )
            return
        except UpstreamRejected as exc:
            if token is None or exc.status != 400:
                raise
            log.warning(
                "trial_cache: the API refused the saved page token (%s); paging again "
                "from page 1 into the same generation",
                exc.reason,
            )
            token, number = None, 1
            counts.reset()
