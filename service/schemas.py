"""Request and response models of the HTTP API (the OpenAPI contract).

Trial and match shapes reuse the shared models of :mod:`matchers.models`
(:class:`~matchers.models.TrialMatch`, :class:`~matchers.models.CriterionResult`,
:class:`~matchers.models.ParsedCriterion`, :class:`~matchers.models.TrialSummary`), so
the API cannot drift from what the matcher produces. Everything here is
``extra="forbid"`` on input: a misspelt field is a 422 that names it. Every collection
of a request is bounded (``statuses`` by the number of statuses, ``patients`` by
:data:`MAX_BATCH_PATIENTS`, the patient's own by :mod:`matchers.patient`), and the
body as a whole by :mod:`service.limits`.

Units: distances in kilometres (``distance_km``) unless the name says miles; ages in
years; scores in [0, 1]; TTLs in seconds.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from matchers.models import (
    NCTId,
    ParsedCriterion,
    SiteDistance,
    TrialMatch,
    TrialSummary,
)
from matchers.notes import MAX_NOTE_CHARS, NoteExtraction
from matchers.patient import PatientProfile
from matchers.rank import OpenQuestion
from trial_cache.models import OverallStatus

CTGOV_STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"


def study_url(nct_id: str) -> str:
    """The public ClinicalTrials.gov page of a study."""
    return CTGOV_STUDY_URL.format(nct_id=nct_id)





MAX_BATCH_PATIENTS = 10_000
"""Hard bound of ``BatchRequest.patients`` (``TRIALMATCH_BATCH_MAX_PATIENTS`` may only
lower it)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --------------------------------------------------------------------------------------
# POST /v1/match
# --------------------------------------------------------------------------------------

MESOTHELIOMA_PATIENT: dict[str, Any] = {
    "cancer_type": "epithelioid pleural mesothelioma",
    "stage": "II",
    "ecog": 1,
    "age": 67,
    "sex": "male",
    "zip": "10032",
}
HER2_LOW_PATIENT: dict[str, Any] = {
    "cancer_type": "breast cancer",
    "stage": "IV",
    "biomarkers": {"HER2_IHC": "2+", "HER2_ISH": "negative", "ER": "positive", "PR": "positive"},
    "prior_therapies": [
        {"name": "letrozole + palbociclib", "class": "CDK4/6 inhibitor", "line": 1,
         "setting": "metastatic", "progressed": True}
    ],
    "ecog": 1,
    "age": 58,
    "sex": "female",
}


NOTE_EXAMPLE = (
    "55-year-old postmenopausal woman with de novo metastatic invasive ductal carcinoma of "
    "the left breast (bone and liver metastases). ER 90%, PR 20%, HER2 IHC 2+ with ISH not "
    "amplified. First line letrozole + palbociclib (April 2021 - June 2023, progression). "
    "ECOG 1. Brain MRI negative."
)


class MatchRequest(_In):
    """``POST /v1/match`` body.

    ``limit`` defaults to the service's ``default_match_limit`` (20) and is capped by
    ``max_match_limit`` (200). By default only trials that may take new patients are
    ranked (``matchers.index.OPEN_STATUSES``: ``RECRUITING``, ``NOT_YET_RECRUITING``,
    ``ENROLLING_BY_INVITATION``, ``AVAILABLE``): ``include_closed=true`` ranks every
    status, ``statuses`` picks exact ones (and overrides both).

    Give the patient as ``patient`` (a profile) or as ``note`` (a clinic note, plain
    text up to 20,000 characters, read as ``POST /v1/patients/extract`` reads it), not
    both.
    """

    patient: PatientProfile | None = None
    note: str | None = Field(default=None, min_length=1, max_length=MAX_NOTE_CHARS)
    limit: int | None = Field(default=None, ge=1, le=1000)
    include_closed: bool = False
    statuses: list[OverallStatus] | None = Field(
        default=None, min_length=1, max_length=len(OverallStatus)
    )

    @model_validator(mode="after")
    def _one_patient(self) -> MatchRequest:
        if (self.patient is None) == (self.note is None):
            raise ValueError("give 'patient' (a profile) or 'note' (clinic note text), not both")
        return self

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"patient": MESOTHELIOMA_PATIENT, "limit": 5}]},
    )


class MatchResponse(_Out):
    """Ranked trials, best first. ``total`` counts every trial ranked under the status
    filter (so ``total`` may exceed ``len(results)``); ``generation`` is the
    trial-cache generation that answered."""

    results: list[TrialMatch]
    total: int
    questions: list[OpenQuestion] = Field(
        default=[], description="Open key questions over every possibly eligible trial "
        "ranked, the one that settles the most trials first; each result's `questions` "
        "follow the same order.")
    generation: int | None = None
    as_of: date = Field(description="The day eligibility was judged against (ages, dates).")
    extraction: NoteExtraction | None = Field(
        default=None, description="With a `note`: the profile read from it, with evidence.")


class ExtractRequest(_In):
    """``POST /v1/patients/extract`` body: a clinic note, plain text."""

    note: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


# --------------------------------------------------------------------------------------
# GET /v1/trials, GET /v1/trials/{nct_id}
# --------------------------------------------------------------------------------------


class TrialListItem(_Out):
    """One navigator search hit. ``nearest_site`` is set only when a location was given
    (``zip``); its ``distance_km`` is great-circle from the ZIP centroid."""

    nct_id: NCTId
    title: str
    overall_status: str | None
    study_type: str | None
    phases: list[str]
    conditions: list[str]
    last_update: date | None
    url: str
    nearest_site: SiteDistance | None = None


class TrialPage(_Out):
    """A page of search hits. ``next_page`` is the next page number, or None on the
    last page."""

    items: list[TrialListItem]
    total: int
    page: int
    page_size: int
    next_page: int | None
    condition: ResolvedCondition | None = None
    generation: int | None = None


class TrialDetail(_Out):
    """A trial's summary and its structured eligibility.

    Every ``span`` (criteria and facts) is ``[start, end)`` into
    ``summary.eligibility_text``; condition facts' spans index ``condition_text``.
    ``interpreted`` counts criteria with at least one extracted fact.
    """

    nct_id: NCTId
    url: str
    summary: TrialSummary
    parser_version: str
    criteria: list[ParsedCriterion]
    conditions: list[dict[str, Any]]
    condition_text: str
    oncotree_codes: list[str]
    interpreted: int
    uninterpreted: int
    generation: int | None = None


# --------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------


class ConditionCandidate(_Out):
    """An OncoTree node that free text resolved to. ``score`` 0–100 (100 = exact alias);
    ``matched`` is the vocabulary form that matched."""

    code: str
    name: str
    main_type: str | None = None
    tissue: str | None = None
    score: float
    matched: str


class ResolvedCondition(_Out):
    """The node a query resolved to. ``covers`` lists every code the query denotes (a
    group alias such as "mesothelioma" covers PLMESO, PEMESO, …), each searched with
    its OncoTree descendants; ``biomarkers`` the query's qualifiers ("HER2-low")."""

    code: str
    name: str
    main_type: str | None
    tissue: str | None
    parent: str | None
    nci: list[str]
    umls: list[str]
    covers: list[str]
    biomarkers: dict[str, str] = Field(
        default={}, description="Biomarker qualifiers of the query, as a profile's "
        "`biomarkers` (\"Her__low_breast_cancer\" → {\"HER2\": \"low\"}); the answer "
        "page lists only trials not ruled out by them.")


class ConditionResolution(_Out):
    """``GET /v1/conditions/resolve``: the best node and the alternatives."""

    query: str
    condition: ResolvedCondition
    alternatives: list[ConditionCandidate]


# --------------------------------------------------------------------------------------
# GET /v1/answer-page
# --------------------------------------------------------------------------------------


class AnswerTrial(_Out):
    """A compact trial for an answer page."""

    nct_id: NCTId
    title: str
    status: str | None
    phases: list[str]
    url: str
    last_update: date | None = None


class ExpandedAccessProgram(_Out):
    """An expanded-access program that is AVAILABLE now.

    ``source`` says how it was found: ``record`` (an ``EXPANDED_ACCESS`` study record
    for this condition, status ``AVAILABLE``) or ``linked`` (a trial for this condition
    names it in ``statusModule.expandedAccessInfo`` with ``statusForNctId=AVAILABLE``).
    ``linked_from`` lists those trials. ``title`` is None when only a link is known.
    """

    nct_id: NCTId
    title: str | None
    status: str
    url: str
    source: Literal["record", "linked"]
    linked_from: list[NCTId] = []


class AnswerPage(_Out):
    """The payload behind an answer page: condition, top recruiting trials (later phase
    first, then most recently updated), and expanded-access programs available now."""

    condition: ResolvedCondition
    trials: list[AnswerTrial]
    total_recruiting: int
    expanded_access: list[ExpandedAccessProgram]
    generation: int | None
    generated_at: datetime


# --------------------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------------------


class Health(_Out):
    status: Literal["ok"] = "ok"


class IndexInfo(_Out):
    """What the in-memory index holds: its store generation, trial count, and when it
    was loaded (UTC)."""

    generation: int | None
    trials: int
    loaded_at: datetime | None
    parser_version: str | None = None


class Readiness(_Out):
    """``/readyz``: ready when Redis answers PING and an index is loaded."""

    status: Literal["ready", "not_ready"]
    redis: bool
    index: IndexInfo
    problems: list[str] = []


# --------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------


class BatchPatient(_In):
    """One cohort member. ``id`` is the caller's opaque reference (no names, MRNs or
    other identifiers, please): results come back under it."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    patient: PatientProfile


class BatchRequest(_In):
    """``POST /v1/batch``: a cohort to match in the background (arq worker)."""

    patients: list[BatchPatient] = Field(min_length=1, max_length=MAX_BATCH_PATIENTS)
    limit: int | None = Field(default=None, ge=1, le=1000)
    include_closed: bool = False

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"patients": [{"id": "p1", "patient": MESOTHELIOMA_PATIENT}], "limit": 10}
            ]
        },
    )


class BatchState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class BatchMatch(_Out):
    """One ranked trial in a batch result: compact (no per-criterion detail, which
    ``POST /v1/match`` or ``GET /v1/trials/{nct_id}`` give on demand), so that a large
    cohort's results stay small in Redis."""

    nct_id: NCTId
    title: str
    overall_status: str | None
    verdict: str
    score: float
    questions: list[str] = []
    nearest_site: SiteDistance | None = None

    @classmethod
    def of(cls, match: TrialMatch) -> BatchMatch:
        return cls(
            nct_id=match.nct_id,
            title=match.title,
            overall_status=match.overall_status,
            verdict=match.verdict.value,
            score=match.score,
            questions=list(match.questions),
            nearest_site=match.nearest_site,
        )


class BatchPatientResult(_Out):
    """The ranked trials of one cohort member, or ``error`` (e.g. an unknown cancer
    type) when that member could not be matched."""

    id: str
    results: list[BatchMatch] = []
    total: int = 0
    error: str | None = None


class BatchJob(_Out):
    """A batch job's status, and its results once ``complete``. ``expires_in_s`` is the
    remaining lifetime of the stored job (results included) in Redis."""

    job_id: str
    status: BatchState
    patients: int
    submitted_at: datetime
    finished_at: datetime | None = None
    generation: int | None = None
    expires_in_s: int | None = None
    results: list[BatchPatientResult] | None = None
    error: str | None = None


TrialPage.model_rebuild()
