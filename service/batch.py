"""One-off batch matching (``POST /v1/batch``, the compatibility path): the queue (arq
on Redis) and the job record. Registered cohorts and their nightly runs are
:mod:`service.cohorts` (stored encrypted); this module is the other place where
patient-derived data touches Redis, for a job's lifetime only:

* ``arq:job:{job_id}`` — arq's own job key: the cohort (profiles) as submitted, JSON
  (orjson, not pickle). arq deletes it when the job finishes; it expires anyway after
  ``batch_result_ttl_s``. arq's result key is never written (``keep_result=0``), so the
  cohort is not copied into a result.
* ``{ns}:batch:{job_id}`` — the job record (:class:`service.schemas.BatchJob`): status,
  counts, and once complete each member's compact ranked trials under the caller's
  opaque ``id``. TTL ``batch_result_ttl_s`` (default 24 h) from submission; never
  renewed.

Job ids are random (128-bit, hex), so a job can only be read by whoever submitted it
(or was given the id). Callers must not put names, MRNs or other identifiers in the
member ``id``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from service.errors import BatchJobNotFound
from service.schemas import BatchJob, BatchPatientResult, BatchRequest, BatchState
from trial_cache.errors import StoreError

MATCH_COHORT = "match_cohort"
"""Name of the arq job function (``service.worker.match_cohort``)."""


def queue_name(namespace: str) -> str:
    """The arq queue of a namespace, ``{ns}:arq:queue``."""
    return f"{namespace}:arq:queue"


def job_serializer(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


def job_deserializer(value: bytes) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(value)
    return data


def arq_pool(redis: Redis, namespace: str, *, own_pool: bool = False) -> ArqRedis:
    """An :class:`ArqRedis` on the same server as ``redis`` (embedded or URL), with JSON
    job serialization and the namespace's queue as default.

    It shares ``redis``'s connection pool, or with ``own_pool`` gets a new pool with the
    same connection settings (an arq ``Worker`` closes its pool when it stops).
    """
    pool = redis.connection_pool
    if own_pool:
        pool = ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)
    return ArqRedis(
        connection_pool=pool,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=queue_name(namespace),
    )


class BatchQueue:
    """Submits cohorts and reads/writes job records in one Redis namespace.

    ``ttl_s`` is the lifetime of a job record (and of the queued cohort) in seconds.
    Redis failures raise :class:`trial_cache.errors.StoreError` (→ 503).
    """

    def __init__(self, pool: ArqRedis, namespace: str, ttl_s: int) -> None:
        self.pool = pool
        self.namespace = namespace
        self.ttl_s = ttl_s

    def key(self, job_id: str) -> str:
        return f"{self.namespace}:batch:{job_id}"

    async def submit(self, request: BatchRequest, *, limit: int) -> BatchJob:
        """Queue ``request``; returns the queued job record."""
        job_id = secrets.token_hex(16)
        job = BatchJob(
            job_id=job_id,
            status=BatchState.QUEUED,
            patients=len(request.patients),
            submitted_at=datetime.now(UTC),
            expires_in_s=self.ttl_s,
        )
        cohort = [
            {"id": p.id, "patient": p.patient.model_dump(mode="json", by_alias=True,
                                                         exclude_none=True)}
            for p in request.patients
        ]
        try:
            await self._write(job, ttl_s=self.ttl_s)
            enqueued = await self.pool.enqueue_job(
                MATCH_COHORT,
                cohort,
                limit,
                request.include_closed,
                _job_id=job_id,
                _queue_name=queue_name(self.namespace),
                _expires=self.ttl_s,
            )
        except RedisError as exc:
            raise StoreError(f"cannot queue the batch job: {exc}") from exc
        if enqueued is None:  # pragma: no cover - random 128-bit ids do not collide
            raise StoreError("a job with this id already exists")
        return job

    async def get(self, job_id: str) -> BatchJob:
        """The job record with its remaining TTL; raises BatchJobNotFound."""
        key = self.key(job_id)
        try:
            async with self.pool.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.ttl(key)
                raw, ttl = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"cannot read the batch job: {exc}") from exc
        if raw is None:
            raise BatchJobNotFound(job_id)
        job = BatchJob.model_validate_json(raw)
        return job.model_copy(update={"expires_in_s": int(ttl) if ttl and ttl > 0 else None})

    async def update(
        self,
        job_id: str,
        *,
        status: BatchState,
        results: list[BatchPatientResult] | None = None,
        generation: int | None = None,
        error: str | None = None,
    ) -> BatchJob:
        """Rewrite the job record (keeping its remaining TTL). Raises BatchJobNotFound
        when the record expired meanwhile."""
        job = await self.get(job_id)
        done = status in (BatchState.COMPLETE, BatchState.FAILED)
        job = job.model_copy(
            update={
                "status": status,
                "results": results,
                "generation": generation,
                "error": error,
                "finished_at": datetime.now(UTC) if done else None,
            }
        )
        await self._write(job, ttl_s=job.expires_in_s or self.ttl_s)
        return job

    async def _write(self, job: BatchJob, *, ttl_s: int) -> None:
        try:
            await self.pool.set(
                self.key(job.job_id),
                job.model_dump_json(exclude={"expires_in_s"}),
                ex=max(1, ttl_s),
            )
        except RedisError as exc:
            raise StoreError(f"cannot write the batch job: {exc}") from exc
