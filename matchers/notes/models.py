"""What :class:`matchers.notes.NoteExtractor` returns.

* :class:`Evidence` — one finding: the profile ``field`` (``biomarkers.HER2_IHC``,
  ``prior_therapies[1]``), the ``value`` as the profile holds it, the character
  ``span`` ``[start, end)`` into the note and its ``text``, a ``confidence`` and an
  optional ``note`` (why the confidence is lower, what was ignored);
* :class:`NoteExtraction` — the :class:`~matchers.patient.PatientProfile` draft
  (``profile``; None when no cancer type was found, since a profile needs one), the same
  fields as a plain ``draft`` (also when there is no profile), the ``evidence`` per
  field, ``missing`` (profile fields the note did not state: unknown, not "none") and
  ``ignored`` (mentions read as negated, historical, family or planned, with why).

Confidence is a rule-based grade, not a calibrated probability:
:data:`EXPLICIT` (0.9) for a value stated with its label ("ECOG 1", "58-year-old"),
:data:`TERM` (0.75) for an ontology term in plain context, :data:`INFERRED` (0.5) for a
value derived from other words (stage IV from M1, sex from pronouns, a line number from
the order of regimens), :data:`WEAK` (0.35) for a value resting on a historical or
conflicting mention.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from matchers.patient import PatientProfile

EXPLICIT = 0.9
TERM = 0.75
INFERRED = 0.5
WEAK = 0.35

PROFILE_FIELDS = (
    "cancer_type", "histology", "stage", "biomarkers", "age", "sex", "ecog", "karnofsky",
    "prior_therapies", "brain_metastases", "measurable_disease", "resectable", "pregnant",
    "labs", "diagnosis_date", "metastatic_diagnosis_date", "menopausal_status",
    "metastasis_sites", "conditions",
)
"""The :class:`PatientProfile` fields a note can state (location fields excluded: a
note's address is not used)."""


class Evidence(BaseModel):
    """One finding in the note (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    field: str
    value: Any
    span: tuple[int, int]
    text: str
    confidence: float = Field(ge=0, le=1)
    note: str | None = None


class Ignored(BaseModel):
    """A mention that was read and deliberately not used: ``reason`` is ``negated``,
    ``historical``, ``family``, ``hypothetical`` (planned, considered) or
    ``conflict``."""

    model_config = ConfigDict(frozen=True)

    category: str
    span: tuple[int, int]
    text: str
    reason: str


class NoteExtraction(BaseModel):
    """The result of reading one note (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    profile: PatientProfile | None
    draft: dict[str, Any]
    evidence: dict[str, list[Evidence]]
    missing: list[str]
    ignored: list[Ignored] = []
