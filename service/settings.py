"""Service settings: one object, built once at the edge and passed down.

:class:`Settings` reads ``TRIALMATCH_*`` environment variables (and an optional
``.env`` file in the working directory). It *holds* the per-package settings rather
than re-declaring them:

* ``settings.cache`` — :class:`trial_cache.settings.TrialCacheSettings` (Redis URL, namespace,
  CT.gov base URL, …; same ``TRIALMATCH_`` prefix, read by that class itself);
* ``settings.matcher`` — :class:`matchers.settings.MatcherSettings` (parser options).

The service-only fields below are documented in the README's settings table. Nothing
in ``service`` imports a module-level settings singleton: ``create_app(settings)``, the
CLI and the worker each build one :class:`Settings` and hand it down.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from matchers.settings import MatcherSettings
from service.limits import DEFAULT_MAX_BODY_BYTES
from service.schemas import MAX_BATCH_PATIENTS
from trial_cache.settings import TrialCacheSettings


def _cache_settings() -> TrialCacheSettings:
    return TrialCacheSettings()


def _matcher_settings() -> MatcherSettings:
    return MatcherSettings()


class Settings(BaseSettings):
    """Everything the service needs, from ``TRIALMATCH_*`` environment variables.

    Durations are in seconds. ``cors_origins`` is a JSON list in the environment
    (``TRIALMATCH_CORS_ORIGINS='["https://example.org"]'``); empty means no CORS
    middleware (same-origin only).
    """

    model_config = SettingsConfigDict(
        env_prefix="TRIALMATCH_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = Field(default="127.0.0.1", description="Address `trialmatch serve` binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `trialmatch serve` binds.")
    serve_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes `trialmatch serve` runs (uvicorn workers); each loads its "
        "own trial index (memory × N).",
    )
    default_match_limit: int = Field(
        default=20, ge=1, le=200, description="Results returned by /v1/match when no limit."
    )
    max_match_limit: int = Field(
        default=200, ge=1, le=1000, description="Largest `limit` /v1/match accepts."
    )
    answer_page_ttl_s: float = Field(
        default=300.0, ge=0, description="Lifetime of a cached /v1/answer-page payload."
    )
    answer_page_trials: int = Field(
        default=10, ge=1, le=100, description="Recruiting trials listed on an answer page."
    )
    answer_page_cache_size: int = Field(
        default=1024, ge=1, description="Answer-page payloads kept in memory (LRU)."
    )
    index_refresh_s: float = Field(
        default=30.0,
        ge=0,
        description="How often the API checks the store's `current` generation pointer; "
        "0 disables the background check (the index is then loaded once at startup).",
    )
    batch_result_ttl_s: int = Field(
        default=86_400, ge=60, description="Lifetime in Redis of a batch job's results."
    )
    batch_max_patients: int = Field(
        default=5_000,
        ge=1,
        le=MAX_BATCH_PATIENTS,
        description="Largest cohort one batch job accepts.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (none by default)."
    )
    log_level: str = Field(default="info", description="Log level of the service loggers.")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Largest request body accepted on any route, bytes (413 above it).",
    )

    # API keys, rate limits, the matching pool (service.auth, service.ratelimit,
    # service.match_pool)
    auth_mode: Literal["auto", "required"] = Field(
        default="auto",
        description="`auto`: while no API key exists, loopback clients need none; "
        "`required`: every protected route always needs a key.",
    )
    rate_limit_per_key: str = Field(
        default="600/minute",
        description="Requests per API key (a `limits` string, e.g. `100/second`); "
        "empty = unlimited.",
    )
    rate_limit_public: str = Field(
        default="120/minute",
        description="Requests per client address to the public routes (answer pages, "
        "condition lookup); empty = unlimited.",
    )
    match_threads: int = Field(
        default=4, ge=1, le=64, description="Threads that run /v1/match at once."
    )
    match_queue: int = Field(
        default=32, ge=0, description="/v1/match requests that may wait for a thread; "
        "more get 503 with Retry-After.",
    )
    match_queue_timeout_s: float = Field(
        default=5.0, gt=0, description="Longest wait for a matching thread before a 503."
    )

    # Cohorts and scheduled runs (service.cohorts)
    cohort_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys encrypting cohort profiles at rest, comma-separated, "
        "newest first (`trialmatch batch keygen`); cohorts are refused without one.",
    )
    cohort_max_members: int = Field(
        default=50_000, ge=1, description="Largest cohort `PUT /v1/cohorts/{id}` accepts."
    )
    batch_cron: str = Field(
        default="0 2 * * *",
        description="When the worker runs every cohort (cron `minute hour day month "
        "weekday`, UTC); empty disables the nightly run.",
    )
    batch_shard_size: int = Field(
        default=200, ge=1, le=10_000, description="Cohort members per shard (one arq job)."
    )
    batch_shard_timeout_s: int = Field(
        default=900, ge=1, description="Longest a shard job may run (seconds); a dead "
        "worker's shard is retried this + 10 s after it started.",
    )
    batch_shard_max_tries: int = Field(
        default=3, ge=1, le=20, description="Attempts per shard before it is marked failed."
    )
    batch_run_retention: int = Field(
        default=7, ge=1, description="Finished runs kept per cohort (older ones are deleted)."
    )
    batch_match_limit: int = Field(
        default=10, ge=1, le=200, description="Ranked trials kept per member when a "
        "cohort sets no `limit`.",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of one run-finished webhook request."
    )

    cache: TrialCacheSettings = Field(default_factory=_cache_settings)
    matcher: MatcherSettings = Field(default_factory=_matcher_settings)
