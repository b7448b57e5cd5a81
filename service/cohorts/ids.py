"""Opaque ids: the only identifiers of cohorts and members the service accepts.

A cohort id or member id is a key in Redis, a path segment and a label in diffs, so it
must not identify a person. The rule (checked by :func:`check_opaque_id`, used as the
pydantic type :data:`OpaqueId`):

* 1–64 characters of ``A-Z a-z 0-9 _ . : -`` (no spaces, no ``@``);
* at least one digit — names ("jane.doe", "JaneDoe") have none;
* not all digits when 5 or longer, no ``mrn``/``ssn``/``nhs`` tag and no
  ``ddd-dd-dddd`` run — those are how medical record and social security numbers look;
* no run that reads as a calendar date (``1961-04-12``, ``19610412``, ``12/04/61``
  with ``.``, ``-`` or ``_``) — a date of birth.

Good ids are random (``secrets.token_hex(8)``) or study codes such as ``c7-0042``.
The rule is a pattern check and cannot prove an id is anonymous; it stops the common
mistakes. Rejections say which rule failed, never echo the id itself.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

OPAQUE_ID_CHARS = r"^[A-Za-z0-9_.:-]{1,64}$"

_CHARS = re.compile(OPAQUE_ID_CHARS)
_DATE = re.compile(
    r"(?<!\d)(?:"
    r"(?:19|20)\d{2}[-_./]?(?:0[1-9]|1[0-2])[-_./]?(?:0[1-9]|[12]\d|3[01])"  # ISO / compact
    r"|(?:0?[1-9]|[12]\d|3[01])[-_./](?:0?[1-9]|1[0-2])[-_./](?:19|20)?\d{2}"  # d/m/y
    r"|(?:0?[1-9]|1[0-2])[-_./](?:0?[1-9]|[12]\d|3[01])[-_./](?:19|20)?\d{2}"  # m/d/y
    r")(?!\d)"
)
_RECORD_NUMBER = re.compile(r"(?i)mrn|ssn|nhs|medrec|^\d{5,}$|(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_HINT = "use an opaque token such as a random hex id or a study code like 'c7-0042'"


def check_opaque_id(value: str) -> str:
    """``value`` if it is an opaque token (module docstring), else ``ValueError``
    naming the rule it breaks (not quoting the value)."""
    if "@" in value:
        raise ValueError(f"looks like an e-mail address; {_HINT}")
    if not _CHARS.match(value):
        raise ValueError(f"must be 1-64 characters of A-Z a-z 0-9 _ . : - (no spaces); {_HINT}")
    if not any(c.isdigit() for c in value):
        raise ValueError(f"has no digit, so it may be a name; {_HINT}")
    if _RECORD_NUMBER.search(value):
        raise ValueError(f"looks like a medical record or social security number; {_HINT}")
    if _DATE.search(value):
        raise ValueError(f"contains a date (a date of birth?); {_HINT}")
    return value


OpaqueId = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(check_opaque_id)
]
"""A cohort or member id that passed :func:`check_opaque_id`."""
