"""How much of the shared corpus's oncology the default sync scope covers.

    python -m benchmarks.scope_coverage [--replay-url http://127.0.0.1:8765/api/v2]

A study counts as *oncology* when its conditions name an OncoTree cancer type: a
surface form of ``ontology.cancer_types.phrases()`` occurs in them as whole words. The
scope's matches are the studies the replay server (``../shared/tools/ctgov_replay.py``,
started here on a free port unless ``--replay-url``) returns for ``query.cond =
ONCOLOGY_SCOPE``, asked exactly as a sync asks. Prints the counts and every oncology
study the scope misses, with its conditions.
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from ontologies import Ontology, load_ontology
from trial_cache.settings import ONCOLOGY_SCOPE

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "ctgov" / "studies.jsonl.gz"
REPLAY = ROOT.parent / "shared" / "tools" / "ctgov_replay.py"
_WORDS = re.compile(r"[^a-z0-9]+")
_MAX_PHRASE_WORDS = 8


def _words(text: str) -> list[str]:
    return [w for w in _WORDS.split(text.lower()) if w]


def cancer_phrases(ontology: Ontology) -> dict[tuple[str, ...], str]:
    """Word tuples of every OncoTree surface form (3+ characters) -> its code."""
    phrases: dict[tuple[str, ...], str] = {}
    for surface, code in ontology.cancer_types.phrases():
        words = tuple(_words(surface))
        if words and len(" ".join(words)) >= 3 and len(words) <= _MAX_PHRASE_WORDS:
            phrases.setdefault(words, code)
    return phrases


def oncology_codes(conditions: list[str], phrases: dict[tuple[str, ...], str]) -> set[str]:
    """The OncoTree codes whose surface forms occur (as whole words) in ``conditions``."""
    codes: set[str] = set()
    for condition in conditions:
        words = _words(condition)
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + _MAX_PHRASE_WORDS) + 1):
                code = phrases.get(tuple(words[i:j]))
                if code is not None:
                    codes.add(code)
    return codes


def corpus_studies(path: Path = CORPUS) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rb") as fh:
        for line in fh:
            yield orjson.loads(line)


def oncology_by_id(ontology: Ontology, path: Path = CORPUS) -> dict[str, list[str]]:
    """NCT id -> conditions, for every corpus study whose conditions name a cancer type."""
    phrases = cancer_phrases(ontology)
    found: dict[str, list[str]] = {}
    for study in corpus_studies(path):
        section = study["protocolSection"]
        conditions = section.get("conditionsModule", {}).get("conditions", [])
        if oncology_codes(conditions, phrases):
            found[section["identificationModule"]["nctId"]] = conditions
    return found


def scope_ids(base_url: str, scope: str = ONCOLOGY_SCOPE) -> set[str]:
    """Every NCT id ``/studies?query.cond=scope`` returns (paged, 1000 per page)."""
    ids: set[str] = set()
    params = {"query.cond": scope, "fields": "NCTId", "pageSize": "1000"}
    token: str | None = None
    with httpx.Client(base_url=base_url, timeout=60) as client:
        while True:
            body = client.get("/studies", params={**params, **({"pageToken": token} if token
                                                                else {})}).json()
            ids.update(s["protocolSection"]["identificationModule"]["nctId"]
                       for s in body["studies"])
            token = body.get("nextPageToken")
            if not token:
                return ids


def start_replay() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(REPLAY), "--data", str(CORPUS), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.split(" on ", 1)[1].strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replay-url", help="a running replay server's .../api/v2 (default: one)")
    args = ap.parse_args()
    process = None
    base_url = args.replay_url
    if base_url is None:
        process, base_url = start_replay()
    try:
        in_scope = scope_ids(base_url)
    finally:
        if process is not None:
            process.terminate()
            process.wait()
    oncology = oncology_by_id(load_ontology())
    missed = sorted(set(oncology) - in_scope)
    total = sum(1 for _ in corpus_studies())
    print(f"corpus studies: {total:,}")
    print(f"in the default scope (replay query.cond): {len(in_scope):,}")
    print(f"oncology by OncoTree phrases in conditions: {len(oncology):,}")
    print(f"oncology studies in scope: {len(oncology) - len(missed):,}; missed: {len(missed)}")
    for nct_id in missed:
        print(f"  {nct_id}: {'; '.join(oncology[nct_id])}")
    print(f"in scope without an OncoTree phrase in conditions (supportive care, titles, "
          f"keywords): {len(in_scope - set(oncology)):,}")


if __name__ == "__main__":
    main()
