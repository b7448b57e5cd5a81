"""Errors raised by ``matchers``: the parser, the rule loader and patient reading.

Every error derives from :class:`MatcherError`, so callers (the trial cache, the
service) can map the whole family in one place::

    MatcherError
    ├── RuleDataError        a rule file under matchers/rules/ is missing or invalid
    ├── PipelineError        the spaCy pipeline cannot be built
    └── PatientProfileError  a profile field cannot be interpreted (HTTP 422)
"""

from __future__ import annotations

from collections.abc import Iterable


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


class PatientProfileError(MatcherError):
    """A patient profile field cannot be interpreted.

    ``field`` names the profile field (``"cancer_type"``), ``message`` says why, and
    ``suggestions`` lists close vocabulary entries the caller could send instead. The
    service maps it to HTTP 422. The message never repeats more of the profile than the
    offending value.
    """

    def __init__(self, field: str, message: str, suggestions: Iterable[str] = ()) -> None:
        self.field = field
        self.message = message
        self.suggestions = list(suggestions)
        super().__init__(f"{field}: {message}")
