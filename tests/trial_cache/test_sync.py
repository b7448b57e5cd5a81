"""sync_trials over HTTP against the CT.gov replay server (shared/tools/ctgov_replay.py)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from tests.conftest import CORPUS
from tests.trial_cache.conftest import Replay
from tests.trial_cache.fakes import (
    CountingFactory,
    FakeParser,
    RecordingProgress,
    fake_index_codes,
    make_fake_parser,
)
from trial_cache.client import CTGovClient
from trial_cache.errors import SyncInProgressError, UpstreamUnavailable
from trial_cache.importer import import_dump
from trial_cache.ingest import TrialParser
from trial_cache.keys import IndexKind
from trial_cache.parse_pool import ParserPool
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncKind, SyncReport
from trial_cache.store import TrialStore
from trial_cache.sync import sync_trials

MESOTHELIOMA = {"query.cond": "mesothelioma"}
UPDATED = "NCT03983954"  # RECRUITING in the corpus; the layer withdraws it
ADDED = "NCT99999901"
LATER = "2026-11-22T09:00:00"  # the layered server's dataTimestamp (default 2026-11-20T09:00:00)


async def sync(
    server: Replay,
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: TrialParser,
    *,
    full: bool = False,
    progress: RecordingProgress | None = None,
) -> SyncReport:
    pointed = settings.model_copy(update={"ctgov_base_url": server.base_url})
    async with CTGovClient(settings=pointed) as client:
        return await sync_trials(
            client=client,
            store=store,
            parser=parser,
            index_codes=fake_index_codes,
            settings=pointed,
            progress=progress,
            full=full,
        )


async def assert_stored_once(redis: Redis, store: TrialStore, expected: int) -> None:
    """Every member has exactly one study document, and there are ``expected`` members."""
    prefix = len(store.keys.namespace) + len(":study:")
    ids = [
        k.decode()[prefix:].split(":", 1)[0]
        async for k in redis.scan_iter(match=store.keys.study_pattern, count=1000)
    ]
    assert len(ids) == len(set(ids)) == expected
    assert set(ids) == set(await store.members())


def layer_file(tmp_path: Path, corpus_by_id: dict[str, dict[str, Any]]) -> Path:
    """A second --data file: UPDATED withdrawn and re-posted, ADDED brand new."""
    withdrawn = orjson.loads(orjson.dumps(corpus_by_id[UPDATED]))
    status = withdrawn["protocolSection"]["statusModule"]
    status["overallStatus"] = "WITHDRAWN"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-21", "type": "ACTUAL"}
    added = {
        "protocolSection": {
            "identificationModule": {"nctId": ADDED, "briefTitle": "A new mesothelioma trial"},
            "statusModule": {
                "overallStatus": "NOT_YET_RECRUITING",
                "lastUpdatePostDateStruct": {"date": "2026-11-21", "type": "ACTUAL"},
            },
            "conditionsModule": {"conditions": ["Pleural Mesothelioma"]},
            "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"]},
            "eligibilityModule": {"eligibilityCriteria": "Inclusion Criteria:\n\n* ECOG 0-1"},
        }
    }
    path = tmp_path / "layer.jsonl"
    path.write_bytes(orjson.dumps(withdrawn) + b"\n" + orjson.dumps(added) + b"\n")
    return path


@pytest.fixture
def layered_replay(
    tmp_path: Path,
    replay_factory: Callable[..., Replay],
    corpus_by_id: dict[str, dict[str, Any]],
) -> Callable[..., Replay]:
    """``layered_replay(*faults)`` starts a replay server of the corpus plus
    :func:`layer_file` with dataTimestamp ``LATER``; ``faults`` are extra server arguments."""
    layer = layer_file(tmp_path, corpus_by_id)

    def start(*faults: str) -> Replay:
        return replay_factory(data=(CORPUS, layer), extra=(*faults, "--data-timestamp", LATER))

    return start


async def test_full_sync_then_nothing_to_do(
    replay: Replay, settings: TrialCacheSettings, store: TrialStore, parser: FakeParser
) -> None:
    expected = replay.count(MESOTHELIOMA)
    progress = RecordingProgress()
    report = await sync(replay, settings, store, parser, progress=progress)

    assert report.kind is SyncKind.FULL
    assert (report.fetched, report.new, report.updated, report.unchanged) == (
        expected,
        expected,
        0,
        0,
    )
    assert (report.quarantined, report.parsed, report.removed) == (0, expected, 0)
    assert report.data_timestamp == datetime(2026, 11, 20, 9, 0)
    assert (progress.total, progress.done) == (expected, expected)
    assert await store.current_generation() == report.generation
    entries = await store.load_index_entries()
    assert len(entries) == expected
    statuses = {s.nct_id: s.overall_status for s, _ in entries}
    assert await store.index(IndexKind.STATUS, "RECRUITING") == {
        n for n, s in statuses.items() if s == "RECRUITING"
    }
    checkpoint = await store.get_checkpoint()
    assert checkpoint is not None
    assert (checkpoint.scope, checkpoint.generation) == ("mesothelioma", report.generation)

    # same dataTimestamp: up to date, nothing fetched, parsed or published
    again = await sync(replay, settings, store, parser)
    assert again.kind is SyncKind.UP_TO_DATE and again.generation == report.generation
    assert (again.fetched, again.parsed) == (0, 0)
    assert await store.current_generation() == report.generation

    # forced full re-sync of unchanged data: everything fetched, nothing re-parsed, and
    # nothing published (the same generation is still served)
    forced = await sync(replay, settings, store, parser, full=True)
    assert forced.kind is SyncKind.FULL and not forced.published
    assert forced.generation == report.generation == await store.current_generation()
    assert (forced.fetched, forced.unchanged, forced.new, forced.parsed) == (
        expected,
        expected,
        0,
        0,
    )
    assert len(parser.parsed) == expected


async def test_parser_change_reparses_everything(
    replay: Replay, settings: TrialCacheSettings, store: TrialStore, parser: FakeParser
) -> None:
    first = await sync(replay, settings, store, parser)
    newer = FakeParser(version="fake-2")
    second = await sync(replay, settings, store, newer)
    assert second.kind is SyncKind.FULL  # checkpoint was for another parser version
    assert (second.unchanged, second.parsed) == (first.fetched, first.fetched)
    info = await store.generation_info(second.generation or 0)
    assert info is not None and info.parser_version == "fake-2"
    assert len(await store.load_index_entries()) == first.fetched


async def test_incremental_sync_applies_updates(
    replay_factory: Callable[..., Replay],
    layered_replay: Callable[..., Replay],
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
) -> None:
    before = replay_factory()
    first = await sync(before, settings, store, parser)
    assert UPDATED in await store.index(IndexKind.STATUS, "RECRUITING")

    after = layered_replay()
    report = await sync(after, settings, store, parser)

    assert report.kind is SyncKind.INCREMENTAL
    # only studies updated since 2026-11-19 (checkpoint date - 1 day) were fetched
    assert (report.fetched, report.updated, report.new, report.unchanged) == (2, 1, 1, 0)
    assert report.parsed == 2
    assert report.data_timestamp == datetime.fromisoformat(LATER)
    assert UPDATED in await store.index(IndexKind.STATUS, "WITHDRAWN")
    assert UPDATED not in await store.index(IndexKind.STATUS, "RECRUITING")
    assert ADDED in await store.index(IndexKind.STATUS, "NOT_YET_RECRUITING")
    assert ADDED in await store.index(IndexKind.ONCOTREE, "PLMESO")
    members = await store.members()
    assert len(members) == first.fetched + 1
    summaries = {s.nct_id: s for s, _ in await store.load_index_entries()}
    assert summaries[UPDATED].overall_status == "WITHDRAWN"
    checkpoint = await store.get_checkpoint()
    assert checkpoint is not None and checkpoint.data_timestamp == datetime.fromisoformat(LATER)
    assert parser.parsed.count(UPDATED) == 2


@pytest.mark.parametrize(
    ("faults", "counter", "hits"),
    [
        (("--fail-requests", "2,3"), "failed", 2),
        (("--fail-requests", "2", "--fail-status", "500"), "failed", 1),
        (("--truncate-requests", "2,4"), "truncated", 2),
        (("--hang-requests", "2", "--hang-s", "5"), "requests", 5),
    ],
    ids=["503-twice", "500", "truncated-bodies", "hang"],
)
async def test_transient_faults_are_retried(
    replay_factory: Callable[..., Replay],
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
    redis: Redis,
    faults: tuple[str, ...],
    counter: str,
    hits: int,
) -> None:
    server = replay_factory(extra=faults)
    expected = server.count(MESOTHELIOMA)  # request 1 of the server
    impatient = settings.model_copy(update={"ctgov_read_timeout_s": 0.5})
    report = await sync(server, impatient, store, parser)
    assert (report.fetched, report.new, report.quarantined) == (expected, expected, 0)
    await assert_stored_once(redis, store, expected)
    stats = server.stats()
    assert stats[counter] >= hits, stats
    pages = -(-expected // settings.ctgov_page_size)
    assert stats["requests"] > pages + 1, stats  # some requests were retries


@pytest.mark.slow
async def test_rate_limited_sync_honours_retry_after(
    replay_factory: Callable[..., Replay],
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
    redis: Redis,
) -> None:
    """The replay allows 2 requests per rolling 60 s and answers 429 with Retry-After: 2;
    the sync must wait out the window and finish (this takes about a minute): the
    old fixed count of 6 attempts gave up after 17.6 s, the time budget does not."""
    server = replay_factory(extra=("--rate-limit", "2"))
    patient = settings.model_copy(
        update={"ctgov_retry_attempts": None, "ctgov_retry_budget_s": 180.0}
    )
    started = time.monotonic()
    report = await sync(server, patient, store, parser)
    elapsed = time.monotonic() - started
    stats = server.stats()
    assert report.fetched == 8 and report.quarantined == 0
    await assert_stored_once(redis, store, 8)
    assert stats["429"] >= 1
    # each 429 was followed by a wait of at least its Retry-After (2 s)
    assert elapsed >= 2.0 * stats["429"], (elapsed, stats)


async def test_upstream_down_mid_sync_publishes_nothing(
    replay: Replay,
    layered_replay: Callable[..., Replay],
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
) -> None:
    first = await sync(replay, settings, store, parser)
    checkpoint = await store.get_checkpoint()
    served = await store.load_index_entries()

    down = layered_replay("--fail-rate", "1.0")
    with pytest.raises(UpstreamUnavailable) as caught:
        await sync(down, settings, store, parser)
    message = str(caught.value)
    assert "HTTP 503" in message
    assert f"generation {first.generation} is still served" in message
    assert "checkpoint is unchanged" in message
    assert caught.value.attempts == settings.ctgov_retry_attempts
    assert down.stats()["failed"] == settings.ctgov_retry_attempts

    assert await store.current_generation() == first.generation
    assert await store.get_checkpoint() == checkpoint
    assert await store.load_index_entries() == served
    assert await store.generation_info((first.generation or 0) + 1) is None  # aborted one gone

    # once the API is back, the sync goes through (the lock was released)
    back = layered_replay()
    report = await sync(back, settings, store, parser)
    assert report.kind is SyncKind.INCREMENTAL and report.updated == 1


async def test_concurrent_sync_is_refused(
    replay: Replay, settings: TrialCacheSettings, store: TrialStore, parser: FakeParser
) -> None:
    async with store.sync_lease(ttl_s=30, command="sync"):
        with pytest.raises(SyncInProgressError):
            await sync(replay, settings, store, parser)


async def test_full_corpus_sync_matches_the_import(
    replay: Replay,
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
    redis: Redis,
) -> None:
    """A study imported from the dump and fetched with ``fields=`` hashes the same, so a
    sync after an import re-parses nothing; also measures full-corpus syncs."""
    everything = settings.model_copy(
        update={"sync_scope": "", "ctgov_page_size": 1000, "parse_batch_size": 256}
    )
    imported = await import_dump(
        CORPUS, store=store, parser=parser, index_codes=fake_index_codes, settings=everything
    )
    started = time.perf_counter()
    report = await sync(replay, everything, store, parser)
    warm_s = time.perf_counter() - started
    assert report.kind is SyncKind.FULL  # the import cleared the checkpoint
    assert (report.fetched, report.unchanged, report.parsed) == (7527, 7527, 0)
    assert len(parser.parsed) == imported.fetched

    cold_store = TrialStore(redis, f"{store.keys.namespace}-cold")
    started = time.perf_counter()
    try:
        cold = await sync(replay, everything, cold_store, FakeParser())
        cold_s = time.perf_counter() - started
        assert (cold.fetched, cold.new, cold.parsed) == (7527, 7527, 7527)
    finally:
        keys = [k async for k in redis.scan_iter(match=cold_store.keys.all_pattern, count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
    print(
        f"\nfull-corpus sync over HTTP (page size 1000, fake parser): empty store {cold_s:.1f} s, "
        f"after an import (all unchanged) {warm_s:.1f} s"
    )


async def test_a_sync_that_changes_nothing_publishes_nothing_and_builds_no_parser(
    replay_factory: Callable[..., Replay],
    layered_replay: Callable[..., Replay],
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
) -> None:
    before = replay_factory()
    first = await sync(before, settings, store, parser)
    served = await store.load_index_entries()
    assert first.published and first.generation is not None

    # same dataTimestamp: up to date; the parser is never built
    never = CountingFactory(explode=True)
    with ParserPool(never, version=parser.version) as lazy:
        again = await sync(before, settings, store, lazy)
    assert again.kind is SyncKind.UP_TO_DATE and not lazy.started and never.calls == 0

    # the API moved on but nothing in scope changed: an incremental sync that fetches
    # only unchanged studies (the overlap day) publishes nothing, parses nothing, and
    # moves the checkpoint
    later = layered_replay()
    unchanged_only = replay_factory(extra=("--data-timestamp", LATER))
    with ParserPool(never, version=parser.version) as lazy:
        quiet = await sync(unchanged_only, settings, store, lazy)
    assert quiet.kind is SyncKind.INCREMENTAL
    assert not quiet.published and (quiet.new, quiet.updated, quiet.parsed) == (0, 0, 0)
    assert quiet.generation == first.generation == await store.current_generation()
    assert not lazy.started and never.calls == 0
    assert await store.generation_info(first.generation + 1) is None  # discarded
    assert await store.load_index_entries() == served
    checkpoint = await store.get_checkpoint()
    assert checkpoint is not None and checkpoint.generation == first.generation
    assert checkpoint.data_timestamp == datetime.fromisoformat(LATER)
    assert await store.get_resume() is None
    last = await store.last_report()
    assert last is not None and not last.published

    # a sync that does change something builds the parser once and publishes
    counting = CountingFactory(version=parser.version)
    with ParserPool(counting, version=parser.version) as lazy:
        changed = await sync(later, settings, store, lazy, full=True)
    assert changed.published and changed.generation != first.generation
    assert (changed.updated, changed.new) == (1, 1) and counting.calls == 1
    assert counting.parser is not None and sorted(counting.parser.parsed) == [UPDATED, ADDED]


async def test_a_sync_on_two_parse_workers_stores_what_one_process_stores(
    replay: Replay,
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
    redis: Redis,
) -> None:
    """Pages of 3 and batches of 4 with two batches in flight: every page mark, resume
    point and stored trial as with the in-process parser."""
    in_process = await sync(replay, settings, store, parser)
    expected = await store.load_index_entries()
    other = TrialStore(redis, f"{store.keys.namespace}-pool")
    try:
        factory = functools.partial(make_fake_parser, version=parser.version)
        progress = RecordingProgress()
        with ParserPool(factory, version=parser.version, workers=2, chunk_size=2) as pool:
            on_pool = await sync(replay, settings, other, pool, progress=progress)
            assert pool.started
        assert (on_pool.fetched, on_pool.new, on_pool.parsed) == (
            in_process.fetched, in_process.new, in_process.parsed
        )
        assert (progress.total, progress.done) == (in_process.fetched, in_process.fetched)
        assert await other.load_index_entries() == expected
        assert await other.get_resume() is None
    finally:
        keys = [k async for k in redis.scan_iter(match=other.keys.all_pattern, count=1000)]
        if keys:
            await redis.delete(*keys)
