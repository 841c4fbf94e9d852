"""The archive's DIMSE SCP (services/qr.py) in-process, on SQLite and PostgreSQL: what it
accepts at negotiation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.net.client import Client, connect
from dicomkit.net.server import Server
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS
from dicomkit.services.qr import ArchiveHandler

AET = "ARCHIVE"
TS = list(UNCOMPRESSED_TS[:2])


def session(archive: Archive, contexts: list[tuple[str, list[str]]],
            work: Callable[[Client], Awaitable[Any]], called: str = AET) -> Any:
    """Run ``work`` on an association with an in-process archive SCP."""

    async def go() -> Any:
        server = Server(handler=ArchiveHandler(archive), ae_title=AET, port=0)
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
def test_modality_worklist_find_is_rejected_at_negotiation(archive: Archive) -> None:
    """PS3.8 §9.3.3.2: result 3, abstract syntax not supported; Q/R FIND is accepted."""
    worklist, study = MODELS["worklist"]["find"], MODELS["study"]["find"]

    async def work(client: Client) -> dict[str, int]:
        proposed = {c.id: c.abstract_syntax for c in client.association.request.contexts}
        return {proposed[c.id]: c.result for c in client.association.accept.contexts}

    results = session(archive, [(worklist, TS), (study, TS)], work)
    assert results == {worklist: 3, study: 0}
