"""C-FIND response identifiers straight from the index's DICOM JSON to DIMSE bytes.

A C-FIND answers each match with an identifier (PS3.4 C.4.1.1.3.2): the requested keys with
their values, plus Query/Retrieve Level and Specific Character Set. The general route is
DICOM JSON -> Dataset (``from_json``) -> bytes (``dataset_to_bytes``); for the common case —
short text values and sequences of them, little endian — this module writes the same bytes
directly (PS3.5 §7.1.2 and §7.1.3 element layouts, §7.5.2 sequences of undefined length,
§6.2 padding), about four times faster. Both C-FIND SCPs use it: Query/Retrieve
(:func:`identifier_bytes`, ASCII values only) and the Modality Worklist
(:func:`attributes_bytes`, text in the response's Specific Character Set too, PS3.5 §6.1).
Anything else (binary and numeric binary VRs, DS, bulk data, other transfer syntaxes)
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
_EXPLICIT_LONG = struct.Struct("<HH2s2xL")
_IMPLICIT = struct.Struct("<HHL")
_UNDEFINED = 0xFFFFFFFF
_ITEM = struct.pack("<HHL", 0xFFFE, 0xE000, _UNDEFINED)
_ITEM_END = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
_SEQ_END = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
_PN_GROUPS = frozenset({"Alphabetic", "Ideographic", "Phonetic"})
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


def _text(vr: str, values: Any, charsets: list[str] | None = None) -> bytes | None:
    """The value field of a text element from its DICOM JSON values, or None to decline.
    ``charsets`` None: ASCII only; else the Specific Character Set in force (the values are
    encoded as :func:`dicomkit.core.vr.encode_value` does: the whole multi-valued text at once,
    with the set for the VRs that use one, PS3.5 §6.1.2.3)."""
    if values is None:
        return b""
    parts = []
    for item in values:
        if item is None:
            parts.append("")
        elif vr == "PN":
            if isinstance(item, str):
                parts.append(item)
                continue
            if not isinstance(item, dict):
                return None
            if set(item) - _PN_GROUPS:
                return None
            groups = [item.get(name) or "" for name in ("Alphabetic", "Ideographic",
                                                         "Phonetic")]
            if not all(isinstance(g, str) for g in groups):
                return None
            parts.append("=".join(groups).rstrip("="))
        elif vr == "IS":
            if isinstance(item, bool) or not isinstance(item, int):
                return None
            parts.append(str(item))
        elif isinstance(item, str):
            parts.append(item)
        else:
            return None
    text = "\\".join(parts)
    if text.isascii():
        data = text.encode("ascii")
    elif charsets is None or vr not in TEXT_VRS:
        return None  # the general route refuses or decides (non-ASCII in a CS, say)
    elif charsets:
        try:
            data = encode_text(text, charsets, vr)
        except CharsetEncodeError:
            return None
    else:
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            return None
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return data if len(data) <= 0xFFFE else None


def _header(ts: TransferSyntax, tag: int, vr: str, length: int) -> bytes:
    if ts.implicit:
        return _IMPLICIT.pack(tag >> 16, tag & 0xFFFF, length)
    if vr == "SQ":
        return _EXPLICIT_LONG.pack(tag >> 16, tag & 0xFFFF, b"SQ", length)
    return _EXPLICIT.pack(tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _encode(attrs: dict[str, Any], ts: TransferSyntax, charsets: list[str] | None,
            out: list[bytes]) -> bool:
    """Append the elements of one DICOM JSON data set (or item) in tag order; False to
    decline."""
    try:
        keyed = sorted((int(key, 16), model) for key, model in attrs.items())
    except (TypeError, ValueError):
        return False
    for tag, model in keyed:
        if not isinstance(model, dict) or tag >> 16 in (0x0000, 0x0002) or \
                tag & 0xFFFF == 0 or "BulkDataURI" in model or "InlineBinary" in model:
            return False
        vr = model.get("vr")
        if vr == "SQ":
            items = model.get("Value") or []
            out.append(_header(ts, tag, "SQ", _UNDEFINED))
            for item in items:
                if not isinstance(item, dict) or "00080005" in item:
                    return False  # an item with its own character set: the general route
                out.append(_ITEM)
                if not _encode(item, ts, charsets, out):
                    return False
                out.append(_ITEM_END)
            out.append(_SEQ_END)
            continue
        if vr not in _TEXT_VRS:
            return False
        value = _text(vr, model.get("Value"), charsets)
        if value is None:
            return False
        out.append(_header(ts, tag, vr, len(value)))
        out.append(value)
    return True


def attributes_bytes(attrs: dict[str, Any], ts: TransferSyntax) -> bytes | None:
    """A response identifier given as DICOM JSON (its Specific Character Set, if any, the one
    to encode with) in the bytes ``dataset_to_bytes(from_json(attrs), ts)`` would give, with
    sequences (undefined lengths, PS3.5 §7.5.2) and text in any character set; None when the
    general route must be taken (binary or numeric VRs, DS, bulk data, an item with a
    character set of its own, big endian or deflate)."""
    if not ts.little or ts.deflated or ts.encapsulated:
        return None
    charsets: list[str] = []
    stored = attrs.get("00080005")
    if isinstance(stored, dict):
        values = stored.get("Value") or []
        charsets = normalize_charsets(["" if v is None else str(v) for v in values])
    out: list[bytes] = []
    if not _encode(attrs, ts, charsets, out):
        return None
    return b"".join(out)


def identifier_bytes(identifier: Dataset, tags: list[int], attrs: dict[str, Any], level: str,
                     ts: TransferSyntax) -> bytes | None:
    """The encoded Query/Retrieve response identifier, or None when the general route must be
    taken (also for any non-ASCII value: its Specific Character Set is the general route's
    choice, :func:`response_charset`)."""
    if not ts.little or ts.deflated or ts.encapsulated:
        return None
    reduced: dict[str, Any] = {}
    for tag in tags:
        key = f"{tag:08X}"
        model = attrs.get(key)
        if model is None:
            reduced[key] = {"vr": identifier[tag].VR}
            continue
        reduced[key] = model
    reduced["00080052"] = {"vr": "CS", "Value": [level]}
    if _CHARSET in identifier or "00080005" in attrs:
        charset = attrs.get("00080005", {}).get("Value")
        if charset:
            reduced["00080005"] = {"vr": "CS", "Value": charset}
    out: list[bytes] = []
    if not _encode(reduced, ts, None, out):
        return None
    return b"".join(out)
