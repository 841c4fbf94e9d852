"""Storage Commitment (PS3.4 Annex J) on the archive: what "committed" means here, where
requests wait for their report, and how a report reaches a requestor that closed its
association.

- :class:`ArchiveCommitmentCheck`: an instance is committed when the index has it with that
  SOP Class and its file is there and reads to the end at the size the index recorded
  (a missing, unreadable or short file: 0110H Processing failure; not indexed: 0112H No such
  object instance, or 0122H when its SOP class is not one the archive stores; another class:
  0119H Class/Instance conflict; PS3.3 C.14.1.1).
- :class:`ArchiveCommitment`: the :class:`~dicomkit.services.commitment.StorageCommitmentSCP`
  bound to the archive's outbox (kind ``commitment``, destination: the requestor's calling AE
  title, reference: the Transaction UID); its :meth:`~ArchiveCommitment.send` is the outbox
  sender that opens a new association to the ``--peer`` of that name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from dicomkit.archive.outbox import Delivery, Outbox, OwedMessage
from dicomkit.archive.records import InstanceRow
from dicomkit.archive.schema import instances
from dicomkit.archive.store import Archive
from dicomkit.core.uid import storage_sop_classes
from dicomkit.net.association import Timeouts
from dicomkit.services.access import AccessPolicy
from dicomkit.services.commitment import (
    CommitmentRequest,
    FailureReason,
    Reference,
    StorageCommitmentSCP,
    evaluate,
    send_report,
)

log = logging.getLogger("dicomkit.archive.commitment")

KIND = "commitment"
BATCH = 500  # UIDs per index lookup
CHUNK = 1 << 20  # bytes per read when a file is re-read


class ArchiveCommitmentCheck:
    """A :class:`~dicomkit.services.commitment.CommitmentCheck` on the archive's index and
    files."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.storage_classes = frozenset(storage_sop_classes())

    def check(self, references: Sequence[Reference]) -> dict[Reference, int | None]:
        rows: dict[str, InstanceRow] = {}
        uids = list(dict.fromkeys(ref.sop_instance for ref in references))
        for start in range(0, len(uids), BATCH):
            batch = uids[start:start + BATCH]
            for found in self.archive.index.instances_of([instances.c.sop_uid.in_(batch)]):
                rows[found.sop_uid] = found
        outcome: dict[Reference, int | None] = {}
        for ref in references:
            row = rows.get(ref.sop_instance)
            if row is None:
                outcome[ref] = (FailureReason.NO_SUCH_OBJECT_INSTANCE
                                if ref.sop_class in self.storage_classes
                                else FailureReason.REFERENCED_SOP_CLASS_NOT_SUPPORTED)
            elif row.sop_class != ref.sop_class:
                outcome[ref] = FailureReason.CLASS_INSTANCE_CONFLICT
            elif not self.file_intact(row.path, row.size):
                outcome[ref] = FailureReason.PROCESSING_FAILURE
            else:
                outcome[ref] = None
        return outcome

    def file_intact(self, relative: str, size: int) -> bool:
        """The file reads to its end and has the size the index recorded at ingest."""
        try:
            path = self.archive.absolute(relative)
            count = 0
            with open(path, "rb", buffering=0) as handle:
                while chunk := handle.read(CHUNK):
                    count += len(chunk)
        except (OSError, ValueError) as exc:
            log.warning("commitment: %s cannot be read: %s", relative, exc)
            return False
        if count != size:
            log.warning("commitment: %s has %d bytes, the index recorded %d", relative, count,
                        size)
            return False
        return True


class ArchiveCommitment(StorageCommitmentSCP):
    """The push model SCP on the archive: requests kept in the outbox until their report is
    delivered; reports that cannot go on the requestor's association go to
    ``peers[calling AE]`` on a new one, retried by the outbox's delivery loop (no such peer:
    kept, logged, retried; a restart makes every owed report due at once). With ``access``,
    the requestor needs "commit" to ask, and a report goes on a new association only to an AE
    that may "commit" (one that lost it since is owed its report until it has it again)."""

    def __init__(self, archive: Archive, outbox: Outbox, delivery: Delivery, *,
                 peers: dict[str, tuple[str, int]], ae_title: str,
                 timeouts: Timeouts | None = None,
                 access: AccessPolicy | None = None) -> None:
        super().__init__(ArchiveCommitmentCheck(archive), self, ae_title=ae_title,
                         access=access)
        self.outbox = outbox
        self.delivery = delivery
        self.peers = peers
        self.timeouts = timeouts

    # -- OwedReports ---------------------------------------------------------------------------
    def owe(self, request: CommitmentRequest, hold: float) -> int:
        return self.outbox.add(KIND, request.requestor, request.transaction_uid,
                               request.to_payload(), delay=hold)

    def delivered(self, key: int) -> None:
        self.outbox.mark_delivered(key)

    def send_later(self, key: int) -> None:
        self.outbox.retry_now(key)
        self.delivery.kick()

    # -- the delivery loop -----------------------------------------------------------------------
    async def send(self, message: OwedMessage) -> None:
        """The outbox sender for kind ``commitment``: raises when not delivered."""
        if self.access is not None:
            refused = self.access.refusal(message.destination, "commit")
            if refused is not None:
                raise PermissionError(f"the report of transaction {message.reference} is not "
                                      f"sent: {refused} (its [ae] permissions lack "
                                      "\"commit\")")
        peer = self.peers.get(message.destination.strip())
        if peer is None:
            raise LookupError(f"no --peer named {message.destination!r}: the report of "
                              f"transaction {message.reference} waits for one")
        request = CommitmentRequest.from_payload(message.payload)
        result = await asyncio.to_thread(evaluate, self.check, request)
        await send_report(result, host=peer[0], port=peer[1], calling_ae=self.ae_title,
                          called_ae=message.destination.strip(), timeouts=self.timeouts)
        log.info("commitment report %s sent to %s at %s:%d (event type %d)",
                 request.transaction_uid, message.destination, peer[0], peer[1],
                 result.event_type)

    async def resume(self, stop: asyncio.Event) -> None:
        """At start: every report still owed is due now (a restart loses none, and a peer
        named since by the configuration is tried at once)."""
        owed = await asyncio.to_thread(self.outbox.messages, KIND, owed_only=True)
        for message in owed:
            await asyncio.to_thread(self.outbox.retry_now, message.pk)
        if owed:
            log.info("%d storage commitment report(s) owed from before the restart",
                     len(owed))
            self.delivery.kick()
