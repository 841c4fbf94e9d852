"""A measurement report of 5,000 content items parses back to the same objects (the bench
compares its parse time with highdicom's: bench/bench_sr.py)."""

from __future__ import annotations

from pathlib import Path

import dicomkit
from dicomkit.sr.templates import read_measurement_report
from tests.support.srtemplates import ct_series, large_report, seg_of


def test_five_thousand_item_report_parses(tmp_path: Path) -> None:
    slices = ct_series(2)
    seg = seg_of(slices)
    report = large_report(slices, seg, items=5000)
    ds = report.to_dataset(like=slices[0], evidence=slices + [seg])
    path = tmp_path / "large.dcm"
    dicomkit.write(ds, path)
    count = sum(1 for _ in dicomkit.sr.read(path).walk())
    assert count >= 5000
    assert read_measurement_report(path) == report
