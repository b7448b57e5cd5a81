"""The FastAPI application: ``create_app(settings)``.

The lifespan owns every long-lived client and builds one
:class:`service.deps.ServiceState`:

1. the ontology (``ontologies.load_ontology``; a data error stops start-up);
2. the Redis client (``trial_cache.embedded.open_redis``: ``TRIALMATCH_REDIS_URL``, or
   the embedded redis-server on ``TRIALMATCH_REDIS_DB_PATH``); unreachable Redis stops
   start-up with a message naming it;
3. the :class:`~trial_cache.store.TrialStore`, the batch queue (arq, same Redis), the
   cohort store (:mod:`service.cohorts`; profiles encrypted with
   ``TRIALMATCH_COHORT_KEYS``), the API-key authenticator (:mod:`service.auth`), the
   rate limiter (:mod:`service.ratelimit`) and the bounded matching pool
   (:mod:`service.match_pool`);
4. the in-memory index: a background task loads the store's published generation as
   soon as the app starts (``/healthz`` answers meanwhile; ``/readyz`` says not ready),
   then checks the ``{ns}:current`` pointer every ``TRIALMATCH_INDEX_REFRESH_S``
   seconds (one GET) and swaps in a new snapshot when a sync/import publishes one.

The spaCy pipeline is *not* loaded for matching: requests never parse trial text. The
clinic-note extractor (``service.notes.NoteReader``) builds its own pipeline on the
first note request. Syncs and imports run
from the CLI (or a scheduled job), which builds the parser, and publish a generation
the API then picks up.

``create_app(settings, state=...)`` skips the lifespan's resource set-up and serves a
prepared state (tests, benchmarks over a fixed index); such a state checks API keys
only if it has an ``auth``. Dependencies can also be swapped with
``app.dependency_overrides``. Every app has its own metrics registry
(:mod:`service.metrics`, ``GET /metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.auth import ApiKeyStore, Authenticator
from service.batch import BatchQueue, arq_pool
from service.cohorts.crypto import ProfileCipher
from service.cohorts.errors import CohortKeyMissing
from service.cohorts.routes import router as cohorts_router
from service.cohorts.store import CohortStore
from service.deps import ServiceState
from service.engine import IndexHolder
from service.errors import install_error_handlers
from service.fhir.routes import router as fhir_router
from service.limits import BodySizeLimitMiddleware
from service.match_pool import MatchPool
from service.metrics import Metrics, MetricsMiddleware
from service.metrics import router as metrics_router
from service.metrics_registry import redis_error
from service.middleware import AccessLogMiddleware
from service.patients import router as patients_router
from service.ratelimit import RateLimiter
from service.routes import router
from service.schemas import AnswerPage
from service.settings import Settings
from service.ttl_cache import TTLCache
from trial_cache.errors import TrialCacheError
from trial_cache.store import TrialStore

log = logging.getLogger("trialmatch.service")

API_DESCRIPTION = """\
Clinical-trial matching for cancer patients, over ClinicalTrials.gov (API v2) trials
whose eligibility criteria were parsed into structured facts.

* `POST /v1/match` ranks trials for a patient profile, criterion by criterion, with
  reasons that quote the trial.
* `GET /v1/trials` searches (condition, status, phase, type, distance, words);
  `GET /v1/trials/{nct_id}` shows a trial's structured eligibility with spans.
* `GET /v1/answer-page` serves a condition's top recruiting trials and expanded-access
  programs; `GET /v1/conditions/resolve` maps words to an OncoTree node.
* `POST /v1/patients/extract` reads a clinic note into a profile draft (also accepted
  by `/v1/match` as `{"note": ...}`); `POST /v1/patients/from-fhir` maps an mCODE Bundle.
* FHIR R4: `POST /getClinicalTrial` (MITRE), `POST /fhir/ResearchStudy/$match` (CodeX),
  `GET /fhir/ResearchStudy/{nct_id}`, `GET /fhir/metadata`.
* `PUT /v1/cohorts/{cohort_id}` registers a cohort (profiles encrypted at rest) that
  the workers match every night; `POST /v1/cohorts/{id}/runs` runs it now, and
  `GET /v1/cohorts/{id}/runs/{run_id}/diff` says what changed since the last run.
* `POST /v1/batch` queues a one-off cohort; `GET /v1/batch/{job_id}` returns its results.
* `GET /metrics`: Prometheus metrics.

Navigator, trial, cohort and batch routes need an API key (`Authorization: Bearer <key>`
or `X-API-Key`; scopes `navigator`, `batch`, `admin`); answer pages and condition lookup
are public and rate-limited per client.

Errors are `{"error": code, "message": "..."}`; a 422 names the wrong field.
Patient data is never logged, cached, or stored, except where a feature needs it:
registered cohorts (encrypted at rest, until deleted) and one-off batch jobs (their
cohort and results expire after `TRIALMATCH_BATCH_RESULT_TTL_S`).
"""


def new_answer_cache(settings: Settings) -> TTLCache[AnswerPage]:
    return TTLCache(settings.answer_page_ttl_s, settings.answer_page_cache_size)


async def _refresh_forever(state: ServiceState) -> None:
    """Load the published index now, then poll the pointer every index_refresh_s."""
    assert state.store is not None
    interval = state.settings.index_refresh_s
    while True:
        try:
            if await state.holder.refresh(state.store, state.ontology):
                state.answer_cache.clear()
            state.problems = []
        except TrialCacheError as exc:
            redis_error("index_refresh")
            state.problems = [f"index refresh: {type(exc).__name__}: {exc}"]
            log.warning("index refresh failed: %s", exc)
        if interval <= 0 and state.holder.current is not None:
            return
        await asyncio.sleep(interval if interval > 0 else 5.0)


def create_app(settings: Settings | None = None, *, state: ServiceState | None = None) -> FastAPI:
    """The ASGI app.

    ``settings`` defaults to ``Settings()`` (environment). With ``state``, the lifespan
    uses it as is (no ontology load, no Redis, no background refresh).
    """
    settings = settings or (state.settings if state is not None else Settings())
    metrics = Metrics()

    def new_match_pool() -> MatchPool:
        return MatchPool(threads=settings.match_threads, queue=settings.match_queue,
                         timeout_s=settings.match_queue_timeout_s,
                         observe=metrics.match_latency.observe)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state is not None:
            app.state.trialmatch = state
            yield
            return
        from ontologies import load_ontology
        from trial_cache.embedded import open_redis

        ontology = await asyncio.to_thread(load_ontology)
        redis, close_redis = await open_redis(settings.cache)
        namespace = settings.cache.redis_namespace
        try:
            cipher: ProfileCipher | None = ProfileCipher.from_setting(settings.cohort_keys)
        except CohortKeyMissing:
            cipher = None  # cohort routes answer 503 cohort_key_missing
            log.info("no TRIALMATCH_COHORT_KEYS: cohort routes are disabled")
        live = ServiceState(
            settings=settings,
            ontology=ontology,
            holder=IndexHolder(),
            answer_cache=new_answer_cache(settings),
            redis=redis,
            store=TrialStore(redis, namespace),
            batch=BatchQueue(arq_pool(redis, namespace), namespace, settings.batch_result_ttl_s),
            cohorts=CohortStore(redis, namespace, cipher),
            auth=Authenticator(ApiKeyStore(redis, namespace), settings.auth_mode),
            limiter=RateLimiter(redis=redis, namespace=namespace,
                                per_key=settings.rate_limit_per_key,
                                public=settings.rate_limit_public),
            match_pool=new_match_pool(),
        )
        app.state.trialmatch = live
        refresher = asyncio.create_task(_refresh_forever(live), name="trialmatch-index-refresh")
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            if live.match_pool is not None:
                live.match_pool.close()
            await close_redis()

    app = FastAPI(
        title="trialmatch",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)  # outermost: 413s are logged too
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Content-Type", "Authorization", "X-API-Key"],
        )
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(patients_router)
    app.include_router(fhir_router)
    app.include_router(cohorts_router)
    app.include_router(metrics_router)
    if state is not None:
        if state.match_pool is None:
            state.match_pool = new_match_pool()
        app.state.trialmatch = state  # also without a lifespan (httpx ASGITransport)
    return app
