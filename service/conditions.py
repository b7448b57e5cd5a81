"""Condition lookups for the GET endpoints: free text or a slug → OncoTree node.

``Desmoid_tumors``, ``desmoid-tumors`` and ``desmoid tumors`` are the same query
(underscores and hyphens between words read as spaces). A query that resolves to
nothing raises :class:`service.errors.ConditionNotFound` (HTTP 404) carrying the
nearest nodes with their codes, so the caller can retry with one of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from service.errors import ConditionNotFound
from service.schemas import ConditionCandidate, ResolvedCondition

if TYPE_CHECKING:
    from ontologies import Ontology

_SLUG_SEP = re.compile(r"(?<=\w)[_-]+(?=\w)")


def slug_to_text(query: str) -> str:
    """``"Desmoid_tumors"`` → ``"Desmoid tumors"``; ``"NSCLC"`` unchanged."""
    return _SLUG_SEP.sub(" ", query.strip())


def _node(ontology: Ontology, code: str, covers: list[str]) -> ResolvedCondition:
    node = ontology.cancer_types.get(code)
    if node is None:  # pragma: no cover - resolve() only returns known codes
        raise ConditionNotFound(code, [])
    return ResolvedCondition(
        code=node.code,
        name=node.name,
        main_type=node.main_type,
        tissue=node.tissue,
        parent=node.parent,
        nci=list(node.nci),
        umls=list(node.umls),
        covers=covers,
    )


def _suggestions(ontology: Ontology, text: str, limit: int) -> list[dict[str, Any]]:
    tree = ontology.cancer_types
    out: list[dict[str, Any]] = []
    for name in tree.suggest(text, limit=limit):
        hit = tree.resolve(name, limit=1)
        if hit:
            out.append({"code": hit[0].code, "name": hit[0].name})
    return out


def resolve_condition(
    ontology: Ontology, query: str, *, limit: int = 5
) -> tuple[ResolvedCondition, list[ConditionCandidate]]:
    """The node ``query`` denotes and up to ``limit`` alternatives (best first).

    ``ResolvedCondition.covers`` is every code of an exact group alias
    ("mesothelioma" → pleural, peritoneal, tunica vaginalis), else the single best
    code. Raises :class:`ConditionNotFound` with suggestions.
    """
    text = slug_to_text(query)
    tree = ontology.cancer_types
    matches = tree.resolve(text, limit=limit) if text else []
    if not matches:
        scope = tree.generic(text) if text else None
        reason = (
            f"{query!r} is a generic term ({scope}), not a specific cancer type"
            if scope
            else f"Unknown condition {query!r}"
        )
        raise ConditionNotFound(query, _suggestions(ontology, text, limit) if text else [], reason)
    best = matches[0]
    covers = [m.code for m in matches if m.score >= 100.0] if best.score >= 100.0 else [best.code]
    alternatives = []
    for m in matches[1:]:
        node = tree.get(m.code)
        alternatives.append(
            ConditionCandidate(
                code=m.code,
                name=m.name,
                main_type=node.main_type if node else None,
                tissue=node.tissue if node else None,
                score=m.score,
                matched=m.matched,
            )
        )
    return _node(ontology, best.code, list(dict.fromkeys(covers))), alternatives
