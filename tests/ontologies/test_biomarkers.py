"""Biomarkers, variants and the ASCO/CAP HER2 categories."""

from __future__ import annotations

import pytest

from ontologies import HER2_NEGATIVE_CATEGORIES, Ontology, her2_category

HER2_CASES = [
    # (IHC, ISH, category) — ASCO/CAP 2018/2023
    ("0", None, "zero"),
    ("IHC 0", None, "zero"),
    ("0+", None, "zero"),
    ("0+ faint", None, "ultralow"),
    ("ultralow", None, "ultralow"),
    ("IHC 0 (ultralow)", None, "ultralow"),
    (">0 <1+", None, "ultralow"),
    ("1+", None, "low"),
    ("IHC 1+", None, "low"),
    ("HER2 1+", "not amplified", "low"),
    ("2+", "negative", "low"),
    ("IHC 2+", "not amplified", "low"),
    ("2+", "ISH-", "low"),
    ("2+", "non-amplified", "low"),
    ("2+", "amplified", "positive"),
    ("2+", "ISH+", "positive"),
    ("2+", "positive", "positive"),
    ("2+", None, None),  # equivocal without ISH: undetermined
    ("2+", "equivocal", None),
    ("3+", None, "positive"),
    ("IHC 3+", "not amplified", "positive"),  # IHC 3+ is positive by itself
    (None, "amplified", "positive"),
    (None, "FISH+", "positive"),
    (None, "not amplified", None),  # ISH alone cannot separate zero from low
    (None, None, None),
    ("negative", None, None),  # "HER2-negative" = 0, 1+ or 2+/ISH-
    ("positive", None, "positive"),
    ("2+/ISH-", None, "low"),
    ("IHC 2+, FISH not amplified", None, "low"),
    ("2+ (ISH amplified)", None, "positive"),
    ("not reported", None, None),
]


@pytest.mark.parametrize(("ihc", "ish", "expected"), HER2_CASES)
def test_her2_category(ihc: str | None, ish: str | None, expected: str | None) -> None:
    assert her2_category(ihc, ish) == expected


def test_her2_negative_categories() -> None:
    assert {"zero", "ultralow", "low"} == HER2_NEGATIVE_CATEGORIES
    assert "positive" not in HER2_NEGATIVE_CATEGORIES


@pytest.mark.parametrize(
    ("text", "marker"),
    [
        ("HER2", "HER2"),
        ("ERBB2", "HER2"),
        ("HER2/neu", "HER2"),
        ("HER2_IHC", "HER2"),
        ("estrogen receptor", "ER"),
        ("PgR", "PR"),
        ("hormone receptor", "HR"),
        ("PD-L1_TPS", "PD-L1"),
        ("PDL1", "PD-L1"),
        ("gBRCA1/2", "BRCA"),
        ("BRCA2", "BRCA2"),
        ("EGFR_T790M", "EGFR"),
        ("MSI-H", "MSI"),
        ("dMMR", "MMR"),
        ("tumor mutational burden", "TMB"),
        ("beta-catenin", "CTNNB1"),
        ("BAP1_IHC", "BAP1"),
        ("no marker here", None),
    ],
)
def test_resolve_marker(ontology: Ontology, text: str, marker: str | None) -> None:
    assert ontology.biomarkers.resolve_marker(text) == marker


@pytest.mark.parametrize(
    ("text", "marker", "variant"),
    [
        ("exon 19 deletion (E746_A750del)", None, "exon19del"),
        ("ex19del", "EGFR", "exon19del"),
        ("L858R", None, "L858R"),
        ("EGFR exon 20 insertion", None, "exon20ins"),
        ("T790M", None, "T790M"),
        ("KRAS p.G12C", None, "G12C"),
        ("BRAF V600E", "BRAF", "V600E"),
        ("MET exon 14 skipping", None, "exon14"),
        ("sensitizing EGFR mutation", None, "sensitizing"),
        ("uncommon EGFR mutation", None, "rare"),
        ("T41A mutation", "CTNNB1", "T41A"),
        ("G12C", "EGFR", None),  # wrong marker
        ("wild-type", None, None),
    ],
)
def test_resolve_variant(
    ontology: Ontology, text: str, marker: str | None, variant: str | None
) -> None:
    assert ontology.biomarkers.resolve_variant(text, marker) == variant


def test_variant_closure(ontology: Ontology) -> None:
    b = ontology.biomarkers
    assert b.variant_covers("common") == {"common", "exon19del", "L858R"}
    assert {"exon19del", "L858R", "G719X", "S768I", "L861Q"} <= b.variant_covers("sensitizing")
    assert "exon20ins" not in b.variant_covers("sensitizing")
    assert {"G719X", "S768I", "L861Q"} <= b.variant_covers("rare")
    assert "L858R" not in b.variant_covers("rare")
    assert b.variants["G12C"].marker == "KRAS"
    assert set(b.variants_of("EGFR")) >= {"exon19del", "L858R", "T790M", "C797S", "exon20ins"}


def test_group_markers(ontology: Ontology) -> None:
    b = ontology.biomarkers
    assert b.members("HR") == {"HR", "ER", "PR"}
    assert b.members("BRCA") == {"BRCA", "BRCA1", "BRCA2"}
    assert b.members("ER") == {"ER"}


def test_marker_fields_and_nci(ontology: Ontology) -> None:
    her2 = ontology.biomarkers.markers["HER2"]
    assert her2.kind == "protein"
    assert her2.gene == "ERBB2"
    assert her2.findings["positive"] == ("C68748",)
    assert "C68749" in her2.nci
    assert ontology.biomarkers.markers["TMB"].kind == "score"
    assert ontology.biomarkers.variants["exon19del"].nci == ("C126892",)


def test_phrases(ontology: Ontology) -> None:
    b = ontology.biomarkers
    phrases = set(b.phrases())
    assert ("estrogen receptor", "ER") in phrases
    assert ("programmed death-ligand 1", "PD-L1") in phrases
    assert ("pd-l1", "PD-L1") in phrases and ("pdl1", "PD-L1") in phrases
    assert ("her2", "HER2") in phrases
    abbreviations = set(b.abbreviations())
    assert ("ER", "ER") in abbreviations and ("HR", "HR") in abbreviations
    assert ("MET", "MET") in abbreviations  # "criteria met"
    assert not any(form in {"er", "pr", "hr", "met"} for form, _ in phrases)  # never lower-case
    variant_phrases = set(b.variant_phrases())
    assert ("exon 19 deletion", "exon19del") in variant_phrases
    assert ("l858r", "L858R") in variant_phrases
    assert ("del19", "exon19del") in variant_phrases
