"""PS3.5 §10 and Annex A: transfer syntaxes and how each encodes a data set."""

from __future__ import annotations

from typing import NamedTuple

from dicomkit.core.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from dicomkit.errors import NotSupportedError


class TransferSyntax(NamedTuple):
    uid: str
    name: str
    implicit: bool = False
    little: bool = True
    deflated: bool = False
    encapsulated: bool = False

    @property
    def keyword(self) -> str:
        from dicomkit.core.uid import uid_info

        info = uid_info(self.uid)
        return info.keyword if info else ""


IMPLICIT_VR_LITTLE_ENDIAN = TransferSyntax(
    ImplicitVRLittleEndian, "Implicit VR Little Endian", True)
EXPLICIT_VR_LITTLE_ENDIAN = TransferSyntax(ExplicitVRLittleEndian, "Explicit VR Little Endian")
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = TransferSyntax(
    DeflatedExplicitVRLittleEndian, "Deflated Explicit VR Little Endian", deflated=True
)
EXPLICIT_VR_BIG_ENDIAN = TransferSyntax(
    ExplicitVRBigEndian, "Explicit VR Big Endian", little=False)

UNCOMPRESSED = (
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
)
_BY_UID = {ts.uid: ts for ts in UNCOMPRESSED}
# Other explicit VR little endian syntaxes whose data set is not deflated (PS3.5 A.4 and the
# encapsulated-uncompressed 1.2.840.10008.1.2.1.98); Deflated Image Frame Compression
# (1.2.840.10008.1.2.8.1) deflates frames, not the data set.
_NOT_ENCAPSULATED = {"EncapsulatedUncompressedExplicitVRLittleEndian"}  # registry keywords
_SHORTHAND = {
    "implicit": IMPLICIT_VR_LITTLE_ENDIAN,
    "explicit": EXPLICIT_VR_LITTLE_ENDIAN,
    "deflated": DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    "big": EXPLICIT_VR_BIG_ENDIAN,
    "bigendian": EXPLICIT_VR_BIG_ENDIAN,
}


def is_native(uid: str | None) -> bool:
    """Uncompressed: Pixel Data not encapsulated (PS3.5 §8.1, A.1-A.3). None (no transfer
    syntax known, a data set built in memory) counts as native; an unknown UID does not."""
    if uid is None:
        return True
    try:
        return not lookup(uid).encapsulated
    except NotSupportedError:
        return False


def lookup(uid_or_keyword: str) -> TransferSyntax:
    """The transfer syntax for a UID, a PS3.6 keyword or a short name (implicit, explicit, …)."""
    key = uid_or_keyword.strip().rstrip("\0")
    if key in _BY_UID:
        return _BY_UID[key]
    if key.lower() in _SHORTHAND:
        return _SHORTHAND[key.lower()]
    from dicomkit.core.uid import uid_for_keyword, uid_info

    uid = key if key[:1].isdigit() else uid_for_keyword(key)
    if uid is None:
        raise NotSupportedError(f"{uid_or_keyword!r} is not a known transfer syntax")
    if uid in _BY_UID:
        return _BY_UID[uid]
    info = uid_info(uid)
    if info is None or info.type != "Transfer Syntax":
        raise NotSupportedError(f"{uid_or_keyword!r} is not a known transfer syntax")
    # Every other registered transfer syntax is explicit VR little endian (PS3.5 A.4–A.8),
    # with encapsulated pixel data unless listed above.
    return TransferSyntax(uid, info.name, encapsulated=info.keyword not in _NOT_ENCAPSULATED)


def for_uid(uid: str) -> TransferSyntax:
    """Like :func:`lookup`, but an unknown UID is taken as explicit VR little endian encapsulated
    (what a private compressed syntax almost always is), so a file can still be read."""
    try:
        return lookup(uid)
    except NotSupportedError:
        return TransferSyntax(uid.strip().rstrip("\0"), "Unknown", encapsulated=True)
