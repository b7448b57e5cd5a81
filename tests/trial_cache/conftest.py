"""Fixtures of the trial_cache tests: real Redis (one namespace per test), the CT.gov
replay server (one per session, plus per-test servers with faults), a fake parser."""

from __future__ import annotations

import gzip
import os
import selectors
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.conftest import CORPUS, REPLAY
from tests.trial_cache.fakes import FakeParser
from trial_cache.keys import KeySpace
from trial_cache.settings import TrialCacheSettings
from trial_cache.store import TrialStore

REDIS_URL = "redis://127.0.0.1:6379/0"
REPLAY_START_TIMEOUT_S = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes about a minute (the replay server's 60 s rate-limit window)"
    )


@pytest.fixture(autouse=True)
def _no_trialmatch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in these tests come from code only, never from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("TRIALMATCH_"):
            monkeypatch.delenv(name)


# --------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        pytest.fail(
            f"Redis is not answering on {REDIS_URL} ({exc}); start it with: redis-server "
            '--daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'
        )
    yield client
    await client.aclose()


@pytest.fixture
async def namespace(redis: Redis) -> AsyncIterator[str]:
    """A namespace of this test alone; every key under it is deleted afterwards."""
    ns = f"tmtest:{uuid.uuid4().hex[:12]}"
    yield ns
    keys = [k async for k in redis.scan_iter(match=KeySpace(ns).all_pattern, count=1000)]
    for start in range(0, len(keys), 1000):
        await redis.delete(*keys[start : start + 1000])


@pytest.fixture
def store(redis: Redis, namespace: str) -> TrialStore:
    return TrialStore(redis, namespace)


@pytest.fixture
def parser() -> FakeParser:
    return FakeParser()


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


@pytest.fixture
def settings(namespace: str) -> TrialCacheSettings:
    """Fast settings: no client-side throttling, millisecond backoffs, small pages."""
    return TrialCacheSettings(
        ctgov_base_url="http://ctgov.invalid/api/v2",
        ctgov_rate_limit_per_minute=60_000,
        ctgov_page_size=3,
        ctgov_connect_timeout_s=2.0,
        ctgov_read_timeout_s=10.0,
        ctgov_retry_attempts=4,
        ctgov_retry_wait_initial_s=0.01,
        ctgov_retry_wait_max_s=0.05,
        ctgov_retry_wait_jitter_s=0.0,
        ctgov_retry_budget_s=60.0,
        redis_namespace=namespace,
        sync_scope="mesothelioma",
        parse_batch_size=4,
    )


# --------------------------------------------------------------------------------------
# Replay server
# --------------------------------------------------------------------------------------


@dataclass
class Replay:
    """A running ``ctgov_replay.py``."""

    process: subprocess.Popen[str]
    base_url: str

    def stats(self) -> dict[str, int]:
        """The server's request counters (``/__stats``)."""
        root = self.base_url.removesuffix("/api/v2")
        counters: dict[str, int] = httpx.get(f"{root}/__stats").json()
        return counters

    def count(self, params: dict[str, str]) -> int:
        """``totalCount`` of a ``/studies`` query (counted in stats as one request)."""
        body = httpx.get(
            f"{self.base_url}/studies", params={**params, "countTotal": "true", "pageSize": "1"}
        ).json()
        total: int = body["totalCount"]
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_replay(*, data: Sequence[Path] = (CORPUS,), extra: Sequence[str] = ()) -> Replay:
    """Start the replay server on a free port and wait for its banner line."""
    command = [sys.executable, str(REPLAY), "--port", "0"]
    for path in data:
        command += ["--data", str(path)]
    process = subprocess.Popen(
        [*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=REPLAY_START_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if "http://" not in line:
        process.kill()
        process.wait()
        pytest.fail(f"replay server did not start: {line!r} (command: {command})")
    base_url = line.split(" on ", 1)[1].strip()
    return Replay(process=process, base_url=base_url)


@pytest.fixture(scope="session")
def replay() -> Iterator[Replay]:
    """The replay server over the whole corpus, without faults, for the session."""
    server = start_replay()
    yield server
    server.stop()


@pytest.fixture
def replay_factory() -> Iterator[Callable[..., Replay]]:
    """Start extra replay servers (faults, layered data); stopped after the test."""
    started: list[Replay] = []

    def factory(*, data: Sequence[Path] = (CORPUS,), extra: Sequence[str] = ()) -> Replay:
        server = start_replay(data=data, extra=extra)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


# --------------------------------------------------------------------------------------
# Corpus helpers
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def corpus_by_id() -> dict[str, dict[str, Any]]:
    """Every corpus study by NCT id (read once; ~7.5k records)."""
    studies: dict[str, dict[str, Any]] = {}
    with gzip.open(CORPUS, "rb") as fh:
        for line in fh:
            study = orjson.loads(line)
            studies[study["protocolSection"]["identificationModule"]["nctId"]] = study
    return studies
