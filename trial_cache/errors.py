"""Exceptions raised by :mod:`trial_cache`.

Hierarchy::

    TrialCacheError                 base class; catch this to handle any trial_cache failure
    ├── UpstreamError               ClinicalTrials.gov did not give a usable answer
    │   ├── UpstreamUnavailable     retries exhausted (429, 5xx, timeouts, dropped or
    │   │                           truncated bodies), or asked to wait longer than allowed
    │   └── UpstreamRejected        a 4xx answer; carries .status and the API's plain-text
    │       │                       .reason (unknown parameter, bad value, ...)
    │       └── StudyNotFound       404 for one study (also a LookupError); carries .nct_id
    ├── StudyValidationError        one record does not fit the study model; carries .nct_id
    │                               (when recoverable), .location and .reason
    ├── DumpFormatError             a bulk-download file cannot be read at all (unknown
    │                               format, not a zip, unreadable); single bad records in a
    │                               readable file are quarantined instead
    ├── ParserContractError         the injected parser broke its contract (wrong number of
    │                               results, wrong NCT id or parser version): a bug upstream
    ├── ParserUnavailable           the parser could not be built (in this process or a
    │                               parse worker), or parse workers keep dying: no trial
    │                               can be parsed, so the run stops
    ├── StoreError                  Redis failed, or the stored data is inconsistent
    │   ├── SyncInProgressError     another sync/import holds the namespace's lease;
    │   │                           carries .holder (who) and .ttl_s (seconds left)
    │   └── LeaseLost               this run's lease was taken over or lapsed: stop
    │                               without publishing
    └── NoPublishedSyncError        nothing published yet: run a sync or an import first
                                    (also a LookupError)

Every error raised from an ``httpx`` or ``redis`` failure is converted here at the
boundary (``raise ... from exc``), so callers never see a transport library's exception.
``UpstreamUnavailable`` is transient (try later); ``UpstreamRejected`` means the request
itself is wrong and retrying will not help. A sync that stops on an upstream error never
publishes half a generation: the message says which generation is still served.
"""

from __future__ import annotations

__all__ = [
    "DumpFormatError",
    "LeaseLost",
    "NoPublishedSyncError",
    "ParserContractError",
    "ParserUnavailable",
    "StoreError",
    "StudyNotFound",
    "StudyValidationError",
    "SyncInProgressError",
    "TrialCacheError",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamUnavailable",
]


class TrialCacheError(Exception):
    """Base class for every exception raised by :mod:`trial_cache`."""


class UpstreamError(TrialCacheError):
    """ClinicalTrials.gov did not give a usable answer. ``url`` is the request's URL
    (with query string) when one was made."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class UpstreamUnavailable(UpstreamError):
    """The API stayed unavailable through every retry.

    ``attempts`` is the number of requests made for the failing call.
    """

    def __init__(self, message: str, *, url: str | None = None, attempts: int = 0) -> None:
        super().__init__(message, url=url)
        self.attempts = attempts


class UpstreamRejected(UpstreamError):
    """The API answered 4xx (other than 429). ``reason`` is its plain-text body, e.g.
    ``"Unknown parameter: foo"``; ``status`` the HTTP status code."""

    def __init__(self, *, status: int, reason: str, url: str | None = None) -> None:
        super().__init__(f"ClinicalTrials.gov rejected the request ({status}): {reason}", url=url)
        self.status = status
        self.reason = reason


class StudyNotFound(UpstreamRejected, LookupError):
    """No study with this NCT id (404)."""

    def __init__(self, *, nct_id: str, reason: str, url: str | None = None) -> None:
        super().__init__(status=404, reason=reason, url=url)
        self.nct_id = nct_id


class StudyValidationError(TrialCacheError):
    """One study record does not fit :class:`trial_cache.models.Study`.

    ``nct_id`` is the record's NCT id when it could be read, ``location`` where the
    record came from (``"page 3 #17"``, ``"dump.jsonl.gz:120"``), ``reason`` a one-line
    summary of what is wrong.
    """

    def __init__(self, *, reason: str, nct_id: str | None = None, location: str = "") -> None:
        where = nct_id or location or "record"
        super().__init__(f"{where}: {reason}")
        self.nct_id = nct_id
        self.location = location
        self.reason = reason


class DumpFormatError(TrialCacheError):
    """A dump file cannot be read as JSONL, gzip'd JSONL, JSON or a zip of JSON files."""


class ParserContractError(TrialCacheError):
    """The injected :class:`trial_cache.ingest.TrialParser` returned results that do not
    correspond to its input (count, NCT ids or parser version)."""


class ParserUnavailable(TrialCacheError):
    """No parser to parse with: building it failed (e.g. a configured spaCy model is not
    installed) or the parse worker processes keep dying. Stops a sync or an import
    (nothing is published); a single trial the parser fails on is quarantined instead."""


class StoreError(TrialCacheError):
    """Redis failed (connection, timeout, command error) or the stored data is
    inconsistent (e.g. a concurrent publish)."""


class SyncInProgressError(StoreError):
    """Another sync or import holds the namespace's lease (:mod:`trial_cache.lease`);
    ``ttl_s`` is its remaining lifetime in seconds and ``holder`` who holds it
    (``"sync pid 4242 on host-a, taken ..."``), each None if unknown."""

    def __init__(
        self, message: str, *, ttl_s: float | None = None, holder: str | None = None
    ) -> None:
        super().__init__(message)
        self.ttl_s = ttl_s
        self.holder = holder


class LeaseLost(StoreError):
    """The run's sync lease was taken over (``--force`` elsewhere) or lapsed (Redis was
    unreachable for longer than its TTL); the run stops without publishing."""


class NoPublishedSyncError(TrialCacheError, LookupError):
    """The namespace has no published generation yet: run a sync or an import first."""
