"""Distances between a patient and trial sites (pure, offline).

* :func:`haversine_km` — great-circle distance in kilometres on a spherical Earth of
  mean radius 6371.0088 km (IUGG mean radius R1). Error vs. the WGS-84 ellipsoid is
  below 0.5 %, which is plenty for "nearest recruiting site" ranking.
* :func:`zip_to_latlon` — a US ZIP code to the centroid ``(lat, lon)`` in decimal
  degrees, looked up offline in the ``zipcodes`` package's bundled table.
* :func:`nearest_site` — the nearest site that is recruiting (CT.gov location status),
  with its distance.

Nothing here touches the network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import zipcodes

from matchers.models import Site, SiteDistance

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG R1) in kilometres."""

OPEN_SITE_STATUSES = frozenset(
    {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE"}
)
"""CT.gov location statuses under which a site may take a new patient."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in decimal degrees.

    Uses the haversine formula (numerically stable for small distances).
    """
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@lru_cache(maxsize=8192)
def zip_to_latlon(zip_code: str) -> tuple[float, float] | None:
    """The centroid of a US ZIP code (5 digits, optional ``-NNNN``), or None if unknown.

    Offline: reads the table bundled with the ``zipcodes`` package, whose lookup scans
    the whole table, so results are memoized (a ZIP's centroid never changes). Malformed input
    returns None rather than raising (the API model validates the format upstream).
    """
    five = zip_code.strip()[:5]
    if len(five) != 5 or not five.isdigit():
        return None
    try:
        rows = zipcodes.matching(five)  # type: ignore[no-untyped-call]
    except (TypeError, ValueError):
        return None
    for row in rows:
        try:
            return float(row["lat"]), float(row["long"])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def nearest_site(
    sites: Iterable[Site], lat: float, lon: float, *, open_only: bool = True
) -> SiteDistance | None:
    """The nearest site with coordinates, and its distance in km, or None.

    With ``open_only`` (default), only sites whose CT.gov location status is in
    :data:`OPEN_SITE_STATUSES` count — except when *no* site of the trial carries a
    status at all (older records), where every site with coordinates counts.
    """
    located = [s for s in sites if s.lat is not None and s.lon is not None]
    if not located:
        return None
    if open_only and any(s.status for s in located):
        located = [s for s in located if (s.status or "").upper() in OPEN_SITE_STATUSES]
    best: SiteDistance | None = None
    for site in located:
        assert site.lat is not None and site.lon is not None
        d = haversine_km(lat, lon, site.lat, site.lon)
        if best is None or d < best.distance_km:
            best = SiteDistance(site=site, distance_km=round(d, 1))
    return best
