"""PS3.4 Annex J rules of services/commitment.py: the N-ACTION checks (J.3.2.1.1, PS3.7
§10.1.4.1.10 statuses), the N-EVENT-REPORT data set (J.3.3.1, Table J.3-2, Failure Reasons of
PS3.3 C.14.1.1), and the service: acknowledged only once kept, the report on the same
association when it is open, handed to the new-association path when it is not."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.net.client import connect
from dicomkit.net.dimse import CommandField, Message, Status, command
from dicomkit.net.server import Server
from dicomkit.net.service import ServiceFailure
from dicomkit.net.uids import UNCOMPRESSED_TS
from dicomkit.services.commitment import (
    PUSH_MODEL,
    PUSH_MODEL_INSTANCE,
    CommitmentRequest,
    CommitmentResult,
    FailureReason,
    Reference,
    StorageCommitmentSCP,
    evaluate,
    parse_request,
    request_information,
    send_report,
)

CT = registered("CTImageStorage")
MR = registered("MRImageStorage")


def n_action(instance: str = PUSH_MODEL_INSTANCE, action: int | None = 1) -> Message:
    values: dict[str, Any] = {"RequestedSOPClassUID": PUSH_MODEL,
                              "RequestedSOPInstanceUID": instance}
    if action is not None:
        values["ActionTypeID"] = action
    return Message(1, command(CommandField.N_ACTION_RQ, **values))


def info(transaction: Any = "1.2.3", refs: Any = ((CT, "1.2.3.1"),)) -> Dataset:
    data = Dataset()
    if transaction is not None:
        data.TransactionUID = transaction
    if refs is not None:
        items = []
        for sop_class, instance in refs:
            item = Dataset()
            if sop_class is not None:
                item.ReferencedSOPClassUID = sop_class
            if instance is not None:
                item.ReferencedSOPInstanceUID = instance
            items.append(item)
        data.ReferencedSOPSequence = items
    return data


def status_of(message: Message, data: Dataset | None) -> int:
    with pytest.raises(ServiceFailure) as failure:
        parse_request(message, data)
    return failure.value.status


def test_a_valid_request_keeps_the_pairs_in_order_each_once() -> None:
    data = info(refs=[(CT, "1.2.3.1"), (MR, "1.2.3.2"), (CT, "1.2.3.1")])
    request = parse_request(n_action(), data, " MODALITY ")
    assert request == CommitmentRequest(
        "1.2.3", (Reference(CT, "1.2.3.1"), Reference(MR, "1.2.3.2")), "MODALITY")
    assert CommitmentRequest.from_payload(request.to_payload()) == request


@pytest.mark.parametrize(("message", "data", "status"), [
    (n_action(instance="1.2.3.4"), info(), 0x0112),  # not the well-known instance
    (n_action(action=2), info(), 0x0123),  # No such action
    (n_action(action=None), info(), 0x0123),
    (n_action(), None, 0x0120),  # no Action Information
    (n_action(), info(transaction=None), 0x0120),  # Missing Attribute
    (n_action(), info(transaction=""), 0x0121),  # Missing Attribute Value
    (n_action(), info(transaction="1.02.x"), 0x0106),  # Invalid Attribute Value
    (n_action(), info(refs=None), 0x0120),
    (n_action(), info(refs=[]), 0x0121),
    (n_action(), info(refs=[(CT, None)]), 0x0120),
    (n_action(), info(refs=[(None, "1.2.3")]), 0x0120),
    (n_action(), info(refs=[(CT, "")]), 0x0121),
    (n_action(), info(refs=[(CT, "1.2.3.")]), 0x0106),
])
def test_a_malformed_request_gets_the_standard_status(message: Message, data: Dataset | None,
                                                      status: int) -> None:
    assert status_of(message, data) == status


def test_the_error_comment_names_the_item() -> None:
    with pytest.raises(ServiceFailure) as failure:
        parse_request(n_action(), info(refs=[(CT, "1.2"), (CT, "")]))
    assert "item 2" in failure.value.comment and "ReferencedSOPInstanceUID" in \
        failure.value.comment


def test_event_type_1_lists_every_instance_with_the_retrieve_ae() -> None:
    result = CommitmentResult("1.2.3", committed=[Reference(CT, "1.1"), Reference(MR, "1.2")])
    assert result.event_type == 1
    data = result.event_information("PACS")
    assert data.TransactionUID == "1.2.3" and data.RetrieveAETitle == "PACS"
    assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
            for i in data.ReferencedSOPSequence] == [(CT, "1.1"), (MR, "1.2")]
    assert "FailedSOPSequence" not in data


def test_event_type_2_has_a_failure_reason_per_failed_instance() -> None:
    result = CommitmentResult("1.2.3", committed=[Reference(CT, "1.1")],
                              failed=[(Reference(CT, "1.2"), 0x0112),
                                      (Reference(MR, "1.3"), 0x0110)])
    assert result.event_type == 2
    data = result.event_information("PACS")
    assert [(i.ReferencedSOPInstanceUID, i.FailureReason) for i in data.FailedSOPSequence] == [
        ("1.2", 0x0112), ("1.3", 0x0110)]
    assert [i.ReferencedSOPInstanceUID for i in data.ReferencedSOPSequence] == ["1.1"]
    back = CommitmentResult.from_event(data)
    assert back == result


def test_all_failed_has_no_referenced_sop_sequence() -> None:
    data = CommitmentResult("1.2", failed=[(Reference(CT, "1.2"), 0x0112)]).event_information(
        "PACS")
    assert "ReferencedSOPSequence" not in data and "RetrieveAETitle" not in data


def test_failure_reasons_are_those_of_ps3_3_c_14_1_1() -> None:
    assert {int(r) for r in FailureReason} == {0x0110, 0x0112, 0x0213, 0x0122, 0x0119, 0x0131}
    assert FailureReason(0x0112).meaning == "No such object instance"


class Check:
    def __init__(self, failures: dict[str, int]) -> None:
        self.failures = failures

    def check(self, references: Sequence[Reference]) -> dict[Reference, int | None]:
        return {r: self.failures.get(r.sop_instance) for r in references}


def test_evaluate_splits_committed_and_failed_in_request_order() -> None:
    request = CommitmentRequest("1.9", (Reference(CT, "1"), Reference(CT, "2"),
                                        Reference(CT, "3")))
    result = evaluate(Check({"2": 0x0112}), request)
    assert result.committed == [Reference(CT, "1"), Reference(CT, "3")]
    assert result.failed == [(Reference(CT, "2"), 0x0112)]


class Owed:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.kept: list[CommitmentRequest] = []
        self.delivered_keys: list[int] = []
        self.later: list[int] = []
        self.done = asyncio.Event()

    def owe(self, request: CommitmentRequest, hold: float) -> int:
        if self.fail:
            raise OSError("disk full")
        self.kept.append(request)
        return len(self.kept)

    def delivered(self, key: int) -> None:
        self.delivered_keys.append(key)

    def send_later(self, key: int) -> None:
        self.later.append(key)


async def with_scp(owed: Owed, body: Any) -> None:
    scp = StorageCommitmentSCP(Check({"1.2.3.2": 0x0112}), owed, ae_title="PACS")
    server = Server(handler=scp, ae_title="PACS", port=0)
    await server.start()
    try:
        await body(server.port)
    finally:
        await server.stop(grace=0)


def test_same_association_report_then_marked_delivered() -> None:
    owed = Owed()
    reports: list[Dataset | None] = []

    async def body(port: int) -> None:
        got = asyncio.Event()
        async with connect("127.0.0.1", port, calling_aet="MOD", called_aet="PACS",
                           contexts=[(PUSH_MODEL, UNCOMPRESSED_TS)]) as client:
            async def on_event(data: Dataset | None, message: Message) -> int:
                assert message.command.EventTypeID == 2
                reports.append(data)
                got.set()
                return 0

            client.event_handler = on_event
            status, _, rsp = await client.n_action(
                PUSH_MODEL, PUSH_MODEL_INSTANCE, 1,
                request_information("1.2.3", [Reference(CT, "1.2.3.1"),
                                              Reference(CT, "1.2.3.2")]))
            assert status == 0 and rsp.ActionTypeID == 1
            assert rsp.AffectedSOPInstanceUID == PUSH_MODEL_INSTANCE
            assert owed.kept and owed.kept[0].requestor == "MOD"  # kept before the answer
            await asyncio.wait_for(got.wait(), 10)
            for _ in range(200):
                if owed.delivered_keys:
                    break
                await asyncio.sleep(0.02)

    asyncio.run(with_scp(owed, body))
    assert owed.delivered_keys == [1] and owed.later == []
    result = CommitmentResult.from_event(reports[0])  # type: ignore[arg-type]
    assert result.committed == [Reference(CT, "1.2.3.1")]
    assert result.failed == [(Reference(CT, "1.2.3.2"), 0x0112)]


def test_released_at_once_hands_the_report_to_the_new_association_path() -> None:
    owed = Owed()

    async def body(port: int) -> None:
        async with connect("127.0.0.1", port, calling_aet="MOD", called_aet="PACS",
                           contexts=[(PUSH_MODEL, UNCOMPRESSED_TS)]) as client:
            async def refuse(data: Dataset | None, message: Message) -> int:
                return Status.PROCESSING_FAILURE  # an SCU with no handler answers so

            client.event_handler = refuse
            status, _, _ = await client.n_action(
                PUSH_MODEL, PUSH_MODEL_INSTANCE, 1,
                request_information("1.2.4", [Reference(CT, "1.2.3.1")]))
            assert status == 0
        for _ in range(250):
            if owed.later:
                break
            await asyncio.sleep(0.02)

    asyncio.run(with_scp(owed, body))
    assert owed.later == [1] and owed.delivered_keys == []


def test_not_kept_is_not_acknowledged_and_the_association_stays_usable() -> None:
    owed = Owed(fail=True)

    async def body(port: int) -> None:
        async with connect("127.0.0.1", port, calling_aet="MOD", called_aet="PACS",
                           contexts=[(PUSH_MODEL, UNCOMPRESSED_TS)]) as client:
            data = request_information("1.2.5", [Reference(CT, "1.2.3.1")])
            status, _, rsp = await client.n_action(PUSH_MODEL, PUSH_MODEL_INSTANCE, 1, data)
            assert status == 0x0110 and "not kept" in str(rsp.ErrorComment)
            status, _, _ = await client.n_action(PUSH_MODEL, PUSH_MODEL_INSTANCE, 7, data)
            assert status == 0x0123

    asyncio.run(with_scp(owed, body))


def test_send_report_refuses_a_peer_that_does_not_take_the_scp_role() -> None:
    """J.3.3: on a new association the SCP must have the SCP role; a peer that refuses it
    (here: a plain push model SCP) does not get the report, and the caller retries."""
    async def body(port: int) -> None:
        result = CommitmentResult("1.2.6", committed=[Reference(CT, "1.1")])
        scp = StorageCommitmentSCP(Check({}), Owed(), ae_title="MOD")
        scp.accepts_scp_role = lambda abstract_syntax: False  # type: ignore[method-assign]
        server = Server(handler=scp, ae_title="MOD", port=0)
        await server.start()
        try:
            with pytest.raises(Exception, match="SCP role"):
                await send_report(result, host="127.0.0.1", port=server.port,
                                  calling_ae="PACS", called_ae="MOD")
        finally:
            await server.stop(grace=0)

    asyncio.run(with_scp(Owed(), body))
