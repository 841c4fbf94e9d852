"""Supplement 223 on the archive: the Inventory IOD produced from the index (PS3.3 A.88, split
and linked as C.38.1.1.5 says), Repository Query records (PS3.4 C.6.4) and Inventory
Creation jobs (KK.2); on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dicomkit import read
from dicomkit.archive.inventory import (
    ArchiveInventoryJobs,
    ArchiveRepository,
    InventoryWorker,
    create_inventory,
)
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.iod.inventory import summary
from dicomkit.services.inventory import (
    CANCELED,
    COMPLETE,
    PAUSED,
    PROCESSING,
    RESUME,
    TRANSITIONS,
    InventoryJob,
)
from tests.support.inventory import assert_inventory_valid, walk_tree


def three_studies(add: Callable[..., Dataset]) -> list[Dataset]:
    """Two patients, three studies, four series, seven instances."""
    made = []
    for patient, study_count in (("P-1", 2), ("P-2", 1)):
        for _ in range(study_count):
            study = generate_uid()
            for series_number in (1, 2) if patient == "P-1" and not made else (1,):
                series_uid = generate_uid()
                for number in range(1, 3 if series_number == 1 else 2):
                    made.append(add(patient_id=patient, study_uid=study, series_uid=series_uid,
                                    number=number, SeriesNumber=series_number,
                                    modality="MR" if patient == "P-2" else "CT"))
    return made


@pytest.mark.parametrize("level", ["STUDY", "SERIES", "INSTANCE"])
def test_inventory_of_the_whole_archive_lists_every_entity_at_its_level(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path, level: str) -> None:
    made = three_studies(add)
    root, paths = create_inventory(archive, str(tmp_path / "out"), level=level)
    assert len(paths) == 1 and paths[0].endswith(f"{root}.dcm")
    ds = read(paths[0])
    assert_inventory_valid(paths[0])
    assert ds.SOPClassUID == registered("InventoryStorage")
    assert ds.InventoryLevel == level
    assert ds.NumberOfStudyRecordsInInstance == 3 == ds.TotalNumberOfStudyRecords
    studies = {str(s.StudyInstanceUID): s for s in ds.InventoriedStudiesSequence}
    assert set(studies) == {str(m.StudyInstanceUID) for m in made}
    series = [se for s in studies.values() for se in s.get("InventoriedSeriesSequence") or []]
    instances = [i for se in series for i in se.get("InventoriedInstancesSequence") or []]
    assert len(series) == (0 if level == "STUDY" else 4)
    assert len(instances) == (7 if level == "INSTANCE" else 0)
    if level == "INSTANCE":
        assert {str(i.SOPInstanceUID) for i in instances} == {str(m.SOPInstanceUID)
                                                              for m in made}
        assert all(str(i.FileAccessURI).startswith("file:///") for i in instances)
        assert all(Path(str(i.FileAccessURI)[7:]).exists() for i in instances)


def test_scope_of_inventory_selects_studies_by_key_attributes(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path) -> None:
    three_studies(add)
    scope = Dataset()
    scope.PatientID = "P-1"
    root, paths = create_inventory(archive, str(tmp_path / "out"), level="SERIES", scope=scope)
    ds = read(paths[-1])
    assert ds.TotalNumberOfStudyRecords == 2
    assert [str(i.PatientID) for i in ds.InventoriedStudiesSequence] == ["P-1", "P-1"]
    assert ds.ScopeOfInventorySequence[0].PatientID == "P-1"
    assert_inventory_valid(paths[-1])


def test_a_large_inventory_is_a_tree_of_linked_instances(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path) -> None:
    made = three_studies(add)
    root, paths = create_inventory(archive, str(tmp_path / "out"), level="INSTANCE",
                                   max_records=4)
    assert len(paths) > 2
    for path in paths:
        assert_inventory_valid(path)
    by_uid = {str(read(p).SOPInstanceUID): p for p in paths}
    studies = walk_tree(by_uid, root)
    assert sorted(studies) == sorted({str(m.StudyInstanceUID) for m in made})
    assert read(by_uid[root]).TotalNumberOfStudyRecords == 3
    assert summary(read(by_uid[root]))["incorporated"]


def test_empty_archive_gives_one_empty_inventory(archive: Archive, tmp_path: Path) -> None:
    root, paths = create_inventory(archive, str(tmp_path / "out"))
    ds = read(paths[0])
    assert ds.NumberOfStudyRecordsInInstance == 0 and len(ds.InventoriedStudiesSequence) == 0
    assert_inventory_valid(paths[0])


def test_repository_records_resume_after_a_record_key(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    three_studies(add)
    repository = ArchiveRepository(archive)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.SOPInstanceUID = None
    query = repository.compile(identifier)
    first, last = repository.page(query, 0, 3)
    assert len(first) == 3 and last == first[-1].key
    rest, _ = repository.page(query, first[-1].key, 100)
    assert len(rest) == 4
    keys = [r.key for r in first + rest]
    assert keys == sorted(keys) and len(set(keys)) == 7
    assert all(r.repository["0008040E"]["Value"] for r in rest)
    assert all(r.repository["00080409"]["Value"][0].startswith("file:") for r in rest)


def test_inventory_creation_job_runs_to_complete_with_its_root(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    three_studies(add)
    jobs = ArchiveInventoryJobs(archive)
    uid = generate_uid()
    assert jobs.create(InventoryJob(uid, "SERIES", purpose="audit"))
    assert not jobs.create(InventoryJob(uid, "SERIES"))
    worker = InventoryWorker(jobs, ae_title="ARCHIVE")
    assert worker.work_once()
    job = jobs.get(uid)
    assert job is not None and job.status == COMPLETE and job.studies == 3
    root = Path(jobs.folder(uid)) / f"{job.root_uid}.dcm"
    ds = read(root)
    assert ds.TransactionUID == uid and ds.InventoryPurpose == "audit"
    status = job.status_dataset("ARCHIVE")
    assert status.TransactionStatus == COMPLETE
    assert status.ReferencedSOPInstanceUID == job.root_uid
    assert not worker.work_once()


def test_production_states_follow_kk_2_1_1(archive: Archive) -> None:
    jobs = ArchiveInventoryJobs(archive)
    uid = generate_uid()
    jobs.create(InventoryJob(uid, "STUDY"))
    pause, cancel = 14, 13
    assert jobs.transition(uid, TRANSITIONS[pause]).status == PAUSED  # type: ignore[union-attr]
    assert jobs.transition(uid, TRANSITIONS[pause]).status == PAUSED  # type: ignore[union-attr]
    assert jobs.transition(uid, TRANSITIONS[RESUME]).status == PROCESSING  # type: ignore
    assert jobs.transition(uid, TRANSITIONS[cancel]).status == CANCELED  # type: ignore
    assert jobs.transition(uid, TRANSITIONS[RESUME]).status == CANCELED  # type: ignore
    assert jobs.transition(generate_uid(), TRANSITIONS[cancel]) is None
