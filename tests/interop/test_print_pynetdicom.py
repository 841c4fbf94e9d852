"""pynetdicom as the Print SCU of ``dicomkit serve --print`` (PS3.4 H), on both index back
ends: the Basic Color Print Management Meta SOP Class with the Print Job events, and the
Presentation LUT SOP Class on the grayscale one."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset as PdDataset
from pydicom.sequence import Sequence as PdSequence
from pynetdicom import AE, evt

from dicomkit.core.uid import generate_uid
from dicomkit.encoding.reader import read
from dicomkit.iod.encapsulated import unwrap
from tests.support.databases import Backend
from tests.support.printing import pdf_images
from tests.support.servers import ServeFactory

GRAY_META = "1.2.840.10008.5.1.1.9"
COLOR_META = "1.2.840.10008.5.1.1.18"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
GRAY_BOX = "1.2.840.10008.5.1.1.4"
COLOR_BOX = "1.2.840.10008.5.1.1.4.1"
PRINTER = "1.2.840.10008.5.1.1.16"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
PRINT_JOB = "1.2.840.10008.5.1.1.14"
PRESENTATION_LUT = "1.2.840.10008.5.1.1.23"


def reference(sop_class: str, sop_instance: str) -> PdDataset:
    item = PdDataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


def stored_pdf(data: Path, tmp: Path) -> Path:
    for _ in range(300):  # the film prints after the N-ACTION response
        files = list((data / "files").rglob("*.dcm"))
        if files:
            break
        time.sleep(0.1)
    assert len(files) == 1, files
    pdf, _ = unwrap(read(str(files[0])))
    path = tmp / "film.pdf"
    path.write_bytes(pdf)
    return path


class Events:
    """The Print Job N-EVENT-REPORTs pynetdicom received."""

    def __init__(self) -> None:
        self.states: list[tuple[str, int]] = []
        self.done = threading.Event()

    def handler(self, event: Any) -> tuple[int, None]:
        request = event.request
        self.states.append((str(request.AffectedSOPInstanceUID), int(request.EventTypeID)))
        if int(request.EventTypeID) in (3, 4):
            self.done.set()
        return 0x0000, None


def test_pynetdicom_prints_colour_and_hears_the_print_job(
        backend: Backend, serve: ServeFactory, tmp_path: Path) -> None:
    server = serve(tmp_path / "data", index=backend.new_index(), aet="FILMER",
                   args=["--print", "--no-http", "--no-fsync"])
    events = Events()
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(COLOR_META)
    ae.add_requested_context(PRINT_JOB)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="FILMER",
                         evt_handlers=[(evt.EVT_N_EVENT_REPORT, events.handler)])
    assert assoc.is_established
    try:
        status, printer = assoc.send_n_get([0x21100010, 0x21100030], PRINTER, PRINTER_INSTANCE,
                                           meta_uid=COLOR_META)
        assert status.Status == 0 and printer.PrinterStatus == "NORMAL"
        session = PdDataset()
        session.NumberOfCopies = 2
        session.FilmSessionLabel = "colour"
        session_uid = generate_uid()  # the SCU proposes the instance UIDs here
        status, created = assoc.send_n_create(session, FILM_SESSION, session_uid,
                                              meta_uid=COLOR_META)
        assert status.Status == 0
        box = PdDataset()
        box.ImageDisplayFormat = "STANDARD\\2,1"
        box.FilmSizeID = "A4"
        box.FilmOrientation = "LANDSCAPE"
        box.ReferencedFilmSessionSequence = PdSequence([reference(FILM_SESSION, session_uid)])
        film_uid = generate_uid()
        status, film = assoc.send_n_create(box, FILM_BOX, film_uid, meta_uid=COLOR_META)
        assert status.Status == 0
        boxes = film.ReferencedImageBoxSequence
        assert [b.ReferencedSOPClassUID for b in boxes] == [COLOR_BOX, COLOR_BOX]
        sent = []
        for position, item in enumerate(boxes, 1):
            rgb = np.zeros((6, 8, 3), np.uint8)
            rgb[..., position - 1] = 200
            rgb[0, 0] = (1, 2, 3)
            sent.append(rgb)
            image = PdDataset()
            image.SamplesPerPixel = 3
            image.PhotometricInterpretation = "RGB"
            image.PlanarConfiguration = 1
            image.Rows, image.Columns = 6, 8
            image.BitsAllocated = image.BitsStored = 8
            image.HighBit = 7
            image.PixelRepresentation = 0
            image.PixelData = rgb.transpose(2, 0, 1).tobytes()
            set_ = PdDataset()
            set_.ImageBoxPosition = position
            set_.BasicColorImageSequence = PdSequence([image])
            status, _ = assoc.send_n_set(set_, COLOR_BOX, item.ReferencedSOPInstanceUID,
                                         meta_uid=COLOR_META)
            assert status.Status == 0
        status, action = assoc.send_n_action(None, 1, FILM_BOX, film_uid, meta_uid=COLOR_META)
        assert status.Status == 0
        job = action.ReferencedPrintJobSequence[0]
        assert job.ReferencedSOPClassUID == PRINT_JOB
        assert events.done.wait(30)
        assert events.states == [(job.ReferencedSOPInstanceUID, event) for event in (1, 2, 3)]
        status, got = assoc.send_n_get([0x21000020, 0x21000030], PRINT_JOB, job.ReferencedSOPInstanceUID)
        assert status.Status == 0 and got.ExecutionStatus == "DONE"
        status = assoc.send_n_delete(FILM_SESSION, session_uid, meta_uid=COLOR_META)
        assert status.Status == 0
    finally:
        assoc.release()
    pdf = stored_pdf(server.data, tmp_path)
    embedded = pdf_images(pdf, tmp_path / "embedded")
    assert [image.tolist() for image in embedded] == [image.tolist() for image in sent]


def test_pynetdicom_presentation_lut_is_applied_and_deleted(
        backend: Backend, serve: ServeFactory, tmp_path: Path) -> None:
    server = serve(tmp_path / "data", index=backend.new_index(), aet="FILMER",
                   args=["--print", "--no-http", "--no-fsync"])
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(GRAY_META)
    ae.add_requested_context(PRESENTATION_LUT)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="FILMER")
    assert assoc.is_established
    try:
        lut = PdDataset()
        item = PdDataset()
        item.add_new(0x00283002, "US", [256, 0, 8])  # LUT Descriptor
        item.add_new(0x00283006, "US", list(range(255, -1, -1)))  # LUT Data
        lut.PresentationLUTSequence = PdSequence([item])
        lut_uid, session_uid = generate_uid(), generate_uid()
        status, _ = assoc.send_n_create(lut, PRESENTATION_LUT, lut_uid)
        assert status.Status == 0
        session = PdDataset()  # not empty: pynetdicom 3.0.4 announces an empty attribute
        session.NumberOfCopies = 1  # list and sends no data set for it
        status, _ = assoc.send_n_create(session, FILM_SESSION, session_uid, meta_uid=GRAY_META)
        assert status.Status == 0
        box = PdDataset()
        box.ImageDisplayFormat = "STANDARD\\1,1"
        box.ReferencedFilmSessionSequence = PdSequence([reference(FILM_SESSION, session_uid)])
        box.ReferencedPresentationLUTSequence = PdSequence([reference(PRESENTATION_LUT,
                                                                      lut_uid)])
        status, film = assoc.send_n_create(box, FILM_BOX, generate_uid(), meta_uid=GRAY_META)
        assert status.Status == 0
        image = PdDataset()
        image.SamplesPerPixel = 1
        image.PhotometricInterpretation = "MONOCHROME2"
        image.Rows, image.Columns = 4, 4
        image.BitsAllocated = image.BitsStored = 8
        image.HighBit = 7
        image.PixelRepresentation = 0
        image.PixelData = bytes(range(0, 160, 10))
        set_ = PdDataset()
        set_.ImageBoxPosition = 1
        set_.BasicGrayscaleImageSequence = PdSequence([image])
        status, _ = assoc.send_n_set(set_, GRAY_BOX,
                                     film.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID,
                                     meta_uid=GRAY_META)
        assert status.Status == 0
        status, _ = assoc.send_n_action(None, 1, FILM_SESSION, session_uid, meta_uid=GRAY_META)
        assert status.Status == 0
        assert assoc.send_n_delete(PRESENTATION_LUT, lut_uid).Status == 0
        assert assoc.send_n_delete(PRESENTATION_LUT, lut_uid).Status == 0x0112
    finally:
        assoc.release()
    pdf = stored_pdf(server.data, tmp_path)
    (embedded,) = pdf_images(pdf, tmp_path / "embedded")
    assert embedded.ravel().tolist() == [255 - v for v in range(0, 160, 10)]
