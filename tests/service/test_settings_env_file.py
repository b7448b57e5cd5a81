"""A ``.env`` file in the working directory reaches every package's settings.

The README documents ``.env`` as an alternative to exported variables; the service's
:class:`Settings` holds the per-package settings (``cache``, ``matcher``), so each of
them must read the file too, not only the service-level fields.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings


def test_dotenv_reaches_cache_and_matcher_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("TRIALMATCH_REDIS_URL", "TRIALMATCH_NEGATION", "TRIALMATCH_PORT",
                "TRIALMATCH_REDIS_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".env").write_text(
        "TRIALMATCH_PORT=8123\n"
        "TRIALMATCH_REDIS_URL=redis://127.0.0.1:6379/9\n"
        "TRIALMATCH_REDIS_NAMESPACE=from-dotenv\n"
        "TRIALMATCH_NEGATION=negspacy\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.port == 8123
    assert settings.cache.redis_url == "redis://127.0.0.1:6379/9"
    assert settings.cache.redis_namespace == "from-dotenv"
    assert settings.matcher.negation == "negspacy"


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TRIALMATCH_REDIS_NAMESPACE=from-dotenv\n")
    monkeypatch.setenv("TRIALMATCH_REDIS_NAMESPACE", "from-env")
    monkeypatch.chdir(tmp_path)
    assert Settings().cache.redis_namespace == "from-env"
