"""Print Management as SCU (PS3.4 H): images already rendered to 8 bits printed on a DICOM
printer, the way a modality's print button does it.

:func:`print_images` on an open association: N-GET the Printer (H.4.6, its status), N-CREATE a
Basic Film Session (H.4.1), then per film N-CREATE a Basic Film Box (H.4.2: the SCP answers
with the image boxes it made), N-SET each Basic Grayscale or Color Image Box with a
preformatted image (H.4.3), N-SET the annotation boxes, N-ACTION Print, and wait for the print
job's final status: its N-EVENT-REPORTs (H.4.5.1), or N-GET of the Print Job every
``poll`` seconds; then N-DELETE the film box and, at the end, the session. A printer that does
not offer Print Job (no Referenced Print Job Sequence in the N-ACTION response) has accepted
the film with its success status: that is the final status there is (reported as DONE, with
``job_uid`` None).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dicomkit.core.dataset import Dataset
from dicomkit.net.client import Client
from dicomkit.net.dimse import Message, Status
from dicomkit.pixels.film import parse_display_format
from dicomkit.services.print import (
    ANNOTATION_BOX,
    COLOR_IMAGE_BOX,
    COLOR_META,
    DONE,
    FAILURE,
    FILM_BOX,
    FILM_SESSION,
    GRAYSCALE_IMAGE_BOX,
    GRAYSCALE_META,
    JOB_EVENTS,
    PRINT_ACTION,
    PRINT_JOB,
    PRINTER,
    PRINTER_INSTANCE,
)
from dicomkit.services.print_rules import reference_item

Array = np.ndarray[Any, Any]
STATES = {number: name for name, number in JOB_EVENTS.items()}


class PrintFailure(Exception):
    """The printer refused a step: ``step`` names it, ``status`` is the DIMSE status."""

    def __init__(self, step: str, status: int, comment: str = "") -> None:
        self.step = step
        self.status = status
        super().__init__(f"{step}: status 0x{status:04X}" + (f" ({comment})" if comment else ""))


@dataclass
class FilmOptions:
    """What the SCU asks for (None: the printer's default)."""

    display_format: str = "STANDARD\\1,1"
    film_size: str | None = None
    orientation: str | None = None
    copies: int = 1
    color: bool = False
    annotation: str | None = None
    medium_type: str | None = None
    destination: str | None = None
    label: str | None = None
    priority: str | None = None
    magnification: str | None = None
    polarity: str | None = None
    timeout: float = 120.0
    poll: float = 1.0


@dataclass
class PrintResult:
    """What happened: the job status (DONE, FAILURE, or the last state seen at the timeout),
    the print jobs' UIDs, the printer's status and every warning status met."""

    status: str
    job_uids: list[str | None] = field(default_factory=list)
    printer_status: str = ""
    warnings: list[tuple[str, int]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # (job UID, state)
    printer_events: list[int] = field(default_factory=list)  # Printer Event Type IDs


def image_item(pixels: Array, color: bool, identification: Dataset | None = None) -> Dataset:
    """A Basic Grayscale (8 bits, MONOCHROME2) or Color (RGB, Planar Configuration 1) Image
    Sequence item of ``pixels`` (H.4.3.1.3, H.4.3.2.3); ``identification``: attributes to add
    (patient and study, for an SCP that files films by them)."""
    arr = np.asarray(pixels, dtype=np.uint8)
    item = Dataset()
    if identification is not None:
        for element in identification:
            item[element.tag] = element
    if color:
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        item.SamplesPerPixel = 3
        item.PhotometricInterpretation = "RGB"
        item.PlanarConfiguration = 1
        data = np.ascontiguousarray(arr.transpose(2, 0, 1)).tobytes()
    else:
        if arr.ndim == 3:  # ITU-R BT.601 luma
            arr = np.clip(np.rint(arr @ np.array([0.299, 0.587, 0.114])), 0, 255).astype(
                np.uint8)
        item.SamplesPerPixel = 1
        item.PhotometricInterpretation = "MONOCHROME2"
        data = np.ascontiguousarray(arr).tobytes()
    item.Rows, item.Columns = arr.shape[:2]
    item.BitsAllocated = 8
    item.BitsStored = 8
    item.HighBit = 7
    item.PixelRepresentation = 0
    item.set("PixelData", data + b"\0" * (len(data) & 1), "OB")
    return item


def _check(step: str, status: int, command: Dataset, result: PrintResult) -> None:
    category = Status.category(status)
    if category == "Warning":
        result.warnings.append((step, status))
    elif category != "Success":
        raise PrintFailure(step, status, str(command.get("ErrorComment") or ""))


async def print_images(client: Client, images: Sequence[Array], options: FilmOptions,
                       identifications: Sequence[Dataset | None] = ()) -> PrintResult:
    """Print ``images`` (uint8, grey or RGB) on films of ``options.display_format``, as many
    films as they need. Raises :class:`PrintFailure` when the printer refuses a step."""
    meta = COLOR_META if options.color else GRAYSCALE_META
    box_class = COLOR_IMAGE_BOX if options.color else GRAYSCALE_IMAGE_BOX
    client.context_for(meta)  # AssociationError when the printer did not accept it
    per_film = parse_display_format(options.display_format).boxes
    result = PrintResult("PENDING")
    states: dict[str, str] = {}
    changed = asyncio.Event()

    async def on_event(data: Dataset | None, message: Message) -> int:
        uid = str(message.command.get("AffectedSOPInstanceUID") or "")
        state = STATES.get(int(message.command.get("EventTypeID") or 0), "")
        if str(message.command.get("AffectedSOPClassUID") or "") == PRINTER:
            result.printer_events.append(int(message.command.get("EventTypeID") or 0))
        elif str(message.command.get("AffectedSOPClassUID") or "") == PRINT_JOB and state:
            states[uid] = state
            result.events.append((uid, state))
            changed.set()
        return Status.SUCCESS

    client.event_handler = on_event
    status, printer, command = await client.n_get(PRINTER, PRINTER_INSTANCE, via=meta)
    if Status.category(status) in ("Success", "Warning") and printer is not None:
        result.printer_status = str(printer.get("PrinterStatus") or "")
    session = Dataset()
    session.NumberOfCopies = options.copies
    for keyword, value in (("PrintPriority", options.priority),
                           ("MediumType", options.medium_type),
                           ("FilmDestination", options.destination),
                           ("FilmSessionLabel", options.label)):
        if value:
            session.set(keyword, value)
    status, answer, command = await client.n_create(FILM_SESSION, None, session, via=meta)
    _check("N-CREATE Basic Film Session", status, command, result)
    session_uid = str(command.get("AffectedSOPInstanceUID") or "")
    has_annotations = any(c.abstract_syntax == ANNOTATION_BOX for c in client.contexts.values())
    final = DONE
    for start in range(0, max(len(images), 1), per_film):
        chunk = list(images[start:start + per_film])
        ids = list(identifications[start:start + per_film])
        job = await _print_film(client, meta, box_class, session_uid, chunk, ids, options,
                                has_annotations, result)
        result.job_uids.append(job)
        if job is not None:
            state = await _wait(client, job, states, changed, options, meta)
            if state != DONE:
                final = state
    await client.n_delete(FILM_SESSION, session_uid, via=meta)
    result.status = final
    return result


async def _print_film(client: Client, meta: str, box_class: str, session_uid: str,
                      images: list[Array], identifications: list[Dataset | None],
                      options: FilmOptions, has_annotations: bool,
                      result: PrintResult) -> str | None:
    box = Dataset()
    box.ImageDisplayFormat = options.display_format
    box.ReferencedFilmSessionSequence = [reference_item(FILM_SESSION, session_uid)]
    if options.orientation:
        box.FilmOrientation = options.orientation
    if options.film_size:
        box.FilmSizeID = options.film_size
    if options.magnification:
        box.MagnificationType = options.magnification
    if options.annotation and has_annotations:
        box.AnnotationDisplayFormatID = "1"
    status, answer, command = await client.n_create(FILM_BOX, None, box, via=meta)
    _check("N-CREATE Basic Film Box", status, command, result)
    box_uid = str(command.get("AffectedSOPInstanceUID") or "")
    boxes = list((answer or Dataset()).get("ReferencedImageBoxSequence") or [])
    if len(boxes) < len(images):
        raise PrintFailure("N-CREATE Basic Film Box", Status.PROCESSING_FAILURE,
                           f"{len(boxes)} image boxes for {len(images)} images")
    for position, (pixels, ref) in enumerate(zip(images, boxes, strict=False), 1):
        data = Dataset()
        data.ImageBoxPosition = position
        keyword = "BasicColorImageSequence" if options.color else "BasicGrayscaleImageSequence"
        ident = identifications[position - 1] if position - 1 < len(identifications) else None
        data.set(keyword, [image_item(pixels, options.color, ident)], "SQ")
        if options.polarity:
            data.Polarity = options.polarity
        status, _, command = await client.n_set(
            str(ref.ReferencedSOPClassUID or box_class), str(ref.ReferencedSOPInstanceUID),
            data, via=meta)
        _check(f"N-SET image box {position}", status, command, result)
    annotations = list((answer or Dataset()).get("ReferencedBasicAnnotationBoxSequence") or [])
    if options.annotation and annotations:
        text = Dataset()
        text.AnnotationPosition = 1
        text.TextString = options.annotation[:64]
        status, _, command = await client.n_set(
            ANNOTATION_BOX, str(annotations[0].ReferencedSOPInstanceUID), text)
        _check("N-SET annotation box", status, command, result)
    status, answer, command = await client.n_action(FILM_BOX, box_uid, PRINT_ACTION, via=meta)
    _check("N-ACTION Print", status, command, result)
    jobs = list((answer or Dataset()).get("ReferencedPrintJobSequence") or [])
    await client.n_delete(FILM_BOX, box_uid, via=meta)
    return str(jobs[0].ReferencedSOPInstanceUID) if jobs else None


async def _wait(client: Client, job: str, states: dict[str, str], changed: asyncio.Event,
                options: FilmOptions, meta: str) -> str:
    """The job's final state from its events, else N-GET Print Job every ``poll`` seconds."""
    deadline = time.monotonic() + options.timeout
    state = states.get(job, "PENDING")
    while state not in (DONE, FAILURE) and time.monotonic() < deadline:
        changed.clear()
        try:
            await asyncio.wait_for(changed.wait(), options.poll)
        except TimeoutError:
            status, data, _ = await client.n_get(PRINT_JOB, job, [0x21000020])
            if Status.category(status) == "Success" and data is not None:
                states[job] = str(data.get("ExecutionStatus") or state).strip()
        state = states.get(job, state)
    return state
