"""Request bounds enforced before any route runs.

:class:`BodySizeLimitMiddleware` (ASGI) caps the body of **every** request at
``Settings.max_body_bytes`` (``TRIALMATCH_MAX_BODY_BYTES``, default 4 MiB): a
``Content-Length`` over it is answered 413 at once, without reading the body; a body
without one (chunked) is read up to the limit and answered 413 as soon as it passes
it. Routes then see the buffered body as usual. The 413 body is the service's error
shape: ``{"error": "payload_too_large", "message": "..."}``.

Collections inside bodies are bounded by the request models themselves
(:mod:`service.schemas`, :mod:`matchers.patient`): the size limit bounds the work of
parsing, the models bound the work of matching.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""4 MiB: a batch of 5,000 full patient profiles (~0.6 kB each) fits with room."""


def _too_large(limit: int) -> bytes:
    return orjson.dumps(
        {
            "error": "payload_too_large",
            "message": f"Request body too large: the limit is {limit:,} bytes "
            "(TRIALMATCH_MAX_BODY_BYTES). Send fewer patients per batch, or split the "
            "request.",
        }
    )


class BodySizeLimitMiddleware:
    """Answer 413 to any HTTP request whose body exceeds ``max_bytes`` bytes."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        body = _too_large(self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
