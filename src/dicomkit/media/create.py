"""Making a File-set: ``dicomkit dicomdir create ROOT`` and the ZIP export (PS3.10 §8,
PS3.11 profiles, PS3.12 Annex V ZIP File Media).

:func:`create` takes the DICOM files under a folder as they are where their path is already a
File ID (PS3.10 §8.5) and their transfer syntax one the profile allows; any other file is moved
to a new File ID (``DICOM/STnnnnnn/SEnnnnnn/IMnnnnnn``, one folder per study and series) and,
when its syntax is not allowed, rewritten without loss in Explicit VR Little Endian
(:mod:`dicomkit.media.profiles`). The DICOMDIR then describes what is on disk.

:func:`iter_zip` streams a ZIP whose root holds a DICOMDIR and the files it references, in
bounded memory: each file is copied into the archive a chunk at a time and the chunks are
yielded as they are made; the DICOMDIR comes last (PS3.12 V.1: one File-set, its DICOMDIR
at the root).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dicomkit.media.fileid as fileid
from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import to_bytes, write
from dicomkit.errors import DicomError
from dicomkit.media.errors import MediaError
from dicomkit.media.fileset import FileSet
from dicomkit.media.profiles import Profile
from dicomkit.media.profiles import profile as lookup_profile
from dicomkit.media.records import element_of

TARGET = ts_mod.EXPLICIT_VR_LITTLE_ENDIAN
CHUNK = 1 << 20


def _text(ds: Dataset | None, keyword: str) -> str:
    if ds is None:
        return ""
    element = element_of(ds, keyword)
    return str(element.value).strip() if element is not None and element.value else ""


class Namer:
    """New File IDs, one folder per study and per series: DICOM/ST000001/SE000001/IM000001.
    ``taken`` tells whether an ID is in use (a file already there)."""

    def __init__(self, taken: Callable[[tuple[str, ...]], bool] = lambda _: False) -> None:
        self.taken = taken
        self.studies: dict[str, str] = {}
        self.series: dict[tuple[str, str], str] = {}
        self.counts: dict[tuple[str, str], int] = {}

    def _folder(self, table: dict[Any, str], key: Any, prefix: str, taken: set[str]) -> str:
        if key not in table:
            number = len(table) + 1
            while f"{prefix}{number:06d}" in taken:
                number += 1
            table[key] = f"{prefix}{number:06d}"
        return table[key]

    def next(self, header: Dataset) -> tuple[str, ...]:
        study_uid = _text(header, "StudyInstanceUID")
        series_uid = _text(header, "SeriesInstanceUID")
        study = self._folder(self.studies, study_uid, "ST", set(self.studies.values()))
        series = self._folder(self.series, (study_uid, series_uid), "SE",
                              {v for (s, _), v in self.series.items() if s == study_uid})
        count = self.counts.get((study, series), 0)
        while True:
            count += 1
            parts = ("DICOM", study, series, f"IM{count:06d}")
            if not self.taken(parts):
                break
        self.counts[(study, series)] = count
        return parts


def _convert(path: str | Path, header: Dataset) -> Dataset:
    """The whole instance in Explicit VR Little Endian, pixel data decoded when it is
    encapsulated (never a lossy step: PS3.5 §8, :func:`dicomkit.pixels.transcode.lossless`)."""
    ds = read(path)
    source = ds.transfer_syntax
    if source is not None and source.encapsulated and "PixelData" in ds:
        from dicomkit.pixels.transcode import lossless

        ds = lossless(ds, TARGET)
    return ds


@dataclass
class Created:
    """What :func:`create` did."""

    fileset: FileSet
    kept: int = 0
    moved: int = 0
    converted: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _candidates(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.upper() in ("DICOMDIR", "DICOMDIR.") and Path(folder) == root:
                continue
            if name.startswith(".") or name.startswith("~"):
                continue
            found.append(Path(folder) / name)
    return found


def create(root: str | os.PathLike[str], *, profile: str | Profile = "STD-GEN-CD",
           invent: bool = True, fileset_id: str = "",
           progress: Callable[[], None] | None = None) -> Created:
    """Write ROOT/DICOMDIR for the DICOM files under ``root`` (see the module docstring);
    files that are not DICOM Part 10 files are left alone and listed in ``skipped``."""
    root = Path(root)
    chosen = lookup_profile(profile)
    fs = FileSet(root, fileset_id=fileset_id)
    result = Created(fs)
    namer = Namer(lambda parts: (root.joinpath(*parts)).exists())
    emptied: set[Path] = set()
    for path in _candidates(root):
        try:
            header = read(path, stop_before_pixels=True)
            if header.file_meta is None:
                raise MediaError("no File Meta Information (not a Part 10 file)")
            ts = _text(header.file_meta, "TransferSyntaxUID")
            sop_uid = _text(header, "SOPInstanceUID")
            already = fs.find(sop_uid)
            if already is not None:
                raise MediaError(f"SOP Instance {sop_uid} is already in the File-set "
                                 f"({fileid.joined(already.file_id or ())})")
            parts = fileid.components_of(root, path)
            convert = not chosen.allows(ts)
            if parts is None:
                parts = namer.next(header)
            target = root.joinpath(*parts)
            if convert:
                ds = _convert(path, header)
                target.parent.mkdir(parents=True, exist_ok=True)
                write(ds, target, transfer_syntax=TARGET)
                ts = TARGET.uid
                result.converted += 1
                if target != path:
                    path.unlink()
                    emptied.add(path.parent)
            elif target != path:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                emptied.add(path.parent)
                result.moved += 1
            else:
                result.kept += 1
            fs.add_header(header, parts, transfer_syntax=ts, invent=invent)
        except (DicomError, OSError, ValueError) as exc:
            result.skipped.append((str(path), str(exc).splitlines()[0]))
        if progress is not None:
            progress()
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        while folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    fs.sort()
    fs.write()
    return result


# -- ZIP ------------------------------------------------------------------------------------------
class _Spool:
    """A write-only stream that keeps what is written until it is taken."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes, /) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def close(self) -> None:
        pass

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


@dataclass
class ZipEntry:
    """An instance to put in the ZIP: its file, and its header when already at hand."""

    path: str
    header: Dataset | None = None


def iter_zip(entries: Iterable[ZipEntry], *, profile: str | Profile = "ANY",
             invent: bool = True, fileset_id: str = "", compress: bool = False,
             fileset: FileSet | None = None) -> Iterator[bytes]:
    """The bytes of a ZIP holding ``entries`` as a File-set, in pieces of at most about
    1 MiB (see the module docstring). ``fileset``, when given, receives the records."""
    chosen = lookup_profile(profile)
    fs = fileset if fileset is not None else FileSet(None, fileset_id=fileset_id)
    spool = _Spool()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    namer = Namer()
    with zipfile.ZipFile(spool, "w", compression=method, allowZip64=True) as archive:
        for entry in entries:
            header = entry.header or read(entry.path, stop_before_pixels=True)
            meta = header.file_meta
            ts = _text(meta, "TransferSyntaxUID")
            if fs.find(_text(header, "SOPInstanceUID")) is not None:
                continue
            parts = namer.next(header)
            info = zipfile.ZipInfo("/".join(parts), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            if chosen.allows(ts):
                info.file_size = os.path.getsize(entry.path)
                with open(entry.path, "rb") as source, archive.open(info, "w") as sink:
                    while True:
                        block = source.read(CHUNK)
                        if not block:
                            break
                        sink.write(block)
                        if spool.position and len(spool.parts) > 0:
                            yield spool.take()
            else:
                data = to_bytes(_convert(entry.path, header), transfer_syntax=TARGET)
                ts = TARGET.uid
                info.file_size = len(data)
                with archive.open(info, "w") as sink:
                    for start in range(0, len(data), CHUNK):
                        sink.write(data[start:start + CHUNK])
                        yield spool.take()
                del data
            fs.add_header(header, parts, transfer_syntax=ts, invent=invent)
            yield spool.take()
        info = zipfile.ZipInfo("DICOMDIR", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = method
        fs.sort()
        archive.writestr(info, b"".join(fs.encode()))
    yield spool.take()


def write_zip(entries: Iterable[ZipEntry], target: str | os.PathLike[str], **options: Any
              ) -> FileSet:
    """:func:`iter_zip` into a file (written whole or not at all); the File-set written."""
    import dicomkit.durable as durable

    fs = options.pop("fileset", None) or FileSet(None, fileset_id=options.get("fileset_id", ""))
    durable.write_whole(os.path.abspath(target), iter_zip(entries, fileset=fs, **options))
    return fs
