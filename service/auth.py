"""API keys: storage (hashed), verification, and the route guards.

Keys look like ``tm_<key id>_<secret>``: the 12-hex-digit key id is public (it names
the key in ``trialmatch keys list/revoke`` and in rate-limit accounting), the secret is
32 random bytes (url-safe base64). Redis keeps only the SHA-256 of the whole key:
``{ns}:apikeys`` HASH key id -> :class:`ApiKeyRecord` JSON. A plain SHA-256 (not a
slow password hash) is enough because the secret is 256 random bits, not something a
person chose; comparison is constant-time.

Scopes: ``navigator`` (``/v1/match``, ``/v1/trials``, ``/v1/trials/{nct_id}``),
``batch`` (``/v1/batch``, ``/v1/cohorts/...``) and ``admin`` (everything). A key is sent
as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

Modes (``TRIALMATCH_AUTH_MODE``):

* ``auto`` (default): while **no** active key exists, requests from a loopback address
  (127.0.0.0/8, ::1) pass without a key — the embedded demo and local scripts keep
  working; other clients get a 401 saying how to create a key. Once one key exists,
  every protected route needs one, from anywhere.
* ``required``: a key is always needed.

During a Redis outage, keys verified in the last ``_OUTAGE_GRACE_S`` seconds and the
last known "any key exists" answer still hold, so ``/v1/match`` keeps answering from
memory; a key never seen before gets 503 ``store_unavailable``.

Errors: 401 ``api_key_missing`` (no key sent) / ``api_key_invalid`` (unknown, malformed
or revoked), both with ``WWW-Authenticate: Bearer``; 403 ``api_key_scope`` (valid key,
wrong scope). Each message says what to fix. Public routes (answer pages, condition
lookup, health, ``/metrics``) need no key.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import ipaddress
import secrets
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar, cast, get_args

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.errors import ServiceError
from service.metrics_registry import redis_error
from trial_cache.errors import StoreError

Scope = Literal["navigator", "batch", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
KEY_PREFIX = "tm"
_ANY_ACTIVE_TTL_S = 2.0
"""How long (seconds) the answer to "does any active key exist?" is cached in process."""
_OUTAGE_GRACE_S = 600.0
"""While Redis fails, how long (seconds) a key verified before the outage, and the last
answer to "does any active key exist?", are still honoured (matching runs from memory
through a Redis outage; a revocation made meanwhile applies once Redis answers)."""
_VERIFIED_MAX = 1024
"""Most verified keys remembered in process for the outage grace."""
_T = TypeVar("_T")


async def _r(reply: Awaitable[_T] | _T) -> _T:
    if inspect.isawaitable(reply):
        return await cast(Awaitable[_T], reply)
    return reply


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class ApiKeyMissing(ServiceError):
    status_code = 401
    code = "api_key_missing"

    def __init__(self, scope: Scope, *, no_keys_yet: bool = False) -> None:
        msg = (f"This route needs an API key with scope '{scope}' (or 'admin'): send "
               "'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")
        if no_keys_yet:
            msg += (" No key exists yet, so only loopback clients may call without one; "
                    f"create a key on the server with `trialmatch keys create --scope {scope}`.")
        super().__init__(msg)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="trialmatch"'}


class ApiKeyInvalid(ServiceError):
    status_code = 401
    code = "api_key_invalid"

    def __init__(self) -> None:
        super().__init__(
            "The API key is not valid: it is malformed, unknown or revoked. Check the "
            "value (tm_<id>_<secret>) or ask for a new key (`trialmatch keys create`)."
        )

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="trialmatch", error="invalid_token"'}


class ApiKeyScope(ServiceError):
    status_code = 403
    code = "api_key_scope"

    def __init__(self, key_id: str, scopes: Iterable[str], needed: Scope) -> None:
        have = ", ".join(sorted(scopes)) or "none"
        super().__init__(
            f"API key {key_id} has scopes [{have}]; this route needs '{needed}' (or "
            f"'admin'). Use a key with that scope (`trialmatch keys create --scope {needed}`)."
        )


class ApiKeyNotFound(ServiceError):
    status_code = 404
    code = "api_key_not_found"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key {key_id!r}; `trialmatch keys list` shows the ids.")


# --------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------


class ApiKeyRecord(BaseModel):
    """A stored key: never the key itself, only ``digest`` (SHA-256 hex)."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    name: str
    scopes: list[Scope]
    digest: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: Scope) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_id(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


class ApiKeyStore:
    """API keys in ``{ns}:apikeys``. Redis failures raise StoreError (→ 503)."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self.key = f"{namespace}:apikeys"
        self._any_active: tuple[float, bool] | None = None
        self._verified: dict[str, tuple[float, ApiKeyRecord]] = {}  # key id -> last seen

    async def _call(self, reply: Awaitable[_T] | _T) -> _T:
        try:
            return await _r(reply)
        except RedisError as exc:
            redis_error("auth")
            raise StoreError(f"API keys: Redis failed: {exc}") from exc

    async def create(self, *, name: str, scopes: Iterable[Scope]) -> tuple[str, ApiKeyRecord]:
        """A new key; returns ``(key, record)``. The key is shown once, never stored."""
        chosen = sorted(set(scopes))
        bad = [s for s in chosen if s not in SCOPES]
        if not chosen or bad:
            raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKeyRecord(key_id=key_id, name=name, scopes=chosen, digest=_digest(key),
                              created_at=datetime.now(UTC))
        await self._call(self._redis.hset(self.key, key_id, record.model_dump_json()))
        self._any_active = None
        return key, record

    async def list(self) -> list[ApiKeyRecord]:
        raw = await self._call(self._redis.hvals(self.key))
        return sorted((ApiKeyRecord.model_validate_json(v) for v in raw),
                      key=lambda r: r.created_at)

    async def revoke(self, key_id: str) -> ApiKeyRecord:
        """Mark the key revoked (kept for the audit trail); raises ApiKeyNotFound."""
        raw = await self._call(self._redis.hget(self.key, key_id))
        if raw is None:
            raise ApiKeyNotFound(key_id)
        record = ApiKeyRecord.model_validate_json(raw)
        if record.active:
            record = record.model_copy(update={"revoked_at": datetime.now(UTC)})
            await self._call(self._redis.hset(self.key, key_id, record.model_dump_json()))
        self._any_active = None
        return record

    async def verify(self, key: str) -> ApiKeyRecord | None:
        """The active record of ``key``, or None (malformed, unknown or revoked)."""
        key_id = _key_id(key)
        if key_id is None:
            return None
        try:
            raw = await self._call(self._redis.hget(self.key, key_id))
        except StoreError:
            seen = self._verified.get(key_id)
            if seen is None or time.monotonic() - seen[0] > _OUTAGE_GRACE_S:
                raise
            record = seen[1]  # Redis is down: the record as last verified
            return record if hmac.compare_digest(record.digest, _digest(key)) else None
        if raw is None:
            self._verified.pop(key_id, None)
            return None
        record = ApiKeyRecord.model_validate_json(raw)
        if not hmac.compare_digest(record.digest, _digest(key)) or not record.active:
            self._verified.pop(key_id, None)
            return None
        if key_id not in self._verified and len(self._verified) >= _VERIFIED_MAX:
            self._verified.pop(next(iter(self._verified)))
        self._verified[key_id] = (time.monotonic(), record)
        return record

    async def any_active(self) -> bool:
        """Whether at least one unrevoked key exists (cached ``_ANY_ACTIVE_TTL_S``)."""
        now = time.monotonic()
        if self._any_active is not None and now - self._any_active[0] < _ANY_ACTIVE_TTL_S:
            return self._any_active[1]
        try:
            answer = any(r.active for r in await self.list())
        except StoreError:
            if self._any_active is None or now - self._any_active[0] > _OUTAGE_GRACE_S:
                raise
            return self._any_active[1]  # Redis is down: the last answer
        self._any_active = (now, answer)
        return answer


# --------------------------------------------------------------------------------------
# Authentication of a request
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key (``key_id``) or an anonymous loopback client (None)."""

    key_id: str | None
    scopes: tuple[str, ...]


LOOPBACK = Principal(key_id=None, scopes=("admin",))


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Authenticator:
    """Decides whether a request may use a route of a given scope (module docstring)."""

    def __init__(self, store: ApiKeyStore, mode: Literal["auto", "required"]) -> None:
        self.store = store
        self.mode = mode

    async def authenticate(self, *, scope: Scope, key: str | None,
                           client_host: str | None) -> Principal:
        """The caller's principal; raises ApiKeyMissing / ApiKeyInvalid / ApiKeyScope."""
        if key is None:
            if self.mode == "auto" and not await self.store.any_active():
                if is_loopback(client_host):
                    return LOOPBACK
                raise ApiKeyMissing(scope, no_keys_yet=True)
            raise ApiKeyMissing(scope)
        record = await self.store.verify(key)
        if record is None:
            raise ApiKeyInvalid()
        if not record.allows(scope):
            raise ApiKeyScope(record.key_id, record.scopes, scope)
        return Principal(key_id=record.key_id, scopes=tuple(record.scopes))
