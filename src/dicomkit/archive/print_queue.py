"""The archive as a virtual film printer: each film a Print SCP prints
(:mod:`dicomkit.services.print`) becomes a PDF page of the film's size and a PNG, kept in the
archive as an Encapsulated PDF instance (PS3.3 A.45.1), optionally forwarded to a CUPS printer.

- :class:`ArchivePrinter`: the :class:`~dicomkit.services.print.PrintOutput` of
  ``dicomkit serve --print``. A film whose images name their patient and study (see
  :mod:`dicomkit.services.print_rules`) is filed in that study; otherwise in the "print jobs"
  patient (Patient ID :data:`PRINT_PATIENT_ID`), one study per film session. The series is
  described :data:`SERIES_DESCRIPTION`; the Document Title names the film session. The PNG goes
  to ``<data>/print/<SOP Instance UID>.png``.
- :func:`printed_films`: the films kept, newest last (``dicomkit print ls``, the print queue).

Stored through ``Archive.commit_bytes`` (file durable before its index row commits), as every
other way in.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dicomkit.durable as durable
from dicomkit.archive.matching import compile_query
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.encoding.writer import to_bytes
from dicomkit.iod.derived import derive
from dicomkit.iod.encapsulated import wrap
from dicomkit.net.association import Association
from dicomkit.net.dimse import Message
from dicomkit.net.service import NResponse, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS, VERIFICATION
from dicomkit.pixels.film import to_pdf, to_raster
from dicomkit.pixels.render import to_png as png_bytes
from dicomkit.services.print import PrintedFilm, PrintSCP, film_of
from dicomkit.services.print_rules import PrinterCapabilities, identification

if TYPE_CHECKING:
    from dicomkit.archive.scp import ArchiveHandler

log = logging.getLogger("dicomkit.archive.print")

PRINT_PATIENT_ID = "PRINTJOBS"
PRINT_PATIENT_NAME = "Print^Jobs"
SERIES_DESCRIPTION = "DICOM print"
ENCAPSULATED_PDF = registered("EncapsulatedPDFStorage")


class ArchivePrinter:
    """Prints films into ``archive``; ``lp_destination``: a CUPS queue each PDF is also sent
    to with ``lp`` (None: none); ``png``: keep a PNG of each film next to the archive;
    ``secondary_capture``: also store the film drawn at ``dpi`` as a Secondary Capture image
    (derived from the PDF instance, series "DICOM print (image)"), for viewers that show no
    PDF."""

    def __init__(self, archive: Archive, *, lp_destination: str | None = None,
                 png: bool = True, dpi: float = 100.0, secondary_capture: bool = False) -> None:
        self.archive = archive
        self.secondary_capture = secondary_capture
        self.lp_destination = lp_destination
        self.png = png
        self.dpi = dpi
        self.folder = os.path.join(archive.data_dir, "print")
        self.studies: dict[str, str] = {}  # film session UID -> its print-jobs study
        self.lock = threading.Lock()

    def print_films(self, films: Sequence[PrintedFilm]) -> list[str]:
        return [self.print_film(printed) for printed in films]

    def print_film(self, printed: PrintedFilm) -> str:
        """Render, wrap, store (and forward) one film; its SOP Instance UID."""
        film = film_of(printed)
        pdf = to_pdf(film)
        like = next((found for _, data, _ in printed.boxes
                     if (found := identification(data)) is not None), None)
        label = str(printed.session.get("FilmSessionLabel") or "").strip()
        title = f"Film: {label}"[:64] if label else "Printed film"
        if like is not None:
            ds = wrap(pdf, like=like, title=title)
        else:
            ds = wrap(pdf, title=title, patient_id=PRINT_PATIENT_ID,
                      patient_name=PRINT_PATIENT_NAME, study_uid=self.study_of(printed),
                      study_description="Print jobs")
        ds.SeriesDescription = SERIES_DESCRIPTION
        ds.OperatorsName = None
        ds.set("ContentDescription", f"{printed.calling_ae} to {printed.printer_name}: "
               f"{film.display_format.value.replace(chr(92), ' ')}, {film.size_id} "
               f"{film.orientation}"[:64], "LO")
        data = to_bytes(ds)
        done = self.archive.commit_bytes(data)
        sop_uid = done.sop_uid
        if self.png or self.secondary_capture:
            raster = to_raster(film, self.dpi)
        if self.secondary_capture:
            image = derive(ds, raster, description="printed film drawn at "
                           f"{self.dpi:g} dpi", series_description=SERIES_DESCRIPTION
                           + " (image)", burned_in_annotation=True)
            if "Laterality" not in image:  # General Series, Type 2C: a film has no side
                image.set("Laterality", None, "CS")
            self.archive.commit_bytes(to_bytes(image))
        if self.png:
            os.makedirs(self.folder, exist_ok=True)
            path = durable.write_temporary(self.folder, png_bytes(raster),
                                           fsync=self.archive.fsync)
            os.chmod(path, 0o644)
            os.replace(path, os.path.join(self.folder, f"{sop_uid}.png"))
        if self.lp_destination:
            self.forward(pdf, printed)
        log.info("printed film %s (%s) for %s", sop_uid, film.display_format.value,
                 printed.calling_ae)
        return sop_uid

    def study_of(self, printed: PrintedFilm) -> str:
        with self.lock:
            if printed.session_uid not in self.studies:
                if len(self.studies) > 1000:
                    self.studies.clear()
                self.studies[printed.session_uid] = generate_uid()
            return self.studies[printed.session_uid]

    def forward(self, pdf: bytes, printed: PrintedFilm) -> None:
        """The PDF to the CUPS queue (``lp -d QUEUE -n COPIES``); a failure is logged, the film
        stays printed in the archive."""
        lp = shutil.which("lp")
        if lp is None:
            log.error("print: no lp command to forward to %s", self.lp_destination)
            return
        copies = str(printed.session.get("NumberOfCopies") or 1)
        try:
            subprocess.run([lp, "-d", str(self.lp_destination), "-n", copies, "-"], input=pdf,
                           check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("print: lp to %s failed: %s", self.lp_destination, exc)


def install(handler: ArchiveHandler, capabilities: PrinterCapabilities | None = None,
            **options: Any) -> PrintSCP:
    """Plug the Print SCP into ``handler`` (``dicomkit serve --print``), printing into its
    archive; ``options``: those of :class:`ArchivePrinter`."""
    printer = ArchivePrinter(handler.archive, **options)
    scp = PrintSCP(printer, capabilities, access=handler.access)
    handler.add_service(scp)
    return scp


class PrinterListener(ServiceHandler):
    """The printer on a DIMSE port of its own (``[print] aet``/``port``, ``serve --print-aet
    --print-port``): the Print SCP and Verification, nothing else."""

    def __init__(self, scp: PrintSCP) -> None:
        self.scp = scp

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {VERIFICATION: UNCOMPRESSED_TS, **self.scp.abstract_syntaxes()}

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None] | NResponse:
        return await self.scp.n_service(association, message, data)


@dataclass(frozen=True)
class PrintedRecord:
    """A film kept in the archive, as ``dicomkit print ls`` shows it."""

    sop_uid: str
    study_uid: str
    patient_id: str
    patient_name: str
    date: str
    time: str
    title: str
    description: str
    png: str | None


def printed_films(archive: Archive, limit: int | None = None) -> list[PrintedRecord]:
    """The printed films the archive holds (Encapsulated PDFs of the
    :data:`SERIES_DESCRIPTION` series), oldest first."""
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.SOPClassUID = ENCAPSULATED_PDF
    query.SeriesDescription = SERIES_DESCRIPTION
    for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "SOPInstanceUID",
                    "ContentDate", "ContentTime", "DocumentTitle", "ContentDescription"):
        query.set(keyword, None)
    out = []
    rows = archive.index.search(compile_query(query, "patient"), limit=limit)
    try:
        for row in rows:
            sop = _value(row, "00080018")
            png = os.path.join(archive.data_dir, "print", f"{sop}.png")
            out.append(PrintedRecord(sop, _value(row, "0020000D"), _value(row, "00100020"),
                                     _value(row, "00100010"), _value(row, "00080023"),
                                     _value(row, "00080033"), _value(row, "00420010"),
                                     _value(row, "00700081"),
                                     png if os.path.exists(png) else None))
    finally:
        rows.close()
    return out


def _value(row: dict[str, Any], tag: str) -> str:
    element = row.get(tag) or {}
    values = element.get("Value") or [""]
    value = values[0]
    if isinstance(value, dict):  # a person name
        return str(value.get("Alphabetic") or "")
    return str(value if value is not None else "")


CONFIG_KEYS: dict[str, type] = {"name": str, "film_sizes": list, "default_film_size": str,
               "default_orientation": str, "min_density": int, "max_density": int,
               "color": bool, "medium_types": list, "destinations": list, "max_copies": int,
               "annotation_positions": int, "custom_formats": dict, "lp_destination": str,
               "secondary_capture": bool, "aet": str, "port": int}
"""The keys of the ``[print]`` table of ``dicomkit serve --config``."""


def capabilities_from_config(table: Any) -> tuple[PrinterCapabilities, dict[str, Any]]:
    """The ``print`` setting (true, or a table of :data:`CONFIG_KEYS`) as the printer's
    capabilities and the :class:`ArchivePrinter` options (``lp_destination``,
    ``secondary_capture``); ValueError naming a bad key or value."""
    from dicomkit.pixels.film import FILM_SIZES, DisplayFormatError, parse_display_format

    if table is True or table is None:
        return PrinterCapabilities(), {}
    if not isinstance(table, dict):
        raise ValueError(f"print is true or a table, not {table!r}")
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"print: unknown key(s) {', '.join(unknown)} "
                         f"(known: {', '.join(CONFIG_KEYS)})")
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind = CONFIG_KEYS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"print.{key} must be a {kind.__name__}, not {value!r}")
        if isinstance(value, list):
            if not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise ValueError(f"print.{key} is a list of names, not {value!r}")
            value = tuple(v.strip().upper() for v in value)
        values[key] = value
    options: dict[str, Any] = {key: values.pop(key)
                               for key in ("lp_destination", "secondary_capture", "aet", "port")
                               if key in values}
    aet = str(options.get("aet", "x")).strip()
    if not 0 < len(aet) <= 16 or "\\" in aet:
        raise ValueError(f"print.aet {options.get('aet')!r} is not an AE title")
    if not 0 < int(options.get("port", 1)) < 65536:
        raise ValueError(f"print.port {options.get('port')!r} is not a TCP port")
    caps = PrinterCapabilities(**values)
    for size in (*caps.film_sizes, caps.default_film_size):
        if size not in FILM_SIZES:
            raise ValueError(f"print: film size {size!r} is not one of {', '.join(FILM_SIZES)}")
    if caps.default_film_size not in caps.film_sizes:
        raise ValueError("print.default_film_size is not among print.film_sizes")
    if not 0 <= caps.min_density < caps.max_density:
        raise ValueError("print: min_density must be below max_density")
    if caps.default_orientation not in ("PORTRAIT", "LANDSCAPE"):
        raise ValueError("print.default_orientation is PORTRAIT or LANDSCAPE")
    for number, target in caps.custom_formats.items():
        try:
            parse_display_format(str(target))
        except DisplayFormatError as exc:
            raise ValueError(f"print.custom_formats.{number}: {exc}") from exc
    return caps, options


def stored_pdf(archive: Archive, sop_uid: str) -> bytes | None:
    """The PDF of the printed film ``sop_uid``, or None when the archive holds no such film."""
    from dicomkit.encoding.reader import read
    from dicomkit.iod.encapsulated import unwrap

    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.SOPInstanceUID = sop_uid
    query.SOPClassUID = ENCAPSULATED_PDF
    rows = archive.index.instances_matching(compile_query(query, "patient"))
    if not rows:
        return None
    data, _ = unwrap(read(archive.absolute(rows[0].path)))
    return data
