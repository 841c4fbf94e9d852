"""The archive UI and the viewer in a real browser (Debian's chromium driven by Playwright, the
``page`` fixture of tests/support/browser.py) against a real ``dicomkit serve``, both index back
ends: search → open a study → thumbnails → tag tree → viewer → scroll → window/level → measure →
upload → download → delete; and the viewer's canvas compared pixel by pixel with dicomkit's own
renderer (pixels/render.py) for the same frame and window.

Tolerance of the comparison: every pixel within 1 grey level (the browser's LUT rounds
``round(y)`` where numpy rounds ``floor(y + 0.5)``, equal but for float noise at .5), shown at
1:1 with no smoothing, so the viewer's own pipeline (Modality LUT, linear VOI, 8-bit) is what
is measured.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import dicomkit
from dicomkit.pixels.render import render
from tests.support.browser import NetworkLog
from tests.support.databases import Backend
from tests.support.datasets import describe_instance, pydicom_file, synthetic_series
from tests.support.png import read_png
from tests.support.servers import Serve, ServeFactory
from tests.support.web import start_web, stow

SLICES = 40


@dataclass
class Archive:
    server: Serve
    http_port: int
    ct_study: str  # the synthetic CT series (SLICES slices)
    ct_series: str
    small_study: str  # pydicom's CT_small.dcm (signed 16-bit, no window)
    small_path: Path
    upload: list[Path]
    studies: int  # how many studies the archive holds before the tests

    def study_of(self, name: str) -> str:
        return describe_instance(pydicom_file(name)).study

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    data = tmp_path_factory.mktemp(f"ui-{backend.name}")
    server, http_port = start_web(module_serve, data, backend.new_index())
    series = synthetic_series(tmp_path_factory.mktemp("ct"), SLICES, size=64,
                              PatientName="Browser^Test", PatientID="UI-1")
    first = describe_instance(series[0])
    second = synthetic_series(tmp_path_factory.mktemp("ct2"), 5, size=32, study=first.study,
                              PatientName="Browser^Test", PatientID="UI-1", SeriesNumber=2,
                              SeriesDescription="Second")
    small = pydicom_file("CT_small.dcm")
    root = f"http://127.0.0.1:{http_port}/dicom-web"
    # RLE grayscale (the archive decodes its frames for the browser) and RLE colour, 2 frames
    # (rendered by the archive)
    compressed = [pydicom_file("MR_small_RLE.dcm"), pydicom_file("SC_rgb_rle_2frame.dcm"),
                  pydicom_file("rtdose.dcm")]  # and a 32-bit, 15-frame RT Dose
    assert stow(root, [*series, *second, small, *compressed]).status_code == 200
    studies = len(httpx.get(root + "/studies").json())
    upload = synthetic_series(tmp_path_factory.mktemp("upload"), 3, size=16,
                              PatientName="Uploaded^Person", PatientID="UP-1")
    yield Archive(server, http_port, first.study, first.series,
                  describe_instance(small).study, small, upload, studies)
    assert server.stop() == 0, server.log_tail()


def viewer_state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("() => { const v = window.dicomkitViewer; "
                                          "return v ? {...v, rect: v.imageRect()} : null; }")
    return state


def wait_ready(page: Any, index: int | None = None) -> dict[str, Any]:
    """The viewer's state once it shows image ``index`` (any image when None)."""
    condition = "window.dicomkitViewer && window.dicomkitViewer.ready"
    if index is not None:
        condition += f" && window.dicomkitViewer.index === {index}"
    page.wait_for_function(f"() => {condition}", timeout=20000)
    return viewer_state(page)


def test_study_list_search_and_study_page(page: Any, archive: Archive) -> None:
    log = NetworkLog.watch(page)
    page.goto(archive.base + "/")
    page.wait_for_selector("#study-table tr.study-row")
    assert page.locator("tr.study-row").count() == archive.studies
    page.fill("#q-name", "browser")
    page.click("#search-button")
    page.wait_for_function("() => document.querySelectorAll('tr.study-row').length === 1")
    assert "Browser, Test" in page.inner_text("#study-table")
    # sorting a column re-orders the page and marks the column
    page.fill("#q-name", "")
    page.click("#search-button")
    page.wait_for_function("() => document.querySelectorAll('tr.study-row').length === "
                           f"{archive.studies}")
    page.click("th:has-text('Patient ID')")
    ids = page.eval_on_selector_all("tr.study-row td:nth-child(2)", "c => c.map(x => x.textContent)")
    assert ids == sorted(ids)
    page.click(f"tr[data-study='{archive.ct_study}'] a.open")
    page.wait_for_selector(".series-card img.thumb")
    page.wait_for_function("() => [...document.querySelectorAll('img.thumb')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    # the metadata of the first instance as a tag tree, searchable
    page.wait_for_selector("#tag-tree li.tag")
    page.fill("#tag-filter", "PixelSpacing")
    page.wait_for_function("() => document.querySelectorAll('#tag-tree li.tag').length === 1")
    assert "0.5\\0.5" in page.inner_text("#tag-tree")
    # keywords from the archive's dictionary, for tags the UI does not know itself
    page.fill("#tag-filter", "KVP")
    page.wait_for_function("() => document.querySelectorAll('#tag-tree li.tag').length === 1")
    assert "(0018,0060)" in page.inner_text("#tag-tree")
    assert not log.from_origin(archive.base).errors, log.describe()


def test_viewer_scroll_window_and_measure(page: Any, archive: Archive) -> None:
    log = NetworkLog.watch(page)
    page.goto(f"{archive.base}/viewer?study={archive.ct_study}")
    state = wait_ready(page, 0)
    assert state["count"] == SLICES and state["source"] == "client"
    assert state["window"] == {"center": 40, "width": 400}  # the file's window
    canvas = page.locator(".viewport.active canvas")
    box = canvas.bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)
    for _ in range(3):
        page.mouse.wheel(0, 100)
    state = wait_ready(page, 3)
    page.keyboard.press("ArrowDown")
    state = wait_ready(page, 4)
    page.keyboard.press("End")
    state = wait_ready(page, SLICES - 1)
    page.keyboard.press("Home")
    state = wait_ready(page, 0)
    # frames are fetched on demand: not all of them were asked for
    frames = [u for m, u in log.requests if "/frames/" in u]
    assert 0 < len(frames) < SLICES + 5
    # window/level by dragging
    page.mouse.move(*centre)
    page.mouse.down()
    page.mouse.move(centre[0] + 60, centre[1] + 30, steps=5)
    page.mouse.up()
    state = viewer_state(page)
    assert state["window"]["width"] > 400 and state["window"]["center"] > 40
    # a preset
    page.select_option("#preset", "lung")
    assert viewer_state(page)["window"] == {"center": -600, "width": 1500}
    # a length along a row: Pixel Spacing 0.5 mm, measured between two image points
    page.click("#actual")  # 1:1, so 20 screen pixels are 20 image pixels
    page.click("button[data-tool='length']")
    rect = viewer_state(page)["rect"]
    x0 = box["x"] + rect["x"] + 10
    y0 = box["y"] + rect["y"] + 10
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 40, y0, steps=4)
    page.mouse.up()
    measured = viewer_state(page)["measurements"]
    assert measured == [{"kind": "length", "label": "20.0 mm"}]
    page.click("button[data-tool='angle']")
    page.mouse.click(x0 + 20, y0 + 20)
    page.mouse.click(x0, y0 + 20)  # the vertex
    page.mouse.click(x0, y0 + 40)
    assert viewer_state(page)["measurements"][1] == {"kind": "angle", "label": "90.0°"}
    # an ellipse ROI 20 x 20 pixels of 0.5 mm: pi * 5 * 5 mm², with the HU statistics
    page.click("button[data-tool='roi']")
    page.mouse.move(x0, y0 + 50)
    page.mouse.down()
    page.mouse.move(x0 + 20, y0 + 70, steps=4)
    page.mouse.up()
    roi = viewer_state(page)["measurements"][2]
    assert roi["kind"] == "roi" and roi["label"].startswith("area 78.5 mm²  mean "), roi
    # zoom (right button drag) and pan (middle button drag) change the view, Fit restores it
    page.mouse.move(*centre)
    page.mouse.down(button="right")
    page.mouse.move(centre[0], centre[1] - 80, steps=4)
    page.mouse.up(button="right")
    assert viewer_state(page)["zoom"] > 1.2
    before = viewer_state(page)["rect"]
    page.mouse.down(button="middle")
    page.mouse.move(centre[0] + 30, centre[1] - 60, steps=3)
    page.mouse.up(button="middle")
    assert viewer_state(page)["rect"]["x"] == pytest.approx(before["x"] + 30, abs=1)
    page.click("#fit")
    page.click("#layout-2x2")
    assert page.locator(".viewport").count() == 4
    # the empty viewports take the study's other series
    page.wait_for_function("() => window.dicomkitViewer.series.filter(s => s).length === 2")
    assert viewer_state(page)["series"][0] == archive.ct_series
    assert not log.from_origin(archive.base).errors, log.describe()


def test_viewer_canvas_matches_dicomkit_renderer(page: Any, archive: Archive) -> None:
    page.goto(f"{archive.base}/viewer?study={archive.small_study}")
    wait_ready(page, 0)
    ds = dicomkit.read(str(archive.small_path))
    for window in (None, (40.0, 400.0)):
        if window is not None:
            page.select_option("#preset", "abdomen")
        page.click("#actual")
        state = viewer_state(page)
        rect = state["rect"]
        assert (rect["width"], rect["height"]) == (128, 128)
        shot = read_png(page.locator(".viewport.active canvas").screenshot())
        x, y = int(rect["x"]), int(rect["y"])
        shown = np.asarray(shot)[y:y + 128, x:x + 128, 0].astype(int)
        expected = render(ds, 0, window).astype(int)
        difference = np.abs(shown - expected)
        assert difference.max() <= 1, (window, difference.max(), float(difference.mean()))


def test_viewer_compressed_grayscale_and_colour(page: Any, archive: Archive) -> None:
    log = NetworkLog.watch(page)
    # RLE grayscale: frames asked uncompressed, decoded by the archive, windowed here
    page.goto(f"{archive.base}/viewer?study={archive.study_of('MR_small_RLE.dcm')}")
    state = wait_ready(page, 0)
    assert state["source"] == "client"
    page.click("#actual")
    rect = viewer_state(page)["rect"]
    shot = read_png(page.locator(".viewport.active canvas").screenshot())
    x, y = int(rect["x"]), int(rect["y"])
    expected = render(dicomkit.read(str(pydicom_file("MR_small_RLE.dcm"))), 0).astype(int)
    shown = np.asarray(shot)[y:y + expected.shape[0], x:x + expected.shape[1], 0].astype(int)
    assert np.abs(shown - expected).max() <= 1
    # colour: the archive's rendering; the two frames are a stack, and cine plays them
    page.goto(f"{archive.base}/viewer?study={archive.study_of('SC_rgb_rle_2frame.dcm')}")
    state = wait_ready(page, 0)
    assert (state["source"], state["count"], state["frame"]) == ("server", 2, 1)
    page.keyboard.press("c")
    page.wait_for_function("() => window.dicomkitViewer.index === 1 && "
                           "window.dicomkitViewer.frame === 2")
    page.keyboard.press("c")
    # rotate and flip keep working on a server-rendered image
    page.click("#rotate")
    page.click("#flip-h")
    page.click("#invert")
    assert not log.from_origin(archive.base).errors, log.describe()


def test_viewer_32_bit_multiframe_dose(page: Any, archive: Archive) -> None:
    """RT Dose: 32-bit stored values (no lookup table spans them: windowed pixel by pixel),
    15 frames as a stack, each compared with dicomkit's renderer."""
    log = NetworkLog.watch(page)
    page.goto(f"{archive.base}/viewer?study={archive.study_of('rtdose.dcm')}")
    state = wait_ready(page, 0)
    assert (state["source"], state["count"]) == ("client", 15)
    ds = dicomkit.read(str(pydicom_file("rtdose.dcm")))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    state = wait_ready(page, 3)
    assert state["frame"] == 4
    page.click("#actual")
    state = viewer_state(page)
    rect = state["rect"]
    shot = np.asarray(read_png(page.locator(".viewport.active canvas").screenshot()))
    x, y = int(rect["x"]), int(rect["y"])
    # the window the viewer shows the stack in: the first frame's value range, kept
    window = (state["window"]["center"], state["window"]["width"])
    expected = render(ds, 3, window).astype(int)
    shown = shot[y:y + 10, x:x + 10, 0].astype(int)
    assert np.abs(shown - expected).max() <= 1, (shown, expected)
    assert not log.from_origin(archive.base).errors, log.describe()


def test_upload_download_delete(page: Any, archive: Archive, tmp_path: Path) -> None:
    log = NetworkLog.watch(page)
    page.goto(archive.base + "/#/upload")
    page.set_input_files("#upload-input", [str(archive.upload[0])])
    page.wait_for_function("() => document.querySelectorAll('td.result.ok').length === 1")
    # a folder, through the folder picker (webkitdirectory): its files with their paths
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "one.dcm").write_bytes(archive.upload[1].read_bytes())
    (folder / "not-dicom.txt").write_text("not a DICOM file")
    page.set_input_files("#upload-folder", str(folder))
    page.wait_for_function("() => document.querySelectorAll('td.result').length === 3 && "
                           "![...document.querySelectorAll('td.result')]"
                           ".some(c => c.textContent === 'uploading…')")
    results = page.inner_text("#upload-results")
    assert "folder/sub/one.dcm" in results and "folder/not-dicom.txt" in results, results
    assert page.locator("td.result.ok").count() == 2
    assert page.locator("td.result.failed").count() == 1  # the text file, refused by STOW-RS
    # a drop, as a browser delivers a dragged file
    blob = archive.upload[2].read_bytes()
    page.evaluate("""(bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], 'dropped.dcm'));
        const zone = document.getElementById('dropzone');
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
    }""", list(blob))
    page.wait_for_function("() => document.querySelectorAll('td.result.ok').length === 3")
    assert "dropped.dcm" in page.inner_text("#upload-results")
    assert page.eval_on_selector("#upload-progress", "p => p.value === p.max")
    study = describe_instance(archive.upload[0]).study
    page.goto(f"{archive.base}/#/study/{study}")
    page.wait_for_selector(".series-card")
    with page.expect_download() as info:
        page.click("h1 ~ .actions a.download")
    saved = tmp_path / "study.zip"
    info.value.save_as(saved)
    names = zipfile.ZipFile(io.BytesIO(saved.read_bytes())).namelist()
    assert len([n for n in names if not n.endswith("DICOMDIR")]) == 3, names
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("h1 ~ .actions button.delete")
    page.wait_for_selector("#study-table")
    root = archive.base + "/dicom-web"
    assert httpx.get(f"{root}/studies", params={"StudyInstanceUID": study}).json() == []
    # the one error: STOW-RS refusing the text file (409, PS3.18 §10.5.3)
    assert log.from_origin(archive.base).errors == [(409, "POST", root + "/studies")], \
        log.describe()


def test_status_worklist_mpps_and_print_pages(page: Any, archive: Archive) -> None:
    log = NetworkLog.watch(page)
    page.goto(archive.base + "/#/status")
    page.wait_for_selector("#counts")
    assert "instances" in page.inner_text("#counts")
    page.goto(archive.base + "/#/worklist")
    page.wait_for_selector("#worklist")
    page.goto(archive.base + "/#/mpps")
    page.wait_for_selector("#mpps")
    page.goto(archive.base + "/#/print")
    page.wait_for_selector("#print")
    assert not log.from_origin(archive.base).errors, log.describe()


def test_ui_behind_a_bearer_token(page: Any, serve: ServeFactory, tmp_path: Path) -> None:
    """The pages load without credentials; the first API answer (401) makes the UI ask for a
    token, kept for the tab's session; with it the list and the viewer work."""
    from tests.support.servers import free_port, wait_for_port

    http_port = free_port()
    serve(tmp_path / "data", args=["--http-port", str(http_port), "--no-fsync",
                                   "--http-token", "s3cret"])
    wait_for_port(http_port)
    base = f"http://127.0.0.1:{http_port}"
    files = synthetic_series(tmp_path / "ct", 3, size=16, PatientName="Token^Only")
    body_ok = httpx.post(f"{base}/dicom-web/studies", headers={
        "Authorization": "Bearer s3cret", "Accept": "application/dicom+json",
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=b0'},
        content=b"".join(b"--b0\r\nContent-Type: application/dicom\r\n\r\n" + f.read_bytes()
                         + b"\r\n" for f in files) + b"--b0--\r\n")
    assert body_ok.status_code == 200, body_ok.text
    page.goto(base + "/")
    page.wait_for_selector("#token")
    assert "401" in page.inner_text("#main")
    page.fill("#token", "s3cret")
    page.click("form.token button")
    page.wait_for_selector("tr.study-row")
    assert "Token, Only" in page.inner_text("#study-table")
    page.click("tr.study-row a.view")
    state = wait_ready(page, 0)
    assert state["count"] == 3 and state["source"] == "client"
