"""Keyed pseudonyms: the same input and the same secret give the same replacement, in every
file of a batch and in every run; another secret gives unrelated ones.

Every value is derived with keyed BLAKE2b (RFC 7693; its keyed mode is a MAC, and about ten
times cheaper to start than HMAC) of the original value, personalised with a purpose label, so
the replacement of a UID, of a Patient ID and a date offset never collide by construction and
none reveals the original without the secret (a secret over 64 bytes is first hashed to 64):

- a UID becomes ``2.25.<the first 128 bits as a decimal integer>`` (PS3.5 §B.2: a UUID-derived
  UID, at most 44 characters);
- text becomes an upper-case base-32 code (letters and digits 2-7: valid in every string VR);
- a patient's date offset is 1 to 3,650 days back (PS3.15 E.3.6 leaves the amount to the
  de-identifier);
- the report's ``before`` is the first 64 bits of the keyed hash of the original value's bytes,
  so two reports made with one secret can be matched without holding the values.
"""

from __future__ import annotations

import base64
import hashlib
import os

MAX_SHIFT_DAYS = 3650


class Keys:
    """The secret of one de-identification run (``key=None``: a random one, so pseudonyms are
    consistent within the run only)."""

    def __init__(self, key: bytes | str | None = None) -> None:
        if key is None:
            key = os.urandom(32)
        elif isinstance(key, str):
            key = key.encode("utf-8")
        if not key:
            raise ValueError("the de-identification key must not be empty")
        self.secret = bytes(key)
        self._key = self.secret if len(self.secret) <= 64 else hashlib.blake2b(self.secret).digest()
        self._uids: dict[str, str] = {}

    def digest(self, purpose: str, value: bytes | str) -> bytes:
        """32 bytes of keyed BLAKE2b of ``value`` for ``purpose`` (at most 16 ASCII
        characters)."""
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        return hashlib.blake2b(data, digest_size=32, key=self._key,
                               person=purpose.encode("ascii")).digest()

    def uid(self, original: str) -> str:
        """The replacement of a UID (PS3.15 E.1-1 action U)."""
        original = original.strip("\0 ")
        found = self._uids.get(original)
        if found is None:
            number = int.from_bytes(self.digest("uid", original)[:16], "big")
            found = f"2.25.{number}"
            if len(self._uids) < 100_000:  # a cache, bounded
                self._uids[original] = found
        return found

    def code(self, purpose: str, original: str, length: int) -> str:
        """A base-32 code of ``length`` characters (at most 52) for ``original``."""
        text = base64.b32encode(self.digest(purpose, original.strip())).decode("ascii")
        return text.rstrip("=")[:max(1, length)]

    def shift_days(self, patient: str) -> int:
        """The (negative) number of days a patient's dates move by (Modified Dates option)."""
        number = int.from_bytes(self.digest("date", patient.strip())[:8], "big")
        return -(number % MAX_SHIFT_DAYS + 1)

    def before(self, data: bytes) -> str:
        """The report's keyed fingerprint of an original value."""
        return self.digest("before", data)[:8].hex()
