"""FastAPI dependencies: how routes reach the long-lived clients.

The lifespan (:mod:`service.app`) builds one :class:`ServiceState` and puts it on
``app.state.trialmatch``; each dependency below takes what a route needs from it. Tests
swap any of them with ``app.dependency_overrides[get_index] = lambda: my_index``.

Aliases for route signatures: ``SettingsDep``, ``OntologyDep``, ``IndexDep``,
``TodayDep``, ``AnswerCacheDep``, ``BatchQueueDep``, ``NotesDep``, ``StateDep``,
``CohortStoreDep``, ``MatchPoolDep``. The route guards (API keys, rate limits) are in
:mod:`service.guards`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ontologies import Ontology
from service.batch import BatchQueue
from service.engine import IndexHolder, LoadedIndex
from service.errors import IndexNotReady, ServiceError
from service.match_pool import MatchPool
from service.notes import NoteReader
from service.schemas import AnswerPage
from service.settings import Settings
from service.ttl_cache import TTLCache

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from service.auth import Authenticator
    from service.cohorts.store import CohortStore
    from service.ratelimit import RateLimiter
    from trial_cache.store import TrialStore


@dataclass
class ServiceState:
    """Everything the lifespan owns. ``redis``/``store``/``batch``/``cohorts`` are None
    when the app runs without Redis (tests with a fixed index).

    ``auth`` None means API keys are not checked: only an app built around a prepared
    state (tests, benchmarks) runs so; the lifespan always sets one. ``limiter`` None:
    no rate limits. ``match_pool`` is made from the settings on first use.
    """

    settings: Settings
    ontology: Ontology
    holder: IndexHolder
    answer_cache: TTLCache[AnswerPage]
    redis: Redis | None = None
    store: TrialStore | None = None
    batch: BatchQueue | None = None
    problems: list[str] = field(default_factory=list)
    notes: NoteReader = field(default_factory=NoteReader)
    """The clinic-note extractor, built on the first note request."""
    cohorts: CohortStore | None = None
    auth: Authenticator | None = None
    limiter: RateLimiter | None = None
    match_pool: MatchPool | None = None


class ServiceUnavailable(ServiceError):
    status_code = 503
    code = "unavailable"


def get_state(request: Request) -> ServiceState:
    state: ServiceState | None = getattr(request.app.state, "trialmatch", None)
    if state is None:
        raise ServiceUnavailable("The service is starting; try again in a moment.")
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_ontology(state: StateDep) -> Ontology:
    return state.ontology


def get_index(state: StateDep) -> LoadedIndex:
    """The current index snapshot; 503 ``index_not_ready`` until one is loaded."""
    return state.holder.require()


def get_today() -> date:
    """The day eligibility is judged against (UTC)."""
    return datetime.now(UTC).date()


def get_answer_cache(state: StateDep) -> TTLCache[AnswerPage]:
    return state.answer_cache


def get_notes(state: StateDep) -> NoteReader:
    return state.notes


def get_batch_queue(state: StateDep) -> BatchQueue:
    if state.batch is None:
        raise IndexNotReady("Batch jobs need Redis, which this instance runs without.")
    return state.batch


def get_cohort_store(state: StateDep) -> CohortStore:
    if state.cohorts is None:
        raise IndexNotReady("Cohorts need Redis, which this instance runs without.")
    return state.cohorts


def get_match_pool(state: StateDep) -> MatchPool:
    """The bounded matching pool (:mod:`service.match_pool`), made on first use."""
    if state.match_pool is None:
        s = state.settings
        state.match_pool = MatchPool(threads=s.match_threads, queue=s.match_queue,
                                     timeout_s=s.match_queue_timeout_s)
    return state.match_pool


SettingsDep = Annotated[Settings, Depends(get_settings)]
OntologyDep = Annotated[Ontology, Depends(get_ontology)]
IndexDep = Annotated[LoadedIndex, Depends(get_index)]
TodayDep = Annotated[date, Depends(get_today)]
AnswerCacheDep = Annotated[TTLCache[AnswerPage], Depends(get_answer_cache)]
BatchQueueDep = Annotated[BatchQueue, Depends(get_batch_queue)]
NotesDep = Annotated[NoteReader, Depends(get_notes)]
CohortStoreDep = Annotated["CohortStore", Depends(get_cohort_store)]
MatchPoolDep = Annotated[MatchPool, Depends(get_match_pool)]
