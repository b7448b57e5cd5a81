"""mCODE STU3 Bundle → :class:`matchers.patient.PatientProfile`.

:func:`read_bundle` validates a Bundle with the FHIR R4 models of ``fhir.resources``
(R4B package: the resources used here are unchanged from R4 4.0.1), then
:func:`bundle_to_profile` maps its mCODE resources. Every mapping below names its element
path and code system; a resource is recognised by its mCODE profile in ``meta.profile``
(STU3 names, STU1/2 names accepted) or, without one, by its code.

Mappings (profile field ← element, code system; notes):

* ``age`` ← CancerPatient ``Patient.birthDate``: whole years at ``today``;
* ``sex`` ← ``Patient.gender`` (``other``/``unknown`` stay unknown, reported);
* ``cancer_type`` ← PrimaryCancerCondition ``Condition.code``: an OncoTree coding, else
  SNOMED CT (the mCODE table of :mod:`service.fhir.build`), NCIt or UMLS (the OncoTree
  nodes' references), ICD-10(-CM) C-codes (topography table), else the text; an ICD-O-3
  morphology in the ``mcode-histology-morphology-behavior`` extension that names one
  node (9052/3 → PLEMESO) refines it;
* ``histology`` ← that extension (ICD-O-3 table, SNOMED CT display, text);
* ``diagnosis_date`` ← ``Condition.onsetDateTime`` (else ``recordedDate``);
* ``stage`` ← TNMStageGroup ``Observation.valueCodeableConcept`` (LOINC 21908-9
  clinical, 21902-2 pathological; pathological wins): SNOMED CT stage qualifiers, AJCC
  ``cancerstaging.org`` codes (``c3A``) or text; else ``Condition.stage.summary``;
* ``metastasis_sites`` ← SecondaryCancerCondition ``bodySite`` / ``code`` (SNOMED CT
  table or text); ``metastatic_diagnosis_date`` ← its earliest ``onsetDateTime``;
* ``brain_metastases`` ← a SecondaryCancerCondition at the brain: ``clinicalStatus``
  active → ``active``, inactive/remission/resolved → ``treated_stable``;
  ``verificationStatus`` refuted → ``none``;
* ``biomarkers`` ← TumorMarkerTest ``Observation.code`` (LOINC: HER2 IHC/ISH, ER, PR,
  PD-L1 TPS/CPS, Ki-67 …; keys ``HER2_IHC``, ``HER2_ISH``, ``ER``, ``PD-L1_TPS``) and
  ``value[x]`` (Quantity → number, CodeableConcept → its text or SNOMED CT
  positive/negative, interpretation POS/NEG); GenomicVariant ``component`` 48018-6
  (HGNC gene), 48005-3 / 48004-6 / 81252-9 (HGVS or text), 48002-0 (germline source →
  key ``g`` + gene), ``value[x]`` LA9633-4 present / LA9634-2 absent (→ ``negative``);
* ``ecog`` / ``karnofsky`` ← ``Observation`` LOINC 89247-1 / 89243-0 (``valueInteger``
  or a LOINC answer code);
* ``prior_therapies`` ← CancerRelatedMedicationRequest / Administration / Statement
  ``medicationCodeableConcept`` (RxNorm coding's display, or the text; dates from
  ``authoredOn`` / ``effective[x]``; ``statusReason`` "progression" → progressed),
  CancerRelatedSurgicalProcedure and RadiotherapyCourseSummary ``Procedure.code``
  (class surgery / radiotherapy, ``performed[x]`` dates). Lines: this service's
  ``line-of-therapy`` extension, else systemic drugs started within 28 days of a
  line's first drug share that line (:data:`LINE_WINDOW`);
* ``labs`` ← laboratory ``Observation`` (LOINC table of :mod:`service.fhir.vocab`),
  ``valueQuantity`` converted from its UCUM unit to the lab's default unit (counts
  /µL, haemoglobin g/dL, creatinine and bilirubin mg/dL, clearance mL/min; AST/ALT in
  U/L divided by ``referenceRange.high`` → × ULN);
* ``pregnant`` ← ``Observation`` LOINC 82810-3 (LA15173-0 / LA26683-5);
* ``conditions`` ← other ``Condition`` resources (display or text; refuted → "no …");
* ``zip`` and the search filters ← ``Parameters``: ``zipCode``, ``travelRadius``
  (miles), ``phase``, ``recruitmentStatus`` (MITRE clinical-trial-matching-service).

**Absent means unknown.** No medication/procedure resource leaves ``prior_therapies``
unknown (None), never ``[]``; no SecondaryCancerCondition at the brain leaves
``brain_metastases`` unknown. Only this service's extension
``…/prior-therapies-complete`` (valueBoolean true on the Patient) states that the listed
therapies are all there are (so none listed means none).

**Nothing is dropped silently.** A code or resource that cannot be mapped is kept in
:attr:`MappedPatient.unmapped` with its element path, system, code and the reason.

Extensions of this service (``https://trialmatch.dev/fhir/StructureDefinition/…``) carry
what mCODE has no element for, so a profile survives profile → Bundle → profile
(:mod:`service.fhir.bundle`): ``line-of-therapy``, ``therapy-setting``,
``therapy-class``, ``disease-progressed`` (on therapies); ``measurable-disease``,
``resectable`` (on the primary condition); ``menopausal-status``,
``prior-therapies-complete``, ``brain-metastases-status`` (on the Patient),
``metastatic-diagnosis-date`` (on the primary condition, when no SecondaryCancerCondition
carries the onset).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from matchers.patient import PatientProfile
from ontologies import Ontology
from service.fhir import vocab as V
from service.fhir.errors import InvalidBundle, InvalidFhirRequest, NotMappable

# --------------------------------------------------------------------------------------
# Output models
# --------------------------------------------------------------------------------------


class Unmapped(BaseModel):
    """One element the adapter could not map: where (``path``), what (``system``,
    ``code``, ``display`` when given) and why (``reason``)."""

    model_config = ConfigDict(frozen=True)

    path: str
    system: str | None = None
    code: str | None = None
    display: str | None = None
    reason: str


class SearchParameters(BaseModel):
    """The ``Parameters`` resource of a MITRE-style patient Bundle.

    ``zip_code`` (US ZIP), ``travel_radius_mi`` (miles), ``phases`` (CT.gov phase
    values: ``PHASE1`` …), ``statuses`` (CT.gov overall statuses: ``RECRUITING`` …);
    empty means "not given".
    """

    model_config = ConfigDict(frozen=True)

    zip_code: str | None = None
    travel_radius_mi: float | None = None
    phases: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()


class MappedPatient(BaseModel):
    """What a Bundle gave: the profile, the search parameters, the unmapped elements,
    and for each profile field the element path it came from (``sources``)."""

    model_config = ConfigDict(frozen=True)

    profile: PatientProfile
    parameters: SearchParameters = SearchParameters()
    unmapped: tuple[Unmapped, ...] = ()
    sources: dict[str, str] = {}


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _path(prefix: str, loc: Iterable[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _issues(prefix: str, exc: ValidationError) -> list[tuple[str, str]]:
    issues = []
    for err in exc.errors()[:20]:
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown element (not in the FHIR R4 definition)"
        elif err.get("type") == "missing":
            msg = "required element is missing"
        issues.append((_path(prefix, err.get("loc", ())), msg))
    return issues


def read_bundle(raw: Any) -> list[tuple[str, Any]]:
    """Validate a Bundle (a JSON object) and return ``(path, resource)`` per entry with
    a resource, ``path`` being ``Bundle.entry[i].resource``.

    Each resource is validated with its ``fhir.resources`` (R4B) model, then the Bundle
    itself. Raises :class:`InvalidBundle` naming every element that fails (at most 20),
    :class:`InvalidFhirRequest` when ``raw`` is not a JSON object of resourceType Bundle.
    """
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        raise InvalidFhirRequest(
            "Expected a FHIR Bundle (a JSON object with resourceType 'Bundle').",
            [("Bundle.resourceType", "must be 'Bundle'")],
        )
    entries = raw.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidBundle("Bundle.entry must be a list.", [("Bundle.entry", "must be a list")])
    issues: list[tuple[str, str]] = []
    resources: list[tuple[str, Any]] = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            issues.append((where, "must be an object"))
            continue
        res = entry.get("resource")
        if res is None:
            continue
        where += ".resource"
        rtype = res.get("resourceType") if isinstance(res, dict) else None
        try:
            model = get_fhir_model_class(str(rtype))
        except ValueError:
            issues.append((f"{where}.resourceType", "unknown or missing FHIR resource type"))
            continue
        try:
            resources.append((where, model.model_validate(res)))
        except ValidationError as exc:
            issues.extend(_issues(where, exc))
        except (KeyError, TypeError, ValueError) as exc:  # fhir_core's own lookups
            issues.append((where, f"not a valid {rtype} ({type(exc).__name__})"))
    if not issues:
        shell = {**raw, "entry": [{k: v for k, v in e.items() if k != "resource"}
                                  for e in entries if isinstance(e, dict)]}
        try:
            Bundle.model_validate(shell)
        except ValidationError as exc:
            issues.extend(_issues("Bundle", exc))
    if issues:
        shown = "; ".join(f"{p}: {m}" for p, m in issues[:5])
        more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
        raise InvalidBundle(f"Invalid FHIR Bundle. {shown}{more}", issues)
    return resources


# --------------------------------------------------------------------------------------
# Small readers over validated models
# --------------------------------------------------------------------------------------


def _profiles(res: Any) -> list[str]:
    meta = getattr(res, "meta", None)
    return [str(p) for p in (getattr(meta, "profile", None) or [])]


def _has_profile(res: Any, *names: str) -> bool:
    return any(p.rstrip("/").rsplit("/", 1)[-1] in names for p in _profiles(res))


def _codings(cc: Any) -> list[Any]:
    return list(getattr(cc, "coding", None) or []) if cc is not None else []


def _text(cc: Any) -> str | None:
    if cc is None:
        return None
    text = getattr(cc, "text", None)
    if text:
        return str(text)
    for c in _codings(cc):
        if getattr(c, "display", None):
            return str(c.display)
    return None


def _code_in(cc: Any, system: str | None, codes: Iterable[str]) -> str | None:
    wanted = set(codes)
    for c in _codings(cc):
        if (system is None or getattr(c, "system", None) == system) and str(c.code) in wanted:
            return str(c.code)
    return None


def _loinc(cc: Any) -> list[str]:
    return [str(c.code) for c in _codings(cc) if getattr(c, "system", None) == V.LOINC and c.code]


def _ext(res: Any, name: str) -> Any:
    for e in getattr(res, "extension", None) or []:
        if str(e.url) == V.TRIALMATCH + name:
            return e
    return None


def _ext_value(res: Any, name: str) -> Any:
    e = _ext(res, name)
    if e is None:
        return None
    for attr in ("valueBoolean", "valueInteger", "valueString", "valueCode", "valueDecimal",
                 "valueDate"):
        v = getattr(e, attr, None)
        if v is not None:
            return v
    return None


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", text)
    if not m:
        return None
    return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))


def _num(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (int, float)):
        return value
    return None


def _years_between(born: date, today: date) -> int:
    years = today.year - born.year
    if (today.month, today.day) < (born.month, born.day):
        years -= 1
    return years


# --------------------------------------------------------------------------------------
# Mapping
# --------------------------------------------------------------------------------------

PRIMARY = ("mcode-primary-cancer-condition",)
SECONDARY = ("mcode-secondary-cancer-condition",)
STAGE = ("mcode-tnm-stage-group", "mcode-cancer-stage", "mcode-tnm-clinical-stage-group",
         "mcode-tnm-pathological-stage-group", "mcode-cancer-stage-group")
TUMOR_MARKER = ("mcode-tumor-marker-test", "mcode-tumor-marker")
GENOMIC = ("mcode-genomic-variant", "mcode-cancer-genetic-variant")
ECOG = ("mcode-ecog-performance-status",)
KARNOFSKY = ("mcode-karnofsky-performance-status",)
MEDICATION = ("mcode-cancer-related-medication-request",
              "mcode-cancer-related-medication-administration",
              "mcode-cancer-related-medication-statement")
SURGERY = ("mcode-cancer-related-surgical-procedure",)
RADIOTHERAPY = ("mcode-radiotherapy-course-summary", "mcode-cancer-related-radiation-procedure",
                "mcode-radiotherapy-volume")
HISTOLOGY_EXT = "mcode-histology-morphology-behavior"

LINE_WINDOW = timedelta(days=28)
"""Systemic drugs started within this window of a line's first drug form one line (the
regimen rule of real-world line-of-therapy algorithms)."""

_PHASES = {
    "early-phase-1": ("EARLY_PHASE1",), "phase-1": ("PHASE1",),
    "phase-1-phase-2": ("PHASE1", "PHASE2"),
    "phase-2": ("PHASE2",), "phase-2-phase-3": ("PHASE2", "PHASE3"), "phase-3": ("PHASE3",),
    "phase-4": ("PHASE4",), "n-a": ("NA",),
}
_STATUSES = {
    "active": ("RECRUITING",), "approved": ("NOT_YET_RECRUITING",),
    "closed-to-accrual": ("ACTIVE_NOT_RECRUITING",),
    "temporarily-closed-to-accrual": ("SUSPENDED", "TEMPORARILY_NOT_AVAILABLE"),
    "completed": ("COMPLETED",), "administratively-completed": ("TERMINATED",),
    "withdrawn": ("WITHDRAWN",), "in-review": ("NOT_YET_RECRUITING",),
}
_RADIOTHERAPY_WORDS = re.compile(r"radiat|radiother|radiosurg|brachy|\bsbrt\b|\bsrs\b", re.I)
_SURGERY_WORDS = re.compile(r"ectomy|resect|surg|excision|debulk", re.I)
_BRAIN = re.compile(r"\bbrain|cerebr|cerebell|intracranial|\bcns\b", re.I)
_SECONDARY_WORDS = re.compile(
    r"^\s*(?:secondary malignant neoplasm|metastasis (?:to|of)|metastatic (?:disease|tumou?r) "
    r"(?:to|of|in))\b", re.I)
_STAGE_TEXT = re.compile(r"(?:stage\s*)?\b([cpy]{0,2})?(0|IV|I{1,3}|[1-4])([ABC])?\b", re.I)


@dataclass
class _Acc:
    """What the mapping has gathered so far."""

    today: date
    profile: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    unmapped: list[Unmapped] = field(default_factory=list)
    therapies: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)
    stage_path: dict[str, tuple[str, str]] = field(default_factory=dict)

    def put(self, key: str, value: Any, path: str) -> None:
        self.profile[key] = value
        self.sources[key] = path

    def miss(self, path: str, reason: str, coding: Any = None, cc: Any = None) -> None:
        if coding is None and cc is not None:
            codings = _codings(cc)
            coding = codings[0] if codings else None
            if coding is None:
                self.unmapped.append(Unmapped(path=path, display=_text(cc), reason=reason))
                return
        self.unmapped.append(Unmapped(
            path=path,
            system=str(coding.system) if coding is not None and coding.system else None,
            code=str(coding.code) if coding is not None and coding.code else None,
            display=str(coding.display) if coding is not None and coding.display else None,
            reason=reason,
        ))


class _Mapper:
    def __init__(self, ontology: Ontology, today: date) -> None:
        self.onto = ontology
        self.vocab = V.load_vocab()
        self.acc = _Acc(today=today)

    # ---- cancer type --------------------------------------------------------------

    def cancer_code(self, cc: Any, path: str) -> str | None:
        """OncoTree code of a CodeableConcept (module table), or None. Every coding and
        the text are read; the most specific code wins when the others are its
        ancestors (ICD-10 C34.1 → LUNG, SNOMED "Adenocarcinoma of lung" → LUAD: LUAD),
        else the first coding's."""
        tree = self.onto.cancer_types
        found: list[str] = []
        for i, c in enumerate(_codings(cc)):
            system, code = str(c.system or ""), str(c.code or "")
            hit: str | None = None
            if system == V.ONCOTREE and tree.get(code) is not None:
                hit = code
            elif system == V.SNOMED and code in self.vocab.cancer:
                hit = self.vocab.cancer[code]["oncotree"]
            elif system in V.NCIT_SYSTEMS or system == V.UMLS:
                hit = self._by_reference(code, system)
            elif system in (V.ICD10CM, V.ICD10):
                hit = self.vocab.icd10_oncotree(code)
            if hit is not None:
                found.append(hit)
            elif not (system == V.SNOMED and c.display):
                self.acc.miss(f"{path}.coding[{i}]", "code not in the cancer-type tables", c)
        for text in [getattr(cc, "text", None), *[c.display for c in _codings(cc)]]:
            if not text:
                continue
            cleaned = re.sub(r"\s*\((?:disorder|morphologic abnormality)\)\s*$", "", str(text))
            for match in tree.resolve(cleaned, limit=1):
                if match.score >= 85 and (not found or tree.is_within(match.code, found[0])):
                    found.append(str(match.code))
        if not found:
            return None
        best = found[0]
        for code in found[1:]:
            if tree.is_within(code, best):
                best = code
        return best

    def _refine(self, code: str, histology: str) -> str:
        """A site-level code made specific by the histology when exactly one of the
        OncoTree codes the ontology ties to that histology lies under it ("Lung" +
        adenocarcinoma → LUAD; "Bowel" + adenocarcinoma stays: several)."""
        tree = self.onto.cancer_types
        term_id = self.onto.histology.resolve(histology)
        term = self.onto.histology.terms.get(term_id) if term_id else None
        if term is None:
            return code
        inside = [c for c in term.cancer_codes if c != code and tree.get(c) is not None
                  and tree.is_within(c, code)]
        return inside[0] if len(inside) == 1 else code

    def _by_reference(self, code: str, system: str) -> str | None:
        tree = self.onto.cancer_types
        for node in tree.nodes.values():
            refs = node.umls if system == V.UMLS else node.nci
            if code in refs:
                return str(node.code)
        return None

    def histology(self, res: Any, path: str) -> tuple[str | None, str | None]:
        """(histology words, OncoTree code the morphology alone implies) from the
        histology-morphology-behavior extension."""
        for j, e in enumerate(getattr(res, "extension", None) or []):
            if not str(e.url).endswith(HISTOLOGY_EXT):
                continue
            cc = e.valueCodeableConcept
            where = f"{path}.extension[{j}].valueCodeableConcept"
            node: str | None = None
            words: str | None = None
            for i, c in enumerate(_codings(cc)):
                code = str(c.code or "")
                if c.system == V.ICDO3:
                    head = code.split("/")[0]
                    node = node or V.ICDO3_ONCOTREE.get(head)
                    term = V.ICDO3_HISTOLOGY.get(head)
                    if term:
                        words = words or term
                    elif not c.display:
                        self.acc.miss(f"{where}.coding[{i}]", "ICD-O-3 morphology not mapped", c)
            text = _text(cc)
            if words is None and text and self.onto.histology.resolve(text):
                words = text
            if words is None and text is None:
                self.acc.miss(where, "histology without text or a known code", cc=cc)
            elif words is None:
                words = text
                self.acc.miss(where, "histology names no known histologic type (text kept)",
                              cc=cc)
            return words, node
        return None, None

    def primary(self, path: str, res: Any) -> None:
        code = self.cancer_code(res.code, f"{path}.code")
        words, node = self.histology(res, path)
        if code is None and node is None:
            self.acc.miss(f"{path}.code", "cancer type resolves to no OncoTree code", cc=res.code)
            return
        if "cancer_type" in self.acc.profile:
            self.acc.miss(f"{path}.code", "another primary cancer condition came first",
                          cc=res.code)
            if code:
                self.acc.profile.setdefault("conditions", []).append(
                    f"other malignancy: {_text(res.code) or code}")
            return
        tree = self.onto.cancer_types
        if node is not None and (code is None or tree.is_within(node, code)):
            code = node
        if code is not None and words and tree.children(code):
            code = self._refine(code, words)
        self.acc.put("cancer_type", code, f"{path}.code")
        if words:
            self.acc.put("histology", words, f"{path}.extension[{HISTOLOGY_EXT}]")
        onset = _as_date(getattr(res, "onsetDateTime", None)) or _as_date(
            getattr(res, "recordedDate", None))
        if onset:
            self.acc.put("diagnosis_date", onset, f"{path}.onsetDateTime")
        metastatic = _as_date(_ext_value(res, "metastatic-diagnosis-date"))
        if metastatic and "metastatic_diagnosis_date" not in self.acc.profile:
            self.acc.put("metastatic_diagnosis_date", metastatic,
                         f"{path}.extension[metastatic-diagnosis-date]")
        for name, key in (("measurable-disease", "measurable_disease"),
                          ("resectable", "resectable")):
            v = _ext_value(res, name)
            if isinstance(v, bool):
                self.acc.put(key, v, f"{path}.extension[{name}]")
        for k, st in enumerate(getattr(res, "stage", None) or []):
            label = self.stage_label(st.summary, f"{path}.stage[{k}].summary")
            if label:
                self.acc.stage_path.setdefault("condition", (label, f"{path}.stage[{k}].summary"))

    # ---- stage ----------------------------------------------------------------------

    def stage_label(self, cc: Any, path: str) -> str | None:
        for c in _codings(cc):
            code = str(c.code or "")
            if c.system == V.SNOMED and code in self.vocab.stage:
                return self.vocab.stage[code]
            if c.system == V.AJCC:
                label = _ajcc_label(code)
                if label:
                    return label
        text = _text(cc)
        label = _ajcc_label(text) if text else None
        if label is None and text:
            self.acc.miss(path, "stage group not recognised as an AJCC group (text kept)", cc=cc)
            return text.strip()[:50]
        if label is None:
            self.acc.miss(path, "stage group not recognised (SNOMED CT, AJCC or text)", cc=cc)
        return label

    def stage(self, path: str, res: Any) -> None:
        kind = "pathological" if (
            _code_in(res.code, V.LOINC, [V.LOINC_STAGE_PATHOLOGICAL])
            or _has_profile(res, "mcode-tnm-pathological-stage-group")
        ) else "clinical"
        label = self.stage_label(res.valueCodeableConcept, f"{path}.valueCodeableConcept")
        if label:
            self.acc.stage_path.setdefault(kind, (label, f"{path}.valueCodeableConcept"))

    # ---- secondary cancer -------------------------------------------------------------

    def secondary(self, path: str, res: Any) -> None:
        site: str | None = None
        for i, bs in enumerate(getattr(res, "bodySite", None) or []):
            for c in _codings(bs):
                if c.system == V.SNOMED and str(c.code) in self.vocab.metastasis:
                    site = self.vocab.metastasis[str(c.code)]
            site = site or _text(bs)
            if site is None:
                self.acc.miss(f"{path}.bodySite[{i}]", "metastasis site code not mapped", cc=bs)
        if site is None:
            for c in _codings(res.code):
                if c.system == V.SNOMED and str(c.code) in self.vocab.metastasis:
                    site = self.vocab.metastasis[str(c.code)]
        if site is None:
            text = _text(res.code) or ""
            m = re.search(r"(?:neoplasm|metastas[ie]s?|tumou?r)\s+(?:of|to|in)\s+(?:the\s+)?(.+)$",
                          text, re.I)
            site = m.group(1).strip() if m else None
        if site is None:
            self.acc.miss(f"{path}.code", "metastasis site not found", cc=res.code)
            return
        ver = _code_in(getattr(res, "verificationStatus", None), None, ["refuted"])
        if ver:
            if _BRAIN.search(site):
                self.acc.put("brain_metastases", "none", f"{path}.verificationStatus")
            return
        sites = self.acc.profile.setdefault("metastasis_sites", [])
        if site not in sites:
            sites.append(site)
        self.acc.sources.setdefault("metastasis_sites", f"{path}.bodySite")
        onset = _as_date(getattr(res, "onsetDateTime", None))
        if onset:
            prev = self.acc.profile.get("metastatic_diagnosis_date")
            if prev is None or onset < prev:
                self.acc.put("metastatic_diagnosis_date", onset, f"{path}.onsetDateTime")
        if _BRAIN.search(site) and "brain_metastases" not in self.acc.profile:
            status = _code_in(getattr(res, "clinicalStatus", None), V.CONDITION_CLINICAL,
                              ["active", "recurrence", "relapse", "inactive", "remission",
                               "resolved"])
            inactive = status in {"inactive", "remission", "resolved"}
            value = "treated_stable" if inactive else "active"
            self.acc.put("brain_metastases", value, f"{path}.clinicalStatus")

    # ---- observations -------------------------------------------------------------

    def observation(self, path: str, res: Any) -> None:
        codes = _loinc(res.code)
        if _has_profile(res, *STAGE) or set(codes) & V.STAGE_GROUP_CODES:
            return self.stage(path, res)
        if _has_profile(res, *ECOG) or V.LOINC_ECOG in codes:
            return self.score(path, res, "ecog", self.vocab.ecog, 0, 4)
        if _has_profile(res, *KARNOFSKY) or V.LOINC_KARNOFSKY in codes:
            return self.score(path, res, "karnofsky", self.vocab.karnofsky, 0, 100)
        if _has_profile(res, *GENOMIC) or any(
            _code_in(c.code, V.LOINC, [V.LOINC_GENE_STUDIED]) for c in res.component or []
        ):
            return self.genomic(path, res)
        if V.LOINC_PREGNANCY in codes:
            return self.pregnancy(path, res)
        lab = next((V.LABS[c] for c in codes if c in V.LABS), None)
        if lab is not None:
            return self.lab(path, res, lab)
        marker = next((m for c in codes if (m := self.vocab.marker_of(c))), None)
        if marker is not None or _has_profile(res, *TUMOR_MARKER):
            return self.tumor_marker(path, res, marker)
        self.acc.miss(f"{path}.code", "observation type not used for matching", cc=res.code)

    def score(self, path: str, res: Any, key: str, answers: Mapping[str, int], lo: int,
              hi: int) -> None:
        value = _num(getattr(res, "valueInteger", None))
        where = f"{path}.valueInteger"
        if value is None:
            cc = getattr(res, "valueCodeableConcept", None)
            code = _code_in(cc, V.LOINC, answers)
            value = answers[code] if code else None
            where = f"{path}.valueCodeableConcept"
        if value is None or not lo <= value <= hi:
            self.acc.miss(where, f"{key} score missing or outside {lo}-{hi}")
            return
        self.acc.put(key, int(value), where)

    def _value(self, res: Any, path: str) -> tuple[str | float | int | bool | None, str]:
        """A marker's result as the profile keeps it, and the element it came from."""
        q = getattr(res, "valueQuantity", None)
        if q is not None and q.value is not None:
            return _num(q.value), f"{path}.valueQuantity"
        cc = getattr(res, "valueCodeableConcept", None)
        if cc is not None:
            if cc.text:
                return str(cc.text), f"{path}.valueCodeableConcept"
            for c in _codings(cc):
                if c.system == V.SNOMED and str(c.code) in self.vocab.qualifier:
                    return self.vocab.qualifier[str(c.code)], f"{path}.valueCodeableConcept"
                if c.code in (V.LOINC_ANSWER_PRESENT, V.LOINC_ANSWER_ABSENT):
                    pos = c.code == V.LOINC_ANSWER_PRESENT
                    return ("positive" if pos else "negative"), f"{path}.valueCodeableConcept"
            if _text(cc):
                return _text(cc), f"{path}.valueCodeableConcept"
        for attr in ("valueString", "valueBoolean", "valueInteger"):
            v = getattr(res, attr, None)
            if v is not None:
                return (v if isinstance(v, (bool, str)) else _num(v)), f"{path}.{attr}"
        ratio = getattr(res, "valueRatio", None)
        if ratio is not None and ratio.numerator is not None and ratio.denominator is not None:
            n, d = _num(ratio.numerator.value), _num(ratio.denominator.value)
            if n is not None and d:
                return round(float(n) / float(d), 4), f"{path}.valueRatio"
        for i, interp in enumerate(getattr(res, "interpretation", None) or []):
            code = _code_in(interp, None, ["POS", "NEG", "DET", "ND", "H", "L"])
            if code:
                return ("positive" if code in {"POS", "DET", "H"} else "negative"), (
                    f"{path}.interpretation[{i}]")
        return None, path

    def tumor_marker(self, path: str, res: Any, marker: tuple[str, str] | None) -> None:
        if marker is None:
            text = _text(res.code)
            if text is None:
                self.acc.miss(f"{path}.code", "tumor marker code not in the LOINC tables",
                              cc=res.code)
                return
            if self.onto.biomarkers.resolve_marker(text) is None:
                self.acc.miss(f"{path}.code", "marker not in the biomarker vocabulary (kept "
                              "as given)", cc=res.code)
            key = text.strip()[:60]
        else:
            mid, method = marker
            key = {("HER2", "IHC"): "HER2_IHC", ("HER2", "ISH"): "HER2_ISH",
                   ("PD-L1", "TPS"): "PD-L1_TPS", ("PD-L1", "CPS"): "PD-L1_CPS"}.get(
                (mid, method), mid)
            if not _codings(res.code) or (res.code.text and not _loinc(res.code)):
                key = str(res.code.text)
        value, where = self._value(res, path)
        if value is None:
            self.acc.miss(path, "tumor marker without a result", cc=res.code)
            return
        self.acc.profile.setdefault("biomarkers", {})[key] = value
        self.acc.sources[f"biomarkers.{key}"] = where

    def genomic(self, path: str, res: Any) -> None:
        gene: str | None = None
        change: str | None = None
        germline: bool | None = None
        for k, comp in enumerate(res.component or []):
            where = f"{path}.component[{k}]"
            ccode = _loinc(comp.code)
            cc = getattr(comp, "valueCodeableConcept", None)
            if V.LOINC_GENE_STUDIED in ccode:
                for c in _codings(cc):
                    if str(c.code) in V.HGNC_GENES:
                        gene = V.HGNC_GENES[str(c.code)]
                gene = gene or (_text(cc) if cc is not None else None)
                if gene is None:
                    self.acc.miss(f"{where}.valueCodeableConcept", "gene not in the HGNC table",
                                  cc=cc)
            elif set(ccode) & {V.LOINC_AA_CHANGE, V.LOINC_DNA_CHANGE, V.LOINC_VARIATION_CODE}:
                text = (_text(cc) if cc is not None else None) or next(
                    (str(c.code) for c in _codings(cc) if c.code), None)
                text = text or (str(comp.valueString) if comp.valueString else None)
                if text and (change is None or V.LOINC_AA_CHANGE in ccode):
                    change = text
            elif V.LOINC_SOURCE_CLASS in ccode:
                if _code_in(cc, None, [V.LOINC_ANSWER_GERMLINE]):
                    germline = True
                elif _code_in(cc, None, [V.LOINC_ANSWER_SOMATIC]):
                    germline = False
        if gene is None:
            self.acc.miss(f"{path}.component", "genomic variant names no gene", cc=res.code)
            return
        symbol = str(self.onto.biomarkers.resolve_marker(gene) or gene)
        if symbol == "HER2" and gene.upper() == "ERBB2":
            symbol = "HER2"
        value, where = self._value(res, path)
        result: str | float | int | bool
        if isinstance(value, str) and value.lower() in {"negative", "absent"}:
            result = "negative"
        elif change:
            result = change
        elif value is not None:
            result = value
        else:
            result = "positive"
        key = ("g" if germline else "") + symbol
        self.acc.profile.setdefault("biomarkers", {})[key] = result
        self.acc.sources[f"biomarkers.{key}"] = where if value is not None else f"{path}.component"

    def pregnancy(self, path: str, res: Any) -> None:
        cc = getattr(res, "valueCodeableConcept", None)
        if _code_in(cc, V.LOINC, [V.LOINC_ANSWER_PREGNANT]):
            self.acc.put("pregnant", True, f"{path}.valueCodeableConcept")
        elif _code_in(cc, V.LOINC, [V.LOINC_ANSWER_NOT_PREGNANT]):
            self.acc.put("pregnant", False, f"{path}.valueCodeableConcept")
        else:
            self.acc.miss(f"{path}.valueCodeableConcept", "pregnancy status not recognised", cc=cc)

    def lab(self, path: str, res: Any, lab: str) -> None:
        """A laboratory Observation → ``labs[lab]`` in the lab's default unit
        (:data:`service.fhir.vocab.LAB_CONVERSIONS`); AST/ALT in U/L become a multiple of
        the upper limit of normal (``referenceRange.high``)."""
        q = getattr(res, "valueQuantity", None)
        if q is None or q.value is None:
            self.acc.miss(f"{path}.valueQuantity", f"{lab}: no quantity", cc=res.code)
            return
        ucum = str(q.code or q.unit or "").strip()
        unit = V.UCUM_UNITS.get(ucum) if ucum else V.LAB_DEFAULT_UNITS[lab]
        factor = V.LAB_CONVERSIONS.get((lab, unit)) if unit else None
        where = f"{path}.valueQuantity"
        if factor is None and not (lab in ("ast", "alt") and unit == "U/L"):
            self.acc.miss(f"{where}.code", f"{lab}: unit {ucum!r} not convertible")
            return
        value = float(q.value)
        if lab in ("ast", "alt") and unit == "U/L":
            highs = [r.high.value for r in res.referenceRange or [] if r.high is not None]
            if not highs or not float(highs[0]) > 0:
                self.acc.miss(f"{path}.referenceRange", f"{lab} in U/L needs the upper limit "
                              "of normal (referenceRange.high)")
                return
            entry = {"value": round(value / float(highs[0]), 3), "unit": "xULN"}
        else:
            assert factor is not None
            entry = {"value": round(value * factor, 4), "unit": V.LAB_DEFAULT_UNITS[lab]}
        self.acc.profile.setdefault("labs", {})[lab] = entry
        self.acc.sources[f"labs.{lab}"] = where

    # ---- therapies ----------------------------------------------------------------

    def medication(self, path: str, res: Any, rtype: str) -> None:
        cc = getattr(res, "medicationCodeableConcept", None)
        name = _text(cc)
        if name is None:
            ref = getattr(res, "medicationReference", None)
            name = str(ref.display) if ref is not None and ref.display else None
        profiled = _has_profile(res, *MEDICATION)
        vocab = self.onto.therapies
        known = bool(name and (vocab.resolve_drug(name) or vocab.find_drugs(name)
                               or vocab.resolve_class(name)))
        if name is None:
            self.acc.miss(f"{path}.medicationCodeableConcept",
                          "medication without a display or text (RxNorm codes are read by "
                          "their display)", cc=cc)
            return
        if not profiled and not known and _ext(res, "line-of-therapy") is None:
            self.acc.miss(f"{path}.medicationCodeableConcept", "not a cancer-related "
                          "medication (no mCODE profile, not in the therapy vocabulary)", cc=cc)
            return
        start, end = self._period(res, rtype)
        status = str(getattr(res, "status", "") or "")
        entry: dict[str, Any] = {"name": name, "start_date": start, "end_date": end}
        if status in {"active", "in-progress", "on-hold"} and end is None:
            entry["ongoing"] = True
        reasons = getattr(res, "statusReason", None)
        reason = " ".join(
            t for t in (_text(r) for r in (reasons if isinstance(reasons, list) else [reasons]))
            if t
        )
        if re.search(r"progress", reason, re.I):
            entry["progressed"] = True
        self._therapy_extensions(res, entry)
        drugs = [d for d in (vocab.resolve_drug(name),) if d] or list(vocab.find_drugs(name))
        # a line is a line of systemic anticancer therapy: hydroxyurea cytoreduction (a
        # drug of no systemic class) gets none
        systemic = not drugs or any("systemic" in vocab.classes_of(d) for d in drugs)
        self.acc.therapies.append((path, entry, systemic))

    def _period(self, res: Any, rtype: str) -> tuple[date | None, date | None]:
        if rtype == "MedicationRequest":
            vp = getattr(getattr(res, "dispenseRequest", None), "validityPeriod", None)
            start = _as_date(res.authoredOn) or (_as_date(vp.start) if vp else None)
            return start, _as_date(vp.end) if vp else None
        period = getattr(res, "effectivePeriod", None) or getattr(res, "performedPeriod", None)
        if period is not None:
            return _as_date(period.start), _as_date(period.end)
        single = getattr(res, "effectiveDateTime", None) or getattr(res, "performedDateTime", None)
        d = _as_date(single)
        return d, d if rtype == "Procedure" else None

    def _therapy_extensions(self, res: Any, entry: dict[str, Any]) -> None:
        for name, key in (("line-of-therapy", "line"), ("therapy-setting", "setting"),
                          ("therapy-class", "class"), ("disease-progressed", "progressed")):
            v = _ext_value(res, name)
            if v is not None:
                entry[key] = int(v) if key == "line" else v

    def procedure(self, path: str, res: Any) -> None:
        name = _text(res.code)
        surgery = _has_profile(res, *SURGERY)
        radio = _has_profile(res, *RADIOTHERAPY)
        if not (surgery or radio) and name:
            radio = bool(_RADIOTHERAPY_WORDS.search(name))
            surgery = not radio and bool(_SURGERY_WORDS.search(name))
        if not (surgery or radio):
            self.acc.miss(f"{path}.code", "procedure is not a cancer-related surgery or "
                          "radiotherapy", cc=res.code)
            return
        start, end = self._period(res, "Procedure")
        entry: dict[str, Any] = {"name": name or ("radiotherapy" if radio else "surgery"),
                                 "class": "radiotherapy" if radio else "surgery",
                                 "start_date": start, "end_date": end}
        self._therapy_extensions(res, entry)
        self.acc.therapies.append((path, entry, False))

    def finish_therapies(self, complete: bool) -> None:
        if not self.acc.therapies and not complete:
            return  # absent means unknown
        # lines for systemic drugs without the line extension (module docstring)
        unnumbered = sorted(
            (e for _, e, systemic in self.acc.therapies
             if systemic and "line" not in e and e.get("start_date") is not None),
            key=lambda e: e["start_date"],
        )
        numbered = [e["line"] for _, e, _s in self.acc.therapies if "line" in e]
        line = max(numbered, default=0)
        first: date | None = None
        for e in unnumbered:
            if first is None or e["start_date"] - first > LINE_WINDOW:
                line += 1
                first = e["start_date"]
            e["line"] = line
        out = []
        for path, e, _s in self.acc.therapies:
            out.append({k: v for k, v in e.items() if v is not None})
            self.acc.sources[f"prior_therapies[{len(out) - 1}]"] = path
        self.acc.profile["prior_therapies"] = out

    # ---- patient / parameters -----------------------------------------------------

    def patient(self, path: str, res: Any) -> None:
        born = _as_date(res.birthDate)
        if born is not None:
            age = _years_between(born, self.acc.today)
            if 0 <= age <= 120:
                self.acc.put("age", age, f"{path}.birthDate")
            else:
                self.acc.miss(f"{path}.birthDate", "birth date gives an age outside 0-120")
        gender = str(res.gender) if res.gender else None
        if gender in V.SEX:
            self.acc.put("sex", V.SEX[gender], f"{path}.gender")
        elif gender:
            self.acc.miss(f"{path}.gender", f"gender {gender!r} is not used by trial sex criteria")
        meno = _ext_value(res, "menopausal-status")
        if meno:
            self.acc.put("menopausal_status", str(meno), f"{path}.extension[menopausal-status]")
        brain = _ext_value(res, "brain-metastases-status")
        if brain:
            self.acc.put("brain_metastases", str(brain),
                         f"{path}.extension[brain-metastases-status]")

    def parameters(self, path: str, res: Any) -> SearchParameters:
        zip_code: str | None = None
        radius: float | None = None
        phases: list[str] = []
        statuses: list[str] = []
        for i, p in enumerate(res.parameter or []):
            value = p.valueString if p.valueString is not None else (
                p.valueDecimal if p.valueDecimal is not None else p.valueInteger)
            where = f"{path}.parameter[{i}]"
            if p.name == "zipCode" and value is not None:
                zip_code = str(value).strip()
            elif p.name == "travelRadius" and value is not None:
                try:
                    radius = float(value)
                except ValueError:
                    raise InvalidBundle("travelRadius must be a number (miles).",
                                        [(f"{where}.valueString", "must be a number of miles")]
                                        ) from None
            elif p.name == "phase" and value is not None:
                for part in re.split(r"\s*,\s*", str(value)):
                    mapped = _PHASES.get(part.lower()) or (
                        (part.upper().replace(" ", ""),) if re.fullmatch(
                            r"(EARLY_)?PHASE[1-4]|NA", part.upper().replace(" ", "")) else None)
                    if mapped is None:
                        self.acc.miss(where, f"phase {part!r} not recognised")
                    else:
                        phases.extend(mapped)
            elif p.name == "recruitmentStatus" and value is not None:
                for part in re.split(r"\s*,\s*", str(value)):
                    mapped = _STATUSES.get(part.lower()) or (
                        (part.upper(),) if re.fullmatch(r"[A-Z_]+", part.upper()) else None)
                    if mapped is None:
                        self.acc.miss(where, f"recruitment status {part!r} not recognised")
                    else:
                        statuses.extend(mapped)
            else:
                self.acc.miss(where, f"search parameter {p.name!r} not supported")
        if zip_code is not None:
            if re.fullmatch(r"\d{5}(-\d{4})?", zip_code):
                self.acc.put("zip", zip_code, f"{path}.parameter[zipCode]")
            else:
                raise InvalidBundle("zipCode must be a US ZIP code.",
                                    [(f"{path}.parameter", "zipCode must be a US ZIP code")])
        return SearchParameters(zip_code=zip_code, travel_radius_mi=radius,
                                phases=tuple(dict.fromkeys(phases)),
                                statuses=tuple(dict.fromkeys(statuses)))


def _ajcc_label(text: str | None) -> str | None:
    """AJCC stage label in an AJCC code or words: ``c3A``/``3A``/``Stage IIIA``/``IV`` →
    ``IIIA``/``IIIA``/``IIIA``/``IV``; None if none."""
    if not text:
        return None
    t = text.strip()
    m = re.fullmatch(r"[cpy]{0,2}\s*(0|IV|I{1,3}|[1-4])\s*([ABC])?\d?", t, re.I) or re.search(
        r"\bstage\s+(0|IV|I{1,3}|[1-4])\s*([ABC])?(?![a-z])", t, re.I)
    if not m:
        return None
    group = m.group(1).upper()
    group = {"1": "I", "2": "II", "3": "III", "4": "IV"}.get(group, group)
    return group + (m.group(2).upper() if m.group(2) else "")


def bundle_to_profile(raw: Any, *, ontology: Ontology, today: date) -> MappedPatient:
    """Map an mCODE patient Bundle (a JSON object) to a :class:`MappedPatient`.

    ``today`` fixes the age. Raises :class:`InvalidBundle` (invalid FHIR, naming the
    element), :class:`InvalidFhirRequest` (not a Bundle) or :class:`NotMappable` (no
    primary cancer condition whose code resolves to an OncoTree code).
    """
    resources = read_bundle(raw)
    m = _Mapper(ontology, today)
    params = SearchParameters()
    complete = False
    conditions: list[tuple[str, Any]] = []
    for path, res in resources:
        rtype = res.get_resource_type()
        if rtype == "Patient":
            m.patient(path, res)
            complete = complete or _ext_value(res, "prior-therapies-complete") is True
        elif rtype == "Condition":
            conditions.append((path, res))
        elif rtype == "Observation":
            m.observation(path, res)
        elif rtype in ("MedicationRequest", "MedicationAdministration", "MedicationStatement"):
            m.medication(path, res, rtype)
        elif rtype == "Procedure":
            m.procedure(path, res)
        elif rtype == "Parameters":
            params = m.parameters(path, res)
        else:
            m.acc.miss(path, f"{rtype} resources are not used for matching")
    # primary conditions first (a profiled one before an unprofiled cancer code)
    conditions.sort(key=lambda pr: 0 if _has_profile(pr[1], *PRIMARY) else 1)
    for path, res in conditions:
        text = _text(res.code) or ""
        snomed = {str(c.code) for c in _codings(res.code) if c.system == V.SNOMED}
        if _has_profile(res, *SECONDARY) or (
            not _has_profile(res, *PRIMARY)
            and (_SECONDARY_WORDS.search(text) or snomed & set(m.vocab.metastasis))
        ):
            m.secondary(path, res)
        elif _has_profile(res, *PRIMARY) or (
            "cancer_type" not in m.acc.profile and m.cancer_code(res.code, f"{path}.code")
        ):
            m.primary(path, res)
        elif _code_in(getattr(res, "verificationStatus", None), None, ["refuted"]):
            m.acc.profile.setdefault("conditions", []).append(f"no {text}" if text else "")
            m.acc.sources.setdefault("conditions", f"{path}.code")
        elif text:
            m.acc.profile.setdefault("conditions", []).append(text)
            m.acc.sources.setdefault("conditions", f"{path}.code")
        else:
            m.acc.miss(f"{path}.code", "condition without a display or text", cc=res.code)
    for kind in ("pathological", "clinical", "condition"):
        if kind in m.acc.stage_path:
            label, where = m.acc.stage_path[kind]
            m.acc.put("stage", label, where)
            break
    m.finish_therapies(complete)
    if "cancer_type" not in m.acc.profile:
        raise NotMappable(
            "The Bundle has no primary cancer condition whose code resolves to a cancer type. "
            "Add a Condition with the mCODE PrimaryCancerCondition profile and a SNOMED CT, "
            "ICD-10-CM, NCIt or OncoTree code (or a text naming the cancer).",
            [("Bundle.entry", "no PrimaryCancerCondition with a recognisable code")],
        )
    try:
        profile = PatientProfile.model_validate(m.acc.profile)
    except ValidationError as exc:
        issues = [(m.acc.sources.get(str(e["loc"][0]) if e["loc"] else "", "Bundle"),
                   f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}") for e in exc.errors()]
        raise InvalidBundle("The Bundle maps to an invalid patient profile. "
                            + "; ".join(f"{p}: {msg}" for p, msg in issues[:5]), issues) from exc
    return MappedPatient(profile=profile, parameters=params, unmapped=tuple(m.acc.unmapped),
                         sources=dict(m.acc.sources))


def patient_data(body: Any) -> Any:
    """The Bundle of a MITRE ``POST /getClinicalTrial`` body ``{"patientData": Bundle}``
    (``patientData`` may also be the Bundle as a JSON string, as MITRE's server allows).
    Raises :class:`InvalidFhirRequest` when the envelope is wrong."""
    import json

    if not isinstance(body, dict) or "patientData" not in body:
        raise InvalidFhirRequest("The body must be {\"patientData\": <FHIR Bundle>}.",
                                 [("patientData", "required")])
    data = body["patientData"]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            raise InvalidFhirRequest("patientData is a string that is not JSON.",
                                     [("patientData", "not JSON")]) from None
    return data


def clinical_data(body: Any) -> Any:
    """The ``trialMatchClinicalData`` Bundle of a ``ResearchStudy/$match`` request: a
    ``Parameters`` resource whose parameter ``trialMatchClinicalData`` (or
    ``subject``/``patientData``) carries the Bundle as ``resource``; a bare Bundle is
    accepted too. Raises :class:`InvalidFhirRequest` otherwise."""
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        return body
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for p in body.get("parameter") or []:
            if isinstance(p, dict) and p.get("name") in ("trialMatchClinicalData", "patientData"):
                res = p.get("resource")
                if isinstance(res, dict):
                    return res
        raise InvalidFhirRequest(
            "Parameters must carry the patient Bundle as parameter 'trialMatchClinicalData'.",
            [("Parameters.parameter", "no trialMatchClinicalData resource")],
        )
    raise InvalidFhirRequest(
        "The body must be a Parameters resource with a 'trialMatchClinicalData' Bundle "
        "(or the Bundle itself).",
        [("resourceType", "must be Parameters or Bundle")],
    )

