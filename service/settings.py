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

from pydantic import Field
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

    cache: TrialCacheSettings = Field(default_factory=_cache_settings)
    matcher: MatcherSettings = Field(default_factory=_matcher_settings)
