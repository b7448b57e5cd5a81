"""The patient profile a caller sends to ``POST /v1/match``.

Health data: this model is validated in memory, evaluated and dropped. It is never
logged and never written to Redis or used in a cache key (see ``service`` for the one
exception: a batch job's own results, stored under its job id).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

UsZip = Annotated[str, StringConstraints(pattern=r"^\d{5}(-\d{4})?$")]


class PriorTherapy(BaseModel):
    """One prior treatment.

    ``name`` is a drug, regimen or procedure ("letrozole + palbociclib", "carboplatin/
    pemetrexed", "pleurectomy"); ``therapy_class`` (JSON key ``class``) a class in words
    or an ontology id ("CDK4/6 inhibitor", "platinum", "pd1_pdl1"); ``line`` the line
    of therapy (1 = first line); ``setting`` the disease setting ("metastatic",
    "adjuvant", "neoadjuvant", "locally advanced", "primary"); ``progressed`` whether
    the disease progressed on or after it (None = not stated), which settles trial
    criteria such as "progressed on prior osimertinib".
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str | None = Field(default=None, max_length=300)
    therapy_class: str | None = Field(default=None, alias="class", max_length=300)
    line: int | None = Field(default=None, ge=0, le=20)
    setting: str | None = Field(default=None, max_length=100)
    progressed: bool | None = None

    @model_validator(mode="after")
    def _named(self) -> PriorTherapy:
        if not (self.name or self.therapy_class):
            raise ValueError("a prior therapy needs a 'name' or a 'class'")
        return self


class PatientProfile(BaseModel):
    """A cancer patient, as much as is known. Only ``cancer_type`` is required.

    * ``cancer_type``: free text ("epithelioid pleural mesothelioma", "NSCLC") or an
      OncoTree code ("PLEMESO").
    * ``histology``: free text ("epithelioid", "adenocarcinoma").
    * ``stage``: AJCC stage group ("IB", "IIIA", "IV") or words ("metastatic").
    * ``biomarkers``: marker → result, e.g. ``{"HER2_IHC": "2+", "HER2_ISH": "negative",
      "ER": "positive", "EGFR": "exon 19 deletion", "PD-L1_TPS": 60}``. TPS/CPS are
      percentages / scores.
    * ``age`` in years; ``sex`` ``female``/``male``; ``ecog`` 0–4.
    * ``brain_metastases``: ``none``, ``treated_stable`` or ``active``.
    * ``resectable``: whether surgery with curative intent is judged feasible.
    * ``zip`` (US ZIP, resolved offline with the ``zipcodes`` package) or ``lat``/``lon``
      in decimal degrees, for the distance to the nearest recruiting site.
    * ``conditions``: other diagnoses in words ("HIV", "interstitial lung disease").

    Unknown fields are refused, so a misspelt field never silently drops a fact.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    cancer_type: str = Field(min_length=1, max_length=300)
    histology: str | None = Field(default=None, max_length=300)
    stage: str | None = Field(default=None, max_length=50)
    biomarkers: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=60)],
        Annotated[str, StringConstraints(max_length=200)] | float | bool,
    ] = Field(default_factory=dict)
    age: float | None = Field(default=None, ge=0, le=120)
    sex: Literal["female", "male"] | None = None
    ecog: int | None = Field(default=None, ge=0, le=4)
    prior_therapies: list[PriorTherapy] = Field(default_factory=list, max_length=50)
    brain_metastases: Literal["none", "treated_stable", "active"] | None = None
    measurable_disease: bool | None = None
    resectable: bool | None = None
    pregnant: bool | None = None
    conditions: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=list, max_length=50
    )
    zip: UsZip | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _coordinates_pair(self) -> PatientProfile:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both 'lat' and 'lon', or neither")
        return self
