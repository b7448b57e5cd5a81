"""The default sync scope covers every oncology study of the shared corpus (checked
through the replay server, asked exactly as a sync asks)."""

from __future__ import annotations

from typing import Any

from benchmarks.scope_coverage import oncology_by_id, scope_ids
from tests.trial_cache.conftest import Replay

LEFT_OUT = {
    "NCT02147158": "uterine leiomyoma (benign fibroids), heavy menstrual bleeding",
    "NCT02147197": "uterine leiomyoma (benign fibroids), heavy menstrual bleeding",
    "NCT03417830": "amyloidosis (not said to be AL, a plasma-cell disorder)",
}
"""Studies whose conditions name an OncoTree node but that are not oncology trials."""


def test_default_scope_covers_every_oncology_study(replay: Replay, ontology: Any) -> None:
    in_scope = scope_ids(replay.base_url)
    oncology = oncology_by_id(ontology)
    assert len(oncology) > 1500
    missed = set(oncology) - in_scope
    assert missed == set(LEFT_OUT), {n: oncology[n] for n in missed - set(LEFT_OUT)}
    # the abbreviations and haematological names the old scope missed
    for nct_id in ("NCT02369484", "NCT02886559", "NCT01038856", "NCT03180268"):
        assert nct_id in in_scope
