"""Distant metastases at named sites: peritoneum, liver, bone, lung (brain/CNS
metastases are :mod:`.brain_metastases`).

**Extraction** (:func:`extract_metastasis_sites`) — the site mentions of
``metastasis_site.toml`` ("peritoneal carcinomatosis", "liver metastases", "bone-only
disease"), with ``only`` when the text makes the site the sole one. Not read: a mention
that is what is done to the metastases ("radiotherapy to bone metastases"), an example
("metastatic disease (e.g. bone metastases, …)"), an optional companion ("+/- liver
metastases"), one inside a condition or permission ("if liver metastases are present",
"… are allowed"), and every
mention of a criterion holding a laboratory limit (its "× ULN if liver metastases" is a
lab exception, not a site rule).

**Patient side** (:func:`read_metastasis_sites`) — ``profile.metastasis_sites`` as site
ids (words the file does not know are kept as written); None when the profile does not
say (unknown, never "none"); ``[]`` says no distant metastases at these sites.

**Comparison** (:func:`compare_metastasis_site`) — the patient has metastases at one of
the fact's sites (``only``: and nowhere else). Key only when an inclusion requires the
site (a missing answer then makes the trial only possibly eligible); an exclusion of a
site the profile does not state is a non-key question.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import CriterionText, compiled_per_rules, keep_mention
from matchers.models import CriterionKind, Fact, MetastasisSiteFact
from matchers.rules import MetastasisSiteRules, Rules, load_rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = ["CATEGORY", "compare_metastasis_site", "extract_metastasis_sites",
           "read_metastasis_sites"]


@compiled_per_rules
def _cues(rules: MetastasisSiteRules) -> tuple[
        tuple[tuple[str, re.Pattern[str]], ...], re.Pattern[str], re.Pattern[str],
        re.Pattern[str]]:
    sites = tuple((site, re.compile(r"(?<![\w-])(?:" + "|".join(words) + r")(?![\w-])", re.I))
                  for site, words in rules.sites.items())
    only = re.compile(r"\s*(?:" + "|".join(rules.only_words) + r")", re.I)
    skip_before = re.compile(r"(?:" + "|".join(rules.skip_before) + r")$|(?:"
                             + "|".join(rules.example_parenthesis) + r")", re.I)
    skip_in = re.compile(r"\b(?:" + "|".join(rules.skip_in_criterion) + r")\b")
    return sites, only, skip_before, skip_in


def extract_metastasis_sites(c: CriterionText, rules: Rules) -> list[MetastasisSiteFact]:
    """Metastasis-site facts of criterion ``c``, one per mention (see the module
    docstring)."""
    sites, only_rx, skip_before, skip_in = _cues(rules.metastasis_site)
    body = c.body
    if skip_in.search(body):
        return []
    out: list[MetastasisSiteFact] = []
    taken: list[tuple[int, int]] = []
    for site, rx in sites:
        for m in rx.finditer(body):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            if skip_before.search(body, max(0, m.start() - 80), m.start()):
                continue
            s, e = c.start + m.start(), c.start + m.end()
            keep, negated, exception = keep_mention(c, s, e)
            if not keep:
                continue
            taken.append((m.start(), m.end()))
            only = bool(only_rx.search(m.group(0))) or bool(
                only_rx.match(body, m.end(), min(len(body), m.end() + 25)))
            out.append(MetastasisSiteFact(span=(s, e), text=c.text[s:e], negated=negated,
                                          exception=exception, sites=(site,), only=only))
    out.sort(key=lambda f: f.span)
    return out


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "metastasis_site.mention"})
            for f in extract_metastasis_sites(c, ctx.rules)]


@compiled_per_rules
def _patient_words(rules: MetastasisSiteRules) -> dict[str, re.Pattern[str]]:
    return {site: re.compile(r"\b(?:" + "|".join(ws) + r")\b", re.I)
            for site, ws in rules.patient_words.items()}


def read_metastasis_sites(profile: PatientProfile,
                          rules: Rules | None = None) -> frozenset[str] | None:
    """The site ids of ``profile.metastasis_sites`` (None = not stated)."""
    if profile.metastasis_sites is None:
        return None
    words = _patient_words((rules or load_rules()).metastasis_site)
    out: set[str] = set()
    for text in profile.metastasis_sites:
        ids = {site for site, rx in words.items() if rx.search(text)}
        out |= ids or {text.strip().lower()}
    return frozenset(out)


def compare_metastasis_site(f: MetastasisSiteFact, p: NormalizedPatient,
                            ctx: CompareContext) -> Atom:
    """Whether the patient has distant metastases at one of the fact's sites (and, for
    ``only``, at no other site)."""
    required = ctx.kind is CriterionKind.INCLUSION and not f.negated
    where = " or ".join(f.sites)
    sites = p.metastasis_sites
    if sites is None:
        return Atom(f, None, "metastasis sites not stated",
                    f"metastases to the {where}?", key=required)
    has = any(s in sites for s in f.sites)
    value = has and sites <= set(f.sites) if f.only else has
    desc = ("metastases to " + ", ".join(sorted(sites))) if sites else \
        "no distant metastases named"
    return Atom(f, value, desc, key=required)


CATEGORY = Category(
    name="metastasis_site",
    fact_type=MetastasisSiteFact,
    extract=_extract,
    compare=compare_metastasis_site,
    patient_part="metastasis_sites",
    reader=read_metastasis_sites,
    key=True,
    priority=7,
    rules_file="metastasis_site.toml",
    cases_file="metastasis_site.toml",
    module=__name__,
)
