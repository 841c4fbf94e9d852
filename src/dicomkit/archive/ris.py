"""The RIS feed: HL7 v2 orders and patient updates over MLLP applied to the worklist
(IHE RAD TF-2 RAD-4 Procedure Scheduled, RAD-13 Procedure Update; ADT^A08, ADT^A40).

Each message is parsed and mapped by :mod:`dicomkit.hl7` into operations; :class:`RisFeed`
applies them to the :class:`~dicomkit.archive.worklist.WorklistStore` in a worker thread, all
operations of one message in **one** database transaction (the store's methods called with
``connection=``): every operation is checked (items validated, the steps to change found) and
applied, and the transaction commits only when all of them succeeded. The ACK is AA only after
that commit, so an acknowledged change survives a SIGKILL; any refusal or failure (a step
scheduled twice in the same message, the database going away) rolls the whole message back
and is answered AE naming the segment of the operation that failed: a message is applied all
or nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import Connection

from dicomkit.archive.worklist import (
    StepScheduledAlready,
    WorklistEntry,
    WorklistError,
    WorklistStore,
    validate_item,
)
from dicomkit.hl7 import ack
from dicomkit.hl7.mapping import (
    CancelOrder,
    ChangeOrderStatus,
    MergePatient,
    NewOrder,
    Operation,
    UpdateOrder,
    UpdatePatient,
    operations,
)
from dicomkit.hl7.messages import (
    APPLICATION_INTERNAL_ERROR,
    DATA_TYPE_ERROR,
    DUPLICATE_KEY_IDENTIFIER,
    REQUIRED_FIELD_MISSING,
    UNKNOWN_KEY_IDENTIFIER,
    Header,
    HL7Error,
    parse,
    read_header,
)
from dicomkit.hl7.mllp import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_MESSAGE, MLLPServer

log = logging.getLogger("dicomkit.archive.ris")


@dataclass
class _Planned:
    """An operation with the steps it changes (found before anything is applied)."""

    operation: Operation
    targets: list[WorklistEntry]


class RisFeed:
    """HL7 messages to worklist changes, answered with an ACK. ``default_station``: the
    Scheduled Station AE Title of steps whose order names none."""

    def __init__(self, store: WorklistStore, *, default_station: str = "",
                 max_message: int = DEFAULT_MAX_MESSAGE,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self.store = store
        self.default_station = default_station
        self.listener = MLLPServer(self.message, self.oversized, max_message=max_message,
                                   idle_timeout=idle_timeout)
        # one message applied at a time: two connections updating the same order stay ordered
        self.lock = asyncio.Lock()

    async def start(self, host: str, port: int) -> None:
        await self.listener.start(host, port)

    @property
    def port(self) -> int:
        return self.listener.port

    async def close(self) -> None:
        await self.listener.close()

    async def message(self, data: bytes) -> bytes:
        """One message's ACK: AA after its changes are committed, AE/AR with the reason."""
        try:
            header = read_header(data)
        except HL7Error as exc:
            log.warning("HL7: message refused (AR): %s", exc)
            return ack.for_error(Header(), exc)
        try:
            message = parse(data)
            planned = operations(message, default_station=self.default_station)
        except HL7Error as exc:
            return self._refused(header, exc)
        async with self.lock:
            try:
                summary = await asyncio.to_thread(self.apply, planned)
            except HL7Error as exc:
                return self._refused(header, exc)
        log.info("HL7 %s^%s %s from %s: AA (%s)", header.message_type, header.trigger_event,
                 header.control_id, header.sending_application or "?", summary)
        return ack.accepted(header, summary)

    def oversized(self, head: bytes, size: int) -> bytes:
        """AR for a message over the size limit (its MSH read from its first bytes)."""
        error = HL7Error(f"the message is {size} bytes, over the limit of "
                         f"{self.listener.max_message} bytes", code=APPLICATION_INTERNAL_ERROR,
                         reject=True)
        try:
            header = read_header(head)
        except HL7Error:
            header = Header()
        return self._refused(header, error)

    def _refused(self, header: Header, error: HL7Error) -> bytes:
        log.warning("HL7 %s^%s %s from %s: %s: %s", header.message_type or "?",
                    header.trigger_event or "?", header.control_id or "?",
                    header.sending_application or "?", "AR" if error.reject else "AE", error)
        return ack.for_error(header, error)

    # -- applying (in a worker thread) -------------------------------------------------------
    def apply(self, planned: list[Operation]) -> str:
        """Check and apply every operation in one transaction, committed only when all
        succeeded; a summary for MSA-3. Raises :class:`HL7Error` (nothing applied) naming the
        segment of the operation that was refused or failed."""
        current: Operation | None = None
        try:
            with self.store.transaction() as connection:
                plan: list[_Planned] = []
                for operation in planned:
                    current = operation
                    plan.append(self._plan(operation, connection))
                done: list[str] = []
                for step in plan:
                    current = step.operation
                    done.append(self._apply(step, connection))
                current = None  # a failure now is the commit's
        except HL7Error:
            raise
        except WorklistError as exc:
            assert current is not None
            raise _store_error(current, exc) from None
        except Exception as exc:  # the database: reported as AE 207, the sender retries
            what = type(current).__name__ if current is not None else "the commit"
            log.exception("HL7: applying %s failed; nothing of the message was applied", what)
            raise HL7Error(f"the worklist could not be changed ({what}), nothing of the "
                           f"message was applied: {type(exc).__name__}: {exc}",
                           code=APPLICATION_INTERNAL_ERROR,
                           segment=current.origin.segment if current is not None else "",
                           sequence=current.origin.sequence if current is not None else 1
                           ) from None
        return "; ".join(done)

    def _plan(self, operation: Operation, connection: Connection) -> _Planned:
        if isinstance(operation, NewOrder):
            self._validate(operation)
            taken = self.store.find_steps(**_step_keys(operation), connection=connection)
            if taken:
                raise operation.origin.error(
                    f"the step ({operation.keys}) is scheduled already (worklist item "
                    f"{taken[0].key}); send ORC-1 XO to change it", DUPLICATE_KEY_IDENTIFIER)
            return _Planned(operation, [])
        if isinstance(operation, (UpdateOrder, CancelOrder, ChangeOrderStatus)):
            targets = self.store.find_steps(**operation.keys.query(), connection=connection)
            if not targets:
                raise operation.origin.error(f"no worklist item has {operation.keys}",
                                             UNKNOWN_KEY_IDENTIFIER)
            if isinstance(operation, UpdateOrder):
                if len(targets) > 1:
                    raise operation.origin.error(
                        f"{len(targets)} worklist items have {operation.keys}; the change "
                        "needs one", DUPLICATE_KEY_IDENTIFIER)
                if "StudyInstanceUID" not in operation.item:
                    operation.item.StudyInstanceUID = targets[0].study_uid
                self._validate(operation)
            return _Planned(operation, targets)
        return _Planned(operation, [])

    def _validate(self, operation: NewOrder | UpdateOrder) -> None:
        try:
            validate_item(operation.item)
        except WorklistError as exc:
            raise _store_error(operation, exc) from None

    def _apply(self, step: _Planned, connection: Connection) -> str:
        operation = step.operation
        store = self.store
        if isinstance(operation, NewOrder):
            entries = store.add(operation.item, connection=connection)
            return f"scheduled {operation.keys} as worklist item " + ", ".join(
                str(e.key) for e in entries)
        if isinstance(operation, UpdateOrder):
            store.replace(step.targets[0].key, operation.item, connection=connection)
            return f"updated worklist item {step.targets[0].key}"
        if isinstance(operation, CancelOrder):
            status = "DISCONTINUED" if operation.discontinued else "CANCELLED"
            for target in step.targets:
                store.set_status(target.key, status, connection=connection)
            return f"{status.lower()} worklist item " + ", ".join(
                str(t.key) for t in step.targets)
        if isinstance(operation, ChangeOrderStatus):
            for target in step.targets:
                store.set_status(target.key, operation.status, connection=connection)
            return f"worklist item {', '.join(str(t.key) for t in step.targets)} " \
                   f"now {operation.status}"
        if isinstance(operation, UpdatePatient):
            count = store.update_patient(operation.patient_id, operation.issuer,
                                         operation.changes, connection=connection)
            return f"patient {operation.patient_id} updated in {count} worklist item(s)"
        assert isinstance(operation, MergePatient)
        count = store.merge_patient(operation.old_id, operation.old_issuer, operation.new_id,
                                    operation.new_issuer, operation.changes,
                                    connection=connection)
        return (f"patient {operation.old_id} merged into {operation.new_id} in {count} "
                "worklist item(s)")


def _step_keys(operation: NewOrder) -> dict[str, str]:
    keys = operation.keys
    return {"accession_number": keys.accession_number,
            "requested_procedure_id": keys.requested_procedure_id, "sps_id": keys.sps_id}


def _store_error(operation: Operation, exc: Exception) -> HL7Error:
    """A store refusal as an AE at the operation's segment: 205 for a step scheduled already,
    101 for a required attribute missing, 102 for a value the item cannot hold."""
    text = str(exc)
    if isinstance(exc, StepScheduledAlready):
        code = DUPLICATE_KEY_IDENTIFIER
    elif "missing or empty" in text:
        code = REQUIRED_FIELD_MISSING
    else:
        code = DATA_TYPE_ERROR
    return operation.origin.error(f"the worklist refused the item: {text}", code)

