"""Pending C-FIND responses a handler gives as a list (PS3.4 C.4.1.2.3: one pending response
per match) go out several per write (``Association.send_messages``): each still a whole
message of its own, cut to the peer's maximum PDU length (PS3.8 E.1), in order, and a C-CANCEL
(PS3.7 §9.3.2.3) stops them between two writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.writer import dataset_to_bytes
from dicomkit.net.association import Association
from dicomkit.net.client import connect
from dicomkit.net.dimse import CommandField, Message, Status, command
from dicomkit.net.server import Server
from dicomkit.net.service import (
    PENDING_BATCH,
    FindAnswer,
    Request,
    ServiceHandler,
)
from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, MODELS

FIND = MODELS["study"]["find"]


def _identifier(n: int) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = f"SMITH^{n:05d}"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.{n}"
    ds.StudyDescription = "x" * (n % 300)  # some identifiers longer than a small PDU
    return ds


class ListHandler(ServiceHandler):
    """Yields ``count`` matches as lists of ``per_list`` (every other one already encoded)."""

    def __init__(self, count: int, per_list: int) -> None:
        self.count, self.per_list = count, per_list
        self.writes: list[int] = []

    def abstract_syntaxes(self) -> dict[str, Any]:
        return {FIND: [EXPLICIT_VR_LE, IMPLICIT_VR_LE]}

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[FindAnswer]:
        original = association.send_messages
        writes = self.writes

        async def counted(context_id: int, messages: Any) -> None:
            writes.append(len(messages))
            await original(context_id, messages)

        association.send_messages = counted  # type: ignore[method-assign]
        ts = ts_mod.for_uid(association.contexts[message.context_id].transfer_syntax)
        matches: list[Dataset | bytes] = [
            dataset_to_bytes(_identifier(n), ts) if n % 2 else _identifier(n)
            for n in range(self.count)]
        for start in range(0, self.count, self.per_list):
            yield Status.PENDING, matches[start:start + self.per_list]


def _query() -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName = "SMITH*"
    query.StudyInstanceUID = ""
    return query


async def _run(handler: ServiceHandler, max_pdu: int,
               cancel_after: int | None = None) -> tuple[list[Dataset], int]:
    server = Server(handler=handler, ae_title="LISTS", host="127.0.0.1", port=0)
    await server.start()
    found: list[Dataset] = []
    final = -1
    try:
        async with connect("127.0.0.1", server.port, called_aet="LISTS", max_pdu=max_pdu,
                           contexts=[(FIND, [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]) as client:
            async for status, match in client.find(_query()):
                if Status.category(status) != "Pending":
                    final = status
                    continue
                assert match is not None
                found.append(match)
                if cancel_after is not None and len(found) == cancel_after:
                    await client.cancel(client.last_message_id)
    finally:
        await server.stop()
    return found, final


@pytest.mark.parametrize(("max_pdu", "per_list"), [(0, 1000), (262_144, 100), (1024, 300),
                                                   (4097, 7)])
def test_listed_matches_arrive_whole_and_in_order(max_pdu: int, per_list: int) -> None:
    handler = ListHandler(1000, per_list)
    found, final = asyncio.run(_run(handler, max_pdu))
    assert final == Status.SUCCESS
    assert [(str(ds.PatientName), str(ds.StudyInstanceUID), str(ds.StudyDescription))
            for ds in found] == [
        (f"SMITH^{n:05d}", f"1.2.826.0.1.3680043.8.498.{n}", "x" * (n % 300))
        for n in range(1000)]
    # Several responses per write, never more than PENDING_BATCH.
    assert sum(handler.writes) == 1000
    assert max(handler.writes) <= PENDING_BATCH
    assert len(handler.writes) < 1000 // 4


def test_cancel_over_the_network_ends_a_long_list() -> None:
    handler = ListHandler(20_000, 20_000)
    found, final = asyncio.run(_run(handler, 262_144, cancel_after=1))
    assert final == Status.CANCEL
    assert 1 <= len(found) < 20_000


class EndsSlowly(ListHandler):
    """All its matches, then a pause before the C-FIND's end (the database closing)."""

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[FindAnswer]:
        async for answer in super().find(association, message, identifier):
            yield answer
        await asyncio.sleep(0.3)


def test_cancel_after_the_last_match_stops_nothing() -> None:
    """PS3.4 C.4.1.3.1: Cancel (FE00) says matching was interrupted; a C-CANCEL that comes
    when every match has gone out leaves the answer Success."""
    found, final = asyncio.run(_run(EndsSlowly(10, 10), 262_144, cancel_after=10))
    assert len(found) == 10
    assert final == Status.SUCCESS


class _Recorder:
    """An association that records what send_messages gets, and a C-CANCEL arriving after
    the ``cancel_at``-th write."""

    def __init__(self, request: Request, cancel_at: int) -> None:
        self.request, self.cancel_at = request, cancel_at
        self.writes: list[list[tuple[bytes, Any]]] = []

    async def send_messages(self, context_id: int, messages: list[tuple[bytes, Any]]) -> None:
        self.writes.append(messages)
        if len(self.writes) == self.cancel_at:
            self.request.cancelled.set()


@pytest.mark.parametrize(("count", "cancel_at", "expected"), [
    (PENDING_BATCH * 3, 1, [PENDING_BATCH]),
    (PENDING_BATCH * 3, 2, [PENDING_BATCH, PENDING_BATCH]),
    (PENDING_BATCH * 2, 2, [PENDING_BATCH, PENDING_BATCH]),  # all sent: nothing to stop
    (PENDING_BATCH + 1, 99, [PENDING_BATCH, 1]),
    (1, 99, [1]),
    (0, 99, []),
])
def test_cancel_is_looked_at_between_writes(count: int, cancel_at: int,
                                            expected: list[int]) -> None:
    message = Message(1, command(CommandField.C_FIND_RQ, MessageID=3, AffectedSOPClassUID=FIND,
                                 Priority=0))
    request = Request(None, message)  # type: ignore[arg-type]
    recorder = _Recorder(request, cancel_at)
    request.association = recorder  # type: ignore[assignment]
    server = Server()
    done = asyncio.run(server._send_pending(request, b"cmd!", [b"id" * 4] * count))
    assert [len(write) for write in recorder.writes] == expected
    assert done == (sum(expected) == count)
    assert all(item == (b"cmd!", b"id" * 4) for write in recorder.writes for item in write)


def test_big_identifiers_are_written_fewer_at_a_time() -> None:
    message = Message(1, command(CommandField.C_FIND_RQ, MessageID=3, AffectedSOPClassUID=FIND,
                                 Priority=0))
    request = Request(None, message)  # type: ignore[arg-type]
    recorder = _Recorder(request, 999)
    request.association = recorder  # type: ignore[assignment]
    big = b"\0" * (100 * 1024)
    asyncio.run(Server()._send_pending(request, b"cmd!", [big] * 7))
    assert [len(write) for write in recorder.writes] == [3, 3, 1]  # 256 KiB reached at the 3rd
