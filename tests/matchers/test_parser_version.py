"""PARSER_VERSION follows the parser's sources: a change to the parser code, its rule
files or the ontology data that the version does not record fails here (the store keys
parsed criteria by the version, so an unbumped change would serve stale parses)."""

from __future__ import annotations

from matchers.parser import PARSER_SOURCES_SHA256, PARSER_VERSION, parser_sources_digest


def test_parser_version_records_the_sources() -> None:
    digest = parser_sources_digest()
    assert digest == PARSER_SOURCES_SHA256, (
        f"the parser's sources changed (PARSER_VERSION {PARSER_VERSION}): bump "
        f"matchers.parser.PARSER_VERSION and set PARSER_SOURCES_SHA256 = {digest!r} "
        "(python -m matchers.parser prints both)")

