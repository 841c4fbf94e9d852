"""The OHIF Viewer (npm ``@ohif/app``, pinned in tests/support/ohif.py) against ``dicomkit
serve --ohif``, in Debian's chromium driven by Playwright, on both index back ends.

A synthetic CT series (real geometry, Window Center/Width set) is stored with storescu; OHIF's
study list shows it; the viewer opens it and its canvas shows the same picture as dicomkit's
own renderer (``dicomkit.pixels.render``) of the same slice at the file's window; a key press
scrolls the stack to the neighbouring slice. A multi-frame US in the same study plays frame by
frame; a SEG made by dicomkit.seg is drawn over the CT by OHIF's SEG extension; a TID 1500
Measurement Report made by dicomkit.sr opens on the slice it measures. Every request OHIF sends to the DICOMweb port is
answered below 400 (the network log of the page), and every file of the OHIF origin too.

Tolerance of the picture comparison: OHIF scales the 256×256 image to its viewport with its own
(WebGL, SwiftShader here) interpolation and VOI; on the inside of the image (10 % of each side
left out: the frame's edge) the mean absolute difference is at most 1.5 of 255 and the 99th
percentile at most 6 (measured: 0.4 and 2), against at least 10 (mean) between neighbouring
slices, so the slice shown is also identified.

OHIF is fetched from the npm registry by the test set-up (cached); chromium, npm or DCMTK
missing is a failure, never a skip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomkit.pixels.render import render
from tests.support.browser import NetworkLog
from tests.support.databases import Backend
from tests.support.dcmtk import run_tool
from tests.support.ohif import (
    CTSeries,
    Difference,
    color_screenshot_of,
    compare,
    image_box,
    ohif_build,
    screenshot_of,
    synthetic_ct,
    synthetic_seg,
    synthetic_sr,
    synthetic_us,
)
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port

MEAN_TOLERANCE = 1.5
P99_TOLERANCE = 6.0
LOAD_TIMEOUT = 60_000  # ms for OHIF to show something on this 2-core machine
SLICES = 12
SEPARATION = 10.0  # mean difference between neighbouring slices at least


@dataclass
class Ohif:
    server: Serve
    url: str       # the OHIF origin, http://127.0.0.1:PORT
    dicomweb: str  # the DICOMweb origin, http://127.0.0.1:PORT
    ct: CTSeries
    expected: list[np.ndarray]  # dicomkit's rendering of each slice, by index

    def viewer(self, study: str) -> str:
        return f"{self.url}/viewer?StudyInstanceUIDs={study}"


@pytest.fixture(scope="module")
def ohif(backend: Backend, module_serve: ServeFactory, dcmtk_net: dict[str, str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ohif]:
    build = ohif_build()
    folder = tmp_path_factory.mktemp(f"ohif-{backend.name}")
    ct = synthetic_ct(folder / "ct", SLICES)
    others = [synthetic_us(folder / "objects", ct.study, ct.patient_id)[0],
              synthetic_seg(folder / "objects", ct)[0], synthetic_sr(folder / "objects", ct)[0]]
    http_port, ohif_port = free_port(), free_port()
    server = module_serve(folder / "data", index=backend.new_index(),
                          args=["--http-port", str(http_port), "--no-fsync",
                                "--ohif", str(build), "--ohif-port", str(ohif_port)])
    wait_for_port(http_port, server.proc, describe=server.describe)
    wait_for_port(ohif_port, server.proc, describe=server.describe)
    result = run_tool("storescu", "-R", "-aec", "PACS", "127.0.0.1", server.port,
                      *[str(p) for p in ct.paths + others])
    assert result.returncode == 0, result.stderr + server.log_tail()
    expected = [render(ds) for ds in ct.datasets]
    yield Ohif(server, f"http://127.0.0.1:{ohif_port}", f"http://127.0.0.1:{http_port}", ct,
               expected)
    assert server.stop() == 0, server.log_tail()


def no_errors(log: NetworkLog, ohif: Ohif) -> None:
    """Nothing OHIF asked of either port was answered with 400 or more, or failed (a request
    OHIF itself cancels is net::ERR_ABORTED, not a failure of the server)."""
    errors = [e for e in log.errors if e[2].startswith((ohif.url, ohif.dicomweb))]
    failures = [f for f in log.failures if f[0].startswith((ohif.url, ohif.dicomweb))
                and "ERR_ABORTED" not in f[1]]
    assert not errors and not failures, "\n".join(
        [f"{s} {m} {u}" for s, m, u in errors] + [f"failed {u}: {r}" for u, r in failures]
    ) + "\n" + ohif.server.log_tail()


def skip_tour(page: Any) -> None:
    """OHIF's onboarding tour (a pop-up over the viewport on a first visit) dismissed."""
    button = page.get_by_role("button", name="Skip all")
    try:
        button.wait_for(timeout=5000)
    except Exception:  # noqa: BLE001 - no tour shown: nothing to dismiss
        return
    button.click()
    button.wait_for(state="hidden", timeout=5000)


def shown_slice(page: Any) -> tuple[int, int]:
    """(position, count) from the viewport's overlay text ``I: 12 (1/12)``."""
    overlay = page.locator(".viewport-element, [data-cy=viewport-pane]").first
    text = ""
    for _ in range(100):
        text = overlay.inner_text() if overlay.count() else page.inner_text("body")
        found = re.search(r"I:\s*\d+\s*\((\d+)/(\d+)\)", text)
        if found:
            return int(found.group(1)), int(found.group(2))
        page.wait_for_timeout(100)
    raise AssertionError(f"no slice overlay (I: n (k/N)) in the viewport: {text[:500]!r}")


def viewport_picture(page: Any) -> np.ndarray:
    """The image inside the viewport's canvas, as a grayscale screenshot cut to its frame."""
    canvas = page.locator("canvas.cornerstone-canvas").first
    shot = screenshot_of(canvas)
    top, left, bottom, right = image_box(shot)
    return shot[top:bottom, left:right]


def closest(picture: np.ndarray, expected: list[np.ndarray]) -> tuple[int, list[Difference]]:
    differences = [compare(picture, e) for e in expected]
    return int(np.argmin([d.mean for d in differences])), differences


def wait_for_picture(page: Any, ohif: Ohif, position: int) -> tuple[int, list[Difference]]:
    """The slice shown once the overlay says ``position`` and the canvas has settled."""
    best, differences = -1, []
    for _ in range(50):
        if shown_slice(page)[0] == position:
            best, differences = closest(viewport_picture(page), ohif.expected)
            if differences[best].mean <= MEAN_TOLERANCE:
                break
        page.wait_for_timeout(200)
    return best, differences


def test_the_study_list_shows_the_study(ohif: Ohif, page: Any) -> None:
    log = NetworkLog.watch(page)
    page.goto(ohif.url + "/")
    page.get_by_text("OHIF Interop CT").first.wait_for(timeout=LOAD_TIMEOUT)
    row = page.get_by_text("Ohif, Interop").first
    assert row.is_visible()
    page.wait_for_load_state("networkidle")
    assert any(url.startswith(ohif.dicomweb + "/dicom-web/studies?") for _, url in
               log.requests), log.requests
    no_errors(log, ohif)


def test_the_viewer_shows_the_ct_as_dicomkit_renders_it_and_scrolls(
        ohif: Ohif, page: Any, tmp_path: Path) -> None:
    log = NetworkLog.watch(page)
    page.goto(ohif.viewer(ohif.ct.study))
    page.locator("canvas.cornerstone-canvas").first.wait_for(timeout=LOAD_TIMEOUT)
    skip_tour(page)
    position, count = shown_slice(page)
    assert count == SLICES
    # OHIF orders the stack by position along the normal: 1/12 is the last instance, z=-9
    first = position
    best, differences = wait_for_picture(page, ohif, first)
    page.screenshot(path=str(tmp_path / "ohif-ct.png"))
    assert differences[best].mean <= MEAN_TOLERANCE and \
        differences[best].p99 <= P99_TOLERANCE, \
        f"slice {best}: {differences[best]} (all: {[str(d) for d in differences]})"
    assert sorted(d.mean for d in differences)[1] >= SEPARATION, \
        f"slice {best}: {[str(d) for d in differences]}"
    # the stack scrolls: the next image (OHIF's hotkey: the down arrow) is the neighbour
    page.locator("canvas.cornerstone-canvas").first.hover()
    page.keyboard.press("ArrowDown")
    following, after = wait_for_picture(page, ohif, first + 1)
    assert abs(following - best) == 1, \
        f"after ArrowDown slice {following} ({after[following]}), before {best}"
    assert after[following].mean <= MEAN_TOLERANCE and \
        after[following].p99 <= P99_TOLERANCE, str(after[following])
    print(f"OHIF vs dicomkit: slice {best}: {differences[best]}; next, slice {following}: "
          f"{after[following]}; neighbours differ by {sorted(d.mean for d in differences)[1]:.1f}")
    page.wait_for_load_state("networkidle")
    frames = [url for _, url in log.requests if "/frames/" in url]
    assert frames, "OHIF fetched no frames from dicomkit"
    no_errors(log, ohif)


def open_viewer(page: Any, ohif: Ohif) -> NetworkLog:
    log = NetworkLog.watch(page)
    page.goto(ohif.viewer(ohif.ct.study))
    page.locator("canvas.cornerstone-canvas").first.wait_for(timeout=LOAD_TIMEOUT)
    skip_tour(page)
    shown_slice(page)
    return log


def open_series(page: Any, description: str) -> None:
    """A series of the study browser (left panel) opened in the viewport (a double click)."""
    page.get_by_text(description, exact=True).first.dblclick()


def test_a_multiframe_us_steps_through_its_frames(ohif: Ohif, page: Any) -> None:
    log = open_viewer(page, ohif)
    open_series(page, "US cine")
    for _ in range(100):
        if shown_slice(page) == (1, 8):
            break
        page.wait_for_timeout(100)
    assert shown_slice(page) == (1, 8)
    canvas = page.locator("canvas.cornerstone-canvas").first
    page.wait_for_load_state("networkidle")
    before = screenshot_of(canvas)
    canvas.hover()
    page.keyboard.press("ArrowDown")
    for _ in range(100):
        if shown_slice(page)[0] == 2:
            break
        page.wait_for_timeout(100)
    assert shown_slice(page) == (2, 8)
    page.wait_for_timeout(500)
    after = screenshot_of(canvas)
    # the bright bar moved by size/9 of the image: the pictures differ
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 2
    frames = [url for _, url in log.requests if "/frames/" in url and url.endswith("/frames/2")]
    assert frames, "OHIF fetched no frame of the US"
    no_errors(log, ohif)


def test_a_seg_is_drawn_over_the_ct(ohif: Ohif, page: Any) -> None:
    log = open_viewer(page, ohif)
    canvas = page.locator("canvas.cornerstone-canvas").first
    plain = color_screenshot_of(canvas)
    open_series(page, "SEG disc")
    answer = page.get_by_role("button", name="Yes")
    try:
        answer.wait_for(timeout=20_000)
        answer.click()
    except Exception:  # noqa: BLE001 - OHIF loaded it without asking
        pass
    reddish = 0.0
    for _ in range(60):
        shot = color_screenshot_of(canvas)
        # the canvas may be a new one of another size once the SEG is loaded: compare the
        # part both pictures cover
        rows, cols = min(shot.shape[0], plain.shape[0]), min(shot.shape[1], plain.shape[1])
        shot, before = shot[:rows, :cols], plain[:rows, :cols]
        red = (shot[..., 0] - shot[..., 1] > 40) & (before[..., 0] - before[..., 1] < 10)
        reddish = float(red.mean())
        if reddish > 0.1:
            break
        page.wait_for_timeout(250)
    assert reddish > 0.1, f"no segment colour over the CT ({reddish:.3f} of the canvas)"
    no_errors(log, ohif)


def test_an_sr_opens_on_the_slice_it_measures(ohif: Ohif, page: Any) -> None:
    log = open_viewer(page, ohif)
    open_series(page, "SR measurements")
    measured = int(ohif.ct.datasets[SLICES // 2].InstanceNumber)
    text = ""
    for _ in range(100):
        text = page.locator("body").inner_text()
        if re.search(rf"I:\s*{measured}\s*\(", text):
            break
        page.wait_for_timeout(200)
    assert re.search(rf"I:\s*{measured}\s*\(", text), text[-500:]
    page.wait_for_load_state("networkidle")
    no_errors(log, ohif)
