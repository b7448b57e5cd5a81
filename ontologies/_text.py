"""Text normalization shared by the vocabularies (internal).

Three levels, applied identically to vocabulary entries and to queries so that lookups
are symmetric:

* :func:`fold` — NFKC, lower case, every dash variant to ``-``, underscores to spaces,
  trademark signs dropped, whitespace collapsed. Keeps punctuation; used for surface
  forms handed to spaCy.
* :func:`key` — ``fold`` + accents and apostrophes dropped ("Waldenström's" →
  "waldenstroms"), British → American spelling, punctuation to spaces, tokens
  singularized ("tumors" → "tumor"), the filler words "the"/"of"/"a"/"an" dropped,
  and a letter run joined to a following number ("pd 1" → "pd1", "her 2" → "her2").
  Used for fuzzy matching (token based).
* :func:`compact` — ``key`` without spaces ("PD-1", "PD1", "pd 1" → "pd1";
  "non-small cell" → "nonsmallcell"). Used for exact lookups.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

_DASHES = re.compile(r"[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
_SPACES = re.compile(r"\s+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_LETTERS_THEN_DIGITS = re.compile(r"\b([a-z]{1,4}) (\d{1,2})\b")
_DIGITS_THEN_SHORT = re.compile(r"\b(\d+) ([a-z]{1,3})\b")
# "PD-(L)1" is shorthand for "PD-1/PD-L1"
_PD_L_1 = re.compile(r"\bpd\s*-?\s*\(l\)\s*-?\s*1\b")

# British spellings common in clinical text (UK/EU trial sites) → American (OncoTree).
_SPELLING = {
    "tumour": "tumor",
    "tumours": "tumors",
    "oesophageal": "esophageal",
    "oesophagus": "esophagus",
    "oesophagogastric": "esophagogastric",
    "oestrogen": "estrogen",
    "leukaemia": "leukemia",
    "leukaemias": "leukemias",
    "haematologic": "hematologic",
    "haematological": "hematological",
    "haematopoietic": "hematopoietic",
    "anaemia": "anemia",
    "paediatric": "pediatric",
    "fibre": "fiber",
    "haemangioma": "hemangioma",
    "haemangioendothelioma": "hemangioendothelioma",
    "haemangiopericytoma": "hemangiopericytoma",
    "ischaemic": "ischemic",
    "gynaecologic": "gynecologic",
    "gynaecological": "gynecological",
    "colour": "color",
    "immunisation": "immunization",
    "randomised": "randomized",
}

_IRREGULAR_SINGULAR = {
    "metastases": "metastasis",
    "diagnoses": "diagnosis",
    "neoplasias": "neoplasia",
    "fibromatoses": "fibromatosis",
    "mycoses": "mycosis",
    "analyses": "analysis",
    "bases": "base",
    "doses": "dose",
    "lines": "line",
    "types": "type",
    "taxanes": "taxane",
    "platinums": "platinum",
}

_KEEP_S = ("ss", "us", "is")
_FILLER = frozenset({"the", "of", "a", "an"})


def fold(text: str) -> str:
    """Lower-case, NFKC-normalized text with unified dashes and collapsed whitespace.

    Underscores become spaces (CT.gov condition slugs such as ``Desmoid_tumors``);
    ``®``/``™`` are dropped. Punctuation is otherwise kept.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _DASHES.sub("-", text).replace("_", " ").replace("®", "").replace("™", "")
    return _SPACES.sub(" ", text).strip().lower()


def singular(token: str) -> str:
    """Crude English singular of one lower-case token ("tumors" → "tumor").

    Applied symmetrically to vocabulary and query, so over-stripping ("pancreas" →
    "pancrea") is harmless; only plural/singular pairs need to meet.
    """
    if token in _IRREGULAR_SINGULAR:
        return _IRREGULAR_SINGULAR[token]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(_KEEP_S):
        return token[:-1]
    return token


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def key(text: str) -> str:
    """Token key for fuzzy matching: see the module docstring."""
    folded = _PD_L_1.sub("pd-1/pd-l1", _strip_accents(fold(text)).replace("'", ""))
    tokens = _NON_ALNUM.sub(" ", folded).split()
    out: list[str] = []
    for tok in tokens:
        tok = _SPELLING.get(tok, tok)
        if tok in _FILLER:
            continue
        out.append(singular(tok))
    joined = " ".join(out)
    joined = _LETTERS_THEN_DIGITS.sub(r"\1\2", joined)
    return _DIGITS_THEN_SHORT.sub(r"\1\2", joined)


def compact(text: str) -> str:
    """Exact-lookup key: :func:`key` with the spaces removed."""
    return key(text).replace(" ", "")


# Nouns whose plural is worth emitting as a separate surface form for phrase matching.
_PLURALS = {
    "tumor": "tumors",
    "tumour": "tumours",
    "cancer": "cancers",
    "carcinoma": "carcinomas",
    "adenocarcinoma": "adenocarcinomas",
    "sarcoma": "sarcomas",
    "lymphoma": "lymphomas",
    "leukemia": "leukemias",
    "melanoma": "melanomas",
    "mesothelioma": "mesotheliomas",
    "glioma": "gliomas",
    "neoplasm": "neoplasms",
    "malignancy": "malignancies",
    "inhibitor": "inhibitors",
    "agent": "agents",
    "antibody": "antibodies",
    "drug": "drugs",
    "therapy": "therapies",
    "regimen": "regimens",
    "compound": "compounds",
    "conjugate": "conjugates",
    "blocker": "blockers",
    "analog": "analogs",
    "analogue": "analogues",
    "mutation": "mutations",
    "deletion": "deletions",
    "insertion": "insertions",
    "fusion": "fusions",
    "rearrangement": "rearrangements",
    "alteration": "alterations",
    "disease": "diseases",
    "disorder": "disorders",
    "infection": "infections",
    "tki": "tkis",
    "modulator": "modulators",
    "degrader": "degraders",
    "vaccine": "vaccines",
}


def _hyphen_variants(text: str) -> Iterator[str]:
    parts = text.split("-")
    if len(parts) == 1:
        yield text
        return
    if len(parts) > 3:
        yield text
        yield " ".join(p.strip() for p in parts)
        yield "".join(parts)
        return
    # every combination of keep / space / join for up to two hyphens
    combos: list[str] = [parts[0]]
    for part in parts[1:]:
        combos = [c + sep + part for c in combos for sep in ("-", " ", "")]
    for c in combos:
        yield _SPACES.sub(" ", c).strip()


def surface_variants(text: str) -> list[str]:
    """Lower-case surface forms of one vocabulary phrase, for spaCy PhraseMatchers.

    Includes the folded phrase, hyphen variants ("pd-1", "pd 1", "pd1"), the plural of
    a final countable noun ("inhibitor" → "inhibitors") and the British "tumour".
    Order is stable; duplicates removed.
    """
    base = fold(text)
    seen: dict[str, None] = {}
    for variant in _hyphen_variants(base):
        forms = [variant]
        last = variant.rsplit(" ", 1)[-1]
        if last in _PLURALS:
            forms.append(variant[: len(variant) - len(last)] + _PLURALS[last])
        for form in list(forms):
            if "tumor" in form:
                forms.append(form.replace("tumor", "tumour"))
        for form in forms:
            if form:
                seen.setdefault(form, None)
    return list(seen)


def is_abbreviation(name: str) -> bool:
    """True for short abbreviations ("MPM", "TNBC", "PD-1", "HR"): no whitespace, at most
    four letters/digits, at least one capital."""
    stripped = name.strip()
    if not stripped or any(ch.isspace() for ch in stripped):
        return False
    core = re.sub(r"[^A-Za-z0-9]", "", stripped)
    return len(core) <= 4 and any(ch.isupper() for ch in stripped)


# Lower-case forms of vocabulary abbreviations that are also ordinary words, units or
# other clinical abbreviations in eligibility text ("all patients", "10 mm", "24 hr",
# "criteria met", "test kit", "CR or PR"). Such abbreviations are matched case-sensitively.
_LOWER_COLLISIONS = frozenset(
    {
        "all", "cup", "net", "nec", "ups", "act", "aids", "met", "kit", "hrs", "bid", "tid",
        "ecg", "ekg", "mri", "pet", "who", "ais", "ptc", "opc", "lps", "tet", "proc",
    }
)  # fmt: skip


def is_ambiguous_abbreviation(name: str) -> bool:
    """True for an abbreviation that must be matched case-sensitively: two letters or
    fewer ("ER", "HR", "MM", "UM"), or a lower-case collision ("ALL", "MET", "KIT")."""
    if not is_abbreviation(name):
        return False
    core = re.sub(r"[^A-Za-z0-9]", "", name)
    return len(core) <= 2 or core.lower() in _LOWER_COLLISIONS


def abbreviation_variants(name: str) -> list[str]:
    """Case-preserving hyphen variants of an abbreviation ("PD-1" → "PD-1", "PD 1", "PD1")."""
    text = unicodedata.normalize("NFKC", name.strip())
    text = _DASHES.sub("-", text)
    return list(dict.fromkeys(_hyphen_variants(text)))


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Items in first-seen order without duplicates."""
    return tuple(dict.fromkeys(items))


def contains_phrase(haystack_key: str, needle_key: str) -> bool:
    """True if ``needle_key`` occurs in ``haystack_key`` on token boundaries."""
    return f" {needle_key} " in f" {haystack_key} "
