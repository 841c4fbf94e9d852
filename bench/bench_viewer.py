"""The viewer in headless chromium: time to first image and time to scroll a 500-slice CT.

A 512×512×16-bit CT series (bench/make_ct_series.py) is imported into a fresh archive, ``dicomkit
serve`` started on it, and Debian's chromium driven by Playwright opens
``/viewer?study=UID``:

- **first image**: from ``page.goto`` to the first frame drawn (the viewer's ``ready`` state):
  HTML, scripts, QIDO series list, one WADO-RS series metadata request, one frame;
- **scroll**: every slice in turn, each shown and drawn before the next is asked for (the
  viewer's ``show(i)`` awaited, then an animation frame), timed inside the page, so it is the
  viewer's own latency per slice with its prefetching and not Playwright's round trips: first
  pass (frames fetched) and second pass (cached); and the same through the Down arrow key
  from Playwright (``keys``: one round trip per slice added);
- **open 1,000 slices** (``--open-count``): first image of a 1,000-slice series.

And in the same run, the same 500 files, three viewers side by side (a fresh browser context
each, their order rotated from run to run):

- **dicomkit's viewer** (as above);
- **OHIF on dicomkit**: npm ``@ohif/app`` (the build tests/support/ohif.py fetches and caches)
  served by ``dicomkit serve --ohif DIR --ohif-port N`` (the same serve process);
- **OHIF on Orthanc**: Orthanc 1.10 + its DICOMweb plugin (bench/_archive_support.py, as
  bench_dicomweb.py starts it), the files stored into it by DCMTK storescu, and the same OHIF
  build on an origin of its own (web/ohif.py's app in a thread of this process) whose
  ``app-config.js`` names Orthanc's DICOMweb root with the settings of OHIF's own
  ``local_orthanc.js`` (no ``includefield``, no fuzzy matching, thumbnails from frames).

Measured for each: **first image** (``goto`` → the series in the viewport and its first slice
drawn: dicomkit's viewer's ``ready``; for OHIF, cornerstone's stack viewport (OHIF puts
``cornerstone`` on ``window``) holding all N image ids and its canvas no longer black), then the
whole series by **the Down key from Playwright**, each press waiting until the slice is drawn
(dicomkit: ``index`` and ``ready``; OHIF: cornerstone's ``IMAGE_RENDERED`` event of the
viewport for that index): first pass (frames fetched) and again (cached). Orthanc's DICOMweb
plugin sends no CORS headers, so the browser runs with ``--disable-web-security`` for every
case (no CORS preflights for anyone).

    python bench/bench_viewer.py [--count 500] [--open-count 1000] [--runs 3]
                                 [--no-ohif] [--no-orthanc]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _util import child_env, print_machine  # noqa: E402
from make_ct_series import make_series  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, deadline: float = 60) -> None:
    import httpx

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers at {url}")


def archive_with(files: list[Path], folder: Path) -> Path:
    """A fresh archive in ``folder`` holding ``files`` (``dicomkit import``)."""
    env = child_env()
    data = folder / "data"
    subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "import", "--data", str(data),
                    *map(str, files)], env=env, check=True, stdout=subprocess.DEVNULL)
    return data


def serve(data: Path, http_port: int, ohif: Path | None = None,
          ohif_port: int | None = None) -> subprocess.Popen[bytes]:
    """``dicomkit serve`` on ``data``; with ``ohif``, also ``--ohif DIR --ohif-port N``."""
    extra = ["--ohif", str(ohif), "--ohif-port", str(ohif_port)] if ohif and ohif_port else []
    return subprocess.Popen([sys.executable, "-m", "dicomkit.cli.main", "serve", "--data",
                             str(data), "--bind", "127.0.0.1", "--dimse-port",
                             str(free_port()), "--http-port", str(http_port), "--no-fsync",
                             *extra], env=child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def study_of(base: str) -> str:
    import httpx

    return str(httpx.get(base + "/dicom-web/studies").json()[0]["0020000D"]["Value"][0])


def first_image(page: Any, url: str) -> tuple[float, float]:
    """(wall seconds from goto, the page's own ms from navigation start) to the first image."""
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function("() => window.dicomkitViewer && window.dicomkitViewer.ready "
                           "&& window.dicomkitViewer.firstImageMs !== null", timeout=60000)
    wall = time.perf_counter() - start
    return wall, float(page.evaluate("() => window.dicomkitViewer.firstImageMs")) / 1000


SCROLL = """async (count) => {
    const start = performance.now();
    for (let i = 1; i < count; i++) {
        await window.dicomkitViewer.show(i);
        await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    return performance.now() - start;
}"""


def scroll_in_page(page: Any, count: int) -> float:
    page.evaluate("() => window.dicomkitViewer.show(0)")
    return float(page.evaluate(SCROLL, count)) / 1000


def scroll(page: Any, count: int) -> float:
    start = time.perf_counter()
    for index in range(1, count):
        page.keyboard.press("ArrowDown")
        page.wait_for_function(f"() => window.dicomkitViewer.index === {index} && "
                               "window.dicomkitViewer.ready", timeout=30000, polling="raf")
    return time.perf_counter() - start


# -- OHIF (npm @ohif/app, the build tests/support/ohif.py caches) -----------------------------
OHIF_VERSION = "3.13.2"  # tests/support/ohif.py OHIF_VERSION
# OHIF's data source for Orthanc's DICOMweb plugin: the keys of OHIF's own
# platform/app/public/config/local_orthanc.js (no includefield, no fuzzy matching, thumbnails
# from WADO-RS frames), the rest as for dicomkit (web/ohif.py data_source)
ORTHANC_SOURCE: dict[str, Any] = {
    "friendlyName": "Orthanc", "qidoSupportsIncludeField": False,
    "supportsFuzzyMatching": False, "thumbnailRendering": "wadors", "dicomUploadEnabled": False,
}

# the cornerstone3D stack viewport OHIF shows (OHIF puts cornerstone on window)
OHIF_VIEWPORT = """() => {
    const cs = window.cornerstone;
    const engine = cs && cs.getRenderingEngines && cs.getRenderingEngines()[0];
    const vp = engine && engine.getViewports()[0];
    return vp && vp.getImageIds ? vp : null;
}"""

# first image: the viewport holds the series and its canvas has pixels drawn (not all black)
OHIF_DRAWN = """(count) => {
    const vp = (VIEWPORT)();
    if (!vp || vp.getImageIds().length !== count) return false;
    const canvas = vp.element.querySelector('canvas.cornerstone-canvas');
    const context = canvas && canvas.getContext('2d');
    if (!context || !canvas.width) return false;
    const row = context.getImageData(0, canvas.height >> 1, canvas.width, 1).data;
    for (let i = 0; i < row.length; i += 4) if (row[i] || row[i + 1] || row[i + 2]) return true;
    return false;
}""".replace("VIEWPORT", OHIF_VIEWPORT)

# every IMAGE_RENDERED of the viewport noted with the index it shows
OHIF_LISTEN = """() => {
    const vp = (VIEWPORT)();
    window.benchRendered = -1;
    if (vp.element.benchListening) return vp.getCurrentImageIdIndex();
    vp.element.benchListening = true;
    vp.element.addEventListener(window.cornerstone.EVENTS.IMAGE_RENDERED, () => {
        window.benchRendered = vp.getCurrentImageIdIndex();
    });
    return vp.getCurrentImageIdIndex();
}""".replace("VIEWPORT", OHIF_VIEWPORT)


def ohif_build() -> Path:
    """The cached ``@ohif/app`` ``dist/`` (fetched by npm pack, as the tests do)."""
    sys.path.insert(0, str(HERE.parent))
    from tests.support.ohif import ohif_build as fetch

    return Path(fetch(OHIF_VERSION))


class OhifFor:
    """A second OHIF origin (web/ohif.py's app, in a thread of this process) whose data source
    is another DICOMweb root: Orthanc's."""

    def __init__(self, build: Path, root: str, extra: dict[str, Any]) -> None:
        import threading

        import uvicorn

        from dicomkit.web.ohif import OhifSettings, create_ohif_app

        self.port = free_port()
        app = create_ohif_app(OhifSettings(build=build, base_url=root, extra=extra))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_http(f"http://127.0.0.1:{self.port}/app-config.js")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def skip_tour(page: Any) -> None:
    """OHIF's onboarding tour (first visit) dismissed, as tests/interop/web/test_ohif.py does."""
    button = page.get_by_role("button", name="Skip all")
    try:
        button.wait_for(timeout=5000)
    except Exception:  # noqa: BLE001 - no tour: nothing to dismiss
        return
    button.click()
    button.wait_for(state="hidden", timeout=5000)


def ohif_first_image(page: Any, url: str, count: int) -> float:
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(OHIF_DRAWN, arg=count, timeout=120000, polling="raf")
    return time.perf_counter() - start


def ohif_scroll(page: Any, count: int) -> float:
    """Slice 0 shown, then the Down key ``count - 1`` times, each press waiting until the
    viewport has rendered the next index (cornerstone's IMAGE_RENDERED for it)."""
    if page.evaluate(OHIF_LISTEN) == 0:  # already drawn (the first image): nothing to render
        page.evaluate("() => { window.benchRendered = 0; }")
    else:
        page.evaluate(f"() => ({OHIF_VIEWPORT})().setImageIdIndex(0)")
    page.wait_for_function("() => window.benchRendered === 0", timeout=60000, polling="raf")
    page.locator("canvas.cornerstone-canvas").first.hover()
    start = time.perf_counter()
    for index in range(1, count):
        page.keyboard.press("ArrowDown")
        page.wait_for_function(f"() => window.benchRendered === {index}", timeout=60000,
                               polling="raf")
    return time.perf_counter() - start


DK_VIEWER, OHIF_DK, OHIF_OR = "dicomkit viewer", "OHIF on dicomkit", "OHIF on Orthanc"
FIRST, KEYS_COLD, KEYS_WARM = "first image", "Down key, first pass", "Down key, cached"


def compare_case(browser: Any, case: str, url: str, count: int) -> dict[str, float]:
    """One fresh context: first image, then the whole series by the Down key twice."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        if case == DK_VIEWER:
            first, _ = first_image(page, url)
            page.keyboard.press("Home")
            page.wait_for_function("() => window.dicomkitViewer.index === 0")
            cold = scroll(page, count)
            page.keyboard.press("Home")
            page.wait_for_function("() => window.dicomkitViewer.index === 0")
            warm = scroll(page, count)
        else:
            first = ohif_first_image(page, url, count)
            skip_tour(page)
            cold = ohif_scroll(page, count)
            warm = ohif_scroll(page, count)
    finally:
        context.close()
    return {FIRST: first, KEYS_COLD: cold, KEYS_WARM: warm}


def print_comparison(table: dict[str, dict[str, list[float]]], count: int) -> None:
    cases = [c for c in (DK_VIEWER, OHIF_DK, OHIF_OR) if c in table]
    print()
    print(f"| {count} slices | " + " | ".join(f"{c} (median; runs)" for c in cases)
          + " | OHIF: Orthanc / dicomkit | OHIF on dicomkit / dicomkit viewer |")
    print("|---|" + "---|" * (len(cases) + 2))
    for measure in (FIRST, KEYS_COLD, KEYS_WARM):
        cells, medians = [], {}
        for case in cases:
            values = table[case].get(measure, [])
            if not values:
                cells.append("failed")
                continue
            medians[case] = statistics.median(values)
            per = (f", {medians[case] / (count - 1) * 1000:.1f} ms a slice"
                   if measure != FIRST else "")
            cells.append(f"{medians[case] * 1000:.0f} ms{per} "
                         f"({', '.join(f'{v * 1000:.0f}' for v in values)})")
        ratios = []
        for top, bottom in ((OHIF_OR, OHIF_DK), (OHIF_DK, DK_VIEWER)):
            ratios.append(f"{medians[top] / medians[bottom]:.2f}x"
                          if top in medians and bottom in medians else "-")
        print(f"| {measure} | " + " | ".join(cells + ratios) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--open-count", type=int, default=1000,
                        help="first image of a series this long (0: not measured)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-ohif", action="store_true", help="dicomkit's viewer only")
    parser.add_argument("--no-orthanc", action="store_true", help="no OHIF on Orthanc")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print_machine()
    started_load = os.getloadavg()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("Debian's chromium is needed (apt-get install chromium)")
    # Orthanc's DICOMweb plugin sends no CORS headers, and OHIF sits on an origin of its own:
    # the same-origin policy is off in this browser, for every case alike (so no case pays
    # for CORS preflights either)
    launch_args = ["--disable-web-security"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    build = None if args.no_ohif else ohif_build()
    results: dict[str, list[float]] = {}
    table: dict[str, dict[str, list[float]]] = {}
    cases = [(label, count) for label, count in (("scroll", args.count),
                                                  ("open", args.open_count)) if count]
    for label, count in cases:
        folder = HERE / "data" / f"ct{count}"
        files = make_series(folder, count, 512, 512)
        tmp = Path(tempfile.mkdtemp(prefix="dicomkit-bench-viewer-"))
        port = free_port()
        ohif_port = free_port() if build and label == "scroll" else None
        server = serve(archive_with(files, tmp), port, build, ohif_port)
        orthanc: Any = None
        orthanc_ohif: OhifFor | None = None
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/api/status")
            study = study_of(base)
            url = f"{base}/viewer?study={study}"
            urls = {DK_VIEWER: url}
            if ohif_port and build:
                wait_http(f"http://127.0.0.1:{ohif_port}/app-config.js")
                urls[OHIF_DK] = f"http://127.0.0.1:{ohif_port}/viewer?StudyInstanceUIDs={study}"
                if not args.no_orthanc:
                    orthanc, orthanc_ohif = orthanc_with(folder, count, build)
                    urls[OHIF_OR] = (f"http://127.0.0.1:{orthanc_ohif.port}/viewer?"
                                     f"StudyInstanceUIDs={study}")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=launch_args)
                for run in range(args.runs):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    wall, own = first_image(page, url)
                    results.setdefault(f"first image, {count} slices (wall)", []).append(wall)
                    results.setdefault(f"first image, {count} slices (page)", []).append(own)
                    if label == "scroll":
                        cold = scroll_in_page(page, count)
                        warm = scroll_in_page(page, count)
                        page.keyboard.press("Home")
                        page.wait_for_function("() => window.dicomkitViewer.index === 0")
                        keys = scroll(page, count)
                        results.setdefault(f"scroll {count} slices, first pass", []).append(cold)
                        results.setdefault(f"scroll {count} slices, cached", []).append(warm)
                        results.setdefault(f"scroll {count} slices, keys", []).append(keys)
                    context.close()
                    if label == "scroll" and len(urls) > 1:
                        # the three viewers in turn, a fresh context each, the order rotated
                        names = list(urls)
                        names = names[run % len(names):] + names[:run % len(names)]
                        for case in names:
                            try:
                                measured = compare_case(browser, case, urls[case], count)
                            except Exception as exc:  # noqa: BLE001 - reported, run goes on
                                print(f"{case} run {run + 1} failed: {exc}", flush=True)
                                continue
                            for measure, value in measured.items():
                                table.setdefault(case, {}).setdefault(measure, []).append(value)
                            print(f"{case} run {run + 1}: " + ", ".join(
                                f"{m} {v * 1000:.0f} ms" for m, v in measured.items()),
                                flush=True)
                    print(f"{label} run {run + 1}: done", flush=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
            if orthanc_ohif is not None:
                orthanc_ohif.stop()
            if orthanc is not None:
                orthanc.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"load average at start {started_load}, at end {os.getloadavg()}")
    print("| measure | median | runs | per slice |")
    print("|---|---|---|---|")
    for name, values in results.items():
        median = statistics.median(values)
        per = ""
        if name.startswith("scroll"):
            slices = int(name.split()[1]) - 1
            per = f"{median / slices * 1000:.1f} ms ({slices / median:.0f} slices/s)"
        print(f"| {name} | {median * 1000:.0f} ms | "
              f"{', '.join(f'{v * 1000:.0f}' for v in values)} | {per} |")
    if table:
        print_comparison(table, args.count)
    return 0


def orthanc_with(folder: Path, count: int, build: Path) -> tuple[Any, OhifFor]:
    """Orthanc + its DICOMweb plugin (bench/_archive_support.py, as bench_dicomweb.py starts
    it) holding the same files (DCMTK storescu), and an OHIF origin pointed at it."""
    import _archive_support as S

    orthanc = S.OrthancWeb(False).start()
    try:
        seconds, error = S.storescu(orthanc, str(folder))
        if error or orthanc.count() != count:
            raise RuntimeError(f"Orthanc holds {orthanc.count()} of {count}: {error}")
        print(f"Orthanc {orthanc.rest('/system')['Version']}, DICOMweb plugin "
              f"{orthanc.plugin_version()}: {count} files stored by storescu in {seconds:.1f} s",
              flush=True)
        base = f"http://127.0.0.1:{orthanc.http_port}"
        extra = dict(ORTHANC_SOURCE, wadoUriRoot=base + "/wado")
        return orthanc, OhifFor(build, orthanc.web_root, extra)
    except BaseException:
        orthanc.cleanup()
        raise


if __name__ == "__main__":
    sys.exit(main())
