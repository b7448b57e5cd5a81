"""Therapy classes (DAG), drugs, NCIt coverage of NCI's curated prior-therapy criteria."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from ontologies import Ontology


@pytest.mark.parametrize(
    ("drug", "expected"),
    [
        ("carboplatin", {"platinum", "chemotherapy", "systemic"}),
        ("pemetrexed", {"antimetabolite", "chemotherapy", "systemic"}),
        ("pembrolizumab", {"pd1", "pd1_pdl1", "checkpoint_inhibitor", "immunotherapy", "systemic"}),
        ("durvalumab", {"pdl1", "pd1_pdl1", "checkpoint_inhibitor", "immunotherapy", "systemic"}),
        ("ipilimumab", {"ctla4", "checkpoint_inhibitor", "immunotherapy", "systemic"}),
        (
            "osimertinib",
            {"egfr_tki_3g", "egfr_tki", "egfr_targeting", "tki", "targeted", "systemic"},
        ),
        ("palbociclib", {"cdk46", "targeted", "systemic"}),
        ("letrozole", {"aromatase_inhibitor", "endocrine", "systemic"}),
        ("fulvestrant", {"serd", "endocrine", "systemic"}),
        ("trastuzumab_deruxtecan", {"anti_her2", "adc", "adc_topo1", "targeted", "systemic"}),
        ("sorafenib", {"multikinase_tki", "vegfr_tki", "tki", "systemic"}),
        ("nirogacestat", {"gamma_secretase_inhibitor", "targeted", "systemic"}),
        ("doxorubicin", {"anthracycline", "chemotherapy", "systemic"}),
        ("sotorasib", {"kras_g12c_inhibitor", "ras_inhibitor", "targeted", "systemic"}),
    ],
)
def test_classes_of_drug(ontology: Ontology, drug: str, expected: set[str]) -> None:
    assert expected <= ontology.therapies.classes_of(drug)


def test_class_closure(ontology: Ontology) -> None:
    t = ontology.therapies
    assert t.class_closure(["platinum"]) == {"platinum", "chemotherapy", "systemic"}
    assert t.class_closure(["pd1", "ctla4"]) == {
        "pd1",
        "pd1_pdl1",
        "ctla4",
        "checkpoint_inhibitor",
        "immunotherapy",
        "systemic",
    }
    assert t.class_closure([]) == frozenset()
    assert "systemic" not in t.class_closure(["radiotherapy", "surgery"])
    with pytest.raises(KeyError, match="unknown therapy class"):
        t.class_closure(["not_a_class"])
    with pytest.raises(KeyError, match="unknown drug"):
        t.classes_of("not_a_drug")


def test_chemotherapy_is_not_immunotherapy(ontology: Ontology) -> None:
    t = ontology.therapies
    assert not t.is_a("carboplatin", "immunotherapy")
    assert not t.is_a("pembrolizumab", "chemotherapy")
    assert not t.is_a("letrozole", "chemotherapy")
    assert t.is_a("egfr_tki_3g", "tki")
    assert "carboplatin" in t.drugs_in("platinum")
    assert "pembrolizumab" not in t.drugs_in("platinum")
    assert {"pd1", "pdl1", "pd1_pdl1"} <= t.subclasses("checkpoint_inhibitor")


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        ("CDK4/6 inhibitor", "cdk46"),
        ("CDK 4/6 inhibitors", "cdk46"),
        ("platinum-based chemotherapy", "platinum"),
        ("platinum doublet", "platinum_doublet"),
        ("anti-PD-1", "pd1"),
        ("anti-PD1 antibody", "pd1"),
        ("PD-1/PD-L1 inhibitor", "pd1_pdl1"),
        ("PD-(L)1 inhibitor", "pd1_pdl1"),
        ("immune checkpoint inhibitors", "checkpoint_inhibitor"),
        ("EGFR TKI", "egfr_tki"),
        ("EGFR tyrosine kinase inhibitor", "egfr_tki"),
        ("third-generation EGFR tyrosine kinase inhibitor", "egfr_tki_3g"),
        ("anthracycline-based", "anthracycline"),
        ("multikinase tyrosine kinase inhibitor", "multikinase_tki"),
        ("antibody-drug conjugate", "adc"),
        ("systemic anticancer therapy", "systemic"),
        ("chemotherapy", "chemotherapy"),
        ("pd1_pdl1", "pd1_pdl1"),  # an id passes through
        ("Prior treatment with a PARP inhibitor", "parp_inhibitor"),
        ("aromatase inhibitor + CDK4/6 inhibitor", None),  # two classes: ambiguous
        ("checkpoint inhibtor", "checkpoint_inhibitor"),  # typo
        ("vitamin D", None),
    ],
)
def test_resolve_class(ontology: Ontology, text: str, cls: str | None) -> None:
    assert ontology.therapies.resolve_class(text) == cls


def test_find_classes(ontology: Ontology) -> None:
    assert set(ontology.therapies.find_classes("aromatase inhibitor + CDK4/6 inhibitor")) == {
        "aromatase_inhibitor",
        "cdk46",
    }


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("Enhertu", "trastuzumab_deruxtecan"),
        ("T-DXd", "trastuzumab_deruxtecan"),
        ("fam-trastuzumab deruxtecan-nxki", "trastuzumab_deruxtecan"),
        ("Keytruda", "pembrolizumab"),
        ("osimertinib 80 mg daily", "osimertinib"),
        ("sorafenib 400 mg daily", "sorafenib"),
        ("5-FU", "fluorouracil"),
        ("nab-paclitaxel", "nab_paclitaxel"),
        ("paclitaxel", "paclitaxel"),
        ("pembrolizumub", "pembrolizumab"),  # typo
        ("carboplatin/pemetrexed", None),  # two drugs
        ("marginal surgical resection", None),
    ],
)
def test_resolve_drug(ontology: Ontology, text: str, drug: str | None) -> None:
    assert ontology.therapies.resolve_drug(text) == drug


def test_find_drugs(ontology: Ontology) -> None:
    assert set(ontology.therapies.find_drugs("letrozole + palbociclib")) == {
        "letrozole",
        "palbociclib",
    }
    assert set(ontology.therapies.find_drugs("carboplatin/pemetrexed")) == {
        "carboplatin",
        "pemetrexed",
    }


def test_vocabulary_size(ontology: Ontology) -> None:
    assert len(ontology.therapies.drugs) >= 150
    required = {
        "systemic", "chemotherapy", "platinum", "anthracycline", "taxane", "fluoropyrimidine",
        "alkylating", "antimetabolite", "immunotherapy", "checkpoint_inhibitor", "pd1_pdl1", "pd1",
        "pdl1", "ctla4", "targeted", "egfr_tki", "egfr_tki_3g", "alk_tki", "kras_g12c_inhibitor",
        "multikinase_tki", "parp_inhibitor", "cdk46", "mtor_inhibitor", "pi3k_inhibitor",
        "akt_inhibitor", "anti_her2", "adc", "anti_vegf", "gamma_secretase_inhibitor", "endocrine",
        "aromatase_inhibitor", "serd", "serm", "radiotherapy", "surgery",
    }  # fmt: skip
    assert required <= set(ontology.therapies.classes)


# NCIt class codes NCI uses in its curated prior-therapy criteria (sec_poc dev.tsv)
NCI_CLASS_CODES = {
    "C274": "systemic",
    "C62634": "systemic",
    "C1450": "platinum",
    "C162261": "platinum_doublet",
    "C124946": "pd1",
    "C128037": "pd1",
    "C156893": "pdl1",
    "C128057": "pdl1",
    "C143250": "checkpoint_inhibitor",
    "C128036": "ctla4",
    "C2167": "egfr_tki",
    "C116534": "egfr_tki",
    "C163952": "egfr_targeting",
    "C141136": "alk_tki",
    "C308": "immunotherapy",
    "C62554": "parp_inhibitor",
    "C1967": "tki",
    "C69145": "mek_inhibitor",
    "C1902": "ras_inhibitor",
    "C2336": "raf_inhibitor",
    "C93259": "vegfr_tki",
    "C1490": "taxane",
    "C2201": "mtor_inhibitor",
    "C1904": "topo1_inhibitor",
    "C129825": "enzyme_inhibitor",
    "C63360": "regimen_nsclc",
    "C65070": "regimen_cervical",
}


@pytest.mark.parametrize(("code", "cls"), sorted(NCI_CLASS_CODES.items()))
def test_nci_class_codes(ontology: Ontology, code: str, cls: str) -> None:
    assert code in ontology.therapies.classes[cls].nci


# Codes in those rows that are not a class or drug here, on purpose
NOT_MODELLED = {
    "C15903",  # "No Prior Cancer Therapy": a finding (relation="naive"), not a class
    "C64763",  # fermented wheat germ extract (listed under NCI's PARP-inhibitor expansion)
    "C29105",  # hypoxanthine (same row)
}


def test_every_nci_prior_therapy_code_is_known(ontology: Ontology, shared_dir: Path) -> None:
    path = shared_dir / "data" / "benchmarks" / "nci_curated_criteria" / "dev.tsv"
    known = {c for cls in ontology.therapies.classes.values() for c in cls.nci}
    known |= {c for drug in ontology.therapies.drugs.values() for c in drug.nci}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh, delimiter="\t")
            if r["criteria_type"] in {"pt_inc", "pt_exc", "chemotherapy_exc", "immunotherapy_exc"}
        ]
    assert rows
    used = {c for r in rows for c in re.findall(r"'(C\d+)'", r["trial_criteria_expression"])}
    assert used - known - NOT_MODELLED == set()


def test_phrases(ontology: Ontology) -> None:
    t = ontology.therapies
    phrases = set(t.phrases())
    assert ("platinum-based chemotherapy", "platinum") in phrases
    assert ("platinum doublet", "platinum_doublet") in phrases
    assert ("anti-pd-1", "pd1") in phrases
    assert ("anti-pd1", "pd1") in phrases
    assert ("anti pd-1", "pd1") in phrases
    assert ("cdk4/6 inhibitors", "cdk46") in phrases
    assert ("egfr tyrosine kinase inhibitors", "egfr_tki") in phrases
    assert ("enhertu", "trastuzumab_deruxtecan") in phrases
    assert {i for _, i in phrases} <= set(t.classes) | set(t.drugs)
    assert ("tki", "tki") in phrases
    assert ("t-dxd", "trastuzumab_deruxtecan") in phrases
    assert ("ici", "checkpoint_inhibitor") in phrases
    abbreviations = set(t.abbreviations())
    assert ("AI", "aromatase_inhibitor") in abbreviations  # "ai" is ambiguous in lower case
    assert ("IO", "immunotherapy") in abbreviations
    assert not any(form in {"ai", "io", "rt"} for form, _ in phrases)
