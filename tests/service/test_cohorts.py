"""Cohorts over HTTP against the real Redis (db 15, own namespace) and an in-process
arq worker: registration, encryption at rest, sharded runs, results, diffs, webhook,
retention, and deletion."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from service.app import create_app
from service.cohorts.webhook import SIGNATURE_HEADER, verify_signature
from service.deps import ServiceState
from service.schemas import HER2_LOW_PATIENT, MESOTHELIOMA_PATIENT
from tests.service.cohort_helpers import run_worker, wire

DESMOID = {"cancer_type": "desmoid tumor", "age": 40, "zip": "10032"}
SECRET = "webhook-secret-0123456789"


def _members(n: int) -> list[dict[str, Any]]:
    profiles = [MESOTHELIOMA_PATIENT, HER2_LOW_PATIENT, DESMOID]
    return [{"id": f"m-{i:04d}", "patient": profiles[i % 3]} for i in range(n)]


def _http(state: ServiceState) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state=state)),
                             base_url="http://test")


async def test_cohort_round_trip_runs_results_diff_and_webhook(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    redis, namespace = real_redis
    wire(state, redis, namespace, batch_shard_size=4)
    hooks: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        hooks.append(request)
        return httpx.Response(200)

    body = {"members": [*_members(10), {"id": "bad-1", "patient": {"cancer_type": "qwxz vbnm"}}],
            "limit": 5, "include_closed": True,
            "webhook": {"url": "https://hooks.example.org/tm", "secret": SECRET}}
    async with _http(state) as http:
        r = await http.put("/v1/cohorts/c-0001", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["members"] == 11 and r.json()["webhook"] is True
        info = (await http.get("/v1/cohorts/c-0001")).json()
        assert info["member_ids"] == ["bad-1", *[f"m-{i:04d}" for i in range(10)]]
        assert "patient" not in json.dumps(info)
        assert (await http.get("/v1/cohorts")).json() == {"cohorts": ["c-0001"]}

        # at rest: no profile text anywhere in the namespace, keys hold ids only
        dump = b""
        async for key in redis.scan_iter(match=f"{namespace}:*"):
            dump += key + b"\n"
            kind = await redis.type(key)
            if kind == b"hash":
                dump += b"".join(k + v for k, v in (await redis.hgetall(key)).items())
            elif kind == b"string":
                dump += await redis.get(key) or b""
        for word in (b"mesothelioma", b"breast", b"desmoid", b"10032", b"HER2", b"hooks.example"):
            assert word not in dump

        r = await http.post("/v1/cohorts/c-0001/runs")
        assert r.status_code == 202, r.text
        run = r.json()
        assert run["status"] == "queued" and run["shards"] == {
            "total": 3, "done": 0, "failed": 0, "running": 0, "pending": 3}
        assert run["previous_run_id"] is None
        r = await http.post("/v1/cohorts/c-0001/runs")
        assert r.status_code == 409 and r.json()["error"] == "run_in_progress"

        await run_worker(state, redis, transport=httpx.MockTransport(receiver))
        first = (await http.get(f"/v1/cohorts/c-0001/runs/{run['run_id']}")).json()
        assert first["status"] == "complete", first
        assert first["shards"]["done"] == 3 and first["shards"]["pending"] == 0
        assert first["matched"] == 10 and first["failed_members"] == 1
        assert first["generations"] == [7]

        results = (await http.get(f"/v1/cohorts/c-0001/runs/{run['run_id']}/results")).json()
        by_id = {r["member_id"]: r for r in results["results"]}
        assert len(by_id) == 11
        assert "cancer_type" in by_id["bad-1"]["error"]
        meso = by_id["m-0000"]["matches"]
        # a mesothelioma trial is among the matches (an open basket trial may come first)
        assert {m["nct_id"] for m in meso} & {"NCT00700336", "NCT01211275", "NCT02639767"}
        assert all(m["verdict"] != "ineligible" for m in meso)
        one = (await http.get(f"/v1/cohorts/c-0001/runs/{run['run_id']}/results",
                              params={"member": "m-0002"})).json()
        assert [r["member_id"] for r in one["results"]] == ["m-0002"]
        diff = (await http.get("/v1/cohorts/c-0001/runs/latest/diff")).json()
        assert diff["previous_run_id"] is None and diff["entries"] == []

        # second run, same index, one member replaced: only that member's matches change
        body["members"][2] = {"id": "m-0002", "patient": MESOTHELIOMA_PATIENT}
        assert (await http.put("/v1/cohorts/c-0001", json=body)).status_code == 200
        second = (await http.post("/v1/cohorts/c-0001/runs")).json()
        await run_worker(state, redis, transport=httpx.MockTransport(receiver))
        diff = (await http.get(f"/v1/cohorts/c-0001/runs/{second['run_id']}/diff")).json()
        assert diff["previous_run_id"] == run["run_id"]
        assert diff["entries"] and {e["member_id"] for e in diff["entries"]} == {"m-0002"}
        kinds = {e["kind"] for e in diff["entries"]}
        assert kinds <= {"new_match", "lost_match"}
        assert {e["reason"] for e in diff["entries"] if e["kind"] == "new_match"} == {
            "criteria_now_met"}
        lost = (await http.get(f"/v1/cohorts/c-0001/runs/{second['run_id']}/diff",
                               params={"kind": "lost_match", "member": "m-0002"})).json()
        assert lost["entries"] and all(e["kind"] == "lost_match" for e in lost["entries"])
        assert {e["reason"] for e in lost["entries"]} <= {"criteria_not_met", "ranked_out"}
        assert diff["counts"] == {k: sum(1 for e in diff["entries"] if e["kind"] == k)
                                  for k in kinds}

    # two webhooks, signed, counts only
    assert len(hooks) == 2
    for request in hooks:
        assert verify_signature(SECRET, request.content, request.headers[SIGNATURE_HEADER])
        payload = orjson.loads(request.content)
        assert payload["event"] == "run.finished" and payload["members"] == 11
        text = request.content.decode()
        assert "m-00" not in text and "NCT" not in text and "patient" not in text
    assert orjson.loads(hooks[1].content)["diff"] == diff["counts"]


async def test_retention_and_delete(state: ServiceState, real_redis: tuple[Redis, str]) -> None:
    redis, namespace = real_redis
    wire(state, redis, namespace, batch_shard_size=50, batch_run_retention=2)
    async with _http(state) as http:
        assert (await http.put("/v1/cohorts/c-0002",
                               json={"members": _members(3)})).status_code == 200
        ids = []
        for _ in range(3):
            ids.append((await http.post("/v1/cohorts/c-0002/runs")).json()["run_id"])
            await run_worker(state, redis)
        runs = (await http.get("/v1/cohorts/c-0002/runs")).json()["runs"]
        assert [r["run_id"] for r in runs] == [ids[2], ids[1]]  # the oldest was pruned
        r = await http.get(f"/v1/cohorts/c-0002/runs/{ids[0]}")
        assert r.status_code == 404 and r.json()["error"] == "run_not_found"
        assert not await redis.exists(f"{namespace}:run:{ids[0]}:results")
        assert await redis.exists(f"{namespace}:gen-trials:7")

        r = await http.delete("/v1/cohorts/c-0002")
        assert r.status_code == 204
        assert (await http.get("/v1/cohorts/c-0002")).status_code == 404
        left = [k async for k in redis.scan_iter(match=f"{namespace}:*")
                if b":arq:" not in k and not k.endswith(b"runs:stats")]
        assert left == []  # runs, results, trial states: all gone


async def test_cohort_input_errors(state: ServiceState, real_redis: tuple[Redis, str]) -> None:
    redis, namespace = real_redis
    wire(state, redis, namespace, cohort_max_members=2)
    async with _http(state) as http:
        r = await http.put("/v1/cohorts/lung", json={"members": _members(1)})
        assert r.status_code == 422 and "no digit" in r.json()["message"]
        r = await http.put("/v1/cohorts/c-1",
                           json={"members": [{"id": "john.smith", "patient": DESMOID}]})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"][:4] == ["body", "members", 0, "id"]
        assert "john.smith" not in r.text
        r = await http.put("/v1/cohorts/c-1", json={"members": _members(3)})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "members"]
        r = await http.put("/v1/cohorts/c-1", json={"members": [
            {"id": "m1", "patient": {"cancer_type": "NSCLC", "ecgo": 1}}]})
        assert r.status_code == 422 and "members.0.patient.ecgo" in r.json()["message"]
        r = await http.get("/v1/cohorts/c-404")
        assert r.status_code == 404 and r.json()["error"] == "cohort_not_found"
        r = await http.post("/v1/cohorts/c-404/runs")
        assert r.status_code == 404
        r = await http.get("/v1/cohorts/c-404/runs/not-a-run")
        assert r.status_code == 422
    state.cohorts = type(state.cohorts)(redis, namespace, None)  # type: ignore[misc]
    async with _http(state) as http:
        r = await http.put("/v1/cohorts/c-1", json={"members": _members(1)})
        assert r.status_code == 503 and r.json()["error"] == "cohort_key_missing"
        assert "trialmatch batch keygen" in r.json()["message"]


async def test_nightly_cron_job_starts_every_cohort(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    from service.cohorts.jobs import nightly_runs
    from service.worker import WorkerRuntime

    redis, namespace = real_redis
    store = wire(state, redis, namespace)
    async with _http(state) as http:
        for cid in ("c-1", "c-2"):
            await http.put(f"/v1/cohorts/{cid}", json={"members": _members(2)})
    assert state.batch is not None
    runtime = WorkerRuntime(settings=state.settings, ontology=state.ontology,
                            holder=state.holder, queue=state.batch)
    async with httpx.AsyncClient() as client:
        from service.cohorts.jobs import CohortRuntime

        runtime.cohorts = CohortRuntime(store=store, http=client)
        ctx = {"trialmatch": runtime, "redis": state.batch.pool}
        assert await nightly_runs(ctx) == {"started": 2, "skipped": 0}
        assert await nightly_runs(ctx) == {"started": 0, "skipped": 2}  # still running
    await run_worker(state, redis)
    for cid in ("c-1", "c-2"):
        runs = await store.runs(cid)
        assert len(runs) == 1 and runs[0].status.value == "complete"
        assert runs[0].trigger == "cron" and runs[0].generation == 7
    await asyncio.sleep(0)


async def test_shards_that_keep_failing_end_the_run_failed(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    """Profiles stored under a key the workers no longer have: each shard's attempts
    fail (CohortKeyInvalid), arq retries them (Retry with backoff), and the last
    attempt marks them failed, so the run still ends, ``failed``, saying why."""
    from service.cohorts.crypto import ProfileCipher, generate_key
    from service.cohorts.store import CohortStore

    redis, namespace = real_redis
    wire(state, redis, namespace, batch_shard_size=2, batch_shard_max_tries=2)
    async with _http(state) as http:
        assert (await http.put("/v1/cohorts/c-0003", json={"members": _members(3)})
                ).status_code == 200
        run = (await http.post("/v1/cohorts/c-0003/runs")).json()
        state.cohorts = CohortStore(redis, namespace, ProfileCipher([generate_key()]))
        await run_worker(state, redis)
        record = (await http.get(f"/v1/cohorts/c-0003/runs/{run['run_id']}")).json()
    assert record["status"] == "failed"
    assert record["shards"] == {"total": 2, "done": 0, "failed": 2, "running": 0, "pending": 0}
    assert "cannot be decrypted" in record["error"] and "try 2" in record["error"]
    infos = await state.cohorts.shard_records(run["run_id"])
    assert {i.attempts for i in infos.values()} == {2}
    # the cohort can run again (the run-in-progress marker is gone)
    assert not await redis.exists(f"{namespace}:cohort:c-0003:active")


async def test_a_deleted_run_is_never_written_again(
    state: ServiceState, real_redis: tuple[Redis, str]
) -> None:
    """A shard still in flight when its cohort is deleted commits nothing and marks
    nothing: no orphan keys, no failed-shard count."""
    from service.cohorts.models import MemberResult, ShardRecord, ShardState

    redis, namespace = real_redis
    store = wire(state, redis, namespace)
    from service.cohorts.models import CohortPut

    await store.put("c-0004", CohortPut.model_validate({"members": _members(2)}),
                    default_limit=5)
    run = await store.create_run("c-0004", trigger="api", generation=7, shard_size=5)
    record = ShardRecord(shard=0, state=ShardState.RUNNING, members=2, attempts=1)
    assert await store.set_shard_state(run.run_id, record)
    await store.delete("c-0004")
    failed = record.model_copy(update={"state": ShardState.FAILED})
    assert not await store.set_shard_state(run.run_id, failed)
    done = record.model_copy(update={"state": ShardState.DONE})
    assert not await store.commit_shard(run.run_id, done,
                                        [MemberResult(member_id="m-0000")], {})
    left = [k async for k in redis.scan_iter(match=f"{namespace}:*")]
    assert left == []
