"""Ranking benchmark: the full-index top-10 figures (no corpus needed)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.ranking import score_top10, summarize_top10
from matchers.models import TrialMatch, Verdict


def _match(n: int, verdict: Verdict = Verdict.POSSIBLY_ELIGIBLE) -> TrialMatch:
    return TrialMatch(nct_id=f"NCT{n:08d}", title=f"trial {n}", overall_status="RECRUITING",
                      verdict=verdict, score=0.5, criteria=())


GOLD: list[dict[str, Any]] = [
    {"nct_id": "NCT00000001", "label": "eligible", "category": "none"},
    {"nct_id": "NCT00000002", "label": "possibly_eligible", "category": "stage"},
    {"nct_id": "NCT00000003", "label": "ineligible", "category": "cancer_type"},
    {"nct_id": "NCT00000004", "label": "ineligible", "category": "prior_therapy"},
    {"nct_id": "NCT00000011", "label": "eligible", "category": "none"},  # rank 11: outside
]


@pytest.mark.parametrize(
    ("ids", "judged", "relevant", "wrong", "unjudged", "p10", "share"),
    [
        (range(1, 12), 4, 2, 1, 6, 0.5, 0.2),
        (range(20, 30), 0, 0, 0, 10, None, 0.0),  # nothing judged: P@10 undefined
        ([3, 1], 2, 1, 1, 0, 0.5, 0.5),  # fewer than 10 listed: share over those listed
        ([], 0, 0, 0, 0, None, 0.0),
    ],
)
def test_score_top10(ids: Any, judged: int, relevant: int, wrong: int, unjudged: int,
                     p10: float | None, share: float) -> None:
    top = [_match(i) for i in ids]
    s = score_top10("all", top, GOLD, {"NCT00000001": ("Lung Cancer", "NSCLC")})
    assert (s.judged, s.relevant, s.wrong_cancer, s.unjudged) == (
        judged, relevant, wrong, unjudged)
    assert s.p10_judged == (None if p10 is None else pytest.approx(p10))
    assert s.share_relevant == pytest.approx(share)
    assert len(s.rows) == min(10, len(top))
    assert s.figures()["unjudged"] == unjudged


def test_score_top10_rows_say_what_is_unjudged() -> None:
    s = score_top10("open", [_match(1, Verdict.ELIGIBLE), _match(9)], GOLD,
                    {"NCT00000001": ("Lung Cancer",)})
    assert s.rows[0] == {"rank": 1, "nct_id": "NCT00000001", "verdict": "eligible",
                         "score": 0.5, "overall_status": "RECRUITING", "gold": "eligible",
                         "category": "none", "title": "trial 1",
                         "conditions": ["Lung Cancer"]}
    assert (s.rows[1]["gold"], s.rows[1]["category"], s.rows[1]["conditions"]) == (
        None, None, [])


def test_summarize_top10_pools_patients() -> None:
    a = score_top10("all", [_match(i) for i in range(1, 11)], GOLD, {})  # 4 judged, 2 rel
    b = score_top10("all", [_match(1), _match(2)], GOLD, {})  # 2 judged, 2 relevant
    f = summarize_top10([a, b])
    assert f == {"patients": 2, "n": 12, "judged": 6, "unjudged": 6, "relevant": 4,
                 "wrong_cancer": 1, "p10_judged": round(4 / 6, 4),
                 "share_relevant": round(4 / 12, 4), "patients_share_ge_80": 1,
                 "patients_wrong_cancer": 1}
