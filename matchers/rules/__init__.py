"""Rule data of the eligibility parser: TOML files loaded through strict models.

Vocabulary-like rules (heading words, negation cues, lab names and units, extent words,
…) live as data in this directory, one file per concern; grammar (regular expressions
over numbers and comparators) stays in code. Every file is validated by a pydantic
model with ``extra="forbid"``, so a misspelt key fails loudly at load time with
:class:`matchers.errors.RuleDataError` instead of silently dropping a rule.

Use :func:`load_rules` (cached) to get a :class:`Rules` bundle.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from matchers.errors import RuleDataError

RULES_DIR = Path(__file__).resolve().parent
"""Directory holding the packaged rule files."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _nonempty_lower(values: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(v.strip() for v in values)
    if any(not v for v in out):
        raise ValueError("empty phrase")
    return out


# --------------------------------------------------------------------------------------
# sections.toml
# --------------------------------------------------------------------------------------


class SectionRules(_Strict):
    """Heading vocabulary of :mod:`matchers.sections` (``sections.toml``)."""

    heading_qualifiers: tuple[str, ...]
    inclusion_heads: tuple[str, ...]
    exclusion_heads: tuple[str, ...]
    old_format_headings: tuple[str, ...]
    old_format_subheadings: tuple[str, ...]
    exclusion_leadins: tuple[str, ...]
    or_group_leadins: tuple[str, ...]
    criterion_starters: tuple[str, ...]

    _check = field_validator(
        "heading_qualifiers",
        "inclusion_heads",
        "exclusion_heads",
        "old_format_headings",
        "old_format_subheadings",
        "exclusion_leadins",
        "or_group_leadins",
        "criterion_starters",
    )(_nonempty_lower)


# --------------------------------------------------------------------------------------
# context.toml
# --------------------------------------------------------------------------------------

ContextCategory = Literal[
    "NEGATED_EXISTENCE",
    "EXCLUDED",
    "PERMITTED",
    "EXCEPTION",
    "CONDITIONAL",
    "PSEUDO",
    "TERMINATE",
]


class ContextRuleData(_Strict):
    """One ConText cue: ``literal`` (matched on lower-cased tokens), ``category``,
    ``direction`` (``FORWARD``, ``BACKWARD``, ``BIDIRECTIONAL``, ``TERMINATE``,
    ``PSEUDO``) and an optional ``max_scope`` in tokens."""

    literal: str = Field(min_length=1)
    category: ContextCategory
    direction: Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"]
    max_scope: int | None = Field(default=None, ge=1, le=200)


class ContextRules(_Strict):
    """Negation/exception/permission cues (``context.toml``), fed to medspacy ConText
    (or negspacy) and used by the rule-based scope logic of ``matchers.criteria``."""

    rules: tuple[ContextRuleData, ...] = Field(min_length=1)


# --------------------------------------------------------------------------------------
# lab.toml
# --------------------------------------------------------------------------------------


class LabDef(_Strict):
    """A laboratory test: its id (``LabFact.lab``), surface names (regex fragments,
    case-insensitive) and the kind of value it takes."""

    id: str
    names: tuple[str, ...] = Field(min_length=1)
    kind: Literal["count", "hemoglobin", "clearance", "chemistry"]


class LabRules(_Strict):
    """Lab names and plausibility ranges (``lab.toml``)."""

    labs: tuple[LabDef, ...] = Field(min_length=1)


# --------------------------------------------------------------------------------------
# performance_status.toml
# --------------------------------------------------------------------------------------


class KpsBand(_Strict):
    """The ECOG grades compatible with one Karnofsky/Lansky value."""

    kps: int = Field(ge=0, le=100)
    ecog_min: int = Field(ge=0, le=5)
    ecog_max: int = Field(ge=0, le=5)


class PerformanceRules(_Strict):
    """Performance-status scale names and the KPS→ECOG table (``performance_status.toml``)."""

    ecog_names: tuple[str, ...]
    kps_names: tuple[str, ...]
    lansky_names: tuple[str, ...]
    who_names: tuple[str, ...]
    zubrod_names: tuple[str, ...]
    generic_names: tuple[str, ...]
    kps_to_ecog: tuple[KpsBand, ...] = Field(min_length=11, max_length=11)


# --------------------------------------------------------------------------------------
# stage.toml
# --------------------------------------------------------------------------------------


class ExtentRules(_Strict):
    """Disease-extent phrases → ``DiseaseExtent`` values (``stage.toml``)."""

    extents: dict[str, tuple[str, ...]]


# --------------------------------------------------------------------------------------
# prior_therapy.toml
# --------------------------------------------------------------------------------------


class TherapyRules(_Strict):
    """Prior-therapy cue words (``prior_therapy.toml``): relation cues, setting words, generic
    class phrases the ontology may lack, and words that mark a therapy mention as
    *not* prior therapy (e.g. concomitant medication)."""

    progressed_cues: tuple[str, ...]
    intolerant_cues: tuple[str, ...]
    naive_cues: tuple[str, ...]
    received_cues: tuple[str, ...]
    settings: dict[str, tuple[str, ...]]
    generic_classes: dict[str, tuple[str, ...]]
    not_prior_cues: tuple[str, ...]
    optional_cues: tuple[str, ...]
    not_counted_after: tuple[str, ...]


# --------------------------------------------------------------------------------------
# cancer_type.toml
# --------------------------------------------------------------------------------------


class CancerRules(_Strict):
    """Generic cancer phrases (``cancer_type.toml``): solid tumour / any malignancy /
    haematologic malignancy, and phrases that name a cancer but not the trial's target
    (``other malignancy`` contexts)."""

    any_solid_tumor: tuple[str, ...]
    any_malignancy: tuple[str, ...]
    any_hematologic: tuple[str, ...]
    other_malignancy: tuple[str, ...]
    generic_neighbours: tuple[str, ...]
    """Plain words (not regexes) that may stand right before a generic "cancer" /
    "malignancy" and keep it generic; any other word there is an unresolved site."""
    condition_exclusion_cues: tuple[str, ...] = Field(min_length=1)
    """Plain words after which a conditions-list entry names excluded cancers."""


# --------------------------------------------------------------------------------------
# brain_metastases.toml, measurable_disease.toml
# --------------------------------------------------------------------------------------


class BrainRules(_Strict):
    """Brain-metastasis qualifiers (``brain_metastases.toml``): regex alternatives for
    active, treated/stable, both, "treated ones allowed" and "must be treated"."""

    active: tuple[str, ...] = Field(min_length=1)
    treated: tuple[str, ...] = Field(min_length=1)
    both: tuple[str, ...] = Field(min_length=1)
    allow_treated: tuple[str, ...] = Field(min_length=1)
    must_treated: tuple[str, ...] = Field(min_length=1)


class MeasurableRules(_Strict):
    """Measurable-disease cues (``measurable_disease.toml``): response-criteria names and
    "not required" statements (regex alternatives)."""

    response_criteria: tuple[str, ...] = Field(min_length=1)
    not_required: tuple[str, ...] = Field(min_length=1)


class PeriodRules(_Strict):
    """Calendar-window cues (``period.toml``): window regexes (groups ``m1``/``y1``,
    ``m2``/``y2``) and the words saying what must fall in the window."""

    window: tuple[str, ...] = Field(min_length=1)
    diagnosis_words: tuple[str, ...] = Field(min_length=1)
    treatment_words: tuple[str, ...] = Field(min_length=1)
    skip_words: tuple[str, ...] = Field(min_length=1)


class MetastasisSiteRules(_Strict):
    """Metastasis-site cues (``metastasis_site.toml``): per site id, the regexes of its
    mentions in criteria and the words a profile names it with; the words that make a
    site the only one; the words right before a mention that make it a treatment target
    or a lab exception, not a requirement."""

    sites: dict[str, tuple[str, ...]] = Field(min_length=1)
    patient_words: dict[str, tuple[str, ...]] = Field(min_length=1)
    only_words: tuple[str, ...] = Field(min_length=1)
    skip_before: tuple[str, ...] = Field(min_length=1)
    example_parenthesis: tuple[str, ...] = Field(min_length=1)
    skip_in_criterion: tuple[str, ...] = Field(min_length=1)


class DemographicsRules(_Strict):
    """Age and sex cue words (``demographics.toml``): regex alternatives."""

    female_words: tuple[str, ...] = Field(min_length=1)
    male_words: tuple[str, ...] = Field(min_length=1)
    menopausal_words: tuple[str, ...] = Field(min_length=1)
    adult_words: tuple[str, ...] = Field(min_length=1)
    child_words: tuple[str, ...] = Field(min_length=1)
    not_population: tuple[str, ...] = Field(min_length=1)


class ConditionRules(_Strict):
    """Comorbidity cues (``condition.toml``): regex alternatives for test words, avoid
    words, and the patient-side absence words (plain words); CTCAE grade patterns (each
    a regex with a group ``g``, tried one by one)."""

    test_words: tuple[str, ...] = Field(min_length=1)
    avoid_words: tuple[str, ...] = Field(min_length=1)
    absence_words: tuple[str, ...] = Field(min_length=1)
    trailing_absence_words: tuple[str, ...] = Field(min_length=1)
    grade_at_least: tuple[str, ...] = Field(min_length=1)
    grade_above: tuple[str, ...] = Field(min_length=1)
    grade_at_most: tuple[str, ...] = Field(min_length=1)
    patient_grade: tuple[str, ...] = Field(min_length=1)
    severity_words: tuple[str, ...] = Field(min_length=1)
    patient_severe_words: tuple[str, ...] = Field(min_length=1)
    patient_mild_words: tuple[str, ...] = Field(min_length=1)


class StatusRow(_Strict):
    """One row of ``biomarker.toml``'s status table: a regex on the status word, and the
    :attr:`matchers.models.BiomarkerFact.status` it reads as."""

    pattern: str = Field(min_length=1)
    status: Literal["positive", "negative", "mutated", "wild_type", "amplified", "rearranged",
                    "low", "ultralow", "zero", "expressed"]


class BiomarkerRules(_Strict):
    """Biomarker status words (``biomarker.toml``): qualifiers that may stand between a
    marker and its status, words that make a mention optional or a test's target, and
    the ordered status table (first match wins)."""

    mutation_qualifiers: tuple[str, ...] = Field(min_length=1)
    optional_before: tuple[str, ...] = Field(min_length=1)
    testing_after: tuple[str, ...] = Field(min_length=1)
    testing_before: tuple[str, ...] = Field(min_length=1)
    status: tuple[StatusRow, ...] = Field(min_length=1)


# --------------------------------------------------------------------------------------
# shape.toml
# --------------------------------------------------------------------------------------


class ShapeRules(_Strict):
    """Criterion-shape cues of :mod:`matchers.shape` (``shape.toml``): each field is a
    tuple of regex alternatives (joined with ``|``, case-insensitive), except
    ``bare_generic_words`` and ``scope_key_stopwords`` (plain lower-case words)."""

    permission: tuple[str, ...]
    restrictive: tuple[str, ...]
    washout: tuple[str, ...]
    window_length: tuple[str, ...]
    at_least_two: tuple[str, ...]
    scope_words: tuple[str, ...]
    scope_label: tuple[str, ...]
    scope_all: tuple[str, ...]
    scope_key_stopwords: tuple[str, ...]
    definition_leadin: tuple[str, ...]
    procedural: tuple[str, ...]
    sample: tuple[str, ...]
    sample_sentence: tuple[str, ...]
    no_need: tuple[str, ...]
    including_early: tuple[str, ...]
    early_exception: tuple[str, ...]
    tumor_not_scope: tuple[str, ...]
    recist: tuple[str, ...]
    site_words: tuple[str, ...]
    history_of_other_cancer: tuple[str, ...]
    target_before: tuple[str, ...]
    target_after: tuple[str, ...]
    exclusion_worded: tuple[str, ...]
    excluded_subject: tuple[str, ...]
    exclusion_leadin: tuple[str, ...]
    inclusion_leadin: tuple[str, ...]
    requirement: tuple[str, ...]
    or_words: tuple[str, ...]
    and_words: tuple[str, ...]
    untreated_title: tuple[str, ...]
    treated_title: tuple[str, ...]
    first_line: tuple[str, ...]
    later_line: tuple[str, ...]
    newly_diagnosed_title: tuple[str, ...]
    recurrent_title: tuple[str, ...]
    bare_generic_words: tuple[str, ...]
    carcinoma_word: tuple[str, ...]


class Rules(_Strict):
    """All rule files, validated."""

    sections: SectionRules
    context: ContextRules
    lab: LabRules
    performance_status: PerformanceRules
    stage: ExtentRules
    prior_therapy: TherapyRules
    cancer_type: CancerRules
    brain_metastases: BrainRules
    measurable_disease: MeasurableRules
    demographics: DemographicsRules
    condition: ConditionRules
    biomarker: BiomarkerRules
    shape: ShapeRules
    period: PeriodRules
    metastasis_site: MetastasisSiteRules


_FILES: dict[str, type[_Strict]] = {
    "sections": SectionRules,
    "context": ContextRules,
    "lab": LabRules,
    "performance_status": PerformanceRules,
    "stage": ExtentRules,
    "prior_therapy": TherapyRules,
    "cancer_type": CancerRules,
    "brain_metastases": BrainRules,
    "measurable_disease": MeasurableRules,
    "demographics": DemographicsRules,
    "condition": ConditionRules,
    "biomarker": BiomarkerRules,
    "shape": ShapeRules,
    "period": PeriodRules,
    "metastasis_site": MetastasisSiteRules,
}


def _load_file(path: Path, model: type[_Strict]) -> _Strict:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RuleDataError(str(path), "file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RuleDataError(str(path), str(exc)) from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RuleDataError(str(path), str(exc)) from exc


def load_rules_from(directory: Path) -> Rules:
    """Load and validate every rule file in ``directory``.

    Raises :class:`matchers.errors.RuleDataError` naming the first bad file.
    """
    parts = {name: _load_file(directory / f"{name}.toml", model) for name, model in _FILES.items()}
    return Rules.model_validate(parts)


@lru_cache(maxsize=1)
def load_rules() -> Rules:
    """The packaged rules (cached; the files are read once per process)."""
    return load_rules_from(RULES_DIR)
