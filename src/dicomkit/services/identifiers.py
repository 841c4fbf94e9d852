"""C-FIND response identifiers straight from the index's DICOM JSON to DIMSE bytes.

A C-FIND answers each match with an identifier (PS3.4 C.4.1.1.3.2): the requested keys with
their values, plus Query/Retrieve Level and Specific Character Set. The general route is
DICOM JSON -> Dataset (``from_json``) -> bytes (``dataset_to_bytes``); for the common case —
short text values in ASCII, little endian — this module writes the same bytes directly
(PS3.5 §7.1.2 and §7.1.3 element layouts, §6.2 padding), about four times faster. Anything
else (sequences, binary and numeric binary VRs, DS, non-ASCII text, other transfer syntaxes)
returns ``None`` and the caller takes the general route. The tests check byte equality of
the two routes.
"""

from __future__ import annotations

import struct
from typing import Any

from dicomkit.core.charset import TEXT_VRS, encode_text, normalize_charsets
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.transfer_syntax import TransferSyntax
from dicomkit.errors import CharsetEncodeError

# Text VRs with a 2-byte length in explicit VR (PS3.5 Table 7.1-2) whose JSON values are
# strings (IS: numbers, written as integers); DS is left to the general route (its number
# formatting), PN is handled when it has an Alphabetic group only.
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "IS", "LO", "LT", "PN", "SH", "ST",
                       "TM", "UI"})
_EXPLICIT = struct.Struct("<HH2sH")
_IMPLICIT = struct.Struct("<HHL")
_LEVEL = 0x00080052
_CHARSET = 0x00080005
RETRIEVE_AE_TITLE = 0x00080054
INSTANCE_AVAILABILITY = 0x00080056


def location_attributes(tags: list[int], ae_title: str) -> dict[str, Any]:
    """The archive's own answers to Retrieve AE Title (0008,0054) and Instance Availability
    (0008,0056) when they are requested (PS3.4 C.4.1.1.3.2), as DICOM JSON to merge into a
    match before either encoder writes it: the AE title the archive answers as, and ONLINE
    (PS3.3 C.4.23.1.1: every instance is on disk and retrievable at once)."""
    out: dict[str, Any] = {}
    if RETRIEVE_AE_TITLE in tags:
        out[f"{RETRIEVE_AE_TITLE:08X}"] = {"vr": "AE", "Value": [ae_title.strip()]}
    if INSTANCE_AVAILABILITY in tags:
        out[f"{INSTANCE_AVAILABILITY:08X}"] = {"vr": "CS", "Value": ["ONLINE"]}
    return out


UNICODE = "ISO_IR 192"


def _encodable(attrs: dict[str, Any], charsets: list[str]) -> bool:
    """Whether every text value of these DICOM JSON attributes (items included) can be
    encoded under ``charsets`` (PS3.5 §6.1)."""
    for model in attrs.values():
        if not isinstance(model, dict):
            continue
        vr = model.get("vr")
        for item in model.get("Value") or ():
            if vr == "SQ" and isinstance(item, dict):
                if not _encodable(item, charsets):
                    return False
            elif vr in TEXT_VRS and item is not None:
                text = "=".join((item.get("Alphabetic") or "", item.get("Ideographic") or "",
                                 item.get("Phonetic") or "")) if isinstance(item, dict) \
                    else str(item)
                if text.isascii():
                    continue
                try:
                    encode_text(text, charsets, vr)
                except CharsetEncodeError:
                    return False
    return True


def response_charset(attrs: dict[str, Any]) -> list[str] | None:
    """Specific Character Set (0008,0005) of a response identifier whose values are
    ``attrs`` (PS3.4 C.4.1.1.3.2: present when an expanded or replacement character set may
    be used in it): the stored one when it encodes every value, else ISO_IR 192, which
    encodes all (values merged from rows stored in different sets, or stored without one).
    None: the default repertoire does, and none was stored."""
    stored = ["" if v is None else str(v) for v in (attrs.get("00080005") or {}).get("Value")
              or []]  # DICOM JSON null: an empty value 1, the default repertoire in G0
    if _encodable(attrs, normalize_charsets(stored)):
        return stored or None
    return [UNICODE]


def _text(vr: str, values: Any) -> bytes | None:
    """The value field of a text element from its DICOM JSON values, or None to decline."""
    if values is None:
        return b""
    parts = []
    for item in values:
        if item is None:
            parts.append("")
        elif vr == "PN":
            if not isinstance(item, dict) or set(item) - {"Alphabetic"}:
                return None
            parts.append(item.get("Alphabetic") or "")
        elif vr == "IS":
            if isinstance(item, bool) or not isinstance(item, int):
                return None
            parts.append(str(item))
        elif isinstance(item, str):
            parts.append(item)
        else:
            return None
    text = "\\".join(parts)
    if not text.isascii():
        return None
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return data if len(data) <= 0xFFFE else None


def identifier_bytes(identifier: Dataset, tags: list[int], attrs: dict[str, Any], level: str,
                     ts: TransferSyntax) -> bytes | None:
    """The encoded response identifier, or None when the general route must be taken."""
    if not ts.little or ts.deflated or ts.encapsulated:
        return None
    elements: dict[int, tuple[str, bytes]] = {}
    for tag in tags:
        model = attrs.get(f"{tag:08X}")
        if model is None:
            vr = identifier[tag].VR
            if vr not in _TEXT_VRS:
                return None
            elements[tag] = (vr, b"")
            continue
        vr = model.get("vr", "")
        if vr not in _TEXT_VRS or "BulkDataURI" in model or "InlineBinary" in model:
            return None
        value = _text(vr, model.get("Value"))
        if value is None:
            return None
        elements[tag] = (vr, value)
    elements[_LEVEL] = ("CS", _text("CS", [level]) or b"")
    if _CHARSET in identifier or "00080005" in attrs:
        charset = attrs.get("00080005", {}).get("Value")
        if charset:
            value = _text("CS", charset)
            if value is None:
                return None
            elements[_CHARSET] = ("CS", value)
    out = []
    for tag in sorted(elements):
        vr, value = elements[tag]
        if ts.implicit:
            out.append(_IMPLICIT.pack(tag >> 16, tag & 0xFFFF, len(value)))
        else:
            out.append(_EXPLICIT.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(value)))
        out.append(value)
    return b"".join(out)
