"""The arq batch worker: matches cohorts off the request path.

One worker process serves two kinds of jobs on the namespace's queue:

* cohort runs (:mod:`service.cohorts.jobs`): ``match_shard`` / ``finish_run`` jobs and
  the ``nightly_runs`` cron at ``TRIALMATCH_BATCH_CRON`` (UTC). Start several workers
  and they share a run's shards; a shard whose worker dies is retried by another.
* the compatibility path ``match_cohort`` below (``POST /v1/batch``): one job, one
  worker, results that expire. Kept working as it was; new clients should register a
  cohort instead.

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
import os
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from arq.cron import cron
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
from service.cohorts.jobs import (
    FINISH_RUN,
    MATCH_SHARD,
    NIGHTLY_RUNS,
    CohortRuntime,
    finish_run,
    match_shard,
    nightly_runs,
    parse_cron,
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

def job_timeout_s(settings: Settings) -> int:
    """Longest any job may run (seconds): ``TRIALMATCH_BATCH_SHARD_TIMEOUT_S``.

    arq derives one in-progress lifetime for the whole worker from its longest job
    timeout (+10 s), and that lifetime is how long a dead worker's job waits before
    another worker retries it; so every job, ``match_cohort`` included, shares it.
    """
    return settings.batch_shard_timeout_s


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
    cohorts: CohortRuntime | None = None

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


class _NoJobArguments(logging.Filter):
    """Blanks the arguments in arq's "job started" log line.

    arq logs every job start as ``→ job_id:function(args)`` with the first 80 characters
    of the arguments' repr; for ``match_cohort`` those are patient profiles. Shard and
    finish jobs carry only ids, but one rule for all is simpler to trust.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "→" in record.msg and isinstance(record.args, tuple) \
                and len(record.args) == 4:
            record.args = (record.args[0], record.args[1], "…", record.args[3])
        return True


_ARQ_LOG_FILTER = _NoJobArguments()


def make_worker(
    redis: Redis,
    runtime: WorkerRuntime,
    *,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    """An arq :class:`Worker` on the runtime's namespace queue, on the same server as
    ``redis`` (its own connection pool, which it closes on stop). ``burst`` exits once
    the queue is empty (tests, benchmarks).

    Shard jobs get ``max_tries`` = ``TRIALMATCH_BATCH_SHARD_MAX_TRIES`` + 1 (the last
    try only marks the shard failed; see :mod:`service.cohorts.jobs`). The nightly
    cron is registered unless ``TRIALMATCH_BATCH_CRON`` is empty; its schedule is UTC.
    """
    namespace = runtime.queue.namespace
    settings = runtime.settings
    timeout = job_timeout_s(settings)
    logging.getLogger("arq.worker").addFilter(_ARQ_LOG_FILTER)  # a set: added once
    crons = []
    if settings.batch_cron.strip():
        crons.append(cron(nightly_runs, name=NIGHTLY_RUNS, timeout=timeout,
                          **parse_cron(settings.batch_cron)))  # type: ignore[arg-type]
    return Worker(
        functions=[
            func(match_cohort, name=MATCH_COHORT, timeout=timeout, max_tries=3),
            func(match_shard, name=MATCH_SHARD, timeout=timeout,
                 max_tries=settings.batch_shard_max_tries + 1),
            func(finish_run, name=FINISH_RUN, timeout=timeout, max_tries=5),
        ],
        cron_jobs=crons,
        timezone=UTC,
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
    import httpx

    from ontologies import load_ontology
    from service.cohorts.crypto import ProfileCipher
    from service.cohorts.errors import CohortKeyMissing
    from service.cohorts.store import CohortStore
    from trial_cache.embedded import open_redis

    ontology = await asyncio.to_thread(load_ontology)
    redis, close = await open_redis(settings.cache)
    http = httpx.AsyncClient(follow_redirects=False)
    try:
        namespace = settings.cache.redis_namespace
        store = TrialStore(redis, namespace)
        try:
            cipher: ProfileCipher | None = ProfileCipher.from_setting(settings.cohort_keys)
        except CohortKeyMissing:
            cipher = None
            log.warning("no TRIALMATCH_COHORT_KEYS: this worker runs POST /v1/batch jobs "
                        "only, not cohort runs")
        runtime = WorkerRuntime(
            settings=settings,
            ontology=ontology,
            holder=IndexHolder(),
            queue=BatchQueue(arq_pool(redis, namespace), namespace, settings.batch_result_ttl_s),
            store=store,
            cohorts=CohortRuntime(store=CohortStore(redis, namespace, cipher), http=http)
            if cipher is not None else None,
        )
        await runtime.holder.refresh(store, ontology)
        worker = make_worker(redis, runtime, burst=burst)
        log.info("worker %s ready: generation %s", os.getpid(),
                 runtime.holder.current.generation if runtime.holder.current else None)
        try:
            await worker.main()
        finally:
            await close_worker(worker)
    finally:
        await http.aclose()
        await close()
