"""Exceptions raised by :mod:`ontologies`.

Hierarchy::

    OntologyError                   base class; catch this to handle any ontology failure
    ├── OntologyDataError           a data file is missing, malformed, has an unknown key,
    │                               or refers to an id/code that does not exist
    └── UnknownConditionError       free text resolves to no cancer type
                                    (also a LookupError); carries .query and .suggestions

``OntologyDataError`` is a deployment problem (bad or stale data files) and should fail
loudly at start-up. ``UnknownConditionError`` is a user-input problem: the service maps it
to a 422 with the suggestions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["OntologyDataError", "OntologyError", "UnknownConditionError"]


class OntologyError(Exception):
    """Base class for every exception raised by :mod:`ontologies`."""


class OntologyDataError(OntologyError):
    """A vocabulary data file cannot be used.

    ``file`` is the offending file (or None when the problem spans files) and ``entry``
    the entry inside it (e.g. ``"drugs.cisplatin"``) when one can be named. The message
    always contains both, so a log line alone is enough to find the fault.
    """

    def __init__(self, message: str, *, file: Path | str | None = None, entry: str | None = None):
        self.file = Path(file) if file is not None else None
        self.entry = entry
        where = ""
        if self.file is not None:
            where = f"{self.file.name}"
            if entry is not None:
                where += f" [{entry}]"
            where += ": "
        elif entry is not None:
            where = f"[{entry}]: "
        super().__init__(f"{where}{message}")
        self.detail = message


class UnknownConditionError(OntologyError, LookupError):
    """Free text (a cancer type) that resolves to no OncoTree node.

    ``query`` is the text as given; ``suggestions`` are the names of the nearest nodes
    (best first, possibly empty), for a "did you mean" message.
    """

    def __init__(self, query: str, suggestions: Sequence[str] = (), *, reason: str | None = None):
        self.query = query
        self.suggestions: tuple[str, ...] = tuple(suggestions)
        msg = reason or f"no cancer type matches {query!r}"
        if self.suggestions:
            msg += "; nearest: " + ", ".join(self.suggestions)
        super().__init__(msg)
