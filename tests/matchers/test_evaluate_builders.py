"""Builders for evaluation/ranking tests: trials from real criterion texts with
hand-built facts (spans computed from the quoted substrings), and patients.

Kept as a test module (it also checks the builders themselves) so that the other
matcher tests can import it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import TypeAdapter

from matchers.index import index_trial
from matchers.models import (
    CriterionKind,
    Fact,
    IndexedTrial,
    ParsedCriterion,
    ParsedTrial,
    Site,
    TrialSummary,
)
from matchers.normalize import NormalizedPatient, normalize_patient
from matchers.patient import PatientProfile
from matchers.shape import criterion_kinds, shape_trial

TODAY = date(2025, 3, 1)
_FACT = TypeAdapter(Fact)

FactSpec = tuple[str, str, dict[str, Any]]
"""(category, quoted substring of the criterion, other fields)."""


def F(category: str, quote: str, **fields: Any) -> FactSpec:
    return (category, quote, fields)


def Inc(text: str, *facts: FactSpec) -> tuple[CriterionKind, str, tuple[FactSpec, ...]]:
    return (CriterionKind.INCLUSION, text, facts)


def Exc(text: str, *facts: FactSpec) -> tuple[CriterionKind, str, tuple[FactSpec, ...]]:
    return (CriterionKind.EXCLUSION, text, facts)


def _fact(spec: FactSpec, text: str, offset: int) -> Fact:
    category, quote, fields = spec
    start = text.lower().find(quote.lower())
    if start < 0:
        raise ValueError(f"{quote!r} not in {text!r}")
    span = (offset + start, offset + start + len(quote))
    return _FACT.validate_python(
        {"category": category, "span": span, "text": text[start:start + len(quote)],
         **fields}
    )


def make_trial(
    ontology: Any,
    criteria: list[tuple[CriterionKind, str, tuple[FactSpec, ...]]],
    *,
    nct_id: str = "NCT00000001",
    conditions: tuple[str, ...] = (),
    condition_facts: tuple[FactSpec, ...] = (),
    status: str | None = "RECRUITING",
    min_age: float | None = None,
    max_age: float | None = None,
    sex: str | None = "ALL",
    sites: tuple[Site, ...] = (),
    title: str = "",
    headings: dict[int, str] | None = None,
) -> IndexedTrial:
    """An :class:`IndexedTrial` whose criteria text is the criteria joined by newlines;
    ``headings`` gives criterion positions their sub-heading."""
    parts: list[str] = []
    parsed: list[ParsedCriterion] = []
    offset = 0
    for i, (kind, text, facts) in enumerate(criteria):
        parsed.append(ParsedCriterion(
            index=i, kind=kind, text=text, span=(offset, offset + len(text)),
            facts=tuple(_fact(f, text, offset) for f in facts),
            heading=(headings or {}).get(i),
        ))
        parts.append(text)
        offset += len(text) + 1
    cond_text = "; ".join(conditions) + (f"; {title}" if title else "")
    cond_facts = tuple(_fact(f, cond_text, 0) for f in condition_facts)
    summary = TrialSummary(
        nct_id=nct_id, title=title or f"Trial {nct_id}", overall_status=status,
        conditions=conditions, min_age_years=min_age, max_age_years=max_age, sex=sex,
        sites=sites, eligibility_text="\n".join(parts), study_type="INTERVENTIONAL",
    )
    # The parser's last steps: final kinds, then criterion shape (scopes, permissions,
    # rewrites). Hand-built facts stand for what the extractors read under that kind.
    parsed = [c.model_copy(update={"kind": kind, "shape_rules": rules})
              for c, (kind, rules) in zip(parsed, criterion_kinds(parsed), strict=True)]
    shape = shape_trial(parsed, cond_facts, condition_text=cond_text,
                        condition_entries=conditions, title=summary.title,
                        official_title=None, ontology=ontology)
    pt = ParsedTrial(nct_id=nct_id, parser_version="test", criteria=shape.criteria,
                     conditions=shape.conditions, condition_text=cond_text,
                     conditions_non_cancer=shape.conditions_non_cancer,
                     first_line_title=shape.first_line_title,
                     newly_diagnosed_title=shape.newly_diagnosed_title, line_hint=shape.line_hint)
    return index_trial(summary, pt, ontology)


def patient(ontology: Any, **fields: Any) -> NormalizedPatient:
    return normalize_patient(PatientProfile.model_validate(fields), ontology)


MESO_IB = dict(
    cancer_type="PLEMESO", stage="IB", resectable=True, age=58, sex="male", ecog=0,
    prior_therapies=[], brain_metastases="none", measurable_disease=True,
    biomarkers={"BAP1_IHC": "loss", "PD-L1_TPS": "<1%"},
)
BREAST_HER2_LOW = dict(
    cancer_type="Breast invasive ductal carcinoma", stage="IV", age=55, sex="female",
    ecog=1, brain_metastases="none", measurable_disease=True,
    biomarkers={"ER": "positive (90%)", "PR": "positive (20%)", "HER2_IHC": "2+",
                "HER2_ISH": "negative", "PIK3CA": "wild-type", "gBRCA1/2": "negative"},
    prior_therapies=[
        {"name": "letrozole + palbociclib", "line": 1, "setting": "metastatic",
         "progressed": True},
        {"name": "capecitabine", "class": "chemotherapy", "line": 2,
         "setting": "metastatic", "progressed": True},
    ],
)
NSCLC_EGFR = dict(
    cancer_type="LUAD", stage="IVB", age=61, sex="female", ecog=1,
    brain_metastases="none", measurable_disease=True,
    biomarkers={"EGFR": "exon 19 deletion (E746_A750del)", "EGFR_T790M": "not detected",
                "ALK": "negative", "ROS1": "negative", "KRAS": "wild-type",
                "PD-L1_TPS": 10},
    prior_therapies=[{"name": "osimertinib 80 mg daily",
                      "class": "third-generation EGFR tyrosine kinase inhibitor",
                      "line": 1, "setting": "metastatic", "progressed": True}],
)


def test_builder_spans_quote_the_criterion(ontology: Any) -> None:
    t = make_trial(ontology, [Inc("ECOG performance status of 0 or 1",
                                  F("performance_status", "ECOG performance status of 0 or 1",
                                    scale="ECOG", ecog_min=0, ecog_max=1))])
    c = t.parsed.criteria[0]
    s, e = c.facts[0].span
    assert t.summary.eligibility_text[s:e] == "ECOG performance status of 0 or 1"
