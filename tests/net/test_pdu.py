"""PS3.8 §9.3 PDUs: exact bytes from the standard's tables, round trips, malformed input, and
interoperation with pynetdicom 3.0.4 as a reference peer."""

from __future__ import annotations

import struct
from typing import Any, TypeVar

import pytest

from dicomkit.errors import InvalidDicomError
from dicomkit.net import pdu as P
from dicomkit.net import pdu_items

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"
T = TypeVar("T")


def item(item_type: int, value: bytes) -> bytes:
    """Item header per PS3.8 §9.3.1: type, reserved 00H, 2-byte big-endian length."""
    return bytes([item_type, 0]) + struct.pack(">H", len(value)) + value


def decoded_as(cls: type[T], data: bytes) -> T:
    """Decode a whole PDU and check it is a ``cls``."""
    pdu = P.decode_pdu(data)
    assert isinstance(pdu, cls)
    return pdu


def pdvs_of(body: bytes) -> list[P.PDV]:
    pdu = P.decode(0x04, body)
    assert isinstance(pdu, P.PDataTF)
    return pdu.pdvs


def simple_rq() -> P.AAssociateRQ:
    return P.AAssociateRQ(
        called_ae="ANY-SCP",
        calling_ae="ECHOSCU",
        contexts=[P.PresentationContextRQ(1, VERIFICATION, [IMPLICIT_LE])],
        user_info=P.UserInformation(
            max_length=16382,
            implementation_class_uid="1.2.3.4",
            implementation_version_name="DK_010",
        ),
    )


# Hand-assembled from PS3.8 Tables 9-11 … 9-16 and D.1-1, PS3.7 D.3-1 and D.3-3.
# fmt: off
SIMPLE_RQ_BYTES = (
    bytes.fromhex("01 00 000000B0")  # PDU-type 01H, reserved, PDU-length 176
    + bytes.fromhex("0001 0000")  # protocol-version bit 0, reserved
    + b"ANY-SCP         "  # called-AE-title, 16 bytes space padded
    + b"ECHOSCU         "  # calling-AE-title
    + bytes(32)  # reserved bytes 43-74
    + bytes.fromhex("10 00 0015") + b"1.2.840.10008.3.1.1.1"  # application context, 21 bytes
    + bytes.fromhex("20 00 002E 01 00 00 00")  # presentation context ID 1, length 46
    + bytes.fromhex("30 00 0011") + b"1.2.840.10008.1.1"  # abstract syntax, no padding
    + bytes.fromhex("40 00 0011") + b"1.2.840.10008.1.2"  # transfer syntax
    + bytes.fromhex("50 00 001D")  # user information, 29 bytes
    + bytes.fromhex("51 00 0004 00003FFE")  # maximum length 16382
    + bytes.fromhex("52 00 0007") + b"1.2.3.4"  # implementation class UID
    + bytes.fromhex("55 00 0006") + b"DK_010"  # implementation version name
)
# fmt: on


def rich_user_info() -> P.UserInformation:
    return P.UserInformation(
        max_length=32768,
        implementation_class_uid="1.2.3",
        implementation_version_name="DK",
        async_ops=(5, 3),
        roles=[P.RoleSelection("1.2.9", scu_role=True, scp_role=False)],
        extended=[P.ExtendedNegotiation("1.2.9", b"\x01\x01")],
        common_extended=[P.CommonExtendedNegotiation("1.2.9", "4.5", ["1.2.8"])],
        user_identity=P.UserIdentityRQ(2, b"user", b"pass", positive_response_requested=True),
    )


# PS3.7 Tables D.3-1, D.3-3, D.3-7, D.3-9, D.3-11 … D.3-14, in increasing item-type order.
# fmt: off
RICH_USER_INFO_BYTES = (
    bytes.fromhex("50 00 0064")
    + bytes.fromhex("51 00 0004 00008000")
    + bytes.fromhex("52 00 0005") + b"1.2.3"
    + bytes.fromhex("53 00 0004 0005 0003")  # invoked 5, performed 3
    + bytes.fromhex("54 00 0009 0005") + b"1.2.9" + bytes.fromhex("01 00")  # SCU yes, SCP no
    + bytes.fromhex("55 00 0002") + b"DK"
    + bytes.fromhex("56 00 0009 0005") + b"1.2.9" + bytes.fromhex("01 01")
    + bytes.fromhex("57 00 0015 0005") + b"1.2.9" + bytes.fromhex("0003") + b"4.5"
    + bytes.fromhex("0007 0005") + b"1.2.8"  # related-general-sop-class-identification
    + bytes.fromhex("58 00 000E 02 01 0004") + b"user" + bytes.fromhex("0004") + b"pass"
)
# fmt: on


# -- exact bytes -----------------------------------------------------------------------------


def test_a_associate_rq_is_encoded_as_table_9_11():
    assert P.encode(simple_rq()) == SIMPLE_RQ_BYTES


def test_a_associate_rq_decodes_from_table_9_11_bytes():
    assert P.decode_pdu(SIMPLE_RQ_BYTES) == simple_rq()


def test_a_associate_ac_is_encoded_as_table_9_17():
    ac = P.AAssociateAC(
        called_ae="ANY-SCP",
        calling_ae="ECHOSCU",
        contexts=[
            P.PresentationContextAC(1, 0, IMPLICIT_LE),
            P.PresentationContextAC(3, 3, ""),  # abstract-syntax-not-supported
        ],
        user_info=P.UserInformation(max_length=0, implementation_class_uid="1.2.3.4"),
    )
    expected = (
        bytes.fromhex("02 00 0000009D 0001 0000")
        + b"ANY-SCP         ECHOSCU         "  # reserved, echoing the request's AE titles
        + bytes(32)
        + item(0x10, APP_CONTEXT.encode())
        + bytes.fromhex("21 00 0019 01 00 00 00")
        + item(0x40, IMPLICIT_LE.encode())
        + bytes.fromhex("21 00 0008 03 00 03 00 40 00 0000")  # rejected: empty 40H sub-item
        + bytes.fromhex("50 00 0013 51 00 0004 00000000")
        + item(0x52, b"1.2.3.4")
    )
    assert P.encode(ac) == expected
    assert P.decode_pdu(expected) == ac


def test_a_associate_rj_is_encoded_as_table_9_21():
    data = P.encode(P.AAssociateRJ(result=1, source=1, reason=7))  # called-AE-title not recognized
    assert data == bytes.fromhex("03 00 00000004 00 01 01 07")
    assert P.decode_pdu(data) == P.AAssociateRJ(1, 1, 7)


def test_p_data_tf_is_encoded_as_tables_9_22_and_9_23():
    pdata = P.PDataTF([P.PDV(1, True, True, b"\x01\x02"), P.PDV(1, False, False, b"abcd")])
    expected = bytes.fromhex(
        "04 00 00000012"  # PDU-length 18
        "00000004 01 03 0102"  # item-length 4, context 1, header: command (bit 0), last (bit 1)
        "00000006 01 00 61626364"  # data set fragment, not last
    )
    assert P.encode(pdata) == expected
    assert P.decode_pdu(expected) == pdata


@pytest.mark.parametrize(
    ("is_command", "is_last", "control"),
    [(False, False, 0), (True, False, 1), (False, True, 2), (True, True, 3)],
)
def test_encode_pdata_sets_the_annex_e2_message_control_header(is_command, is_last, control):
    data = P.encode_pdata(255, is_command, is_last, b"\xaa\xbb")
    assert data == bytes.fromhex("04 00 00000008 00000004 FF") + bytes([control]) + b"\xaa\xbb"
    assert data == P.encode(P.PDataTF([P.PDV(255, is_command, is_last, b"\xaa\xbb")]))


def test_encode_pdata_accepts_a_memoryview():
    payload = bytearray(b"\x00\x01" * 1000)
    assert P.encode_pdata(3, False, True, memoryview(payload)) == P.encode_pdata(
        3, False, True, bytes(payload)
    )


def test_p_data_tf_decodes_pdv_data_as_slices_of_the_body():
    body = P.encode_pdata(1, False, True, b"payload!")[6:]
    (pdv,) = pdvs_of(body)
    assert isinstance(pdv.data, memoryview)
    assert pdv.data.obj is body
    assert pdv.data == b"payload!"


def test_message_control_header_bits_2_to_7_are_not_checked():
    body = bytes.fromhex("00000004 01 FE 0000")  # bits 2-7 set, bit 0 clear, bit 1 set
    (pdv,) = pdvs_of(body)
    assert (pdv.is_command, pdv.is_last) == (False, True)


def test_a_release_rq_and_rp_are_encoded_as_tables_9_24_and_9_25():
    assert P.encode(P.AReleaseRQ()) == bytes.fromhex("05 00 00000004 00000000")
    assert P.encode(P.AReleaseRP()) == bytes.fromhex("06 00 00000004 00000000")
    assert P.decode_pdu(bytes.fromhex("05 00 00000004 00000000")) == P.AReleaseRQ()
    assert P.decode_pdu(bytes.fromhex("06 00 00000004 00000000")) == P.AReleaseRP()


def test_a_abort_is_encoded_as_table_9_26():
    assert P.encode(P.AAbort()) == bytes.fromhex("07 00 00000004 00 00 00 00")
    data = P.encode(P.AAbort(source=2, reason=6))  # provider: invalid-PDU-parameter value
    assert data == bytes.fromhex("07 00 00000004 00 00 02 06")
    assert P.decode_pdu(data) == P.AAbort(2, 6)


def test_reserved_bytes_are_not_tested_when_received():
    assert P.decode_pdu(bytes.fromhex("07 FF 00000004 AA BB 02 01")) == P.AAbort(2, 1)
    assert P.decode_pdu(bytes.fromhex("05 FF 00000004 FFFFFFFF")) == P.AReleaseRQ()


def test_user_information_sub_items_are_encoded_as_ps3_7_annex_d():
    assert pdu_items.encode_user_information(rich_user_info()) == RICH_USER_INFO_BYTES


def test_user_information_sub_items_go_in_increasing_item_type_order():
    info = rich_user_info()
    info.unknown = [(0x5A, b"x"), (0x60, b"")]
    data = pdu_items.encode_user_information(info)
    types, pos = [], 4
    while pos < len(data):
        types.append(data[pos])
        pos += 4 + struct.unpack_from(">H", data, pos + 2)[0]
    assert types == sorted(types) == [0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x5A, 0x60]


@pytest.mark.parametrize(
    ("identity", "value"),
    [
        (
            P.UserIdentityRQ(1, b"user"),
            bytes.fromhex("01 00 0004") + b"user" + bytes.fromhex("0000"),
        ),
        (
            P.UserIdentityRQ(2, b"u", b"pw", True),
            bytes.fromhex("02 01 0001") + b"u" + bytes.fromhex("0002") + b"pw",
        ),
        (P.UserIdentityRQ(3, b"\x60\x82"), bytes.fromhex("03 00 0002 6082 0000")),
        (
            P.UserIdentityRQ(4, b"<saml/>", positive_response_requested=True),
            bytes.fromhex("04 01 0007") + b"<saml/>" + bytes(2),
        ),
        (P.UserIdentityRQ(5, b"e.y.J"), bytes.fromhex("05 00 0005") + b"e.y.J" + bytes(2)),
        (P.UserIdentityAC(b"ticket"), bytes.fromhex("0006") + b"ticket"),
        (P.UserIdentityAC(b""), bytes.fromhex("0000")),
    ],
)
def test_user_identity_sub_items_round_trip_as_tables_d3_14_and_d3_15(identity, value):
    info = P.UserInformation(implementation_class_uid="1.2", user_identity=identity)
    item_type = 0x58 if isinstance(identity, P.UserIdentityRQ) else 0x59
    data = pdu_items.encode_user_information(info)
    assert data == item(0x50, item(0x52, b"1.2") + item(item_type, value))
    where = pdu_items.Where("test", 1)
    assert pdu_items.decode_user_information(memoryview(data), 4, len(data), where) == info


# -- round trips -----------------------------------------------------------------------------


def test_a_associate_rq_with_every_sub_item_round_trips():
    rq = P.AAssociateRQ(
        "STORESCP",
        "STORESCU",
        [
            P.PresentationContextRQ(i, CT_IMAGE, [EXPLICIT_LE, IMPLICIT_LE])
            for i in range(1, 256, 2)
        ],
        rich_user_info(),
    )
    rq.user_info.roles.append(P.RoleSelection(CT_IMAGE, False, True))
    rq.user_info.common_extended.append(
        P.CommonExtendedNegotiation(CT_IMAGE, "1.2.840.10008.4.2", [])
    )
    rq.user_info.unknown = [(0x70, b"future sub-item")]
    assert len(rq.contexts) == P.MAX_CONTEXTS
    assert P.decode_pdu(P.encode(rq)) == rq


def test_a_associate_ac_with_every_result_round_trips():
    ac = P.AAssociateAC(
        "STORESCP",
        "STORESCU",
        [P.PresentationContextAC(1, 0, EXPLICIT_LE)]
        + [P.PresentationContextAC(2 * r + 1, r, "") for r in range(1, 5)],
        P.UserInformation(
            max_length=0,
            implementation_class_uid="1.2.3",
            async_ops=(1, 1),
            roles=[P.RoleSelection(CT_IMAGE, True, True)],
            extended=[P.ExtendedNegotiation(CT_IMAGE, b"")],
            user_identity=P.UserIdentityAC(b"server ticket"),
        ),
    )
    assert P.decode_pdu(P.encode(ac)) == ac


def test_ae_titles_are_space_padded_and_decoded_without_leading_or_trailing_spaces():
    data = bytearray(SIMPLE_RQ_BYTES)
    data[10:26] = b"  ANY SCP       "  # leading and trailing spaces are not significant
    rq = decoded_as(P.AAssociateRQ, bytes(data))
    assert rq.called_ae == "ANY SCP"
    assert P.encode(rq)[10:26] == b"ANY SCP         "


def test_uids_are_decoded_without_trailing_nul_or_space_padding():
    rq = simple_rq()
    rq.contexts[0].transfer_syntaxes.append(EXPLICIT_LE)
    data = P.encode(rq).replace(
        item(0x40, EXPLICIT_LE.encode()), item(0x40, EXPLICIT_LE.encode() + b"\x00")
    )
    data = data[:2] + struct.pack(">I", len(data) - 6) + data[6:]
    # The enclosing presentation context's length must grow too.
    pos = data.index(b"\x20\x00", 74)
    data = (
        data[: pos + 2]
        + struct.pack(">H", struct.unpack_from(">H", data, pos + 2)[0] + 1)
        + data[pos + 4 :]
    )
    assert decoded_as(P.AAssociateRQ, data).contexts[0].transfer_syntaxes == [
        IMPLICIT_LE,
        EXPLICIT_LE,
    ]


def test_rejected_context_transfer_syntax_is_not_tested():
    ac = P.AAssociateAC(
        "A",
        "B",
        [P.PresentationContextAC(1, 0, IMPLICIT_LE)],
        P.UserInformation(implementation_class_uid="1.2"),
    )
    data = P.encode(ac)
    pos = data.index(b"\x21\x00")
    garbled = bytearray(data)
    garbled[pos + 6] = 2  # result: no-reason
    garbled[pos + 10 : pos + 12] = b"\xff\xff"  # transfer syntax sub-item length nonsense
    decoded = decoded_as(P.AAssociateAC, bytes(garbled))
    assert decoded.contexts == [P.PresentationContextAC(1, 2, "")]


# -- malformed input -------------------------------------------------------------------------


def test_pdu_error_is_an_invalid_dicom_error_with_an_abort_reason():
    with pytest.raises(InvalidDicomError) as info:
        P.parse_header(b"\x09\x00\x00\x00\x00\x04")
    assert isinstance(info.value, P.PDUError)
    assert info.value.abort_reason == 1


def test_truncated_header_is_refused():
    with pytest.raises(P.PDUError) as info:
        P.parse_header(b"\x01\x00\x00")
    assert info.value.abort_reason == 0


def test_header_gives_type_and_length_without_testing_the_reserved_byte():
    assert P.parse_header(b"\x04\xff\x00\x01\x00\x00") == (4, 65536)


@pytest.mark.parametrize("pdu_type", [0x00, 0x08, 0x10, 0xFF])
def test_unknown_pdu_type_is_an_unrecognized_pdu(pdu_type):
    with pytest.raises(P.PDUError) as info:
        P.decode(pdu_type, b"\x00\x00\x00\x00")
    assert info.value.abort_reason == 1
    assert f"{pdu_type:02X}H" in str(info.value)


def test_item_length_past_the_end_names_pdu_item_and_offset():
    data = bytearray(SIMPLE_RQ_BYTES)
    data[76:78] = b"\xff\xff"  # application context item-length 65535
    with pytest.raises(P.PDUError) as info:
        P.decode_pdu(bytes(data))
    error = info.value
    assert error.abort_reason == 6
    assert (error.offset, error.pdu_type, error.item_type) == (74, 0x01, 0x10)
    assert "A-ASSOCIATE-RQ item 10H" in str(error)
    assert "offset 0x0000004a (74)" in str(error)


def test_truncated_a_associate_body_is_refused():
    with pytest.raises(P.PDUError) as info:
        P.decode(0x01, SIMPLE_RQ_BYTES[6:60])
    assert info.value.abort_reason == 6


@pytest.mark.parametrize("cut", [1, 3, 10, 40])
def test_a_associate_rq_cut_short_is_refused(cut):
    with pytest.raises(P.PDUError):
        P.decode(0x01, SIMPLE_RQ_BYTES[6:-cut])


def test_pdu_length_disagreeing_with_the_bytes_is_refused():
    with pytest.raises(P.PDUError) as info:
        P.decode_pdu(SIMPLE_RQ_BYTES + b"\x00")
    assert info.value.abort_reason == 6


def test_unknown_user_information_sub_item_is_kept_and_ignored():
    rq = simple_rq()
    data = P.encode(rq)
    body = data[6:]
    extra = item(0x7F, b"\x01\x02\x03")
    body = body[: -29 - 4] + item(0x50, body[-29:] + extra)
    decoded = P.decode(0x01, body)
    assert isinstance(decoded, P.AAssociateRQ)
    assert decoded.user_info.unknown == [(0x7F, b"\x01\x02\x03")]
    decoded.user_info.unknown = []
    assert decoded == rq


def test_unrecognized_item_type_in_the_pdu_is_skipped():
    """PS3.8 §9.3.1: items of unrecognized types shall be ignored and skipped."""
    body = SIMPLE_RQ_BYTES[6:] + item(0xE0, b"vendor")
    assert P.decode(0x01, body) == simple_rq()


def test_item_from_elsewhere_inside_user_information_is_an_unexpected_parameter():
    body = SIMPLE_RQ_BYTES[6:-33] + item(
        0x50, SIMPLE_RQ_BYTES[-29:] + item(0x40, IMPLICIT_LE.encode())
    )
    with pytest.raises(P.PDUError) as info:
        P.decode(0x01, body)
    assert (info.value.abort_reason, info.value.item_type) == (5, 0x40)


def test_unrecognized_sub_item_in_a_presentation_context_is_skipped():
    context = bytes.fromhex("01 00 00 00") + item(0x30, VERIFICATION.encode())
    context += item(0xC0, b"?") + item(0x40, IMPLICIT_LE.encode())
    body = SIMPLE_RQ_BYTES[6:99] + item(0x20, context) + SIMPLE_RQ_BYTES[-33:]
    assert P.decode(0x01, body) == simple_rq()


def test_known_item_in_the_wrong_pdu_is_an_unexpected_parameter():
    ac_context = bytes.fromhex("21 00 0008 01 00 00 00") + item(0x40, b"")
    with pytest.raises(P.PDUError) as info:
        P.decode(0x01, SIMPLE_RQ_BYTES[6:] + ac_context)
    assert (info.value.abort_reason, info.value.item_type) == (5, 0x21)


def test_129_presentation_contexts_are_refused_at_the_129th(monkeypatch):
    contexts = b"".join(
        bytes([0x20, 0, 0, 4 + 25 + 25, i & 0xFF, 0, 0, 0])
        + item(0x30, VERIFICATION.encode() + b"0000")
        + item(0x40, IMPLICIT_LE.encode() + b"0000")
        for i in range(1, 259, 2)
    )
    body = SIMPLE_RQ_BYTES[6:99] + contexts + SIMPLE_RQ_BYTES[-33:]  # fixed fields, 10H, 20H…, 50H
    built = []
    real = P.decode_context_rq

    def counting(*args: Any) -> P.PresentationContextRQ:
        built.append(args)
        return real(*args)

    monkeypatch.setattr(P, "decode_context_rq", counting)
    with pytest.raises(P.PDUError) as info:
        P.decode(0x01, body)
    assert info.value.abort_reason == 6
    assert "more than 128" in str(info.value)
    assert len(built) == 128
    assert info.value.offset == 99 + 128 * 58  # the 129th item's header


def test_duplicate_presentation_context_ids_are_refused():
    rq = simple_rq()
    rq.contexts.append(P.PresentationContextRQ(3, CT_IMAGE, [IMPLICIT_LE]))
    data = bytearray(P.encode(rq))
    pos = data.index(b"\x20\x00", 100)
    data[pos + 4] = 1
    with pytest.raises(P.PDUError, match="repeated") as info:
        P.decode_pdu(bytes(data))
    assert info.value.abort_reason == 6


def test_even_presentation_context_id_is_refused():
    data = bytearray(SIMPLE_RQ_BYTES)
    data[103] = 2
    with pytest.raises(P.PDUError, match="not odd"):
        P.decode_pdu(bytes(data))


def test_a_second_maximum_length_sub_item_is_an_unexpected_parameter():
    body = SIMPLE_RQ_BYTES[6:-33] + item(0x50, SIMPLE_RQ_BYTES[-29:] + item(0x51, bytes(4)))
    with pytest.raises(P.PDUError) as info:
        P.decode(0x01, body)
    assert (info.value.abort_reason, info.value.item_type) == (5, 0x51)


def test_maximum_length_sub_item_of_the_wrong_length_is_refused():
    body = SIMPLE_RQ_BYTES[6:-33] + item(0x50, item(0x51, bytes(3)))
    with pytest.raises(P.PDUError, match="not 4"):
        P.decode(0x01, body)


def test_missing_user_information_is_refused():
    with pytest.raises(P.PDUError, match="user information"):
        P.decode(0x01, SIMPLE_RQ_BYTES[6:-33])


def test_fixed_length_pdus_must_have_length_4():
    with pytest.raises(P.PDUError, match="not the fixed 4") as info:
        P.decode(0x07, b"\x00\x00\x02")
    assert info.value.abort_reason == 6


@pytest.mark.parametrize("body", ["00000001 01", "00000001 01 00", "00000008 01 00 0000", "0000"])
def test_malformed_pdv_items_are_refused(body):
    with pytest.raises(P.PDUError) as info:
        P.decode(0x04, bytes.fromhex(body))
    assert info.value.abort_reason == 6


def test_empty_p_data_tf_is_refused():
    with pytest.raises(P.PDUError, match="no PDV"):
        P.decode(0x04, b"")


# -- encode-time validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "ae", ["SEVENTEEN_CHARS_X", "", "                ", "BACK\\SLASH", "TAB\tAE", "ÄRZTE"]
)
def test_invalid_ae_titles_are_not_encoded(ae):
    rq = simple_rq()
    rq.called_ae = ae
    with pytest.raises(P.PDUError, match="AE title"):
        P.encode(rq)


def test_sixteen_character_ae_title_is_encoded():
    rq = simple_rq()
    rq.calling_ae = "SIXTEEN_CHARS_AE"
    assert P.encode(rq)[26:42] == b"SIXTEEN_CHARS_AE"


@pytest.mark.parametrize("context_id", [0, 2, 256, -1])
def test_invalid_presentation_context_ids_are_not_encoded(context_id):
    rq = simple_rq()
    rq.contexts[0].id = context_id
    with pytest.raises(P.PDUError, match="odd"):
        P.encode(rq)
    with pytest.raises(P.PDUError, match="odd"):
        P.encode_pdata(context_id, True, True, b"")


@pytest.mark.parametrize("uid", ["", "1.2.", "1..2", "1.2.a", "1.2 ", "1." + "2" * 63])
def test_invalid_uids_are_not_encoded(uid):
    rq = simple_rq()
    rq.contexts[0].abstract_syntax = uid
    with pytest.raises(P.PDUError, match="UID"):
        P.encode(rq)


def test_129_contexts_are_not_encoded():
    rq = simple_rq()
    rq.contexts = [P.PresentationContextRQ(1, VERIFICATION, [IMPLICIT_LE])] * 129
    with pytest.raises(P.PDUError, match="129"):
        P.encode(rq)


@pytest.mark.parametrize(
    "info",
    [
        P.UserInformation(),  # implementation class UID is mandatory
        P.UserInformation(implementation_class_uid="1.2", max_length=2**32),
        P.UserInformation(implementation_class_uid="1.2", implementation_version_name=""),
        P.UserInformation(implementation_class_uid="1.2", implementation_version_name="X" * 17),
        P.UserInformation(implementation_class_uid="1.2", async_ops=(65536, 1)),
        P.UserInformation(implementation_class_uid="1.2", user_identity=P.UserIdentityRQ(6, b"x")),
        P.UserInformation(
            implementation_class_uid="1.2", user_identity=P.UserIdentityRQ(1, b"u", b"pw")
        ),
        P.UserInformation(
            implementation_class_uid="1.2", user_identity=P.UserIdentityRQ(1, b"u" * 65536)
        ),
        P.UserInformation(implementation_class_uid="1.2", unknown=[(0x51, b"")]),
    ],
)
def test_out_of_range_user_information_is_not_encoded(info):
    with pytest.raises(P.PDUError):
        pdu_items.encode_user_information(info)


@pytest.mark.parametrize(
    "pdu",
    [
        P.AAssociateRJ(0, 1, 1),
        P.AAssociateRJ(1, 4, 1),
        P.AAssociateRJ(1, 1, 4),  # reserved reason for source 1
        P.AAssociateRJ(1, 3, 0),
        P.AAbort(1, 0),
        P.AAbort(2, 3),
        P.AAbort(0, 1),  # service-user aborts send reason 00H
        P.PDataTF([]),
        P.AAssociateAC(
            "A",
            "B",
            [P.PresentationContextAC(1, 5, IMPLICIT_LE)],
            P.UserInformation(implementation_class_uid="1.2"),
        ),
        P.AAssociateAC(
            "A",
            "B",
            [P.PresentationContextAC(1, 0, "")],
            P.UserInformation(implementation_class_uid="1.2"),
        ),
    ],
)
def test_out_of_range_pdu_fields_are_not_encoded(pdu):
    with pytest.raises(P.PDUError):
        P.encode(pdu)


def test_protocol_version_needs_bit_0():
    rq = simple_rq()
    rq.protocol_version = 2
    with pytest.raises(P.PDUError, match="bit 0"):
        P.encode(rq)


# -- pynetdicom 3.0.4 as a reference peer ----------------------------------------------------


def pynetdicom_rq_bytes() -> bytes:
    pdu_primitives = pytest.importorskip("pynetdicom.pdu_primitives")
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.presentation import PresentationContext

    primitive = pdu_primitives.A_ASSOCIATE()
    primitive.application_context_name = APP_CONTEXT
    primitive.calling_ae_title = "ECHOSCU"
    primitive.called_ae_title = "ANY-SCP"
    max_length = pdu_primitives.MaximumLengthNotification()
    max_length.maximum_length_received = 16382
    class_uid = pdu_primitives.ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.3.0.4"
    version = pdu_primitives.ImplementationVersionNameNotification()
    version.implementation_version_name = "PYNETDICOM_304"
    window = pdu_primitives.AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 5
    window.maximum_number_operations_performed = 3
    role = pdu_primitives.SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = CT_IMAGE
    role.scu_role = True
    role.scp_role = True
    extended = pdu_primitives.SOPClassExtendedNegotiation()
    extended.sop_class_uid = "1.2.840.10008.5.1.4.1.2.1.1"
    extended.service_class_application_information = b"\x01\x01"
    common = pdu_primitives.SOPClassCommonExtendedNegotiation()
    common.sop_class_uid = "1.2.840.10008.5.1.4.1.1.88.22"
    common.service_class_uid = "1.2.840.10008.4.2"
    common.related_general_sop_class_identification = ["1.2.840.10008.5.1.4.1.1.88.11"]
    identity = pdu_primitives.UserIdentityNegotiation()
    identity.user_identity_type = 2
    identity.positive_response_requested = True
    identity.primary_field = b"user"
    identity.secondary_field = b"pass"
    primitive.user_information = [
        max_length,
        class_uid,
        version,
        window,
        role,
        extended,
        common,
        identity,
    ]
    contexts = []
    offered: list[tuple[int, str, list[Any]]] = [
        (1, VERIFICATION, [IMPLICIT_LE, EXPLICIT_LE]),
        (3, CT_IMAGE, [IMPLICIT_LE]),
    ]
    for context_id, abstract, syntaxes in offered:
        context = PresentationContext()
        context.context_id = context_id
        context.abstract_syntax = abstract
        context.transfer_syntax = syntaxes
        contexts.append(context)
    primitive.presentation_context_definition_list = contexts
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def test_decodes_an_a_associate_rq_from_pynetdicom():
    rq = P.decode_pdu(pynetdicom_rq_bytes())
    assert rq == P.AAssociateRQ(
        "ANY-SCP",
        "ECHOSCU",
        [
            P.PresentationContextRQ(1, VERIFICATION, [IMPLICIT_LE, EXPLICIT_LE]),
            P.PresentationContextRQ(3, CT_IMAGE, [IMPLICIT_LE]),
        ],
        P.UserInformation(
            max_length=16382,
            implementation_class_uid="1.2.826.0.1.3680043.9.3811.3.0.4",
            implementation_version_name="PYNETDICOM_304",
            async_ops=(5, 3),
            roles=[P.RoleSelection(CT_IMAGE, True, True)],
            extended=[P.ExtendedNegotiation("1.2.840.10008.5.1.4.1.2.1.1", b"\x01\x01")],
            common_extended=[
                P.CommonExtendedNegotiation(
                    "1.2.840.10008.5.1.4.1.1.88.22",
                    "1.2.840.10008.4.2",
                    ["1.2.840.10008.5.1.4.1.1.88.11"],
                )
            ],
            user_identity=P.UserIdentityRQ(2, b"user", b"pass", True),
        ),
    )


def test_pynetdicom_rq_re_encodes_to_the_same_items():
    """pynetdicom sends 55H before 53H; PS3.8 §9.3.1 asks for increasing order, so only the
    user information item differs, and only in order."""
    original = pynetdicom_rq_bytes()
    again = P.encode(P.decode_pdu(original))
    assert len(again) == len(original)
    user_info_at = original.index(b"\x50\x00", 74 + 25)
    assert again[:user_info_at] == original[:user_info_at]
    assert sorted(again[user_info_at:]) == sorted(original[user_info_at:])


def test_pynetdicom_decodes_our_a_associate_rq():
    pytest.importorskip("pynetdicom")
    from pynetdicom.pdu import A_ASSOCIATE_RQ

    rq = P.AAssociateRQ(
        "ANY-SCP",
        "ECHOSCU",
        [P.PresentationContextRQ(1, CT_IMAGE, [EXPLICIT_LE, IMPLICIT_LE])],
        rich_user_info(),
    )
    rq.user_info.roles[0].sop_class_uid = CT_IMAGE
    theirs = A_ASSOCIATE_RQ()
    theirs.decode(P.encode(rq))
    primitive = theirs.to_primitive()
    assert primitive.called_ae_title == "ANY-SCP"
    assert primitive.calling_ae_title == "ECHOSCU"
    assert primitive.application_context_name == APP_CONTEXT
    (context,) = primitive.presentation_context_definition_list
    assert (context.context_id, context.abstract_syntax) == (1, CT_IMAGE)
    assert context.transfer_syntax == [EXPLICIT_LE, IMPLICIT_LE]
    items: dict[str, Any] = {type(sub).__name__: sub for sub in primitive.user_information}
    assert items["MaximumLengthNotification"].maximum_length_received == 32768
    assert items["ImplementationClassUIDNotification"].implementation_class_uid == "1.2.3"
    assert items["ImplementationVersionNameNotification"].implementation_version_name == "DK"
    window = items["AsynchronousOperationsWindowNegotiation"]
    assert (
        window.maximum_number_operations_invoked,
        window.maximum_number_operations_performed,
    ) == (5, 3)
    role = items["SCP_SCU_RoleSelectionNegotiation"]
    assert (role.sop_class_uid, role.scu_role, role.scp_role) == (CT_IMAGE, True, False)
    assert items["SOPClassExtendedNegotiation"].service_class_application_information == b"\x01\x01"
    common = items["SOPClassCommonExtendedNegotiation"]
    assert (common.service_class_uid, common.related_general_sop_class_identification) == (
        "4.5",
        ["1.2.8"],
    )
    identity = items["UserIdentityNegotiation"]
    assert (identity.user_identity_type, identity.primary_field, identity.secondary_field) == (
        2,
        b"user",
        b"pass",
    )
    assert identity.positive_response_requested is True


def test_a_associate_ac_interoperates_with_pynetdicom():
    pytest.importorskip("pynetdicom")
    from pynetdicom.pdu import A_ASSOCIATE_AC

    ac = P.AAssociateAC(
        "ANY-SCP",
        "ECHOSCU",
        [P.PresentationContextAC(1, 0, EXPLICIT_LE), P.PresentationContextAC(3, 4, IMPLICIT_LE)],
        P.UserInformation(
            max_length=65536,
            implementation_class_uid="1.2.3.4",
            implementation_version_name="DK_010",
            roles=[P.RoleSelection(CT_IMAGE, False, True)],
            user_identity=P.UserIdentityAC(b"server ticket"),
        ),
    )
    ours = P.encode(ac)
    theirs = A_ASSOCIATE_AC()
    theirs.decode(ours)
    assert (theirs.called_ae_title, theirs.calling_ae_title) == ("ANY-SCP", "ECHOSCU")
    results = [
        (c.context_id, c.result, c.transfer_syntax)
        for c in theirs.to_primitive().presentation_context_definition_results_list
    ]
    assert results == [(1, 0, [EXPLICIT_LE]), (3, 4, [IMPLICIT_LE])]
    assert P.decode_pdu(bytes(theirs.encode())) == ac


def test_fixed_pdus_and_p_data_interoperate_with_pynetdicom():
    pdu_module = pytest.importorskip("pynetdicom.pdu")
    rj = pdu_module.A_ASSOCIATE_RJ()
    rj.decode(P.encode(P.AAssociateRJ(2, 3, 1)))
    assert (rj.result, rj.source, rj.reason_diagnostic) == (2, 3, 1)
    abort = pdu_module.A_ABORT_RQ()
    abort.decode(P.encode(P.AAbort(2, 5)))
    assert (abort.source, abort.reason_diagnostic) == (2, 5)
    assert P.decode_pdu(bytes(abort.encode())) == P.AAbort(2, 5)
    assert bytes(pdu_module.A_RELEASE_RQ().encode()) == P.encode(P.AReleaseRQ())
    assert bytes(pdu_module.A_RELEASE_RP().encode()) == P.encode(P.AReleaseRP())
    pdata = pdu_module.P_DATA_TF()
    pdata.decode(P.encode_pdata(7, True, False, b"\x00\x00\x02\x00"))
    ((context_id, value),) = [
        (i.presentation_context_id, i.presentation_data_value)
        for i in pdata.presentation_data_value_items
    ]
    assert (context_id, value) == (7, b"\x01\x00\x00\x02\x00")
    assert P.decode_pdu(bytes(pdata.encode())) == P.PDataTF(
        [P.PDV(7, True, False, b"\x00\x00\x02\x00")]
    )
