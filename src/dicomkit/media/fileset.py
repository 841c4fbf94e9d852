"""A File-set and its DICOMDIR as a tree of records: PS3.10 §8, PS3.3 F.3-F.5.

``FileSet.read("/media/cdrom")`` (the root, or the DICOMDIR itself) gives the records that are
in use as a tree, patient → study → series → instance (and the single-level records at the
root); every record keeps its whole data set, private records and keys included, and is
written back as it was read. ``add`` puts an instance under the records it belongs to (making
them as PS3.3 F.5 says), ``remove`` takes one out (and the records it leaves empty), ``write``
writes the DICOMDIR again, its offsets computed (:mod:`dicomkit.media.dicomdir`).

Reading refuses what could mislead or escape: an offset that points at no record, a loop of
offsets, a File ID that is not 1-8 components of 1-8 characters from A-Z 0-9 _ (so never
``..``, never absolute); lenient about what does no harm (lower-case File IDs, records no
offset reaches, which are listed in ``problems``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dicomkit.media.dicomdir as dicomdir
import dicomkit.media.fileid as fileid
import dicomkit.media.records as records
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.errors import DicomError
from dicomkit.media.errors import MediaError

# The key that tells two records of one type apart (PS3.3 F.5; Patient ID is unique within a
# File-set, PS3.11 D.3.3).
IDENTITY = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
            "PRIVATE": "PrivateRecordUID"}


def _text(ds: Dataset, keyword: Any) -> str:
    element = records.element_of(ds, keyword)
    if element is None or element.value is None:
        return ""
    value = element.value
    if isinstance(value, list):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _offset(ds: Dataset, tag: int, where: int | None, default: int = 0) -> int:
    """A record's (or the root's) US/UL link value; :class:`MediaError` when it is not one
    number."""
    element = ds.get(tag)
    if element is None:
        return default
    try:
        value = element.value
    except DicomError as exc:
        raise MediaError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) cannot be read: {exc}",
                         offset=where) from None
    if value is None or value == "":
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise MediaError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) is not one number: {value!r}",
                         offset=where)
    return value


@dataclass(eq=False)
class Record:
    """A directory record: its data set, where it sits in the tree, and where it was read
    (``offset`` of its item in the DICOMDIR, None when made here)."""

    dataset: Dataset
    parent: Record | None = None
    children: list[Record] = field(default_factory=list)
    offset: int | None = None

    @property
    def record_type(self) -> str:
        return _text(self.dataset, "DirectoryRecordType")

    @property
    def depth(self) -> int:
        """How many records are above this one (0 for a top-level record)."""
        depth = 0
        parent = self.parent
        while parent is not None:
            depth += 1
            parent = parent.parent
        return depth

    @property
    def file_id(self) -> tuple[str, ...] | None:
        """Referenced File ID (0004,1500) as components, None when the record names no file."""
        element = records.element_of(self.dataset, "ReferencedFileID")
        if element is None or element.value in (None, "", []):
            return None
        value = element.value
        parts = value if isinstance(value, list) else [value]
        return tuple(str(p).strip() for p in parts)

    @property
    def sop_instance_uid(self) -> str:
        return _text(self.dataset, "ReferencedSOPInstanceUIDInFile")

    @property
    def sop_class_uid(self) -> str:
        return _text(self.dataset, "ReferencedSOPClassUIDInFile")

    @property
    def transfer_syntax_uid(self) -> str:
        return _text(self.dataset, "ReferencedTransferSyntaxUIDInFile")

    @property
    def identity(self) -> str:
        """The key that identifies the record among its siblings."""
        keyword = IDENTITY.get(self.record_type)
        return _text(self.dataset, keyword) if keyword else self.sop_instance_uid

    def walk(self) -> Iterator[Record]:
        """This record and all beneath it, depth first."""
        stack = [self]
        while stack:
            record = stack.pop()
            yield record
            stack.extend(reversed(record.children))

    def describe(self) -> str:
        """One line: the record type and its main keys."""
        ds = self.dataset
        kind = self.record_type
        if kind == "PATIENT":
            text = f"{_text(ds, 'PatientName') or '(no name)'} [{_text(ds, 'PatientID')}]"
        elif kind == "STUDY":
            text = (f"{_text(ds, 'StudyDate')} {_text(ds, 'StudyDescription')!r} "
                    f"{_text(ds, 'StudyInstanceUID')}")
        elif kind == "SERIES":
            text = (f"{_text(ds, 'Modality')} #{_text(ds, 'SeriesNumber')} "
                    f"{_text(ds, 'SeriesInstanceUID')}")
        else:
            number = _text(ds, "InstanceNumber")
            text = (f"#{number} " if number else "") + (
                "\\".join(self.file_id) if self.file_id else "")
        return f"{kind} {text}".rstrip()


class FileSet:
    """A File-set: a root folder and the tree of its DICOMDIR's records.

    ``root`` may be None for a File-set that only exists as records (a ZIP being written)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, fileset_id: str = "",
                 uid: str | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self.fileset_id = fileset_id
        self.uid = uid or generate_uid()
        self.records: list[Record] = []
        self.problems: list[str] = []
        self.descriptor: tuple[str, ...] | None = None
        self.invented: list[str] = []
        self._by_uid: dict[str, Record] = {}

    # -- reading --------------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> FileSet:
        """The File-set whose DICOMDIR is ``path`` (or which ``path`` is the root of)."""
        path = Path(path)
        if path.is_dir():
            found = [p for p in path.iterdir() if p.name.upper() in ("DICOMDIR", "DICOMDIR.")]
            if not found:
                raise MediaError(f"{path}: no DICOMDIR in this folder")
            path = found[0]
        contents = dicomdir.read_dicomdir(path)
        uid = ""
        if contents.file_meta is not None:
            uid = _text(contents.file_meta, "MediaStorageSOPInstanceUID")
        fs = cls(path.parent, fileset_id=_text(contents.top, "FileSetID"), uid=uid or None)
        descriptor = records.element_of(contents.top, "FileSetDescriptorFileID")
        if descriptor is not None and descriptor.value:
            value = descriptor.value
            fs.descriptor = tuple(str(v) for v in (value if isinstance(value, list) else [value]))
        fs._link(contents)
        return fs

    def _link(self, contents: dicomdir.DicomdirContents) -> None:
        """PS3.3 F.3.2.2: follow the offsets from the root entity; every offset must be a
        record's, and no record may be reached twice."""
        by_offset = {raw.offset: raw for raw in contents.records}
        seen: set[int] = set()
        first = _offset(contents.top, dicomdir.FIRST_RECORD, None)
        # (offset of the first record of an entity, parent record or None for the root)
        stack: list[tuple[int, Record | None]] = [(first, None)]
        while stack:
            offset, parent = stack.pop()
            siblings = parent.children if parent is not None else self.records
            while offset:
                raw = by_offset.get(offset)
                if raw is None:
                    raise MediaError(f"a directory record offset points at no record "
                                     f"(0x{offset:x}, {len(by_offset)} records in the file)",
                                     offset=offset)
                if offset in seen:
                    raise MediaError("directory record offsets loop: this record is reached "
                                     "twice", offset=offset)
                seen.add(offset)
                ds = raw.dataset
                lower = _offset(ds, dicomdir.LOWER, offset)
                following = _offset(ds, dicomdir.NEXT, offset)
                if _offset(ds, dicomdir.IN_USE, offset, 0xFFFF) != 0:
                    record = Record(ds, parent, offset=offset)
                    self._check_file_id(record)
                    siblings.append(record)
                    if record.file_id is not None and record.sop_instance_uid:
                        self._by_uid[record.sop_instance_uid] = record
                    if lower:
                        stack.append((lower, record))
                offset = following
        unreached = len(by_offset) - len(seen)
        if unreached:
            self.problems.append(f"{unreached} directory record(s) are not reached by any "
                                 "offset (left out)")

    def _check_file_id(self, record: Record) -> None:
        parts = record.file_id
        if parts is not None:
            try:
                fileid.check(parts, strict=False)
            except MediaError as exc:
                raise MediaError(f"{record.record_type} record: {exc}",
                                 offset=record.offset) from None

    # -- browsing -------------------------------------------------------------------------
    def walk(self) -> Iterator[Record]:
        """Every record, depth first."""
        for record in self.records:
            yield from record.walk()

    def instances(self) -> Iterator[Record]:
        """The records that reference a file."""
        return (r for r in self.walk() if r.file_id is not None)

    def patients(self) -> list[Record]:
        return [r for r in self.records if r.record_type == records.PATIENT]

    def find(self, sop_instance_uid: str) -> Record | None:
        """The record that references SOP Instance ``sop_instance_uid``, if any."""
        return self._by_uid.get(sop_instance_uid)

    def path(self, record: Record) -> Path:
        """The file a record references, under the root (never outside it)."""
        if self.root is None:
            raise MediaError("this File-set has no root folder")
        parts = record.file_id
        if parts is None:
            raise MediaError(f"a {record.record_type} record references no file")
        return fileid.resolve(self.root, parts)

    def verify(self, record: Record) -> Dataset:
        """Check that the file ``record`` references exists and is the instance the record
        says (SOP Instance UID, SOP Class UID); its header."""
        from dicomkit.encoding.reader import read

        path = self.path(record)
        if not path.is_file():
            raise MediaError(f"{fileid.joined(record.file_id or ())}: the referenced file is "
                             "missing")
        header = read(path, stop_before_pixels=True)
        found = _text(header, "SOPInstanceUID")
        if found != record.sop_instance_uid:
            raise MediaError(f"{path}: SOP Instance UID {found or '(none)'} is not the record's "
                             f"{record.sop_instance_uid or '(none)'}")
        found_class = _text(header, "SOPClassUID")
        if record.sop_class_uid and found_class != record.sop_class_uid:
            raise MediaError(f"{path}: SOP Class UID {found_class or '(none)'} is not the "
                             f"record's {record.sop_class_uid}")
        return header

    # -- changing -------------------------------------------------------------------------
    def add_header(self, header: Dataset, file_id: tuple[str, ...] | list[str], *,
                   transfer_syntax: str | None = None, invent: bool = True) -> Record:
        """Add the instance whose header is ``header``, stored at ``file_id``: its PATIENT,
        STUDY and SERIES records are found or made, and its own record replaces any record
        of the same SOP Instance UID. ``transfer_syntax`` is the file's (default: the header's
        File Meta Information)."""
        parts = fileid.check(list(file_id))
        record_type = records.record_type_for(header)
        leaf = records.make_record(record_type, header, invent=invent, invented=self.invented)
        meta = header.file_meta
        sop_class = _text(header, "SOPClassUID") or (
            _text(meta, "MediaStorageSOPClassUID") if meta is not None else "")
        sop_uid = _text(header, "SOPInstanceUID") or (
            _text(meta, "MediaStorageSOPInstanceUID") if meta is not None else "")
        if not sop_uid or not sop_class:
            raise MediaError("the instance has no SOP Class UID or SOP Instance UID")
        ts = transfer_syntax or (_text(meta, "TransferSyntaxUID") if meta is not None else "")
        existing = self.find(sop_uid)
        if existing is not None:
            self.remove(existing)
        leaf.set("ReferencedFileID", list(parts), "CS")
        leaf.set("ReferencedSOPClassUIDInFile", sop_class, "UI")
        leaf.set("ReferencedSOPInstanceUIDInFile", sop_uid, "UI")
        leaf.set("ReferencedTransferSyntaxUIDInFile", ts, "UI")
        if record_type in records.SINGLE_LEVEL:
            siblings, parent = self.records, None
        else:
            parent = self._level(None, records.PATIENT, header, invent)
            parent = self._level(parent, records.STUDY, header, invent)
            parent = self._level(parent, records.SERIES, header, invent)
            siblings = parent.children
        record = Record(leaf, parent)
        siblings.append(record)
        self._by_uid[sop_uid] = record
        return record

    def _level(self, parent: Record | None, record_type: str, header: Dataset,
               invent: bool) -> Record:
        siblings = parent.children if parent is not None else self.records
        made = records.make_record(record_type, header, invent=invent, invented=self.invented)
        identity = _text(made, IDENTITY[record_type])
        for record in siblings:
            if record.record_type == record_type and record.identity == identity:
                return record
        record = Record(made, parent)
        siblings.append(record)
        return record

    def remove(self, record: Record | str) -> None:
        """Take a record (or the instance record of a SOP Instance UID) out of the tree, with
        the records it leaves empty above it. The file itself is not touched."""
        if isinstance(record, str):
            found = self.find(record)
            if found is None:
                raise MediaError(f"no record references SOP Instance {record}")
            record = found
        for gone in record.walk():
            if self._by_uid.get(gone.sop_instance_uid) is gone:
                del self._by_uid[gone.sop_instance_uid]
        while True:
            siblings = record.parent.children if record.parent is not None else self.records
            siblings[:] = [r for r in siblings if r is not record]
            parent = record.parent
            if parent is None or parent.children or parent.file_id is not None:
                return
            record = parent

    def sort(self) -> None:
        """Order each series' instance records by Instance Number (then File ID), as viewers
        list them; other levels keep the order they were added in."""
        def number(record: Record) -> tuple[int, tuple[str, ...]]:
            text = _text(record.dataset, "InstanceNumber")
            try:
                value = int(text)
            except ValueError:
                value = 1 << 31
            return value, record.file_id or ()

        for record in self.walk():
            if record.record_type == records.SERIES:
                record.children.sort(key=number)

    # -- writing --------------------------------------------------------------------------
    def encode(self) -> list[bytes]:
        """The DICOMDIR's bytes: records in depth-first order, offsets placed."""
        order: list[Record] = list(self.walk())
        index = {id(r): i for i, r in enumerate(order)}
        following: dict[int, int] = {}
        for siblings in [self.records] + [r.children for r in order]:
            for current, after in zip(siblings, siblings[1:], strict=False):
                following[id(current)] = index[id(after)]
        links = [dicomdir.RecordLinks(record.dataset, following.get(id(record)),
                                      index[id(record.children[0])] if record.children else None)
                 for record in order]
        first = 0 if self.records else None
        last = index[id(self.records[-1])] if self.records else None
        return dicomdir.encode_dicomdir(links, first=first, last=last,
                                        fileset_id=self.fileset_id, instance_uid=self.uid,
                                        descriptor=self.descriptor)

    def write(self, target: str | os.PathLike[str] | IO[bytes] | None = None) -> Path | None:
        """Write the DICOMDIR to ``target`` (default ROOT/DICOMDIR); the path written."""
        if target is None:
            if self.root is None:
                raise MediaError("this File-set has no root folder: give a target")
            target = self.root / "DICOMDIR"
        dicomdir.write_chunks(self.encode(), target)
        return Path(target) if isinstance(target, (str, os.PathLike)) else None
