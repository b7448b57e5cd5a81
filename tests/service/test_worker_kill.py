"""A worker killed mid-shard loses nothing: real worker processes (``python -m
service.cli worker``), real Redis (db 15, own namespace), a published generation.

Worker A is frozen (SIGSTOP) at a moment it holds a running shard, then killed
(SIGKILL). arq's in-progress key of that shard expires (shard timeout + 10 s) and worker
B retries it; the run completes with every member matched exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from service.batch import arq_pool
from service.cohorts.crypto import ProfileCipher
from service.cohorts.jobs import start_run
from service.cohorts.models import FINISHED, CohortPut, ShardState
from service.cohorts.store import CohortStore
from service.schemas import HER2_LOW_PATIENT, MESOTHELIOMA_PATIENT
from service.settings import Settings
from tests.service.cohort_helpers import KEY
from tests.service.conftest import REDIS_URL, RealCache

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 2400
SHARD = 200
SHARD_TIMEOUT_S = 8


class WorkerProcess:
    """A ``trialmatch worker`` subprocess whose stderr is collected by a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def name(self) -> str:
        import socket

        return f"{socket.gethostname()}:{self.proc.pid}"

    async def ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any("ready: generation" in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                pytest.fail("worker exited:\n" + "".join(self.lines[-30:]))
            await asyncio.sleep(0.1)
        pytest.fail("worker not ready:\n" + "".join(self.lines[-30:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stderr is not None:
            self._reader.join(timeout=5)
            self.proc.stderr.close()


async def test_killed_worker_loses_nothing(
    real_cache: RealCache, raw_studies: list[dict[str, Any]]
) -> None:
    redis, namespace, cache = real_cache.redis, real_cache.namespace, real_cache.settings
    report = await real_cache.import_studies("studies.jsonl", raw_studies)
    assert report.generation is not None

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALMATCH_")}
    env.update({
        "TRIALMATCH_REDIS_URL": REDIS_URL, "TRIALMATCH_REDIS_NAMESPACE": namespace,
        "TRIALMATCH_COHORT_KEYS": KEY, "TRIALMATCH_BATCH_CRON": "",
        "TRIALMATCH_BATCH_SHARD_TIMEOUT_S": str(SHARD_TIMEOUT_S),
        "TRIALMATCH_LOG_LEVEL": "info",
    })
    store = CohortStore(redis, namespace, ProfileCipher([KEY]))
    profiles = [MESOTHELIOMA_PATIENT, HER2_LOW_PATIENT,
                {"cancer_type": "desmoid tumor", "age": 40}]
    ids = [f"m-{i:05d}" for i in range(MEMBERS)]
    await store.put("c-kill1", CohortPut.model_validate(
        {"members": [{"id": m, "patient": profiles[i % 3]} for i, m in enumerate(ids)],
         "include_closed": True}), default_limit=10)

    a, b = WorkerProcess(env), WorkerProcess(env)
    try:
        await asyncio.gather(a.ready(), b.ready())
        settings = Settings(cache=cache, batch_shard_size=SHARD, batch_cron="")
        run = await start_run(store, arq_pool(redis, namespace), "c-kill1", settings=settings,
                              generation=report.generation, trigger="api")
        assert run.shards.total == MEMBERS // SHARD

        # freeze A while it holds a running shard, then kill it
        killed_shard = None
        deadline = time.monotonic() + 90
        while killed_shard is None and time.monotonic() < deadline:
            running = [n for n, r in (await store.shard_records(run.run_id)).items()
                       if r.state is ShardState.RUNNING and r.worker == a.name]
            if running:
                os.kill(a.proc.pid, signal.SIGSTOP)
                again = await store.shard_records(run.run_id)
                if again[running[0]].state is ShardState.RUNNING:
                    os.kill(a.proc.pid, signal.SIGKILL)
                    a.proc.wait(timeout=10)
                    killed_shard = running[0]
                else:
                    os.kill(a.proc.pid, signal.SIGCONT)
            await asyncio.sleep(0.01)
        assert killed_shard is not None, "worker A never held a running shard"
        assert a.proc.returncode == -signal.SIGKILL

        deadline = time.monotonic() + 180
        record = await store.run(run.run_id)
        while record.status not in FINISHED and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            record = await store.run(run.run_id)
    finally:
        a.stop()
        b.stop()
        stale = [k async for k in redis.scan_iter(match=f"arq:*{namespace}:*")]
        if stale:
            await redis.delete(*stale)

    assert record.status.value == "complete", (record, "".join(b.lines[-20:]))
    assert record.shards.done == record.shards.total and record.shards.failed == 0
    assert record.matched + record.failed_members == MEMBERS  # counted once per member
    assert record.failed_members == 0
    results = await store.results(run.run_id)
    assert sorted(results) == ids  # every member, exactly one result each
    shards = await store.shard_records(run.run_id)
    assert sum(s.matched + s.failed for s in shards.values()) == MEMBERS
    retried = shards[killed_shard]
    assert retried.attempts == 2 and retried.worker == b.name
    assert any(f"shard {killed_shard}:" in line and "try 2" in line for line in b.lines)
