"""The RIS feed applied to the worklist (archive/ris.py) on SQLite and PostgreSQL: orders
create, change, cancel; ADT updates and merges patients; every refusal is an AE naming the
segment, and a message in error changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from dicomkit.archive.ris import RisFeed
from dicomkit.archive.store import Archive
from dicomkit.archive.worklist import WorklistStore
from tests.support.hl7 import adt_a08, adt_a40, fields, omi, orm


@pytest.fixture
def store(archive: Archive) -> WorklistStore:
    return WorklistStore(archive.index)


@pytest.fixture
def feed(store: WorklistStore) -> RisFeed:
    return RisFeed(store, default_station="CT1")


def send(feed: RisFeed, text: str, encoding: str = "ascii") -> str:
    return asyncio.run(feed.message(text.encode(encoding))).decode(encoding)


def msa(answer: str) -> list[str]:
    return fields(answer, "MSA")


def test_new_order_is_scheduled_after_aa(feed: RisFeed, store: WorklistStore) -> None:
    answer = send(feed, orm())
    assert msa(answer)[1:3] == ["AA", "MSG0001"]
    [entry] = store.entries()
    assert (entry.accession_number, entry.requested_procedure_id, entry.sps_id) == (
        "ACC001", "RP001", "SPS001")
    assert (entry.status, entry.station_ae, entry.modality) == ("SCHEDULED", "CT1", "CT")
    assert entry.study_uid == "1.2.826.0.1.3680043.10.1"


def test_the_same_order_twice_is_ae_205(feed: RisFeed, store: WorklistStore) -> None:
    send(feed, orm())
    answer = send(feed, orm(control_id="MSG0002"))
    assert msa(answer)[1:3] == ["AE", "MSG0002"]
    assert fields(answer, "ERR")[3].startswith("205^")
    assert len(store.entries()) == 1


def test_xo_changes_the_item_and_keeps_its_study(feed: RisFeed, store: WorklistStore) -> None:
    send(feed, orm())
    answer = send(feed, orm("XO", control_id="MSG0002", modality="MR", study_uid="",
                            start="20261205100000"))
    assert msa(answer)[1] == "AA", answer
    [entry] = store.entries()
    assert (entry.modality, entry.start_date) == ("MR", "20261205")
    assert entry.study_uid == "1.2.826.0.1.3680043.10.1"


def test_xo_of_an_unknown_order_is_ae_204(feed: RisFeed) -> None:
    answer = send(feed, orm("XO"))
    assert msa(answer)[1] == "AE"
    assert fields(answer, "ERR")[2].startswith("OBR^1")
    assert fields(answer, "ERR")[3].startswith("204^")


@pytest.mark.parametrize("control, status", [("CA", "CANCELLED"), ("DC", "DISCONTINUED")])
def test_cancel_takes_the_item_off_the_worklist(feed: RisFeed, store: WorklistStore,
                                                control: str, status: str) -> None:
    send(feed, orm())
    assert msa(send(feed, orm(control, control_id="MSG0003")))[1] == "AA"
    [entry] = store.entries()
    assert entry.status == status
    assert store.entries(status="SCHEDULED") == []


def test_status_change(feed: RisFeed, store: WorklistStore) -> None:
    send(feed, orm())
    assert msa(send(feed, orm("SC", order_status="IP")))[1] == "AA"
    assert store.entries()[0].status == "STARTED"


def test_adt_a08_renames_and_a40_merges(feed: RisFeed, store: WorklistStore) -> None:
    send(feed, orm())
    answer = send(feed, adt_a08(name="Doe^Johnny"))
    assert msa(answer)[1] == "AA" and "1 worklist item" in msa(answer)[3]
    [entry] = store.entries()
    assert entry.patient_name == "Doe^Johnny"
    assert msa(send(feed, adt_a40(new="PAT009^^^HOSP")))[1] == "AA"
    [entry] = store.entries()
    assert (entry.patient_id, entry.issuer) == ("PAT009", "HOSP")


def test_omi_with_two_steps(feed: RisFeed, store: WorklistStore) -> None:
    assert msa(send(feed, omi(steps=2)))[1] == "AA"
    assert sorted(e.sps_id for e in store.entries()) == ["SPS001", "SPS002"]


def test_a_message_in_error_changes_nothing(feed: RisFeed, store: WorklistStore) -> None:
    """The second step is a duplicate of a stored one: the first is not added either."""
    send(feed, omi(steps=1))
    answer = send(feed, omi(steps=2, control_id="MSG0102"))
    assert msa(answer)[1] == "AE"
    assert fields(answer, "ERR")[2].startswith("IPC^1")
    assert [e.sps_id for e in store.entries()] == ["SPS001"]


def test_utf8_name_is_stored(feed: RisFeed, store: WorklistStore) -> None:
    text = orm(charset="UNICODE UTF-8", name="Müller^Jürgen")
    answer = send(feed, text, "utf-8")
    assert msa(answer)[1] == "AA"
    assert fields(answer, "MSH")[17] == "UNICODE UTF-8"  # MSH-18
    assert store.entries()[0].patient_name == "Müller^Jürgen"


def test_oversized_message_is_ar(store: WorklistStore) -> None:
    feed = RisFeed(store, max_message=64)
    answer = feed.oversized(orm().encode()[:64], 5000).decode()
    assert msa(answer)[1:3] == ["AR", "MSG0001"]
    assert "5000 bytes" in msa(answer)[3]


# -- one transaction per message: all or nothing -------------------------------------------------

def test_a_step_scheduled_twice_in_one_message_changes_nothing(feed: RisFeed,
                                                               store: WorklistStore) -> None:
    """Both IPC steps pass the checks against the stored worklist; the second fails while it
    is applied (the first is then added in the same transaction): AE 205 at IPC^2, and the
    first step is rolled back with it."""
    text = omi(steps=2).replace("|SPS002|", "|SPS001|")
    answer = send(feed, text)
    assert msa(answer)[1] == "AE", answer
    assert fields(answer, "ERR")[2].startswith("IPC^2")
    assert fields(answer, "ERR")[3].startswith("205^")
    assert store.entries() == []


def test_a_failure_while_applying_rolls_the_message_back(
        feed: RisFeed, store: WorklistStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database failing at the second step of a cancel: AE 207 naming the segment, and
    the step cancelled before it is SCHEDULED again (nothing was committed)."""
    send(feed, omi(steps=2))
    calls: list[int] = []
    real = WorklistStore.set_status

    def failing(self: WorklistStore, key: int, status: str, **kwargs: object) -> object:
        calls.append(key)
        if len(calls) == 2:
            raise RuntimeError("connection to the index lost")
        return real(self, key, status, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(WorklistStore, "set_status", failing)
    answer = send(feed, omi("CA", control_id="MSG0103", steps=2))
    assert len(calls) == 2
    assert msa(answer)[1] == "AE", answer
    assert fields(answer, "ERR")[3].startswith("207^")
    assert "nothing of the message was applied" in msa(answer)[3] + answer
    monkeypatch.undo()
    assert sorted((e.sps_id, e.status) for e in store.entries()) == [
        ("SPS001", "SCHEDULED"), ("SPS002", "SCHEDULED")]


def test_a_merge_that_fails_after_writing_changes_nothing(
        feed: RisFeed, store: WorklistStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """ADT^A40 in the message's transaction too: rows the merge rewrote before the failure
    are rolled back."""
    send(feed, orm())
    real = WorklistStore.merge_patient

    def failing(self: WorklistStore, *args: object, **kwargs: object) -> int:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("disk I/O error")

    monkeypatch.setattr(WorklistStore, "merge_patient", failing)
    answer = send(feed, adt_a40(new="PAT009^^^HOSP"))
    assert msa(answer)[1] == "AE"
    assert fields(answer, "ERR")[3].startswith("207^")
    monkeypatch.undo()
    [entry] = store.entries()
    assert (entry.patient_id, entry.issuer) == ("PAT001", "HOSP")
