"""Patient normalization: a validated :class:`PatientProfile` → :class:`NormalizedPatient`.

Each criterion category reads its own part of the profile (its module's patient-side
reader, :mod:`matchers.criteria`), once per request, through the ontology that is passed
in (no module-level ontology); this module composes the parts:

=====================  ================================================================
part                   reader
=====================  ================================================================
``cancer``             :func:`matchers.criteria.cancer_type.read_cancer`
``histology``          :func:`matchers.criteria.histology.read_histology`
``therapy``            :func:`matchers.criteria.prior_therapy.read_therapies`
``stage``              :func:`matchers.criteria.stage.read_stage` (uses cancer, therapy)
``biomarkers``         :func:`matchers.criteria.biomarker.read_biomarkers`
``performance``        :func:`matchers.criteria.performance_status.read_performance`
``demographics``       :func:`matchers.criteria.demographics.read_demographics`
``brain_metastases``   :func:`matchers.criteria.brain_metastases.read_brain_metastases`
``measurable_disease`` :func:`matchers.criteria.measurable_disease.read_measurable`
``metastasis_sites``   :func:`matchers.criteria.metastasis_site.read_metastasis_sites`
``labs``               :func:`matchers.criteria.labs.read_labs`
``conditions``         :func:`matchers.criteria.comorbidity.read_conditions`
``dates``              :func:`matchers.criteria.period.read_dates`
=====================  ================================================================

plus the location (``lat``/``lon`` from the profile, or the ZIP code through the
offline ``zipcodes`` table).

Errors: :class:`matchers.errors.PatientProfileError` (``field``, ``message``,
``suggestions``) when the cancer type cannot be resolved. Everything else that cannot
be interpreted is kept as unknown (None) — never guessed, and never read as "none".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from matchers.criteria.biomarker import PatientBiomarkers, read_biomarkers
from matchers.criteria.brain_metastases import read_brain_metastases
from matchers.criteria.cancer_type import PatientCancer, read_cancer
from matchers.criteria.comorbidity import PatientConditions, read_conditions
from matchers.criteria.demographics import PatientDemographics, read_demographics
from matchers.criteria.histology import read_histology
from matchers.criteria.labs import PatientLabs, read_labs
from matchers.criteria.measurable_disease import read_measurable
from matchers.criteria.metastasis_site import read_metastasis_sites
from matchers.criteria.performance_status import PatientPerformance, read_performance
from matchers.criteria.period import PatientDates, read_dates
from matchers.criteria.prior_therapy import PatientTherapies, read_therapies
from matchers.criteria.stage import PatientStage, read_stage
from matchers.geo import zip_to_latlon
from matchers.patient import PatientProfile

if TYPE_CHECKING:
    from ontologies import Ontology

__all__ = ["NormalizedPatient", "normalize_patient"]


class NormalizedPatient(BaseModel):
    """A patient resolved against the ontology; the evaluator's only patient input.

    One field per criterion category's patient part (see the module docstring);
    ``lat``/``lon`` in decimal degrees.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cancer: PatientCancer
    histology: str | None = None
    stage: PatientStage = PatientStage()
    biomarkers: PatientBiomarkers = PatientBiomarkers()
    therapy: PatientTherapies = PatientTherapies()
    performance: PatientPerformance = PatientPerformance()
    demographics: PatientDemographics = PatientDemographics()
    brain_metastases: str | None = None
    measurable_disease: bool | None = None
    metastasis_sites: frozenset[str] | None = None
    labs: PatientLabs = PatientLabs()
    conditions: PatientConditions = PatientConditions()
    dates: PatientDates = PatientDates()
    lat: float | None = None
    lon: float | None = None


def normalize_patient(profile: PatientProfile, ontology: Ontology) -> NormalizedPatient:
    """Resolve a validated profile against the ontology (pure; no I/O but the offline
    ZIP table).

    Raises :class:`~matchers.errors.PatientProfileError` (field ``cancer_type``) when
    the cancer type resolves to no OncoTree code; the error carries the closest names
    as suggestions.
    """
    cancer = read_cancer(profile, ontology)
    therapy = read_therapies(profile, ontology)
    lat, lon = profile.lat, profile.lon
    if lat is None and profile.zip:
        ll = zip_to_latlon(profile.zip)
        if ll:
            lat, lon = ll
    return NormalizedPatient(
        cancer=cancer,
        histology=read_histology(profile, ontology, cancer),
        stage=read_stage(profile, cancer, therapy),
        biomarkers=read_biomarkers(profile, ontology),
        therapy=therapy,
        performance=read_performance(profile),
        demographics=read_demographics(profile),
        brain_metastases=read_brain_metastases(profile),
        measurable_disease=read_measurable(profile),
        metastasis_sites=read_metastasis_sites(profile),
        labs=read_labs(profile),
        conditions=read_conditions(profile, ontology),
        dates=read_dates(profile),
        lat=lat,
        lon=lon,
    )
