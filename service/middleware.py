"""ASGI middleware: a privacy-safe access log and the last-resort 500.

Uvicorn's own access log is turned off (``trialmatch serve`` passes
``access_log=False``) because it prints the full query string, which for navigator
searches can hold a ZIP code. :class:`AccessLogMiddleware` logs instead, on logger
``trialmatch.access``: method, the **route template** (``/v1/batch/{job_id}``, never
the job id: it is the only thing guarding a cohort's results; never a query string),
status, duration in ms. A path no route matched is logged as ``<unmatched>``, since it
may be anything a caller typed. Bodies are never read or logged.

Any exception that escapes the routes and the exception handlers is answered here with
a 500 ``internal_error`` body (if the response has not started) and logged as class
name plus traceback frames, never the exception message, which may quote patient data.
Not re-raising keeps uvicorn from printing the message in its own error log.
"""

from __future__ import annotations

import logging
import time
import traceback

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("trialmatch.access")
UNMATCHED = "<unmatched>"
"""What the logs show for a path that matched no route."""


def route_template(scope: Scope) -> str:
    """The path template of the route that served ``scope`` (``/v1/trials/{nct_id}``),
    or :data:`UNMATCHED`. Starlette's router puts the matched route in ``scope``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED
error_log = logging.getLogger("trialmatch.service.errors")

_INTERNAL = orjson.dumps(
    {"error": "internal_error", "message": "Internal error; it has been logged."}
)


class AccessLogMiddleware:
    """Log one line per HTTP request (no query string, no body) and catch stray errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def _send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                started = True
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__, limit=-5))
            error_log.error(
                "%s %s -> 500 (%s)\n%s",
                scope["method"],
                route_template(scope),
                type(exc).__name__,
                frames,
            )
            if started:
                raise
            status = 500
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": _INTERNAL})
        finally:
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                route_template(scope),
                status,
                (time.perf_counter() - start) * 1000,
            )
