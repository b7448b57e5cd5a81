"""FHIR adapter: mCODE Bundles in, ResearchStudy out (real small index, real parser).

Hand-made mCODE Bundles (``data/fhir/*.bundle.json``: HER2-low breast, EGFR NSCLC,
epithelioid pleural mesothelioma, colorectal) each come with the same patient as a JSON
profile (``*.profile.json``); the gold dev patients are round-tripped through
:mod:`service.fhir.bundle`.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.researchstudy import ResearchStudy

from benchmarks.ranking import gold_profile_to_patient
from matchers.patient import LabValue, PatientProfile
from service.deps import get_today
from service.engine import LoadedIndex
from service.fhir import build as fhir_build
from service.fhir.bundle import profile_to_bundle
from service.fhir.mcode import bundle_to_profile
from service.fhir.research_study import FHIR_JSON

DATA = Path(__file__).parent / "data" / "fhir"
TODAY = date(2025, 3, 1)
BUNDLES = ("breast_her2_low", "nsclc_egfr", "mesothelioma", "colorectal")


def _bundle(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.bundle.json").read_text())
    return data


def _profile(name: str) -> PatientProfile:
    return PatientProfile.model_validate_json((DATA / f"{name}.profile.json").read_text())


@pytest.fixture
def fhir_client(client: TestClient) -> TestClient:
    client.app.dependency_overrides[get_today] = lambda: TODAY  # type: ignore[attr-defined]
    return client


def _ranked_v1(client: TestClient, profile: PatientProfile) -> list[tuple[str, str, float]]:
    body = {"patient": profile.model_dump(mode="json", exclude_defaults=True, by_alias=True),
            "limit": 50}
    r = client.post("/v1/match", json=body)
    assert r.status_code == 200, r.text
    return [(m["nct_id"], m["verdict"], m["score"]) for m in r.json()["results"]]


def _ranked_fhir(client: TestClient, bundle: dict[str, Any],
                 path: str = "/getClinicalTrial") -> list[tuple[str, str, float]]:
    body = {"patientData": bundle} if path == "/getClinicalTrial" else bundle
    r = client.post(path, params={"_count": 50}, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    out = []
    for e in r.json()["entry"]:
        if e["search"]["mode"] != "match":
            continue
        ext = next(x for x in e["resource"]["extension"] if x["url"].endswith("/match-result"))
        verdict = next(x["valueCode"] for x in ext["extension"] if x["url"] == "verdict")
        out.append((e["resource"]["id"], verdict, e["search"]["score"]))
    return out


# --------------------------------------------------------------------------------------
# mCODE in
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLES)
def test_hand_made_bundle_maps_to_its_profile(name: str, ontology: Any) -> None:
    mapped = bundle_to_profile(_bundle(name), ontology=ontology, today=TODAY)
    assert mapped.profile == _profile(name)


def test_codes_resolve_through_each_system(ontology: Any) -> None:
    breast = bundle_to_profile(_bundle("breast_her2_low"), ontology=ontology, today=TODAY)
    # SNOMED "Malignant neoplasm of breast" + ICD-O-3 8500/3 (ductal) → IDC
    assert (breast.profile.cancer_type, breast.profile.histology) == ("IDC", "ductal")
    # letrozole and palbociclib started 7 days apart: one line; capecitabine: line 2
    lines = [(t.name, t.line) for t in breast.profile.prior_therapies or []]
    assert lines == [("letrozole", 1), ("palbociclib", 1), ("capecitabine", 2)]
    # g/L haemoglobin and 10^9/L neutrophils converted to the profile's default units
    assert breast.profile.labs["hemoglobin"] == LabValue(value=11.8, unit="g/dL")
    assert breast.profile.labs["anc"] == LabValue(value=2100.0, unit="/uL")
    lung = bundle_to_profile(_bundle("nsclc_egfr"), ontology=ontology, today=TODAY)
    # ICD-10 C34.11 (LUNG) and SNOMED 254626006 (LUAD): the specific one wins
    assert lung.profile.cancer_type == "LUAD"
    assert lung.profile.biomarkers["EGFR"] == "exon 19 deletion (p.E746_A750del)"
    assert lung.profile.brain_metastases == "none"  # refuted brain SecondaryCancerCondition
    assert lung.profile.ecog == 1  # LOINC answer LA9623-5
    assert lung.profile.stage == "IVB"  # pathological stage group, AJCC code 4B
    crc = bundle_to_profile(_bundle("colorectal"), ontology=ontology, today=TODAY)
    assert crc.profile.labs["creatinine"] == LabValue(value=0.9952, unit="mg/dL")  # 88 µmol/L


def _lab_bundle(loinc: str, quantity: dict[str, Any], **extra: Any) -> dict[str, Any]:
    bundle = _bundle("mesothelioma")
    bundle["entry"].append({"resource": {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "valueQuantity": quantity, **extra}})
    return bundle


def test_lab_units_are_converted_or_reported(ontology: Any) -> None:
    ast = _lab_bundle("1920-8", {"value": 80, "system": "http://unitsofmeasure.org",
                                 "code": "U/L"}, referenceRange=[{"high": {"value": 40}}])
    labs = bundle_to_profile(ast, ontology=ontology, today=TODAY).profile.labs
    assert labs["ast"] == LabValue(value=2.0, unit="xULN")
    bili = _lab_bundle("1975-2", {"value": 34.2, "system": "http://unitsofmeasure.org",
                                  "code": "umol/L"})
    labs = bundle_to_profile(bili, ontology=ontology, today=TODAY).profile.labs
    assert labs["bilirubin"] == LabValue(value=2.0, unit="mg/dL")
    odd = _lab_bundle("718-7", {"value": 7, "system": "http://unitsofmeasure.org",
                                "code": "mg/mL"})
    mapped = bundle_to_profile(odd, ontology=ontology, today=TODAY)
    assert "hemoglobin" not in mapped.profile.labs
    assert any(u.path == "Bundle.entry[7].resource.valueQuantity.code" for u in mapped.unmapped)
    no_uln = _lab_bundle("1742-6", {"value": 80, "code": "U/L"})
    mapped = bundle_to_profile(no_uln, ontology=ontology, today=TODAY)
    assert "alt" not in mapped.profile.labs
    assert any(u.path.endswith("referenceRange") for u in mapped.unmapped)


def test_unmappable_codes_are_reported_with_their_paths(ontology: Any) -> None:
    mapped = bundle_to_profile(_bundle("breast_her2_low"), ontology=ontology, today=TODAY)
    paths = {u.path: u for u in mapped.unmapped}
    assert paths["Bundle.entry[13].resource.medicationCodeableConcept"].code == "6809"
    assert "Bundle.entry[16].resource" in paths  # DiagnosticReport
    crc = bundle_to_profile(_bundle("colorectal"), ontology=ontology, today=TODAY)
    miss = [u for u in crc.unmapped if u.code == "1286877004"]
    assert miss and miss[0].path == "Bundle.entry[1].resource.code.coding[0]"
    assert miss[0].system == "http://snomed.info/sct"


def test_absent_resources_mean_unknown(ontology: Any) -> None:
    bundle = _bundle("nsclc_egfr")
    bundle["entry"] = bundle["entry"][:2]  # Patient + PrimaryCancerCondition only
    profile = bundle_to_profile(bundle, ontology=ontology, today=TODAY).profile
    assert profile.prior_therapies is None
    assert profile.brain_metastases is None
    assert profile.ecog is None and profile.biomarkers == {}
    meso = bundle_to_profile(_bundle("mesothelioma"), ontology=ontology, today=TODAY).profile
    assert meso.prior_therapies == []  # prior-therapies-complete extension, none listed


@pytest.mark.parametrize("patient", range(10))
def test_gold_profile_round_trips_through_a_bundle(patient: int, ontology: Any,
                                                   shared_dir: Path) -> None:
    gold = json.loads((shared_dir / "data/benchmarks/gold_patients/dev.json").read_text())
    profile = gold_profile_to_patient(gold["patients"][patient]["profile"])
    bundle = profile_to_bundle(profile, ontology=ontology, today=TODAY)
    Bundle.model_validate(bundle)
    back = bundle_to_profile(bundle, ontology=ontology, today=TODAY).profile
    assert back == profile


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_and_json_profile_give_the_same_ranking(name: str,
                                                       fhir_client: TestClient) -> None:
    bundle = _bundle(name)
    bundle["entry"] = [e for e in bundle["entry"]
                       if e["resource"]["resourceType"] != "Parameters"]
    v1 = _ranked_v1(fhir_client, _profile(name).model_copy(update={"zip": None}))
    assert v1, "the small index ranks some trials"
    assert _ranked_fhir(fhir_client, bundle) == v1
    params = {"resourceType": "Parameters",
              "parameter": [{"name": "trialMatchClinicalData", "resource": bundle}]}
    assert _ranked_fhir(fhir_client, params, "/fhir/ResearchStudy/$match") == v1


@pytest.mark.parametrize("patient", [2, 3, 7])
def test_round_tripped_gold_patient_ranks_the_same(patient: int, fhir_client: TestClient,
                                                   ontology: Any, shared_dir: Path) -> None:
    gold = json.loads((shared_dir / "data/benchmarks/gold_patients/dev.json").read_text())
    profile = gold_profile_to_patient(gold["patients"][patient]["profile"])
    bundle = profile_to_bundle(profile, ontology=ontology, today=TODAY)
    assert _ranked_fhir(fhir_client, bundle) == _ranked_v1(fhir_client, profile)


def test_searchset_shape_and_every_entry_validates(fhir_client: TestClient) -> None:
    r = fhir_client.post("/getClinicalTrial", json={"patientData": _bundle("breast_her2_low")})
    assert r.status_code == 200, r.text
    body = r.json()
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    matches = [e for e in body["entry"] if e["search"]["mode"] == "match"]
    assert matches
    for e in matches:
        assert 0.0 <= e["search"]["score"] <= 1.0
        study = ResearchStudy.model_validate(e["resource"])
        assert study.identifier[0].value == e["resource"]["id"]
        result = next(x for x in e["resource"]["extension"] if x["url"].endswith("/match-result"))
        criteria = [x for x in result["extension"] if x["url"] == "criterion"]
        statuses = {next(s["valueCode"] for s in c["extension"] if s["url"] == "status")
                    for c in criteria}
        assert statuses <= {"met", "not_met", "unknown"} and criteria
    # unmapped elements come back as an OperationOutcome entry naming each element
    outcome = next(e["resource"] for e in body["entry"] if e["search"]["mode"] == "outcome")
    OperationOutcome.model_validate(outcome)
    expressions = {i["expression"][0] for i in outcome["issue"]}
    assert "Bundle.entry[13].resource.medicationCodeableConcept" in expressions


def test_travel_radius_keeps_only_trials_with_a_site_that_near(fhir_client: TestClient) -> None:
    bundle = _bundle("breast_her2_low")
    near = copy.deepcopy(bundle)
    near["entry"][-1]["resource"]["parameter"][1]["valueString"] = "1"
    r = fhir_client.post("/getClinicalTrial", json={"patientData": near})
    assert r.status_code == 200
    for e in r.json()["entry"]:
        if e["search"]["mode"] != "match":
            continue
        ext = next(x for x in e["resource"]["extension"] if x["url"].endswith("/match-result"))
        site = next(x for x in ext["extension"] if x["url"] == "nearest-site")
        km = next(x["valueDecimal"] for x in site["extension"] if x["url"] == "distance-km")
        assert km <= 1.609344


def test_every_loaded_trial_renders_as_a_valid_research_study(
    fhir_client: TestClient, small_loaded: LoadedIndex
) -> None:
    for trial in small_loaded.index:
        nct = trial.summary.nct_id
        r = fhir_client.get(f"/fhir/ResearchStudy/{nct}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith(FHIR_JSON)
        rs = r.json()
        ResearchStudy.model_validate(rs)
        assert rs["identifier"][0] == {"use": "official", "system": "http://clinicaltrials.gov",
                                       "value": nct}
        assert rs["enrollment"][0]["display"] == (trial.summary.eligibility_text
                                                  or "(no eligibility criteria given)")
        assert len(rs.get("site", [])) == len(trial.summary.sites)
        structured = next(x for x in rs["extension"]
                          if x["url"].endswith("/structured-eligibility"))
        criteria = [x for x in structured["extension"] if x["url"] == "criterion"]
        assert len(criteria) == len(trial.parsed.criteria)


def test_research_study_maps_status_phase_and_conditions(fhir_client: TestClient,
                                                         small_loaded: LoadedIndex) -> None:
    trial = small_loaded.index.get("NCT04862663")
    assert trial is not None
    rs = fhir_client.get("/fhir/ResearchStudy/NCT04862663").json()
    assert rs["title"] == trial.summary.title
    assert [c["text"] for c in rs["condition"]] == list(trial.summary.conditions)
    coded = {c["code"] for cc in rs["condition"] for c in cc.get("coding", [])}
    assert coded & {"BREAST", "BRCA", "IDC"}


def test_unknown_trial_is_an_operation_outcome_404(fhir_client: TestClient) -> None:
    r = fhir_client.get("/fhir/ResearchStudy/NCT99999999")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith(FHIR_JSON)
    OperationOutcome.model_validate(r.json())
    assert r.json()["issue"][0]["code"] == "not-found"


def test_invalid_bundle_is_a_422_naming_the_element(fhir_client: TestClient) -> None:
    bundle = _bundle("nsclc_egfr")
    bundle["entry"][0]["resource"]["birthDate"] = "19-07-1963"
    bundle["entry"][3]["resource"]["valueQuantity"] = {"value": 1}  # two value[x]
    r = fhir_client.post("/getClinicalTrial", json={"patientData": bundle})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(FHIR_JSON)
    outcome = r.json()
    OperationOutcome.model_validate(outcome)
    expressions = [i["expression"][0] for i in outcome["issue"]]
    assert "Bundle.entry[0].resource.birthDate" in expressions
    assert "Bundle.entry[3].resource" in expressions
    assert "19-07-1963" not in r.text  # the value sent is not echoed


def test_unknown_resource_type_and_missing_cancer(fhir_client: TestClient) -> None:
    bundle = _bundle("mesothelioma")
    bundle["entry"].append({"resource": {"resourceType": "Medicament"}})
    r = fhir_client.post("/getClinicalTrial", json={"patientData": bundle})
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Bundle.entry[7].resource.resourceType"]
    no_cancer = _bundle("mesothelioma")
    no_cancer["entry"] = [no_cancer["entry"][0]]
    r = fhir_client.post("/fhir/ResearchStudy/$match", json=no_cancer)
    assert r.status_code == 422
    assert r.json()["issue"][0]["code"] == "required"


def test_envelope_errors_are_400(fhir_client: TestClient) -> None:
    r = fhir_client.post("/getClinicalTrial", json={"patient": {}})
    assert r.status_code == 400
    OperationOutcome.model_validate(r.json())
    r = fhir_client.post("/getClinicalTrial", json={"patientData": {"resourceType": "Patient"}})
    assert r.status_code == 400


def test_patient_data_may_be_a_json_string(fhir_client: TestClient) -> None:
    bundle = _bundle("mesothelioma")
    r = fhir_client.post("/getClinicalTrial", json={"patientData": json.dumps(bundle)})
    assert r.status_code == 200, r.text


def test_from_fhir_returns_the_mapping_as_json(fhir_client: TestClient) -> None:
    r = fhir_client.post("/v1/patients/from-fhir", json=_bundle("colorectal"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["profile"]["cancer_type"] == "COAD"
    assert body["sources"]["cancer_type"] == "Bundle.entry[1].resource.code"
    assert any(u["code"] == "1286877004" for u in body["unmapped"])
    bad = _bundle("colorectal")
    bad["entry"][0]["resource"]["gender"] = 7
    r = fhir_client.post("/v1/patients/from-fhir", json=bad)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_bundle"
    assert r.json()["detail"][0]["loc"] == ["Bundle.entry[0].resource.gender"]


def test_capability_statement(fhir_client: TestClient) -> None:
    r = fhir_client.get("/fhir/metadata")
    assert r.status_code == 200
    cs = CapabilityStatement.model_validate(r.json())
    assert cs.fhirVersion == "4.0.1"


def test_committed_code_tables_are_current(shared_dir: Path, ontology: Any) -> None:
    source = shared_dir / "data" / "ontologies" / "mcode"
    text = fhir_build.render(fhir_build.build(source, ontology))
    assert fhir_build.DEFAULT_OUT.read_text() == text, "run python -m service.fhir.build"
