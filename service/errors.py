"""Every error → HTTP mapping of the service, in one place.

:func:`install_error_handlers` registers one handler per error family:

==============================================  ======  ==================================
exception                                       status  body ``error``
==============================================  ======  ==================================
``RequestValidationError`` (bad body/query)     422     ``invalid_request`` (+ ``detail``)
``matchers.normalize.PatientProfileError``      422     ``invalid_patient`` (+ suggestions)
``service.errors.InvalidParameter``             422     ``invalid_parameter``
``ontologies.UnknownConditionError``            404     ``unknown_condition`` (+ suggestions)
``service.errors.ConditionNotFound``            404     ``unknown_condition`` (+ candidates)
``service.errors.TrialNotFound``                404     ``trial_not_found``
``service.errors.BatchJobNotFound``             404     ``batch_job_not_found``
``service.errors.IndexNotReady``                503     ``index_not_ready``
``service.auth`` errors                         401     ``api_key_missing`` / ``api_key_invalid``
                                                403     ``api_key_scope``
``service.ratelimit.RateLimited``               429     ``rate_limited`` (+ Retry-After)
``service.match_pool.MatchPoolBusy``            503     ``matching_busy`` (+ Retry-After)
``service.cohorts.errors`` (see there)          404/409/500/503  ``cohort_not_found``, ...
``trial_cache.NoPublishedSyncError``            503     ``no_trials_loaded``
``trial_cache.SyncInProgressError``             409     ``sync_in_progress``
``trial_cache.StudyNotFound``                   404     ``trial_not_found``
``trial_cache.UpstreamUnavailable``             503     ``upstream_unavailable``
``trial_cache.UpstreamRejected``                502     ``upstream_rejected``
``trial_cache.StoreError``                      503     ``store_unavailable``
``trial_cache.TrialCacheError`` (other)         500     ``trial_cache_error``
``service.fhir.errors.InvalidBundle``           422     ``invalid_bundle`` (+ ``detail``)
``service.fhir.errors.NotMappable``             422     ``not_mappable``
``service.fhir.errors.InvalidFhirRequest``      400     ``invalid_fhir_request``
``matchers.errors.MatcherError`` (other)        500     ``matcher_error``
``ontologies.OntologyError`` (other)            500     ``ontology_error``
``Exception`` (anything else)                   500     ``internal_error``
==============================================  ======  ==================================

Every error body is ``{"error": code, "message": "what happened and what to fix", ...}``.
A 422 keeps FastAPI's ``detail`` list (``loc``, ``msg``, ``type``) *without* the
offending ``input`` value (it may be health data), and its ``message`` names each wrong
field, e.g. ``patient.ecgo: unknown field (Extra inputs are not permitted)``.

On the FHIR paths (``/fhir/...``, ``/getClinicalTrial``) every error body above is
rendered as an OperationOutcome (``application/fhir+json``, same status): one issue per
``detail`` entry, its ``expression`` the dotted location (for a Bundle, the element path,
e.g. ``Bundle.entry[2].resource.birthDate``).

Logging: handlers log the error class and status, never request bodies or exception
messages of patient-facing routes (a message may quote what the caller sent).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from matchers.errors import MatcherError, PatientProfileError
from ontologies.errors import OntologyError, UnknownConditionError
from service.fhir.errors import FhirError, InvalidBundle, InvalidFhirRequest
from service.middleware import route_template
from trial_cache.errors import (
    NoPublishedSyncError,
    StoreError,
    StudyNotFound,
    SyncInProgressError,
    TrialCacheError,
    UpstreamRejected,
    UpstreamUnavailable,
)

log = logging.getLogger("trialmatch.service.errors")


# --------------------------------------------------------------------------------------
# The service's own errors
# --------------------------------------------------------------------------------------


class ServiceError(Exception):
    """Base of the errors routes raise; each subclass fixes its status and code."""

    status_code = 500
    code = "service_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}

    def headers(self) -> dict[str, str]:
        """Response headers (``Retry-After``, ``WWW-Authenticate``); none by default."""
        return {}


class InvalidParameter(ServiceError):
    """A parameter is well-formed but unusable (e.g. a ZIP code that does not exist).
    ``loc`` is its location as in a FastAPI 422 (``["query", "zip"]``)."""

    status_code = 422
    code = "invalid_parameter"

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(f"{_dotted(loc)}: {message}")
        self.loc = list(loc)
        self.msg = message

    def body(self) -> dict[str, Any]:
        return {
            **super().body(),
            "detail": [{"loc": self.loc, "msg": self.msg, "type": self.code}],
        }


class ConditionNotFound(ServiceError):
    """A condition query that resolves to no OncoTree node. ``candidates`` are the
    nearest nodes (dicts with ``code``, ``name``, ``score``)."""

    status_code = 404
    code = "unknown_condition"

    def __init__(self, query: str, candidates: Sequence[dict[str, Any]], reason: str = "") -> None:
        names = ", ".join(f"{c['name']} ({c['code']})" for c in candidates)
        msg = reason or f"Unknown condition {query!r}"
        msg += f". Nearest matches: {names}." if names else ". No near matches."
        super().__init__(msg)
        self.query = query
        self.candidates = list(candidates)

    def body(self) -> dict[str, Any]:
        return {**super().body(), "query": self.query, "suggestions": self.candidates}


class TrialNotFound(ServiceError):
    status_code = 404
    code = "trial_not_found"

    def __init__(self, nct_id: str) -> None:
        super().__init__(
            f"No trial {nct_id} in the loaded trial set. It may be outside the sync scope "
            "(oncology) or not yet synced; check https://clinicaltrials.gov/study/"
            f"{nct_id}."
        )
        self.nct_id = nct_id


class BatchJobNotFound(ServiceError):
    status_code = 404
    code = "batch_job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"No batch job {job_id!r}: the id is wrong or its results expired "
            "(see TRIALMATCH_BATCH_RESULT_TTL_S)."
        )


class IndexNotReady(ServiceError):
    status_code = 503
    code = "index_not_ready"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "No trial index is loaded yet. Load trials with `trialmatch import PATH` or "
            "`trialmatch sync`; the service picks the new generation up by itself."
        )


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _dotted(loc: Sequence[str | int]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message, **extra})


def _explain(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        return f"unknown field ({msg}); check the spelling against the schema at /docs"
    if err.get("type") == "missing":
        return "required field is missing"
    return msg


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """The 422 body for pydantic/FastAPI validation errors, without input values."""
    detail = []
    lines = []
    for err in errors:
        loc = list(err.get("loc", ()))
        item: dict[str, Any] = {"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")}
        ctx = err.get("ctx")
        if ctx and "expected" in ctx:
            item["expected"] = str(ctx["expected"])
        detail.append(item)
        lines.append(f"{_dotted(loc)}: {_explain(err)}")
    return {
        "error": "invalid_request",
        "message": "Invalid request. " + "; ".join(lines),
        "detail": detail,
    }


def _route(request: Request) -> str:
    """The route template, never the path: path parameters (a batch job id) are secrets."""
    return route_template(request.scope)


def _log(request: Request, status: int, exc: BaseException) -> None:
    # Class name and route template only: messages can quote patient-supplied values.
    log.log(
        logging.WARNING if status < 500 else logging.ERROR,
        "%s %s -> %d (%s)",
        request.method,
        _route(request),
        status,
        type(exc).__name__,
    )


# --------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    _log(request, 422, exc)
    return JSONResponse(status_code=422, content=validation_body(exc.errors()))


async def _service(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    _log(request, exc.status_code, exc)
    return JSONResponse(status_code=exc.status_code, content=exc.body(), headers=exc.headers())


async def _patient(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PatientProfileError)
    _log(request, 422, exc)
    loc = ["body", "patient", exc.field]
    field = f"patient.{exc.field}"
    message = f"Invalid request. {field}: {exc.message}"
    if exc.suggestions:
        message += ". Did you mean: " + ", ".join(exc.suggestions) + "?"
    return _error(
        422,
        "invalid_patient",
        message,
        detail=[{"loc": loc, "msg": exc.message, "type": "invalid_patient"}],
        suggestions=list(exc.suggestions),
    )


async def _unknown_condition(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnknownConditionError)
    _log(request, 404, exc)
    message = f"Unknown condition {exc.query!r}"
    if exc.suggestions:
        message += ". Nearest matches: " + ", ".join(exc.suggestions) + "."
    return _error(
        404,
        "unknown_condition",
        message,
        query=exc.query,
        suggestions=[{"name": s} for s in exc.suggestions],
    )


async def _trial_cache(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TrialCacheError)
    headers: dict[str, str] = {}
    if isinstance(exc, NoPublishedSyncError):
        status, code = 503, "no_trials_loaded"
        message = (
            "No trials are loaded yet. Run `trialmatch import PATH` or `trialmatch sync`."
        )
    elif isinstance(exc, SyncInProgressError):
        status, code, message = 409, "sync_in_progress", str(exc)
    elif isinstance(exc, StudyNotFound):
        status, code = 404, "trial_not_found"
        message = f"No trial {exc.nct_id} on ClinicalTrials.gov."
    elif isinstance(exc, UpstreamUnavailable):
        status, code = 503, "upstream_unavailable"
        message = "ClinicalTrials.gov is unavailable; try again later."
        headers["Retry-After"] = "60"
    elif isinstance(exc, UpstreamRejected):
        status, code, message = 502, "upstream_rejected", str(exc)
    elif isinstance(exc, StoreError):
        status, code = 503, "store_unavailable"
        message = "The trial store (Redis) is unavailable; try again shortly."
        headers["Retry-After"] = "5"
    else:
        status, code, message = 500, "trial_cache_error", "The trial cache failed."
    _log(request, status, exc)
    return JSONResponse(
        status_code=status, content={"error": code, "message": message}, headers=headers
    )


async def _fhir(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FhirError)
    _log(request, exc.status_code, exc)
    code = ("invalid_bundle" if isinstance(exc, InvalidBundle) else
            "invalid_fhir_request" if isinstance(exc, InvalidFhirRequest) else "not_mappable")
    detail = [{"loc": [path], "msg": msg, "type": exc.issue_code} for path, msg in exc.issues]
    return _error(exc.status_code, code, exc.message, detail=detail)


_FHIR_ISSUE_CODES = {400: "invalid", 404: "not-found", 409: "conflict", 422: "invalid",
                     503: "transient"}


def is_fhir_path(path: str) -> bool:
    """True for the FHIR routes, whose errors are OperationOutcome resources."""
    return path.startswith("/fhir/") or path == "/getClinicalTrial"


def _fhir_aware(handler: Any) -> Any:
    """Wrap ``handler`` so that on FHIR paths its JSON error body becomes an
    OperationOutcome (same status and headers)."""
    import orjson

    from service.fhir.research_study import FHIR_JSON, operation_outcome

    async def wrapped(request: Request, exc: Exception) -> Any:
        response = await handler(request, exc)
        if not is_fhir_path(request.url.path):
            return response
        body = orjson.loads(response.body)
        issues = [(".".join(str(p) for p in d.get("loc", []) if p != "body"),
                   f"{d.get('msg', '')}") for d in body.get("detail") or []]
        issues = issues or [("", str(body.get("message", "error")))]
        status = response.status_code
        outcome = operation_outcome(
            issues, severity="error" if status < 500 else "fatal",
            code=(exc.issue_code if isinstance(exc, FhirError)
                  else _FHIR_ISSUE_CODES.get(status, "exception")))
        outcome["issue"][0].setdefault("diagnostics", str(body.get("message", "")))
        headers = {k: v for k, v in response.headers.items()
                   if k.lower() not in {"content-length", "content-type"}}
        return JSONResponse(status_code=status, content=outcome, media_type=FHIR_JSON,
                            headers=headers)

    return wrapped


async def _matcher(request: Request, exc: Exception) -> JSONResponse:
    _log(request, 500, exc)
    return _error(500, "matcher_error", "The matcher failed on this request.")


async def _ontology(request: Request, exc: Exception) -> JSONResponse:
    _log(request, 500, exc)
    return _error(500, "ontology_error", "The vocabulary data failed to load or answer.")


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # The traceback's frames, not the message (it may quote patient data).
    frames = "".join(traceback.format_tb(exc.__traceback__, limit=-5))
    log.error("%s %s -> 500 (%s)\n%s", request.method, _route(request), type(exc).__name__, frames)
    return _error(500, "internal_error", "Internal error; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on ``app`` (most specific classes first is not
    needed: Starlette picks the handler of the nearest class in the MRO)."""
    handlers: list[tuple[type[Exception], Any]] = [
        (RequestValidationError, _validation),
        (ServiceError, _service),
        (PatientProfileError, _patient),
        (UnknownConditionError, _unknown_condition),
        (TrialCacheError, _trial_cache),
        (FhirError, _fhir),
        (MatcherError, _matcher),
        (OntologyError, _ontology),
        (Exception, _unhandled),
    ]
    for cls, handler in handlers:
        app.add_exception_handler(cls, _fhir_aware(handler))
