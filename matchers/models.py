"""Typed models shared by parsing, evaluation and ranking.

The parser (``matchers.parser``) turns a trial's eligibility criteria text into a
:class:`ParsedTrial`: a list of :class:`ParsedCriterion`, each carrying zero or more
typed *facts* (a discriminated union on ``category``). Every fact keeps its evidence
span as character offsets ``[start, end)`` into the trial's original
``eligibilityCriteria`` text, so a reason shown to a user can always quote the trial.

The evaluator (``matchers.evaluate``) takes a :class:`ParsedTrial`, a
:class:`TrialSummary` and a :class:`matchers.patient.PatientProfile` and returns a
:class:`TrialMatch`. Nothing here touches the network, Redis or the clock.

Conventions
-----------
* Ages are in years (float; "6 months" = 0.5).
* ECOG performance status is 0–5; Karnofsky (KPS) 0–100. Bounds are inclusive.
* Lab values are normalized: counts in cells/µL, haemoglobin in g/dL, creatinine
  clearance in mL/min, creatinine and bilirubin either in mg/dL or as a multiple of
  the upper limit of normal (``unit="xULN"``).
* ``negated`` on a fact means the text states the fact's absence ("no prior platinum",
  "without brain metastases"). Together with the criterion's ``kind`` it gives the
  effective requirement: see :func:`requires_presence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NCT_ID_PATTERN = r"^NCT\d{8}$"
NCTId = Annotated[str, StringConstraints(pattern=NCT_ID_PATTERN)]
"""A ClinicalTrials.gov identifier: ``NCT`` followed by eight digits."""

OncoTreeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_/\-]{1,24}$")]
"""An OncoTree tumor-type code, e.g. ``PLEMESO`` (epithelioid pleural mesothelioma)."""

Span = tuple[int, int]
"""Character offsets ``[start, end)`` into the trial's eligibility criteria text."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------
# Facts extracted from one criterion
# --------------------------------------------------------------------------------------


class FactBase(_Frozen):
    """Common fields of every extracted fact.

    ``span`` is the evidence in the full criteria text; ``text`` is that slice, kept so
    that reasons can quote without the source text at hand.
    """

    span: Span
    text: str
    negated: bool = False
    exception: str | None = None
    """Text of an exception clause that carves into the fact ("unless treated and
    stable for 4 weeks", "other than non-melanoma skin cancer"), quoted from the
    criterion; None when there is none. An evaluator should not rest a ``not_met``
    verdict on a fact with an exception alone (the patient may fall under it)."""
    rule: str = ""
    """Id of the rule that produced the fact (``"<category>.<rule>"``), followed by
    ``+shape.<rule>`` for every criterion-shape rule that rewrote it at parse time
    (:mod:`matchers.shape`). Shown by ``GET /v1/trials/{nct_id}``."""


class CancerTypeFact(FactBase):
    """A cancer type named in a criterion (or in the trial's conditions).

    ``codes`` are OncoTree codes the mention resolves to (a mention such as "NSCLC"
    resolves to the NSCLC node; "solid tumor" resolves to nothing specific and sets
    ``any_solid_tumor``). ``any_malignancy`` covers "any cancer"/"advanced malignancy".
    """

    category: Literal["cancer_type"] = "cancer_type"
    codes: tuple[OncoTreeCode, ...] = ()
    any_solid_tumor: bool = False
    any_malignancy: bool = False
    any_hematologic: bool = False
    generic_word: str | None = None
    """For a generic mention that is a bare word with no qualifier at all ("Cancer",
    "Tumor", "Carcinoma", "Neoplasms", "Malignancy"): that word, singular and lower
    case (``cancer``, ``tumor``, ``carcinoma``, ``neoplasm``, ``malignancy``)."""
    carcinoma_only: bool = False
    """A generic mention that is the histology word alone ("Carcinoma", "metastatic
    adenocarcinoma"): it enrols carcinomas, not every solid tumour."""
    qualified: bool = False
    """The criterion narrows the mention with a histology, biomarker or stage beside it
    ("Predominantly squamous cell histology NSCLC"): in an exclusion it excludes that
    subset, not the cancer type as a whole."""


class HistologyFact(FactBase):
    """Histologic subtypes named in a criterion, normalized to ontology term ids.

    Term ids come from ``ontologies/data/histology.toml``: e.g. ``epithelioid``,
    ``sarcomatoid``, ``biphasic``, ``non_epithelioid``, ``adenocarcinoma``,
    ``squamous``, ``non_squamous``, ``small_cell``.
    """

    category: Literal["histology"] = "histology"
    terms: tuple[str, ...]


class DiseaseExtent(StrEnum):
    """Disease extent and setting words that trials use instead of (or with) a stage."""

    METASTATIC = "metastatic"
    UNRESECTABLE = "unresectable"
    LOCALLY_ADVANCED = "locally_advanced"
    ADVANCED = "advanced"
    RECURRENT = "recurrent"
    REFRACTORY = "refractory"
    RESECTABLE = "resectable"
    EARLY = "early"
    LOCALIZED = "localized"


class StageFact(FactBase):
    """An AJCC stage range and/or disease-extent words.

    ``stages`` is the set of AJCC stage groups the mention covers, expanded to
    sub-stages ("IIIB–IV" -> IIIB, IIIC, IV, IVA, IVB, IVC), per AJCC 8th edition.
    """

    category: Literal["stage"] = "stage"
    stages: tuple[str, ...] = ()
    extents: tuple[DiseaseExtent, ...] = ()


class BiomarkerFact(FactBase):
    """A biomarker requirement.

    ``marker`` is an ontology id (``HER2``, ``ER``, ``PR``, ``HR``, ``EGFR``, ``ALK``,
    ``ROS1``, ``KRAS``, ``BRAF``, ``PD-L1``, ``BRCA1``, ``BRCA2``, ``PIK3CA``, …).
    ``status`` is one of ``positive``, ``negative``, ``mutated``, ``wild_type``,
    ``amplified``, ``rearranged``, ``low``, ``ultralow``, ``zero``, ``expressed``.
    ``variant`` narrows a mutation (``G12C``, ``V600E``, ``exon19del``, ``L858R``,
    ``exon20ins``, ``T790M``, ``common``, ``rare``). ``her2_categories`` lists the
    HER2 categories a HER2 mention covers, from ``ontologies`` (ASCO/CAP 2023):
    ``zero``, ``ultralow``, ``low``, ``positive``. ``threshold`` is a minimum (or
    with ``threshold_max`` a maximum) for scored markers: PD-L1 TPS/CPS in percent
    (TPS) or score (CPS), set in ``score``.
    """

    category: Literal["biomarker"] = "biomarker"
    marker: str
    status: str
    variant: str | None = None
    her2_categories: tuple[str, ...] = ()
    score: Literal["TPS", "CPS", "TC", "IC"] | None = None
    threshold: float | None = None
    threshold_max: float | None = None


class PerformanceStatusFact(FactBase):
    """A performance-status bound, as written and normalized to ECOG.

    ``scale`` is the scale written in the text; ``ecog_min``/``ecog_max`` are the
    inclusive ECOG bounds after conversion. Two ECOG↔KPS tables are published: Oken et
    al. (Am J Clin Oncol 1982: ECOG 0 = KPS 90–100, 1 = 70–80, 2 = 50–60, 3 = 30–40,
    4 = 10–20) and Buccheri et al. 1996, the one NCI's curated criteria use (ECOG 0 =
    KPS 100, 1 = 80–90, 2 = 60–70, 3 = 40–50, 4 = 20–30).
    The parser (``matchers/rules/performance_status.toml``) takes their union for a required
    bound (every ECOG grade the KPS bound may fit) and their intersection for a
    forbidden one, so neither table's reading is wrongly refused.
    """

    category: Literal["performance_status"] = "performance_status"
    scale: Literal["ECOG", "KPS", "WHO", "ZUBROD", "LANSKY"]
    value_min: float | None = None
    value_max: float | None = None
    ecog_min: int | None = None
    ecog_max: int | None = None


class AgeFact(FactBase):
    """An age bound in years (inclusive)."""

    category: Literal["age"] = "age"
    min_years: float | None = None
    max_years: float | None = None


class SexFact(FactBase):
    """A sex restriction."""

    category: Literal["sex"] = "sex"
    sex: Literal["female", "male"]


class MeasurableDiseaseFact(FactBase):
    """Measurable disease, e.g. per RECIST 1.1 (``evaluable`` accepts non-measurable)."""

    category: Literal["measurable_disease"] = "measurable_disease"
    criteria: str | None = None  # "RECIST 1.1", "mRECIST", "RANO", …
    evaluable_ok: bool = False


class MetastasisSiteFact(FactBase):
    """Distant metastases at named sites: "peritoneal carcinomatosis", "liver
    metastases", "bone-only disease". ``sites`` are site ids of
    ``matchers/rules/metastasis_site.toml`` (``peritoneum``, ``liver``, ``bone``,
    ``lung``, …); ``only`` says the sites are the sole sites of distant disease."""

    category: Literal["metastasis_site"] = "metastasis_site"
    sites: tuple[str, ...] = Field(min_length=1)
    only: bool = False


class PeriodFact(FactBase):
    """A calendar window the patient's care must fall in: "imaging available in TMC
    between January 2010 and December 2022" (retrospective cohorts).

    ``start``/``end`` are the first and last day of the window; ``event`` is what must
    fall in it: ``diagnosis``, ``treatment`` (a therapy given in the window) or ``care``
    (imaging, visits, records: any care for the cancer, which starts at diagnosis).
    """

    category: Literal["period"] = "period"
    start: date
    end: date
    event: Literal["diagnosis", "treatment", "care"] = "care"


class BrainMetastasesFact(FactBase):
    """A statement on brain/CNS metastases.

    ``qualifier`` says which metastases the text is about: ``any``, ``active``
    (untreated, symptomatic, progressing) or ``treated_stable``. ``treated_allowed``
    is True when the text allows treated/stable ones (e.g. "unless treated and stable
    for 4 weeks"), False when it says they are excluded too, None when silent.
    ``leptomeningeal`` marks leptomeningeal disease/carcinomatous meningitis.
    """

    category: Literal["brain_metastases"] = "brain_metastases"
    qualifier: Literal["any", "active", "treated_stable"] = "any"
    treated_allowed: bool | None = None
    leptomeningeal: bool = False


class PriorTherapyFact(FactBase):
    """Prior therapy: classes, drugs, lines and setting.

    ``classes`` are therapy-class ids from ``ontologies/data/therapies.toml``
    (``platinum``, ``pd1_pdl1``, ``anti_her2``, ``cdk46``, ``egfr_tki``,
    ``chemotherapy``, ``immunotherapy``, ``endocrine``, ``systemic`` …) and ``drugs``
    normalized drug names. ``min_lines``/``max_lines`` bound the number of prior lines
    (of the named classes when given, else of systemic therapy). ``relation`` is
    ``received`` (had it), ``progressed`` (progressed on/after, refractory),
    ``intolerant``, or ``naive`` (never had it; "treatment-naive"). ``setting`` is the
    disease setting the text scopes it to (``metastatic``, ``adjuvant``,
    ``neoadjuvant``, ``advanced``) or None.
    """

    category: Literal["prior_therapy"] = "prior_therapy"
    classes: tuple[str, ...] = ()
    drugs: tuple[str, ...] = ()
    min_lines: int | None = None
    max_lines: int | None = None
    relation: Literal["received", "progressed", "intolerant", "naive"] = "received"
    setting: str | None = None
    min_agents: int | None = None
    """Distinct agents of the named classes the text counts ("more than one CDK 4/6
    inhibitor" → 2), as opposed to lines."""


class LabFact(FactBase):
    """A laboratory threshold, normalized.

    ``lab`` is one of ``anc``, ``wbc``, ``platelets``, ``hemoglobin``,
    ``creatinine_clearance``, ``creatinine``, ``bilirubin``, ``ast``, ``alt``.
    ``value`` is in ``unit``: cells/µL for counts, g/dL for haemoglobin, mL/min for
    creatinine clearance, mg/dL or ``xULN`` for creatinine/bilirubin/transaminases.
    """

    category: Literal["lab"] = "lab"
    lab: str
    comparator: Literal[">=", ">", "<=", "<", "="]
    value: float
    unit: str


class ConditionFact(FactBase):
    """A comorbidity or status named by a criterion (HIV, hepatitis B/C, pregnancy,
    autoimmune disease, interstitial lung disease, other malignancy, …).

    ``condition`` is an ontology id from ``ontologies/data/conditions.toml``.
    """

    category: Literal["condition"] = "condition"
    condition: str
    min_grade: int | None = Field(default=None, ge=1, le=5)
    """Lowest CTCAE grade of the condition that counts ("grade ≥ 2 neuropathy": 2); None
    when the text gives no grade (any grade counts)."""
    severe_only: bool = False
    """Only a severe form counts: "symptomatic congestive heart failure (NYHA class III
    or IV)", "active autoimmune disease", "uncontrolled hypertension"."""


Fact = Annotated[
    CancerTypeFact
    | HistologyFact
    | StageFact
    | BiomarkerFact
    | PerformanceStatusFact
    | AgeFact
    | SexFact
    | MeasurableDiseaseFact
    | BrainMetastasesFact
    | PriorTherapyFact
    | LabFact
    | ConditionFact
    | MetastasisSiteFact
    | PeriodFact,
    Field(discriminator="category"),
]

FactCategory = Literal[
    "cancer_type",
    "histology",
    "stage",
    "biomarker",
    "performance_status",
    "age",
    "sex",
    "measurable_disease",
    "brain_metastases",
    "prior_therapy",
    "lab",
    "condition",
    "metastasis_site",
    "period",
]


class CriterionKind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class CriterionRole(StrEnum):
    """What a criterion asks of the patient, read once at parse time
    (:mod:`matchers.shape`).

    * ``requirement``: decided from its facts;
    * ``uninterpreted``: no facts were read (kept and shown, never decides);
    * ``procedural``: consent, contraception, sample provision — checked at screening;
    * ``other_malignancy``: about other or prior cancers only;
    * ``not_required``: states that something is not required ("patients do not need
      to have measurable disease");
    * ``definition``: an item under a definitional lead-in ("Each of the following is
      considered 1 relapse:") — it defines a term, it asks nothing itself.
    """

    REQUIREMENT = "requirement"
    UNINTERPRETED = "uninterpreted"
    PROCEDURAL = "procedural"
    DEFINITION = "definition"
    OTHER_MALIGNANCY = "other_malignancy"
    NOT_REQUIRED = "not_required"


class ParsedCriterion(_Frozen):
    """One eligibility criterion (a bullet or sentence) and what was understood of it.

    ``span`` locates ``text`` in the trial's criteria text. A criterion with no facts
    is *uninterpreted*: it is kept and shown, never dropped. ``heading`` is the nearest
    sub-heading above it (e.g. "Phase Ib cohort:", "Prior therapy:") when there is one.
    """

    index: int
    kind: CriterionKind
    text: str
    span: Span
    facts: tuple[Fact, ...] = ()
    heading: str | None = None
    role: CriterionRole = CriterionRole.REQUIREMENT
    scope: str | None = None
    """The phase/cohort/part the criterion is restricted to, as written ("Key exclusion
    criteria for the phase III only:", "Cohort A:"), or None when it applies to all."""
    scope_only: bool = False
    """The scope says "only": the trial's other parts are open without this criterion."""
    scope_key: str | None = None
    """``scope`` reduced to its naming words ("For the Esophageal Expansion Cohort:" and
    "Esophageal Cohort Expansion:" are both ``"cohort esophageal expansion"``), so that
    criteria of one cohort are recognised as such."""
    permission: tuple[Span, ...] = ()
    """Spans of sentences granting a permission ("… are eligible if …"): a ``not_met``
    resting only on facts inside them is ``met`` (a permission cannot exclude)."""
    washout: bool = False
    """The criterion is a time window ("within 4 weeks", "for at least 2 weeks"): prior
    therapies it names are a timing matter, not a contradiction."""
    washout_days: int | None = Field(default=None, ge=0)
    """Length of that window in days (4 weeks = 28, 6 months = 182, 1 year = 365); None
    when the text gives no length."""
    biomarker_joins: tuple[Literal["and", "or"], ...] = ()
    """Connectors between consecutive positive biomarker facts, as written ("ER+/HER2-"
    is AND, "EGFR or ALK" is OR; a bare list is AND in an inclusion, OR in an
    exclusion); empty when they name at most one marker (alternatives)."""
    shape_rules: tuple[str, ...] = ()
    """Ids of the criterion-shape rules (:mod:`matchers.shape`) that set ``kind``,
    ``role``, ``scope``, ``permission`` or ``washout``."""

    @property
    def interpreted(self) -> bool:
        return bool(self.facts)


def requires_presence(kind: CriterionKind, fact: FactBase) -> bool:
    """True if the trial wants the fact present, False if it wants it absent.

    An inclusion fact that is not negated is required; an exclusion fact that is not
    negated is forbidden; negation flips either ("Inclusion: no prior platinum" forbids
    prior platinum).
    """
    return (kind is CriterionKind.INCLUSION) != fact.negated


def condition_spans(conditions: Sequence[str], condition_text: str) -> list[tuple[int, int]]:
    """Spans of the non-empty, stripped ``conditions`` entries in ``condition_text``
    (:attr:`ParsedTrial.condition_text`: the entries joined by ``"; "``, then the title),
    in order. Raises ``ValueError`` if an entry is not in the text."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for part in (c.strip() for c in conditions):
        if not part:
            continue
        start = condition_text.index(part, pos)
        pos = start + len(part)
        spans.append((start, pos))
    return spans


class ParsedTrial(_Frozen):
    """The structured eligibility of one trial version.

    ``parser_version`` names the rules that produced it; the store keys parsed
    criteria by it, so a parser change re-parses. ``conditions`` holds the facts found
    in the trial's conditions list and title (trial-level cancer types and biomarker
    hints), with spans into ``condition_text`` (the conditions joined by ``"; "``,
    followed by the title), not into the criteria text.
    """

    nct_id: NCTId
    parser_version: str
    criteria: tuple[ParsedCriterion, ...] = ()
    conditions: tuple[Fact, ...] = ()
    condition_text: str = ""
    conditions_non_cancer: bool = False
    """Some entry of the conditions list names no cancer ("Trauma Injury")."""
    first_line_title: str | None = None
    """The title, when it says the trial is for untreated disease ("First-line",
    "Previously Untreated") and nothing about later lines."""
    newly_diagnosed_title: str | None = None
    """The title, when it says the trial is for newly diagnosed disease ("Newly
    Diagnosed Glioblastoma") and nothing about recurrence."""
    line_hint: Literal["first", "later"] | None = None
    """What the title says of the line of therapy: ``first`` (first-line, untreated,
    (neo)adjuvant), ``later`` (previously treated, refractory, after progression)."""


# --------------------------------------------------------------------------------------
# Trial metadata the ranker uses (from the CT.gov record, not from parsing)
# --------------------------------------------------------------------------------------


class Site(_Frozen):
    """A trial site. ``lat``/``lon`` in decimal degrees; ``status`` is the CT.gov
    location status (``RECRUITING``, …) when given."""

    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: str | None = None
    lat: float | None = None
    lon: float | None = None


class ExpandedAccessLink(_Frozen):
    """``statusModule.expandedAccessInfo`` of a study: a link to an expanded-access
    program record and that program's status (``AVAILABLE``, …)."""

    has_expanded_access: bool = False
    nct_id: NCTId | None = None
    status: str | None = None


class TrialSummary(_Frozen):
    """The subset of a CT.gov v2 study the matcher and the API show.

    Ages are in years (``None`` = no limit). ``sex`` is ``ALL``/``FEMALE``/``MALE``.
    ``last_update`` is ``lastUpdatePostDate`` (partial dates kept as their first day).
    """

    nct_id: NCTId
    title: str = ""
    official_title: str | None = None
    overall_status: str | None = None
    study_type: str | None = None
    phases: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    min_age_years: float | None = None
    max_age_years: float | None = None
    sex: str | None = None
    sites: tuple[Site, ...] = ()
    expanded_access: ExpandedAccessLink | None = None
    last_update: date | None = None
    eligibility_text: str = ""


class IndexedTrial(_Frozen):
    """What the in-memory index holds per trial: metadata plus parsed criteria, and
    ``oncotree_codes``: the trial's cancer types (from conditions, title and inclusion
    criteria) expanded to their OncoTree ancestors, used by the index."""

    summary: TrialSummary
    parsed: ParsedTrial
    oncotree_codes: tuple[str, ...] = ()
    any_solid_tumor: bool = False
    any_malignancy: bool = False


# --------------------------------------------------------------------------------------
# Evaluation results
# --------------------------------------------------------------------------------------


class CriterionStatus(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    ELIGIBLE = "eligible"
    POSSIBLY_ELIGIBLE = "possibly_eligible"
    INELIGIBLE = "ineligible"


class CriterionResult(_Frozen):
    """The verdict on one criterion for one patient.

    ``status`` is ``met`` when the patient satisfies the criterion (for an exclusion:
    is *not* excluded by it), ``not_met`` when the patient fails it (for an exclusion:
    is excluded), ``unknown`` when the profile cannot decide it or the criterion was not
    interpreted. ``category`` is the deciding fact's category (None if uninterpreted).
    ``question`` is the patient fact that would settle an unknown ("PD-L1 TPS?").
    ``key`` marks a disease-targeting criterion (cancer type, histology, stage,
    biomarker, prior therapy, performance status, brain metastases, age/sex), whose
    unknown status makes a trial only *possibly* eligible.
    """

    text: str
    kind: CriterionKind
    status: CriterionStatus
    reason: str
    span: Span
    category: FactCategory | None = None
    question: str | None = None
    key: bool = False


class SiteDistance(_Frozen):
    """The nearest recruiting site and its distance in kilometres (great-circle)."""

    site: Site
    distance_km: float


class TrialMatch(_Frozen):
    """One ranked trial for one patient. ``score`` is in [0, 1]; ``score_explanation``
    lists the terms that made it up."""

    nct_id: NCTId
    title: str
    overall_status: str | None
    verdict: Verdict
    score: float
    criteria: tuple[CriterionResult, ...]
    questions: tuple[str, ...] = ()
    nearest_site: SiteDistance | None = None
    score_explanation: tuple[str, ...] = ()
    cohort: str | None = None
    """When the trial's criteria name cohorts and the patient fails the others': the
    cohort (as its label is written, "Cohort 1") the patient may fit."""
