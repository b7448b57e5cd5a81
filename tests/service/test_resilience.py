"""Real processes, real Redis: ``trialmatch serve`` over a Redis server of the test's
own (never the shared one on 6379), which is killed and restarted while ``/v1/match`` is
under load; and a grep of the server's logs and of every Redis key for markers planted
in a patient and in a job id."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from service.engine import index_codes_for
from service.schemas import MESOTHELIOMA_PATIENT
from trial_cache.importer import import_dump
from trial_cache.settings import TrialCacheSettings
from trial_cache.store import TrialStore

PATIENT_MARKER = "Zq7PatientMarker"
JOB_MARKER = "c0ffee" + "0" * 20 + "c0ffee"  # 32 hex digits: a well-formed job id
CLIENTS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class OwnRedis:
    """A redis-server of this test alone, on a free port, without persistence."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Served:
    base_url: str
    redis: OwnRedis
    namespace: str
    log_path: Path
    process: subprocess.Popen[bytes]


def start_serve(
    *, port: int, cwd: Path, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """``trialmatch serve`` in a process of its own, stdout and stderr to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (.ci/run needs it too)")
    server = OwnRedis(port=free_port(), workdir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
async def served(
    own_redis: OwnRedis,
    tmp_path_factory: pytest.TempPathFactory,
    raw_studies: list[dict[str, Any]],
    parser: Any,
    ontology: Any,
) -> AsyncIterator[Served]:
    """The small corpus imported into ``own_redis``, served by ``trialmatch serve``."""
    work = tmp_path_factory.mktemp("served")
    namespace = f"tmtest-{uuid.uuid4().hex[:8]}"
    dump = work / "small.jsonl"
    dump.write_bytes(b"\n".join(orjson.dumps(r) for r in raw_studies) + b"\n")
    settings = TrialCacheSettings(redis_url=own_redis.url, redis_namespace=namespace)
    redis = Redis.from_url(own_redis.url)
    try:
        await import_dump(dump, store=TrialStore(redis, namespace), parser=parser,
                          index_codes=index_codes_for(ontology), settings=settings)
    finally:
        await redis.aclose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALMATCH_")}
    env.update(
        TRIALMATCH_REDIS_URL=own_redis.url,
        TRIALMATCH_REDIS_NAMESPACE=namespace,
        TRIALMATCH_INDEX_REFRESH_S="1",
        TRIALMATCH_LOG_LEVEL="debug",
    )
    log_path = work / "serve.log"
    process = start_serve(port=port, cwd=work, env=env, log_path=log_path)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.2)
        yield Served(base_url, own_redis, namespace, log_path, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_logs_and_redis_keys_hold_no_patient_or_job_marker(served: Served) -> None:
    patient = {**MESOTHELIOMA_PATIENT, "conditions": [PATIENT_MARKER],
               "histology": f"epithelioid {PATIENT_MARKER}"}
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
        r = await client.post("/v1/match", json={"patient": patient, "limit": 3})
        assert r.status_code == 200, r.text
        bad = {"patient": {**patient, "ecgo": PATIENT_MARKER}}  # 422 names the field only
        r = await client.post("/v1/match", json=bad)
        assert r.status_code == 422 and PATIENT_MARKER not in r.text
        r = await client.post(
            "/v1/batch", json={"patients": [{"id": "p1", "patient": patient}], "limit": 3}
        )
        assert r.status_code == 202, r.text
        real_job = r.json()["job_id"]
        r = await client.get(f"/v1/batch/{JOB_MARKER}")
        assert r.status_code == 404
        r = await client.get(f"/v1/batch/{real_job}")
        assert r.status_code == 200
        r = await client.get("/v1/trials", params={"zip": "10032", "q": JOB_MARKER})
        assert r.status_code == 200
    await asyncio.sleep(0.5)  # let the server flush its log lines
    logged = served.log_path.read_text()
    assert "GET /v1/batch/{job_id} 404" in logged  # the access log is on
    for marker in (PATIENT_MARKER, JOB_MARKER, real_job):
        assert marker not in logged, marker
    redis = Redis.from_url(served.redis.url)
    try:
        keys = [k.decode() async for k in redis.scan_iter(match="*", count=1000)]
    finally:
        await redis.aclose()
    assert any(k.startswith(served.namespace) for k in keys)
    for marker in (PATIENT_MARKER, JOB_MARKER):
        assert not [k for k in keys if marker in k], marker


async def _load(client: httpx.AsyncClient, stop: asyncio.Event, phase: list[str],
                seen: Counter[tuple[str, int | str]]) -> None:
    body = {"patient": MESOTHELIOMA_PATIENT, "limit": 5}
    while not stop.is_set():
        try:
            r = await client.post("/v1/match", json=body)
            seen[(phase[0], r.status_code)] += 1
        except httpx.TransportError as exc:
            seen[(phase[0], type(exc).__name__)] += 1


async def test_a_redis_restart_under_load_is_survived(served: Served) -> None:
    """Kill Redis while 8 clients post /v1/match: matching keeps answering from memory,
    Redis-backed routes answer 503 with Retry-After, and everything recovers by itself
    once Redis is back, without restarting the service."""
    phase = ["before"]
    seen: Counter[tuple[str, int | str]] = Counter()
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=CLIENTS + 4)
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30, limits=limits) as client:
        workers = [asyncio.create_task(_load(client, stop, phase, seen)) for _ in range(CLIENTS)]
        try:
            await asyncio.sleep(1.5)
            served.redis.kill()
            phase[0] = "down"
            await asyncio.sleep(1.5)  # the index refresh (every 1 s) has failed meanwhile
            down_batch = await client.get(f"/v1/batch/{JOB_MARKER}")
            down_submit = await client.post(
                "/v1/batch",
                json={"patients": [{"id": "p1", "patient": MESOTHELIOMA_PATIENT}]},
            )
            down_ready = await client.get("/readyz")
            await asyncio.sleep(1.0)
            served.redis.start()
            phase[0] = "after"
            recovered_s = None
            restarted = time.monotonic()
            while time.monotonic() - restarted < 20:
                ready = await client.get("/readyz")
                submit = await client.post(
                    "/v1/batch",
                    json={"patients": [{"id": "p1", "patient": MESOTHELIOMA_PATIENT}]},
                )
                if ready.status_code == 200 and submit.status_code == 202:
                    polled = await client.get(f"/v1/batch/{submit.json()['job_id']}")
                    if polled.status_code == 200:
                        recovered_s = time.monotonic() - restarted
                        break
                await asyncio.sleep(0.25)
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            await asyncio.gather(*workers)

    for response in (down_batch, down_submit):
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "store_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    assert down_ready.status_code == 503 and down_ready.json()["redis"] is False
    assert recovered_s is not None, "the service did not recover by itself"
    # matching answered from memory throughout: every request, in every phase, was a 200
    for name in ("before", "down", "after"):
        assert seen[(name, 200)] > 0, seen
    assert set(status for _, status in seen) == {200}, seen
    assert served.process.poll() is None  # never restarted
    print(f"\n/v1/match under {CLIENTS} clients across a Redis restart: {dict(seen)}; "
          f"Redis-backed routes recovered {recovered_s:.1f} s after the restart")
