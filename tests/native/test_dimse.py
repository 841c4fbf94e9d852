"""The DIMSE command decoder's fast path (dicomkit.net.dimse.decode_command_fast_pure and its
compiled twin in dicomkit/net/_dimse.pyx) against each other and against the general reader.

Both twins are called directly whatever the mode, on command sets encoded by dicomkit and by
pydicom (a real peer's bytes), and on hostile ones: every truncation, odd lengths, lengths past
the end and huge ones, other groups, tags out of order or repeated, unknown tags, a missing
Command Field, fixed-seed byte flips. Each must give the same answer (None or the same
Dataset); whenever the fast path answers, the general reader must give the same Dataset (tags,
VRs, raw bytes, values), and ``decode_command`` must give the general reader's errors.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

from dicomkit import native
from dicomkit.core.dataset import Dataset
from dicomkit.errors import InvalidDicomError
from dicomkit.net import dimse as D
from dicomkit.net.dimse import CommandField, Message, Status, command, encode_command, response_to

C: Any = native.compiled("dicomkit.net._dimse")
TABLE = D.command_table()
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


def pydicom_command(**values: Any) -> bytes:
    """A command set as pydicom writes it (implicit VR little endian, group length first)."""
    from pydicom.dataset import Dataset as PydicomDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    ds = PydicomDataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, True
    write_dataset(body, ds)
    data = body.getvalue()
    return struct.pack("<HHLL", 0, 0, 4, len(data)) + data


def real_commands() -> list[bytes]:
    find_rq = command(CommandField.C_FIND_RQ, MessageID=7, AffectedSOPClassUID=FIND, Priority=0)
    find_rq.CommandDataSetType = D.DATA_SET_PRESENT
    store_rq = command(CommandField.C_STORE_RQ, MessageID=65535, AffectedSOPClassUID=CT,
                       AffectedSOPInstanceUID="1.2.3.4.5.6.7", Priority=2,
                       MoveOriginatorApplicationEntityTitle="MOVER",
                       MoveOriginatorMessageID=12)
    store_rq.CommandDataSetType = D.DATA_SET_PRESENT
    move_rsp = response_to(Message(1, command(CommandField.C_MOVE_RQ, MessageID=3,
                                              AffectedSOPClassUID=FIND, Priority=0,
                                              MoveDestination="DEST")),
                           Status.PENDING, NumberOfRemainingSuboperations=9,
                           NumberOfCompletedSuboperations=1, NumberOfFailedSuboperations=0,
                           NumberOfWarningSuboperations=0)
    failure = response_to(Message(1, store_rq), Status.CANNOT_UNDERSTAND,
                          ErrorComment="cannot parse the data set", ErrorID=3)
    commands = [
        encode_command(command(CommandField.C_ECHO_RQ, MessageID=1,
                               AffectedSOPClassUID="1.2.840.10008.1.1")),
        encode_command(find_rq),
        encode_command(store_rq),
        encode_command(response_to(Message(1, find_rq), Status.PENDING, has_data=True)),
        encode_command(response_to(Message(1, find_rq), Status.SUCCESS)),
        encode_command(move_rsp),
        encode_command(failure),
        encode_command(command(CommandField.C_CANCEL_RQ, MessageIDBeingRespondedTo=7)),
        encode_command(command(CommandField.N_ACTION_RQ, MessageID=2,
                               RequestedSOPClassUID="1.2.840.10008.1.20.1",
                               RequestedSOPInstanceUID="1.2.840.10008.1.20.1.1",
                               ActionTypeID=1)),
        pydicom_command(CommandField=0x8020, MessageIDBeingRespondedTo=7,
                        AffectedSOPClassUID=FIND, CommandDataSetType=0x0102, Status=0xFF00),
        pydicom_command(CommandField=0x0001, MessageID=5, AffectedSOPClassUID=CT,
                        AffectedSOPInstanceUID="1.2.3", Priority=0, CommandDataSetType=1,
                        MoveOriginatorApplicationEntityTitle="ABC"),
        pydicom_command(CommandField=0x8001, MessageIDBeingRespondedTo=5, Status=0xC000,
                        OffendingElement=[0x00100010, 0x00100020], ErrorComment="bad"),
        pydicom_command(CommandField=0x0130, MessageID=2, ActionTypeID=1,
                        RequestedSOPClassUID="1.2", AttributeIdentifierList=[0x00080018]),
    ]
    return commands


def element(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF,
                       len(value) if length is None else length) + value


def hostile() -> list[bytes]:
    good = real_commands()
    out: list[bytes] = [b"", b"\0", b"\0" * 7, b"\0" * 8]
    for data in good[:4] + good[-4:]:
        out += [data[:n] for n in range(len(data))]  # every truncation
    base = element(0x0100, b"\x30\x00") + element(0x0110, b"\x01\x00")
    out += [
        base,
        element(0x0000, b"\0\0\0\0") + base,
        base + element(0x0800, b"\x01\x01"),
        element(0x0100, b"\x30\x00\x00\x00"),  # a Command Field of two values
        element(0x0100, b""),  # of none
        element(0x0100, b"\x30"),  # odd
        element(0x0100, b"\x30\x00", length=0xFFFFFFFF),  # undefined length
        element(0x0100, b"\x30\x00", length=0x7FFFFFFE),  # far past the end
        element(0x0100, b"\x30\x00", length=0xFFFFFFFE),
        element(0x0100, b"\x30\x00", length=4),  # just past the end
        element(0x0002, b"1.2\0", length=3) + b"\0" + base,  # odd UI length
        element(0x0110, b"\x01\x00") + element(0x0100, b"\x30\x00"),  # out of order
        base + element(0x0110, b"\x02\x00"),  # repeated
        element(0x0100, b"\x30\x00") + element(0x0100, b"\x30\x00"),
        element(0x0100, b"\x30\x00") + element(0x0111, b"\x01\x00"),  # unknown tag
        element(0x00080005, b"ISO_IR 192") + base,  # another group
        base + element(0x00080005, b"ISO_IR 192"),
        element(0x00020010, b"1.2\0") + base,
        element(0x0002, "1.2.ü".encode() + b"\0") + base,  # not ASCII text
        element(0x0902, b"\xff\xfe") + base,
        element(0x0901, b"\x10\x00\x10\x00\x20\x00") + base,  # AT, odd VM... 6 bytes
        element(0x0100, b"\x30\x00") + element(0x0850, b"\x01\x00\x02\x00"),  # US, VM 2
        element(0x0000, b"\x01\x02") + base,  # UL of 2 bytes
        element(0x0000, b"\x01\x02\x03\x04\x05\x06") + base,  # UL of 6
        element(0x0100, b"\x30\x00") + b"\0\0\x00\x09",  # a header cut short
    ]
    rng = random.Random(18)
    for _ in range(1500):
        data = bytearray(rng.choice(good))
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        out.append(bytes(data))
    for _ in range(300):  # a random length field, often huge
        data = bytearray(rng.choice(good))
        pos = rng.randrange(0, len(data) - 8)
        data[pos + 4:pos + 8] = struct.pack("<L", rng.choice(
            [rng.randrange(1 << 32), 0xFFFFFFFF, len(data), len(data) - pos, 1]))
        out.append(bytes(data))
    return out


def outcome(func: Any, *args: Any) -> Any:
    try:
        return ("ok", func(*args))
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return ("error", type(exc), str(exc), getattr(exc, "tag", None))


def elements(ds: Dataset) -> list[tuple[Any, ...]]:
    """Each element as (tag, VR, raw bytes, value outcome, value type)."""
    out = []
    for tag in ds.tags():
        item = ds[tag]
        value = outcome(lambda item=item: item.value)
        out.append((int(tag), item.VR, bytes(item.raw) if item.raw is not None else None,
                    value, type(value[1]) if value[0] == "ok" else None,
                    item.little, item.is_undefined_length))
    return out


def check(data: bytes) -> bool:
    """The twins agree, and agree with the general reader when they answer. True when the
    fast path answered."""
    pure = D.decode_command_fast_pure(data, TABLE)
    compiled = C.decode_command_fast(data, TABLE)
    assert (pure is None) == (compiled is None), data
    general = outcome(D.decode_command_general, data)
    if pure is None:
        assert compiled is None
        assert outcome(D.decode_command, data)[:3] == general[:3]
        return False
    assert general[0] == "ok", (data, general)
    reference = general[1]
    assert elements(pure) == elements(compiled) == elements(reference), data
    for ds in (pure, compiled):
        assert ds.read_problems == reference.read_problems == []
        assert ds.is_truncated is reference.is_truncated is False
        assert ds.charsets == reference.charsets == []
        assert ds.buffer is data
        assert ds == reference
        message, expected = Message(1, ds), Message(1, reference)
        assert (message.command_field, message.message_id, message.responding_to,
                message.status, message.has_data, message.is_response) == \
            (expected.command_field, expected.message_id, expected.responding_to,
             expected.status, expected.has_data, expected.is_response)
    return True


@pytest.mark.parametrize("index", range(len(real_commands())))
def test_real_commands_take_the_fast_path(index: int) -> None:
    assert check(real_commands()[index])


def test_hostile_commands_agree_with_the_general_reader() -> None:
    answered = sum(check(data) for data in hostile())
    assert answered > 100  # byte flips inside values still answer; the rest fall back


def test_other_buffers_and_shapes_fall_back() -> None:
    data = real_commands()[1]
    for other in (bytearray(data), memoryview(data)):
        assert D.decode_command_fast_pure(other, TABLE) is None  # type: ignore[arg-type]
        assert C.decode_command_fast(other, TABLE) is None
    assert D.decode_command(bytearray(data)) == D.decode_command(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("data, words", [
    (b"", "no Command Field"),
    (element(0x0110, b"\x01\x00"), "no Command Field"),
    (element(0x0100, b"\x30\x00\x00\x00"), "Command Field must be one US value"),
    (element(0x0100, b"\x30\x00") + element(0x0900, b""), "Status must be one US value"),
    (element(0x0100, b"\x30\x00", length=0x7FFFFFFE), "(0000,0100)"),
])
def test_malformed_commands_keep_the_general_errors(data: bytes, words: str) -> None:
    with pytest.raises(InvalidDicomError, match="malformed DIMSE command set") as info:
        D.decode_command(data)
    assert words in str(info.value)


def test_values_decode_as_the_general_reader_decodes_them() -> None:
    data = real_commands()[2]  # C-STORE-RQ with text, US and an odd-length AE padded
    fast = C.decode_command_fast(data, TABLE)
    assert fast.CommandField == 1 and fast.MessageID == 65535 and fast.Priority == 2
    assert fast.AffectedSOPInstanceUID == "1.2.3.4.5.6.7"
    assert fast.MoveOriginatorApplicationEntityTitle == "MOVER"
    assert fast.CommandGroupLength == len(data) - 12
