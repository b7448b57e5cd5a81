"""The arq batch worker: matches whole cohorts off the request path.

Run it with ``trialmatch worker`` (same settings and Redis as the API; with no
``TRIALMATCH_REDIS_URL`` it joins the embedded Redis of ``TRIALMATCH_REDIS_DB_PATH``).
Jobs are queued by ``POST /v1/batch`` (or :meth:`service.batch.BatchQueue.submit`) on
the namespace's queue ``{ns}:arq:queue``.

Job ``match_cohort(cohort, limit, include_closed)``: ``cohort`` is a list of
``{"id": str, "patient": PatientProfile-as-JSON}``. Before each job the worker checks
the store's published generation (one GET) and reloads its index if it changed. Each
member is validated and ranked like ``POST /v1/match``; a member that fails (e.g. an
unknown cancer type) gets an ``error`` instead of results and does not fail the job.
Results go to the job record ``{ns}:batch:{job_id}`` (see :mod:`service.batch` for what
is stored and for how long). The job returns only counts, and arq keeps no result.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from arq.worker import Worker, func
from pydantic import ValidationError

from matchers.errors import MatcherError
from matchers.patient import PatientProfile
from service.batch import (
    MATCH_COHORT,
    BatchQueue,
    arq_pool,
    job_deserializer,
    job_serializer,
    queue_name,
)
from service.engine import IndexHolder, LoadedIndex, match_patient
from service.errors import BatchJobNotFound, IndexNotReady
from service.schemas import BatchMatch, BatchPatientResult, BatchState
from service.settings import Settings
from trial_cache.store import TrialStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ontologies import Ontology

log = logging.getLogger("trialmatch.worker")

JOB_TIMEOUT_S = 3600
"""Longest a cohort job may run (seconds)."""


@dataclass
class WorkerRuntime:
    """What the job functions need, kept in arq's ``ctx["trialmatch"]``.

    ``store`` is None when the runtime was built around a fixed index (tests): then
    the index is never refreshed.
    """

    settings: Settings
    ontology: Ontology
    holder: IndexHolder
    queue: BatchQueue
    store: TrialStore | None = None

    async def index(self) -> LoadedIndex:
        if self.store is not None:
            await self.holder.refresh(self.store, self.ontology)
        return self.holder.require()


def _match_all(
    loaded: LoadedIndex,
    ontology: Ontology,
    cohort: list[dict[str, Any]],
    limit: int,
    include_closed: bool,
) -> list[BatchPatientResult]:
    today = datetime.now(UTC).date()
    out: list[BatchPatientResult] = []
    for member in cohort:
        member_id = str(member.get("id", ""))
        try:
            profile = PatientProfile.model_validate(member.get("patient"))
            ranked = match_patient(
                loaded, ontology, profile, today=today, limit=limit,
                include_closed=include_closed,
            )
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            out.append(BatchPatientResult(id=member_id, error=f"invalid patient: {fields}"))
            continue
        except MatcherError as exc:
            # PatientProfileError names the field and the suggestions, not patient data.
            out.append(BatchPatientResult(id=member_id, error=str(exc)))
            continue
        out.append(
            BatchPatientResult(
                id=member_id,
                results=[BatchMatch.of(m) for m in ranked.results],
                total=ranked.total,
            )
        )
    return out


async def match_cohort(
    ctx: dict[str, Any], cohort: list[dict[str, Any]], limit: int, include_closed: bool = False
) -> dict[str, int]:
    """arq job: rank the index for every cohort member and store the results.

    Returns ``{"patients": n, "failed": k}``. Raises only when the job record expired
    or Redis fails (arq then retries up to its ``max_tries``).
    """
    runtime: WorkerRuntime = ctx["trialmatch"]
    job_id: str = ctx["job_id"]
    queue = runtime.queue
    try:
        await queue.update(job_id, status=BatchState.RUNNING)
    except BatchJobNotFound:
        log.warning("batch job %s expired before it ran; skipped", job_id)
        return {"patients": 0, "failed": 0}
    try:
        loaded = await runtime.index()
    except IndexNotReady as exc:
        await queue.update(job_id, status=BatchState.FAILED, error=exc.message)
        return {"patients": len(cohort), "failed": len(cohort)}
    results = await asyncio.to_thread(
        _match_all, loaded, runtime.ontology, cohort, limit, include_closed
    )
    await queue.update(
        job_id, status=BatchState.COMPLETE, results=results, generation=loaded.generation
    )
    failed = sum(1 for r in results if r.error)
    log.info("batch job %s: %d patients, %d failed", job_id, len(results), failed)
    return {"patients": len(results), "failed": failed}


def make_worker(
    redis: Redis,
    runtime: WorkerRuntime,
    *,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    """An arq :class:`Worker` on the runtime's namespace queue, on the same server as
    ``redis`` (its own connection pool, which it closes on stop). ``burst`` exits once
    the queue is empty (tests, cron)."""
    namespace = runtime.queue.namespace
    return Worker(
        functions=[func(match_cohort, name=MATCH_COHORT, timeout=JOB_TIMEOUT_S, max_tries=3)],
        queue_name=queue_name(namespace),
        redis_pool=arq_pool(redis, namespace, own_pool=True),
        burst=burst,
        handle_signals=handle_signals,
        ctx={"trialmatch": runtime},
        keep_result=0,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        max_jobs=1,
        health_check_key=f"{namespace}:arq:health-check",
        poll_delay=0.5,
    )


async def close_worker(worker: Worker) -> None:
    """``worker.close()``, minus the DeprecationWarning arq 0.28 triggers in redis-py 5
    (it calls ``Redis.close()``, deprecated for ``aclose()``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"arq\..*")
        warnings.filterwarnings("ignore", message=r".*deprecated close.*",
                                category=DeprecationWarning)
        await worker.close()


async def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Open Redis, load the ontology and the published index, and run the worker until
    stopped (SIGINT/SIGTERM), or until the queue is empty with ``burst``."""
    from ontologies import load_ontology
    from trial_cache.embedded import open_redis

    ontology = await asyncio.to_thread(load_ontology)
    redis, close = await open_redis(settings.cache)
    try:
        namespace = settings.cache.redis_namespace
        store = TrialStore(redis, namespace)
        runtime = WorkerRuntime(
            settings=settings,
            ontology=ontology,
            holder=IndexHolder(),
            queue=BatchQueue(arq_pool(redis, namespace), namespace, settings.batch_result_ttl_s),
            store=store,
        )
        await runtime.holder.refresh(store, ontology)
        worker = make_worker(redis, runtime, burst=burst)
        try:
            await worker.main()
        finally:
            await close_worker(worker)
    finally:
        await close()
