"""The patient profile a caller sends to ``POST /v1/match`` (and batch, FHIR and note
adapters produce).

Health data: this model is validated in memory, evaluated and dropped. It is never
logged and never written to Redis or used in a cache key (see ``service`` for the
exceptions a feature needs: batch cohorts, stored encrypted).

**Unknown is not none.** Every field is optional except ``cancer_type``; an absent
field (or ``null``) means *not known*, and criteria that need it come back ``unknown``
with a question. To state that the patient has none of something, say so explicitly:
``prior_therapies: []`` (no prior anticancer therapy), ``brain_metastases: "none"``,
``conditions: ["no HIV"]``, ``pregnant: false``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

UsZip = Annotated[str, StringConstraints(pattern=r"^\d{5}(-\d{4})?$")]

LabName = Literal[
    "anc",
    "wbc",
    "platelets",
    "hemoglobin",
    "creatinine_clearance",
    "creatinine",
    "bilirubin",
    "ast",
    "alt",
]
"""Laboratory tests the profile can carry (the ids of :class:`matchers.models.LabFact`):
absolute neutrophil count, white blood cells, platelets, haemoglobin, creatinine
clearance (or eGFR), serum creatinine, total bilirubin, AST, ALT."""

MAX_BIOMARKERS = 60
MAX_THERAPIES = 50
MAX_CONDITIONS = 50
MAX_SITES = 30


class PriorTherapy(BaseModel):
    """One prior treatment.

    ``name`` is a drug, regimen or procedure ("letrozole + palbociclib", "carboplatin/
    pemetrexed", "pleurectomy"); ``therapy_class`` (JSON key ``class``) a class in words
    or an ontology id ("CDK4/6 inhibitor", "platinum", "pd1_pdl1"); ``line`` the line
    of therapy (1 = first line; 0 = before any line, e.g. diagnostic surgery);
    ``setting`` the disease setting ("metastatic", "adjuvant", "neoadjuvant", "locally
    advanced", "maintenance", "primary"); ``progressed`` whether the disease progressed
    on or after it (None = not stated), which settles criteria such as "progressed on
    prior osimertinib". ``start_date``/``end_date`` are ISO dates (a month "2024-03" is
    read as its first day); ``end_date`` None with ``ongoing`` true means still given.
    Dates settle washouts ("at least 4 weeks since the last dose") against ``today``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str | None = Field(default=None, max_length=300)
    therapy_class: str | None = Field(default=None, alias="class", max_length=300)
    line: int | None = Field(default=None, ge=0, le=20)
    setting: str | None = Field(default=None, max_length=100)
    progressed: bool | None = None
    start_date: date | None = None
    end_date: date | None = None
    ongoing: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _month_dates(cls, data: object) -> object:
        # "2024-03" (a month, as records often give it) → the month's first day.
        if isinstance(data, dict):
            for key in ("start_date", "end_date"):
                v = data.get(key)
                if isinstance(v, str) and len(v) == 7 and v[4] == "-":
                    data = {**data, key: f"{v}-01"}
        return data

    @model_validator(mode="after")
    def _named(self) -> PriorTherapy:
        if not (self.name or self.therapy_class):
            raise ValueError("a prior therapy needs a 'name' or a 'class'")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("'end_date' is before 'start_date'")
        return self


class LabValue(BaseModel):
    """One laboratory result: ``value`` in ``unit``.

    Units accepted (converted by :mod:`matchers.normalize`): counts (``anc``, ``wbc``,
    ``platelets``) in ``/uL`` (cells/µL, the default), ``10^9/L`` or ``10^3/uL``;
    ``hemoglobin`` in ``g/dL`` (default), ``g/L`` or ``mmol/L``;
    ``creatinine_clearance`` in ``mL/min`` (default; eGFR in mL/min/1.73m² is read as
    the same); ``creatinine`` and ``bilirubin`` in ``mg/dL`` (default), ``umol/L`` or
    ``xULN``; ``ast``/``alt`` in ``xULN`` (default) or ``U/L`` (then the upper limit
    of normal must be given as ``uln``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=0, le=1e7)
    unit: str | None = Field(default=None, max_length=20)
    uln: float | None = Field(default=None, gt=0, le=1e5)


class PatientProfile(BaseModel):
    """A cancer patient, as much as is known. Only ``cancer_type`` is required.

    * ``cancer_type``: free text ("epithelioid pleural mesothelioma", "NSCLC") or an
      OncoTree code ("PLEMESO").
    * ``histology``: free text ("epithelioid", "adenocarcinoma").
    * ``stage``: AJCC 8th stage group ("IB", "IIIA", "IV") or words ("metastatic",
      "recurrent").
    * ``biomarkers``: marker → result, e.g. ``{"HER2_IHC": "2+", "HER2_ISH": "negative",
      "ER": "positive", "EGFR": "exon 19 deletion", "PD-L1_TPS": 60}``. TPS/CPS are
      percentages / scores. A marker not listed is unknown.
    * ``age`` in years; ``sex`` ``female``/``male``; ``ecog`` 0–4 and/or ``karnofsky``
      0–100 (ECOG performance status; Karnofsky performance status).
    * ``prior_therapies``: every prior anticancer treatment; ``[]`` = none at all,
      absent/``null`` = not known.
    * ``brain_metastases``: ``none``, ``treated_stable`` or ``active``; absent = unknown.
    * ``resectable``: whether surgery with curative intent is judged feasible.
    * ``labs``: test → :class:`LabValue` (or a bare number in the default unit).
    * ``diagnosis_date``: date of the cancer diagnosis; ``metastatic_diagnosis_date``:
      date advanced/metastatic disease was diagnosed (for "diagnosed within 6 months").
    * ``menopausal_status``: ``premenopausal``, ``perimenopausal`` or
      ``postmenopausal``.
    * ``metastasis_sites``: sites of distant disease in words ("liver", "bone").
    * ``zip`` (US ZIP, resolved offline with the ``zipcodes`` package) or ``lat``/``lon``
      in decimal degrees, for the distance to the nearest recruiting site.
    * ``conditions``: other diagnoses in words ("HIV", "interstitial lung disease"); a
      "no …" entry states an absence ("no HIV").

    Unknown fields are refused, so a misspelt field never silently drops a fact.
    Collections are bounded (biomarkers 60, therapies 50, conditions 50, sites 30).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    cancer_type: str = Field(min_length=1, max_length=300)
    histology: str | None = Field(default=None, max_length=300)
    stage: str | None = Field(default=None, max_length=50)
    biomarkers: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=60)],
        Annotated[str, StringConstraints(max_length=200)] | float | bool,
    ] = Field(default_factory=dict, max_length=MAX_BIOMARKERS)
    age: float | None = Field(default=None, ge=0, le=120)
    sex: Literal["female", "male"] | None = None
    ecog: int | None = Field(default=None, ge=0, le=4)
    karnofsky: int | None = Field(default=None, ge=0, le=100)
    prior_therapies: list[PriorTherapy] | None = Field(default=None, max_length=MAX_THERAPIES)
    brain_metastases: Literal["none", "treated_stable", "active"] | None = None
    measurable_disease: bool | None = None
    resectable: bool | None = None
    pregnant: bool | None = None
    labs: dict[LabName, LabValue | float] = Field(default_factory=dict)
    diagnosis_date: date | None = None
    metastatic_diagnosis_date: date | None = None
    menopausal_status: Literal["premenopausal", "perimenopausal", "postmenopausal"] | None = (
        None
    )
    metastasis_sites: list[Annotated[str, StringConstraints(max_length=100)]] | None = Field(
        default=None, max_length=MAX_SITES
    )
    conditions: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=list, max_length=MAX_CONDITIONS
    )
    zip: UsZip | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _coordinates_pair(self) -> PatientProfile:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both 'lat' and 'lon', or neither")
        return self

    @property
    def therapies_known(self) -> bool:
        """True when ``prior_therapies`` was stated (``[]`` included)."""
        return self.prior_therapies is not None
