"""The OncoTree build script: output is generated, reproducible and says its source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ontologies import build
from ontologies.ontology import DATA_DIR


@pytest.fixture
def oncotree_source(shared_dir: Path) -> Path:
    return shared_dir / "data" / "ontologies" / "oncotree" / "oncotree_2025_10_03.json"


@pytest.fixture
def oncotree_tsv(shared_dir: Path) -> Path:
    return (
        shared_dir
        / "data"
        / "ontologies"
        / "oncotree"
        / "tumor_tree_with_nci_umls.dfci-matchminer.tsv"
    )


def test_rebuild_matches_committed_file(
    oncotree_source: Path, oncotree_tsv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "oncotree.json"
    status = build.main(
        ["--source", str(oncotree_source), "--tsv", str(oncotree_tsv), "--out", str(out)]
    )
    assert status == 0
    assert out.read_bytes() == (DATA_DIR / "oncotree.json").read_bytes()


def test_check_mode(oncotree_source: Path, oncotree_tsv: Path, tmp_path: Path) -> None:
    args = ["--source", str(oncotree_source), "--tsv", str(oncotree_tsv)]
    assert build.main([*args, "--check", "--out", str(DATA_DIR / "oncotree.json")]) == 0
    stale = tmp_path / "stale.json"
    stale.write_text(
        (DATA_DIR / "oncotree.json").read_text(encoding="utf-8").replace("Epithelioid", "X")
    )
    assert build.main([*args, "--check", "--out", str(stale)]) == 1


def test_source_header(oncotree_source: Path) -> None:
    doc = json.loads((DATA_DIR / "oncotree.json").read_text(encoding="utf-8"))
    source = doc["source"]
    assert source["file"] == oncotree_source.name
    assert source["date"] == "2025-10-03"
    assert "CC BY 4.0" in source["license"]
    assert source["generated_by"] == "python -m ontologies.build"
    assert "Memorial Sloan Kettering" in source["attribution"]
    assert source["supplement"]["file"].endswith(".tsv")
    assert len(source["sha256"]) == 64


def test_runtime_file_is_derived_not_a_copy(oncotree_source: Path) -> None:
    committed = json.loads((DATA_DIR / "oncotree.json").read_text(encoding="utf-8"))
    shared = json.loads(oncotree_source.read_text(encoding="utf-8"))
    assert "TISSUE" in shared and "TISSUE" not in committed
    assert all("children" not in node for node in committed["nodes"])
    codes = [node["code"] for node in committed["nodes"]]
    assert len(codes) == len(set(codes))
    assert {"PLMESO", "PLEMESO", "PLSMESO", "PLBMESO", "PEMESO", "DES", "IDC", "LUAD"} <= set(codes)


def test_tsv_only_fills_missing_codes(oncotree_source: Path) -> None:
    nodes = {n["code"]: n for n in json.loads(build.build_oncotree(oncotree_source))["nodes"]}
    assert nodes["PLEMESO"]["nci"] == []  # the 2025 JSON has no NCIt code for it
    assert nodes["PLMESO"]["nci"] == ["C9351"]
    assert nodes["GB"]["previous_codes"] == ["GBM"]


def test_rejects_non_oncotree_json(tmp_path: Path) -> None:
    bad = tmp_path / "not_oncotree.json"
    bad.write_text('{"foo": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="TISSUE"):
        build.build_oncotree(bad)


def test_missing_source_exits_2(tmp_path: Path) -> None:
    assert (
        build.main(["--source", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.json")])
        == 2
    )
