"""TREC PM benchmark: metric functions, the topic → profile adapter and the readers.

No corpus, Redis or spaCy: the functions are pure; the readers get small files written
here (plus the shared 2017 topics, read in place).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.trec_pm import (
    BARE_GENE_RESULT,
    TrecDataError,
    TrecTopic,
    evaluate,
    ndcg,
    parse_demographic,
    parse_genes,
    parse_other,
    precision_at,
    r_precision,
    read_qrels,
    read_topics,
    recall_at,
    topic_query,
    topic_to_profile,
)

# ------------------------------------------------------------------------- metrics


def _dcg(gains: list[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


@pytest.mark.parametrize(
    ("ranked_gains", "pool", "k", "expected"),
    [
        ([2, 1, 0], [0, 1, 2], 10, 1.0),  # ideal order
        ([0, 1, 2], [0, 1, 2], 10, _dcg([0, 1, 2]) / _dcg([2, 1, 0])),
        ([1, 2], [2, 1], 10, _dcg([1, 2]) / _dcg([2, 1])),  # graded: 2 before 1 matters
        ([0, 0, 0], [0, 0, 0], 10, 0.0),  # nothing relevant: 0, not 1
        ([], [2], 10, 0.0),  # a relevant trial the ranking lacks
        ([0, 2], [2, 0], 1, 0.0),  # cut at k
        ([2, 0, 0], [2, 2, 0], 10, 2 / (2 + 2 / math.log2(3))),
    ],
)
def test_ndcg_graded_gains(ranked_gains: list[int], pool: list[int], k: int,
                           expected: float) -> None:
    assert ndcg(ranked_gains, pool, k) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("flags", "k", "expected"),
    [
        ([True, False, True], 10, 0.2),  # a short list still divides by k (trec_eval)
        ([True] * 12, 10, 1.0),
        ([False] * 10, 10, 0.0),
        ([True, True, False, False], 2, 1.0),
        ([], 10, 0.0),
    ],
)
def test_precision_at(flags: list[bool], k: int, expected: float) -> None:
    assert precision_at(flags, k) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("flags", "n_relevant", "expected"),
    [
        ([True, False, True, True], 3, 2 / 3),
        ([True, True], 2, 1.0),
        ([False, True], 1, 0.0),
        ([False, False], 0, 0.0),  # R = 0: defined as 0
        ([True], 3, 1 / 3),  # fewer ranked than R
    ],
)
def test_r_precision(flags: list[bool], n_relevant: int, expected: float) -> None:
    assert r_precision(flags, n_relevant) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("ranks", "relevant", "k", "expected"),
    [
        ({"a": 1, "b": 100, "c": 101}, ["a", "b", "c"], 100, 2 / 3),
        ({"a": 5}, ["a", "z"], 100, 0.5),  # z not ranked at all
        ({"a": 5}, [], 100, 0.0),
        ({"a": 1000, "b": 1001}, ["a", "b"], 1000, 0.5),
    ],
)
def test_recall_at(ranks: dict[str, int], relevant: list[str], k: int,
                   expected: float) -> None:
    assert recall_at(ranks, relevant, k) == pytest.approx(expected)


def test_evaluate_condenses_to_judged_trials() -> None:
    # u* are unjudged: they take ranks in the full list but vanish from the condensed one.
    ranking = ["u1", "u2", "r2", "u3", "n0", "r1", "u4", "u5", "u6", "u7", "u8"]
    judged = {"r2": 2, "n0": 0, "r1": 1, "missing": 2}  # "missing" is never ranked
    s = evaluate(ranking, judged, depth=5, ineligible=frozenset({"r2"}))
    # condensed: r2, n0, r1, then missing (appended) → gains 2, 0, 1, 2
    ideal = _dcg([2, 2, 1, 0])
    assert s.ndcg10 == pytest.approx(_dcg([2, 0, 1, 2]) / ideal)
    assert s.p10 == pytest.approx(0.3)  # r2, r1, missing
    assert s.rprec == pytest.approx(2 / 3)  # first 3 condensed: r2, n0, r1
    assert s.recall100 == pytest.approx(2 / 3)  # r2 (3), r1 (6) of 3 relevant
    assert s.recall_depth == pytest.approx(1 / 3)  # only r2 within depth 5
    assert s.found_depth == 1
    assert s.returned == 0  # r2 is within depth but judged ineligible by the matcher
    assert s.unjudged10 == 7  # u1-u7 among the first 10


def test_evaluate_without_matcher_verdicts_has_no_returned() -> None:
    s = evaluate(["a", "b"], {"a": 1, "b": 0})
    assert s.returned is None
    assert (s.ndcg10, s.p10, s.rprec, s.recall100) == (1.0, 0.1, 1.0, 1.0)


def test_evaluate_no_relevant_is_zero() -> None:
    s = evaluate(["a", "b"], {"a": 0, "b": 0}, ineligible=frozenset())
    assert (s.ndcg10, s.p10, s.rprec, s.recall100, s.returned) == (0.0, 0.0, 0.0, 0.0, 0)


# ------------------------------------------------------------------------- adapter


@pytest.mark.parametrize(
    ("gene", "expected"),
    [
        ("KRAS (G13D), BRAF (V600E)", {"KRAS": "G13D", "BRAF": "V600E"}),
        ("CDK4 Amplification", {"CDK4": "amplification"}),
        ("EML4-ALK Fusion transcript", {"ALK": "EML4-ALK fusion transcript"}),
        ("ALK Fusion", {"ALK": "fusion"}),
        ("CDKN2A Deletion", {"CDKN2A": "deletion"}),
        ("NF2 (K322), AKT1(E17K)", {"NF2": "K322", "AKT1": "E17K"}),
        ("ERBB2 amplification", {"ERBB2": "amplification"}),
        ("high-level MSI", {"MSI": "high-level"}),
        ("KIT Exon 9 (A502_Y503dup)", {"KIT": "exon 9 A502_Y503dup"}),
        ("PTEN Loss", {"PTEN": "loss"}),
        ("PTEN Inactivating", {"PTEN": "inactivating"}),
        ("KRAS", {"KRAS": BARE_GENE_RESULT}),
        ("RB1, TP53, KRAS", {"RB1": BARE_GENE_RESULT, "TP53": BARE_GENE_RESULT,
                             "KRAS": BARE_GENE_RESULT}),
        ("BRAF V600E", {"BRAF": "V600E"}),  # the variant token is not taken for a gene
        ("BRAF p.V600E", {"BRAF": "p.V600E"}),
        ("KRAS (G12D); KRAS amplification", {"KRAS": "G12D; amplification"}),
        ("BCR-ABL1", {"BCR-ABL1": BARE_GENE_RESULT}),  # hyphenated, no fusion word: whole
        ("microsatellite instability high",  # no gene symbol: the item itself
         {"microsatellite instability high": "microsatellite instability high"}),
        ("None", {}),
        ("", {}),
        (None, {}),
    ],
)
def test_parse_genes(gene: str | None, expected: dict[str, str]) -> None:
    assert parse_genes(gene) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("38-year-old male", (38.0, "male")),
        ("45-year-old female", (45.0, "female")),
        ("8-month-old girl", (0.67, "female")),
        ("62 year old woman", (62.0, "female")),
        ("male", (None, "male")),
        ("70-year-old", (70.0, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_parse_demographic(text: str | None,
                           expected: tuple[float | None, str | None]) -> None:
    assert parse_demographic(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Type II Diabetes, Hypertension", ["Type II Diabetes", "Hypertension"]),
        ("Depression, Hypertension, Heart Disease",
         ["Depression", "Hypertension", "Heart Disease"]),
        ("GERD", ["GERD"]),
        ("None", []),
        ("none", []),
        (None, []),
    ],
)
def test_parse_other(text: str | None, expected: list[str]) -> None:
    assert parse_other(text) == expected


def test_topic_to_profile_leaves_unknowns_absent() -> None:
    topic = TrecTopic("2", "Colon cancer", "KRAS (G13D), BRAF (V600E)", "52-year-old male",
                      "Type II Diabetes, Hypertension")
    p = topic_to_profile(topic)
    assert p.cancer_type == "Colon cancer"
    assert p.biomarkers == {"KRAS": "G13D", "BRAF": "V600E"}
    assert (p.age, p.sex) == (52.0, "male")
    assert p.conditions == ["Type II Diabetes", "Hypertension"]
    assert p.prior_therapies is None  # unknown, not "none"
    assert not p.therapies_known
    assert (p.stage, p.ecog, p.brain_metastases) == (None, None, None)
    assert topic_query(topic) == "Colon cancer KRAS (G13D), BRAF (V600E) 52-year-old male"


def test_topic_without_other_or_gene() -> None:
    p = topic_to_profile(TrecTopic("1", "Melanoma", None, "45-year-old female", None))
    assert (p.biomarkers, p.conditions, p.age, p.sex) == ({}, [], 45.0, "female")
    assert topic_query(TrecTopic("1", "Melanoma")) == "Melanoma"


def test_every_2017_topic_maps_through_the_one_adapter(shared_dir: Path) -> None:
    topics = read_topics(shared_dir / "data/benchmarks/trec_pm_2017/topics2017.xml")
    assert len(topics) == 30
    for t in topics:
        p = topic_to_profile(t)
        assert p.biomarkers, t
        assert p.age is not None and p.sex in {"female", "male"}, t
        assert all(v for v in p.biomarkers.values()), t


# ------------------------------------------------------------------------- readers

TOPICS_XML = """<topics task="2019 TREC Precision Medicine">
  <topic number="1">
    <disease>Melanoma</disease>
    <gene>BRAF (V600E)</gene>
    <demographic>64-year-old male</demographic>
  </topic>
  <topic number="2">
    <disease>  Colorectal
      cancer </disease>
    <gene>high-level MSI</gene>
    <demographic>52-year-old female</demographic>
    <other>None</other>
  </topic>
  <topic number="3">
    <disease>Lung cancer</disease>
    <gene></gene>
    <demographic>50-year-old female</demographic>
  </topic>
</topics>
"""


def test_read_topics_handles_missing_and_empty_elements(tmp_path: Path) -> None:
    path = tmp_path / "topics.xml"
    path.write_text(TOPICS_XML, encoding="utf-8")
    topics = read_topics(path)
    assert topics == [
        TrecTopic("1", "Melanoma", "BRAF (V600E)", "64-year-old male", None),
        TrecTopic("2", "Colorectal cancer", "high-level MSI", "52-year-old female", "None"),
        TrecTopic("3", "Lung cancer", None, "50-year-old female", None),
    ]
    assert topic_to_profile(topics[1]).biomarkers == {"MSI": "high-level"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<topics><topic><disease>x</disease></topic></topics>", "has no 'number'"),
        ('<topics><topic number="1"/><topic number="1"/></topics>', "appears twice"),
        ("<topics></topics>", "no <topic> elements"),
        ("<topics><topic number='1'>", "not readable as topics XML"),
    ],
)
def test_read_topics_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TrecDataError, match=message):
        read_topics(path)


def test_read_qrels(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("1 0 NCT00000001 2\n1 0 NCT00000002 0\n\n2 0 NCT00000001 1\n"
                    "2 0 NCT00000003 -1\n1 0 NCT00000001 2\n", encoding="utf-8")
    assert read_qrels(path) == {
        "1": {"NCT00000001": 2, "NCT00000002": 0},
        "2": {"NCT00000001": 1, "NCT00000003": 0},
    }


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1 0 NCT00000001 2\n1 0 NCT00000002\n", 2, "expected 4 fields, got 3"),
        ("1 0 NCT00000001 yes\n", 1, "not an integer"),
        ("1 0 NCT00000001 2\n1 0 NCT00000001 0\n", 2, "judged 2 and 0"),
    ],
)
def test_read_qrels_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TrecDataError, match=message) as info:
        read_qrels(path)
    assert info.value.line == line
    assert f"qrels.txt:{line}:" in str(info.value)
