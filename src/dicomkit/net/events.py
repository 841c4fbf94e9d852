"""What the association server reports as it works, for an observer such as an audit trail
(PS3.15 A.5). :class:`ServerObserver`'s methods do nothing; override the ones wanted. They are
called on the event loop and must neither block nor raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomkit.net import pdu as P
    from dicomkit.net.association import Association
    from dicomkit.net.dimse import Message


@dataclass(frozen=True)
class RetrieveReport:
    """One C-MOVE or C-GET: where the instances go (the Move Destination, or the requestor
    for C-GET), which matched, and, once done, which were sent and which failed."""

    destination_ae: str
    destination: tuple[str, int] | None  # host and port of a C-MOVE destination
    matched: list[str] = field(default_factory=list)  # SOP Instance UIDs
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    status: int | None = None  # the final status, None when just starting


class ServerObserver:
    def association_accepted(self, association: Association) -> None:
        """The A-ASSOCIATE-AC was sent."""

    def association_rejected(self, association: Association,
                             rejection: P.AAssociateRJ) -> None:
        """An A-ASSOCIATE-RJ was sent (PS3.8 Table 9-21); ``calling_ae`` and ``peer`` say
        who asked."""

    def association_closed(self, association: Association) -> None:
        """An accepted association ended: released, aborted or cut."""

    def stored(self, association: Association, message: Message, status: int) -> None:
        """A C-STORE was answered with ``status``."""

    def queried(self, association: Association, message: Message) -> None:
        """A C-FIND was received (its identifier is ``message.data``, as received)."""

    def refused(self, association: Association, message: Message, status: int,
                comment: str) -> None:
        """A C-FIND, C-MOVE or C-GET was refused as a whole (ServiceFailure) with ``status``."""

    def retrieve_started(self, association: Association, message: Message,
                         report: RetrieveReport) -> None:
        """A C-MOVE or C-GET found what to send and is about to send it."""

    def retrieved(self, association: Association, message: Message,
                  report: RetrieveReport) -> None:
        """A C-MOVE or C-GET ended with ``report.status``."""
