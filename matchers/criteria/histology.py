"""Histology: the histologic subtypes a criterion names, against the patient's.

**Extraction** (:func:`extract_histology`) — one fact per ontology ``HISTOLOGY`` mention
(term ids of ``ontologies/data/histology.toml``: ``epithelioid``, ``sarcomatoid``,
``biphasic``, ``non_epithelioid``, ``adenocarcinoma``, ``squamous``, ``non_squamous``,
``small_cell``, …); a subtype named as another cancer's in an exclusion is not read.

**Patient side** (:func:`read_histology`) — the profile's ``histology`` text resolved to a
term id, else the one its OncoTree code (or an ancestor) implies (PLEMESO →
``epithelioid``, LUAD → ``adenocarcinoma``).

**Comparison** — the patient's term is covered by a named term (``non_epithelioid``
covers sarcomatoid and biphasic) → true; the patient's term is broader than a named one
(``adenocarcinoma`` vs a named subtype) → unknown ("histologic subtype?"); else false.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import (
    OTHER_CONTEXT,
    CriterionText,
    direct_negation,
    keep_mention,
    keep_terms,
)
from matchers.models import Fact, HistologyFact
from matchers.rules import Rules

if TYPE_CHECKING:
    from matchers.criteria.cancer_type import PatientCancer
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile
    from ontologies import Ontology

__all__ = ["CATEGORY", "compare_histology", "extract_histology", "read_histology"]


def extract_histology(c: CriterionText, rules: Rules) -> list[HistologyFact]:
    """Histology facts of criterion ``c``: one per ontology histology mention."""
    facts: list[HistologyFact] = []
    for t in keep_terms(c, ("HISTOLOGY",)):
        if (
            OTHER_CONTEXT.search(c.norm[max(c.start, t.start - 50) : t.start])
            and c.kind.value == "exclusion"
        ):
            continue
        keep, neg, exc = keep_mention(c, t.start, t.end)
        if not keep or (neg and not direct_negation(c, t.start)):
            continue
        facts.append(
            HistologyFact(
                span=(t.start, t.end),
                text=c.text[t.start : t.end],
                negated=neg,
                exception=exc,
                terms=t.codes,
            )
        )
    return facts


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "histology.ontology_term"})
            for f in extract_histology(c, ctx.rules)]


def read_histology(profile: PatientProfile, ontology: Ontology,
                   cancer: PatientCancer) -> str | None:
    """The patient's histology term id: from ``profile.histology``, else implied by the
    OncoTree code or its nearest ancestor that implies one; None if neither."""
    histology: str | None = None
    if profile.histology:
        histology = ontology.histology.resolve(profile.histology)
    for code in cancer.lineage:
        if histology is not None:
            break
        histology = ontology.histology.of_oncotree(code)
    return histology


def compare_histology(f: HistologyFact, p: NormalizedPatient, ctx: CompareContext) -> Atom:
    """True if the patient's histology is covered by a term the fact names (see the
    module docstring)."""
    h = p.histology
    if h is None:
        return Atom(f, None, "histologic subtype not given", "histologic subtype?")
    vocab = ctx.ontology.histology
    for term in f.terms:
        if h in vocab.covers(term):
            return Atom(f, True, f"histology is {h.replace('_', ' ')}")
    for term in f.terms:
        if term in vocab.covers(h) and term != h:
            return Atom(
                f, None, f"histology {h.replace('_', ' ')} is broader than "
                f"{term.replace('_', ' ')}", "histologic subtype?",
            )
    return Atom(f, False, f"histology is {h.replace('_', ' ')}")


CATEGORY = Category(
    name="histology",
    fact_type=HistologyFact,
    extract=_extract,
    compare=compare_histology,
    patient_part="histology",
    reader=read_histology,
    key=True,
    priority=3,
    # Histology is read from ontology terms only: its cue words are its vocabulary.
    rules_file="../../ontologies/data/histology.toml",
    cases_file="histology.toml",
    module=__name__,
)
