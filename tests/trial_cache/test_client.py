"""CTGovClient against httpx.MockTransport: paging, parameters, errors, retries, limits."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest

from tests.trial_cache.test_models import EXPANDED_ACCESS_STUDY
from trial_cache.client import CTGovClient, StudyPage, StudyQuery, _retry_after_s
from trial_cache.errors import (
    StudyNotFound,
    StudyValidationError,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from trial_cache.models import STUDY_FIELDS, OverallStatus
from trial_cache.settings import TrialCacheSettings

Handler = Callable[[httpx.Request], httpx.Response]


def study(nct_id: str, **eligibility: str) -> dict[str, Any]:
    raw = copy.deepcopy(EXPANDED_ACCESS_STUDY)
    raw["protocolSection"]["identificationModule"]["nctId"] = nct_id
    raw["protocolSection"]["eligibilityModule"].update(eligibility)
    return raw


def page(
    studies: list[Any], *, token: str | None = None, total: int | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"studies": studies}
    if token:
        body["nextPageToken"] = token
    if total is not None:
        body["totalCount"] = total
    return httpx.Response(200, content=orjson.dumps(body))


class Recorder:
    """A MockTransport handler that answers from a script and records requests."""

    def __init__(self, answers: list[httpx.Response | Exception] | Handler) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        if callable(self.answers):
            return self.answers(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(settings: TrialCacheSettings, recorder: Recorder) -> CTGovClient:
    return CTGovClient(settings=settings, transport=httpx.MockTransport(recorder))


async def collect(client: CTGovClient, query: StudyQuery) -> list[StudyPage]:
    return [p async for p in client.iter_study_pages(query)]


async def test_pages_follow_next_page_token_with_the_same_parameters(
    settings: TrialCacheSettings,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("pageToken")
        if token is None:
            return page([study("NCT00000001"), study("NCT00000002")], token="p2", total=5)
        if token == "p2":
            return page([study("NCT00000003"), study("NCT00000004")], token="p3")
        return page([study("NCT00000005")])

    recorder = Recorder(answer)
    query = StudyQuery(
        cond="mesothelioma OR desmoid",
        term="pembrolizumab",
        overall_status=(OverallStatus.RECRUITING, OverallStatus.NOT_YET_RECRUITING),
        advanced="AREA[LastUpdatePostDate]RANGE[2026-11-19,MAX]",
    )
    async with client_for(settings, recorder) as client:
        pages = await collect(client, query)

    assert [p.number for p in pages] == [1, 2, 3]
    assert [r.nct_id for p in pages for r in p.records] == [f"NCT0000000{i}" for i in range(1, 6)]
    assert pages[0].total_count == 5 and pages[-1].next_page_token is None
    first, *rest = [dict(r.url.params) for r in recorder.requests]
    assert recorder.requests[0].url.path == "/api/v2/studies"
    assert first == {
        "query.cond": "mesothelioma OR desmoid",
        "query.term": "pembrolizumab",
        "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING",
        "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-11-19,MAX]",
        "fields": ",".join(STUDY_FIELDS),
        "pageSize": "3",
        "countTotal": "true",
    }
    for params, token in zip(rest, ["p2", "p3"], strict=True):
        expected = {k: v for k, v in first.items() if k != "countTotal"}
        assert params == {**expected, "pageToken": token}
    assert recorder.requests[0].headers["User-Agent"] == settings.ctgov_user_agent


async def test_broken_records_are_quarantined_not_raised(settings: TrialCacheSettings) -> None:
    recorder = Recorder(
        [page([study("NCT00000001"), study("NCT00000002", minimumAge="eighteen"), "junk"])]
    )
    async with client_for(settings, recorder) as client:
        (only,) = await collect(client, StudyQuery())
    assert [r.nct_id for r in only.records] == ["NCT00000001"]
    bad_age, junk = only.quarantined
    assert (bad_age.nct_id, bad_age.location) == ("NCT00000002", "page 1 #2")
    assert "minimumAge" in bad_age.reason
    assert (junk.nct_id, junk.location, junk.reason) == (
        None,
        "page 1 #3",
        "not a JSON object: str",
    )


async def test_400_surfaces_the_api_reason_without_retrying(settings: TrialCacheSettings) -> None:
    recorder = Recorder([httpx.Response(400, text="filter.advanced: unknown field Foo\n")])
    async with client_for(settings, recorder) as client:
        with pytest.raises(UpstreamRejected) as caught:
            await collect(client, StudyQuery(advanced="AREA[Foo]x"))
    assert caught.value.status == 400
    assert caught.value.reason == "filter.advanced: unknown field Foo"
    assert "unknown field Foo" in str(caught.value)
    assert caught.value.url is not None and "filter.advanced" in caught.value.url
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(502),
        httpx.Response(200, content=b'{"studies": [{"protocolSection": '),  # truncated
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("peer closed connection without sending complete body"),
    ],
    ids=["503", "502", "truncated-json", "read-timeout", "connect-error", "dropped"],
)
async def test_transient_failures_are_retried(
    settings: TrialCacheSettings, failure: httpx.Response | Exception
) -> None:
    recorder = Recorder([failure, failure, page([study("NCT00000001")])])
    async with client_for(settings, recorder) as client:
        (only,) = await collect(client, StudyQuery())
    assert [r.nct_id for r in only.records] == ["NCT00000001"]
    assert len(recorder.requests) == 3


async def test_retries_exhausted_raise_upstream_unavailable(settings: TrialCacheSettings) -> None:
    recorder = Recorder(lambda request: httpx.Response(503, text="Service Unavailable"))
    async with client_for(settings, recorder) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.version()
    assert len(recorder.requests) == settings.ctgov_retry_attempts
    assert caught.value.attempts == settings.ctgov_retry_attempts
    assert "HTTP 503" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_transport_errors_are_converted_at_the_boundary(
    settings: TrialCacheSettings,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client_for(settings, Recorder(refuse)) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.version()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "ConnectError" in str(caught.value)


async def test_429_waits_at_least_retry_after(settings: TrialCacheSettings) -> None:
    recorder = Recorder(
        [
            httpx.Response(429, headers={"Retry-After": "1"}, text="Too Many Requests"),
            httpx.Response(
                200, json={"apiVersion": "2.0.0", "dataTimestamp": "2026-11-20T09:00:00"}
            ),
        ]
    )
    # exponential backoff alone would wait 0.01 s: only Retry-After explains >= 1 s
    async with client_for(settings, recorder) as client:
        version = await client.version()
    assert version.data_timestamp == datetime(2026, 11, 20, 9, 0)
    assert recorder.times[1] - recorder.times[0] >= 1.0


async def test_429_asking_for_too_long_a_wait_gives_up_at_once(
    settings: TrialCacheSettings,
) -> None:
    impatient = settings.model_copy(update={"ctgov_retry_after_max_s": 5.0})
    recorder = Recorder(lambda request: httpx.Response(429, headers={"Retry-After": "3600"}))
    async with client_for(impatient, recorder) as client:
        with pytest.raises(UpstreamUnavailable, match="over the limit"):
            await client.version()
    assert len(recorder.requests) == 1


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert _retry_after_s("2") == 2.0
    assert _retry_after_s(None) is None
    assert _retry_after_s("soon") is None
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= (_retry_after_s(format_datetime(later, usegmt=True)) or 0) <= 31
    assert _retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


async def test_requests_are_spaced_by_the_rate_limit(settings: TrialCacheSettings) -> None:
    limited = settings.model_copy(update={"ctgov_rate_limit_per_minute": 600.0})  # one per 0.1 s
    recorder = Recorder(lambda request: httpx.Response(200, json={"apiVersion": "2.0.0"}))
    async with client_for(limited, recorder) as client:
        for _ in range(5):
            await client.version()
    gaps = [b - a for a, b in zip(recorder.times, recorder.times[1:], strict=False)]
    assert min(gaps) >= 0.09, gaps


async def test_get_study(settings: TrialCacheSettings) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        nct_id = request.url.path.rsplit("/", 1)[-1]
        if nct_id == "NCT00000001":
            return httpx.Response(200, content=orjson.dumps(study(nct_id)))
        if nct_id == "NCT00000002":
            return httpx.Response(200, content=orjson.dumps(study(nct_id, sex="not a sex")))
        return httpx.Response(404, text=f"Study {nct_id} not found")

    recorder = Recorder(answer)
    async with client_for(settings, recorder) as client:
        record = await client.get_study("NCT00000001")
        assert record.summary.nct_id == "NCT00000001"
        assert recorder.requests[0].url.params["fields"] == ",".join(STUDY_FIELDS)
        with pytest.raises(StudyValidationError) as invalid:
            await client.get_study("NCT00000002")
        assert invalid.value.nct_id == "NCT00000002" and "sex" in invalid.value.reason
        with pytest.raises(StudyNotFound) as missing:
            await client.get_study("NCT00000003")
        assert missing.value.nct_id == "NCT00000003" and missing.value.status == 404
        assert isinstance(missing.value, LookupError)
        with pytest.raises(ValueError, match="not an NCT id"):
            await client.get_study("../version")


async def test_unexpected_envelope_is_an_upstream_error(settings: TrialCacheSettings) -> None:
    recorder = Recorder([httpx.Response(200, json={"studies": "none"})])
    async with client_for(settings, recorder) as client:
        with pytest.raises(UpstreamError, match="unexpected /studies answer"):
            await collect(client, StudyQuery())


async def test_repeated_page_token_stops_the_loop(settings: TrialCacheSettings) -> None:
    recorder = Recorder(lambda request: page([study("NCT00000001")], token="same"))
    async with client_for(settings, recorder) as client:
        with pytest.raises(UpstreamError, match="repeated a page token"):
            await collect(client, StudyQuery())
    assert len(recorder.requests) == 2  # page 2 handed back page 1's token


async def test_retries_are_bounded_by_the_time_budget_not_a_count(
    settings: TrialCacheSettings,
) -> None:
    """With no attempt cap, a server that keeps failing is retried until the next wait
    would overrun the budget; then the error says the budget is spent."""
    budgeted = settings.model_copy(
        update={
            "ctgov_retry_attempts": None,
            "ctgov_retry_budget_s": 1.0,
            "ctgov_retry_wait_initial_s": 0.05,
            "ctgov_retry_wait_max_s": 0.2,
        }
    )
    recorder = Recorder(lambda request: httpx.Response(500, text="Internal Server Error"))
    started = time.monotonic()
    async with client_for(budgeted, recorder) as client:
        with pytest.raises(UpstreamUnavailable, match="1 s retry budget is spent") as caught:
            await client.version()
    elapsed = time.monotonic() - started
    assert len(recorder.requests) > 4  # more than the old fixed count of attempts
    assert caught.value.attempts == len(recorder.requests)
    assert elapsed <= 1.5, elapsed


async def test_503_retry_after_is_honoured_with_growing_backoff(
    settings: TrialCacheSettings,
) -> None:
    """``Retry-After: 0`` on every 503: the waits still grow exponentially (0.1, 0.2,
    0.4 s), so a server asking for "now" again and again is asked less and less often."""
    grown = settings.model_copy(
        update={"ctgov_retry_wait_initial_s": 0.1, "ctgov_retry_wait_max_s": 10.0}
    )
    answers: list[httpx.Response | Exception] = [
        httpx.Response(503, headers={"Retry-After": "0"}) for _ in range(3)
    ]
    answers.append(httpx.Response(200, json={"apiVersion": "2.0.0"}))
    recorder = Recorder(answers)
    async with client_for(grown, recorder) as client:
        await client.version()
    gaps = [b - a for a, b in zip(recorder.times, recorder.times[1:], strict=False)]
    assert len(gaps) == 3
    for gap, floor in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert gap >= floor * 0.95, gaps


async def test_503_retry_after_seconds_are_waited_for(settings: TrialCacheSettings) -> None:
    recorder = Recorder(
        [
            httpx.Response(503, headers={"Retry-After": "1"}),
            httpx.Response(200, json={"apiVersion": "2.0.0"}),
        ]
    )
    async with client_for(settings, recorder) as client:
        await client.version()
    assert recorder.times[1] - recorder.times[0] >= 1.0


async def test_retry_after_beyond_the_budget_fails_at_once(settings: TrialCacheSettings) -> None:
    short = settings.model_copy(update={"ctgov_retry_budget_s": 2.0})
    recorder = Recorder(lambda request: httpx.Response(429, headers={"Retry-After": "30"}))
    async with client_for(short, recorder) as client:
        with pytest.raises(UpstreamUnavailable, match="retry budget is spent"):
            await client.version()
    assert len(recorder.requests) == 1


async def test_a_request_over_its_deadline_is_abandoned_and_retried(
    settings: TrialCacheSettings,
) -> None:
    """A server that accepts the request but never finishes answering is given up on
    after ``ctgov_request_deadline_s`` (not the read timeout, which trickled bytes
    would keep resetting), and the call is retried."""
    calls = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(30)
        return httpx.Response(200, json={"apiVersion": "2.0.0"})

    quick = settings.model_copy(update={"ctgov_request_deadline_s": 0.3})
    started = time.monotonic()
    async with CTGovClient(settings=quick, transport=httpx.MockTransport(answer)) as client:
        version = await client.version()
    assert version.api_version == "2.0.0"
    assert calls == 2
    assert time.monotonic() - started < 5


async def test_existing_ids_asks_filter_ids_in_chunks(settings: TrialCacheSettings) -> None:
    known = {f"NCT{i:08d}" for i in range(0, 250, 2)}

    def answer(request: httpx.Request) -> httpx.Response:
        asked = request.url.params["filter.ids"].split(",")
        assert len(asked) <= 100 and request.url.params["fields"] == "NCTId"
        return page([{"protocolSection": {"identificationModule": {"nctId": n}}}
                     for n in asked if n in known])

    recorder = Recorder(answer)
    ids = [f"NCT{i:08d}" for i in range(250)]
    async with client_for(settings, recorder) as client:
        assert await client.existing_ids(ids) == known
    assert len(recorder.requests) == 3
