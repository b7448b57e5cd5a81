"""Strict loading: every data file goes through extra="forbid" models; faults name file+entry."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ontologies import Ontology, OntologyDataError, OntologyError, load_ontology
from ontologies.ontology import DATA_DIR, DATA_FILES


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of the packaged data files (our own files, not ../shared)."""
    for name in DATA_FILES:
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n" + text + "\n")


def test_copy_loads(data_copy: Path) -> None:
    onto = load_ontology(data_copy)
    assert isinstance(onto, Ontology)
    assert onto.data_dir == data_copy
    assert onto.cancer_types.resolve_one("MPM").code == "PLMESO"


BAD_ENTRIES = [
    (
        "therapies.toml",
        '[classes.bogus]\nnames = ["bogus class"]\nparnets = ["systemic"]',
        ["therapies.toml", "classes.bogus", "unknown key 'parnets'"],
    ),
    (
        "therapies.toml",
        '[classes.bogus]\nnames = ["bogus class"]\nparents = ["no_such_class"]',
        ["therapies.toml", "classes.bogus", "no_such_class"],
    ),
    (
        "therapies.toml",
        '[classes.loop_a]\nnames = ["loop a"]\nparents = ["loop_b"]\n'
        '[classes.loop_b]\nnames = ["loop b"]\nparents = ["loop_a"]',
        ["therapies.toml", "cycle"],
    ),
    (
        "therapies.toml",
        '[classes.bogus]\nnames = ["Platinum-based chemotherapy"]',
        ["classes.bogus", "also belongs to classes.platinum"],
    ),
    (
        "histology.toml",
        '[terms.bogus]\nnames = ["bogus histology"]\ncancer_code = ["LUAD"]',
        ["histology.toml", "terms.bogus", "unknown key 'cancer_code'"],
    ),
    (
        "histology.toml",
        '[terms.bogus]\nnames = ["bogus histology"]\ncancer_codes = ["NOT_A_CODE"]',
        ["histology.toml", "terms.bogus", "NOT_A_CODE"],
    ),
    (
        "biomarkers.toml",
        '[markers.FOO]\nnames = ["FOO1"]\nkind = "gene"\ncolour = "red"',
        ["biomarkers.toml", "markers.FOO", "unknown key 'colour'"],
    ),
    (
        "biomarkers.toml",
        '[markers.FOO]\nnames = ["FOO1"]\nkind = "rna"',
        ["biomarkers.toml", "markers.FOO", "kind"],
    ),
    (
        "biomarkers.toml",
        '[variants.FOO]\nmarker = "NOT_A_MARKER"\nnames = ["foo variant"]',
        ["biomarkers.toml", "variants.FOO", "NOT_A_MARKER"],
    ),
    (
        "conditions.toml",
        '[conditions.bogus]\nnames = ["bogus condition"]\nseverity = "high"',
        ["conditions.toml", "conditions.bogus", "unknown key 'severity'"],
    ),
    (
        "conditions.toml",
        "[conditions.bogus]\nnames = []",
        ["conditions.toml", "conditions.bogus", "names"],
    ),
    (
        "cancer_synonyms.toml",
        '[synonyms.bogus]\nnames = ["bogus cancer"]\ncodes = ["NOT_A_CODE"]',
        ["cancer_synonyms.toml", "synonyms.bogus", "NOT_A_CODE"],
    ),
    (
        "cancer_synonyms.toml",
        '[synonyms.bogus]\nnames = ["bogus cancer"]\ncode = ["LUAD"]',
        ["cancer_synonyms.toml", "synonyms.bogus", "unknown key 'code'"],
    ),
    (
        "cancer_synonyms.toml",
        '[synonyms.bogus]\nnames = ["bogus cancer"]',
        ["synonyms.bogus", "needs 'codes' or 'main_type'"],
    ),
    (
        "cancer_synonyms.toml",
        '[extras]\nfoo = ["bar"]',
        ["cancer_synonyms.toml", "unknown top-level key", "extras"],
    ),
    ("therapies.toml", "names = [", ["therapies.toml", "not valid TOML"]),
]


@pytest.mark.parametrize(("filename", "addition", "fragments"), BAD_ENTRIES)
def test_bad_entry_is_rejected(
    data_copy: Path, filename: str, addition: str, fragments: list[str]
) -> None:
    _append(data_copy / filename, addition)
    with pytest.raises(OntologyDataError) as info:
        load_ontology(data_copy)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert info.value.file is not None
    assert info.value.file.name == filename
    assert isinstance(info.value, OntologyError)


def test_tiny_bad_toml_alone(tmp_path: Path) -> None:
    """A minimal file with one unknown key, loaded on its own."""
    from ontologies.conditions import ComorbidityVocab

    bad = tmp_path / "conditions.toml"
    bad.write_text('[conditions.hiv]\nnames = ["HIV"]\nsource = "NCIt"\n', encoding="utf-8")
    with pytest.raises(OntologyDataError) as info:
        ComorbidityVocab.load(bad)
    assert info.value.entry == "conditions.hiv"
    assert "unknown key 'source'" in str(info.value)


def test_entry_may_not_repeat_its_id(tmp_path: Path) -> None:
    from ontologies.conditions import ComorbidityVocab

    bad = tmp_path / "conditions.toml"
    bad.write_text('[conditions.hiv]\nid = "hiv"\nnames = ["HIV"]\n', encoding="utf-8")
    with pytest.raises(OntologyDataError, match="taken from the table key"):
        ComorbidityVocab.load(bad)


def test_missing_file(data_copy: Path) -> None:
    (data_copy / "histology.toml").unlink()
    with pytest.raises(OntologyDataError, match=r"histology\.toml: data file not found"):
        load_ontology(data_copy)


def _drop_source(doc: dict[str, Any]) -> None:
    del doc["source"]


def _colour_node_3(doc: dict[str, Any]) -> None:
    doc["nodes"][3]["colour"] = "Blue"


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (_colour_node_3, ["oncotree.json [nodes[3]]", "unknown key 'colour'"]),
        (_drop_source, ["source"]),
    ],
    ids=["node_with_unknown_key", "without_source_header"],
)
def test_bad_oncotree_json_is_rejected(
    data_copy: Path, edit: Callable[[dict[str, Any]], None], fragments: list[str]
) -> None:
    path = data_copy / "oncotree.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(OntologyDataError) as info:
        load_ontology(data_copy)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_load_is_fast() -> None:
    start = time.perf_counter()
    load_ontology()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"load_ontology took {elapsed:.2f} s"


def test_no_module_level_singleton() -> None:
    assert load_ontology() is not load_ontology()
