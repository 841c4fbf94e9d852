"""Print Management Service Class (PS3.4 Annex H) as SCP: the print SOP instances of an
association, their rules and statuses, independent of where a printed film goes.

- Basic Grayscale and Basic Color Print Management Meta SOP Classes (H.3.2.2): Basic Film
  Session (N-CREATE, N-SET, N-ACTION, N-DELETE), Basic Film Box (N-CREATE, N-SET, N-ACTION,
  N-DELETE), Basic Grayscale / Color Image Box (N-SET) and Printer (N-GET) travel on the meta
  class's presentation context; :data:`META_MEMBERS` says which class belongs to which.
- The optional SOP classes negotiated on their own contexts: Print Job (N-GET; N-EVENT-REPORT
  PENDING → PRINTING → DONE / FAILURE sent to the SCU on the association), Basic Annotation
  Box (N-SET), Presentation LUT (N-CREATE, N-DELETE).
- :mod:`dicomkit.services.print_rules`: the attribute tables of H.4 (generated from the
  standard) and the checks of each request, with the statuses H.4 gives them.
- :class:`PrintOutput`: what prints a film (the archive's renders it to PDF and PNG and keeps
  it, :mod:`dicomkit.archive.print_queue`).

The instances live as long as their association (H.2.1: a film session is the print job of one
association); print jobs are kept for N-GET after it, the last :data:`KEPT_JOBS` of them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import UID, generate_uid, registered
from dicomkit.errors import DicomError
from dicomkit.net.association import Association, AssociationError
from dicomkit.net.client import Client
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import NResponse, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS
from dicomkit.pixels.film import Film, FilmImage
from dicomkit.services import print_rules as rules
from dicomkit.services.access import AccessPolicy, authorise
from dicomkit.services.print_rules import PrinterCapabilities, PrintError

log = logging.getLogger("dicomkit.services.print")

GRAYSCALE_META = registered("BasicGrayscalePrintManagementMeta")
COLOR_META = registered("BasicColorPrintManagementMeta")
FILM_SESSION = registered("BasicFilmSession")
FILM_BOX = registered("BasicFilmBox")
GRAYSCALE_IMAGE_BOX = registered("BasicGrayscaleImageBox")
COLOR_IMAGE_BOX = registered("BasicColorImageBox")
PRINTER = registered("Printer")
PRINTER_INSTANCE = registered("PrinterInstance")
PRINT_JOB = registered("PrintJob")
ANNOTATION_BOX = registered("BasicAnnotationBox")
PRESENTATION_LUT = registered("PresentationLUT")

# PS3.4 Tables H.3.2.2.1-1 and H.3.2.2.2-1: the SOP classes of each meta SOP class.
META_MEMBERS: dict[str, frozenset[str]] = {
    GRAYSCALE_META: frozenset({FILM_SESSION, FILM_BOX, GRAYSCALE_IMAGE_BOX, PRINTER}),
    COLOR_META: frozenset({FILM_SESSION, FILM_BOX, COLOR_IMAGE_BOX, PRINTER}),
}
OPTIONAL_CLASSES = (PRINT_JOB, ANNOTATION_BOX, PRESENTATION_LUT)

# PS3.4 H.4.6.1.1 Table H.4-16: Printer Event Type IDs; Printer Status (2110,0010).
PRINTER_EVENTS = {"NORMAL": 1, "WARNING": 2, "FAILURE": 3}
# PS3.4 H.4.5.1.1 Table H.4-14: Print Job Event Type IDs; Execution Status (2100,0020).
PENDING, PRINTING, DONE, FAILURE = "PENDING", "PRINTING", "DONE", "FAILURE"
JOB_EVENTS = {PENDING: 1, PRINTING: 2, DONE: 3, FAILURE: 4}
PRINT_ACTION = 1  # H.4.1.2.4 / H.4.2.2.4: Action Type ID of Print
KEPT_JOBS = 1000


# -- what the SCP holds ------------------------------------------------------------------------


@dataclass
class ImageBox:
    uid: str
    sop_class: str
    position: int
    data: Dataset | None = None  # the last N-SET's attributes


@dataclass
class FilmBox:
    uid: str
    attributes: Dataset
    film: Film
    image_boxes: list[ImageBox]
    annotation_boxes: list[tuple[str, int]]  # (uid, position)
    min_density: int
    max_density: int
    lut: str | None = None  # the Presentation LUT referenced


@dataclass
class FilmSession:
    uid: str
    attributes: Dataset
    film_boxes: list[str] = field(default_factory=list)


@dataclass
class AssociationPrints:
    """The print SOP instances one association has created."""

    session: FilmSession | None = None
    film_boxes: dict[str, FilmBox] = field(default_factory=dict)
    image_boxes: dict[str, tuple[str, ImageBox]] = field(default_factory=dict)  # -> film box
    annotations: dict[str, tuple[str, int]] = field(default_factory=dict)  # -> film box, pos
    texts: dict[str, str] = field(default_factory=dict)  # annotation uid -> text
    luts: dict[str, Dataset] = field(default_factory=dict)


@dataclass
class PrintedFilm:
    """One film handed to a :class:`PrintOutput`: the page (images still as received: the
    output builds them with :func:`dicomkit.services.print_rules.film_images`, off the event
    loop), the session's attributes, and who printed it."""

    film: Film
    boxes: list[tuple[int, Dataset, Dataset | None]]  # position, N-SET data, Presentation LUT
    session: Dataset
    film_box: Dataset
    job_uid: str
    session_uid: str
    calling_ae: str
    printer_name: str
    min_density: int
    max_density: int


class PrintOutput(Protocol):
    """Where printed films go. ``print_films`` runs in a worker thread and returns one line per
    film for the Execution Status Info / log (raise to make the job FAILURE)."""

    def print_films(self, films: Sequence[PrintedFilm]) -> list[str]: ...


@dataclass
class PrintJob:
    uid: str
    status: str
    info: str
    priority: str
    created: dt.datetime
    originator: str
    session_label: str
    films: list[PrintedFilm]
    results: list[str] = field(default_factory=list)

    def dataset(self, printer_name: str) -> Dataset:
        """Table H.4-15: the Print Job's attributes."""
        ds = Dataset()
        ds.ExecutionStatus = self.status
        ds.ExecutionStatusInfo = self.info
        ds.PrintPriority = self.priority
        ds.CreationDate = self.created.strftime("%Y%m%d")
        ds.CreationTime = self.created.strftime("%H%M%S")
        ds.PrinterName = printer_name
        ds.Originator = self.originator
        return ds


# -- the SCP -----------------------------------------------------------------------------------


class PrintSCP(ServiceHandler):
    """Print Management SCP (PS3.4 H): the meta SOP classes, Print Job, Basic Annotation Box and
    Presentation LUT. ``output`` prints the films; ``capabilities`` are the printer's (film
    sizes, densities, colour, N-GET Printer answers). With ``access``, the calling AE needs the
    "print" permission (else 0124H)."""

    def __init__(self, output: PrintOutput, capabilities: PrinterCapabilities | None = None,
                 syntaxes: Sequence[str] = UNCOMPRESSED_TS[:2], *,
                 access: AccessPolicy | None = None) -> None:
        self.output = output
        self.capabilities = capabilities or PrinterCapabilities()
        self.syntaxes = list(syntaxes)
        self.access = access
        self.prints: WeakKeyDictionary[Association, AssociationPrints] = WeakKeyDictionary()
        self.jobs: OrderedDict[str, PrintJob] = OrderedDict()
        # the virtual printer's status: FAILURE once a film could not be printed (kept), NORMAL
        # again when the next one prints; each change an N-EVENT-REPORT (H.4.6.1)
        self.printer_status = ("NORMAL", "NORMAL")
        self.tasks: set[asyncio.Task[None]] = set()

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        classes = [GRAYSCALE_META, *OPTIONAL_CLASSES]
        if self.capabilities.color:
            classes.insert(1, COLOR_META)
        return {uid: self.syntaxes for uid in classes}

    # -- dispatch ---------------------------------------------------------------------------
    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None] | NResponse:
        command = message.command
        field_ = message.command_field
        sop_class = str(command.get("AffectedSOPClassUID")
                        or command.get("RequestedSOPClassUID") or "").strip()
        instance = str(command.get("AffectedSOPInstanceUID")
                       or command.get("RequestedSOPInstanceUID") or "").strip()
        context = association.contexts.get(message.context_id)
        meta = context.abstract_syntax if context is not None else ""
        try:
            authorise(self.access, association, "print", "Print Management")
            if sop_class not in META_MEMBERS.get(meta, frozenset({meta})):
                raise PrintError(Status.SOP_CLASS_NOT_SUPPORTED,
                                 f"{sop_class} is not a SOP class of {meta}"[:64])
            state = self.prints.setdefault(association, AssociationPrints())
            handler = OPERATIONS.get((sop_class, field_))
            if handler is None:
                raise PrintError(Status.UNRECOGNIZED_OPERATION,
                                 f"0x{field_:04X} not offered for {rules.class_name(sop_class)}")
            return await handler(self, association, state, meta, instance, message, data)
        except PrintError as exc:
            return NResponse(exc.status, None, exc.fields())
        except (DicomError, ValueError, TypeError, KeyError, IndexError,
                AttributeError) as exc:  # a value of the wrong kind somewhere in the request
            log.warning("[%s] print request refused: %r", association.describe(), exc)
            return NResponse(rules.PROCESSING_FAILURE, None,
                             {"ErrorComment": f"cannot use the request: {exc}"[:64]})

    # -- Basic Film Session (H.4.1) -------------------------------------------------------------
    async def session_create(self, association: Association, state: AssociationPrints,
                             meta: str, instance: str, message: Message,
                             data: Dataset | None) -> NResponse:
        """H.4.1.2.1: one film session per association; the attributes of Table H.4-2 checked
        and completed with the printer's defaults."""
        if state.session is not None:
            raise PrintError(rules.DUPLICATE_SOP_INSTANCE,
                             "a Basic Film Session exists on this association")
        uid = new_uid(instance)
        checked = rules.check("film_session.create", data or Dataset())
        attributes = self.capabilities.session_defaults()
        rules.merge(attributes, checked.data)
        warning = self.capabilities.check_session(attributes, checked)
        state.session = FilmSession(uid, attributes)
        fields = {} if instance else {"AffectedSOPInstanceUID": uid}
        return checked.response(attributes, fields, warning)

    async def session_set(self, association: Association, state: AssociationPrints,
                          meta: str, instance: str, message: Message,
                          data: Dataset | None) -> NResponse:
        session = self.session(state, instance)
        checked = rules.check("film_session.create", data or Dataset())
        attributes = session.attributes.copy()
        rules.merge(attributes, checked.data)
        warning = self.capabilities.check_session(attributes, checked)
        session.attributes = attributes
        return checked.response(None, {}, warning)

    async def session_action(self, association: Association, state: AssociationPrints,
                             meta: str, instance: str, message: Message,
                             data: Dataset | None) -> NResponse:
        """H.4.1.2.4: print every film box of the session (collated, one print job)."""
        session = self.session(state, instance)
        self.check_action(message)
        boxes = [state.film_boxes[uid] for uid in session.film_boxes if uid in state.film_boxes]
        if not boxes:
            raise PrintError(rules.NO_FILM_BOXES, "the film session holds no film box")
        return self.start_job(association, state, session, boxes, rules.SESSION_EMPTY_PAGE)

    async def session_delete(self, association: Association, state: AssociationPrints,
                             meta: str, instance: str, message: Message,
                             data: Dataset | None) -> NResponse:
        """H.4.1.2.3: the session and everything under it."""
        self.session(state, instance)
        self.prints[association] = AssociationPrints(luts=state.luts)
        return NResponse(Status.SUCCESS)

    # -- Basic Film Box (H.4.2) -----------------------------------------------------------------
    async def box_create(self, association: Association, state: AssociationPrints, meta: str,
                         instance: str, message: Message, data: Dataset | None) -> NResponse:
        """H.4.2.2.1: the film box and its image boxes (Referenced Image Box Sequence with
        UIDs the SCP makes), annotation boxes when Basic Annotation Box was negotiated."""
        if state.session is None:
            raise PrintError(rules.INVALID_ATTRIBUTE_VALUE,
                             "no Basic Film Session on this association", [0x20100500])
        checked = rules.check("film_box.create", data or Dataset())
        referenced = rules.reference(checked.data, "ReferencedFilmSessionSequence")
        if referenced != (FILM_SESSION, state.session.uid):
            raise PrintError(rules.INVALID_ATTRIBUTE_VALUE,
                             "Referenced Film Session Sequence names another session",
                             [0x20100500])
        attributes = self.capabilities.film_box_defaults()
        rules.merge(attributes, checked.data)
        lut = self.lut_reference(state, attributes)
        box = self.capabilities.film_box(attributes, checked)
        uid = new_uid(instance)
        image_class = COLOR_IMAGE_BOX if meta == COLOR_META else GRAYSCALE_IMAGE_BOX
        images = [ImageBox(generate_uid(), image_class, position)
                  for position in range(1, box.film.display_format.boxes + 1)]
        annotations: list[tuple[str, int]] = []
        if has_context(association, ANNOTATION_BOX):
            count = self.capabilities.annotation_boxes(attributes.get("AnnotationDisplayFormatID"))
            annotations = [(generate_uid(), position) for position in range(1, count + 1)]
        film_box = FilmBox(uid, attributes, box.film, images, annotations, box.min_density,
                           box.max_density, lut)
        state.film_boxes[uid] = film_box
        state.session.film_boxes.append(uid)
        for image in images:
            state.image_boxes[image.uid] = (uid, image)
        for annotation_uid, position in annotations:
            state.annotations[annotation_uid] = (uid, position)
        answer = attributes.copy()
        answer.ReferencedImageBoxSequence = [rules.reference_item(i.sop_class, i.uid)
                                             for i in images]
        if annotations:
            answer.ReferencedBasicAnnotationBoxSequence = [
                rules.reference_item(ANNOTATION_BOX, a) for a, _ in annotations]
        fields = {} if instance else {"AffectedSOPInstanceUID": uid}
        return checked.response(answer, fields, box.warning)

    async def box_set(self, association: Association, state: AssociationPrints, meta: str,
                      instance: str, message: Message, data: Dataset | None) -> NResponse:
        """H.4.2.2.2: Table H.4-7's attributes."""
        film_box = self.film_box(state, instance)
        checked = rules.check("film_box.set", data or Dataset())
        attributes = film_box.attributes.copy()
        rules.merge(attributes, checked.data)
        lut = self.lut_reference(state, attributes)
        box = self.capabilities.film_box(attributes, checked)
        box.film.images, box.film.annotations = {}, film_box.film.annotations
        film_box.attributes, film_box.film, film_box.lut = attributes, box.film, lut
        film_box.min_density, film_box.max_density = box.min_density, box.max_density
        return checked.response(None, {}, box.warning)

    async def box_action(self, association: Association, state: AssociationPrints, meta: str,
                         instance: str, message: Message, data: Dataset | None) -> NResponse:
        """H.4.2.2.4: print this film box."""
        film_box = self.film_box(state, instance)
        self.check_action(message)
        assert state.session is not None
        return self.start_job(association, state, state.session, [film_box],
                              rules.BOX_EMPTY_PAGE)

    async def box_delete(self, association: Association, state: AssociationPrints, meta: str,
                         instance: str, message: Message, data: Dataset | None) -> NResponse:
        """H.4.2.2.3: the film box and its image and annotation boxes."""
        film_box = self.film_box(state, instance)
        del state.film_boxes[film_box.uid]
        for image in film_box.image_boxes:
            state.image_boxes.pop(image.uid, None)
        for annotation_uid, _ in film_box.annotation_boxes:
            state.annotations.pop(annotation_uid, None)
            state.texts.pop(annotation_uid, None)
        if state.session is not None and film_box.uid in state.session.film_boxes:
            state.session.film_boxes.remove(film_box.uid)
        return NResponse(Status.SUCCESS)

    # -- Image Box (H.4.3), Annotation Box (H.4.4) ------------------------------------------------
    async def image_set(self, association: Association, state: AssociationPrints, meta: str,
                        instance: str, message: Message, data: Dataset | None) -> NResponse:
        """H.4.3.1.2.1 / H.4.3.2.2.1: the preformatted image of one image box."""
        sop_class = str(message.command.get("RequestedSOPClassUID") or "").strip()
        found = state.image_boxes.get(instance)
        if found is None:
            raise PrintError(rules.NO_SUCH_SOP_INSTANCE, f"no image box {instance}"[:64])
        _, image = found
        if image.sop_class != sop_class:
            raise PrintError(rules.CLASS_INSTANCE_CONFLICT,
                             f"the image box is a {rules.class_name(image.sop_class)}"[:64])
        operation = "color_box.set" if sop_class == COLOR_IMAGE_BOX else "grayscale_box.set"
        checked = rules.check(operation, data or Dataset(), keep_items=True)
        position = rules.integer(checked.data.get("ImageBoxPosition"))
        if position != image.position:
            raise PrintError(rules.INVALID_ATTRIBUTE_VALUE,
                             f"Image Box Position {position} is not this box's "
                             f"({image.position})", [0x20200010])
        self.lut_reference(state, checked.data)
        warning = self.capabilities.check_image(checked.data, sop_class == COLOR_IMAGE_BOX)
        image.data = checked.data
        return checked.response(None, {}, warning)

    async def annotation_set(self, association: Association, state: AssociationPrints,
                             meta: str, instance: str, message: Message,
                             data: Dataset | None) -> NResponse:
        """H.4.4.2.1: Annotation Position and Text String."""
        found = state.annotations.get(instance)
        if found is None:
            raise PrintError(rules.NO_SUCH_SOP_INSTANCE, f"no annotation box {instance}"[:64])
        checked = rules.check("annotation_box.set", data or Dataset())
        position = rules.integer(checked.data.get("AnnotationPosition"))
        if position != found[1]:
            raise PrintError(rules.INVALID_ATTRIBUTE_VALUE,
                             f"Annotation Position {position} is not this box's ({found[1]})",
                             [0x20300010])
        state.texts[instance] = str(checked.data.get("TextString") or "")
        return checked.response(None, {}, None)

    # -- Presentation LUT (H.4.9), Printer (H.4.6), Print Job (H.4.5) ---------------------------
    async def lut_create(self, association: Association, state: AssociationPrints, meta: str,
                         instance: str, message: Message, data: Dataset | None) -> NResponse:
        checked = rules.check("presentation_lut.create", data or Dataset(), keep_items=True)
        rules.check_presentation_lut(checked.data)
        uid = new_uid(instance)
        state.luts[uid] = checked.data
        fields = {} if instance else {"AffectedSOPInstanceUID": uid}
        return checked.response(checked.data, fields, None)

    async def lut_delete(self, association: Association, state: AssociationPrints, meta: str,
                         instance: str, message: Message, data: Dataset | None) -> NResponse:
        if state.luts.pop(instance, None) is None:
            raise PrintError(rules.NO_SUCH_SOP_INSTANCE, f"no Presentation LUT {instance}"[:64])
        return NResponse(Status.SUCCESS)

    async def printer_get(self, association: Association, state: AssociationPrints,
                          meta: str, instance: str, message: Message,
                          data: Dataset | None) -> NResponse:
        """H.4.6.2.1: the well-known Printer instance's status and identity."""
        if instance != PRINTER_INSTANCE:
            raise PrintError(rules.NO_SUCH_SOP_INSTANCE,
                             "the Printer is the well-known instance 1.2.840.10008.5.1.1.17")
        return NResponse(Status.SUCCESS, rules.selected(
            self.capabilities.printer_dataset(*self.printer_status), message.command))

    async def job_get(self, association: Association, state: AssociationPrints, meta: str,
                      instance: str, message: Message, data: Dataset | None) -> NResponse:
        job = self.jobs.get(instance)
        if job is None:
            raise PrintError(rules.NO_SUCH_SOP_INSTANCE, f"no print job {instance}"[:64])
        return NResponse(Status.SUCCESS, rules.selected(job.dataset(self.capabilities.name),
                                                        message.command))

    # -- printing ---------------------------------------------------------------------------------
    def start_job(self, association: Association, state: AssociationPrints,
                  session: FilmSession, boxes: list[FilmBox], empty_status: int) -> NResponse:
        """The Print action: the films as they are now go to a new print job; the response
        names it when Print Job was negotiated (Tables H.4-3, H.4-8), and its events follow
        on the association."""
        films = [self.printed(association, state, session, box) for box in boxes]
        status: int = Status.SUCCESS
        if any(not printed.boxes for printed in films):
            status = empty_status
        job = PrintJob(generate_uid(), PENDING, "NORMAL",
                       str(session.attributes.get("PrintPriority") or "MED"),
                       dt.datetime.now(), (association.calling_ae or "").strip(),
                       str(session.attributes.get("FilmSessionLabel") or ""), films)
        for printed in films:
            printed.job_uid = job.uid
        self.jobs[job.uid] = job
        while len(self.jobs) > KEPT_JOBS:
            self.jobs.popitem(last=False)
        reported = has_context(association, PRINT_JOB)
        answer = None
        if reported:
            answer = Dataset()
            answer.ReferencedPrintJobSequence = [rules.reference_item(PRINT_JOB, job.uid)]

        async def run() -> None:
            await self.run_job(association, job, reported)

        fields: dict[str, Any] = {"ActionTypeID": PRINT_ACTION}
        if status != Status.SUCCESS:
            fields["ErrorComment"] = "empty page: no image box holds an image"
        return NResponse(status, answer, fields, after=run)

    def printed(self, association: Association, state: AssociationPrints,
                session: FilmSession, box: FilmBox) -> PrintedFilm:
        images = [(image.position, image.data,
                   state.luts.get(rules.lut_uid(image.data) or box.lut or ""))
                  for image in box.image_boxes if image.data is not None
                  and rules.has_image(image.data)]
        film = Film(box.film.display_format, box.film.size_id, box.film.orientation,
                    box.film.border_grey, box.film.empty_grey, box.film.trim, {},
                    {position: state.texts[uid] for uid, position in box.annotation_boxes
                     if state.texts.get(uid)},
                    str(session.attributes.get("FilmSessionLabel") or "DICOM print"))
        return PrintedFilm(film, images, session.attributes.copy(), box.attributes.copy(), "",
                           session.uid, (association.calling_ae or "").strip(),
                           self.capabilities.name, box.min_density, box.max_density)

    async def run_job(self, association: Association, job: PrintJob, reported: bool) -> None:
        """PENDING → PRINTING → DONE or FAILURE, each an N-EVENT-REPORT when the SCU
        negotiated Print Job (H.4.5.1); the films print whether or not the SCU still listens."""
        await self.report(association, job, reported)
        job.status, job.info = PRINTING, "NORMAL"
        await self.report(association, job, reported)
        try:
            job.results = await asyncio.to_thread(self.output.print_films, job.films)
            job.status, job.info = DONE, "NORMAL"
        except (DicomError, OSError, ValueError) as exc:
            log.error("print job %s failed: %s", job.uid, exc)
            job.status, job.info = FAILURE, rules.execution_info(exc)
        except Exception as exc:  # noqa: BLE001 - a failed job is reported, not raised
            log.exception("print job %s failed", job.uid)
            job.status, job.info = FAILURE, rules.execution_info(exc)
        job.films = []  # the pixels are printed: keep the job's status only
        await self.report(association, job, reported)
        status = ("NORMAL", "NORMAL") if job.status == DONE else ("FAILURE", job.info)
        if status != self.printer_status:
            self.printer_status = status
            await self.report_printer(association)

    async def report(self, association: Association, job: PrintJob, reported: bool) -> None:
        if not reported or not association.is_established:
            return
        info = Dataset()
        info.ExecutionStatusInfo = job.info
        info.FilmSessionLabel = job.session_label or None
        info.PrinterName = self.capabilities.name
        try:
            status, _, _ = await Client(association, handle_requests=False).n_event_report(
                PRINT_JOB, job.uid, JOB_EVENTS[job.status], info)
            if status != Status.SUCCESS:
                log.info("print job %s: the SCU answered %s with 0x%04X", job.uid,
                         job.status, status)
        except (AssociationError, ConnectionError, OSError, DicomError) as exc:
            log.info("print job %s: %s not reported (%s)", job.uid, job.status, exc)

    async def report_printer(self, association: Association) -> None:
        """H.4.6.1: the Printer's status change, to the SCU whose job changed it (on its meta
        SOP class context)."""
        meta = next((c.abstract_syntax for c in association.contexts.values()
                     if c.abstract_syntax in META_MEMBERS), None)
        if meta is None or not association.is_established:
            return
        status, info_text = self.printer_status
        info = None
        if status != "NORMAL":
            info = Dataset()
            info.PrinterStatusInfo = info_text
            info.PrinterName = self.capabilities.name
        try:
            await Client(association, handle_requests=False).n_event_report(
                PRINTER, PRINTER_INSTANCE, PRINTER_EVENTS[status], info, via=meta)
        except (AssociationError, ConnectionError, OSError, DicomError) as exc:
            log.info("printer status %s not reported (%s)", status, exc)

    # -- lookups ----------------------------------------------------------------------------------
    def session(self, state: AssociationPrints, instance: str) -> FilmSession:
        if state.session is None or state.session.uid != instance:
            raise PrintError(rules.NO_SUCH_SOP_INSTANCE, f"no film session {instance}"[:64])
        return state.session

    def film_box(self, state: AssociationPrints, instance: str) -> FilmBox:
        box = state.film_boxes.get(instance)
        if box is None:
            raise PrintError(rules.NO_SUCH_SOP_INSTANCE, f"no film box {instance}"[:64])
        return box

    def lut_reference(self, state: AssociationPrints, attributes: Dataset) -> str | None:
        uid = rules.lut_uid(attributes)
        if uid and uid not in state.luts:
            raise PrintError(rules.INVALID_ATTRIBUTE_VALUE,
                             f"no Presentation LUT {uid}"[:64], [0x20500500])
        return uid

    @staticmethod
    def check_action(message: Message) -> None:
        action = message.command.get("ActionTypeID")
        if action != PRINT_ACTION:
            raise PrintError(rules.NO_SUCH_ACTION, f"Action Type ID {action}: only 1 (Print)")


def new_uid(given: str) -> str:
    """The SOP Instance UID the SCU proposed, or one the SCP makes (PS3.7 §10.1.5.1.2)."""
    if given and not UID(given).is_valid:
        raise PrintError(rules.INVALID_OBJECT_INSTANCE, f"{given!r} is not a UID"[:64])
    return given or generate_uid()


def has_context(association: Association, abstract_syntax: str) -> bool:
    return any(context.abstract_syntax == abstract_syntax
               for context in association.contexts.values())


Operation = Any
OPERATIONS: dict[tuple[str, int], Operation] = {
    (FILM_SESSION, CommandField.N_CREATE_RQ): PrintSCP.session_create,
    (FILM_SESSION, CommandField.N_SET_RQ): PrintSCP.session_set,
    (FILM_SESSION, CommandField.N_ACTION_RQ): PrintSCP.session_action,
    (FILM_SESSION, CommandField.N_DELETE_RQ): PrintSCP.session_delete,
    (FILM_BOX, CommandField.N_CREATE_RQ): PrintSCP.box_create,
    (FILM_BOX, CommandField.N_SET_RQ): PrintSCP.box_set,
    (FILM_BOX, CommandField.N_ACTION_RQ): PrintSCP.box_action,
    (FILM_BOX, CommandField.N_DELETE_RQ): PrintSCP.box_delete,
    (GRAYSCALE_IMAGE_BOX, CommandField.N_SET_RQ): PrintSCP.image_set,
    (COLOR_IMAGE_BOX, CommandField.N_SET_RQ): PrintSCP.image_set,
    (ANNOTATION_BOX, CommandField.N_SET_RQ): PrintSCP.annotation_set,
    (PRESENTATION_LUT, CommandField.N_CREATE_RQ): PrintSCP.lut_create,
    (PRESENTATION_LUT, CommandField.N_DELETE_RQ): PrintSCP.lut_delete,
    (PRINTER, CommandField.N_GET_RQ): PrintSCP.printer_get,
    (PRINT_JOB, CommandField.N_GET_RQ): PrintSCP.job_get,
}
"""PS3.4 H.4: the DIMSE-N service of each print SOP class the SCP offers, as data."""


def film_of(printed: PrintedFilm) -> Film:
    """The page of ``printed`` with its images rendered (CPU work: call off the event loop)."""
    film = printed.film
    film.images = {}
    for position, data, lut in printed.boxes:
        pixels = rules.film_pixels(data, lut)
        size = rules.number(data.get("RequestedImageSize"))
        smooth = str(data.get("MagnificationType") or printed.film_box.get(
            "MagnificationType") or "").strip().upper() in ("BILINEAR", "CUBIC")
        film.images[position] = FilmImage(pixels, size, smooth)
    return film
