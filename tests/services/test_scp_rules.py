"""The Storage and Query/Retrieve SCP rules (services/storage.py StorageSCP, services/qr.py
QueryRetrieveSCP) on data that is not the archive: the interfaces archive/ implements
(InstanceStore, QueryRetrieveData) are all the rules need. Statuses from PS3.4 B.2.3 and
C.4.1.2.1/C.4.2.1.4, permissions from services/access.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.encoding.deflate import InflateLimitError
from dicomkit.net.association import AcceptedContext, Association, DataSink
from dicomkit.net.dimse import CommandField, Message, Status, command
from dicomkit.net.fsm import Role
from dicomkit.net.service import PENDING_BATCH, RetrieveItem, ServiceFailure
from dicomkit.net.stream import PDUStream
from dicomkit.net.uids import EXPLICIT_VR_LE, MODELS
from dicomkit.services.access import AccessPolicy, AEPermissions
from dicomkit.services.qr import IdentifierError, QueryRetrieveSCP
from dicomkit.services.storage import DataSetMismatch, Refused, StorageSCP, Stored

CT = registered("CTImageStorage")
FIND = MODELS["study"]["find"]
MOVE = MODELS["study"]["move"]


def _association(calling: str = "MODALITY") -> Association:
    association = Association(PDUStream(), Role.ACCEPTOR)  # no connection: nothing is sent
    association.calling_ae, association.called_ae = calling, "PACS"
    association.contexts[1] = AcceptedContext(1, CT, EXPLICIT_VR_LE)
    association.contexts[3] = AcceptedContext(3, FIND, EXPLICIT_VR_LE)
    association.contexts[5] = AcceptedContext(5, MOVE, EXPLICIT_VR_LE)
    return association


# -- Storage ---------------------------------------------------------------------------------
class _Received:
    """What the memory store's sink gives back when closed."""

    def __init__(self) -> None:
        self.data = bytearray()


@dataclass
class MemoryStore:
    """An InstanceStore in a dict; ``failure`` is raised by commit."""

    failure: BaseException | None = None
    resources: bool = False  # whether ``failure`` counts as out of resources
    kept: dict[str, bytes] = field(default_factory=dict)

    def sink(self, meta: bytes, transfer_syntax: str) -> DataSink:
        received = _Received()

        class Sink:
            def write(self, data: bytes | memoryview) -> None:
                received.data += data

            def close(self) -> _Received:
                return received

            def abort(self) -> None:
                return None

        return Sink()

    async def commit(self, received: object, announced: tuple[str, str]) -> Stored:
        if self.failure is not None:
            raise self.failure
        assert isinstance(received, _Received)
        self.kept[announced[1]] = bytes(received.data)
        return Stored(announced[1], "added")

    def out_of_resources(self, exc: BaseException) -> bool:
        return self.resources


def _store(scp: StorageSCP, calling: str = "MODALITY") -> tuple[int, Message]:
    async def go() -> tuple[int, Message]:
        association = _association(calling)
        message = Message(1, command(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT,
                                     AffectedSOPInstanceUID="1.2.3.4", MessageID=1, Priority=0))
        sink = scp.sink(association, message, association.contexts[1])
        sink.write(b"data set")
        message.data_result = sink.close()
        return await scp.commit(association, message), message

    return asyncio.run(go())


def test_storage_success_after_the_store_has_it() -> None:
    store = MemoryStore()
    status, message = _store(StorageSCP(store))
    assert status == Status.SUCCESS
    assert store.kept == {"1.2.3.4": b"data set"}
    assert message.outcome == Stored("1.2.3.4", "added")


@pytest.mark.parametrize(("failure", "resources", "status"), [
    (OSError("disk full"), False, 0xA700),
    (RuntimeError("index is full"), True, 0xA700),
    (RuntimeError("constraint violated"), False, 0x0110),
])
def test_storage_failure_statuses(failure: BaseException, resources: bool, status: int) -> None:
    """PS3.4 B.2.3: A700 out of resources, 0110 any other failure of the store."""
    answered, _message = _store(StorageSCP(MemoryStore(failure, resources)))
    assert answered == status


def test_storage_mismatch_is_a900_with_the_reason_as_error_comment() -> None:
    """PS3.4 B.2.3: A900 for UIDs other than announced, or (serve --validate reject) a data
    set that breaks its IOD; the reason is the Error Comment (LO: 64 characters, no
    backslash)."""
    reason = "PatientSex: value 1 'X' is not one of the enumerated values M|F|O\\ and more"
    with pytest.raises(ServiceFailure) as caught:
        _store(StorageSCP(MemoryStore(DataSetMismatch(reason))))
    assert caught.value.status == 0xA900
    assert caught.value.comment == reason.replace("\\", "/")[:64]


def test_storage_inflate_limit_is_a700_with_the_limit() -> None:
    with pytest.raises(ServiceFailure) as caught:
        _store(StorageSCP(MemoryStore(InflateLimitError(1000, 999, "here"))))
    assert caught.value.status == 0xA700
    assert "1000" in caught.value.comment


def test_storage_not_authorised_drops_the_data_set() -> None:
    """An AE without "store" permission: 0124, and nothing reaches the store."""
    store = MemoryStore()
    policy = AccessPolicy({"VIEWER": AEPermissions(frozenset({"query"}))})
    status, message = _store(StorageSCP(store, policy), calling="VIEWER")
    assert status == Status.NOT_AUTHORISED
    assert isinstance(message.data_result, Refused)
    assert store.kept == {}


# -- Query/Retrieve -----------------------------------------------------------------------------
@dataclass
class ListQuery:
    level: str
    return_tags: list[int]
    rows: list[dict[str, Any]]
    closed: list[bool] = field(default_factory=list)

    def matches(self, plan: Any = None) -> ListQuery:
        return self  # the general route for every match: rows are DICOM JSON

    def take(self, count: int) -> list[bytes | dict[str, Any]]:
        taken, self.rows = self.rows[:count], self.rows[count:]
        return taken

    def close(self) -> None:
        self.closed.append(True)

    def instances(self) -> list[RetrieveItem]:
        return [RetrieveItem(f"/x/{n}.dcm", CT, f"1.2.3.{n}", EXPLICIT_VR_LE)
                for n in range(len(self.rows))]


@dataclass
class ListData:
    """A QueryRetrieveData over a list of study rows (DICOM JSON)."""

    rows: list[dict[str, Any]]
    queries: list[ListQuery] = field(default_factory=list)

    def compile(self, identifier: Dataset, model: str) -> ListQuery:
        if "PatientID" not in identifier and model == "patient":
            raise IdentifierError("the Patient Root model needs PatientID")
        query = ListQuery(str(identifier.QueryRetrieveLevel),
                          [element.tag for element in identifier
                           if element.tag != 0x00080052], list(self.rows))
        self.queries.append(query)
        return query


def _study(n: int) -> dict[str, Any]:
    return {"0020000D": {"vr": "UI", "Value": [f"1.2.{n}"]}}


def _find(scp: QueryRetrieveSCP, identifier: Dataset,
          sop_class: str = FIND) -> list[tuple[int, Any]]:
    async def go() -> list[tuple[int, Any]]:
        message = Message(3, command(CommandField.C_FIND_RQ, AffectedSOPClassUID=sop_class,
                                     MessageID=1, Priority=0))
        # Pending matches come as lists, at most PENDING_BATCH each: one response per item.
        out: list[tuple[int, Any]] = []
        async for status, found in scp.find(_association(), message, identifier):
            assert isinstance(found, list) and 0 < len(found) <= PENDING_BATCH
            out += [(status, match) for match in found]
        return out

    return asyncio.run(go())


def _identifier() -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ""
    identifier.RetrieveAETitle = ""
    return identifier


def test_find_one_pending_response_per_match_with_the_retrieve_ae_title() -> None:
    """PS3.4 C.4.1.2.3: a pending response per match; the Retrieve AE Title (0008,0054) is the
    title the association called, and the matches are closed at the end."""
    from dicomkit.encoding.reader import read_dataset

    data = ListData([_study(n) for n in range(40)])  # more than the first batch
    responses = _find(QueryRetrieveSCP(data), _identifier())
    assert [status for status, _ in responses] == [Status.PENDING] * 40
    found = [match if isinstance(match, Dataset) else read_dataset(match) for _, match in
             responses]
    assert [str(ds.StudyInstanceUID) for ds in found] == [f"1.2.{n}" for n in range(40)]
    assert {str(ds.RetrieveAETitle) for ds in found} == {"PACS"}
    assert data.queries[0].closed == [True]


def test_find_identifier_the_model_cannot_answer_is_a900() -> None:
    with pytest.raises(ServiceFailure) as caught:
        _find(QueryRetrieveSCP(ListData([])), _identifier(), MODELS["patient"]["find"])
    assert caught.value.status == Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS


def test_move_to_a_destination_the_ae_may_not_use_is_0124() -> None:
    """services/access.py: a known destination this AE may not send to is 0124, not A801."""
    policy = AccessPolicy({"MODALITY": AEPermissions(frozenset({"retrieve"}),
                                                     frozenset({"WORKSTATION"}))})
    scp = QueryRetrieveSCP(ListData([_study(1)]), access=policy)

    async def go(destination: str) -> list[RetrieveItem]:
        message = Message(5, command(CommandField.C_MOVE_RQ, AffectedSOPClassUID=MOVE,
                                     MessageID=2, Priority=0, MoveDestination=destination))
        return [i async for i in scp.retrieve(_association(), message, _identifier())]

    assert [i.sop_instance for i in asyncio.run(go("WORKSTATION"))] == ["1.2.3.0"]
    with pytest.raises(ServiceFailure) as caught:
        asyncio.run(go("ELSEWHERE"))
    assert caught.value.status == Status.NOT_AUTHORISED


# -- what the audit trail learns of a C-STORE ---------------------------------------------------
@pytest.mark.parametrize(("outcome", "action"), [
    (Stored("1.2.3.4", "added"), "C"), (Stored("1.2.3.4", "replaced"), "U"),
    (Stored("1.2.3.4", "ignored"), "R"), (None, None)])
def test_audit_reads_the_stored_outcome(outcome: Stored | None, action: str | None) -> None:
    """PS3.15 A.5.3.7: Instances Transferred with the action C, U or R by what became of each
    instance, which the Storage SCP leaves on the request as a typed ``Message.outcome``."""
    from dicomkit.services.audit import AssociationAudit

    async def go() -> dict[str, str]:
        audit = AssociationAudit(None, None, "PACS", None,  # type: ignore[arg-type]
                                 lambda uids: [])
        association = _association()
        message = Message(1, command(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT,
                                     AffectedSOPInstanceUID="1.2.3.4", MessageID=1, Priority=0))
        message.outcome = outcome
        audit.stored(association, message, Status.SUCCESS)
        return audit.stored_uids.get(id(association), {})

    assert asyncio.run(go()) == ({} if action is None else {"1.2.3.4": action})
