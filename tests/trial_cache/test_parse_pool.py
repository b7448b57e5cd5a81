"""ParserPool: lazy building, a process pool whose results equal in-process parsing,
and failures per trial (a parser error, a dying worker) that never stop an import."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
import pytest

from matchers.models import TrialSummary
from tests.conftest import CORPUS
from tests.trial_cache.fakes import (
    CountingFactory,
    FakeParser,
    fake_index_codes,
    make_fake_parser,
    unbuildable_parser,
)
from trial_cache.errors import ParserUnavailable
from trial_cache.importer import import_dump
from trial_cache.models import StudyRecord, validate_record
from trial_cache.parse_pool import ParserPool
from trial_cache.settings import TrialCacheSettings
from trial_cache.store import TrialStore


def summaries(corpus_by_id: dict[str, dict[str, Any]], n: int) -> list[TrialSummary]:
    out: list[TrialSummary] = []
    for nct_id in sorted(corpus_by_id)[:n]:
        record = validate_record(corpus_by_id[nct_id], location=nct_id)
        assert isinstance(record, StudyRecord)
        out.append(record.summary)
    return out


def test_nothing_is_built_until_something_is_parsed() -> None:
    factory = CountingFactory()
    with ParserPool(factory, version="fake-1", workers=1) as pool:
        assert pool.version == "fake-1" and not pool.started
        assert pool.parse_each([]) == []
        assert factory.calls == 0 and not pool.started
    with ParserPool(CountingFactory(), version="fake-1", workers=2) as pool:
        assert not pool.started  # no process started either


def test_in_process_pool_builds_once(corpus_by_id: dict[str, dict[str, Any]]) -> None:
    factory = CountingFactory()
    batch = summaries(corpus_by_id, 6)
    with ParserPool(factory, version="fake-1", workers=1) as pool:
        first = pool.parse_each(batch[:3])
        second = pool.parse_many(batch[3:])
    assert factory.calls == 1
    assert [t.nct_id for t in [*first, *second] if not isinstance(t, str)] == [
        s.nct_id for s in batch
    ]
    with pytest.raises(RuntimeError, match="closed"):
        pool.parse_each(batch)


def test_two_workers_give_what_one_process_gives(
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    batch = summaries(corpus_by_id, 70)
    expected = FakeParser().parse_many(batch)
    with ParserPool(functools.partial(make_fake_parser), version="fake-1", workers=2,
                    chunk_size=8) as pool:
        assert pool.concurrent_batches == 2
        assert pool.parse_each(batch) == expected  # in order, equal
        assert pool.parse_each(batch[:1]) == expected[:1]
        assert pool.started


@pytest.mark.parametrize("workers", [1, 2])
def test_a_trial_the_parser_fails_on_is_named_and_the_rest_parse(
    corpus_by_id: dict[str, dict[str, Any]], workers: int
) -> None:
    batch = summaries(corpus_by_id, 20)
    bad = batch[5].nct_id
    factory = functools.partial(make_fake_parser, fail_on=frozenset({bad}))
    with ParserPool(factory, version="fake-1", workers=workers, chunk_size=4) as pool:
        results = pool.parse_each(batch)
        with pytest.raises(ValueError, match=bad):
            pool.parse_many(batch)
    assert results[5] == f"parser failed: ValueError: cannot parse {bad}"
    assert [r.nct_id for i, r in enumerate(results) if i != 5 and not isinstance(r, str)] == [
        s.nct_id for i, s in enumerate(batch) if i != 5
    ]


def test_a_trial_that_kills_its_worker_is_failed_and_the_pool_goes_on(
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    batch = summaries(corpus_by_id, 12)
    killer = batch[7].nct_id
    factory = functools.partial(make_fake_parser, die_on=frozenset({killer}))
    with ParserPool(factory, version="fake-1", workers=2, chunk_size=3) as pool:
        results = pool.parse_each(batch)
        again = pool.parse_each(batch[:4])  # a fresh pool took over
    assert isinstance(results[7], str) and "worker process died" in results[7]
    assert [r.nct_id for r in results if not isinstance(r, str)] == [
        s.nct_id for s in batch if s.nct_id != killer
    ]
    assert [r.nct_id for r in again if not isinstance(r, str)] == [s.nct_id for s in batch[:4]]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_parser_that_cannot_be_built_stops_the_run(
    corpus_by_id: dict[str, dict[str, Any]], workers: int
) -> None:
    with (
        ParserPool(unbuildable_parser, version="fake-1", workers=workers) as pool,
        pytest.raises(ParserUnavailable, match="could not be built: RuntimeError: spaCy model"),
    ):
        pool.parse_each(summaries(corpus_by_id, 3))


def test_a_parser_of_another_version_is_refused(
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    with (
        ParserPool(CountingFactory(version="fake-9"), version="fake-1") as pool,
        pytest.raises(ParserUnavailable, match="fake-9"),
    ):
        pool.parse_each(summaries(corpus_by_id, 1))


async def test_import_on_two_workers_quarantines_the_broken_trial_by_nct_id(
    tmp_path: Path,
    store: TrialStore,
    settings: TrialCacheSettings,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    ids = sorted(corpus_by_id)[:40]
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"".join(orjson.dumps(corpus_by_id[i]) + b"\n" for i in ids))
    bad = ids[17]
    factory = functools.partial(make_fake_parser, fail_on=frozenset({bad}))
    with ParserPool(factory, version="fake-1", workers=2, chunk_size=3) as pool:
        report = await import_dump(dump, store=store, parser=pool,
                                   index_codes=fake_index_codes, settings=settings)
    assert (report.fetched, report.new, report.quarantined, report.parsed) == (40, 39, 1, 40)
    (entry,) = report.quarantine
    assert entry.nct_id == bad
    assert entry.reason == f"parser failed: ValueError: cannot parse {bad}"
    assert set(await store.members()) == set(ids) - {bad}
    # every stored trial is the one its record says (the pipeline kept the order)
    entries = await store.load_index_entries()
    assert all(summary.nct_id == parsed.nct_id for summary, parsed in entries)


async def test_import_with_an_unbuildable_parser_publishes_nothing(
    store: TrialStore, settings: TrialCacheSettings
) -> None:
    with (
        ParserPool(unbuildable_parser, version="fake-1", workers=1) as pool,
        pytest.raises(ParserUnavailable) as caught,
    ):
        await import_dump(CORPUS, store=store, parser=pool, index_codes=fake_index_codes,
                          settings=settings)
    assert "nothing was published" in " ".join(getattr(caught.value, "__notes__", []))
    assert await store.current_generation() is None
