"""Trials out as FHIR R4 resources: ResearchStudy, searchset Bundles, CapabilityStatement,
OperationOutcome.

:func:`research_study` renders one loaded trial (:class:`matchers.models.IndexedTrial`)
following the FHIR ResearchStudy ↔ ClinicalTrials.gov mapping
(https://hl7.org/fhir/R4/researchstudy-mappings.html):

* ``id`` and ``identifier`` — the NCT ID (system ``http://clinicaltrials.gov``);
* ``title``; ``status`` — CT.gov overall status through :data:`STATUS_MAP`;
* ``phase`` — ``research-study-phase`` codes (``PHASE1`` + ``PHASE2`` → ``phase-1-phase-2``);
* ``category`` — the study type; ``condition`` — each CT.gov condition as text with the
  OncoTree (and NCIt) codings the parser resolved in it; ``keyword``;
* ``protocol`` — one contained PlanDefinition per intervention (CT.gov intervention names);
* ``site`` — one contained ``Location`` per CT.gov site (name, address, ``position``
  from the geo point, ``status`` from the site's recruitment status), ``location`` — the
  sites' countries;
* ``enrollment`` — a contained ``Group`` (``actual: false``) whose reference ``display``
  is the eligibility criteria text (as MITRE's service does) and whose
  ``characteristic`` gives the registry age and sex limits;
* ``description`` — the official title when it differs from the title;
* extension ``…/structured-eligibility`` — this service's parsed criteria: one
  ``criterion`` sub-extension per criterion (``kind``, ``text``, ``span-start``,
  ``span-end``, ``heading``, ``facts``: the typed facts as JSON), plus ``parser-version``
  and the trial's ``oncotree-code`` s.

With a :class:`matchers.models.TrialMatch`, extension ``…/match-result`` carries
everything ``POST /v1/match`` returns for it: ``verdict``, ``score``, ``question`` s,
``score-explanation`` s, the ``cohort`` the patient may fit (when the trial names
cohorts), the ``nearest-site`` (name, distance in km) and one
``criterion`` per evaluated criterion (``status`` met / not_met / unknown, ``kind``,
``text`` — the trial's words —, ``reason``, ``span-start``/``span-end``, ``category``,
``question``, ``key``).

Arms (CT.gov ``armGroups``), central contacts and the enrollment count are **not**
rendered: the trial store keeps only the CT.gov fields of
``trial_cache.models.STUDY_FIELDS``, which has none of them.

Every resource is validated with the ``fhir.resources`` (R4B) model before it is
returned (:func:`validated`), so the service never emits invalid FHIR.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from matchers.models import CancerTypeFact, IndexedTrial, TrialMatch, condition_spans
from ontologies import Ontology
from service.fhir import vocab as V

STATUS_MAP: dict[str, str] = {
    # CT.gov overall status → ResearchStudy.status (R4 research-study-status), as MITRE's
    # clinical-trial-matching-service maps them.
    "RECRUITING": "active",
    "ENROLLING_BY_INVITATION": "active",
    "NOT_YET_RECRUITING": "approved",
    "ACTIVE_NOT_RECRUITING": "closed-to-accrual",
    "COMPLETED": "completed",
    "SUSPENDED": "temporarily-closed-to-accrual",
    "TERMINATED": "administratively-completed",
    "WITHDRAWN": "withdrawn",
    "AVAILABLE": "active",
    "NO_LONGER_AVAILABLE": "closed-to-accrual",
    "TEMPORARILY_NOT_AVAILABLE": "temporarily-closed-to-accrual",
    "APPROVED_FOR_MARKETING": "completed",
    "WITHHELD": "in-review",
    "UNKNOWN": "in-review",
}
_PHASE_CODE = {"EARLY_PHASE1": "early-phase-1", "PHASE1": "phase-1", "PHASE2": "phase-2",
               "PHASE3": "phase-3", "PHASE4": "phase-4", "NA": "n-a"}
_SITE_STATUS = {"RECRUITING": "active", "NOT_YET_RECRUITING": "active",
                "ENROLLING_BY_INVITATION": "active", "ACTIVE_NOT_RECRUITING": "suspended",
                "COMPLETED": "inactive", "WITHDRAWN": "inactive", "TERMINATED": "inactive",
                "SUSPENDED": "suspended"}

FHIR_JSON = "application/fhir+json"
"""Media type of every FHIR response."""


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": V.TRIALMATCH + name, **value}


def _sub(name: str, **value: Any) -> dict[str, Any]:
    return {"url": name, **value}


def phase_concept(phases: Sequence[str]) -> dict[str, Any] | None:
    """The ResearchStudy.phase CodeableConcept of CT.gov phases, or None."""
    codes = [p for p in phases if p in _PHASE_CODE]
    if not codes:
        return None
    if set(codes) == {"PHASE1", "PHASE2"}:
        code = "phase-1-phase-2"
    elif set(codes) == {"PHASE2", "PHASE3"}:
        code = "phase-2-phase-3"
    else:
        code = _PHASE_CODE[codes[0]]
    display = code.replace("-", " ")
    return {"coding": [{"system": V.RESEARCH_STUDY_PHASE, "code": code, "display": display}],
            "text": display}


def _conditions(trial: IndexedTrial, ontology: Ontology) -> list[dict[str, Any]]:
    s = trial.summary
    parts = [c.strip() for c in s.conditions if c.strip()]
    spans = condition_spans(parts, trial.parsed.condition_text) if parts else []
    tree = ontology.cancer_types
    out: list[dict[str, Any]] = []
    for part, (start, end) in zip(parts, spans, strict=False):
        codings: list[dict[str, Any]] = []
        for f in trial.parsed.conditions:
            if isinstance(f, CancerTypeFact) and start <= f.span[0] and f.span[1] <= end:
                for code in f.codes:
                    node = tree.get(code)
                    if node is None or any(c["code"] == code for c in codings):
                        continue
                    codings.append({"system": V.ONCOTREE, "code": code, "display": node.name})
                    codings += [{"system": V.NCIT, "code": n} for n in node.nci[:1]]
        concept: dict[str, Any] = {"text": part}
        if codings:
            concept["coding"] = codings
        out.append(concept)
    return out


def _sites(trial: IndexedTrial) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[str]]:
    contained: list[dict[str, Any]] = []
    refs: list[dict[str, str]] = []
    countries: list[str] = []
    for i, site in enumerate(trial.summary.sites):
        loc: dict[str, Any] = {"resourceType": "Location", "id": f"site-{i}"}
        if site.facility:
            loc["name"] = site.facility
        address = {k: v for k, v in (("city", site.city), ("state", site.state),
                                     ("postalCode", site.zip), ("country", site.country)) if v}
        if address:
            loc["address"] = {"use": "work", **address}
        if site.lat is not None and site.lon is not None:
            loc["position"] = {"latitude": site.lat, "longitude": site.lon}
        if site.status in _SITE_STATUS:
            loc["status"] = _SITE_STATUS[site.status]
        contained.append(loc)
        refs.append({"reference": f"#site-{i}", "type": "Location"})
        if site.country and site.country not in countries:
            countries.append(site.country)
    return contained, refs, countries


def _eligibility_group(trial: IndexedTrial) -> dict[str, Any]:
    s = trial.summary
    chars: list[dict[str, Any]] = []
    if s.min_age_years is not None or s.max_age_years is not None:
        rng: dict[str, Any] = {}
        if s.min_age_years is not None:
            rng["low"] = {"value": s.min_age_years, "unit": "a", "system": V.UCUM, "code": "a"}
        if s.max_age_years is not None:
            rng["high"] = {"value": s.max_age_years, "unit": "a", "system": V.UCUM, "code": "a"}
        chars.append({"code": {"text": "age"}, "valueRange": rng, "exclude": False})
    if s.sex in ("FEMALE", "MALE"):
        chars.append({"code": {"text": "sex"}, "valueCodeableConcept": {
            "coding": [{"system": "http://hl7.org/fhir/administrative-gender",
                        "code": s.sex.lower()}]}, "exclude": False})
    group: dict[str, Any] = {"resourceType": "Group", "id": "eligibility", "type": "person",
                             "actual": False}
    if chars:
        group["characteristic"] = chars
    return group


def _structured(trial: IndexedTrial) -> dict[str, Any]:
    subs: list[dict[str, Any]] = [_sub("parser-version", valueString=trial.parsed.parser_version)]
    subs += [_sub("oncotree-code", valueCode=c) for c in trial.oncotree_codes]
    for c in trial.parsed.criteria:
        parts = [_sub("kind", valueCode=c.kind.value), _sub("text", valueString=c.text),
                 _sub("span-start", valueInteger=c.span[0]),
                 _sub("span-end", valueInteger=c.span[1])]
        if c.heading:
            parts.append(_sub("heading", valueString=c.heading))
        if c.facts:
            facts = [f.model_dump(mode="json") for f in c.facts]
            parts.append(_sub("facts", valueString=json.dumps(facts, separators=(",", ":"))))
        subs.append(_sub("criterion", extension=parts))
    return _ext("structured-eligibility", extension=subs)


def match_extension(match: TrialMatch) -> dict[str, Any]:
    """The ``…/match-result`` extension of one :class:`TrialMatch` (module docstring)."""
    subs: list[dict[str, Any]] = [_sub("verdict", valueCode=match.verdict.value),
                                  _sub("score", valueDecimal=match.score)]
    subs += [_sub("question", valueString=q) for q in match.questions]
    subs += [_sub("score-explanation", valueString=x) for x in match.score_explanation]
    if match.cohort is not None:
        subs.append(_sub("cohort", valueString=match.cohort))
    if match.nearest_site is not None:
        site = match.nearest_site
        name = site.site.facility or ", ".join(
            p for p in (site.site.city, site.site.state, site.site.country) if p) or "site"
        subs.append(_sub("nearest-site", extension=[
            _sub("name", valueString=name),
            _sub("distance-km", valueDecimal=round(site.distance_km, 2))]))
    for c in match.criteria:
        parts = [_sub("status", valueCode=c.status.value), _sub("kind", valueCode=c.kind.value),
                 _sub("text", valueString=c.text or "(no text)"),
                 _sub("reason", valueString=c.reason or "(no reason)"),
                 _sub("span-start", valueInteger=c.span[0]),
                 _sub("span-end", valueInteger=c.span[1]),
                 _sub("key", valueBoolean=c.key)]
        if c.category:
            parts.append(_sub("category", valueCode=c.category))
        if c.question:
            parts.append(_sub("question", valueString=c.question))
        subs.append(_sub("criterion", extension=parts))
    return _ext("match-result", extension=subs)


def research_study(trial: IndexedTrial, ontology: Ontology,
                   match: TrialMatch | None = None) -> dict[str, Any]:
    """The ResearchStudy (JSON object) of a loaded trial; with ``match``, it carries the
    match-result extension too. See the module docstring for the element mapping."""
    s = trial.summary
    contained, site_refs, countries = _sites(trial)
    plans = [{"resourceType": "PlanDefinition", "id": f"intervention-{i}", "status": "unknown",
              "title": name} for i, name in enumerate(s.interventions)]
    group = _eligibility_group(trial)
    rs: dict[str, Any] = {
        "resourceType": "ResearchStudy",
        "id": s.nct_id,
        "identifier": [{"use": "official", "system": V.NCT_SYSTEM, "value": s.nct_id}],
        "title": s.title or s.nct_id,
        "status": STATUS_MAP.get(s.overall_status or "", "in-review"),
        "contained": [*contained, *plans, group],
    }
    phase = phase_concept(s.phases)
    if phase:
        rs["phase"] = phase
    if s.study_type:
        rs["category"] = [{"text": f"Study Type: {s.study_type.replace('_', ' ').title()}"}]
    conditions = _conditions(trial, ontology)
    if conditions:
        rs["condition"] = conditions
    if s.keywords:
        rs["keyword"] = [{"text": k} for k in s.keywords]
    if plans:
        rs["protocol"] = [{"reference": f"#{p['id']}", "type": "PlanDefinition",
                           "display": p["title"]} for p in plans]
    if site_refs:
        rs["site"] = site_refs
    if countries:
        rs["location"] = [{"text": c} for c in countries]
    rs["enrollment"] = [{"reference": "#eligibility", "type": "Group",
                         "display": s.eligibility_text or "(no eligibility criteria given)"}]
    if s.official_title and s.official_title != s.title:
        rs["description"] = s.official_title
    exts = [_structured(trial)]
    if match is not None:
        exts.append(match_extension(match))
    rs["extension"] = exts
    return rs


def operation_outcome(issues: Iterable[tuple[str, str]], *, severity: str = "error",
                      code: str = "invalid") -> dict[str, Any]:
    """An OperationOutcome (JSON object): one issue per ``(expression, message)``."""
    out = []
    for expression, message in issues:
        issue: dict[str, Any] = {"severity": severity, "code": code,
                                 "details": {"text": message}}
        if expression:
            issue["expression"] = [expression]
        out.append(issue)
    if not out:
        out.append({"severity": severity, "code": code})
    return {"resourceType": "OperationOutcome", "issue": out}


def searchset(entries: Sequence[tuple[dict[str, Any], float]], *, total: int,
              outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``searchset`` Bundle: each ``(ResearchStudy, score)`` as an entry with
    ``search.mode = "match"`` and ``search.score`` clamped to [0, 1]; ``outcome`` (an
    OperationOutcome) as a ``search.mode = "outcome"`` entry."""
    items: list[dict[str, Any]] = [
        {"fullUrl": f"ResearchStudy/{rs['id']}", "resource": rs,
         "search": {"mode": "match", "score": round(min(1.0, max(0.0, score)), 4)}}
        for rs, score in entries
    ]
    if outcome is not None:
        items.append({"resource": outcome, "search": {"mode": "outcome"}})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "entry": items}


def capability_statement(*, version: str, date: str) -> dict[str, Any]:
    """The server's CapabilityStatement (FHIR 4.0.1, JSON): ResearchStudy read and the
    ``$match`` operation."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "trialmatch", "version": version},
        "implementation": {"description": "trialmatch clinical-trial matching (FHIR adapter)"},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": (
                "POST /fhir/ResearchStudy/$match takes a Parameters resource with a "
                "'trialMatchClinicalData' mCODE Bundle (or the Bundle) and returns a searchset "
                "Bundle of ResearchStudy; POST /getClinicalTrial takes {\"patientData\": "
                "Bundle} (MITRE clinical-trial-matching-service)."
            ),
            "resource": [{
                "type": "ResearchStudy",
                "interaction": [{"code": "read"}],
                "operation": [{"name": "match",
                               "definition": "https://trialmatch.dev/fhir/OperationDefinition/"
                               "ResearchStudy-match"}],
            }],
        }],
    }


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` after validation with its ``fhir.resources`` (R4B) model. Raises
    ``pydantic.ValidationError`` if the service built invalid FHIR (a bug)."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)
    return resource
