"""Rate limits (the ``limits`` library, sliding-window counters in the service's Redis).

* per API key: ``TRIALMATCH_RATE_LIMIT_PER_KEY`` (default ``600/minute``) over every
  protected route, counted by key id (anonymous loopback callers share one bucket);
* per client on the public routes (answer pages, condition lookup):
  ``TRIALMATCH_RATE_LIMIT_PUBLIC`` (default ``120/minute``), counted by client address.

Counters live in Redis under ``{ns}:ratelimit:...`` (``limits``' own key shapes), so
every API process shares them; client addresses are hashed (SHA-256, 16 hex digits)
before they reach a key. Without Redis (an app built around a prepared state) the
counters are in process memory. Over the limit: 429 ``rate_limited`` with
``Retry-After`` (seconds until the window frees a request).

If Redis fails while counting, the request is let through (counted in
``trialmatch_redis_errors_total{component="ratelimit"}``): a limiter outage should not
become an API outage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.errors import ServiceError
from service.metrics_registry import redis_error

log = logging.getLogger("trialmatch.ratelimit")


class RateLimited(ServiceError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, limit: str, retry_after_s: int, *, who: str) -> None:
        super().__init__(
            f"Rate limit of {limit} per {who} reached; retry in {retry_after_s} s (or ask "
            "for a higher TRIALMATCH_RATE_LIMIT_* setting)."
        )
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


def _limit(text: str) -> RateLimitItem | None:
    """A ``limits`` string (``"600/minute"``) or None when empty."""
    return parse(text) if text.strip() else None


class RateLimiter:
    """Checks and counts one request against a limit (module docstring)."""

    def __init__(self, *, redis: Redis | None, namespace: str, per_key: str,
                 public: str) -> None:
        storage: Storage
        if redis is not None:
            storage = RedisStorage("async+redis://", implementation="redispy",
                                   connection_pool=redis.connection_pool,  # type: ignore[arg-type]
                                   key_prefix=f"{namespace}:ratelimit")
        else:
            storage = MemoryStorage()
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self.per_key = _limit(per_key)
        self.public = _limit(public)

    async def _hit(self, item: RateLimitItem, kind: str, identity: str, who: str) -> None:
        try:
            allowed = await self._strategy.hit(item, kind, identity)
            if allowed:
                return
            stats = await self._strategy.get_window_stats(item, kind, identity)
        except RedisError:
            redis_error("ratelimit")
            log.warning("rate limiter: Redis failed; request let through")
            return
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(str(item), retry, who=who)

    async def check_key(self, key_id: str | None) -> None:
        """Count a request of API key ``key_id`` (None: anonymous loopback)."""
        if self.per_key is not None:
            await self._hit(self.per_key, "key", key_id or "loopback", "API key")

    async def check_client(self, host: str | None) -> None:
        """Count a request to a public route from client address ``host``."""
        if self.public is not None:
            digest = hashlib.sha256((host or "?").encode()).hexdigest()[:16]
            await self._hit(self.public, "client", digest, "client")
