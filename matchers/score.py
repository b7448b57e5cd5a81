"""The ranking score: how specifically a trial fits the patient, in [0, 1].

The weights are data (``matchers/rules/score.toml``, loaded by :func:`load_weights`
through a strict model). :func:`fit_score` combines an evaluation's terms; every term is
kept so that :func:`explain_terms` can say how the score was made
(``TrialMatch.score_explanation``).

Terms: the cancer-type fit (its specificity in [0, 1]: exact code 1.0, a parent 0.7–0.9,
generic wording 0.4, a more specific trial code 0.5), the targeted inclusion categories
met (biomarker, histology, stage, prior therapy, the title's line of therapy), a
biomarker-targeted match, the key criteria met (capped); minus a penalty per distinct
open key question (one question counts once however many criteria ask it) and per
criterion not met, and the title penalties (a biomarker the title targets that the
patient lacks; a first-line title for a pretreated patient). An ineligible trial scores
a fraction of its cancer-type fit, so ineligible trials sort below every eligible and
possibly eligible one and among themselves by how close their disease is.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matchers.errors import RuleDataError

__all__ = ["ScoreTerms", "ScoreWeights", "explain_terms", "fit_score", "ineligible_score",
           "load_weights"]

SCORE_FILE = Path(__file__).resolve().parent / "rules" / "score.toml"


class ScoreWeights(BaseModel):
    """The weights of ``score.toml`` (all in score units, i.e. fractions of 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: float = Field(ge=0, le=1)
    cancer_fit: float = Field(ge=0, le=1)
    targeted_category: float = Field(ge=0, le=1)
    biomarker_match: float = Field(ge=0, le=1)
    key_met: float = Field(ge=0, le=1)
    key_met_cap: int = Field(ge=1)
    open_question: float = Field(ge=0, le=1)
    open_question_cap: float = Field(ge=0, le=1)
    not_met: float = Field(ge=0, le=1)
    not_met_cap: float = Field(ge=0, le=1)
    title_biomarker_lacking: float = Field(ge=0, le=1)
    first_line_for_pretreated: float = Field(ge=0, le=1)
    ineligible_factor: float = Field(ge=0, le=1)
    eligible_bonus: float = Field(ge=0, le=1)


@lru_cache(maxsize=1)
def load_weights(path: Path = SCORE_FILE) -> ScoreWeights:
    """The packaged weights (cached); raises :class:`matchers.errors.RuleDataError`
    naming the file when it is missing or invalid."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return ScoreWeights.model_validate(raw)
    except FileNotFoundError as exc:
        raise RuleDataError(str(path), "file not found") from exc
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise RuleDataError(str(path), str(exc)) from exc


@dataclass(frozen=True, slots=True)
class ScoreTerms:
    """The inputs of :func:`fit_score` (and of its explanation)."""

    specificity: float
    targeted: tuple[str, ...]
    biomarker: bool
    n_key_met: int
    n_open: int
    n_not_met: int
    title_penalty: float


def fit_score(t: ScoreTerms, w: ScoreWeights) -> float:
    """The score of an eligible or possibly eligible trial (see the module docstring),
    rounded to 4 decimals."""
    s = (w.base + w.cancer_fit * t.specificity + w.targeted_category * len(t.targeted)
         + (w.biomarker_match if t.biomarker else 0.0)
         + w.key_met * min(t.n_key_met, w.key_met_cap) / w.key_met_cap
         - min(w.open_question_cap, w.open_question * t.n_open)
         - min(w.not_met_cap, w.not_met * t.n_not_met) - t.title_penalty)
    return round(max(0.0, min(1.0, s)), 4)


def ineligible_score(specificity: float, w: ScoreWeights) -> float:
    """An ineligible trial's score: ``ineligible_factor`` × its cancer-type fit term."""
    return round(w.ineligible_factor * (w.base + w.cancer_fit * specificity), 4)


def explain_terms(t: ScoreTerms | None, specificity: float, w: ScoreWeights) -> tuple[str, ...]:
    """The score's terms in words; ``t`` None for an ineligible trial."""
    if t is None:
        return (f"+{ineligible_score(specificity, w):.2f} ineligible: "
                f"{w.ineligible_factor:g} × the cancer-type fit ({specificity:.2f} specificity)",)
    out = [f"+{w.cancer_fit * t.specificity:.2f} cancer-type fit "
           f"({t.specificity:.2f} specificity)"]
    if t.targeted:
        out.append(f"+{w.targeted_category * len(t.targeted):.2f} targeted inclusion "
                   f"criteria met ({', '.join(t.targeted)})")
    if t.biomarker:
        out.append(f"+{w.biomarker_match:.2f} biomarker-targeted match")
    out.append(f"+{w.key_met * min(t.n_key_met, w.key_met_cap) / w.key_met_cap:.2f} "
               f"{t.n_key_met} key criteria met")
    out.append(f"+{w.base:.2f} base")
    if t.n_open:
        out.append(f"-{min(w.open_question_cap, w.open_question * t.n_open):.2f} "
                   f"{t.n_open} open key questions")
    if t.n_not_met or t.title_penalty:
        pen = min(w.not_met_cap, w.not_met * t.n_not_met) + t.title_penalty
        out.append(f"-{pen:.2f} {t.n_not_met} criteria not met"
                   + (" and title penalties" if t.title_penalty else ""))
    return tuple(out)
