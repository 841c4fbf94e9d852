"""Print Management (issue 16): film rendering, and a 3-film print run from DCMTK's print SCU
end to end, against DCMTK ``dcmprscp`` receiving the same films in the same run.

  python bench/bench_print.py [--reps 10] [--e2e-reps 3]

render  512x512 CT slices (``dicomkit sample``'s CT, 12 bits) rendered at their window to
        8 bits and held as the image boxes' N-SET data sets, as the SCP holds them; then the
        work done per printed film: the pixels through the Presentation LUT and polarity
        (``services.print.film_of``), the PDF (``pixels.film.to_pdf``) and the 100 dpi PNG
        (``to_png``) of a 14INX17IN film, for STANDARD\\1,1, 2,2 and 4,5 (1, 4 and 20 images).
        Median of ``--reps`` (CPU time in-process, so the machine's other load matters less),
        PDF and PNG sizes.
e2e     ``dcmpsprt`` makes three stored print jobs of four CT slices each (--layout 2 2, 512x512
        slices upscaled by dcmpsprt to its 1024 minimum print resolution), ``dcmprscu`` sends
        the three (three associations: session, film box, four image boxes, print, deletes)
        to ``dicomkit serve --print`` (SQLite, --no-fsync) — timed until the third film is
        stored in the archive — and to ``dcmprscp`` (timed until dcmprscu exits: dcmprscp
        writes each film as a Stored Print object and hardcopy images, no rendering).
        Alternating, ``--e2e-reps`` each, median.

Raw figures go to bench/out/bench_print.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _util import OUT, ROOT, child_env, print_machine, use_checkout

use_checkout()
sys.path.insert(0, str(ROOT))

from dicomkit.cli.sample import make_ct  # noqa: E402
from dicomkit.core.dataset import Dataset  # noqa: E402
from dicomkit.core.uid import generate_uid  # noqa: E402
from dicomkit.encoding.writer import write  # noqa: E402
from dicomkit.pixels.film import Film, parse_display_format, to_pdf, to_png  # noqa: E402
from dicomkit.pixels.render import render  # noqa: E402
from dicomkit.services.print import PrintedFilm, film_of  # noqa: E402
from dicomkit.services.print_scu import image_item  # noqa: E402


def slices(count: int) -> list[Any]:
    study, series = generate_uid(), generate_uid()
    return [make_ct(512, n, study, series) for n in range(1, count + 1)]


def render_bench(reps: int) -> list[dict[str, Any]]:
    images = [render(ds, 0, (40.0, 400.0)) for ds in slices(20)]
    rows = []
    for fmt in ("STANDARD\\1,1", "STANDARD\\2,2", "STANDARD\\4,5"):
        display = parse_display_format(fmt)
        boxes = []
        for position in range(1, display.boxes + 1):
            data = Dataset()
            data.ImageBoxPosition = position
            data.BasicGrayscaleImageSequence = [image_item(images[position - 1], False)]
            boxes.append((position, data, None))
        times, sizes = [], (0, 0)
        for _ in range(reps):
            printed = PrintedFilm(Film(display, "14INX17IN"), boxes, Dataset(), Dataset(),
                                  "", "", "BENCH", "DICOMKIT", 20, 320)
            start = time.process_time()
            film = film_of(printed)
            pdf = to_pdf(film)
            png = to_png(film, 100)
            times.append(time.process_time() - start)
            sizes = (len(pdf), len(png))
        rows.append({"format": fmt, "images": display.boxes,
                     "median_ms": round(statistics.median(times) * 1000, 1),
                     "pdf_bytes": sizes[0], "png_bytes": sizes[1]})
        print(f"render {fmt:<14} {display.boxes:>2} images: "
              f"{rows[-1]['median_ms']:7.1f} ms CPU, PDF {sizes[0] / 1e6:.2f} MB, "
              f"PNG {sizes[1] / 1e6:.2f} MB")
    return rows


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, deadline: float = 40) -> None:
    import socket

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def e2e_bench(reps: int, tmp: Path) -> dict[str, Any]:
    from tests.support.printing import dcmpstat_config

    ct = tmp / "ct"
    ct.mkdir()
    paths = []
    for ds in slices(4):
        path = ct / f"{ds.InstanceNumber}.dcm"
        write(ds, str(path))
        paths.append(path)
    results: dict[str, list[float]] = {"dicomkit": [], "dcmprscp": []}
    for rep in range(reps):
        for target in ("dicomkit", "dcmprscp"):
            folder = tmp / f"{target}-{rep}"
            folder.mkdir()
            port = free_port()
            config = dcmpstat_config(folder / "dcmtk", port)
            for _ in range(3):
                subprocess.run(["dcmpsprt", "-c", str(config), "-p", "IHEFULL", "--layout",
                                "2", "2", *map(str, paths)], check=True, capture_output=True,
                               cwd=folder / "dcmtk")
            jobs = sorted((folder / "dcmtk" / "database").glob("SP_*.dcm"))
            assert len(jobs) == 3, jobs
            log = open(folder / "server.log", "wb")
            if target == "dicomkit":
                server = subprocess.Popen(
                    [sys.executable, "-m", "dicomkit.cli.main", "serve", "--data",
                     str(folder / "data"), "--bind", "127.0.0.1", "--dimse-port", str(port),
                     "--aet", "IHEFULL", "--print", "--no-http", "--no-fsync"],
                    stdout=log, stderr=subprocess.STDOUT, env=child_env())
            else:
                spool = folder / "scp"
                spool.mkdir()
                scp_config = dcmpstat_config(spool, port)
                server = subprocess.Popen(["dcmprscp", "-c", str(scp_config), "-p", "IHEFULL"],
                                          stdout=log, stderr=subprocess.STDOUT, cwd=spool)
            try:
                wait_port(port)
                start = time.perf_counter()
                subprocess.run(["dcmprscu", "-c", str(config), "-p", "IHEFULL",
                                *map(str, jobs)], check=True, capture_output=True,
                               cwd=folder / "dcmtk")
                if target == "dicomkit":
                    while len(list((folder / "data" / "print").glob("*.png"))) < 3:
                        time.sleep(0.01)
                results[target].append(time.perf_counter() - start)
            finally:
                server.terminate()
                server.wait(30)
                log.close()
            print(f"e2e {target:<9} 3 films: {results[target][-1] * 1000:7.0f} ms")
    return {name: round(statistics.median(values) * 1000) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--e2e-reps", type=int, default=3)
    args = parser.parse_args()
    print_machine()
    for tool in ("dcmpsprt", "dcmprscu", "dcmprscp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (Debian package dcmtk)")
    out: dict[str, Any] = {"render": render_bench(args.reps)}
    with tempfile.TemporaryDirectory() as tmp:
        out["e2e_median_ms"] = e2e_bench(args.e2e_reps, Path(tmp))
    print(f"e2e median, 3 films: dicomkit serve --print {out['e2e_median_ms']['dicomkit']} ms "
          f"(rendered and stored), dcmprscp {out['e2e_median_ms']['dcmprscp']} ms")
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_print.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
