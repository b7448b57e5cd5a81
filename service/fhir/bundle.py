""":class:`~matchers.patient.PatientProfile` → an mCODE STU3 patient Bundle.

The inverse of :mod:`service.fhir.mcode`, used for examples, tests and round trips
(profile → Bundle → profile gives the same match results). Each profile field becomes
the mCODE element :mod:`service.fhir.mcode` reads it from:

* CancerPatient (``Patient``): ``birthDate`` from ``age`` at ``today`` (a whole-year age
  is exact; a fractional one is read back as its whole years), ``gender``; the service's
  extensions ``menopausal-status``, ``prior-therapies-complete`` (``prior_therapies``
  given, possibly empty) and ``brain-metastases-status``;
* PrimaryCancerCondition: ``code`` with an OncoTree coding, the node's NCIt coding and a
  SNOMED CT coding when the mCODE table maps one SNOMED code to exactly this node;
  ``histology`` in the histology-morphology-behavior extension (text); ``onsetDateTime``
  = ``diagnosis_date``; extensions ``measurable-disease``, ``resectable``;
* TNMStageGroup (clinical, LOINC 21908-9) with the AJCC label as text and an AJCC
  coding; SecondaryCancerCondition per metastasis site (brain: ``clinicalStatus`` from
  ``brain_metastases``; ``none`` → a refuted brain SecondaryCancerCondition);
* TumorMarkerTest per biomarker with a LOINC code for ``HER2_IHC``, ``HER2_ISH``,
  ``ER``, ``PR``, ``PD-L1_TPS``, ``PD-L1_CPS``, ``Ki-67`` (else ``code.text`` = the key),
  value as Quantity (numbers) or CodeableConcept text; GenomicVariant for a gene in the
  HGNC table (``g`` prefix → germline source class);
* ECOG / Karnofsky Observations; labs as laboratory Observations (LOINC, UCUM);
* CancerRelatedMedicationRequest per systemic therapy, CancerRelatedSurgicalProcedure /
  RadiotherapyCourseSummary for surgery / radiotherapy classes, each with the service's
  ``line-of-therapy``, ``therapy-setting``, ``therapy-class``, ``disease-progressed``
  extensions;
* other conditions as plain ``Condition`` (``no X`` → verificationStatus refuted);
  ``pregnant`` as LOINC 82810-3; ``zip`` as a ``Parameters`` zipCode.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from matchers.patient import PatientProfile
from ontologies import Ontology
from service.fhir import vocab as V

_LOINC_MARKER = {
    "HER2_IHC": ("85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain"),
    "HER2_ISH": ("85318-4", "ERBB2 gene duplication [Presence] in Breast cancer specimen by FISH"),
    "ER": ("85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
    "PR": ("85339-0", "Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune "
           "stain"),
    "PD-L1_TPS": ("85147-7", "PD-L1 by clone 22C3 in Tissue by Immune stain Report"),
    "PD-L1_CPS": ("85882-9", "PD-L1 combined positive score"),
    "Ki-67": ("29593-1", "Ki-67 Ag [Presence] in Tissue by Immune stain"),
}
_GENES = {symbol: hgnc for hgnc, symbol in V.HGNC_GENES.items()}
_LAB_UNITS = {"/uL": "/uL", "10^9/L": "10*9/L", "10^3/uL": "10*3/uL", "g/dL": "g/dL",
              "g/L": "g/L", "mmol/L": "mmol/L", "mg/dL": "mg/dL", "umol/L": "umol/L",
              "mL/min": "mL/min", "U/L": "U/L"}
_LAB_DEFAULT = {"anc": "/uL", "wbc": "/uL", "platelets": "/uL", "hemoglobin": "g/dL",
                "creatinine_clearance": "mL/min", "creatinine": "mg/dL", "bilirubin": "mg/dL"}
_SURGERY = re.compile(r"surg|ectomy|resect|excision|biopsy|debulk|turbt", re.I)
_RADIO = re.compile(r"radio|radiat|\bsrs\b|\bsbrt\b|brachy", re.I)


def _profile_url(name: str) -> dict[str, list[str]]:
    return {"profile": [V.MCODE + name]}


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": V.TRIALMATCH + name, **value}


def _snomed_for(code: str) -> str | None:
    """The one SNOMED CT code the mCODE table maps to exactly ``code``, if one is."""
    hits = sorted(k for k, v in V.load_vocab().cancer.items() if v["oncotree"] == code)
    return hits[0] if hits else None


def _birth_date(age: float, today: date) -> str:
    whole = int(age)
    try:
        born = today.replace(year=today.year - whole)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - whole, day=28)
    if age != whole:
        born -= timedelta(days=round((age - whole) * 365.25))
    return born.isoformat()


def profile_to_bundle(profile: PatientProfile, *, ontology: Ontology, today: date,
                      parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """An mCODE ``collection`` Bundle (JSON object) for ``profile``; ``parameters``
    (``zipCode``, ``travelRadius``, ``phase``, ``recruitmentStatus``) adds a MITRE
    ``Parameters`` resource (``zip`` is added to it when the profile has one)."""
    entries: list[dict[str, Any]] = []
    n = 0

    def add(resource: dict[str, Any]) -> str:
        nonlocal n
        n += 1
        rid = f"{resource['resourceType'].lower()}-{n}"
        resource["id"] = rid
        entries.append({"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
                        "resource": resource})
        return f"{resource['resourceType']}/{rid}"

    patient: dict[str, Any] = {"resourceType": "Patient", "meta": _profile_url(
        "mcode-cancer-patient")}
    if profile.age is not None:
        patient["birthDate"] = _birth_date(profile.age, today)
    if profile.sex:
        patient["gender"] = profile.sex
    exts: list[dict[str, Any]] = []
    if profile.menopausal_status:
        exts.append(_ext("menopausal-status", valueCode=profile.menopausal_status))
    if profile.prior_therapies is not None:
        exts.append(_ext("prior-therapies-complete", valueBoolean=True))
    if profile.brain_metastases and not profile.metastasis_sites:
        exts.append(_ext("brain-metastases-status", valueCode=profile.brain_metastases))
    if exts:
        patient["extension"] = exts
    subject = {"reference": add(patient)}

    # primary cancer condition
    tree = ontology.cancer_types
    code = profile.cancer_type
    node = tree.get(code)
    codings: list[dict[str, Any]] = []
    if node is not None:
        codings.append({"system": V.ONCOTREE, "code": node.code, "display": node.name})
        codings += [{"system": V.NCIT, "code": c} for c in node.nci[:1]]
        snomed = _snomed_for(node.code)
        if snomed:
            codings.append({"system": V.SNOMED, "code": snomed,
                            "display": V.load_vocab().cancer[snomed]["display"]})
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "meta": _profile_url("mcode-primary-cancer-condition"),
        "clinicalStatus": {"coding": [{"system": V.CONDITION_CLINICAL, "code": "active"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "condition-category", "code": "problem-list-item"}]}],
        "code": {"coding": codings, "text": node.name if node else code},
        "subject": subject,
    }
    cexts: list[dict[str, Any]] = []
    if profile.histology:
        cexts.append({"url": V.MCODE + "mcode-histology-morphology-behavior",
                      "valueCodeableConcept": {"text": profile.histology}})
    for name, flag in (("measurable-disease", profile.measurable_disease),
                       ("resectable", profile.resectable)):
        if flag is not None:
            cexts.append(_ext(name, valueBoolean=flag))
    if cexts:
        condition["extension"] = cexts
    if profile.diagnosis_date:
        condition["onsetDateTime"] = profile.diagnosis_date.isoformat()
    add(condition)

    if profile.stage:
        add({"resourceType": "Observation", "meta": _profile_url("mcode-tnm-stage-group"),
             "status": "final",
             "code": {"coding": [{"system": V.LOINC, "code": V.LOINC_STAGE_CLINICAL,
                                  "display": "Stage group.clinical Cancer"}]},
             "subject": subject,
             "valueCodeableConcept": {
                 "coding": [{"system": V.AJCC, "code": profile.stage}]
                 if re.fullmatch(r"0|I{1,3}[ABC]?|IV[ABC]?", profile.stage) else [],
                 "text": profile.stage}})

    sites = list(profile.metastasis_sites or [])
    for site in sites:
        brain = bool(re.search(r"brain|cns|cerebr", site, re.I))
        status = "active"
        if brain and profile.brain_metastases == "treated_stable":
            status = "inactive"
        secondary: dict[str, Any] = {
            "resourceType": "Condition",
            "meta": _profile_url("mcode-secondary-cancer-condition"),
            "clinicalStatus": {"coding": [{"system": V.CONDITION_CLINICAL, "code": status}]},
            "code": {"text": f"Secondary malignant neoplasm of {site.lower()}"},
            "bodySite": [{"text": site}],
            "subject": subject,
        }
        if profile.metastatic_diagnosis_date:
            secondary["onsetDateTime"] = profile.metastatic_diagnosis_date.isoformat()
        if brain and profile.brain_metastases == "none":
            secondary["verificationStatus"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "refuted"}]}
            secondary.pop("clinicalStatus")
        add(secondary)
    if profile.metastatic_diagnosis_date and not sites:
        # no SecondaryCancerCondition to carry its onset: our extension on the primary
        condition.setdefault("extension", []).append(_ext(
            "metastatic-diagnosis-date", valueDate=profile.metastatic_diagnosis_date.isoformat()))
    if profile.brain_metastases and sites and not any(
        re.search(r"brain|cns|cerebr", s, re.I) for s in sites
    ):
        patient.setdefault("extension", []).append(
            _ext("brain-metastases-status", valueCode=profile.brain_metastases))

    for key, value in profile.biomarkers.items():
        add(_marker(key, value, subject))

    if profile.ecog is not None:
        add(_score("mcode-ecog-performance-status", V.LOINC_ECOG, profile.ecog, subject))
    if profile.karnofsky is not None:
        add(_score("mcode-karnofsky-performance-status", V.LOINC_KARNOFSKY,
                   profile.karnofsky, subject))

    for lab, lv in profile.labs.items():
        value = lv if isinstance(lv, (int, float)) else lv.value
        unit = _LAB_DEFAULT.get(lab, "xULN") if isinstance(lv, (int, float)) else (
            lv.unit or _LAB_DEFAULT.get(lab, "xULN"))
        obs: dict[str, Any] = {
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                      "observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": V.LOINC, "code": V.LAB_LOINC[lab]}]},
            "subject": subject,
        }
        if unit in _LAB_UNITS:
            obs["valueQuantity"] = {"value": value, "unit": unit, "system": V.UCUM,
                                    "code": _LAB_UNITS[unit]}
            if not isinstance(lv, (int, float)) and lv.uln is not None:
                obs["referenceRange"] = [{"high": {"value": lv.uln, "unit": unit}}]
        else:  # × ULN has no UCUM unit: kept as a unitless multiple
            obs["valueQuantity"] = {"value": value}
        add(obs)

    for t in profile.prior_therapies or []:
        words = f"{t.name or ''} {t.therapy_class or ''}"
        texts = {"name": t.name or t.therapy_class or ""}
        exts = []
        if t.line is not None:
            exts.append(_ext("line-of-therapy", valueInteger=t.line))
        if t.setting:
            exts.append(_ext("therapy-setting", valueString=t.setting))
        if t.therapy_class:
            exts.append(_ext("therapy-class", valueString=t.therapy_class))
        if t.progressed is not None:
            exts.append(_ext("disease-progressed", valueBoolean=t.progressed))
        local = _RADIO.search(words) or (_SURGERY.search(words) and not ontology.therapies
                                         .find_drugs(t.name or ""))
        if local:
            radio = bool(_RADIO.search(words))
            proc: dict[str, Any] = {
                "resourceType": "Procedure",
                "meta": _profile_url("mcode-radiotherapy-course-summary" if radio
                                     else "mcode-cancer-related-surgical-procedure"),
                "status": "completed", "code": {"text": texts["name"]}, "subject": subject,
            }
            if t.start_date or t.end_date:
                period = {}
                if t.start_date:
                    period["start"] = t.start_date.isoformat()
                if t.end_date:
                    period["end"] = t.end_date.isoformat()
                proc["performedPeriod"] = period
            if exts:
                proc["extension"] = exts
            add(proc)
            continue
        med: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "meta": _profile_url("mcode-cancer-related-medication-request"),
            "status": "active" if t.ongoing else "completed", "intent": "order",
            "medicationCodeableConcept": {"text": texts["name"]}, "subject": subject,
        }
        if t.start_date:
            med["authoredOn"] = t.start_date.isoformat()
        if t.end_date:
            med["dispenseRequest"] = {"validityPeriod": {"end": t.end_date.isoformat(), **(
                {"start": t.start_date.isoformat()} if t.start_date else {})}}
        if exts:
            med["extension"] = exts
        add(med)

    for text in profile.conditions:
        m = re.match(r"^\s*(?:no|not|without|denies|negative for|never)\s+(.*)$", text, re.I)
        cond: dict[str, Any] = {"resourceType": "Condition", "code": {"text": text},
                                "subject": subject}
        if m:
            cond["code"] = {"text": m.group(1)}
            cond["verificationStatus"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "refuted"}]}
        add(cond)

    if profile.pregnant is not None:
        answer = V.LOINC_ANSWER_PREGNANT if profile.pregnant else V.LOINC_ANSWER_NOT_PREGNANT
        add({"resourceType": "Observation", "status": "final",
             "code": {"coding": [{"system": V.LOINC, "code": V.LOINC_PREGNANCY}]},
             "subject": subject,
             "valueCodeableConcept": {"coding": [{"system": V.LOINC, "code": answer}]}})

    params = dict(parameters or {})
    if profile.zip and "zipCode" not in params:
        params["zipCode"] = profile.zip
    if params:
        add({"resourceType": "Parameters", "parameter": [
            {"name": k, "valueString": str(v)} for k, v in params.items()]})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _score(profile: str, loinc: str, value: int, subject: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Observation", "meta": _profile_url(profile), "status": "final",
            "code": {"coding": [{"system": V.LOINC, "code": loinc}]}, "subject": subject,
            "valueInteger": value}


def _marker(key: str, value: str | float | bool, subject: dict[str, Any]) -> dict[str, Any]:
    germline = bool(re.match(r"^g(?=[A-Z])", key))
    gene = key[1:] if germline else key
    if gene in _GENES and isinstance(value, str):
        negative = bool(re.fullmatch(r"\s*(negative|wild[- ]?type|not detected|absent)\s*",
                                     value, re.I))
        components: list[dict[str, Any]] = [{
            "code": {"coding": [{"system": V.LOINC, "code": V.LOINC_GENE_STUDIED}]},
            "valueCodeableConcept": {"coding": [{"system": V.HGNC, "code": _GENES[gene],
                                                 "display": gene}]},
        }]
        if not negative and value.lower() not in {"positive", "mutated", "detected"}:
            components.append({
                "code": {"coding": [{"system": V.LOINC, "code": V.LOINC_AA_CHANGE}]},
                "valueCodeableConcept": {"text": value},
            })
        if germline:
            components.append({
                "code": {"coding": [{"system": V.LOINC, "code": V.LOINC_SOURCE_CLASS}]},
                "valueCodeableConcept": {"coding": [{"system": V.LOINC,
                                                     "code": V.LOINC_ANSWER_GERMLINE}]},
            })
        answer = V.LOINC_ANSWER_ABSENT if negative else V.LOINC_ANSWER_PRESENT
        return {
            "resourceType": "Observation", "meta": _profile_url("mcode-genomic-variant"),
            "status": "final",
            "code": {"coding": [{"system": V.LOINC, "code": V.LOINC_GENETIC_VARIANT_ASSESSMENT}]},
            "subject": subject,
            "valueCodeableConcept": {"coding": [{"system": V.LOINC, "code": answer}],
                                     "text": value},
            "component": components,
        }
    obs: dict[str, Any] = {
        "resourceType": "Observation", "meta": _profile_url("mcode-tumor-marker-test"),
        "status": "final", "subject": subject,
    }
    if key in _LOINC_MARKER:
        loinc, display = _LOINC_MARKER[key]
        obs["code"] = {"coding": [{"system": V.LOINC, "code": loinc, "display": display}]}
    else:
        obs["code"] = {"text": key}
    if isinstance(value, bool):
        obs["valueBoolean"] = value
    elif isinstance(value, (int, float)):
        obs["valueQuantity"] = {"value": value}
    else:
        obs["valueCodeableConcept"] = {"text": value}
    return obs
