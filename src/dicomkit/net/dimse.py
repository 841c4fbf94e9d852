"""PS3.7 §9-10 and Annex E: DIMSE messages — command sets, their fields and statuses.

A command set is always encoded in Implicit VR Little Endian and led by Command Group Length
(0000,0000) (PS3.7 §6.3.1). A message is a command plus, when Command Data Set Type
(0000,0800) is not 0101H, one data set in the presentation context's transfer syntax.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import dicomkit.native as native
from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.core.tag import Tag
from dicomkit.core.vr import TEXT_VRS
from dicomkit.encoding.reader import read_dataset
from dicomkit.encoding.transfer_syntax import IMPLICIT_VR_LITTLE_ENDIAN
from dicomkit.encoding.writer import dataset_to_bytes
from dicomkit.errors import InvalidDicomError

# The compiled twin of encode_command_fast_pure and decode_command_fast_pure (dicomkit/net/_dimse.pyx, docs/design/native.md).
_compiled: Any = native.load("dicomkit.net._dimse")

NO_DATA_SET = 0x0101  # PS3.7 E.1-1: Command Data Set Type "no data set"
DATA_SET_PRESENT = 0x0000  # any other value means present; 0000H by convention


class CommandField(IntEnum):
    """PS3.7 Table E.1-1 Command Field values."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_GET_RQ = 0x0010
    C_GET_RSP = 0x8010
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    N_EVENT_REPORT_RQ = 0x0100
    N_EVENT_REPORT_RSP = 0x8100
    N_GET_RQ = 0x0110
    N_GET_RSP = 0x8110
    N_SET_RQ = 0x0120
    N_SET_RSP = 0x8120
    N_ACTION_RQ = 0x0130
    N_ACTION_RSP = 0x8130
    N_CREATE_RQ = 0x0140
    N_CREATE_RSP = 0x8140
    N_DELETE_RQ = 0x0150
    N_DELETE_RSP = 0x8150
    C_CANCEL_RQ = 0x0FFF


class Priority(IntEnum):
    MEDIUM = 0x0000
    HIGH = 0x0001
    LOW = 0x0002


class Status:
    """PS3.7 Annex C status classes; service-specific codes come from the status table."""

    SUCCESS = 0x0000
    CANCEL = 0xFE00
    PENDING = 0xFF00
    PENDING_WARNING = 0xFF01  # C-FIND: optional keys not supported
    # General failures (PS3.7 C.5)
    NO_SUCH_SOP_CLASS = 0x0118
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NOT_AUTHORISED = 0x0124  # Refused: Not Authorised
    PROCESSING_FAILURE = 0x0110
    DUPLICATE_INVOCATION = 0x0210
    UNRECOGNIZED_OPERATION = 0x0211
    MISTYPED_ARGUMENT = 0x0212
    RESOURCE_LIMITATION = 0x0213
    # Storage (PS3.4 B.2.3)
    OUT_OF_RESOURCES = 0xA700
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    # Query/retrieve (PS3.4 C.4)
    MOVE_DESTINATION_UNKNOWN = 0xA801
    SUBOPERATIONS_COMPLETE_WITH_FAILURES = 0xB000
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    UNABLE_TO_PROCESS = 0xC000

    @staticmethod
    def category(code: int) -> str:
        """Success, Warning, Failure, Cancel or Pending (PS3.7 Annex C)."""
        if code == 0x0000:
            return "Success"
        if code in (0xFF00, 0xFF01):
            return "Pending"
        if code == 0xFE00:
            return "Cancel"
        if code == 0x0001 or 0xB000 <= code <= 0xBFFF or code == 0x0107 or code == 0x0116:
            return "Warning"
        return "Failure"


@dataclass
class Message:
    """One DIMSE message as received or to be sent."""

    context_id: int
    command: Dataset
    data: bytes | None = None  # the encoded data set, in the context's transfer syntax
    data_result: Any = None  # what a streaming sink returned instead of bytes
    # What the service made of the request, for the server's observers (an audit trail): for
    # a C-STORE into a store, a services.storage.Stored. Read with isinstance.
    outcome: object = None

    def _number(self, tag: int) -> Any:
        """The value of command element ``tag``, None when absent (read a few times per
        message by the receive path: straight from the command's elements)."""
        try:
            entry = self.command.raw_entry(tag)
        except KeyError:
            return None
        if type(entry) is tuple:
            entry = self.command[tag]
        return entry.value

    @property
    def command_field(self) -> int:
        return int(self._number(0x00000100))

    @property
    def is_response(self) -> bool:
        return bool(self.command_field & 0x8000)

    @property
    def has_data(self) -> bool:
        value = self._number(0x00000800)
        return value is not None and value != NO_DATA_SET

    @property
    def message_id(self) -> int | None:
        value = self._number(0x00000110)
        return None if value is None else int(value)

    @property
    def responding_to(self) -> int | None:
        value = self._number(0x00000120)
        return None if value is None else int(value)

    @property
    def status(self) -> int | None:
        value = self._number(0x00000900)
        return None if value is None else int(value)


_UL = struct.Struct("<HHLL")
_ELEMENT = struct.Struct("<HHL")  # implicit VR little endian element header
_US = struct.Struct("<H")
_UL_VALUE = struct.Struct("<L")
#: The text VRs of group 0000 (PS3.7 Table E.1-1) and the byte each is padded with (PS3.5 §6.2).
_COMMAND_TEXT = {"UI": b"\0", "AE": b" ", "CS": b" ", "LO": b" ", "SH": b" ", "ST": b" ",
                 "LT": b" "}


def encode_command(command: Dataset) -> bytes:
    """PS3.7 §6.3.1: implicit VR little endian, (0000,0000) first with the group's length.

    The command elements of the common shapes (group 0000 only; US and UL numbers, ASCII text;
    no Specific Character Set) are encoded by :func:`encode_command_fast_pure`, or its
    compiled twin; anything else by the general writer, which gives the same bytes for those."""
    if _compiled is not None:
        fast: bytes | None = _compiled.encode_command_fast(command)
    else:
        fast = encode_command_fast_pure(command)
    if fast is not None:
        return fast
    body = command.copy()
    if 0x00000000 in body:
        del body[0x00000000]
    data = dataset_to_bytes(body, IMPLICIT_VR_LITTLE_ENDIAN, group_lengths=False)
    return _UL.pack(0x0000, 0x0000, 4, len(data)) + data


def encode_command_fast_pure(command: Dataset) -> bytes | None:
    """:func:`encode_command`'s bytes for a command set of group 0000 elements holding None,
    one US or UL number in range, or ASCII text (VRs of ``_COMMAND_TEXT``), with no Specific
    Character Set in force; None for anything else (the general writer then encodes it)."""
    if command.charsets:
        return None
    parts: list[bytes] = []
    total = 0
    for tag in command.tags():
        if tag == 0x00000000:
            continue  # Command Group Length: written anew below
        if tag >> 16:
            return None
        entry = command.raw_entry(tag)
        if type(entry) is tuple or entry.raw is not None:
            return None  # read from bytes: the general writer copes with every form
        vr = entry.VR
        value = entry.value
        if value is None:
            data = b""
        elif vr == "US":
            if type(value) is not int or not 0 <= value <= 0xFFFF:
                return None
            data = _US.pack(value)
        elif vr == "UL":
            if type(value) is not int or not 0 <= value <= 0xFFFFFFFF:
                return None
            data = _UL_VALUE.pack(value)
        elif vr in _COMMAND_TEXT:
            if type(value) is not str or not value.isascii():
                return None
            data = value.encode("ascii")
            if len(data) & 1:
                data += _COMMAND_TEXT[vr]
        else:
            return None
        parts.append(_ELEMENT.pack(0x0000, tag & 0xFFFF, len(data)))
        parts.append(data)
        total += 8 + len(data)
    if total > 0xFFFFFFFF:
        return None
    return _UL.pack(0x0000, 0x0000, 4, total) + b"".join(parts)


#: PS3.7 Table E.1-1: the command elements a message is dispatched on, each US with VM 1.
_SINGLE_US = {
    0x00000100: "Command Field",
    0x00000110: "Message ID",
    0x00000120: "Message ID Being Responded To",
    0x00000800: "Command Data Set Type",
    0x00000900: "Status",
}


#: PS3.7 Table E.1-1: the command elements :func:`decode_command_fast_pure` decodes itself.
_COMMAND_TAGS = (
    0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x0100, 0x0110, 0x0120, 0x0200, 0x0300, 0x0400,
    0x0600, 0x0700, 0x0800, 0x0850, 0x0860, 0x0900, 0x0901, 0x0902, 0x0903, 0x1000, 0x1001,
    0x1002, 0x1005, 0x1008, 0x1020, 0x1021, 0x1022, 0x1023, 0x1030, 0x1031,
)
_command_table: dict[int, tuple[Tag, str, int, bool]] | None = None


def command_table() -> dict[int, tuple[Tag, str, int, bool]]:
    """The elements of group 0000 the fast decoder knows, by element number: (tag, its VR
    from the dictionary as the general reader would take it for implicit VR, 2 for US or 4
    for UL (the one value's size; 0 for any other VR), whether it is one of ``_SINGLE_US``)."""
    global _command_table
    if _command_table is None:
        table = {}
        for element in _COMMAND_TAGS:
            entry = dictionary.entry(element)
            if entry is None or entry.vr in ("SQ", "UN") or " or " in entry.vr:
                continue  # the general reader decides (never, with PS3.6 as it is)
            size = {"US": 2, "UL": 4}.get(entry.vr, 0)
            table[element] = (Tag(element), entry.vr, size, element in _SINGLE_US)
        _command_table = table
    return _command_table


def decode_command_fast_pure(data: bytes, table: dict[int, tuple[Tag, str, int, bool]],
                             ) -> Dataset | None:
    """:func:`decode_command`'s Dataset for a command set of the common shape: bytes holding
    implicit VR little endian elements of group 0000 in ascending order, each known to
    ``table`` (:func:`command_table`), of even defined length within the data, with a Command
    Field and each ``_SINGLE_US`` field one US value. None for anything else: the general
    reader then reads it and gives its errors. Nothing is allocated before a length is checked
    against the bytes there are.

    The elements are what the general reader's lazy entries become when first used: the same
    tag, VR and raw bytes; one US or UL value is decoded at once, anything else when used."""
    if type(data) is not bytes:
        return None
    size = len(data)
    pos = 0
    last = -1
    elements: dict[int, Any] = {}
    charsets: list[str] = []
    while pos < size:
        if size - pos < 8:
            return None
        group, element, length = _ELEMENT.unpack_from(data, pos)
        pos += 8
        if group or element <= last or length & 1 or length > size - pos:
            return None
        last = element
        spec = table.get(element)
        if spec is None:
            return None
        tag, vr, width, single = spec
        raw = data[pos:pos + length]
        pos += length
        if width and width == length:
            item = DataElement.from_raw(tag, vr, raw, True, (), False)
            item._value = _US.unpack(raw)[0] if width == 2 else _UL_VALUE.unpack(raw)[0]
        elif single:
            return None
        else:
            item = DataElement.from_raw(tag, vr, raw, True, charsets if vr in TEXT_VRS else (),
                                        False)
        elements[element] = item
    if 0x00000100 not in elements:
        return None
    ds = Dataset.from_index(elements, data, True, True)
    ds._charsets_cache = charsets
    return ds


def decode_command(data: bytes) -> Dataset:
    """A received command set; ``InvalidDicomError`` when it is malformed, has no Command
    Field, or one of the fields ``Message`` reads is not one US value (PS3.7 Table E.1-1).

    Command sets of the common shape are decoded by :func:`decode_command_fast_pure`, or its
    compiled twin; the rest by the general reader, which gives the same Dataset for those."""
    if _compiled is not None:
        fast: Dataset | None = _compiled.decode_command_fast(data, _command_table or
                                                              command_table())
    else:
        fast = decode_command_fast_pure(data, _command_table or command_table())
    if fast is not None:
        return fast
    return decode_command_general(data)


def decode_command_general(data: bytes | bytearray | memoryview) -> Dataset:
    """:func:`decode_command` through the general reader, for any command set."""
    try:
        command = read_dataset(data, little=True, implicit=True)
        if 0x00000100 not in command:
            raise InvalidDicomError("DIMSE command set has no Command Field (0000,0100)")
        for tag, name in _SINGLE_US.items():
            element = command.get(tag)
            if element is not None and type(element.value) is not int:
                raise InvalidDicomError(f"{name} must be one US value (PS3.7 Table E.1-1), "
                                        f"not {element.value!r:.40}", tag=tag)
    except InvalidDicomError as exc:
        raise InvalidDicomError(f"malformed DIMSE command set: {exc}") from exc
    return command


def command(field_: CommandField, **values: Any) -> Dataset:
    """A command set: ``command(CommandField.C_ECHO_RQ, MessageID=1, AffectedSOPClassUID=…)``.
    Command Data Set Type defaults to "no data set"."""
    ds = Dataset()
    ds.CommandField = int(field_)
    ds.CommandDataSetType = NO_DATA_SET
    for keyword, value in values.items():
        if value is not None:
            setattr(ds, keyword, value)
    return ds


def response_to(request: Message, status: int, *, has_data: bool = False,
                **values: Any) -> Dataset:
    """The response command for ``request`` (command field | 8000H) with the fields PS3.7
    requires echoed (Affected SOP Class/Instance UID, Message ID Being Responded To)."""
    rq = request.command
    rsp = command(CommandField(request.command_field | 0x8000))
    rsp.MessageIDBeingRespondedTo = request.message_id or 0
    sop_class = rq.get("AffectedSOPClassUID") or rq.get("RequestedSOPClassUID")
    if sop_class:
        rsp.AffectedSOPClassUID = sop_class
    instance = rq.get("AffectedSOPInstanceUID") or rq.get("RequestedSOPInstanceUID")
    if instance and request.command_field in (0x0001, 0x0100, 0x0110, 0x0120, 0x0130, 0x0140,
                                              0x0150):
        rsp.AffectedSOPInstanceUID = instance
    rsp.Status = status
    if has_data:
        rsp.CommandDataSetType = DATA_SET_PRESENT
    for keyword, value in values.items():
        if value is not None:
            setattr(rsp, keyword, value)
    return rsp
