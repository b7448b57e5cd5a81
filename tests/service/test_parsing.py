"""service.parsing: the ingest parser on 2 worker processes parses real corpus studies
exactly as one process does; library warnings are kept from users."""

from __future__ import annotations

import warnings
from typing import Any

from matchers.models import TrialSummary
from matchers.parser import PARSER_VERSION
from matchers.settings import MatcherSettings
from service.parsing import ingest_parser, quiet_library_warnings
from service.settings import Settings
from trial_cache.models import StudyRecord, validate_record
from trial_cache.settings import TrialCacheSettings


def _summaries(raw_studies: list[dict[str, Any]]) -> list[TrialSummary]:
    out = []
    for i, raw in enumerate(raw_studies):
        record = validate_record(raw, location=f"#{i}")
        assert isinstance(record, StudyRecord)
        out.append(record.summary)
    return out


def test_two_parse_workers_give_what_one_process_gives(
    raw_studies: list[dict[str, Any]], parser: Any, ontology: Any
) -> None:
    summaries = _summaries(raw_studies)
    assert len(summaries) >= 12 and any(s.eligibility_text for s in summaries)
    expected = parser.parse_many(summaries)
    settings = Settings(cache=TrialCacheSettings(parse_workers=2), matcher=MatcherSettings())
    with ingest_parser(settings) as pool:
        assert (pool.workers, pool.version) == (2, PARSER_VERSION)
        assert not pool.started  # nothing built before the first trial to parse
        on_two = pool.parse_each(summaries)
    assert on_two == expected  # same criteria, facts, spans, in order
    assert sum(len(p.criteria) for p in expected) > 50  # real parses, not empty ones
    one = Settings(cache=TrialCacheSettings(parse_workers=1))
    with ingest_parser(one, ontology=ontology) as pool:
        assert pool.workers == 1 and pool.parse_each(summaries[:3]) == expected[:3]


def test_spacy_w036_is_not_shown_but_other_warnings_are(
    raw_studies: list[dict[str, Any]], parser: Any
) -> None:
    summaries = _summaries(raw_studies)[:2]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        parser.parse_many(summaries)
        assert any("[W036]" in str(w.message) for w in shown)  # what users saw
        shown.clear()
        quiet_library_warnings()
        parser.parse_many(summaries)
        warnings.warn("[W999] still shown", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["[W999] still shown"]


def test_parse_workers_default_to_the_cpu_count(monkeypatch: Any) -> None:
    monkeypatch.delenv("TRIALMATCH_PARSE_WORKERS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert TrialCacheSettings().parse_worker_count == 6
    monkeypatch.setenv("TRIALMATCH_PARSE_WORKERS", "1")
    assert TrialCacheSettings().parse_worker_count == 1
    assert ingest_parser(Settings()).workers == 1
