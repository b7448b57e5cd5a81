"""Models of the cache's own state: generations, checkpoints, parsed records, reports.

These are what the store persists besides studies (see :mod:`trial_cache.keys`) and what
a sync or an import returns. Times are timezone-aware UTC datetimes, except
``data_timestamp``, which is the API's ``/version`` ``dataTimestamp`` as given (naive,
UTC by the API's definition).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from matchers.models import NCTId, ParsedTrial
from trial_cache.models import QuarantineEntry

__all__ = [
    "ChangeKind",
    "GenerationInfo",
    "ParsedRecord",
    "Removal",
    "ResumeCounts",
    "ResumePoint",
    "SyncCheckpoint",
    "SyncKind",
    "SyncReport",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChangeKind(StrEnum):
    """A study version compared with the previously published generation."""

    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class SyncKind(StrEnum):
    FULL = "full"
    """Everything in scope fetched; the new generation holds exactly what was fetched
    (plus the previous version of studies quarantined this time)."""
    INCREMENTAL = "incremental"
    """Studies updated since the checkpoint fetched and laid over the previous generation."""
    IMPORT = "import"
    """A bulk-download file loaded; like a full sync, and it clears the checkpoint."""
    UP_TO_DATE = "up_to_date"
    """The API's dataTimestamp has not moved since the checkpoint: nothing fetched."""


class GenerationInfo(_Frozen):
    """``{ns}:gen:{g}:meta``. ``base`` is the generation it was built from (copied for an
    incremental sync, compared against otherwise); ``replaces`` the generation that was
    published when this one was; ``trial_count`` is set at publish."""

    generation: int
    kind: SyncKind
    parser_version: str
    base: int | None = None
    created_at: datetime
    published_at: datetime | None = None
    replaces: int | None = None
    trial_count: int | None = None
    data_timestamp: datetime | None = None


class SyncCheckpoint(_Frozen):
    """``{ns}:checkpoint``: what the last successful sync saw.

    An incremental sync needs all of: the same ``scope`` and ``parser_version`` as now,
    and ``generation`` still published. It then asks for studies whose
    LastUpdatePostDate is on or after ``data_timestamp``'s date minus the overlap.
    """

    data_timestamp: datetime | None
    scope: str
    parser_version: str
    generation: int
    completed_at: datetime


class ResumeCounts(_Frozen):
    """The running totals a resumed sync carries on from (see :class:`SyncReport`)."""

    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    parsed: int = 0


class ResumePoint(_Frozen):
    """``{ns}:sync:resume``: how far an unfinished sync got, written after each page's
    studies are stored in the generation it builds (and deleted when it publishes).

    A rerun continues from ``next_page_token`` (page ``next_page``) into the same
    ``generation`` when ``scope``, ``query``, ``page_size`` and ``parser_version`` are
    still those of the run and ``base`` is still the published generation; otherwise the
    rerun discards ``generation`` and starts over. ``data_timestamp`` is the API's
    ``dataTimestamp`` when the interrupted run started: the checkpoint published at the
    end carries it, so the next incremental sync re-reads anything updated meanwhile.
    """

    kind: SyncKind
    scope: str
    query: dict[str, str]
    page_size: int
    parser_version: str
    base: int | None
    generation: int
    next_page_token: str
    next_page: int
    total_count: int | None = None
    data_timestamp: datetime | None = None
    counts: ResumeCounts = ResumeCounts()
    quarantine: tuple[QuarantineEntry, ...] = ()
    started_at: datetime
    updated_at: datetime


class Removal(_Frozen):
    """Trials a full sync or an import with ``prune`` left out of the new generation,
    grouped by why: ``count`` of them, and the first NCT ids as ``examples``."""

    reason: str
    count: int
    examples: tuple[str, ...] = ()


class ParsedRecord(_Frozen):
    """``{ns}:parsed:{parser_version}:{nct_id}:{content_hash}``: the parsed criteria of one
    study version, and the OncoTree codes it is indexed under."""

    content_hash: str
    trial: ParsedTrial
    oncotree_codes: tuple[str, ...] = ()

    @property
    def nct_id(self) -> NCTId:
        return self.trial.nct_id


class SyncReport(_Frozen):
    """What a sync or an import did.

    ``fetched`` counts records read (API studies or dump records, broken ones included);
    ``new``/``updated``/``unchanged`` compare valid ones with the previously published
    generation; ``quarantined`` counts records set aside (listed in ``quarantine``);
    ``parsed`` counts trials handed to the parser (kept ones included).

    A full sync or an import never drops a trial of the previous generation silently:
    trials it did not read are **kept** (``kept`` counts them, re-parsed if the parser
    changed) unless it ran with ``prune``; then they are **removed** (``removed``
    counts them, ``removals`` groups them by reason). An incremental sync keeps
    everything. ``resumed_from_page`` is the page an interrupted sync was continued from
    (None for a run that started afresh); ``took_over_lease_of`` names the dead owner
    whose lease ``force`` took over. ``generation`` is the generation published (for
    ``up_to_date``, or when ``published`` is false: the one still served).
    ``published`` is false when the run changed nothing (no new, updated or removed
    trial, same parser): then no generation was published, so the API processes and
    workers keep their index, and only the checkpoint moved on.
    """

    kind: SyncKind
    source: str
    generation: int | None = None
    previous_generation: int | None = None
    data_timestamp: datetime | None = None
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    parsed: int = 0
    removed: int = 0
    kept: int = 0
    removals: tuple[Removal, ...] = ()
    pruned: bool = False
    published: bool = True
    resumed_from_page: int | None = None
    took_over_lease_of: str | None = None
    started_at: datetime
    finished_at: datetime
    quarantine: tuple[QuarantineEntry, ...] = ()

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
