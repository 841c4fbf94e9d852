"""A corrected instance re-sent under the ``replace`` policy (C-STORE, STOW-RS, ``import``,
``reindex``) rewrites its patient, study and series rows, so queries at every level show the
corrected values; under ``ignore`` nothing changes. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dicomkit import write
from dicomkit.archive.matching import compile_query
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from tests.support.datasets import MR_IMAGE_STORAGE, make_instance, write_instance

ORIGINAL = dict(patient_name="Doe^Jane", StudyDescription="Chest", SeriesDescription="Axial",
                PatientBirthDate="19700101", AccessionNumber="A1", InstitutionName="Old Clinic",
                BodyPartExamined="CHEST")
CORRECTED = dict(patient_name="Doe^Janet", StudyDescription="Thorax",
                 SeriesDescription="Axial corrected", PatientBirthDate="19710202",
                 AccessionNumber="A2", InstitutionName="New Clinic", BodyPartExamined="LUNG")
# keyword -> (level it is kept at, original, corrected)
CHECKED = {
    "PatientName": ("PATIENT", "Doe^Jane", "Doe^Janet"),
    "PatientBirthDate": ("PATIENT", "19700101", "19710202"),
    "StudyDescription": ("STUDY", "Chest", "Thorax"),
    "AccessionNumber": ("STUDY", "A1", "A2"),
    "SeriesDescription": ("SERIES", "Axial", "Axial corrected"),
    "InstitutionName": ("SERIES", "Old Clinic", "New Clinic"),
    "BodyPartExamined": ("SERIES", "CHEST", "LUNG"),
}
RANK = {"PATIENT": 0, "STUDY": 1, "SERIES": 2, "IMAGE": 3}


def search(archive: Archive, level: str, model: str = "patient",
           **keys: Any) -> list[dict[str, Any]]:
    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword in CHECKED:
        if RANK[CHECKED[keyword][0]] <= RANK[level]:
            query.set(keyword, None)
    for keyword, value in keys.items():
        query.set(keyword, value)
    return list(archive.index.search(compile_query(query, model)))


def text(row: dict[str, Any], keyword: str) -> str:
    from dicomkit.core.dictionary import tag_for_keyword

    values = row.get(f"{tag_for_keyword(keyword):08X}", {}).get("Value") or [""]
    value = values[0]
    return str(value.get("Alphabetic", "") if isinstance(value, dict) else value)


def seen(archive: Archive, levels: tuple[str, ...] = ("PATIENT", "STUDY", "SERIES", "IMAGE")
         ) -> dict[str, dict[str, str]]:
    """Each checked keyword as each level from its own down to IMAGE answers it."""
    out: dict[str, dict[str, str]] = {}
    for level in levels:
        [row] = search(archive, level)
        out[level] = {k: text(row, k) for k, (at, _o, _c) in CHECKED.items()
                      if RANK[at] <= RANK[level]}
    return out


def expected(which: int) -> dict[str, dict[str, str]]:
    return {level: {k: v[which] for k, v in CHECKED.items() if RANK[v[0]] <= RANK[level]}
            for level in ("PATIENT", "STUDY", "SERIES", "IMAGE")}


def counts(archive: Archive) -> tuple[int, int, int, int]:
    stats = archive.index.stats()
    return stats["patients"], stats["studies"], stats["series"], stats["instances"]


def send(archive: Archive, folder: Path, **kwargs: Any) -> Any:
    return archive.import_file(str(write_instance(make_instance(**kwargs), folder)))


@pytest.fixture
def uids() -> dict[str, str]:
    return {"study_uid": generate_uid(), "series_uid": generate_uid(), "sop_uid": generate_uid()}


def test_a_corrected_copy_updates_every_level_under_replace(
        archive: Archive, tmp_path: Path, uids: dict[str, str]) -> None:
    send(archive, tmp_path / "a", **uids, **ORIGINAL)
    assert seen(archive) == expected(1)
    done = send(archive, tmp_path / "b", **uids, **CORRECTED)
    assert done.result.status == "replaced"
    assert seen(archive) == expected(2)
    assert counts(archive) == (1, 1, 1, 1)
    # the indexed columns changed too: SQL matching finds the new values, not the old ones
    assert len(search(archive, "STUDY", PatientName="Doe^Janet")) == 1
    assert search(archive, "STUDY", PatientName="Doe^Jane") == []
    assert len(search(archive, "STUDY", "study", StudyDescription="Thorax")) == 1
    assert len(search(archive, "SERIES", "study", InstitutionName="New*")) == 1
    assert search(archive, "SERIES", "study", InstitutionName="Old*") == []


def test_under_ignore_the_upper_levels_do_not_change(
        tmp_path: Path, index_url: str, uids: dict[str, str]) -> None:
    archive = Archive(str(tmp_path / "data"), index_url, duplicates="ignore", fsync=False)
    try:
        send(archive, tmp_path / "a", **uids, **ORIGINAL)
        assert send(archive, tmp_path / "b", **uids, **CORRECTED).result.status == "ignored"
        assert seen(archive) == expected(1)
    finally:
        archive.close()


def test_a_new_instance_of_a_known_series_leaves_the_upper_levels_alone(
        archive: Archive, tmp_path: Path, uids: dict[str, str]) -> None:
    """Only a replacing copy rewrites them: the rows stay those of the first instance."""
    send(archive, tmp_path / "a", **uids, **ORIGINAL)
    send(archive, tmp_path / "b", study_uid=uids["study_uid"], series_uid=uids["series_uid"],
         number=2, **CORRECTED)
    upper = ("PATIENT", "STUDY", "SERIES")
    assert seen(archive, upper) == {level: expected(1)[level] for level in upper}


def test_a_corrected_patient_id_moves_the_study_and_prunes_the_old_patient(
        archive: Archive, tmp_path: Path, uids: dict[str, str]) -> None:
    send(archive, tmp_path / "a", **uids, patient_id="WRONG-1")
    send(archive, tmp_path / "b", **uids, patient_id="DK-9")
    assert counts(archive) == (1, 1, 1, 1)
    [row] = search(archive, "PATIENT", PatientID=None)
    assert text(row, "PatientID") == "DK-9"


def test_a_patient_with_other_studies_is_kept(archive: Archive, tmp_path: Path,
                                               uids: dict[str, str]) -> None:
    send(archive, tmp_path / "a", **uids, patient_id="P-1")
    send(archive, tmp_path / "a", patient_id="P-1")  # another study of P-1
    send(archive, tmp_path / "b", **uids, patient_id="P-2")
    assert counts(archive) == (2, 2, 2, 2)


def test_a_copy_moved_to_another_series_prunes_and_recounts(
        archive: Archive, tmp_path: Path, uids: dict[str, str]) -> None:
    send(archive, tmp_path / "a", **uids, modality="CT")
    send(archive, tmp_path / "a", study_uid=uids["study_uid"], modality="US")
    moved = dict(uids, series_uid=generate_uid())
    send(archive, tmp_path / "b", **moved, modality="MR", sop_class=MR_IMAGE_STORAGE)
    assert counts(archive) == (1, 1, 2, 2)  # the CT series it left is gone
    [row] = search(archive, "STUDY", "study", ModalitiesInStudy=None, SOPClassesInStudy=None)
    assert row["00080061"]["Value"] == ["MR", "US"]
    assert MR_IMAGE_STORAGE in row["00080062"]["Value"]


def test_a_copy_moved_to_another_study_prunes_the_old_one(
        archive: Archive, tmp_path: Path, uids: dict[str, str]) -> None:
    send(archive, tmp_path / "a", **uids)
    moved = dict(uids, study_uid=generate_uid(), series_uid=generate_uid())
    send(archive, tmp_path / "b", **moved, StudyDescription="Moved")
    assert counts(archive) == (1, 1, 1, 1)
    [row] = search(archive, "STUDY")
    assert text(row, "StudyDescription") == "Moved"


def test_reindex_of_corrected_files_updates_the_upper_levels(
        archive: Archive, tmp_path: Path, uids: dict[str, str]) -> None:
    done = send(archive, tmp_path / "a", **uids, **ORIGINAL)
    write(make_instance(**uids, **CORRECTED), done.path)  # corrected in place
    assert os.path.exists(done.path)
    assert tuple(archive.reindex())[:2] == (1, [])
    assert seen(archive) == expected(2)
