"""Clinic notes → patient profile drafts, with the eligibility parser's own components.

* :func:`build_note_nlp` — the parser's spaCy pipeline (:func:`matchers.pipeline.build_nlp`)
  plus the note ConText cues (historical, family, planned; ``notes/context.toml``);
* :class:`NoteExtractor` — ``extract(note, today=...)`` → :class:`NoteExtraction`
  (profile draft, evidence span and confidence per field, missing fields, ignored
  mentions);
* :mod:`matchers.notes.document` — the note after the pipeline (terms, ConText scopes,
  sentences, clauses).
"""

from matchers.notes.extractor import MAX_NOTE_CHARS, NoteExtractor, build_note_nlp
from matchers.notes.models import Evidence, Ignored, NoteExtraction

__all__ = [
    "MAX_NOTE_CHARS",
    "Evidence",
    "Ignored",
    "NoteExtraction",
    "NoteExtractor",
    "build_note_nlp",
]
