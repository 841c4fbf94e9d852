"""Two things Storage Commitment (PS3.4 J.3.3) needs of the network layer: a requestor that
proposes exactly the SCP/SCU roles it wants (PS3.7 D.3.3.4: SCU 0, SCP 1 when the SCP opens the
association to send its report), and an acceptor that sends an N-EVENT-REPORT on the
association it accepted, after its N-ACTION response, and gets the requestor's answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.net.association import Association
from dicomkit.net.client import Client, build_request, connect
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.server import Server
from dicomkit.net.service import NResponse, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS

PUSH = registered("StorageCommitmentPushModel")
PUSH_INSTANCE = registered("StorageCommitmentPushModelInstance")
CT = registered("CTImageStorage")


def test_build_request_proposes_the_roles_asked_for() -> None:
    rq = build_request("A", "B", [(PUSH, UNCOMPRESSED_TS)], scp_roles=[CT],
                       roles={PUSH: (False, True)})
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in rq.user_info.roles] == [
        (CT, True, True), (PUSH, False, True)]


class ReportReceiver(ServiceHandler):
    """An SCU that accepts the SCP role for the push model and takes N-EVENT-REPORTs."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, Dataset | None]] = []

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {PUSH: UNCOMPRESSED_TS}

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        return abstract_syntax == PUSH

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None]:
        assert message.command_field == CommandField.N_EVENT_REPORT_RQ
        self.reports.append((int(message.command.EventTypeID), data))
        return Status.SUCCESS, None


def test_requestor_takes_the_scp_role_and_sends_an_event_report() -> None:
    async def go() -> None:
        receiver = ReportReceiver()
        server = Server(handler=receiver, ae_title="MODALITY", port=0)
        await server.start()
        try:
            info = Dataset()
            info.TransactionUID = "1.2.3.4"
            async with connect("127.0.0.1", server.port, calling_aet="PACS",
                               called_aet="MODALITY", contexts=[(PUSH, UNCOMPRESSED_TS)],
                               roles={PUSH: (False, True)}) as client:
                (context,) = client.contexts.values()
                assert (context.scu_role, context.scp_role) == (False, True)
                status, _, _ = await client.n_event_report(PUSH, PUSH_INSTANCE, 1, info)
            assert status == 0
            assert [(event, str(data.TransactionUID)) for event, data in receiver.reports
                    if data is not None] == [(1, "1.2.3.4")]
        finally:
            await server.stop(grace=0)

    asyncio.run(go())


class ReportsAfterAction(ServiceHandler):
    """An SCP that answers N-ACTION, then reports on the same association."""

    def __init__(self) -> None:
        self.answer: int | None = None

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {PUSH: UNCOMPRESSED_TS}

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> NResponse:
        async def report() -> None:
            info = Dataset()
            info.TransactionUID = "1.2.3.5"
            client = Client(association, handle_requests=False)
            self.answer, _, _ = await client.n_event_report(PUSH, PUSH_INSTANCE, 1, info)

        return NResponse(Status.SUCCESS, fields={"ActionTypeID": 1}, after=report)


def test_acceptor_reports_on_the_same_association_after_its_response() -> None:
    async def go() -> None:
        handler = ReportsAfterAction()
        server = Server(handler=handler, ae_title="PACS", port=0)
        await server.start()
        got = asyncio.Event()
        received: list[Any] = []
        try:
            async with connect("127.0.0.1", server.port, called_aet="PACS",
                               contexts=[(PUSH, UNCOMPRESSED_TS)]) as client:
                async def on_event(data: Dataset | None, message: Message) -> int:
                    received.append((int(message.command.EventTypeID), data))
                    got.set()
                    return Status.SUCCESS

                client.event_handler = on_event
                info = Dataset()
                info.TransactionUID = "1.2.3.5"
                status, _, rsp = await client.n_action(PUSH, PUSH_INSTANCE, 1, info)
                assert status == 0 and int(rsp.ActionTypeID) == 1
                await asyncio.wait_for(got.wait(), 10)
                for _ in range(100):  # the acceptor's task reads our answer
                    if handler.answer is not None:
                        break
                    await asyncio.sleep(0.02)
            assert received[0][0] == 1 and str(received[0][1].TransactionUID) == "1.2.3.5"
            assert handler.answer == 0
        finally:
            await server.stop(grace=0)

    asyncio.run(go())


def test_a_failing_event_handler_answers_processing_failure() -> None:
    async def go() -> None:
        handler = ReportsAfterAction()
        server = Server(handler=handler, ae_title="PACS", port=0)
        await server.start()
        try:
            async with connect("127.0.0.1", server.port, called_aet="PACS",
                               contexts=[(PUSH, UNCOMPRESSED_TS)]) as client:
                async def broken(data: Dataset | None, message: Message) -> int:
                    raise RuntimeError("broken handler")

                client.event_handler = broken
                await client.n_action(PUSH, PUSH_INSTANCE, 1, Dataset())
                for _ in range(250):
                    if handler.answer is not None:
                        break
                    await asyncio.sleep(0.02)
            assert handler.answer == Status.PROCESSING_FAILURE
        finally:
            await server.stop(grace=0)

    asyncio.run(go())
