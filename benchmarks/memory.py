"""Memory of the in-memory index (resident set size, via psutil).

    python -m benchmarks.memory

Measures the process RSS after loading the ontology (baseline), after reading the
published generation's summaries and parsed criteria from the store (pydantic
models), and after building the :class:`~service.engine.LoadedIndex` (matcher index
with precomputed trial-side data plus search data). Prints MiB and KiB per trial.
RSS includes allocator slack and the high-water mark of transient buffers (the raw
JSON read from Redis), so it is an upper bound; ``--tracemalloc`` also reports the
Python heap the index keeps alive (exact, but the run is slower).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc

import psutil

from benchmarks.service_common import ensure_published, open_store, published_entries
from ontologies import load_ontology
from service.engine import build_loaded_index, index_entries
from service.settings import Settings

MIB = 1024 * 1024


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def ensure_published_flag(settings: Settings, ontology: object) -> bool:
    """True when nothing was published and this call imported the corpus."""
    async with open_store(settings) as store:
        empty = await store.current_generation() is None
    await ensure_published(settings, ontology)
    return empty


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tracemalloc", action="store_true", help="also trace live heap bytes")
    args = ap.parse_args()
    settings = Settings()
    ontology = load_ontology()
    # make sure something is published before measuring (may import the corpus)
    if asyncio.run(ensure_published_flag(settings, ontology)):
        print("(the corpus was imported in this process: rerun for a clean baseline)")
    base = rss()
    if args.tracemalloc:
        tracemalloc.start()
    generation, entries = asyncio.run(
        published_entries(settings, ontology, import_if_empty=False)
    )
    after_read = rss()
    loaded = build_loaded_index(index_entries(entries, ontology), ontology, generation=generation)
    del entries
    gc.collect()
    live = tracemalloc.get_traced_memory()[0] if args.tracemalloc else None
    tracemalloc.stop()
    after_index = rss()
    n = len(loaded)
    print(f"trials: {n} (generation {generation})")
    read_mib = (after_read - base) / MIB
    index_mib = (after_index - base) / MIB
    print(f"baseline RSS (interpreter + libraries + ontology): {base / MIB:8.1f} MiB")
    print(f"+ summaries and parsed criteria read from Redis:   {read_mib:8.1f} MiB")
    print(f"+ index built (total over baseline):               {index_mib:8.1f} MiB")
    print(f"per trial: {(after_index - base) / max(n, 1) / 1024:.1f} KiB")
    print(f"process RSS now: {after_index / MIB:.1f} MiB")
    if live is not None:
        print(f"live Python heap held by the index (tracemalloc): {live / MIB:.1f} MiB "
              f"= {live / max(n, 1) / 1024:.1f} KiB per trial")


if __name__ == "__main__":
    main()
