"""The real lifespan: ontology + Redis + published index, and pick-up of a new generation.

Imports through ``trial_cache`` (real parser) into the Redis on 127.0.0.1:6379 (db 15,
own namespace), then serves with ``create_app(settings)``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from service.app import create_app
from service.engine import index_codes_for
from service.settings import Settings
from tests.service.conftest import REDIS_URL
from trial_cache.importer import import_dump
from trial_cache.settings import TrialCacheSettings
from trial_cache.store import TrialStore

LOOPBACK = ("127.0.0.1", 50000)


def _write(path: Path, studies: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in studies))
    return path


async def _wait_ready(client: TestClient, *, generation: int, timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    body: Any = None
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        body = r.json()
        if r.status_code == 200 and body["index"]["generation"] == generation:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"not ready with generation {generation}: {body}")


async def test_lifespan_loads_published_index_and_follows_new_generations(
    tmp_path: Path,
    real_redis: tuple[Redis, str],
    raw_studies: list[dict[str, Any]],
    parser: Any,
    ontology: Any,
) -> None:
    redis, namespace = real_redis
    cache = TrialCacheSettings(redis_url=REDIS_URL, redis_namespace=namespace)
    settings = Settings(cache=cache, index_refresh_s=0.2)
    store = TrialStore(redis, namespace)
    codes = index_codes_for(ontology)

    first = await import_dump(
        _write(tmp_path / "first.jsonl", raw_studies),
        store=store, parser=parser, index_codes=codes, settings=cache,
    )
    assert first.generation is not None and first.quarantined == 0

    # A loopback client: with no API key created, the embedded demo needs none.
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        assert client.get("/healthz").status_code == 200
        ready = await _wait_ready(client, generation=first.generation)
        assert ready["redis"] is True
        assert ready["index"]["trials"] == len(raw_studies)
        assert client.get("/v1/trials/NCT02066181").status_code == 200
        page = client.get("/v1/answer-page", params={"condition": "Desmoid_tumors"}).json()
        assert page["generation"] == first.generation

        # publish a smaller generation (an import removes trials only with prune): the
        # API swaps it in by itself
        kept = [s for s in raw_studies
                if s["protocolSection"]["identificationModule"]["nctId"] != "NCT02066181"]
        second = await import_dump(
            _write(tmp_path / "second.jsonl", kept),
            store=store, parser=parser, index_codes=codes, settings=cache, prune=True,
        )
        assert second.removed == 1
        assert second.generation is not None and second.generation != first.generation
        ready = await _wait_ready(client, generation=second.generation)
        assert ready["index"]["trials"] == len(kept)
        assert client.get("/v1/trials/NCT02066181").status_code == 404
        page = client.get("/v1/answer-page", params={"condition": "Desmoid_tumors"}).json()
        assert page["generation"] == second.generation  # not the cached first page
        r = client.post("/v1/match", json={"patient": {"cancer_type": "desmoid tumor"}})
        assert r.status_code == 200
        assert r.json()["generation"] == second.generation


async def test_lifespan_without_published_trials_is_not_ready(
    real_redis: tuple[Redis, str],
) -> None:
    _, namespace = real_redis
    cache = TrialCacheSettings(redis_url=REDIS_URL, redis_namespace=namespace)
    with TestClient(create_app(Settings(cache=cache, index_refresh_s=0.2)),
                    client=LOOPBACK) as client:
        await asyncio.sleep(0.5)
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["redis"] is True
        assert any("index" in p for p in r.json()["problems"])
        r = client.get("/v1/trials")
        assert r.status_code == 503
        assert r.json()["error"] == "index_not_ready"
