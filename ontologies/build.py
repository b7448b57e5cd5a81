"""Build ``ontologies/data/oncotree.json`` from the shared OncoTree release.

Usage::

    python -m ontologies.build            # regenerate the committed runtime file
    python -m ontologies.build --check    # exit 1 if the committed file is stale
    python -m ontologies.build --out /tmp/oncotree.json --source PATH --tsv PATH

Input (read in place, never copied into the repository):

* ``../shared/data/ontologies/oncotree/oncotree_2025_10_03.json`` — the OncoTree tree
  (CC BY 4.0, Memorial Sloan Kettering Cancer Center), nested ``children`` with
  ``code``, ``name``, ``mainType``, ``tissue``, ``parent``, ``level``,
  ``externalReferences`` (NCI, UMLS) and ``history``/``precursors``/``revocations``.
* ``tumor_tree_with_nci_umls.dfci-matchminer.tsv`` (optional) — an older flat export
  (from MatchMiner); used only to fill NCIt/UMLS codes for nodes whose JSON entry has
  none (e.g. PLEMESO → C45662). It never adds nodes or changes the tree.

Output: a compact JSON file — a ``source`` header (file names, SHA-256 of the inputs,
release date, licence, attribution, the command that generated it) and ``nodes``, one
record per line in depth-first order (siblings by code), each with ``code``, ``name``,
``main_type``, ``tissue``, ``parent``, ``level``, ``nci``, ``umls`` and
``previous_codes`` (history + precursors + revocations: codes that used to denote the
node, e.g. GBM → GB). The output is a pure function of the inputs: re-running the build
gives byte-identical output, which a test checks.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_ONCOTREE = ROOT.parent / "shared" / "data" / "ontologies" / "oncotree"
DEFAULT_SOURCE = SHARED_ONCOTREE / "oncotree_2025_10_03.json"
DEFAULT_TSV = SHARED_ONCOTREE / "tumor_tree_with_nci_umls.dfci-matchminer.tsv"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "oncotree.json"

LICENSE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
ATTRIBUTION = "OncoTree, Memorial Sloan Kettering Cancer Center (https://oncotree.mskcc.org)"

_NCI = re.compile(r"^C\d+$")
_UMLS = re.compile(r"^C\d{7}$")
_TSV_CELL = re.compile(r"^(?P<name>.*) \((?P<code>[A-Za-z0-9_/-]+)\)$")
_DATE_IN_NAME = re.compile(r"(\d{4})_(\d{2})_(\d{2})")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _walk(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield node
    children = node.get("children") or {}
    for code in sorted(children):
        yield from _walk(children[code])


def _tsv_references(tsv: Path) -> dict[str, tuple[list[str], list[str]]]:
    """code -> (NCIt codes, UMLS CUIs) of the deepest node named on each TSV row."""
    refs: dict[str, tuple[list[str], list[str]]] = {}
    with tsv.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            cells = [
                (row.get(col) or "").strip().strip('"')
                for col in ("primary", "secondary", "tertiary", "quaternary", "quinternary")
            ]
            cells = [c for c in cells if c]
            if not cells:
                continue
            m = _TSV_CELL.match(cells[-1])
            if not m:
                continue
            nci = [c for c in [(row.get("metanci") or "").strip()] if _NCI.match(c)]
            umls = [c for c in [(row.get("metaumls") or "").strip()] if _UMLS.match(c)]
            refs[m.group("code")] = (nci, umls)
    return refs


def build_oncotree(source: Path, tsv: Path | None = None) -> str:
    """Return the text of the runtime ``oncotree.json`` built from ``source`` (+ ``tsv``).

    Raises ``ValueError`` if the source is not an OncoTree tree (no ``TISSUE`` root,
    duplicate codes, a parent that is not the enclosing node).
    """
    with source.open(encoding="utf-8") as fh:
        tree = json.load(fh)
    if "TISSUE" not in tree:
        raise ValueError(f"{source}: no TISSUE root; not an OncoTree tree export")
    supplement = _tsv_references(tsv) if tsv is not None else {}

    records: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(node: Mapping[str, Any], parent: str | None) -> None:
        code = node["code"]
        if code in seen:
            raise ValueError(f"{source}: duplicate code {code}")
        seen.add(code)
        if node.get("parent") not in (parent, None) and parent is not None:
            raise ValueError(
                f"{source}: {code} says parent {node.get('parent')}, nested in {parent}"
            )
        refs = node.get("externalReferences") or {}
        nci = [c for c in refs.get("NCI", []) if _NCI.match(c)]
        umls = [c for c in refs.get("UMLS", []) if _UMLS.match(c)]
        if code in supplement:
            if not nci:
                nci = supplement[code][0]
            if not umls:
                umls = supplement[code][1]
        previous = sorted(
            {
                c
                for field in ("history", "precursors", "revocations")
                for c in (node.get(field) or [])
                if c and c != code
            }
        )
        records.append(
            {
                "code": code,
                "name": node["name"],
                "main_type": node.get("mainType"),
                "tissue": node.get("tissue"),
                "parent": parent,
                "level": node["level"],
                "nci": nci,
                "umls": umls,
                "previous_codes": previous,
            }
        )
        children = node.get("children") or {}
        for child_code in sorted(children):
            visit(children[child_code], code)

    visit(tree["TISSUE"], None)

    date_match = _DATE_IN_NAME.search(source.name)
    header: dict[str, Any] = {
        "name": "OncoTree",
        "file": source.name,
        "version": source.stem,
        "date": "-".join(date_match.groups()) if date_match else None,
        "sha256": _sha256(source),
        "license": LICENSE,
        "attribution": ATTRIBUTION,
        "changes": (
            "flattened to one record per node; colors, children and history arrays "
            "dropped; history/precursors/revocations merged into previous_codes"
        ),
        "generated_by": "python -m ontologies.build",
    }
    if tsv is not None:
        header["supplement"] = {
            "file": tsv.name,
            "sha256": _sha256(tsv),
            "use": "NCIt/UMLS codes for nodes whose OncoTree JSON entry has none",
        }
    lines = ['{"source": ' + json.dumps(header, ensure_ascii=False, sort_keys=True) + ","]
    lines.append(' "nodes": [')
    body = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.append(",\n".join("  " + b for b in body))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m ontologies.build", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="OncoTree tree JSON")
    parser.add_argument(
        "--tsv", type=Path, default=DEFAULT_TSV, help="MatchMiner flat export ('' to skip)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="runtime file to write")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if --out differs from a rebuild"
    )
    args = parser.parse_args(argv)
    tsv: Path | None = args.tsv if str(args.tsv) else None
    if not args.source.is_file():
        print(
            f"source not found: {args.source} (the shared data is read in place)", file=sys.stderr
        )
        return 2
    if tsv is not None and not tsv.is_file():
        print(f"tsv not found: {tsv}", file=sys.stderr)
        return 2
    text = build_oncotree(args.source, tsv)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"{args.out} is stale; run: python -m ontologies.build", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({text.count(chr(10)) - 4} nodes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
