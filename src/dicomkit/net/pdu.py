"""PS3.8 §9.3 upper-layer PDUs, bytes <-> objects (no I/O).

A PDU is a 6-byte header (PDU-type, reserved, 4-byte big-endian PDU-length) and a body of
PDU-length bytes. ``parse_header`` reads the header, ``decode`` turns a body into one of the
seven PDU dataclasses, ``encode`` gives the whole PDU back. The items inside the A-ASSOCIATE
PDUs live in ``pdu_items``; their classes are re-exported here.

Decoding treats its input as untrusted: every length is checked before use, nothing is
allocated from a length field, and problems raise ``PDUError`` with the A-ABORT reason
(PS3.8 Table 9-26) to send. Values the association layer should judge (an unsupported
application context, a protocol version, a blank AE title) are returned as received;
encoding validates them.

P-DATA-TF is the hot path: ``decode`` returns PDV data as memoryview slices of the body
(they keep it alive and see any change to it), and ``encode_pdata`` builds a one-PDV
P-DATA-TF in a single concatenation.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dicomkit.native as native
from dicomkit.core.uid import registered
from dicomkit.net.pdu_items import (
    APPLICATION_CONTEXT,
    CONTEXT_AC,
    CONTEXT_RQ,
    HEADER_LEN,
    INVALID_PARAMETER,
    KNOWN_ITEM_TYPES,
    REASON_NOT_SPECIFIED,
    UNEXPECTED_PARAMETER,
    UNRECOGNIZED_PDU,
    USER_INFORMATION,
    CommonExtendedNegotiation,
    ExtendedNegotiation,
    PDUError,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelection,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
    Where,
    check_context_id,
    check_range,
    decode_context_ac,
    decode_context_rq,
    decode_user_information,
    encode_context_ac,
    encode_context_rq,
    encode_user_information,
    invalid,
    item,
    iter_items,
    text,
    uid_bytes,
)

__all__ = [
    "MAX_CONTEXTS",
    "PDU",
    "PDV",
    "AAbort",
    "AAssociateAC",
    "AAssociateRJ",
    "AAssociateRQ",
    "AReleaseRP",
    "AReleaseRQ",
    "CommonExtendedNegotiation",
    "ExtendedNegotiation",
    "PDataTF",
    "PDUError",
    "PresentationContextAC",
    "PresentationContextRQ",
    "RoleSelection",
    "UserIdentityAC",
    "UserIdentityRQ",
    "UserInformation",
    "decode",
    "decode_pdu",
    "encode",
    "encode_pdata",
    "parse_header",
    "parse_header_pure",
    "pdvs_pure",
]

#: Presentation-context-IDs are odd 1-255 (PS3.8 §9.3.2.2), so at most 128 fit an association.
MAX_CONTEXTS = 128
DICOM_APPLICATION_CONTEXT = registered("DICOMApplicationContext")

A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

_HEADER = struct.Struct(">BxI")
_U16 = struct.Struct(">H")
_ASSOCIATE_FIXED = struct.Struct(">H2x16s16s32x")  # PS3.8 Table 9-11 bytes 7-74
_FIXED4 = struct.Struct(">BxIxBBB")  # RJ and A-ABORT: header, reserved, three 1-byte fields
_PDV_HEADER = struct.Struct(">IBB")  # PS3.8 Table 9-23: item-length, context ID, control header
_PDATA_ONE = struct.Struct(">BxIIBB")  # P-DATA-TF header followed by one PDV item header
_RELEASE_RQ = b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00"
_RELEASE_RP = b"\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00"


# -- the PDUs --------------------------------------------------------------------------------


@dataclass(slots=True)
class AAssociateRQ:
    """A-ASSOCIATE-RQ, PS3.8 §9.3.2 Table 9-11."""

    called_ae: str
    calling_ae: str
    contexts: list[PresentationContextRQ]
    user_info: UserInformation
    application_context: str = DICOM_APPLICATION_CONTEXT
    protocol_version: int = 1


@dataclass(slots=True)
class AAssociateAC:
    """A-ASSOCIATE-AC, PS3.8 §9.3.3 Table 9-17; the AE titles echo the request's."""

    called_ae: str
    calling_ae: str
    contexts: list[PresentationContextAC]
    user_info: UserInformation
    application_context: str = DICOM_APPLICATION_CONTEXT
    protocol_version: int = 1


@dataclass(slots=True)
class AAssociateRJ:
    """A-ASSOCIATE-RJ, PS3.8 §9.3.4 Table 9-21. ``result`` 1 permanent, 2 transient;
    ``source`` 1 service-user, 2 provider (ACSE), 3 provider (presentation)."""

    result: int
    source: int
    reason: int


@dataclass(slots=True)
class PDV:
    """A presentation-data-value item, PS3.8 §9.3.5.1 and Annex E.2 (message control header)."""

    context_id: int
    is_command: bool
    is_last: bool
    data: bytes | memoryview


@dataclass(slots=True)
class PDataTF:
    """P-DATA-TF, PS3.8 §9.3.5 Table 9-22."""

    pdvs: list[PDV] = field(default_factory=list)


@dataclass(slots=True)
class AReleaseRQ:
    """A-RELEASE-RQ, PS3.8 §9.3.6 Table 9-24."""


@dataclass(slots=True)
class AReleaseRP:
    """A-RELEASE-RP, PS3.8 §9.3.7 Table 9-25."""


@dataclass(slots=True)
class AAbort:
    """A-ABORT, PS3.8 §9.3.8 Table 9-26. ``source`` 0 service-user, 2 service-provider."""

    source: int = 0
    reason: int = 0


PDU = AAssociateRQ | AAssociateAC | AAssociateRJ | PDataTF | AReleaseRQ | AReleaseRP | AAbort

_NAMES = {
    A_ASSOCIATE_RQ: "A-ASSOCIATE-RQ",
    A_ASSOCIATE_AC: "A-ASSOCIATE-AC",
    A_ASSOCIATE_RJ: "A-ASSOCIATE-RJ",
    P_DATA_TF: "P-DATA-TF",
    A_RELEASE_RQ: "A-RELEASE-RQ",
    A_RELEASE_RP: "A-RELEASE-RP",
    A_ABORT: "A-ABORT",
}


# -- encoding --------------------------------------------------------------------------------


def _ae_bytes(value: str, what: str, *, blank_ok: bool) -> bytes:
    """PS3.8 Table 9-11: 16 ISO 646 characters, space padded; all spaces "shall not be used".
    PS3.5 Table 6.2-1 (AE) also excludes backslash and control characters."""
    if len(value) > 16 or "\\" in value or not value.isascii() or not value.isprintable():
        invalid(f"{what} {value!r} is not an AE title of at most 16 ISO 646 characters")
    if not blank_ok and not value.strip(" "):
        invalid(f"{what} is empty")
    return value.encode("ascii").ljust(16, b" ")


def _encode_associate(pdu: AAssociateRQ | AAssociateAC) -> bytes:
    version = check_range(pdu.protocol_version, 1, 0xFFFF, "protocol version")
    if not version & 1:
        invalid(f"protocol version {version:#06x} does not have bit 0 (version 1) set")
    is_rq = isinstance(pdu, AAssociateRQ)
    if not pdu.contexts or len(pdu.contexts) > MAX_CONTEXTS:
        invalid(f"{len(pdu.contexts)} presentation contexts; 1 to {MAX_CONTEXTS} are allowed")
    if len({context.id for context in pdu.contexts}) != len(pdu.contexts):
        invalid("presentation context IDs are not unique")
    if isinstance(pdu, AAssociateRQ):
        contexts = [encode_context_rq(context) for context in pdu.contexts]
    else:
        contexts = [encode_context_ac(context) for context in pdu.contexts]
    body = b"".join(
        [
            _ASSOCIATE_FIXED.pack(
                version,
                _ae_bytes(pdu.called_ae, "called AE title", blank_ok=not is_rq),
                _ae_bytes(pdu.calling_ae, "calling AE title", blank_ok=not is_rq),
            ),
            item(APPLICATION_CONTEXT, uid_bytes(pdu.application_context, "application context")),
            *contexts,
            encode_user_information(pdu.user_info),
        ]
    )
    return _HEADER.pack(A_ASSOCIATE_RQ if is_rq else A_ASSOCIATE_AC, len(body)) + body


# PS3.8 Table 9-21: the reasons each reject source may give.
_RJ_REASONS = {1: (1, 2, 3, 7), 2: (1, 2), 3: (1, 2)}


def _encode_rj(pdu: AAssociateRJ) -> bytes:
    check_range(pdu.result, 1, 2, "A-ASSOCIATE-RJ result")
    check_range(pdu.source, 1, 3, "A-ASSOCIATE-RJ source")
    if pdu.reason not in _RJ_REASONS[pdu.source]:
        invalid(f"A-ASSOCIATE-RJ reason {pdu.reason!r} is not defined for source {pdu.source}")
    return _FIXED4.pack(A_ASSOCIATE_RJ, 4, pdu.result, pdu.source, pdu.reason)


def _encode_abort(pdu: AAbort) -> bytes:
    if pdu.source == 0:
        reasons: tuple[int, ...] = (0,)  # "not significant ... sent with a value 00H"
    elif pdu.source == 2:
        reasons = (0, 1, 2, 4, 5, 6)
    else:
        invalid(f"A-ABORT source {pdu.source!r} is not 0 (service-user) or 2 (service-provider)")
    if pdu.reason not in reasons:
        invalid(f"A-ABORT reason {pdu.reason!r} is not defined for source {pdu.source}")
    return _FIXED4.pack(A_ABORT, 4, 0, pdu.source, pdu.reason)


def _encode_pdata_tf(pdu: PDataTF) -> bytes:
    if not pdu.pdvs:
        invalid("a P-DATA-TF needs at least one PDV")
    parts: list[bytes | memoryview] = [b""]
    total = 0
    for pdv in pdu.pdvs:
        check_context_id(pdv.context_id)
        parts.append(
            _PDV_HEADER.pack(len(pdv.data) + 2, pdv.context_id, pdv.is_command | pdv.is_last << 1)
        )
        parts.append(pdv.data)
        total += 6 + len(pdv.data)
    if total > 0xFFFFFFFF:
        invalid(f"P-DATA-TF body of {total} bytes does not fit a 4-byte PDU-length")
    parts[0] = _HEADER.pack(P_DATA_TF, total)
    return b"".join(parts)


def encode_pdata(
    context_id: int, is_command: bool, is_last: bool, data: bytes | memoryview
) -> bytes:
    """A P-DATA-TF carrying one PDV (PS3.8 Tables 9-22, 9-23; Annex E.2 control header:
    bit 0 set for a command fragment, bit 1 set for the last fragment)."""
    check_context_id(context_id)
    size = len(data)
    if size > 0xFFFFFFFF - 6:
        invalid(f"PDV of {size} bytes does not fit a 4-byte PDU-length")
    return (
        _PDATA_ONE.pack(P_DATA_TF, size + 6, size + 2, context_id, is_command | is_last << 1) + data
    )


def encode(pdu: PDU) -> bytes:
    """The whole PDU, 6-byte header included, exactly as PS3.8 §9.3 lays it out."""
    if isinstance(pdu, PDataTF):
        return _encode_pdata_tf(pdu)
    if isinstance(pdu, AAssociateRQ | AAssociateAC):
        return _encode_associate(pdu)
    if isinstance(pdu, AAssociateRJ):
        return _encode_rj(pdu)
    if isinstance(pdu, AReleaseRQ):
        return _RELEASE_RQ
    if isinstance(pdu, AReleaseRP):
        return _RELEASE_RP
    if isinstance(pdu, AAbort):
        return _encode_abort(pdu)
    raise TypeError(f"not a PDU: {pdu!r}")


# -- decoding --------------------------------------------------------------------------------


def parse_header_pure(header: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(PDU-type, PDU-length) from the first 6 bytes; the reserved byte is not tested.

    An unrecognized PDU-type raises at once (A-ABORT reason 1), so a reader need not fetch a body
    it would discard.
    """
    if len(header) < HEADER_LEN:
        raise PDUError(
            f"PDU header needs {HEADER_LEN} bytes, got {len(header)}",
            abort_reason=REASON_NOT_SPECIFIED,
            offset=0,
        )
    pdu_type, length = _HEADER.unpack_from(header)
    if pdu_type not in _NAMES:
        raise PDUError(
            f"unrecognized PDU-type {pdu_type:02X}H",
            abort_reason=UNRECOGNIZED_PDU,
            offset=0,
            pdu_type=pdu_type,
        )
    return pdu_type, length


def _ae(buf: memoryview, start: int) -> str:
    """PS3.8 §9.3.2: leading and trailing spaces are not significant."""
    return str(buf[start : start + 16], "latin-1").strip(" ")


def _decode_associate(buf: memoryview, pdu_type: int) -> AAssociateRQ | AAssociateAC:
    """The A-ASSOCIATE-RQ or -AC body: fixed fields then the application context, presentation
    context and user information items (PS3.8 Tables 9-11, 9-17)."""
    where = Where(_NAMES[pdu_type], pdu_type)
    end = len(buf)
    if end < _ASSOCIATE_FIXED.size:
        where.fail(
            f"body of {end} bytes is shorter than the {_ASSOCIATE_FIXED.size} fixed bytes",
            0,
            INVALID_PARAMETER,
        )
    is_rq = pdu_type == A_ASSOCIATE_RQ
    context_type = CONTEXT_RQ if is_rq else CONTEXT_AC
    application_context: str | None = None
    user_info: UserInformation | None = None
    rq_contexts: list[PresentationContextRQ] = []
    ac_contexts: list[PresentationContextAC] = []
    ids: set[int] = set()
    for item_type, start, stop in iter_items(buf, _ASSOCIATE_FIXED.size, end, where):
        if item_type == context_type:
            # Checked before decoding the item, so a flood of contexts costs nothing to refuse.
            if len(ids) == MAX_CONTEXTS:
                where.fail(
                    f"more than {MAX_CONTEXTS} presentation contexts",
                    start - 4,
                    INVALID_PARAMETER,
                    item_type,
                )
            if stop == start:
                where.fail(
                    "too short for its fixed fields", start - 4, INVALID_PARAMETER, item_type
                )
            context_id = buf[start]
            if not context_id & 1:
                where.fail(
                    f"presentation context ID {context_id} is not odd",
                    start,
                    INVALID_PARAMETER,
                    item_type,
                )
            if context_id in ids:
                where.fail(
                    f"presentation context ID {context_id} is repeated",
                    start,
                    INVALID_PARAMETER,
                    item_type,
                )
            ids.add(context_id)
            if is_rq:
                rq_contexts.append(decode_context_rq(buf, start, stop, where))
            else:
                ac_contexts.append(decode_context_ac(buf, start, stop, where))
        elif item_type == APPLICATION_CONTEXT:
            if application_context is not None:
                where.fail(
                    "a second application context item", start - 4, UNEXPECTED_PARAMETER, item_type
                )
            application_context = text(buf, start, stop)
        elif item_type == USER_INFORMATION:
            if user_info is not None:
                where.fail(
                    "a second user information item", start - 4, UNEXPECTED_PARAMETER, item_type
                )
            user_info = decode_user_information(buf, start, stop, where)
        elif item_type in KNOWN_ITEM_TYPES:
            where.fail("not expected in this PDU", start - 4, UNEXPECTED_PARAMETER, item_type)
        # PS3.8 §9.3.1: items of unrecognized types are ignored and skipped.
    if application_context is None or user_info is None or not ids:
        where.fail(
            "needs an application context, a presentation context and a user information item",
            _ASSOCIATE_FIXED.size,
            INVALID_PARAMETER,
        )
    (version,) = _U16.unpack_from(buf, 0)
    called, calling = _ae(buf, 4), _ae(buf, 20)
    if is_rq:
        return AAssociateRQ(called, calling, rq_contexts, user_info, application_context, version)
    return AAssociateAC(called, calling, ac_contexts, user_info, application_context, version)


def _fixed4(buf: memoryview, pdu_type: int) -> memoryview:
    """The 4-byte body of A-ASSOCIATE-RJ, A-RELEASE-RQ/RP and A-ABORT (PDU-length 00000004H)."""
    if len(buf) != 4:
        at_pdu_length = 2 - HEADER_LEN  # Where.fail takes body positions
        Where(_NAMES[pdu_type], pdu_type).fail(
            f"PDU-length is {len(buf)}, not the fixed 4", at_pdu_length, INVALID_PARAMETER
        )
    return buf


def _decode_rj(buf: memoryview) -> AAssociateRJ:
    body = _fixed4(buf, A_ASSOCIATE_RJ)
    return AAssociateRJ(body[1], body[2], body[3])


def _decode_release_rq(buf: memoryview) -> AReleaseRQ:
    _fixed4(buf, A_RELEASE_RQ)
    return AReleaseRQ()


def _decode_release_rp(buf: memoryview) -> AReleaseRP:
    _fixed4(buf, A_RELEASE_RP)
    return AReleaseRP()


def _decode_abort(buf: memoryview) -> AAbort:
    body = _fixed4(buf, A_ABORT)
    return AAbort(body[2], body[3])


def pdvs_pure(buf: memoryview) -> list[PDV]:
    """PS3.8 §9.3.5: the PDV items of a P-DATA-TF body, one or more; each PDV's data is a
    slice of ``buf``, not a copy."""
    if not buf:
        Where("P-DATA-TF", P_DATA_TF).fail("no PDV items", 0, INVALID_PARAMETER)
    pdvs: list[PDV] = []
    unpack = _PDV_HEADER.unpack_from
    pos, end = 0, len(buf)
    while pos < end:
        if end - pos < 6:
            Where("P-DATA-TF", P_DATA_TF).fail(
                f"{end - pos} byte(s) left, too few for a PDV", pos, INVALID_PARAMETER
            )
        length, context_id, control = unpack(buf, pos)
        stop = pos + 4 + length
        if length < 2 or stop > end:
            Where("P-DATA-TF", P_DATA_TF).fail(
                f"PDV item-length {length} is not 2..{end - pos - 4}", pos, INVALID_PARAMETER
            )
        # Annex E.2: bit 0 command/data, bit 1 last fragment; bits 2-7 are never checked.
        pdvs.append(PDV(context_id, bool(control & 1), bool(control & 2), buf[pos + 6 : stop]))
        pos = stop
    return pdvs


# The compiled twin (dicomkit/net/_pdu.pyx, docs/design/native.md): the same functions as
# parse_header_pure and pdvs_pure, byte for byte and error for error.
_compiled: Any = native.load("dicomkit.net._pdu")

parse_header: Callable[[bytes | bytearray | memoryview], tuple[int, int]] = (
    parse_header_pure if _compiled is None else _compiled.parse_header
)
"""(PDU-type, PDU-length) from the first 6 bytes (:func:`parse_header_pure`, compiled when
the core is built)."""


def _decode_pdata_tf(buf: memoryview) -> PDataTF:
    if _compiled is not None:
        return PDataTF(_compiled.pdvs(buf, PDV))
    return PDataTF(pdvs_pure(buf))


_DECODERS: dict[int, Callable[[memoryview], PDU]] = {
    A_ASSOCIATE_RQ: lambda buf: _decode_associate(buf, A_ASSOCIATE_RQ),
    A_ASSOCIATE_AC: lambda buf: _decode_associate(buf, A_ASSOCIATE_AC),
    A_ASSOCIATE_RJ: _decode_rj,
    P_DATA_TF: _decode_pdata_tf,
    A_RELEASE_RQ: _decode_release_rq,
    A_RELEASE_RP: _decode_release_rp,
    A_ABORT: _decode_abort,
}


def decode(pdu_type: int, body: bytes | bytearray | memoryview) -> PDU:
    """The PDU of type ``pdu_type`` whose body (the bytes after the 6-byte header) is ``body``."""
    decoder = _DECODERS.get(pdu_type)
    if decoder is None:
        raise PDUError(
            f"unrecognized PDU-type {pdu_type:02X}H",
            abort_reason=UNRECOGNIZED_PDU,
            offset=0,
            pdu_type=pdu_type,
        )
    return decoder(memoryview(body))


def decode_pdu(data: bytes | bytearray | memoryview) -> PDU:
    """A whole PDU, header included; its PDU-length must match the bytes given."""
    pdu_type, length = parse_header(data)
    if len(data) - HEADER_LEN != length:
        raise PDUError(
            f"{_NAMES[pdu_type]}: PDU-length is {length} but {len(data) - HEADER_LEN} bytes follow the header",
            abort_reason=INVALID_PARAMETER,
            offset=2,
            pdu_type=pdu_type,
        )
    return decode(pdu_type, memoryview(data)[HEADER_LEN:])
