"""API keys (401 vs 403, scopes, loopback without keys), rate limits (429 +
Retry-After, per key and per client, counted in the real Redis), the bounded matching
pool (503 + Retry-After) and /metrics."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from redis.asyncio import Redis

from service.app import create_app
from service.auth import ApiKeyStore, Authenticator
from service.deps import ServiceState
from service.match_pool import MatchPool, MatchPoolBusy
from service.ratelimit import RateLimiter
from service.schemas import MESOTHELIOMA_PATIENT
from tests.service.cohort_helpers import wire
from trial_cache.store import TrialStore

REMOTE = ("203.0.113.9", 40000)
MATCH = {"patient": MESOTHELIOMA_PATIENT, "limit": 2}


def _http(state: ServiceState, client: tuple[str, int] = ("127.0.0.1", 50000)
          ) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(state=state), client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _auth(state: ServiceState, redis: Redis, namespace: str, mode: str = "auto") -> ApiKeyStore:
    keys = ApiKeyStore(redis, namespace)
    state.auth = Authenticator(keys, mode)  # type: ignore[arg-type]
    return keys


async def test_keys_scopes_and_the_loopback_rule(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    wire(state, redis, namespace)
    keys = _auth(state, redis, namespace)

    # no key exists yet: loopback passes, anyone else is told how to get a key
    async with _http(state) as local, _http(state, REMOTE) as remote:
        assert (await local.post("/v1/match", json=MATCH)).status_code == 200
        assert (await local.get("/v1/cohorts")).status_code == 200
        r = await remote.post("/v1/match", json=MATCH)
        assert r.status_code == 401 and r.json()["error"] == "api_key_missing"
        assert "trialmatch keys create --scope navigator" in r.json()["message"]
        assert r.headers["www-authenticate"].startswith("Bearer")
        page = await remote.get("/v1/answer-page", params={"condition": "Desmoid_tumors"})
        assert page.status_code == 200  # public
        assert (await remote.get("/v1/conditions/resolve", params={"q": "NSCLC"})
                ).status_code == 200

    navigator, nav_record = await keys.create(name="clinic", scopes=["navigator"])
    batch, _ = await keys.create(name="nightly", scopes=["batch"])
    admin, _ = await keys.create(name="ops", scopes=["admin"])
    stored = await redis.hget(f"{namespace}:apikeys", nav_record.key_id)
    assert stored is not None and navigator.encode() not in stored  # hashed, not kept

    async with _http(state) as local, _http(state, REMOTE) as remote:
        r = await local.post("/v1/match", json=MATCH)
        assert r.status_code == 401  # a key exists now: loopback needs one too
        assert "no key exists" not in r.json()["message"].lower()
        bearer = {"Authorization": f"Bearer {navigator}"}
        assert (await remote.post("/v1/match", json=MATCH, headers=bearer)).status_code == 200
        assert (await remote.get("/v1/trials/NCT02066181", headers={"X-API-Key": navigator})
                ).status_code == 200
        r = await remote.get("/v1/cohorts", headers=bearer)
        assert r.status_code == 403 and r.json()["error"] == "api_key_scope"
        assert "'batch'" in r.json()["message"] and nav_record.key_id in r.json()["message"]
        r = await remote.post("/v1/match", json=MATCH, headers={"X-API-Key": batch})
        assert r.status_code == 403 and "'navigator'" in r.json()["message"]
        assert (await remote.get("/v1/cohorts", headers={"X-API-Key": batch})).status_code == 200
        for path in ("/v1/cohorts", "/v1/trials"):
            assert (await remote.get(path, headers={"X-API-Key": admin})).status_code == 200
        r = await remote.get("/v1/trials", headers={"X-API-Key": "tm_000000000000_nope"})
        assert r.status_code == 401 and r.json()["error"] == "api_key_invalid"
        r = await remote.get("/v1/trials", headers={"Authorization": "Bearer garbage"})
        assert r.status_code == 401 and r.json()["error"] == "api_key_invalid"
        # auth comes before body validation: no key, bad body -> 401, not 422
        assert (await remote.post("/v1/match", json={"x": 1})).status_code == 401

        await keys.revoke(nav_record.key_id)
        r = await remote.post("/v1/match", json=MATCH, headers=bearer)
        assert r.status_code == 401 and r.json()["error"] == "api_key_invalid"
    listed = {r.key_id: r for r in await keys.list()}
    assert listed[nav_record.key_id].revoked_at is not None and len(listed) == 3


async def test_required_mode_needs_a_key_even_on_loopback(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    _auth(state, redis, namespace, mode="required")
    async with _http(state) as local:
        r = await local.post("/v1/match", json=MATCH)
        assert r.status_code == 401 and r.json()["error"] == "api_key_missing"


async def test_rate_limits_per_key_and_per_client(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    keys = _auth(state, redis, namespace)
    key_a, _ = await keys.create(name="a", scopes=["navigator"])
    key_b, _ = await keys.create(name="b", scopes=["navigator"])
    state.limiter = RateLimiter(redis=redis, namespace=namespace, per_key="3/minute",
                                public="2/minute")
    async with _http(state, REMOTE) as remote, _http(state, ("198.51.100.7", 1)) as other:
        for _ in range(3):
            assert (await remote.get("/v1/trials", headers={"X-API-Key": key_a})
                    ).status_code == 200
        r = await remote.get("/v1/trials", headers={"X-API-Key": key_a})
        assert r.status_code == 429 and r.json()["error"] == "rate_limited"
        assert 0 < int(r.headers["retry-after"]) <= 60
        assert (await remote.get("/v1/trials", headers={"X-API-Key": key_b})
                ).status_code == 200  # another key, another bucket

        page = {"condition": "Desmoid_tumors"}
        assert [(await remote.get("/v1/answer-page", params=page)).status_code
                for _ in range(3)] == [200, 200, 429]
        assert (await other.get("/v1/answer-page", params=page)).status_code == 200
    limit_keys = [k async for k in redis.scan_iter(match=f"{namespace}:ratelimit*")]
    assert limit_keys  # shared counters live in Redis, in our namespace
    assert not any(b"203.0.113.9" in k for k in limit_keys)  # client addresses hashed


async def test_matching_pool_sheds_a_burst(state: ServiceState) -> None:
    pool = MatchPool(threads=1, queue=1, timeout_s=0.3)
    state.match_pool = pool
    release = threading.Event()
    blocker = asyncio.create_task(pool.run(release.wait, 10))
    await asyncio.sleep(0.05)
    try:
        async with _http(state) as http:
            waiting = asyncio.create_task(http.post("/v1/match", json=MATCH))
            await asyncio.sleep(0.05)
            r = await http.post("/v1/match", json=MATCH)  # thread busy, queue full
            assert r.status_code == 503 and r.json()["error"] == "matching_busy"
            assert int(r.headers["retry-after"]) >= 1
            r = await waiting  # waited 0.3 s for the thread, then gave up
            assert r.status_code == 503
            release.set()
            await blocker
            assert (await http.post("/v1/match", json=MATCH)).status_code == 200
    finally:
        release.set()
        pool.close()
    with pytest.raises(MatchPoolBusy):
        busy = MatchPool(threads=1, queue=0, timeout_s=1)
        gate = threading.Event()
        first = asyncio.create_task(busy.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        try:
            await busy.run(lambda: None)
        finally:
            gate.set()
            await first
            busy.close()


async def test_metrics_series_use_route_templates(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    wire(state, redis, namespace)
    state.store = TrialStore(redis, namespace)
    async with _http(state) as http:
        assert (await http.get("/v1/trials/NCT02066181")).status_code == 200
        assert (await http.post("/v1/match", json=MATCH)).status_code == 200
        assert (await http.get("/v1/cohorts/c-77")).status_code == 404
        assert (await http.get("/no/such/path")).status_code == 404
        r = await http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert ('trialmatch_http_requests_total{method="GET",route="/v1/trials/{nct_id}",'
            'status="200"} 1.0') in text
    assert 'route="/v1/cohorts/{cohort_id}",status="404"' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "NCT02066181" not in text and "c-77" not in text and "/no/such" not in text
    assert "trialmatch_http_request_duration_seconds_bucket" in text
    assert "trialmatch_match_duration_seconds_count 1.0" in text
    assert "trialmatch_index_generation 7.0" in text
    assert "trialmatch_index_trials " in text
    assert "trialmatch_last_sync_age_seconds -1.0" in text  # nothing synced here
    assert 'trialmatch_batch_shards{state="queued"} 0.0' in text
    assert "trialmatch_batch_run_duration_seconds_count 0.0" in text
    assert "trialmatch_batch_shards_failed_total" in text
    assert "# TYPE trialmatch_redis_errors_total counter" in text


async def test_limiter_outage_lets_requests_through_and_is_counted(
    state: ServiceState,
) -> None:
    from service.metrics_registry import REDIS_ERRORS

    dead = Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)  # nothing listens
    state.limiter = RateLimiter(redis=dead, namespace="tmtest-dead", per_key="1/minute",
                                public="1/minute")
    before = REDIS_ERRORS.labels(component="ratelimit")._value.get()
    try:
        async with _http(state, REMOTE) as remote:
            for _ in range(2):
                page = await remote.get("/v1/answer-page", params={"condition": "DES"})
                assert page.status_code == 200
    finally:
        await dead.aclose()
    assert REDIS_ERRORS.labels(component="ratelimit")._value.get() == before + 2


async def test_keys_seen_before_a_redis_outage_keep_working(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    """While Redis fails, a key verified before the outage still passes (matching runs
    from memory); a key never verified gets 503 store_unavailable, not a 401."""
    redis, namespace = real_redis
    wire(state, redis, namespace)
    keys = _auth(state, redis, namespace)
    known, _ = await keys.create(name="clinic", scopes=["navigator"])
    unseen, _ = await keys.create(name="other", scopes=["navigator"])
    async with _http(state, REMOTE) as remote:
        assert (await remote.post("/v1/match", json=MATCH, headers={"X-API-Key": known})
                ).status_code == 200
        keys._redis = Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)  # outage
        try:
            r = await remote.post("/v1/match", json=MATCH, headers={"X-API-Key": known})
            assert r.status_code == 200
            r = await remote.post("/v1/match", json=MATCH, headers={"X-API-Key": unseen})
            assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
            forged = known[:-4] + "AAAA"  # same key id, wrong secret
            r = await remote.post("/v1/match", json=MATCH, headers={"X-API-Key": forged})
            assert r.status_code == 401
        finally:
            await keys._redis.aclose()
