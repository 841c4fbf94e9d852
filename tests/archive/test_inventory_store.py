"""Inventory Storage on the archive (PS3.4 GG; archive/inventory_store.py): a received
Inventory is refused unless it is one and the announced one, kept durably outside the patient
tables, matched by the Inventory Q/R keys (PS3.4 JJ) and named for retrieval; an Inventory
Creation's files are registered when the job completes; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dicomkit import read
from dicomkit.archive.inventory import (
    EVENT_KIND,
    ArchiveInventoryJobs,
    InventoryWorker,
    create_inventory,
)
from dicomkit.archive.inventory_store import InventoryArchive
from dicomkit.archive.outbox import Outbox
from dicomkit.archive.schema import instances
from dicomkit.archive.store import Archive, SpoolSink
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.encoding.writer import to_bytes
from dicomkit.errors import InvalidDicomError
from dicomkit.services.inventory import (
    CANCEL,
    CANCELED,
    COMPLETE,
    TRANSITIONS,
    InventoryJob,
    terminal_event,
)
from dicomkit.services.storage import DataSetMismatch
from tests.support.datasets import make_instance

INVENTORY_STORAGE = registered("InventoryStorage")


def one_inventory(archive: Archive, add: Callable[..., Dataset], tmp_path: Path) -> bytes:
    add(patient_id="P-1")
    _root, paths = create_inventory(archive, str(tmp_path / "made"), level="SERIES")
    return Path(paths[0]).read_bytes()


def keys(**values: object) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_received_inventory_is_kept_matched_and_retrievable(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path) -> None:
    data = one_inventory(archive, add, tmp_path)
    kept = InventoryArchive(archive)
    uid = str(read(data).SOPInstanceUID)
    done = kept.keep(data, (INVENTORY_STORAGE, uid))
    assert (done.sop_instance, done.result) == (uid, "added")
    assert kept.keep(data, (INVENTORY_STORAGE, uid)).result == "replaced"
    path = kept.path_of(uid)
    assert path is not None and path.startswith(os.path.join(archive.data_dir, "inventories"))
    assert Path(path).read_bytes() == data
    # not in the patient tables: the archive still has its one image
    with archive.index.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(instances)).scalar() == 1
    assert [m["00080018"]["Value"] for m in kept.search(keys(SOPInstanceUID=uid))] == [[uid]]
    assert "00080423" not in kept.search(keys(SOPInstanceUID=uid))[0]  # not kept in the row
    assert kept.search(keys(InventoryLevel="SERIES", SOPInstanceUID=""))
    assert not kept.search(keys(InventoryLevel="STUDY"))
    assert kept.search(keys(ContentDate="20000101-"))
    assert [i.sop_instance for i in kept.instances([uid, generate_uid()])] == [uid]
    assert kept.instances([generate_uid()]) == []


def test_what_is_not_the_announced_inventory_is_refused(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path) -> None:
    data = one_inventory(archive, add, tmp_path)
    kept = InventoryArchive(archive)
    with pytest.raises(DataSetMismatch, match="announced"):
        kept.keep(data, (INVENTORY_STORAGE, generate_uid()))
    image = to_bytes(make_instance(patient_id="NOT-AN-INVENTORY"))
    with pytest.raises(DataSetMismatch, match="not Inventory Storage"):
        kept.keep(image, None)
    with pytest.raises(InvalidDicomError):
        kept.keep(data[:len(data) - 7], None)  # truncated
    assert kept.search(keys(SOPInstanceUID="")) == []
    leftovers = [n for n in os.listdir(kept.received_folder) if not n.endswith(".dcm")] \
        if os.path.isdir(kept.received_folder) else []
    assert leftovers == []  # no temporary file left behind


def test_inventory_sink_spools_then_commits(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path) -> None:
    data = one_inventory(archive, add, tmp_path)
    kept = InventoryArchive(archive)
    sink = kept.sink(b"", "1.2.840.10008.1.2.1")
    sink.write(data)
    assert sink.close() is sink
    assert isinstance(sink, SpoolSink)
    uid = str(read(data).SOPInstanceUID)
    stored = asyncio.run(kept.commit(sink, (INVENTORY_STORAGE, uid)))
    assert stored.sop_instance == uid


def test_a_completed_inventory_creation_is_kept(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    add(patient_id="P-2")
    jobs = ArchiveInventoryJobs(archive)
    kept = InventoryArchive(archive)
    transaction = generate_uid()
    jobs.create(InventoryJob(transaction, "STUDY"))
    assert InventoryWorker(jobs, ae_title="ARCHIVE", kept=kept).work_once()
    job = jobs.get(transaction)
    assert job is not None and job.root_uid
    found = kept.search(keys(TransactionUID=transaction))
    assert [m["00080018"]["Value"][0] for m in found] == [job.root_uid]
    [item] = kept.instances([job.root_uid])
    assert item.path == os.path.join(jobs.folder(transaction), f"{job.root_uid}.dcm")
    kept.forget(transaction)
    assert kept.search(keys(TransactionUID=transaction)) == []


def test_a_terminal_state_owes_the_requestor_its_event(archive: Archive) -> None:
    """KK.2.3.2: a job canceled (or finished) owes its requestor, when a known peer, the
    N-EVENT-REPORT: 13 without instances, 11 with; nothing for an unknown requestor."""
    outbox = Outbox(archive.index)
    jobs = ArchiveInventoryJobs(archive, outbox=outbox, peers={"AUDIT": ("127.0.0.1", 1)})
    canceled, unknown, complete = generate_uid(), generate_uid(), generate_uid()
    jobs.create(InventoryJob(canceled, "STUDY", requestor="AUDIT"))
    jobs.create(InventoryJob(unknown, "STUDY", requestor="STRANGER"))
    jobs.create(InventoryJob(complete, "STUDY", requestor="AUDIT"))
    jobs.transition(canceled, TRANSITIONS[CANCEL])
    jobs.transition(canceled, TRANSITIONS[CANCEL])  # already terminal: owes nothing more
    jobs.transition(unknown, TRANSITIONS[CANCEL])
    jobs.finish(complete, COMPLETE, root_uid=generate_uid(), studies=4)
    owed = outbox.messages(EVENT_KIND, owed_only=True)
    assert sorted((m.destination, m.reference) for m in owed) == sorted(
        [("AUDIT", canceled), ("AUDIT", complete)])
    job = jobs.get(canceled)
    assert job is not None
    event = terminal_event(job)
    assert event is not None and event[0] == 13 and event[1].TransactionStatus == CANCELED
    done = jobs.get(complete)
    assert done is not None
    event = terminal_event(done, "PACS")
    assert event is not None and event[0] == 11
    assert event[1].ReferencedSOPInstanceUID == done.root_uid
    assert event[1].TotalNumberOfStudyRecords == 4 and event[1].RetrieveAETitle == "PACS"
    assert terminal_event(InventoryJob(generate_uid(), "STUDY")) is None  # PROCESSING
