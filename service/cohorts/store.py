"""The Redis store of cohorts and runs (:class:`CohortStore`).

Layout: :mod:`service.cohorts.keys`. Patient data goes in and out of Redis only as
Fernet tokens (:class:`~service.cohorts.crypto.ProfileCipher`); a store built without a
cipher can list ids and read run records but raises
:class:`~service.cohorts.errors.CohortKeyMissing` for anything that encrypts or
decrypts. Redis failures raise :class:`trial_cache.errors.StoreError` (→ 503) and are
counted in ``trialmatch_redis_errors_total{component="cohorts"}``.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

import orjson
from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.cohorts.crypto import ProfileCipher
from service.cohorts.errors import (
    CohortKeyMissing,
    CohortNotFound,
    RunInProgress,
    RunNotFound,
)
from service.cohorts.keys import ACTIVE_TTL_S, CohortKeys
from service.cohorts.models import (
    FINISHED,
    CohortMeta,
    CohortPut,
    DiffEntry,
    MemberResult,
    RunRecord,
    RunStatus,
    ShardCounts,
    ShardRecord,
    ShardState,
    TrialState,
    WebhookConfig,
)
from service.metrics_registry import redis_error
from trial_cache.errors import StoreError

_T = TypeVar("_T")
_ENTRIES = TypeAdapter(list[DiffEntry])
_CHUNK = 1000
"""Fields per HSET/HMGET round trip."""

RUN_DURATION_BUCKETS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)
"""Upper bounds (seconds) of the run-duration histogram kept in ``{ns}:runs:stats``."""

# Commits a shard once: a no-op (returns 0) if the shard is already done or failed, so a
# retried shard whose first attempt got through never writes or counts twice; also a
# no-op if the shard does not exist (its run was deleted meanwhile: write no orphans).
# KEYS: shard-state, shard-info, results, diff, counts
# ARGV: shard no, ShardRecord JSON, n results, n diffs, then member/token pairs for the
#       results, member/token pairs for the diffs, then counter/increment pairs.
_COMMIT = """
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state or state == 'done' or state == 'failed' then return 0 end
local nres = tonumber(ARGV[3])
local ndiff = tonumber(ARGV[4])
local i = 5
for _ = 1, nres do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, ndiff do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]); i = i + 2 end
while i <= #ARGV do redis.call('HINCRBY', KEYS[5], ARGV[i], ARGV[i + 1]); i = i + 2 end
redis.call('HSET', KEYS[1], ARGV[1], 'done')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# Moves a shard to running or failed unless it is already terminal or does not exist.
# KEYS: shard-state, shard-info; ARGV: shard no, new state, ShardRecord JSON
_SET_STATE = """
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state or state == 'done' or state == 'failed' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


async def _r(reply: Awaitable[_T] | _T) -> _T:
    """Await a redis-py reply (its annotations are ``Awaitable[T] | T``)."""
    if inspect.isawaitable(reply):
        return await cast(Awaitable[_T], reply)
    return reply


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _redis_errors(action: str) -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        redis_error("cohorts")
        raise StoreError(f"{action}: Redis failed: {exc}") from exc


def new_run_id() -> str:
    """A random run id: ``r`` + 24 hex digits (an opaque token, sortable by nothing)."""
    return "r" + secrets.token_hex(12)


class CohortStore:
    """Cohorts, runs, shards, results and diffs in one Redis namespace.

    ``redis`` is a ``redis.asyncio.Redis`` (bytes or decoded replies); the store does
    not close it. ``cipher`` None: see the module docstring.
    """

    def __init__(self, redis: Redis, namespace: str, cipher: ProfileCipher | None) -> None:
        self._redis = redis
        self.keys = CohortKeys(namespace)
        self._cipher = cipher
        self._commit = redis.register_script(_COMMIT)
        self._set_state = redis.register_script(_SET_STATE)

    @property
    def cipher(self) -> ProfileCipher:
        if self._cipher is None:
            raise CohortKeyMissing()
        return self._cipher

    def _seal(self, data: bytes) -> bytes:
        return self.cipher.encrypt(data)

    def _open(self, token: bytes | str) -> bytes:
        return self.cipher.decrypt(token if isinstance(token, bytes) else token.encode())

    # ----------------------------------------------------------------------------------
    # Cohorts
    # ----------------------------------------------------------------------------------

    async def put(self, cohort_id: str, body: CohortPut, *, default_limit: int) -> CohortMeta:
        """Register or replace ``cohort_id`` (profiles encrypted; one MULTI/EXEC).
        Runs and their results are kept: the next run diffs against the last one."""
        cipher = self.cipher
        tokens = {
            m.id: cipher.encrypt(
                m.patient.model_dump_json(by_alias=True, exclude_none=True).encode()
            )
            for m in body.members
        }
        webhook = (
            cipher.encrypt(body.webhook.model_dump_json().encode()).decode()
            if body.webhook is not None else None
        )
        now = _now()
        try:
            old = await self.meta(cohort_id)
        except CohortNotFound:
            old = None
        meta = CohortMeta(
            cohort_id=cohort_id,
            members=len(tokens),
            limit=body.limit or default_limit,
            include_closed=body.include_closed,
            webhook_token=webhook,
            created_at=old.created_at if old else now,
            updated_at=now,
            last_run_id=old.last_run_id if old else None,
            last_completed_run_id=old.last_completed_run_id if old else None,
        )
        k = self.keys
        items = list(tokens.items())
        with _redis_errors(f"storing cohort {cohort_id}"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(k.members(cohort_id))
                for start in range(0, len(items), _CHUNK):
                    pipe.hset(k.members(cohort_id), mapping=dict(items[start:start + _CHUNK]))
                pipe.set(k.meta(cohort_id), meta.model_dump_json())
                pipe.sadd(k.cohorts, cohort_id)
                await pipe.execute()
        return meta

    async def meta(self, cohort_id: str) -> CohortMeta:
        """The cohort's record; raises :class:`CohortNotFound`."""
        with _redis_errors(f"reading cohort {cohort_id}"):
            raw = await _r(self._redis.get(self.keys.meta(cohort_id)))
        if raw is None:
            raise CohortNotFound(cohort_id)
        return CohortMeta.model_validate_json(raw)

    async def _save_meta(self, meta: CohortMeta) -> None:
        with _redis_errors(f"writing cohort {meta.cohort_id}"):
            await _r(self._redis.set(self.keys.meta(meta.cohort_id), meta.model_dump_json()))

    async def member_ids(self, cohort_id: str) -> list[str]:
        """The member ids, sorted; raises :class:`CohortNotFound`."""
        await self.meta(cohort_id)
        with _redis_errors(f"reading cohort {cohort_id}"):
            ids = await _r(self._redis.hkeys(self.keys.members(cohort_id)))
        return sorted(_s(i) for i in ids)

    async def list_ids(self) -> list[str]:
        with _redis_errors("listing cohorts"):
            ids = await _r(self._redis.smembers(self.keys.cohorts))
        return sorted(_s(i) for i in ids)

    async def webhook(self, meta: CohortMeta) -> WebhookConfig | None:
        if meta.webhook_token is None:
            return None
        return WebhookConfig.model_validate_json(self._open(meta.webhook_token))

    async def delete(self, cohort_id: str) -> int:
        """Delete the cohort, its profiles and every run with its results; returns the
        number of runs deleted. Raises :class:`CohortNotFound`."""
        await self.meta(cohort_id)
        k = self.keys
        with _redis_errors(f"deleting cohort {cohort_id}"):
            run_ids = [_s(r) for r in await _r(self._redis.zrange(k.runs(cohort_id), 0, -1))]
            async with self._redis.pipeline(transaction=True) as pipe:
                for run_id in run_ids:
                    pipe.delete(*k.run_parts(run_id))
                    pipe.srem(k.runs_active, run_id)
                pipe.delete(k.meta(cohort_id), k.members(cohort_id), k.runs(cohort_id),
                            k.active(cohort_id))
                pipe.srem(k.cohorts, cohort_id)
                await pipe.execute()
        await self.collect_gen_trials()
        return len(run_ids)

    # ----------------------------------------------------------------------------------
    # Runs
    # ----------------------------------------------------------------------------------

    async def create_run(
        self,
        cohort_id: str,
        *,
        trigger: Literal["api", "cron", "cli"],
        generation: int | None,
        shard_size: int,
    ) -> RunRecord:
        """Snapshot the cohort's profiles into a new run split into shards (all
        ``pending``). Raises :class:`RunInProgress` when the cohort has a run that has
        not finished, :class:`CohortNotFound`."""
        meta = await self.meta(cohort_id)
        k = self.keys
        run_id = new_run_id()
        with _redis_errors(f"starting a run of {cohort_id}"):
            if not await _r(self._redis.set(k.active(cohort_id), run_id, nx=True,
                                            ex=ACTIVE_TTL_S)):
                active = await _r(self._redis.get(k.active(cohort_id)))
                raise RunInProgress(cohort_id, _s(active) if active else "?")
            try:
                await _r(self._redis.copy(k.members(cohort_id), k.run(run_id, "profiles")))
                members = sorted(
                    _s(m) for m in await _r(self._redis.hkeys(k.run(run_id, "profiles")))
                )
                shards = [members[i:i + shard_size] for i in range(0, len(members), shard_size)]
                now = _now()
                record = RunRecord(
                    run_id=run_id, cohort_id=cohort_id, status=RunStatus.QUEUED,
                    trigger=trigger, generation=generation,
                    previous_run_id=meta.last_completed_run_id, members=len(members),
                    shard_size=shard_size, shards=ShardCounts(total=len(shards),
                                                              pending=len(shards)),
                    created_at=now,
                )
                async with self._redis.pipeline(transaction=True) as pipe:
                    if shards:
                        pipe.hset(k.run(run_id, "shard-members"), mapping={
                            str(n): orjson.dumps(ids) for n, ids in enumerate(shards)})
                        pipe.hset(k.run(run_id, "shard-state"), mapping={
                            str(n): ShardState.PENDING.value for n in range(len(shards))})
                    pipe.set(k.run(run_id, "meta"), record.model_dump_json())
                    pipe.zadd(k.runs(cohort_id), {run_id: int(now.timestamp() * 1000)})
                    pipe.sadd(k.runs_active, run_id)
                    await pipe.execute()
            except BaseException:
                await _r(self._redis.delete(k.active(cohort_id)))
                raise
        await self._save_meta(meta.model_copy(update={"last_run_id": run_id}))
        return record

    async def _stored_run(self, run_id: str) -> RunRecord | None:
        with _redis_errors(f"reading run {run_id}"):
            raw = await _r(self._redis.get(self.keys.run(run_id, "meta")))
        return RunRecord.model_validate_json(raw) if raw is not None else None

    async def run(self, run_id: str, *, cohort_id: str | None = None) -> RunRecord:
        """The run with live shard counts and committed counters. Raises
        :class:`RunNotFound` (also when it belongs to another ``cohort_id``)."""
        record = await self._stored_run(run_id)
        if record is None or (cohort_id is not None and record.cohort_id != cohort_id):
            raise RunNotFound(cohort_id or "?", run_id)
        if record.status in FINISHED:
            return record
        return await self._live(record)

    async def _live(self, record: RunRecord) -> RunRecord:
        k = self.keys
        with _redis_errors(f"reading run {record.run_id}"):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(k.run(record.run_id, "shard-state"))
                pipe.hgetall(k.run(record.run_id, "counts"))
                pipe.hvals(k.run(record.run_id, "shard-info"))
                states, counts, infos = await pipe.execute()
        tally = {s: 0 for s in ShardState}
        for v in states.values():
            tally[ShardState(_s(v))] += 1
        counters = {_s(a): int(b) for a, b in counts.items()}
        generations = sorted({
            g for g in (ShardRecord.model_validate_json(i).generation for i in infos)
            if g is not None
        })
        status = record.status
        if status is RunStatus.QUEUED and (tally[ShardState.RUNNING] or
                                           tally[ShardState.DONE] or tally[ShardState.FAILED]):
            status = RunStatus.RUNNING
        return record.model_copy(update={
            "status": status,
            "shards": ShardCounts(
                total=record.shards.total, done=tally[ShardState.DONE],
                failed=tally[ShardState.FAILED], running=tally[ShardState.RUNNING],
                pending=tally[ShardState.PENDING]),
            "matched": counters.get("matched", 0),
            "failed_members": counters.get("failed", 0),
            "diff": {c.removeprefix("diff:"): n for c, n in counters.items()
                     if c.startswith("diff:")},
            "generations": generations,
        })

    async def runs(self, cohort_id: str) -> list[RunRecord]:
        """The cohort's runs, newest first."""
        await self.meta(cohort_id)
        with _redis_errors(f"listing runs of {cohort_id}"):
            ids = [_s(r) for r in await _r(self._redis.zrevrange(self.keys.runs(cohort_id),
                                                                 0, -1))]
        out = []
        for run_id in ids:
            record = await self._stored_run(run_id)
            if record is not None:
                out.append(record if record.status in FINISHED else await self._live(record))
        return out

    async def shard_members(self, run_id: str, shard: int) -> list[str] | None:
        """The member ids of a shard, or None if the run is gone."""
        with _redis_errors(f"reading run {run_id}"):
            raw = await _r(self._redis.hget(self.keys.run(run_id, "shard-members"), str(shard)))
        return orjson.loads(raw) if raw is not None else None

    async def shard_state(self, run_id: str, shard: int) -> ShardState | None:
        with _redis_errors(f"reading run {run_id}"):
            raw = await _r(self._redis.hget(self.keys.run(run_id, "shard-state"), str(shard)))
        return ShardState(_s(raw)) if raw is not None else None

    async def shard_records(self, run_id: str) -> dict[int, ShardRecord]:
        with _redis_errors(f"reading run {run_id}"):
            raw = await _r(self._redis.hgetall(self.keys.run(run_id, "shard-info")))
        return {int(_s(n)): ShardRecord.model_validate_json(v) for n, v in raw.items()}

    async def profiles(self, run_id: str, member_ids: Sequence[str]) -> dict[str, bytes]:
        """Decrypted profile JSON of the run's members (missing ones left out)."""
        with _redis_errors(f"reading run {run_id}"):
            tokens = await _r(self._redis.hmget(self.keys.run(run_id, "profiles"),
                                                list(member_ids)))
        return {m: self._open(t) for m, t in zip(member_ids, tokens, strict=True)
                if t is not None}

    async def set_shard_state(self, run_id: str, record: ShardRecord) -> bool:
        """Record ``running`` or ``failed`` unless the shard is already done or failed,
        or its run is gone (then False)."""
        k = self.keys
        with _redis_errors(f"updating run {run_id}"):
            changed = await self._set_state(
                keys=[k.run(run_id, "shard-state"), k.run(run_id, "shard-info")],
                args=[str(record.shard), record.state.value, record.model_dump_json()],
            )
        if changed and record.state is ShardState.FAILED:
            await self._incr_stat("shards_failed", 1)
        return bool(changed)

    async def commit_shard(
        self,
        run_id: str,
        record: ShardRecord,
        results: Sequence[MemberResult],
        diffs: Mapping[str, Sequence[DiffEntry]],
    ) -> bool:
        """Store a shard's results, diffs and counts and mark it done, atomically and
        once (Lua). Returns False when the shard had already been committed or failed,
        or its run was deleted (nothing written)."""
        cipher = self.cipher
        args: list[Any] = [str(record.shard), record.model_dump_json(), len(results),
                           len(diffs)]
        for r in results:
            args += [r.member_id, cipher.encrypt(r.model_dump_json().encode())]
        counts: dict[str, int] = {"matched": 0, "failed": 0}
        for member_id, entries in diffs.items():
            args += [member_id, cipher.encrypt(_ENTRIES.dump_json(list(entries)))]
            for e in entries:
                counts[f"diff:{e.kind.value}"] = counts.get(f"diff:{e.kind.value}", 0) + 1
        for r in results:
            counts["failed" if r.error else "matched"] += 1
        for name, n in counts.items():
            args += [name, n]
        k = self.keys
        with _redis_errors(f"committing shard {record.shard} of run {run_id}"):
            done = await self._commit(
                keys=[k.run(run_id, p) for p in ("shard-state", "shard-info", "results",
                                                  "diff", "counts")],
                args=args,
            )
        return bool(done)

    async def unfinished_shards(self, run_id: str) -> int:
        with _redis_errors(f"reading run {run_id}"):
            states = await _r(self._redis.hvals(self.keys.run(run_id, "shard-state")))
        return sum(1 for s in states if _s(s) in (ShardState.PENDING, ShardState.RUNNING))

    async def finish(self, run_id: str, *, retention: int) -> RunRecord | None:
        """Close a run whose shards are all done or failed: final status and counts,
        the cohort's ``last_completed_run_id``, retention, metrics counters. Returns the
        record, or None if the run was already finished (or deleted)."""
        stored = await self._stored_run(run_id)
        if stored is None or stored.status in FINISHED:
            return None
        live = await self._live(stored)
        finished_at = _now()
        if live.shards.total and live.shards.failed == live.shards.total:
            status = RunStatus.FAILED
        elif live.shards.failed:
            status = RunStatus.PARTIAL
        else:
            status = RunStatus.COMPLETE
        infos = await self.shard_records(run_id)
        errors = sorted({i.error for i in infos.values() if i.error})
        duration = (finished_at - stored.created_at).total_seconds()
        record = live.model_copy(update={
            "status": status, "finished_at": finished_at, "duration_s": duration,
            "error": "; ".join(errors)[:500] if errors else None,
        })
        k = self.keys
        with _redis_errors(f"finishing run {run_id}"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(k.run(run_id, "meta"), record.model_dump_json())
                pipe.srem(k.runs_active, run_id)
                pipe.delete(k.run(run_id, "profiles"))  # the cohort keeps its own copy
                active = k.active(record.cohort_id)
                await pipe.execute()
            if _s(await _r(self._redis.get(active)) or b"") == run_id:
                await _r(self._redis.delete(active))
        try:
            meta = await self.meta(record.cohort_id)
        except CohortNotFound:
            return record
        if status is not RunStatus.FAILED:
            meta = meta.model_copy(update={"last_completed_run_id": run_id})
            await self._save_meta(meta)
        await self._record_stats(record)
        await self.prune(record.cohort_id, retention=retention,
                         keep={run_id, meta.last_completed_run_id or run_id})
        return record

    async def _incr_stat(self, name: str, by: float) -> None:
        with _redis_errors("updating run statistics"):
            await _r(self._redis.hincrbyfloat(self.keys.run_stats, name, by))

    async def _record_stats(self, record: RunRecord) -> None:
        duration = record.duration_s or 0.0
        with _redis_errors("updating run statistics"):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(self.keys.run_stats, f"runs:{record.status.value}", 1)
                pipe.hincrbyfloat(self.keys.run_stats, "duration_sum", duration)
                pipe.hincrby(self.keys.run_stats, "duration_count", 1)
                for le in RUN_DURATION_BUCKETS:
                    if duration <= le:
                        pipe.hincrby(self.keys.run_stats, f"duration_le:{le}", 1)
                await pipe.execute()

    async def run_stats(self) -> dict[str, float]:
        """``{ns}:runs:stats`` as numbers (for ``/metrics``)."""
        with _redis_errors("reading run statistics"):
            raw = await _r(self._redis.hgetall(self.keys.run_stats))
        return {_s(a): float(b) for a, b in raw.items()}

    async def active_shard_counts(self) -> dict[str, int]:
        """Shards per state over every unfinished run (for ``/metrics``)."""
        k = self.keys
        tally = {s.value: 0 for s in ShardState}
        with _redis_errors("reading active runs"):
            runs = [_s(r) for r in await _r(self._redis.smembers(k.runs_active))]
            for run_id in runs:
                for s in await _r(self._redis.hvals(k.run(run_id, "shard-state"))):
                    tally[_s(s)] = tally.get(_s(s), 0) + 1
        return tally

    async def prune(self, cohort_id: str, *, retention: int, keep: Iterable[str] = ()) -> int:
        """Delete finished runs beyond the newest ``retention`` of the cohort (never
        those in ``keep``, nor unfinished ones). Returns how many were deleted."""
        k = self.keys
        keep = set(keep)
        with _redis_errors(f"pruning runs of {cohort_id}"):
            ids = [_s(r) for r in await _r(self._redis.zrevrange(k.runs(cohort_id), 0, -1))]
        finished: list[str] = []
        for run_id in ids:
            record = await self._stored_run(run_id)
            if record is None or record.status in FINISHED:
                finished.append(run_id)
        doomed = [r for r in finished[retention:] if r not in keep]
        if doomed:
            with _redis_errors(f"pruning runs of {cohort_id}"):
                async with self._redis.pipeline(transaction=True) as pipe:
                    for run_id in doomed:
                        pipe.delete(*k.run_parts(run_id))
                        pipe.zrem(k.runs(cohort_id), run_id)
                    await pipe.execute()
            await self.collect_gen_trials()
        return len(doomed)

    # ----------------------------------------------------------------------------------
    # Results and diffs
    # ----------------------------------------------------------------------------------

    async def results(
        self, run_id: str, member_ids: Sequence[str] | None = None
    ) -> dict[str, MemberResult]:
        """Decrypted results of the run (of ``member_ids`` only, when given)."""
        key = self.keys.run(run_id, "results")
        with _redis_errors(f"reading results of run {run_id}"):
            if member_ids is None:
                raw = {_s(a): b for a, b in (await _r(self._redis.hgetall(key))).items()}
            else:
                ids = list(member_ids)
                values = await _r(self._redis.hmget(key, ids)) if ids else []
                raw = {m: v for m, v in zip(ids, values, strict=True) if v is not None}
        return {m: MemberResult.model_validate_json(self._open(v)) for m, v in raw.items()}

    async def diff_entries(
        self, run_id: str, member_ids: Sequence[str] | None = None
    ) -> list[DiffEntry]:
        """Decrypted diff entries of the run, by member id then as stored."""
        key = self.keys.run(run_id, "diff")
        with _redis_errors(f"reading the diff of run {run_id}"):
            if member_ids is None:
                raw = {_s(a): b for a, b in (await _r(self._redis.hgetall(key))).items()}
            else:
                ids = list(member_ids)
                values = await _r(self._redis.hmget(key, ids)) if ids else []
                raw = {m: v for m, v in zip(ids, values, strict=True) if v is not None}
        out: list[DiffEntry] = []
        for member in sorted(raw):
            out.extend(_ENTRIES.validate_json(self._open(raw[member])))
        return out

    # ----------------------------------------------------------------------------------
    # Trial states per index generation
    # ----------------------------------------------------------------------------------

    async def has_gen_trials(self, generation: int) -> bool:
        with _redis_errors("reading trial states"):
            return bool(await _r(self._redis.exists(self.keys.gen_trials_ready(generation))))

    async def write_gen_trials(self, generation: int, states: Iterable[TrialState]) -> None:
        """Store every trial's state of ``generation`` (idempotent: concurrent writers
        write the same values), then mark it ready."""
        items = [(s.nct_id, s.model_dump_json()) for s in states]
        key = self.keys.gen_trials(generation)
        with _redis_errors("writing trial states"):
            async with self._redis.pipeline(transaction=False) as pipe:
                for start in range(0, len(items), _CHUNK):
                    pipe.hset(key, mapping=dict(items[start:start + _CHUNK]))
                pipe.set(self.keys.gen_trials_ready(generation), b"1")
                await pipe.execute()

    async def gen_trials(self, generation: int, nct_ids: Iterable[str]) -> dict[str, TrialState]:
        """The stored states of these trials in ``generation`` (absent ones left out)."""
        ids = sorted(set(nct_ids))
        if not ids:
            return {}
        with _redis_errors("reading trial states"):
            values = await _r(self._redis.hmget(self.keys.gen_trials(generation), ids))
        return {n: TrialState.model_validate_json(v) for n, v in zip(ids, values, strict=True)
                if v is not None}

    async def collect_gen_trials(self) -> int:
        """Delete the trial states of generations no stored run refers to."""
        k = self.keys
        with _redis_errors("collecting trial states"):
            used: set[int] = set()
            for cohort_id in await self.list_ids():
                for run_id in await _r(self._redis.zrange(k.runs(cohort_id), 0, -1)):
                    record = await self._stored_run(_s(run_id))
                    if record is not None:
                        live = record if record.status in FINISHED else await self._live(record)
                        used.update(live.generations)
                        if live.generation is not None:
                            used.add(live.generation)
            doomed = []
            async for key in self._redis.scan_iter(match=k.gen_trials_pattern, count=1000):
                parts = _s(key).rsplit(":", 2)
                g = parts[-1] if parts[-1] != "ready" else parts[-2]
                if g.isdigit() and int(g) not in used:
                    doomed.append(key)
            if doomed:
                await _r(self._redis.delete(*doomed))
        return len(doomed)

    # ----------------------------------------------------------------------------------
    # Key rotation
    # ----------------------------------------------------------------------------------

    async def rotate_keys(self) -> int:
        """Re-encrypt every stored token (profiles, webhooks, run results and diffs)
        with the first configured key; returns how many tokens were rewritten."""
        cipher = self.cipher
        k = self.keys
        count = 0
        for cohort_id in await self.list_ids():
            meta = await self.meta(cohort_id)
            if meta.webhook_token is not None:
                meta = meta.model_copy(update={
                    "webhook_token": cipher.rotate(meta.webhook_token.encode()).decode()})
                await self._save_meta(meta)
                count += 1
            hashes = [k.members(cohort_id)]
            with _redis_errors("rotating keys"):
                for run_id in await _r(self._redis.zrange(k.runs(cohort_id), 0, -1)):
                    hashes += [k.run(_s(run_id), p) for p in ("profiles", "results", "diff")]
                for key in hashes:
                    raw = await _r(self._redis.hgetall(key))
                    if not raw:
                        continue
                    rotated = {a: cipher.rotate(b) for a, b in raw.items()}
                    await _r(self._redis.hset(key, mapping=rotated))
                    count += len(rotated)
        return count
