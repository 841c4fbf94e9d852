"""Screenshots of the archive UI and the viewer for docs/web-ui.md (docs/images/web-ui-*.png).

Starts ``dicomkit serve`` on a temporary archive, stores a synthetic 60-slice CT (a sphere
phantom, so windowing and orientation show) and pydicom's CT_small.dcm when it is installed,
then drives Debian's chromium with Playwright::

    PYTHONPATH=src python3 tools/ui_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def phantom(folder: Path, count: int = 60, size: int = 256) -> list[Path]:
    """A CT series of a water sphere with a bone shell in air (HU), 1 mm slices."""
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid
    from dicomkit.encoding.writer import write

    study, series = generate_uid(), generate_uid()
    paths = []
    for k in range(1, count + 1):
        ds = make_ct(size, k, study, series)
        ds.PatientName = "Phantom^Sphere"
        ds.PatientID = "PH-0001"
        ds.StudyDescription = "CT sphere phantom"
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelSpacing = [0.8, 0.8]
        ds.SliceLocation = float(k)
        z = (k - count / 2) / (count / 2)
        values = []
        for r in range(size):
            for c in range(size):
                x, y = (c - size / 2) / (size / 2.4), (r - size / 2) / (size / 2.4)
                d = math.sqrt(x * x + y * y + z * z)
                hu = 1000 if 0.86 < d <= 1 else 40 + 30 * math.sin(8 * x) if d <= 0.86 else -1000
                values.append(int(hu + 1024))
        ds.set("PixelData", struct.pack(f"<{len(values)}H", *values), "OW")
        path = folder / f"{k:03d}.dcm"
        write(ds, str(path))
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="dicomkit-shots-"))
    http_port, dimse_port = free_port(), free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    server = subprocess.Popen([sys.executable, "-m", "dicomkit.cli.main", "serve", "--data",
                               str(tmp / "data"), "--bind", "127.0.0.1", "--dimse-port",
                               str(dimse_port), "--http-port", str(http_port), "--no-fsync"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{http_port}"
        for _ in range(200):
            try:
                httpx.get(base + "/api/status")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        files = phantom(tmp)
        from tests.support.web import stow

        stow(base + "/dicom-web", files)
        try:
            from tests.support.datasets import pydicom_file

            stow(base + "/dicom-web", [pydicom_file("CT_small.dcm"), pydicom_file("MR_small.dcm")])
        except Exception:  # noqa: BLE001 - the pydicom samples are optional here
            pass
        study = httpx.get(base + "/dicom-web/studies",
                          params={"PatientID": "PH-0001"}).json()[0]["0020000D"]["Value"][0]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(base + "/")
            page.wait_for_selector("tr.study-row")
            page.screenshot(path=str(out / "web-ui-studies.png"))
            page.goto(f"{base}/#/study/{study}")
            page.wait_for_function("() => [...document.querySelectorAll('img.thumb')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)")
            page.wait_for_selector("#tag-tree li.tag")
            page.screenshot(path=str(out / "web-ui-study.png"))
            page.goto(f"{base}/viewer?study={study}")
            page.wait_for_function("() => window.dicomkitViewer && window.dicomkitViewer.ready")
            page.keyboard.press("End")
            for _ in range(30):
                page.keyboard.press("ArrowUp")
            page.wait_for_function("() => window.dicomkitViewer.ready")
            page.click("button[data-tool='length']")
            box = page.locator(".viewport.active canvas").bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx - 120, cy)
            page.mouse.down()
            page.mouse.move(cx + 120, cy, steps=5)
            page.mouse.up()
            page.click("button[data-tool='roi']")
            page.mouse.move(cx - 40, cy - 40)
            page.mouse.down()
            page.mouse.move(cx + 40, cy + 40, steps=5)
            page.mouse.up()
            time.sleep(0.3)
            page.screenshot(path=str(out / "web-ui-viewer.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
