"""Criterion-shape rules of the evaluator (headings, cohort scopes, permissions, washouts,
quantifiers, stray cancer mentions), each on a real criterion text from the corpus with
hand-built facts — the facts a parser gives or plausibly gives for that text."""

from __future__ import annotations

from typing import Any

import pytest

from matchers.evaluate import evaluate_trial
from matchers.models import CriterionStatus, IndexedTrial, TrialMatch, Verdict
from tests.matchers.test_evaluate_builders import (
    BREAST_HER2_LOW,
    MESO_IB,
    NSCLC_EGFR,
    TODAY,
    Exc,
    F,
    Inc,
    make_trial,
    patient,
)

MET, NOT_MET, UNKNOWN = CriterionStatus.MET, CriterionStatus.NOT_MET, CriterionStatus.UNKNOWN
ELIGIBLE, POSSIBLY, INELIGIBLE = (Verdict.ELIGIBLE, Verdict.POSSIBLY_ELIGIBLE,
                                  Verdict.INELIGIBLE)

NSCLC = F("cancer_type", "NSCLC", codes=("NSCLC",))
BREAST = F("cancer_type", "Breast Cancer", codes=("BRCA",))
MESO = F("cancer_type", "mesothelioma", codes=("PLMESO",))
DESMOID = dict(cancer_type="DES", age=34, sex="female", ecog=1, measurable_disease=True,
               resectable=False)


def evaluate(ontology: Any, trial: IndexedTrial, who: dict[str, Any]) -> TrialMatch:
    return evaluate_trial(trial, patient(ontology, **who), ontology, TODAY)


def status_of(match: TrialMatch, text: str) -> CriterionStatus:
    for c in reversed(match.criteria):
        if c.text == text:
            return c.status
    raise AssertionError(f"criterion {text!r} not in result")


def test_cancer_type_in_a_histology_exclusion_is_not_a_trial_wide_exclusion(
        ontology: Any) -> None:
    text = "Predominantly squamous cell histology NSCLC."
    trial = make_trial(ontology, [
        Inc("Histologically or cytologically confirmed diagnosis of advanced-stage "
            "nonsquamous non-small cell lung cancer (NSCLC).", NSCLC),
        Exc(text, NSCLC, F("histology", "squamous cell histology", terms=("squamous",))),
    ], conditions=("NSCLC",), condition_facts=(NSCLC,))
    m = evaluate(ontology, trial, NSCLC_EGFR)
    assert m.verdict is ELIGIBLE
    assert status_of(m, text) is MET
    squamous = dict(NSCLC_EGFR, cancer_type="LUSC")
    assert status_of(evaluate(ontology, trial, squamous), text) is NOT_MET


def test_more_than_one_agent_of_a_class(ontology: Any) -> None:
    text = "Progressed on more than one CDK 4/6 inhibitor"
    trial = make_trial(ontology, [Exc(text, F("prior_therapy", "CDK 4/6 inhibitor",
                                              classes=("cdk46",), relation="progressed"))],
                       conditions=("Breast Cancer",), condition_facts=(BREAST,))
    assert status_of(evaluate(ontology, trial, BREAST_HER2_LOW), text) is MET
    two = dict(BREAST_HER2_LOW, prior_therapies=[
        *BREAST_HER2_LOW["prior_therapies"],  # type: ignore[misc]
        {"name": "abemaciclib + fulvestrant", "line": 3, "setting": "metastatic",
         "progressed": True}])
    assert status_of(evaluate(ontology, trial, two), text) is NOT_MET


def test_washout_is_timing_not_a_contradiction(ontology: Any) -> None:
    text = "Must have not received any cancer treatment for at least 2 weeks."
    trial = make_trial(ontology, [Inc(text, F("prior_therapy", "cancer treatment",
                                              classes=("systemic",), relation="naive"))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    m = evaluate(ontology, trial, NSCLC_EGFR)
    assert status_of(m, text) is UNKNOWN
    assert m.verdict is ELIGIBLE


def test_upper_line_limit_listed_among_exclusions_is_a_limit(ontology: Any) -> None:
    text = "No more than 3 lines of cytotoxic chemotherapy at the time of enrolment"
    fact = F("prior_therapy", "No more than 3 lines of cytotoxic chemotherapy",
             classes=("chemotherapy",), max_lines=3)
    trial = make_trial(ontology, [Exc(text, fact)], conditions=("NSCLC",),
                       condition_facts=(NSCLC,))
    assert status_of(evaluate(ontology, trial, NSCLC_EGFR), text) is MET


def test_heading_says_exclusion(ontology: Any) -> None:
    text = "Any prior treatment with, AKT, PI3K or mTOR inhibitors."
    trial = make_trial(ontology, [Inc(text, F("prior_therapy", "mTOR inhibitors",
                                              classes=("mtor_inhibitor",)))],
                       conditions=("Breast Cancer",), condition_facts=(BREAST,),
                       headings={0: "Key exclusion criteria for both phases"})
    m = evaluate(ontology, trial, BREAST_HER2_LOW)
    assert status_of(m, text) is MET
    assert m.criteria[-1].kind.value == "exclusion"


def test_phase_only_exclusion_leaves_the_other_phase_open(ontology: Any) -> None:
    text = ("Prior treatment with CDK4/6 inhibitors in the metastatic setting (prior CDK4/6 "
            "inhibitors permitted in the adjuvant setting)")
    trial = make_trial(ontology, [
        Exc("Key exclusion criteria for the phase III only:"),
        Exc(text, F("prior_therapy", "CDK4/6 inhibitors", classes=("cdk46",),
                    setting="metastatic")),
    ], conditions=("Breast Cancer",), condition_facts=(BREAST,))
    m = evaluate(ontology, trial, BREAST_HER2_LOW)
    assert status_of(m, text) is UNKNOWN
    assert m.verdict is POSSIBLY


def test_failing_every_labelled_cohort_is_ineligible(ontology: Any) -> None:
    a = ("Cohort A: Metastatic or advanced solid tumors that are HER2 IHC 3+ (excluding "
         "breast, gastric cancer, and colorectal cancer).")
    b = ("Cohort B: Metastatic or advanced solid tumors that are HER2 IHC 2+/ISH+ any tumor "
         "type (excluding breast, gastric cancer, and colorectal cancer).")
    solid = F("cancer_type", "solid tumors", any_solid_tumor=True)
    trial = make_trial(ontology, [
        Inc(a, F("biomarker", "HER2 IHC 3+", marker="HER2", status="positive",
                 her2_categories=("positive",))),
        Inc(b, F("biomarker", "HER2 IHC 2+/ISH+", marker="HER2", status="positive",
                 her2_categories=("positive",))),
    ], conditions=("Solid Tumors",), condition_facts=(solid,))
    m = evaluate(ontology, trial, BREAST_HER2_LOW)
    assert m.verdict is INELIGIBLE
    positive = dict(BREAST_HER2_LOW, biomarkers={"HER2_IHC": "3+", "ER": "positive"})
    assert evaluate(ontology, trial, positive).verdict is ELIGIBLE


def test_permission_does_not_exclude_patients_it_does_not_concern(ontology: Any) -> None:
    text = ("Patients with prior anti-PD-1, anti PD-L1, or anti-CTLA4 therapy are eligible "
            "if they have received such therapy for a minimum of 6 months")
    trial = make_trial(ontology, [Inc(text, F("prior_therapy", "anti-PD-1",
                                              classes=("pd1_pdl1",)))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    assert status_of(evaluate(ontology, trial, NSCLC_EGFR), text) is MET


def test_aside_in_parentheses_is_no_permission_and_exception_setting(ontology: Any) -> None:
    text = ("Patient has received prior treatment with chemotherapy (except for neoadjuvant/ "
            "adjuvant chemotherapy), fulvestrant, any PI3K, mTOR or AKT inhibitor "
            "(pre-treatment with CDK4/6 inhibitors is allowed)")
    fact = F("prior_therapy", "chemotherapy", classes=("chemotherapy",), setting="adjuvant",
             exception="except for neoadjuvant/ adjuvant chemotherapy")
    trial = make_trial(ontology, [Exc(text, fact)], conditions=("Breast Cancer",),
                       condition_facts=(BREAST,))
    assert status_of(evaluate(ontology, trial, BREAST_HER2_LOW), text) is NOT_MET


def test_consent_criterion_is_procedural(ontology: Any) -> None:
    text = ("Ability to understand the study and give signed informed consent including the "
            "approval to accept a second thoracoscopic or surgical treatment after the third "
            "course")
    trial = make_trial(ontology, [
        Inc("malignant pleural mesothelioma", MESO),
        Inc(text, F("prior_therapy", "surgical treatment", classes=("surgery",)))])
    m = evaluate(ontology, trial, MESO_IB)
    assert status_of(m, text) is UNKNOWN
    assert m.verdict is ELIGIBLE


def test_comorbidity_in_an_inclusion_is_conditional(ontology: Any) -> None:
    text = ("Participants who are Hepatitis B surface antigen (HBsAg) positive are eligible if "
            "they have received Hepatitis B virus (HBV) antiviral therapy for at least 4 weeks")
    trial = make_trial(ontology, [Inc(text, F("condition", "HBsAg", condition="hbv"))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    who = dict(NSCLC_EGFR, conditions=["no hepatitis B"])
    assert status_of(evaluate(ontology, trial, who), text) is not NOT_MET


def test_must_not_be_pregnant_among_exclusions(ontology: Any) -> None:
    text = ("Subjects must not be pregnant or nursing due to the potential for congenital "
            "abnormalities")
    trial = make_trial(ontology, [Exc(text, F("condition", "pregnant or nursing",
                                              condition="pregnancy", negated=True))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    who = dict(NSCLC_EGFR, pregnant=False)
    assert status_of(evaluate(ontology, trial, who), text) is MET


def test_recist_name_is_not_a_solid_tumour_scope(ontology: Any) -> None:
    sts = F("cancer_type", "soft tissue sarcoma", codes=("SARCNOS",))
    trial = make_trial(ontology, [
        Inc("Histologically confirmed diagnosis of advanced unresectable or metastatic soft "
            "tissue sarcoma", F("cancer_type", "soft tissue sarcoma", codes=("SARCNOS",))),
        Inc("Presence of measurable or nonmeasurable but evaluable disease as defined by the "
            "Response Evaluation Criteria in Solid Tumors (RECIST 1.1)",
            F("cancer_type", "Solid Tumors", any_solid_tumor=True)),
    ], conditions=("soft tissue sarcoma",), condition_facts=(sts,))
    assert evaluate(ontology, trial, DESMOID).verdict is INELIGIBLE


def test_generic_word_qualified_by_haematologic_cancers(ontology: Any) -> None:
    trial = make_trial(ontology, [
        Inc("Histopathological diagnosis of Non-Hodgkin Lymphoma (NHL) or Chronic Lymphocytic "
            "Leukemia (CLL) or Hodgkin disease.",
            F("cancer_type", "Non-Hodgkin Lymphoma", codes=("NHL",))),
    ], conditions=("Select Relapsed/Refractory Lymphoid Malignancies",),
        condition_facts=(F("cancer_type", "Malignancies", any_malignancy=True),))
    assert evaluate(ontology, trial, MESO_IB).verdict is INELIGIBLE


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (MESO_IB, INELIGIBLE),  # a mesothelioma is no carcinoma
        (DESMOID, INELIGIBLE),
        (BREAST_HER2_LOW, ELIGIBLE),  # Breast Invasive Ductal Carcinoma
        (NSCLC_EGFR, ELIGIBLE),  # Lung Adenocarcinoma
        (dict(cancer_type="SCLC", age=68, sex="female"), POSSIBLY),  # named as neither
    ],
)
def test_generic_carcinoma_condition_enrols_carcinomas_only(
    ontology: Any, who: dict[str, Any], expected: Verdict
) -> None:
    # NCT06475911 (hyponatraemia after major HPB surgery): conditions "Carcinoma" only.
    trial = make_trial(ontology, [Inc("Age 18-80 years", F("age", "18-80 years",
                                                            min_years=18, max_years=80))],
                       conditions=("Carcinoma",),
                       condition_facts=(F("cancer_type", "Carcinoma", any_solid_tumor=True),))
    assert evaluate(ontology, trial, who).verdict is expected


def test_bare_generic_condition_among_non_cancer_conditions_is_no_cancer_population(
        ontology: Any) -> None:
    # NCT05821920 (posterior pedicle screw system): "Tumor" beside spine conditions is
    # no cancer population (see also cases/cancer_type.toml).
    conditions = ("Degenerative Disc Disease", "Trauma Injury", "Tumor")
    tumor = F("cancer_type", "Tumor", any_malignancy=True)
    trial = make_trial(ontology, [], conditions=conditions, condition_facts=(tumor,))
    m = evaluate(ontology, trial, MESO_IB)
    assert m.verdict is INELIGIBLE and m.criteria[0].status is NOT_MET
    # The same word as the whole conditions list is a generic cancer study.
    alone = make_trial(ontology, [], conditions=("Tumor",), condition_facts=(tumor,))
    assert evaluate(ontology, alone, MESO_IB).verdict is ELIGIBLE


def test_cancer_named_only_in_a_criterion_of_a_non_cancer_study(ontology: Any) -> None:
    trial = make_trial(ontology, [
        Inc("Patients with a history of breast cancer treated with anthracyclines",
            F("cancer_type", "breast cancer", codes=("BRCA",)))],
        conditions=("chronic heart failure",))
    assert evaluate(ontology, trial, BREAST_HER2_LOW).verdict is not ELIGIBLE


def test_permission_sentence_does_not_rescue_the_exclusion_beside_it(ontology: Any) -> None:
    text = ("Known active central nervous system metastases. Participants with previously "
            "treated brain metastases may participate provided they are radiologically stable")
    trial = make_trial(ontology, [Exc(text, F(
        "brain_metastases", "active central nervous system metastases", qualifier="active",
        treated_allowed=True))], conditions=("NSCLC",), condition_facts=(NSCLC,))
    active = dict(NSCLC_EGFR, brain_metastases="active")
    assert status_of(evaluate(ontology, trial, active), text) is NOT_MET
    stable = dict(NSCLC_EGFR, brain_metastases="treated_stable")
    assert status_of(evaluate(ontology, trial, stable), text) is MET


def test_broad_word_beside_a_specific_sibling_is_shorthand(ontology: Any) -> None:
    trial = make_trial(ontology, [], conditions=("non small cell lung cancer", "lung cancer"),
                       condition_facts=(
                           F("cancer_type", "non small cell lung cancer", codes=("NSCLC",)),
                           F("cancer_type", "lung cancer", codes=("LUNG",))))
    sclc = dict(NSCLC_EGFR, cancer_type="SCLC", biomarkers={})
    assert evaluate(ontology, trial, sclc).verdict is not ELIGIBLE
    assert evaluate(ontology, trial, NSCLC_EGFR).verdict is ELIGIBLE


def test_histology_inside_the_cancer_name_does_not_narrow_the_exclusion(
        ontology: Any) -> None:
    text = ("Primary diagnosis of adenocarcinoma of the breast, adenocarcinoma of the colon "
            "or rectum")
    trial = make_trial(ontology, [Exc(
        text, F("cancer_type", "adenocarcinoma of the breast", codes=("BREAST",)),
        F("histology", "adenocarcinoma", terms=("adenocarcinoma",)))],
        conditions=("Solid Tumors",),
        condition_facts=(F("cancer_type", "Solid Tumors", any_solid_tumor=True),))
    assert evaluate(ontology, trial, BREAST_HER2_LOW).verdict is INELIGIBLE


def test_list_of_excluded_cancers_with_a_histology_word(ontology: Any) -> None:
    text = ("Primary diagnosis of adenocarcinoma of the breast, adenocarcinoma of the gastric "
            "body or gastro-esophageal junction, or non-small cell lung cancer")
    trial = make_trial(ontology, [Exc(
        text, F("cancer_type", "adenocarcinoma of the breast", codes=("BREAST",)),
        F("histology", "adenocarcinoma of the gastric", terms=("adenocarcinoma",)),
        F("cancer_type", "non-small cell lung cancer", codes=("NSCLC",)))],
        conditions=("Solid Tumors",),
        condition_facts=(F("cancer_type", "Solid Tumors", any_solid_tumor=True),))
    her2pos = dict(BREAST_HER2_LOW, biomarkers={"HER2_IHC": "3+"})
    assert evaluate(ontology, trial, her2pos).verdict is INELIGIBLE


def test_drug_target_is_not_the_patients_biomarker(ontology: Any) -> None:
    text = "Treatment targeting KRAS G12C mutation (eg, sotorasib, adagrasib) in any setting."
    trial = make_trial(ontology, [Exc(
        text, F("biomarker", "KRAS G12C", marker="KRAS", status="mutated", variant="G12C"),
        F("prior_therapy", "sotorasib", drugs=("sotorasib",)))],
        conditions=("NSCLC",), condition_facts=(NSCLC,))
    g12c = dict(NSCLC_EGFR, biomarkers={"KRAS": "G12C", "EGFR": "negative"}, prior_therapies=[])
    assert status_of(evaluate(ontology, trial, g12c), text) is MET


def test_active_brain_metastases_and_or_meningitis(ontology: Any) -> None:
    text = "Have known active central nervous system metastases and/or carcinomatous meningitis."
    trial = make_trial(ontology, [Exc(text, F(
        "brain_metastases", "active central nervous system metastases", qualifier="active",
        leptomeningeal=True))], conditions=("NSCLC",), condition_facts=(NSCLC,))
    active = dict(NSCLC_EGFR, brain_metastases="active")
    assert status_of(evaluate(ontology, trial, active), text) is NOT_MET


def test_metastasis_site_is_not_a_cancer_type(ontology: Any) -> None:
    trial = make_trial(ontology, [], conditions=("Colorectal cancer with peritoneal "
                                                 "metastases",),
                       condition_facts=(
                           F("cancer_type", "Colorectal cancer", codes=("COADREAD",)),
                           F("cancer_type", "peritoneal metastases", codes=("PERITONEUM",))))
    pemeso = dict(MESO_IB, cancer_type="PEMESO")
    assert evaluate(ontology, trial, pemeso).verdict is INELIGIBLE


def test_exclusion_worded_item_in_a_list_without_exclusion_section(ontology: Any) -> None:
    # NCT03983954's text has no exclusion heading; its item 9 is an exclusion.
    text = ("Subjects with known, suspected, or documented parenchymal brain metastases, "
            "unless treated with surgery and/or radiation, with the subject neurologically "
            "stable and off pharmacologic doses of systemic glucocorticoids (equivalent to "
            "< 10 mg/day of prednisone); subjects with leptomeningeal metastases are not "
            "eligible. Subjects should have completed brain radiation at least 14 days "
            "before start of obinutuzumab treatment.")
    bm = F("brain_metastases", "parenchymal brain metastases", treated_allowed=True)
    trial = make_trial(ontology, [
        Inc("NSCLC including driver mutation positive.", NSCLC),
        Inc(text, bm),
    ], conditions=("NSCLC",), condition_facts=(NSCLC,))
    m = evaluate(ontology, trial, NSCLC_EGFR)
    assert status_of(m, text) is MET
    assert m.criteria[-1].kind.value == "exclusion"
    assert m.verdict is ELIGIBLE
    active = dict(NSCLC_EGFR, brain_metastases="active")
    assert status_of(evaluate(ontology, trial, active), text) is NOT_MET
    # With an exclusion section present, the inclusion list is read as written; an item
    # asking something of the patient, or naming the targeted disease, stays inclusion.
    trial2 = make_trial(ontology, [
        Inc("Patients with known brain metastases must have been treated and be stable.",
            F("brain_metastases", "brain metastases", qualifier="treated_stable")),
        Inc("Patients with known activating EGFR mutation.",
            F("biomarker", "EGFR mutation", marker="EGFR", status="mutated")),
    ], conditions=("NSCLC",), condition_facts=(NSCLC,))
    kinds = [c.kind.value for c in evaluate(ontology, trial2, NSCLC_EGFR).criteria[-2:]]
    assert kinds == ["inclusion", "inclusion"]


def test_sample_provision_is_procedural(ontology: Any) -> None:
    # NCT03983954 item 6 (cohort-scoped), NCT05907980 (a generic "tumor" mention).
    text = ("In the MTD Expansion Cohort only, an archival or fresh biopsy will be acceptable "
            "at baseline. Patients enrolled in the MTD expansion cohort after prior exposure "
            "to a CPI should have a baseline biopsy obtained after completion of the last "
            "prior CPI therapy.")
    text2 = ("Patients with confirmed availability of fresh tumor or representative tumor "
             "specimens")
    trial = make_trial(ontology, [
        Inc(text, F("prior_therapy", "prior CPI therapy", classes=("pd1_pdl1",))),
        Inc(text2, F("cancer_type", "tumor", any_solid_tumor=True)),
    ], conditions=("NSCLC",), condition_facts=(NSCLC,))
    m = evaluate(ontology, trial, NSCLC_EGFR)
    assert [c.key for c in m.criteria[-2:]] == [False, False]
    assert m.verdict is ELIGIBLE


def test_no_need_to_have_is_no_requirement(ontology: Any) -> None:
    text = "Dose-escalation part: patients do not need to have measurable disease by RECIST 1.1"
    trial = make_trial(ontology, [Inc(text, F("measurable_disease", "measurable disease",
                                              negated=True))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    m = evaluate(ontology, trial, NSCLC_EGFR)
    assert status_of(m, text) is UNKNOWN
    assert not m.criteria[-1].key
    assert m.verdict is ELIGIBLE


def test_first_line_title_excludes_a_pretreated_patient(ontology: Any) -> None:
    # NCT03634059's title; NCT05078931's ("… TKI Resistant NSCLC …") names later lines.
    # (More trials: cases/prior_therapy.toml, rule prior_therapy.first_line_title.)
    first = make_trial(ontology, [Inc("Non-squamous NSCLC", NSCLC)], conditions=("NSCLC",),
                       condition_facts=(NSCLC,),
                       title="A Study of Apatinib Plus EGFR-TKI as First Line Treatment in "
                             "Patients With Non-squamous NSCLC")
    m = evaluate(ontology, first, NSCLC_EGFR)
    assert m.verdict is INELIGIBLE
    assert any(c.text.startswith("Title:") and c.status is NOT_MET for c in m.criteria)
    naive = dict(NSCLC_EGFR, prior_therapies=[])
    assert evaluate(ontology, first, naive).verdict is ELIGIBLE
    later = make_trial(ontology, [Inc("Non-squamous NSCLC", NSCLC)], conditions=("NSCLC",),
                       condition_facts=(NSCLC,),
                       title="Maintenance After First-line Chemotherapy in NSCLC")
    assert evaluate(ontology, later, NSCLC_EGFR).verdict is ELIGIBLE


def test_title_biomarker_the_patient_lacks_keeps_the_trial_possibly_eligible(
        ontology: Any) -> None:
    # NCT06062823: the EGFR requirement is worded "Presence of a PACC mutation", which no
    # rule reads; the title says whom the trial is for.
    title = "Study of EGFR TKI in Patients With Advanced NSCLC Harbouring EGFR Mutations"
    trial = make_trial(
        ontology,
        [Inc("Histological or cytologically confirmed NSCLC.", NSCLC),
         Inc("Presence of a PACC mutation (detected either in blood or tumour)")],
        conditions=("NSCLC",), title=title,
        condition_facts=(NSCLC, F("biomarker", "EGFR Mutations", marker="EGFR",
                                  status="mutated")))
    wild_type = dict(NSCLC_EGFR, prior_therapies=[], biomarkers={"EGFR": "wild-type"})
    m = evaluate(ontology, trial, wild_type)
    assert m.verdict is POSSIBLY
    assert "biomarker status the title targets?" in m.questions
    mutant = dict(NSCLC_EGFR, prior_therapies=[])
    assert evaluate(ontology, trial, mutant).verdict is ELIGIBLE
    unknown = dict(NSCLC_EGFR, prior_therapies=[], biomarkers={})
    assert evaluate(ontology, trial, unknown).verdict is ELIGIBLE  # a hint, not a criterion


def test_systemic_therapy_for_the_cancer_is_any_systemic_therapy(ontology: Any) -> None:
    # NCT02364999 (exclusion): "systemic therapy for NSCLC" -> class regimen_nsclc.
    text = ("Prior systemic therapy for NSCLC; prior neoadjuvant or adjuvant therapy is "
            "allowed if surgical resection for primary disease was performed.")
    trial = make_trial(ontology, [Exc(text, F("prior_therapy", "systemic therapy for NSCLC",
                                              classes=("regimen_nsclc",)))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    assert status_of(evaluate(ontology, trial, NSCLC_EGFR), text) is NOT_MET
    naive = dict(NSCLC_EGFR, prior_therapies=[])
    assert status_of(evaluate(ontology, trial, naive), text) is MET


def test_including_adjuvant_widens_the_setting(ontology: Any) -> None:
    # NCT00379717 (exclusion): the parser gives setting "adjuvant" from "including …".
    text = ("Prior systemic chemotherapy, immunotherapy, or biological therapy including "
            "neoadjuvant or adjuvant treatment for NSCLC.")
    trial = make_trial(ontology, [Exc(text, F("prior_therapy", "systemic chemotherapy",
                                              classes=("chemotherapy",), setting="adjuvant"))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    chemo = dict(NSCLC_EGFR, prior_therapies=[
        {"name": "carboplatin + pemetrexed", "line": 1, "setting": "metastatic",
         "progressed": True}])
    assert status_of(evaluate(ontology, trial, chemo), text) is NOT_MET
    assert status_of(evaluate(ontology, trial, NSCLC_EGFR), text) is MET


def test_exclusion_leadin_left_among_items_opens_the_exclusion_list(ontology: Any) -> None:
    # NCT02134106: the section splitter left the heading as an item.
    text = "Patients with known brain or leptomeningeal disease."
    trial = make_trial(ontology, [
        Inc("NSCLC", NSCLC),
        Inc("Exclusion Criteria (will be excluded if subjects meet one or more of the "
            "following"),
        Inc("Prior radiotherapy for NSCLC.", F("prior_therapy", "radiotherapy",
                                               classes=("radiotherapy",))),
        Inc(text, F("brain_metastases", "brain or leptomeningeal disease")),
    ], conditions=("NSCLC",), condition_facts=(NSCLC,))
    m = evaluate(ontology, trial, NSCLC_EGFR)
    assert [c.kind.value for c in m.criteria[-2:]] == ["exclusion", "exclusion"]
    assert m.verdict is ELIGIBLE


def test_exclusion_wording_cues_that_are_not_exclusions(ontology: Any) -> None:
    only_after = ("Patients with known brain metastases will only be eligible after their "
                  "tumors have been treated with definitive resection and/or radiotherapy")
    not_including = ("Received 1 prior chemotherapy regimen for advanced or metastatic "
                     "disease (not including neoadjuvant and/or adjuvant therapy).")
    trial = make_trial(ontology, [
        Inc(only_after, F("brain_metastases", "brain metastases")),
        Inc(not_including, F("prior_therapy", "chemotherapy regimen",
                             classes=("chemotherapy",), min_lines=1, setting="adjuvant")),
    ], conditions=("NSCLC",), condition_facts=(NSCLC,))
    m = evaluate(ontology, trial, NSCLC_EGFR)
    assert [c.kind.value for c in m.criteria[-2:]] == ["inclusion", "inclusion"]
    # "(not including … adjuvant)" does not widen the fact; the patient had no chemotherapy.
    assert status_of(m, not_including) is NOT_MET


def test_lead_in_to_conditions_is_not_an_exclusion(ontology: Any) -> None:
    # NCT02965378: conditions for HIV-positive patients, not an exclusion of them.
    text = ("Patients with a known history of human immunodeficiency virus (HIV) "
            "seropositivity: 1. Must have undetectable viral load using standard HIV assay")
    trial = make_trial(ontology, [Inc("NSCLC", NSCLC),
                                  Inc(text, F("condition", "HIV", condition="hiv"))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    assert evaluate(ontology, trial, NSCLC_EGFR).criteria[-1].kind.value == "inclusion"


def test_sample_item_with_a_therapy_requirement_is_not_procedural(ontology: Any) -> None:
    text = ("Tumor tissue (archived acceptable) available for biomarker studies. Patients "
            "must have progressed on prior platinum-based chemotherapy")
    trial = make_trial(ontology, [Inc(text, F("prior_therapy", "platinum-based chemotherapy",
                                              classes=("platinum",), relation="progressed"))],
                       conditions=("NSCLC",), condition_facts=(NSCLC,))
    assert status_of(evaluate(ontology, trial, NSCLC_EGFR), text) is NOT_MET


GENERIC_CONDITION = F("cancer_type", "Locally Advanced Malignant Neoplasm", any_malignancy=True)
HEAD_NECK_LIST = ("Histopathologically proven cases of locally advanced head and neck cancers "
                  "(LAHNC), TNM stages III and IV and locally advanced cancer cervix (LACC), "
                  "FIGO stages IIB - IVA, locally advanced (primarily inoperable T3 and T4 "
                  "stages) and recurrent breast cancers")


def test_generic_conditions_are_narrowed_by_a_specific_inclusion_list(ontology: Any) -> None:
    """NCT05099809: conditions say only "Locally Advanced Malignant Neoplasm"; the
    inclusion list (head and neck, cervix, breast) is the population."""
    trial = make_trial(ontology, [
        Inc(HEAD_NECK_LIST,
            F("cancer_type", "head and neck cancers", codes=("HEAD_NECK",)),
            F("cancer_type", "cancer", any_malignancy=True),
            F("cancer_type", "breast cancers", codes=("BREAST",))),
    ], conditions=("Locally Advanced Malignant Neoplasm",), condition_facts=(GENERIC_CONDITION,))
    assert evaluate(ontology, trial, MESO_IB).verdict is INELIGIBLE
    breast = evaluate(ontology, trial, BREAST_HER2_LOW)
    assert not any(c.category == "cancer_type" and c.status is NOT_MET for c in breast.criteria)


def test_generic_inclusion_scope_keeps_generic_conditions_open(ontology: Any) -> None:
    """NCT00598091: "solid tumor malignancy" in the dose-escalation criterion keeps the
    trial open to any solid tumour although the expansion names pancreatic cancer."""
    trial = make_trial(ontology, [
        Inc("Patients must have histologically confirmed solid tumor malignancy that is "
            "metastatic or unresectable", F("cancer_type", "solid tumor malignancy",
                                            any_solid_tumor=True)),
        Inc("Histologically or cytologically documented adenocarcinoma of the pancreas.",
            F("cancer_type", "adenocarcinoma of the pancreas", codes=("PAAD",))),
    ], conditions=("refractory solid tumors",),
        condition_facts=(F("cancer_type", "solid tumors", any_solid_tumor=True),))
    m = evaluate(ontology, trial, MESO_IB)
    assert not any(c.category == "cancer_type" and c.status is NOT_MET for c in m.criteria)
