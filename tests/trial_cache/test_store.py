"""TrialStore against a real Redis (127.0.0.1:6379), one namespace per test."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.trial_cache.fakes import FakeParser
from tests.trial_cache.test_models import EXPANDED_ACCESS_STUDY
from trial_cache.errors import NoPublishedSyncError, StoreError, SyncInProgressError
from trial_cache.keys import IndexKind
from trial_cache.models import QuarantineEntry, StudyRecord, validate_record
from trial_cache.state import ChangeKind, ParsedRecord, SyncCheckpoint, SyncKind
from trial_cache.store import MemberEntry, TrialStore, index_tags


def record(
    nct_id: str, *, status: str = "AVAILABLE", criteria: str = "* Age \\>= 18"
) -> StudyRecord:
    raw: dict[str, Any] = copy.deepcopy(EXPANDED_ACCESS_STUDY)
    raw["protocolSection"]["identificationModule"]["nctId"] = nct_id
    raw["protocolSection"]["statusModule"]["overallStatus"] = status
    raw["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = criteria
    result = validate_record(raw, location="test")
    assert isinstance(result, StudyRecord)
    return result


async def put(
    store: TrialStore,
    generation: int,
    records: list[StudyRecord],
    *,
    base: int | None,
    parser: FakeParser,
    codes: tuple[str, ...] = ("MESO",),
) -> list[ChangeKind]:
    """What the ingest pipeline does, by hand."""
    changes = await store.save_studies(records, base=base)
    parsed = parser.parse_many([r.summary for r in records])
    await store.put_parsed(
        [
            ParsedRecord(content_hash=r.content_hash, trial=p, oncotree_codes=codes)
            for r, p in zip(records, parsed, strict=True)
        ]
    )
    await store.stage_members(
        generation,
        [
            MemberEntry(
                nct_id=r.nct_id, content_hash=r.content_hash, tags=index_tags(r.summary, codes)
            )
            for r in records
        ],
    )
    return changes


async def publish_new(
    store: TrialStore, records: list[StudyRecord], parser: FakeParser, *, copy_base: bool = False
) -> int:
    current = await store.current_generation()
    info = await store.begin_generation(
        kind=SyncKind.INCREMENTAL if copy_base else SyncKind.FULL,
        parser_version=parser.version,
        base=current,
        copy_base=copy_base,
    )
    await put(store, info.generation, records, base=current, parser=parser)
    await store.publish_generation(info.generation, expected_current=current, checkpoint=None)
    return info.generation


async def test_nothing_published_yet(store: TrialStore) -> None:
    assert await store.current_generation() is None
    with pytest.raises(NoPublishedSyncError, match="run a sync or an import"):
        await store.load_index_entries()
    with pytest.raises(NoPublishedSyncError):
        await store.index(IndexKind.STATUS, "AVAILABLE")
    assert await store.get_checkpoint() is None
    assert await store.collect_garbage() == (0, 0)


async def test_save_studies_compares_content_hash_with_base(
    store: TrialStore, parser: FakeParser
) -> None:
    g1 = await publish_new(store, [record("NCT00000001"), record("NCT00000002")], parser)
    info = await store.begin_generation(
        kind=SyncKind.FULL, parser_version=parser.version, base=g1, copy_base=False
    )
    changes = await store.save_studies(
        [
            record("NCT00000001"),
            record("NCT00000002", status="WITHDRAWN"),
            record("NCT00000003"),
        ],
        base=g1,
    )
    assert changes == [ChangeKind.UNCHANGED, ChangeKind.UPDATED, ChangeKind.NEW]
    assert info.generation == g1 + 1
    stored = await store.get_study("NCT00000001")
    assert stored is not None and stored.content_hash == record("NCT00000001").content_hash
    assert await store.get_study("NCT00000003") is None  # not in the published generation


async def test_parsed_records_are_keyed_by_parser_version_and_hash(
    store: TrialStore, parser: FakeParser
) -> None:
    r = record("NCT00000001")
    assert await store.parsed_codes([r], parser_version="fake-1") == [None]
    (trial,) = parser.parse_many([r.summary])
    await store.put_parsed(
        [ParsedRecord(content_hash=r.content_hash, trial=trial, oncotree_codes=("PLMESO", "MESO"))]
    )
    assert await store.parsed_codes([r], parser_version="fake-1") == [("PLMESO", "MESO")]
    assert await store.parsed_codes([r], parser_version="fake-2") == [None]
    changed = record("NCT00000001", criteria="* Age \\>= 21")
    assert await store.parsed_codes([changed], parser_version="fake-1") == [None]
    got = await store.get_parsed(
        "NCT00000001", content_hash=r.content_hash, parser_version="fake-1"
    )
    assert got is not None and got.trial == trial and got.oncotree_codes == ("PLMESO", "MESO")


async def test_publish_is_atomic_for_readers(store: TrialStore, parser: FakeParser) -> None:
    g1 = await publish_new(store, [record("NCT00000001"), record("NCT00000002")], parser)
    before = await store.load_index_entries()
    assert [s.nct_id for s, _ in before] == ["NCT00000001", "NCT00000002"]

    g2 = (
        await store.begin_generation(
            kind=SyncKind.INCREMENTAL, parser_version=parser.version, base=g1, copy_base=True
        )
    ).generation
    await put(
        store,
        g2,
        [record("NCT00000002", status="WITHDRAWN"), record("NCT00000003")],
        base=g1,
        parser=parser,
    )
    # staged but not published: readers still see generation 1, exactly
    assert await store.current_generation() == g1
    assert await store.load_index_entries() == before
    assert await store.index(IndexKind.STATUS, "WITHDRAWN") == frozenset()
    # the unpublished generation already has the moved index entries
    assert await store.index(IndexKind.STATUS, "WITHDRAWN", generation=g2) == {"NCT00000002"}
    assert await store.index(IndexKind.STATUS, "AVAILABLE", generation=g2) == {
        "NCT00000001",
        "NCT00000003",
    }

    checkpoint = SyncCheckpoint(
        data_timestamp=datetime(2026, 11, 20, 9, 0),
        scope="mesothelioma",
        parser_version=parser.version,
        generation=g2,
        completed_at=datetime.now(UTC),
    )
    published = await store.publish_generation(g2, expected_current=g1, checkpoint=checkpoint)
    assert published.replaces == g1 and published.trial_count == 3
    assert await store.current_generation() == g2
    assert await store.get_checkpoint() == checkpoint
    after = {s.nct_id: s.overall_status for s, _ in await store.load_index_entries()}
    assert after == {
        "NCT00000001": "AVAILABLE",
        "NCT00000002": "WITHDRAWN",
        "NCT00000003": "AVAILABLE",
    }
    assert await store.index(IndexKind.ONCOTREE, "MESO") == set(after)
    assert await store.index(IndexKind.TYPE, "EXPANDED_ACCESS") == set(after)


async def test_publish_refuses_when_someone_else_published(
    store: TrialStore, parser: FakeParser
) -> None:
    g1 = await publish_new(store, [record("NCT00000001")], parser)
    stale = await store.begin_generation(
        kind=SyncKind.FULL, parser_version=parser.version, base=g1, copy_base=False
    )
    g3 = await publish_new(store, [record("NCT00000002")], parser)
    with pytest.raises(StoreError, match="was published while"):
        await store.publish_generation(stale.generation, expected_current=g1, checkpoint=None)
    assert await store.current_generation() == g3


async def test_garbage_collection_keeps_current_and_replaced(
    store: TrialStore, parser: FakeParser, redis: Redis
) -> None:
    v1 = record("NCT00000001", criteria="v1")
    v2 = record("NCT00000001", criteria="v2")
    v3 = record("NCT00000001", criteria="v3")
    g1 = await publish_new(store, [v1], parser)
    orphan = await store.begin_generation(
        kind=SyncKind.FULL, parser_version=parser.version, base=g1, copy_base=False
    )  # an aborted sync's leftover
    g2 = await publish_new(store, [v2], parser)
    g3 = await publish_new(store, [v3], parser)

    generations, documents = await store.collect_garbage()
    assert generations == 2  # g1 and the orphan
    assert documents == 2  # v1's study and parsed documents
    keys = store.keys
    registered = {int(g) for g in await redis.smembers(keys.generations)}  # type: ignore[misc]
    assert registered == {g2, g3}
    assert await store.generation_info(orphan.generation) is None
    assert await redis.exists(keys.study("NCT00000001", v1.content_hash)) == 0
    assert await redis.exists(keys.study("NCT00000001", v2.content_hash)) == 1
    assert await redis.exists(keys.parsed("fake-1", "NCT00000001", v2.content_hash)) == 1
    assert await store.collect_garbage() == (0, 0)
    # the replaced generation is still readable in full
    (entry,) = await store.load_index_entries(generation=g2)
    assert entry[0].eligibility_text == "v2"


async def test_garbage_collection_drops_other_parser_versions(
    store: TrialStore, redis: Redis
) -> None:
    r = record("NCT00000001")
    await publish_new(store, [r], FakeParser(version="old"))
    await publish_new(store, [r], FakeParser(version="mid"))
    await publish_new(store, [r], FakeParser(version="new"))
    await store.collect_garbage()
    parsed_keys = sorted(
        [k.decode() async for k in redis.scan_iter(match=store.keys.parsed_pattern)]
    )
    assert parsed_keys == [
        store.keys.parsed("mid", "NCT00000001", r.content_hash),
        store.keys.parsed("new", "NCT00000001", r.content_hash),
    ]


async def test_discard_generation(store: TrialStore, parser: FakeParser, redis: Redis) -> None:
    g1 = await publish_new(store, [record("NCT00000001")], parser)
    info = await store.begin_generation(
        kind=SyncKind.INCREMENTAL, parser_version=parser.version, base=g1, copy_base=True
    )
    assert (await store.members(generation=info.generation)).keys() == {"NCT00000001"}
    await store.discard_generation(info.generation)
    assert await redis.exists(store.keys.gen_members(info.generation)) == 0
    assert await redis.exists(store.keys.gen_index(info.generation, "status:AVAILABLE")) == 0
    with pytest.raises(StoreError, match="is published"):
        await store.discard_generation(g1)


async def test_carry_over_keeps_the_last_good_version(
    store: TrialStore, parser: FakeParser
) -> None:
    g1 = await publish_new(store, [record("NCT00000001"), record("NCT00000002")], parser)
    info = await store.begin_generation(
        kind=SyncKind.FULL, parser_version=parser.version, base=g1, copy_base=False
    )
    assert (
        await store.carry_over(info.generation, base=g1, nct_ids=["NCT00000002", "NCT09999999"])
        == 1
    )
    assert (await store.members(generation=info.generation)).keys() == {"NCT00000002"}
    assert await store.index(IndexKind.ONCOTREE, "MESO", generation=info.generation) == {
        "NCT00000002"
    }


async def test_quarantine(store: TrialStore) -> None:
    entries = [
        QuarantineEntry(nct_id="NCT00000001", location="page 1 #1", reason="bad age"),
        QuarantineEntry(location="dump.jsonl:3", reason="invalid JSON"),
    ]
    await store.quarantine(entries)
    assert await store.quarantined() == sorted(entries, key=lambda e: e.key)
    await store.release_quarantine(["NCT00000001"])
    assert [e.key for e in await store.quarantined()] == ["dump.jsonl:3"]


async def test_sync_lease_is_exclusive(store: TrialStore) -> None:
    async with store.sync_lease(ttl_s=30, command="sync"):
        with pytest.raises(SyncInProgressError) as caught:
            async with store.sync_lease(ttl_s=30, command="import"):
                pass
        assert caught.value.ttl_s is not None and 0 < caught.value.ttl_s <= 30
        assert caught.value.holder is not None and "sync pid" in caught.value.holder
    async with store.sync_lease(ttl_s=30, command="sync"):  # released on exit
        pass


async def test_redis_failures_become_store_errors(namespace: str) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(StoreError) as caught:
            await TrialStore(dead, namespace).current_generation()
        assert isinstance(caught.value.__cause__, RedisError)
    finally:
        await dead.aclose()


async def test_load_index_entries_skips_missing_documents(
    store: TrialStore, parser: FakeParser, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    r1, r2 = record("NCT00000001"), record("NCT00000002")
    await publish_new(store, [r1, r2], parser)
    await redis.delete(store.keys.parsed(parser.version, "NCT00000002", r2.content_hash))
    entries = await store.load_index_entries()
    assert [s.nct_id for s, _ in entries] == ["NCT00000001"]
    assert "lacks 1 document" in caplog.text
