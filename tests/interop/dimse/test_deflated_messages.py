"""PS3.5 A.5 on the network: a DIMSE data set received in Deflated Explicit VR Little Endian is
inflated by :mod:`dicomkit.encoding.deflate` with the server's limit (``Server.max_inflated``);
past it the request is refused with A700 and the limit in the Error Comment (PS3.7 Annex C).
pynetdicom is the peer and does the deflating."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dicomkit import Dataset
from dicomkit.net.association import Association
from dicomkit.net.dimse import Message, Status
from dicomkit.net.server import Server
from dicomkit.net.service import ServiceHandler

MPPS = "1.2.840.10008.3.1.2.3.3"
DEFLATED = "1.2.840.10008.1.2.1.99"
LIMIT = 64 * 1024


class Handler(ServiceHandler):
    def __init__(self) -> None:
        self.seen: list[Dataset | None] = []

    def abstract_syntaxes(self) -> dict[str, Any]:
        return {MPPS: [DEFLATED]}

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None]:
        self.seen.append(data)
        return Status.SUCCESS, None


@pytest.fixture
def server() -> Any:
    handler = Handler()
    loop = asyncio.new_event_loop()
    srv = Server(handler=handler, ae_title="NSCP", port=0, max_inflated=LIMIT)
    loop.run_until_complete(srv.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield srv, handler
    asyncio.run_coroutine_threadsafe(srv.stop(grace=0), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def n_create(port: int, comments: str, padding: int = 0) -> Any:
    import pydicom
    from pynetdicom import AE

    ae = AE(ae_title="PYNET")
    ae.add_requested_context(MPPS, [DEFLATED])
    assoc = ae.associate("127.0.0.1", port, ae_title="NSCP")
    assert assoc.is_established
    try:
        ds = pydicom.Dataset()
        ds.PerformedProcedureStepStatus = "IN PROGRESS"
        ds.CommentsOnThePerformedProcedureStep = comments
        if padding:  # zeros: deflated to a few hundred bytes
            ds.add_new(0x00090010, "LO", "DICOMKIT")
            ds.add_new(0x00091010, "OB", bytes(padding))
        status, _reply = assoc.send_n_create(ds, MPPS, "1.2.3.9")
    finally:
        assoc.release()
    return status


def test_a_deflated_data_set_within_the_limit_is_inflated(server: Any) -> None:
    srv, handler = server
    status = n_create(srv.port, "short")
    assert status.Status == 0
    assert [str(d.CommentsOnThePerformedProcedureStep) for d in handler.seen] == ["short"]


def test_a_deflated_data_set_past_the_limit_is_refused_with_a700(server: Any) -> None:
    srv, handler = server
    status = n_create(srv.port, "long", padding=LIMIT)
    assert status.Status == Status.OUT_OF_RESOURCES
    assert str(LIMIT) in str(status.ErrorComment)
    assert "inflated size limit" in str(status.ErrorComment)
    assert handler.seen == []  # the handler never saw it
