"""Unique identifiers: the PS3.6 Annex A UID registry, PS3.5 §9.1 syntax, and UID generation.

The registry is ``data/uids.tsv`` (see ``data/PROVENANCE.md``), loaded on first lookup.
"""

from __future__ import annotations

import os
from typing import NamedTuple

__all__ = [
    "UID",
    "DeflatedExplicitVRLittleEndian",
    "ExplicitVRBigEndian",
    "ExplicitVRLittleEndian",
    "ImplicitVRLittleEndian",
    "UIDInfo",
    "generate_uid",
    "registered",
    "uid_for_keyword",
    "uid_info",
]

_PATH = os.path.join(os.path.dirname(__file__), "data", "uids.tsv")
MAX_LENGTH = 64  # PS3.5 §9.1
_DIGITS = frozenset("0123456789")


class UIDInfo(NamedTuple):
    """One row of the PS3.6 Annex A registry; ``type`` e.g. ``"Transfer Syntax"``."""

    uid: str
    name: str
    keyword: str
    type: str
    info: str
    retired: bool


_by_uid: dict[str, UIDInfo] | None = None
_by_keyword: dict[str, str] = {}


def _load() -> dict[str, UIDInfo]:
    global _by_uid, _by_keyword
    by_uid: dict[str, UIDInfo] = {}
    by_keyword: dict[str, str] = {}
    with open(_PATH, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines[1:]:
        if not line:
            continue
        uid, keyword, name, typ, info, retired = line.split("\t")
        by_uid[uid] = UIDInfo(uid, name, keyword, typ, info, retired == "Y")
        if keyword:
            by_keyword[keyword] = uid
    _by_keyword = by_keyword
    _by_uid = by_uid
    return by_uid


def uid_info(uid: str) -> UIDInfo | None:
    """Registry entry for ``uid`` (trailing NUL/space padding ignored), or None."""
    table = _by_uid if _by_uid is not None else _load()
    info = table.get(uid)
    if info is None and uid[-1:] in ("\0", " "):
        info = table.get(uid.rstrip("\0 "))
    return info


def uid_for_keyword(kw: str) -> str | None:
    """UID for a registry keyword such as ``"CTImageStorage"``, or None."""
    if _by_uid is None:
        _load()
    return _by_keyword.get(kw)


def _valid(value: str) -> bool:
    """PS3.5 §9.1: ``0|[1-9][0-9]*`` components joined by ``.``, at most 64 characters."""
    if not value or len(value) > MAX_LENGTH:
        return False
    for part in value.split("."):
        if not part or not _DIGITS.issuperset(part) or (part[0] == "0" and len(part) > 1):
            return False
    return True


class UID(str):
    """A UID string with registry properties (PS3.6 Annex A) and a syntax check (PS3.5 §9.1)."""

    __slots__ = ()

    @property
    def info(self) -> UIDInfo | None:
        return uid_info(self)

    @property
    def name(self) -> str:
        """Registry name, or the UID itself when it is not in the registry."""
        info = uid_info(self)
        return info.name if info is not None else str(self)

    @property
    def keyword(self) -> str:
        info = uid_info(self)
        return info.keyword if info is not None else ""

    @property
    def type(self) -> str:
        info = uid_info(self)
        return info.type if info is not None else ""

    @property
    def is_transfer_syntax(self) -> bool:
        return self.type == "Transfer Syntax"

    @property
    def is_retired(self) -> bool:
        info = uid_info(self)
        return info is not None and info.retired

    @property
    def is_valid(self) -> bool:
        return _valid(self)


def generate_uid(prefix: str | None = None) -> str:
    """A new UID. Default ``2.25.<UUID4 as integer>`` (PS3.5 §B.2); with ``prefix`` (a valid
    root ending in ``.``), the prefix plus a UUID4-derived decimal suffix, at most 64 chars."""
    import uuid

    number = str(uuid.uuid4().int)
    if prefix is None:
        return "2.25." + number
    if not prefix.endswith(".") or not _valid(prefix[:-1]):
        raise ValueError(f"UID prefix {prefix!r} must be a valid UID root ending in '.'")
    room = MAX_LENGTH - len(prefix)
    if room < 1:
        raise ValueError(f"UID prefix {prefix!r} leaves no room for a suffix")
    # str(int) has no leading zero unless it is "0"; keeping the leading digits keeps it so.
    return prefix + number[:room]


def registered(keyword: str) -> str:
    """The registry's UID for ``keyword`` (PS3.6 Annex A), e.g. ``registered("CTImageStorage")``;
    KeyError when the registry has no such keyword. Modules take their UIDs from here rather
    than typing them."""
    found = uid_for_keyword(keyword)
    if found is None:
        raise KeyError(f"{keyword} is not in the UID registry")
    return found


# The four uncompressed transfer syntaxes are typed here so that importing this module does
# not load the registry (tests/core/test_uid.py checks them against it); every other module
# takes its UIDs from registered().
ImplicitVRLittleEndian = UID("1.2.840.10008.1.2")
ExplicitVRLittleEndian = UID("1.2.840.10008.1.2.1")
DeflatedExplicitVRLittleEndian = UID("1.2.840.10008.1.2.1.99")
ExplicitVRBigEndian = UID("1.2.840.10008.1.2.2")


def registry() -> dict[str, UIDInfo]:
    """Every registered UID (PS3.6 Annex A), keyed by UID."""
    return _load()


def storage_sop_classes() -> list[str]:
    """The Storage SOP Classes of the registry (PS3.4 Annex B), retired ones included."""
    return [info.uid for info in _load().values()
            if info.type == "SOP Class" and "Storage" in info.keyword
            and "Commitment" not in info.keyword]
