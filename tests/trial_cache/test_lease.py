"""The sync/import lease (trial_cache.lease) on real Redis: exclusive, renewed by its
heartbeat, lapsing when its owner dies, taken over with ``force`` only from a dead owner."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from trial_cache.errors import LeaseLost, SyncInProgressError
from trial_cache.lease import LeaseOwner
from trial_cache.store import TrialStore


def spawn(command: list[str]) -> subprocess.Popen[str]:
    """Start a child whose stdout the test reads (not awaited: it runs alongside)."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def plant_owner(
    redis: Redis, store: TrialStore, *, pid: int, renewed_ago_s: float, ttl_s: float = 30
) -> LeaseOwner:
    """Write a lease as another run would have left it."""
    now = datetime.now(UTC)
    owner = LeaseOwner(
        token="f" * 32,
        host=socket.gethostname(),
        pid=pid,
        command="sync",
        acquired_at=now - timedelta(seconds=renewed_ago_s + 1),
        renewed_at=now - timedelta(seconds=renewed_ago_s),
    )
    key = store.keys.sync_lock
    await redis.hset(key, mapping={k: str(v) for k, v in owner.model_dump(mode="json").items()})
    await redis.pexpire(key, int(ttl_s * 1000))
    return owner


async def test_the_heartbeat_keeps_a_short_lease_alive(store: TrialStore, redis: Redis) -> None:
    async with store.sync_lease(ttl_s=1.0, command="sync") as lease:
        await asyncio.sleep(2.5)  # more than two lifetimes: only renewals explain it
        holder, left_s = await store.lease_holder()
        assert holder is not None and holder.token == lease.owner.token
        assert left_s is not None and 0 < left_s <= 1.0
        assert holder.renewed_at > holder.acquired_at
        await lease.ensure()
    assert await store.lease_holder() == (None, None)  # released on exit


async def test_a_dead_owner_is_named_and_taken_over_only_with_force(
    store: TrialStore, redis: Redis
) -> None:
    gone = await plant_owner(redis, store, pid=dead_pid(), renewed_ago_s=1)
    with pytest.raises(SyncInProgressError) as refused:
        async with store.sync_lease(ttl_s=30, command="sync"):
            pass
    message = str(refused.value)
    assert f"sync pid {gone.pid} on {gone.host}" in message
    assert "owner is gone" in message and "--force" in message
    assert refused.value.ttl_s is not None and 0 < refused.value.ttl_s <= 30

    async with store.sync_lease(ttl_s=30, command="sync", force=True) as lease:
        assert lease.took_over is not None and lease.took_over.pid == gone.pid
        assert lease.took_over_reason == f"pid {gone.pid} no longer runs on {gone.host}"
        holder, _ = await store.lease_holder()
        assert holder is not None and holder.pid == os.getpid()


async def test_force_never_takes_a_live_owners_lease(store: TrialStore, redis: Redis) -> None:
    # this very process, renewed a moment ago: alive
    await plant_owner(redis, store, pid=os.getpid(), renewed_ago_s=0.5)
    with pytest.raises(SyncInProgressError, match="still looks alive"):
        async with store.sync_lease(ttl_s=30, command="sync", force=True):
            pass


async def test_an_owner_silent_for_two_heartbeats_is_gone(store: TrialStore, redis: Redis) -> None:
    # alive pid (ours) but on no heartbeat for 25 s of a 30 s lease (beats every 10 s)
    await plant_owner(redis, store, pid=os.getpid(), renewed_ago_s=25)
    async with store.sync_lease(ttl_s=30, command="sync", force=True) as lease:
        assert lease.took_over_reason is not None
        assert lease.took_over_reason.startswith("no heartbeat for 25 s")


async def test_a_run_that_lost_its_lease_learns_it(store: TrialStore, redis: Redis) -> None:
    async with store.sync_lease(ttl_s=30, command="sync") as lease:
        await redis.delete(store.keys.sync_lock)
        await plant_owner(redis, store, pid=dead_pid(), renewed_ago_s=0)
        with pytest.raises(LeaseLost, match="lost the sync lease"):
            await lease.ensure()
    # release on exit did not delete the other owner's lease
    holder, _ = await store.lease_holder()
    assert holder is not None and holder.token == "f" * 32


async def test_a_killed_holders_lease_lapses_within_its_ttl(
    store: TrialStore, redis: Redis, namespace: str
) -> None:
    """A real process takes a 2 s lease and is SIGKILLed: nothing releases it, yet a new
    run gets it within the TTL."""
    code = (
        "import asyncio, sys\n"
        "from redis.asyncio import Redis\n"
        "from trial_cache.store import TrialStore\n"
        "async def main():\n"
        "    store = TrialStore(Redis.from_url('redis://127.0.0.1:6379/0'), sys.argv[1])\n"
        "    async with store.sync_lease(ttl_s=2.0, command='sync'):\n"
        "        print('held', flush=True)\n"
        "        await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    child = spawn([sys.executable, "-c", code, namespace])
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        await asyncio.sleep(2.5)  # renewed by the child's heartbeat meanwhile
        holder, _ = await store.lease_holder()
        assert holder is not None and holder.pid == child.pid
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    for _ in range(40):
        if (await store.lease_holder())[0] is None:
            break
        await asyncio.sleep(0.1)
    async with store.sync_lease(ttl_s=30, command="sync") as lease:
        assert lease.took_over is None
