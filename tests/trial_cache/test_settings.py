"""TrialCacheSettings: defaults and the TRIALMATCH_ environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from trial_cache.settings import ONCOLOGY_SCOPE, TrialCacheSettings


def test_defaults() -> None:
    settings = TrialCacheSettings()
    assert settings.ctgov_base_url == "https://clinicaltrials.gov/api/v2"
    assert settings.redis_url is None  # embedded Redis
    assert settings.redis_db_path == Path("var/trialmatch.rdb")
    assert settings.redis_namespace == "trialmatch"
    # paced below the API's documented ~50/min; patient, time-bounded retries
    assert settings.ctgov_rate_limit_per_minute == 40
    assert settings.ctgov_page_size == 1000
    assert settings.ctgov_retry_budget_s == 600 and settings.ctgov_retry_attempts is None
    assert settings.ctgov_read_timeout_s == 20 and settings.ctgov_request_deadline_s == 120
    assert settings.sync_lease_ttl_s == 60
    assert settings.sync_scope == ONCOLOGY_SCOPE
    assert " OR ".join(("mesothelioma", "glioma")) in ONCOLOGY_SCOPE
    assert "fibromatosis" in ONCOLOGY_SCOPE.split(" OR ")


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALMATCH_CTGOV_BASE_URL", "http://127.0.0.1:8765/api/v2")
    monkeypatch.setenv("TRIALMATCH_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("TRIALMATCH_REDIS_NAMESPACE", "staging")
    monkeypatch.setenv("TRIALMATCH_CTGOV_RATE_LIMIT_PER_MINUTE", "20")
    monkeypatch.setenv("TRIALMATCH_CTGOV_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("TRIALMATCH_SYNC_SCOPE", "mesothelioma OR desmoid")
    settings = TrialCacheSettings()
    assert settings.ctgov_base_url == "http://127.0.0.1:8765/api/v2"
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.redis_namespace == "staging"
    assert settings.ctgov_rate_limit_per_minute == 20
    assert settings.ctgov_retry_attempts == 3
    assert settings.sync_scope == "mesothelioma OR desmoid"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ctgov_page_size", 1001),
        ("ctgov_rate_limit_per_minute", 0),
        ("redis_namespace", "has*glob"),
        ("ctgov_retry_attempts", 0),
    ],
)
def test_invalid_values_are_rejected(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        TrialCacheSettings.model_validate({name: value})
