"""The Inventory IOD's tree (PS3.3 C.38.1.1.5): leaves, nodes and a root, built as the study
records stream in, with only one leaf and the finished children's references held."""

from __future__ import annotations

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.iod.inventory import InventoryHeader, TreeWriter, inventory_instance, summary


def study() -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = generate_uid()
    return item


def test_leaves_go_out_while_studies_stream_and_nodes_fold_by_fanout() -> None:
    written: dict[str, Dataset] = {}
    order: list[str] = []

    def sink(ds: Dataset) -> None:
        written[str(ds.SOPInstanceUID)] = ds
        order.append(str(ds.SOPInstanceUID))

    writer = TreeWriter(InventoryHeader(level="STUDY"), sink, max_records=2, fanout=2)
    uids = []
    for n in range(9):
        item = study()
        uids.append(str(item.StudyInstanceUID))
        writer.add(item)
        assert len(writer.studies) <= 2  # never more than one leaf held
        if n == 2:
            assert written  # the first leaf went out before the end
    root = writer.finish()
    assert order[-1] == root

    def walk(uid: str) -> list[str]:
        ds = written[uid]
        found = [str(s.StudyInstanceUID) for s in ds.InventoriedStudiesSequence]
        for ref in ds.get("IncorporatedInventoryInstanceSequence") or []:
            assert len(ds.IncorporatedInventoryInstanceSequence) <= 2
            found += walk(str(ref.ReferencedSOPInstanceUID))
        assert ds.TotalNumberOfStudyRecords == len(found)
        return found

    assert sorted(walk(root)) == sorted(uids)
    assert summary(written[root])["total_studies"] == 9


def test_one_leaf_is_its_own_root_and_bad_headers_are_refused() -> None:
    written: list[Dataset] = []
    writer = TreeWriter(InventoryHeader(level="SERIES"), written.append)
    writer.add(study())
    root = writer.finish()
    assert [str(d.SOPInstanceUID) for d in written] == [root]
    assert "IncorporatedInventoryInstanceSequence" not in written[0]
    with pytest.raises(ValueError, match="Inventory Level"):
        InventoryHeader(level="PATIENT")
    with pytest.raises(ValueError):
        TreeWriter(InventoryHeader(level="STUDY"), written.append, max_records=0)
    with pytest.raises(ValueError, match="not an Inventory"):
        summary(study())
    assert inventory_instance(InventoryHeader(level="STUDY"), []).ScopeOfInventorySequence == []
