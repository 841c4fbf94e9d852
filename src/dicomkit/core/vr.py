"""PS3.5 §6.2: the 34 value representations, their rules, and value encode/decode.

The table below is PS3.5 Table 6.2-1 and §7.1.2 reduced to the facts the codec needs; a test
checks it against ``shared/dicom-standard/ps3.5/value_representations.tsv``.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from dicomkit import native
from dicomkit.core.values import PersonName, format_da, format_ds, format_dt, format_tm


class VRInfo(NamedTuple):
    name: str
    long_length: bool  # explicit VR: 2 reserved bytes and a 32-bit length (PS3.5 §7.1.2)
    pad: bytes  # padding byte to even length
    max_length: int | None  # in characters (PN: per component group) or bytes
    fixed_size: int | None  # bytes per value for binary numbers
    multi_valued: bool  # backslash separates values
    kind: str  # "str" "text" "int" "float" "bytes" "sq" "at"
    struct_code: str = ""  # struct format char for binary numbers
    charset: bool = False  # affected by Specific Character Set


_S, _N = b" ", b"\0"
VR_INFO: dict[str, VRInfo] = {
    v.name: v
    for v in (
        VRInfo("AE", False, _S, 16, None, True, "str"),
        VRInfo("AS", False, _S, 4, None, True, "str"),
        VRInfo("AT", False, _N, None, 4, True, "at", "H"),
        VRInfo("CS", False, _S, 16, None, True, "str"),
        VRInfo("DA", False, _S, 8, None, True, "str"),
        VRInfo("DS", False, _S, 16, None, True, "float"),
        VRInfo("DT", False, _S, 26, None, True, "str"),
        VRInfo("FD", False, _N, None, 8, True, "float", "d"),
        VRInfo("FL", False, _N, None, 4, True, "float", "f"),
        VRInfo("IS", False, _S, 12, None, True, "int"),
        VRInfo("LO", False, _S, 64, None, True, "str", charset=True),
        VRInfo("LT", False, _S, 10240, None, False, "text", charset=True),
        VRInfo("OB", True, _N, None, None, False, "bytes"),
        VRInfo("OD", True, _N, None, None, False, "bytes", "d"),
        VRInfo("OF", True, _N, None, None, False, "bytes", "f"),
        VRInfo("OL", True, _N, None, None, False, "bytes", "L"),
        VRInfo("OV", True, _N, None, None, False, "bytes", "Q"),
        VRInfo("OW", True, _N, None, None, False, "bytes", "H"),
        VRInfo("PN", False, _S, 64, None, True, "pn", charset=True),
        VRInfo("SH", False, _S, 16, None, True, "str", charset=True),
        VRInfo("SL", False, _N, None, 4, True, "int", "l"),
        VRInfo("SQ", True, _N, None, None, False, "sq"),
        VRInfo("SS", False, _N, None, 2, True, "int", "h"),
        VRInfo("ST", False, _S, 1024, None, False, "text", charset=True),
        VRInfo("SV", True, _N, None, 8, True, "int", "q"),
        VRInfo("TM", False, _S, 14, None, True, "str"),
        VRInfo("UC", True, _S, None, None, True, "str", charset=True),
        VRInfo("UI", False, _N, 64, None, True, "str"),
        VRInfo("UL", False, _N, None, 4, True, "int", "L"),
        VRInfo("UN", True, _N, None, None, False, "bytes"),
        VRInfo("UR", True, _S, None, None, False, "text"),
        VRInfo("US", False, _N, None, 2, True, "int", "H"),
        VRInfo("UT", True, _S, None, None, False, "text", charset=True),
        VRInfo("UV", True, _N, None, 8, True, "int", "Q"),
    )
}

LONG_LENGTH_VRS = frozenset(v.name for v in VR_INFO.values() if v.long_length)
BINARY_NUMBER_VRS = frozenset(v.name for v in VR_INFO.values() if v.fixed_size)
TEXT_VRS = frozenset(v.name for v in VR_INFO.values() if v.charset)  # PS3.5 §6.1.2.3
BYTES_VRS = frozenset(v.name for v in VR_INFO.values() if v.kind == "bytes")
# Binary VRs whose byte order depends on the transfer syntax (word size > 1).
SWAP_SIZE: dict[str, int] = {
    "AT": 2, "OW": 2, "US": 2, "SS": 2, "OF": 4, "OL": 4, "UL": 4, "SL": 4, "FL": 4,
    "OD": 8, "OV": 8, "FD": 8, "SV": 8, "UV": 8,
}
VR_BYTES = {name.encode("ascii"): name for name in VR_INFO}

# PS3.5 §6.1.2, Table 6.1-1 and Table 6.2-1 (Character Repertoire column): the control
# characters (00H-1FH, and DEL 7FH, which is outside the repertoire) a string value may hold.
# ESC only where Specific Character Set applies, and only to start an ISO 2022 escape sequence
# (a code extension, §6.1.2.5); TAB, LF, FF and CR also in the text VRs LT, ST and UT; none in
# AE, AS, CS, DA, DS, DT, IS, TM, UI, UR.
ESC = 0x1B
ALLOWED_CONTROLS: dict[str, frozenset[int]] = {
    vr: frozenset({ESC, 0x09, 0x0A, 0x0C, 0x0D} if VR_INFO[vr].kind == "text" else {ESC})
    for vr in TEXT_VRS
}


def forbidden_control(vr: str, text: str, *, encoded: bool = True) -> int | None:
    """The index in ``text`` of the first control character a ``vr`` value may not hold
    (PS3.5 Table 6.2-1), or None when there is none. ``text`` is the value's bytes read as
    Latin-1 when ``encoded``; there an ESC must begin an ISO 2022 escape sequence (ESC, one or
    more intermediate bytes 02/00-02/15, a final byte 03/00-07/14: ISO/IEC 2022 §13.1, as in
    PS3.3 C.12.1.1.2). Decoded text (``encoded=False``: a QIDO-RS parameter, PS3.18 §8.3.4)
    has no code extensions left, so an ESC in it is refused like any other control."""
    allowed = ALLOWED_CONTROLS.get(vr, frozenset())
    for index, char in enumerate(text):
        code = ord(char)
        if code >= 0x20 and code != 0x7F:
            continue
        if code not in allowed:
            return index
        if code == ESC and not (encoded and _escape_sequence_at(text, index)):
            return index
    return None


def _escape_sequence_at(text: str, index: int) -> bool:
    pos = index + 1
    while pos < len(text) and 0x20 <= ord(text[pos]) <= 0x2F:
        pos += 1
    return pos > index + 1 and pos < len(text) and 0x30 <= ord(text[pos]) <= 0x7E


def swap_bytes(data: bytes, size: int) -> bytes:
    """Reverse the byte order of each ``size``-byte word (little <-> big endian)."""
    if size <= 1 or not data:
        return bytes(data)
    usable = len(data) - len(data) % size
    out = bytearray(data)
    for i in range(size):
        out[i:usable:size] = data[size - 1 - i : usable : size]
    return bytes(out)


def _strip_text(raw: bytes) -> bytes:
    return raw.rstrip(b" \0")


def _split(text: str, multi: bool) -> list[str] | str:
    if multi and "\\" in text:
        return text.split("\\")
    return text


def to_number(kind: str, text: str) -> Any:
    """One DS (``kind="float"``) or IS (``"int"``) value from its text (PS3.5 §6.2); None when
    empty."""
    text = text.strip()
    if not text:
        return None
    try:
        if kind == "int":
            try:
                return int(text)
            except ValueError:
                number = float(text)
                return int(number) if number.is_integer() else number
        return float(text)
    except ValueError:
        return text  # kept as read; validation reports it


def pure_decode_value(vr: str, raw: bytes, little: bool = True,
                      charsets: Sequence[str] = ()) -> Any:
    """Decode one element's value bytes (already little endian for 'bytes' VRs is not assumed).
    The pure-Python reference; :func:`decode_value` is its compiled twin when built.

    Returns a scalar for VM 1, a list for VM > 1, ``None`` for an empty non-text value,
    ``""`` for an empty text value and ``b""`` for empty bytes.
    """
    info = VR_INFO.get(vr) or VR_INFO["UN"]
    kind = info.kind
    if kind == "bytes":
        if not little and vr in SWAP_SIZE:
            return swap_bytes(raw, SWAP_SIZE[vr])
        return bytes(raw)
    if kind in ("int", "float", "at") and info.fixed_size:
        size = info.fixed_size
        count = len(raw) // size
        if count == 0:
            return None
        order = "<" if little else ">"
        if kind == "at":
            words = struct.unpack(f"{order}{count * 2}H", raw[: count * 4])
            from dicomkit.core.tag import Tag

            tags = [Tag((words[i] << 16) | words[i + 1]) for i in range(0, len(words), 2)]
            return tags[0] if count == 1 else tags
        values = struct.unpack(f"{order}{count}{info.struct_code}", raw[: count * size])
        return values[0] if count == 1 else list(values)
    # Character strings.
    data = _strip_text(raw) if kind != "text" else raw.rstrip(b" \0")
    if vr in ("AE", "CS", "DS", "IS", "AS", "DA", "TM", "DT", "UI"):
        text = data.decode("latin-1")
    elif info.charset and charsets:
        from dicomkit.core.charset import decode_text

        text = decode_text(bytes(data), charsets, vr)
    else:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if kind == "text":
        return text
    parts = _split(text, info.multi_valued)
    if kind == "pn":
        if isinstance(parts, list):
            return [PersonName(p.rstrip(" ")) for p in parts]
        return PersonName(parts)
    if kind in ("int", "float"):
        if isinstance(parts, list):
            return [to_number(kind, p) for p in parts]
        return to_number(kind, parts)
    if isinstance(parts, list):
        if vr == "UI":
            return [p.strip("\0 ") for p in parts]
        return [p.rstrip(" ") for p in parts]
    return parts


def text_of(vr: str, item: Any) -> str:
    """One value of a string VR as the text it is encoded as (DS and IS formatted as PS3.5
    §6.2 requires)."""
    if item is None:
        return ""
    if vr == "DS":
        return format_ds(item)
    if vr == "IS":
        return item if isinstance(item, str) else str(int(item))
    if vr == "DA" and isinstance(item, _dt.date) and not isinstance(item, _dt.datetime):
        return format_da(item)
    if vr == "TM" and isinstance(item, _dt.time):
        return format_tm(item)
    if vr == "DT" and isinstance(item, _dt.datetime):
        return format_dt(item)
    return str(item)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def encode_value(vr: str, value: Any, little: bool = True, charsets: Sequence[str] = ()) -> bytes:
    """Encode a Python value to the element's value bytes, padded to even length (PS3.5 §7.1)."""
    info = VR_INFO.get(vr) or VR_INFO["UN"]
    kind = info.kind
    if value is None:
        return b""
    if kind == "bytes":
        data = bytes(value) if not hasattr(value, "tobytes") else value.tobytes()
        if not little and vr in SWAP_SIZE:
            data = swap_bytes(data, SWAP_SIZE[vr])
    elif kind == "sq":
        raise ValueError("sequences are encoded by the writer, not encode_value")
    elif info.fixed_size:
        order = "<" if little else ">"
        items = _as_list(value)
        if kind == "at":
            words: list[int] = []
            for tag in items:
                from dicomkit.core.tag import Tag

                t = Tag(tag)
                words += [t >> 16, t & 0xFFFF]
            data = struct.pack(f"{order}{len(words)}H", *words)
        else:
            if kind == "int":
                items = [int(v) for v in items]
            try:
                data = struct.pack(f"{order}{len(items)}{info.struct_code}", *items)
            except (struct.error, OverflowError) as exc:
                # PS3.5 Table 6.2-1 bounds each binary VR (US 0..2^16-1, SS -2^15..2^15-1 ...;
                # an FL beyond the float32 range is an OverflowError, not a struct.error).
                from dicomkit.errors import InvalidDicomError

                raise InvalidDicomError(f"{vr} value {value!r:.80} cannot be encoded: {exc} "
                                        "(PS3.5 Table 6.2-1)") from exc
    else:
        if kind == "text":
            text = str(value)
        else:
            text = "\\".join(text_of(vr, item) for item in _as_list(value))
        if info.charset and charsets:
            from dicomkit.core.charset import encode_text

            data = encode_text(text, charsets, vr)
        else:
            data = text.encode("ascii" if not info.charset else "latin-1", errors="strict")
    if len(data) % 2:
        data += info.pad
    return data


def value_multiplicity(value: Any) -> int:
    if value is None or value == "" or value == b"":
        return 0
    if isinstance(value, (list, tuple)):
        return len(value)
    return 1


def validate_value(vr: str, value: Any) -> list[str]:
    """PS3.5 §6.2 rules a value breaks, as readable problems (empty when valid)."""
    info = VR_INFO.get(vr)
    if info is None:
        return [f"unknown VR {vr!r}"]
    problems = []
    items: Iterable[Any] = _as_list(value) if value not in (None, "") else []
    for item in items:
        if info.max_length and isinstance(item, str):
            groups = item.split("=") if vr == "PN" else [item]
            if any(len(g) > info.max_length for g in groups):
                problems.append(f"{vr} value {item!r} is longer than {info.max_length}")
        if kind_is_number(info) and isinstance(item, str):
            problems.append(f"{vr} value {item!r} is not a number")
        if vr == "UI" and isinstance(item, str):
            from dicomkit.core.uid import UID

            if item and not UID(item).is_valid:
                problems.append(f"UI value {item!r} breaks the PS3.5 §9.1 UID grammar")
    return problems


def kind_is_number(info: VRInfo) -> bool:
    return info.kind in ("int", "float") and not info.fixed_size


decode_value: Callable[..., Any] = pure_decode_value
"""Decode one element's value bytes: :func:`pure_decode_value`, or its compiled twin
(``dicomkit.core._vr``, the same results) unless ``DICOMKIT_PURE=1`` or it is not built."""
_compiled = native.load("dicomkit.core._vr")  # last: it imports this module's names
if _compiled is not None:
    decode_value = _compiled.decode_value
