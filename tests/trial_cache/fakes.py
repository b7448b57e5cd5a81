"""A tiny stand-in for ``matchers``' parser and OncoTree mapping, and a progress recorder.

The fake "parses" each trial into one uninterpreted criterion spanning the whole
eligibility text, counts every trial it is handed, and can be told to fail on some.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from matchers.models import CriterionKind, ParsedCriterion, ParsedTrial, TrialSummary

# crude condition word -> OncoTree code, enough to exercise the index
_CODES = {
    "mesothelioma": "MESO",
    "pleural": "PLMESO",
    "breast": "BREAST",
    "lung": "LUNG",
    "melanoma": "MEL",
}


class FakeParser:
    """A :class:`trial_cache.ingest.TrialParser` for tests.

    ``parsed`` lists every NCT id handed to ``parse_many`` (repeats included) and
    ``batches`` the size of every call. ``fail_on`` NCT ids make a call raise.
    """

    def __init__(self, *, version: str = "fake-1", fail_on: frozenset[str] = frozenset()) -> None:
        self._version = version
        self.fail_on = fail_on
        self.parsed: list[str] = []
        self.batches: list[int] = []

    @property
    def version(self) -> str:
        return self._version

    def parse_many(self, summaries: Sequence[TrialSummary]) -> list[ParsedTrial]:
        self.batches.append(len(summaries))
        for summary in summaries:
            if summary.nct_id in self.fail_on:
                raise ValueError(f"cannot parse {summary.nct_id}")
        self.parsed.extend(s.nct_id for s in summaries)
        return [self._parse(s) for s in summaries]

    def _parse(self, summary: TrialSummary) -> ParsedTrial:
        text = summary.eligibility_text
        criteria = (
            (
                ParsedCriterion(
                    index=0, kind=CriterionKind.INCLUSION, text=text, span=(0, len(text))
                ),
            )
            if text
            else ()
        )
        return ParsedTrial(
            nct_id=summary.nct_id,
            parser_version=self._version,
            criteria=criteria,
            condition_text="; ".join(summary.conditions),
        )


def fake_index_codes(summary: TrialSummary, parsed: ParsedTrial) -> list[str]:
    """OncoTree-like codes from condition words (duplicates on purpose: the pipeline
    must de-duplicate)."""
    words = " ".join(summary.conditions).lower()
    return [code for word, code in _CODES.items() if word in words] * 2


class DyingParser(FakeParser):
    """A FakeParser whose process exits at once (as if killed or out of memory) when
    handed a trial of ``die_on``: for the parse pool's dead-worker path."""

    def __init__(self, *, die_on: frozenset[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.die_on = die_on

    def parse_many(self, summaries: Sequence[TrialSummary]) -> list[ParsedTrial]:
        if any(s.nct_id in self.die_on for s in summaries):
            os._exit(3)
        return super().parse_many(summaries)


def make_fake_parser(
    version: str = "fake-1",
    fail_on: frozenset[str] = frozenset(),
    die_on: frozenset[str] = frozenset(),
) -> FakeParser:
    """A picklable parser factory for :class:`trial_cache.parse_pool.ParserPool` (use
    it through ``functools.partial``)."""
    if die_on:
        return DyingParser(version=version, fail_on=fail_on, die_on=die_on)
    return FakeParser(version=version, fail_on=fail_on)


def unbuildable_parser() -> FakeParser:
    """A factory that fails as a missing spaCy model does."""
    raise RuntimeError("spaCy model 'en_core_sci_sm' is not installed")


class CountingFactory:
    """An in-process parser factory that counts its calls (``ParserPool(workers=1)``);
    with ``explode``, any call fails the test."""

    def __init__(self, *, explode: bool = False, version: str = "fake-1") -> None:
        self.calls = 0
        self.explode = explode
        self.version = version
        self.parser: FakeParser | None = None

    def __call__(self) -> FakeParser:
        self.calls += 1
        if self.explode:
            raise AssertionError("the parser was built, but nothing needed parsing")
        self.parser = FakeParser(version=self.version)
        return self.parser


class RecordingProgress:
    """A :class:`trial_cache.progress.Progress` that keeps the announced ``total`` and
    the sum of every ``advance``."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0

    def start(self, *, description: str, total: int | None) -> None:
        self.total = total

    def advance(self, *, count: int) -> None:
        self.done += count
