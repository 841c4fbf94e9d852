"""PS3.4 Annex K: the Basic Worklist Management Service Class, SCP side, with the Modality
Worklist Information Model – FIND SOP Class (K.6.1), independent of where the items live.

:class:`WorklistSCP` holds the rules: per-AE permissions (the "query" operation, 0124H), an
identifier the model cannot answer (A900, K.4.1.1.4 and the C-FIND statuses of K.4.1.1.4 /
Table K.4-1: A900 Identifier Does Not Match SOP Class, C000 Unable to Process), a pending
response per matching Scheduled Procedure Step and C-CANCEL (FE00, through the server). It
reads the items through :class:`WorklistData`, which archive/ implements.

Response identifiers (:func:`response_identifier`, K.6.1.2.2 and C.4.1.1.3.2 as K.4.1.1.3.2
applies it): every key the identifier holds, with the item's value or zero length when the item
has none; a sequence key with an item of keys gives each stored item reduced to those keys
(recursively), a sequence key with no item or an empty item gives the stored sequence whole
(C.2.2.2.6 universal matching). Specific Character Set is the stored one when it encodes every
value returned, else ISO_IR 192 (:func:`dicomkit.services.identifiers.response_charset`).
The SCP sends each response identifier encoded straight from the stored DICOM JSON
(:func:`response_payload`, the same bytes as ``from_json`` then the writer would give) and
builds a :class:`Dataset` only for what that encoder declines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.json import from_json
from dicomkit.encoding.transfer_syntax import TransferSyntax
from dicomkit.net.association import Association
from dicomkit.net.dimse import Message, Status
from dicomkit.net.service import ServiceFailure, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS
from dicomkit.services.access import AccessPolicy, authorise
from dicomkit.services.identifiers import attributes_bytes, response_charset

log = logging.getLogger("dicomkit.services.worklist")

MODALITY_WORKLIST_FIND = registered("ModalityWorklistInformationModelFind")
FIRST_BATCH = 16
BATCH = 256
CHARSET = "00080005"


class WorklistIdentifierError(ValueError):
    """An identifier the Modality Worklist model cannot answer (A900)."""


class WorklistMatches(Protocol):
    """The matches of one query, fetched a few at a time from a worker thread (``close`` may
    come while a ``take`` runs, and waits for it)."""

    def take(self, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` more matching steps as DICOM JSON; fewer at the end."""
        ...

    def close(self) -> None:
        ...


class WorklistData(Protocol):
    """What a Modality Worklist SCP needs of the stored items."""

    def matches(self, identifier: Dataset) -> WorklistMatches:
        """The steps matching ``identifier`` (none fetched yet); raises
        :class:`WorklistIdentifierError` when the model cannot answer it."""
        ...


# The keys of an identifier (item) to return: (DICOM JSON key, VR, the keys of a sequence
# key's item, or None to return the stored sequence whole / for a non-sequence key).
Keys = list[tuple[str, str, "Keys | None"]]


def response_keys(wanted: Dataset) -> Keys:
    """The keys of ``wanted`` (an identifier, or one of its items) to return, worked out once
    per query rather than once per match."""
    keys: Keys = []
    for element in wanted:
        tag = element.tag
        if tag >> 16 in (0x0000, 0x0002) or tag & 0xFFFF == 0 or tag in (0x00080005,
                                                                            0x00080052):
            continue
        sub: Keys | None = None
        if element.VR == "SQ":
            requested = element.value or []
            if requested and len(requested[0]) != 0:
                sub = response_keys(requested[0])
        keys.append((f"{tag:08X}", element.VR, sub))
    return keys


def _filtered(stored: dict[str, Any], keys: Keys) -> dict[str, Any]:
    """The stored DICOM JSON attributes reduced to ``keys`` (one identifier item's), zero
    length for those the stored attributes lack."""
    out: dict[str, Any] = {}
    if CHARSET in stored:
        out[CHARSET] = stored[CHARSET]
    for key, vr, sub in keys:
        model = stored.get(key)
        if vr == "SQ":
            if model is None:
                out[key] = {"vr": "SQ", "Value": []}
            elif sub is None:
                out[key] = model
            else:
                out[key] = {"vr": "SQ", "Value": [
                    _filtered(item, sub) for item in model.get("Value") or []
                    if isinstance(item, dict)]}
            continue
        out[key] = model if model is not None else {"vr": vr}
    return out


def _charset_of(attrs: dict[str, Any]) -> dict[str, Any]:
    charset = response_charset(attrs)
    return {"vr": "CS", "Value": charset} if charset else {}


def response_attributes(identifier: Dataset | Keys, attrs: dict[str, Any]) -> dict[str, Any]:
    """The C-FIND response identifier for one matching step as DICOM JSON (see the module
    docstring), its Specific Character Set first. ``identifier``: the request's, or its
    :func:`response_keys`."""
    keys = response_keys(identifier) if isinstance(identifier, Dataset) else identifier
    wanted = _filtered(attrs, keys)
    charset = _charset_of(wanted)
    wanted.pop(CHARSET, None)
    if charset:
        wanted = {CHARSET: charset, **wanted}  # first: the text values are encoded with it
    return wanted


def response_identifier(identifier: Dataset, attrs: dict[str, Any]) -> Dataset:
    """A C-FIND response identifier for one matching step (see the module docstring)."""
    wanted = response_attributes(identifier, attrs)
    return from_json(wanted) if wanted else Dataset()


def response_payload(identifier: Dataset | Keys, attrs: dict[str, Any],
                     ts: TransferSyntax) -> Dataset | bytes:
    """The response identifier for one step already encoded in ``ts`` when the fast encoder
    can write it (:func:`dicomkit.services.identifiers.attributes_bytes`: the same bytes as
    the general route), else as a :class:`Dataset` for the server to encode."""
    wanted = response_attributes(identifier, attrs)
    data = attributes_bytes(wanted, ts)
    if data is not None:
        return data
    return from_json(wanted) if wanted else Dataset()


class WorklistSCP(ServiceHandler):
    """Modality Worklist Information Model – FIND (PS3.4 K.6.1) on a :class:`WorklistData`;
    with ``access``, the calling AE needs the "query" permission."""

    def __init__(self, data: WorklistData, *, access: AccessPolicy | None = None,
                 transfer_syntaxes: Sequence[str] = UNCOMPRESSED_TS) -> None:
        self.data = data
        self.access = access
        self.transfer_syntaxes = list(transfer_syntaxes)

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {MODALITY_WORKLIST_FIND: self.transfer_syntaxes}

    def authorise(self, association: Association) -> None:
        authorise(self.access, association, "query", "worklist C-FIND")

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, Dataset | bytes | None]]:
        """C-FIND (K.4.1.3.1): a pending response per matching step, in start date/time
        order; the server sends the final Success, or Cancel after a C-CANCEL."""
        self.authorise(association)
        try:
            matches = self.data.matches(identifier)
        except WorklistIdentifierError as exc:
            raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)) from exc
        ts = ts_mod.for_uid(association.contexts[message.context_id].transfer_syntax)
        keys = response_keys(identifier)
        size = FIRST_BATCH
        try:
            while True:
                try:
                    batch = await asyncio.to_thread(matches.take, size)
                except WorklistIdentifierError as exc:
                    raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                                         str(exc)) from exc
                except Exception as exc:
                    log.exception("[%s] worklist query failed", association.describe())
                    raise ServiceFailure(Status.UNABLE_TO_PROCESS,
                                         f"unable to process: {type(exc).__name__}") from exc
                for n, attrs in enumerate(batch, 1):
                    yield Status.PENDING, response_payload(keys, attrs, ts)
                    if n % 16 == 0:
                        await asyncio.sleep(0)  # let a C-CANCEL be read (K.4.1.3.1)
                if len(batch) < size:
                    return
                size = BATCH
        finally:
            await asyncio.shield(asyncio.to_thread(matches.close))
