"""The seams between the association server and the services (net/service.py, net/retrieve.py,
services/storage.py): the contexts a C-MOVE proposes (PS3.8 §9.3.2.2), the sub-operation counts
of the final response (PS3.4 C.4.2.1.6, C.4.3.1.5), and a C-STORE refused before its data set
arrives answering with the refusal's own status (PS3.4 B.2.3), carried as a typed sink result."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.net.association import AcceptedContext, Association
from dicomkit.net.dimse import CommandField, Message, Status, command
from dicomkit.net.fsm import Role
from dicomkit.net.retrieve import Counts, SubOperation, move_contexts
from dicomkit.net.service import Request
from dicomkit.net.stream import PDUStream
from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, UNCOMPRESSED_TS
from dicomkit.services.storage import Refused, StorageHandler

CT = registered("CTImageStorage")
MR = registered("MRImageStorage")
J2K = registered("JPEG2000Lossless")
RLE = registered("RLELossless")


def _item(sop_class: str, ts: str | None, n: int = 1) -> SubOperation:
    return SubOperation(f"/x/{n}.dcm", sop_class, f"1.2.3.{n}", ts)


def test_move_contexts_one_per_stored_syntax_first_contexts_first() -> None:
    """Per SOP class: the uncompressed syntaxes once for every uncompressed instance, and each
    compressed syntax with Explicit and Implicit VR Little Endian; every SOP class's first
    context before any second one."""
    items = [_item(CT, J2K, 1), _item(CT, EXPLICIT_VR_LE, 2), _item(CT, IMPLICIT_VR_LE, 3),
             _item(MR, None, 4), _item(CT, J2K, 5), _item(MR, RLE, 6)]
    assert move_contexts(items) == [
        (CT, [J2K, EXPLICIT_VR_LE, IMPLICIT_VR_LE]),
        (MR, list(UNCOMPRESSED_TS)),
        (CT, list(UNCOMPRESSED_TS)),
        (MR, [RLE, EXPLICIT_VR_LE, IMPLICIT_VR_LE]),
    ]


def test_move_contexts_at_most_128() -> None:
    """PS3.8 §9.3.2.2: presentation context IDs are odd numbers 1-255, so 128 at most."""
    items = [_item(f"1.2.826.0.1.{n}", EXPLICIT_VR_LE, n) for n in range(200)]
    contexts = move_contexts(items)
    assert len(contexts) == 128
    assert [c[0] for c in contexts] == [f"1.2.826.0.1.{n}" for n in range(128)]


def test_move_contexts_skip_an_unreadable_instance() -> None:
    assert move_contexts([SubOperation("/gone", "", "", None, error="gone")]) == []


def test_counts_per_category_and_failed_uids() -> None:
    """C.4.2.1.6: Remaining is sent only with pending (and cancel) responses; a failure is
    counted and its SOP Instance UID listed (0008,0058)."""
    counts = Counts(4)
    counts.count("1.1", "Success")
    counts.count("1.2", "Warning")
    counts.count("1.3", "Failure")
    assert counts.values(True) == {
        "NumberOfRemainingSuboperations": 1, "NumberOfCompletedSuboperations": 1,
        "NumberOfFailedSuboperations": 1, "NumberOfWarningSuboperations": 1}
    assert counts.values(False)["NumberOfRemainingSuboperations"] is None
    assert counts.failed_uids == ["1.3"]


def _association() -> Association:
    association = Association(PDUStream(), Role.ACCEPTOR)  # no connection: nothing is sent
    association.calling_ae, association.called_ae = "SCU", "STORESCP"
    association.contexts[1] = AcceptedContext(1, CT, EXPLICIT_VR_LE)
    return association


def _store_rq(sop_instance: str) -> Message:
    return Message(1, command(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT,
                              AffectedSOPInstanceUID=sop_instance, MessageID=7, Priority=0))


@pytest.mark.parametrize(("sop_instance", "status"), [
    ("../../etc/passwd", Status.CANNOT_UNDERSTAND),  # not a UID: C000
    ("1.2.3.4", Status.OUT_OF_RESOURCES),  # the folder cannot be written: A700
])
def test_storage_refusal_is_the_sink_result(tmp_path: Path, sop_instance: str,
                                            status: int) -> None:
    """A C-STORE refused before its data set arrives: the sink drops the data, and closing it
    gives the handler the refusal with its status (no side channel on the message)."""

    async def go() -> tuple[object, int]:
        folder = tmp_path / "in"
        handler = StorageHandler(str(folder), fsync=False)
        folder.rmdir()
        folder.write_bytes(b"")  # no longer a folder: the temporary file cannot be created
        association = _association()
        message = _store_rq(sop_instance)
        sink = handler.store_sink(association, message, association.contexts[1])
        assert sink is not None
        sink.write(b"\0" * 16)
        message.data_result = sink.close()
        return message.data_result, await handler.store(association, message)

    result, answered = asyncio.run(go())
    assert isinstance(result, Refused)
    assert result.status == status
    assert answered == status


def test_request_identifier_decodes_in_the_context_syntax() -> None:
    """The identifier of a request, decoded in the presentation context's transfer syntax;
    None when the request has no data set."""
    from dicomkit.encoding import transfer_syntax as ts_mod
    from dicomkit.encoding.writer import dataset_to_bytes

    async def go() -> tuple[Dataset | None, Dataset | None]:
        association = _association()
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = "1.2.3"
        with_data = Request(association, Message(
            1, command(CommandField.C_FIND_RQ, AffectedSOPClassUID=CT, MessageID=1),
            dataset_to_bytes(query, ts_mod.lookup(EXPLICIT_VR_LE))))
        without = Request(association, _store_rq("1.2.3"))
        return with_data.identifier(), without.identifier()

    identifier, none = asyncio.run(go())
    assert identifier is not None
    assert (identifier.QueryRetrieveLevel, identifier.StudyInstanceUID) == ("STUDY", "1.2.3")
    assert none is None
