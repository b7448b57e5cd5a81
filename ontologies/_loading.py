"""Strict reading of the vocabulary data files (internal).

Every entry goes through a pydantic model with ``extra="forbid"``; any failure becomes an
:class:`~ontologies.errors.OntologyDataError` naming the file and the entry.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import OntologyDataError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every data-file model: unknown keys are rejected, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(entry)"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}")
        else:
            parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML data file; raise OntologyDataError if it is missing or malformed."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise OntologyDataError("data file not found", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise OntologyDataError(f"not valid TOML: {exc}", file=path) from None


def read_json(path: Path) -> Any:
    """Parse a JSON data file; raise OntologyDataError if it is missing or malformed."""
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise OntologyDataError("data file not found", file=path) from None
    except json.JSONDecodeError as exc:
        raise OntologyDataError(f"not valid JSON: {exc}", file=path) from None


def check_sections(doc: Mapping[str, Any], allowed: set[str], path: Path) -> None:
    """Reject top-level keys other than ``allowed``."""
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise OntologyDataError(
            f"unknown top-level key(s) {unknown}; expected some of {sorted(allowed)}", file=path
        )


def validate(model: type[M], data: Any, path: Path, entry: str) -> M:
    """Validate one entry; OntologyDataError (file + entry named) on failure."""
    if not isinstance(data, Mapping):
        raise OntologyDataError(
            f"expected a table, got {type(data).__name__}", file=path, entry=entry
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise OntologyDataError(_describe(exc), file=path, entry=entry) from None


def validate_table(
    model: type[M], doc: Mapping[str, Any], section: str, path: Path, *, id_field: str = "id"
) -> dict[str, M]:
    """Validate ``doc[section]``, a table of entries keyed by id; the key fills ``id_field``.

    An entry may not also set ``id_field`` itself (the key is the id).
    """
    table = doc.get(section, {})
    if not isinstance(table, Mapping):
        raise OntologyDataError(f"[{section}] must be a table", file=path)
    out: dict[str, M] = {}
    for entry_id, data in table.items():
        entry = f"{section}.{entry_id}"
        if isinstance(data, Mapping) and id_field in data:
            raise OntologyDataError(
                f"{id_field!r} is taken from the table key; do not set it", file=path, entry=entry
            )
        payload = {id_field: entry_id, **data} if isinstance(data, Mapping) else data
        out[entry_id] = validate(model, payload, path, entry)
    return out


def require_known(
    ids: Any,
    known: Mapping[str, Any] | set[str] | frozenset[str],
    what: str,
    path: Path,
    entry: str,
) -> None:
    """Raise OntologyDataError if any of ``ids`` is not in ``known``."""
    missing = [i for i in ids if i not in known]
    if missing:
        raise OntologyDataError(f"unknown {what} {missing}", file=path, entry=entry)


def closure(start: str, edges: Callable[[str], Iterable[str]]) -> frozenset[str]:
    """``start`` and every id reachable from it through ``edges`` (ids must be known)."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        cur = stack.pop()
        if cur not in seen:
            seen.add(cur)
            stack.extend(edges(cur))
    return frozenset(seen)


def covers_closure(
    start: str, covers: Callable[[str], Iterable[str]], path: Path, entry: str
) -> frozenset[str]:
    """:func:`closure` over ``covers``; OntologyDataError naming ``entry`` if ``start``
    lies on a covers cycle."""
    seen = closure(start, covers)
    for other in seen - {start}:
        if start in covers(other):
            raise OntologyDataError(f"covers cycle through {other!r}", file=path, entry=entry)
    return seen
