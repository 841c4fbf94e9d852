"""The print queue on the HTTP app (``/api/print``, ``/print-queue``), both index back ends:
films printed by :class:`dicomkit.archive.print_queue.ArchivePrinter`, with the DICOMweb
authentication in front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from starlette.testclient import TestClient

from dicomkit.archive.print_queue import PRINT_PATIENT_ID, ArchivePrinter
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.pixels.film import Film, parse_display_format
from dicomkit.services.print import PrintedFilm
from dicomkit.services.print_scu import image_item
from dicomkit.web.app import create_app
from dicomkit.web.context import WebSettings


def printed(label: str) -> PrintedFilm:
    data = Dataset()
    data.ImageBoxPosition = 1
    data.BasicGrayscaleImageSequence = [image_item(np.full((8, 8), 99, np.uint8), False)]
    session = Dataset()
    session.FilmSessionLabel = label
    return PrintedFilm(Film(parse_display_format("STANDARD\\1,1"), "A4"), [(1, data, None)],
                       session, Dataset(), "1.2.3", "1.2.3.4", "CT1", "DICOMKIT", 20, 320)


def test_the_queue_lists_films_with_their_pdf_and_png(archive: Archive) -> None:
    printer = ArchivePrinter(archive, dpi=20)
    uid = printer.print_film(printed("<b>chest</b>"))
    client = TestClient(create_app(archive))
    listed = client.get("/api/print").json()
    assert [film["sop_uid"] for film in listed] == [uid]
    assert listed[0]["patient_id"] == PRINT_PATIENT_ID
    assert listed[0]["title"] == "Film: <b>chest</b>"
    pdf = client.get(f"/api/print/{uid}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-1.4")
    png = client.get(f"/api/print/{uid}.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    page = client.get("/print-queue")
    assert page.status_code == 200
    assert "&lt;b&gt;chest&lt;/b&gt;" in page.text and "<b>chest" not in page.text
    assert client.get("/api/print/1.2.3.pdf").status_code == 404
    assert client.get("/api/print/../etc.png").status_code == 404
    assert client.get("/api/print?limit=0").status_code == 400


def test_the_queue_needs_the_dicomweb_credentials(archive: Archive) -> None:
    client = TestClient(create_app(archive, WebSettings(bearer_tokens=["s3cret"])))
    assert client.get("/api/print").status_code == 401
    assert client.get("/print-queue").status_code == 401
    headers = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/print", headers=headers).json() == []


def test_a_secondary_capture_of_the_film_is_kept_when_asked(archive: Archive) -> None:
    from dicomkit.archive.matching import compile_query

    printer = ArchivePrinter(archive, dpi=20, secondary_capture=True, png=False)
    printer.print_film(printed("sc"))
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    rows = archive.index.instances_matching(compile_query(query, "patient"))
    assert len(rows) == 1
    from dicomkit.encoding.reader import read

    image = read(archive.absolute(rows[0].path))
    assert (int(image.Rows), int(image.Columns)) == (234, 165)  # A4 at 20 dpi
    assert str(image.PatientID) == PRINT_PATIENT_ID


def test_the_stored_film_and_its_secondary_capture_pass_dciodvfy(archive: Archive) -> None:
    """dicom3tools dciodvfy: no Error for the Encapsulated PDF (print-jobs patient and in the
    study the images name) and for the Secondary Capture."""
    from tests.support.dciodvfy import assert_valid

    printer = ArchivePrinter(archive, dpi=20, secondary_capture=True, png=False)
    printer.print_film(printed("plain"))
    identified = printed("identified")
    item = identified.boxes[0][1].BasicGrayscaleImageSequence[0]
    item.PatientID = "P-7"
    item.PatientName = "Doe^Jane"
    item.StudyInstanceUID = "1.2.826.0.1.3680043.10.1234.7"
    printer.print_film(identified)
    files = sorted(Path(archive.files_dir).rglob("*.dcm"))
    assert len(files) == 4
    for path in files:
        assert_valid(path)
