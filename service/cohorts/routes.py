"""``/v1/cohorts/...``: register cohorts, queue runs, read runs, results and diffs.

Every route needs an API key with scope ``batch`` (or ``admin``). Responses carry ids,
counts, NCT IDs and verdicts; a cohort's profiles are never returned (``GET`` lists
member ids only). Errors: 404 ``cohort_not_found`` / ``run_not_found``, 409
``run_in_progress``, 422 for a bad body or an id that is not an opaque token
(:mod:`service.cohorts.ids`), 503 ``cohort_key_missing`` without
``TRIALMATCH_COHORT_KEYS``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from service.cohorts.errors import RunNotFound
from service.cohorts.ids import check_opaque_id
from service.cohorts.jobs import start_run
from service.cohorts.models import (
    CohortInfo,
    CohortList,
    CohortPut,
    DiffKind,
    RunDiff,
    RunList,
    RunRecord,
    RunResults,
)
from service.cohorts.store import CohortStore
from service.deps import CohortStoreDep, SettingsDep, StateDep
from service.errors import IndexNotReady, InvalidParameter
from service.guards import BATCH

router = APIRouter(prefix="/v1/cohorts", tags=["cohorts"], dependencies=[BATCH])

_ERR = {"description": "Error; the body's `message` says what to fix."}
_RESPONSES: dict[int | str, dict[str, str]] = {401: _ERR, 403: _ERR, 404: _ERR, 422: _ERR,
                                                503: _ERR}
RUN_ID_PATTERN = r"^(r[0-9a-f]{24}|latest)$"

CohortIdPath = Annotated[str, Path(min_length=1, max_length=64, examples=["c7-0042"])]
RunIdPath = Annotated[str, Path(pattern=RUN_ID_PATTERN,
                                description="A run id, or `latest` (last finished run).")]


def _cohort_id(value: str) -> str:
    try:
        return check_opaque_id(value)
    except ValueError as exc:
        raise InvalidParameter(["path", "cohort_id"], str(exc)) from None


async def _run_id(store: CohortStore, cohort_id: str, run_id: str) -> str:
    if run_id != "latest":
        return run_id
    meta = await store.meta(cohort_id)
    if meta.last_completed_run_id is None:
        raise RunNotFound(cohort_id, "latest")
    return meta.last_completed_run_id


@router.get("", response_model=CohortList, summary="Registered cohort ids",
            responses=_RESPONSES)
async def list_cohorts(store: CohortStoreDep) -> CohortList:
    return CohortList(cohorts=await store.list_ids())


@router.put("/{cohort_id}", response_model=CohortInfo, summary="Register or replace a cohort",
            responses=_RESPONSES)
async def put_cohort(
    cohort_id: CohortIdPath, body: Annotated[CohortPut, Body()], store: CohortStoreDep,
    settings: SettingsDep,
) -> CohortInfo:
    """Store the cohort (profiles encrypted at rest) for the nightly run
    (``TRIALMATCH_BATCH_CRON``) and on-demand runs. Replacing keeps its runs: the next
    run diffs against the last one. At most ``TRIALMATCH_COHORT_MAX_MEMBERS`` members;
    ids must be opaque tokens (no names, MRNs, e-mails or dates)."""
    cohort_id = _cohort_id(cohort_id)
    if len(body.members) > settings.cohort_max_members:
        raise InvalidParameter(["body", "members"], f"at most {settings.cohort_max_members}")
    meta = await store.put(cohort_id, body, default_limit=settings.batch_match_limit)
    return CohortInfo.of(meta)


@router.get("/{cohort_id}", response_model=CohortInfo, summary="A cohort (member ids only)",
            responses=_RESPONSES)
async def get_cohort(cohort_id: CohortIdPath, store: CohortStoreDep) -> CohortInfo:
    cohort_id = _cohort_id(cohort_id)
    meta = await store.meta(cohort_id)
    return CohortInfo.of(meta, await store.member_ids(cohort_id))


@router.delete("/{cohort_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a cohort with its runs and results", responses=_RESPONSES)
async def delete_cohort(cohort_id: CohortIdPath, store: CohortStoreDep) -> Response:
    await store.delete(_cohort_id(cohort_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{cohort_id}/runs", response_model=RunRecord,
             status_code=status.HTTP_202_ACCEPTED, summary="Queue a run now",
             responses={**_RESPONSES, 409: _ERR})
async def post_run(cohort_id: CohortIdPath, store: CohortStoreDep, state: StateDep) -> RunRecord:
    """Split the cohort into shards and queue them for the workers (``trialmatch
    worker``; several share a run). Poll ``GET .../runs/{run_id}``; 409 if a run of
    this cohort is still in progress."""
    cohort_id = _cohort_id(cohort_id)
    if state.batch is None:
        raise IndexNotReady("Runs need Redis, which this instance runs without.")
    generation = (await state.store.current_generation() if state.store is not None
                  else state.holder.current.generation if state.holder.current else None)
    return await start_run(store, state.batch.pool, cohort_id, settings=state.settings,
                           generation=generation, trigger="api")


@router.get("/{cohort_id}/runs", response_model=RunList, summary="Runs, newest first",
            responses=_RESPONSES)
async def list_runs(cohort_id: CohortIdPath, store: CohortStoreDep) -> RunList:
    return RunList(runs=await store.runs(_cohort_id(cohort_id)))


@router.get("/{cohort_id}/runs/{run_id}", response_model=RunRecord,
            summary="A run: status and shards done / failed / pending", responses=_RESPONSES)
async def get_run(cohort_id: CohortIdPath, run_id: RunIdPath, store: CohortStoreDep) -> RunRecord:
    cohort_id = _cohort_id(cohort_id)
    return await store.run(await _run_id(store, cohort_id, run_id), cohort_id=cohort_id)


@router.get("/{cohort_id}/runs/{run_id}/results", response_model=RunResults,
            summary="Each member's ranked matches in a run", responses=_RESPONSES)
async def get_results(
    cohort_id: CohortIdPath, run_id: RunIdPath, store: CohortStoreDep,
    member: Annotated[list[str] | None, Query(description="Member ids (repeatable).")] = None,
) -> RunResults:
    cohort_id = _cohort_id(cohort_id)
    run_id = await _run_id(store, cohort_id, run_id)
    await store.run(run_id, cohort_id=cohort_id)
    results = await store.results(run_id, member)
    return RunResults(run_id=run_id, cohort_id=cohort_id,
                      results=[results[m] for m in sorted(results)])


@router.get("/{cohort_id}/runs/{run_id}/diff", response_model=RunDiff,
            summary="What changed since the previous run", responses=_RESPONSES)
async def get_diff(
    cohort_id: CohortIdPath, run_id: RunIdPath, store: CohortStoreDep,
    member: Annotated[list[str] | None, Query(description="Member ids (repeatable).")] = None,
    kind: Annotated[list[DiffKind] | None, Query(description="Entry kinds (repeatable).")]
    = None,
) -> RunDiff:
    """Entries per member: ``new_match``, ``lost_match`` (with ``reason``: trial_closed,
    trial_removed, trial_updated, criteria_not_met, ranked_out), ``verdict_changed``,
    ``trial_changed`` (``changes``: status, sites). ``counts`` covers the whole run."""
    cohort_id = _cohort_id(cohort_id)
    run_id = await _run_id(store, cohort_id, run_id)
    record = await store.run(run_id, cohort_id=cohort_id)
    entries = await store.diff_entries(run_id, member)
    if kind:
        wanted = set(kind)
        entries = [e for e in entries if e.kind in wanted]
    return RunDiff(run_id=run_id, cohort_id=cohort_id, previous_run_id=record.previous_run_id,
                   generation=record.generation, counts=record.diff, entries=entries)
