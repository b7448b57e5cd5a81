"""Errors raised by the eligibility parser (``matchers.parser`` and friends).

Every error the parser raises derives from :class:`MatcherError`, so callers (the
trial cache, the service) can map the whole family in one place.
"""

from __future__ import annotations


class MatcherError(Exception):
    """Base class of every error raised by ``matchers``' parsing code."""


class RuleDataError(MatcherError):
    """A rule data file under ``matchers/rules/`` is missing or invalid.

    ``path`` names the file; the message carries pydantic's or the TOML parser's
    explanation. Raised at load time (``load_rules``), never while parsing a trial.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"invalid rule data in {path}: {reason}")


class PipelineError(MatcherError):
    """The spaCy pipeline could not be built (e.g. a configured ``spacy_model`` is not
    installed, or the ontology yields no usable phrases)."""
