"""Build ``service/fhir/data/mcode_codes.json`` from MITRE's mCODE vocabularies.

Usage::

    python -m service.fhir.build            # regenerate the committed runtime file
    python -m service.fhir.build --check    # exit 1 if the committed file is stale
    python -m service.fhir.build --source DIR --out PATH

Input (read in place, never copied into the repository): the JSON files of
``../shared/data/ontologies/mcode/`` — the vocabularies MITRE's clinical-trial-matching
app uses (Apache-2.0): ``cancerTypes.json`` and ``cancerSubtypes.json`` (SNOMED CT
disorders, with an mCODE cancer group such as ``lung`` and categories such as
``NSCLC``), ``biomarkers.json`` (LOINC tumour-marker and genomic codes),
``stages.json`` (SNOMED CT stage qualifiers), ``metastases.json`` (SNOMED CT
secondary-neoplasm disorders), ``ecogScores.json`` / ``karnofskyScores.json`` (LOINC
answer codes), ``biomarkerQualifiers.json`` (SNOMED CT positive/negative).

Output: one JSON object — a ``source`` header (file names, SHA-256 of the inputs,
licence, attribution, the command) and the code tables the FHIR adapter reads
(:mod:`service.fhir.vocab`):

* ``cancer``: SNOMED CT code → ``{"oncotree", "display"}``. The OncoTree code is
  resolved through the project ontology (``ontologies.load_ontology``): the display
  ("Primary adenocarcinoma of upper lobe of left lung (disorder)") with SNOMED's
  semantic tag, "primary" and laterality/lobe words removed, accepted only when it
  falls inside the OncoTree subtree of the entry's mCODE group (``lung`` → ``LUNG``);
  else the entry's categories within that group ("Adenocarcinoma" + lung → LUAD);
  else the group's node itself. Codes the ontology places nowhere are left out (and
  then reported as unmapped at request time);
* ``stage``: SNOMED CT code → AJCC stage label (``"Stage 3A (qualifier value)"`` →
  ``IIIA``);
* ``metastasis``: SNOMED CT code → site in words (``Bone``, ``Brain``);
* ``biomarker``: LOINC code → ``{"marker", "method", "display"}``: the marker id of
  the ontology (``ontology.biomarkers.resolve_marker`` on the display, else on the
  category), ``method`` ``IHC`` (immune stain), ``ISH`` (FISH/ISH), ``gene``
  (molecular genetics, sequencing) or ``other``. Entries whose display names no
  marker the ontology knows are left out (e.g. a creatinine/eGFR panel filed under
  EGFR in the source);
* ``ecog`` / ``karnofsky``: LOINC answer code → score;
* ``qualifier``: SNOMED CT code → ``positive`` / ``negative``.

The output is a pure function of the inputs and the ontology: re-running the build
gives byte-identical output (a test checks that the committed file is current).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "ontologies" / "mcode"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "mcode_codes.json"
FILES = (
    "cancerTypes.json",
    "cancerSubtypes.json",
    "stages.json",
    "metastases.json",
    "biomarkers.json",
    "ecogScores.json",
    "karnofskyScores.json",
    "biomarkerQualifiers.json",
)
LICENSE = "Apache-2.0"
ATTRIBUTION = "mCODE vocabularies of MITRE's clinical-trial-matching-app (The MITRE Corporation)"

GROUP_ANCHOR = {
    "lung": "LUNG",
    "breast": "BREAST",
    "colon": "BOWEL",
    "brain": "BRAIN",
    "bladder": "BLADDER",
    "prostate": "PROSTATE",
    "multipleMyeloma": "PCM",
}
"""mCODE cancer group → the OncoTree node its codes must fall under."""

_TAG = re.compile(r"\s*\((?:disorder|morphologic abnormality|qualifier value|finding)\)\s*$", re.I)
_NOISE = re.compile(
    r"\b(?:primary|of\s+(?:the\s+)?(?:left|right|bilateral)\b|left|right|bilateral|female|male"
    r"|(?:upper|middle|lower)\s+lobe(?:\s+of)?|lobe(?:\s+of)?|of\s+lung\s+parenchyma)\b",
    re.I,
)
_ROMAN = {"0": "0", "1": "I", "2": "II", "3": "III", "4": "IV"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _clean(display: str) -> str:
    text = _TAG.sub("", display)
    text = _NOISE.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip(" ,-")


def _cancer_code(entry: Mapping[str, Any], ontology: Any) -> str | None:
    tree = ontology.cancer_types
    groups = [g for g in entry.get("cancerType", []) if g in GROUP_ANCHOR]
    anchor = GROUP_ANCHOR[groups[0]] if groups else None

    def inside(code: str) -> bool:
        return anchor is None or tree.is_within(code, anchor) or code == anchor

    for query in (_clean(str(entry["display"])), str(entry["display"])):
        for match in tree.resolve(query, limit=3):
            if match.score >= 82 and inside(match.code):
                return str(match.code)
    site = ""
    if groups:
        site = {"colon": "colorectal", "multipleMyeloma": ""}.get(groups[0], groups[0])
    for category in reversed(entry.get("category", [])):
        for query in (f"{site} {category}".strip(), f"{category} {site}".strip(), category):
            for match in tree.resolve(query, limit=3):
                if match.score >= 90 and inside(match.code):
                    return str(match.code)
    return anchor


def _stage(display: str) -> str | None:
    m = re.search(r"stage\s+([0-4])\s*([A-Ca-c](?![a-z]))?", display, re.I)
    if not m:
        return None
    if m.group(1) == "0":
        return "0"  # 0a, 0is: AJCC groups them as stage 0
    return _ROMAN[m.group(1)] + (m.group(2) or "").upper()


def _method(display: str) -> str:
    d = display.lower()
    if "immune stain" in d or "immunoassay" in d:
        return "IHC"
    if "fish" in d or "in situ hybridization" in d:
        return "ISH"
    if "molecular genetics" in d or "sequencing" in d or "gene" in d:
        return "gene"
    return "other"


def _marker(entry: Mapping[str, Any], ontology: Any) -> str | None:
    vocab = ontology.biomarkers
    display = str(entry["display"])
    head = re.split(r"\s*\[|\s+in\s+|\s+by\s+", display, maxsplit=1)[0]
    for text in (head, display):
        for piece in [text, *re.findall(r"[A-Za-z0-9-]+", text)]:
            marker = vocab.resolve_marker(piece)
            if marker:
                return str(marker)
    return None


def build(source: Path, ontology: Any) -> dict[str, Any]:
    """The runtime tables (see the module docstring) from the files in ``source``."""
    data = {name: json.loads((source / name).read_text()) for name in FILES}
    cancer: dict[str, dict[str, str]] = {}
    for entry in [*data["cancerTypes.json"], *data["cancerSubtypes.json"]]:
        code = _cancer_code(entry, ontology)
        if code is not None and str(entry["code"]) not in cancer:
            display = _TAG.sub("", entry["display"])
            cancer[str(entry["code"])] = {"oncotree": code, "display": display}
    stage = {
        str(e["code"]): label for e in data["stages.json"] if (label := _stage(str(e["display"])))
    }
    metastasis = {str(e["code"]): str(e["category"][0]) for e in data["metastases.json"]}
    biomarker: dict[str, dict[str, str]] = {}
    for entry in data["biomarkers.json"]:
        marker = _marker(entry, ontology)
        if marker is not None:
            biomarker[str(entry["code"])] = {
                "marker": marker,
                "method": _method(str(entry["display"])),
                "display": str(entry["display"]),
            }
    ecog = {str(e["interpretation"]["code"]): int(e["valueInteger"])
            for e in data["ecogScores.json"] if int(e["valueInteger"]) <= 4}
    karnofsky = {str(e["interpretation"]["code"]): int(e["valueInteger"])
                 for e in data["karnofskyScores.json"]}
    qualifier = {
        str(e["code"]): "positive" if "positive" in str(e["display"]).lower() else "negative"
        for e in data["biomarkerQualifiers.json"]
    }
    return {
        "source": {
            "files": {name: _sha256(source / name) for name in FILES},
            "license": LICENSE,
            "attribution": ATTRIBUTION,
            "generated_by": "python -m service.fhir.build",
        },
        "cancer": dict(sorted(cancer.items())),
        "stage": dict(sorted(stage.items())),
        "metastasis": dict(sorted(metastasis.items())),
        "biomarker": dict(sorted(biomarker.items())),
        "ecog": dict(sorted(ecog.items())),
        "karnofsky": dict(sorted(karnofsky.items())),
        "qualifier": dict(sorted(qualifier.items())),
    }


def render(tables: Mapping[str, Any]) -> str:
    """Deterministic text of the tables (sorted keys, one table entry per line)."""
    lines = ["{"]
    keys = list(tables)
    for i, key in enumerate(keys):
        value = tables[key]
        end = "," if i < len(keys) - 1 else ""
        if key == "source":
            lines.append(f'  "source": {json.dumps(value, sort_keys=True)}{end}')
            continue
        items = list(value.items())
        lines.append(f"  {json.dumps(key)}: {{")
        for j, (k, v) in enumerate(items):
            sep = "," if j < len(items) - 1 else ""
            lines.append(f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}{sep}")
        lines.append(f"  }}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from ontologies import load_ontology

    ap = argparse.ArgumentParser(prog="python -m service.fhir.build", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if --out is stale")
    args = ap.parse_args(argv)
    text = render(build(args.source, load_ontology()))
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale; run python -m service.fhir.build", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    counts = {k: len(v) for k, v in json.loads(text).items() if k != "source"}
    print(f"wrote {args.out}: {counts}")
    return 0




if __name__ == "__main__":
    raise SystemExit(main())
