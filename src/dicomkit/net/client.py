"""The requestor (SCU) side: ``async with connect(...) as assoc: await assoc.echo()``.

DIMSE-C and DIMSE-N operations as PS3.7 §9 and §10 define them. A synchronous facade for
scripts is :func:`dicomkit.net.sync.connect`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.deflate import InflateLimitError, inflate_buffer
from dicomkit.encoding.reader import read, read_dataset
from dicomkit.encoding.transfer_syntax import TransferSyntax, is_native
from dicomkit.encoding.writer import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    dataset_to_bytes,
)
from dicomkit.errors import DicomError, InvalidDicomError
from dicomkit.net import pdu as P
from dicomkit.net.association import (
    DEFAULT_MAX_PDU,
    AcceptedContext,
    Association,
    AssociationError,
    AssociationRejected,
    Timeouts,
)
from dicomkit.net.dimse import DATA_SET_PRESENT, CommandField, Message, Status, command
from dicomkit.net.fsm import Role
from dicomkit.net.stream import open_stream
from dicomkit.net.uids import (
    MODELS,
    UNCOMPRESSED_TS,
    VERIFICATION,
)

log = logging.getLogger("dicomkit.net.client")

ContextSpec = tuple[str, Sequence[str]]  # (abstract syntax, transfer syntaxes)


def build_request(calling_ae: str, called_ae: str, contexts: Sequence[ContextSpec], *,
                  max_pdu: int = DEFAULT_MAX_PDU, scp_roles: Iterable[str] = (),
                  roles: Mapping[str, tuple[bool, bool]] | None = None,
                  user_identity: P.UserIdentityRQ | None = None,
                  async_ops: tuple[int, int] | None = None) -> P.AAssociateRQ:
    """An A-ASSOCIATE-RQ with odd context ids 1, 3, 5 … (PS3.8 §9.3.2.2).

    SCP/SCU Role Selection (PS3.7 D.3.3.4): each SOP class of ``scp_roles`` is proposed with
    both roles (SCU 1, SCP 1: C-GET's storage sub-operations); ``roles`` maps a SOP class to
    exactly the (SCU role, SCP role) to propose, e.g. ``{push_model: (False, True)}`` for a
    Storage Commitment SCP that opens the association to send its report (PS3.4 J.3.3)."""
    if not contexts:
        raise ValueError("propose at least one presentation context")
    if len(contexts) > 128:
        raise ValueError(f"{len(contexts)} presentation contexts proposed; PS3.8 allows 128")
    items = [P.PresentationContextRQ(2 * i + 1, abstract, list(syntaxes))
             for i, (abstract, syntaxes) in enumerate(contexts)]
    proposed = {uid: (True, True) for uid in scp_roles}
    proposed.update(roles or {})
    role_items = [P.RoleSelection(uid, scu, scp) for uid, (scu, scp) in proposed.items()]
    info = P.UserInformation(max_length=max_pdu, implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                             implementation_version_name=IMPLEMENTATION_VERSION_NAME,
                             async_ops=async_ops, roles=role_items,
                             user_identity=user_identity)
    return P.AAssociateRQ(called_ae=called_ae, calling_ae=calling_ae, contexts=items,
                          user_info=info)


class Client:
    """An established association, seen from the requestor."""

    def __init__(self, association: Association, *, handle_requests: bool = True,
                 transcoder: Transcoder | None = None) -> None:
        self.association = association
        self.transcoder = transcoder
        self.store_handler: Callable[[Dataset, Message], Awaitable[int]] | None = None
        # Answers N-EVENT-REPORT requests the acceptor sends on this association (a Storage
        # Commitment result, PS3.4 J.3.3): gets the event information and the request,
        # returns the status; without one, such a request is answered with Success.
        self.event_handler: Callable[[Dataset | None, Message], Awaitable[int]] | None = None
        self.last_message_id = 0
        # The identifier of the last C-MOVE/C-GET response that had one (a final response's
        # Failed SOP Instance UID List, PS3.4 C.4.2.1.6 / C.4.3.1.5), else None.
        self.last_identifier: Dataset | None = None
        # PS3.5 A.5: a response identifier received deflated is refused past this many
        # inflated bytes (None: dicomkit.encoding.deflate.default_limit()).
        self.max_inflated: int | None = None
        if handle_requests:
            association.on_request = self._on_request

    # -- plumbing --------------------------------------------------------------------------------
    @property
    def contexts(self) -> dict[int, AcceptedContext]:
        return self.association.contexts

    def context_for(self, abstract_syntax: str, transfer_syntax: str | None = None) -> int:
        fallback = None
        for context in self.contexts.values():
            if context.abstract_syntax != abstract_syntax:
                continue
            if transfer_syntax is None or context.transfer_syntax == transfer_syntax:
                return context.id
            if fallback is None:
                fallback = context.id
        if fallback is not None and transfer_syntax is None:
            return fallback
        raise AssociationError(f"no accepted presentation context for {abstract_syntax}"
                               + (f" in {transfer_syntax}" if transfer_syntax else ""),
                               self.association)

    async def _request(self, context_id: int, cmd: Dataset,
                       data: Any = None) -> tuple[int, asyncio.Queue[Any]]:
        message_id = self.association.next_message_id()
        cmd.MessageID = message_id
        queue = self.association.expect_responses(message_id)
        await self.association.send_message(context_id, cmd, data)
        return message_id, queue

    async def _single(self, context_id: int, cmd: Dataset, data: Any = None) -> Message:
        message_id, queue = await self._request(context_id, cmd, data)
        try:
            return await self.association.next_response(queue)
        finally:
            self.association.forget(message_id)

    def _decode(self, message: Message) -> Dataset | None:
        if message.data is None:
            return None
        ts = ts_mod.for_uid(self.contexts[message.context_id].transfer_syntax)
        data: Any = message.data
        if ts.deflated:
            data = inflate_buffer(data, limit=self.max_inflated,
                                  where=self.association.describe())
        return read_dataset(data, little=ts.little, implicit=ts.implicit)

    def _encode(self, ds: Dataset, context_id: int) -> bytes:
        return dataset_to_bytes(ds, ts_mod.lookup(self.contexts[context_id].transfer_syntax))

    # -- DIMSE-C ---------------------------------------------------------------------------------
    async def echo(self) -> int:
        """C-ECHO (PS3.7 §9.1.5): the status, 0000H when the peer is there."""
        context_id = self.context_for(VERIFICATION)
        rsp = await self._single(context_id, command(CommandField.C_ECHO_RQ,
                                                     AffectedSOPClassUID=VERIFICATION))
        return rsp.status or 0

    async def store(self, source: Dataset | str | os.PathLike[str], *,
                    move_originator: tuple[str, int] | None = None,
                    priority: int = 0) -> Dataset:
        """C-STORE (PS3.7 §9.1.1) of a data set or a file. Returns the response command.

        The presentation context is chosen by :meth:`store_plan`: a file in an accepted transfer
        syntax is streamed from disk without being decoded; otherwise the data set is converted
        to an accepted syntax (uncompressed among uncompressed by the writer; compressed pixel
        data decompressed, or re-encoded only losslessly, by the client's ``transcoder``).
        An unreadable file raises :class:`OSError` and a conversion that cannot be done
        :class:`CannotConvert`, both before anything is sent."""
        if isinstance(source, Dataset):
            return await self._store(source, None, None, move_originator, priority)
        path = os.fspath(source)
        ds, whole = await asyncio.to_thread(_load_file, path)
        return await self._store(ds, path, whole, move_originator, priority)

    async def store_files(self, paths: Iterable[str | os.PathLike[str]], *, priority: int = 0
                          ) -> AsyncIterator[tuple[str, Dataset | Exception]]:
        """C-STORE of each file in turn, as :meth:`store` sends it: yields (path, response
        command) or (path, the error: :class:`OSError`, :class:`DicomError`,
        :class:`AssociationError`) and goes on with the next file while the association
        stands. The next file is read from disk while the peer handles the current one; the
        operations themselves are one at a time (no Asynchronous Operations Window is
        negotiated, so one operation is outstanding, PS3.7 D.3.3.3)."""
        names = [os.fspath(p) for p in paths]
        loading: asyncio.Future[tuple[Dataset, bytes | None]] | None = None
        try:
            for index, path in enumerate(names):
                if loading is None:
                    loading = asyncio.ensure_future(asyncio.to_thread(_load_file, path))
                current, loading = loading, None
                try:
                    ds, whole = await current
                except (DicomError, OSError) as exc:
                    yield path, exc
                    continue
                finally:
                    if index + 1 < len(names):
                        loading = asyncio.ensure_future(
                            asyncio.to_thread(_load_file, names[index + 1]))
                try:
                    rsp = await self._store(ds, path, whole, None, priority)
                except (AssociationError, DicomError, OSError) as exc:
                    yield path, exc
                    continue
                yield path, rsp
        finally:
            if loading is not None:  # the caller stopped early: the read ahead is dropped
                loading.cancel()
                loading.add_done_callback(_drop_result)

    async def _store(self, ds: Dataset, path: str | None, whole: bytes | None,
                     move_originator: tuple[str, int] | None, priority: int) -> Dataset:
        """:meth:`store` of ``ds`` (the header of the file at ``path``, whose bytes are
        ``whole`` when it was read whole)."""
        sop_class = str(ds.get("SOPClassUID") or "")
        sop_instance = str(ds.get("SOPInstanceUID") or "")
        if not sop_class or not sop_instance:
            raise AssociationError("C-STORE needs SOPClassUID and SOPInstanceUID", None)
        source_ts = ds.transfer_syntax.uid if ds.transfer_syntax else None
        context_id, how = self.store_plan(sop_class, source_ts)
        target = self.contexts[context_id].transfer_syntax
        data: Any
        handle = None
        if how == "as-is" and whole is not None and not ts_mod.lookup(target).deflated:
            # Sent from the bytes read: views of them, no copy (PS3.8 Annex E.1 fragments).
            from dicomkit.net.storage import data_set_start

            offset = data_set_start(whole)
            end = len(whole)
            if (end - offset) % 2:
                raise InvalidDicomError(
                    f"{path}: data set of odd length {end - offset} (from byte {offset}); "
                    "not sent", offset=end)
            data = memoryview(whole)[offset:]
        elif how == "as-is" and path is not None and not ts_mod.lookup(target).deflated:
            # Opened now, so a file that went away fails before the command is sent.
            handle = open(path, "rb")  # noqa: SIM115 - closed below or by _file_chunks
            try:
                from dicomkit.net.storage import data_set_offset

                offset = await asyncio.to_thread(data_set_offset, path)
                handle.seek(offset)
                end = os.fstat(handle.fileno()).st_size
                if (end - offset) % 2:
                    # PS3.5 §7.1: a data set is even; an odd one cannot be cut into the even
                    # fragments PS3.8 Annex E.1 asks for, so it is not sent at all.
                    raise InvalidDicomError(
                        f"{path}: data set of odd length {end - offset} (from byte {offset}); "
                        "not sent", offset=end)
            except BaseException:
                handle.close()
                raise
            data = _file_chunks(handle, self.association.max_pdv_data())
        else:
            data = await asyncio.to_thread(_converted, path, ds, source_ts, target, how,
                                          self.transcoder)
        cmd = command(CommandField.C_STORE_RQ, AffectedSOPClassUID=sop_class,
                      AffectedSOPInstanceUID=sop_instance, Priority=priority)
        cmd.CommandDataSetType = DATA_SET_PRESENT
        if move_originator is not None:
            cmd.MoveOriginatorApplicationEntityTitle = move_originator[0]
            cmd.MoveOriginatorMessageID = move_originator[1]
        try:
            rsp = await self._single(context_id, cmd, data)
        except OSError as exc:
            if handle is None or isinstance(exc, ConnectionError):
                raise
            # The file could not be read to its end: the message is cut short, and the
            # association cannot carry another one (PS3.8 §9.3.5 has no way to retract it).
            await self.association.abort()
            raise AssociationError(f"reading {path} failed while sending it ({exc}); "
                                   "association aborted", self.association) from exc
        finally:
            if handle is not None:
                handle.close()
        return rsp.command

    def store_plan(self, sop_class: str, source_ts: str | None) -> tuple[int, str]:
        """(presentation context id, how) for sending an instance of ``sop_class`` stored in
        ``source_ts``: ``as-is`` when a context was accepted in that very syntax; ``write``
        (uncompressed to another uncompressed syntax, by the writer); ``decompress``
        (compressed pixel data to an uncompressed syntax, Explicit VR Little Endian first);
        ``transcode`` (to an accepted compressed syntax, lossless only: a lossy target is
        refused unless the stored codestreams are already valid in it). Raises
        :class:`CannotConvert` when the peer accepted no context for the SOP class."""
        candidates = [c for c in self.contexts.values() if c.abstract_syntax == sop_class]
        if not candidates:
            raise CannotConvert(f"the peer accepted no presentation context for SOP class "
                                f"{sop_class}", self.association)
        for context in candidates:
            if context.transfer_syntax == source_ts:
                return context.id, "as-is"
        native = sorted((c for c in candidates if c.transfer_syntax in UNCOMPRESSED_TS),
                        key=lambda c: UNCOMPRESSED_TS.index(c.transfer_syntax))
        if native:
            return native[0].id, "write" if is_native(source_ts) else "decompress"
        return candidates[0].id, "transcode"

    async def find(self, query: Dataset, model: str = "study",
                   priority: int = 0) -> AsyncIterator[tuple[int, Dataset | None]]:
        """C-FIND (PS3.7 §9.1.2): yields (status, identifier) for each pending match, then the
        final status with ``None``."""
        sop_class = MODELS.get(model, {}).get("find", model)
        context_id = self.context_for(sop_class)
        cmd = command(CommandField.C_FIND_RQ, AffectedSOPClassUID=sop_class, Priority=priority)
        cmd.CommandDataSetType = DATA_SET_PRESENT
        message_id, queue = await self._request(context_id, cmd, self._encode(query, context_id))
        self.last_message_id = message_id
        try:
            while True:
                rsp = await self.association.next_response(queue)
                status = rsp.status or 0
                if Status.category(status) == "Pending":
                    yield status, self._decode(rsp)
                    continue
                yield status, self._decode(rsp)
                return
        finally:
            self.association.forget(message_id)

    async def move(self, query: Dataset, destination: str, model: str = "study",
                   priority: int = 0) -> AsyncIterator[Dataset]:
        """C-MOVE (PS3.7 §9.1.4): yields each response command (sub-operation counts)."""
        sop_class = MODELS.get(model, {}).get("move", model)
        context_id = self.context_for(sop_class)
        cmd = command(CommandField.C_MOVE_RQ, AffectedSOPClassUID=sop_class, Priority=priority,
                      MoveDestination=destination)
        cmd.CommandDataSetType = DATA_SET_PRESENT
        async for response in self._retrieve(context_id, cmd, query):
            yield response

    async def get(self, query: Dataset, model: str = "study", priority: int = 0,
                  on_store: Callable[[Dataset, Message], Awaitable[int]] | None = None,
                  ) -> AsyncIterator[Dataset]:
        """C-GET (PS3.7 §9.1.3): storage sub-operations arrive as C-STORE requests on this
        association (the SCP role must have been negotiated); ``on_store`` gets each data set
        and returns a status. Yields each C-GET response command."""
        sop_class = MODELS.get(model, {}).get("get", model)
        context_id = self.context_for(sop_class)
        if on_store is not None:
            self.store_handler = on_store
        cmd = command(CommandField.C_GET_RQ, AffectedSOPClassUID=sop_class, Priority=priority)
        cmd.CommandDataSetType = DATA_SET_PRESENT
        async for response in self._retrieve(context_id, cmd, query):
            yield response

    async def _retrieve(self, context_id: int, cmd: Dataset,
                        query: Dataset) -> AsyncIterator[Dataset]:
        """C-MOVE/C-GET responses until the final one; the DIMSE timeout applies between
        responses (each sub-operation normally brings a pending response)."""
        message_id, queue = await self._request(context_id, cmd, self._encode(query, context_id))
        self.last_message_id = message_id
        self.last_identifier = None
        try:
            while True:
                rsp = await self.association.next_response(queue)
                if rsp.data is not None:
                    self.last_identifier = self._decode(rsp)
                yield rsp.command
                if Status.category(rsp.status or 0) != "Pending":
                    return
        finally:
            self.association.forget(message_id)

    async def cancel(self, message_id: int, context_id: int | None = None) -> None:
        """C-CANCEL (PS3.7 §9.3.2.3): ask the peer to stop operation ``message_id``."""
        if context_id is None:
            context_id = next(iter(self.contexts))
        cmd = command(CommandField.C_CANCEL_RQ, MessageIDBeingRespondedTo=message_id)
        await self.association.send_message(context_id, cmd)

    async def _on_request(self, message: Message) -> None:
        """Requests from the acceptor: C-STORE sub-operations of a C-GET, N-EVENT-REPORT."""
        from dicomkit.net.dimse import response_to

        field_ = message.command_field
        if field_ == CommandField.C_STORE_RQ:
            status = Status.OUT_OF_RESOURCES
            if self.store_handler is not None:
                try:
                    ds = self._decode(message)
                    status = await self.store_handler(ds, message) if ds is not None else 0xC000
                except InflateLimitError:  # PS3.4 B.2.3: refused, out of resources
                    status = Status.OUT_OF_RESOURCES
                except Exception:  # noqa: BLE001 - a handler failure is a failure status
                    status = Status.CANNOT_UNDERSTAND
            await self.association.send_message(message.context_id,
                                                response_to(message, status))
        elif field_ == CommandField.N_EVENT_REPORT_RQ:
            status = 0
            if self.event_handler is not None:
                try:
                    status = await self.event_handler(self._decode(message), message)
                except InflateLimitError:
                    status = Status.OUT_OF_RESOURCES
                except Exception:  # noqa: BLE001 - a handler failure is a failure status
                    log.exception("[%s] N-EVENT-REPORT handler failed",
                                  self.association.describe())
                    status = Status.PROCESSING_FAILURE
            await self.association.send_message(message.context_id, response_to(message, status))
        else:
            await self.association.send_message(
                message.context_id, response_to(message, Status.UNRECOGNIZED_OPERATION))

    # -- DIMSE-N (PS3.7 §10) -----------------------------------------------------------------------
    async def _n_op(self, field_: CommandField, sop_class: str, instance: str | None,
                    data: Dataset | None, via: str | None = None,
                    **values: Any) -> tuple[int, Dataset | None, Dataset]:
        """One DIMSE-N request and its response. ``via``: the abstract syntax whose
        presentation context carries it when that is not ``sop_class`` itself — a Meta SOP
        Class (PS3.4 H.3: the Print Management SOP classes travel on the context of the Basic
        Grayscale or Color Print Management Meta SOP Class)."""
        context_id = self.context_for(via or sop_class)
        requested = field_ in (CommandField.N_GET_RQ, CommandField.N_SET_RQ,
                               CommandField.N_ACTION_RQ, CommandField.N_DELETE_RQ)
        keys: dict[str, Any] = {}
        if requested:
            keys = {"RequestedSOPClassUID": sop_class, "RequestedSOPInstanceUID": instance}
        else:
            keys = {"AffectedSOPClassUID": sop_class, "AffectedSOPInstanceUID": instance}
        cmd = command(field_, **keys, **values)
        payload = None
        if data is not None:
            cmd.CommandDataSetType = DATA_SET_PRESENT
            payload = self._encode(data, context_id)
        rsp = await self._single(context_id, cmd, payload)
        return rsp.status or 0, self._decode(rsp), rsp.command

    async def n_get(self, sop_class: str, instance: str, attributes: Sequence[int] = (), *,
                    via: str | None = None) -> Any:
        return await self._n_op(CommandField.N_GET_RQ, sop_class, instance, None, via,
                                AttributeIdentifierList=list(attributes) or None)

    async def n_set(self, sop_class: str, instance: str, modification: Dataset, *,
                    via: str | None = None) -> Any:
        return await self._n_op(CommandField.N_SET_RQ, sop_class, instance, modification, via)

    async def n_action(self, sop_class: str, instance: str, action_type: int,
                       info: Dataset | None = None, *, via: str | None = None) -> Any:
        return await self._n_op(CommandField.N_ACTION_RQ, sop_class, instance, info, via,
                                ActionTypeID=action_type)

    async def n_create(self, sop_class: str, instance: str | None = None,
                       attributes: Dataset | None = None, *, via: str | None = None) -> Any:
        return await self._n_op(CommandField.N_CREATE_RQ, sop_class, instance, attributes, via)

    async def n_delete(self, sop_class: str, instance: str, *, via: str | None = None) -> Any:
        return await self._n_op(CommandField.N_DELETE_RQ, sop_class, instance, None, via)

    async def n_event_report(self, sop_class: str, instance: str, event_type: int,
                             info: Dataset | None = None, *, via: str | None = None) -> Any:
        return await self._n_op(CommandField.N_EVENT_REPORT_RQ, sop_class, instance, info, via,
                                EventTypeID=event_type)

    # -- end -----------------------------------------------------------------------------------------
    async def release(self) -> None:
        await self.association.release()

    async def abort(self) -> None:
        await self.association.abort()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.release()
        else:
            await self.abort()


#: A file up to this size is read whole, in one system call, and sent from memory; a larger
#: one is streamed from disk in chunks.
WHOLE_FILE_BYTES = 64 * 1024 * 1024
_STORE_TAGS = (0x00080016, 0x00080018)  # SOP Class UID, SOP Instance UID


def _load_file(path: str) -> tuple[Dataset, bytes | None]:
    """The header C-STORE needs (SOP Class and Instance UIDs, the transfer syntax) and, for a
    file of at most :data:`WHOLE_FILE_BYTES`, the whole file's bytes (else None)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > WHOLE_FILE_BYTES:
            return read(path, stop_before_pixels=True, tags=_STORE_TAGS), None
        whole = handle.read()
    return read(whole, stop_before_pixels=True, tags=_STORE_TAGS), whole


def _drop_result(future: asyncio.Future[Any]) -> None:
    """Retrieve a dropped read-ahead's outcome, so no error is reported as never retrieved."""
    if not future.cancelled():
        future.exception()


async def _file_chunks(handle: Any, fragment: int) -> AsyncIterator[bytes]:
    """The rest of an open file (a Part 10 file positioned at its data set), in chunks of a
    whole number of fragments (at least 64 KiB), so no chunk leaves a short fragment."""
    size = fragment * -(-65536 // fragment)
    while True:
        chunk = handle.read(size)
        if not chunk:
            return
        yield chunk


class CannotConvert(AssociationError):
    """A C-STORE that cannot be sent in any transfer syntax the peer accepted for its SOP
    class (no context for the class, no codec, or only a lossy target): nothing was sent and
    the association is unharmed."""


Transcoder = Callable[[Dataset, TransferSyntax], Dataset]
"""Re-encodes the pixel data of a data set in another transfer syntax, never lossily (a lossy
target only when the stored codestreams are already valid in it). The network layer does not
decode pixels itself: whoever opens the association passes one in —
:func:`dicomkit.pixels.transcode.lossless` is the package's."""


def _converted(path: str | None, ds: Dataset, source_ts: str | None, target: str,
               how: str, transcoder: Transcoder | None) -> bytes:
    """The data set, read whole from ``path`` when given, encoded in ``target``."""
    if path is not None:
        ds = read(path)
    target_ts = ts_mod.lookup(target)
    if how in ("decompress", "transcode"):
        if transcoder is None:
            raise CannotConvert(
                f"{ds.get('SOPInstanceUID')} has compressed pixel data in {source_ts} and the "
                f"peer accepted {target}; no transcoder was given (connect(..., transcoder="
                "dicomkit.pixels.transcode.lossless) converts it)", None)
        try:
            ds = transcoder(ds, target_ts)
        except (DicomError, ImportError, ValueError, NotImplementedError) as exc:
            raise CannotConvert(f"cannot convert {ds.get('SOPInstanceUID')} from transfer "
                                f"syntax {source_ts} to {target}: {exc}", None) from exc
    return dataset_to_bytes(ds, target_ts)


class _Connector:
    """``connect(...)`` is both awaitable and an async context manager."""

    def __init__(self, coro_factory: Callable[[], Awaitable[Client]]) -> None:
        self._factory = coro_factory
        self._client: Client | None = None

    def __await__(self) -> Any:
        return self._factory().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._factory()
        return self._client

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._client is not None
        await self._client.__aexit__(exc_type, exc, tb)


def connect(host: str, port: int, *, calling_aet: str = "DICOMKIT", called_aet: str = "ANY-SCP",
            contexts: Sequence[ContextSpec] | None = None, scp_roles: Iterable[str] = (),
            roles: Mapping[str, tuple[bool, bool]] | None = None,
            max_pdu: int = DEFAULT_MAX_PDU, timeouts: Timeouts | None = None,
            ssl_context: ssl.SSLContext | None = None,
            user_identity: P.UserIdentityRQ | None = None,
            transcoder: Transcoder | None = None) -> _Connector:
    """Open an association (PS3.8 §7.1, state machine AE-1 … AE-3). ``transcoder`` converts
    compressed instances that :meth:`Client.store` must send in another syntax (without one,
    such a store raises :class:`CannotConvert`). ``scp_roles`` and ``roles``: the SCP/SCU
    Role Selection to propose (:func:`build_request`)."""
    proposal = list(contexts) if contexts else [(VERIFICATION, UNCOMPRESSED_TS[:2])]
    rq = build_request(calling_aet, called_aet, proposal, max_pdu=max_pdu, scp_roles=scp_roles,
                       roles=roles, user_identity=user_identity)

    async def establish() -> Client:
        times = timeouts or Timeouts()
        try:
            stream = await asyncio.wait_for(
                open_stream(host, port, ssl=ssl_context,
                            server_hostname=host if ssl_context else None),
                times.artim)
        except (OSError, TimeoutError) as exc:
            raise AssociationError(f"cannot connect to {host}:{port}: {exc}") from exc
        association = Association(stream, Role.REQUESTOR, timeouts=times,
                                  max_pdu=max_pdu)
        association.calling_ae, association.called_ae = calling_aet, called_aet
        association.fsm.step("Evt1")  # AE-1
        association.fsm.step("Evt2")  # AE-2: send the A-ASSOCIATE-RQ
        await association.send_pdu(rq)
        try:
            reply = await association.read_pdu(times.artim)
        except (TimeoutError, ConnectionError, OSError, P.PDUError) as exc:
            await association.close_transport()
            raise AssociationError(f"no A-ASSOCIATE answer from {host}:{port}: {exc}",
                                   association) from exc
        if isinstance(reply, P.AAssociateAC):
            association.fsm.step("Evt3")  # AE-3
            association.negotiated_from(rq, reply)
            association.start()
            return Client(association, transcoder=transcoder)
        if isinstance(reply, P.AAssociateRJ):
            association.fsm.step("Evt4")  # AE-4
            await association.close_transport()
            raise AssociationRejected(reply, association)
        if isinstance(reply, P.AAbort):
            association.fsm.step("Evt16")
            await association.close_transport()
            raise AssociationError("the peer aborted the association request", association)
        await association.abort()
        raise AssociationError(f"unexpected {type(reply).__name__} in answer to the request",
                               association)

    return _Connector(establish)
