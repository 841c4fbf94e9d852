"""The compiled PDU/P-DATA twin (dicomkit/net/_pdu.pyx) against the pure functions it replaces.

Both twins are called directly whatever the mode (the compiled one through
``native.compiled``) on P-DATA-TF PDUs built by pynetdicom's encoder (a real peer's bytes) and
by dicomkit's, on truncated, oversized and bit-flipped ones (fixed-seed mutations), and on
messages cut into fragments at many maximum PDU lengths, odd ones included; results and errors
(type, message, abort reason, offset, PDU type) must be identical.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

from dicomkit import native
from dicomkit.net import pdu as P
from dicomkit.net import pdv as V

C: Any = native.compiled("dicomkit.net._pdu")


def outcome(func: Any, *args: Any) -> Any:
    """The result, or the error as (type, message, abort reason, offset, PDU type, item type)."""
    try:
        return ("ok", func(*args))
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return ("error", type(exc), str(exc), getattr(exc, "abort_reason", None),
                getattr(exc, "offset", None), getattr(exc, "pdu_type", None),
                getattr(exc, "item_type", None))


def same(pure: Any, compiled: Any) -> None:
    assert pure == compiled
    if pure[0] == "ok" and isinstance(pure[1], list):
        assert [type(x) for x in pure[1]] == [type(x) for x in compiled[1]]
        for a, b in zip(pure[1], compiled[1], strict=True):
            if isinstance(a, P.PDV):
                assert type(a.data) is type(b.data) is memoryview


def pynetdicom_pdata(pdvs: list[tuple[int, bytes]]) -> bytes:
    """A P-DATA-TF as pynetdicom 3 encodes it: ``pdvs`` are (context ID, control header + data)."""
    from pynetdicom.pdu import P_DATA_TF

    pdu = P_DATA_TF()
    pdu.presentation_data_value_items = []
    from pynetdicom.pdu import PresentationDataValueItem

    for context_id, value in pdvs:
        item = PresentationDataValueItem()
        item.presentation_context_id = context_id
        item.presentation_data_value = value
        pdu.presentation_data_value_items.append(item)
    return bytes(pdu.encode())


def corpus() -> list[bytes]:
    """Whole P-DATA-TF PDUs (header included) from pynetdicom's encoder and dicomkit's."""
    rng = random.Random(18)
    out = [
        pynetdicom_pdata([(1, b"\x03" + b"\x00" * 74)]),
        pynetdicom_pdata([(1, b"\x01" + bytes(range(64))), (1, b"\x02" + b"\xaa" * 4096)]),
        pynetdicom_pdata([(255, b"\x00"), (3, b"\xff" + b"x" * 7)]),
        P.encode_pdata(5, True, True, b"\x00\x01" * 40),
        P.encode(P.PDataTF([P.PDV(1, False, False, b"ab"), P.PDV(7, True, True, b"")])),
    ]
    for _ in range(40):
        pdvs = [(rng.randrange(1, 256, 2), bytes([rng.randrange(256)]) +
                 rng.randbytes(rng.randrange(0, 300))) for _ in range(rng.randrange(1, 5))]
        out.append(pynetdicom_pdata(pdvs))
    return out


def test_pynetdicom_bytes_decode_to_what_pynetdicom_encoded() -> None:
    body = memoryview(pynetdicom_pdata([(1, b"\x01" + b"cmd!"), (3, b"\x02" + b"data")]))[6:]
    pdvs = C.pdvs(body, P.PDV)
    assert [(p.context_id, p.is_command, p.is_last, bytes(p.data)) for p in pdvs] == [
        (1, True, False, b"cmd!"), (3, False, True, b"data")]
    assert pdvs == P.pdvs_pure(body)


def mutations(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    base = corpus()
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(base))
        how = rng.randrange(5)
        if how == 0:  # truncated
            del data[rng.randrange(len(data) + 1):]
        elif how == 1:  # bytes flipped, lengths included
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how == 2:  # an item-length that lies: too big, too small, huge
            at = 6 if len(data) > 10 else 0
            value = rng.choice([0, 1, 2, 3, len(data), len(data) + 1, 0xFFFFFFFF, 0x7FFFFFFF])
            data[at:at + 4] = struct.pack(">L", value)
        elif how == 3:  # trailing garbage
            data += rng.randbytes(rng.randrange(1, 9))
        else:  # random bytes
            data = bytearray(rng.randbytes(rng.randrange(0, 40)))
        out.append(bytes(data))
    return out


def test_pdvs_same_on_real_and_hostile_bodies() -> None:
    inputs = corpus() + mutations(1, 3000) + [b"", b"\x04\x00\x00\x00\x00\x00"]
    for data in inputs:
        body = memoryview(data)[6:]
        same(outcome(P.pdvs_pure, body), outcome(C.pdvs, body, P.PDV))


def test_parse_header_same_on_every_type_and_short_input() -> None:
    rng = random.Random(2)
    inputs = [bytes([t, 0]) + struct.pack(">L", rng.randrange(1 << 32)) for t in range(256)]
    inputs += [rng.randbytes(n) for n in range(0, 9) for _ in range(20)]
    for data in inputs:
        for form in (data, bytearray(data), memoryview(data)):
            same(outcome(P.parse_header_pure, form), outcome(C.parse_header, form))


def test_decode_in_this_mode_matches_pure() -> None:
    """``pdu.decode`` (compiled or pure, as the suite runs) gives what the pure loop gives."""
    for data in corpus() + mutations(3, 500):
        body = memoryview(data)[6:]
        decoded = outcome(lambda b: P.decode(P.P_DATA_TF, b).pdvs, body)
        same(outcome(P.pdvs_pure, body), decoded)


@pytest.mark.parametrize("size", [0, 2, 4, 10, 16376, 16378, 16380, 65534, 262144, 262146,
                                  528_386])
def test_fragments_same_at_many_max_pdu_lengths(size: int) -> None:
    data = memoryview(random.Random(size).randbytes(size))
    for max_pdu in (0, 1, 7, 8, 9, 12, 13, 100, 101, 3585, 16383, 16384, 32768, 65535,
                    262144, 1 << 20):
        fragment = V.max_fragment(max_pdu)
        if size // fragment > 2000:  # tiny fragments of a big message: the small sizes do it
            continue
        for is_command in (False, True):
            for last in (False, True):
                bit = 1 if is_command else 0
                pure = V.fragments_pure(data, fragment, 1, bit, last)
                compiled = C.fragments(data, fragment, 1, bit, last)
                assert pure == compiled
                assert [type(x) for x in pure] == [type(x) for x in compiled]
                # every fragment even and the PDU within the peer's maximum (E.1)
                for header, chunk in zip(compiled[::2], compiled[1::2], strict=True):
                    assert len(chunk) % 2 == 0
                    assert max_pdu == 0 or len(chunk) + 6 <= max(max_pdu, 8)
                    assert struct.unpack(">BxLLBB", header)[1:3] == (len(chunk) + 6,
                                                                      len(chunk) + 2)
                assert b"".join(compiled[1::2]) == data
                assert compiled[-1 - 1][-1] == bit | (2 if last else 0)


def test_pdata_pdus_in_this_mode_matches_pure_and_refuses_the_same() -> None:
    for size in (0, 2, 1000, 70000):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        for context_id in (1, 127, 255):
            got = V.pdata_pdus(context_id, False, data, 16378, last=True)
            assert got == V.fragments_pure(memoryview(data), 16378, context_id, 0, True)
    for args in ((1, False, b"abc", 100), (1, True, b"ab", 3), (1, True, b"ab", 0),
                 (256, False, b"ab", 100), (-1, False, b"ab", 100)):
        with pytest.raises((ValueError, V.OddLengthMessage, struct.error)):
            V.pdata_pdus(*args, last=True)
    with pytest.raises(V.OddLengthMessage, match="data set of 3 bytes on presentation "
                                                 "context 1"):
        V.pdata_pdus(1, False, b"abc", 100, last=True)


def test_compiled_fragment_refuses_a_fragment_below_two() -> None:
    with pytest.raises(ValueError, match="fragment size 0"):
        C.fragments(memoryview(b"ab"), 0, 1, 0, True)


# -- the DIMSE command codec (dicomkit/net/_dimse.pyx) ----------------------------------------


def general_encoding(cmd: Any) -> bytes:
    """The general writer's encoding of a command set (encode_command's fallback)."""
    from dicomkit.encoding.transfer_syntax import IMPLICIT_VR_LITTLE_ENDIAN
    from dicomkit.encoding.writer import dataset_to_bytes

    body = cmd.copy()
    if 0x00000000 in body:
        del body[0x00000000]
    data = dataset_to_bytes(body, IMPLICIT_VR_LITTLE_ENDIAN, group_lengths=False)
    return struct.pack("<HHLL", 0, 0, 4, len(data)) + data


def commands() -> list[Any]:
    """Command sets of every DIMSE shape the package sends, odd and even text lengths, values
    the fast path refuses (non-ASCII text, an AT list, a number out of range, a bool, an
    element outside group 0000, a command read from bytes), and pynetdicom's encodings."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.net import dimse as D

    rng = random.Random(7)
    out: list[Any] = []
    ct = "1.2.840.10008.5.1.4.1.1.2"
    for field_ in D.CommandField:
        for uid in (ct, ct + ".1", "1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0.1.2"):
            cmd = D.command(field_, MessageID=rng.randrange(1, 0x10000),
                            AffectedSOPClassUID=uid, AffectedSOPInstanceUID=uid + ".9",
                            Priority=rng.randrange(3))
            out.append(cmd)
            if field_ & 0x8000 or field_ == D.CommandField.C_CANCEL_RQ:
                continue
            rq = D.Message(1, cmd)
            for status in (0, 0xA700, 0xB000, 0xFF00):
                out.append(D.response_to(rq, status, ErrorComment="x" * rng.randrange(0, 9)))
    c = D.command(D.CommandField.C_MOVE_RQ, MessageID=3, MoveDestination="DEST",
                  AffectedSOPClassUID=ct)
    c.NumberOfRemainingSuboperations = 0
    out.append(c)
    c = D.command(D.CommandField.C_STORE_RQ, MessageID=9, AffectedSOPClassUID=ct,
                  AffectedSOPInstanceUID="1.2", MoveOriginatorApplicationEntityTitle="MOVER ",
                  MoveOriginatorMessageID=7)
    out.append(c)
    odd = []
    c = D.command(D.CommandField.C_STORE_RSP, MessageIDBeingRespondedTo=1, Status=0xC000)
    c.ErrorComment = "caf\u00e9"  # not ASCII: the general writer
    odd.append(c)
    c = D.command(D.CommandField.N_GET_RQ, MessageID=1, RequestedSOPClassUID=ct)
    c.AttributeIdentifierList = [0x00100010, 0x00100020]  # AT: the general writer
    odd.append(c)
    c = D.command(D.CommandField.C_ECHO_RQ, MessageID=1)
    c.set(0x00000700, True, "US")  # a bool is not a number here
    odd.append(c)
    c = D.command(D.CommandField.C_ECHO_RQ, MessageID=1)
    c.PatientName = "A^B"  # outside group 0000
    odd.append(c)
    c = D.command(D.CommandField.C_ECHO_RQ, MessageID=1)
    c.set(0x00000000, 99, "UL")  # a stale group length is replaced
    out.append(c)
    c = D.command(D.CommandField.C_ECHO_RQ, MessageID=1)
    c.set(0x00000900, [1, 2], "US")  # two values: the general writer
    odd.append(c)
    out.append(Dataset())
    for cmd in list(out[:40]):
        odd.append(D.decode_command(D.encode_command(cmd)))  # read from bytes
    return out + odd


def test_encode_command_twins_agree_and_match_the_general_writer() -> None:
    from dicomkit.net import dimse as D

    CD: Any = native.compiled("dicomkit.net._dimse")
    fast_count = 0
    for cmd in commands():
        pure = outcome(D.encode_command_fast_pure, cmd)
        compiled = outcome(CD.encode_command_fast, cmd)
        assert pure == compiled
        general = outcome(general_encoding, cmd)
        if pure[1] is not None:
            fast_count += 1
            assert pure == general
        assert outcome(D.encode_command, cmd) == general
    assert fast_count > 100


def test_encode_command_reads_back_and_matches_pynetdicom() -> None:
    """pynetdicom's encoding of the same C-STORE-RQ (through pydicom's writer) is the same
    bytes."""
    from pynetdicom.dimse_primitives import C_STORE

    from dicomkit.net import dimse as D

    primitive = C_STORE()
    primitive.MessageID = 7
    primitive.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    primitive.AffectedSOPInstanceUID = "1.2.3.4.5"
    primitive.Priority = 0
    primitive.DataSet = __import__("io").BytesIO(b"")
    from pynetdicom.dimse_messages import C_STORE_RQ

    message = C_STORE_RQ()
    message.primitive_to_message(primitive)
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, message.command_set)
    theirs = fp.getvalue()
    ours = D.encode_command(D.command(D.CommandField.C_STORE_RQ, MessageID=7,
                                      AffectedSOPClassUID="1.2.840.10008.5.1.4.1.1.2",
                                      AffectedSOPInstanceUID="1.2.3.4.5", Priority=0,
                                      CommandDataSetType=0x0001))  # pynetdicom's "present"
    assert ours == theirs
