"""The archive's MPPS store (PS3.4 F.7) on both index back ends: instances kept and merged, the
worklist step linked in the same transaction, forwarding owed in the outbox."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import insert, select

from dicomkit.archive.mpps import MppsStore
from dicomkit.archive.schema import worklist_items
from dicomkit.archive.store import Archive
from dicomkit.archive.worklist import WorklistStore
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.services.mpps import MppsError, normalized
from tests.support.mpps import STUDY_UID, create_attrs, final_set


def _clean(ds: Dataset) -> Dataset:
    return normalized(ds)[0]


def _worklist_step(archive: Archive, *, sps: str = "SPS1", accession: str = "ACC1",
                   requested: str = "RP1", study: str = STUDY_UID) -> int:
    attrs = {"00400100": {"vr": "SQ", "Value": [
        {"00400009": {"vr": "SH", "Value": [sps]},
         "00400020": {"vr": "CS", "Value": ["SCHEDULED"]}}]}}
    with archive.index.engine.begin() as connection:
        return int(connection.execute(insert(worklist_items).values(
            sps_id=sps, accession_number=accession, requested_procedure_id=requested,
            study_uid=study, status="SCHEDULED", mpps_uid="", attrs=json.dumps(attrs),
            created=dt.datetime.now(dt.UTC)).returning(worklist_items.c.pk)).scalar_one())


def _step(archive: Archive, pk: int) -> tuple[str, str, str]:
    with archive.index.engine.connect() as connection:
        row = connection.execute(select(worklist_items).where(worklist_items.c.pk == pk)).one()
    status = json.loads(row.attrs)["00400100"]["Value"][0]["00400020"]["Value"][0]
    return row.status, row.mpps_uid, status


def test_create_keeps_the_instance_and_its_listing_keys(archive: Archive):
    store = MppsStore(archive.index)
    uid = generate_uid()
    entry = store.create(uid, _clean(create_attrs()), "MODALITY")
    assert (entry.sop_uid, entry.status, entry.calling_ae, entry.station_ae) == \
        (uid, "IN PROGRESS", "MODALITY", "CT1")
    assert (entry.modality, entry.patient_id, entry.patient_name, entry.study_uid,
            entry.accession_number, entry.start_date, entry.start_time) == \
        ("CT", "PID1", "Doe^Jane", STUDY_UID, "ACC1", "20261204", "101500")
    again = store.get(uid)
    assert again is not None and again == entry
    ds = again.dataset()
    assert ds.SOPInstanceUID == uid and ds.PerformedProcedureStepID == "PPS1"
    assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_create_twice_is_0111_and_keeps_the_first(archive: Archive):
    store = MppsStore(archive.index)
    uid = generate_uid()
    store.create(uid, _clean(create_attrs()), "A")
    with pytest.raises(MppsError) as caught:
        store.create(uid, _clean(create_attrs(PatientID="OTHER")), "B")
    assert caught.value.status == 0x0111
    entry = store.get(uid)
    assert entry is not None and (entry.patient_id, entry.calling_ae) == ("PID1", "A")


def test_update_of_an_unknown_instance_is_0112(archive: Archive):
    with pytest.raises(MppsError) as caught:
        MppsStore(archive.index).update(generate_uid(), _clean(final_set()))
    assert caught.value.status == 0x0112


def test_update_merges_and_completes_then_refuses(archive: Archive):
    store = MppsStore(archive.index)
    uid = generate_uid()
    store.create(uid, _clean(create_attrs()), "A")
    done = store.update(uid, _clean(final_set()))
    assert done.status == "COMPLETED"
    ds = done.dataset()
    assert ds.PerformedProcedureStepEndTime == "103000" and ds.PatientID == "PID1"
    assert len(ds.PerformedSeriesSequence) == 1
    with pytest.raises(MppsError) as caught:
        store.update(uid, _clean(final_set("DISCONTINUED")))
    assert (caught.value.status, caught.value.error_id) == (0x0110, 0xA710)
    assert store.get(uid).status == "COMPLETED"  # type: ignore[union-attr]


def test_refused_update_changes_nothing(archive: Archive):
    store = MppsStore(archive.index)
    uid = generate_uid()
    before = store.create(uid, _clean(create_attrs()), "A")
    with pytest.raises(MppsError):
        store.update(uid, _clean(final_set(PerformedSeriesSequence=[])))
    after = store.get(uid)
    assert after is not None and after.attrs == before.attrs and after.status == "IN PROGRESS"


def test_worklist_step_follows_the_mpps(archive: Archive):
    step = _worklist_step(archive)
    other = _worklist_step(archive, sps="SPS2")
    store = MppsStore(archive.index)
    uid = generate_uid()
    store.create(uid, _clean(create_attrs()), "A")
    assert _step(archive, step) == ("STARTED", uid, "STARTED")
    assert _step(archive, other) == ("SCHEDULED", "", "SCHEDULED")
    store.update(uid, _clean(final_set("DISCONTINUED")))
    # COMPLETED / DISCONTINUED are no Scheduled Procedure Step Status terms: the column only
    assert _step(archive, step) == ("DISCONTINUED", uid, "STARTED")
    entry = WorklistStore(archive.index).get(step)
    assert entry is not None and (entry.status, entry.mpps_uid) == ("DISCONTINUED", uid)


def test_worklist_step_of_another_study_is_not_linked(archive: Archive):
    step = _worklist_step(archive, study="1.2.3.999")
    MppsStore(archive.index).create(generate_uid(), _clean(create_attrs()), "A")
    assert _step(archive, step)[0] == "SCHEDULED"


def test_unscheduled_mpps_links_nothing(archive: Archive):
    step = _worklist_step(archive, sps="", accession="", requested="")
    store = MppsStore(archive.index)
    uid = generate_uid()
    store.create(uid, _clean(create_attrs(accession="", requested="", sps="")), "A")
    store.update(uid, _clean(final_set()))
    assert _step(archive, step)[0] == "SCHEDULED"


def test_refused_create_links_nothing(archive: Archive):
    step = _worklist_step(archive)
    with pytest.raises(MppsError):
        MppsStore(archive.index).create(generate_uid(), _clean(create_attrs(Modality=...)), "A")
    assert _step(archive, step)[0] == "SCHEDULED"


def test_forwarding_is_owed_in_order(archive: Archive):
    store = MppsStore(archive.index, forward_to=("RIS", "RIS2"))
    uid = generate_uid()
    store.create(uid, _clean(create_attrs()), "A")
    store.update(uid, _clean(final_set()))
    owed = store.outbox.messages("mpps", uid, owed_only=True)
    assert [(m.destination, m.payload["operation"]) for m in owed] == [
        ("RIS", "create"), ("RIS2", "create"), ("RIS", "set"), ("RIS2", "set")]
    assert owed[0].payload["data"]["00400253"]["Value"] == ["PPS1"]


def test_refused_change_is_not_forwarded(archive: Archive):
    store = MppsStore(archive.index, forward_to=("RIS",))
    uid = generate_uid()
    store.create(uid, _clean(create_attrs()), "A")
    with pytest.raises(MppsError):
        store.update(uid, _clean(final_set(PerformedSeriesSequence=[])))
    assert len(store.outbox.messages("mpps", uid)) == 1


def test_entries_filter_and_order(archive: Archive):
    store = MppsStore(archive.index)
    first, second, third = generate_uid(), generate_uid(), generate_uid()
    store.create(first, _clean(create_attrs(PerformedProcedureStepStartDate="20261201")), "A")
    store.create(second, _clean(create_attrs(PerformedProcedureStepStartDate="20261203")), "A")
    store.create(third, _clean(create_attrs(PerformedProcedureStepStartDate="20261205",
                                            PerformedStationAETitle="MR1")), "A")
    store.update(second, _clean(final_set(PerformedProcedureStepEndDate="20261203")))
    assert [e.sop_uid for e in store.entries()] == [third, second, first]
    assert [e.sop_uid for e in store.entries(status="completed")] == [second]
    assert [e.sop_uid for e in store.entries(status="IN PROGRESS")] == [third, first]
    assert [e.sop_uid for e in store.entries(date="20261202-20261205")] == [third, second]
    assert [e.sop_uid for e in store.entries(date="-20261202")] == [first]
    assert [e.sop_uid for e in store.entries(date="20261203")] == [second]
    assert [e.sop_uid for e in store.entries(station="MR1")] == [third]
    assert len(store.entries(limit=2)) == 2


def test_concurrent_final_n_sets_one_wins(archive: Archive):
    """Two N-SETs racing to a final state: the row lock lets one through, the other meets
    the final state (0110H)."""
    store = MppsStore(archive.index)
    uid = generate_uid()
    store.create(uid, _clean(create_attrs()), "A")

    def finish(status: str) -> object:
        try:
            return store.update(uid, _clean(final_set(status))).status
        except MppsError as exc:
            return exc.status

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(finish, ["COMPLETED", "DISCONTINUED"] * 4))
    assert sorted(map(str, results)).count(str(0x0110)) == 7
    assert store.get(uid).status in results  # type: ignore[union-attr]


def test_the_step_status_is_written_by_the_worklist_store(archive: Archive,
                                                          monkeypatch: pytest.MonkeyPatch):
    """One home for a step's status change: the MPPS link calls WorklistStore.set_status in
    the MPPS transaction (a refused N-SET after it leaves the step as it was)."""
    step = _worklist_step(archive)
    calls: list[tuple[int, str, str | None, bool]] = []
    real = WorklistStore.set_status

    def spy(self: WorklistStore, key: int, status: str, **kwargs: object) -> object:
        calls.append((key, status, kwargs.get("mpps_uid"),  # type: ignore[arg-type]
                      kwargs.get("connection") is not None))
        return real(self, key, status, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(WorklistStore, "set_status", spy)
    store = MppsStore(archive.index)
    uid = generate_uid()
    store.create(uid, _clean(create_attrs()), "A")
    store.update(uid, _clean(final_set()))
    assert calls == [(step, "STARTED", uid, True), (step, "COMPLETED", uid, True)]
    assert _step(archive, step) == ("COMPLETED", uid, "STARTED")
