"""Cancer-type tree (OncoTree) and the free-text resolver."""

from __future__ import annotations

import time

import pytest

from ontologies import Ontology, UnknownConditionError

# (query, expected best code, codes that must all be returned with it)
RESOLVE_CASES = [
    ("mesothelioma", "PLMESO", {"PLMESO", "PEMESO", "TMESO"}),
    ("Mesothelioma", "PLMESO", {"PEMESO"}),
    ("Desmoid_tumors", "DES", set()),
    ("desmoid tumor", "DES", set()),
    ("desmoid-type fibromatosis", "DES", set()),
    ("aggressive fibromatosis", "DES", set()),
    ("Her__low_breast_cancer", "BREAST", set()),
    ("HER2-positive breast cancer", "BREAST", set()),
    ("HR+/HER2- metastatic breast cancer", "BREAST", set()),
    ("triple negative breast cancer", "BREAST", set()),
    ("TNBC", "BREAST", set()),
    ("MPM", "PLMESO", set()),
    ("malignant pleural mesothelioma", "PLMESO", set()),
    ("epithelioid pleural mesothelioma", "PLEMESO", set()),
    ("sarcomatoid mesothelioma", "PLSMESO", set()),
    ("biphasic pleural mesothelioma", "PLBMESO", set()),
    ("non-epithelioid mesothelioma", "PLSMESO", {"PLSMESO", "PLBMESO"}),
    ("peritoneal mesothelioma", "PEMESO", set()),
    ("PLEMESO", "PLEMESO", set()),
    ("plemeso", "PLEMESO", set()),
    ("NSCLC", "NSCLC", set()),
    ("non-small cell lung cancer", "NSCLC", set()),
    ("Metastatic EGFR-mutant NSCLC", "NSCLC", set()),
    ("Stage IIIB non-small cell lung cancer", "NSCLC", set()),
    ("lung adenocarcinoma", "LUAD", set()),
    ("adenocarcinoma of the lung", "LUAD", set()),
    ("squamous cell carcinoma of the lung", "LUSC", set()),
    ("SCLC", "SCLC", set()),
    ("extensive-stage small cell lung cancer", "SCLC", set()),
    ("colorectal cancer", "COADREAD", set()),
    ("mCRC", "COADREAD", set()),
    ("HCC", "HCC", set()),
    ("clear cell renal cell carcinoma", "CCRCC", set()),
    ("GBM", "GB", set()),  # GBM is OncoTree's retired code for GB
    ("glioblastoma multiforme", "GB", set()),
    ("AML", "AML", set()),
    ("CLL", "CLLSLL", set()),
    ("acute lymphoblastic leukemia", "BLL", {"BLL", "TLL"}),
    ("multiple myeloma", "PCM", set()),
    ("melanoma", "MEL", {"MEL", "HNMUCM", "OM", "ARMM"}),
    ("uveal melanoma", "UM", set()),
    ("Waldenström macroglobulinemia", "LPL", set()),
    ("Ewing's sarcoma", "ES", {"ES", "ESST"}),
    ("castration-resistant prostate cancer", "PROSTATE", set()),
    ("Pancreatic ductal adenocarcinoma", "PAAD", set()),
    ("gastrointestinal stromal tumour", "GIST", set()),
    ("Hodgkin's disease", "HL", set()),
    # fuzzy: typos and word order
    ("mesotheliome", "PLMESO", set()),
    ("hepatocelular carcinoma", "HCC", set()),
    ("pleural mesothelioma sarcomatoid", "PLSMESO", set()),
]


@pytest.mark.parametrize(("query", "best", "also"), RESOLVE_CASES)
def test_resolve(ontology: Ontology, query: str, best: str, also: set[str]) -> None:
    matches = ontology.cancer_types.resolve(query)
    assert matches, f"{query!r} resolved to nothing"
    assert matches[0].code == best
    assert also <= {m.code for m in matches}
    assert ontology.cancer_types.resolve_one(query).code == best


@pytest.mark.parametrize(
    ("query", "method"),
    [
        ("MPM", "synonym"),
        ("PLEMESO", "code"),
        ("Synovial Sarcoma", "name"),
        ("mesotheliome", "fuzzy"),
    ],
)
def test_resolve_reports_method_and_score(ontology: Ontology, query: str, method: str) -> None:
    match = ontology.cancer_types.resolve_one(query)
    assert match.method == method
    assert (match.score == 100.0) == (method != "fuzzy")
    assert match.name == ontology.cancer_types.nodes[match.code].name


def test_resolve_codes_returns_the_whole_group(ontology: Ontology) -> None:
    assert ontology.cancer_types.resolve_codes("mesothelioma") == ("PLMESO", "PEMESO", "TMESO")
    assert ontology.cancer_types.resolve_codes("lung adenocarcinoma") == ("LUAD",)
    assert ontology.cancer_types.resolve_codes("solid tumors") == ()


@pytest.mark.parametrize(
    ("query", "scope"),
    [
        ("solid tumor", "solid"),
        ("Solid Tumors", "solid"),
        ("advanced solid tumours", "solid"),
        ("advanced malignancy", "any"),
        ("any cancer", "any"),
        ("carcinoma", "solid"),
        ("hematologic malignancies", "hematologic"),
    ],
)
def test_generic_terms_resolve_to_no_node(ontology: Ontology, query: str, scope: str) -> None:
    tree = ontology.cancer_types
    assert tree.generic(query) == scope
    assert tree.resolve(query) == []
    with pytest.raises(UnknownConditionError, match="generic"):
        tree.resolve_one(query)


def test_generic_terms_are_exposed_as_a_mapping(ontology: Ontology) -> None:
    terms = ontology.cancer_types.generic_terms
    assert terms["solid tumor"] == "solid"
    assert terms["advanced malignancy"] == "any"
    assert terms["hematologic malignancy"] == "hematologic"
    assert ontology.cancer_types.generic("mesothelioma") is None


@pytest.mark.parametrize("query", ["xyzzy disease", "brain metastases", "qwertyuiop"])
def test_unknown_raises_with_suggestions(ontology: Ontology, query: str) -> None:
    assert ontology.cancer_types.resolve(query) == []
    with pytest.raises(UnknownConditionError) as info:
        ontology.cancer_types.resolve_one(query)
    err = info.value
    assert err.query == query
    assert isinstance(err.suggestions, tuple)
    assert len(err.suggestions) >= 1
    assert all(isinstance(s, str) for s in err.suggestions)
    assert isinstance(err, LookupError)


def test_unknown_suggestions_are_near(ontology: Ontology) -> None:
    with pytest.raises(UnknownConditionError) as info:
        ontology.cancer_types.resolve_one("mesothelium tumour of the pleura zz")
    assert any("Mesothelioma" in s for s in info.value.suggestions)


@pytest.mark.parametrize("query", ["", "   ", "--", "()"])
def test_empty_query(ontology: Ontology, query: str) -> None:
    assert ontology.cancer_types.resolve(query) == []


# ------------------------------------------------------------------------ tree


def test_node_fields(ontology: Ontology) -> None:
    node = ontology.cancer_types.get("PLEMESO")
    assert node is not None
    assert node.name == "Pleural Mesothelioma, Epithelioid Type"
    assert node.parent == "PLMESO"
    assert node.main_type == "Mesothelioma"
    assert node.tissue == "Pleura"
    assert node.level == 3
    assert "C45662" in node.nci  # filled from the MatchMiner export
    assert "epithelioid pleural mesothelioma" in node.synonyms
    assert ontology.cancer_types.get("plemeso") == node
    assert ontology.cancer_types.get("NOPE") is None


def test_ancestry_plemeso_within_pleura(ontology: Ontology) -> None:
    tree = ontology.cancer_types
    assert tree.ancestors("PLEMESO") == ("PLMESO", "PLEURA")
    assert tree.is_within("PLEMESO", "PLMESO")
    assert tree.is_within("PLEMESO", "PLEURA")
    assert tree.is_within("PLEMESO", "PLEMESO")
    assert not tree.is_within("PLMESO", "PLEMESO")
    assert not tree.is_within("PEMESO", "PLMESO")
    assert tree.tissue_of("PLEMESO") == "PLEURA"


@pytest.mark.parametrize(
    ("code", "ancestors"),
    [
        ("LUAD", ("NSCLC", "LUNG")),
        ("SCLC", ("LNET", "LUNG")),
        ("IDC", ("BRCA", "BREAST")),
        ("DES", ("SOFT_TISSUE",)),
        ("PLEURA", ()),
        ("TISSUE", ()),
        ("UNKNOWN", ()),
    ],
)
def test_ancestors_table(ontology: Ontology, code: str, ancestors: tuple[str, ...]) -> None:
    assert ontology.cancer_types.ancestors(code) == ancestors


def test_descendants(ontology: Ontology) -> None:
    tree = ontology.cancer_types
    assert tree.descendants("PLMESO") == {"PLMESO", "PLEMESO", "PLSMESO", "PLBMESO"}
    assert "LUAD" in tree.descendants("LUNG")
    assert "LUAD" not in tree.descendants("BREAST")
    assert tree.descendants("NOPE") == frozenset()
    assert len(tree.descendants("TISSUE")) == len(tree)
    assert tree.children("PLMESO") == ("PLBMESO", "PLEMESO", "PLSMESO")


def test_is_within_unknown_codes_is_false(ontology: Ontology) -> None:
    assert not ontology.cancer_types.is_within("NOPE", "LUNG")
    assert not ontology.cancer_types.is_within("LUAD", "NOPE")


def test_tree_is_consistent(ontology: Ontology) -> None:
    tree = ontology.cancer_types
    assert len(tree) > 800
    for node in tree:
        if node.parent is None:
            assert node.code == "TISSUE"
            continue
        parent = tree.get(node.parent)
        assert parent is not None
        assert node.level == parent.level + 1
        assert node.code in tree.descendants(node.parent)


def test_desmoid_is_not_malignant_and_not_a_soft_tissue_sarcoma(ontology: Ontology) -> None:
    tree = ontology.cancer_types
    assert not tree.is_malignant("DES")
    assert tree.is_malignant("LMS")
    sts = set(tree.resolve_codes("soft tissue sarcoma"))
    assert "LMS" in sts and "SYNS" in sts
    assert "DES" not in sts and "SOFT_TISSUE" not in sts
    assert not any(tree.is_within("DES", code) for code in sts)
    assert any(tree.is_within("DDLS", code) for code in sts)


def test_find_in_condition_strings(ontology: Ontology) -> None:
    codes = {m.code for m in ontology.cancer_types.find("Malignant Pleural Mesothelioma; NSCLC")}
    assert {"PLMESO"} <= codes
    assert not ontology.cancer_types.find("no cancer named here")


# ------------------------------------------------------------------------ phrases


def test_phrases(ontology: Ontology) -> None:
    pairs = set(ontology.cancer_types.phrases())
    assert ("epithelioid pleural mesothelioma", "PLEMESO") in pairs
    assert ("desmoid tumors", "DES") in pairs
    assert ("desmoid tumour", "DES") in pairs
    assert ("non small cell lung cancer", "NSCLC") in pairs
    assert ("mpm", "PLMESO") in pairs  # abbreviations, lower-cased
    assert ("tnbc", "BREAST") in pairs
    assert ("es-sclc", "SCLC") in pairs
    assert ("mesothelioma", "PEMESO") in pairs  # a group phrase gives one pair per code
    forms = {form for form, _ in pairs}
    assert all(form == form.lower() for form in forms)
    # organ words, generic phrases and ambiguous abbreviations are not lower-case phrases
    assert not forms & {"lung", "breast", "solid tumor", "cancer", "all", "mm", "cup", "net"}
    assert {code for _, code in pairs} <= set(ontology.cancer_types.nodes)


def test_ambiguous_abbreviations_are_case_sensitive_forms(ontology: Ontology) -> None:
    pairs = set(ontology.cancer_types.abbreviations())
    assert ("ALL", "BLL") in pairs and ("ALL", "TLL") in pairs
    assert ("MM", "PCM") in pairs
    assert ("CUP", "CUP") in pairs
    assert ("MPM", "PLMESO") not in pairs  # unambiguous: a lower-case phrase instead
    phrase_forms = {form for form, _ in ontology.cancer_types.phrases()}
    assert not {form.lower() for form, _ in pairs} & phrase_forms


def test_resolution_is_fast(ontology: Ontology) -> None:
    tree = ontology.cancer_types
    queries = [
        "NSCLC",
        "mesothelioma",
        "Desmoid_tumors",
        "HER2-low breast cancer",
        "lung adenocarcinoma",
    ]
    start = time.perf_counter()
    for _ in range(200):
        for q in queries:
            tree.resolve(q)
    per_call = (time.perf_counter() - start) / (200 * len(queries))
    assert per_call < 0.001, f"exact/synonym resolution took {per_call * 1000:.3f} ms per call"
