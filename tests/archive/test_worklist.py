"""Worklist items in the index (PS3.4 K.6.1): validation, duplicates, status, patient
updates and Modality Worklist matching, on SQLite and PostgreSQL (the ``archive`` fixture)."""

from __future__ import annotations

from typing import Any

import pytest

from dicomkit.archive.store import Archive
from dicomkit.archive.worklist import WorklistError, WorklistStore
from dicomkit.core.dataset import Dataset


def make_item(accession: str = "A1", rp_id: str = "RP1", sps_id: str = "S1", *,
              station: str | list[str] = "CT1", modality: str = "CT", date: str = "20261204",
              time: str = "093000", name: str = "Doe^John", patient_id: str = "P1",
              charset: str | None = None, steps: int = 1, **extra: Any) -> Dataset:
    item = Dataset()
    if charset:
        item.SpecificCharacterSet = charset
    item.PatientName = name
    item.PatientID = patient_id
    item.PatientBirthDate = "19700101"
    item.PatientSex = "M"
    item.AccessionNumber = accession
    item.RequestedProcedureID = rp_id
    item.RequestedProcedureDescription = "Chest"
    for keyword, value in extra.items():
        item.set(keyword, value)
    sequence = []
    for n in range(steps):
        step = Dataset()
        step.ScheduledStationAETitle = station
        step.Modality = modality
        step.ScheduledProcedureStepStartDate = date
        step.ScheduledProcedureStepStartTime = time
        step.ScheduledProcedureStepID = sps_id if n == 0 else f"{sps_id}-{n + 1}"
        step.ScheduledProcedureStepDescription = f"step {n + 1}"
        step.ScheduledPerformingPhysicianName = "Tech^Terry"
        sequence.append(step)
    item.ScheduledProcedureStepSequence = sequence
    return item


@pytest.fixture
def store(archive: Archive) -> WorklistStore:
    return WorklistStore(archive.index)


def query(**top: Any) -> Dataset:
    """A worklist identifier: the usual return keys, ``step_…`` keys inside the step."""
    identifier = Dataset()
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "RequestedProcedureID",
                    "StudyInstanceUID"):
        identifier.set(keyword, None)
    step = Dataset()
    for keyword in ("ScheduledStationAETitle", "Modality", "ScheduledProcedureStepStartDate",
                    "ScheduledProcedureStepStartTime", "ScheduledProcedureStepID"):
        step.set(keyword, None)
    for keyword, value in top.items():
        if keyword.startswith("step_"):
            step.set(keyword[5:], value)
        else:
            identifier.set(keyword, value)
    identifier.ScheduledProcedureStepSequence = [step]
    return identifier


def sps_ids(store: WorklistStore, identifier: Dataset) -> list[str]:
    return sorted(str(r.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID)
                  for r in store.search(identifier))


def test_an_item_with_two_steps_is_two_rows_sharing_a_generated_study_uid(
        store: WorklistStore) -> None:
    entries = store.add(make_item(steps=2))
    assert [e.sps_id for e in entries] == ["S1", "S1-2"]
    assert entries[0].study_uid and entries[0].study_uid == entries[1].study_uid
    assert all(e.status == "SCHEDULED" for e in entries)
    ds = entries[1].dataset()
    assert len(ds.ScheduledProcedureStepSequence) == 1
    assert ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription == "step 2"
    assert ds.StudyInstanceUID == entries[0].study_uid


def test_a_given_study_uid_is_kept(store: WorklistStore) -> None:
    entry, = store.add(make_item(StudyInstanceUID="1.2.3.4"))
    assert entry.study_uid == "1.2.3.4"


@pytest.mark.parametrize(("change", "named"), [
    (lambda i: delattr(i, "PatientID"), "PatientID (0010,0020)"),
    (lambda i: delattr(i, "RequestedProcedureID"), "RequestedProcedureID (0040,1001)"),
    (lambda i: delattr(i, "ScheduledProcedureStepSequence"),
     "ScheduledProcedureStepSequence (0040,0100)"),
    (lambda i: delattr(i.ScheduledProcedureStepSequence[0], "Modality"),
     "item 1: Modality (0008,0060)"),
    (lambda i: delattr(i.ScheduledProcedureStepSequence[0], "ScheduledStationAETitle"),
     "ScheduledStationAETitle (0040,0001)"),
    (lambda i: delattr(i.ScheduledProcedureStepSequence[0], "ScheduledProcedureStepID"),
     "ScheduledProcedureStepID (0040,0009)"),
    (lambda i: setattr(i.ScheduledProcedureStepSequence[0],
                       "ScheduledProcedureStepStartDate", "2026-12-04"),
     "ScheduledProcedureStepStartDate (0040,0002)"),
    (lambda i: setattr(i, "AccessionNumber", "X" * 17), "AccessionNumber (0008,0050)"),
    (lambda i: setattr(i, "PatientID", "P\x01"), "control character 01H"),
])
def test_invalid_items_are_refused_naming_the_attribute(store: WorklistStore, change: Any,
                                                        named: str) -> None:
    item = make_item()
    change(item)
    with pytest.raises(WorklistError, match=named.replace("(", r"\(").replace(")", r"\)")):
        store.add(item)
    assert store.entries() == []


def test_a_station_name_stands_for_a_missing_station_ae_title(store: WorklistStore) -> None:
    item = make_item()
    del item.ScheduledProcedureStepSequence[0].ScheduledStationAETitle
    item.ScheduledProcedureStepSequence[0].ScheduledStationName = "ROOM 4"
    entry, = store.add(item)
    assert entry.station_ae == ""


def test_a_step_id_is_unique_per_requested_procedure(store: WorklistStore) -> None:
    store.add(make_item())
    with pytest.raises(WorklistError, match="scheduled already"):
        store.add(make_item())
    store.add(make_item(rp_id="RP2"))  # another requested procedure may reuse it
    item = make_item(accession="A2")
    item.ScheduledProcedureStepSequence = [item.ScheduledProcedureStepSequence[0]] * 2
    with pytest.raises(WorklistError, match="used by another step"):
        store.add(item)
    assert len(store.entries()) == 2


def test_status_changes_and_offered_statuses(store: WorklistStore) -> None:
    first, = store.add(make_item())
    second, = store.add(make_item(accession="A2"))
    changed = store.set_status(first.key, "started", mpps_uid="1.2.9")
    assert (changed.status, changed.mpps_uid) == ("STARTED", "1.2.9")
    assert changed.dataset().ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus \
        == "STARTED"
    assert [r.AccessionNumber for r in store.search(query())] == ["A2"]
    with pytest.raises(WorklistError, match="unknown worklist status"):
        store.set_status(second.key, "DONE")
    assert store.delete(second.key) and not store.delete(second.key)
    assert store.get(second.key) is None


def test_replace_keeps_status_and_refuses_a_taken_step(store: WorklistStore) -> None:
    first, = store.add(make_item())
    store.add(make_item(accession="A2"))
    store.set_status(first.key, "ARRIVED")
    replaced = store.replace(first.key, make_item(modality="MR"))
    assert (replaced.modality, replaced.status, replaced.key) == ("MR", "ARRIVED", first.key)
    with pytest.raises(WorklistError, match="scheduled already"):
        store.replace(first.key, make_item(accession="A2"))
    with pytest.raises(WorklistError, match="exactly one"):
        store.replace(first.key, make_item(steps=2))


def test_entries_filters(store: WorklistStore) -> None:
    store.add(make_item("A1", date="20261203", station="CT1"))
    store.add(make_item("A2", date="20261204", station="CT2", modality="MR"))
    store.add(make_item("A3", date="20261205", station="CT1"))
    assert [e.accession_number for e in store.entries(date="20261204-")] == ["A2", "A3"]
    assert [e.accession_number for e in store.entries(date="20261204")] == ["A2"]
    assert [e.accession_number for e in store.entries(station="CT1")] == ["A1", "A3"]
    assert [e.accession_number for e in store.entries(modality="MR")] == ["A2"]
    assert [e.accession_number for e in store.entries(limit=1)] == ["A1"]
    with pytest.raises(WorklistError, match="date '2026x'"):
        store.entries(date="2026x")


def test_patient_update_and_merge(store: WorklistStore) -> None:
    store.add(make_item("A1", patient_id="P1"))
    store.add(make_item("A2", patient_id="P1"))
    store.add(make_item("A3", patient_id="P2"))
    changes = Dataset()
    changes.PatientName = "Doe^Jane"
    assert store.update_patient("P1", "", changes) == 2
    assert {e.patient_name for e in store.entries(patient_id="P1")} == {"Doe^Jane"}
    assert store.merge_patient("P2", "", "P1", "") == 1
    assert len(store.entries(patient_id="P1")) == 3
    assert sorted(r.AccessionNumber for r in store.search(query(PatientName="Doe^Ja*"))) \
        == ["A1", "A2"]
    assert [r.PatientID for r in store.search(query(PatientName="Doe^John"))] == ["P1"]


def test_station_and_date_matching(store: WorklistStore) -> None:
    store.add(make_item("A1", sps_id="1", station="CT1", date="20261204"))
    store.add(make_item("A2", sps_id="2", station="CT2", date="20261204"))
    store.add(make_item("A3", sps_id="3", station="CT1", date="20261205"))
    store.add(make_item("A4", sps_id="4", station=["MR1", "CT1"], date="20261204"))
    found = query(step_ScheduledStationAETitle="CT1", step_ScheduledProcedureStepStartDate="20261204")
    assert sps_ids(store, found) == ["1", "4"]
    assert sps_ids(store, query(step_ScheduledProcedureStepStartDate="20261205-")) == ["3"]
    assert sps_ids(store, query(step_ScheduledStationAETitle="MR1")) == ["4"]


def test_multi_station_steps_are_found_through_the_station_date_index(
        store: WorklistStore) -> None:
    """A step on several stations has the lone ``\\`` in its station column, and the query
    is ``station_ae = 'CT1' OR station_ae = '\\'`` (no LIKE), which both databases answer
    from the (station_ae, start_date) index; 0008 rewrote the columns stored before it."""
    from sqlalchemy import select, text, update

    from dicomkit.archive.schema import worklist_items

    store.add(make_item("A1", sps_id="1", station=["MR1", "CT1"], date="20261204"))
    store.add(make_item("A2", sps_id="2", station=["CT2", "US1"], date="20261204"))
    store.add(make_item("A3", sps_id="3", station="CT1", date="20261204"))
    with store.index.engine.connect() as connection:
        assert sorted(connection.execute(select(worklist_items.c.station_ae)).scalars()) == \
            ["CT1", "\\", "\\"]
    compiled = store.compile(query(step_ScheduledStationAETitle="CT1"))
    assert "LIKE" not in " ".join(str(condition) for condition in compiled.where)
    assert sps_ids(store, query(step_ScheduledStationAETitle="CT1")) == ["1", "3"]
    assert sps_ids(store, query(step_ScheduledStationAETitle="CT*")) == ["1", "2", "3"]
    assert sps_ids(store, query(step_ScheduledStationAETitle="US1")) == ["2"]
    # a column as stored before 0008 (the titles joined), then the migration
    with store.index.engine.begin() as connection:
        connection.execute(update(worklist_items).where(
            worklist_items.c.accession_number == "A1").values(station_ae="MR1\\CT1"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    store.index.migrate()
    with store.index.engine.connect() as connection:
        assert sorted(connection.execute(select(worklist_items.c.station_ae)).scalars()) == \
            ["CT1", "\\", "\\"]
    assert sps_ids(store, query(step_ScheduledStationAETitle="CT1")) == ["1", "3"]


def test_a_date_range_and_a_time_range_are_one_date_time_range(store: WorklistStore) -> None:
    """PS3.4 Table K.6-1: July 5 to 7 with 10am to 6pm is July 5 10:00 to July 7 18:00."""
    for n, (date, time) in enumerate([("20260705", "0900"), ("20260705", "1000"),
                                      ("20260706", "0700"), ("20260706", "2300"),
                                      ("20260707", "1800"), ("20260707", "180030"),
                                      ("20260704", "1200"), ("20260707", "181500")]):
        store.add(make_item(f"A{n}", sps_id=str(n), date=date, time=time))
    found = query(step_ScheduledProcedureStepStartDate="20260705-20260707",
                  step_ScheduledProcedureStepStartTime="1000-1800")
    # the upper bound's last unit (18:00) is included (C.2.2.2.5): 18:00:30, not 18:15
    assert sps_ids(store, found) == ["1", "2", "3", "4", "5"]
    # a single date with a time range: that day's window
    found = query(step_ScheduledProcedureStepStartDate="20260706",
                  step_ScheduledProcedureStepStartTime="0600-1200")
    assert sps_ids(store, found) == ["2"]
    # a time range alone: that window on every day
    assert sps_ids(store, query(step_ScheduledProcedureStepStartTime="1100-1300")) == ["6"]


def test_person_names_wildcards_and_groups(store: WorklistStore) -> None:
    store.add(make_item("A1", sps_id="1", name="Yamada^Tarou=山田^太郎=やまだ^たろう",
                        charset="ISO 2022 IR 87"))
    store.add(make_item("A2", sps_id="2", name="Müller^Hans", charset="ISO_IR 100"))
    store.add(make_item("A3", sps_id="3", name="Doe^John"))
    assert sps_ids(store, query(PatientName="Yamada*")) == ["1"]
    assert sps_ids(store, query(PatientName="=山田*")) == ["1"]
    assert sps_ids(store, query(PatientName="M?ller*")) == ["2"]
    assert sps_ids(store, query(PatientName="*")) == ["1", "2", "3"]
    answer, = store.search(query(PatientName="=山田*"))
    assert list(answer.SpecificCharacterSet) == ["ISO 2022 IR 87"] or \
        answer.SpecificCharacterSet == "ISO 2022 IR 87"
    assert str(answer.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert sps_ids(store, query(step_ScheduledPerformingPhysicianName="Tech*")) == \
        ["1", "2", "3"]


def test_return_keys_are_zero_length_when_the_item_has_none(store: WorklistStore) -> None:
    store.add(make_item())
    identifier = query(PatientWeight=None, AdmissionID=None, ReferencedStudySequence=[])
    step = identifier.ScheduledProcedureStepSequence[0]
    step.ScheduledProcedureStepLocation = None
    answer, = store.search(identifier)
    assert "PatientWeight" in answer and answer.PatientWeight is None
    assert "ReferencedStudySequence" in answer and len(answer.ReferencedStudySequence) == 0
    answered_step = answer.ScheduledProcedureStepSequence[0]
    assert "ScheduledProcedureStepLocation" in answered_step
    assert "ScheduledProcedureStepDescription" not in answered_step  # not asked for
    assert answer.StudyInstanceUID


def test_other_keys_match_on_the_stored_item(store: WorklistStore) -> None:
    store.add(make_item("A1", sps_id="1"))
    item = make_item("A2", sps_id="2")
    item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription = "head"
    item.RequestedProcedureDescription = "Brain"
    store.add(item)
    assert sps_ids(store, query(step_ScheduledProcedureStepDescription="he*")) == ["2"]
    assert sps_ids(store, query(RequestedProcedureDescription="Chest")) == ["1"]


def test_an_identifier_with_two_step_items_is_refused(store: WorklistStore) -> None:
    from dicomkit.archive.matching import QueryError

    identifier = query()
    identifier.ScheduledProcedureStepSequence = [Dataset(), Dataset()]
    with pytest.raises(QueryError, match="single item"):
        list(store.search(identifier))


def test_a_key_with_a_forbidden_control_character_is_refused(store: WorklistStore) -> None:
    from dicomkit.archive.matching import QueryError

    store.add(make_item())
    with pytest.raises(QueryError, match="control character 00H"):
        list(store.search(query(PatientID="P\x001")))


def test_empty_value_matching_selects_items_without_the_attribute(store: WorklistStore) -> None:
    store.add(make_item("A1", sps_id="1", AdmissionID="ADM1"))
    store.add(make_item("A2", sps_id="2"))
    assert sps_ids(store, query(AdmissionID='""')) == ["2"]
    assert sps_ids(store, query(AdmissionID="ADM*")) == ["1"]
    assert sps_ids(store, query(step_ScheduledStationName='""')) == ["1", "2"]


def test_changes_in_the_callers_transaction_commit_or_roll_back_with_it(
        store: WorklistStore) -> None:
    """``connection=``: the changes are the caller's, seen inside its transaction and gone
    when it rolls back; without it each change commits on its own."""
    [kept] = store.add(make_item("A0", sps_id="S0"))
    with pytest.raises(RuntimeError), store.transaction() as connection:
        [added] = store.add(make_item(), connection=connection)
        assert store.find_steps(sps_id="S1", connection=connection)[0].key == added.key
        store.set_status(kept.key, "CANCELLED", connection=connection)
        assert store.update_patient("P1", "", _named("Roe^Jim"), connection=connection) == 2
        assert store.delete(kept.key, connection=connection)
        raise RuntimeError("the caller fails after the changes")
    assert [(e.key, e.status, e.patient_name) for e in store.entries()] == [
        (kept.key, "SCHEDULED", "Doe^John")]
    with store.transaction() as connection:
        store.add(make_item(), connection=connection)
        store.set_status(kept.key, "READY", connection=connection)
    assert sorted((e.sps_id, e.status) for e in store.entries()) == [
        ("S0", "READY"), ("S1", "SCHEDULED")]


def _named(name: str) -> Dataset:
    changes = Dataset()
    changes.PatientName = name
    return changes
