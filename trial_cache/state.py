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
    ``parsed`` counts trials handed to the parser; ``removed`` counts trials of the
    previous generation absent from the new one (full sync and import only).
    ``generation`` is the generation published (for ``up_to_date``: the one still served).
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
    started_at: datetime
    finished_at: datetime
    quarantine: tuple[QuarantineEntry, ...] = ()

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
