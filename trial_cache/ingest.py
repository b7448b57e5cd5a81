"""The ingest pipeline shared by the API sync and the bulk import.

For each batch of records (``parse_batch_size``, default 256)::

    validated record ──► save version (content hash vs. the published generation:
         │                new / updated / unchanged)
         │            ──► parsed for this parser version already?  yes ──► reuse it
         │                                                         no  ──► parse (batch)
         │            ──► index codes ──► stage in the new generation (members, tags, sets)
    quarantine entry ──► {ns}:quarantine; the trial keeps its last good version

Re-running on unchanged data parses nothing: parsed criteria are keyed by parser version,
NCT id and content hash. A full sync or an import keeps the previous generation's
trials it did not read (through the same pipeline, so a new parser re-parses them)
unless it was given a ``prune`` callable, which removes them and names the reasons; a
sync marks each page's end with a :class:`PageMark`, after which its resume point is
saved. A study with an enumerated value that is not in the CT.gov spec
(a new ``overallStatus`` or phase, kept as text by :mod:`trial_cache.models`) is stored
and indexed like any other; the ingest counts it and logs a warning naming the NCT id,
the field and the value (a new or changed version at WARNING, an unchanged one at DEBUG;
the run's totals at WARNING when it is published). A broken record, or a trial the
parser or ``index_codes`` fails on, is quarantined with its reason; it never stops the
run. Only a parser that breaks its contract
(:class:`~trial_cache.errors.ParserContractError`) or cannot be built
(:class:`~trial_cache.errors.ParserUnavailable`), an upstream failure or a Redis
failure stops it, and then the caller discards the unpublished generation.

A :class:`BatchParser` (the parse pool) reports failures per trial and may take two
batches at once: the next batch is validated, stored and queued for parsing while the
previous one parses; each batch's results are staged after the previous batch's. A
generation that ends up identical to the published one (same members, content hashes
and index tags, same parser version) is not published (:func:`ingest_generation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter, deque
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from matchers.models import ParsedTrial, TrialSummary
from trial_cache.errors import (
    LeaseLost,
    ParserContractError,
    ParserUnavailable,
    TrialCacheError,
    UpstreamUnavailable,
)
from trial_cache.models import QuarantineEntry, StudyRecord
from trial_cache.progress import Progress
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import (
    ChangeKind,
    GenerationInfo,
    ParsedRecord,
    Removal,
    SyncCheckpoint,
    SyncKind,
    SyncReport,
)
from trial_cache.store import MemberEntry, TrialStore, index_tags

__all__ = [
    "BatchParser",
    "IndexCodes",
    "IngestCounts",
    "PageMark",
    "Prune",
    "TrialParser",
    "ingest",
    "ingest_generation",
    "nothing_published",
]

log = logging.getLogger(__name__)


class TrialParser(Protocol):
    """What ``matchers`` provides to turn eligibility text into criteria.

    ``version`` names the rules (``matchers.parser.PARSER_VERSION``); parsed criteria are
    stored under it. ``parse_many`` parses a batch (for ``nlp.pipe``) and returns one
    :class:`ParsedTrial` per summary, in order, each with ``parser_version == version``.
    It may raise for a batch; the pipeline then retries trial by trial and quarantines
    the ones that still fail. It runs in a worker thread.
    """

    @property
    def version(self) -> str: ...

    def parse_many(self, summaries: Sequence[TrialSummary]) -> list[ParsedTrial]: ...


@runtime_checkable
class BatchParser(TrialParser, Protocol):
    """A :class:`TrialParser` that reports failures per trial instead of raising for the
    batch (:class:`trial_cache.parse_pool.ParserPool`): ``parse_each`` returns, in order,
    each trial's :class:`ParsedTrial` or the reason (a string) the parser failed on it,
    and raises only when nothing can be parsed (ParserUnavailable: the run stops).
    ``concurrent_batches`` is how many batches may be handed to it at once (2 for a
    process pool, so one batch is prepared and queued while another parses; 1 for a
    parser in this process)."""

    @property
    def concurrent_batches(self) -> int: ...

    def parse_each(self, summaries: Sequence[TrialSummary]) -> list[ParsedTrial | str]: ...


IndexCodes = Callable[[TrialSummary, ParsedTrial], Iterable[str]]
"""The OncoTree codes a trial is indexed under (``matchers`` maps conditions, title and
criteria to codes and their ancestors)."""


@dataclass
class IngestCounts:
    """Running totals of one ingest (see :class:`trial_cache.state.SyncReport`)."""

    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    parsed: int = 0
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    with_unknown_values: int = 0
    """Validated trials carrying enumerated values not in the CT.gov spec (kept as text)."""
    unknown_values: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Trials per (field, value) of those values; list indexes are dropped from the field
    (``("protocolSection.designModule.phases", "PHASE5")``)."""

    def reset(self) -> None:
        """Back to zero (a sync that pages again from page 1 into the same generation)."""
        fresh = IngestCounts()
        for name in vars(fresh):
            setattr(self, name, getattr(fresh, name))


@dataclass(frozen=True, slots=True)
class PageMark:
    """Placed in an ingest's item stream after the last record of an API page: the
    pipeline stores everything before it, then calls ``on_mark`` (the sync's resume
    point). ``number`` is the page just read, ``next_page_token`` the token of the next
    one (None after the last page), ``total_count`` the API's ``totalCount`` if known."""

    number: int
    next_page_token: str | None
    total_count: int | None = None


MarkHandler = Callable[[PageMark, "IngestCounts"], Awaitable[None]]
"""Called with each :class:`PageMark` once the records before it are stored."""


async def ingest(
    items: AsyncIterable[StudyRecord | QuarantineEntry | PageMark],
    *,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    generation: int,
    base: int | None,
    carry_over_from: int | None,
    batch_size: int,
    progress: Progress,
    counts: IngestCounts | None = None,
    on_mark: MarkHandler | None = None,
) -> IngestCounts:
    """Run every record of ``items`` through the pipeline into ``generation``.

    ``base`` is the generation versions are compared with (the published one, or None);
    ``carry_over_from`` the generation whose version a quarantined trial keeps (None when
    its parsed criteria are for another parser version). ``counts`` are totals to carry
    on from (a resumed sync). A :class:`PageMark` flushes the current batch and then
    calls ``on_mark``. Returns the counts; raises ParserContractError, StoreError, or
    whatever ``items`` or ``on_mark`` raise (e.g. UpstreamError, LeaseLost).
    """
    counts = counts if counts is not None else IngestCounts()
    batch: list[StudyRecord | QuarantineEntry] = []
    depth = parser.concurrent_batches if isinstance(parser, BatchParser) else 1
    in_flight: deque[tuple[asyncio.Task[None], int]] = deque()

    async def complete_oldest() -> None:
        task, size = in_flight.popleft()
        await task
        progress.advance(count=size)

    async def drain() -> None:
        while in_flight:
            await complete_oldest()

    async def flush() -> None:
        if not batch:
            return
        work = list(batch)
        batch.clear()
        # batches are prepared and parsed up to ``depth`` at a time, but each one's
        # results are stored only after the previous one's (``after``): the order of
        # writes is that of the input, as without the pipeline
        after = in_flight[-1][0] if in_flight else None
        task = asyncio.create_task(
            _ingest_batch(
                work,
                store=store,
                parser=parser,
                index_codes=index_codes,
                generation=generation,
                base=base,
                carry_over_from=carry_over_from,
                counts=counts,
                after=after,
            )
        )
        in_flight.append((task, len(work)))
        while len(in_flight) >= depth:
            await complete_oldest()

    try:
        async for item in items:
            if isinstance(item, PageMark):
                await flush()
                await drain()
                if on_mark is not None:
                    await on_mark(item, counts)
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                await flush()
        await flush()
        await drain()
    finally:
        for task, _size in in_flight:
            task.cancel()
        for task, _size in in_flight:
            with contextlib.suppress(BaseException):
                await task
    return counts


async def _ingest_batch(
    batch: Sequence[StudyRecord | QuarantineEntry],
    *,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    generation: int,
    base: int | None,
    carry_over_from: int | None,
    counts: IngestCounts,
    after: Awaitable[None] | None = None,
) -> None:
    """Store, parse and stage one batch; with ``after`` (the previous batch's task),
    everything up to the parse runs at once, the rest once ``after`` is done."""
    counts.fetched += len(batch)
    by_id: dict[str, StudyRecord] = {}
    broken: list[QuarantineEntry] = []
    for item in batch:
        if isinstance(item, StudyRecord):
            by_id[item.nct_id] = item  # a repeated NCT id in one batch: the last one wins
        else:
            broken.append(item)
    records = list(by_id.values())

    changes = await store.save_studies(records, base=base)
    _note_unknown_values(records, changes, counts)
    codes = await store.parsed_codes(records, parser_version=parser.version)
    todo = [r for r, c in zip(records, codes, strict=True) if c is None]
    parsed, failures = await _parse(parser, todo)
    if after is not None:
        await after

    fresh: list[ParsedRecord] = []
    code_by_id: dict[str, tuple[str, ...]] = {
        r.nct_id: c for r, c in zip(records, codes, strict=True) if c is not None
    }
    for record, trial in zip(todo, parsed, strict=True):
        if trial is None:
            continue
        try:
            oncotree = tuple(dict.fromkeys(index_codes(record.summary, trial)))
        except Exception as exc:  # one trial's failure never stops the run
            failures[record.nct_id] = f"index_codes failed: {type(exc).__name__}: {exc}"
            continue
        fresh.append(
            ParsedRecord(content_hash=record.content_hash, trial=trial, oncotree_codes=oncotree)
        )
        code_by_id[record.nct_id] = oncotree
    await store.put_parsed(fresh)
    counts.parsed += len(todo)

    staged: list[MemberEntry] = []
    for record, change in zip(records, changes, strict=True):
        if record.nct_id in failures:
            broken.append(
                QuarantineEntry(
                    nct_id=record.nct_id,
                    location=f"parse of {record.nct_id}",
                    reason=failures[record.nct_id],
                )
            )
            continue
        staged.append(
            MemberEntry(
                nct_id=record.nct_id,
                content_hash=record.content_hash,
                tags=index_tags(record.summary, code_by_id[record.nct_id]),
            )
        )
        if change is ChangeKind.NEW:
            counts.new += 1
        elif change is ChangeKind.UPDATED:
            counts.updated += 1
        else:
            counts.unchanged += 1
    await store.stage_members(generation, staged)
    await store.release_quarantine([e.nct_id for e in staged])

    if broken:
        for entry in broken:
            log.warning("trial_cache: quarantined %s: %s", entry.key, entry.reason)
        await store.quarantine(broken)
        if carry_over_from is not None:
            # the last good version stays, unless this batch also had a good one
            keep = [
                e.nct_id
                for e in broken
                if e.nct_id is not None and (e.nct_id not in by_id or e.nct_id in failures)
            ]
            await store.carry_over(generation, base=carry_over_from, nct_ids=keep)
        counts.quarantined += len(broken)
        counts.quarantine.extend(broken)


_LIST_INDEX_RE = re.compile(r"\.\d+$")


def _note_unknown_values(
    records: Sequence[StudyRecord], changes: Sequence[ChangeKind], counts: IngestCounts
) -> None:
    """Count and log the enumerated values not in the spec. The log names the NCT id,
    the field and the value (an UPPER_SNAKE_CASE API token, never free text)."""
    for record, change in zip(records, changes, strict=True):
        unknown = record.unknown_values
        if not unknown:
            continue
        counts.with_unknown_values += 1
        counts.unknown_values.update({(_LIST_INDEX_RE.sub("", n), v) for n, v in unknown})
        log.log(
            logging.DEBUG if change is ChangeKind.UNCHANGED else logging.WARNING,
            "trial_cache: %s has values not in the CT.gov spec, kept as text: %s",
            record.nct_id,
            ", ".join(f"{name}={value}" for name, value in unknown),
        )


async def _parse(
    parser: TrialParser, records: Sequence[StudyRecord]
) -> tuple[list[ParsedTrial | None], dict[str, str]]:
    """Parse a batch in a worker thread; on failure, trial by trial. Returns one result
    per record (None where it failed) and the failure reasons by NCT id."""
    if not records:
        return [], {}
    summaries = [r.summary for r in records]
    if isinstance(parser, BatchParser):
        each = await asyncio.to_thread(parser.parse_each, summaries)
        if len(each) != len(summaries):
            raise ParserContractError(
                f"parser {parser.version!r} returned {len(each)} results for "
                f"{len(summaries)} trials"
            )
        parsed: list[ParsedTrial | None] = [r if isinstance(r, ParsedTrial) else None for r in each]
        why = {s.nct_id: r for s, r in zip(summaries, each, strict=True) if isinstance(r, str)}
        _check_contract(parser, summaries, parsed)
        return parsed, why
    try:
        results: list[ParsedTrial | None] = list(
            await asyncio.to_thread(parser.parse_many, summaries)
        )
        failures: dict[str, str] = {}
    except ParserUnavailable:
        raise
    except Exception:
        log.warning(
            "trial_cache: a parse batch failed; parsing its %d trials one by one", len(records)
        )
        results, failures = [], {}
        for summary in summaries:
            try:
                results.extend(await asyncio.to_thread(parser.parse_many, [summary]))
            except ParserUnavailable:
                raise
            except Exception as exc:  # one trial's failure never stops the run
                results.append(None)
                failures[summary.nct_id] = f"parser failed: {type(exc).__name__}: {exc}"
    _check_contract(parser, summaries, results)
    return results, failures


def _check_contract(
    parser: TrialParser, summaries: Sequence[TrialSummary], results: Sequence[ParsedTrial | None]
) -> None:
    if len(results) != len(summaries):
        raise ParserContractError(
            f"parser {parser.version!r} returned {len(results)} results for {len(summaries)} trials"
        )
    for summary, result in zip(summaries, results, strict=True):
        if result is None:
            continue
        if result.nct_id != summary.nct_id or result.parser_version != parser.version:
            raise ParserContractError(
                f"parser {parser.version!r} returned {result.nct_id} "
                f"(parser_version {result.parser_version!r}) for {summary.nct_id}"
            )


async def _keep_unread(
    nct_ids: Sequence[str],
    *,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    generation: int,
    base: int,
    batch_size: int,
    counts: IngestCounts,
) -> int:
    """Stage the ``base`` versions of ``nct_ids`` in ``generation`` (through the same
    pipeline, so a changed parser re-parses them). Returns how many were kept; a trial
    whose stored version no longer parses is quarantined like any other."""
    kept = IngestCounts()
    for start in range(0, len(nct_ids), batch_size):
        records = await store.load_records(nct_ids[start : start + batch_size], generation=base)
        await _ingest_batch(
            records,
            store=store,
            parser=parser,
            index_codes=index_codes,
            generation=generation,
            base=base,
            carry_over_from=None,
            counts=kept,
        )
    counts.parsed += kept.parsed
    counts.quarantined += kept.quarantined
    counts.quarantine.extend(kept.quarantine)
    return kept.new + kept.updated + kept.unchanged


def nothing_published(current: int | None) -> str:
    """The sentence an aborted sync or import adds to its error."""
    if current is None:
        return "aborted: nothing was published (there is no published generation yet)"
    return (
        f"aborted: nothing was published; generation {current} is still served "
        "and the checkpoint is unchanged"
    )


Prune = Callable[[Sequence[str]], Awaitable[dict[str, list[str]]]]
"""Given the NCT ids of the previous generation that a full sync or an import did not
read, group them by the reason they leave (``{"not in dump.jsonl": [...]}``). Passing
one to :func:`ingest_generation` removes them; passing none keeps them."""

_REMOVAL_EXAMPLES = 10
"""NCT ids listed per removal reason in a report."""


async def ingest_generation(
    items: AsyncIterable[StudyRecord | QuarantineEntry | PageMark],
    *,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    settings: TrialCacheSettings,
    kind: SyncKind,
    source: str,
    checkpoint_for: Callable[[int], SyncCheckpoint | None],
    data_timestamp: datetime | None,
    progress: Progress,
    started_at: datetime,
    prune: Prune | None = None,
    resume_into: GenerationInfo | None = None,
    counts: IngestCounts | None = None,
    on_mark: MarkHandler | None = None,
    before_publish: Callable[[], Awaitable[None]] | None = None,
    keep_on_failure: bool = False,
    resumed_from_page: int | None = None,
    took_over_lease_of: str | None = None,
) -> SyncReport:
    """Build a generation from ``items``, publish it, collect garbage, save the report.

    The generation starts as a copy of the published one for an incremental sync, empty
    otherwise (or is ``resume_into``, an unpublished generation an interrupted sync was
    building, with its ``counts``); versions are compared with the published one either
    way. For a full sync or an import, trials of the published generation that
    ``items`` did not hold are kept (re-parsed if the parser changed), unless ``prune``
    is given: then they are left out and reported by its reasons.
    ``checkpoint_for(generation)`` gives the checkpoint published with it (None clears
    it); ``before_publish`` runs just before the publish (the lease check);
    ``on_mark`` is called after each :class:`PageMark`. Must be called while holding the
    sync lease.

    When the new generation holds exactly what the published one holds (members,
    content hashes, index tags; same parser version; nothing pruned), nothing is
    published: the new generation is discarded, ``checkpoint_for(current)`` (if not
    None) is saved with the resume point deleted (:meth:`TrialStore.keep_published`),
    and the report has ``published=False`` and ``generation`` = the one still served.

    On failure the previous generation and checkpoint stay as they were and the error is
    re-raised with :func:`nothing_published`'s sentence (in the message of an
    UpstreamUnavailable, as a note on other errors). The unpublished generation is
    discarded, unless ``keep_on_failure`` (a sync keeps it for its resume point) or the
    lease was lost (the run that took it over may be using it).
    """
    current = await store.current_generation()
    base_info = await store.generation_info(current) if current is not None else None
    same_parser = base_info is not None and base_info.parser_version == parser.version
    info = resume_into or await store.begin_generation(
        kind=kind,
        parser_version=parser.version,
        base=current,
        copy_base=kind is SyncKind.INCREMENTAL,
    )
    removed = kept = 0
    removals: list[Removal] = []
    try:
        counts = await ingest(
            items,
            store=store,
            parser=parser,
            index_codes=index_codes,
            generation=info.generation,
            base=current,
            carry_over_from=current if same_parser else None,
            batch_size=settings.parse_batch_size,
            progress=progress,
            counts=counts,
            on_mark=on_mark,
        )
        if current is not None and kind is not SyncKind.INCREMENTAL:
            before = await store.members(generation=current)
            after = await store.members(generation=info.generation)
            unread = sorted(before.keys() - after.keys())
            if unread and prune is not None:
                by_reason = await prune(unread)
                removed = len(unread)
                removals = [
                    Removal(reason=r, count=len(ids), examples=tuple(ids[:_REMOVAL_EXAMPLES]))
                    for r, ids in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))
                ]
            elif unread:
                kept = await _keep_unread(
                    unread,
                    store=store,
                    parser=parser,
                    index_codes=index_codes,
                    generation=info.generation,
                    base=current,
                    batch_size=settings.parse_batch_size,
                    counts=counts,
                )
        if before_publish is not None:
            await before_publish()
        unchanged = (
            current is not None
            and same_parser
            and removed == 0
            and await store.same_contents(info.generation, current)
        )
        if unchanged:
            assert current is not None
            # nothing a reader would see changed: publish nothing (every API process and
            # worker would otherwise rebuild its whole index); only the checkpoint moves
            await store.keep_published(expected_current=current, checkpoint=checkpoint_for(current))
        else:
            await store.publish_generation(
                info.generation,
                expected_current=current,
                checkpoint=checkpoint_for(info.generation),
                data_timestamp=data_timestamp,
            )
    except BaseException as exc:
        label = "import" if kind is SyncKind.IMPORT else f"{kind.value} sync"
        if not keep_on_failure and not isinstance(exc, LeaseLost):
            try:
                await store.discard_generation(info.generation)
            except TrialCacheError:
                log.exception("trial_cache: could not discard generation %d", info.generation)
        if isinstance(exc, UpstreamUnavailable):
            raise UpstreamUnavailable(
                f"{exc}; {label} {nothing_published(current)}",
                url=exc.url,
                attempts=exc.attempts,
            ) from exc
        if isinstance(exc, Exception):
            exc.add_note(f"{label} {nothing_published(current)}")
        raise
    # published (or kept): from here on a failure is logged, not raised
    try:
        if unchanged:
            await store.discard_generation(info.generation)
        await store.collect_garbage()
    except TrialCacheError:
        log.exception("trial_cache: garbage collection after generation %d failed", info.generation)
    report = SyncReport(
        kind=kind,
        source=source,
        generation=current if unchanged else info.generation,
        published=not unchanged,
        previous_generation=current,
        data_timestamp=data_timestamp,
        fetched=counts.fetched,
        new=counts.new,
        updated=counts.updated,
        unchanged=counts.unchanged,
        quarantined=counts.quarantined,
        parsed=counts.parsed,
        removed=removed,
        kept=kept,
        removals=tuple(removals),
        pruned=prune is not None,
        resumed_from_page=resumed_from_page,
        took_over_lease_of=took_over_lease_of,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        quarantine=tuple(counts.quarantine),
    )
    try:
        await store.save_report(report)
    except TrialCacheError:
        log.exception("trial_cache: could not save the report of generation %d", info.generation)
    log.info(
        "trial_cache: %s %s generation %d: fetched %d, new %d, updated %d, "
        "unchanged %d, quarantined %d, parsed %d, kept %d, removed %d in %.1f s",
        kind.value,
        "kept (nothing changed)" if unchanged else "published",
        report.generation,
        report.fetched,
        report.new,
        report.updated,
        report.unchanged,
        report.quarantined,
        report.parsed,
        report.kept,
        report.removed,
        report.duration_s,
    )
    unknown = counts.unknown_values
    if unknown:
        log.warning(
            "trial_cache: %s (generation %d) read %d trials with values not in the CT.gov "
            "spec, stored and indexed as text (add them to trial_cache.models): %s",
            kind.value,
            info.generation,
            counts.with_unknown_values,
            ", ".join(f"{name}={value} ({n})" for (name, value), n in sorted(unknown.items())),
        )
    return report
