"""Three-valued (Kleene) logic: True, False and None = unknown.

A fact checked against a patient is true, false or unknown (the profile does not say).
Criteria combine such values with Kleene's strong connectives: ``and_`` is False as soon
as one value is False, unknown if any is unknown, else True; ``or_`` is True as soon as
one value is True, unknown if any is unknown, else False; ``not_`` keeps unknown.
Unknown is never read as False: "no prior platinum" is unknown, not met, when the
profile does not list prior therapies.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Tri", "and_", "not_", "or_"]

Tri = bool | None
"""A three-valued truth: True, False or None (unknown)."""


def and_(values: Iterable[Tri]) -> Tri:
    """Kleene conjunction (True for no values)."""
    out: Tri = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def or_(values: Iterable[Tri]) -> Tri:
    """Kleene disjunction (False for no values)."""
    out: Tri = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out


def not_(value: Tri) -> Tri:
    """Kleene negation: unknown stays unknown."""
    return None if value is None else not value
