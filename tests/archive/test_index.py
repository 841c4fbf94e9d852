"""The archive index and storage: duplicates, deletion, migrations, concurrent writers,
reindexing, interrupted writes and unsafe UIDs; on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from dicomkit import read
from dicomkit.archive.matching import compile_query
from dicomkit.archive.records import record_for
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.errors import InvalidDicomError
from dicomkit.net.storage import safe_uid_path
from tests.support.datasets import SECONDARY_CAPTURE, make_instance, write_instance


def study_row(archive: Archive, study_uid: str, *keywords: str) -> dict[str, Any]:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    for keyword in keywords:
        query.set(keyword, None)
    rows = list(archive.index.search(compile_query(query)))
    assert len(rows) == 1
    return rows[0]


def values(row: dict[str, Any], tag: str) -> list[Any]:
    return list(row.get(tag, {}).get("Value") or [])


def counts(archive: Archive) -> tuple[int, int, int, int]:
    stats = archive.index.stats()
    return stats["patients"], stats["studies"], stats["series"], stats["instances"]


def record(ds: Dataset, folder: Path) -> Any:
    path = write_instance(ds, folder)
    return record_for(read(path, stop_before_pixels=True), path.name, path.stat().st_size,
                      "1.2.840.10008.1.2.1")


def stored_description(archive: Archive, sop_uid: str) -> str:
    [metadata] = archive.index.instance_metadata([sop_uid])
    return str(metadata["0008103E"]["Value"][0])


# -- duplicates -------------------------------------------------------------------------------
def test_replace_policy_takes_the_new_instance(archive: Archive, tmp_path: Path) -> None:
    first = make_instance(SeriesDescription="first")
    archive.import_file(str(write_instance(first, tmp_path / "a")))
    second = make_instance(study_uid=first.StudyInstanceUID, series_uid=first.SeriesInstanceUID,
                           sop_uid=first.SOPInstanceUID, SeriesDescription="second")
    done = archive.import_file(str(write_instance(second, tmp_path / "b")))
    assert done.result.status == "replaced"
    assert stored_description(archive, first.SOPInstanceUID) == "second"
    assert read(done.path).SeriesDescription == "second"
    assert counts(archive) == (1, 1, 1, 1)


def test_ignore_policy_keeps_the_stored_instance(tmp_path: Path, index_url: str) -> None:
    archive = Archive(str(tmp_path / "data"), index_url, duplicates="ignore", fsync=False)
    try:
        first = make_instance(SeriesDescription="first")
        kept = archive.import_file(str(write_instance(first, tmp_path / "a")))
        second = make_instance(study_uid=first.StudyInstanceUID,
                               series_uid=first.SeriesInstanceUID, sop_uid=first.SOPInstanceUID,
                               SeriesDescription="second")
        done = archive.import_file(str(write_instance(second, tmp_path / "b")))
        assert done.result.status == "ignored"
        assert stored_description(archive, first.SOPInstanceUID) == "first"
        assert read(kept.path).SeriesDescription == "first"
        assert counts(archive) == (1, 1, 1, 1)
        assert not [n for n in os.listdir(archive.files_dir) if n.endswith(".part")]
    finally:
        archive.close()


def test_ignore_policy_indexes_a_stored_file_that_lost_its_index_row(
        tmp_path: Path, index_url: str) -> None:
    archive = Archive(str(tmp_path / "data"), index_url, duplicates="ignore", fsync=False)
    try:
        ds = make_instance()
        source = str(write_instance(ds, tmp_path / "a"))
        archive.import_file(source)
        archive.index.delete("IMAGE", ds.SOPInstanceUID)  # the row only, as after a crash
        assert counts(archive) == (0, 0, 0, 0)
        assert archive.import_file(source).result.status == "added"
        assert counts(archive) == (1, 1, 1, 1)
    finally:
        archive.close()


def test_keep_policy_reports_added_and_keeps_the_index_row(archive: Archive,
                                                           tmp_path: Path) -> None:
    first = make_instance(SeriesDescription="first")
    assert archive.index.add_instance(record(first, tmp_path / "a"), "keep").status == "added"
    second = make_instance(study_uid=first.StudyInstanceUID, series_uid=first.SeriesInstanceUID,
                           sop_uid=first.SOPInstanceUID, SeriesDescription="second")
    result = archive.index.add_instance(record(second, tmp_path / "b"), "keep")
    assert (result.status, result.old_path) == ("added", None)
    assert stored_description(archive, first.SOPInstanceUID) == "first"
    assert counts(archive) == (1, 1, 1, 1)


def test_ignore_policy_of_the_index_reports_ignored(archive: Archive, tmp_path: Path) -> None:
    first = make_instance()
    archive.index.add_instance(record(first, tmp_path / "a"), "ignore")
    assert archive.index.add_instance(record(first, tmp_path / "a"), "ignore").status == \
        "ignored"


def study_columns(archive: Archive, study_uid: str) -> tuple[str, str, Any]:
    with archive.index.engine.connect() as connection:
        row = connection.execute(text(
            "SELECT modalities, sop_classes, updated FROM studies WHERE study_uid = :uid"),
            {"uid": study_uid}).one()
    return row.modalities, row.sop_classes, row.updated


def test_instances_of_a_known_series_grow_the_study_columns(archive: Archive,
                                                            tmp_path: Path) -> None:
    # add_instance's short path (a known series) touches the study in the same statement when
    # its Modalities and SOP Classes in Study hold the instance's values, else adds them.
    first = make_instance()
    archive.index.add_instance(record(first, tmp_path / "a"))
    uids = {"study_uid": first.StudyInstanceUID, "series_uid": first.SeriesInstanceUID}
    modalities, classes, updated = study_columns(archive, first.StudyInstanceUID)
    assert (modalities, classes) == ("\\CT\\", f"\\{first.SOPClassUID}\\")
    archive.index.add_instance(record(make_instance(**uids, number=2), tmp_path / "b"))
    again = study_columns(archive, first.StudyInstanceUID)
    assert again[:2] == (modalities, classes) and again[2] > updated
    other = make_instance(**uids, number=3, sop_class=SECONDARY_CAPTURE)
    archive.index.add_instance(record(other, tmp_path / "c"))
    assert study_columns(archive, first.StudyInstanceUID)[:2] == (
        "\\CT\\", "\\" + "\\".join(sorted([first.SOPClassUID, SECONDARY_CAPTURE])) + "\\")
    assert counts(archive) == (1, 1, 1, 3)


def test_a_dropped_database_connection_is_replaced_once(archive: Archive,
                                                        tmp_path: Path) -> None:
    if archive.index.is_sqlite:
        pytest.skip("SQLite has no server to drop the connection")
    first = make_instance()
    archive.index.add_instance(record(first, tmp_path / "a"))  # its pool keeps a connection
    with archive.index.engine.connect() as connection:
        dropped = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    assert dropped >= 1
    second = make_instance(study_uid=first.StudyInstanceUID,
                           series_uid=first.SeriesInstanceUID, number=2)
    assert archive.index.add_instance(record(second, tmp_path / "b")).status == "added"
    assert counts(archive) == (1, 1, 1, 2)


def test_keep_policy_keeps_the_stored_file(tmp_path: Path, index_url: str) -> None:
    archive = Archive(str(tmp_path / "data"), index_url, duplicates="keep", fsync=False)
    try:
        first = make_instance(SeriesDescription="first")
        kept = archive.import_file(str(write_instance(first, tmp_path / "a")))
        second = make_instance(study_uid=first.StudyInstanceUID,
                               series_uid=first.SeriesInstanceUID, sop_uid=first.SOPInstanceUID,
                               SeriesDescription="second")
        assert archive.import_file(str(write_instance(second, tmp_path / "b"))).result.status \
            == "added"
        assert read(kept.path).SeriesDescription == "first"
    finally:
        archive.close()


# -- deletion ---------------------------------------------------------------------------------
def test_delete_study_removes_files_and_prunes_the_patient(archive: Archive,
                                                           add: Callable[..., Dataset]) -> None:
    study = generate_uid()
    series = generate_uid()
    first = add(study_uid=study, series_uid=series, number=1)
    add(study_uid=study, series_uid=series, number=2)
    path = archive.final_path(study, series, first.SOPInstanceUID)
    assert os.path.exists(path)
    assert archive.delete("STUDY", study) == 2
    assert counts(archive) == (0, 0, 0, 0)
    assert not os.path.exists(path)


def test_delete_study_keeps_a_patient_with_other_studies(archive: Archive,
                                                         add: Callable[..., Dataset]) -> None:
    gone = add(patient_id="DK-1")
    add(patient_id="DK-1")
    assert archive.delete("STUDY", gone.StudyInstanceUID) == 1
    assert counts(archive) == (1, 1, 1, 1)


def test_delete_series_recomputes_modalities_in_study(archive: Archive,
                                                      add: Callable[..., Dataset]) -> None:
    ct = add(modality="CT")
    mr = add(study_uid=ct.StudyInstanceUID, modality="MR")
    assert values(study_row(archive, ct.StudyInstanceUID, "ModalitiesInStudy"),
                  "00080061") == ["CT", "MR"]
    assert archive.delete("SERIES", mr.SeriesInstanceUID) == 1
    assert values(study_row(archive, ct.StudyInstanceUID, "ModalitiesInStudy"),
                  "00080061") == ["CT"]
    assert counts(archive) == (1, 1, 1, 1)


def test_delete_last_series_prunes_study_and_patient(archive: Archive,
                                                     add: Callable[..., Dataset]) -> None:
    only = add()
    assert archive.delete("SERIES", only.SeriesInstanceUID) == 1
    assert counts(archive) == (0, 0, 0, 0)


def test_delete_last_instance_of_a_series_recomputes_modalities(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    ct = add(modality="CT")
    mr = add(study_uid=ct.StudyInstanceUID, modality="MR")
    assert archive.delete("IMAGE", mr.SOPInstanceUID) == 1
    row = study_row(archive, ct.StudyInstanceUID, "ModalitiesInStudy",
                    "NumberOfStudyRelatedSeries")
    assert values(row, "00080061") == ["CT"]
    assert values(row, "00201206") == [1]


def test_delete_instance_recomputes_sop_classes_in_study(archive: Archive,
                                                         add: Callable[..., Dataset]) -> None:
    ct = add()
    sc = add(study_uid=ct.StudyInstanceUID, series_uid=ct.SeriesInstanceUID,
             sop_class=SECONDARY_CAPTURE, number=2)
    assert SECONDARY_CAPTURE in values(
        study_row(archive, ct.StudyInstanceUID, "SOPClassesInStudy"), "00080062")
    assert archive.delete("IMAGE", sc.SOPInstanceUID) == 1
    assert values(study_row(archive, ct.StudyInstanceUID, "SOPClassesInStudy"),
                  "00080062") == [ct.SOPClassUID]


def test_delete_of_an_unknown_uid_removes_nothing(archive: Archive,
                                                  add: Callable[..., Dataset]) -> None:
    add()
    for level in ("STUDY", "SERIES", "IMAGE"):
        assert archive.delete(level, "1.2.3.4.5") == 0
    assert counts(archive) == (1, 1, 1, 1)


# -- schema -----------------------------------------------------------------------------------
def test_migrate_twice_is_a_no_op(archive: Archive, add: Callable[..., Dataset]) -> None:
    add()
    archive.index.migrate()
    archive.index.migrate()
    with archive.index.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars() \
            .all() == ["0010"]
        tables = set(inspect(connection).get_table_names())
    assert {"patients", "studies", "series", "instances", "alembic_version", "worklist_items",
            "mpps", "outbox", "study_notifications", "inventory_jobs"} <= tables
    assert counts(archive) == (1, 1, 1, 1)


def test_workflow_tables_added_to_an_index_of_revision_0003(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    """0004 on an index made before it: the workflow tables appear, the images stay."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import dicomkit.archive.index as index_module

    add()
    config = Config()
    config.set_main_option("script_location",
                           str(Path(index_module.__file__).with_name("migrations")))
    with archive.index.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with archive.index.engine.connect() as connection:
        assert "worklist_items" not in inspect(connection).get_table_names()
    archive.index.migrate()
    with archive.index.engine.connect() as connection:
        assert {"worklist_items", "mpps", "outbox", "study_notifications"} <= set(
            inspect(connection).get_table_names())
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars() \
            .all() == ["0010"]
    assert counts(archive) == (1, 1, 1, 1)


def _alembic(archive: Archive, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    import dicomkit.archive.index as index_module

    config = Config()
    config.set_main_option("script_location",
                           str(Path(index_module.__file__).with_name("migrations")))
    with archive.index.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def test_migration_0003_splits_person_names_into_their_groups(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    """An index made before 0003 kept the whole ``A=I=P`` name in one column; the migration
    splits it into the component group columns (PS3.5 §6.2.1), so the ideographic group of
    PS3.5 Example H.3-1 can be matched (PS3.4 C.2.2.2.4) on rows indexed before it."""
    name = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    add(patient_id="JP-1", patient_name=name, ReferringPhysicianName=name,
        SpecificCharacterSet="ISO_IR 192")
    _alembic(archive, "downgrade", "0002")
    with archive.index.engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("patients")}
        stored = connection.execute(text("SELECT patient_name FROM patients")).scalar()
        referring = connection.execute(text("SELECT referring_physician FROM studies")).scalar()
    assert "patient_name_ideographic" not in columns
    assert stored == name and referring == name  # as 0002 kept them
    archive.index.migrate()
    with archive.index.engine.connect() as connection:
        groups = connection.execute(text(
            "SELECT patient_name, patient_name_ideographic, patient_name_phonetic "
            "FROM patients")).one()
        referring_groups = connection.execute(text(
            "SELECT referring_physician, referring_physician_ideographic, "
            "referring_physician_phonetic FROM studies")).one()
    assert tuple(groups) == tuple(referring_groups) == ("Yamada^Tarou", "山田^太郎",
                                                        "やまだ^たろう")
    for key in ("Yamada*", "=山田*", "==やまだ^たろう"):
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.SpecificCharacterSet = "ISO_IR 192"
        query.PatientName = key
        query.ReferringPhysicianName = key
        assert len(list(archive.index.search(compile_query(query)))) == 1, key


def test_wildcard_keys_are_index_searches_on_postgresql(archive: Archive,
                                                       add: Callable[..., Dataset]) -> None:
    """Migration 0002: a trailing-* match on Patient's Name, Patient ID or Accession Number
    can use an index whatever the database collation (PS3.4 C.2.2.2.4 wild card matching);
    with sequential scans disallowed the plan must name the pattern index."""
    from dicomkit.archive.matching import compile_query

    add()
    sqlite = archive.index.is_sqlite
    # SQLite range-scans its plain indexes (case_sensitive_like); PostgreSQL needs 0002's.
    for keyword, index in (
            ("PatientName", "ix_patients_name (" if sqlite else "ix_patients_name_pattern"),
            ("PatientID", "patients USING INDEX" if sqlite else "ix_patients_id_pattern"),
            ("AccessionNumber",
             "ix_studies_accession (" if sqlite else "ix_studies_accession_pattern")):
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "STUDY"
        setattr(identifier, keyword, "SMITH*")
        query = compile_query(identifier, "study")
        statement = archive.index._base("STUDY", archive.index._columns("STUDY", set())) \
            .where(*query.where)
        compiled = statement.compile(archive.index.engine,
                                     compile_kwargs={"literal_binds": True})
        with archive.index.engine.connect() as connection:
            if sqlite:
                rows = connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
                plan = "\n".join(str(row[-1]) for row in rows)
            else:
                connection.execute(text("SET enable_seqscan = off"))
                plan = "\n".join(connection.execute(text(f"EXPLAIN {compiled}")).scalars())
        assert index in plan, plan
        assert ">" in plan or "~>=~" in plan, plan  # a range on the prefix, not a full scan


def test_two_archives_migrate_the_same_new_index_at_once(tmp_path: Path, index_url: str) -> None:
    barrier = threading.Barrier(2)

    def open_one(number: int) -> Archive:
        barrier.wait()
        return Archive(str(tmp_path / f"data{number}"), index_url, fsync=False)

    with ThreadPoolExecutor(2) as pool:
        opened = list(pool.map(open_one, range(2)))
    for archive in opened:
        assert counts(archive) == (0, 0, 0, 0)
        archive.close()


# -- several writers --------------------------------------------------------------------------
def test_two_archives_index_concurrently_without_conflicts(tmp_path: Path,
                                                           index_url: str) -> None:
    """Two archive objects (two ``dicomkit serve`` nodes) share one index; threads on both
    store instances of the same patients and studies at once, many of them opening a new
    series in a study another writer is also adding to."""
    studies = [generate_uid(), generate_uid()]
    first = [make_instance(patient_id=f"DK-{n}", study_uid=uid) for n, uid in enumerate(studies)]
    plan = []
    for n, study in enumerate(studies):
        for series_number in range(6):
            series = generate_uid()
            for number in range(2):
                plan.append(make_instance(patient_id=f"DK-{n}", study_uid=study,
                                          series_uid=series, number=number,
                                          modality=("CT", "MR", "US")[series_number % 3]))
    paths = [str(write_instance(ds, tmp_path / "incoming")) for ds in plan]
    nodes = [Archive(str(tmp_path / "data"), index_url, fsync=False) for _ in range(2)]
    try:
        for ds in first:  # the studies exist before the concurrent writers start
            nodes[0].import_file(str(write_instance(ds, tmp_path / "incoming")))
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda item: nodes[item[0] % 2].import_file(item[1]),
                                    enumerate(paths)))
        assert {r.result.status for r in results} == {"added"}
        assert counts(nodes[0]) == (2, 2, 14, 26)
        for study in studies:
            row = study_row(nodes[1], study, "ModalitiesInStudy",
                            "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances")
            assert values(row, "00080061") == ["CT", "MR", "US"]
            assert (values(row, "00201206"), values(row, "00201208")) == ([7], [13])
    finally:
        for node in nodes:
            node.close()


# -- reindex and repair -----------------------------------------------------------------------
def answers(archive: Archive) -> list[tuple[Any, ...]]:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    for keyword in ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate",
                    "ModalitiesInStudy", "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
                    "NumberOfStudyRelatedInstances"):
        query.set(keyword, None)
    return sorted(tuple(str(values(row, f"{tag:08X}")) for tag in sorted(query.tags()))
                  for row in archive.index.search(compile_query(query)))


def test_reindex_rebuilds_a_lost_index_with_the_same_answers(
        tmp_path: Path, index_url: str, archive: Archive, add: Callable[..., Dataset]) -> None:
    ct = add(patient_id="DK-1", patient_name="Doe^Jane", modality="CT")
    add(study_uid=ct.StudyInstanceUID, modality="MR", sop_class=SECONDARY_CAPTURE)
    add(patient_id="DK-2", patient_name="Roe^Richard", study_date="20230102")
    before = answers(archive)
    assert len(before) == 2
    if archive.index.is_sqlite:
        archive.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(index_url + suffix):
                os.unlink(index_url + suffix)
    else:
        archive.index.drop_all()
        archive.close()
    rebuilt = Archive(str(tmp_path / "data"), index_url, fsync=False)
    try:
        assert counts(rebuilt) == (0, 0, 0, 0)
        assert rebuilt.reindex() == (3, [], 0)
        assert answers(rebuilt) == before
        assert counts(rebuilt) == (2, 2, 3, 3)
    finally:
        rebuilt.close()


def test_scan_removes_part_leftovers_and_reindex_never_indexes_them(
        archive: Archive, add: Callable[..., Dataset], tmp_path: Path) -> None:
    add()
    orphan = make_instance()
    leftover = Path(archive.files_dir) / ".incoming-abc.part"
    leftover.write_bytes(write_instance(orphan, tmp_path / "orphan").read_bytes())
    nested = Path(archive.files_dir) / "1.2.3" / "x.dcm.part"
    nested.parent.mkdir()
    nested.write_bytes(b"half a file")
    found = archive.scan_files()
    assert len(found) == 1 and found[0].endswith(".dcm")
    assert not leftover.exists() and not nested.exists()
    assert archive.reindex() == (1, [], 0)
    assert counts(archive) == (1, 1, 1, 1)
    assert archive.index.instance_metadata([orphan.SOPInstanceUID]) == []


def test_reindex_removes_rows_whose_file_is_gone_and_prunes_what_they_leave(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    ct = add(patient_id="DK-1", modality="CT")
    mr = add(patient_id="DK-1", study_uid=ct.StudyInstanceUID, modality="MR",
             sop_class=SECONDARY_CAPTURE)
    other = add(patient_id="DK-2", patient_name="Roe^Richard")
    assert counts(archive) == (2, 2, 3, 3)
    for ds in (mr, other):
        os.unlink(safe_uid_path(archive.files_dir, ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                ds.SOPInstanceUID))
    assert archive.reindex() == (1, [], 2)
    assert counts(archive) == (1, 1, 1, 1)  # the MR series, study B and patient DK-2 went
    row = study_row(archive, ct.StudyInstanceUID, "ModalitiesInStudy", "SOPClassesInStudy")
    assert values(row, "00080061") == ["CT"]
    assert values(row, "00080062") == [ct.SOPClassUID]
    assert archive.index.instance_metadata([mr.SOPInstanceUID, other.SOPInstanceUID]) == []
    assert archive.reindex() == (1, [], 0)  # nothing more to remove


def test_reindex_of_an_archive_whose_files_are_all_gone_empties_the_index(
        archive: Archive, add: Callable[..., Dataset]) -> None:
    for _ in range(3):
        add()
    for path in archive.scan_files():
        os.unlink(path)
    assert archive.reindex() == (0, [], 3)
    assert counts(archive) == (0, 0, 0, 0)


def test_rm_removes_the_folders_it_leaves_empty(archive: Archive,
                                                add: Callable[..., Dataset]) -> None:
    first = add()
    second = add(study_uid=first.StudyInstanceUID, series_uid=first.SeriesInstanceUID, number=2)
    other_series = add(study_uid=first.StudyInstanceUID)
    files = Path(archive.files_dir)
    study = files / first.StudyInstanceUID
    series = study / first.SeriesInstanceUID
    assert archive.delete("IMAGE", first.SOPInstanceUID) == 1
    assert series.is_dir()  # second is still in it
    assert archive.delete("IMAGE", second.SOPInstanceUID) == 1
    assert not series.exists() and study.is_dir()  # the other series is still there
    assert archive.delete("STUDY", other_series.StudyInstanceUID) == 1
    assert not study.exists()
    assert files.is_dir() and list(files.iterdir()) == []  # files/ itself stays
    assert counts(archive) == (0, 0, 0, 0)


def test_rm_keeps_a_folder_with_other_files_in_it(archive: Archive,
                                                  add: Callable[..., Dataset]) -> None:
    ds = add()
    series = Path(archive.files_dir) / ds.StudyInstanceUID / ds.SeriesInstanceUID
    (series / "notes.txt").write_text("not ours")
    assert archive.delete("SERIES", ds.SeriesInstanceUID) == 1
    assert (series / "notes.txt").exists()


def test_a_store_whose_folder_rm_just_removed_creates_it_again(tmp_path: Path) -> None:
    from dicomkit.durable import rename_into_place

    files = tmp_path / "files"
    files.mkdir()
    tmp = files / ".incoming-x.part"
    tmp.write_bytes(b"data")
    final = files / "1.2" / "1.2.3" / "1.2.3.4.dcm"  # its folders are gone (rm emptied them)
    folders = rename_into_place(str(tmp), str(final), [str(final.parent)])
    assert final.read_bytes() == b"data" and not tmp.exists()
    assert str(files) in folders  # the parent of each created folder is fsynced too


# -- unsafe UIDs ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["..", "../../etc", "1.2/3", "/abs", "1.2.3\\..\\x"])
def test_uid_that_could_escape_the_storage_folder_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidDicomError):
        safe_uid_path(str(tmp_path), "1.2.3", bad, "1.2.4")
    with pytest.raises(InvalidDicomError):
        safe_uid_path(str(tmp_path), "1.2.3", "1.2.4", bad)


def test_import_of_an_instance_with_an_unsafe_uid_is_refused(archive: Archive,
                                                             tmp_path: Path) -> None:
    ds = make_instance(series_uid="../../../outside")
    with pytest.raises(InvalidDicomError):
        archive.import_file(str(write_instance(ds, tmp_path / "incoming")))
    assert counts(archive) == (0, 0, 0, 0)
    assert os.listdir(archive.files_dir) == []
    assert not (tmp_path / "outside.dcm").exists()


@pytest.mark.parametrize("level", ["STUDY", "SERIES", "IMAGE"])
def test_pages_are_slices_of_the_whole_answer(archive: Archive, add: Callable[..., Dataset],
                                              level: str) -> None:
    """limit/offset (QIDO-RS paging) return exactly the slices of the unpaged, pk-ordered
    answer; the page's keys are found first, then its columns."""
    from dicomkit.archive.matching import compile_query

    for n in range(9):
        add(patient_id=f"PAGE-{n % 3}", study_date=f"2024010{n % 5 + 1}",
            study_uid=f"1.2.826.0.1.3680043.10.1.{n % 4 + 1}",
            series_uid=f"1.2.826.0.1.3680043.10.2.{n % 3 + 1}{n % 4 + 1}")
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    uid_key = {"STUDY": "0020000D", "SERIES": "0020000E", "IMAGE": "00080018"}[level]
    if level == "STUDY":
        identifier.StudyDate = "20240101-20240104"
        identifier.PatientID = "PAGE-*"  # a key of the level above: its join is needed
    else:  # below the study level, within one study (hierarchical, PS3.4 C.4.1.3.1.1)
        identifier.StudyInstanceUID = "1.2.826.0.1.3680043.10.1.1"
        identifier.SeriesInstanceUID = None
        if level == "IMAGE":
            del identifier.SeriesInstanceUID
            identifier.SOPInstanceUID = None
    query = compile_query(identifier, "study")
    whole = [row[uid_key]["Value"][0] for row in archive.index.search(query)]
    assert len(whole) >= 3
    for limit, offset in ((2, 0), (2, 1), (3, 2), (10, 0), (1, len(whole) - 1), (5, len(whole))):
        page = [row[uid_key]["Value"][0]
                for row in archive.index.search(query, limit=limit, offset=offset)]
        assert page == whole[offset:offset + limit], (limit, offset)


def test_the_migrations_form_one_chain() -> None:
    """Two revisions landed with the same number or parent give alembic two heads, and then
    no index can be opened: each revision's number is its position, and there is one head."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import dicomkit.archive.index as index_module

    config = Config()
    config.set_main_option("script_location",
                           str(Path(index_module.__file__).with_name("migrations")))
    script = ScriptDirectory.from_config(config)
    heads = script.get_heads()
    assert len(heads) == 1, f"alembic heads {heads}: renumber the later migration"
    chain = [revision.revision for revision in script.walk_revisions()][::-1]
    assert chain == [f"{n:04d}" for n in range(1, len(chain) + 1)], chain


# -- pre-encoded C-FIND elements (migration 0010) -------------------------------------------------
def test_patients_and_studies_keep_their_attributes_pre_encoded(archive: Archive,
                                                                tmp_path: Path) -> None:
    """add_instance writes ``dimse`` (services.identifiers.level_fragment of ``attrs``); a row
    without one (indexed before 0010) is filled by fill_fragments, as reindex does."""
    import json

    from dicomkit.services.identifiers import level_fragment

    ds = make_instance(PatientName="DOE^JANE", StudyDescription="CHEST")
    archive.import_file(str(write_instance(ds, tmp_path / "a")))
    with archive.index.engine.begin() as connection:
        written = {table: connection.execute(text(f"SELECT attrs, dimse FROM {table}")).one()
                   for table in ("patients", "studies")}
        connection.execute(text("UPDATE patients SET dimse = NULL"))
        connection.execute(text("UPDATE studies SET dimse = NULL"))
    for attrs, dimse in written.values():
        assert bytes(dimse) == level_fragment(json.loads(attrs))
    assert b"CHEST" in bytes(written["studies"][1])
    assert archive.index.fill_fragments() == 2
    with archive.index.engine.connect() as connection:
        for table, (_attrs, dimse) in written.items():
            assert bytes(connection.execute(text(f"SELECT dimse FROM {table}")).scalar_one()) \
                == bytes(dimse)
