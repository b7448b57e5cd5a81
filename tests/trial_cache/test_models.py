"""The study models: partial dates, ages, Markdown escapes, summaries, quarantine."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import orjson
import pytest

from trial_cache.models import (
    STUDY_FIELDS,
    PartialDate,
    QuarantineEntry,
    Study,
    StudyRecord,
    parse_age_years,
    project,
    to_summary,
    unescape_markdown,
    validate_record,
)

EXPANDED_ACCESS_STUDY: dict[str, Any] = {
    "protocolSection": {
        "identificationModule": {
            "nctId": "NCT05918913",
            "officialTitle": "Expanded Access Program of Drug X for Patients With Mesothelioma",
        },
        "statusModule": {
            "statusVerifiedDate": "2024",
            "overallStatus": "TEMPORARILY_NOT_AVAILABLE",
            "lastUpdatePostDateStruct": {"date": "2024-03", "type": "ACTUAL"},
        },
        "conditionsModule": {"conditions": ["Mesothelioma"]},
        "designModule": {
            "studyType": "EXPANDED_ACCESS",
            "expandedAccessTypes": {"individual": True},
        },
        "eligibilityModule": {
            "eligibilityCriteria": "* Age \\>= 18\n* ECOG \\< 3",
            "sex": "ALL",
            "minimumAge": "18 Years",
            "maximumAge": "N/A",
        },
    },
    "hasResults": False,
}


def _record(raw: Any) -> StudyRecord:
    result = validate_record(raw, location="test")
    assert isinstance(result, StudyRecord), result
    return result


@pytest.mark.parametrize(
    ("text", "value", "precision"),
    [
        ("2015", date(2015, 1, 1), "year"),
        ("2015-08", date(2015, 8, 1), "month"),
        ("2015-08-04", date(2015, 8, 4), "day"),
    ],
)
def test_partial_dates_keep_first_day_and_precision(text: str, value: date, precision: str) -> None:
    parsed = PartialDate.model_validate(text)
    assert (parsed.value, parsed.precision) == (value, precision)
    assert orjson.loads(parsed.model_dump_json()) == text  # serializes back to the text


@pytest.mark.parametrize("text", ["2015-13", "15-08", "August 2015", "2015-08-04T10:00"])
def test_malformed_partial_dates_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="yyyy"):
        PartialDate.model_validate(text)


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("18 Years", 18.0),
        ("1 Year", 1.0),
        ("6 Months", 0.5),
        ("1 Month", 1 / 12),
        ("2 Weeks", 14 / 365.25),
        ("30 Days", 30 / 365.25),
        ("N/A", None),
        ("", None),
        (None, None),
    ],
)
def test_ages_are_parsed_to_years(text: str | None, years: float | None) -> None:
    parsed = parse_age_years(text)
    if years is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(years)


def test_unparseable_age_is_an_error() -> None:
    with pytest.raises(ValueError, match="18 Years"):
        parse_age_years("eighteen")


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("ANC \\> 1500/uL and age \\< 75", "ANC > 1500/uL and age < 75"),
        ("\\* bullet \\[1\\] 0\\~1 1\\. 2\\)", "* bullet [1] 0~1 1. 2)"),
        ("a \\\\ b", "a \\ b"),
        ("and\\or", "and\\or"),  # not an escape: backslash before a letter
        ("\\≤1.5 g/dL", "\\≤1.5 g/dL"),  # not ASCII punctuation
        ("line\\\nbreak", "line\\\nbreak"),  # hard line break stays
    ],
)
def test_unescape_markdown(escaped: str, plain: str) -> None:
    assert unescape_markdown(escaped) == plain


def test_genuine_study_summary(corpus_by_id: dict[str, dict[str, Any]]) -> None:
    raw = corpus_by_id["NCT04691388"]
    record = _record(raw)
    summary = record.summary
    assert summary.nct_id == "NCT04691388"
    assert summary.title.startswith("A Trial of Sintilimab Plus Anlotinib")
    assert summary.official_title is not None
    assert summary.overall_status == "COMPLETED"
    assert summary.study_type == "INTERVENTIONAL"
    assert summary.phases == ("PHASE2",)
    assert summary.conditions == ("NSCLC",)
    assert summary.interventions == ("sintilimab combined with anlotinib",)
    assert (summary.min_age_years, summary.max_age_years) == (18.0, 75.0)
    assert summary.last_update == date(2024, 12, 5)
    assert summary.sites and all(s.lat is not None and s.lon is not None for s in summary.sites)
    # escapes removed: "0\~1" and "1\)" read as written on the website
    source = raw["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert "0\\~1" in source and "0~1" in summary.eligibility_text
    assert "\\~" not in summary.eligibility_text and "1\\)" not in summary.eligibility_text
    assert record.study.protocol_section.status_module.status_verified_date == PartialDate(
        value=date(2024, 12, 1), precision="month"
    )


def test_expanded_access_link_and_study(corpus_by_id: dict[str, dict[str, Any]]) -> None:
    linked = _record(corpus_by_id["NCT04613596"]).summary
    assert linked.expanded_access is not None
    assert linked.expanded_access.has_expanded_access
    assert linked.expanded_access.nct_id == "NCT05162443"
    assert linked.expanded_access.status == "APPROVED_FOR_MARKETING"

    program = _record(EXPANDED_ACCESS_STUDY).summary
    assert program.study_type == "EXPANDED_ACCESS"
    assert program.overall_status == "TEMPORARILY_NOT_AVAILABLE"
    assert (
        program.title
        == EXPANDED_ACCESS_STUDY["protocolSection"]["identificationModule"]["officialTitle"]
    )  # no briefTitle: falls back to officialTitle
    assert program.last_update == date(2024, 3, 1)
    assert (program.min_age_years, program.max_age_years) == (18.0, None)
    assert program.eligibility_text == "* Age >= 18\n* ECOG < 3"
    assert program.expanded_access is None


@pytest.mark.parametrize(
    "status",
    ["AVAILABLE", "NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING"],
)
def test_expanded_access_statuses_parse(status: str) -> None:
    raw = copy.deepcopy(EXPANDED_ACCESS_STUDY)
    raw["protocolSection"]["statusModule"]["overallStatus"] = status
    assert _record(raw).summary.overall_status == status


def test_converted_record_without_optional_modules(corpus_by_id: dict[str, dict[str, Any]]) -> None:
    converted = next(s for s in corpus_by_id.values() if "statusModule" not in s["protocolSection"])
    summary = _record(converted).summary
    assert summary.overall_status is None and summary.sites == () and summary.last_update is None


def test_unknown_fields_are_ignored_and_not_hashed() -> None:
    plain = _record(EXPANDED_ACCESS_STUDY)
    extended = copy.deepcopy(EXPANDED_ACCESS_STUDY)
    extended["protocolSection"]["statusModule"]["brandNewField"] = {"x": 1}
    extended["resultsSection"] = {"anything": [1, 2, 3]}
    extended_record = _record(extended)
    assert extended_record.content_hash == plain.content_hash
    assert b"brandNewField" not in extended_record.raw_json

    changed = copy.deepcopy(EXPANDED_ACCESS_STUDY)
    changed["protocolSection"]["statusModule"]["overallStatus"] = "AVAILABLE"
    assert _record(changed).content_hash != plain.content_hash


def test_all_corpus_records_validate(corpus_by_id: dict[str, dict[str, Any]]) -> None:
    broken = [
        r
        for r in (validate_record(s, location=n) for n, s in corpus_by_id.items())
        if isinstance(r, QuarantineEntry)
    ]
    assert broken == []


@pytest.mark.parametrize(
    ("mutate", "nct_id", "reason"),
    [
        (
            lambda ps: ps["eligibilityModule"].update(minimumAge="eighteen"),
            "NCT05918913",
            "minimumAge",
        ),
        (
            lambda ps: ps["statusModule"].update(overallStatus="on hold"),
            "NCT05918913",
            "overallStatus",
        ),
        (lambda ps: ps["identificationModule"].update(nctId="NCT123"), None, "nctId"),
        (lambda ps: ps.pop("identificationModule"), None, "identificationModule"),
    ],
)
def test_broken_records_become_quarantine_entries(
    mutate: Any, nct_id: str | None, reason: str
) -> None:
    raw = copy.deepcopy(EXPANDED_ACCESS_STUDY)
    mutate(raw["protocolSection"])
    entry = validate_record(raw, location="dump.jsonl:7")
    assert isinstance(entry, QuarantineEntry)
    assert entry.nct_id == nct_id
    assert entry.location == "dump.jsonl:7"
    assert reason in entry.reason
    assert entry.key == (nct_id or "dump.jsonl:7")


def test_non_object_record_is_quarantined() -> None:
    entry = validate_record(["not", "a", "study"], location="page 1 #2")
    assert isinstance(entry, QuarantineEntry)
    assert entry.reason == "not a JSON object: list"


def test_projection_is_idempotent_and_keeps_list_positions(
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    raw = corpus_by_id["NCT00000410"]
    projected = project(raw)
    assert project(projected) == projected
    locations = projected["protocolSection"]["contactsLocationsModule"]["locations"]
    assert len(locations) == len(raw["protocolSection"]["contactsLocationsModule"]["locations"])
    assert set().union(*(loc.keys() for loc in locations)) <= {
        "facility",
        "city",
        "state",
        "zip",
        "country",
        "status",
        "geoPoint",
    }
    assert "descriptionModule" not in projected["protocolSection"]
    assert orjson.loads(_record(raw).raw_json) == projected
    assert Study.model_validate(projected).nct_id == "NCT00000410"
    assert all(f.startswith(("protocolSection.", "derivedSection.")) for f in STUDY_FIELDS)


def test_to_summary_is_what_validate_record_returns(
    corpus_by_id: dict[str, dict[str, Any]],
) -> None:
    record = _record(corpus_by_id["NCT00000410"])
    assert to_summary(record.study) == record.summary
