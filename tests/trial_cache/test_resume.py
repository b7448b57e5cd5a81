"""A sync killed with SIGKILL mid-run is resumed by the next run from its last stored page,
against the real replay server and real Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from tests.conftest import ROOT
from tests.trial_cache.conftest import Replay
from tests.trial_cache.fakes import FakeParser, fake_index_codes
from trial_cache.client import CTGovClient
from trial_cache.errors import SyncInProgressError, UpstreamUnavailable
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncKind
from trial_cache.store import TrialStore
from trial_cache.sync import sync_trials

SCOPE = "myeloma"
PAGE_SIZE = 5
KILL_AT_PAGE = 5
"""The child is killed once its resume point says page 5 is next (4 pages stored)."""


def spawn_sync(base_url: str, namespace: str) -> subprocess.Popen[str]:
    """``tests.trial_cache.sync_child`` in a process of its own (60 s lease)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.trial_cache.sync_child", base_url, namespace,
         SCOPE, str(PAGE_SIZE), "60"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


async def stored_once(redis: Redis, store: TrialStore) -> Counter[str]:
    """How many study documents each NCT id has in the namespace."""
    prefix = len(store.keys.namespace) + len(":study:")
    keys = [k.decode() async for k in redis.scan_iter(match=store.keys.study_pattern, count=1000)]
    return Counter(k[prefix:].split(":", 1)[0] for k in keys)


async def test_a_killed_sync_resumes_where_it_stopped(
    replay_factory: Callable[..., Replay],
    settings: TrialCacheSettings,
    store: TrialStore,
    redis: Redis,
    namespace: str,
) -> None:
    server = replay_factory(extra=("--latency-ms", "150"))
    expected = server.count({"query.cond": SCOPE})
    pages = -(-expected // PAGE_SIZE)
    assert pages > KILL_AT_PAGE + 3

    child = spawn_sync(server.base_url, namespace)
    try:
        deadline = time.monotonic() + 60
        point = None
        while time.monotonic() < deadline and child.poll() is None:
            point = await store.get_resume()
            if point is not None and point.next_page >= KILL_AT_PAGE:
                break
            await asyncio.sleep(0.05)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        child.kill()  # SIGKILL: no cleanup, the lease stays for up to 60 s
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr is not None:
            child.stderr.close()
    point = await store.get_resume()
    assert point is not None and point.next_page >= KILL_AT_PAGE
    assert await store.current_generation() is None  # nothing was published
    requests_before = server.stats()["requests"]

    resumed_settings = settings.model_copy(
        update={"ctgov_base_url": server.base_url, "sync_scope": SCOPE,
                "ctgov_page_size": PAGE_SIZE}
    )
    parser = FakeParser()
    async with CTGovClient(settings=resumed_settings) as client:
        # the dead run's lease has not lapsed: a plain rerun is refused and says why
        with pytest.raises(SyncInProgressError, match=rf"pid {child.pid} .*owner is gone"):
            await sync_trials(client=client, store=store, parser=parser,
                              index_codes=fake_index_codes, settings=resumed_settings)
        report = await sync_trials(client=client, store=store, parser=parser,
                                   index_codes=fake_index_codes, settings=resumed_settings,
                                   force=True)

    assert report.kind is SyncKind.FULL
    assert report.took_over_lease_of is not None and f"pid {child.pid}" in report.took_over_lease_of
    # the point may have moved on between our read and the kill: it is at least that far
    assert report.resumed_from_page is not None and report.resumed_from_page >= point.next_page
    # only the pages not yet stored were fetched again
    refetched = server.stats()["requests"] - requests_before
    assert refetched == pages - report.resumed_from_page + 1, (refetched, pages, report)
    # every study in scope is stored, once, and counted once
    assert report.fetched == expected and report.new == expected
    assert len(await store.members()) == expected
    copies = await stored_once(redis, store)
    assert len(copies) == expected and set(copies.values()) == {1}
    assert len(parser.parsed) == expected - (report.resumed_from_page - 1) * PAGE_SIZE
    assert await store.get_resume() is None  # published with the checkpoint


async def test_an_outage_mid_sync_is_resumed_by_the_next_run(
    replay_factory: Callable[..., Replay],
    settings: TrialCacheSettings,
    store: TrialStore,
    redis: Redis,
) -> None:
    """Pages 1-3 stored, then the API fails every request: the sync stops saying where
    the next run resumes; the next run (API back) fetches only the remaining pages."""
    flaky = replay_factory(extra=("--fail-requests", ",".join(str(n) for n in range(5, 40))))
    scoped = settings.model_copy(
        update={"ctgov_base_url": flaky.base_url, "sync_scope": SCOPE,
                "ctgov_page_size": PAGE_SIZE}
    )
    expected = flaky.count({"query.cond": SCOPE})  # request 1
    parser = FakeParser()
    async with CTGovClient(settings=scoped) as client:
        with pytest.raises(UpstreamUnavailable, match="resumes from page 4"):
            await sync_trials(client=client, store=store, parser=parser,
                              index_codes=fake_index_codes, settings=scoped)
    point = await store.get_resume()
    assert point is not None and point.next_page == 4 and point.counts.fetched == 3 * PAGE_SIZE

    back = replay_factory()
    pointed = scoped.model_copy(update={"ctgov_base_url": back.base_url})
    async with CTGovClient(settings=pointed) as client:
        report = await sync_trials(client=client, store=store, parser=parser,
                                   index_codes=fake_index_codes, settings=pointed)
    pages = -(-expected // PAGE_SIZE)
    assert report.resumed_from_page == 4
    assert back.stats()["requests"] == pages - 3
    assert (report.fetched, report.new, report.quarantined) == (expected, expected, 0)
    copies = await stored_once(redis, store)
    assert len(copies) == expected and set(copies.values()) == {1}
    assert sorted(parser.parsed) == sorted(set(parser.parsed))  # nothing parsed twice
