"""Per-criterion fact extractors, one module per fact category.

Every extractor is a plain function taking a
:class:`~matchers.extract.common.CriterionText` (the criterion's text, offsets,
ontology terms and ConText scopes) and the :class:`~matchers.rules.Rules`, and
returning facts whose spans index the full criteria text. :func:`extract_all` runs
them all in a fixed order.

=====================  ==========================================  =========================
category               function                                    module
=====================  ==========================================  =========================
cancer_type            :func:`extract_cancer_types`                :mod:`.disease`
histology              :func:`extract_histology`                   :mod:`.disease`
stage                  :func:`extract_stage`                       :mod:`.disease`
biomarker              :func:`extract_biomarkers`                  :mod:`.biomarkers`
performance_status     :func:`extract_performance`                 :mod:`.performance`
age, sex               :func:`extract_age`, :func:`extract_sex`    :mod:`.demographics`
measurable_disease     :func:`extract_measurable`                  :mod:`.brain`
brain_metastases       :func:`extract_brain_metastases`            :mod:`.brain`
prior_therapy          :func:`extract_prior_therapy`               :mod:`.therapy`
lab                    :func:`extract_labs`                        :mod:`.labs`
condition              :func:`extract_conditions`                  :mod:`.disease`
=====================  ==========================================  =========================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from matchers.extract.biomarkers import extract_biomarkers
from matchers.extract.brain import extract_brain_metastases, extract_measurable
from matchers.extract.common import CriterionText, normalize_text
from matchers.extract.demographics import extract_age, extract_sex
from matchers.extract.disease import (
    extract_cancer_types,
    extract_conditions,
    extract_histology,
    extract_stage,
)
from matchers.extract.labs import extract_labs
from matchers.extract.performance import extract_performance
from matchers.extract.therapy import extract_prior_therapy
from matchers.models import Fact
from matchers.rules import Rules

if TYPE_CHECKING:
    from ontologies import Ontology

__all__ = [
    "CriterionText",
    "extract_age",
    "extract_all",
    "extract_biomarkers",
    "extract_brain_metastases",
    "extract_cancer_types",
    "extract_conditions",
    "extract_histology",
    "extract_labs",
    "extract_measurable",
    "extract_performance",
    "extract_prior_therapy",
    "extract_sex",
    "extract_stage",
    "normalize_text",
]


def extract_all(
    c: CriterionText, rules: Rules, ontology: Ontology, variants_marker: Mapping[str, str]
) -> list[Fact]:
    """Every fact of criterion ``c``, in category order then text order.

    ``variants_marker`` maps biomarker variant ids to their marker ids (built once by
    the parser from ``ontology.biomarkers.variants``).
    """
    facts: list[Fact] = []
    facts += extract_cancer_types(c, rules)
    facts += extract_histology(c, rules)
    facts += extract_stage(c, rules)
    facts += extract_biomarkers(c, rules, variants_marker)
    facts += extract_performance(c, rules)
    facts += extract_age(c, rules)
    facts += extract_sex(c, rules)
    facts += extract_measurable(c, rules)
    facts += extract_brain_metastases(c, rules)
    facts += extract_prior_therapy(c, rules, ontology)
    facts += extract_labs(c, rules)
    facts += extract_conditions(c, rules)
    return facts
