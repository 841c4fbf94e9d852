"""Parse time of a TID 1500 measurement report of about 5,000 content items: dicomkit vs
highdicom, in the same run, from the same file.

The report (made by dicomkit, checked by dciodvfy in the tests) has planar ROI groups of 10
content items each: tracking identifier and UID, finding, an SCOORD region and its source
image, three TID 300 measurements, two derivations; plus the root's context items.

Cases, each from the file on disk (page cache warm):

* dicomkit tree: ``dicomkit.sr.read(path)`` (the content tree, references resolved, checked
  against the IOD).
* dicomkit objects: ``read_measurement_report(path)`` (tree + TID 1500 objects), then every
  measurement's value touched.
* highdicom: ``highdicom.sr.srread(path)``, then every planar group's
  ``get_measurements()`` and each value touched (its equivalent of the objects).

    python bench/bench_sr.py [--items 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

import dicomkit  # noqa: E402
from dicomkit.cli.sample import make_ct  # noqa: E402
from dicomkit.core.uid import generate_uid  # noqa: E402
from dicomkit.sr import Reference  # noqa: E402
from dicomkit.sr.templates import (  # noqa: E402
    Code,
    DeviceObserver,
    ImageRegion,
    Measurement,
    MeasurementReport,
    PlanarROIMeasurements,
    read_measurement_report,
)

AREA = Code("42798000", "SCT", "Area")
ATTENUATION = Code("112031", "DCM", "Attenuation Coefficient")
MM2 = Code("mm2", "UCUM", "square millimeter")
HU = Code("[hnsf'U]", "UCUM", "Hounsfield unit")
MEAN = Code("373098007", "SCT", "Mean")
MAXIMUM = Code("56851009", "SCT", "Maximum")
LESION = Code("52988006", "SCT", "Lesion")


def make_report(path: Path, items: int) -> int:
    study, series = generate_uid(), generate_uid()
    slices = [make_ct(16, n, study, series) for n in (1, 2)]
    groups = []
    for number in range(max(1, items // 10)):
        image = slices[number % 2]
        groups.append(PlanarROIMeasurements(
            f"lesion {number}", finding_type=LESION,
            referenced_region=ImageRegion("POINT", [[number % 16, 3]],
                                          Reference(image.SOPClassUID, image.SOPInstanceUID)),
            measurements=[Measurement(AREA, number / 4, MM2),
                          Measurement(ATTENUATION, number, HU, derivation=MEAN),
                          Measurement(ATTENUATION, 2 * number, HU, derivation=MAXIMUM)]))
    report = MeasurementReport(observers=[DeviceObserver(generate_uid(), name="bench")],
                               procedure_reported=[Code("363679005", "SCT",
                                                        "Imaging procedure")],
                               imaging_measurements=groups)
    dicomkit.write(report.to_dataset(like=slices[0], evidence=slices), path)
    return sum(1 for _ in dicomkit.sr.read(path).walk())


def dicomkit_tree(path: Path) -> int:
    return sum(1 for _ in dicomkit.sr.read(path).walk())


def dicomkit_objects(path: Path) -> float:
    report = read_measurement_report(path)
    return sum(m.value or 0.0 for g in report.imaging_measurements for m in g.measurements)


def highdicom_objects(path: Path) -> float:
    import highdicom as hd

    content = hd.sr.srread(path).content
    return sum(float(m.value) for g in content.get_planar_roi_measurement_groups()
               for m in g.get_measurements())


def timed(case: Callable[[Path], object], path: Path, repeat: int) -> list[float]:
    case(path)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        case(path)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.dcm"
        count = make_report(path, args.items)
        print(f"report: {count} content items, {path.stat().st_size / 1e6:.1f} MB")
        assert abs(dicomkit_objects(path) - highdicom_objects(path)) < 1e-6
        results = {}
        for name, case in (("dicomkit tree", dicomkit_tree),
                           ("dicomkit objects", dicomkit_objects),
                           ("highdicom objects", highdicom_objects)):
            times = timed(case, path, args.repeat)
            results[name] = min(times)
            print(f"{name:18s} best {min(times) * 1000:8.1f} ms   median "
                  f"{statistics.median(times) * 1000:8.1f} ms")
        ratio = results["highdicom objects"] / results["dicomkit objects"]
        print(f"highdicom / dicomkit objects (best): {ratio:.2f}x")


if __name__ == "__main__":
    main()
