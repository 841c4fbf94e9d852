"""HL7 v2 messages as received: bytes decoded by the character set MSH-18 names (HL7 v2.5.1
§2.15.9.18, Table 0211), parsed into segments, fields and repetitions by hl7apy, and read back
by position (``message.value("PID", 3, component=4)``), unescaped (HL7 v2.5.1 §2.7).

Every problem is an :class:`HL7Error` that says where it is (segment, occurrence, field,
component: the ERR-2 Error Location of HL7 v2.5.1 §2.15.5.2), which HL7 Table 0357 condition
it is, and whether the message is rejected (AR: it cannot be handled at all, e.g. an unreadable
MSH or an unsupported version) or in error (AE: its content is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from dicomkit.errors import DicomError

# HL7 Table 0357 Message Error Condition Codes (HL7 v2.5.1 §2.15.5.3).
SEGMENT_SEQUENCE_ERROR = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
TABLE_VALUE_NOT_FOUND = 103
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT_CODE = 201
UNSUPPORTED_PROCESSING_ID = 202
UNSUPPORTED_VERSION_ID = 203
UNKNOWN_KEY_IDENTIFIER = 204
DUPLICATE_KEY_IDENTIFIER = 205
APPLICATION_INTERNAL_ERROR = 207

ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class HL7Error(DicomError):
    """A message that cannot be accepted, with where (``segment`` name, its 1-based
    ``sequence`` among segments of that name, ``field``, ``component``) and why (``code`` of
    HL7 Table 0357, ``reason`` in words). ``reject``: answer AR, not AE."""

    def __init__(self, reason: str, *, code: int, segment: str = "", sequence: int = 1,
                 field: int = 0, component: int = 0, reject: bool = False) -> None:
        self.reason = reason
        self.code = code
        self.segment = segment
        self.sequence = sequence
        self.field = field
        self.component = component
        self.reject = reject
        super().__init__(f"{self.location}: {reason}" if self.location else reason)

    @property
    def location(self) -> str:
        """``PID-3``, ``OBR[2]-18.4``: where, as HL7 documents name a field."""
        if not self.segment:
            return ""
        text = self.segment if self.sequence == 1 else f"{self.segment}[{self.sequence}]"
        if self.field:
            text += f"-{self.field}"
            if self.component:
                text += f".{self.component}"
        return text


@dataclass(frozen=True)
class CharacterSet:
    """One HL7 Table 0211 term: the Python codec of its bytes and the DICOM Specific Character
    Set (0008,0005) values of the same repertoire (PS3.3 C.12.1.1.2)."""

    codec: str
    dicom: tuple[str, ...]


CHARACTER_SETS: dict[str, CharacterSet] = {
    "ASCII": CharacterSet("ascii", ()),
    "8859/1": CharacterSet("iso8859_1", ("ISO_IR 100",)),
    "8859/2": CharacterSet("iso8859_2", ("ISO_IR 101",)),
    "8859/3": CharacterSet("iso8859_3", ("ISO_IR 109",)),
    "8859/4": CharacterSet("iso8859_4", ("ISO_IR 110",)),
    "8859/5": CharacterSet("iso8859_5", ("ISO_IR 144",)),
    "8859/6": CharacterSet("iso8859_6", ("ISO_IR 127",)),
    "8859/7": CharacterSet("iso8859_7", ("ISO_IR 126",)),
    "8859/8": CharacterSet("iso8859_8", ("ISO_IR 138",)),
    "8859/9": CharacterSet("iso8859_9", ("ISO_IR 148",)),
    "8859/15": CharacterSet("iso8859_15", ("ISO_IR 203",)),
    "ISO IR14": CharacterSet("shift_jis", ("ISO_IR 13",)),
    # JIS X 0208 by ISO 2022 escapes inside ASCII: DICOM's ISO 2022 IR 87 with ASCII as G0.
    "ISO IR87": CharacterSet("iso2022_jp", ("", "ISO 2022 IR 87")),
    "ISO IR159": CharacterSet("iso2022_jp_2", ("", "ISO 2022 IR 159")),
    "KS X 1001": CharacterSet("iso2022_kr", ("", "ISO 2022 IR 149")),
    "GB 18030-2000": CharacterSet("gb18030", ("GB18030",)),
    "UNICODE UTF-8": CharacterSet("utf-8", ("ISO_IR 192",)),
}
"""The MSH-18 terms accepted. UTF-16 and UTF-32 are not: their MSH would not be ASCII."""

SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8")


@dataclass(frozen=True)
class Separators:
    """MSH-1 and MSH-2 (HL7 v2.5.1 §2.5.4)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


@dataclass(frozen=True)
class Header:
    """What an acknowledgement needs of MSH, read from the raw bytes before anything else, so
    that even a message that cannot be parsed is answered with its own control ID."""

    separators: Separators = field(default_factory=Separators)
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_type: str = ""
    trigger_event: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""
    character_set: str = ""  # MSH-18 as sent

    @property
    def codec(self) -> str:
        known = CHARACTER_SETS.get(self.character_set.strip().upper() or "ASCII")
        return known.codec if known else "ascii"


def read_header(raw: bytes) -> Header:
    """MSH from the first segment of ``raw`` (its fields are ASCII whatever MSH-18 says);
    HL7Error (reject) when there is no readable MSH."""
    start = raw.lstrip(b"\r\n \t")
    if not start.startswith(b"MSH") or len(start) < 8:
        raise HL7Error("the message does not begin with an MSH segment", code=100,
                       segment="MSH", reject=True)
    first = start.split(b"\r", 1)[0].split(b"\n", 1)[0]
    text = first.decode("ascii", "replace")
    fs = text[3]
    if fs.isalnum() or fs in " \r\n":
        raise HL7Error(f"MSH-1 field separator {fs!r} is not a separator character",
                       code=DATA_TYPE_ERROR, segment="MSH", field=1, reject=True)
    fields = text.split(fs)
    encoding = fields[1] if len(fields) > 1 else ""
    if len(encoding) < 4 or len(set(encoding[:4] + fs)) != 5:
        raise HL7Error(f"MSH-2 encoding characters {encoding!r} are not four distinct "
                       "separators", code=DATA_TYPE_ERROR, segment="MSH", field=2, reject=True)
    seps = Separators(fs, encoding[0], encoding[1], encoding[2], encoding[3])

    def msh(n: int, component: int = 1) -> str:
        # MSH-1 is the separator itself, so MSH-n is fields[n - 1]
        value = fields[n - 1] if n - 1 < len(fields) else ""
        parts = value.split(seps.repetition)[0].split(seps.component)
        return unescape(parts[component - 1], seps) if component - 1 < len(parts) else ""

    return Header(seps, msh(3), msh(4), msh(5), msh(6), msh(9, 1), msh(9, 2), msh(10),
                  msh(11), msh(12), msh(18))


_FORMATTING = re.compile(r"\.(br|sp|in|ti|sk|ce|fi|nf)", re.IGNORECASE)


def unescape(value: str, seps: Separators) -> str:
    """HL7 v2.5.1 §2.7: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ back to the separators, \\Xhh..\\ to its
    bytes (taken as Latin-1), highlighting (\\H\\ \\N\\) and character set switches (\\C..\\,
    \\M..\\) dropped, ``.br`` to a line break; an unknown or unclosed escape stays as sent."""
    esc = seps.escape
    if esc not in value:
        return value
    out: list[str] = []
    pos = 0
    while pos < len(value):
        start = value.find(esc, pos)
        if start < 0:
            out.append(value[pos:])
            break
        end = value.find(esc, start + 1)
        if end < 0:
            out.append(value[pos:])
            break
        out.append(value[pos:start])
        out.append(_escape_value(value[start + 1:end], seps, value[start:end + 1]))
        pos = end + 1
    return "".join(out)


def _escape_value(code: str, seps: Separators, literal: str) -> str:
    simple = {"F": seps.field, "S": seps.component, "T": seps.subcomponent,
              "R": seps.repetition, "E": seps.escape, "H": "", "N": ""}
    if code in simple:
        return simple[code]
    if code[:1] == "X" and len(code) % 2 == 1 and re.fullmatch(r"[0-9A-Fa-f]*", code[1:]):
        return bytes.fromhex(code[1:]).decode("latin-1")
    if code[:1] in ("C", "M") and re.fullmatch(r"[0-9A-Fa-f]+", code[1:]):
        return ""
    if _FORMATTING.fullmatch(code) or code.lower().startswith((".in", ".ti", ".sp")):
        return "\n" if code.lower() in (".br", ".sp") else ""
    return literal


def escape(value: str, seps: Separators) -> str:
    """The inverse of :func:`unescape` for plain text (HL7 v2.5.1 §2.7.1)."""
    esc = seps.escape
    value = value.replace(esc, f"{esc}E{esc}")
    for char, code in ((seps.field, "F"), (seps.component, "S"), (seps.subcomponent, "T"),
                       (seps.repetition, "R")):
        value = value.replace(char, f"{esc}{code}{esc}")
    return value.replace("\r", f"{esc}.br{esc}").replace("\n", f"{esc}.br{esc}")


def decode(raw: bytes, header: Header) -> str:
    """The message text in the character set MSH-18 names (ASCII when empty). An unknown term
    is AR 103 at MSH-18; bytes that are not valid in it are AE 102 naming the segment and the
    field where they are."""
    term = header.character_set.strip().upper()
    if term and term not in CHARACTER_SETS:
        raise HL7Error(f"character set {header.character_set!r} is not supported (supported: "
                       f"{', '.join(CHARACTER_SETS)})", code=TABLE_VALUE_NOT_FOUND,
                       segment="MSH", field=18, reject=True)
    codec = header.codec
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        segment, sequence, field_no = _locate(raw, exc.start, header.separators)
        raise HL7Error(f"byte 0x{raw[exc.start]:02X} at offset {exc.start} is not valid "
                       f"{term or 'ASCII'} (MSH-18)", code=DATA_TYPE_ERROR, segment=segment,
                       sequence=sequence, field=field_no) from None


def _locate(raw: bytes, offset: int, seps: Separators) -> tuple[str, int, int]:
    """Segment name, its occurrence and the field number at byte ``offset`` of ``raw``."""
    before = raw[:offset].replace(b"\n", b"\r")
    lines = before.split(b"\r")
    current = lines[-1]
    name = current[:3].decode("ascii", "replace")
    sequence = sum(1 for line in lines if line[:3] == current[:3])
    field_no = current.count(seps.field.encode("latin-1"))
    if name == "MSH":
        field_no += 1
    return name, sequence, field_no


@dataclass
class Segment:
    """One segment: its name, its occurrence among segments of that name (1-based), and its
    fields by number, each a list of repetitions as ER7 text (still escaped)."""

    name: str
    sequence: int
    fields: dict[int, list[str]]


class Message:
    """A parsed message: the header and its segments in order, read by position."""

    def __init__(self, header: Header, segments: list[Segment]) -> None:
        self.header = header
        self.segments = segments

    @property
    def separators(self) -> Separators:
        return self.header.separators

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def repetitions(self, segment: Segment | None, number: int) -> list[str]:
        if segment is None:
            return []
        return [r for r in segment.fields.get(number, []) if r != ""]

    def components(self, text: str) -> list[str]:
        """An ER7 repetition's components (unescaped; subcomponents still joined)."""
        return text.split(self.separators.component)

    def value(self, segment: Segment | None, number: int, component: int = 1,
              subcomponent: int = 1, repetition: int = 0) -> str:
        """One value, unescaped; "" when absent. HL7 ``""`` (delete the value) is returned as
        the two quote characters, for the caller to act on."""
        reps = segment.fields.get(number, []) if segment is not None else []
        if repetition >= len(reps):
            return ""
        parts = reps[repetition].split(self.separators.component)
        if component - 1 >= len(parts):
            return ""
        subs = parts[component - 1].split(self.separators.subcomponent)
        if subcomponent - 1 >= len(subs):
            return ""
        return unescape(subs[subcomponent - 1], self.separators).strip()

    def iter_components(self, text: str) -> Iterator[list[str]]:
        """Each component of an ER7 repetition as its unescaped subcomponents."""
        for part in text.split(self.separators.component):
            yield [unescape(s, self.separators).strip()
                   for s in part.split(self.separators.subcomponent)]


def parse(raw: bytes) -> Message:
    """Bytes of one message (the content of an MLLP block) to a :class:`Message`; HL7Error
    when it cannot be read. The text is split into segments by hl7apy (tolerant validation:
    the mapping checks what it needs itself and names the field)."""
    header = read_header(raw)
    text = decode(raw, header).lstrip("\r\n \t")
    text = text.replace("\r\n", "\r").replace("\n", "\r").rstrip("\r")
    lines = text.split("\r")
    for number, line in enumerate(lines, 1):
        name = line[:3]
        if not SEGMENT_NAME.match(name) or (len(line) > 3 and line[3] != header.separators.field):
            raise HL7Error(f"segment {number} ({line[:20]!r}) does not begin with a segment "
                           "name (three capital letters or digits) and a field separator",
                           code=SEGMENT_SEQUENCE_ERROR, segment=name if SEGMENT_NAME.match(name)
                           else "", sequence=1)
    version = header.version.strip()
    if not version:
        raise HL7Error("MSH-12 version ID is empty", code=REQUIRED_FIELD_MISSING,
                       segment="MSH", field=12, reject=True)
    if version not in SUPPORTED_VERSIONS:
        raise HL7Error(f"HL7 version {version!r} is not supported (supported: "
                       f"{', '.join(SUPPORTED_VERSIONS)})", code=UNSUPPORTED_VERSION_ID,
                       segment="MSH", field=12, reject=True)
    return Message(header, _segments("\r".join(lines), header))


def _segments(text: str, header: Header) -> list[Segment]:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Segment as Hl7apySegment
    from hl7apy.exceptions import HL7apyException
    from hl7apy.parser import parse_message

    try:
        parsed = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT,
                               find_groups=False)
    except HL7apyException as exc:
        raise HL7Error(f"the message cannot be parsed: {exc}", code=SEGMENT_SEQUENCE_ERROR,
                       reject=True) from None
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise HL7Error(f"the message cannot be parsed: {type(exc).__name__}: {exc}",
                       code=SEGMENT_SEQUENCE_ERROR, reject=True) from None
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    for child in parsed.children:
        if not isinstance(child, Hl7apySegment):  # find_groups=False: never a group
            continue
        name = str(child.name)
        seen[name] = seen.get(name, 0) + 1
        fields: dict[int, list[str]] = {}
        for element in child.children:
            number = _position(str(element.name))
            if number:
                fields.setdefault(number, []).append(str(element.to_er7()))
        if name == "MSH":  # MSH-1 and MSH-2 are the separators themselves
            fields[1] = [header.separators.field]
            fields[2] = [header.separators.encoding_characters]
        segments.append(Segment(name, seen[name], fields))
    return segments


def _position(name: str) -> int:
    """The field number of an hl7apy field name (``PID_3`` -> 3)."""
    _, _, suffix = name.rpartition("_")
    return int(suffix) if suffix.isdigit() else 0
