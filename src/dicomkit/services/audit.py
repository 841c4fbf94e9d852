"""The association server's reports as PS3.15 A.5.3 audit messages.

:class:`AssociationAudit` is a :class:`~dicomkit.net.events.ServerObserver`: ``dicomkit serve``
hands it to the :class:`~dicomkit.net.server.Server`, with the :class:`~dicomkit.audit.Auditor`
the messages go to and a look-up from SOP Instance UIDs to patients and studies (the archive
index's ``audit_summary``), which runs on the auditor's thread, never on the event loop.

=====================================  =====================================================
server report                          message
=====================================  =====================================================
association accepted / ended           A.5.3.11 Security Alert, Session start / stop (0)
association rejected (PS3.8 9-21)      A.5.3.11 Security Alert, Node Authentication (4)
C-STORE (per association, at its end)  A.5.3.7 Instances Transferred, C / U / R per patient
C-FIND                                 A.5.3.10 Query: SOP Class, identifier, transfer syntax
C-MOVE / C-GET found instances         A.5.3.3 Begin Transferring DICOM Instances
C-MOVE / C-GET ended                   A.5.3.7 Instances Transferred (R): one message for the
                                       sent, one with outcome 4 for the failed (A.5.2)
request refused 0124 (Not Authorised)  A.5.3.11 Security Alert, Authorization Decision (4)
=====================================  =====================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dicomkit.audit import Auditor
from dicomkit.audit import messages as m
from dicomkit.net import pdu as P
from dicomkit.net.association import Association, describe_rejection
from dicomkit.net.dimse import Message, Status
from dicomkit.net.events import RetrieveReport, ServerObserver
from dicomkit.services.storage import Stored

log = logging.getLogger("dicomkit.services.audit")
Summarize = Callable[[Sequence[str]], list[dict[str, Any]]]
# PS3.7 C.4.x: what counts as stored (Success and the Warning B0xx coercion statuses)
STORE_ACTION = {"added": "C", "replaced": "U", "ignored": "R"}


class AssociationAudit(ServerObserver):
    def __init__(self, auditor: Auditor, source: m.AuditSource, ae_title: str,
                 host: str | None, summarize: Summarize) -> None:
        self.auditor = auditor
        self.source = source
        self.ae_title = ae_title
        self.host = host
        self.summarize = summarize
        # What the Instances Transferred message of a C-MOVE / C-GET says of the copies sent
        # to a destination AE (e.g. that they were de-identified); None: nothing.
        self.transfer_note: Callable[[str], str | None] = lambda destination_ae: None
        self.stored_uids: dict[int, dict[str, str]] = {}  # association -> SOP UID -> action

    # -- participants -------------------------------------------------------------------------
    def local(self, association: Association | None = None) -> m.ActiveParticipant:
        called = association.called_ae.strip() if association is not None else ""
        return m.application_entity(called or self.ae_title, self.host, requestor=False)

    @staticmethod
    def peer(association: Association, requestor: bool = True) -> m.ActiveParticipant:
        address = association.peer[0] if association.peer else None
        return m.application_entity(association.calling_ae, address, requestor=requestor)

    # -- associations --------------------------------------------------------------------------
    def association_accepted(self, association: Association) -> None:
        self.auditor.record(m.security_alert(
            self.source, self.local(association), m.SESSION_START, outcome=m.SUCCESS,
            description=f"association from {association.calling_ae.strip()} accepted",
            performers=[self.peer(association)]))

    def association_rejected(self, association: Association,
                             rejection: P.AAssociateRJ) -> None:
        self.auditor.record(m.security_alert(
            self.source, self.local(), m.NODE_AUTHENTICATION, outcome=m.MINOR_FAILURE,
            description=f"association from {association.calling_ae.strip() or '?'} to "
                        f"{association.called_ae.strip() or '?'} {describe_rejection(rejection)}",
            performers=[self.peer(association)]))

    def association_closed(self, association: Association) -> None:
        stored = self.stored_uids.pop(id(association), None)
        if stored:
            self._transferred(association, stored)
        self.auditor.record(m.security_alert(
            self.source, self.local(association), m.SESSION_STOP, outcome=m.SUCCESS,
            description=f"association from {association.calling_ae.strip()} ended",
            performers=[self.peer(association)]))

    # -- services ------------------------------------------------------------------------------
    def stored(self, association: Association, message: Message, status: int) -> None:
        if status == Status.NOT_AUTHORISED:
            self.refused(association, message, status, "C-STORE of "
                         f"{message.command.get('AffectedSOPInstanceUID') or '?'}")
            return
        stored = message.outcome
        uid = str(message.command.get("AffectedSOPInstanceUID") or "")
        if (isinstance(stored, Stored) and stored.result in STORE_ACTION and uid
                and Status.category(status) in ("Success", "Warning")):
            self.stored_uids.setdefault(id(association), {})[uid] = STORE_ACTION[stored.result]

    def refused(self, association: Association, message: Message, status: int,
                comment: str) -> None:
        if status != Status.NOT_AUTHORISED:
            return  # other refusals are errors of the request, not of access control
        self.auditor.record(m.security_alert(
            self.source, self.local(association), m.AUTHORIZATION_DECISION,
            outcome=m.MINOR_FAILURE,
            description=f"{association.calling_ae.strip()} refused (0124 Not Authorised): "
                        f"{comment}", performers=[self.peer(association)]))

    def _transferred(self, association: Association, stored: dict[str, str]) -> None:
        sender, receiver = self.peer(association), self.local(association)

        def build() -> Iterable[m.AuditMessage]:
            for action in ("C", "U", "R"):
                uids = [uid for uid, done in stored.items() if done == action]
                if not uids:
                    continue
                for patient, studies in m.by_patient(self.summarize(uids)):
                    yield m.instances_transferred(self.source, sender, receiver, studies,
                                                  patient, action=action)

        self.auditor.defer(build)

    def queried(self, association: Association, message: Message) -> None:
        data = message.data
        context = association.contexts.get(message.context_id)
        self.auditor.record(m.dimse_query(
            self.source, self.peer(association), self.local(association),
            str(message.command.get("AffectedSOPClassUID") or ""),
            bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else b"",
            context.transfer_syntax if context is not None else ""))

    def _destination(self, association: Association,
                     report: RetrieveReport) -> m.ActiveParticipant:
        if report.destination is None:  # C-GET: back to the requestor
            return self.peer(association, requestor=True)
        return m.application_entity(report.destination_ae, report.destination[0],
                                    requestor=False)

    def _others(self, association: Association,
                report: RetrieveReport) -> list[m.ActiveParticipant]:
        return [self.peer(association)] if report.destination is not None else []

    def retrieve_started(self, association: Association, message: Message,
                         report: RetrieveReport) -> None:
        if not report.matched:
            return
        sender = self.local(association)
        receiver, others = self._destination(association, report), self._others(
            association, report)

        def build() -> Iterable[m.AuditMessage]:
            for patient, studies in m.by_patient(self.summarize(report.matched)):
                yield m.begin_transferring(self.source, sender, receiver, studies, patient,
                                           others=others)

        self.auditor.defer(build)

    def retrieved(self, association: Association, message: Message,
                  report: RetrieveReport) -> None:
        sender = self.local(association)
        receiver, others = self._destination(association, report), self._others(
            association, report)
        status = f"status {report.status:04X}" if report.status is not None else ""
        note = self.transfer_note(report.destination_ae)

        def build() -> Iterable[m.AuditMessage]:
            for uids, outcome in ((report.completed, m.SUCCESS),
                                  (report.failed, m.MINOR_FAILURE)):
                if not uids:
                    continue
                failed = (None if outcome == m.SUCCESS else
                          f"{len(uids)} sub-operation(s) failed, {status}")
                description = "; ".join(t for t in (note, failed) if t) or None
                for patient, studies in m.by_patient(self.summarize(uids)):
                    yield m.instances_transferred(
                        self.source, sender, receiver, studies, patient, action="R",
                        outcome=outcome, others=others, description=description)

        self.auditor.defer(build)
