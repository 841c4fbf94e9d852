"""PS3.8 §9.3 items and PS3.7 Annex D sub-items of the A-ASSOCIATE PDUs, bytes <-> objects.

Every item starts with a 4-byte header: item-type, a reserved byte and a 2-byte big-endian
item-length (PS3.8 §9.3.1, Tables 9-12 … 9-20, PS3.7 Tables D.3-1 … D.3-15).

Decoding is strict about structure (every length is checked against the bytes that are there
before it is used) and lenient about values: an unsupported UID or an out-of-range role byte
is left for the association layer to accept or reject. Encoding is strict about both.
Positions passed around here are offsets into the PDU body; errors report them as offsets
from the first byte of the PDU (body offset + 6).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn

from dicomkit.errors import InvalidDicomError

__all__ = [
    "CommonExtendedNegotiation",
    "ExtendedNegotiation",
    "PDUError",
    "PresentationContextAC",
    "PresentationContextRQ",
    "RoleSelection",
    "UserIdentityAC",
    "UserIdentityRQ",
    "UserInformation",
]

#: PS3.8 Table 9-26 A-ABORT reasons (source 2, service-provider).
REASON_NOT_SPECIFIED = 0
UNRECOGNIZED_PDU = 1
UNEXPECTED_PDU = 2
UNRECOGNIZED_PARAMETER = 4
UNEXPECTED_PARAMETER = 5
INVALID_PARAMETER = 6

HEADER_LEN = 6  # PDU-type, reserved, 4-byte PDU-length

APPLICATION_CONTEXT = 0x10
CONTEXT_RQ = 0x20
CONTEXT_AC = 0x21
ABSTRACT_SYNTAX = 0x30
TRANSFER_SYNTAX = 0x40
USER_INFORMATION = 0x50
MAX_LENGTH = 0x51
IMPLEMENTATION_UID = 0x52
ASYNC_OPS = 0x53
ROLE_SELECTION = 0x54
IMPLEMENTATION_VERSION = 0x55
EXTENDED_NEGOTIATION = 0x56
COMMON_EXTENDED_NEGOTIATION = 0x57
USER_IDENTITY_RQ = 0x58
USER_IDENTITY_AC = 0x59
#: Item types PS3.8/PS3.7 define; any other type is "unrecognized" and skipped (PS3.8 §9.3.1).
KNOWN_ITEM_TYPES = frozenset({0x10, 0x20, 0x21, 0x30, 0x40, *range(0x50, 0x5A)})

_ITEM_HEADER = struct.Struct(">BxH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U16_PAIR = struct.Struct(">HH")
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_G0 = re.compile(r"[\x20-\x7e]*")  # ISO 646 basic G0 graphic characters and space


class PDUError(InvalidDicomError):
    """A PDU that cannot be decoded or encoded; ``abort_reason`` is the PS3.8 Table 9-26 reason
    (0 not specified, 1 unrecognized PDU, 2 unexpected PDU, 4 unrecognized PDU parameter,
    5 unexpected PDU parameter, 6 invalid PDU parameter value) to send in the A-ABORT."""

    def __init__(
        self,
        message: str,
        *,
        abort_reason: int = REASON_NOT_SPECIFIED,
        offset: int | None = None,
        pdu_type: int | None = None,
        item_type: int | None = None,
    ) -> None:
        self.abort_reason = abort_reason
        self.pdu_type = pdu_type
        self.item_type = item_type
        super().__init__(message, offset=offset)


# -- the objects -----------------------------------------------------------------------------


@dataclass(slots=True)
class PresentationContextRQ:
    """Item 20H (PS3.8 Table 9-13): one abstract syntax offered with its transfer syntaxes."""

    id: int
    abstract_syntax: str
    transfer_syntaxes: list[str]


@dataclass(slots=True)
class PresentationContextAC:
    """Item 21H (PS3.8 Table 9-18). ``result``: 0 acceptance, 1 user-rejection, 2 no-reason,
    3 abstract-syntax-not-supported, 4 transfer-syntaxes-not-supported; ``transfer_syntax``
    is significant only when accepted (it may be "" otherwise)."""

    id: int
    result: int
    transfer_syntax: str


@dataclass(slots=True)
class RoleSelection:
    """Sub-item 54H (PS3.7 Tables D.3-9, D.3-10)."""

    sop_class_uid: str
    scu_role: bool
    scp_role: bool


@dataclass(slots=True)
class ExtendedNegotiation:
    """Sub-item 56H (PS3.7 Table D.3-11); ``info`` is the service-class-application-information."""

    sop_class_uid: str
    info: bytes


@dataclass(slots=True)
class CommonExtendedNegotiation:
    """Sub-item 57H, version 0 (PS3.7 Tables D.3-12, D.3-13)."""

    sop_class_uid: str
    service_class_uid: str
    related_general_sop_classes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class UserIdentityRQ:
    """Sub-item 58H (PS3.7 Table D.3-14). ``type``: 1 username, 2 username and passcode,
    3 Kerberos service ticket, 4 SAML assertion, 5 JSON Web Token; ``secondary`` (the passcode)
    is used by type 2 only."""

    type: int
    primary: bytes
    secondary: bytes = b""
    positive_response_requested: bool = False


@dataclass(slots=True)
class UserIdentityAC:
    """Sub-item 59H (PS3.7 Table D.3-15)."""

    server_response: bytes


@dataclass(slots=True)
class UserInformation:
    """Item 50H (PS3.8 Table 9-16) and its sub-items. ``unknown`` keeps sub-items of
    unrecognized types as (item-type, value) so they can be logged or relayed."""

    max_length: int | None = None
    implementation_class_uid: str = ""
    implementation_version_name: str | None = None
    async_ops: tuple[int, int] | None = None
    roles: list[RoleSelection] = field(default_factory=list)
    extended: list[ExtendedNegotiation] = field(default_factory=list)
    common_extended: list[CommonExtendedNegotiation] = field(default_factory=list)
    user_identity: UserIdentityRQ | UserIdentityAC | None = None
    unknown: list[tuple[int, bytes]] = field(default_factory=list)


# -- encoding --------------------------------------------------------------------------------


def invalid(message: str) -> NoReturn:
    """Raise the error for a value that cannot be encoded."""
    raise PDUError(message, abort_reason=INVALID_PARAMETER)


def check_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        invalid(f"{what} {value!r} is not in {low}..{high}")
    return value


def check_context_id(value: int) -> int:
    """PS3.8 §9.3.2.2: presentation-context-IDs are odd integers 1-255."""
    if not (0 < value < 256 and value & 1):
        invalid(f"presentation context ID {value!r} is not an odd number in 1..255")
    return value


def uid_bytes(value: str, what: str) -> bytes:
    """PS3.8 Annex F: a UID is sent as its digits and dots, with no padding, at most 64."""
    if len(value) > 64 or not _UID.fullmatch(value):
        invalid(f"{what} {value!r} is not a UID (digits and dots, at most 64 characters)")
    return value.encode("ascii")


def g0_bytes(value: str, what: str, low: int, high: int) -> bytes:
    """A string of ISO 646 basic G0 characters of low..high characters."""
    if not low <= len(value) <= high or not _G0.fullmatch(value):
        invalid(f"{what} {value!r} must be {low} to {high} ISO 646 characters")
    return value.encode("ascii")


def item(item_type: int, value: bytes) -> bytes:
    """One item: type, reserved 00H, 2-byte length, value."""
    if len(value) > 0xFFFF:
        invalid(f"item {item_type:02X}H value is {len(value)} bytes, more than 65535")
    return _ITEM_HEADER.pack(item_type, len(value)) + value


def _with_length(value: bytes) -> bytes:
    """A 2-byte length followed by the value (the UID and user identity fields of PS3.7 D.3)."""
    if len(value) > 0xFFFF:
        invalid(f"field of {len(value)} bytes is longer than 65535")
    return _U16.pack(len(value)) + value


def encode_context_rq(context: PresentationContextRQ) -> bytes:
    """Item 20H with its 30H and 40H sub-items (PS3.8 Tables 9-13 … 9-15)."""
    if not context.transfer_syntaxes:
        invalid(f"presentation context {context.id} offers no transfer syntax")
    value = b"".join(
        [
            bytes((check_context_id(context.id), 0, 0, 0)),
            item(ABSTRACT_SYNTAX, uid_bytes(context.abstract_syntax, "abstract syntax")),
            *(
                item(TRANSFER_SYNTAX, uid_bytes(ts, "transfer syntax"))
                for ts in context.transfer_syntaxes
            ),
        ]
    )
    return item(CONTEXT_RQ, value)


def encode_context_ac(context: PresentationContextAC) -> bytes:
    """Item 21H (PS3.8 Table 9-18); a rejected context still carries a 40H sub-item, which may
    be empty since its value "shall not be tested"."""
    check_range(context.result, 0, 4, "presentation context result")
    if context.result == 0 or context.transfer_syntax:
        syntax = uid_bytes(context.transfer_syntax, "transfer syntax")
    else:
        syntax = b""
    fixed = bytes((check_context_id(context.id), 0, context.result, 0))
    return item(CONTEXT_AC, fixed + item(TRANSFER_SYNTAX, syntax))


def _encode_user_identity(identity: UserIdentityRQ | UserIdentityAC) -> tuple[int, bytes]:
    if isinstance(identity, UserIdentityAC):
        return USER_IDENTITY_AC, _with_length(identity.server_response)
    check_range(identity.type, 1, 5, "user identity type")
    if identity.secondary and identity.type != 2:
        invalid(f"user identity type {identity.type} has no secondary field (type 2 only)")
    fixed = bytes((identity.type, 1 if identity.positive_response_requested else 0))
    return USER_IDENTITY_RQ, fixed + _with_length(identity.primary) + _with_length(
        identity.secondary
    )


def encode_user_information(info: UserInformation) -> bytes:
    """Item 50H. Sub-items are sent in increasing item-type order (PS3.8 §9.3.1)."""
    subitems: list[tuple[int, bytes]] = []
    if info.max_length is not None:
        subitems.append(
            (MAX_LENGTH, _U32.pack(check_range(info.max_length, 0, 0xFFFFFFFF, "maximum length")))
        )
    subitems.append(
        (IMPLEMENTATION_UID, uid_bytes(info.implementation_class_uid, "implementation class UID"))
    )
    if info.async_ops is not None:
        invoked, performed = info.async_ops
        check_range(invoked, 0, 0xFFFF, "maximum number of operations invoked")
        check_range(performed, 0, 0xFFFF, "maximum number of operations performed")
        subitems.append((ASYNC_OPS, _U16_PAIR.pack(invoked, performed)))
    for role in info.roles:
        uid = _with_length(uid_bytes(role.sop_class_uid, "role selection SOP class"))
        subitems.append((ROLE_SELECTION, uid + bytes((int(role.scu_role), int(role.scp_role)))))
    if info.implementation_version_name is not None:
        name = g0_bytes(info.implementation_version_name, "implementation version name", 1, 16)
        subitems.append((IMPLEMENTATION_VERSION, name))
    for ext in info.extended:
        uid = _with_length(uid_bytes(ext.sop_class_uid, "extended negotiation SOP class"))
        subitems.append((EXTENDED_NEGOTIATION, uid + bytes(ext.info)))
    for common in info.common_extended:
        related = b"".join(
            _with_length(uid_bytes(uid, "related general SOP class"))
            for uid in common.related_general_sop_classes
        )
        value = b"".join(
            [
                _with_length(
                    uid_bytes(common.sop_class_uid, "common extended negotiation SOP class")
                ),
                _with_length(uid_bytes(common.service_class_uid, "service class")),
                _with_length(related),
            ]
        )
        # The second header byte is the sub-item-version, 0 for this layout (Table D.3-12).
        subitems.append((COMMON_EXTENDED_NEGOTIATION, value))
    if info.user_identity is not None:
        subitems.append(_encode_user_identity(info.user_identity))
    for item_type, value in info.unknown:
        if item_type in KNOWN_ITEM_TYPES or not 0 <= item_type <= 0xFF:
            invalid(f"user information 'unknown' sub-item type {item_type!r} is not unknown")
        subitems.append((item_type, bytes(value)))
    subitems.sort(key=lambda sub: sub[0])  # stable: repeated sub-items keep their order
    return item(USER_INFORMATION, b"".join(item(t, v) for t, v in subitems))


# -- decoding --------------------------------------------------------------------------------


@dataclass(slots=True)
class Where:
    """What is being decoded, for error messages: the PDU's name and type."""

    pdu_name: str
    pdu_type: int

    def fail(self, message: str, pos: int, reason: int, item_type: int | None = None) -> NoReturn:
        where = self.pdu_name if item_type is None else f"{self.pdu_name} item {item_type:02X}H"
        raise PDUError(
            f"{where}: {message}",
            abort_reason=reason,
            offset=pos + HEADER_LEN,
            pdu_type=self.pdu_type,
            item_type=item_type,
        )


def iter_items(
    buf: memoryview, start: int, end: int, where: Where
) -> Iterator[tuple[int, int, int]]:
    """Yield (item-type, value start, value end) for each item in buf[start:end]."""
    pos = start
    while pos < end:
        if end - pos < 4:
            where.fail(
                f"{end - pos} byte(s) left, too few for an item header", pos, INVALID_PARAMETER
            )
        item_type, length = _ITEM_HEADER.unpack_from(buf, pos)
        value = pos + 4
        if length > end - value:
            where.fail(
                f"item-length {length} runs past the end of its container ({end - value} bytes left)",
                pos,
                INVALID_PARAMETER,
                item_type,
            )
        yield item_type, value, value + length
        pos = value + length


def text(buf: memoryview, start: int, end: int) -> str:
    """A UID or name, with any trailing NUL or space padding stripped; latin-1 so decoding never
    fails (a non-ASCII UID simply matches nothing)."""
    return str(buf[start:end], "latin-1").rstrip("\0 ")


def _length_prefixed(buf: memoryview, pos: int, end: int, where: Where, item_type: int) -> int:
    """Check the 2-byte length at pos and the field after it fit before end; return field end."""
    if end - pos < 2:
        where.fail("too short for a 2-byte field length", pos, INVALID_PARAMETER, item_type)
    (length,) = _U16.unpack_from(buf, pos)
    if length > end - pos - 2:
        where.fail(
            f"field length {length} runs past the end of the sub-item",
            pos,
            INVALID_PARAMETER,
            item_type,
        )
    return pos + 2 + length


def _unexpected(where: Where, item_type: int, pos: int, inside: str) -> NoReturn:
    where.fail(f"not expected inside {inside}", pos - 4, UNEXPECTED_PARAMETER, item_type)


def decode_context_rq(buf: memoryview, start: int, end: int, where: Where) -> PresentationContextRQ:
    """Item 20H value: ID, 3 reserved bytes, one 30H and one or more 40H sub-items."""
    if end - start < 4:
        where.fail("too short for its fixed fields", start - 4, INVALID_PARAMETER, CONTEXT_RQ)
    abstract: str | None = None
    syntaxes: list[str] = []
    for item_type, vstart, vend in iter_items(buf, start + 4, end, where):
        if item_type == ABSTRACT_SYNTAX:
            if abstract is not None:
                where.fail(
                    "a second abstract syntax sub-item", vstart - 4, UNEXPECTED_PARAMETER, item_type
                )
            abstract = text(buf, vstart, vend)
        elif item_type == TRANSFER_SYNTAX:
            syntaxes.append(text(buf, vstart, vend))
        elif item_type in KNOWN_ITEM_TYPES:
            _unexpected(where, item_type, vstart, "a presentation context")
    if abstract is None or not syntaxes:
        where.fail(
            "needs one abstract syntax and at least one transfer syntax sub-item",
            start - 4,
            INVALID_PARAMETER,
            CONTEXT_RQ,
        )
    return PresentationContextRQ(buf[start], abstract, syntaxes)


def decode_context_ac(buf: memoryview, start: int, end: int, where: Where) -> PresentationContextAC:
    """Item 21H value: ID, reserved, result/reason, reserved, one 40H sub-item."""
    if end - start < 4:
        where.fail("too short for its fixed fields", start - 4, INVALID_PARAMETER, CONTEXT_AC)
    result = buf[start + 2]
    if result != 0:
        # Table 9-18: when rejected the sub-item "shall not be tested"; read it only if it's sound.
        pos = start + 4
        syntax = ""
        if end - pos >= 4 and buf[pos] == TRANSFER_SYNTAX:
            (length,) = _U16.unpack_from(buf, pos + 2)
            if length <= end - pos - 4:
                syntax = text(buf, pos + 4, pos + 4 + length)
        return PresentationContextAC(buf[start], result, syntax)
    found: str | None = None
    for item_type, vstart, vend in iter_items(buf, start + 4, end, where):
        if item_type == TRANSFER_SYNTAX:
            if found is not None:
                where.fail(
                    "a second transfer syntax sub-item", vstart - 4, UNEXPECTED_PARAMETER, item_type
                )
            found = text(buf, vstart, vend)
        elif item_type in KNOWN_ITEM_TYPES:
            _unexpected(where, item_type, vstart, "a presentation context")
    if found is None:
        where.fail(
            "accepted context has no transfer syntax sub-item",
            start - 4,
            INVALID_PARAMETER,
            CONTEXT_AC,
        )
    return PresentationContextAC(buf[start], result, found)


def _decode_common_extended(
    buf: memoryview, start: int, end: int, where: Where
) -> CommonExtendedNegotiation:
    t = COMMON_EXTENDED_NEGOTIATION
    sop_end = _length_prefixed(buf, start, end, where, t)
    service_end = _length_prefixed(buf, sop_end, end, where, t)
    related_end = _length_prefixed(buf, service_end, end, where, t)
    related: list[str] = []
    pos = service_end + 2
    while pos < related_end:
        uid_end = _length_prefixed(buf, pos, related_end, where, t)
        related.append(text(buf, pos + 2, uid_end))
        pos = uid_end
    # Bytes after related_end are the "reserved for additional fields" of later versions.
    return CommonExtendedNegotiation(
        text(buf, start + 2, sop_end), text(buf, sop_end + 2, service_end), related
    )


def _decode_user_identity_rq(buf: memoryview, start: int, end: int, where: Where) -> UserIdentityRQ:
    t = USER_IDENTITY_RQ
    if end - start < 2:
        where.fail("too short for its fixed fields", start - 4, INVALID_PARAMETER, t)
    primary_end = _length_prefixed(buf, start + 2, end, where, t)
    secondary_end = _length_prefixed(buf, primary_end, end, where, t)
    if secondary_end != end:
        where.fail(
            f"{end - secondary_end} byte(s) after the secondary field",
            secondary_end,
            INVALID_PARAMETER,
            t,
        )
    return UserIdentityRQ(
        buf[start],
        bytes(buf[start + 4 : primary_end]),
        bytes(buf[primary_end + 2 : secondary_end]),
        bool(buf[start + 1]),
    )


_SINGLE = {
    MAX_LENGTH: "maximum length",
    IMPLEMENTATION_UID: "implementation class UID",
    ASYNC_OPS: "asynchronous operations window",
    IMPLEMENTATION_VERSION: "implementation version name",
    USER_IDENTITY_RQ: "user identity",
    USER_IDENTITY_AC: "user identity",
}


def decode_user_information(buf: memoryview, start: int, end: int, where: Where) -> UserInformation:
    """Item 50H value: the user information sub-items (PS3.8 Annex D, PS3.7 Annex D.3.3).

    Sub-items of unrecognized types are kept in ``unknown``: PS3.8 D.2 note 2 has acceptors
    ignore them rather than reject the association.
    """
    info = UserInformation()
    seen: set[str] = set()
    for t, vstart, vend in iter_items(buf, start, end, where):
        length = vend - vstart
        name = _SINGLE.get(t)
        if name is not None:
            if name in seen:
                where.fail(f"a second {name} sub-item", vstart - 4, UNEXPECTED_PARAMETER, t)
            seen.add(name)
        if t == MAX_LENGTH or t == ASYNC_OPS:
            if length != 4:
                where.fail(f"item-length is {length}, not 4", vstart - 4, INVALID_PARAMETER, t)
            if t == MAX_LENGTH:
                (info.max_length,) = _U32.unpack_from(buf, vstart)
            else:
                info.async_ops = _U16_PAIR.unpack_from(buf, vstart)
        elif t == IMPLEMENTATION_UID:
            info.implementation_class_uid = text(buf, vstart, vend)
        elif t == IMPLEMENTATION_VERSION:
            info.implementation_version_name = text(buf, vstart, vend)
        elif t == ROLE_SELECTION:
            uid_end = _length_prefixed(buf, vstart, vend, where, t)
            if vend - uid_end != 2:
                where.fail(
                    "needs exactly the SCU-role and SCP-role bytes after the UID",
                    uid_end,
                    INVALID_PARAMETER,
                    t,
                )
            info.roles.append(
                RoleSelection(
                    text(buf, vstart + 2, uid_end), bool(buf[uid_end]), bool(buf[uid_end + 1])
                )
            )
        elif t == EXTENDED_NEGOTIATION:
            uid_end = _length_prefixed(buf, vstart, vend, where, t)
            info.extended.append(
                ExtendedNegotiation(text(buf, vstart + 2, uid_end), bytes(buf[uid_end:vend]))
            )
        elif t == COMMON_EXTENDED_NEGOTIATION:
            info.common_extended.append(_decode_common_extended(buf, vstart, vend, where))
        elif t == USER_IDENTITY_RQ:
            info.user_identity = _decode_user_identity_rq(buf, vstart, vend, where)
        elif t == USER_IDENTITY_AC:
            response_end = _length_prefixed(buf, vstart, vend, where, t)
            if response_end != vend:
                where.fail(
                    f"{vend - response_end} byte(s) after the server response",
                    response_end,
                    INVALID_PARAMETER,
                    t,
                )
            info.user_identity = UserIdentityAC(bytes(buf[vstart + 2 : vend]))
        elif t in KNOWN_ITEM_TYPES:  # an item or sub-item that belongs elsewhere (10H … 50H)
            _unexpected(where, t, vstart, "user information")
        else:
            info.unknown.append((t, bytes(buf[vstart:vend])))
    return info
