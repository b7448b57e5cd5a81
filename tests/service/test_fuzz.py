"""Schemathesis against the app's own OpenAPI document: for every operation, a bounded
number of generated requests (deterministic: derandomized, fixed seed) must get no 5xx
and no response that violates the documented schema.

The app serves the real small index over real HTTP (uvicorn in a thread, one event
loop) with real Redis (127.0.0.1:6379, a namespace of this test), so the batch and
cohort routes answer as in production rather than 503.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_sync
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, seed, settings
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from service.app import create_app
from service.batch import BatchQueue, arq_pool
from service.cohorts.crypto import ProfileCipher, generate_key
from service.cohorts.store import CohortStore
from service.deps import ServiceState
from trial_cache.store import TrialStore

EXAMPLES_PER_OPERATION = 25
SEED = 20261122
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def served_url(state: ServiceState) -> Iterator[str]:
    namespace = f"tmtest-{uuid.uuid4().hex[:12]}"
    redis = Redis.from_url(REDIS_URL)  # connects lazily, inside the server's loop
    live = ServiceState(
        settings=state.settings,
        ontology=state.ontology,
        holder=state.holder,
        answer_cache=state.answer_cache,
        redis=redis,
        store=TrialStore(redis, namespace),
        batch=BatchQueue(arq_pool(redis, namespace), namespace, 60),
        # cohort routes as in production with TRIALMATCH_COHORT_KEYS set
        cohorts=CohortStore(redis, namespace, ProfileCipher([generate_key()])),
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(state=live), host="127.0.0.1", port=port,
                       log_level="warning", access_log=False, lifespan="on")
    )
    def run() -> None:
        async def main() -> None:
            try:
                await server.serve()
            finally:
                await redis.aclose()  # in the loop its connections belong to

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        cleanup = redis_sync.Redis.from_url(REDIS_URL)
        keys = list(cleanup.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            cleanup.delete(*keys)
        cleanup.close()


def test_no_5xx_and_no_schema_violation(served_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{served_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @seed(SEED)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        check()
