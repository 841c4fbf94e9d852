"""Print Management SCP rules (PS3.4 H.4) with dicomkit's own client on a dicomkit Server in
this process: the tables against the standard's, the statuses of H.4, the print job events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.transfer_syntax import lookup
from dicomkit.encoding.writer import dataset_to_bytes
from dicomkit.net.client import connect
from dicomkit.net.uids import EXPLICIT_VR_LE
from dicomkit.services import print as P
from dicomkit.services import print_rules as R
from dicomkit.services.print_scu import FilmOptions, image_item, print_images
from tests.support.dimse import ServerThread

STANDARD = Path("/work/shared/dicom-standard")


class Recorder:
    """A PrintOutput that keeps the films (and can be made to fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.films: list[P.PrintedFilm] = []
        self.pages: list[Any] = []
        self.fail = fail

    def print_films(self, films: Sequence[P.PrintedFilm]) -> list[str]:
        if self.fail:
            raise OSError("the printer is out of paper")
        for film in films:
            self.films.append(film)
            self.pages.append(P.film_of(film))
        return ["ok"] * len(films)


def test_the_attribute_tables_are_the_standards() -> None:
    """Each row of data/print_attributes.tsv against PS3.4 Tables H.4-x as published."""
    tables = json.loads((STANDARD / "posda_tables_2016" / "part04_tables.json").read_text())
    rows = R.table()
    for row in rows:
        published = tables[f"table_{row.table}"]["rows"]
        tags = [f"({r[1].strip()[1:5].upper()},{r[1].strip()[6:10].upper()})"
                for r in published]
        assert f"({row.tag >> 16:04X},{row.tag & 0xFFFF:04X})" in tags, row
    assert len([r for r in rows if r.operation == "film_box.create"]) == len(
        tables["table_H.4-6"]["rows"])


def test_the_statuses_are_the_standards() -> None:
    text = (STANDARD / "ps3.7" / "dimse_status_codes.tsv").read_text()
    codes = {int(line.split("\t")[1], 16) for line in text.splitlines()
             if line.startswith("print_job_management")}
    for name in ("MEMORY_ALLOCATION_NOT_SUPPORTED", "SESSION_EMPTY_PAGE", "BOX_EMPTY_PAGE",
                 "DENSITY_OUT_OF_RANGE", "NO_FILM_BOXES", "INSUFFICIENT_MEMORY",
                 "ATTRIBUTE_LIST_ERROR", "INVALID_ATTRIBUTE_VALUE", "MISSING_ATTRIBUTE"):
        assert getattr(R, name) in codes, name


CONTEXTS = [(P.GRAYSCALE_META, [EXPLICIT_VR_LE]), (P.COLOR_META, [EXPLICIT_VR_LE]),
            (P.PRINT_JOB, [EXPLICIT_VR_LE]), (P.ANNOTATION_BOX, [EXPLICIT_VR_LE]),
            (P.PRESENTATION_LUT, [EXPLICIT_VR_LE])]


def session(port: int, body: Any, contexts: Any = None) -> Any:
    async def go() -> Any:
        async with connect("127.0.0.1", port, called_aet="PRINTER",
                           contexts=contexts or CONTEXTS) as client:
            return await body(client)
    return asyncio.run(go())


@pytest.fixture
def printer() -> Any:
    recorder = Recorder()
    scp = P.PrintSCP(recorder, R.PrinterCapabilities(custom_formats={"1": "ROW\\1,2"}))
    with ServerThread(handler=scp, ae_title="PRINTER") as server:
        yield server.port, recorder


def tags_of(command: Dataset) -> list[int]:
    value = command.get("AttributeIdentifierList")
    if value is None:
        return []
    return [int(t) for t in (value if isinstance(value, list) else [value])]


def grey(value: int, rows: int = 8, columns: int = 8) -> Any:
    return np.full((rows, columns), value, np.uint8)


def test_a_film_prints_with_print_job_events_pending_printing_done(printer: Any) -> None:
    port, recorder = printer

    async def body(client: Any) -> Any:
        return await print_images(client, [grey(10), grey(20), grey(30)],
                                  FilmOptions("STANDARD\\2,2", annotation="hello"))
    result = session(port, body)
    assert result.status == "DONE"
    assert [state for _, state in result.events] == ["PENDING", "PRINTING", "DONE"]
    assert result.warnings == []
    page = recorder.pages[0]
    assert sorted(page.images) == [1, 2, 3]
    assert int(page.images[2].pixels[0, 0]) == 20
    assert page.annotations == {1: "hello"}


def test_colour_images_print_on_the_colour_meta_class(printer: Any) -> None:
    port, recorder = printer
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200

    async def body(client: Any) -> Any:
        return await print_images(client, [red], FilmOptions(color=True))
    assert session(port, body).status == "DONE"
    assert recorder.pages[0].images[1].pixels[0, 0].tolist() == [200, 0, 0]


async def _session_and_box(client: Any, fmt: str = "STANDARD\\1,1",
                           **attrs: Any) -> tuple[str, Any, Any]:
    status, _, cmd = await client.n_create(P.FILM_SESSION, None, Dataset(),
                                           via=P.GRAYSCALE_META)
    assert status == 0
    session_uid = str(cmd.AffectedSOPInstanceUID)
    box = Dataset()
    box.ImageDisplayFormat = fmt
    box.ReferencedFilmSessionSequence = [R.reference_item(P.FILM_SESSION, session_uid)]
    for keyword, value in attrs.items():
        box.set(keyword, value)
    status, answer, cmd = await client.n_create(P.FILM_BOX, None, box, via=P.GRAYSCALE_META)
    return session_uid, (status, answer, cmd), box


@pytest.mark.parametrize(("attrs", "status", "tag"), [
    ({"ImageDisplayFormat": "GRID\\2"}, 0x0106, 0x20100010),
    ({"FilmSizeID": "9INX9IN"}, 0x0106, 0x20100050),
    ({"FilmOrientation": "SIDEWAYS"}, 0x0106, 0x20100040),
    ({"MagnificationType": "FANCY"}, 0x0106, 0x20100060),
    ({"BorderDensity": "GREY"}, 0x0106, 0x20100100),
])
def test_a_film_box_the_printer_cannot_honour_is_refused(printer: Any, attrs: dict[str, str],
                                                         status: int, tag: int) -> None:
    port, _ = printer

    async def body(client: Any) -> Any:
        fmt = attrs.pop("ImageDisplayFormat", "STANDARD\\1,1")
        _, (got, _, cmd), _ = await _session_and_box(client, fmt, **attrs)
        return got, tags_of(cmd)
    got, tags = session(port, body)
    assert got == status
    assert tags == [tag]


def test_densities_outside_the_printers_range_are_clamped_with_b605(printer: Any) -> None:
    port, _ = printer

    async def body(client: Any) -> Any:
        _, (status, answer, _), _ = await _session_and_box(client, MaxDensity=400)
        return status, int(answer.MaxDensity)
    assert session(port, body) == (0xB605, 400)


def test_film_box_create_answers_image_boxes_and_unknown_attributes_warn(printer: Any) -> None:
    port, _ = printer

    async def body(client: Any) -> Any:
        _, (status, answer, cmd), _ = await _session_and_box(
            client, "CUSTOM\\1", PatientID="nobody")
        return status, answer, cmd
    status, answer, cmd = session(port, body)
    assert status == 0x0107
    assert tags_of(cmd) == [0x00100020]
    boxes = answer.ReferencedImageBoxSequence
    assert len(boxes) == 3  # CUSTOM\1 = ROW\1,2 here
    assert {str(b.ReferencedSOPClassUID) for b in boxes} == {P.GRAYSCALE_IMAGE_BOX}
    assert len(answer.ReferencedBasicAnnotationBoxSequence) == 2


def test_image_box_statuses(printer: Any) -> None:
    port, _ = printer

    async def body(client: Any) -> Any:
        _, (_, answer, _), _ = await _session_and_box(client, "STANDARD\\2,1")
        first = str(answer.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)
        out = []
        data = Dataset()
        data.ImageBoxPosition = 2  # not this box's
        data.BasicGrayscaleImageSequence = [image_item(grey(1), False)]
        out.append((await client.n_set(P.GRAYSCALE_IMAGE_BOX, first, data,
                                       via=P.GRAYSCALE_META))[0])
        data.ImageBoxPosition = 1
        item = image_item(grey(1), False)
        item.set("PixelData", b"\0" * 10, "OB")  # shorter than 8 x 8
        data.BasicGrayscaleImageSequence = [item]
        out.append((await client.n_set(P.GRAYSCALE_IMAGE_BOX, first, data,
                                       via=P.GRAYSCALE_META))[0])
        del data.BasicGrayscaleImageSequence
        out.append((await client.n_set(P.GRAYSCALE_IMAGE_BOX, first, data,
                                       via=P.GRAYSCALE_META))[0])
        out.append((await client.n_set(P.COLOR_IMAGE_BOX, first, data, via=P.COLOR_META))[0])
        out.append((await client.n_set(P.GRAYSCALE_IMAGE_BOX, "1.2.3.4", data,
                                       via=P.GRAYSCALE_META))[0])
        return out
    assert session(port, body) == [0x0106, 0x0106, 0x0120, 0x0119, 0x0112]


def test_empty_page_session_level_and_printer_get(printer: Any) -> None:
    port, recorder = printer

    async def body(client: Any) -> Any:
        session_uid, (_, answer, cmd), _ = await _session_and_box(client)
        box_uid = str(cmd.AffectedSOPInstanceUID)
        out = [(await client.n_action(P.FILM_BOX, box_uid, 1, via=P.GRAYSCALE_META))[0]]
        out.append((await client.n_action(P.FILM_BOX, box_uid, 2, via=P.GRAYSCALE_META))[0])
        out.append((await client.n_delete(P.FILM_BOX, box_uid, via=P.GRAYSCALE_META))[0])
        out.append((await client.n_action(P.FILM_SESSION, session_uid, 1,
                                          via=P.GRAYSCALE_META))[0])
        status, data, _ = await client.n_get(P.PRINTER, P.PRINTER_INSTANCE,
                                             via=P.GRAYSCALE_META)
        out.append((status, str(data.PrinterStatus)))
        out.append((await client.n_get(P.PRINTER, "1.2.3", via=P.GRAYSCALE_META))[0])
        memory = Dataset()
        memory.MemoryAllocation = 100
        out.append((await client.n_create(P.FILM_SESSION, None, memory,
                                          via=P.GRAYSCALE_META))[0])
        return out
    assert session(port, body) == [0xB603, 0x0123, 0, 0xC600, (0, "NORMAL"), 0x0112, 0x0111]


def test_a_second_session_in_a_new_association_warns_memory_allocation(printer: Any) -> None:
    port, _ = printer

    async def body(client: Any) -> Any:
        memory = Dataset()
        memory.MemoryAllocation = 100
        return (await client.n_create(P.FILM_SESSION, None, memory, via=P.GRAYSCALE_META))[0]
    assert session(port, body) == 0xB600


def test_presentation_lut_inverts_and_unknown_luts_are_refused(printer: Any) -> None:
    port, recorder = printer

    async def body(client: Any) -> Any:
        lut = Dataset()
        item = Dataset()
        item.LUTDescriptor = [256, 0, 8]
        item.set("LUTData", np.arange(255, -1, -1, dtype="<u2").tobytes(), "OW")
        lut.PresentationLUTSequence = [item]
        status, _, cmd = await client.n_create(P.PRESENTATION_LUT, None, lut)
        assert status == 0, hex(status)
        lut_uid = str(cmd.AffectedSOPInstanceUID)
        bad = [R.reference_item(P.PRESENTATION_LUT, "1.2.3")]
        _, (refused, _, _), _ = await _session_and_box(
            client, ReferencedPresentationLUTSequence=bad)
        return lut_uid, refused
    lut_uid, refused = session(port, body)
    assert refused == 0x0106

    async def printing(client: Any) -> Any:
        lut = Dataset()
        item = Dataset()
        item.LUTDescriptor = [256, 0, 8]
        item.set("LUTData", np.arange(255, -1, -1, dtype="<u2").tobytes(), "OW")
        lut.PresentationLUTSequence = [item]
        _, _, cmd = await client.n_create(P.PRESENTATION_LUT, None, lut)
        ref = [R.reference_item(P.PRESENTATION_LUT, str(cmd.AffectedSOPInstanceUID))]
        _, (status, answer, cmd), _ = await _session_and_box(
            client, ReferencedPresentationLUTSequence=ref)
        box = str(answer.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)
        data = Dataset()
        data.ImageBoxPosition = 1
        data.BasicGrayscaleImageSequence = [image_item(grey(10), False)]
        await client.n_set(P.GRAYSCALE_IMAGE_BOX, box, data, via=P.GRAYSCALE_META)
        printed = len(recorder.pages)
        await client.n_action(P.FILM_BOX, str(cmd.AffectedSOPInstanceUID), 1,
                              via=P.GRAYSCALE_META)
        for _ in range(300):  # the film prints after the response (no Print Job here)
            if len(recorder.pages) > printed:
                break
            await asyncio.sleep(0.05)
        return status
    assert session(port, printing) == 0
    assert int(recorder.pages[-1].images[1].pixels[0, 0]) == 245


def test_a_failed_output_ends_the_job_in_failure_and_the_printer_reports_it() -> None:
    recorder = Recorder(fail=True)
    scp = P.PrintSCP(recorder)
    printer_events: list[int] = []
    with ServerThread(handler=scp, ae_title="PRINTER") as server:
        async def body(client: Any) -> Any:
            result = await print_images(client, [grey(1)], FilmOptions())
            for _ in range(200):  # the Printer's event follows the job's last one
                if result.printer_events:
                    break
                await asyncio.sleep(0.05)
            printer_events.extend(result.printer_events)
            _, data, _ = await client.n_get(P.PRINTER, P.PRINTER_INSTANCE, via=P.GRAYSCALE_META)
            return result, str(data.PrinterStatus), str(data.PrinterStatusInfo)
        result, status, info = session(server.port, body)
        recorder.fail = False

        async def again(client: Any) -> Any:
            await print_images(client, [grey(1)], FilmOptions())
            _, data, _ = await client.n_get(P.PRINTER, P.PRINTER_INSTANCE, via=P.GRAYSCALE_META)
            return str(data.PrinterStatus)
        normal = session(server.port, again)
    assert result.status == "FAILURE"
    assert [state for _, state in result.events][-1] == "FAILURE"
    assert (status, info) == ("FAILURE", "PROC FAILURE")
    assert printer_events == [3]  # FAILURE (Table H.4-16)
    assert normal == "NORMAL"


def test_a_sop_class_outside_its_meta_class_is_refused(printer: Any) -> None:
    port, _ = printer

    async def body(client: Any) -> Any:
        return (await client.n_create(P.FILM_SESSION, None, Dataset(), via=P.PRINT_JOB))[0]
    assert session(port, body) == 0x0122


def test_requests_with_values_of_any_kind_get_a_status_never_an_abort(printer: Any) -> None:
    """Film box and image box requests with random values of the wrong kind: each answered
    with a status (PS3.7 Annex C), the association still usable afterwards."""
    import random

    rng = random.Random(16)
    junk: list[Any] = ["", "X" * 70, "STANDARD\\99999,1", "ROW\\", "-5", "1.5", 0, 65535,
                       ["A", "B"], [1, 2, 3], b"\xff\xfe", "CUSTOM\\", "BLACK\\WHITE"]
    box_keys = ["ImageDisplayFormat", "FilmOrientation", "FilmSizeID", "MagnificationType",
                "MaxDensity", "MinDensity", "BorderDensity", "EmptyImageDensity", "Trim",
                "ConfigurationInformation", "SmoothingType"]
    item_keys = ["Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                 "SamplesPerPixel", "PhotometricInterpretation", "PixelRepresentation"]

    def put(ds: Dataset, keyword: str, value: Any) -> None:
        from dicomkit.core import dictionary

        vr = dictionary.vr_for_tag(dictionary.tag_for_keyword(keyword) or 0)
        try:
            put_as(ds, keyword, value, vr)
            dataset_to_bytes(ds, lookup(EXPLICIT_VR_LE))
        except (ValueError, TypeError):  # a value this VR cannot hold at all: dicomkit
            if keyword in ds:  # would not encode it
                del ds[keyword]

    def put_as(ds: Dataset, keyword: str, value: Any, vr: str) -> None:
        if isinstance(value, bytes):
            ds.set(keyword, value.decode("latin-1"), vr)
        elif vr in ("US", "SS", "UL") and not isinstance(value, (int, list)):
            ds.set(keyword, 7, vr)
        elif vr in ("US", "SS", "UL") and isinstance(value, list):
            ds.set(keyword, [int(v) if isinstance(v, int) else 1 for v in value], vr)
        elif vr in ("US",) and isinstance(value, int):
            ds.set(keyword, value, vr)
        else:
            ds.set(keyword, value if isinstance(value, (str, list)) else str(value), vr)

    async def body(client: Any) -> list[int]:
        statuses = []
        session_uid, (_, answer, _), _ = await _session_and_box(client, "STANDARD\\1,1")
        image_uid = str(answer.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)
        for _ in range(60):
            box = Dataset()
            box.ImageDisplayFormat = "STANDARD\\1,1"
            box.ReferencedFilmSessionSequence = [R.reference_item(P.FILM_SESSION, session_uid)]
            for keyword in rng.sample(box_keys, 3):
                put(box, keyword, rng.choice(junk))
            statuses.append((await client.n_create(P.FILM_BOX, None, box,
                                                   via=P.GRAYSCALE_META))[0])
            data = Dataset()
            data.ImageBoxPosition = 1
            item = image_item(grey(3, 4, 4), False)
            for keyword in rng.sample(item_keys, 2):
                put(item, keyword, rng.choice(junk))
            data.BasicGrayscaleImageSequence = [item]
            statuses.append((await client.n_set(P.GRAYSCALE_IMAGE_BOX, image_uid, data,
                                                via=P.GRAYSCALE_META))[0])
        status, _, _ = await client.n_get(P.PRINTER, P.PRINTER_INSTANCE, via=P.GRAYSCALE_META)
        statuses.append(status)
        return statuses
    statuses = session(port_of(printer), body)
    assert statuses[-1] == 0  # still answering
    assert all(isinstance(status, int) for status in statuses)
    assert any(status not in (0, 0xB605) for status in statuses)


def port_of(printer: Any) -> int:
    return int(printer[0])
