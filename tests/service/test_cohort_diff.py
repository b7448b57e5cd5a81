"""The diff between two runs over two index generations that differ by exactly one
closed trial, one new trial and one updated trial (real parser, real ranker, real
Redis, in-process worker)."""

from __future__ import annotations

from typing import Any

import httpx
from redis.asyncio import Redis

from matchers.index import OPEN_STATUSES
from matchers.models import IndexedTrial
from service.app import create_app
from service.deps import ServiceState
from service.engine import LoadedIndex, build_loaded_index
from service.schemas import HER2_LOW_PATIENT, MESOTHELIOMA_PATIENT
from tests.service.cohort_helpers import run_worker, wire

NEW_NCT = "NCT09999991"


def _next_generation(loaded: LoadedIndex, ontology: Any, *, closed: str, updated: str,
                     copied: str) -> LoadedIndex:
    """Generation 8: ``closed`` COMPLETED, ``updated`` now enrols only ages 90+, and a
    new trial NEW_NCT (a copy of ``copied`` as it was)."""
    trials: list[IndexedTrial] = []
    for t in loaded.index:
        s = t.summary
        if s.nct_id == closed:
            t = t.model_copy(update={"summary": s.model_copy(update={"overall_status":
                                                                     "COMPLETED"})})
        elif s.nct_id == updated:
            t = t.model_copy(update={"summary": s.model_copy(update={"min_age_years": 90.0})})
        trials.append(t)
    source = loaded.index.get(copied)
    assert source is not None
    trials.append(source.model_copy(update={
        "summary": source.summary.model_copy(update={"nct_id": NEW_NCT}),
        "parsed": source.parsed.model_copy(update={"nct_id": NEW_NCT}),
    }))
    return build_loaded_index(trials, ontology, generation=8,
                              parser_version=loaded.parser_version)


async def test_closed_new_and_updated_trials_give_exactly_those_changes(
    state: ServiceState, real_redis: tuple[Redis, str], ontology: Any
) -> None:
    redis, namespace = real_redis
    store = wire(state, redis, namespace, batch_shard_size=1)
    first_index = state.holder.require()
    members = [{"id": "m-1", "patient": HER2_LOW_PATIENT},
               {"id": "m-2", "patient": MESOTHELIOMA_PATIENT}]
    transport = httpx.ASGITransport(app=create_app(state=state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.put("/v1/cohorts/c-9", json={"members": members, "limit": 50})
                ).status_code == 200
        first = (await http.post("/v1/cohorts/c-9/runs")).json()
        await run_worker(state, redis)
        results = await store.results(first["run_id"])
        open_matches = [m.nct_id for m in results["m-1"].matches
                        if m.overall_status in OPEN_STATUSES]
        assert len(open_matches) >= 2, results["m-1"]
        closed, updated = open_matches[0], open_matches[1]

        state.holder.swap(_next_generation(first_index, ontology, closed=closed,
                                           updated=updated, copied=closed))
        second = (await http.post("/v1/cohorts/c-9/runs")).json()
        await run_worker(state, redis)
        record = (await http.get(f"/v1/cohorts/c-9/runs/{second['run_id']}")).json()
        diff = (await http.get(f"/v1/cohorts/c-9/runs/{second['run_id']}/diff")).json()

    assert record["status"] == "complete" and record["generations"] == [8]
    assert diff["previous_run_id"] == first["run_id"]
    got = sorted((e["member_id"], e["kind"], e["nct_id"], e["reason"]) for e in diff["entries"])
    assert got == sorted([
        ("m-1", "lost_match", closed, "trial_closed"),
        ("m-1", "lost_match", updated, "trial_updated"),
        ("m-1", "new_match", NEW_NCT, "new_trial"),
    ])
    lost_updated = next(e for e in diff["entries"] if e["nct_id"] == updated)
    assert lost_updated["after"] == "ineligible"  # the member's verdict on the new record
    closed_entry = next(e for e in diff["entries"] if e["nct_id"] == closed)
    assert closed_entry["status_after"] == "COMPLETED"
    assert diff["counts"] == {"lost_match": 2, "new_match": 1}
