"""The :class:`Ontology` bundle and :func:`load_ontology`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .biomarkers import BiomarkerVocab
from .cancer_types import CancerTypeTree
from .conditions import ComorbidityVocab
from .histology import HistologyVocab
from .therapies import TherapyVocab

__all__ = ["DATA_DIR", "DATA_FILES", "Ontology", "load_ontology"]

DATA_DIR = Path(__file__).resolve().parent / "data"
"""The packaged data directory (``ontologies/data``)."""

DATA_FILES = (
    "oncotree.json",
    "cancer_synonyms.toml",
    "histology.toml",
    "biomarkers.toml",
    "therapies.toml",
    "conditions.toml",
)
"""The files :func:`load_ontology` reads from the data directory."""


@dataclass(frozen=True, slots=True)
class Ontology:
    """All vocabularies, loaded and cross-checked. Immutable; share it freely.

    Build it once per process with :func:`load_ontology` and pass it down (the service
    keeps it in the FastAPI lifespan state); there is no module-level singleton.
    """

    cancer_types: CancerTypeTree
    histology: HistologyVocab
    biomarkers: BiomarkerVocab
    therapies: TherapyVocab
    conditions: ComorbidityVocab
    data_dir: Path


def load_ontology(data_dir: Path | None = None) -> Ontology:
    """Read every vocabulary from ``data_dir`` (default: the packaged ``ontologies/data``).

    Every entry is validated by a pydantic model with ``extra="forbid"`` and cross-file
    references are checked (histology ``cancer_codes`` and curated synonyms must name
    existing OncoTree codes). Raises :class:`~ontologies.errors.OntologyDataError`
    naming the file and entry on any fault. Takes ~0.3 s; call it once.
    """
    d = Path(data_dir) if data_dir is not None else DATA_DIR
    tree = CancerTypeTree.load(d / "oncotree.json", d / "cancer_synonyms.toml")
    histology = HistologyVocab.load(
        d / "histology.toml", known_codes=tree.nodes, ancestors=tree.ancestors
    )
    return Ontology(
        cancer_types=tree,
        histology=histology,
        biomarkers=BiomarkerVocab.load(d / "biomarkers.toml"),
        therapies=TherapyVocab.load(d / "therapies.toml"),
        conditions=ComorbidityVocab.load(d / "conditions.toml"),
        data_dir=d,
    )
