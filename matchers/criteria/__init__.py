"""Criterion categories: one module per category, one registered :class:`Category` each.

=====================  ===================================  ==========================
category               module                               patient part
=====================  ===================================  ==========================
cancer_type            :mod:`.cancer_type`                  ``cancer``
histology              :mod:`.histology`                    ``histology``
stage                  :mod:`.stage`                        ``stage``
biomarker              :mod:`.biomarker`                    ``biomarkers``
performance_status     :mod:`.performance_status`           ``performance``
age, sex               :mod:`.demographics`                 ``demographics``
measurable_disease     :mod:`.measurable_disease`           ``measurable_disease``
brain_metastases       :mod:`.brain_metastases`             ``brain_metastases``
metastasis_site        :mod:`.metastasis_site`              ``metastasis_sites``
prior_therapy          :mod:`.prior_therapy`                ``therapy``
lab                    :mod:`.labs`                         ``labs``
condition              :mod:`.comorbidity`                  ``conditions``
period                 :mod:`.period`                       ``dates``
=====================  ===================================  ==========================

:data:`REGISTRY` maps a fact category to its :class:`~matchers.criteria.base.Category`
(extractor, patient-side reader, comparison, key flag, priority, rules file, cases
file); :func:`extract_all` runs every extractor in registry order. Adding a category
means one module and one line here; ``tests/matchers/criteria/test_registry.py`` fails
when a fact category of :data:`matchers.models.Fact` has no module, rules file or
table of cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from matchers.criteria import (
    biomarker,
    brain_metastases,
    cancer_type,
    comorbidity,
    demographics,
    histology,
    labs,
    measurable_disease,
    metastasis_site,
    performance_status,
    period,
    prior_therapy,
    stage,
)
from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import CriterionText

if TYPE_CHECKING:
    from matchers.models import Fact

__all__ = [
    "REGISTRY",
    "Atom",
    "Category",
    "CompareContext",
    "ExtractContext",
    "category",
    "extract_all",
]

_ORDER: tuple[Category, ...] = (
    cancer_type.CATEGORY,
    histology.CATEGORY,
    stage.CATEGORY,
    biomarker.CATEGORY,
    performance_status.CATEGORY,
    demographics.AGE,
    demographics.SEX,
    measurable_disease.CATEGORY,
    brain_metastases.CATEGORY,
    metastasis_site.CATEGORY,
    prior_therapy.CATEGORY,
    labs.CATEGORY,
    comorbidity.CATEGORY,
    period.CATEGORY,
)

REGISTRY: Mapping[str, Category] = MappingProxyType({c.name: c for c in _ORDER})
"""Fact category → :class:`Category`, in extraction order."""


def category(name: str) -> Category:
    """The registered category ``name``; raises ``KeyError`` for an unknown one."""
    return REGISTRY[name]


def extract_all(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    """Every fact of criterion ``c``, in registry (category) order then text order."""
    facts: list[Fact] = []
    for cat in _ORDER:
        facts.extend(cat.extract(c, ctx))
    return facts
