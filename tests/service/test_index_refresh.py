"""Index refresh that applies only the changed trials (real Redis, real parser).

A refresh over the snapshot it replaces reads and prepares only the trials whose
content hash changed, keeps the others as they are, and gives the same index as a load
from scratch; a snapshot of another parser version is not reused (full load).
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from typing import Any

from matchers.patient import PatientProfile
from service.engine import IndexHolder, load_published_index, match_patient
from tests.service.conftest import RealCache

TODAY = date(2025, 3, 1)
PATIENTS = [
    {"cancer_type": "desmoid tumor", "age": 34, "sex": "female"},
    {"cancer_type": "epithelioid pleural mesothelioma", "stage": "II", "ecog": 1, "age": 67,
     "sex": "male"},
    {"cancer_type": "breast cancer", "stage": "IV", "age": 58, "sex": "female",
     "biomarkers": {"HER2_IHC": "2+", "HER2_ISH": "negative", "ER": "positive"}},
]


def _nct(study: dict[str, Any]) -> str:
    return str(study["protocolSection"]["identificationModule"]["nctId"])


def _pages(loaded: Any, ontology: Any) -> list[Any]:
    return [match_patient(loaded, ontology, PatientProfile.model_validate(p), today=TODAY,
                          limit=len(loaded), include_closed=True).model_dump()
            for p in PATIENTS]


async def test_refresh_applies_only_changed_trials(
    real_cache: RealCache, raw_studies: list[dict[str, Any]], ontology: Any
) -> None:
    store = real_cache.store
    await real_cache.import_studies("first.jsonl", raw_studies)
    holder = IndexHolder()
    assert await holder.refresh(store, ontology)
    first = holder.require()
    assert first.reused == 0 and len(first.hashes) == len(first) == len(raw_studies)

    # second generation: one trial retitled, one removed, the rest unchanged
    changed_id, removed_id = _nct(raw_studies[0]), _nct(raw_studies[1])
    studies = copy.deepcopy([s for s in raw_studies if _nct(s) != removed_id])
    ident = studies[0]["protocolSection"]["identificationModule"]
    ident["briefTitle"] = ident.get("briefTitle", "") + " (retitled)"
    await real_cache.import_studies("second.jsonl", studies, prune=True)
    assert await holder.refresh(store, ontology)
    second = holder.require()
    assert second.generation != first.generation
    assert len(second) == len(raw_studies) - 1
    assert second.reused == len(raw_studies) - 2
    assert removed_id not in second.index
    changed = second.index.get(changed_id)
    assert changed is not None and changed.summary.title.endswith("(retitled)")
    kept = _nct(raw_studies[2])
    assert second.index.get(kept) is first.index.get(kept)  # the same objects, not copies
    assert second.index.prepared(kept) is first.index.prepared(kept)
    assert second.hashes[changed_id] != first.hashes[changed_id]

    # the same index as a load from scratch
    scratch = await load_published_index(store, ontology)
    assert scratch is not None and scratch.reused == 0
    assert [t.summary.nct_id for t in scratch.index] == [t.summary.nct_id for t in second.index]
    assert _pages(scratch, ontology) == _pages(second, ontology)

    # nothing newer published: no reload
    assert not await holder.refresh(store, ontology)


async def test_refresh_from_another_parser_version_loads_everything(
    real_cache: RealCache, raw_studies: list[dict[str, Any]], ontology: Any
) -> None:
    store = real_cache.store
    await real_cache.import_studies("first.jsonl", raw_studies[:4])
    first = await load_published_index(store, ontology)
    assert first is not None
    other = dataclasses.replace(first, parser_version="0.0.0", generation=None)
    loaded = await load_published_index(store, ontology, previous=other)
    assert loaded is not None and loaded.reused == 0 and len(loaded) == 4
    assert loaded.index.get(_nct(raw_studies[0])) is not first.index.get(_nct(raw_studies[0]))
    # without hashes (an index built from trials, e.g. in tests) nothing is reused either
    bare = dataclasses.replace(first, hashes={}, generation=None)
    loaded = await load_published_index(store, ontology, previous=bare)
    assert loaded is not None and loaded.reused == 0
    assert _pages(loaded, ontology) == _pages(first, ontology)
