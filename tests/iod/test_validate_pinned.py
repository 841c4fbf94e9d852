"""The validator's findings on fixed files, pinned: ``pinned_findings.json`` holds what
``dicomkit validate`` reported for these pydicom test files before the validator was made
faster (compiled conditions, per-IOD plans, raw-value checks; issue 14 "Performance"). A
speed-up must not change a finding; a deliberate change of a rule updates the file with the
reason in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicomkit.cli.validate import check_file
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.encoding.reader import read
from dicomkit.iod import conditions
from tests.support.datasets import pydicom_data_dir

PINNED = json.loads((Path(__file__).with_name("pinned_findings.json")).read_text("utf-8"))


@pytest.mark.parametrize("name", sorted(PINNED))
def test_findings_are_the_pinned_ones(name):
    findings, readable = check_file(str(pydicom_data_dir() / name))
    assert readable
    assert [{k: v for k, v in f.items() if k != "file"} for f in findings] == PINNED[name]


def test_a_compiled_condition_looks_where_its_clauses_say():
    """The data set itself (``StringValue``), an enclosing data set (``ElementPresentAbove``)
    and the root's File Meta Information (``TransferSyntaxUID``, as dciodvfy reads it)."""
    ds = read(pydicom_data_dir() / "test_files" / "CT_small.dcm")  # explicit VR LE, 1 sample
    holds = conditions.holds
    item = Dataset()
    item.ValueType = "NUMERIC"
    assert holds("ValueTypeIsNumeric", item, ds, [ds]) is True
    item.ValueType = "TEXT"
    assert holds("ValueTypeIsNumeric", item, ds, [ds]) is False
    assert holds("FrameOfReferenceUIDIsPresentInParent", item, ds, [ds]) is True
    assert holds("FrameOfReferenceUIDIsPresentInParent", item, ds, [Dataset()]) is False
    assert holds("JPEG2000LosslessTransferSyntaxAndOneSample", ds, ds) is False
    ds.file_meta.TransferSyntaxUID = registered("JPEG2000Lossless")
    assert holds("JPEG2000LosslessTransferSyntaxAndOneSample", ds, ds) is True
