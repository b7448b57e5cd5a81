"""Route guards: API-key scopes and rate limits, as FastAPI dependencies.

* ``NAVIGATOR``, ``BATCH`` — ``dependencies=[...]`` of protected routes: authenticate
  the key (:mod:`service.auth`) for that scope, then count the request against the
  key's rate limit (:mod:`service.ratelimit`);
* ``PUBLIC`` — public routes: count the request against the client's rate limit.

Both read the client address from the ASGI connection (``request.client``); behind a
reverse proxy run uvicorn with ``--proxy-headers`` (and ``--forwarded-allow-ips``) so
that it is the caller's address, not the proxy's. An app whose state has no
authenticator (tests over a fixed index) checks no keys.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.auth import Principal, Scope
from service.deps import StateDep

# Declared as security schemes so that /docs has an "Authorize" button; auto_error=False
# because the guard itself decides (loopback without keys, 401 vs 403 messages).
_BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`")


def require(scope: Scope) -> Any:
    """A dependency that admits a caller with ``scope`` (or ``admin``)."""

    async def guard(
        request: Request,
        state: StateDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
        x_api_key: Annotated[str | None, Security(_API_KEY)] = None,
    ) -> Principal | None:
        if state.auth is None:
            return None
        host = request.client.host if request.client else None
        key = x_api_key.strip() if x_api_key else (bearer.credentials if bearer else None)
        principal = await state.auth.authenticate(scope=scope, key=key or None,
                                                  client_host=host)
        if state.limiter is not None:
            await state.limiter.check_key(principal.key_id)
        return principal

    guard.__name__ = f"require_{scope}"
    return Depends(guard)


async def _public(request: Request, state: StateDep) -> None:
    if state.limiter is not None:
        await state.limiter.check_client(request.client.host if request.client else None)


NAVIGATOR = require("navigator")
BATCH = require("batch")
PUBLIC = Depends(_public)
