"""PS3.4 Annex C: the Query/Retrieve Service Class, SCP side (Patient Root and Study Root
models, C-FIND, C-MOVE, C-GET), independent of where the data lives.

:class:`QueryRetrieveSCP` holds the rules: the information model from the SOP Class, per-AE
permissions (0124H), an identifier the model cannot answer (A900), a pending response per
match (C.4.1.2.3) with the Retrieve AE Title and the other location keys, response identifiers
(C.4.1.1.3.2). It reads the data through :class:`QueryRetrieveData`, which archive/ implements
(:class:`dicomkit.archive.scp.ArchiveData`: matching compiled to SQL on the index). The
C-MOVE/C-GET sub-operations themselves are the network's (:mod:`dicomkit.net.retrieve`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.json import from_json
from dicomkit.net.association import Association
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import PENDING_BATCH, RetrieveItem, ServiceFailure
from dicomkit.net.uids import QUERY_RETRIEVE_MODELS
from dicomkit.services.access import AccessPolicy
from dicomkit.services.identifiers import (
    AnswerPlan,
    answer_plan,
    identifier_bytes,
    location_attributes,
    response_charset,
)

log = logging.getLogger("dicomkit.services.qr")
# The Patient Root and Study Root models (PS3.4 C.6.1, C.6.2); Modality Worklist FIND (Annex
# K) is a service of its own (services/worklist.py), plugged into the archive's handler.
MODEL_OF = {uid: model for model, ops in QUERY_RETRIEVE_MODELS.items() for uid in ops.values()}
FIRST_BATCH = 16  # matches fetched before the first pending response
BATCH = 256


class IdentifierError(ValueError):
    """An identifier the information model cannot answer (PS3.4 C.4.1.2.1, C.4.2.1.4: A900
    Identifier does not match SOP Class)."""


class Matches(Protocol):
    """The matches of one C-FIND, fetched a few at a time. Both calls block (they are made in
    a worker thread); ``close`` may come while a ``take`` runs, and waits for it."""

    def take(self, count: int) -> list[bytes | dict[str, Any]]:
        """Up to ``count`` more matches, fewer at the end: each its response identifier
        encoded after the :class:`~dicomkit.services.identifiers.AnswerPlan`, or its DICOM
        JSON attributes for the general route."""
        ...

    def close(self) -> None:
        ...


class Query(Protocol):
    """An identifier compiled against the stored data (PS3.4 C.2.2.2 matching)."""

    @property
    def level(self) -> str:
        """The Query/Retrieve Level (0008,0052)."""
        ...

    @property
    def return_tags(self) -> list[int]:
        """The keys to return, in the identifier's order."""
        ...

    def matches(self, plan: AnswerPlan | None = None) -> Matches:
        """The C-FIND matches, none fetched yet (no blocking call); with a ``plan``, those
        the data can encode by it directly come as bytes."""
        ...

    def instances(self) -> list[RetrieveItem]:
        """Every instance under the matches, for C-MOVE/C-GET (blocking)."""
        ...


class QueryRetrieveData(Protocol):
    """What a Query/Retrieve SCP needs of the stored data."""

    def compile(self, identifier: Dataset, model: str) -> Query:
        """The identifier as a query of ``model`` ("patient" or "study"); raises
        :class:`IdentifierError` when the model cannot answer it."""
        ...


class QueryRetrieveSCP:
    """C-FIND, C-MOVE and C-GET (PS3.4 C.4.1, C.4.2, C.4.3) on a :class:`QueryRetrieveData`.
    ``ae_title``: the Retrieve AE Title (0008,0054) when an association names none; with
    ``access``, each request is checked against the calling AE's permissions."""

    def __init__(self, data: QueryRetrieveData, *, ae_title: str = "DICOMKIT",
                 access: AccessPolicy | None = None) -> None:
        self.data = data
        self.ae_title = ae_title
        self.access = access

    def authorise(self, association: Association, request: str, operation: str,
                  destination: str | None = None) -> None:
        """Raise :class:`ServiceFailure` 0124H (Refused: Not Authorised) when the calling AE
        may not do ``operation`` (to the C-MOVE ``destination``)."""
        if self.access is None:
            return
        refused = self.access.refusal(association.calling_ae, operation, destination)
        if refused is not None:
            log.warning("[%s] %s refused (0124): %s", association.describe(), request, refused)
            raise ServiceFailure(Status.NOT_AUTHORISED, f"not authorised: {refused}")

    def compile(self, message: Message, identifier: Dataset) -> Query:
        """The identifier as a query of the model the request's SOP Class names (PS3.4 C.6);
        A900 when the model cannot answer it."""
        model = MODEL_OF.get(str(message.command.get("AffectedSOPClassUID") or ""), "study")
        try:
            return self.data.compile(identifier, model)
        except IdentifierError as exc:
            raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)) from exc

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, list[Dataset | bytes]]]:
        """C-FIND (:meth:`ServiceHandler.find`): a pending response per match, given to the
        server as lists of the identifiers found together."""
        self.authorise(association, "C-FIND", "query")
        query = self.compile(message, identifier)
        # Matches are streamed as the data returns them (PS3.4 C.4.1.2.3: a pending response
        # per match): a first small batch so the first response goes out early, then larger
        # ones; the matches are closed as soon as the C-FIND ends or is cancelled.
        ts = ts_mod.for_uid(association.contexts[message.context_id].transfer_syntax)
        # Retrieve AE Title: the title this association called us by (serve accepts only
        # its --aet), so a C-MOVE sent there reaches this archive.
        located = location_attributes(query.return_tags,
                                      association.called_ae.strip() or self.ae_title)
        matches = query.matches(answer_plan(identifier, query.return_tags, query.level, ts,
                                            located))
        size = FIRST_BATCH
        try:
            while True:
                batch = await asyncio.to_thread(matches.take, size)
                # The pending responses of a batch go to the server as lists of at most
                # PENDING_BATCH identifiers, which it writes in one go each (and looks for a
                # C-CANCEL, PS3.4 C.4.1.3.1, between them).
                answers: list[Dataset | bytes] = []
                for attrs in batch:
                    if isinstance(attrs, bytes):  # encoded by the plan already
                        answers.append(attrs)
                    else:
                        if located:
                            attrs.update(located)
                        data = identifier_bytes(identifier, query.return_tags, attrs,
                                                query.level, ts)
                        answers.append(data if data is not None else response_identifier(
                            identifier, query.return_tags, attrs, query.level))
                    if len(answers) == PENDING_BATCH:
                        yield Status.PENDING, answers
                        answers = []
                if answers:
                    yield Status.PENDING, answers
                if len(batch) < size:
                    return
                size = BATCH
        finally:
            # Shielded: a C-FIND whose task is cancelled (association gone, shutdown) still
            # gives its database connection back, after any fetch still running in a thread.
            await asyncio.shield(asyncio.to_thread(matches.close))

    async def retrieve(self, association: Association, message: Message,
                       identifier: Dataset) -> AsyncIterator[RetrieveItem]:
        """C-MOVE / C-GET (:meth:`ServiceHandler.retrieve`, PS3.4 C.4.2.3, C.4.3.3): each
        matching instance as the store knows it, so no file is opened before its own
        sub-operation and a missing one fails only that sub-operation."""
        is_move = message.command_field == CommandField.C_MOVE_RQ
        self.authorise(association, "C-MOVE" if is_move else "C-GET", "retrieve",
                       str(message.command.get("MoveDestination") or "") if is_move else None)
        query = self.compile(message, identifier)
        for item in await asyncio.to_thread(query.instances):
            yield item


def response_identifier(identifier: Dataset, tags: list[int], attrs: dict[str, Any],
                        level: str) -> Dataset:
    """PS3.4 C.4.1.1.3.2: the requested keys with their values, plus the level and the
    Specific Character Set the values need (:func:`response_charset`)."""
    wanted = {f"{tag:08X}": attrs[f"{tag:08X}"] for tag in tags if f"{tag:08X}" in attrs}
    charset = response_charset({**wanted, "00080005": attrs.get("00080005") or {}})
    if charset:  # first, so that the text values are encoded with it
        wanted = {"00080005": {"vr": "CS", "Value": charset}, **wanted}
    response = from_json(wanted) if wanted else Dataset()
    for tag in tags:
        if tag not in response:
            element = identifier[tag]
            response.set(tag, None if element.VR != "SQ" else [], element.VR)
    response.QueryRetrieveLevel = level
    return response
