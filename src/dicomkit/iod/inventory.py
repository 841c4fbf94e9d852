"""The Inventory IOD (PS3.3 A.88, Supplement 223): an archive's Studies, Series and Instances
as a tree of Inventory SOP Instances.

One SOP Instance holds General Equipment (C.7.5.1), the Inventory Module (C.38.1) and SOP
Common (C.12.1). The inventoried entities are nested sequences: Inventoried Studies Sequence
(0008,0423) > Inventoried Series Sequence (0008,0424) > Inventoried Instances Sequence
(0008,0425), down to the Inventory Level (0008,0403).

A large inventory is split (C.38.1.1.5, PS3.17 YYYY.3.3 "Inventory Instance Tree"): leaves of
at most ``max_records`` records each, and above them nodes whose Incorporated Inventory
Instance Sequence (0008,0422) references their children, up to one root. :class:`TreeWriter`
does this as the records stream in: a leaf is handed to a sink as soon as it is full, so only
one leaf's studies and the references of the finished children are ever held (a Study is never
split: a Study larger than the budget fills a leaf on its own).

:func:`summary` reads one instance back (``dicomkit inventory read``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered

__all__ = ["COMPLETION", "LEVELS", "InventoryHeader", "Reference", "TreeWriter",
           "inventory_instance", "summary"]

INVENTORY_STORAGE = registered("InventoryStorage")
LEVELS = ("STUDY", "SERIES", "INSTANCE")  # Inventory Level (0008,0403), C.38.1 enumerated
COMPLETION = ("COMPLETE", "PARTIAL")  # Inventory Completion Status (0008,0426), C.38.1.1.3
DEFAULT_MAX_RECORDS = 5000
"""Records (study + series + instance items) per leaf SOP Instance: a leaf of 5,000 instance
records is about 1 MB."""
DEFAULT_FANOUT = 1000
"""Children referenced by one node of the tree."""


@dataclass(frozen=True)
class Reference:
    """A produced Inventory SOP Instance as its parent references it, with the number of
    Study records in the subtree it roots."""

    sop_instance_uid: str
    studies: int


@dataclass
class InventoryHeader:
    """What every SOP Instance of one inventory shares (C.38.1-1): the time production began
    (Content Date/Time, C.38.1.1.1), the level, the Scope of Inventory (C.38.2: the key
    attributes as one item; None or empty: the whole repository), the Transaction UID when an
    Inventory Creation request asked for it, the purpose, the completion status, and the
    equipment that made it."""

    level: str
    began: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    scope: Dataset | None = None
    transaction_uid: str | None = None
    purpose: str = ""
    completion: str = "COMPLETE"
    manufacturer: str = "dicomkit"
    software_version: str = ""
    station_name: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"Inventory Level {self.level!r} is not one of {', '.join(LEVELS)}")
        if self.completion not in COMPLETION:
            raise ValueError(f"Inventory Completion Status {self.completion!r} is not one of "
                             f"{', '.join(COMPLETION)}")


def inventory_instance(header: InventoryHeader, studies: list[Dataset], *,
                       incorporated: Iterable[Reference] = (), description: str = "",
                       sop_instance_uid: str | None = None) -> Dataset:
    """One Inventory SOP Instance (A.88): ``studies`` are Inventoried Studies Sequence items
    (each with its Inventoried Series Sequence as the level asks), ``incorporated`` the child
    instances whose studies it includes by reference (C.38.1.1.5). Total Number of Study
    Records (0008,0428) counts the subtree this instance roots."""
    references = list(incorporated)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    now = dt.datetime.now(dt.UTC)
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.SOPClassUID = INVENTORY_STORAGE
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.ContentDate = header.began.strftime("%Y%m%d")
    ds.ContentTime = header.began.strftime("%H%M%S.%f")
    # General Equipment (C.7.5.1): Manufacturer is Type 2.
    ds.Manufacturer = header.manufacturer
    if header.station_name:
        ds.StationName = header.station_name[:16]
    if header.software_version:
        ds.SoftwareVersions = header.software_version[:64]
    # Scope of Inventory Macro (C.38.2): Type 2, zero items for the whole repository.
    ds.ScopeOfInventorySequence = [header.scope] if header.scope is not None and \
        len(header.scope) else []
    if header.transaction_uid:
        ds.TransactionUID = header.transaction_uid
    ds.InventoryPurpose = header.purpose[:10240]
    if description:
        ds.InventoryInstanceDescription = description
    ds.InventoryLevel = header.level
    ds.InventoryCompletionStatus = header.completion
    ds.NumberOfStudyRecordsInInstance = len(studies)
    ds.TotalNumberOfStudyRecords = len(studies) + sum(r.studies for r in references)
    if references:
        items = []
        for ref in references:
            item = Dataset()
            item.ReferencedSOPClassUID = INVENTORY_STORAGE
            item.ReferencedSOPInstanceUID = ref.sop_instance_uid
            items.append(item)
        ds.IncorporatedInventoryInstanceSequence = items
    ds.InventoriedStudiesSequence = studies
    return ds


class TreeWriter:
    """Splits a stream of Study records into leaves and links them into a tree (C.38.1.1.5).

    ``sink`` receives each finished SOP Instance (leaf, node, then the root last) and must keep
    it (write it out); :meth:`add` takes a Study item and the number of records it holds
    (itself, its series and instances); :meth:`finish` writes what remains and returns the
    root's SOP Instance UID. An empty inventory is one root with no Study (PS3.17
    YYYY.3.3.2.5)."""

    def __init__(self, header: InventoryHeader, sink: Callable[[Dataset], None], *,
                 max_records: int = DEFAULT_MAX_RECORDS, fanout: int = DEFAULT_FANOUT) -> None:
        if max_records < 1 or fanout < 2:
            raise ValueError("max_records must be at least 1 and fanout at least 2")
        self.header = header
        self.sink = sink
        self.max_records = max_records
        self.fanout = fanout
        self.studies: list[Dataset] = []
        self.records = 0
        self.leaves: list[Reference] = []  # finished children not yet under a node
        self.written = 0
        self.total_studies = 0

    def add(self, study: Dataset, records: int = 1) -> None:
        if self.studies and self.records + records > self.max_records:
            self.flush()
        self.studies.append(study)
        self.records += records
        self.total_studies += 1

    def flush(self) -> None:
        """The studies held so far become a leaf."""
        if not self.studies:
            return
        leaf = inventory_instance(self.header, self.studies,
                                  description=f"part {self.written + 1}")
        self.emit(leaf)
        self.leaves.append(Reference(str(leaf.SOPInstanceUID), len(self.studies)))
        self.studies, self.records = [], 0
        if len(self.leaves) >= self.fanout * self.fanout:
            # Keep the references held bounded: fold them into nodes as we go.
            self.leaves = self.nodes(self.leaves)

    def nodes(self, children: list[Reference]) -> list[Reference]:
        """One level of nodes above ``children``, ``fanout`` children each."""
        parents = []
        for start in range(0, len(children), self.fanout):
            group = children[start:start + self.fanout]
            node = inventory_instance(self.header, [], incorporated=group,
                                      description="node of incorporated inventories")
            self.emit(node)
            parents.append(Reference(str(node.SOPInstanceUID), sum(r.studies for r in group)))
        return parents

    def emit(self, ds: Dataset) -> None:
        self.sink(ds)
        self.written += 1

    def finish(self) -> str:
        """The root, written last; its UID. With everything in one leaf, that leaf is the
        root (no tree)."""
        if not self.leaves:
            root = inventory_instance(self.header, self.studies)
            self.studies, self.records = [], 0
            self.emit(root)
            return str(root.SOPInstanceUID)
        self.flush()
        children = self.leaves
        while len(children) > self.fanout:
            children = self.nodes(children)
        root = inventory_instance(self.header, [], incorporated=children,
                                  description="root")
        self.emit(root)
        self.leaves = []
        return str(root.SOPInstanceUID)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(_text(v) for v in value)
    return str(value).strip()


def summary(ds: Dataset) -> dict[str, Any]:
    """A readable account of one Inventory SOP Instance: its header, the children it
    incorporates, and per Study the counts of series and instance records it carries."""
    if _text(ds.get("SOPClassUID")) != INVENTORY_STORAGE:
        raise ValueError(f"not an Inventory SOP Instance (SOP Class UID "
                         f"{_text(ds.get('SOPClassUID')) or 'missing'})")
    studies = []
    for item in ds.get("InventoriedStudiesSequence") or []:
        series = item.get("InventoriedSeriesSequence") or []
        studies.append({
            "study_uid": _text(item.get("StudyInstanceUID")),
            "patient_id": _text(item.get("PatientID")),
            "patient_name": _text(item.get("PatientName")),
            "study_date": _text(item.get("StudyDate")),
            "accession_number": _text(item.get("AccessionNumber")),
            "series": len(series),
            "instances": sum(len(s.get("InventoriedInstancesSequence") or []) for s in series),
        })
    return {
        "sop_instance_uid": _text(ds.get("SOPInstanceUID")),
        "content": f"{_text(ds.get('ContentDate'))} {_text(ds.get('ContentTime'))}".strip(),
        "level": _text(ds.get("InventoryLevel")),
        "completion": _text(ds.get("InventoryCompletionStatus")),
        "purpose": _text(ds.get("InventoryPurpose")),
        "description": _text(ds.get("InventoryInstanceDescription")),
        "transaction_uid": _text(ds.get("TransactionUID")),
        "studies_in_instance": int(ds.get("NumberOfStudyRecordsInInstance") or 0),
        "total_studies": int(ds.get("TotalNumberOfStudyRecords") or 0),
        "incorporated": [_text(i.get("ReferencedSOPInstanceUID"))
                         for i in ds.get("IncorporatedInventoryInstanceSequence") or []],
        "studies": studies,
    }
