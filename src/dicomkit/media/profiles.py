"""PS3.11 application profiles: which transfer syntaxes a File-set may hold.

Each general purpose profile allows Explicit VR Little Endian for every Storage SOP Class; the
``-JPEG`` profiles add JPEG Lossless SV1, Baseline and Extended, the ``-J2K`` ones JPEG 2000
(PS3.11 Annex D Table D.3-1 for STD-GEN-CD; Annex H Table H.3-1 for the DVD and BD profiles;
the USB and flash memory profiles list the same syntaxes as the DVD ones). The DICOMDIR itself
is always Explicit VR Little Endian. A file in a syntax its profile does not allow is
converted to one it does without loss (decompressed to Explicit VR Little Endian); nothing is
ever compressed lossily to fit a profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomkit.core.uid import registered
from dicomkit.media.errors import MediaError


@dataclass(frozen=True)
class Profile:
    """An application profile: its identifier and the transfer syntax keywords it allows
    (``None`` for any: the ``ANY`` pseudo-profile, files kept as they are)."""

    name: str
    transfer_syntaxes: tuple[str, ...] | None
    section: str

    def allows(self, transfer_syntax_uid: str) -> bool:
        if self.transfer_syntaxes is None:
            return True
        return transfer_syntax_uid in {registered(k) for k in self.transfer_syntaxes}


_BASE = ("ExplicitVRLittleEndian",)
_JPEG = _BASE + ("JPEGLosslessSV1", "JPEGBaseline8Bit", "JPEGExtended12Bit")
_J2K = _BASE + ("JPEG2000Lossless", "JPEG2000")

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("STD-GEN-CD", _BASE, "PS3.11 D.3.1"),
    Profile("STD-GEN-DVD-RAM", _BASE, "PS3.11 D.3.1"),
    Profile("STD-GEN-BD", _BASE, "PS3.11 D.3.1"),
    Profile("STD-GEN-DVD-JPEG", _JPEG, "PS3.11 H.3.1"),
    Profile("STD-GEN-DVD-J2K", _J2K, "PS3.11 H.3.1"),
    Profile("STD-GEN-BD-JPEG", _JPEG, "PS3.11 H.3.1"),
    Profile("STD-GEN-BD-J2K", _J2K, "PS3.11 H.3.1"),
    Profile("STD-GEN-USB-JPEG", _JPEG, "PS3.11 H.3.1"),
    Profile("STD-GEN-USB-J2K", _J2K, "PS3.11 H.3.1"),
    Profile("STD-GEN-MIME", _BASE, "PS3.11 I.3.1"),
    Profile("ANY", None, "no profile: every file kept in the syntax it has"),
)}
DEFAULT = "STD-GEN-CD"


def profile(name: str | Profile) -> Profile:
    """The profile named ``name`` (case-insensitive); :class:`MediaError` listing the known
    ones when there is none."""
    if isinstance(name, Profile):
        return name
    found = PROFILES.get(name.upper())
    if found is None:
        raise MediaError(f"unknown application profile {name!r}; known: {', '.join(PROFILES)}")
    return found
