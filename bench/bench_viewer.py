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

    python bench/bench_viewer.py [--count 500] [--open-count 1000] [--runs 3]
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


def serve(data: Path, http_port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dicomkit.cli.main", "serve", "--data",
                             str(data), "--bind", "127.0.0.1", "--dimse-port",
                             str(free_port()), "--http-port", str(http_port), "--no-fsync"],
                            env=child_env(), stdout=subprocess.DEVNULL,
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--open-count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print_machine()
    started_load = os.getloadavg()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("Debian's chromium is needed (apt-get install chromium)")
    results: dict[str, list[float]] = {}
    for label, count in (("scroll", args.count), ("open", args.open_count)):
        files = make_series(HERE / "data" / f"ct{count}", count, 512, 512)
        tmp = Path(tempfile.mkdtemp(prefix="dicomkit-bench-viewer-"))
        port = free_port()
        server = serve(archive_with(files, tmp), port)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/api/status")
            url = f"{base}/viewer?study={study_of(base)}"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium,
                                            args=["--no-sandbox"] if os.geteuid() == 0 else [])
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
                    print(f"{label} run {run + 1}: done", flush=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
