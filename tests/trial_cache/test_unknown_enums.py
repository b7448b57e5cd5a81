"""Open enumerations: a value CT.gov adds later (a new status, phase, ...) is kept as text,
stored and indexed, never quarantined; a truly malformed record still is."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.trial_cache.fakes import FakeParser, fake_index_codes
from trial_cache.importer import import_dump
from trial_cache.ingest import ingest
from trial_cache.keys import IndexKind
from trial_cache.models import (
    ExpandedAccessStatus,
    OverallStatus,
    Phase,
    QuarantineEntry,
    Sex,
    StandardAge,
    StudyRecord,
    StudyType,
    UnknownValue,
    validate_record,
)
from trial_cache.progress import NO_PROGRESS
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncKind
from trial_cache.store import TrialStore

ODD = "NCT99999911"  # the study with the odd value
PLAIN = "NCT99999912"  # an ordinary study next to it
CRITERIA = "Inclusion Criteria:\n\n* Pleural mesothelioma\n* ECOG 0-1"


def study(nct_id: str) -> dict[str, Any]:
    """A small valid study using only known enum values."""
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": f"Trial {nct_id}"},
            "statusModule": {
                "overallStatus": "RECRUITING",
                "lastUpdatePostDateStruct": {"date": "2026-11-21", "type": "ACTUAL"},
                "expandedAccessInfo": {
                    "hasExpandedAccess": True,
                    "nctId": "NCT99999913",
                    "statusForNctId": "AVAILABLE",
                },
            },
            "conditionsModule": {"conditions": ["Pleural Mesothelioma"]},
            "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"]},
            "eligibilityModule": {
                "eligibilityCriteria": CRITERIA,
                "sex": "ALL",
                "minimumAge": "18 Years",
                "stdAges": ["ADULT", "OLDER_ADULT"],
            },
        }
    }


def with_value(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``raw`` with the dotted ``path`` set to ``value`` (or removed if value
    is ``_DROP``)."""
    out = copy.deepcopy(raw)
    *parents, leaf = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is _DROP:
        del node[leaf]
    else:
        node[leaf] = value
    return out


_DROP = object()

STATUS = "protocolSection.statusModule.overallStatus"
EA_STATUS = "protocolSection.statusModule.expandedAccessInfo.statusForNctId"
STUDY_TYPE = "protocolSection.designModule.studyType"
PHASES = "protocolSection.designModule.phases"
SEX = "protocolSection.eligibilityModule.sex"
STD_AGES = "protocolSection.eligibilityModule.stdAges"


@dataclass(frozen=True)
class Odd:
    """One table row: where the new value goes, what the record then shows."""

    id: str
    path: str
    value: Any
    shown: Callable[[StudyRecord], object]
    expected: object
    unknown: tuple[UnknownValue, ...]
    status: str = "RECRUITING"
    """The status index the study must be found under."""
    study_type: str = "INTERVENTIONAL"


ODD_VALUES = [
    Odd(
        "new overall status",
        STATUS,
        "PAUSED_FOR_REVIEW",
        lambda r: r.summary.overall_status,
        "PAUSED_FOR_REVIEW",
        (UnknownValue(STATUS, "PAUSED_FOR_REVIEW"),),
        status="PAUSED_FOR_REVIEW",
    ),
    Odd(
        "new phase next to a known one",
        PHASES,
        ["PHASE2", "PHASE5"],
        lambda r: r.summary.phases,
        ("PHASE2", "PHASE5"),
        (UnknownValue(f"{PHASES}.1", "PHASE5"),),
    ),
    Odd(
        "only a new phase",
        PHASES,
        ["PHASE1_2_ADAPTIVE"],
        lambda r: r.summary.phases,
        ("PHASE1_2_ADAPTIVE",),
        (UnknownValue(f"{PHASES}.0", "PHASE1_2_ADAPTIVE"),),
    ),
    Odd(
        "new study type",
        STUDY_TYPE,
        "PRAGMATIC",
        lambda r: r.summary.study_type,
        "PRAGMATIC",
        (UnknownValue(STUDY_TYPE, "PRAGMATIC"),),
        study_type="PRAGMATIC",
    ),
    Odd(
        "new sex",
        SEX,
        "UNDISCLOSED",
        lambda r: r.summary.sex,
        "UNDISCLOSED",
        (UnknownValue(SEX, "UNDISCLOSED"),),
    ),
    Odd(
        "new standard age",
        STD_AGES,
        ["NEWBORN", "ADULT"],
        lambda r: r.study.protocol_section.eligibility_module.std_ages,
        ("NEWBORN", StandardAge.ADULT),
        (UnknownValue(f"{STD_AGES}.0", "NEWBORN"),),
    ),
    Odd(
        "new expanded-access status",
        EA_STATUS,
        "AVAILABLE_BY_LOTTERY",
        lambda r: r.summary.expanded_access and r.summary.expanded_access.status,
        "AVAILABLE_BY_LOTTERY",
        (UnknownValue(EA_STATUS, "AVAILABLE_BY_LOTTERY"),),
    ),
]


@dataclass(frozen=True)
class Broken:
    """One table row: a truly malformed record and what its quarantine entry says."""

    id: str
    path: str
    value: Any
    nct_id: str | None
    reason: str
    """A fragment of the reason (the offending field)."""


MALFORMED = [
    Broken("no nctId", "protocolSection.identificationModule.nctId", _DROP, None, "nctId"),
    Broken(
        "no identificationModule",
        "protocolSection.identificationModule",
        _DROP,
        None,
        "identificationModule",
    ),
    Broken(
        "status is a number", STATUS, 5, ODD, "overallStatus: Value error, Input should be a string"
    ),
    Broken("status is a list", STATUS, ["RECRUITING"], ODD, "overallStatus"),
    Broken("status is free text", STATUS, "paused for review", ODD, "overallStatus"),
    Broken("status is empty", STATUS, "", ODD, "overallStatus"),
    Broken("phases is a string", PHASES, "PHASE2", ODD, "phases"),
    Broken("a phase is null", PHASES, ["PHASE2", None], ODD, "phases.1"),
    Broken("study type is an object", STUDY_TYPE, {"x": 1}, ODD, "studyType"),
]


def _ids(rows: Sequence[Odd] | Sequence[Broken]) -> list[str]:
    return [row.id for row in rows]


# --------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------


def test_known_values_still_validate_to_their_enum() -> None:
    record = validate_record(study(ODD), location="test")
    assert isinstance(record, StudyRecord)
    ps = record.study.protocol_section
    assert ps.status_module.overall_status is OverallStatus.RECRUITING
    ea = ps.status_module.expanded_access_info
    assert ea is not None and ea.status_for_nct_id is ExpandedAccessStatus.AVAILABLE
    assert ps.design_module.study_type is StudyType.INTERVENTIONAL
    assert ps.design_module.phases == (Phase.PHASE2,)
    assert isinstance(ps.design_module.phases[0], Phase)
    assert ps.eligibility_module.sex is Sex.ALL
    assert ps.eligibility_module.std_ages == (StandardAge.ADULT, StandardAge.OLDER_ADULT)
    assert record.unknown_values == ()


@pytest.mark.parametrize(
    ("enum", "path", "many"),
    [
        (OverallStatus, STATUS, False),
        (ExpandedAccessStatus, EA_STATUS, False),
        (StudyType, STUDY_TYPE, False),
        (Phase, PHASES, True),
        (Sex, SEX, False),
        (StandardAge, STD_AGES, True),
    ],
)
def test_every_known_member_is_still_an_enum(enum: type[StrEnum], path: str, many: bool) -> None:
    for member in enum:
        value = [member.value] if many else member.value
        record = validate_record(with_value(study(ODD), path, value), location="test")
        assert isinstance(record, StudyRecord), record
        node: Any = record.study
        for key in path.split(".")[:-1]:
            node = getattr(node, _snake(key))
        got = getattr(node, _snake(path.rsplit(".", 1)[1]))
        assert (got[0] if many else got) is member
        assert record.unknown_values == ()


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


@pytest.mark.parametrize("odd", ODD_VALUES, ids=_ids(ODD_VALUES))
def test_unknown_value_is_kept_as_text(odd: Odd) -> None:
    raw = with_value(study(ODD), odd.path, odd.value)
    record = validate_record(raw, location="test")
    assert isinstance(record, StudyRecord), record
    assert odd.shown(record) == odd.expected
    assert record.unknown_values == odd.unknown
    for unknown in odd.unknown:  # a plain str, not an enum member
        assert type(unknown.value) is str
    assert orjson.loads(record.raw_json) == raw  # stored exactly as served
    # the stored JSON validates again to the same study (what TrialStore.get_study does)
    again = validate_record(record.raw(), location="again")
    assert isinstance(again, StudyRecord) and again.study == record.study
    assert again.content_hash == record.content_hash


@pytest.mark.parametrize("broken", MALFORMED, ids=_ids(MALFORMED))
def test_malformed_record_is_still_quarantined(broken: Broken) -> None:
    entry = validate_record(with_value(study(ODD), broken.path, broken.value), location="x:2")
    assert isinstance(entry, QuarantineEntry), entry
    assert (entry.nct_id, entry.location) == (broken.nct_id, "x:2")
    assert broken.reason in entry.reason


# --------------------------------------------------------------------------------------
# Through the pipeline into Redis
# --------------------------------------------------------------------------------------


def write_dump(tmp_path: Path, *studies: dict[str, Any]) -> Path:
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in studies))
    return path


@pytest.mark.parametrize("odd", ODD_VALUES, ids=_ids(ODD_VALUES))
async def test_study_with_unknown_value_is_stored_and_indexed(
    odd: Odd,
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    settings: TrialCacheSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_dump(tmp_path, with_value(study(ODD), odd.path, odd.value), study(PLAIN))
    with caplog.at_level(logging.DEBUG, logger="trial_cache"):
        report = await import_dump(
            path, store=store, parser=parser, index_codes=fake_index_codes, settings=settings
        )

    assert (report.fetched, report.new, report.quarantined, report.parsed) == (2, 2, 0, 2)
    assert report.quarantine == ()
    assert await store.quarantined() == []
    stored = await store.get_study(ODD)
    assert stored is not None and odd.shown(stored) == odd.expected
    assert ODD in await store.index(IndexKind.STATUS, odd.status)
    assert ODD in await store.index(IndexKind.TYPE, odd.study_type)
    assert ODD in await store.index(IndexKind.ONCOTREE, "MESO")
    summaries = {s.nct_id: s for s, _ in await store.load_index_entries()}
    assert set(summaries) == {ODD, PLAIN}
    assert summaries[ODD].overall_status == odd.status

    # one warning for the trial, naming NCT id, field and value; one for the run
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    about_trial = [m for m in warnings if m.startswith(f"trial_cache: {ODD} ")]
    assert len(about_trial) == 1
    for unknown in odd.unknown:
        assert f"{unknown.field}={unknown.value}" in about_trial[0]
    assert any("read 1 trials with values not in the CT.gov spec" in m for m in warnings)
    assert not any(PLAIN in m for m in warnings)
    assert not any("ECOG" in m or "Mesothelioma" in m for m in warnings)  # no study text

    # the same dump again: unchanged, the per-trial line drops to DEBUG, the total stays
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="trial_cache"):
        again = await import_dump(
            path, store=store, parser=parser, index_codes=fake_index_codes, settings=settings
        )
    assert (again.unchanged, again.quarantined) == (2, 0)
    by_level = {
        (r.levelno, r.getMessage().startswith(f"trial_cache: {ODD} ")) for r in caplog.records
    }
    assert (logging.DEBUG, True) in by_level and (logging.WARNING, True) not in by_level
    assert any(
        "read 1 trials" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )


async def test_counts_of_unknown_values(store: TrialStore, parser: FakeParser) -> None:
    paused = with_value(study(ODD), STATUS, "PAUSED_FOR_REVIEW")
    paused_phase5 = with_value(
        with_value(study("NCT99999914"), STATUS, "PAUSED_FOR_REVIEW"),
        PHASES,
        ["PHASE5", "PHASE2", "PHASE5"],
    )
    records = [
        validate_record(raw, location=f"test #{i}")
        for i, raw in enumerate([paused, study(PLAIN), paused_phase5])
    ]

    async def items() -> AsyncIterator[StudyRecord | QuarantineEntry]:
        for record in records:
            yield record

    info = await store.begin_generation(
        kind=SyncKind.IMPORT, parser_version=parser.version, base=None, copy_base=False
    )
    counts = await ingest(
        items(),
        store=store,
        parser=parser,
        index_codes=fake_index_codes,
        generation=info.generation,
        base=None,
        carry_over_from=None,
        batch_size=2,
        progress=NO_PROGRESS,
    )
    assert (counts.fetched, counts.new, counts.quarantined) == (3, 3, 0)
    assert counts.with_unknown_values == 2
    assert dict(counts.unknown_values) == {  # trials per (field, value)
        (STATUS, "PAUSED_FOR_REVIEW"): 2,
        (PHASES, "PHASE5"): 1,
    }
    assert await store.index(IndexKind.STATUS, "PAUSED_FOR_REVIEW", generation=info.generation) == {
        ODD,
        "NCT99999914",
    }


@pytest.mark.parametrize("broken", MALFORMED, ids=_ids(MALFORMED))
async def test_malformed_record_is_quarantined_and_the_import_goes_on(
    broken: Broken,
    tmp_path: Path,
    store: TrialStore,
    parser: FakeParser,
    settings: TrialCacheSettings,
) -> None:
    path = write_dump(
        tmp_path,
        study(PLAIN),
        with_value(study(ODD), broken.path, broken.value),
        with_value(study("NCT99999914"), STATUS, "PAUSED_FOR_REVIEW"),
    )
    report = await import_dump(
        path, store=store, parser=parser, index_codes=fake_index_codes, settings=settings
    )

    assert (report.fetched, report.new, report.quarantined) == (3, 2, 1)
    (entry,) = report.quarantine
    assert (entry.nct_id, entry.location) == (broken.nct_id, "dump.jsonl:2")
    assert broken.reason in entry.reason
    assert await store.quarantined() == [entry]
    assert set(await store.members()) == {PLAIN, "NCT99999914"}
    assert await store.index(IndexKind.STATUS, "PAUSED_FOR_REVIEW") == {"NCT99999914"}
