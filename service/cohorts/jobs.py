"""The arq side of cohort runs: starting a run, the shard and finish jobs, the cron.

Jobs (registered by :func:`service.worker.make_worker` on the namespace's queue):

* ``match_shard(run_id, shard)`` — match one shard's members and commit results and
  diffs (:meth:`CohortStore.commit_shard`: once, atomically). Idempotent: a shard that
  is already done or failed is skipped. arq retries it when it raises or when its
  worker died (the in-progress key expires ``TRIALMATCH_BATCH_SHARD_TIMEOUT_S`` + 10 s
  after the start); it is registered with ``max_tries`` one above
  ``TRIALMATCH_BATCH_SHARD_MAX_TRIES`` so that the extra try, which only happens after
  that many lost or failed attempts, marks the shard ``failed`` instead of running it.
* ``finish_run(run_id)`` — enqueued (job id ``{ns}:finish:{run}``) by whichever shard
  leaves none unfinished: final status, retention, run-finished webhook.
* ``nightly_runs`` — arq cron at ``TRIALMATCH_BATCH_CRON`` (UTC; unique across workers):
  :func:`start_run` for every registered cohort (a cohort with a run in progress is
  skipped).

Patient data stays inside the worker's memory while it matches: profiles are
decrypted per shard and never logged; logs name run ids, shard numbers and counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from arq.connections import ArqRedis
from arq.worker import Retry
from pydantic import ValidationError

from matchers.errors import MatcherError
from matchers.index import TrialIndex
from matchers.models import Verdict
from matchers.patient import PatientProfile
from service.batch import queue_name
from service.cohorts.diff import member_diff, trial_state
from service.cohorts.errors import RunInProgress
from service.cohorts.models import (
    CompactMatch,
    DiffEntry,
    MemberResult,
    RunRecord,
    ShardRecord,
    ShardState,
    TrialState,
)
from service.cohorts.store import CohortStore
from service.cohorts.webhook import send_run_webhook
from service.engine import LoadedIndex, match_patient
from service.errors import IndexNotReady, ServiceError
from service.search import SearchData
from service.settings import Settings

if TYPE_CHECKING:
    from ontologies import Ontology
    from service.worker import WorkerRuntime

log = logging.getLogger("trialmatch.cohorts")

MATCH_SHARD = "match_shard"
FINISH_RUN = "finish_run"
NIGHTLY_RUNS = "nightly_runs"

_ONE_TRIAL_CACHE = 4096
"""One-trial indexes kept per worker (for the verdict of a lost match)."""


def worker_name() -> str:
    """``host:pid`` of this process, as recorded on the shards it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class CohortRuntime:
    """What the cohort jobs need besides :class:`service.worker.WorkerRuntime`.

    ``http`` sends webhooks (tests pass a client on ``httpx.MockTransport``).
    """

    store: CohortStore
    http: httpx.AsyncClient
    _states: tuple[int, dict[str, TrialState]] | None = None
    _one: OrderedDict[tuple[int, str], LoadedIndex] = field(default_factory=OrderedDict)

    def trial_states(self, loaded: LoadedIndex) -> dict[str, TrialState]:
        """Every trial's :class:`TrialState` in ``loaded`` (computed once per index)."""
        if self._states is None or self._states[0] != id(loaded):
            self._states = (id(loaded), {t.summary.nct_id: trial_state(t)
                                         for t in loaded.index})
        return self._states[1]

    def one_trial(self, loaded: LoadedIndex, nct_id: str, ontology: Ontology) -> LoadedIndex | None:
        """A snapshot holding only ``nct_id`` of ``loaded`` (so ``match_patient`` gives
        that trial's verdict for a patient), or None if the trial is not in it."""
        key = (id(loaded), nct_id)
        hit = self._one.get(key)
        if hit is not None:
            self._one.move_to_end(key)
            return hit
        trial = loaded.index.get(nct_id)
        if trial is None:
            return None
        index = TrialIndex([trial], ontology)
        one = LoadedIndex(index=index, search=SearchData.build(index, ontology),
                          generation=loaded.generation, parser_version=loaded.parser_version,
                          loaded_at=loaded.loaded_at)
        self._one[key] = one
        if len(self._one) > _ONE_TRIAL_CACHE:
            self._one.popitem(last=False)
        return one


# --------------------------------------------------------------------------------------
# Starting a run
# --------------------------------------------------------------------------------------


async def start_run(
    store: CohortStore,
    pool: ArqRedis,
    cohort_id: str,
    *,
    settings: Settings,
    generation: int | None,
    trigger: Literal["api", "cron", "cli"],
    enqueue: bool = True,
) -> RunRecord:
    """Create the run (:meth:`CohortStore.create_run`) and queue one ``match_shard``
    job per shard (not with ``enqueue=False``: the caller runs the shards itself).
    Raises :class:`RunInProgress`, :class:`CohortNotFound`,
    :class:`trial_cache.errors.StoreError`."""
    record = await store.create_run(
        cohort_id, trigger=trigger, generation=generation, shard_size=settings.batch_shard_size
    )
    if not enqueue:
        return record
    queue = queue_name(store.keys.namespace)
    for n in range(record.shards.total):
        await pool.enqueue_job(
            MATCH_SHARD, record.run_id, n,
            _job_id=store.keys.shard_job_id(record.run_id, n), _queue_name=queue,
        )
    log.info("run %s of cohort %s queued: %d members in %d shards (%s)", record.run_id,
             cohort_id, record.members, record.shards.total, trigger)
    return record


# --------------------------------------------------------------------------------------
# Matching a shard
# --------------------------------------------------------------------------------------


def _compact(profile: PatientProfile, loaded: LoadedIndex, ontology: Ontology, *,
             member_id: str, today: date, limit: int, include_closed: bool) -> MemberResult:
    ranked = match_patient(loaded, ontology, profile, today=today, limit=limit,
                           include_closed=include_closed)
    return MemberResult(
        member_id=member_id,
        matches=[
            CompactMatch(nct_id=m.nct_id, verdict=m.verdict.value, score=m.score,
                         overall_status=m.overall_status, questions=list(m.questions))
            for m in ranked.results if m.verdict is not Verdict.INELIGIBLE
        ],
        total=ranked.total,
    )


def match_members(
    loaded: LoadedIndex,
    ontology: Ontology,
    profiles: dict[str, bytes],
    member_ids: list[str],
    *,
    today: date,
    limit: int,
    include_closed: bool,
) -> tuple[list[MemberResult], dict[str, PatientProfile]]:
    """Rank ``loaded`` for each member (CPU-bound; run in a thread). A member whose
    profile does not validate or resolve gets an ``error`` result naming the field
    (never its value); a member missing from ``profiles`` gets ``profile missing``."""
    out: list[MemberResult] = []
    valid: dict[str, PatientProfile] = {}
    for member_id in member_ids:
        raw = profiles.get(member_id)
        if raw is None:
            out.append(MemberResult(member_id=member_id, error="profile missing"))
            continue
        try:
            profile = PatientProfile.model_validate_json(raw)
            out.append(_compact(profile, loaded, ontology, member_id=member_id, today=today,
                                limit=limit, include_closed=include_closed))
            valid[member_id] = profile
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            out.append(MemberResult(member_id=member_id, error=f"invalid patient: {fields}"))
        except MatcherError as exc:
            # PatientProfileError names the field and suggestions, not patient data.
            out.append(MemberResult(member_id=member_id, error=str(exc)))
    return out, valid


def diff_members(
    runtime: CohortRuntime,
    loaded: LoadedIndex,
    ontology: Ontology,
    *,
    results: list[MemberResult],
    profiles: dict[str, PatientProfile],
    previous: dict[str, MemberResult],
    previous_trials: dict[str, TrialState],
    today: date,
) -> dict[str, list[DiffEntry]]:
    """Each member's diff against ``previous`` (CPU-bound: a lost match may need the
    member's verdict on that one trial)."""
    current_trials = runtime.trial_states(loaded)
    out: dict[str, list[DiffEntry]] = {}
    for result in results:
        profile = profiles.get(result.member_id)

        def verdict_of(nct_id: str, profile: PatientProfile | None = profile) -> str | None:
            one = runtime.one_trial(loaded, nct_id, ontology)
            if one is None or profile is None:
                return None
            ranked = match_patient(one, ontology, profile, today=today, limit=1,
                                   include_closed=True)
            return ranked.results[0].verdict.value if ranked.results else None

        entries = member_diff(
            previous=previous.get(result.member_id), current=result,
            previous_trials=previous_trials, current_trials=current_trials,
            verdict_of=verdict_of,
        )
        if entries:
            out[result.member_id] = entries
    return out


async def _finish_if_last(ctx: dict[str, Any], store: CohortStore, run_id: str) -> None:
    # ``ctx["local"]``: shards run in this process (``trialmatch batch run --local``),
    # which calls finish_run itself.
    if not ctx.get("local") and await store.unfinished_shards(run_id) == 0:
        pool: ArqRedis = ctx["redis"]
        await pool.enqueue_job(FINISH_RUN, run_id, _job_id=store.keys.finish_job_id(run_id),
                               _queue_name=queue_name(store.keys.namespace))


async def _fail(ctx: dict[str, Any], store: CohortStore, run_id: str, shard: int,
                members: int, attempts: int, error: str) -> None:
    await store.set_shard_state(run_id, ShardRecord(
        shard=shard, state=ShardState.FAILED, members=members, attempts=attempts,
        worker=worker_name(), finished_at=datetime.now(UTC), error=error))
    log.warning("run %s shard %d failed: %s", run_id, shard, error)
    await _finish_if_last(ctx, store, run_id)


async def match_shard(ctx: dict[str, Any], run_id: str, shard: int) -> dict[str, int]:
    """arq job: match shard ``shard`` of run ``run_id`` (module docstring). Returns
    counts ``{"matched", "failed", "committed"}``.

    arq itself retries only jobs that raise :class:`arq.worker.Retry` (or whose worker
    died); any other exception would end the job for good and leave the shard
    ``running``. So every failure of an attempt — Redis, a bug, or the attempt
    outliving 90 % of ``TRIALMATCH_BATCH_SHARD_TIMEOUT_S`` (before arq's own timeout,
    which would also end the job for good) — becomes a ``Retry`` with a backoff of
    5 s × the attempt number, and the last attempt marks the shard failed instead.
    """
    runtime: WorkerRuntime = ctx["trialmatch"]
    cohorts = runtime.cohorts
    if cohorts is None:  # a worker without TRIALMATCH_COHORT_KEYS cannot open profiles
        raise Retry(defer=60)  # another worker (with the key) may take it
    settings = runtime.settings
    job_try: int = ctx.get("job_try", 1)
    try:
        async with asyncio.timeout(settings.batch_shard_timeout_s * 0.9):
            return await _match_shard(ctx, runtime, cohorts, run_id, shard, job_try)
    except Exception as exc:
        reason = exc.message if isinstance(exc, ServiceError) else (
            "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}")
        if job_try < settings.batch_shard_max_tries:
            log.warning("run %s shard %d, try %d: %s; retrying", run_id, shard, job_try,
                        reason)
            raise Retry(defer=5 * job_try) from exc
        try:
            members = await cohorts.store.shard_members(run_id, shard) or []
            await _fail(ctx, cohorts.store, run_id, shard, len(members), job_try,
                        f"{reason} (try {job_try})")
        except Exception as again:  # Redis still down: the extra try marks it failed
            raise Retry(defer=30) from again
        return {"matched": 0, "failed": len(members), "committed": 0}


async def _match_shard(ctx: dict[str, Any], runtime: WorkerRuntime, cohorts: CohortRuntime,
                       run_id: str, shard: int, job_try: int) -> dict[str, int]:
    store = cohorts.store
    settings = runtime.settings
    state = await store.shard_state(run_id, shard)
    members = await store.shard_members(run_id, shard)
    if state is None or members is None:
        log.info("run %s is gone; shard %d skipped", run_id, shard)
        return {"matched": 0, "failed": 0, "committed": 0}
    if state in (ShardState.DONE, ShardState.FAILED):
        await _finish_if_last(ctx, store, run_id)  # its first attempt may have died here
        return {"matched": 0, "failed": 0, "committed": 0}
    if job_try > settings.batch_shard_max_tries:
        await _fail(ctx, store, run_id, shard, len(members), job_try - 1,
                    f"gave up after {job_try - 1} attempts (worker lost or job failed)")
        return {"matched": 0, "failed": len(members), "committed": 0}
    started = datetime.now(UTC)
    running = ShardRecord(shard=shard, state=ShardState.RUNNING, members=len(members),
                          attempts=job_try, worker=worker_name(), started_at=started)
    await store.set_shard_state(run_id, running)
    try:
        loaded = await runtime.index()
    except IndexNotReady as exc:
        await _fail(ctx, store, run_id, shard, len(members), job_try, exc.message)
        return {"matched": 0, "failed": len(members), "committed": 0}
    run = await store.run(run_id)
    meta = await store.meta(run.cohort_id)
    profiles = await store.profiles(run_id, members)
    today = started.date()
    results, valid = await asyncio.to_thread(
        match_members, loaded, runtime.ontology, profiles, members, today=today,
        limit=meta.limit, include_closed=meta.include_closed)
    del profiles
    if loaded.generation is not None and not await store.has_gen_trials(loaded.generation):
        await store.write_gen_trials(loaded.generation, cohorts.trial_states(loaded).values())
    diffs: dict[str, list[DiffEntry]] = {}
    if run.previous_run_id is not None:
        previous = await store.results(run.previous_run_id, members)
        prev_run = await store.run(run.previous_run_id)
        prev_gen = prev_run.generations[-1] if prev_run.generations else prev_run.generation
        previous_trials: dict[str, TrialState] = {}
        if prev_gen is not None:
            ncts = {m.nct_id for r in (*results, *previous.values()) for m in r.matches}
            previous_trials = await store.gen_trials(prev_gen, ncts)
        diffs = await asyncio.to_thread(
            diff_members, cohorts, loaded, runtime.ontology, results=results, profiles=valid,
            previous=previous, previous_trials=previous_trials, today=today)
    del valid
    failed = sum(1 for r in results if r.error)
    done = running.model_copy(update={
        "state": ShardState.DONE, "matched": len(results) - failed, "failed": failed,
        "generation": loaded.generation, "finished_at": datetime.now(UTC)})
    committed = await store.commit_shard(run_id, done, results, diffs)
    log.info("run %s shard %d: %d members, %d failed, try %d%s", run_id, shard, len(results),
             failed, job_try, "" if committed else " (already committed: discarded)")
    await _finish_if_last(ctx, store, run_id)
    return {"matched": len(results) - failed, "failed": failed, "committed": int(committed)}


# --------------------------------------------------------------------------------------
# Finishing a run; the cron
# --------------------------------------------------------------------------------------


async def finish_run(ctx: dict[str, Any], run_id: str) -> dict[str, int]:
    """arq job: close the run (:meth:`CohortStore.finish`) and send its webhook. A
    failure (Redis) is retried (``Retry``, as for shards)."""
    runtime: WorkerRuntime = ctx["trialmatch"]
    cohorts = runtime.cohorts
    if cohorts is None:
        raise Retry(defer=60)
    try:
        record = await cohorts.store.finish(run_id,
                                            retention=runtime.settings.batch_run_retention)
    except Exception as exc:
        log.warning("finishing run %s: %s; retrying", run_id, type(exc).__name__)
        raise Retry(defer=5 * ctx.get("job_try", 1)) from exc
    if record is None:
        return {"finished": 0}
    log.info("run %s of cohort %s %s: %d matched, %d failed, %.1f s", run_id,
             record.cohort_id, record.status.value, record.matched, record.failed_members,
             record.duration_s or 0.0)
    try:
        meta = await cohorts.store.meta(record.cohort_id)
        hook = await cohorts.store.webhook(meta)
    except ServiceError:
        return {"finished": 1}
    if hook is not None:
        await send_run_webhook(cohorts.http, hook, record,
                               timeout_s=runtime.settings.webhook_timeout_s)
    return {"finished": 1}


async def nightly_runs(ctx: dict[str, Any]) -> dict[str, int]:
    """arq cron job: start a run of every registered cohort against the current index
    generation. Returns ``{"started", "skipped"}``."""
    runtime: WorkerRuntime = ctx["trialmatch"]
    cohorts = runtime.cohorts
    if cohorts is None:
        log.warning("nightly runs skipped: no TRIALMATCH_COHORT_KEYS on this worker")
        return {"started": 0, "skipped": 0}
    try:
        generation = (await runtime.index()).generation
    except IndexNotReady:
        generation = None
    started = skipped = 0
    for cohort_id in await cohorts.store.list_ids():
        try:
            await start_run(cohorts.store, ctx["redis"], cohort_id, settings=runtime.settings,
                            generation=generation, trigger="cron")
            started += 1
        except RunInProgress:
            skipped += 1
    log.info("nightly runs: %d started, %d skipped (run in progress)", started, skipped)
    return {"started": started, "skipped": skipped}


def parse_cron(expr: str) -> dict[str, set[int] | None]:
    """``minute hour day month weekday`` (UTC) → keyword arguments of ``arq.cron``.

    Each field is ``*``, a number, a range ``a-b``, a list ``a,b`` or a step ``*/n`` /
    ``a-b/n``; weekday 0 = Monday (arq's convention, unlike crontab's Sunday = 0).
    Raises ``ValueError`` naming the field.
    """
    names = ("minute", "hour", "day", "month", "weekday")
    bounds = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"TRIALMATCH_BATCH_CRON needs 5 fields (minute hour day month "
                         f"weekday), got {len(fields)}")
    out: dict[str, set[int] | None] = {}
    for name, (lo, hi), text in zip(names, bounds, fields, strict=True):
        if text == "*":
            out[name] = None
            continue
        values: set[int] = set()
        for part in text.split(","):
            base, _, step_text = part.partition("/")
            try:
                step = int(step_text) if step_text else 1
                if base == "*":
                    a, b = lo, hi
                elif "-" in base:
                    a, b = (int(x) for x in base.split("-", 1))
                else:
                    a = b = int(base)
            except ValueError:
                raise ValueError(f"TRIALMATCH_BATCH_CRON {name}: {part!r} is not a number, "
                                 "range or step") from None
            if not (lo <= a <= b <= hi) or step < 1:
                raise ValueError(f"TRIALMATCH_BATCH_CRON {name}: {part!r} outside {lo}-{hi}")
            values.update(range(a, b + 1, step))
        out[name] = values
    return out
