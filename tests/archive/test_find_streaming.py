"""C-FIND on the archive streams its matches (PS3.4 C.4.1.2.3, a pending response per match as
it is found) instead of collecting them all first, and stops reading the database when the
SCU cancels (C.4.1.3.1). A real association (dicomkit client -> ArchiveHandler on a Server in
its own event loop), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from dicomkit.archive.scp import ArchiveHandler
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.net.client import connect
from dicomkit.net.dimse import Status
from dicomkit.net.server import Server
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS
from dicomkit.services.qr import BATCH, FIRST_BATCH

MATCHES = FIRST_BATCH + BATCH + 24  # the cancel comes during the second batch


class SlowSearch:
    """Wraps ``index.answers`` (the C-FIND matches): rows after the first batch come slowly, as from a big table;
    records when the database produced its last row and whether the cursor was closed."""

    def __init__(self, search: Callable[..., Iterator[Any]]) -> None:
        self.search = search
        self.produced = 0
        self.finished_at: float | None = None
        self.closed = False

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            for row in self.search(*args, **kwargs):
                if self.produced >= FIRST_BATCH:
                    time.sleep(0.004)
                self.produced += 1
                yield row
            self.finished_at = time.monotonic()
        finally:
            self.closed = True


def _populate(add: Callable[..., Dataset]) -> None:
    for n in range(MATCHES):
        add(patient_id=f"STREAM-{n:03d}", patient_name=f"STREAM^{n:03d}")


def _run_server(archive: Archive) -> tuple[Server, asyncio.AbstractEventLoop, threading.Thread]:
    server = Server(handler=ArchiveHandler(archive), ae_title="ARCHIVE", host="127.0.0.1", port=0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    return server, loop, thread


def _stop(server: Server, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _query() -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName = "STREAM^*"
    query.StudyInstanceUID = ""
    return query


def test_first_match_is_sent_before_the_search_ends(archive: Archive,
                                                    add: Callable[..., Dataset]) -> None:
    _populate(add)
    slow = SlowSearch(archive.index.answers)
    archive.index.answers = slow  # type: ignore[method-assign]
    server, loop, thread = _run_server(archive)

    async def find() -> tuple[float | None, list[int]]:
        first_at = None
        statuses = []
        async with connect("127.0.0.1", server.port, called_aet="ARCHIVE",
                           contexts=[(MODELS["study"]["find"], UNCOMPRESSED_TS[:2])]) as client:
            async for status, _identifier in client.find(_query()):
                if first_at is None:
                    first_at = time.monotonic()
                statuses.append(status)
        return first_at, statuses

    try:
        first_at, statuses = asyncio.run(find())
    finally:
        _stop(server, loop, thread)
    assert statuses == [Status.PENDING] * MATCHES + [Status.SUCCESS]
    assert slow.finished_at is not None and first_at is not None
    assert first_at < slow.finished_at  # streamed, not collected first


def test_cancel_stops_reading_the_database(archive: Archive,
                                           add: Callable[..., Dataset]) -> None:
    _populate(add)
    slow = SlowSearch(archive.index.answers)
    archive.index.answers = slow  # type: ignore[method-assign]
    server, loop, thread = _run_server(archive)

    async def find() -> list[int]:
        statuses = []
        async with connect("127.0.0.1", server.port, called_aet="ARCHIVE",
                           contexts=[(MODELS["study"]["find"], UNCOMPRESSED_TS[:2])]) as client:
            async for status, _identifier in client.find(_query()):
                statuses.append(status)
                if len(statuses) == 1:
                    await client.cancel(client.last_message_id)
        return statuses

    try:
        statuses = asyncio.run(find())
    finally:
        _stop(server, loop, thread)
    assert statuses[-1] == Status.CANCEL
    assert len(statuses) < MATCHES
    # The close runs in a worker thread, shielded from the association's end: give it time.
    deadline = time.monotonic() + 10
    while not slow.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.closed and slow.finished_at is None  # the cursor was closed early
    assert slow.produced < MATCHES
