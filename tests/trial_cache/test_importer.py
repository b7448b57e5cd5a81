"""Bulk import of .jsonl.gz / .zip / .json dumps through the ingest pipeline."""

from __future__ import annotations

import gzip
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import CORPUS
from tests.trial_cache.fakes import (
    CountingFactory,
    FakeParser,
    RecordingProgress,
    fake_index_codes,
)
from trial_cache.errors import DumpFormatError
from trial_cache.importer import count_records, import_dump
from trial_cache.ingest import TrialParser
from trial_cache.keys import IndexKind
from trial_cache.parse_pool import ParserPool
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncKind, SyncReport
from trial_cache.store import TrialStore

MESO = ["NCT00604461", "NCT00629343", "NCT00700336", "NCT00703638", "NCT01211275"]


def broken_age(study: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = orjson.loads(orjson.dumps(study))
    copy["protocolSection"].setdefault("eligibilityModule", {})["minimumAge"] = "eighteen"
    return copy


ImportDump = Callable[..., Awaitable[SyncReport]]


@pytest.fixture
def run_import(store: TrialStore, settings: TrialCacheSettings) -> ImportDump:
    """``import_dump(path)`` into the test store with the fake index codes; ``parser`` is
    required, ``settings`` defaults to the test settings, ``progress`` and ``prune`` are
    passed on."""

    async def run(
        path: Path,
        *,
        parser: TrialParser,
        settings: TrialCacheSettings = settings,
        progress: RecordingProgress | None = None,
        prune: bool = False,
    ) -> SyncReport:
        return await import_dump(
            path,
            store=store,
            parser=parser,
            index_codes=fake_index_codes,
            settings=settings,
            progress=progress,
            prune=prune,
        )

    return run


async def test_jsonl_gz_with_broken_records(
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    path = tmp_path / "dump.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        for nct_id in MESO[:3]:
            fh.write(orjson.dumps(corpus_by_id[nct_id]) + b"\n")
        fh.write(b'{"protocolSection": {"identificationModule": \n')  # line 4: cut short
        fh.write(b"\n")  # blank lines are skipped
        fh.write(orjson.dumps(broken_age(corpus_by_id[MESO[3]])) + b"\n")  # line 6

    report = await run_import(path, parser=parser)

    assert report.kind is SyncKind.IMPORT
    assert (report.fetched, report.new, report.quarantined, report.parsed) == (5, 3, 2, 3)
    by_location = {e.location: e for e in report.quarantine}
    assert by_location["dump.jsonl.gz:4"].nct_id is None
    assert by_location["dump.jsonl.gz:4"].reason.startswith("invalid JSON")
    assert by_location["dump.jsonl.gz:6"].nct_id == MESO[3]
    assert "minimumAge" in by_location["dump.jsonl.gz:6"].reason
    assert {e.key for e in await store.quarantined()} == {"dump.jsonl.gz:4", MESO[3]}
    entries = await store.load_index_entries()
    assert [s.nct_id for s, _ in entries] == MESO[:3]
    assert await store.index(IndexKind.ONCOTREE, "MESO") == set(MESO[:3])
    assert await store.get_checkpoint() is None
    assert await store.last_report() == report

    # the same file again: nothing new, nothing re-parsed
    again = await run_import(path, parser=parser)
    assert (again.new, again.updated, again.unchanged, again.parsed) == (0, 0, 3, 0)
    assert parser.parsed == MESO[:3]


async def test_fixed_record_leaves_quarantine_and_broken_update_keeps_old_version(
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    good = [corpus_by_id[n] for n in MESO[:2]]
    first = tmp_path / "first.jsonl"
    first.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in good))
    await run_import(first, parser=parser)

    second = tmp_path / "second.jsonl"
    second.write_bytes(orjson.dumps(good[0]) + b"\n" + orjson.dumps(broken_age(good[1])) + b"\n")
    report = await run_import(second, parser=parser)
    assert (report.unchanged, report.quarantined, report.removed) == (1, 1, 0)
    # the broken update did not remove the trial: its last good version is served
    assert [s.nct_id for s, _ in await store.load_index_entries()] == MESO[:2]
    assert [e.key for e in await store.quarantined()] == [MESO[1]]

    await run_import(first, parser=parser)
    assert await store.quarantined() == []


async def test_zip_of_json_files(
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    path = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{MESO[0]}.json", orjson.dumps(corpus_by_id[MESO[0]]))
        archive.writestr(
            "page.json",
            orjson.dumps({"studies": [corpus_by_id[MESO[1]], corpus_by_id[MESO[2]]]}),
        )
        archive.writestr("nested/list.json", orjson.dumps([corpus_by_id[MESO[3]]]))
        archive.writestr("broken.json", b"{not json")
        archive.writestr(f"{MESO[4]}.json", orjson.dumps(broken_age(corpus_by_id[MESO[4]])))
        archive.writestr("README.txt", b"not a study")

    report = await run_import(path, parser=parser)
    assert (report.fetched, report.new, report.quarantined) == (6, 4, 2)
    assert {e.location for e in report.quarantine} == {
        "ctg-studies.json.zip!broken.json",
        f"ctg-studies.json.zip!{MESO[4]}.json",
    }
    assert [s.nct_id for s, _ in await store.load_index_entries()] == MESO[:4]


async def test_single_json_document(
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    path = tmp_path / f"{MESO[0]}.json"
    path.write_bytes(orjson.dumps(corpus_by_id[MESO[0]]))
    report = await run_import(path, parser=parser)
    assert (report.fetched, report.new) == (1, 1)


async def test_unreadable_dumps_publish_nothing(
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_bytes(orjson.dumps(corpus_by_id[MESO[0]]) + b"\n")
    published = await run_import(good, parser=parser)

    (tmp_path / "dump.csv").write_text("nct_id,title\n")
    with pytest.raises(DumpFormatError, match="unknown dump format"):
        await run_import(tmp_path / "dump.csv", parser=parser)
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(DumpFormatError, match="cannot be read"):
        await run_import(tmp_path / "fake.zip", parser=parser)
    truncated = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(b"".join(orjson.dumps(corpus_by_id[n]) + b"\n" for n in MESO))
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DumpFormatError) as caught:
        await run_import(truncated, parser=parser)
    assert any("nothing was published" in note for note in caught.value.__notes__)
    assert await store.current_generation() == published.generation
    assert [s.nct_id for s, _ in await store.load_index_entries()] == [MESO[0]]


async def test_parser_failures_are_quarantined(
    tmp_path: Path,
    store: TrialStore,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b"".join(orjson.dumps(corpus_by_id[n]) + b"\n" for n in MESO[:3]))
    parser = FakeParser(fail_on=frozenset({MESO[1]}))
    report = await run_import(path, parser=parser)
    assert (report.new, report.quarantined) == (2, 1)
    (entry,) = report.quarantine
    assert entry.nct_id == MESO[1] and "parser failed: ValueError" in entry.reason
    assert [s.nct_id for s, _ in await store.load_index_entries()] == [MESO[0], MESO[2]]


async def test_full_corpus_import(
    store: TrialStore, parser: FakeParser, settings: TrialCacheSettings, run_import: ImportDump
) -> None:
    fast = settings.model_copy(update={"parse_batch_size": 256})
    started = time.perf_counter()
    report = await run_import(CORPUS, parser=parser, settings=fast)
    imported_s = time.perf_counter() - started
    assert (report.fetched, report.new, report.quarantined) == (7527, 7527, 0)
    assert max(parser.batches) == 256

    started = time.perf_counter()
    entries = await store.load_index_entries()
    loaded_s = time.perf_counter() - started
    assert len(entries) == 7527

    started = time.perf_counter()
    again = await run_import(CORPUS, parser=parser, settings=fast)
    reimported_s = time.perf_counter() - started
    assert (again.unchanged, again.parsed) == (7527, 0)
    print(
        f"\nfull corpus: import {imported_s:.1f} s, load_index_entries {loaded_s:.2f} s, "
        f"re-import {reimported_s:.1f} s"
    )
    assert imported_s < 60


async def test_a_dump_of_hostile_lines_quarantines_each_and_imports_the_rest(
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    """Every broken line is quarantined with file, line and reason; every good record
    is imported; nothing stops the run."""
    good = [orjson.dumps(corpus_by_id[n]) for n in MESO]
    no_protocol = orjson.dumps({"derivedSection": {}})
    titled: dict[str, Any] = orjson.loads(good[0])
    titled["protocolSection"]["identificationModule"]["briefTitle"] = "A @@ trial"
    marked = orjson.dumps(titled)
    surrogate_escape = marked.replace(b"@@", b"\\ud800")  # escaped lone surrogate
    surrogate_bytes = marked.replace(b"@@", b"\xed\xa0\x80")  # its UTF-8 bytes
    assert surrogate_escape != marked != surrogate_bytes
    huge: dict[str, Any] = orjson.loads(good[2])
    huge["protocolSection"]["identificationModule"]["nctId"] = "NCT99999911"
    huge["protocolSection"].setdefault("eligibilityModule", {})["eligibilityCriteria"] = (
        "Inclusion Criteria:\n* " + "x" * 1_000_000
    )
    bad_id: dict[str, Any] = orjson.loads(good[3])
    bad_id["protocolSection"]["identificationModule"]["nctId"] = "NCT123"
    lines = [
        good[0],                         # 1
        b'{"protocolSection": {"ident',  # 2 invalid JSON (cut)
        no_protocol,                     # 3 missing protocolSection
        surrogate_escape,                # 4 lone surrogate (escaped)
        surrogate_bytes,                 # 5 lone surrogate (raw bytes)
        orjson.dumps(huge),              # 6 1 MB eligibility text
        orjson.dumps(bad_id),            # 7 bad NCT ID
        good[1],                         # 8
        good[0],                         # 9 duplicate of line 1
        good[2],                         # 10
        good[3],                         # 11
        good[4],                         # 12
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = await run_import(path, parser=parser)

    assert report.fetched == 12
    assert report.new == len(MESO) and report.quarantined == 7
    assert sorted(await store.members()) == sorted(MESO)
    by_line = {e.location: e for e in report.quarantine}
    assert sorted(by_line, key=lambda loc: int(loc.rsplit(":", 1)[1])) == [
        f"hostile.jsonl:{n}" for n in (2, 3, 4, 5, 6, 7, 9)
    ]
    reasons = {int(loc.rsplit(":", 1)[1]): e.reason for loc, e in by_line.items()}
    assert reasons[2].startswith("invalid JSON")
    assert "protocolSection" in reasons[3]
    assert reasons[4].startswith("invalid JSON") and "surrogate" in reasons[4]
    assert reasons[5].startswith("invalid JSON") and "surrogate" in reasons[5]
    assert "eligibilityCriteria" in reasons[6] and "100000" in reasons[6]
    assert "nctId" in reasons[7]
    assert reasons[9] == f"duplicate NCT ID {MESO[0]}: first at hostile.jsonl:1 (kept)"
    assert by_line["hostile.jsonl:6"].nct_id == "NCT99999911"
    # the quarantine in Redis has every entry, keyed so none overwrote another
    stored = {e.location for e in await store.quarantined()}
    assert set(by_line) <= stored
    # the kept first copy of the duplicate is the one served
    assert (await store.get_study(MESO[0])) is not None


async def test_reimport_changes_nothing_publishes_nothing_and_builds_no_parser(
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    run_import: ImportDump,
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    dump = tmp_path / "meso.jsonl.gz"
    with gzip.open(dump, "wb") as fh:
        fh.write(b"\n".join(orjson.dumps(corpus_by_id[i]) for i in MESO) + b"\n\n")
    progress = RecordingProgress()
    first = await run_import(dump, parser=parser, progress=progress)
    assert first.published and (progress.total, progress.done) == (5, 5)
    checkpoint = await store.get_checkpoint()

    never = CountingFactory(explode=True)
    progress = RecordingProgress()
    with ParserPool(never, version=parser.version) as lazy:
        again = await run_import(dump, parser=lazy, progress=progress)
    assert not again.published and never.calls == 0
    assert (again.fetched, again.unchanged, again.parsed) == (5, 5, 0)
    assert again.generation == first.generation == await store.current_generation()
    assert await store.get_checkpoint() == checkpoint
    assert (progress.total, progress.done) == (5, 5)

    # one study changed: published, parsed once
    changed = orjson.loads(orjson.dumps(corpus_by_id[MESO[0]]))
    changed["protocolSection"]["statusModule"]["overallStatus"] = "WITHDRAWN"
    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(b"".join(
        orjson.dumps(changed if i == MESO[0] else corpus_by_id[i]) + b"\n" for i in MESO
    ))
    counting = CountingFactory(version=parser.version)
    with ParserPool(counting, version=parser.version) as lazy:
        third = await run_import(edited, parser=lazy)
    assert third.published and third.generation != first.generation and third.updated == 1
    assert counting.calls == 1

    # a file lacking a trial, pruned: that removal is a change
    short = tmp_path / "short.jsonl"
    short.write_bytes(b"".join(orjson.dumps(corpus_by_id[i]) + b"\n" for i in MESO[1:]))
    pruned = await run_import(short, parser=parser, prune=True)
    assert pruned.published and pruned.removed == 1


def test_count_records(tmp_path: Path) -> None:
    lines = tmp_path / "a.jsonl"
    lines.write_bytes(b'{"a": 1}\n\n  \n{"b": 2}\n{"c"')
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("NCT1.json", "{}")
        z.writestr("dir/NCT2.JSON", "{}")
        z.writestr("README.txt", "")
        z.writestr("__MACOSX/NCT1.json", "")
    document = tmp_path / "a.json"
    document.write_text("[]")
    broken = tmp_path / "b.jsonl.gz"
    broken.write_bytes(b"not gzip")
    assert count_records(lines) == 3
    assert count_records(archive) == 2
    assert count_records(document) is None
    assert count_records(broken) is None
