"""The sync/import lease: a short, renewed, owned lock on one namespace.

A sync or an import writes generations, so only one may run per namespace. It holds a
**lease**: the HASH ``{ns}:sync:lock`` (see :mod:`trial_cache.keys`) with a TTL of
``sync_lease_ttl_s`` seconds (default 60), renewed by a heartbeat task every third of
that while the run is alive, and deleted on exit. A run that dies without cleaning up
(SIGKILL, power loss, a lost host) stops renewing, so its lease lapses within one TTL.

The hash says who holds it (:class:`LeaseOwner`): a random ``token`` (only the holder
renews or releases, by compare-and-set in Lua), the ``host`` and ``pid``, the
``command`` (``sync`` / ``import``), and when it was taken and last renewed (UTC,
ISO 8601).

``force=True`` (``trialmatch sync --force``) takes over a lease whose owner is gone:
its pid no longer runs on this host, or it has missed two heartbeats (its last renewal
is older than two heartbeat intervals). A lease whose owner still looks alive is never
taken: that would let two writers build generations at once.

A holder that loses its lease (taken over, or it lapsed while Redis was unreachable)
learns it from :meth:`Lease.ensure`, which the sync calls before every checkpoint and
before publishing: it raises :class:`~trial_cache.errors.LeaseLost`, so a run that is
no longer the owner never publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError

from trial_cache.errors import LeaseLost, StoreError, SyncInProgressError

__all__ = ["Lease", "LeaseOwner", "hold_lease", "read_lease"]

log = logging.getLogger(__name__)

HEARTBEATS_PER_TTL = 3
"""Renewals per lease lifetime: a 60 s lease is renewed every 20 s."""
MISSED_HEARTBEATS_GONE = 2
"""An owner whose last renewal is older than this many heartbeat intervals is gone."""

_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
redis.call('hset', KEYS[1], unpack(ARGV, 2))
redis.call('pexpire', KEYS[1], ARGV[1])
return 1
"""
"""KEYS[1] lease; ARGV[1] ttl ms, ARGV[2..] field/value pairs. 1 = taken."""

_TAKE_OVER = """
if redis.call('hget', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
redis.call('hset', KEYS[1], unpack(ARGV, 3))
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""
"""KEYS[1] lease; ARGV[1] the token being replaced, ARGV[2] ttl ms, ARGV[3..] pairs."""

_RENEW = """
if redis.call('hget', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], 'renewed_at', ARGV[3])
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""
"""KEYS[1] lease; ARGV[1] token, ARGV[2] ttl ms, ARGV[3] renewal time. 1 = renewed."""

_RELEASE = """
if redis.call('hget', KEYS[1], 'token') == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class LeaseOwner(BaseModel):
    """Who holds a lease. Times are UTC."""

    model_config = ConfigDict(frozen=True)

    token: str
    host: str
    pid: int
    command: str
    acquired_at: datetime
    renewed_at: datetime

    def describe(self) -> str:
        """``"sync pid 4242 on host-a, taken 2026-11-22 09:00:01 UTC"``."""
        when = self.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.command} pid {self.pid} on {self.host}, taken {when}"

    def gone_reason(self, *, now: datetime, heartbeat_s: float) -> str | None:
        """Why this owner is gone, or None if it may still be alive: its pid does not
        run on this host, or it missed :data:`MISSED_HEARTBEATS_GONE` heartbeats."""
        if self.host == socket.gethostname() and not _pid_alive(self.pid):
            return f"pid {self.pid} no longer runs on {self.host}"
        silent_s = (now - self.renewed_at).total_seconds()
        if silent_s > MISSED_HEARTBEATS_GONE * heartbeat_s:
            return f"no heartbeat for {silent_s:.0f} s (expected every {heartbeat_s:.0f} s)"
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read_lease(redis: Redis, key: str) -> tuple[LeaseOwner | None, float | None]:
    """The owner of the lease at ``key`` (None if free or unreadable) and its remaining
    lifetime in seconds (None if free). Raises StoreError when Redis fails."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.type(key)
            pipe.hgetall(key)
            pipe.pttl(key)
            kind, fields, ttl_ms = await pipe.execute()
    except RedisError as exc:
        if "WRONGTYPE" in str(exc):  # a pre-lease string lock: unreadable owner
            return None, None
        raise StoreError(f"reading the sync lease: Redis failed: {exc}") from exc
    ttl_s = ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else None
    if _text(kind) != "hash" or not fields:
        return None, ttl_s if _text(kind) != "none" else None
    data = {_text(k): _text(v) for k, v in fields.items()}
    try:
        return LeaseOwner.model_validate(data), ttl_s
    except ValueError:
        return None, ttl_s


class Lease:
    """A held lease (made by :func:`hold_lease`). ``owner`` is this run;
    ``took_over`` the owner it replaced with ``force`` (None if the lease was free)
    and ``took_over_reason`` why that owner was judged gone."""

    def __init__(
        self, *, redis: Redis, key: str, owner: LeaseOwner, ttl_s: float
    ) -> None:
        self.redis = redis
        self.key = key
        self.owner = owner
        self.ttl_s = ttl_s
        self.took_over: LeaseOwner | None = None
        self.took_over_reason: str | None = None
        self._lost: str | None = None

    @property
    def heartbeat_s(self) -> float:
        return self.ttl_s / HEARTBEATS_PER_TTL

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    async def renew(self) -> bool:
        """Extend the lease by ``ttl_s`` from now. False when it is no longer ours
        (taken over or lapsed); raises StoreError when Redis fails."""
        now = datetime.now(UTC).isoformat()
        try:
            renewed = await self.redis.eval(  # type: ignore[misc]
                _RENEW, 1, self.key, self.owner.token, str(self._ttl_ms), now
            )
        except RedisError as exc:
            raise StoreError(f"renewing the sync lease: Redis failed: {exc}") from exc
        if not renewed:
            self._lost = "the lease is held by another run or lapsed"
        return bool(renewed)

    async def ensure(self) -> None:
        """Raise LeaseLost unless this run still holds the lease (one HGET)."""
        if self._lost is None:
            try:
                token = await self.redis.hget(self.key, "token")  # type: ignore[misc]
            except RedisError as exc:
                raise StoreError(f"checking the sync lease: Redis failed: {exc}") from exc
            if token is None or _text(token) != self.owner.token:
                self._lost = "the lease is held by another run or lapsed"
        if self._lost is not None:
            current, _ = await read_lease(self.redis, self.key)
            holder = f" (now: {current.describe()})" if current is not None else ""
            raise LeaseLost(f"this run lost the sync lease: {self._lost}{holder}")

    async def _heartbeat(self) -> None:
        """Renew every ``heartbeat_s`` until cancelled; a Redis failure is retried at
        the next beat (the lease survives one missed beat)."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                if not await self.renew():
                    log.error("trial_cache: the sync lease was lost: %s", self._lost)
                    return
            except StoreError as exc:
                log.warning("trial_cache: could not renew the sync lease: %s", exc)

    async def release(self) -> None:
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.owner.token)  # type: ignore[misc]
        except RedisError as exc:
            raise StoreError(f"releasing the sync lease: Redis failed: {exc}") from exc


def _pairs(owner: LeaseOwner) -> list[str]:
    data = owner.model_dump(mode="json")
    return [item for name, value in data.items() for item in (name, str(value))]


@asynccontextmanager
async def hold_lease(
    redis: Redis,
    key: str,
    *,
    namespace: str,
    ttl_s: float,
    command: str,
    force: bool = False,
) -> AsyncIterator[Lease]:
    """Take the lease at ``key`` for the ``async with`` body, renew it in the
    background, and release it on exit (also on error or cancellation).

    Raises SyncInProgressError (with the holder and the seconds until it lapses) when
    another run holds it; with ``force``, takes it over if its owner is gone (and says
    so on the returned :class:`Lease`), else raises SyncInProgressError saying why the
    owner looks alive. Raises StoreError when Redis fails.
    """
    now = datetime.now(UTC)
    owner = LeaseOwner(
        token=secrets.token_hex(16),
        host=socket.gethostname(),
        pid=os.getpid(),
        command=command,
        acquired_at=now,
        renewed_at=now,
    )
    lease = Lease(redis=redis, key=key, owner=owner, ttl_s=ttl_s)
    ttl_ms = str(lease._ttl_ms)
    try:
        acquired = await redis.eval(_ACQUIRE, 1, key, ttl_ms, *_pairs(owner))  # type: ignore[misc]
    except RedisError as exc:
        raise StoreError(f"taking the sync lease: Redis failed: {exc}") from exc
    if not acquired:
        holder, left_s = await read_lease(redis, key)
        where = f"namespace {namespace!r}"
        if holder is None:
            raise SyncInProgressError(
                f"another sync or import holds the lease on {where}", ttl_s=left_s
            )
        gone = holder.gone_reason(now=now, heartbeat_s=lease.heartbeat_s)
        lapse = f"; it lapses in {left_s:.0f} s unless renewed" if left_s else ""
        if not force:
            hint = (
                f"; its owner is gone ({gone}): `trialmatch sync --force` takes it over"
                if gone
                else ""
            )
            raise SyncInProgressError(
                f"another run holds the sync lease on {where}: {holder.describe()}{lapse}{hint}",
                ttl_s=left_s,
                holder=holder.describe(),
            )
        if gone is None:
            raise SyncInProgressError(
                f"not taking over the sync lease on {where}: its owner ({holder.describe()}) "
                f"still looks alive (last heartbeat at {holder.renewed_at:%H:%M:%S} UTC){lapse}",
                ttl_s=left_s,
                holder=holder.describe(),
            )
        try:
            took = await redis.eval(  # type: ignore[misc]
                _TAKE_OVER, 1, key, holder.token, ttl_ms, *_pairs(owner)
            )
        except RedisError as exc:
            raise StoreError(f"taking over the sync lease: Redis failed: {exc}") from exc
        if not took:
            raise SyncInProgressError(
                f"the sync lease on {where} changed hands while taking it over; try again"
            )
        lease.took_over, lease.took_over_reason = holder, gone
        log.warning(
            "trial_cache: took over the sync lease of %s (%s)", holder.describe(), gone
        )
    beat = asyncio.create_task(lease._heartbeat(), name="trialmatch-lease-heartbeat")
    try:
        yield lease
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        try:
            await lease.release()
        except StoreError as exc:  # it lapses by itself within ttl_s
            log.warning("trial_cache: %s", exc)
