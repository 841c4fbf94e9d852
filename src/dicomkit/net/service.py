"""The interface between the association server and a service (PS3.7 §9, §10: one DIMSE
request, its responses): what :class:`~dicomkit.net.server.Server` knows of the services, and
what a service may use of the server.

- :class:`ServiceHandler`: what a service offers (abstract syntaxes, SCP role, user identity)
  and how it answers each DIMSE request. The server calls only these methods.
- :class:`Request`: one received DIMSE request on an accepted association, as the server hands
  it to the engines that answer it (C-FIND streaming, C-MOVE/C-GET sub-operations): its
  identifier, decoded in the presentation context's transfer syntax, and ``respond``.
- :class:`ServiceFailure`: raised by a handler to answer the whole request with a failure
  status and an Error Comment (0000,0902).
- :class:`RetrieveItem`: one instance a C-MOVE or C-GET is to send, as a handler yields it.
- :class:`NResponse`: a DIMSE-N response (PS3.7 §10) as a handler gives it: status, data set,
  extra command fields, and work to start once the response is sent (a Storage Commitment
  N-EVENT-REPORT on the same association, PS3.4 J.3.3).
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.deflate import InflateLimitError, inflate_buffer
from dicomkit.encoding.reader import read_dataset
from dicomkit.encoding.writer import dataset_to_bytes
from dicomkit.net import pdu as P
from dicomkit.net.association import AcceptedContext, Association, DataSink
from dicomkit.net.dimse import (
    NO_DATA_SET,
    CommandField,
    Message,
    Status,
    encode_command,
    response_to,
)
from dicomkit.net.uids import UNCOMPRESSED_TS, VERIFICATION


class ServiceFailure(Exception):
    """The request fails as a whole with ``status`` (PS3.7 Annex C) and ``comment`` as its
    Error Comment."""

    def __init__(self, status: int, comment: str = "") -> None:
        self.status = status
        self.comment = comment
        super().__init__(f"status 0x{status:04X}: {comment}")


def limit_comment(exc: InflateLimitError) -> str:
    """The Error Comment (LO, 64 characters at most) of a refusal for the inflated size."""
    return f"inflated size limit exceeded: {exc.limit} bytes"[:64]


#: Pending C-FIND responses a handler gives as a list go out this many per write (one
#: ``writev``), fewer when their bytes reach PENDING_BATCH_BYTES; a C-CANCEL is looked at
#: between two writes (:meth:`dicomkit.net.server.Server._send_pending`).
PENDING_BATCH = 64
PENDING_BATCH_BYTES = 256 * 1024
#: What a C-FIND handler yields (:meth:`ServiceHandler.find`): a status and an identifier, or
#: several identifiers of pending responses, or None.
FindAnswer = tuple[int, "Dataset | bytes | list[Dataset | bytes] | None"]

@dataclass(frozen=True)
class RetrieveItem:
    """One instance to send, as the archive's index knows it: the file need not be opened
    before its own sub-operation (a missing one is then that sub-operation's failure)."""

    path: str
    sop_class: str
    sop_instance: str
    transfer_syntax: str | None


@dataclass(frozen=True)
class RetrieveFailure:
    """An instance the handler found but cannot send (e.g. it could not be converted into
    what this destination may receive): its sub-operation fails, with ``reason`` logged."""

    sop_class: str
    sop_instance: str
    reason: str


Retrievable = RetrieveItem | RetrieveFailure | Dataset | str | os.PathLike[str]
"""What a handler's ``retrieve`` may yield: an instance as its store knows it, one that cannot
be sent (a failed sub-operation), a data set, or the path of a Part 10 file (its header is read
to plan the sub-operation)."""


@dataclass
class NResponse:
    """A DIMSE-N response: ``status`` (PS3.7 Annex C), the data set, command fields to add
    (keyword: value; e.g. AffectedSOPInstanceUID of an instance the SCP created (PS3.7
    §10.1.5.1.2), ErrorComment, ErrorID, AttributeIdentifierList of 0106H/0107H/0116H
    (Annex C.4), ActionTypeID, EventTypeID) and ``after``: a coroutine function the server
    starts as a task once the response has been sent (it may send requests on the same
    association, e.g. :meth:`dicomkit.net.client.Client.n_event_report`)."""

    status: int
    data: Dataset | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    after: Callable[[], Coroutine[Any, Any, None]] | None = None


@dataclass
class Request:
    """One DIMSE request received on an accepted association. ``cancelled`` is set when the
    requestor sends a C-CANCEL for it (PS3.7 §9.3.2.3, C-FIND/C-MOVE/C-GET only); a data set
    received deflated is refused past ``max_inflated`` inflated bytes (PS3.5 A.5; None:
    :func:`dicomkit.encoding.deflate.default_limit`)."""

    association: Association
    message: Message
    max_inflated: int | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    answered: bool = False  # a final (non-Pending) response was sent

    @property
    def context(self) -> AcceptedContext:
        """The presentation context the request came on."""
        return self.association.contexts[self.message.context_id]

    @property
    def transfer_syntax(self) -> ts_mod.TransferSyntax:
        return ts_mod.for_uid(self.context.transfer_syntax)

    def identifier(self) -> Dataset | None:
        """The request's data set (a C-FIND/C-MOVE/C-GET identifier, an N-service data set),
        decoded in the context's transfer syntax; None when the request has none. Raises
        :class:`~dicomkit.encoding.deflate.InflateLimitError` past ``max_inflated``."""
        if self.message.data is None:
            return None
        ts = self.transfer_syntax
        data: Any = self.message.data
        if ts.deflated:
            data = inflate_buffer(data, limit=self.max_inflated,
                                  where=self.association.describe())
        return read_dataset(data, little=ts.little, implicit=ts.implicit)

    def encode(self, data: Dataset) -> bytes:
        """``data`` in the context's transfer syntax, for a response."""
        return dataset_to_bytes(data, ts_mod.lookup(self.context.transfer_syntax))

    async def respond(self, status: int, data: Dataset | bytes | None = None,
                      **values: Any) -> None:
        """Send a response with ``status``, the data set (already encoded when bytes) and the
        command fields in ``values`` (keyword: value; None leaves a field out)."""
        if Status.category(status) != "Pending":
            self.answered = True
        payload = data if data is None or isinstance(data, bytes) else self.encode(data)
        await self.association.send_message(
            self.message.context_id,
            response_to(self.message, status, has_data=data is not None, **values), payload)

    async def respond_status(self, status: int) -> None:
        """``respond(status)``: a response with no data set and no field but the status, as
        every C-STORE answer without an Error Comment; its command set encoded straight from
        the request's fields (:func:`status_response`) when they have the common form."""
        if Status.category(status) != "Pending":
            self.answered = True
        encoded = status_response(self.message, status)
        await self.association.send_message(
            self.message.context_id,
            encoded if encoded is not None else response_to(self.message, status))

    def response_command(self, status: int) -> bytes:
        """The encoded command of a response with a data set and no other field: the same for
        every pending C-FIND match, so encoded once per request by the caller."""
        return encode_command(response_to(self.message, status, has_data=True))


class ServiceHandler:
    """What a service offers and how it answers. Override what the server should offer; every
    method gets the association and the message."""

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        """Abstract syntax -> transfer syntaxes accepted, in order of preference."""
        return {VERIFICATION: UNCOMPRESSED_TS}

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        """Whether the requestor may act as SCP for this SOP class (C-GET sub-operations)."""
        return False

    def check_identity(self, association: Association,
                       identity: P.UserIdentityRQ) -> bytes | None | bool:
        """PS3.7 D.3.3.7: True/None to accept (bytes: the server response), False to reject."""
        return True

    async def echo(self, association: Association, message: Message) -> int:
        return Status.SUCCESS

    def store_sink(self, association: Association, message: Message,
                   context: AcceptedContext) -> DataSink | None:
        """Return a sink to stream the data set to (e.g. a FileSink); None keeps it in memory."""
        return None

    async def store(self, association: Association, message: Message) -> int:
        return Status.SOP_CLASS_NOT_SUPPORTED

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[FindAnswer]:
        """C-FIND: yield (status, identifier) per match, then nothing (the server sends the
        final Success). A pending match may be given already encoded, as bytes in the
        presentation context's transfer syntax. Several pending matches found together may
        be given as one list of identifiers (Datasets or bytes) with a Pending status: each
        is its own pending response, and the server writes them several at a time (one
        system call per :data:`PENDING_BATCH`), looking for a C-CANCEL
        between writes."""
        yield Status.SOP_CLASS_NOT_SUPPORTED, None

    def interim_status(self, message: Message, status: int) -> bool:
        """Whether a non-Pending C-FIND ``status`` the handler yields is followed by the final
        response rather than being it (the Repository Query's B001 "Matching reached
        response limit" ends the pending responses; the final Success follows, PS3.4
        C.6.4)."""
        return False

    def retrieve(self, association: Association, message: Message,
                 identifier: Dataset) -> AsyncIterator[Retrievable]:
        """C-MOVE and C-GET: yield what to send (:class:`RetrieveItem`, paths or Datasets);
        the server does the sub-operations. Raise :class:`ServiceFailure` to fail the whole
        request."""
        raise ServiceFailure(Status.SOP_CLASS_NOT_SUPPORTED, "retrieve not supported")

    def move_destination(self, ae_title: str) -> tuple[str, int] | None:
        """Host and port of a known C-MOVE destination, or None (status A801H)."""
        return None

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None] | NResponse:
        """A DIMSE-N request (N-EVENT-REPORT, N-GET, N-SET, N-ACTION, N-CREATE, N-DELETE):
        (status, data set) or an :class:`NResponse`; raise :class:`ServiceFailure` to answer
        with a failure status and its Error Comment."""
        return Status.SOP_CLASS_NOT_SUPPORTED, None


_ELEMENT = struct.Struct("<HHL")
_STATUS_TAIL = struct.Struct("<HHLH")
_GROUP_LENGTH = struct.Struct("<HHLL")
_RESPONSE_FIELDS = frozenset(int(f) for f in CommandField)
# The requests whose response echoes the Affected SOP Instance UID (as response_to does):
# C-STORE, N-EVENT-REPORT, N-GET, N-SET, N-ACTION, N-CREATE, N-DELETE.
_ECHOES_INSTANCE = frozenset({0x0001, 0x0100, 0x0110, 0x0120, 0x0130, 0x0140, 0x0150})


def _uid_element(element: int, value: Any) -> bytes | None:
    if type(value) is not str or not value.isascii() or "\\" in value:
        return None
    data = value.encode("ascii")
    if len(data) & 1:
        data += b"\0"
    return _ELEMENT.pack(0x0000, element, len(data)) + data


def status_response(request: Message, status: int) -> bytes | None:
    """The bytes of ``encode_command(response_to(request, status))`` for a response with no
    data set and no other field, built from the request's fields without a command Dataset;
    None when a field is not of the common form (then the general path encodes it: a UID
    that is not one ASCII string, a Message ID or status out of range, a request field
    that ``response_to`` does not turn into a response field). tests/net compares the two."""
    field_ = request.command_field
    message_id = request.message_id or 0
    if not isinstance(field_, int) or not 0 <= field_ <= 0x7FFF \
            or not isinstance(message_id, int) or not 0 <= message_id <= 0xFFFF \
            or not isinstance(status, int) or not 0 <= status <= 0xFFFF:
        return None
    field_, message_id, status = int(field_), int(message_id), int(status)
    if field_ | 0x8000 not in _RESPONSE_FIELDS:  # response_to refuses it
        return None
    rq = request.command
    sop_class = rq.get("AffectedSOPClassUID") or rq.get("RequestedSOPClassUID")
    parts = []
    if sop_class:
        encoded = _uid_element(0x0002, sop_class)
        if encoded is None:
            return None
        parts.append(encoded)
    parts.append(_ELEMENT.pack(0x0000, 0x0100, 2) + (field_ | 0x8000).to_bytes(2, "little"))
    parts.append(_ELEMENT.pack(0x0000, 0x0120, 2) + message_id.to_bytes(2, "little"))
    parts.append(_ELEMENT.pack(0x0000, 0x0800, 2) + NO_DATA_SET.to_bytes(2, "little"))
    parts.append(_STATUS_TAIL.pack(0x0000, 0x0900, 2, status))
    instance = rq.get("AffectedSOPInstanceUID") or rq.get("RequestedSOPInstanceUID")
    if instance and field_ in _ECHOES_INSTANCE:
        encoded = _uid_element(0x1000, instance)
        if encoded is None:
            return None
        parts.append(encoded)
    body = b"".join(parts)
    return _GROUP_LENGTH.pack(0x0000, 0x0000, 4, len(body)) + body
