"""Batch matching through arq against the real Redis on 127.0.0.1:6379 (db 15)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from service.app import create_app
from service.batch import BatchQueue, arq_pool
from service.deps import ServiceState
from service.schemas import MESOTHELIOMA_PATIENT, BatchRequest
from service.worker import WorkerRuntime, close_worker, make_worker


def _wire(state: ServiceState, redis: Redis, namespace: str) -> BatchQueue:
    queue = BatchQueue(arq_pool(redis, namespace), namespace, ttl_s=600)
    state.redis = redis
    state.batch = queue
    return queue


async def _run_worker(state: ServiceState, redis: Redis, queue: BatchQueue) -> None:
    runtime = WorkerRuntime(
        settings=state.settings, ontology=state.ontology, holder=state.holder, queue=queue
    )
    worker = make_worker(redis, runtime, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await close_worker(worker)


async def test_batch_job_round_trip_over_http(
    state: ServiceState, real_redis: tuple[Redis, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arq")
    redis, namespace = real_redis
    queue = _wire(state, redis, namespace)
    cohort: dict[str, Any] = {
        "patients": [
            {"id": "p1", "patient": MESOTHELIOMA_PATIENT},
            {"id": "p2", "patient": {"cancer_type": "desmoid tumor", "zip": "10032"}},
            {"id": "p3", "patient": {"cancer_type": "qwxz vbnm"}},
        ],
        "limit": 3,
        "include_closed": True,
    }
    transport = httpx.ASGITransport(app=create_app(state=state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        r = await http.post("/v1/batch", json=cohort)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "queued" and job["patients"] == 3
        job_id = job["job_id"]

        queued = await http.get(f"/v1/batch/{job_id}")
        assert queued.json()["status"] == "queued"
        assert 0 < queued.json()["expires_in_s"] <= 600

        await _run_worker(state, redis, queue)

        done = (await http.get(f"/v1/batch/{job_id}")).json()
    assert done["status"] == "complete", done
    assert done["generation"] == 7
    assert done["finished_at"] is not None
    by_id = {r["id"]: r for r in done["results"]}
    assert set(by_id) == {"p1", "p2", "p3"}
    # a mesothelioma trial is among the top 3 (an open basket trial may come first)
    assert {r["nct_id"] for r in by_id["p1"]["results"]} & {
        "NCT00700336", "NCT01211275", "NCT02639767"}
    assert len(by_id["p1"]["results"]) == 3
    assert by_id["p2"]["results"][0]["nct_id"] in {"NCT09900003", "NCT02066181", "NCT09900001"}
    assert by_id["p3"]["error"] and "cancer_type" in by_id["p3"]["error"]
    assert by_id["p3"]["results"] == []

    # arq logged the job, but not its arguments (the cohort's profiles)
    assert any("match_cohort(…)" in r.getMessage() for r in caplog.records), caplog.text
    assert "mesothelioma" not in caplog.text and "desmoid" not in caplog.text

    # arq kept neither the job payload nor a result copy of the cohort
    assert not await redis.exists(f"arq:job:{job_id}")
    assert not await redis.exists(f"arq:result:{job_id}")
    ttl = await redis.ttl(f"{namespace}:batch:{job_id}")
    assert 0 < ttl <= 600


async def test_batch_validation_and_unknown_job(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    _wire(state, redis, namespace)
    transport = httpx.ASGITransport(app=create_app(state=state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        r = await http.post(
            "/v1/batch", json={"patients": [{"id": "p1", "patient": {"cancer_typ": "NSCLC"}}]}
        )
        assert r.status_code == 422
        assert "patients.0.patient.cancer_typ" in r.json()["message"]
        r = await http.post(
            "/v1/batch",
            json={"patients": [{"id": "Jane Doe", "patient": {"cancer_type": "NSCLC"}}]},
        )
        assert r.status_code == 422  # ids are opaque tokens, not names
        r = await http.get("/v1/batch/" + "0" * 32)
        assert r.status_code == 404
        assert r.json()["error"] == "batch_job_not_found"
        r = await http.get("/v1/batch/not-a-job-id")
        assert r.status_code == 422


async def test_batch_cohort_size_is_capped(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    _wire(state, redis, namespace)
    state.settings = state.settings.model_copy(update={"batch_max_patients": 1})
    transport = httpx.ASGITransport(app=create_app(state=state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = {"patients": [{"id": f"p{i}", "patient": {"cancer_type": "NSCLC"}}
                             for i in range(2)]}
        r = await http.post("/v1/batch", json=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "patients"]


async def test_worker_marks_job_failed_without_index(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    queue = _wire(state, redis, namespace)
    job = await queue.submit(
        BatchRequest.model_validate(
            {"patients": [{"id": "a", "patient": {"cancer_type": "NSCLC"}}]}
        ),
        limit=2,
    )
    loaded = state.holder.current
    state.holder._current = None
    try:
        await _run_worker(state, redis, queue)
    finally:
        assert loaded is not None
        state.holder.swap(loaded)
    failed = await queue.get(job.job_id)
    assert failed.status.value == "failed"
    assert failed.error and "trialmatch import" in failed.error
