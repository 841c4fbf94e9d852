"""Segmentation write and read: dicomkit.seg vs highdicom, same masks, same run.

The masks: a label map of ``--frames`` 512×512 slices with ``--segments`` segments, each a
blob (an ellipsoid) spanning ``--extent`` of the slices, centres spread along the series, so a
BINARY SEG has about frames × segments × extent frames. The masks are written once as .npy and
each case loads them whole (both libraries get the same numpy array) before its clock starts.

Each case runs in a fresh interpreter and reports wall time, peak RSS (``VmHWM``) and
"own" memory, the peak minus the RSS once its inputs (masks and source headers, for a write)
are loaded:

- write: ``dicomkit.seg.create(...)`` + ``dicomkit.write`` vs ``highdicom.seg.Segmentation(...)``
  + ``save_as``, BINARY (label-map input, empty frames omitted, Explicit VR Little Endian);
- read: every segment of the file the same library wrote, one segment at a time, in source
  order: ``Segmentation.open(path).segment(n)`` vs
  ``segread(path).get_pixels_by_source_instance(uids, segment_numbers=[n])`` (a whole
  (frames, rows, cols, 20) uint8 volume would be 5 GB: too much for a shared machine).

Each library reads back its own file and the per-segment pixel counts are compared with the
masks, so a fast wrong answer cannot pass.

    python bench/bench_seg.py [--frames 1000] [--segments 20] [--extent 0.4] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

PRELUDE = r"""
import json, sys, time
import numpy as np

def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0

def rss_mb():
    return status_mb("VmRSS")

args = json.loads(sys.argv[1])
frames, size, count = args["frames"], args["size"], args["segments"]
"""

DK_SOURCES = r"""
from dicomkit import write
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.iod.codes import Code
from dicomkit import seg as dkseg
study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
sources = []
for i in range(frames):
    ds = Dataset()
    ds.SOPClassUID = registered("CTImageStorage"); ds.SOPInstanceUID = f"2.25.{10**20 + i}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PatientName, ds.PatientID, ds.Modality = "Bench^Seg", "B1", "CT"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "1200", "1", "A"
    ds.ImagePositionPatient = [0.0, 0.0, float(i)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
    ds.Rows = ds.Columns = size
    sources.append(ds)
algorithm = dkseg.AlgorithmIdentification("bench", "1", Code("123110", "DCM", "Artificial Intelligence"))
segments = [dkseg.SegmentDescription(n, f"segment {n}", Code("91723000", "SCT", "Anatomical Structure"),
            Code("10200004", "SCT", "Liver"), "AUTOMATIC", algorithm) for n in range(1, count + 1)]
"""

HD_SOURCES = r"""
import highdicom as hd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, CTImageStorage, generate_uid
study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
sources = []
for i in range(frames):
    ds = Dataset()
    ds.file_meta = FileMetaDataset(); ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage; ds.SOPInstanceUID = f"2.25.{10**20 + i}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PatientName, ds.PatientID, ds.Modality = "Bench^Seg", "B1", "CT"
    ds.PatientBirthDate, ds.PatientSex, ds.ReferringPhysicianName = "", "", ""
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "1200", "1", "A"
    ds.ImagePositionPatient = [0.0, 0.0, float(i)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    sources.append(ds)
algorithm = hd.AlgorithmIdentificationSequence(name="bench", version="1",
    family=hd.sr.CodedConcept("123110", "DCM", "Artificial Intelligence"))
segments = [hd.seg.SegmentDescription(segment_number=n, segment_label=f"segment {n}",
    segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
    segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"),
    algorithm_type="AUTOMATIC", algorithm_identification=algorithm) for n in range(1, count + 1)]
"""

CASES = {
    "dicomkit write": DK_SOURCES + r"""
labels = np.load(args["labels"])
base = rss_mb(); t0 = time.perf_counter()
write(dkseg.create(sources, labels, segments, kind="BINARY"), args["out"])
elapsed = time.perf_counter() - t0
""",
    "highdicom write": HD_SOURCES + r"""
labels = np.load(args["labels"])
base = rss_mb(); t0 = time.perf_counter()
hd.seg.Segmentation(source_images=sources, pixel_array=labels, segmentation_type="BINARY",
    segment_descriptions=segments, series_instance_uid=hd.UID(), series_number=2,
    sop_instance_uid=hd.UID(), instance_number=1, manufacturer="bench",
    manufacturer_model_name="bench", software_versions="1", device_serial_number="1").save_as(args["out"])
elapsed = time.perf_counter() - t0
""",
    "dicomkit read": r"""
from dicomkit.seg import Segmentation
counts = args["counts"]
base = rss_mb(); t0 = time.perf_counter()
seg = Segmentation.open(args["out"])
got = [int(np.count_nonzero(seg.segment(n))) for n in range(1, count + 1)]
elapsed = time.perf_counter() - t0
assert got == counts, (got, counts)
""",
    "highdicom read": r"""
import highdicom as hd
counts = args["counts"]
uids = [f"2.25.{10**20 + i}" for i in range(frames)]
base = rss_mb(); t0 = time.perf_counter()
seg = hd.seg.segread(args["out"])
got = [int(np.count_nonzero(seg.get_pixels_by_source_instance(uids, segment_numbers=[n],
        combine_segments=False))) for n in range(1, count + 1)]
elapsed = time.perf_counter() - t0
assert got == counts, (got, counts)
""",
}

EPILOGUE = r"""
# VmHWM, the peak of this process image: ru_maxrss would carry over the peak of the
# process that started it (it survives fork and exec on Linux).
peak = status_mb("VmHWM")
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "base_mb": base}))
"""


def make_labels(frames: int, size: int, segments: int, extent: float) -> object:
    """The label map: segment n a blob centred at slice (n - 0.5) / segments of the series,
    ``extent`` × frames slices tall, in one cell of a grid of the slice."""
    import numpy as np

    labels = np.zeros((frames, size, size), dtype=np.uint8)
    grid = int(np.ceil(np.sqrt(segments)))
    cell = size // grid
    yy, xx = np.mgrid[0:size, 0:size]
    half = extent * frames / 2
    for n in range(1, segments + 1):
        cy = (((n - 1) // grid) + 0.5) * cell
        cx = (((n - 1) % grid) + 0.5) * cell
        cz = (n - 0.5) / segments * frames
        radius = cell * 0.45
        for z in range(max(0, int(cz - half)), min(frames, int(cz + half) + 1)):
            scale = 1 - ((z - cz) / half) ** 2
            if scale <= 0:
                continue
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= (radius ** 2) * scale
            labels[z][inside] = n
    return labels


def run_case(name: str, args: dict[str, object]) -> dict[str, float]:
    code = PRELUDE + CASES[name] + EPILOGUE
    result = subprocess.run([sys.executable, "-c", code, json.dumps(args)],
                            capture_output=True, text=True, env=_util.child_env(), check=False)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--extent", type=float, default=0.4,
                        help="fraction of the slices each segment spans (default 0.4)")
    options = parser.parse_args()
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="bench-seg-") as folder:
        labels_path = Path(folder) / "labels.npy"
        labels = make_labels(options.frames, options.size, options.segments, options.extent)
        np.save(labels_path, labels)
        present = int(sum(np.any(labels == n, axis=(1, 2)).sum()
                          for n in range(1, options.segments + 1)))
        counts = [int((labels == n).sum()) for n in range(1, options.segments + 1)]
        del labels
        print(f"{options.frames} frames of {options.size}x{options.size}, {options.segments} "
              f"segments, {present} non-empty (segment, frame) pairs")
        results: dict[str, dict[str, float]] = {}
        for tool in ("dicomkit", "highdicom"):
            out = str(Path(folder) / f"{tool}.dcm")
            for step in ("write", "read"):
                name = f"{tool} {step}"
                started = time.perf_counter()
                results[name] = run_case(name, {"labels": str(labels_path), "out": out,
                                                "segments": options.segments,
                                                "frames": options.frames,
                                                "size": options.size, "counts": counts})
                results[name]["file_mb"] = Path(out).stat().st_size / 2**20
                figures = results[name]
                print(f"{name:16s} {figures['seconds']:8.2f} s   peak {figures['peak_mb']:7.0f} MB"
                      f"   (inputs {figures['base_mb']:5.0f} MB, own "
                      f"{figures['peak_mb'] - figures['base_mb']:6.0f} MB)   file "
                      f"{figures['file_mb']:.0f} MB   [{time.perf_counter() - started:.0f} s]",
                      flush=True)
        for step in ("write", "read"):
            dk, theirs = results[f"dicomkit {step}"], results[f"highdicom {step}"]
            speed = theirs["seconds"] / dk["seconds"]
            own = ((dk["peak_mb"] - dk["base_mb"]) / max(1.0, theirs["peak_mb"] - theirs["base_mb"]))
            print(f"{step}: dicomkit {speed:.1f}x faster, own memory {own:.2f}x highdicom's")
        _util.OUT.mkdir(exist_ok=True)
        (_util.OUT / "seg.json").write_text(json.dumps(
            {"options": vars(options), "pairs": present, "results": results,
             "machine": _util.machine()}, indent=2))


if __name__ == "__main__":
    main()
