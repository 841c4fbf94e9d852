"""File-sets for the media tests: the record tree as dicomkit and pydicom read it, so the two
readings can be compared row by row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KEYS = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID"}

Row = tuple[int, str, str, str]  # depth, record type, identifying key, File ID


def _identity(record_type: str, get: Any) -> str:
    keyword = KEYS.get(record_type, "ReferencedSOPInstanceUIDInFile")
    return str(get(keyword) or "").strip()


def our_tree(path: Path | str) -> list[Row]:
    """(depth, type, key, File ID) of each record in use, depth first, as dicomkit reads it."""
    from dicomkit.media import FileSet

    fs = FileSet.read(path)
    rows = []
    for record in fs.walk():
        depth, parent = 0, record.parent
        while parent is not None:
            depth, parent = depth + 1, parent.parent
        rows.append((depth, record.record_type, _identity(record.record_type,
                                                          record.dataset.get),
                     "\\".join(record.file_id or ())))
    return rows


def pydicom_tree(path: Path | str) -> list[Row]:
    """The same rows as pydicom's ``FileSet`` reads them."""
    from pydicom.fileset import FileSet

    fs = FileSet(str(path))
    rows: list[Row] = []

    def walk(node: Any, depth: int) -> None:
        for child in node.children:
            record = child._record
            file_id = record.get("ReferencedFileID")
            if file_id is None:
                text = ""
            elif isinstance(file_id, str):
                text = file_id
            else:
                text = "\\".join(file_id)
            rows.append((depth, child.record_type, _identity(child.record_type, record.get),
                         text))
            walk(child, depth + 1)

    walk(fs._tree, 0)
    return rows
