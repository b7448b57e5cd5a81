"""Fixtures of the parser tests: the pipeline and parser are built once per session.

``parse_criterion`` parses one criterion text as an inclusion (or exclusion) criterion
and returns its facts, after checking every fact's span against the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from matchers.models import CriterionKind, ParsedTrial, TrialSummary

NCT = "NCT01234567"


@pytest.fixture(scope="session")
def nlp(ontology: Any) -> Any:
    """The project's spaCy pipeline (built once)."""
    from matchers.pipeline import build_nlp
    from matchers.settings import MatcherSettings

    return build_nlp(ontology, MatcherSettings())


@pytest.fixture(scope="session")
def parser(nlp: Any, ontology: Any) -> Any:
    """The eligibility parser (built once)."""
    from matchers.parser import EligibilityParser

    return EligibilityParser(nlp, ontology)


def check_spans(trial: ParsedTrial, text: str) -> None:
    """Every criterion and fact span slices the text to its quoted evidence."""
    for c in trial.criteria:
        assert text[c.span[0] : c.span[1]] == c.text
        for f in c.facts:
            assert text[f.span[0] : f.span[1]] == f.text, (f, text[f.span[0] : f.span[1]])


@pytest.fixture(scope="session")
def parse_text(parser: Any) -> Callable[..., ParsedTrial]:
    """Parse a whole criteria text; spans are checked."""

    def run(text: str, **summary: Any) -> ParsedTrial:
        trial = parser.parse(TrialSummary(nct_id=NCT, eligibility_text=text, **summary))
        check_spans(trial, text)
        return trial

    return run


@pytest.fixture(scope="session")
def parse_criterion_kind(
    parse_text: Callable[..., ParsedTrial],
) -> Callable[..., tuple[CriterionKind, list[Any]]]:
    """(final kind, facts) of one criterion placed under an inclusion or exclusion
    heading: the parser may change the kind (an exclusion phrased inside an inclusion
    list, see ``matchers.shape.criterion_kinds``)."""

    def run(
        criterion: str, kind: str = "inclusion", category: str | None = None
    ) -> tuple[CriterionKind, list[Any]]:
        heading = "Inclusion Criteria:" if kind == "inclusion" else "Exclusion Criteria:"
        trial = parse_text(f"{heading}\n\n* {criterion}\n")
        assert len(trial.criteria) == 1, [c.text for c in trial.criteria]
        crit = trial.criteria[0]
        assert crit.text == criterion
        facts = list(crit.facts)
        if category is not None:
            facts = [f for f in facts if f.category == category]
        return crit.kind, facts

    return run


@pytest.fixture(scope="session")
def parse_criterion(
    parse_criterion_kind: Callable[..., tuple[CriterionKind, list[Any]]],
) -> Callable[..., list[Any]]:
    """Facts of one criterion (placed under an inclusion or exclusion heading), whose
    kind must stay the heading's."""

    def run(criterion: str, kind: str = "inclusion", category: str | None = None) -> list[Any]:
        final, facts = parse_criterion_kind(criterion, kind, category)
        assert final is CriterionKind(kind)
        return facts

    return run
