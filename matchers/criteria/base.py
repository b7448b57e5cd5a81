"""What every criterion category declares: :class:`Category`, and the value types it
works with (:class:`Atom`, :class:`ExtractContext`, :class:`CompareContext`).

A category (cancer type, biomarker, prior therapy, …) is one module under
``matchers/criteria/`` holding, for one fact type:

* the **extractor** — criterion text (a :class:`~matchers.criteria.common.CriterionText`)
  → facts, at parse time;
* the **patient-side reader** — the part of a
  :class:`~matchers.patient.PatientProfile` it compares against, resolved once per
  request (the module's ``read_*`` function, composed by :mod:`matchers.normalize`);
* the **comparison** — one fact × the patient → an :class:`Atom` (three-valued);
* whether an unknown fact of the category is **key** (makes a trial only *possibly*
  eligible) and its **priority** (evaluation order: the most decisive first; and the
  category a met criterion is filed under);
* its **rules file** under ``matchers/rules/`` and its **table of cases** under
  ``tests/matchers/criteria/cases/`` (table-driven tests citing real trials).

The module registers its :class:`Category` in :data:`matchers.criteria.REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from matchers.logic import Tri
from matchers.models import CriterionKind, Fact, FactBase, ParsedCriterion

if TYPE_CHECKING:
    from matchers.criteria.common import CriterionText
    from matchers.normalize import NormalizedPatient
    from matchers.rules import Rules
    from ontologies import Ontology


@dataclass(slots=True)
class Atom:
    """One fact checked against the patient: ``value`` of the fact's *positive*
    statement (before negation), what the patient has (``patient``, shown in the
    reason), and for unknown values the ``question`` naming the missing fact. ``key``
    False makes an unknown atom non-blocking (labs, comorbidities, timing)."""

    fact: Fact
    value: Tri
    patient: str
    question: str | None = None
    key: bool = True
    specificity: float = 0.0


@dataclass(frozen=True, slots=True)
class ExtractContext:
    """What an extractor may use besides the criterion: the rule files, the ontology,
    ``variants_marker`` (biomarker variant id → marker id) and ``status_names`` (a
    lower-case marker name that says its result → (marker id, status): "msi-h")."""

    rules: Rules
    ontology: Ontology
    variants_marker: Mapping[str, str]
    status_names: Mapping[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class CompareContext:
    """What a comparison may use besides the fact and the patient: the criterion the
    fact belongs to (its kind, washout flag, …), the ontology, ``today`` (for dates) and
    the AJCC stage order."""

    criterion: ParsedCriterion | None
    ontology: Ontology
    today: date
    stage_order: Sequence[str]

    @property
    def kind(self) -> CriterionKind:
        return self.criterion.kind if self.criterion is not None else CriterionKind.INCLUSION


Extractor = Callable[["CriterionText", ExtractContext], Sequence[Fact]]
Comparison = Callable[[Any, "NormalizedPatient", CompareContext], Atom]


@dataclass(frozen=True, slots=True)
class Category:
    """One registered criterion category (see the module docstring).

    ``name`` is the facts' ``category`` value; ``fact_type`` the fact model;
    ``extract`` the extractor; ``compare`` the comparison (``None`` only for
    ``cancer_type``, which :mod:`matchers.criteria.cancer_type` judges trial-wide);
    ``patient_part`` names the :class:`~matchers.normalize.NormalizedPatient` field the
    comparison reads, filled by the module's ``reader``; ``key`` marks a
    disease-targeting category; ``priority`` orders evaluation (0 = most decisive);
    ``rules_file`` and ``cases_file`` name its data files (relative to
    ``matchers/rules/`` and ``tests/matchers/criteria/cases/``).
    """

    name: str
    fact_type: type[FactBase]
    extract: Extractor
    compare: Comparison | None
    patient_part: str
    reader: Callable[..., Any]
    key: bool
    priority: int
    rules_file: str
    cases_file: str
    module: str
    combine: Callable[[ParsedCriterion, Sequence[Atom]], Tri] | None = None
    """How the positive atoms of the category in one criterion combine; None = as
    alternatives (OR: "NSCLC or mesothelioma", "stage IIIB or IV"). Negated atoms must
    all hold (AND: "without EGFR, ALK or ROS1 alterations")."""
