"""A sync after an import never removes imported trials silently: it keeps them unless
``prune``, which removes them with counts and reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.trial_cache.conftest import Replay
from tests.trial_cache.fakes import FakeParser, fake_index_codes
from trial_cache.client import CTGovClient
from trial_cache.importer import import_dump
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncKind, SyncReport
from trial_cache.store import TrialStore
from trial_cache.sync import OUTSIDE_SCOPE, UPSTREAM_GONE, sync_trials

IN_SCOPE = ["NCT00604461", "NCT00629343", "NCT00700336"]  # mesothelioma
OUT_OF_SCOPE = ["NCT04862663", "NCT06380751"]  # breast cancer
NOT_UPSTREAM = "NCT99999977"


def dump(tmp_path: Path, corpus_by_id: dict[str, dict[str, Any]]) -> Path:
    ghost = orjson.loads(orjson.dumps(corpus_by_id[IN_SCOPE[0]]))
    ghost["protocolSection"]["identificationModule"]["nctId"] = NOT_UPSTREAM
    path = tmp_path / "mixed.jsonl"
    lines = [orjson.dumps(corpus_by_id[n]) for n in IN_SCOPE + OUT_OF_SCOPE] + [orjson.dumps(ghost)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


async def sync(replay: Replay, settings: TrialCacheSettings, store: TrialStore,
               parser: FakeParser, *, prune: bool = False, full: bool = False) -> SyncReport:
    pointed = settings.model_copy(update={"ctgov_base_url": replay.base_url})
    async with CTGovClient(settings=pointed) as client:
        return await sync_trials(client=client, store=store, parser=parser,
                                 index_codes=fake_index_codes, settings=pointed,
                                 prune=prune, full=full)


async def test_sync_after_import_keeps_then_prunes_with_reasons(
    tmp_path: Path,
    replay: Replay,
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    imported = await import_dump(dump(tmp_path, corpus_by_id), store=store, parser=parser,
                                 index_codes=fake_index_codes, settings=settings)
    assert imported.new == 6
    in_scope = replay.count({"query.cond": "mesothelioma"})

    kept = await sync(replay, settings, store, parser)
    assert kept.kind is SyncKind.FULL and not kept.pruned
    assert (kept.removed, kept.kept) == (0, len(OUT_OF_SCOPE) + 1)
    members = await store.members()
    assert set(OUT_OF_SCOPE) | {NOT_UPSTREAM} <= members.keys()
    assert len(members) == in_scope + len(OUT_OF_SCOPE) + 1
    assert len(await store.load_index_entries()) == len(members)  # all still served

    pruned = await sync(replay, settings, store, parser, prune=True, full=True)
    assert pruned.pruned and pruned.kept == 0
    assert pruned.removed == len(OUT_OF_SCOPE) + 1
    reasons = {r.reason: (r.count, set(r.examples)) for r in pruned.removals}
    assert reasons == {
        OUTSIDE_SCOPE: (len(OUT_OF_SCOPE), set(OUT_OF_SCOPE)),
        UPSTREAM_GONE: (1, {NOT_UPSTREAM}),
    }
    assert len(await store.members()) == in_scope


async def test_reimport_keeps_trials_the_new_file_lacks_unless_prune(
    tmp_path: Path,
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    await import_dump(dump(tmp_path, corpus_by_id), store=store, parser=parser,
                      index_codes=fake_index_codes, settings=settings)
    small = tmp_path / "small.jsonl"
    small.write_bytes(orjson.dumps(corpus_by_id[IN_SCOPE[0]]) + b"\n")

    kept = await import_dump(small, store=store, parser=parser,
                             index_codes=fake_index_codes, settings=settings)
    assert (kept.unchanged, kept.kept, kept.removed) == (1, 5, 0)
    assert len(await store.members()) == 6

    newer = FakeParser(version="fake-2")  # a parser change re-parses the kept trials too
    pruned = await import_dump(small, store=store, parser=newer,
                               index_codes=fake_index_codes, settings=settings, prune=True)
    assert (pruned.removed, pruned.kept) == (5, 0)
    assert [(r.reason, r.count) for r in pruned.removals] == [("not in small.jsonl", 5)]
    assert list(await store.members()) == [IN_SCOPE[0]]
    assert len(await store.load_index_entries()) == 1


async def test_kept_trials_are_reparsed_when_the_parser_changes(
    tmp_path: Path,
    settings: TrialCacheSettings,
    store: TrialStore,
    parser: FakeParser,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    await import_dump(dump(tmp_path, corpus_by_id), store=store, parser=parser,
                      index_codes=fake_index_codes, settings=settings)
    small = tmp_path / "small.jsonl"
    small.write_bytes(orjson.dumps(corpus_by_id[IN_SCOPE[0]]) + b"\n")
    newer = FakeParser(version="fake-2")
    report = await import_dump(small, store=store, parser=newer,
                               index_codes=fake_index_codes, settings=settings)
    assert (report.kept, report.parsed) == (5, 6)
    entries = await store.load_index_entries()
    assert len(entries) == 6 and {p.parser_version for _, p in entries} == {"fake-2"}
