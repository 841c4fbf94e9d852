"""PS3.7 §10: DIMSE-N services in both roles, against pynetdicom, and the synchronous facade."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from dicomkit import Dataset
from dicomkit.net.association import Association
from dicomkit.net.dimse import Message, Status
from dicomkit.net.server import Server
from dicomkit.net.service import ServiceHandler
from dicomkit.net.sync import connect
from dicomkit.net.uids import UNCOMPRESSED_TS, VERIFICATION

MPPS = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step SOP Class (PS3.4 F.7)
PRINTER = "1.2.840.10008.5.1.1.16"  # Printer SOP Class (N-GET, N-EVENT-REPORT)
FIELDS = {0x0140: "N-CREATE", 0x0120: "N-SET", 0x0110: "N-GET", 0x0130: "N-ACTION",
          0x0150: "N-DELETE", 0x0100: "N-EVENT-REPORT"}


class RecordingHandler(ServiceHandler):
    """Answers every DIMSE-N request and remembers what it got."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, Dataset | None]] = []

    def abstract_syntaxes(self) -> dict[str, Any]:
        return {VERIFICATION: UNCOMPRESSED_TS, MPPS: UNCOMPRESSED_TS, PRINTER: UNCOMPRESSED_TS}

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None]:
        command = message.command
        instance = command.get("AffectedSOPInstanceUID") or command.get(
            "RequestedSOPInstanceUID")
        self.seen.append((FIELDS[message.command_field], instance, data))
        reply = None
        if message.command_field == 0x0110:  # N-GET returns attributes
            reply = Dataset()
            reply.PrinterStatus = "NORMAL"
        elif message.command_field == 0x0140 and data is not None:
            reply = data
        return Status.SUCCESS, reply


def _serve(handler: ServiceHandler) -> tuple[Server, asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    server = Server(handler=handler, ae_title="NSCP", port=0)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return server, loop, thread


def _stop(server: Server, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    asyncio.run_coroutine_threadsafe(server.stop(grace=0), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_sync_client_runs_every_dimse_n_service_against_our_server():
    handler = RecordingHandler()
    server, loop, thread = _serve(handler)
    try:
        attributes = Dataset()
        attributes.PerformedProcedureStepStatus = "IN PROGRESS"
        with connect("127.0.0.1", server.port, called_aet="NSCP",
                     contexts=[(MPPS, UNCOMPRESSED_TS), (PRINTER, UNCOMPRESSED_TS)]) as assoc:
            status, reply, _ = assoc.n_create(MPPS, "1.2.3.4", attributes)
            assert status == 0 and reply.PerformedProcedureStepStatus == "IN PROGRESS"
            change = Dataset()
            change.PerformedProcedureStepStatus = "COMPLETED"
            assert assoc.n_set(MPPS, "1.2.3.4", change)[0] == 0
            status, reply, _ = assoc.n_get(PRINTER, "1.2.840.10008.5.1.1.17", [0x21100010])
            assert status == 0 and reply.PrinterStatus == "NORMAL"
            assert assoc.n_action(PRINTER, "1.2.840.10008.5.1.1.17", 1)[0] == 0
            assert assoc.n_event_report(PRINTER, "1.2.840.10008.5.1.1.17", 1)[0] == 0
            assert assoc.n_delete(MPPS, "1.2.3.4")[0] == 0
    finally:
        _stop(server, loop, thread)
    assert [name for name, _uid, _data in handler.seen] == [
        "N-CREATE", "N-SET", "N-GET", "N-ACTION", "N-EVENT-REPORT", "N-DELETE"]
    assert handler.seen[1][2].PerformedProcedureStepStatus == "COMPLETED"


def test_pynetdicom_scu_sends_n_create_and_n_set_to_our_server():
    from pynetdicom import AE

    handler = RecordingHandler()
    server, loop, thread = _serve(handler)
    try:
        ae = AE(ae_title="PYNET")
        ae.add_requested_context(MPPS)
        assoc = ae.associate("127.0.0.1", server.port, ae_title="NSCP")
        assert assoc.is_established
        import pydicom

        ds = pydicom.Dataset()
        ds.PerformedProcedureStepStatus = "IN PROGRESS"
        status, _reply = assoc.send_n_create(ds, MPPS, "1.2.3.9")
        assert status.Status == 0
        ds.PerformedProcedureStepStatus = "DISCONTINUED"
        status, _reply = assoc.send_n_set(ds, MPPS, "1.2.3.9")
        assert status.Status == 0
        assoc.release()
    finally:
        _stop(server, loop, thread)
    assert [name for name, _uid, _data in handler.seen] == ["N-CREATE", "N-SET"]
    assert handler.seen[0][1] == "1.2.3.9"
    assert handler.seen[1][2].PerformedProcedureStepStatus == "DISCONTINUED"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_our_sync_client_n_create_and_n_set_to_a_pynetdicom_scp():
    from pynetdicom import AE, evt

    received: list[tuple[str, str]] = []

    def on_create(event: Any) -> tuple[int, Any]:
        received.append(("create", str(event.request.AffectedSOPInstanceUID)))
        return 0x0000, event.attribute_list

    def on_set(event: Any) -> tuple[int, Any]:
        received.append(("set", str(event.modification_list.PerformedProcedureStepStatus)))
        return 0x0000, event.modification_list

    ae = AE(ae_title="PYSCP")
    ae.add_supported_context(MPPS)
    port = _free_port()
    scp = ae.start_server(("127.0.0.1", port), block=False,
                          evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)])
    try:
        attributes = Dataset()
        attributes.PerformedProcedureStepStatus = "IN PROGRESS"
        with connect("127.0.0.1", port, called_aet="PYSCP",
                     contexts=[(MPPS, UNCOMPRESSED_TS)]) as assoc:
            assert assoc.n_create(MPPS, "1.2.3.10", attributes)[0] == 0
            change = Dataset()
            change.PerformedProcedureStepStatus = "COMPLETED"
            assert assoc.n_set(MPPS, "1.2.3.10", change)[0] == 0
    finally:
        scp.shutdown()
    assert received == [("create", "1.2.3.10"), ("set", "COMPLETED")]
