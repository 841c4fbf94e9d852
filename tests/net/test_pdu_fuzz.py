"""Untrusted bytes: mutated PDUs either decode or raise PDUError, never anything else."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from dicomkit.net import pdu as P

FUZZ = settings(derandomize=True, deadline=None, max_examples=300)

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _user_info(identity: P.UserIdentityRQ | P.UserIdentityAC | None) -> P.UserInformation:
    return P.UserInformation(
        max_length=16384,
        implementation_class_uid="1.2.826.0.1.3680043.10.1",
        implementation_version_name="DICOMKIT_010",
        async_ops=(2, 1),
        roles=[P.RoleSelection(CT_IMAGE, True, False)],
        extended=[P.ExtendedNegotiation(CT_IMAGE, b"\x01\x00\x01")],
        common_extended=[
            P.CommonExtendedNegotiation(CT_IMAGE, "1.2.840.10008.4.2", ["1.2.3", "1.2.4"])
        ],
        user_identity=identity,
        unknown=[(0x70, b"vendor")],
    )


SEEDS = [
    P.encode(
        P.AAssociateRQ(
            "STORESCP",
            "STORESCU",
            [
                P.PresentationContextRQ(1, CT_IMAGE, [EXPLICIT_LE, IMPLICIT_LE]),
                P.PresentationContextRQ(3, "1.2.840.10008.1.1", [IMPLICIT_LE]),
            ],
            _user_info(P.UserIdentityRQ(2, b"user", b"secret", True)),
        )
    ),
    P.encode(
        P.AAssociateAC(
            "STORESCP",
            "STORESCU",
            [P.PresentationContextAC(1, 0, EXPLICIT_LE), P.PresentationContextAC(3, 3, "")],
            _user_info(P.UserIdentityAC(b"ticket")),
        )
    ),
    P.encode(P.AAssociateRJ(1, 1, 3)),
    P.encode(
        P.PDataTF([P.PDV(1, True, True, b"\x00" * 20), P.PDV(1, False, False, b"\x01\x02" * 9)])
    ),
    P.encode(P.AReleaseRQ()),
    P.encode(P.AReleaseRP()),
    P.encode(P.AAbort(2, 4)),
]


def length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the PDU-length and every item/sub-item length field in a seed PDU."""
    fields = [(2, 4)]
    if data[0] == 0x04:
        pos = 6
        while pos < len(data):
            fields.append((pos, 4))
            pos += 4 + struct.unpack_from(">I", data, pos)[0]
        return fields
    if data[0] not in (0x01, 0x02):
        return fields

    def walk(pos: int, end: int) -> None:
        while pos < end:
            item_type, length = data[pos], struct.unpack_from(">H", data, pos + 2)[0]
            fields.append((pos + 2, 2))
            if item_type in (0x20, 0x21):
                walk(pos + 8, pos + 4 + length)
            elif item_type == 0x50:
                walk(pos + 4, pos + 4 + length)
            elif item_type in (0x54, 0x56, 0x57, 0x58, 0x59):
                fields.append((pos + 4, 2))  # the first 2-byte field length inside the sub-item
            pos += 4 + length

    walk(74, len(data))
    return fields


@st.composite
def mutated_pdus(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed)
    fields = length_fields(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "length", "length", "truncate", "insert", "delete"]))
        if kind == "length":
            offset, size = draw(st.sampled_from(fields))
            if offset + size > len(data):
                continue
            old = int.from_bytes(data[offset : offset + size], "big")
            top = 256**size - 1
            value = draw(
                st.one_of(
                    st.integers(0, 8),
                    st.integers(max(0, old - 8), min(old + 8, top)),
                    st.integers(0, top),
                )
            )
            data[offset : offset + size] = value.to_bytes(size, "big")
        elif kind == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            at = draw(st.integers(0, len(data) - 1))
            del data[at : at + draw(st.integers(1, 8))]
    if len(data) >= 6 and draw(st.booleans()):
        data[2:6] = struct.pack(
            ">I", len(data) - 6
        )  # make the PDU-length agree, to reach the items
    return bytes(data)


def check_decode(decode_attempt: object) -> None:
    """Decoding raises only PDUError; whatever decodes re-encodes (or raises PDUError) and,
    once re-encoded, decodes back to the same object."""
    assert callable(decode_attempt)
    try:
        pdu = decode_attempt()
    except P.PDUError:
        return
    try:
        again = P.encode(pdu)
    except P.PDUError:
        return
    if isinstance(pdu, P.AAssociateRQ | P.AAssociateAC):
        # Encoding sends sub-items in increasing item-type order (PS3.8 §9.3.1).
        pdu.user_info.unknown.sort(key=lambda sub: sub[0])
    assert P.decode_pdu(again) == pdu


@FUZZ
@given(mutated_pdus())
def test_mutated_pdus_decode_or_raise_pdu_error(data: bytes) -> None:
    check_decode(lambda: P.decode_pdu(data))
    if data:
        # The body on its own, as a reader that trusted a wrong PDU-length would pass it.
        check_decode(lambda: P.decode(data[0], data[6:]))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([1, 2, 3, 4, 5, 6, 7]))
def test_random_bodies_decode_or_raise_pdu_error(body: bytes, pdu_type: int) -> None:
    check_decode(lambda: P.decode(pdu_type, body))


UIDS = st.lists(st.integers(0, 99999), min_size=2, max_size=8).map(
    lambda parts: ".".join(map(str, parts))
)
AE_TITLES = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=16)
IDENTITIES = st.one_of(
    st.none(),
    st.builds(P.UserIdentityAC, st.binary(max_size=40)),
    st.builds(
        P.UserIdentityRQ,
        st.sampled_from([1, 3, 4, 5]),
        st.binary(max_size=40),
        st.just(b""),
        st.booleans(),
    ),
    st.builds(
        P.UserIdentityRQ, st.just(2), st.binary(max_size=40), st.binary(max_size=40), st.booleans()
    ),
)
USER_INFO = st.builds(
    P.UserInformation,
    max_length=st.none() | st.integers(0, 2**32 - 1),
    implementation_class_uid=UIDS,
    implementation_version_name=st.none() | st.text("ABCXYZ_0123456789.", min_size=1, max_size=16),
    async_ops=st.none() | st.tuples(st.integers(0, 65535), st.integers(0, 65535)),
    roles=st.lists(st.builds(P.RoleSelection, UIDS, st.booleans(), st.booleans()), max_size=3),
    extended=st.lists(st.builds(P.ExtendedNegotiation, UIDS, st.binary(max_size=20)), max_size=3),
    common_extended=st.lists(
        st.builds(P.CommonExtendedNegotiation, UIDS, UIDS, st.lists(UIDS, max_size=3)), max_size=2
    ),
    user_identity=IDENTITIES,
    unknown=st.lists(st.tuples(st.integers(0x5A, 0xFF), st.binary(max_size=10)), max_size=2).map(
        lambda items: sorted(items, key=lambda sub: sub[0])
    ),
)


@settings(derandomize=True, deadline=None, max_examples=100)  # large objects; 100 is plenty
@given(
    AE_TITLES,
    AE_TITLES,
    st.lists(st.tuples(UIDS, st.lists(UIDS, min_size=1, max_size=3)), min_size=1, max_size=5),
    USER_INFO,
)
def test_generated_a_associate_rq_round_trips(
    called: str, calling: str, offered: list[tuple[str, list[str]]], user_info: P.UserInformation
) -> None:
    contexts = [
        P.PresentationContextRQ(2 * i + 1, abstract, syntaxes)
        for i, (abstract, syntaxes) in enumerate(offered)
    ]
    rq = P.AAssociateRQ(called, calling, contexts, user_info)
    assert P.decode_pdu(P.encode(rq)) == rq
