"""The parser of ``trialmatch import`` / ``trialmatch sync``: lazy, on every core.

:func:`ingest_parser` gives the :class:`trial_cache.parse_pool.ParserPool` a sync or an
import runs with: ``TRIALMATCH_PARSE_WORKERS`` processes (default one per core; 1 =
this process, no pool), each building the spaCy pipeline once with
:func:`build_ingest_parser`, and only when a study actually needs parsing: an
up-to-date sync never builds it (the pipeline costs about 5 s of CPU per process).
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

from matchers.parser import PARSER_VERSION
from trial_cache.parse_pool import ParserFactory, ParserPool

if TYPE_CHECKING:
    from matchers.settings import MatcherSettings
    from ontologies import Ontology
    from service.settings import Settings
    from trial_cache.ingest import TrialParser

__all__ = ["build_ingest_parser", "ingest_parser", "quiet_library_warnings"]


def quiet_library_warnings() -> None:
    """Hide the libraries' warnings that tell a user running an import nothing.

    spaCy warns W036 ("The component 'matcher' does not have any patterns defined")
    the first time each empty ``Matcher`` runs: scispaCy's abbreviation detector and
    medspacy's ConText each hold one that has no patterns by design. The warning is
    about how those libraries are built, not about the data, so it is filtered here, by
    category and message only, for the process that parses (each pool worker calls
    this too). Everything else still warns.
    """
    warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)


def build_ingest_parser(matcher: MatcherSettings, ontology: Ontology | None = None) -> TrialParser:
    """The eligibility parser (spaCy pipeline + rules), library warnings quieted.

    Loads the ontology unless given one (a pool worker loads its own). Slow: about 5 s.
    Raises :class:`matchers.errors.PipelineError` (e.g. a configured spaCy model is not
    installed) or :class:`ontologies.errors.OntologyError`.
    """
    from ontologies import load_ontology
    from service.engine import make_parser

    quiet_library_warnings()
    return make_parser(ontology if ontology is not None else load_ontology(), matcher)


def ingest_parser(
    settings: Settings,
    *,
    ontology: Ontology | None = None,
    factory: ParserFactory | None = None,
    workers: int | None = None,
) -> ParserPool:
    """The lazily built parser of a sync or an import (close it, or use ``with``).

    ``workers`` defaults to ``settings.cache.parse_worker_count``. ``factory`` defaults
    to :func:`build_ingest_parser` with ``settings.matcher`` (given ``ontology`` when it
    runs in this process; a pool worker loads its own). Building nothing here: the
    factory runs on the first trial to parse.
    """
    count = workers if workers is not None else settings.cache.parse_worker_count
    if factory is None:
        factory = functools.partial(
            build_ingest_parser, settings.matcher, ontology if count == 1 else None
        )
    return ParserPool(factory, version=PARSER_VERSION, workers=count)
