"""HTTP routes (``/v1/...``, ``/healthz``, ``/readyz``).

Routes are thin: validate input (pydantic / FastAPI), take what they need from
dependencies (:mod:`service.deps`), call :mod:`service.engine` / :mod:`service.search`
(CPU-bound work in the thread pool so the event loop stays free), shape the response.
Errors are raised, never formatted here: :mod:`service.errors` maps them to HTTP.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from matchers.geo import zip_to_latlon
from matchers.index import OPEN_STATUSES
from matchers.models import NCT_ID_PATTERN
from service.conditions import resolve_condition
from service.deps import (
    AnswerCacheDep,
    BatchQueueDep,
    IndexDep,
    MatchPoolDep,
    NotesDep,
    OntologyDep,
    SettingsDep,
    StateDep,
    TodayDep,
)
from service.engine import match_patient
from service.errors import InvalidParameter, TrialNotFound
from service.guards import BATCH, NAVIGATOR, PUBLIC
from service.schemas import (
    HER2_LOW_PATIENT,
    MESOTHELIOMA_PATIENT,
    NOTE_EXAMPLE,
    AnswerPage,
    AnswerTrial,
    BatchJob,
    BatchRequest,
    ConditionResolution,
    ExpandedAccessProgram,
    Health,
    IndexInfo,
    MatchRequest,
    MatchResponse,
    Readiness,
    TrialDetail,
    TrialListItem,
    TrialPage,
    study_url,
)
from service.search import TrialQuery, answer_trials, expanded_access, not_ruled_out, search
from service.settings import Settings
from trial_cache.models import OverallStatus, Phase, StudyType

KM_PER_MILE = 1.609344

_ERR = {"description": "Error; the body's `message` says what to fix."}
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _ERR,
    422: {"description": "Invalid input; `message` and `detail[].loc` name the field."},
    503: {"description": "No trials loaded yet, or Redis unavailable."},
}

router = APIRouter()


def _checked_limit(limit: int, settings: Settings) -> int:
    """``limit`` if within ``max_match_limit``, else 422 naming ``body.limit``."""
    if limit > settings.max_match_limit:
        raise InvalidParameter(["body", "limit"], f"at most {settings.max_match_limit}")
    return limit


# --------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------


@router.post(
    "/v1/match",
    response_model=MatchResponse,
    tags=["match"],
    summary="Rank trials for one patient",
    responses={422: _ERRORS[422], 503: _ERRORS[503]},
    dependencies=[NAVIGATOR],
)
async def match(
    body: Annotated[
        MatchRequest,
        Body(
            openapi_examples={
                "mesothelioma": {
                    "summary": "Epithelioid pleural mesothelioma, stage II, ECOG 1",
                    "value": {"patient": MESOTHELIOMA_PATIENT, "limit": 5},
                },
                "her2_low": {
                    "summary": "HER2-low metastatic breast cancer after a CDK4/6 inhibitor",
                    "value": {"patient": HER2_LOW_PATIENT, "limit": 5},
                },
                "note": {
                    "summary": "A clinic note instead of a profile",
                    "value": {"note": NOTE_EXAMPLE, "limit": 5},
                },
            }
        ),
    ],
    loaded: IndexDep,
    ontology: OntologyDep,
    settings: SettingsDep,
    today: TodayDep,
    notes: NotesDep,
    pool: MatchPoolDep,
) -> MatchResponse:
    """Evaluate every open trial against the patient and return them best first:
    eligible and possibly eligible trials share one tier ordered by score (eligible ones
    get a bonus, ``matchers.rank.ELIGIBLE_BONUS``), then status and distance; ineligible
    trials come last. When closed trials are requested too (``include_closed``,
    ``statuses``), open trials come before closed ones within each tier.

    Each result has a ``verdict`` (eligible / possibly_eligible / ineligible), a
    ``score`` in [0, 1], every criterion with its status, reason and ``span`` (character
    offsets into the trial's eligibility text, see ``GET /v1/trials/{nct_id}``), the
    ``questions`` that would settle unknown key criteria, and the nearest open site when
    the patient gave a ``zip`` or ``lat``/``lon``.

    With ``note`` instead of ``patient``, the note is read first (as
    ``POST /v1/patients/extract`` does) and ``extraction`` shows what was read, with
    evidence; a note naming no cancer type is a 422 on ``body.note``.

    Errors: 422 for an unknown or misspelt field (``detail[].loc`` names it, e.g.
    ``["body", "patient", "ecgo"]``) and for a cancer type that resolves to nothing
    (``error: invalid_patient`` with ``suggestions``); 503 before trials are loaded,
    and 503 ``matching_busy`` with ``Retry-After`` when the bounded matching pool is
    full (:mod:`service.match_pool`). Needs an API key with scope ``navigator``.
    Patient data is not logged, cached or stored.
    """
    limit = _checked_limit(
        body.limit if body.limit is not None else settings.default_match_limit, settings
    )
    statuses = [s.value for s in body.statuses] if body.statuses else None
    extraction = None
    patient = body.patient
    if body.note is not None:
        extraction = await notes.extract(body.note, ontology=ontology,
                                         settings=settings.matcher, today=today)
        patient = extraction.profile
        if patient is None:
            raise InvalidParameter(["body", "note"], "no cancer type found in the note; name "
                                   "the diagnosis in it or send a 'patient' profile")
    assert patient is not None
    ranked = await pool.run(
        match_patient,
        loaded,
        ontology,
        patient,
        today=today,
        limit=limit,
        statuses=statuses,
        include_closed=body.include_closed,
    )
    return MatchResponse(
        results=list(ranked.results), total=ranked.total, questions=list(ranked.questions),
        generation=loaded.generation, as_of=today, extraction=extraction,
    )


# --------------------------------------------------------------------------------------
# Trials
# --------------------------------------------------------------------------------------


@router.get(
    "/v1/trials",
    response_model=TrialPage,
    tags=["trials"],
    summary="Search trials (navigator)",
    responses={404: _ERRORS[404], 422: _ERRORS[422], 503: _ERRORS[503]},
    dependencies=[NAVIGATOR],
)
async def list_trials(
    loaded: IndexDep,
    ontology: OntologyDep,
    condition: Annotated[
        str | None,
        Query(max_length=200, description="Cancer type: words, an OncoTree code or a slug.",
              examples=["pleural mesothelioma"]),
    ] = None,
    status_: Annotated[
        list[OverallStatus] | None,
        Query(alias="status", max_length=len(OverallStatus),
              description="Repeatable. Default: open statuses "
              "(RECRUITING, NOT_YET_RECRUITING, ENROLLING_BY_INVITATION, AVAILABLE)."),
    ] = None,
    include_closed: Annotated[
        bool, Query(description="With no `status`: every status, not only open ones.")
    ] = False,
    phase: Annotated[
        list[Phase] | None, Query(max_length=len(Phase), description="Repeatable; any of them.")
    ] = None,
    study_type: Annotated[
        list[StudyType] | None, Query(max_length=len(StudyType), description="Repeatable.")
    ] = None,
    zip_: Annotated[
        str | None,
        Query(alias="zip", pattern=r"^\d{5}(-\d{4})?$", description="US ZIP code.",
              examples=["10032"]),
    ] = None,
    distance_km: Annotated[float | None, Query(gt=0, le=20_000)] = None,
    distance_mi: Annotated[float | None, Query(gt=0, le=12_500)] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Words that must all occur in the NCT id, "
              "titles, conditions, keywords or interventions.", examples=["pembrolizumab"]),
    ] = None,
    include_generic: Annotated[
        bool, Query(description="With `condition`: add basket trials (any solid tumour).")
    ] = False,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TrialPage:
    """Filter the loaded trials; results are paginated (``page`` from 1).

    With ``zip`` the nearest open site is reported and results sort by its distance;
    ``distance_km`` or ``distance_mi`` (one of them, and only with ``zip``) drops
    trials without an open site that near. Errors: 404 ``unknown_condition`` with the
    nearest matches; 422 for a bad parameter (named in ``detail[].loc``).
    """
    if distance_km is not None and distance_mi is not None:
        raise InvalidParameter(
            ["query", "distance_mi"], "give distance_km or distance_mi, not both"
        )
    max_km = distance_km if distance_km is not None else (
        distance_mi * KM_PER_MILE if distance_mi is not None else None
    )
    near = None
    if zip_ is not None:
        near = zip_to_latlon(zip_)
        if near is None:
            raise InvalidParameter(["query", "zip"], f"unknown US ZIP code {zip_!r}")
    elif max_km is not None:
        raise InvalidParameter(
            ["query", "distance_km" if distance_km is not None else "distance_mi"],
            "a distance needs a zip",
        )
    resolved = resolve_condition(ontology, condition)[0] if condition else None
    if status_:
        statuses: frozenset[str] | None = frozenset(s.value for s in status_)
    else:
        statuses = None if include_closed else OPEN_STATUSES
    query = TrialQuery(
        codes=tuple(resolved.covers) if resolved else (),
        statuses=statuses,
        phases=frozenset(p.value for p in phase) if phase else None,
        study_types=frozenset(t.value for t in study_type) if study_type else None,
        text=q,
        near=near,
        max_km=max_km,
        include_generic=include_generic,
    )
    hits = await run_in_threadpool(search, loaded.index, loaded.search, query, ontology)
    start = (page - 1) * page_size
    items = [
        TrialListItem(
            nct_id=h.trial.summary.nct_id,
            title=h.trial.summary.title,
            overall_status=h.trial.summary.overall_status,
            study_type=h.trial.summary.study_type,
            phases=list(h.trial.summary.phases),
            conditions=list(h.trial.summary.conditions),
            last_update=h.trial.summary.last_update,
            url=study_url(h.trial.summary.nct_id),
            nearest_site=h.nearest,
        )
        for h in hits[start : start + page_size]
    ]
    pages = math.ceil(len(hits) / page_size)
    return TrialPage(
        items=items,
        total=len(hits),
        page=page,
        page_size=page_size,
        next_page=page + 1 if page < pages else None,
        condition=resolved,
        generation=loaded.generation,
    )


@router.get(
    "/v1/trials/{nct_id}",
    response_model=TrialDetail,
    tags=["trials"],
    summary="One trial's structured eligibility",
    responses={404: _ERRORS[404], 422: _ERRORS[422], 503: _ERRORS[503]},
    dependencies=[NAVIGATOR],
)
async def get_trial(
    nct_id: Annotated[
        str,
        Path(pattern=NCT_ID_PATTERN, description="NCT followed by 8 digits.",
             examples=["NCT04613596"]),
    ],
    loaded: IndexDep,
) -> TrialDetail:
    """The trial's summary and every parsed criterion with its facts and spans
    (``[start, end)`` into ``summary.eligibility_text``). 404 ``trial_not_found`` if it
    is not loaded; 422 for a malformed id."""
    trial = loaded.index.get(nct_id)
    if trial is None:
        raise TrialNotFound(nct_id)
    criteria = list(trial.parsed.criteria)
    interpreted = sum(1 for c in criteria if c.facts)
    return TrialDetail(
        nct_id=nct_id,
        url=study_url(nct_id),
        summary=trial.summary,
        parser_version=trial.parsed.parser_version,
        criteria=criteria,
        conditions=[f.model_dump(mode="json") for f in trial.parsed.conditions],
        condition_text=trial.parsed.condition_text,
        oncotree_codes=list(trial.oncotree_codes),
        interpreted=interpreted,
        uninterpreted=len(criteria) - interpreted,
        generation=loaded.generation,
    )


# --------------------------------------------------------------------------------------
# Conditions and answer pages
# --------------------------------------------------------------------------------------


@router.get(
    "/v1/conditions/resolve",
    response_model=ConditionResolution,
    tags=["conditions"],
    summary="Resolve a cancer type to an OncoTree node",
    responses={404: _ERRORS[404], 422: _ERRORS[422]},
    dependencies=[PUBLIC],
)
async def resolve(
    ontology: OntologyDep,
    q: Annotated[
        str,
        Query(min_length=1, max_length=200, description="Words, an OncoTree code or a slug.",
              examples=["Desmoid_tumors"]),
    ],
) -> ConditionResolution:
    """The best OncoTree node for ``q`` and up to four alternatives. 404
    ``unknown_condition`` with ``suggestions`` (code and name) when nothing matches."""
    condition, alternatives = resolve_condition(ontology, q)
    return ConditionResolution(query=q, condition=condition, alternatives=alternatives)


@router.get(
    "/v1/answer-page",
    response_model=AnswerPage,
    tags=["conditions"],
    summary="Payload for a condition's answer page (cached)",
    responses={404: _ERRORS[404], 422: _ERRORS[422], 503: _ERRORS[503]},
    dependencies=[PUBLIC],
)
async def answer_page(
    response: Response,
    loaded: IndexDep,
    ontology: OntologyDep,
    settings: SettingsDep,
    cache: AnswerCacheDep,
    today: TodayDep,
    condition: Annotated[
        str,
        Query(min_length=1, max_length=200, description="A condition slug or words.",
              examples=["Desmoid_tumors"]),
    ],
) -> AnswerPage:
    """The resolved condition, its top recruiting trials (trials naming the node or a
    descendant before those naming an ancestor, then later phase first, then most
    recently updated; at most ``TRIALMATCH_ANSWER_PAGE_TRIALS``) and the
    expanded-access programs AVAILABLE now (from ``EXPANDED_ACCESS`` records and from
    trials' expanded-access links). Biomarker qualifiers of the condition
    ("Her__low_breast_cancer": HER2-low) drop the trials they rule out, as the matcher
    judges them for a patient with that cancer and those results.

    Cached in process per (resolved condition, index generation) for
    ``TRIALMATCH_ANSWER_PAGE_TTL_S`` seconds; ``Cache-Control: public, max-age=<left>``
    lets a CDN cache it too. 404 ``unknown_condition`` with the nearest matches.
    """
    resolved, _ = resolve_condition(ontology, condition)
    codes = tuple(resolved.covers)
    qualifiers = tuple(sorted(resolved.biomarkers.items()))
    key = (codes, resolved.code, qualifiers, loaded.generation, id(loaded))
    page = cache.get(key)
    if page is None:

        def build() -> tuple[list[AnswerTrial], int, list[ExpandedAccessProgram]]:
            hits = answer_trials(loaded.index, loaded.search, codes, ontology)
            if qualifiers:
                # "HER2-low breast cancer": not the trials the qualifiers rule out
                hits = not_ruled_out(loaded.index, hits, resolved.code, dict(qualifiers),
                                     ontology, today)
            trials = [
                AnswerTrial(
                    nct_id=h.trial.summary.nct_id,
                    title=h.trial.summary.title,
                    status=h.trial.summary.overall_status,
                    phases=list(h.trial.summary.phases),
                    url=study_url(h.trial.summary.nct_id),
                    last_update=h.trial.summary.last_update,
                )
                for h in hits[: settings.answer_page_trials]
            ]
            programs = [
                ExpandedAccessProgram(
                    nct_id=e.nct_id,
                    title=e.title,
                    status="AVAILABLE",
                    url=study_url(e.nct_id),
                    source="record" if e.source == "record" else "linked",
                    linked_from=list(e.linked_from),
                )
                for e in expanded_access(loaded.index, loaded.search, codes, ontology)
            ]
            return trials, len(hits), programs

        trials, total, programs = await run_in_threadpool(build)
        page = AnswerPage(
            condition=resolved,
            trials=trials,
            total_recruiting=total,
            expanded_access=programs,
            generation=loaded.generation,
            generated_at=datetime.now(UTC),
        )
        cache.put(key, page)
    max_age = int(cache.remaining_s(key)) if cache.ttl_s else 0
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return page


# --------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------


@router.post(
    "/v1/batch",
    response_model=BatchJob,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["batch"],
    summary="Queue a cohort for background matching",
    responses={422: _ERRORS[422], 503: _ERRORS[503]},
    dependencies=[BATCH],
)
async def submit_batch(
    body: BatchRequest, queue: BatchQueueDep, settings: SettingsDep
) -> BatchJob:
    """Queue the cohort for the arq worker (``trialmatch worker``); poll
    ``GET /v1/batch/{job_id}``. The cohort and its results live in Redis for
    ``TRIALMATCH_BATCH_RESULT_TTL_S`` seconds (default 24 h), then expire.
    """
    if len(body.patients) > settings.batch_max_patients:
        raise InvalidParameter(["body", "patients"], f"at most {settings.batch_max_patients}")
    limit = _checked_limit(
        body.limit if body.limit is not None else min(10, settings.default_match_limit), settings
    )
    return await queue.submit(body, limit=limit)


@router.get(
    "/v1/batch/{job_id}",
    response_model=BatchJob,
    tags=["batch"],
    summary="A batch job's status and results",
    responses={404: _ERRORS[404], 422: _ERRORS[422]},
    dependencies=[BATCH],
)
async def get_batch(
    job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], queue: BatchQueueDep
) -> BatchJob:
    """``queued`` → ``running`` → ``complete`` (with ``results``) or ``failed``. 404
    once expired."""
    return await queue.get(job_id)


# --------------------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------------------


@router.get("/healthz", response_model=Health, tags=["health"], summary="Process is up")
async def healthz() -> Health:
    """Always 200 while the process serves HTTP."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["health"],
    summary="Redis answers and an index is loaded",
    responses={503: {"model": Readiness, "description": "Not ready; `problems` says why."}},
)
async def readyz(state: StateDep, response: Response) -> Readiness:
    """200 when Redis answers PING (within 1 s) and a trial index is loaded, else 503
    with ``problems`` listing what is missing."""
    problems = list(state.problems)
    redis_ok = False
    if state.redis is not None:
        try:
            redis_ok = bool(await asyncio.wait_for(state.redis.ping(), timeout=1.0))
        except Exception as exc:  # any failure means "not ready", with its class
            problems.append(f"redis: {type(exc).__name__}")
    else:
        problems.append("redis: not configured")
    current = state.holder.current
    if current is None:
        problems.append("index: not loaded (run `trialmatch import PATH` or `trialmatch sync`)")
    info = IndexInfo(
        generation=current.generation if current else None,
        trials=len(current) if current else 0,
        loaded_at=current.loaded_at if current else None,
        parser_version=current.parser_version if current else None,
    )
    ready = redis_ok and current is not None
    response.status_code = 200 if ready else 503
    return Readiness(
        status="ready" if ready else "not_ready", redis=redis_ok, index=info, problems=problems
    )
