"""Process-wide Prometheus counters that code outside a request counts into.

Everything request-scoped lives in a per-app registry (:mod:`service.metrics`); this
module holds the few counters that stores and jobs bump wherever they run (API or
worker), so that they need no handle on the app. ``/metrics`` serves them together
with the app's own series.

* ``trialmatch_redis_errors_total{component}`` — Redis commands that failed, by the
  component that issued them (``cohorts``, ``auth``, ``ratelimit``, ``index_refresh``,
  ``metrics``). No label carries patient data or ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

REDIS_ERRORS = Counter(
    "trialmatch_redis_errors",
    "Redis commands that failed, by component.",
    ["component"],
    registry=PROCESS_REGISTRY,
)


def redis_error(component: str) -> None:
    """Count one failed Redis interaction of ``component`` (a fixed name)."""
    REDIS_ERRORS.labels(component=component).inc()
