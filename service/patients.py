"""``POST /v1/patients/extract``: a clinic note → a patient profile draft.

The note is read by :class:`matchers.notes.NoteExtractor` (through
:class:`service.notes.NoteReader`): the eligibility parser's own pipeline (sections,
ontology terms, medspacy ConText negation plus historical/family/planned cues) and the
``matchers.criteria`` extractors. The answer is the profile draft (``profile``, None when
no cancer type was found), the same fields as ``draft``, per field the ``evidence``
(``span`` into the note, the quoted ``text``, ``confidence``), the fields the note did
not state (``missing``: unknown, not "none") and the mentions read as negated,
historical, family or planned (``ignored``). The note is not logged or stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from matchers.notes import NoteExtraction
from service.deps import NotesDep, OntologyDep, SettingsDep, TodayDep
from service.guards import NAVIGATOR
from service.schemas import NOTE_EXAMPLE, ExtractRequest

# a navigator's routes: an API key with scope navigator (service.guards)
router = APIRouter(dependencies=[NAVIGATOR])


@router.post("/v1/patients/extract", response_model=NoteExtraction, tags=["patients"],
             summary="Read a clinic note into a patient profile draft")
async def extract_patient(
    body: Annotated[ExtractRequest, Body(openapi_examples={
        "breast": {"summary": "HER2-low metastatic breast cancer", "value": {
            "note": NOTE_EXAMPLE}}})],
    notes: NotesDep, ontology: OntologyDep, settings: SettingsDep, today: TodayDep,
) -> NoteExtraction:
    """Read the note (plain text, at most 20,000 characters). The first call builds the
    spaCy pipeline (a few seconds); later calls take tens of milliseconds. Relative dates
    count from today (UTC). 422 for an empty or too long note."""
    return await notes.extract(body.note, ontology=ontology, settings=settings.matcher,
                               today=today)
