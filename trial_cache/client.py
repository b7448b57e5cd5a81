"""An asyncio client of the ClinicalTrials.gov API v2 (``/version``, ``/studies``,
``/studies/{nctId}``), with patient retries, self-pacing and per-record validation.

* **Retries** (``stamina``): on 429, 5xx, timeouts, network errors, connections dropped
  mid-answer and bodies that are not complete JSON (truncated). Each call has a **time
  budget**, ``ctgov_retry_budget_s`` (default 600 s = 10 min), rather than a small count
  of attempts: it retries until the budget would be overrun, then raises
  :class:`UpstreamUnavailable`. The wait before retry *n* grows exponentially
  (``ctgov_retry_wait_initial_s * 2**(n-1)``, capped at ``ctgov_retry_wait_max_s``, plus
  up to ``ctgov_retry_wait_jitter_s`` of jitter). A 429 or 503 with ``Retry-After``
  (seconds or an HTTP date) waits at least that long *and* at least the grown backoff,
  so a server that keeps saying "2 s" is asked less and less often. A ``Retry-After``
  longer than ``ctgov_retry_after_max_s``, or past the end of the budget, is not waited
  for: the call fails at once, saying so. ``ctgov_retry_attempts`` optionally caps the
  number of requests too (default: no cap). Other 4xx answers are not retried:
  :class:`UpstreamRejected` carries the API's plain-text reason.
* **Timeouts**: ``ctgov_connect_timeout_s`` to connect, ``ctgov_read_timeout_s`` (default
  20 s) for the next bytes of an answer, and ``ctgov_request_deadline_s`` (default 120 s)
  for one whole request (connect + headers + full body), so a server that trickles bytes
  cannot hold a request forever. Each attempt that times out is retried.
* **Pacing** (``aiolimiter``): requests (retries included) are spaced evenly at
  ``ctgov_rate_limit_per_minute``, default 40/min (one every 1.5 s), below the API's
  documented limit of about 50 requests per minute per client.
* **Validation**: each study of a page is validated on its own
  (:func:`trial_cache.models.validate_record`); a broken one becomes a quarantine entry
  of its page, never an error for the page.

Every ``httpx`` exception is converted at this boundary (``raise ... from exc``).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import httpx
import orjson
import stamina
from aiolimiter import AsyncLimiter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matchers.models import NCT_ID_PATTERN
from trial_cache.errors import (
    StudyNotFound,
    StudyValidationError,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from trial_cache.models import (
    STUDY_FIELDS,
    OverallStatus,
    QuarantineEntry,
    StudyRecord,
    validate_record,
)
from trial_cache.settings import TrialCacheSettings

__all__ = ["CTGovClient", "StudyPage", "StudyQuery", "VersionInfo"]

_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
_NCT_RE = re.compile(NCT_ID_PATTERN)
IDS_PER_REQUEST = 100
"""NCT ids per ``filter.ids`` request (about 1.3 kB of query string)."""


class VersionInfo(BaseModel):
    """``/version``: the API's semantic version and the data's UTC timestamp
    (``yyyy-MM-ddTHH:mm:ss``; None if the API did not say)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    api_version: str = Field(alias="apiVersion")
    data_timestamp: datetime | None = Field(default=None, alias="dataTimestamp")


class StudyQuery(BaseModel):
    """Search parameters of ``/studies`` (Essie syntax where the API uses it).

    ``cond`` -> ``query.cond``, ``term`` -> ``query.term``, ``overall_status`` ->
    ``filter.overallStatus`` (any of), ``advanced`` -> ``filter.advanced`` (e.g.
    ``AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]``). Unset = no restriction.
    """

    model_config = ConfigDict(frozen=True)

    cond: str | None = None
    term: str | None = None
    overall_status: tuple[OverallStatus, ...] = ()
    advanced: str | None = None

    def to_params(self) -> dict[str, str]:
        """The query-string parameters (without paging and ``fields``)."""
        params: dict[str, str] = {}
        if self.cond:
            params["query.cond"] = self.cond
        if self.term:
            params["query.term"] = self.term
        if self.overall_status:
            params["filter.overallStatus"] = ",".join(s.value for s in self.overall_status)
        if self.advanced:
            params["filter.advanced"] = self.advanced
        return params


class StudyPage(BaseModel):
    """One ``/studies`` page: its valid studies and its broken ones.

    ``number`` is 1-based; ``total_count`` is the API's ``totalCount`` (first page only);
    ``page_token`` the token this page was asked for with (None for the first page);
    ``next_page_token`` is None on the last page.
    """

    model_config = ConfigDict(frozen=True)

    number: int
    records: tuple[StudyRecord, ...]
    quarantined: tuple[QuarantineEntry, ...] = ()
    total_count: int | None = None
    next_page_token: str | None = None
    page_token: str | None = None


class _PagedStudies(BaseModel):
    """The ``PagedStudies`` envelope; studies are validated one by one afterwards."""

    model_config = ConfigDict(extra="ignore")

    studies: list[Any]
    next_page_token: str | None = Field(default=None, alias="nextPageToken")
    total_count: int | None = Field(default=None, alias="totalCount")


class _RetryableStatus(Exception):
    """A 429 or 5xx answer (internal: converted to UpstreamUnavailable when retries end).
    ``retry_after_s`` is its ``Retry-After`` in seconds, if it sent one."""

    def __init__(self, *, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` in seconds from now: delta-seconds or an HTTP date; None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class CTGovClient:
    """The ClinicalTrials.gov API v2 at ``settings.ctgov_base_url``.

    Use as ``async with CTGovClient(settings=...) as client:`` (or call :meth:`aclose`).
    ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        *,
        settings: TrialCacheSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.ctgov_base_url,
            transport=transport,
            timeout=httpx.Timeout(
                settings.ctgov_read_timeout_s, connect=settings.ctgov_connect_timeout_s
            ),
            headers={"User-Agent": settings.ctgov_user_agent, "Accept": "application/json"},
            follow_redirects=True,
        )
        self._limiter = AsyncLimiter(1, 60.0 / settings.ctgov_rate_limit_per_minute)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    # ----------------------------------------------------------------------------------
    # Endpoints
    # ----------------------------------------------------------------------------------

    async def version(self) -> VersionInfo:
        """``/version``. Raises UpstreamUnavailable / UpstreamRejected / UpstreamError."""
        body = await self._get_json("/version", params=None)
        try:
            return VersionInfo.model_validate(body)
        except ValidationError as exc:
            raise UpstreamError(f"unexpected /version answer: {exc}") from exc

    async def iter_study_pages(
        self,
        params: StudyQuery,
        *,
        page_token: str | None = None,
        page_number: int = 1,
        page_size: int | None = None,
    ) -> AsyncGenerator[StudyPage, None]:
        """Every page of ``/studies`` for ``params``, following ``nextPageToken``.

        Asks for ``pageSize`` (default ``ctgov_page_size``), ``fields`` =
        :data:`STUDY_FIELDS` and, on the first page, ``countTotal=true``. To resume a
        paging run, pass the ``page_token`` a page handed out and that next page's
        ``page_number`` (and the same ``page_size``). Each page's studies are validated
        one by one; broken ones are in ``StudyPage.quarantined`` with location
        ``"page N #i"``. Raises UpstreamUnavailable (retry budget exhausted),
        UpstreamRejected (e.g. a bad ``filter.advanced``, or an expired page token: the
        API's reason is in the message) or UpstreamError.
        """
        base = {
            **params.to_params(),
            "fields": ",".join(STUDY_FIELDS),
            "pageSize": str(page_size or self._settings.ctgov_page_size),
        }
        token: str | None = page_token
        seen_tokens: set[str] = set()
        number = page_number - 1
        while True:
            number += 1
            page_params = (
                {**base, "countTotal": "true"} if token is None else {**base, "pageToken": token}
            )
            page_token_used = token
            body = await self._get_json("/studies", params=page_params)
            try:
                envelope = _PagedStudies.model_validate(body)
            except ValidationError as exc:
                raise UpstreamError(f"unexpected /studies answer on page {number}: {exc}") from exc
            records: list[StudyRecord] = []
            quarantined: list[QuarantineEntry] = []
            for index, raw in enumerate(envelope.studies, start=1):
                result = validate_record(raw, location=f"page {number} #{index}")
                if isinstance(result, StudyRecord):
                    records.append(result)
                else:
                    quarantined.append(result)
            yield StudyPage(
                number=number,
                records=tuple(records),
                quarantined=tuple(quarantined),
                total_count=envelope.total_count,
                next_page_token=envelope.next_page_token,
                page_token=page_token_used,
            )
            token = envelope.next_page_token
            if not token:
                return
            if token in seen_tokens:
                raise UpstreamError(f"the API repeated a page token after page {number}")
            seen_tokens.add(token)

    async def existing_ids(self, nct_ids: Sequence[str]) -> set[str]:
        """Which of ``nct_ids`` the API still has (any status, any scope): ``/studies``
        with ``filter.ids`` in chunks of :data:`IDS_PER_REQUEST` and ``fields=NCTId``.
        Raises the upstream errors of :meth:`iter_study_pages`."""
        found: set[str] = set()
        for start in range(0, len(nct_ids), IDS_PER_REQUEST):
            chunk = nct_ids[start : start + IDS_PER_REQUEST]
            params = {
                "filter.ids": ",".join(chunk),
                "fields": "NCTId",
                "pageSize": str(IDS_PER_REQUEST),
            }
            body = await self._get_json("/studies", params=params)
            try:
                envelope = _PagedStudies.model_validate(body)
            except ValidationError as exc:
                raise UpstreamError(f"unexpected /studies answer to filter.ids: {exc}") from exc
            for raw in envelope.studies:
                try:
                    found.add(raw["protocolSection"]["identificationModule"]["nctId"])
                except (KeyError, TypeError):
                    continue
        return found

    async def get_study(self, nct_id: str) -> StudyRecord:
        """``/studies/{nct_id}`` (with ``fields``), validated.

        Raises ValueError for a malformed id, StudyNotFound (404), StudyValidationError if
        the record does not fit the model, or the upstream errors of :meth:`version`.
        """
        if not _NCT_RE.match(nct_id):
            raise ValueError(f"not an NCT id: {nct_id!r}")
        try:
            body = await self._get_json(
                f"/studies/{nct_id}", params={"fields": ",".join(STUDY_FIELDS)}
            )
        except UpstreamRejected as exc:
            if exc.status == 404:
                raise StudyNotFound(nct_id=nct_id, reason=exc.reason, url=exc.url) from exc
            raise
        result = validate_record(body, location=f"/studies/{nct_id}")
        if isinstance(result, QuarantineEntry):
            raise StudyValidationError(
                nct_id=result.nct_id or nct_id, location=result.location, reason=result.reason
            )
        return result

    # ----------------------------------------------------------------------------------
    # HTTP with retries
    # ----------------------------------------------------------------------------------

    async def _get_json(self, path: str, *, params: Mapping[str, str] | None) -> Any:
        """GET ``path`` and decode its JSON, retrying within the call's time budget."""
        settings = self._settings
        url = str(self._http.build_request("GET", path, params=params).url)
        budget_s = settings.ctgov_retry_budget_s
        deadline = time.monotonic() + budget_s
        attempts = 0
        gave_up: list[str] = []

        def backoff(exc: Exception) -> bool | float:
            """stamina's hook: False = give up, a float = wait that many seconds."""
            retryable = isinstance(
                exc, (_RetryableStatus, *_RETRYABLE_TRANSPORT_ERRORS, orjson.JSONDecodeError)
            )
            if not retryable:
                return False
            grown = min(
                settings.ctgov_retry_wait_max_s,
                settings.ctgov_retry_wait_initial_s * 2.0 ** (attempts - 1),
            )
            wait = grown + random.uniform(0, settings.ctgov_retry_wait_jitter_s)
            if isinstance(exc, _RetryableStatus) and exc.retry_after_s is not None:
                if exc.retry_after_s > settings.ctgov_retry_after_max_s:
                    gave_up.append(
                        f"asked to retry after {exc.retry_after_s:.0f} s, over the limit of "
                        f"{settings.ctgov_retry_after_max_s:.0f} s"
                    )
                    return False
                wait = max(
                    wait, exc.retry_after_s + random.uniform(0, settings.ctgov_retry_wait_jitter_s)
                )
            left = deadline - time.monotonic()
            if wait > left:
                gave_up.append(f"the {budget_s:.0f} s retry budget is spent")
                return False
            return wait

        try:
            async for attempt in stamina.retry_context(
                on=backoff,
                attempts=settings.ctgov_retry_attempts,
                timeout=None,  # the budget is enforced by backoff()
            ):
                with attempt:
                    attempts += 1
                    return await self._get_once(path, params=params, url=url)
        except _RetryableStatus as exc:
            hint = f" ({gave_up[0]})" if gave_up else ""
            raise UpstreamUnavailable(
                f"ClinicalTrials.gov answered HTTP {exc.status} to {attempts} attempt(s){hint}",
                url=url,
                attempts=attempts,
            ) from exc
        except _RETRYABLE_TRANSPORT_ERRORS as exc:
            hint = f" ({gave_up[0]})" if gave_up else ""
            raise UpstreamUnavailable(
                f"ClinicalTrials.gov unreachable after {attempts} attempt(s){hint}: "
                f"{type(exc).__name__}: {str(exc) or 'no answer in time'}",
                url=url,
                attempts=attempts,
            ) from exc
        except orjson.JSONDecodeError as exc:
            hint = f" ({gave_up[0]})" if gave_up else ""
            raise UpstreamUnavailable(
                f"ClinicalTrials.gov sent incomplete JSON to {attempts} attempt(s){hint}: {exc}",
                url=url,
                attempts=attempts,
            ) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"request failed: {type(exc).__name__}: {exc}", url=url) from exc
        raise AssertionError("unreachable: stamina either returns or raises")

    async def _get_once(self, path: str, *, params: Mapping[str, str] | None, url: str) -> Any:
        """One paced request within ``ctgov_request_deadline_s``; a 429/5xx raises
        _RetryableStatus, a deadline overrun httpx.TimeoutException (both retried)."""
        async with self._limiter:
            try:
                async with asyncio.timeout(self._settings.ctgov_request_deadline_s):
                    response = await self._http.get(path, params=params)
            except TimeoutError as exc:
                raise httpx.TimeoutException(
                    f"no complete answer within {self._settings.ctgov_request_deadline_s:.0f} s"
                ) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _RetryableStatus(
                status=status, retry_after_s=_retry_after_s(response.headers.get("Retry-After"))
            )
        if 400 <= status < 500:
            raise UpstreamRejected(status=status, reason=response.text.strip()[:1000], url=url)
        if status != 200:
            raise UpstreamError(f"unexpected HTTP {status}", url=url)
        return orjson.loads(response.content)
