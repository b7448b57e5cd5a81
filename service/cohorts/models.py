"""Cohort and run records (stored in Redis) and the ``/v1/cohorts`` API shapes.

Stored records hold no patient data in clear: profiles, results and diffs are Fernet
tokens (:mod:`service.cohorts.crypto`); records below carry ids, counts and states.
Times are UTC; durations in seconds; scores in [0, 1].
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from matchers.models import NCTId
from matchers.patient import PatientProfile
from service.cohorts.ids import OpaqueId
from service.schemas import MESOTHELIOMA_PATIENT


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --------------------------------------------------------------------------------------
# PUT /v1/cohorts/{cohort_id}
# --------------------------------------------------------------------------------------


class CohortMember(_In):
    """One member: an opaque ``id`` (:mod:`service.cohorts.ids`) and the profile.

    FHIR hook: members take ``patient`` JSON (the ``POST /v1/match`` contract). An mCODE
    FHIR Bundle member would be a second, mutually exclusive field here, converted to a
    :class:`PatientProfile` by the FHIR adapter (issue 9) before storage; nothing
    downstream changes because only the validated profile is stored.
    """

    id: OpaqueId
    patient: PatientProfile


class WebhookConfig(_In):
    """Where a run-finished summary is POSTed, and the shared secret that signs it
    (HMAC-SHA256; :mod:`service.cohorts.webhook`). Stored encrypted."""

    url: AnyHttpUrl
    secret: str = Field(min_length=16, max_length=256)


class CohortPut(_In):
    """``PUT /v1/cohorts/{cohort_id}``: registers or replaces the whole cohort.

    ``limit`` — ranked trials kept per member (default ``TRIALMATCH_BATCH_MATCH_LIMIT``);
    ``include_closed`` ranks every status (default: open trials only, as /v1/match).
    """

    members: list[CohortMember] = Field(min_length=1)
    limit: int | None = Field(default=None, ge=1, le=200)
    include_closed: bool = False
    webhook: WebhookConfig | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"members": [{"id": "m-0001", "patient": MESOTHELIOMA_PATIENT}]}]
        },
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> CohortPut:
        seen: set[str] = set()
        for i, m in enumerate(self.members):
            if m.id in seen:
                raise ValueError(f"members[{i}].id repeats an earlier member's id")
            seen.add(m.id)
        return self


class CohortMeta(_Out):
    """``{ns}:cohort:{cid}:meta``: the cohort without its profiles."""

    cohort_id: str
    members: int
    limit: int
    include_closed: bool
    webhook_token: str | None = None
    created_at: datetime
    updated_at: datetime
    last_run_id: str | None = None
    last_completed_run_id: str | None = None


class CohortInfo(_Out):
    """A cohort as the API shows it: member ids only, never profiles."""

    cohort_id: str
    members: int
    member_ids: list[str] | None = None
    limit: int
    include_closed: bool
    webhook: bool = Field(description="Whether a run-finished webhook is configured.")
    created_at: datetime
    updated_at: datetime
    last_run_id: str | None = None
    last_completed_run_id: str | None = None

    @classmethod
    def of(cls, meta: CohortMeta, member_ids: list[str] | None = None) -> CohortInfo:
        return cls(
            cohort_id=meta.cohort_id, members=meta.members, member_ids=member_ids,
            limit=meta.limit, include_closed=meta.include_closed,
            webhook=meta.webhook_token is not None, created_at=meta.created_at,
            updated_at=meta.updated_at, last_run_id=meta.last_run_id,
            last_completed_run_id=meta.last_completed_run_id,
        )


class CohortList(_Out):
    cohorts: list[str]


# --------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    PARTIAL = "partial"
    """Finished, but some shards failed for good: their members have no results."""
    FAILED = "failed"
    """Every shard failed (e.g. no trial index loaded)."""


FINISHED = frozenset({RunStatus.COMPLETE, RunStatus.PARTIAL, RunStatus.FAILED})


class ShardState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ShardRecord(_Out):
    """One shard's last known state. ``attempts`` counts starts (a retry after a dead
    worker is attempt 2); ``generation`` is the index generation it matched against."""

    shard: int
    state: ShardState
    members: int
    attempts: int = 0
    matched: int = 0
    failed: int = 0
    generation: int | None = None
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class ShardCounts(_Out):
    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0


class RunRecord(_Out):
    """A run of a cohort. ``shards`` is live (read from the shard states);
    ``matched``/``failed_members`` count committed members; ``diff`` counts entries per
    kind; ``generations`` lists the index generations its shards used (normally one)."""

    run_id: str
    cohort_id: str
    status: RunStatus
    trigger: Literal["api", "cron", "cli"]
    generation: int | None
    generations: list[int] = []
    previous_run_id: str | None = None
    members: int
    shard_size: int
    shards: ShardCounts
    matched: int = 0
    failed_members: int = 0
    diff: dict[str, int] = {}
    created_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    error: str | None = None


class RunList(_Out):
    runs: list[RunRecord]


class CompactMatch(_Out):
    """One matched trial of a member: what a diff compares. ``questions`` are the
    deciding unknowns (the facts that would settle the open key criteria)."""

    nct_id: NCTId
    verdict: Literal["eligible", "possibly_eligible", "ineligible"]
    score: float
    overall_status: str | None = None
    questions: list[str] = []


class MemberResult(_Out):
    """A member's ranked matches in one run (eligible and possibly eligible trials among
    the first ``limit``), or ``error`` when the profile cannot be matched."""

    member_id: str
    matches: list[CompactMatch] = []
    total: int = 0
    error: str | None = None


class RunResults(_Out):
    run_id: str
    cohort_id: str
    results: list[MemberResult]


# --------------------------------------------------------------------------------------
# Diffs
# --------------------------------------------------------------------------------------


class DiffKind(StrEnum):
    NEW_MATCH = "new_match"
    LOST_MATCH = "lost_match"
    VERDICT_CHANGED = "verdict_changed"
    TRIAL_CHANGED = "trial_changed"


class DiffReason(StrEnum):
    """Why a match appeared or went (``new_match`` / ``lost_match`` entries)."""

    NEW_TRIAL = "new_trial"
    """The trial was not in the previous run's index generation."""
    TRIAL_REOPENED = "trial_reopened"
    NEW_MEMBER = "new_member"
    """The member was not in the previous run."""
    TRIAL_CLOSED = "trial_closed"
    """Its overall status left the open ones (RECRUITING, NOT_YET_RECRUITING, ...)."""
    TRIAL_REMOVED = "trial_removed"
    """No longer in the index (withdrawn from the sync scope or the registry)."""
    TRIAL_UPDATED = "trial_updated"
    """The trial's record changed and the member's verdict with it."""
    CRITERIA_NOW_MET = "criteria_now_met"
    CRITERIA_NOT_MET = "criteria_not_met"
    """Same trial record, but the member now fails a criterion (profile or date)."""
    RANKED_OUT = "ranked_out"
    """Still a fit, but below the cohort's ``limit`` now."""


class DiffEntry(_Out):
    """One change for one member. ``before``/``after`` are verdicts (None where the
    trial was not matched); ``changes`` lists ``status``/``sites`` for
    ``trial_changed``; ``status_before``/``status_after`` are overall statuses."""

    member_id: str
    kind: DiffKind
    nct_id: NCTId
    reason: DiffReason | None = None
    before: str | None = None
    after: str | None = None
    changes: list[Literal["status", "sites"]] = []
    status_before: str | None = None
    status_after: str | None = None


class RunDiff(_Out):
    """``GET /v1/cohorts/{id}/runs/{run_id}/diff``: entries (filtered) and the run's
    counts per kind (unfiltered). ``previous_run_id`` None: the first run, no diff."""

    run_id: str
    cohort_id: str
    previous_run_id: str | None
    generation: int | None
    counts: dict[str, int]
    entries: list[DiffEntry]


class TrialState(_Out):
    """What a diff needs to know of a trial in one index generation. ``content`` and
    ``sites`` are short SHA-256 fingerprints (of the record without status and sites,
    and of the site list); ``open_sites`` counts sites whose status is open."""

    nct_id: str
    status: str | None
    open: bool
    content: str
    sites: str
    open_sites: int
