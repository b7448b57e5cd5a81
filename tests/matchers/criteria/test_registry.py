"""The category registry: every fact category has one module, one rules file and one
table of cases, and the registry's declarations hold together."""

from __future__ import annotations

import importlib
import typing

import pytest

from matchers.criteria import REGISTRY
from matchers.models import Fact, FactCategory
from matchers.rules import RULES_DIR
from tests.matchers.criteria.conftest import CASES_DIR, load_cases

FACT_CATEGORIES = typing.get_args(FactCategory)
FACT_TYPES = {t.model_fields["category"].default: t
              for t in typing.get_args(typing.get_args(Fact)[0])}


def test_fact_union_and_category_literal_agree() -> None:
    assert set(FACT_TYPES) == set(FACT_CATEGORIES)


@pytest.mark.parametrize("name", FACT_CATEGORIES)
def test_every_fact_category_is_registered(name: str) -> None:
    assert name in REGISTRY, f"fact category {name!r} has no module in matchers/criteria/"
    cat = REGISTRY[name]
    assert cat.name == name
    assert cat.fact_type is FACT_TYPES[name]
    module = importlib.import_module(cat.module)
    assert module.__name__.startswith("matchers.criteria.")
    assert name == "cancer_type" or cat.compare is not None


@pytest.mark.parametrize("name", FACT_CATEGORIES)
def test_every_category_has_a_rules_file(name: str) -> None:
    path = RULES_DIR / REGISTRY[name].rules_file
    assert path.is_file(), f"{name}: no rules file {path}"
    assert path.read_text(encoding="utf-8").strip(), f"{name}: empty rules file {path}"


@pytest.mark.parametrize("name", FACT_CATEGORIES)
def test_every_category_has_a_table_of_cases(name: str) -> None:
    path = CASES_DIR / REGISTRY[name].cases_file
    assert path.is_file(), f"{name}: no table of cases {path}"
    assert load_cases(path), f"{name}: empty table of cases"


def test_no_stray_registrations() -> None:
    assert set(REGISTRY) == set(FACT_CATEGORIES)


def test_priorities_order_evaluation() -> None:
    assert REGISTRY["cancer_type"].priority == min(c.priority for c in REGISTRY.values())
