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

Answers of hundreds of matches go faster still: the index keeps each patient's and study's
attributes pre-encoded (:func:`level_fragment`, explicit VR little endian, ASCII values only),
and :func:`compose` selects the requested elements of a match from them and adds the computed
ones (Modalities in Study, counts, the level), with no DICOM JSON decoded. It has a compiled
twin (``_identifiers.pyx``); both give the bytes :func:`identifier_bytes` gives for the same
match, or None where the general route must decide (tests/native/test_identifiers.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from dicomkit.core.charset import TEXT_VRS, encode_text, normalize_charsets
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.transfer_syntax import EXPLICIT_VR_LITTLE_ENDIAN, TransferSyntax
from dicomkit.errors import CharsetEncodeError
from dicomkit.native import load

_compiled: Any = load("dicomkit.services._identifiers")

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


# -- answers from pre-encoded levels -------------------------------------------------------------
MODALITIES_IN_STUDY = 0x00080061
SOP_CLASSES_IN_STUDY = 0x00080062
GENERAL = b"\0\0"
"""The VR of a zero-length placeholder element in a :func:`level_fragment` for an attribute
only the general route writes."""


def level_fragment(attrs: dict[str, Any]) -> bytes:
    """One level's stored attributes (a patient's or a study's DICOM JSON) pre-encoded for
    :func:`compose`: its elements in explicit VR little endian and tag order, each as
    :func:`identifier_bytes` writes it, or, when its value needs the general route (non-ASCII
    text, binary or numeric VRs, bulk data, an item with its own character set), a
    zero-length placeholder of VR :data:`GENERAL`."""
    ts = EXPLICIT_VR_LITTLE_ENDIAN
    keyed = []
    for key, model in attrs.items():
        try:
            tag = int(key, 16)
        except (TypeError, ValueError):
            continue
        if key == f"{tag:08X}" and tag <= 0xFFFFFFFF:  # what a C-FIND can ask for
            keyed.append((tag, key, model))
    out: list[bytes] = []
    for tag, key, model in sorted(keyed):
        element: list[bytes] = []
        if _encode({key: model}, ts, None, element):
            out.extend(element)
        else:
            out.append(_EXPLICIT.pack(tag >> 16, tag & 0xFFFF, GENERAL, 0))
    return b"".join(out)


@dataclass(frozen=True)
class AnswerPlan:
    """What every C-FIND answer of one query holds besides its match's values (PS3.4
    C.4.1.1.3.2): the requested keys as (tag, VR) in tag order, the elements the SCP fills in
    (Query/Retrieve Level, Retrieve AE Title, Instance Availability) pre-encoded as (tag,
    element), and whether the association's transfer syntax is implicit VR."""

    wanted: tuple[tuple[int, bytes], ...]
    fixed: tuple[tuple[int, bytes], ...]
    implicit: bool


def answer_plan(identifier: Dataset, tags: list[int], level: str, ts: TransferSyntax,
                located: dict[str, Any]) -> AnswerPlan | None:
    """The :class:`AnswerPlan` of a C-FIND, or None when its answers take the general route
    (big endian, deflate, a requested key of a VR the fast route does not write empty)."""
    if not ts.little or ts.deflated or ts.encapsulated:
        return None
    wanted = []
    for tag in sorted(set(tags)):
        vr = identifier[tag].VR
        if vr != "SQ" and vr not in _TEXT_VRS:
            return None
        wanted.append((tag, vr.encode("ascii")))
    fixed_attrs = {**located, f"{_LEVEL:08X}": {"vr": "CS", "Value": [level]}}
    fixed = []
    for key, model in sorted(fixed_attrs.items()):
        out: list[bytes] = []
        if not _encode({key: model}, EXPLICIT_VR_LITTLE_ENDIAN, None, out):
            return None
        fixed.append((int(key, 16), b"".join(out)))
    return AnswerPlan(tuple(wanted), tuple(fixed), bool(ts.implicit))


def _element_ends(data: bytes) -> list[tuple[int, int, int]] | None:
    """The top-level elements of explicit VR little endian ``data`` as (tag, start, end);
    sequences of undefined length are skipped to their delimiter (PS3.5 §7.5.2). None when
    the bytes are not what :func:`level_fragment` writes (which includes tags out of
    order)."""
    out: list[tuple[int, int, int]] = []
    size = len(data)
    pos = 0
    while pos < size:
        if pos + 8 > size:
            return None
        group, elem = struct.unpack_from("<HH", data, pos)
        start = pos
        if data[pos + 4:pos + 6] == b"SQ":
            if pos + 12 > size or struct.unpack_from("<L", data, pos + 8)[0] != _UNDEFINED:
                return None
            pos += 12
            depth = 1
            while depth:
                if pos + 8 > size:
                    return None
                item_group, item_elem, length = struct.unpack_from("<HHL", data, pos)
                if item_group == 0xFFFE:
                    if item_elem == 0xE0DD:
                        depth -= 1
                    elif item_elem not in (0xE000, 0xE00D) or length not in (0, _UNDEFINED):
                        return None
                    pos += 8
                elif data[pos + 4:pos + 6] == b"SQ":
                    if pos + 12 > size or \
                            struct.unpack_from("<L", data, pos + 8)[0] != _UNDEFINED:
                        return None
                    depth += 1
                    pos += 12
                else:
                    pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
        tag = (group << 16) | elem
        if pos > size or (out and out[-1][0] >= tag):
            return None
        out.append((tag, start, pos))
    return out


def _value_list(stored: str | None, vr: bytes, tag: int) -> bytes | None:
    """An element from a "\\A\\B\\" column (Modalities / SOP Classes in Study), None when
    the column holds none."""
    values = [v for v in (stored or "").split("\\") if v]
    if not values:
        return None
    text = "\\".join(values)
    if not text.isascii():
        return b""  # a sentinel: the general route decides
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\0" if vr == b"UI" else b" "
    if len(data) > 0xFFFE:
        return b""
    return _EXPLICIT.pack(tag >> 16, tag & 0xFFFF, vr, len(data)) + data


def to_implicit(data: bytes) -> bytes | None:
    """Explicit VR little endian elements as :func:`level_fragment` writes them (text VRs,
    sequences and items of undefined length) in implicit VR little endian (PS3.5 §7.1.3);
    None when the bytes are anything else."""
    out = []
    size = len(data)
    pos = 0
    while pos < size:
        if pos + 8 > size:
            return None
        head = data[pos:pos + 4]
        if head[:2] == b"\xfe\xff":
            out.append(data[pos:pos + 8])
            pos += 8
        elif data[pos + 4:pos + 6] == b"SQ":
            if pos + 12 > size:
                return None
            out.append(head + data[pos + 8:pos + 12])
            pos += 12
        else:
            length = struct.unpack_from("<H", data, pos + 6)[0]
            if pos + 8 + length > size:
                return None
            out.append(head + struct.pack("<L", length) + data[pos + 8:pos + 8 + length])
            pos += 8 + length
    return b"".join(out)


def compose_pure(plan: AnswerPlan, count_tags: tuple[int, ...], counts: tuple[int, ...],
                 patient: bytes | None, study: bytes | None, modalities: str | None,
                 sop_classes: str | None) -> bytes | None:
    """The pure twin of :func:`compose`."""
    if patient is None or study is None or len(count_tags) != len(counts):
        return None
    merged: dict[int, bytes] = {}
    charsets: list[bytes] = []
    for fragment in (patient, study):
        ends = _element_ends(fragment)
        if ends is None:
            return None
        for tag, start, end in ends:
            merged[tag] = fragment[start:end]
            if tag == _CHARSET:
                charsets.append(fragment[start:end])
    if len(set(charsets)) > 1 or (charsets and len(charsets[-1]) == 8):
        return None  # two character sets, or an empty one: the general route decides
    for tag, vr, stored in ((MODALITIES_IN_STUDY, b"CS", modalities),
                            (SOP_CLASSES_IN_STUDY, b"UI", sop_classes)):
        element = _value_list(stored, vr, tag)
        if element == b"":
            return None
        if element is not None:
            merged[tag] = element
    for tag, count in zip(count_tags, counts, strict=True):
        data = str(int(count)).encode("ascii")
        if len(data) % 2:
            data += b" "
        merged[tag] = _EXPLICIT.pack(tag >> 16, tag & 0xFFFF, b"IS", len(data)) + data
    out: dict[int, bytes] = {}
    for tag, vr in plan.wanted:
        element = merged.get(tag)
        if element is not None and element[4:6] == GENERAL:
            return None
        if element is None:
            if vr == b"SQ":
                element = _EXPLICIT_LONG.pack(tag >> 16, tag & 0xFFFF, b"SQ",
                                              _UNDEFINED) + _SEQ_END
            else:
                element = _EXPLICIT.pack(tag >> 16, tag & 0xFFFF, vr, 0)
        out[tag] = element
    if _CHARSET in merged:
        if merged[_CHARSET][4:6] == GENERAL:
            return None
        out[_CHARSET] = merged[_CHARSET]
    for tag, element in plan.fixed:
        out[tag] = element
    data = b"".join(element for _, element in sorted(out.items()))
    return to_implicit(data) if plan.implicit else data


def compose(plan: AnswerPlan, count_tags: tuple[int, ...], counts: tuple[int, ...],
            patient: bytes | None, study: bytes | None, modalities: str | None,
            sop_classes: str | None) -> bytes | None:
    """A STUDY level C-FIND response identifier from the match's pre-encoded patient and study
    (:func:`level_fragment`), its Modalities / SOP Classes in Study columns ("\\CT\\MR\\") and
    its counts (Number of … Related …, the ``count_tags``): the bytes
    :func:`identifier_bytes` gives for the merged attributes, or None when the general route
    must decide (a level not pre-encoded, two character sets, non-ASCII values)."""
    if _compiled is not None:
        result: bytes | None = _compiled.compose(plan, count_tags, counts, patient, study,
                                                 modalities, sop_classes)
        return result
    return compose_pure(plan, count_tags, counts, patient, study, modalities, sop_classes)
