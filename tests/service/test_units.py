"""Unit tests: settings, the TTL cache, slugs, error bodies."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.conditions import slug_to_text
from service.deps import ServiceState, get_index
from service.errors import validation_body
from service.settings import Settings
from service.ttl_cache import TTLCache


def test_settings_read_environment_for_service_and_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIALMATCH_PORT", "9123")
    monkeypatch.setenv("TRIALMATCH_ANSWER_PAGE_TTL_S", "12.5")
    monkeypatch.setenv("TRIALMATCH_REDIS_URL", "redis://example.invalid:6379/3")
    monkeypatch.setenv("TRIALMATCH_REDIS_NAMESPACE", "ns1")
    monkeypatch.setenv("TRIALMATCH_NEGATION", "negspacy")
    monkeypatch.setenv("TRIALMATCH_CORS_ORIGINS", '["https://a.example"]')
    s = Settings()
    assert s.port == 9123
    assert s.answer_page_ttl_s == 12.5
    assert s.cache.redis_url == "redis://example.invalid:6379/3"
    assert s.cache.redis_namespace == "ns1"
    assert s.matcher.negation == "negspacy"
    assert s.cors_origins == ["https://a.example"]


def test_settings_defaults_use_embedded_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIALMATCH_REDIS_URL", raising=False)
    s = Settings()
    assert s.cache.redis_url is None
    assert s.cache.redis_db_path == Path("var/trialmatch.rdb")
    assert s.default_match_limit == 20


def test_settings_reject_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALMATCH_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_ttl_cache_expires_and_evicts() -> None:
    now = [100.0]
    cache: TTLCache[str] = TTLCache(10, max_entries=2, clock=lambda: now[0])
    cache.put("a", "A")
    assert cache.get("a") == "A"
    assert cache.remaining_s("a") == 10
    now[0] += 10
    assert cache.get("a") is None
    cache.put("a", "A")
    cache.put("b", "B")
    cache.get("a")  # a is now most recent
    cache.put("c", "C")
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    assert len(cache) == 2


def test_ttl_cache_zero_ttl_disables() -> None:
    cache: TTLCache[int] = TTLCache(0)
    cache.put("k", 1)
    assert cache.get("k") is None


@pytest.mark.parametrize(
    ("slug", "text"),
    [("Desmoid_tumors", "Desmoid tumors"), ("non-small-cell_lung", "non small cell lung"),
     ("NSCLC", "NSCLC"), (" breast ", "breast")],
)
def test_slug_to_text(slug: str, text: str) -> None:
    assert slug_to_text(slug) == text


def test_validation_body_drops_input_and_names_fields() -> None:
    body = validation_body(
        [{"loc": ("body", "patient", "ecgo"), "msg": "Extra inputs are not permitted",
          "type": "extra_forbidden", "input": 1}]
    )
    assert body["detail"] == [{"loc": ["body", "patient", "ecgo"],
                               "msg": "Extra inputs are not permitted",
                               "type": "extra_forbidden"}]
    assert "patient.ecgo: unknown field" in body["message"]


def test_unexpected_error_is_500_without_its_message(
    state: ServiceState, caplog: pytest.LogCaptureFixture
) -> None:
    from service.app import create_app

    app = create_app(state=state)

    def broken() -> None:
        value = "-".join(["secret", "patient", "detail"])  # a runtime value, not source text
        raise RuntimeError(value)

    app.dependency_overrides[get_index] = broken
    caplog.set_level(logging.INFO)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/match", json={"patient": {"cancer_type": "NSCLC"}})
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error"
    assert "secret-patient-detail" not in r.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged
    assert "secret-patient-detail" not in logged
