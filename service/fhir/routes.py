"""FHIR routes (an APIRouter included by :func:`service.app.create_app`).

* ``POST /getClinicalTrial`` — MITRE clinical-trial-matching-service contract: body
  ``{"patientData": <Bundle>}`` (mCODE resources plus a ``Parameters`` resource with
  ``zipCode``, ``travelRadius`` in miles, ``phase``, ``recruitmentStatus``); answers a
  ``searchset`` Bundle of ResearchStudy, ``entry[].search.mode = "match"`` and
  ``search.score`` in [0, 1];
* ``POST /fhir/ResearchStudy/$match`` — CodeX "Integrated Trial Matching" draft IG: a
  ``Parameters`` resource whose ``trialMatchClinicalData`` parameter holds the patient
  Bundle (a bare Bundle is accepted too); the output (``trialMatchOutput``) is the
  searchset Bundle itself, as FHIR returns an operation's single resource output;
* ``GET /fhir/ResearchStudy/{nct_id}`` — one trial as a ResearchStudy;
* ``GET /fhir/metadata`` — the CapabilityStatement;
* ``POST /v1/patients/from-fhir`` — the mapping alone, as JSON: the profile, the search
  parameters, ``unmapped`` (element path, code, reason) and each field's source path.

Match results are those of ``POST /v1/match`` for the mapped profile (same
``service.engine.match_patient``); each ResearchStudy carries the verdict and every
criterion result in its ``match-result`` extension (:mod:`service.fhir.research_study`).
Elements the mapping could not use come back as an OperationOutcome entry
(``search.mode = "outcome"``, one ``information`` issue per element, ``expression`` =
the element path). Responses are ``application/fhir+json``; errors are OperationOutcome
(``service/errors.py`` renders them for these paths). Trials are ranked over open
statuses unless ``recruitmentStatus`` says otherwise; ``phase`` and ``travelRadius``
filter the ranked list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from matchers.models import NCT_ID_PATTERN, TrialMatch
from matchers.patient import PatientProfile
from ontologies import Ontology
from service.deps import IndexDep, OntologyDep, SettingsDep, TodayDep
from service.engine import LoadedIndex, match_patient
from service.errors import TrialNotFound
from service.fhir.mcode import (
    MappedPatient,
    SearchParameters,
    Unmapped,
    bundle_to_profile,
    clinical_data,
    patient_data,
)
from service.fhir.research_study import (
    FHIR_JSON,
    capability_statement,
    operation_outcome,
    research_study,
    searchset,
    validated,
)
from service.guards import NAVIGATOR, PUBLIC
from service.settings import Settings

router = APIRouter()

KM_PER_MILE = 1.609344
_FHIR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {FHIR_JSON: {}}, "description": "A FHIR resource."},
    400: {"description": "OperationOutcome: the request envelope is wrong."},
    404: {"description": "OperationOutcome: no such trial."},
    422: {"description": "OperationOutcome naming the invalid element (expression)."},
    503: {"description": "OperationOutcome: no trials loaded yet."},
}


def fhir_response(resource: dict[str, Any], status_code: int = 200) -> Response:
    """``resource`` as ``application/fhir+json``."""
    return Response(content=orjson.dumps(resource), media_type=FHIR_JSON,
                    status_code=status_code)


class FhirMapping(BaseModel):
    """``POST /v1/patients/from-fhir``: what the Bundle mapped to."""

    model_config = ConfigDict(frozen=True)

    profile: PatientProfile
    parameters: SearchParameters
    unmapped: list[Unmapped]
    sources: dict[str, str]


def _rank(loaded: LoadedIndex, ontology: Ontology, mapped: MappedPatient, *, today: Any,
          limit: int) -> tuple[list[TrialMatch], int]:
    """Rank for the mapped profile with the Bundle's search parameters applied."""
    params = mapped.parameters
    filtered = bool(params.phases) or params.travel_radius_mi is not None
    ranked = match_patient(loaded, ontology, mapped.profile, today=today,
                           limit=len(loaded) if filtered else limit,
                           statuses=list(params.statuses) or None)
    results = list(ranked.results)
    if not filtered:
        return results, ranked.total
    phases = set(params.phases)
    max_km = (params.travel_radius_mi * KM_PER_MILE
              if params.travel_radius_mi is not None else None)
    kept: list[TrialMatch] = []
    for m in results:
        trial = loaded.index.get(m.nct_id)
        if phases and (trial is None or not phases & set(trial.summary.phases)):
            continue
        if max_km is not None and (m.nearest_site is None or m.nearest_site.distance_km > max_km):
            continue
        kept.append(m)
    return kept[:limit], len(kept)


def _searchset(loaded: LoadedIndex, ontology: Ontology, mapped: MappedPatient, *, today: Any,
               limit: int) -> dict[str, Any]:
    matches, total = _rank(loaded, ontology, mapped, today=today, limit=limit)
    entries = []
    for m in matches:
        trial = loaded.index.get(m.nct_id)
        if trial is not None:
            entries.append((research_study(trial, ontology, m), m.score))
    outcome = None
    if mapped.unmapped:
        outcome = operation_outcome(
            [(u.path, f"not used for matching: {u.reason}"
              + (f" ({u.system}|{u.code})" if u.code else "")) for u in mapped.unmapped],
            severity="information", code="informational")
    return validated(searchset(entries, total=total, outcome=outcome))


def _limit(count: int | None, settings: Settings) -> int:
    return min(count or settings.default_match_limit, settings.max_match_limit)


@router.post("/getClinicalTrial", tags=["fhir"], responses=_FHIR_RESPONSES,
             dependencies=[NAVIGATOR],
             summary="Match an mCODE patient Bundle (MITRE clinical-trial-matching-service)")
async def get_clinical_trial(
    body: Annotated[dict[str, Any], Body(description='{"patientData": <FHIR Bundle>}')],
    loaded: IndexDep, ontology: OntologyDep, settings: SettingsDep, today: TodayDep,
    count: Annotated[int | None, Query(alias="_count", ge=1, le=1000)] = None,
) -> Response:
    """Map the Bundle's mCODE resources to a patient profile and answer a searchset
    Bundle of matching ResearchStudy resources, best first (``search.score`` in [0, 1]).
    ``_count`` (default ``TRIALMATCH_DEFAULT_MATCH_LIMIT``) caps the entries.

    Errors (OperationOutcome): 400 when the body is not ``{"patientData": Bundle}``; 422
    naming the invalid element (``issue.expression``) for an invalid Bundle or one without
    a recognisable primary cancer condition; 503 before trials are loaded."""
    bundle = patient_data(body)
    mapped = await run_in_threadpool(bundle_to_profile, bundle, ontology=ontology, today=today)
    result = await run_in_threadpool(_searchset, loaded, ontology, mapped, today=today,
                                     limit=_limit(count, settings))
    return fhir_response(result)


@router.post("/fhir/ResearchStudy/$match", tags=["fhir"], responses=_FHIR_RESPONSES,
             dependencies=[NAVIGATOR],
             summary="ResearchStudy/$match (CodeX Integrated Trial Matching draft IG)")
async def research_study_match(
    body: Annotated[dict[str, Any], Body(
        description="Parameters with a 'trialMatchClinicalData' Bundle, or the Bundle")],
    loaded: IndexDep, ontology: OntologyDep, settings: SettingsDep, today: TodayDep,
    count: Annotated[int | None, Query(alias="_count", ge=1, le=1000)] = None,
) -> Response:
    """Same matching as ``POST /getClinicalTrial``; the input is the operation's
    ``Parameters`` (``trialMatchClinicalData``: the patient Bundle; an optional
    ``_count`` valueInteger) and the output the ``trialMatchOutput`` searchset Bundle."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters" and count is None:
        for p in body.get("parameter") or []:
            if isinstance(p, dict) and p.get("name") in ("_count", "count"):
                value = p.get("valueInteger")
                count = value if isinstance(value, int) and value > 0 else None
    bundle = clinical_data(body)
    mapped = await run_in_threadpool(bundle_to_profile, bundle, ontology=ontology, today=today)
    result = await run_in_threadpool(_searchset, loaded, ontology, mapped, today=today,
                                     limit=_limit(count, settings))
    return fhir_response(result)


@router.get("/fhir/ResearchStudy/{nct_id}", tags=["fhir"], responses=_FHIR_RESPONSES,
             dependencies=[NAVIGATOR],
            summary="One trial as a FHIR ResearchStudy")
async def read_research_study(
    nct_id: Annotated[str, Path(pattern=NCT_ID_PATTERN, examples=["NCT04613596"])],
    loaded: IndexDep, ontology: OntologyDep,
) -> Response:
    """The trial as an R4 ResearchStudy with its structured eligibility extension. 404
    (OperationOutcome) when the trial is not loaded."""
    trial = loaded.index.get(nct_id)
    if trial is None:
        raise TrialNotFound(nct_id)
    return fhir_response(validated(research_study(trial, ontology)))


@router.get("/fhir/metadata", tags=["fhir"], responses=_FHIR_RESPONSES,
            dependencies=[PUBLIC],
            summary="CapabilityStatement")
async def metadata(request: Request) -> Response:
    """What the FHIR endpoints support (FHIR 4.0.1, JSON)."""
    return fhir_response(validated(capability_statement(
        version=request.app.version, date=datetime.now(UTC).date().isoformat())))


@router.post("/v1/patients/from-fhir", response_model=FhirMapping, tags=["patients"],
             dependencies=[NAVIGATOR],
             summary="Map an mCODE Bundle to a patient profile (no matching)")
async def from_fhir(
    body: Annotated[dict[str, Any], Body(description='A Bundle, or {"patientData": Bundle}')],
    ontology: OntologyDep, today: TodayDep,
) -> FhirMapping:
    """The profile ``POST /v1/match`` would receive for this Bundle, the MITRE search
    parameters, every element that was not used (``unmapped``: element path, system,
    code, reason) and the element each profile field came from (``sources``). Errors:
    400 / 422 as OperationOutcome-free JSON errors (``error``, ``message``, ``detail``)."""
    bundle = patient_data(body) if "patientData" in body else body
    mapped = await run_in_threadpool(bundle_to_profile, bundle, ontology=ontology, today=today)
    return FhirMapping(profile=mapped.profile, parameters=mapped.parameters,
                       unmapped=list(mapped.unmapped), sources=mapped.sources)
