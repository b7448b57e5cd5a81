"""The clinic-note extractor as a long-lived, lazily built service resource.

:class:`NoteReader` holds one :class:`matchers.notes.NoteExtractor`. Its spaCy pipeline
(:func:`matchers.notes.build_note_nlp`: the eligibility parser's pipeline plus the note
cues) takes a few seconds to build, so it is built on the first note request, in a
worker thread, once (concurrent first requests wait for the same build) — matching,
search and answer pages never load spaCy. spaCy components are not safe to call from
several threads at once, so :meth:`NoteReader.extract` serializes calls with a lock;
one note takes tens of milliseconds.

Notes are health data: the text is read in memory and dropped, never logged or cached.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import date

from fastapi.concurrency import run_in_threadpool

from matchers.notes import NoteExtraction, NoteExtractor, build_note_nlp
from matchers.settings import MatcherSettings
from ontologies import Ontology


class NoteReader:
    """Builds the note extractor on first use; see the module docstring."""

    def __init__(self) -> None:
        self._extractor: NoteExtractor | None = None
        self._build_lock = asyncio.Lock()
        self._call_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once the pipeline is built."""
        return self._extractor is not None

    def set_extractor(self, extractor: NoteExtractor) -> None:
        """Use a prepared extractor (tests, benchmarks)."""
        self._extractor = extractor

    async def _get(self, ontology: Ontology, settings: MatcherSettings) -> NoteExtractor:
        if self._extractor is None:
            async with self._build_lock:
                if self._extractor is None:
                    nlp = await run_in_threadpool(build_note_nlp, ontology, settings)
                    self._extractor = NoteExtractor(nlp, ontology)
        return self._extractor

    async def extract(self, note: str, *, ontology: Ontology, settings: MatcherSettings,
                      today: date) -> NoteExtraction:
        """Read ``note`` (in the thread pool, one call at a time)."""
        extractor = await self._get(ontology, settings)

        def run() -> NoteExtraction:
            with self._call_lock:
                return extractor.extract(note, today=today)

        return await run_in_threadpool(run)
