"""The part of a ClinicalTrials.gov API v2 study that trialmatch uses, as typed models.

Shape (camelCase on the wire, snake_case here; every module optional)::

    Study
    ├── protocolSection
    │   ├── identificationModule     nctId (required), briefTitle, officialTitle, acronym
    │   ├── statusModule             overallStatus, statusVerifiedDate, lastUpdatePostDateStruct,
    │   │                            expandedAccessInfo {hasExpandedAccess, nctId, statusForNctId}
    │   ├── conditionsModule         conditions[], keywords[]
    │   ├── designModule             studyType, phases[]
    │   ├── armsInterventionsModule  interventions[] {type, name, otherNames[]}
    │   ├── eligibilityModule        eligibilityCriteria (Markdown), minimumAge, maximumAge,
    │   │                            sex, stdAges[], healthyVolunteers
    │   └── contactsLocationsModule  locations[] {facility, city, state, zip, country, status,
    │                                geoPoint {lat, lon}}
    └── derivedSection.conditionBrowseModule.meshes[] {id, term}

Unknown fields are ignored (``extra="ignore"``). Enumerations follow the API's OpenAPI
spec 2.0.0 but are *open*: ``overallStatus``, ``studyType``, ``phases``, ``sex``,
``stdAges`` and ``expandedAccessInfo.statusForNctId`` validate a known value to its enum
member and keep a value CT.gov added later (``"PAUSED_FOR_REVIEW"``) as its plain string,
so a study is never lost for a new status or phase. Such a value must still look like an
API enum value (UPPER_SNAKE_CASE, at most 64 characters); anything else (a number, a list,
free text, an empty string) fails validation and the record is quarantined.
:meth:`Study.unknown_values` lists the values kept as text, so the ingest can report them.

Conventions
-----------
* Partial dates (``"2015"``, ``"2015-08"``, ``"2015-08-04"``) become :class:`PartialDate`:
  the first day of the period plus its precision; they serialize back to the same text.
* Ages (``"18 Years"``, ``"6 Months"``, ``"N/A"``) become years as a float, or None for no
  limit: 1 month = 1/12 year, 1 week = 7 days, 1 year = 365.25 days.
* Eligibility text: the API serves ``markup`` fields as CommonMark, so the criteria carry
  backslash escapes (``\\>``, ``\\<``, ``\\*``, ``\\[`` ...). :func:`to_summary` removes them
  (:func:`unescape_markdown`) and stores the *unescaped* text as
  ``TrialSummary.eligibility_text``; the parser reads that same text, so every evidence span
  indexes into what the user is shown. Records converted from research corpora are not
  escaped; unescaping leaves them unchanged unless they contain a backslash before ASCII
  punctuation, which does not occur in practice.

Records
-------
:func:`validate_record` turns one raw JSON study (an API page item or a dump line) into a
:class:`StudyRecord` (validated model, summary, canonical JSON and content hash) or a
:class:`QuarantineEntry` (NCT id if recoverable, location, reason). The content hash is the
SHA-256 of the record *projected to* :data:`STUDY_FIELDS` and serialized with sorted keys,
so a study read from a full bulk-download file and the same study fetched with ``fields=``
hash the same, and changes to fields trialmatch does not use do not count as changes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple, TypeAlias, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from matchers.models import NCT_ID_PATTERN, ExpandedAccessLink, NCTId, Site, TrialSummary

__all__ = [
    "MAX_ELIGIBILITY_CHARS",
    "STUDY_FIELDS",
    "ArmsInterventionsModule",
    "ConditionBrowseModule",
    "ConditionsModule",
    "ContactsLocationsModule",
    "DateStruct",
    "DerivedSection",
    "DesignModule",
    "EligibilityModule",
    "ExpandedAccessInfo",
    "ExpandedAccessStatus",
    "ExpandedAccessStatusValue",
    "GeoPoint",
    "IdentificationModule",
    "Intervention",
    "Location",
    "Mesh",
    "OverallStatus",
    "OverallStatusValue",
    "PartialDate",
    "Phase",
    "PhaseValue",
    "ProtocolSection",
    "QuarantineEntry",
    "Sex",
    "SexValue",
    "StandardAge",
    "StandardAgeValue",
    "StatusModule",
    "Study",
    "StudyRecord",
    "StudyType",
    "StudyTypeValue",
    "UnknownValue",
    "canonical_json",
    "parse_age_years",
    "project",
    "to_summary",
    "unescape_markdown",
    "validate_record",
]


# --------------------------------------------------------------------------------------
# Enumerations (OpenAPI spec 2.0.0, components/schemas)
# --------------------------------------------------------------------------------------


class OverallStatus(StrEnum):
    """``Status``: recruitment status of a study (expanded-access values included)."""

    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    COMPLETED = "COMPLETED"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    WITHDRAWN = "WITHDRAWN"
    AVAILABLE = "AVAILABLE"
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"
    WITHHELD = "WITHHELD"
    UNKNOWN = "UNKNOWN"


class ExpandedAccessStatus(StrEnum):
    """``ExpandedAccessStatus``: status of an expanded-access program record."""

    AVAILABLE = "AVAILABLE"
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"


class StudyType(StrEnum):
    EXPANDED_ACCESS = "EXPANDED_ACCESS"
    INTERVENTIONAL = "INTERVENTIONAL"
    OBSERVATIONAL = "OBSERVATIONAL"


class Phase(StrEnum):
    NA = "NA"
    EARLY_PHASE1 = "EARLY_PHASE1"
    PHASE1 = "PHASE1"
    PHASE2 = "PHASE2"
    PHASE3 = "PHASE3"
    PHASE4 = "PHASE4"


class Sex(StrEnum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    ALL = "ALL"


class StandardAge(StrEnum):
    CHILD = "CHILD"
    ADULT = "ADULT"
    OLDER_ADULT = "OLDER_ADULT"


# --------------------------------------------------------------------------------------
# Open enumerations: a known value becomes the member, a new one stays text
# --------------------------------------------------------------------------------------

_E = TypeVar("_E", bound=StrEnum)

_ENUM_TOKEN_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
"""What an API enum value looks like (``RECRUITING``, ``EARLY_PHASE1``): a value CT.gov
adds later is accepted as text only in this shape."""


def _open_enum(enum: type[_E]) -> BeforeValidator:
    """A validator for ``Annotated[enum | str, ...]``: a known value -> the member, an
    unknown value of the API's shape -> the same string, anything else -> an error."""
    name = enum.__name__

    def validate(value: Any) -> Any:
        if isinstance(value, enum):
            return value
        if not isinstance(value, str):
            raise ValueError(f"Input should be a string ({name}), not {type(value).__name__}")
        try:
            return enum(value)
        except ValueError:
            pass
        if _ENUM_TOKEN_RE.fullmatch(value) is None:
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise ValueError(
                f"{shown!r} is neither a known {name} nor UPPER_SNAKE_CASE "
                "like a value the API could add"
            )
        return value

    return BeforeValidator(validate)


OverallStatusValue: TypeAlias = Annotated[OverallStatus | str, _open_enum(OverallStatus)]
"""An :class:`OverallStatus`, or a status not in spec 2.0.0 kept as text."""
ExpandedAccessStatusValue: TypeAlias = Annotated[
    ExpandedAccessStatus | str, _open_enum(ExpandedAccessStatus)
]
"""An :class:`ExpandedAccessStatus`, or a value not in spec 2.0.0 kept as text."""
StudyTypeValue: TypeAlias = Annotated[StudyType | str, _open_enum(StudyType)]
"""A :class:`StudyType`, or a value not in spec 2.0.0 kept as text."""
PhaseValue: TypeAlias = Annotated[Phase | str, _open_enum(Phase)]
"""A :class:`Phase`, or a value not in spec 2.0.0 kept as text."""
SexValue: TypeAlias = Annotated[Sex | str, _open_enum(Sex)]
"""A :class:`Sex`, or a value not in spec 2.0.0 kept as text."""
StandardAgeValue: TypeAlias = Annotated[StandardAge | str, _open_enum(StandardAge)]
"""A :class:`StandardAge`, or a value not in spec 2.0.0 kept as text."""


class UnknownValue(NamedTuple):
    """A value of an open enumeration that is not in the spec, kept as text. ``field`` is
    its dotted wire path (``"protocolSection.designModule.phases.1"``)."""

    field: str
    value: str


def _unknown(field: str, value: StrEnum | str | None) -> list[UnknownValue]:
    if value is None or isinstance(value, StrEnum):
        return []
    return [UnknownValue(field, value)]


# --------------------------------------------------------------------------------------
# Scalar conversions
# --------------------------------------------------------------------------------------

_PARTIAL_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class PartialDate(BaseModel):
    """A CT.gov ``PartialDate``: ``yyyy``, ``yyyy-MM`` or ``yyyy-MM-dd``.

    ``value`` is the first day of the period (``"2015-08"`` -> 2015-08-01) and
    ``precision`` says how much of it was given. Validates from and serializes to the
    API's text form.
    """

    model_config = ConfigDict(frozen=True)

    value: date
    precision: Literal["year", "month", "day"]

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _PARTIAL_DATE_RE.match(data.strip())
        try:
            if match is None:
                raise ValueError("no match")
            year, month, day = match.groups()
            value = date(int(year), int(month or 1), int(day or 1))
        except ValueError:
            raise ValueError(f"not a yyyy, yyyy-MM or yyyy-MM-dd date: {data!r}") from None
        precision = "day" if day else "month" if month else "year"
        return {"value": value, "precision": precision}

    @model_serializer
    def _to_text(self) -> str:
        text = self.value.isoformat()
        return (
            text[:4]
            if self.precision == "year"
            else text[:7]
            if self.precision == "month"
            else text
        )


_AGE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?$", re.IGNORECASE)
_YEARS_PER_UNIT = {
    "year": 1.0,
    "month": 1.0 / 12.0,
    "week": 7.0 / 365.25,
    "day": 1.0 / 365.25,
    "hour": 1.0 / (365.25 * 24.0),
    "minute": 1.0 / (365.25 * 24.0 * 60.0),
}
_NO_AGE_LIMIT = {"", "n/a", "na", "none"}


def parse_age_years(text: str | None) -> float | None:
    """An age limit as written by CT.gov (``"18 Years"``, ``"6 Months"``, ``"N/A"``) in years.

    Returns None for no limit (None, empty, ``N/A``). Raises ValueError for anything else
    that is not ``<number> <Year|Month|Week|Day|Hour|Minute>[s]``.
    """
    if text is None or text.strip().lower() in _NO_AGE_LIMIT:
        return None
    match = _AGE_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not an age such as '18 Years' or '6 Months': {text!r}")
    return float(match.group(1)) * _YEARS_PER_UNIT[match.group(2).lower()]


def _age(value: Any) -> Any:
    return parse_age_years(value) if value is None or isinstance(value, str) else value


def _none_to_empty(value: Any) -> Any:
    return () if value is None else value


AgeYears: TypeAlias = Annotated[float | None, BeforeValidator(_age)]
"""An age limit in years; validates from CT.gov text ("6 Months" -> 0.5, "N/A" -> None)."""

StrTuple: TypeAlias = Annotated[tuple[str, ...], BeforeValidator(_none_to_empty)]

# CommonMark: a backslash before any ASCII punctuation character escapes it; before
# anything else it is a literal backslash.
_MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescape_markdown(text: str) -> str:
    """Remove CommonMark backslash escapes: ``"ANC \\> 1500"`` -> ``"ANC > 1500"``.

    Only a backslash before ASCII punctuation is an escape (``\\\\`` -> ``\\``); other
    backslashes (``"and\\or"``, a hard line break before a newline) stay as written.
    """
    return _MD_ESCAPE_RE.sub(r"\1", text)


# --------------------------------------------------------------------------------------
# The study subset
# --------------------------------------------------------------------------------------


class _Wire(BaseModel):
    """Base of the API models: camelCase aliases, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True
    )


class IdentificationModule(_Wire):
    nct_id: NCTId
    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None


class DateStruct(_Wire):
    """``lastUpdatePostDateStruct`` and friends: a date and ``ACTUAL``/``ESTIMATED``."""

    date: PartialDate | None = None
    type: str | None = None


class ExpandedAccessInfo(_Wire):
    """Link from a study to its expanded-access program record, if any."""

    has_expanded_access: bool = False
    nct_id: NCTId | None = None
    status_for_nct_id: ExpandedAccessStatusValue | None = None


class StatusModule(_Wire):
    overall_status: OverallStatusValue | None = None
    status_verified_date: PartialDate | None = None
    last_update_post_date_struct: DateStruct | None = None
    expanded_access_info: ExpandedAccessInfo | None = None


class ConditionsModule(_Wire):
    conditions: StrTuple = ()
    keywords: StrTuple = ()


class DesignModule(_Wire):
    study_type: StudyTypeValue | None = None
    phases: tuple[PhaseValue, ...] = ()


class Intervention(_Wire):
    type: str | None = None
    """``InterventionType`` (``DRUG``, ``BIOLOGICAL``, ...); kept as text."""
    name: str | None = None
    other_names: StrTuple = ()


class ArmsInterventionsModule(_Wire):
    interventions: tuple[Intervention, ...] = ()


MAX_ELIGIBILITY_CHARS = 100_000
"""Longest eligibility criteria text accepted, characters: five times the longest in the
shared corpus (19,020). A longer one is quarantined (its reason names the field) rather
than stored and served."""


class EligibilityModule(_Wire):
    eligibility_criteria: str | None = Field(default=None, max_length=MAX_ELIGIBILITY_CHARS)
    """As served: CommonMark with backslash escapes (see :func:`unescape_markdown`); at
    most :data:`MAX_ELIGIBILITY_CHARS` characters."""
    healthy_volunteers: bool | None = None
    sex: SexValue | None = None
    minimum_age: AgeYears = None
    maximum_age: AgeYears = None
    std_ages: tuple[StandardAgeValue, ...] = ()


class GeoPoint(_Wire):
    """Decimal degrees."""

    lat: float
    lon: float


class Location(_Wire):
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: str | None = None
    """``RecruitmentStatus`` of the site (``RECRUITING``, ...); kept as text."""
    geo_point: GeoPoint | None = None


class ContactsLocationsModule(_Wire):
    locations: tuple[Location, ...] = ()


class ProtocolSection(_Wire):
    identification_module: IdentificationModule
    status_module: StatusModule = StatusModule()
    conditions_module: ConditionsModule = ConditionsModule()
    design_module: DesignModule = DesignModule()
    arms_interventions_module: ArmsInterventionsModule = ArmsInterventionsModule()
    eligibility_module: EligibilityModule = EligibilityModule()
    contacts_locations_module: ContactsLocationsModule = ContactsLocationsModule()


class Mesh(_Wire):
    id: str | None = None
    term: str | None = None


class ConditionBrowseModule(_Wire):
    meshes: tuple[Mesh, ...] = ()


class DerivedSection(_Wire):
    condition_browse_module: ConditionBrowseModule | None = None


class Study(_Wire):
    """One study, as returned by ``/studies`` and ``/studies/{nctId}`` (subset)."""

    protocol_section: ProtocolSection
    derived_section: DerivedSection | None = None

    @property
    def nct_id(self) -> str:
        return self.protocol_section.identification_module.nct_id

    def unknown_values(self) -> tuple[UnknownValue, ...]:
        """The values of open enumerations that are not in spec 2.0.0 (kept as text), in
        field order; empty for a study that uses only known values."""
        ps = self.protocol_section
        status = ps.status_module
        design = ps.design_module
        elig = ps.eligibility_module
        ea = status.expanded_access_info
        found = _unknown("protocolSection.statusModule.overallStatus", status.overall_status)
        if ea is not None:
            found += _unknown(
                "protocolSection.statusModule.expandedAccessInfo.statusForNctId",
                ea.status_for_nct_id,
            )
        found += _unknown("protocolSection.designModule.studyType", design.study_type)
        for i, phase in enumerate(design.phases):
            found += _unknown(f"protocolSection.designModule.phases.{i}", phase)
        found += _unknown("protocolSection.eligibilityModule.sex", elig.sex)
        for i, age in enumerate(elig.std_ages):
            found += _unknown(f"protocolSection.eligibilityModule.stdAges.{i}", age)
        return tuple(found)


STUDY_FIELDS: tuple[str, ...] = (
    "protocolSection.identificationModule.nctId",
    "protocolSection.identificationModule.briefTitle",
    "protocolSection.identificationModule.officialTitle",
    "protocolSection.identificationModule.acronym",
    "protocolSection.statusModule.overallStatus",
    "protocolSection.statusModule.statusVerifiedDate",
    "protocolSection.statusModule.lastUpdatePostDateStruct",
    "protocolSection.statusModule.expandedAccessInfo",
    "protocolSection.conditionsModule.conditions",
    "protocolSection.conditionsModule.keywords",
    "protocolSection.designModule.studyType",
    "protocolSection.designModule.phases",
    "protocolSection.armsInterventionsModule.interventions.type",
    "protocolSection.armsInterventionsModule.interventions.name",
    "protocolSection.armsInterventionsModule.interventions.otherNames",
    "protocolSection.eligibilityModule.eligibilityCriteria",
    "protocolSection.eligibilityModule.healthyVolunteers",
    "protocolSection.eligibilityModule.sex",
    "protocolSection.eligibilityModule.minimumAge",
    "protocolSection.eligibilityModule.maximumAge",
    "protocolSection.eligibilityModule.stdAges",
    "protocolSection.contactsLocationsModule.locations.facility",
    "protocolSection.contactsLocationsModule.locations.city",
    "protocolSection.contactsLocationsModule.locations.state",
    "protocolSection.contactsLocationsModule.locations.zip",
    "protocolSection.contactsLocationsModule.locations.country",
    "protocolSection.contactsLocationsModule.locations.status",
    "protocolSection.contactsLocationsModule.locations.geoPoint",
    "derivedSection.conditionBrowseModule.meshes",
)
"""The API ``fields`` a sync asks for (dotted paths), and the projection behind the
content hash. Everything :class:`Study` reads, nothing more."""


# --------------------------------------------------------------------------------------
# Projection, canonical JSON, content hash
# --------------------------------------------------------------------------------------

_FieldTree: TypeAlias = dict[str, "_FieldTree | None"]


def _field_tree(paths: Sequence[str]) -> _FieldTree:
    tree: _FieldTree = {}
    for path in paths:
        node = tree
        *parents, leaf = path.split(".")
        for key in parents:
            child = node.setdefault(key, {})
            assert child is not None, f"{path} lies under another requested field"
            node = child
        node[leaf] = None
    return tree


_STUDY_FIELD_TREE = _field_tree(STUDY_FIELDS)


def _project(node: Any, tree: _FieldTree) -> Any:
    if isinstance(node, list):
        return [(_project(item, tree) or {}) if isinstance(item, dict) else item for item in node]
    if not isinstance(node, dict):
        return None
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key not in node:
            continue
        value = node[key] if sub is None else _project(node[key], sub)
        if value is not None or sub is None:
            out[key] = value
    return out or None


def project(raw: Mapping[str, Any], fields: Sequence[str] = STUDY_FIELDS) -> dict[str, Any]:
    """The part of a raw study at ``fields`` (dotted paths), in the study's own shape.

    Mirrors what the API returns for ``fields=``: list items keep their positions (an item
    without any requested field becomes ``{}``), an object without any requested field is
    left out. Idempotent, so an API answer can be projected again locally.
    """
    tree = _STUDY_FIELD_TREE if fields is STUDY_FIELDS else _field_tree(fields)
    return _project(dict(raw), tree) or {}


def canonical_json(value: Any) -> bytes:
    """Compact UTF-8 JSON with sorted keys: the bytes that are hashed and stored."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# --------------------------------------------------------------------------------------
# Study -> TrialSummary
# --------------------------------------------------------------------------------------


def _site(location: Location) -> Site:
    geo = location.geo_point
    return Site(
        facility=location.facility,
        city=location.city,
        state=location.state,
        zip=location.zip,
        country=location.country,
        status=location.status,
        lat=geo.lat if geo else None,
        lon=geo.lon if geo else None,
    )


def _text(value: StrEnum | str | None) -> str | None:
    """An open-enum value as plain text (a member's value, or the kept string)."""
    return None if value is None else str(value)


def to_summary(study: Study) -> TrialSummary:
    """The :class:`matchers.models.TrialSummary` of a study.

    ``title`` is ``briefTitle``, else ``officialTitle``, else ``""``; ``sites`` are all
    locations in order (``lat``/``lon`` from ``geoPoint`` when present); ``interventions``
    are intervention names; ``eligibility_text`` is the criteria with Markdown escapes
    removed (module docstring); ``expanded_access`` is set when the study has
    ``expandedAccessInfo``. Enumerated fields become their text, known or not.
    """
    ps = study.protocol_section
    ident = ps.identification_module
    status = ps.status_module
    elig = ps.eligibility_module
    ea = status.expanded_access_info
    last_update = status.last_update_post_date_struct
    return TrialSummary(
        nct_id=ident.nct_id,
        title=ident.brief_title or ident.official_title or "",
        official_title=ident.official_title,
        overall_status=_text(status.overall_status),
        study_type=_text(ps.design_module.study_type),
        phases=tuple(str(phase) for phase in ps.design_module.phases),
        conditions=ps.conditions_module.conditions,
        keywords=ps.conditions_module.keywords,
        interventions=tuple(i.name for i in ps.arms_interventions_module.interventions if i.name),
        min_age_years=elig.minimum_age,
        max_age_years=elig.maximum_age,
        sex=_text(elig.sex),
        sites=tuple(_site(loc) for loc in ps.contacts_locations_module.locations),
        expanded_access=(
            ExpandedAccessLink(
                has_expanded_access=ea.has_expanded_access,
                nct_id=ea.nct_id,
                status=_text(ea.status_for_nct_id),
            )
            if ea is not None
            else None
        ),
        last_update=last_update.date.value if last_update and last_update.date else None,
        eligibility_text=unescape_markdown(elig.eligibility_criteria or ""),
    )


# --------------------------------------------------------------------------------------
# Validated records and quarantine entries
# --------------------------------------------------------------------------------------


class QuarantineEntry(BaseModel):
    """A record that could not be used. ``nct_id`` when it could be read from the record;
    ``location`` where it came from (``"page 2 #17"``, ``"dump.jsonl.gz:120"``,
    ``"studies.zip!NCT01234567.json"``); ``reason`` a one-line explanation."""

    model_config = ConfigDict(frozen=True)

    nct_id: NCTId | None = None
    location: str
    reason: str

    @property
    def key(self) -> str:
        """The quarantine hash field: the NCT id, else the location."""
        return self.nct_id or self.location


class StudyRecord(BaseModel):
    """One validated study: the model, its summary, the canonical projected JSON (bytes,
    :data:`STUDY_FIELDS` only) and the SHA-256 hex digest of those bytes.
    ``unknown_values`` are the enumerated values not in the spec that were kept as text."""

    model_config = ConfigDict(frozen=True)

    study: Study
    summary: TrialSummary
    raw_json: bytes
    content_hash: str

    @property
    def nct_id(self) -> str:
        return self.study.nct_id

    @property
    def unknown_values(self) -> tuple[UnknownValue, ...]:
        return self.study.unknown_values()

    def raw(self) -> dict[str, Any]:
        """The projected study as JSON-compatible dicts (decoded from ``raw_json``)."""
        value: dict[str, Any] = orjson.loads(self.raw_json)
        return value


_NCT_RE = re.compile(NCT_ID_PATTERN)


def _recover_nct_id(raw: Any) -> str | None:
    try:
        value = raw["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError, IndexError):
        return None
    return value if isinstance(value, str) and _NCT_RE.match(value) else None


def _describe(exc: ValidationError, *, limit: int = 3) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "(record)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def validate_record(raw: Any, *, location: str) -> StudyRecord | QuarantineEntry:
    """Validate one raw study (a decoded JSON object) into a :class:`StudyRecord`.

    Never raises for bad data: anything that is not a study object, or fails
    :class:`Study` validation, comes back as a :class:`QuarantineEntry` whose reason names
    the offending field(s), e.g. ``"protocolSection.eligibilityModule.minimumAge: Value
    error, not an age such as '18 Years' ..."``. A value of an enumerated field that is
    not in the spec is not an error: it is kept as text (:attr:`StudyRecord.unknown_values`).
    """
    if not isinstance(raw, dict):
        return QuarantineEntry(location=location, reason=f"not a JSON object: {type(raw).__name__}")
    projected = project(raw)
    try:
        study = Study.model_validate(projected)
        summary = to_summary(study)
    except ValidationError as exc:
        return QuarantineEntry(
            nct_id=_recover_nct_id(raw), location=location, reason=_describe(exc)
        )
    raw_json = canonical_json(projected)
    return StudyRecord(
        study=study,
        summary=summary,
        raw_json=raw_json,
        content_hash=hashlib.sha256(raw_json).hexdigest(),
    )
