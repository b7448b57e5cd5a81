"""The Redis store: study versions, parsed criteria, generations, indexes, quarantine.

Layout and lifetimes are in :mod:`trial_cache.keys`. In short: documents are immutable
and content-addressed; a sync builds a new *generation* (members, index tags, index sets)
next to the published one and publishes it by swapping ``{ns}:current`` in one MULTI/EXEC
together with the checkpoint, so a reader sees either the whole old generation or the
whole new one. Garbage collection after a publish keeps the published generation and the
one it replaced.

Writers (a sync or an import) hold the namespace's sync lease (:meth:`TrialStore.sync_lease`);
readers (:meth:`TrialStore.load_index_entries`, :meth:`TrialStore.index`) take no lock.

Every Redis failure surfaces as :class:`~trial_cache.errors.StoreError` (``from`` the
redis-py exception).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar, cast

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from matchers.models import ParsedTrial, TrialSummary
from trial_cache.errors import NoPublishedSyncError, StoreError
from trial_cache.keys import IndexKind, KeySpace, tag
from trial_cache.lease import Lease, LeaseOwner, hold_lease, read_lease
from trial_cache.models import QuarantineEntry, StudyRecord, validate_record
from trial_cache.state import (
    ChangeKind,
    GenerationInfo,
    ParsedRecord,
    ResumePoint,
    SyncCheckpoint,
    SyncKind,
    SyncReport,
)

__all__ = ["MemberEntry", "TrialStore", "index_tags"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_PIPELINE_CHUNK = 2000
"""Commands per pipeline round trip when reading or writing many trials."""
_SCAN_COUNT = 1000
"""COUNT hint of SCAN during garbage collection."""


def index_tags(summary: TrialSummary, oncotree_codes: Iterable[str]) -> tuple[str, ...]:
    """The index tags of a trial: ``status:{overallStatus}``, ``type:{studyType}`` (when
    set) and ``oncotree:{code}`` for each code; sorted, without duplicates."""
    tags = {tag(IndexKind.ONCOTREE, code) for code in oncotree_codes}
    if summary.overall_status:
        tags.add(tag(IndexKind.STATUS, summary.overall_status))
    if summary.study_type:
        tags.add(tag(IndexKind.TYPE, summary.study_type))
    return tuple(sorted(tags))


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberEntry:
    """A trial version to place in a generation: NCT id, content hash and index tags
    (as made by :func:`index_tags`)."""

    nct_id: str
    content_hash: str
    tags: tuple[str, ...]


async def _r(reply: Awaitable[_T] | _T) -> _T:
    """Await a redis-py asyncio reply.

    redis-py annotates each command once for both clients (``Awaitable[T] | T``), which
    mypy refuses to await; this narrows it without changing behaviour.
    """
    if inspect.isawaitable(reply):
        return await cast(Awaitable[_T], reply)
    return reply


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _redis_errors(action: str) -> Iterator[None]:
    try:
        yield
    except WatchError as exc:
        raise StoreError(f"{action}: the data changed concurrently") from exc
    except RedisError as exc:
        raise StoreError(f"{action}: Redis failed: {exc}") from exc


def _chunks(items: Sequence[_T], size: int = _PIPELINE_CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]



async def _watch_current(pipe: Pipeline, key: str, expected: int | None, why: str) -> int | None:
    """WATCH the published-generation pointer ``key`` on ``pipe`` and return it; raises
    :class:`StoreError` ("generation <current> <why>") when it is not ``expected``."""
    await pipe.watch(key)
    current = await _r(pipe.get(key))
    current_id = int(current) if current is not None else None
    if current_id != expected:
        raise StoreError(f"generation {current_id} {why}")
    return current_id

class TrialStore:
    """Trial versions, parsed criteria and published generations in one Redis namespace.

    ``redis`` is a ``redis.asyncio.Redis`` (either ``decode_responses`` setting works);
    the store does not close it. ``namespace`` prefixes every key.
    """

    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self.keys = KeySpace(namespace)

    # ----------------------------------------------------------------------------------
    # Generations
    # ----------------------------------------------------------------------------------

    async def current_generation(self) -> int | None:
        """The published generation id, or None before the first publish."""
        with _redis_errors("reading the current generation"):
            value = await _r(self._redis.get(self.keys.current))
        return int(value) if value is not None else None

    async def require_current_generation(self) -> int:
        """The published generation id; raises NoPublishedSyncError if there is none."""
        generation = await self.current_generation()
        if generation is None:
            raise NoPublishedSyncError(
                f"namespace {self.keys.namespace!r} has no published trials yet: "
                "run a sync or an import first"
            )
        return generation

    async def generation_info(self, generation: int) -> GenerationInfo | None:
        """The meta of a generation, or None if it does not exist (or was collected)."""
        with _redis_errors(f"reading generation {generation}"):
            value = await _r(self._redis.get(self.keys.gen_meta(generation)))
        return GenerationInfo.model_validate_json(value) if value is not None else None

    async def begin_generation(
        self, *, kind: SyncKind, parser_version: str, base: int | None, copy_base: bool
    ) -> GenerationInfo:
        """Create an unpublished generation.

        ``base`` is the generation new versions are compared with (normally the published
        one). With ``copy_base`` the new generation starts as a copy of it (members, tags
        and index sets; Redis >= 6.2 for COPY), for an incremental sync; otherwise empty.
        """
        with _redis_errors("creating a generation"):
            generation = int(await _r(self._redis.incr(self.keys.gen_seq)))
            info = GenerationInfo(
                generation=generation,
                kind=kind,
                parser_version=parser_version,
                base=base,
                created_at=_now(),
            )
            await _r(self._redis.sadd(self.keys.generations, generation))
            await _r(self._redis.set(self.keys.gen_meta(generation), info.model_dump_json()))
            if copy_base and base is not None:
                tags = await self._index_tags_in_use(base)
                pipe = self._redis.pipeline(transaction=False)
                pipe.copy(self.keys.gen_members(base), self.keys.gen_members(generation))
                pipe.copy(self.keys.gen_tags(base), self.keys.gen_tags(generation))
                for t in tags:
                    pipe.copy(self.keys.gen_index(base, t), self.keys.gen_index(generation, t))
                await pipe.execute()
        return info

    async def publish_generation(
        self,
        generation: int,
        *,
        expected_current: int | None,
        checkpoint: SyncCheckpoint | None,
        data_timestamp: datetime | None = None,
    ) -> GenerationInfo:
        """Make ``generation`` the published one, atomically with the checkpoint.

        One MULTI/EXEC sets ``{ns}:current``, the generation's meta (``published_at``,
        ``replaces``, ``trial_count``) and the checkpoint (deleted when ``checkpoint`` is
        None, as after an import), and deletes the resume point. Raises StoreError if
        the published generation is no longer ``expected_current`` (someone else
        published meanwhile); then nothing changes.
        """
        info = await self.generation_info(generation)
        if info is None:
            raise StoreError(f"generation {generation} does not exist")
        keys = self.keys
        with _redis_errors(f"publishing generation {generation}"):
            async with self._redis.pipeline(transaction=True) as pipe:
                current_id = await _watch_current(
                    pipe, keys.current, expected_current,
                    f"was published while generation {generation} was being built on "
                    f"{expected_current}; not publishing")
                count = int(await _r(pipe.hlen(keys.gen_members(generation))))
                published = info.model_copy(
                    update={
                        "published_at": _now(),
                        "replaces": current_id,
                        "trial_count": count,
                        "data_timestamp": data_timestamp,
                    }
                )
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(keys.current, generation)
                pipe.set(keys.gen_meta(generation), published.model_dump_json())
                pipe.delete(keys.sync_resume)  # the interrupted run (if any) is done
                if checkpoint is None:
                    pipe.delete(keys.checkpoint)
                else:
                    pipe.set(keys.checkpoint, checkpoint.model_dump_json())
                await pipe.execute()
        return published

    async def same_contents(self, generation: int, other: int) -> bool:
        """Whether two generations hold exactly the same trial versions with the same
        index tags (status, OncoTree codes, …): publishing one in place of the other
        would change nothing a reader sees, given the same parser version."""
        with _redis_errors(f"comparing generations {generation} and {other}"):
            pipe = self._redis.pipeline(transaction=False)
            for g in (generation, other):
                pipe.hgetall(self.keys.gen_members(g))
                pipe.hgetall(self.keys.gen_tags(g))
            members_a, tags_a, members_b, tags_b = await pipe.execute()
        if members_a != members_b:
            return False
        if tags_a.keys() != tags_b.keys():
            return False
        return all(
            sorted(orjson.loads(v)) == sorted(orjson.loads(tags_b[k])) for k, v in tags_a.items()
        )

    async def keep_published(
        self, *, expected_current: int | None, checkpoint: SyncCheckpoint | None
    ) -> None:
        """End a sync or an import that changed nothing without publishing: in one
        MULTI/EXEC, save ``checkpoint`` (when given; None leaves the stored one as it
        is) and delete the resume point. Raises StoreError if the published generation
        is no longer ``expected_current``; then nothing changes."""
        keys = self.keys
        with _redis_errors("saving the checkpoint"):
            async with self._redis.pipeline(transaction=True) as pipe:
                await _watch_current(
                    pipe, keys.current, expected_current,
                    f"was published while this run compared against {expected_current}; "
                    "not saving its checkpoint")
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.delete(keys.sync_resume)
                if checkpoint is not None:
                    pipe.set(keys.checkpoint, checkpoint.model_dump_json())
                await pipe.execute()

    async def discard_generation(self, generation: int) -> None:
        """Delete an (unpublished) generation's keys. Documents it added are left to
        garbage collection. Refuses to discard the published generation."""
        if generation == await self.current_generation():
            raise StoreError(f"generation {generation} is published; not discarding it")
        await self._delete_generation(generation)

    async def collect_garbage(self) -> tuple[int, int]:
        """Delete every generation but the published one and the one it replaced, then
        every study/parsed document neither of them references.

        Returns (generations deleted, documents deleted). Call it only while holding the
        sync lease: documents of a generation being built are not referenced yet.
        """
        current = await self.current_generation()
        if current is None:
            return (0, 0)
        current_info = await self.generation_info(current)
        keep = {current}
        if current_info is not None and current_info.replaces is not None:
            keep.add(current_info.replaces)
        with _redis_errors("collecting garbage"):
            registered = {int(g) for g in await _r(self._redis.smembers(self.keys.generations))}
        dropped = sorted(registered - keep)
        for generation in dropped:
            await self._delete_generation(generation)

        referenced: set[tuple[str, str]] = set()
        parser_versions: set[str] = set()
        for generation in keep:
            info = await self.generation_info(generation)
            if info is None:
                continue
            parser_versions.add(info.parser_version)
            referenced.update((await self.members(generation=generation)).items())

        prefix_len = len(self.keys.namespace) + 1
        doomed: list[str] = []
        with _redis_errors("collecting garbage"):
            async for key in self._redis.scan_iter(
                match=self.keys.study_pattern, count=_SCAN_COUNT
            ):
                _, nct_id, content_hash = _text(key)[prefix_len:].split(":", 2)
                if (nct_id, content_hash) not in referenced:
                    doomed.append(_text(key))
            async for key in self._redis.scan_iter(
                match=self.keys.parsed_pattern, count=_SCAN_COUNT
            ):
                pv_part, nct_id, content_hash = _text(key)[prefix_len:].rsplit(":", 2)
                parser_version = pv_part.split(":", 1)[1]
                if (
                    parser_version not in parser_versions
                    or (nct_id, content_hash) not in referenced
                ):
                    doomed.append(_text(key))
            for chunk in _chunks(doomed):
                await _r(self._redis.unlink(*chunk))
        if dropped or doomed:
            log.info(
                "trial_cache gc: %d generation(s) and %d document(s) deleted (kept %s)",
                len(dropped),
                len(doomed),
                sorted(keep),
            )
        return (len(dropped), len(doomed))

    async def _index_tags_in_use(self, generation: int) -> set[str]:
        tags: set[str] = set()
        for value in await _r(self._redis.hvals(self.keys.gen_tags(generation))):
            tags.update(orjson.loads(value))
        return tags

    async def _delete_generation(self, generation: int) -> None:
        keys = self.keys
        with _redis_errors(f"deleting generation {generation}"):
            doomed = [
                keys.gen_index(generation, t) for t in await self._index_tags_in_use(generation)
            ]
            doomed += [
                keys.gen_members(generation),
                keys.gen_tags(generation),
                keys.gen_meta(generation),
            ]
            for chunk in _chunks(doomed):
                await _r(self._redis.unlink(*chunk))
            await _r(self._redis.srem(keys.generations, generation))

    # ----------------------------------------------------------------------------------
    # Study versions and parsed criteria
    # ----------------------------------------------------------------------------------

    async def save_studies(
        self, records: Sequence[StudyRecord], *, base: int | None
    ) -> list[ChangeKind]:
        """Store each record's version unless ``base`` already has it; say which it was.

        A record is NEW when ``base`` (a generation, normally the published one; None =
        compare with nothing) lacks its NCT id, UPDATED when ``base`` holds another content
        hash, UNCHANGED when it holds the same one (nothing is written then: the document
        exists as long as ``base`` does).
        """
        if not records:
            return []
        with _redis_errors("saving studies"):
            if base is None:
                prior: list[bytes | str | None] = [None] * len(records)
            else:
                prior = await _r(
                    self._redis.hmget(self.keys.gen_members(base), [r.nct_id for r in records])
                )
            changes: list[ChangeKind] = []
            pipe = self._redis.pipeline(transaction=False)
            for record, prior_hash in zip(records, prior, strict=True):
                if prior_hash is None:
                    change = ChangeKind.NEW
                elif _text(prior_hash) != record.content_hash:
                    change = ChangeKind.UPDATED
                else:
                    change = ChangeKind.UNCHANGED
                changes.append(change)
                if change is not ChangeKind.UNCHANGED:
                    pipe.hset(
                        self.keys.study(record.nct_id, record.content_hash),
                        mapping={
                            "raw": record.raw_json,
                            "summary": record.summary.model_dump_json(),
                        },
                    )
            await pipe.execute()
        return changes

    async def get_study(self, nct_id: str, *, generation: int | None = None) -> StudyRecord | None:
        """The version of a trial in ``generation`` (default: the published one), or None
        if the trial is not a member. Raises NoPublishedSyncError if nothing is published."""
        generation = (
            generation if generation is not None else await self.require_current_generation()
        )
        with _redis_errors(f"reading {nct_id}"):
            content_hash = await _r(self._redis.hget(self.keys.gen_members(generation), nct_id))
            if content_hash is None:
                return None
            raw = await _r(self._redis.hget(self.keys.study(nct_id, _text(content_hash)), "raw"))
        if raw is None:
            raise StoreError(f"{nct_id}: generation {generation} references a missing document")
        record = validate_record(orjson.loads(raw), location=f"redis:{nct_id}")
        if isinstance(record, QuarantineEntry):
            raise StoreError(f"{nct_id}: stored study no longer validates: {record.reason}")
        return record

    async def load_records(
        self, nct_ids: Sequence[str], *, generation: int
    ) -> list[StudyRecord]:
        """The versions ``generation`` holds of ``nct_ids``, validated again (pipelined);
        ids it lacks are skipped. Raises StoreError if a referenced document is missing
        or no longer validates."""
        if not nct_ids:
            return []
        with _redis_errors(f"reading trials of generation {generation}"):
            hashes = await _r(self._redis.hmget(self.keys.gen_members(generation), list(nct_ids)))
            present = [(n, _text(h)) for n, h in zip(nct_ids, hashes, strict=True) if h]
            pipe = self._redis.pipeline(transaction=False)
            for nct_id, content_hash in present:
                pipe.hget(self.keys.study(nct_id, content_hash), "raw")
            raws = await pipe.execute()
        records: list[StudyRecord] = []
        for (nct_id, _), raw in zip(present, raws, strict=True):
            if raw is None:
                raise StoreError(f"{nct_id}: generation {generation} references a missing document")
            record = validate_record(orjson.loads(raw), location=f"redis:{nct_id}")
            if isinstance(record, QuarantineEntry):
                raise StoreError(f"{nct_id}: stored study no longer validates: {record.reason}")
            records.append(record)
        return records

    async def parsed_codes(
        self, records: Sequence[StudyRecord], *, parser_version: str
    ) -> list[tuple[str, ...] | None]:
        """For each record, the OncoTree codes of its parsed document for
        ``parser_version``, or None when that version has not been parsed yet."""
        if not records:
            return []
        with _redis_errors("reading parsed criteria"):
            pipe = self._redis.pipeline(transaction=False)
            for record in records:
                pipe.hget(
                    self.keys.parsed(parser_version, record.nct_id, record.content_hash), "oncotree"
                )
            values = await pipe.execute()
        return [tuple(orjson.loads(v)) if v is not None else None for v in values]

    async def put_parsed(self, items: Sequence[ParsedRecord]) -> None:
        """Store parsed criteria, keyed by each trial's parser version, NCT id and hash."""
        if not items:
            return
        with _redis_errors("saving parsed criteria"):
            pipe = self._redis.pipeline(transaction=False)
            for item in items:
                pipe.hset(
                    self.keys.parsed(item.trial.parser_version, item.nct_id, item.content_hash),
                    mapping={
                        "trial": item.trial.model_dump_json(),
                        "oncotree": orjson.dumps(list(item.oncotree_codes)),
                    },
                )
            await pipe.execute()

    async def get_parsed(
        self, nct_id: str, *, content_hash: str, parser_version: str
    ) -> ParsedRecord | None:
        """The parsed criteria of one trial version, or None if not parsed with that
        parser version."""
        with _redis_errors(f"reading parsed criteria of {nct_id}"):
            trial, codes = await _r(
                self._redis.hmget(
                    self.keys.parsed(parser_version, nct_id, content_hash), ["trial", "oncotree"]
                )
            )
        if trial is None:
            return None
        return ParsedRecord(
            content_hash=content_hash,
            trial=ParsedTrial.model_validate_json(trial),
            oncotree_codes=tuple(orjson.loads(codes)) if codes is not None else (),
        )

    # ----------------------------------------------------------------------------------
    # Membership and indexes
    # ----------------------------------------------------------------------------------

    async def stage_members(self, generation: int, entries: Sequence[MemberEntry]) -> None:
        """Put trial versions in an unpublished generation, moving their index entries:
        a tag the trial had there and no longer has is removed from its set, a new one
        added (so a status change to WITHDRAWN leaves ``status:RECRUITING``)."""
        if not entries:
            return
        keys = self.keys
        with _redis_errors(f"staging trials in generation {generation}"):
            old = await _r(
                self._redis.hmget(keys.gen_tags(generation), [e.nct_id for e in entries])
            )
            pipe = self._redis.pipeline(transaction=False)
            for entry, old_json in zip(entries, old, strict=True):
                before = set(orjson.loads(old_json)) if old_json is not None else set()
                after = set(entry.tags)
                for t in before - after:
                    pipe.srem(keys.gen_index(generation, t), entry.nct_id)
                for t in after - before:
                    pipe.sadd(keys.gen_index(generation, t), entry.nct_id)
            pipe.hset(
                keys.gen_members(generation), mapping={e.nct_id: e.content_hash for e in entries}
            )
            pipe.hset(
                keys.gen_tags(generation),
                mapping={e.nct_id: orjson.dumps(list(e.tags)) for e in entries},
            )
            await pipe.execute()

    async def carry_over(self, generation: int, *, base: int, nct_ids: Sequence[str]) -> int:
        """Copy the versions ``base`` holds of ``nct_ids`` into ``generation`` (used for
        trials quarantined this time, so they keep their last good version). Returns how
        many ``base`` had."""
        if not nct_ids:
            return 0
        with _redis_errors(f"carrying trials over from generation {base}"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.hmget(self.keys.gen_members(base), list(nct_ids))
            pipe.hmget(self.keys.gen_tags(base), list(nct_ids))
            hashes, tags = await pipe.execute()
        entries = [
            MemberEntry(nct_id=n, content_hash=_text(h), tags=tuple(orjson.loads(t)) if t else ())
            for n, h, t in zip(nct_ids, hashes, tags, strict=True)
            if h is not None
        ]
        await self.stage_members(generation, entries)
        return len(entries)

    async def members(self, *, generation: int | None = None) -> dict[str, str]:
        """NCT id -> content hash of every trial in ``generation`` (default: published)."""
        generation = (
            generation if generation is not None else await self.require_current_generation()
        )
        with _redis_errors(f"reading generation {generation}"):
            raw = await _r(self._redis.hgetall(self.keys.gen_members(generation)))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def index(
        self, kind: IndexKind, value: str, *, generation: int | None = None
    ) -> frozenset[str]:
        """NCT ids indexed under ``kind``/``value`` in ``generation`` (default: published),
        e.g. ``index(IndexKind.STATUS, "RECRUITING")``."""
        generation = (
            generation if generation is not None else await self.require_current_generation()
        )
        with _redis_errors("reading an index"):
            raw = await _r(self._redis.smembers(self.keys.gen_index(generation, tag(kind, value))))
        return frozenset(_text(v) for v in raw)

    async def load_index_entries(
        self, *, generation: int | None = None
    ) -> list[tuple[TrialSummary, ParsedTrial]]:
        """Every trial of the published generation (or of ``generation``) with its parsed
        criteria, sorted by NCT id: what the in-memory index is built from at start-up.

        Reads with pipelined HGETs (~2 round trips per 1000 trials). If the published
        generation is collected mid-read (two publishes during one load), starts over on
        the new one. Raises NoPublishedSyncError if nothing is published.
        """
        for _ in range(3):
            target = (
                generation if generation is not None else await self.require_current_generation()
            )
            entries, missing = await self._load_entries(target)
            if not missing:
                return entries
            if generation is None and await self.current_generation() != target:
                continue  # republished (and collected) while reading: read the new one
            log.warning(
                "trial_cache: generation %d lacks %d document(s) (e.g. %s); those trials "
                "are left out",
                target,
                len(missing),
                missing[0],
            )
            return entries
        raise StoreError("the published generation kept changing while it was being read")

    async def load_entries_of(
        self, members: Sequence[tuple[str, str]], *, generation: int
    ) -> tuple[list[tuple[TrialSummary, ParsedTrial]], list[str]]:
        """The (summary, parsed) pairs of the given (NCT id, content hash) members of
        ``generation`` (parsed with its parser version), in the order given, and the NCT
        ids whose documents are missing. What an index refresh reads for the trials that
        changed (:func:`service.engine.load_published_index`). Raises StoreError if a
        document no longer validates."""
        return await self._load_entries(generation, members)

    async def _load_entries(
        self, generation: int, only: Sequence[tuple[str, str]] | None = None
    ) -> tuple[list[tuple[TrialSummary, ParsedTrial]], list[str]]:
        info = await self.generation_info(generation)
        if info is None:
            return [], [f"generation {generation}"]
        members = (sorted((await self.members(generation=generation)).items())
                   if only is None else list(only))
        entries: list[tuple[TrialSummary, ParsedTrial]] = []
        missing: list[str] = []
        with _redis_errors(f"loading generation {generation}"):
            for chunk in _chunks(members, _PIPELINE_CHUNK // 2):
                pipe = self._redis.pipeline(transaction=False)
                for nct_id, content_hash in chunk:
                    pipe.hget(self.keys.study(nct_id, content_hash), "summary")
                    pipe.hget(self.keys.parsed(info.parser_version, nct_id, content_hash), "trial")
                values = await pipe.execute()
                for i, (nct_id, _) in enumerate(chunk):
                    summary, parsed = values[2 * i], values[2 * i + 1]
                    if summary is None or parsed is None:
                        missing.append(nct_id)
                        continue
                    try:
                        entries.append(
                            (
                                TrialSummary.model_validate_json(summary),
                                ParsedTrial.model_validate_json(parsed),
                            )
                        )
                    except ValidationError as exc:
                        raise StoreError(f"{nct_id}: stored document does not validate") from exc
        return entries, missing

    # ----------------------------------------------------------------------------------
    # Quarantine, checkpoint, report, lock
    # ----------------------------------------------------------------------------------

    async def quarantine(self, entries: Sequence[QuarantineEntry]) -> None:
        """Record broken records (keyed by NCT id, else by location)."""
        if not entries:
            return
        with _redis_errors("writing the quarantine"):
            await _r(
                self._redis.hset(
                    self.keys.quarantine, mapping={e.key: e.model_dump_json() for e in entries}
                )
            )

    async def release_quarantine(self, nct_ids: Sequence[str]) -> None:
        """Forget quarantine entries of trials that now validated and were stored."""
        if not nct_ids:
            return
        with _redis_errors("updating the quarantine"):
            await _r(self._redis.hdel(self.keys.quarantine, *nct_ids))

    async def quarantined(self) -> list[QuarantineEntry]:
        """Every quarantined record, sorted by key."""
        with _redis_errors("reading the quarantine"):
            raw = await _r(self._redis.hgetall(self.keys.quarantine))
        return sorted(
            (QuarantineEntry.model_validate_json(v) for v in raw.values()), key=lambda e: e.key
        )

    async def get_checkpoint(self) -> SyncCheckpoint | None:
        with _redis_errors("reading the checkpoint"):
            value = await _r(self._redis.get(self.keys.checkpoint))
        return SyncCheckpoint.model_validate_json(value) if value is not None else None

    async def get_resume(self) -> ResumePoint | None:
        """The resume point of an interrupted sync, or None. An unreadable one (written by
        another version) counts as none."""
        with _redis_errors("reading the resume point"):
            value = await _r(self._redis.get(self.keys.sync_resume))
        if value is None:
            return None
        try:
            return ResumePoint.model_validate_json(value)
        except ValidationError:
            log.warning("trial_cache: ignoring an unreadable resume point")
            return None

    async def save_resume(self, point: ResumePoint) -> None:
        with _redis_errors("saving the resume point"):
            await _r(self._redis.set(self.keys.sync_resume, point.model_dump_json()))

    async def clear_resume(self) -> None:
        with _redis_errors("clearing the resume point"):
            await _r(self._redis.delete(self.keys.sync_resume))

    async def save_report(self, report: SyncReport) -> None:
        with _redis_errors("saving the sync report"):
            await _r(self._redis.set(self.keys.sync_stats, report.model_dump_json()))

    async def last_report(self) -> SyncReport | None:
        """The report of the last sync or import that finished (``up_to_date`` included)."""
        with _redis_errors("reading the sync report"):
            value = await _r(self._redis.get(self.keys.sync_stats))
        return SyncReport.model_validate_json(value) if value is not None else None

    def sync_lease(
        self, *, ttl_s: float, command: str, force: bool = False
    ) -> AbstractAsyncContextManager[Lease]:
        """Hold the namespace's sync/import lease (``{ns}:sync:lock``) for an ``async
        with`` body: a ``ttl_s``-second lease renewed by a heartbeat and released on
        exit (:func:`trial_cache.lease.hold_lease`). Raises SyncInProgressError if another
        run holds it (``force`` takes over one whose owner is gone)."""
        return hold_lease(
            self._redis,
            self.keys.sync_lock,
            namespace=self.keys.namespace,
            ttl_s=ttl_s,
            command=command,
            force=force,
        )

    async def lease_holder(self) -> tuple[LeaseOwner | None, float | None]:
        """Who holds the sync lease and its seconds left (None, None when free)."""
        return await read_lease(self._redis, self.keys.sync_lock)
