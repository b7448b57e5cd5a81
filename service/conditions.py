"""Condition lookups for the GET endpoints: free text or a slug → OncoTree node.

``Desmoid_tumors``, ``desmoid-tumors`` and ``desmoid tumors`` are the same query
(underscores and hyphens between words read as spaces). Biomarker qualifiers are read
off the query (:func:`read_qualifiers`: ``Her__low_breast_cancer`` is breast cancer,
HER2-low) and kept on the resolved condition. A query that resolves to
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


_DROPPED = re.compile(r"(?<=[A-Za-z])_{2,}(?=[A-Za-z])")
"""Two or more underscores inside a slug: characters the slug could not keep ("HER2-low"
→ ``Her__low``)."""
_QUALIFIER = re.compile(
    r"\b(?P<marker>[A-Za-z][A-Za-z0-9/]*)(?P<lost>\?)?[\s-]*"
    r"(?P<status>ultra-?low|low|positive|negative|zero|mutant|mutated|mutation|amplified|"
    r"amplification|wild[- ]?type|fusion|rearranged|expressing)\b",
    re.I,
)


def read_qualifiers(ontology: Ontology, query: str) -> tuple[str, dict[str, str]]:
    """The biomarker qualifiers of a condition query and the words left for the cancer
    type: ``"Her__low_breast_cancer"`` → (``"breast cancer"``, ``{"HER2": "low"}``),
    ``"EGFR-mutant NSCLC"`` → (``"NSCLC"``, ``{"EGFR": "mutant"}``). A marker must be a
    name of the biomarker vocabulary; a slug's lost characters (``__``) are read as the
    digit that makes one ("Her" + "2"). The status words are kept as written: the
    matcher's patient reader interprets them (``HER2: low`` is HER2-low)."""
    text = slug_to_text(_DROPPED.sub("?", query.strip()))
    vocab = ontology.biomarkers
    found: dict[str, str] = {}

    def marker_of(word: str, lost: bool) -> str | None:
        tries = [word + d for d in "0123456789"] if lost else [word]
        return next((m for m in (vocab.resolve_marker(t) for t in tries)
                     if m and m.upper().startswith(word.upper())), None)

    def take(m: re.Match[str]) -> str:
        marker = marker_of(m.group("marker"), bool(m.group("lost")))
        if marker is None:
            return m.group(0)
        found[marker] = m.group("status").lower()
        return " "
    rest = _QUALIFIER.sub(take, text).replace("?", "")
    return " ".join(rest.split()), found


def resolve_condition(
    ontology: Ontology, query: str, *, limit: int = 5
) -> tuple[ResolvedCondition, list[ConditionCandidate]]:
    """The node ``query`` denotes and up to ``limit`` alternatives (best first).

    ``ResolvedCondition.covers`` is every code of an exact group alias
    ("mesothelioma" → pleural, peritoneal, tunica vaginalis), else the single best
    code. Raises :class:`ConditionNotFound` with suggestions.
    """
    text, biomarkers = read_qualifiers(ontology, query)
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
    resolved = _node(ontology, best.code, list(dict.fromkeys(covers)))
    if biomarkers:
        resolved = resolved.model_copy(update={"biomarkers": biomarkers})
    return resolved, alternatives
