"""The archive's DIMSE SCP (archive/scp.py) in-process, on SQLite and PostgreSQL: what it
accepts at negotiation, C-STORE failure statuses and the C-FIND keys the archive answers
itself (Retrieve AE Title, Instance Availability, Timezone Offset From UTC)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.scp import ArchiveHandler, out_of_resources
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.net.client import Client, connect
from dicomkit.net.server import Server
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS
from tests.support.datasets import CT_IMAGE_STORAGE, make_instance

AET = "ARCHIVE"
TS = list(UNCOMPRESSED_TS[:2])


def session(archive: Archive, contexts: list[tuple[str, list[str]]],
            work: Callable[[Client], Awaitable[Any]], called: str = AET) -> Any:
    """Run ``work`` on an association with an in-process archive SCP."""

    async def go() -> Any:
        server = Server(handler=ArchiveHandler(archive, ae_title=AET), ae_title=AET, port=0)
        await server.start()
        try:
            async with connect("127.0.0.1", server.port, calling_aet="TESTSCU",
                               called_aet=called, contexts=contexts) as client:
                return await work(client)
        finally:
            await server.stop()

    return asyncio.run(go())


def find(archive: Archive, keys: dict[str, Any], model: str = "study") -> tuple[list[Dataset],
                                                                                  int]:
    identifier = Dataset()
    for keyword, value in keys.items():
        identifier.set(keyword, value)

    async def work(client: Client) -> tuple[list[Dataset], int]:
        matches, final = [], -1
        async for status, match in client.find(identifier, model):
            if status == 0xFF00 and match is not None:
                matches.append(match)
            else:
                final = status
        return matches, final

    return session(archive, [(MODELS[model]["find"], TS)], work)


# -- negotiation ------------------------------------------------------------------------------
def test_modality_worklist_find_is_accepted_at_negotiation(archive: Archive) -> None:
    """Modality Worklist FIND (PS3.4 K.6.1) is offered next to Q/R FIND: both accepted."""
    worklist, study = MODELS["worklist"]["find"], MODELS["study"]["find"]

    async def work(client: Client) -> dict[str, int]:
        proposed = {c.id: c.abstract_syntax for c in client.association.request.contexts}
        return {proposed[c.id]: c.result for c in client.association.accept.contexts}

    results = session(archive, [(worklist, TS), (study, TS)], work)
    assert results == {worklist: 0, study: 0}


# -- C-STORE statuses -------------------------------------------------------------------------
def store_status(archive: Archive, tmp_path: Path) -> int:
    ds = make_instance()

    async def work(client: Client) -> int:
        return int((await client.store(ds)).Status)

    return session(archive, [(CT_IMAGE_STORAGE, TS)], work)


def test_an_index_failure_is_0110_processing_failure(
        archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("INSERT …", {}, sqlite3.OperationalError("no such table: x"))

    monkeypatch.setattr(ArchiveIndex, "add_instance", broken)
    assert store_status(archive, tmp_path) == 0x0110


def test_an_index_out_of_space_is_still_a700(
        archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("INSERT …", {},
                               sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(ArchiveIndex, "add_instance", full)
    assert store_status(archive, tmp_path) == 0xA700


def test_a_file_system_failure_is_still_a700(
        archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive, "_write_temporary", no_space)
    assert store_status(archive, tmp_path) == 0xA700
    assert archive.index.stats()["instances"] == 0


def test_which_index_errors_are_out_of_resources() -> None:
    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    def wrapped(orig: BaseException) -> OperationalError:
        return OperationalError("statement", {}, orig)

    assert out_of_resources(wrapped(PgError("53100")))  # disk_full
    assert out_of_resources(wrapped(PgError("53300")))  # too_many_connections
    assert not out_of_resources(wrapped(PgError("23505")))  # unique_violation
    assert not out_of_resources(wrapped(sqlite3.OperationalError("database is locked")))
    assert out_of_resources(MemoryError())
    assert not out_of_resources(RuntimeError("bug"))


# -- C-FIND keys the archive answers itself ---------------------------------------------------
LOCATION = {"RetrieveAETitle": None, "InstanceAvailability": None,
            "TimezoneOffsetFromUTC": None}


@pytest.mark.parametrize(("level", "unique"), [("STUDY", "StudyInstanceUID"),
                                               ("SERIES", "SeriesInstanceUID"),
                                               ("IMAGE", "SOPInstanceUID")])
def test_retrieve_ae_title_and_instance_availability_are_returned(
        archive: Archive, add: Callable[..., Dataset], level: str, unique: str) -> None:
    ds = add(TimezoneOffsetFromUTC="+0100")
    matches, status = find(archive, {"QueryRetrieveLevel": level, unique: None, **LOCATION})
    assert status == 0 and len(matches) == 1
    [match] = matches
    assert str(match[unique].value) == str(ds[unique].value)
    assert match.RetrieveAETitle == AET
    assert match.InstanceAvailability == "ONLINE"
    # Timezone Offset From UTC is an instance attribute: its stored value at the IMAGE level,
    # zero length above it (not left out: it was requested).
    assert "TimezoneOffsetFromUTC" in match
    assert (match.TimezoneOffsetFromUTC or "") == ("+0100" if level == "IMAGE" else "")


def test_patient_root_patient_level_returns_them_too(archive: Archive,
                                                     add: Callable[..., Dataset]) -> None:
    add(patient_id="DK-7")
    matches, status = find(archive, {"QueryRetrieveLevel": "PATIENT", "PatientID": "DK-7",
                                     **LOCATION}, model="patient")
    assert status == 0 and len(matches) == 1
    assert (matches[0].RetrieveAETitle, matches[0].InstanceAvailability) == (AET, "ONLINE")


def test_location_keys_are_not_returned_unless_requested(archive: Archive,
                                                         add: Callable[..., Dataset]) -> None:
    add()
    matches, status = find(archive, {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": None})
    assert status == 0 and len(matches) == 1
    for keyword in LOCATION:
        assert keyword not in matches[0]


def test_a_value_given_for_them_is_not_matched(archive: Archive,
                                               add: Callable[..., Dataset]) -> None:
    add()
    matches, status = find(archive, {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": None,
                                     "RetrieveAETitle": "ELSEWHERE",
                                     "InstanceAvailability": "OFFLINE"})
    assert status == 0 and len(matches) == 1
    assert (matches[0].RetrieveAETitle, matches[0].InstanceAvailability) == (AET, "ONLINE")


# -- C-GET by keys without a column -----------------------------------------------------------
def get(archive: Archive, keys: dict[str, Any]) -> tuple[list[str], int]:
    """C-GET (Study Root) on an in-process archive SCP: the SOP Instance UIDs of the
    sub-operations received, in order, and the final status."""
    identifier = Dataset()
    for keyword, value in keys.items():
        identifier.set(keyword, value)
    received: list[str] = []

    async def on_store(ds: Dataset, message: Any) -> int:
        received.append(str(ds.SOPInstanceUID))
        return 0

    async def go() -> tuple[list[str], int]:
        server = Server(handler=ArchiveHandler(archive, ae_title=AET), ae_title=AET, port=0)
        await server.start()
        try:
            async with connect("127.0.0.1", server.port, calling_aet="TESTSCU", called_aet=AET,
                               contexts=[(MODELS["study"]["get"], TS), (CT_IMAGE_STORAGE, TS)],
                               scp_roles=[CT_IMAGE_STORAGE]) as client:
                responses = [rsp async for rsp in client.get(identifier, on_store=on_store)]
                return received, int(responses[-1].Status)
        finally:
            await server.stop()

    return asyncio.run(go())


def test_c_get_by_an_instance_key_without_a_column(archive: Archive,
                                                   add: Callable[..., Dataset]) -> None:
    """Image Comments has no column: it is matched against each instance's stored attributes
    (PS3.4 C.2.2.2), and only the instances it selects are sent."""
    first = add(ImageComments="keep", number=1)
    same = {"study_uid": first.StudyInstanceUID, "series_uid": first.SeriesInstanceUID}
    add(**same, ImageComments="drop", number=2)
    third = add(**same, ImageComments="keep", number=3)
    add(ImageComments="keep")  # another study
    received, status = get(archive, {"QueryRetrieveLevel": "IMAGE",
                                     "StudyInstanceUID": first.StudyInstanceUID,
                                     "SeriesInstanceUID": first.SeriesInstanceUID,
                                     "ImageComments": "keep"})
    assert status == 0
    assert received == [first.SOPInstanceUID, third.SOPInstanceUID]


def test_c_get_by_a_series_key_without_a_column(archive: Archive,
                                                add: Callable[..., Dataset]) -> None:
    """Protocol Name (a series attribute) has no column: every instance of the series it
    selects is sent, series by series in the order they were stored."""
    chest = add(ProtocolName="Chest", number=1)
    study = chest.StudyInstanceUID
    add(study_uid=study, ProtocolName="Head")
    more = add(study_uid=study, series_uid=chest.SeriesInstanceUID, ProtocolName="Chest",
               number=2)
    other = add(study_uid=study, ProtocolName="Chest")
    received, status = get(archive, {"QueryRetrieveLevel": "SERIES", "StudyInstanceUID": study,
                                     "ProtocolName": "Chest"})
    assert status == 0
    assert received == [chest.SOPInstanceUID, more.SOPInstanceUID, other.SOPInstanceUID]
