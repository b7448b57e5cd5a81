"""Vocabularies as data, with strict loaders (see ARCHITECTURE.md, "ontologies API").

    from ontologies import load_ontology
    onto = load_ontology()                       # once per process; OntologyDataError
    onto.cancer_types.resolve_one("MPM").code    # "PLMESO"
    onto.histology.of_oncotree("PLEMESO")        # "epithelioid"
    onto.therapies.classes_of("carboplatin")     # {"platinum", "chemotherapy", "systemic"}

Modules: :mod:`.cancer_types` (OncoTree tree + resolver), :mod:`.histology`,
:mod:`.biomarkers` (incl. :func:`~ontologies.biomarkers.her2_category`),
:mod:`.therapies`, :mod:`.conditions`, :mod:`.stage` (AJCC grammar, pure functions),
:mod:`.errors`, :mod:`.build` (regenerates ``data/oncotree.json``).
No I/O beyond reading ``ontologies/data``.
"""

from .biomarkers import (
    HER2_NEGATIVE_CATEGORIES,
    BiomarkerVocab,
    Her2Category,
    Marker,
    Variant,
    her2_category,
)
from .cancer_types import CancerTypeNode, CancerTypeTree, ConditionMatch, GenericScope
from .conditions import Comorbidity, ComorbidityVocab
from .errors import OntologyDataError, OntologyError, UnknownConditionError
from .histology import HistologyTerm, HistologyVocab
from .ontology import DATA_DIR, Ontology, load_ontology
from .stage import STAGE_ORDER, parse_stage, stage_group, stage_in
from .therapies import Drug, TherapyClass, TherapyVocab

__all__ = [
    "DATA_DIR",
    "HER2_NEGATIVE_CATEGORIES",
    "STAGE_ORDER",
    "BiomarkerVocab",
    "CancerTypeNode",
    "CancerTypeTree",
    "Comorbidity",
    "ComorbidityVocab",
    "ConditionMatch",
    "Drug",
    "GenericScope",
    "Her2Category",
    "HistologyTerm",
    "HistologyVocab",
    "Marker",
    "Ontology",
    "OntologyDataError",
    "OntologyError",
    "TherapyClass",
    "TherapyVocab",
    "UnknownConditionError",
    "Variant",
    "her2_category",
    "load_ontology",
    "parse_stage",
    "stage_group",
    "stage_in",
]
