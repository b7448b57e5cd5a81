"""ClinicalTrials.gov API v2 client, sync and bulk import, and the Redis trial store.

Public API (see each module)::

    settings   TrialCacheSettings (env prefix TRIALMATCH_), ONCOLOGY_SCOPE
    models     Study (+ modules), StudyRecord, QuarantineEntry, validate_record, to_summary,
               unescape_markdown, parse_age_years, PartialDate, STUDY_FIELDS
    client     CTGovClient, StudyQuery, StudyPage, VersionInfo
    store      TrialStore, MemberEntry, index_tags;  keys: KeySpace, IndexKind
    state      SyncReport, SyncKind, SyncCheckpoint, GenerationInfo, ParsedRecord, ChangeKind
    ingest     TrialParser (protocol), IndexCodes, ingest, ingest_generation
    sync       sync_trials, incremental_filter
    importer   import_dump
    embedded   open_redis
    progress   Progress (protocol), NO_PROGRESS;  rich_progress.RichProgress (imports rich)
    errors     TrialCacheError and its subclasses
"""

from trial_cache.client import CTGovClient, StudyPage, StudyQuery, VersionInfo
from trial_cache.embedded import open_redis
from trial_cache.errors import (
    DumpFormatError,
    NoPublishedSyncError,
    ParserContractError,
    ParserUnavailable,
    StoreError,
    StudyNotFound,
    StudyValidationError,
    SyncInProgressError,
    TrialCacheError,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from trial_cache.importer import import_dump
from trial_cache.ingest import IndexCodes, TrialParser
from trial_cache.keys import IndexKind
from trial_cache.models import QuarantineEntry, Study, StudyRecord, to_summary, validate_record
from trial_cache.progress import NO_PROGRESS, Progress
from trial_cache.settings import ONCOLOGY_SCOPE, TrialCacheSettings
from trial_cache.state import SyncCheckpoint, SyncKind, SyncReport
from trial_cache.store import TrialStore
from trial_cache.sync import sync_trials

__all__ = [
    "NO_PROGRESS",
    "ONCOLOGY_SCOPE",
    "CTGovClient",
    "DumpFormatError",
    "IndexCodes",
    "IndexKind",
    "NoPublishedSyncError",
    "ParserContractError",
    "ParserUnavailable",
    "Progress",
    "QuarantineEntry",
    "StoreError",
    "Study",
    "StudyNotFound",
    "StudyPage",
    "StudyQuery",
    "StudyRecord",
    "StudyValidationError",
    "SyncCheckpoint",
    "SyncInProgressError",
    "SyncKind",
    "SyncReport",
    "TrialCacheError",
    "TrialCacheSettings",
    "TrialParser",
    "TrialStore",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamUnavailable",
    "VersionInfo",
    "import_dump",
    "open_redis",
    "sync_trials",
    "to_summary",
    "validate_record",
]
