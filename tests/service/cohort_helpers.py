"""Helpers of the cohort tests: wiring a prepared state to real Redis, and running an
in-process arq worker over a fixed index."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis

from service.batch import BatchQueue, arq_pool
from service.cohorts.crypto import ProfileCipher, generate_key
from service.cohorts.jobs import CohortRuntime
from service.cohorts.store import CohortStore
from service.deps import ServiceState
from service.worker import WorkerRuntime, close_worker, make_worker

KEY = generate_key()


def wire(state: ServiceState, redis: Redis, namespace: str, **settings: Any) -> CohortStore:
    """Give ``state`` the batch queue and a cohort store on ``namespace``."""
    state.settings = state.settings.model_copy(
        update={"cohort_keys": SecretStr(KEY), "batch_cron": "", **settings})
    state.redis = redis
    state.batch = BatchQueue(arq_pool(redis, namespace), namespace, ttl_s=600)
    state.cohorts = CohortStore(redis, namespace, ProfileCipher([KEY]))
    return state.cohorts


async def run_worker(state: ServiceState, redis: Redis, *,
                     transport: httpx.MockTransport | None = None) -> None:
    """An in-process burst worker over ``state``'s index until the queue is empty."""
    assert state.batch is not None and state.cohorts is not None
    async with httpx.AsyncClient(transport=transport or httpx.MockTransport(
            lambda r: httpx.Response(204))) as http:
        runtime = WorkerRuntime(
            settings=state.settings, ontology=state.ontology, holder=state.holder,
            queue=state.batch, cohorts=CohortRuntime(store=state.cohorts, http=http))
        worker = make_worker(redis, runtime, burst=True, handle_signals=False)
        try:
            await worker.main()
        finally:
            await close_worker(worker)
