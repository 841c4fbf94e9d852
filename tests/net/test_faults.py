"""Faults from the network: malformed, oversized, stalled and abandoned input sent over a raw
socket to dicomkit's Server, which must answer as PS3.8 §9 says (A-ABORT, A-ASSOCIATE-RJ,
ARTIM and network timeouts), leave nothing half-written behind, and go on serving others.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import dicomkit
from dicomkit.net import pdu as P
from dicomkit.net.association import AssociationRejected, Timeouts
from dicomkit.net.client import build_request, connect
from dicomkit.net.dimse import DATA_SET_PRESENT, CommandField, command, encode_command
from dicomkit.net.storage import data_set_offset
from dicomkit.net.uids import APPLICATION_CONTEXT, EXPLICIT_VR_LE, VERIFICATION
from dicomkit.services.storage import StorageHandler
from tests.support.datasets import pydicom_file
from tests.support.dimse import HOST, ServerThread

CT_STORAGE = dicomkit.uid.uid_for_keyword("CTImageStorage")
FAST = Timeouts(artim=1, dimse=2, network=2)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "in"


@pytest.fixture
def server(out: Path) -> Iterator[ServerThread]:
    with ServerThread(handler=StorageHandler(str(out), fsync=False), ae_title="DKSCP",
                      timeouts=FAST, accept_calling_aets=["RAW", "DICOMKIT"]) as running:
        yield running


def raw_socket(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.settimeout(5)
    return sock


def receive_pdu(sock: socket.socket) -> tuple[int, bytes] | None:
    """(type, body) of the next PDU, or None when the peer closed the connection."""
    header = _receive_exactly(sock, 6)
    if header is None:
        return None
    pdu_type, length = struct.unpack(">BxL", header)
    body = _receive_exactly(sock, length)
    return None if body is None else (pdu_type, body)


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def associate(sock: socket.socket, abstract: str = CT_STORAGE) -> P.AAssociateAC:
    sock.sendall(P.encode(build_request("RAW", "DKSCP", [(abstract, [EXPLICIT_VR_LE])])))
    reply = receive_pdu(sock)
    assert reply is not None and reply[0] == 0x02, reply
    ac = P.decode(reply[0], reply[1])
    assert isinstance(ac, P.AAssociateAC)
    return ac


def echo_works(port: int) -> bool:
    async def run() -> int:
        async with connect(HOST, port, called_aet="DKSCP",
                           contexts=[(VERIFICATION, [EXPLICIT_VR_LE])]) as client:
            return await client.echo()

    return asyncio.run(run()) == 0


def item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BxH", item_type, len(value)) + value


def associate_rq_bytes(called: str, calling: str, contexts: list[tuple[int, str, str]]) -> bytes:
    """An A-ASSOCIATE-RQ laid out by hand (PS3.8 Table 9-11), so it can break the rules."""
    body = struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode()
    body += b"\0" * 32 + item(0x10, APPLICATION_CONTEXT.encode())
    for context_id, abstract, transfer_syntax in contexts:
        sub = item(0x30, abstract.encode()) + item(0x40, transfer_syntax.encode())
        body += item(0x20, struct.pack(">B3x", context_id) + sub)
    body += item(0x50, item(0x51, struct.pack(">L", 16384)) + item(0x52, b"1.2.3.4"))
    return struct.pack(">BxL", 0x01, len(body)) + body


def abort_reason(reply: tuple[int, bytes] | None) -> tuple[int, int] | None:
    """(source, reason) of an A-ABORT (PS3.8 Table 9-26), None if the connection closed."""
    if reply is None:
        return None
    assert reply[0] == 0x07, f"expected an A-ABORT, got PDU type {reply[0]:02X}H"
    return reply[1][2], reply[1][3]


# -- malformed PDUs ----------------------------------------------------------------------------
def test_unknown_pdu_type_before_association_is_aborted(server: ServerThread) -> None:
    with raw_socket(server.port) as sock:
        sock.sendall(struct.pack(">BxL", 0x09, 4) + b"\0\0\0\0")
        reply = receive_pdu(sock)
    assert abort_reason(reply) in (None, (2, 1))  # service-provider, unrecognized PDU
    assert echo_works(server.port)


def test_unknown_pdu_type_during_association_is_aborted(server: ServerThread) -> None:
    with raw_socket(server.port) as sock:
        associate(sock)
        sock.sendall(struct.pack(">BxL", 0x0A, 2) + b"\0\0")
        reply = receive_pdu(sock)
        assert abort_reason(reply) == (2, 1)
        assert receive_pdu(sock) is None  # and the connection is closed
    assert echo_works(server.port)


def test_too_many_presentation_contexts_are_refused(server: ServerThread) -> None:
    """PS3.8 §9.3.2.2: at most 128 contexts (odd ids 1-255); 200 are refused without
    building them all, and the server keeps serving."""
    contexts = [((2 * n + 1) % 256, CT_STORAGE, EXPLICIT_VR_LE) for n in range(200)]
    started = time.monotonic()
    with raw_socket(server.port) as sock:
        sock.sendall(associate_rq_bytes("DKSCP", "RAW", contexts))
        reply = receive_pdu(sock)
    assert reply is None or reply[0] in (0x03, 0x07)  # rejected or aborted, never accepted
    assert time.monotonic() - started < 2
    assert echo_works(server.port)


def test_truncated_item_inside_associate_rq_is_aborted(server: ServerThread) -> None:
    good = associate_rq_bytes("DKSCP", "RAW", [(1, CT_STORAGE, EXPLICIT_VR_LE)])
    body = bytearray(good[6:])
    body[68 + 2 : 68 + 4] = struct.pack(">H", 0xFFF0)  # application context item length
    with raw_socket(server.port) as sock:
        sock.sendall(struct.pack(">BxL", 0x01, len(body)) + bytes(body))
        reply = receive_pdu(sock)
    assert reply is None or reply[0] == 0x07
    assert echo_works(server.port)


# -- stalled peers -----------------------------------------------------------------------------
def test_half_an_associate_rq_then_silence_is_closed_by_artim(server: ServerThread) -> None:
    """PS3.8 §9.1.5: ARTIM (1 s here) bounds the wait for the whole A-ASSOCIATE-RQ."""
    request = associate_rq_bytes("DKSCP", "RAW", [(1, CT_STORAGE, EXPLICIT_VR_LE)])
    with raw_socket(server.port) as sock:
        sock.sendall(request[: len(request) // 2])
        started = time.monotonic()
        assert receive_pdu(sock) is None
        elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 4
    assert echo_works(server.port)


def test_half_a_pdata_then_silence_is_aborted_after_the_network_timeout(
        server: ServerThread) -> None:
    with raw_socket(server.port) as sock:
        associate(sock)
        started = time.monotonic()
        sock.sendall(struct.pack(">BxL", 0x04, 1000) + b"\0" * 10)
        reply = receive_pdu(sock)
        elapsed = time.monotonic() - started
        assert abort_reason(reply) in (None, (2, 0))
        if reply is not None:
            assert receive_pdu(sock) is None
    assert 1 < elapsed < 5  # the 2 s network timeout
    assert echo_works(server.port)


# -- abandoned transfers ---------------------------------------------------------------------
def _wait_until(condition: object, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_disconnect_mid_store_leaves_no_file(server: ServerThread, out: Path) -> None:
    original = pydicom_file("CT_small.dcm")
    data = original.read_bytes()[data_set_offset(str(original)) :]
    ds = dicomkit.read(str(original), stop_before_pixels=True)
    cmd = command(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT_STORAGE,
                  AffectedSOPInstanceUID=str(ds.SOPInstanceUID), MessageID=1, Priority=0)
    cmd.CommandDataSetType = DATA_SET_PRESENT
    with raw_socket(server.port) as sock:
        ac = associate(sock)
        context_id = ac.contexts[0].id
        sock.sendall(P.encode_pdata(context_id, True, True, encode_command(cmd)))
        sock.sendall(P.encode_pdata(context_id, False, False, data[: len(data) // 2]))
        assert _wait_until(lambda: any(out.glob(".incoming-*.part")))  # being written
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert _wait_until(lambda: not any(out.iterdir()))
    assert echo_works(server.port)
    assert list(out.iterdir()) == []


def test_abort_mid_store_leaves_no_file(server: ServerThread, out: Path) -> None:
    original = pydicom_file("CT_small.dcm")
    data = original.read_bytes()[data_set_offset(str(original)) :]
    cmd = command(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT_STORAGE,
                  AffectedSOPInstanceUID="1.2.3.4.5", MessageID=1, Priority=0)
    cmd.CommandDataSetType = DATA_SET_PRESENT
    with raw_socket(server.port) as sock:
        ac = associate(sock)
        context_id = ac.contexts[0].id
        sock.sendall(P.encode_pdata(context_id, True, True, encode_command(cmd)))
        sock.sendall(P.encode_pdata(context_id, False, False, data[:4000]))
        assert _wait_until(lambda: any(out.glob(".incoming-*.part")))
        sock.sendall(P.encode(P.AAbort(source=0, reason=0)))
        assert receive_pdu(sock) is None
    assert _wait_until(lambda: not any(out.iterdir()))
    assert echo_works(server.port)


# -- association rejections (PS3.8 Table 9-21) -----------------------------------------------
def _rejection(port: int, called: str, calling: str) -> tuple[int, int, int]:
    async def run() -> None:
        async with connect(HOST, port, calling_aet=calling, called_aet=called):
            pass

    with pytest.raises(AssociationRejected) as info:
        asyncio.run(run())
    return info.value.result, info.value.source, info.value.reason


def test_wrong_called_ae_is_rejected_with_reason_7(server: ServerThread) -> None:
    assert _rejection(server.port, "NOT-DKSCP", "DICOMKIT") == (1, 1, 7)


def test_calling_ae_not_accepted_is_rejected_with_reason_3(server: ServerThread) -> None:
    assert _rejection(server.port, "DKSCP", "STRANGER") == (1, 1, 3)


def test_rejection_pdu_bytes(server: ServerThread) -> None:
    with raw_socket(server.port) as sock:
        sock.sendall(associate_rq_bytes("DKSCP", "STRANGER", [(1, VERIFICATION,
                                                                  EXPLICIT_VR_LE)]))
        reply = receive_pdu(sock)
    assert reply == (0x03, bytes([0, 1, 1, 3]))  # reserved, permanent, service-user, reason 3
