"""DCMTK's dump text (what ``dcmdump`` prints and ``dump2dcm`` reads) to a :class:`Dataset`.

One element per line: ``(gggg,eeee) VR [value]`` with an optional ``# length, VM Keyword``
comment; the value in brackets is the value's bytes as they are in the data set (text in the
data set's Specific Character Set, ISO 2022 escape sequences included), several values separated
by ``\\``; numbers of the binary VRs (US, SS, UL, SL, FL, FD, SV, UV) are written without
brackets, as decimal numbers; OB and UN as hexadecimal bytes (``00\\ff``), OW as hexadecimal
words; ``=Keyword`` names a UID by its registry keyword; ``(no value available)`` is an empty
value. A sequence (``SQ``) holds items opened by ``(fffe,e000)`` and closed by ``(fffe,e00d)``,
and ends with ``(fffe,e0dd)``; what is still open at the end of the text is closed. Lines
starting with ``#`` and empty lines are skipped, leading spaces (the nesting indent) too; an
element may be named by its keyword instead of ``(gggg,eeee)``, as dump2dcm allows. File Meta
Information elements (group 0002) are left out.

Bad input raises :class:`DumpTextError` with the line number and what was wrong.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from dicomkit.core.charset import normalize_charsets
from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import tag_for_keyword, vr_for_tag
from dicomkit.core.element import DataElement
from dicomkit.core.uid import uid_for_keyword
from dicomkit.core.vr import VR_INFO

ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
SPECIFIC_CHARACTER_SET = 0x00080005
_LINE = re.compile(rb"^(?:\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)|([A-Za-z][A-Za-z0-9]*))"
                   rb"(?:\s+(?:([A-Za-z?]{2})(?![A-Za-z0-9])|na|-))?\s*(.*)$")
_BRACKETED = re.compile(rb"^\[(.*)\](?:\s*#.*)?\s*$", re.DOTALL)


class DumpTextError(ValueError):
    """Dump text that does not describe a data set, with the line number."""


@dataclass
class _Open:
    """A sequence being read: the data set it belongs to, its tag and its items so far."""

    owner: Dataset
    tag: int
    items: list[Dataset] = field(default_factory=list)
    item_open: bool = False


def _value_text(rest: bytes) -> bytes | None:
    """The value bytes of a line's remainder; None when it has no value."""
    rest = rest.strip()
    if not rest or rest.startswith(b"#"):
        return None
    if rest.startswith(b"["):
        match = _BRACKETED.match(rest)
        if match is None:
            raise ValueError("a value opened with [ is not closed with ]")
        return match.group(1)
    if rest.startswith(b"("):  # "(no value available)", "(Sequence with ...)"
        return None
    return rest.split(b"#", 1)[0].strip()


def _binary(vr: str, text: bytes) -> bytes:
    """Numbers (binary VRs) or hexadecimal bytes/words written as text, to value bytes."""
    parts = [p.strip() for p in text.decode("ascii").split("\\") if p.strip()]
    info = VR_INFO[vr]
    if vr in ("OB", "UN"):
        return bytes(int(p, 16) for p in parts)
    if vr == "OW":
        return b"".join(struct.pack("<H", int(p, 16)) for p in parts)
    if vr == "AT":
        out = b""
        for part in parts:
            group, _, element = part.strip("()").partition(",")
            out += struct.pack("<HH", int(group, 16), int(element, 16))
        return out
    if info.fixed_size and info.struct_code:
        convert = float if info.kind == "float" else int
        return b"".join(struct.pack("<" + info.struct_code, convert(p)) for p in parts)
    raise ValueError(f"values of VR {vr} are not read from dump text")


def _element(tag: int, vr: str, value: bytes | None, charsets: list[str]) -> DataElement:
    info = VR_INFO.get(vr)
    if info is None:
        raise ValueError(f"unknown VR {vr!r}")
    if value is None:
        data = b""
    elif info.kind in ("str", "text", "pn") or (info.kind in ("int", "float")
                                                 and not info.fixed_size):
        if vr == "UI" and value.startswith(b"="):
            found = uid_for_keyword(value[1:].decode("ascii", "replace"))
            if found is None:
                raise ValueError(f"{value.decode('ascii', 'replace')!r} is no UID keyword")
            value = found.encode("ascii")
        data = value
    else:
        data = _binary(vr, value)
    if len(data) % 2:
        data += info.pad
    return DataElement(tag, vr, raw=data, charsets=tuple(charsets))


def read_dump_text(text: bytes) -> Dataset:
    """The data set a dump text describes (see the module docstring)."""
    root = Dataset()
    stack: list[Dataset] = [root]
    sequences: list[_Open] = []
    charsets: list[str] = []

    def close_sequence() -> None:
        done = sequences.pop()
        if done.item_open:
            stack.pop()
        done.owner.set(done.tag, done.items, "SQ")

    for number, line in enumerate(text.split(b"\n"), 1):
        line = line.rstrip(b"\r").strip()
        if not line or line.startswith(b"#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise DumpTextError(f"line {number}: {line[:60]!r} does not start with a tag "
                                "(gggg,eeee) or a keyword")
        group, element, keyword, vr_text, rest = match.groups()
        if keyword is not None:
            found = tag_for_keyword(keyword.decode("ascii"))
            if found is None:
                raise DumpTextError(f"line {number}: unknown keyword {keyword.decode()!r}")
            tag = found
        else:
            tag = int(group + element, 16)
        if tag == ITEM:
            if not sequences:
                raise DumpTextError(f"line {number}: an item (fffe,e000) outside a sequence")
            current = sequences[-1]
            if current.item_open:
                stack.pop()
            item = Dataset()
            current.items.append(item)
            current.item_open = True
            stack.append(item)
            continue
        if tag == ITEM_END:
            if not sequences or not sequences[-1].item_open:
                raise DumpTextError(f"line {number}: an item end (fffe,e00d) with no item open")
            sequences[-1].item_open = False
            stack.pop()
            continue
        if tag == SEQUENCE_END:
            if not sequences:
                raise DumpTextError(f"line {number}: a sequence end (fffe,e0dd) with no "
                                    "sequence open")
            close_sequence()
            continue
        if sequences and not sequences[-1].item_open:
            # an element after a sequence's last item without its end: the sequence ended
            close_sequence()
        vr = vr_text.decode("ascii").upper() if vr_text else ""
        if vr in ("", "??", "XS", "OX", "US OR SS") or vr not in VR_INFO:
            vr = vr_for_tag(tag) or "UN"
            vr = vr.split(" ")[0] if vr not in VR_INFO else vr
            if vr not in VR_INFO:
                vr = "UN"
        if vr == "SQ":
            sequences.append(_Open(stack[-1], tag))
            continue
        if tag >> 16 == 0x0002:
            continue
        try:
            value = _value_text(rest)
            made = _element(tag, vr, value, charsets)
        except (ValueError, struct.error, OverflowError) as exc:
            raise DumpTextError(f"line {number}: ({tag >> 16:04x},{tag & 0xFFFF:04x}) {vr}: "
                                f"{exc}") from exc
        if tag == SPECIFIC_CHARACTER_SET and len(stack) == 1:
            terms = (value or b"").decode("latin-1").split("\\")
            charsets = normalize_charsets([t.strip() for t in terms])
        stack[-1][tag] = made
    while sequences:
        close_sequence()
    return root
