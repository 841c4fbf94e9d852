"""Instance Availability Notification, the SCU side (PS3.4 Annex R; the IOD is PS3.3 A.53, its
module C.4.23).

An SCU tells another AE that instances are available for retrieval with one N-CREATE of the
Instance Availability Notification SOP Class (PS3.4 R.3.2.1). This module holds the rules that
do not depend on where the instances are kept:

- :func:`notification`: the N-CREATE data set of PS3.4 Table R.3.2-1 for a study's instances;
- :func:`notify`: the exchange, one association to the peer with the IAN SOP Class proposed,
  one N-CREATE, and the outcome (:class:`NotificationRefused` on a failure status).

Which studies to notify and when is the archive's business (:mod:`dicomkit.archive.ian`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.errors import DicomError
from dicomkit.net.association import Timeouts
from dicomkit.net.client import connect
from dicomkit.net.dimse import Status
from dicomkit.net.uids import UNCOMPRESSED_TS

INSTANCE_AVAILABILITY_NOTIFICATION = registered("InstanceAvailabilityNotification")
"""PS3.4 R.3: the one SOP Class of the service."""

MPPS_SOP_CLASS = registered("ModalityPerformedProcedureStep")

# PS3.3 C.4.23.1.1: the values of Instance Availability (0008,0056).
AVAILABILITY = ("ONLINE", "NEARLINE", "OFFLINE", "UNAVAILABLE")

# PS3.7 C.4.1 / PS3.4 R.3: an N-CREATE that the peer already holds (a retry of one whose
# response was lost) reached it; so did one answered with a warning.
DUPLICATE_SOP_INSTANCE = 0x0111


@dataclass(frozen=True)
class AvailableInstance:
    """One instance to announce: its series and SOP Class / Instance UIDs."""

    series_uid: str
    sop_class: str
    sop_uid: str


class NotificationRefused(DicomError):
    """The peer answered the N-CREATE with a failure status (PS3.4 R.3.2.1.3)."""

    def __init__(self, status: int, comment: str, peer: str) -> None:
        self.status = status
        self.comment = comment
        detail = f": {comment}" if comment else ""
        super().__init__(f"{peer} refused the Instance Availability Notification with status "
                         f"0x{status:04X}{detail}")


def notification(study_uid: str, instances: Iterable[AvailableInstance], retrieve_ae: str, *,
                 performed_procedure_step: str | None = None,
                 availability: str = "ONLINE") -> Dataset:
    """The N-CREATE attributes of PS3.4 Table R.3.2-1 for ``instances`` of one study.

    - Referenced Performed Procedure Step Sequence (2/2): zero or one item (PS3.3 C.4.23): the
      MPPS (its SOP Instance UID) that produced the instances when there is one, with an empty
      Performed Workitem Code Sequence (2/2); otherwise the sequence is empty.
    - Study Instance UID (1/1), Referenced Series Sequence (1/1) with Series Instance UID and
      Referenced SOP Sequence (1/1): each instance's SOP Class / Instance UID, its Instance
      Availability (1/1) and Retrieve AE Title (1/1).

    No other attribute is sent: R.3.2.1.2 forbids optional attributes beyond the table (no
    patient or procedure identifiers). Every value is in the default repertoire, so Specific
    Character Set (1C) is not needed. Instances are grouped by series in the order given."""
    if availability not in AVAILABILITY:
        raise ValueError(f"Instance Availability {availability!r} is not one of "
                         f"{', '.join(AVAILABILITY)} (PS3.3 C.4.23.1.1)")
    if not study_uid:
        raise ValueError("an Instance Availability Notification needs the Study Instance UID")
    by_series: dict[str, list[Dataset]] = {}
    for instance in instances:
        item = Dataset()
        item.ReferencedSOPClassUID = instance.sop_class
        item.ReferencedSOPInstanceUID = instance.sop_uid
        item.InstanceAvailability = availability
        item.RetrieveAETitle = retrieve_ae
        by_series.setdefault(instance.series_uid, []).append(item)
    if not by_series:
        raise ValueError(f"study {study_uid} has no instance to announce (PS3.3 C.4.23: one "
                         "or more items in Referenced Series Sequence)")
    ds = Dataset()
    steps: list[Dataset] = []
    if performed_procedure_step:
        step = Dataset()
        step.ReferencedSOPClassUID = MPPS_SOP_CLASS
        step.ReferencedSOPInstanceUID = performed_procedure_step
        step.PerformedWorkitemCodeSequence = []
        steps.append(step)
    ds.ReferencedPerformedProcedureStepSequence = steps
    ds.StudyInstanceUID = study_uid
    series_items = []
    for series_uid, items in by_series.items():
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ReferencedSOPSequence = items
        series_items.append(series)
    ds.ReferencedSeriesSequence = series_items
    return ds


async def notify(host: str, port: int, dataset: Dataset, sop_instance_uid: str, *,
                 calling_aet: str, called_aet: str, timeouts: Timeouts | None = None) -> int:
    """Send one Instance Availability Notification (PS3.4 R.3.2.1): an association to
    ``host:port`` proposing the IAN SOP Class, an N-CREATE of ``dataset`` as SOP Instance
    ``sop_instance_uid``, a release. Returns the status when it is success, a warning or
    0111H Duplicate SOP Instance (the peer has it already: an earlier attempt whose response
    was lost); raises :class:`NotificationRefused` for any other failure and
    :class:`~dicomkit.net.association.AssociationError` when the peer cannot be reached or
    refuses the association or the SOP Class."""
    peer = f"{called_aet}@{host}:{port}"
    async with connect(host, port, calling_aet=calling_aet, called_aet=called_aet,
                       contexts=[(INSTANCE_AVAILABILITY_NOTIFICATION, UNCOMPRESSED_TS[:2])],
                       timeouts=timeouts) as client:
        status, _reply, response = await client.n_create(
            INSTANCE_AVAILABILITY_NOTIFICATION, sop_instance_uid, dataset)
    if Status.category(status) in ("Success", "Warning") or status == DUPLICATE_SOP_INSTANCE:
        return int(status)
    raise NotificationRefused(int(status), str(response.get("ErrorComment") or ""), peer)
