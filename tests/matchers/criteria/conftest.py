"""Fixtures of the criterion-category tests: the case tables and the real trials they
cite.

Every case under ``cases/<category>.toml`` names a real trial of the shared corpus by NCT
ID; :func:`corpus_trials` reads those trials (and only those) from
``../shared/data/ctgov/studies.jsonl.gz`` through ``trial_cache``'s own record model, so a
case can only quote text the trial really has.
"""

from __future__ import annotations

import gzip
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, Field

from matchers.models import NCTId, TrialSummary
from tests.conftest import CORPUS

CASES_DIR = Path(__file__).resolve().parent / "cases"


class Case(BaseModel):
    """One row of a case table.

    ``rule`` names the class of criteria the case stands for (a class needs cases from at
    least two trials); ``text`` quotes the criterion verbatim from the trial (whitespace
    and Markdown escapes aside) — None makes the case about the whole trial. A criterion
    case is parsed as one criterion under a ``kind`` heading, inside a trial that has the
    real trial's conditions and title; ``status``/``key``/``facts`` check its result.
    A whole-trial case parses the real record and checks ``verdict``/``cancer_fit``/
    ``cohort``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    rule: str
    nct_id: NCTId
    text: str | None = None
    kind: Literal["inclusion", "exclusion"] = "inclusion"
    patient: dict[str, Any]
    today: date = date(2025, 3, 1)
    status: Literal["met", "not_met", "unknown"] | None = None
    key: bool | None = None
    facts: tuple[dict[str, Any], ...] = ()
    verdict: Literal["eligible", "possibly_eligible", "ineligible"] | None = None
    cancer_fit: Literal["met", "not_met", "unknown"] | None = None
    cohort: str | None = None
    """The cohort the result names ("" = none named); None = not checked."""
    note: str = ""


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case: tuple[Case, ...] = Field(min_length=1)


def load_cases(path: Path) -> tuple[Case, ...]:
    return CaseFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8"))).case


def all_cases() -> list[tuple[str, Case]]:
    out: list[tuple[str, Case]] = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        out.extend((path.stem, c) for c in load_cases(path))
    return out


_SPACE = re.compile(r"\s+")


def squash(text: str) -> str:
    """Whitespace collapsed, Markdown escape backslashes removed (as the gold quotes)."""
    return _SPACE.sub(" ", text.replace("\\", "")).strip()


@pytest.fixture(scope="session")
def corpus_trials() -> dict[str, TrialSummary]:
    """The corpus trials the case tables cite, as :class:`TrialSummary`."""
    from trial_cache.models import Study, to_summary

    wanted = {c.nct_id for _, c in all_cases()}
    out: dict[str, TrialSummary] = {}
    if not CORPUS.is_file():
        pytest.fail(f"shared corpus not found at {CORPUS}")
    with gzip.open(CORPUS, "rb") as fh:
        for line in fh:
            head = line[:400]
            m = re.search(rb'"nctId"\s*:\s*"(NCT\d{8})"', head) or re.search(
                rb'"nctId"\s*:\s*"(NCT\d{8})"', line)
            if m is None or m.group(1).decode() not in wanted:
                continue
            study = Study.model_validate(orjson.loads(line))
            out[study.nct_id] = to_summary(study)
    return out
