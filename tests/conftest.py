"""Fixtures shared by every test package.

Shared data (``../shared``) is read in place, never copied into the repo.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "data" / "ctgov" / "studies.jsonl.gz"
REPLAY = SHARED / "tools" / "ctgov_replay.py"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data not found at {SHARED}; the tests read ../shared in place")
    return SHARED


@pytest.fixture(scope="session")
def ontology():  # type: ignore[no-untyped-def]
    """The project's ontology, loaded once per session."""
    from ontologies import load_ontology

    return load_ontology()
