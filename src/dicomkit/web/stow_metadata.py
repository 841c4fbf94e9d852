"""STOW-RS of metadata and bulk data (PS3.18 §10.5.1.2.2): instances given as DICOM JSON
(``multipart/related; type="application/dicom+json"``, one part holding an array of data sets)
or Native DICOM Model XML (one part per instance), their bulk data in further parts named by
``Content-Location`` (the ``BulkDataURI`` of the metadata).

Bulk data parts are streamed to temporary files; once the body is complete each instance is
assembled, written as a PS3.10 file in the archive and committed like any stored file. Pixel
Data sent in a compressed media type (``image/jpeg; transfer-syntax=…``) is one frame per part
and sets the transfer syntax of the instance; otherwise the instance is Explicit VR Little
Endian.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import dicomkit.durable as durable
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.encoding.fragments import encapsulate
from dicomkit.encoding.json import from_json
from dicomkit.encoding.transfer_syntax import is_native
from dicomkit.encoding.writer import write
from dicomkit.encoding.xml import from_xml
from dicomkit.errors import DicomError
from dicomkit.web.media import EXPLICIT_VR_LITTLE_ENDIAN

PIXEL_DATA = 0x7FE00010
MAX_METADATA_BYTES = 64 * 1024 * 1024


@dataclass
class BulkPart:
    """A bulk data part waiting in a temporary file."""

    path: str
    media_type: str
    transfer_syntax: str | None


class MissingBulkData(ValueError):
    pass


def metadata_objects(kind: str, document: bytes) -> list[Any]:
    """The data sets of one metadata part: JSON objects (an array or one), or an XML text."""
    if kind == "xml":
        return [document]
    parsed = json.loads(document)
    return parsed if isinstance(parsed, list) else [parsed]


def _find(bulk: dict[str, BulkPart], uri: str) -> BulkPart:
    if uri in bulk:
        return bulk[uri]
    for location, part in bulk.items():  # a relative reference, or one with a host prefix
        if location.endswith("/" + uri.lstrip("/")) or uri.endswith("/" + location.lstrip("/")):
            return part
    raise MissingBulkData(f"no part of the request has Content-Location {uri!r}")


def assemble(kind: str, source: Any, bulk: dict[str, BulkPart]) -> tuple[Dataset, str]:
    """A data set from its metadata and bulk data parts, and the transfer syntax to write."""
    compressed: list[tuple[BulkPart, bytes]] = []

    def load(uri: str) -> bytes:
        part = _find(bulk, uri)
        with open(part.path, "rb") as handle:
            data = handle.read()
        if part.transfer_syntax and not is_native(part.transfer_syntax):
            compressed.append((part, data))
        return data

    ds = from_xml(source, bulk_data_loader=load) if kind == "xml" else \
        from_json(source, bulk_data_loader=load)
    syntaxes = {part.transfer_syntax for part, _ in compressed}
    if len(syntaxes) > 1:
        raise ValueError(f"bulk data in several transfer syntaxes: {', '.join(map(str, syntaxes))}")
    if not syntaxes:
        return ds, EXPLICIT_VR_LITTLE_ENDIAN
    uid = str(syntaxes.pop())
    if PIXEL_DATA in ds and not ds[PIXEL_DATA].is_undefined_length:
        frame = bytes(ds[PIXEL_DATA].value or b"")
        ds[PIXEL_DATA] = DataElement(PIXEL_DATA, "OB", encapsulate([frame]),
                                     is_undefined_length=True)
    return ds, uid


def write_instance(archive: Archive, ds: Dataset, uid: str) -> str:
    """The assembled instance as a synced PS3.10 file in the archive's temporary space; its
    path."""
    file = durable.TemporaryFile(archive.files_dir, fsync=archive.fsync)
    try:
        write(ds, file.handle, transfer_syntax=uid)
        return file.finish()
    except BaseException:
        file.abort()
        raise


def build(archive: Archive, kind: str, source: Any, bulk: dict[str, BulkPart]
          ) -> tuple[str | None, Dataset | None, str]:
    """(temporary file, data set, "") or (None, the data set if it was read, the reason)."""
    ds: Dataset | None = None
    try:
        ds, uid = assemble(kind, source, bulk)
        return write_instance(archive, ds, uid), ds, ""
    except (DicomError, ValueError, KeyError, OSError) as exc:
        return None, ds, f"the metadata cannot be made an instance: {exc}"
