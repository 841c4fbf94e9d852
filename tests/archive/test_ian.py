"""The index side of the Instance Availability Notification SCU (PS3.4 Annex R):
which studies are owed a notification, the claim that makes one node send it, and the owed
messages it leaves in the outbox. Both index back ends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import insert, inspect, text

from dicomkit.archive.ian import KIND, AvailabilityNotifier, install
from dicomkit.archive.schema import mpps
from dicomkit.archive.scp import ArchiveHandler
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.encoding.json import from_json


def handler_for(archive: Archive) -> ArchiveHandler:
    return ArchiveHandler(archive, peers={"RIS": ("127.0.0.1", 1), "VNA": ("127.0.0.1", 2)},
                          ae_title="PACS")


def sops(ds: Dataset) -> set[str]:
    return {str(item.ReferencedSOPInstanceUID) for series in ds.ReferencedSeriesSequence
            for item in series.ReferencedSOPSequence}


def test_stable_study_owed_to_each_peer_once(archive: Archive,
                                             add: Callable[..., Dataset]) -> None:
    handler = handler_for(archive)
    notifier = AvailabilityNotifier(handler, ["RIS", "VNA"], stable=0)
    first = add(study_uid="1.2.3.1", series_uid="1.2.3.1.1")
    second = add(study_uid="1.2.3.1", series_uid="1.2.3.1.2", number=2)
    [owed] = notifier.owed_studies()
    assert owed.study_uid == "1.2.3.1" and owed.notified is None
    assert notifier.owe(owed) == 2
    assert notifier.owed_studies() == []
    messages = handler.outbox.messages(KIND)
    assert [m.destination for m in messages] == ["RIS", "VNA"]
    assert {m.reference for m in messages} == {"1.2.3.1"}
    assert messages[0].payload["sop_instance_uid"] != messages[1].payload["sop_instance_uid"]
    ds = from_json(messages[0].payload["dataset"])
    assert ds.StudyInstanceUID == "1.2.3.1"
    assert sops(ds) == {first.SOPInstanceUID, second.SOPInstanceUID}
    assert [str(s.SeriesInstanceUID) for s in ds.ReferencedSeriesSequence] == \
        ["1.2.3.1.1", "1.2.3.1.2"]


def test_new_instance_makes_the_study_owed_again(archive: Archive,
                                                 add: Callable[..., Dataset]) -> None:
    notifier = AvailabilityNotifier(handler_for(archive), ["RIS"], stable=0)
    add(study_uid="1.2.3.2", series_uid="1.2.3.2.1")
    notifier.owe(notifier.owed_studies()[0])
    late = add(study_uid="1.2.3.2", series_uid="1.2.3.2.1", number=2)
    [owed] = notifier.owed_studies()
    assert owed.notified is not None
    assert notifier.owe(owed) == 1
    last = notifier.handler.outbox.messages(KIND)[-1]
    assert late.SOPInstanceUID in sops(from_json(last.payload["dataset"]))


def test_study_not_yet_stable_is_not_owed(archive: Archive,
                                          add: Callable[..., Dataset]) -> None:
    notifier = AvailabilityNotifier(handler_for(archive), ["RIS"], stable=3600)
    add(study_uid="1.2.3.3")
    assert notifier.owed_studies() == []


def test_a_claimed_study_is_owed_by_one_node_only(archive: Archive,
                                                  add: Callable[..., Dataset]) -> None:
    """Two ``serve`` nodes on one index both see the study owed; the second claim loses
    (the insert of the first notification, then the compare-and-set of a later one)."""
    one = AvailabilityNotifier(handler_for(archive), ["RIS"], stable=0)
    other = AvailabilityNotifier(handler_for(archive), ["RIS"], stable=0)
    add(study_uid="1.2.3.4")
    [seen_by_one], [seen_by_other] = one.owed_studies(), other.owed_studies()
    assert one.owe(seen_by_one) == 1
    assert other.owe(seen_by_other) == 0
    add(study_uid="1.2.3.4", number=2)
    [seen_by_one], [seen_by_other] = one.owed_studies(), other.owed_studies()
    assert other.owe(seen_by_other) == 1
    assert one.owe(seen_by_one) == 0
    assert len(one.handler.outbox.messages(KIND)) == 2


@pytest.mark.parametrize("count", [1, 2])
def test_performed_procedure_step_named_when_exactly_one(
        archive: Archive, add: Callable[..., Dataset], count: int) -> None:
    """PS3.3 C.4.23: zero or one item in Referenced Performed Procedure Step Sequence."""
    notifier = AvailabilityNotifier(handler_for(archive), ["RIS"], stable=0)
    add(study_uid="1.2.3.5")
    with archive.index.engine.begin() as connection:
        for n in range(count):
            connection.execute(insert(mpps).values(sop_uid=f"1.2.3.5.9.{n}", status="COMPLETED",
                                                   study_uid="1.2.3.5"))
    notifier.owe(notifier.owed_studies()[0])
    ds = from_json(notifier.handler.outbox.messages(KIND)[0].payload["dataset"])
    steps: Any = ds.ReferencedPerformedProcedureStepSequence
    if count == 1:
        [step] = steps
        assert step.ReferencedSOPClassUID == registered("ModalityPerformedProcedureStep")
        assert step.ReferencedSOPInstanceUID == "1.2.3.5.9.0"
        assert len(step.PerformedWorkitemCodeSequence) == 0
    else:
        assert len(steps) == 0


def test_install_refuses_a_peer_without_address(archive: Archive) -> None:
    handler = handler_for(archive)
    with pytest.raises(ValueError, match="IAN peer PACS2 has no address"):
        install(handler, ["PACS2"])
    install(handler, [])
    assert KIND in handler.delivery.senders


def test_studies_older_than_the_horizon_are_not_owed(archive: Archive,
                                                     add: Callable[..., Dataset]) -> None:
    add(study_uid="1.2.3.6")
    recent = AvailabilityNotifier(handler_for(archive), ["RIS"], stable=0)
    past = AvailabilityNotifier(handler_for(archive), ["RIS"], stable=0,
                                horizon=dt.timedelta(microseconds=1))
    assert [s.study_uid for s in recent.owed_studies()] == ["1.2.3.6"]
    assert past.owed_studies() == []


def test_the_scan_has_its_index(archive: Archive) -> None:
    """Migration 0005 (and a new database from the schema) index ``studies.updated``."""
    names = {i["name"] for i in inspect(archive.index.engine).get_indexes("studies")}
    assert "ix_studies_updated" in names


def test_migration_0005_adds_the_index_to_an_older_index(archive: Archive) -> None:
    with archive.index.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_studies_updated"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    archive.index.migrate()
    names = {i["name"] for i in inspect(archive.index.engine).get_indexes("studies")}
    assert "ix_studies_updated" in names
    with archive.index.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == "0010"  # the head: 0005 ran, then 0006, 0007, 0008, 0009 and 0010
