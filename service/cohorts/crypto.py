"""Encryption at rest of cohort profiles, results and diffs (``cryptography``'s Fernet).

Everything of a patient that a cohort stores in Redis — the profile JSON, the ranked
matches, the diff entries, the webhook URL and secret — is a Fernet token
(AES-128-CBC + HMAC-SHA256, with a timestamp), never plain JSON. Redis keys hold only
opaque ids.

Keys come from ``TRIALMATCH_COHORT_KEYS``: comma-separated Fernet keys (32 url-safe
base64 bytes each, ``trialmatch batch keygen`` prints one), **newest first**. The first
key encrypts; every key decrypts (:class:`cryptography.fernet.MultiFernet`).

Key rotation:

1. ``trialmatch batch keygen`` → put the new key in front:
   ``TRIALMATCH_COHORT_KEYS=<new>,<old>``; restart the API and the workers (both read
   the setting). New writes use the new key; old tokens still decrypt.
2. ``trialmatch batch rotate-keys`` re-encrypts every stored token with the new key
   (:meth:`ProfileCipher.rotate`; a run's stored results and diffs included).
3. Drop the old key: ``TRIALMATCH_COHORT_KEYS=<new>``; restart.

A token that no configured key opens raises :class:`CohortKeyInvalid` (a 500-class
configuration error: the data is intact, the key is missing).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from service.cohorts.errors import CohortKeyInvalid, CohortKeyMissing


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode()


class ProfileCipher:
    """Encrypts with the first of ``keys`` and decrypts with any of them.

    Raises :class:`CohortKeyMissing` when ``keys`` is empty and ``ValueError`` naming
    the position of a key that is not a Fernet key.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise CohortKeyMissing()
        fernets = []
        for i, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError as exc:
                raise ValueError(
                    f"TRIALMATCH_COHORT_KEYS: key #{i} is not a Fernet key (32 url-safe "
                    "base64-encoded bytes); make one with `trialmatch batch keygen`"
                ) from exc
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: SecretStr | None) -> ProfileCipher:
        """From ``TRIALMATCH_COHORT_KEYS`` (comma-separated, newest first)."""
        keys = [k.strip() for k in (value.get_secret_value() if value else "").split(",")]
        return cls([k for k in keys if k])

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        """The plaintext; :class:`CohortKeyInvalid` if no configured key opens it."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise CohortKeyInvalid() from exc

    def rotate(self, token: bytes) -> bytes:
        """``token`` re-encrypted with the first key (same plaintext)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise CohortKeyInvalid() from exc
