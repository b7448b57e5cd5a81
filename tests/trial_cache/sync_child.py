"""A sync in a process of its own, for tests that kill it (``python -m
tests.trial_cache.sync_child BASE_URL NAMESPACE SCOPE PAGE_SIZE LEASE_TTL_S``).

Runs :func:`trial_cache.sync.sync_trials` with the fake parser against real Redis
(127.0.0.1:6379) and prints the report's JSON on success.
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from tests.trial_cache.fakes import FakeParser, fake_index_codes
from trial_cache.client import CTGovClient
from trial_cache.settings import TrialCacheSettings
from trial_cache.store import TrialStore
from trial_cache.sync import sync_trials

REDIS_URL = "redis://127.0.0.1:6379/0"


async def main(base_url: str, namespace: str, scope: str, page_size: int, ttl_s: float) -> None:
    settings = TrialCacheSettings(
        ctgov_base_url=base_url,
        ctgov_rate_limit_per_minute=60_000,
        ctgov_page_size=page_size,
        ctgov_retry_wait_initial_s=0.01,
        ctgov_retry_wait_max_s=0.05,
        ctgov_retry_wait_jitter_s=0.0,
        ctgov_retry_budget_s=30.0,
        redis_namespace=namespace,
        sync_scope=scope,
        sync_lease_ttl_s=ttl_s,
        parse_batch_size=4,
    )
    redis = Redis.from_url(REDIS_URL)
    try:
        async with CTGovClient(settings=settings) as client:
            report = await sync_trials(
                client=client,
                store=TrialStore(redis, namespace),
                parser=FakeParser(),
                index_codes=fake_index_codes,
                settings=settings,
            )
        print(report.model_dump_json(), flush=True)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    url, ns, scope, size, ttl = sys.argv[1:6]
    asyncio.run(main(url, ns, scope, int(size), float(ttl)))
