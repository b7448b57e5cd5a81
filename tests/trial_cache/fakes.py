"""A tiny stand-in for ``matchers``' parser and OncoTree mapping.

The fake "parses" each trial into one uninterpreted criterion spanning the whole
eligibility text, counts every trial it is handed, and can be told to fail on some.
"""

from __future__ import annotations

from collections.abc import Sequence

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
