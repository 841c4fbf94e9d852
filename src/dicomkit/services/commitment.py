"""PS3.4 Annex J: the Storage Commitment Push Model SOP Class, SCP side, and the report's
delivery in both ways the standard allows.

- :func:`parse_request`: an N-ACTION request (J.3.2.1.1, Table J.3-1) checked and turned into
  a :class:`CommitmentRequest`, or a :class:`~dicomkit.net.service.ServiceFailure` with the
  PS3.7 §10.1.4.1.10 status (never an abort).
- :class:`CommitmentCheck`: what "committed" means, answered by whoever keeps the instances
  (archive/ checks its index and re-reads the file).
- :class:`CommitmentResult`: the outcome per instance and the N-EVENT-REPORT it makes
  (J.3.3.1, Table J.3-2: Event Type 1 all committed, 2 failures exist, with a Failure Reason of
  PS3.3 C.14.1.1 per failed instance).
- :class:`OwedReports`: where a request is kept until its report is delivered (archive/ uses
  its outbox), so a restart loses none.
- :class:`StorageCommitmentSCP`: the service: acknowledges an N-ACTION only once the request
  is kept, then tries the report on the same association (J.3.3: the SCU may keep it open);
  :func:`send_report` opens a new association to the requestor, proposing SCP/SCU Role
  Selection with SCU role 0 and SCP role 1 (J.3.3, PS3.7 D.3.3.4), for what could not go
  that way.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import UID, registered
from dicomkit.errors import DicomError
from dicomkit.net.association import Association, AssociationError, Timeouts
from dicomkit.net.client import Client, connect
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import NResponse, ServiceFailure, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS
from dicomkit.services.access import AccessPolicy, authorise

log = logging.getLogger("dicomkit.services.commitment")

PUSH_MODEL = registered("StorageCommitmentPushModel")
PUSH_MODEL_INSTANCE = registered("StorageCommitmentPushModelInstance")  # J.3.5, well-known

REQUEST_STORAGE_COMMITMENT = 1  # Action Type ID (J.3.2.1.1)
EVENT_SUCCESSFUL = 1  # Event Type ID: Storage Commitment Request Successful (J.3.3.1)
EVENT_FAILURES_EXIST = 2  # Storage Commitment Request Complete - Failures Exist

SAME_ASSOCIATION_DELAY = 0.0
"""Seconds between the N-ACTION response and the report on the same association (the default
of :class:`StorageCommitmentSCP`'s ``same_association_delay``; ``dicomkit serve
--commitment-report-delay``). A requestor may release any time after the response
(J.3.2.1.2), so the report can meet its A-RELEASE-RQ: PS3.8 lets it take P-DATA while it
waits for the A-RELEASE-RP (Sta7), and one that has closed or answers with a failure gets the
report on a new association instead. This was 0.5 s, against "pynetdicom 3.0.4 crashes";
that was a handler returning an int instead of ``(status, dataset)``, which makes pynetdicom
abort. With correct handlers pynetdicom takes the report in Sta7 or on the new association
(measured with 0, docs/design/workflow.md). A delay remains an option for a requestor that
cannot take a P-DATA while it releases: by then it has usually closed."""

MAX_REFERENCES = 100_000
"""The most instances one request may name; more is refused with 0213H Resource Limitation
(the request is kept in the index until its report is delivered)."""


class FailureReason(IntEnum):
    """Failure Reason (0008,1197) values, PS3.3 C.14.1.1."""

    PROCESSING_FAILURE = 0x0110
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    RESOURCE_LIMITATION = 0x0213
    REFERENCED_SOP_CLASS_NOT_SUPPORTED = 0x0122
    CLASS_INSTANCE_CONFLICT = 0x0119
    DUPLICATE_TRANSACTION_UID = 0x0131

    @property
    def meaning(self) -> str:
        return self.name.replace("_", " ").capitalize().replace("Sop", "SOP")


# PS3.7 Annex C statuses of an N-ACTION the request itself is wrong for (§10.1.4.1.10).
NO_SUCH_SOP_INSTANCE = 0x0112
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
INVALID_ATTRIBUTE_VALUE = 0x0106
NO_SUCH_ACTION = 0x0123


@dataclass(frozen=True)
class Reference:
    """One SOP Instance Reference Macro item (PS3.3 Table 10-11)."""

    sop_class: str
    sop_instance: str


@dataclass(frozen=True)
class CommitmentRequest:
    """A Storage Commitment request as kept until its report is delivered: the requestor's
    AE title (where the report goes on a new association) and the instances, in the order
    asked, each once."""

    transaction_uid: str
    references: tuple[Reference, ...]
    requestor: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {"transaction_uid": self.transaction_uid, "requestor": self.requestor,
                "references": [[r.sop_class, r.sop_instance] for r in self.references]}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> CommitmentRequest:
        return cls(str(payload["transaction_uid"]),
                   tuple(Reference(str(c), str(i)) for c, i in payload["references"]),
                   str(payload.get("requestor", "")))


@dataclass
class CommitmentResult:
    """The outcome of a request: what is committed and what failed, with the reason."""

    transaction_uid: str
    committed: list[Reference] = field(default_factory=list)
    failed: list[tuple[Reference, int]] = field(default_factory=list)

    @property
    def event_type(self) -> int:
        return EVENT_FAILURES_EXIST if self.failed else EVENT_SUCCESSFUL

    def event_information(self, retrieve_ae: str = "") -> Dataset:
        """The N-EVENT-REPORT data set (Table J.3-2): Transaction UID, Retrieve AE Title, the
        committed instances in Referenced SOP Sequence (left out when none), and for Event
        Type 2 the Failed SOP Sequence with a Failure Reason each."""
        info = Dataset()
        info.TransactionUID = self.transaction_uid
        if retrieve_ae and self.committed:
            info.RetrieveAETitle = retrieve_ae
        if self.committed:
            info.ReferencedSOPSequence = [_item(ref) for ref in self.committed]
        if self.failed:
            failed = []
            for ref, reason in self.failed:
                item = _item(ref)
                item.FailureReason = int(reason)
                failed.append(item)
            info.FailedSOPSequence = failed
        return info

    @classmethod
    def from_event(cls, info: Dataset) -> CommitmentResult:
        """Read a report back (the SCU side, ``dicomkit commit``)."""
        result = cls(_text(info.get("TransactionUID")))
        for item in info.get("ReferencedSOPSequence") or []:
            result.committed.append(Reference(_text(item.get("ReferencedSOPClassUID")),
                                              _text(item.get("ReferencedSOPInstanceUID"))))
        for item in info.get("FailedSOPSequence") or []:
            reason = item.get("FailureReason")
            result.failed.append((Reference(_text(item.get("ReferencedSOPClassUID")),
                                            _text(item.get("ReferencedSOPInstanceUID"))),
                                  int(reason) if isinstance(reason, int) else -1))
        return result


def _item(ref: Reference) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ref.sop_class
    item.ReferencedSOPInstanceUID = ref.sop_instance
    return item


def _text(value: Any) -> str:
    return str(value).strip("\0 ") if isinstance(value, str) else ""


def request_information(transaction_uid: str, references: Sequence[Reference]) -> Dataset:
    """The N-ACTION Action Information (Table J.3-1) for ``references`` (the SCU side)."""
    info = Dataset()
    info.TransactionUID = transaction_uid
    info.ReferencedSOPSequence = [_item(ref) for ref in references]
    return info


# -- the request -------------------------------------------------------------------------------
def _uid(data: Dataset, keyword: str, where: str) -> str:
    """A required UID: absent 0120H, empty 0121H, not a UID (PS3.5 §9.1) 0106H."""
    if keyword not in data:
        raise ServiceFailure(MISSING_ATTRIBUTE, f"no {keyword}{where}")
    value = data.get(keyword)
    if value is None or value == "" or (isinstance(value, list) and not value):
        raise ServiceFailure(MISSING_ATTRIBUTE_VALUE, f"empty {keyword}{where}")
    text = value.strip("\0 ") if isinstance(value, str) else ""
    if not text:
        raise ServiceFailure(MISSING_ATTRIBUTE_VALUE if isinstance(value, str)
                             else INVALID_ATTRIBUTE_VALUE, f"bad {keyword}{where}")
    if not UID(text).is_valid:
        raise ServiceFailure(INVALID_ATTRIBUTE_VALUE, f"{keyword}{where} is not a UID")
    return text


def parse_request(message: Message, data: Dataset | None, requestor: str = "") -> \
        CommitmentRequest:
    """The N-ACTION checked (J.3.2.1.1, Table J.3-1): the well-known instance, Action Type ID
    1, a Transaction UID and a Referenced SOP Sequence of (class, instance) pairs. Storage
    Media File-Set ID/UID are optional and not used: this SCP commits to its own storage.
    Raises :class:`ServiceFailure` with the status and an Error Comment naming the fault."""
    command = message.command
    instance = _text(command.get("RequestedSOPInstanceUID"))
    if instance != PUSH_MODEL_INSTANCE:
        raise ServiceFailure(NO_SUCH_SOP_INSTANCE,
                             "Requested SOP Instance is not the well-known push model instance")
    action = command.get("ActionTypeID")
    if action != REQUEST_STORAGE_COMMITMENT:
        raise ServiceFailure(NO_SUCH_ACTION, f"Action Type ID {action} (only 1 is defined)")
    if data is None:
        raise ServiceFailure(MISSING_ATTRIBUTE, "no Action Information (data set)")
    try:
        transaction = _uid(data, "TransactionUID", "")
        if "ReferencedSOPSequence" not in data:
            raise ServiceFailure(MISSING_ATTRIBUTE, "no ReferencedSOPSequence")
        items = data.get("ReferencedSOPSequence")
        if items is None or len(items) == 0:
            raise ServiceFailure(MISSING_ATTRIBUTE_VALUE, "empty ReferencedSOPSequence")
        if len(items) > MAX_REFERENCES:
            raise ServiceFailure(Status.RESOURCE_LIMITATION,
                                 f"{len(items)} instances; at most {MAX_REFERENCES}")
        references: dict[Reference, None] = {}
        for number, item in enumerate(items, 1):
            where = f" in ReferencedSOPSequence item {number}"
            sop_class = _uid(item, "ReferencedSOPClassUID", where)
            sop_instance = _uid(item, "ReferencedSOPInstanceUID", where)
            references[Reference(sop_class, sop_instance)] = None
    except (DicomError, ValueError, TypeError) as exc:
        raise ServiceFailure(INVALID_ATTRIBUTE_VALUE, f"unreadable Action Information: {exc}") \
            from exc
    return CommitmentRequest(transaction, tuple(references), requestor.strip())


# -- what the service needs from where the instances live --------------------------------------
class CommitmentCheck(Protocol):
    """Whether each instance is safely kept: None when committed, else its Failure Reason
    (:class:`FailureReason`). Called in a worker thread; may read files."""

    def check(self, references: Sequence[Reference]) -> dict[Reference, int | None]: ...


class OwedReports(Protocol):
    """Where requests wait for their report to be delivered (called in worker threads)."""

    def owe(self, request: CommitmentRequest, hold: float) -> int:
        """Keep ``request`` durably before it is acknowledged; the new association path may
        take it after ``hold`` seconds (the same association is tried first). Returns its
        key."""
        ...

    def delivered(self, key: int) -> None:
        """The report was delivered (on the requestor's association)."""
        ...

    def send_later(self, key: int) -> None:
        """The same association could not carry it: deliver by a new association now."""
        ...


def evaluate(check: CommitmentCheck, request: CommitmentRequest) -> CommitmentResult:
    """The result of ``request`` as ``check`` finds the instances now."""
    outcome = check.check(request.references)
    result = CommitmentResult(request.transaction_uid)
    for ref in request.references:
        reason = outcome.get(ref, FailureReason.PROCESSING_FAILURE)
        if reason is None:
            result.committed.append(ref)
        else:
            result.failed.append((ref, int(reason)))
    return result


# -- the service -------------------------------------------------------------------------------
class StorageCommitmentSCP(ServiceHandler):
    """The Storage Commitment Push Model SCP (PS3.4 J.3).

    An N-ACTION is answered Success only after :meth:`OwedReports.owe` kept it. The result
    is computed when a report is sent (each attempt looks at the instances then), so an
    instance that arrives between request and report counts. The report goes first on the
    requestor's association if it is still open; a failure there (released, aborted, a
    non-success answer) hands it to the new-association path (:func:`send_report`, run by
    the owner's delivery loop, retried until delivered). With ``access``, the requestor needs
    the "commit" permission (else 0124H Refused: Not Authorised, nothing kept)."""

    def __init__(self, check: CommitmentCheck, owed: OwedReports, *, ae_title: str,
                 hold: float | None = None,
                 same_association_delay: float = SAME_ASSOCIATION_DELAY,
                 access: AccessPolicy | None = None) -> None:
        self.access = access
        self.check = check
        self.owed = owed
        self.ae_title = ae_title
        self.hold = hold
        self.same_association_delay = same_association_delay

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {PUSH_MODEL: UNCOMPRESSED_TS}

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        """A requestor proposing the SCP role too (to take reports) is accepted."""
        return abstract_syntax == PUSH_MODEL

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> NResponse:
        if message.command_field != CommandField.N_ACTION_RQ:
            raise ServiceFailure(Status.UNRECOGNIZED_OPERATION,
                                 "the push model SCP takes N-ACTION only")
        authorise(self.access, association, "commit", "storage commitment N-ACTION")
        request = parse_request(message, data, association.calling_ae)
        hold = self.hold
        if hold is None:
            hold = (association.timeouts.dimse or 60.0) + 30.0
        try:
            key = await asyncio.to_thread(self.owed.owe, request, hold)
        except Exception as exc:  # noqa: BLE001 - not kept: refuse, never acknowledge
            log.exception("[%s] commitment request %s not kept", association.describe(),
                          request.transaction_uid)
            raise ServiceFailure(Status.PROCESSING_FAILURE,
                                 f"request not kept: {type(exc).__name__}") from exc
        log.info("[%s] storage commitment %s for %d instance(s) accepted",
                 association.describe(), request.transaction_uid, len(request.references))
        after = functools.partial(self.report_on_association, association, request, key)
        return NResponse(Status.SUCCESS, None,
                         {"ActionTypeID": REQUEST_STORAGE_COMMITMENT,
                          "AffectedSOPInstanceUID": PUSH_MODEL_INSTANCE}, after)

    def result_of(self, request: CommitmentRequest) -> CommitmentResult:
        return evaluate(self.check, request)

    async def report_on_association(self, association: Association,
                                    request: CommitmentRequest, key: int) -> None:
        """J.3.3: the report on the association the request came on, while it is open."""
        try:
            if self.same_association_delay > 0:
                await asyncio.sleep(self.same_association_delay)
            if not association.is_established:
                raise AssociationError("the requestor closed the association", association)
            result = await asyncio.to_thread(self.result_of, request)
            client = Client(association, handle_requests=False)
            status, _, _ = await client.n_event_report(
                PUSH_MODEL, PUSH_MODEL_INSTANCE, result.event_type,
                result.event_information(self.ae_title))
            if status != Status.SUCCESS:
                raise AssociationError(f"the requestor answered status 0x{status:04X}",
                                       association)
        except (AssociationError, ConnectionError, OSError, DicomError) as exc:
            log.info("[%s] commitment report %s not sent on the same association (%s); "
                     "sending on a new one", association.describe(), request.transaction_uid,
                     exc)
            await asyncio.to_thread(self.owed.send_later, key)
            return
        except BaseException:
            await asyncio.to_thread(self.owed.send_later, key)
            raise
        await asyncio.to_thread(self.owed.delivered, key)
        log.info("[%s] commitment report %s sent (event type %d)", association.describe(),
                 request.transaction_uid, result.event_type)


class ReportNotDelivered(DicomError):
    """A report the peer did not take (retried later)."""


async def send_report(result: CommitmentResult, *, host: str, port: int, calling_ae: str,
                      called_ae: str, timeouts: Timeouts | None = None,
                      connector: Callable[..., Any] = connect) -> None:
    """J.3.3: the report on a new association from the SCP to the requestor, proposing
    SCP/SCU Role Selection with SCU role 0 and SCP role 1 (PS3.7 D.3.3.4). Raises
    :class:`ReportNotDelivered` (or the association's error) when it was not taken: no
    context, the SCP role refused, a non-success status."""
    async with connector(host, port, calling_aet=calling_ae, called_aet=called_ae,
                         contexts=[(PUSH_MODEL, UNCOMPRESSED_TS)],
                         roles={PUSH_MODEL: (False, True)}, timeouts=timeouts) as client:
        contexts = [c for c in client.contexts.values() if c.abstract_syntax == PUSH_MODEL]
        if not contexts:
            raise ReportNotDelivered(f"{called_ae} accepted no Storage Commitment context")
        if not any(c.scp_role for c in contexts):
            raise ReportNotDelivered(f"{called_ae} did not accept our SCP role for Storage "
                                     "Commitment (PS3.4 J.3.3 requires it)")
        status, _, _ = await client.n_event_report(PUSH_MODEL, PUSH_MODEL_INSTANCE,
                                                   result.event_type,
                                                   result.event_information(calling_ae))
        if status != Status.SUCCESS:
            raise ReportNotDelivered(f"{called_ae} answered the report with status "
                                     f"0x{status:04X}")


# -- the SCU side: receiving the report ----------------------------------------------------------
class CommitmentReportReceiver(ServiceHandler):
    """The requestor's end of J.3.3: takes the N-EVENT-REPORT of ``transaction_uid`` on the
    requestor's own association (:meth:`on_event`, a
    :attr:`~dicomkit.net.client.Client.event_handler`) or, as a server, on a new association
    from the SCP, accepting its SCP role (PS3.7 D.3.3.4). ``result`` is set once; a report
    of another transaction is answered Success and ignored (it was for an earlier request
    under this AE title, and nobody else would take it)."""

    def __init__(self, transaction_uid: str) -> None:
        self.transaction_uid = transaction_uid
        self.result: CommitmentResult | None = None
        self.received = asyncio.Event()
        self.ignored: list[str] = []

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {PUSH_MODEL: UNCOMPRESSED_TS}

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        return abstract_syntax == PUSH_MODEL

    def take(self, event_type: int, data: Dataset | None) -> int:
        """The status to answer a report with."""
        if event_type not in (EVENT_SUCCESSFUL, EVENT_FAILURES_EXIST):
            return 0x0113  # No Such Event Type
        if data is None:
            return MISSING_ATTRIBUTE
        result = CommitmentResult.from_event(data)
        if result.transaction_uid != self.transaction_uid:
            self.ignored.append(result.transaction_uid)
            log.info("report of another transaction (%s) ignored", result.transaction_uid)
            return Status.SUCCESS
        if self.result is None:
            self.result = result
            self.received.set()
        return Status.SUCCESS

    async def on_event(self, data: Dataset | None, message: Message) -> int:
        return self.take(int(message.command.get("EventTypeID") or 0), data)

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None]:
        if message.command_field != CommandField.N_EVENT_REPORT_RQ:
            return Status.UNRECOGNIZED_OPERATION, None
        return await self.on_event(data, message), None
