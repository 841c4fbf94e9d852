"""Print Management (PS3.4 H) against real peers, on both index back ends.

- DCMTK's print SCU (``dcmpsprt`` + ``dcmprscu``, the IHEFULL printer of dcmpstat.cfg) prints
  a 2x2 film of CT slices to ``dicomkit serve --print``: the film is an Encapsulated PDF that
  QIDO-RS finds by SOPClassUID, whose page shows four images where STANDARD\\2,2 puts them.
- ``dicomkit print`` prints the same slices at a window: the PDF's embedded images equal
  ``dcm2pnm``'s renderings at that window (within 1 grey level), and the page rasterised by
  ``pdftoppm`` shows them in the four boxes (mean difference of 4x4 blocks under 6 grey levels:
  pdftoppm interpolates when it scales); ``--identify`` files the film in the slices' study.
- ``dicomkit print`` to DCMTK's ``dcmprscp``: its stored print holds the film box we sent.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np

from dicomkit.encoding.reader import read
from dicomkit.iod.encapsulated import unwrap
from tests.support.databases import Backend
from tests.support.printing import (
    PRINTER,
    ct_slices,
    dcm2pnm,
    dcmpstat_config,
    dcmtk_print,
    pdf_images,
    pdf_page,
    run,
    start_dcmprscp,
)
from tests.support.servers import ServeFactory, free_port, serve_env, wait_for_port

PDF_CLASS = "1.2.840.10008.5.1.4.1.1.104.1"


def cli(*args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *args],
                            capture_output=True, text=True, env=serve_env(), timeout=180,
                            check=False)
    return result.returncode, result.stdout, result.stderr


def stored_pdfs(http_port: int) -> list[dict[str, object]]:
    response = httpx.get(f"http://127.0.0.1:{http_port}/dicom-web/instances",
                         params={"SOPClassUID": PDF_CLASS, "includefield": "all"},
                         timeout=30)
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return list(json.loads(response.text))


def only_pdf(server_data: Path, tmp: Path) -> Path:
    files = [p for p in (server_data / "files").rglob("*.dcm")]
    assert len(files) == 1, files
    pdf, media = unwrap(read(str(files[0])))
    assert media == "application/pdf"
    path = tmp / "film.pdf"
    path.write_bytes(pdf)
    return path


def box_means(page: np.ndarray, rows: int, columns: int) -> list[float]:
    """The mean grey of the middle of each STANDARD\\columns,rows cell of the page."""
    height, width = page.shape[:2]
    out = []
    for row in range(rows):
        for column in range(columns):
            cy = int((row + 0.5) * height / rows)
            cx = int((column + 0.5) * width / columns)
            cell = page[cy - height // 10:cy + height // 10, cx - width // 10:cx + width // 10]
            out.append(float(cell.mean()))
    return out


def test_dcmtk_print_scu_prints_a_2x2_ct_film_to_serve(
        backend: Backend, serve: ServeFactory, tmp_path: Path) -> None:
    slices = ct_slices(tmp_path / "ct")
    http = free_port()
    server = serve(tmp_path / "data", index=backend.new_index(), aet=PRINTER,
                   args=["--print", "--http-port", str(http), "--no-fsync"])
    wait_for_port(http, server.proc)
    config = dcmpstat_config(tmp_path / "dcmtk", server.port)
    dcmtk_print(config, slices, "--layout", "2", "2", "--filmsize", "8INX10IN",
                cwd=tmp_path / "dcmtk")
    found: list[dict[str, object]] = []
    for _ in range(150):  # the film prints once the N-ACTION is answered
        found = stored_pdfs(http)
        if found:
            break
        time.sleep(0.2)
    assert len(found) == 1, server.log_tail()
    film = found[0]
    assert film["00080016"]["Value"] == [PDF_CLASS]  # type: ignore[index]
    # DCMTK's hardcopy images do not say whose they are: the print-jobs patient
    assert film["00100020"]["Value"] == ["PRINTJOBS"]  # type: ignore[index]
    pdf = only_pdf(server.data, tmp_path)
    page = pdf_page(pdf, 20, tmp_path / "page.png")
    # 8INX10IN portrait: 160 x 200 pixels at 20 dpi
    assert page.shape[:2] == (200, 160)
    images = pdf_images(pdf, tmp_path / "embedded")
    assert len(images) == 4
    assert all(image.shape[:2] == (1024, 1024) for image in images)  # dcmpsprt's size
    # four boxes, each with its image: not the black border/empty density
    assert all(mean > 20 for mean in box_means(page, 2, 2)), box_means(page, 2, 2)
    code, out, err = cli("print", "ls", "--data", str(server.data),
                         *(["--index", server.index] if server.index else []))
    assert code == 0, err
    assert film["00080018"]["Value"][0] in out  # type: ignore[index]


def test_dicomkit_print_matches_dcm2pnm_and_files_the_film_in_the_study(
        backend: Backend, serve: ServeFactory, tmp_path: Path) -> None:
    slices = ct_slices(tmp_path / "ct")
    http = free_port()
    server = serve(tmp_path / "data", index=backend.new_index(), aet=PRINTER,
                   args=["--print", "--http-port", str(http), "--no-fsync"])
    wait_for_port(http, server.proc)
    code, out, err = cli("print", "127.0.0.1", str(server.port), "--aec", PRINTER,
                         *map(str, slices), "--format", "STANDARD\\2,2", "--window", "40,400",
                         "--film-size", "10INX12IN", "--identify", "--annotation", "CT film")
    assert code == 0, err + server.log_tail()
    assert "DONE" in out
    found = stored_pdfs(http)
    assert len(found) == 1
    study = read(str(slices[0])).StudyInstanceUID
    assert found[0]["0020000D"]["Value"] == [study]  # type: ignore[index]
    pdf = only_pdf(server.data, tmp_path)
    embedded = pdf_images(pdf, tmp_path / "embedded")
    assert len(embedded) == 4
    references = [dcm2pnm(path, 40, 400, tmp_path / f"ref{n}.png")
                  for n, path in enumerate(slices)]
    for image, reference in zip(embedded, references, strict=True):
        assert image.shape == reference.shape
        assert np.abs(image.astype(int) - reference.astype(int)).max() <= 1
    # the page: 10 x 12 inches at 50 dpi; each box's middle matches its slice, resampled
    page = pdf_page(pdf, 50, tmp_path / "page.png")
    assert page.shape[:2] == (600, 500)
    from dicomkit.pixels.film import Film, parse_display_format

    film = Film(parse_display_format("STANDARD\\2,2"), "10INX12IN",
                annotations={1: "CT film"})
    for (x, y, w, h), reference in zip(film.boxes_mm(), references, strict=True):
        side = min(w, h) * 50 / 25.4  # the square image fills the box's smaller side
        cx = (x + w / 2) * 50 / 25.4
        cy = 600 - (y + h / 2) * 50 / 25.4
        half = int(side * 0.4)
        crop = page[int(cy) - half:int(cy) + half, int(cx) - half:int(cx) + half]
        rows = (np.arange(crop.shape[0]) * 0.8 / crop.shape[0] + 0.1) * reference.shape[0]
        cols = (np.arange(crop.shape[1]) * 0.8 / crop.shape[1] + 0.1) * reference.shape[1]
        expected = reference[rows.astype(int)][:, cols.astype(int)]
        # compared in 4x4 blocks: pdftoppm interpolates, the reference is nearest-neighbour
        n = crop.shape[0] // 4 * 4
        blocks = crop[:n, :n].astype(float).reshape(n // 4, 4, n // 4, 4).mean(axis=(1, 3))
        wanted = expected[:n, :n].astype(float).reshape(n // 4, 4, n // 4, 4).mean(axis=(1, 3))
        assert np.abs(blocks - wanted).mean() < 6


def test_dicomkit_print_to_dcmtk_dcmprscp(dcmtk_net: dict[str, str], tmp_path: Path) -> None:
    slices = ct_slices(tmp_path / "ct")
    port = free_port()
    folder = tmp_path / "dcmtk"
    config = dcmpstat_config(folder, port)
    scp = start_dcmprscp(config, folder)
    try:
        wait_for_port(port, None, describe=scp.log)
        code, out, err = cli("print", "127.0.0.1", str(port), "--aec", PRINTER,
                             *map(str, slices), "--format", "STANDARD\\2,2",
                             "--film-size", "14INX17IN", "--label", "dicomkit film")
        assert code == 0, err + scp.log()
        assert "DONE" in out
    finally:
        scp.stop()
    stored = sorted((folder / "database").glob("SP_*.dcm"))
    assert len(stored) == 1, scp.log()
    dump = run("dcmdump", stored[0]).stdout
    assert "STANDARD\\2,2" in dump
    assert "14INX17IN" in dump
    images = sorted((folder / "database").glob("HG_*.dcm"))
    assert len(images) == 4
    first = read(str(images[0]))
    assert (int(first.Rows), int(first.Columns)) == (128, 128)


def test_the_printer_on_its_own_ae_title_and_port(serve: ServeFactory, tmp_path: Path) -> None:
    """``--print-aet FILMER --print-port P``: DCMTK prints to FILMER on P; the archive's own
    AE keeps its port, and FILMER's port offers nothing but printing and Verification."""
    slices = ct_slices(tmp_path / "ct", 1)
    port = free_port()
    server = serve(tmp_path / "data", aet="PACS",
                   args=["--print-aet", "FILMER", "--print-port", str(port), "--no-http",
                         "--no-fsync"])
    wait_for_port(port, server.proc)
    config = dcmpstat_config(tmp_path / "dcmtk", port, aet="FILMER")
    dcmtk_print(config, slices, cwd=tmp_path / "dcmtk")
    for _ in range(300):
        if list((server.data / "print").glob("*.png")):
            break
        time.sleep(0.1)
    assert len(list((server.data / "print").glob("*.png"))) == 1, server.log_tail()
    assert run("echoscu", "-aec", "FILMER", "127.0.0.1", port).returncode == 0
    refused = subprocess.run(["storescu", "-aec", "FILMER", "127.0.0.1", str(port),
                              str(slices[0])], capture_output=True, text=True, check=False)
    assert refused.returncode != 0  # no storage on the printer's port

