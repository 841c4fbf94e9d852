"""Peak memory reading a ~2 GB multi-frame file: dicomkit (lazy, memory-mapped) vs pydicom.

1. Writes ``bench/data/big_multiframe.dcm``: a CT header (as bench/make_ct_series.py makes,
   plus NumberOfFrames) encoded by dicomkit with an empty Pixel Data, whose 32-bit length is then
   patched to the real size and the frames appended one at a time, so the maker itself never
   holds more than one frame (default 4000 frames of 512x512x16-bit = 2.10 GB).
2. In a fresh interpreter per case, reads the file and accesses a few attributes, then reports
   the peak resident set (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, kB on Linux).
3. Deletes the big file (``--keep`` keeps it).

Target: dicomkit ``read(path)`` (lazy; files above 8 MiB are mmapped) peak RSS < 100 MB.

    python bench/bench_memory.py [--frames 4000] [--with-copies] [--keep]

``--with-copies`` adds the cases that copy the whole Pixel Data value into memory
(dicomkit ``ds.PixelData``, pydicom ``dcmread(path)``), which need ~2-4 GB of RAM.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

TARGET_MB = 100.0
ATTRS = "PatientName StudyInstanceUID SOPInstanceUID NumberOfFrames Rows Columns PixelSpacing"

# Each case runs as `python -c PRELUDE + setup + "t0 = ..." + work + EPILOGUE`, path in argv[1].
PRELUDE = f"""
import json, resource, sys, time
path = sys.argv[1]
ATTRS = {ATTRS.split()!r}
"""
EPILOGUE = """
elapsed = time.perf_counter() - t0
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")]
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "vmhwm_kb": int(hwm[0]) if hwm else None,
                  "seconds": elapsed, "info": str(info)}))
"""
DK, PD = "import dicomkit", "import pydicom"
TOUCH = "info = [getattr(ds, a) for a in ATTRS][-4:]"
CASES: dict[str, tuple[str, str, bool]] = {
    # name: (setup, timed work, needs --with-copies)
    "python, no import": ("", "info = ''", False),
    "import dicomkit": (DK, "info = ''", False),
    "import pydicom": (PD, "info = ''", False),
    "dicomkit read(stop_before_pixels=True)": (
        DK, f"ds = dicomkit.read(path, stop_before_pixels=True)\n{TOUCH}", False),
    "dicomkit read(path), lazy": (DK, f"ds = dicomkit.read(path)\n{TOUCH}", False),
    "dicomkit read(path) + ds[PixelData].raw": (
        DK, f"ds = dicomkit.read(path)\n{TOUCH} + [len(ds[0x7FE00010].raw)]", False),
    "dicomkit read(path) + one frame of .raw": (
        DK,
        "ds = dicomkit.read(path)\n"
        "size = ds.Rows * ds.Columns * ds.BitsAllocated // 8\n"
        "k = ds.NumberOfFrames // 2\n"
        "frame = bytes(ds[0x7FE00010].raw[k * size:(k + 1) * size])\n"
        f"{TOUCH} + [len(frame)]", False),
    "pydicom dcmread(stop_before_pixels=True)": (
        PD, f"ds = pydicom.dcmread(path, stop_before_pixels=True)\n{TOUCH}", False),
    "dicomkit read(path).PixelData (full copy)": (
        DK, f"ds = dicomkit.read(path)\n{TOUCH} + [len(ds.PixelData)]", True),
    "pydicom dcmread(path).PixelData": (
        PD, f"ds = pydicom.dcmread(path)\n{TOUCH} + [len(ds.PixelData)]", True),
}
TARGETED = ("dicomkit read(stop_before_pixels=True)", "dicomkit read(path), lazy")


def make_big_file(path: Path, frames: int, rows: int, cols: int) -> int:
    """Write the multi-frame file by streaming; returns its size in bytes."""
    import numpy as np
    from make_ct_series import base_image, make_template

    from dicomkit import write
    from dicomkit.core.uid import generate_uid

    ds = make_template(rows, cols, generate_uid(), generate_uid(), generate_uid())
    ds.NumberOfFrames = frames
    ds.set("PixelData", b"", "OW")  # placeholder: PixelData is the last element
    buffer = io.BytesIO()
    write(ds, buffer, transfer_syntax="ExplicitVRLittleEndian")
    header = bytearray(buffer.getvalue())
    empty = struct.pack("<HH2s2xL", 0x7FE0, 0x0010, b"OW", 0)
    if header[-12:] != empty:
        raise SystemExit("the encoded header does not end with an empty OW Pixel Data")
    frame_bytes = rows * cols * 2
    total = frames * frame_bytes
    if total >= 0xFFFFFFFF:
        raise SystemExit(f"{total} bytes of pixel data do not fit a 32-bit length")
    struct.pack_into("<L", header, len(header) - 4, total)
    image = base_image(rows, cols)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(header)
        for index in range(frames):
            handle.write((image + (index % 256)).astype(np.uint16).tobytes())
    return path.stat().st_size


def run_case(setup: str, work: str, path: Path) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its figures.

    Started through ``sh`` (which forks it): a child forked straight from this process would
    inherit this process's peak RSS in ``ru_maxrss`` (Linux keeps the pre-exec high-water mark
    across execve), so the figure would be this script's, not the case's.
    """
    code = PRELUDE + setup + "\nt0 = time.perf_counter()\n" + work + EPILOGUE
    command = ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c", code, str(path)]
    proc = subprocess.run(command, capture_output=True, text=True, env=_util.child_env(),
                          check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=_util.DATA / "big_multiframe.dcm")
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--with-copies", action="store_true",
                        help="also run the cases that copy all pixel data into memory")
    parser.add_argument("--keep", action="store_true", help="do not delete the big file")
    parser.add_argument("--json", type=Path, default=_util.OUT / "memory.json")
    args = parser.parse_args(argv)

    _util.print_machine()
    start = time.perf_counter()
    size, maker_rss = 0, 0
    results: dict[str, Any] = {}
    try:
        size = make_big_file(args.file, args.frames, args.rows, args.cols)
        maker_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"# wrote {args.file}: {args.frames} frames {args.rows}x{args.cols}x16-bit, "
              f"{size / 1e9:.2f} GB in {time.perf_counter() - start:.1f} s; "
              f"maker peak RSS {maker_rss / 1024:.1f} MB")
        print(f"\n{'case (fresh interpreter each)':45} {'ru_maxrss MB':>12} {'VmHWM MB':>9}"
              f" {'work s':>7}  target")
        for name, (setup, work, copies) in CASES.items():
            if copies and not args.with_copies:
                continue
            result = run_case(setup, work, args.file)
            results[name] = result
            if "error" in result:
                print(f"{name:45} {'error':>12}  {result['error']}")
                continue
            mb = result["maxrss_kb"] / 1024
            verdict = ""
            if name in TARGETED:
                verdict = f"< {TARGET_MB:.0f} MB " + ("met" if mb < TARGET_MB else "MISSED")
            hwm = (result["vmhwm_kb"] or 0) / 1024
            print(f"{name:45} {mb:12.1f} {hwm:9.1f} {result['seconds']:7.3f}  {verdict}")
    finally:
        if not args.keep and args.file.exists():
            args.file.unlink()
            print(f"\n# deleted {args.file}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": _util.machine(), "file_bytes": size,
                                     "frames": args.frames, "maker_maxrss_kb": maker_rss,
                                     "cases": results}, indent=2))
    print(f"(raw figures in {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
