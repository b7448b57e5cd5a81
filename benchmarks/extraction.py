"""Extraction benchmark: the project's parser against NCI's curated criteria and CT.gov.

    python -m benchmarks.extraction --nci ../shared/data/benchmarks/nci_curated_criteria/dev.tsv \\
        [--corpus ../shared/data/ctgov/studies.jsonl.gz] [--json OUT] [--errors N]

Everything goes through the code path sync uses: a :class:`~matchers.models.TrialSummary`
(for corpus studies built by ``trial_cache.models.validate_record``, i.e. Markdown
escapes removed) parsed by :meth:`matchers.parser.EligibilityParser.parse`.

NCI curated criteria (``--nci``)
--------------------------------
Each row has a criterion's original text, NCI's refined text and an NCIt expression.
The file is read as plain TSV (no quoting). A row that cannot be read — wrong number of
columns, or ``criteria_type`` ``?`` (a multi-line field whose continuation shifted the
columns) — is listed with its line number and reason, never skipped silently. Rows with
an empty original text are not scored (counted as "no text"). Text repair, applied to
every row: NCI stores line breaks as the two characters ``\\n`` (turned back into
newlines) and some rows are UTF-8 read as Windows-1252 ("â‰¥" for "≥"; re-decoded).

Rows carry no trial context, so each text is wrapped in a ``TrialSummary`` and parsed as
it stands (no heading → an *inclusion* criterion). Comparison rules, by type, with no
per-row cases:

* ``perf`` — expected: the ECOG maximum of ``Performance Status =< N``. Predicted: the
  largest ``ecog_max`` among the performance-status facts (facts of one criterion are
  alternatives: "ECOG 0-1 or KPS ≥ 70"). If the facts only give a lower bound (the text
  states who is *excluded*: "ECOG 3 or 4", "Karnofsky < 70"), the text is re-parsed as
  an exclusion criterion (so Karnofsky converts with the exclusion-side reading) and the
  allowed maximum is ``ecog_min - 1``. Rows "… =< a (adults) OR … =< b (pediatrics)"
  are read strictly: the set of predicted maxima must equal {a, b}. Karnofsky/Lansky
  values convert as documented in :mod:`matchers.criteria.performance_status` (a KPS bound
  maps to every ECOG grade compatible with it under Oken 1982 or Buccheri 1996; NCI's
  refined texts follow the latter: "Karnofsky ≥ 70%" → "Performance Status =< 2").
* ``plt`` / ``wbc`` — expected: the count in ``… >= 100,000/uL`` (cells/µL). Predicted:
  the first platelet (WBC) lab fact; a ``<``/``<=`` bound is an exclusion-phrased text
  ("Platelets ≤ 50,000") and is compared as its complement's limit. NCI's refined texts
  ignore strictness ("> 100,000" is curated ">= 100,000"), so the value is compared.
  Expected ``NA`` ("Not specified") → correct iff no such fact.
* ``bmets`` — expected from the expression: C4015 → brain/CNS metastases excluded, with
  treated ones not allowed (``treated_allowed`` False or unspecified); refined
  "Condition" → excluded with treated/stable ones allowed (``treated_allowed`` True);
  ``NA`` → no fact. Predicted: a brain-metastases fact, or a stage/extent fact on
  metastatic disease (excluding all metastatic disease excludes CNS metastases).
  Polarity is not scored: NCI rows do not say whether the text sat under inclusion
  ("No known brain metastases") or exclusion ("Known brain metastases") — both mean
  "excluded", so the fact's presence and its ``treated_allowed`` are compared.
* ``pt_inc``, ``pt_exc``, ``chemotherapy_exc``, ``immunotherapy_exc`` — expected: the
  NCIt codes of the expression, mapped to the ontology's therapy classes and drugs
  (``TherapyClass.nci``, ``Drug.nci``); C15903 "No Prior Cancer Therapy" maps to
  systemic therapy; the expected set also accepts its most specific common class when
  that class is itself specific (≥ 2 ancestors: {pd1, pdl1} accepts "PD-1/PD-L1
  inhibitor", {cisplatin, carboplatin, oxaliplatin} accepts "platinum"). Predicted: the
  classes and drugs of the prior-therapy facts, with their ancestors (a drug's classes,
  a class's parents: "platinum" entails "chemotherapy" entails "systemic"). Correct iff
  the two sets meet — a prediction at or below the expected class. Rows whose codes
  the ontology does not know are listed as "unmapped" and not scored. "Condition"/NA →
  correct iff no prior-therapy fact without an exception. Polarity not scored (as above:
  NCI's inc/exc labels follow the curated concept, not the text's section).
* ``biomarker_inc`` / ``biomarker_exc`` — expected: the expression's codes mapped to
  markers/variants (``Marker.findings``, ``Variant.nci``); predicted biomarker facts
  correct iff one names an expected marker (and variant, when the codes name one).
* ``hiv_exc`` — expected C15175 → an ``hiv`` condition fact. ``surg`` — the parser
  has no surgery category: coded rows count as unparsed.
* For every type, refined "Condition" means NCI could not code the text because it is
  conditional: correct iff no fact of the type, or only facts carrying an
  ``exception`` (or, for bmets, ``treated_allowed``).

CT.gov structured fields (``--corpus``)
---------------------------------------
For every study with ``minimumAge``/``maximumAge``/``sex``: each age fact of an
inclusion criterion (an exclusion's age fact as its complement) must agree with the
structured minimum/maximum (within one year when the text's bound is strict: "> 18",
"over 18", "above 40" may be filed as 18/19 or 40/41; exact otherwise — "18 and over",
"40 or above" are inclusive); each sex fact (an exclusion's as the other sex) must
equal the structured sex. Only facts the parser read are scored (this measures
precision against the record, not recall). Every bound the text states must match: a
text upper bound against an absent ``maximumAge`` (CT.gov "N/A" = no limit) is an
error. Months/weeks/days are compared in years on both sides. A fact read from the
word "adult(s)" alone (no number in the text) states the age of majority, not a number:
it agrees with a ``minimumAge`` from 18 to 21 years (18 in most jurisdictions; 19 in
South Korea, 20 in Japan before 2022, 21 in some US states). Coverage over the whole
corpus: share of criteria with facts of each category, share uninterpreted, and the 30
most frequent leading trigrams of uninterpreted criteria (lower-cased, digits → N).
Throughput: trials per CPU-second of ``parse`` in this single-threaded process (per core,
not skewed by other load on the machine), and its ratio to bare scispaCy tokenization
of the same texts.

Output: a table by type, the overall line, the brain-metastases line (bmets accuracy
against issue 8's target of 0.95, printed after the table and again just above the
summary), age/sex, coverage, throughput; ``--json`` writes
``by_type.<type>.{n,correct,wrong,unparsed,accuracy}``, ``overall.accuracy``,
``targets.bmets.{accuracy,n,target,met}``, ``age_sex.accuracy`` and the rest. The last
printed line is a one-line summary, bmets first.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import json
import re
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "ctgov" / "studies.jsonl.gz"

COLUMNS = (
    "nct_id",
    "criteria_type",
    "criteria_type_id",
    "trial_criteria_orig_text",
    "trial_criteria_refined_text",
    "trial_criteria_expression",
)
SCORED_TYPES = (
    "perf",
    "plt",
    "wbc",
    "bmets",
    "pt_inc",
    "pt_exc",
    "chemotherapy_exc",
    "immunotherapy_exc",
    "biomarker_inc",
    "biomarker_exc",
    "hiv_exc",
    "surg",
)
NO_PRIOR_THERAPY = "C15903"
HIV_CODE = "C15175"
BMETS_CODE = "C4015"
BMETS_TARGET = 0.95
"""Issue 8's target for brain-metastases accuracy on the NCI curated rows with text."""


# --------------------------------------------------------------------------------------
# reading NCI rows
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NciRow:
    line: int
    nct_id: str
    ctype: str
    text: str
    refined: str
    expression: str


@dataclass(slots=True)
class Unreadable:
    line: int
    reason: str


def repair_text(text: str) -> str:
    """NCI text repair: literal ``\\n`` → newline; UTF-8 mis-decoded as Windows-1252
    ("â‰¥") re-decoded."""
    t = text.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\t", " ")
    if re.search(r"â[€‰]|Ã.|Â", t):
        out = []
        for part in re.split(r"(\s+)", t):
            try:
                out.append(_cp1252_bytes(part).decode("utf-8"))
            except (UnicodeEncodeError, UnicodeDecodeError):
                out.append(part)
        t = "".join(out)
    return t


def _cp1252_bytes(text: str) -> bytes:
    """The bytes a Windows-1252 decoder turned into ``text`` (bytes it leaves undefined,
    such as 0x90, come back as themselves)."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) < 256:
                out.append(ord(ch))
            else:
                raise
    return bytes(out)


def read_nci(path: Path) -> tuple[list[NciRow], list[Unreadable]]:
    """Read the TSV (no quoting); rows that cannot be read are returned with a reason."""
    rows: list[NciRow] = []
    bad: list[Unreadable] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or tuple(header[: len(COLUMNS)]) != COLUMNS:
            raise SystemExit(f"{path}: unexpected header {header!r}")
        for lineno, rec in enumerate(reader, start=2):
            if len(rec) != len(COLUMNS):
                bad.append(Unreadable(lineno, f"{len(rec)} columns instead of {len(COLUMNS)}"))
                continue
            nct, ctype, _tid, text, refined, expr = rec
            if ctype == "?" or ctype not in SCORED_TYPES:
                bad.append(
                    Unreadable(
                        lineno,
                        f"criteria_type {ctype!r}: columns shifted (nct_id column holds "
                        f"{nct[:40]!r})"
                        if ctype == "?"
                        else f"unknown criteria_type {ctype!r}",
                    )
                )
                continue
            if not re.fullmatch(r"NCT\d{8}", nct):
                bad.append(Unreadable(lineno, f"bad nct_id {nct[:40]!r}"))
                continue
            rows.append(
                NciRow(
                    lineno, nct, ctype, repair_text(text).strip("\n"), refined.strip(), expr.strip()
                )
            )
    return rows, bad


# --------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class TypeScore:
    rows: int = 0
    no_text: int = 0
    unmapped: int = 0
    correct: int = 0
    wrong: int = 0
    unparsed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return self.correct + self.wrong + self.unparsed

    @property
    def accuracy(self) -> float:
        return self.correct / self.scored if self.scored else 0.0


def _is_condition(row: NciRow) -> bool:
    return row.refined.lower().startswith("condition")


def _is_na(row: NciRow) -> bool:
    return row.refined.upper() in ("NA", "") or row.text.strip().lower() == "not specified"


def _codes(expr: str) -> list[str]:
    return re.findall(r"C\d{3,7}", expr)


class Scorer:
    """Parses NCI rows with the project's parser and compares (see module docstring)."""

    def __init__(self, parser: Any, ontology: Any) -> None:
        from matchers.models import TrialSummary

        self.parser = parser
        self.onto = ontology
        self._summary = TrialSummary
        ther = ontology.therapies
        self.code_to_therapy: dict[str, set[str]] = collections.defaultdict(set)
        for cid, cls in ther.classes.items():
            for code in cls.nci:
                self.code_to_therapy[code].add(cid)
        for did, drug in ther.drugs.items():
            for code in drug.nci:
                self.code_to_therapy[code].add(did)
        self.code_to_therapy[NO_PRIOR_THERAPY].add("systemic")
        bio = ontology.biomarkers
        self.code_to_marker: dict[str, set[tuple[str, str | None]]] = collections.defaultdict(set)
        for mid, mk in bio.markers.items():
            findings = getattr(mk, "findings", None) or {}
            items = findings.items() if isinstance(findings, dict) else findings
            for _status, codes in items:
                for code in codes:
                    self.code_to_marker[code].add((mid, None))
            for code in getattr(mk, "nci", ()) or ():
                self.code_to_marker[code].add((mid, None))
        for vid, var in bio.variants.items():
            for code in getattr(var, "nci", ()) or ():
                self.code_to_marker[code].add((var.marker, vid))

    def parse(self, row: NciRow, *, exclusion: bool = False) -> Any:
        text = row.text
        if exclusion:
            text = "Exclusion Criteria:\n" + text
        parsed = self.parser.parse(self._summary(nct_id=row.nct_id, eligibility_text=text))
        return [f for c in parsed.criteria for f in c.facts]

    # --- per type ---------------------------------------------------------------------

    def score(self, row: NciRow, ts: TypeScore) -> None:
        method = {
            "perf": self._perf,
            "plt": self._count,
            "wbc": self._count,
            "bmets": self._bmets,
            "pt_inc": self._therapy,
            "pt_exc": self._therapy,
            "chemotherapy_exc": self._therapy,
            "immunotherapy_exc": self._therapy,
            "biomarker_inc": self._biomarker,
            "biomarker_exc": self._biomarker,
            "hiv_exc": self._hiv,
            "surg": self._surg,
        }[row.ctype]
        outcome, detail = method(row)
        if outcome == "correct":
            ts.correct += 1
        elif outcome == "wrong":
            ts.wrong += 1
        elif outcome == "unparsed":
            ts.unparsed += 1
        elif outcome == "unmapped":
            ts.unmapped += 1
            return
        if outcome in ("wrong", "unparsed"):
            ts.errors.append(
                f"line {row.line} [{outcome}] {detail} :: {row.text[:160]!r} "
                f"=> {row.refined[:80]!r}"
            )

    def _conditional_ok(self, facts: Sequence[Any], category: str) -> tuple[str, str]:
        mine = [f for f in facts if f.category == category]
        if not mine or all(f.exception for f in mine):
            return "correct", ""
        return "wrong", f"expected no unconditional {category} fact, got {_show(mine)}"

    def _perf(self, row: NciRow) -> tuple[str, str]:
        maxima = [int(x) for x in re.findall(r"=<\s*(\d)", row.refined)]
        if not maxima:
            return "unmapped", ""
        facts = [f for f in self.parse(row) if f.category == "performance_status"]
        if not facts:
            return "unparsed", "no performance-status fact"
        got = self._allowed_max(facts)
        if got is None:
            facts = [
                f for f in self.parse(row, exclusion=True) if f.category == "performance_status"
            ]
            mins = [f.ecog_min for f in facts if f.ecog_min is not None]
            got = {min(mins) - 1} if mins else None
        if got is None:
            return "unparsed", f"no usable bound in {_show(facts)}"
        if "(adults)" in row.refined and "(pediatrics)" in row.refined:
            ok = got == set(maxima)
        else:
            ok = max(got) == maxima[0]
        return ("correct" if ok else "wrong"), f"got ECOG max {sorted(got)} from {_show(facts)}"

    @staticmethod
    def _allowed_max(facts: Sequence[Any]) -> set[int] | None:
        """ECOG maxima the facts allow; None when they only bound from below (the text
        names who is excluded: "ECOG 3 or 4", "ECOG ≥ 2")."""
        maxima = {
            f.ecog_max
            for f in facts
            if f.ecog_max is not None and not f.negated and not (f.ecog_min and f.ecog_max >= 4)
        }
        return maxima or None

    def _count(self, row: NciRow) -> tuple[str, str]:
        lab = "platelets" if row.ctype == "plt" else "wbc"
        facts = [f for f in self.parse(row) if f.category == "lab" and f.lab == lab]
        if _is_na(row):
            return ("correct", "") if not facts else ("wrong", f"expected none, got {_show(facts)}")
        if _is_condition(row):
            return self._conditional_ok(facts, "lab")
        m = re.search(r"(>=|=<|<=|<|>)\s*([\d,]+)", row.refined)
        if m is None:
            return "unmapped", ""
        want = float(m.group(2).replace(",", ""))
        if not facts:
            return "unparsed", f"no {lab} fact"
        got = facts[0].value
        return (
            "correct" if abs(got - want) < 0.5 else "wrong"
        ), f"got {facts[0].comparator} {got:g}"

    def _bmets(self, row: NciRow) -> tuple[str, str]:
        facts = self.parse(row)
        bm = [f for f in facts if f.category == "brain_metastases"]
        metastatic = [
            f
            for f in facts
            if f.category == "stage"
            and ("metastatic" in [str(x) for x in f.extents] or "IV" in f.stages)
        ]
        if _is_na(row) and not _codes(row.expression):
            return ("correct", "") if not bm else ("wrong", f"expected none, got {_show(bm)}")
        want_allowed = _is_condition(row)
        if not bm and not metastatic:
            return "unparsed", "no brain-metastases fact"
        if bm:
            allowed = any(f.treated_allowed is True for f in bm)
            ok = allowed == want_allowed
            return ("correct" if ok else "wrong"), f"treated_allowed={allowed} from {_show(bm)}"
        return (
            "correct" if not want_allowed else "wrong"
        ), f"metastatic disease excluded: {_show(metastatic)}"

    def _therapy_ids(self, facts: Iterable[Any]) -> set[str]:
        ther = self.onto.therapies
        ids: set[str] = set()
        for f in facts:
            for cl in f.classes:
                ids |= set(ther.class_closure([cl]))
            for d in f.drugs:
                ids.add(d)
                ids |= set(ther.classes_of(d))
        return ids

    def _accept(self, want: set[str]) -> set[str]:
        """The expected ids plus their most specific common class, when that class is
        itself specific (≥ 2 ancestors: "PD-1 or PD-L1 inhibitor" for {pd1, pdl1},
        "platinum" for {cisplatin, carboplatin, oxaliplatin}; not "chemotherapy")."""
        ther = self.onto.therapies
        closures = []
        for w in want:
            if w in ther.classes:
                closures.append(set(ther.class_closure([w])))
            else:
                closures.append({w, *ther.classes_of(w)})
        common = set.intersection(*closures) if closures else set()
        best = max(
            (c for c in common if c in ther.classes),
            key=lambda c: len(set(ther.class_closure([c]))),
            default=None,
        )
        if best is not None and len(set(ther.class_closure([best]))) >= 3:
            return want | {best}
        return want

    def _therapy(self, row: NciRow) -> tuple[str, str]:
        facts = [f for f in self.parse(row) if f.category == "prior_therapy"]
        if _is_na(row) and not _codes(row.expression):
            return ("correct", "") if not facts else ("wrong", f"expected none, got {_show(facts)}")
        if _is_condition(row) or not _codes(row.expression):
            return self._conditional_ok(facts, "prior_therapy")
        want: set[str] = set()
        for code in _codes(row.expression):
            want |= self.code_to_therapy.get(code, set())
        if not want:
            return "unmapped", ""
        if not facts:
            return "unparsed", f"no prior-therapy fact (want {sorted(want)})"
        got = self._therapy_ids(facts)
        ok = bool(got & self._accept(want))
        return ("correct" if ok else "wrong"), f"got {_show(facts)}, want {sorted(want)}"

    def _biomarker(self, row: NciRow) -> tuple[str, str]:
        facts = [f for f in self.parse(row) if f.category == "biomarker"]
        if _is_na(row) and not _codes(row.expression):
            return ("correct", "") if not facts else ("wrong", f"expected none, got {_show(facts)}")
        if _is_condition(row):
            return self._conditional_ok(facts, "biomarker")
        want: set[tuple[str, str | None]] = set()
        for code in _codes(row.expression):
            want |= self.code_to_marker.get(code, set())
        if not want:
            return "unmapped", ""
        if not facts:
            return "unparsed", f"no biomarker fact (want {sorted(want, key=str)})"
        markers = {m for m, _v in want}
        variants = {v for _m, v in want if v}
        ok = any(
            f.marker in markers and (not variants or f.variant in variants or f.variant is None)
            for f in facts
        )
        return ("correct" if ok else "wrong"), f"got {_show(facts)}"

    def _hiv(self, row: NciRow) -> tuple[str, str]:
        facts = [f for f in self.parse(row) if f.category == "condition" and f.condition == "hiv"]
        if _is_na(row) and not _codes(row.expression):
            return ("correct", "") if not facts else ("wrong", f"expected none, got {_show(facts)}")
        if _is_condition(row):
            return self._conditional_ok(facts, "condition")
        if HIV_CODE not in _codes(row.expression):
            return "unmapped", ""
        return ("correct", "") if facts else ("unparsed", "no hiv condition fact")

    def _surg(self, row: NciRow) -> tuple[str, str]:
        if _is_na(row) and not _codes(row.expression):
            return "correct", ""
        if _is_condition(row):
            return "correct", ""
        return "unparsed", "surgery is not a parser fact category"


def _show(facts: Sequence[Any]) -> str:
    parts = []
    for f in facts[:4]:
        d = {
            k: v
            for k, v in f.model_dump(exclude={"span", "text", "category"}).items()
            if v not in (None, (), False)
        }
        parts.append(f"{f.category}{d}")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------
# corpus: age/sex vs CT.gov, coverage, throughput
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class CorpusReport:
    trials: int = 0
    criteria: int = 0
    interpreted: int = 0
    by_category: collections.Counter[str] = field(default_factory=collections.Counter)
    uninterpreted_patterns: collections.Counter[str] = field(default_factory=collections.Counter)
    age_correct: int = 0
    age_wrong: int = 0
    sex_correct: int = 0
    sex_wrong: int = 0
    age_sex_errors: list[str] = field(default_factory=list)
    parse_seconds: float = 0.0
    tokenize_seconds: float = 0.0
    quarantined: int = 0


def _summaries(corpus: Path) -> Iterable[Any]:
    from trial_cache.models import StudyRecord, validate_record

    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            rec = validate_record(json.loads(line), location=f"{corpus.name}:{lineno}")
            yield rec.summary if isinstance(rec, StudyRecord) else None


_STRICT = re.compile(
    r"(?<![<>=≤≥])[<>](?!\s*=)"
    r"|\b(?:older|younger|over|under|above|below|more|less|greater)\s+than\b"
    r"|(?<!\band\s)(?<!\bor\s)\b(?:over|under|above|below)\b",
    re.I,
)
# "Adults" (no number in the text) is the age of majority: 18 in most jurisdictions, 19-21
# in some (South Korea 19, Japan 20 until 2022, some US states 21).
_ADULT_WORD = re.compile(r"\s*adults?\s*", re.I)
_MAJORITY = (18.0, 21.0)


def _pattern(text: str) -> str:
    words = re.findall(r"[a-z]+|\d+", text.lower())
    words = ["N" if w.isdigit() else w for w in words]
    return " ".join(words[:3]) or "(no words)"


def score_corpus(parser: Any, nlp: Any, corpus: Path, limit: int | None = None) -> CorpusReport:
    """Parse the corpus; age/sex against the structured fields, coverage, throughput."""
    rep = CorpusReport()
    summaries = []
    for s in _summaries(corpus):
        if s is None:
            rep.quarantined += 1
            continue
        if s.eligibility_text.strip():
            summaries.append(s)
        if limit and len(summaries) >= limit:
            break
    rep.trials = len(summaries)
    # CPU time of this (single-threaded) process: trials per second *per core*
    t0 = time.process_time()
    parsed = [parser.parse(s) for s in summaries]
    rep.parse_seconds = time.process_time() - t0
    texts = [s.eligibility_text for s in summaries]
    t0 = time.process_time()
    for _doc in nlp.tokenizer.pipe(texts, batch_size=64):
        pass
    rep.tokenize_seconds = time.process_time() - t0
    for s, p in zip(summaries, parsed, strict=True):
        for c in p.criteria:
            rep.criteria += 1
            if c.facts:
                rep.interpreted += 1
                for cat in {f.category for f in c.facts}:
                    rep.by_category[cat] += 1
            else:
                rep.uninterpreted_patterns[_pattern(c.text)] += 1
            for f in c.facts:
                if f.category == "age" and (
                    s.min_age_years is not None or s.max_age_years is not None
                ):
                    _score_age(rep, s, c, f)
                elif f.category == "sex" and s.sex:
                    want = (
                        f.sex
                        if c.kind.value == "inclusion"
                        else ("female" if f.sex == "male" else "male")
                    )
                    if f.negated:
                        want = "female" if want == "male" else "male"
                    if s.sex.lower() == want:
                        rep.sex_correct += 1
                    else:
                        rep.sex_wrong += 1
                        rep.age_sex_errors.append(
                            f"{s.nct_id} sex: text {f.text!r} ({c.kind.value}) vs CT.gov {s.sex}"
                        )
    return rep


def _score_age(rep: CorpusReport, s: Any, c: Any, f: Any) -> None:
    lo, hi = f.min_years, f.max_years
    excluded = (c.kind.value == "exclusion") != f.negated
    if excluded:  # the complement of a forbidden range
        lo, hi = (
            (hi, None)
            if lo is None and hi is not None
            else ((None, lo) if hi is None and lo is not None else (None, None))
        )
    tol = 1.01 if _STRICT.search(f.text) or excluded else 0.02
    ok = lo is not None or hi is not None
    if lo is not None and hi is None and not excluded and _ADULT_WORD.fullmatch(f.text):
        ok &= s.min_age_years is not None and _MAJORITY[0] <= s.min_age_years <= _MAJORITY[1]
    elif lo is not None:
        ok &= s.min_age_years is not None and abs(s.min_age_years - lo) <= tol
    if hi is not None:
        ok &= s.max_age_years is not None and abs(s.max_age_years - hi) <= tol
    if ok:
        rep.age_correct += 1
    else:
        rep.age_wrong += 1
        rep.age_sex_errors.append(
            f"{s.nct_id} age: text {f.text!r} ({c.kind.value}) -> [{lo}, {hi}] vs CT.gov "
            f"[{s.min_age_years}, {s.max_age_years}] :: {c.text[:120]!r}"
        )


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.extraction", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--nci", type=Path, required=True, help="NCI curated criteria TSV (dev.tsv)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="CT.gov studies.jsonl.gz")
    ap.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--errors", type=int, default=0, help="print up to N errors per type")
    ap.add_argument("--limit", type=int, default=None, help="parse only the first N corpus studies")
    args = ap.parse_args(argv)

    warnings.filterwarnings("ignore", message="Possible set union", category=FutureWarning)
    from matchers.parser import EligibilityParser
    from matchers.pipeline import build_nlp
    from matchers.settings import MatcherSettings
    from ontologies import load_ontology

    t_start = time.perf_counter()
    onto = load_ontology()
    settings = MatcherSettings()
    nlp = build_nlp(onto, settings)
    parser = EligibilityParser(nlp, onto, settings=settings)

    rows, unreadable = read_nci(args.nci)
    scorer = Scorer(parser, onto)
    scores: dict[str, TypeScore] = {t: TypeScore() for t in SCORED_TYPES}
    for row in rows:
        ts = scores[row.ctype]
        ts.rows += 1
        if not row.text.strip():
            ts.no_text += 1
            continue
        scorer.score(row, ts)

    corpus = score_corpus(parser, nlp, args.corpus, args.limit) if args.corpus else None

    # ---- print ----
    print(
        f"NCI curated criteria: {args.nci} "
        f"({len(rows)} readable rows, {len(unreadable)} unreadable)"
    )
    for u in unreadable:
        print(f"  unreadable line {u.line}: {u.reason}")
    head = (
        f"{'type':<18}{'rows':>6}{'no text':>8}{'unmapped':>9}{'scored':>7}{'correct':>8}"
        f"{'wrong':>6}{'unparsed':>9}{'accuracy':>9}"
    )
    print(head)
    print("-" * len(head))
    tot_c = tot_s = 0
    for t in SCORED_TYPES:
        ts = scores[t]
        if not ts.rows:
            continue
        tot_c += ts.correct
        tot_s += ts.scored
        print(
            f"{t:<18}{ts.rows:>6}{ts.no_text:>8}{ts.unmapped:>9}{ts.scored:>7}{ts.correct:>8}"
            f"{ts.wrong:>6}{ts.unparsed:>9}{_pct(ts.accuracy):>9}"
        )
    overall = tot_c / tot_s if tot_s else 0.0
    print("-" * len(head))
    print(
        f"{'overall':<18}{'':>6}{'':>8}{'':>9}{tot_s:>7}{tot_c:>8}{'':>6}{'':>9}{_pct(overall):>9}"
    )
    if args.errors:
        for t in SCORED_TYPES:
            for e in scores[t].errors[: args.errors]:
                print(f"  {t}: {e}")
    bm = scores["bmets"]
    bmets_line = (
        f"BRAIN METASTASES (bmets, NCI curated rows with text): accuracy "
        f"{bm.accuracy:.3f} ({bm.correct}/{bm.scored}; {bm.wrong} wrong, {bm.unparsed} "
        f"unparsed) target >= {BMETS_TARGET:.2f}: "
        f"{'met' if bm.scored and bm.accuracy >= BMETS_TARGET else 'NOT MET'}"
    )
    print(bmets_line)

    result: dict[str, Any] = {
        "nci": str(args.nci),
        "by_type": {
            t: {
                "rows": s.rows,
                "no_text": s.no_text,
                "unmapped": s.unmapped,
                "n": s.scored,
                "correct": s.correct,
                "wrong": s.wrong,
                "unparsed": s.unparsed,
                "accuracy": round(s.accuracy, 4),
            }
            for t, s in scores.items()
            if s.rows
        },
        "overall": {"n": tot_s, "correct": tot_c, "accuracy": round(overall, 4)},
        "targets": {
            "bmets": {"accuracy": round(bm.accuracy, 4), "n": bm.scored,
                      "target": BMETS_TARGET,
                      "met": bool(bm.scored) and bm.accuracy >= BMETS_TARGET},
        },
        "unreadable": [{"line": u.line, "reason": u.reason} for u in unreadable],
    }
    summary_bits = [
        f"bmets {_pct(bm.accuracy).strip()} (target {100 * BMETS_TARGET:.0f}%: "
        f"{'met' if result['targets']['bmets']['met'] else 'NOT MET'})",
        f"overall {_pct(overall).strip()}",
    ]
    for t in ("perf", "plt", "wbc", "pt_inc"):
        if t in result["by_type"]:
            summary_bits.append(f"{t} {_pct(scores[t].accuracy).strip()}")
    if corpus is not None:
        n_as = corpus.age_correct + corpus.age_wrong + corpus.sex_correct + corpus.sex_wrong
        acc_as = (corpus.age_correct + corpus.sex_correct) / n_as if n_as else 0.0
        tps = corpus.trials / corpus.parse_seconds if corpus.parse_seconds else 0.0
        tok = corpus.trials / corpus.tokenize_seconds if corpus.tokenize_seconds else 0.0
        print()
        print(f"Age/sex vs CT.gov structured fields ({args.corpus.name}):")
        n_age = corpus.age_correct + corpus.age_wrong
        n_sex = corpus.sex_correct + corpus.sex_wrong
        print(
            f"  age {corpus.age_correct}/{n_age}, sex {corpus.sex_correct}/{n_sex}, "
            f"accuracy {_pct(acc_as)}"
        )
        if args.errors:
            for e in corpus.age_sex_errors[: args.errors]:
                print(f"  {e}")
        share = corpus.interpreted / max(1, corpus.criteria)
        print(
            f"Coverage: {corpus.trials} trials, {corpus.criteria} criteria, "
            f"interpreted {_pct(share)}, uninterpreted {_pct(1 - share)}"
        )
        for cat, n in corpus.by_category.most_common():
            print(f"  {cat:<20}{n:>7}  {_pct(n / max(1, corpus.criteria))}")
        print("  most frequent uninterpreted leading trigrams:")
        for pat, n in corpus.uninterpreted_patterns.most_common(30):
            print(f"    {n:>6}  {pat}")
        print(
            f"Throughput: {tps:.1f} trials per CPU-second (parse, 1 core); "
            f"bare scispaCy tokenization {tok:.1f} trials/s; "
            f"ratio {tps / tok if tok else 0:.2f}"
        )
        result["age_sex"] = {
            "n": n_as,
            "accuracy": round(acc_as, 4),
            "age": {"correct": corpus.age_correct, "wrong": corpus.age_wrong},
            "sex": {"correct": corpus.sex_correct, "wrong": corpus.sex_wrong},
        }
        result["coverage"] = {
            "trials": corpus.trials,
            "criteria": corpus.criteria,
            "interpreted": round(corpus.interpreted / max(1, corpus.criteria), 4),
            "uninterpreted": round(1 - corpus.interpreted / max(1, corpus.criteria), 4),
            "by_category": {
                k: round(v / max(1, corpus.criteria), 4) for k, v in corpus.by_category.items()
            },
            "top_uninterpreted": corpus.uninterpreted_patterns.most_common(30),
        }
        result["throughput"] = {
            "trials_per_s": round(tps, 1),
            "tokenize_trials_per_s": round(tok, 1),
        }
        summary_bits.append(f"age/sex {_pct(acc_as).strip()}")
        summary_bits.append(f"{tps:.0f} trials/s")
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(bmets_line)  # again just above the summary, where it is read
    print("SUMMARY " + " | ".join(summary_bits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
