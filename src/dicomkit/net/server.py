"""The acceptor (SCP) side: a server framework for many concurrent associations.

``Server(handler=MyHandler(), ae_title="ARCHIVE", port=11112)``; the handler (a
:class:`~dicomkit.net.service.ServiceHandler`, the server's only view of the services) answers
each DIMSE service. Each request is handed on as a :class:`~dicomkit.net.service.Request`;
C-MOVE and C-GET sub-operations are :class:`~dicomkit.net.retrieve.RetrieveOperation`'s. Association negotiation follows PS3.8 §7.1 and PS3.7 Annex D: called-AE check, an
optional calling-AE accept list, transfer syntax choice by our preference, SCP/SCU role
selection, user identity, and limits on associations and presentation contexts.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.deflate import InflateLimitError
from dicomkit.encoding.writer import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from dicomkit.net import pdu as P
from dicomkit.net.association import (
    DEFAULT_MAX_PDU,
    AcceptedContext,
    Association,
    AssociationError,
    DataSink,
    Timeouts,
    describe_rejection,
)
from dicomkit.net.client import Transcoder
from dicomkit.net.dimse import CommandField, Message, Status, response_to
from dicomkit.net.events import ServerObserver
from dicomkit.net.fsm import Role
from dicomkit.net.retrieve import RetrieveOperation, StoreSettings
from dicomkit.net.service import (
    PENDING_BATCH,
    PENDING_BATCH_BYTES,
    NResponse,
    Request,
    ServiceFailure,
    ServiceHandler,
    limit_comment,
)
from dicomkit.net.stream import PDUStream, start_server
from dicomkit.net.uids import APPLICATION_CONTEXT

log = logging.getLogger("dicomkit.net.server")


@dataclass
class ServerStats:
    associations: int = 0
    active: int = 0
    rejected: int = 0
    aborted: int = 0
    messages: int = 0


@dataclass
class Server:
    handler: ServiceHandler = field(default_factory=ServiceHandler)
    ae_title: str = "DICOMKIT"
    host: str = "127.0.0.1"
    port: int = 11112
    accept_calling_aets: Iterable[str] | None = None  # None: any calling AE
    require_called_aet: bool = True
    max_associations: int = 64
    max_pdu: int = DEFAULT_MAX_PDU
    timeouts: Timeouts = field(default_factory=Timeouts)
    ssl_context: ssl.SSLContext | None = None
    on_association: Callable[[Association], None] | None = None
    observer: ServerObserver = field(default_factory=ServerObserver)  # e.g. an audit trail
    # Converts compressed instances C-MOVE/C-GET must send in another syntax (net/ decodes no
    # pixels itself; dicomkit serve passes dicomkit.pixels.transcode.lossless).
    transcoder: Transcoder | None = None
    # PS3.5 A.5: a message received deflated is refused past this many inflated bytes
    # (None: dicomkit.encoding.deflate.default_limit(), which serve's --max-inflated-size sets).
    max_inflated: int | None = None

    def __post_init__(self) -> None:
        self.stats = ServerStats()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._allowed = (None if self.accept_calling_aets is None
                         else {a.strip() for a in self.accept_calling_aets})

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await start_server(self._connected, self.host, self.port,
                                          ssl=self.ssl_context, reuse_address=True)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("%s listening on %s:%s", self.ae_title, self.host, self.port)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self, grace: float = 2.0) -> None:
        """Stop listening, give running associations ``grace`` seconds to finish, then abort
        the rest (their partial data sets are dropped; nothing acknowledged is lost)."""
        if self._server is not None:
            self._server.close()
        if self._tasks and grace > 0:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- one connection --------------------------------------------------------------------------------
    def _connected(self, stream: PDUStream) -> None:
        """A connection is up (TLS: its handshake done): serve it in a task of its own."""
        stream.task = asyncio.get_running_loop().create_task(self._serve(stream))

    async def _serve(self, stream: PDUStream) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        association = Association(stream, Role.ACCEPTOR, timeouts=self.timeouts,
                                  max_pdu=self.max_pdu)
        self.stats.associations += 1
        self.stats.active += 1
        try:
            await self._run(association)
        except asyncio.CancelledError:
            await association.abort()
        except Exception:  # noqa: BLE001 - one association's failure never stops the server
            log.exception("[%s] association failed", association.describe())
            await association.abort()
        finally:
            self.stats.active -= 1
            if task is not None:
                self._tasks.discard(task)

    async def _run(self, association: Association) -> None:
        fsm = association.fsm
        fsm.step("Evt5")  # AE-5: start ARTIM, wait for the A-ASSOCIATE-RQ
        try:
            rq = await association.read_pdu(self.timeouts.artim)
        except TimeoutError:
            fsm.step("Evt18")  # AA-2
            await association.close_transport()
            return
        except P.PDUError as exc:
            log.warning("[%s] bad association request: %s", association.describe(), exc)
            fsm.step("Evt19")  # AA-1
            await association.send_provider_abort(exc.abort_reason)
            return
        except (ConnectionError, OSError):
            await association.close_transport()
            return
        if not isinstance(rq, P.AAssociateRQ):
            fsm.step({P.AAbort: "Evt16"}.get(type(rq), "Evt19"))
            await association.send_provider_abort(reason=2)
            return
        association.calling_ae, association.called_ae = rq.calling_ae, rq.called_ae
        rejection = self._check(rq, association)
        fsm.step("Evt6", acceptable=rejection is None)  # AE-6
        if rejection is not None:
            self.stats.rejected += 1
            log.info("[%s] rejected: %s", association.describe(), describe_rejection(rejection))
            self.observer.association_rejected(association, rejection)
            await association.send_pdu(rejection)
            await association.close_transport()
            return
        ac = self._negotiate(rq, association)
        if isinstance(ac, P.AAssociateRJ):
            fsm.step("Evt8")  # AE-8
            self.stats.rejected += 1
            self.observer.association_rejected(association, ac)
            await association.send_pdu(ac)
            await association.close_transport()
            return
        fsm.step("Evt7")  # AE-7
        association.negotiated_from(rq, ac)
        await association.send_pdu(ac)
        log.info("[%s] association accepted, %d context(s)", association.describe(),
                 len(association.contexts))
        association.sink_factory = self._sink_factory(association)
        association.on_request = self._dispatcher(association)
        if self.on_association is not None:
            self.on_association(association)
        self.observer.association_accepted(association)
        try:
            association.start()
            await association.wait_closed_forever()
        finally:
            self.observer.association_closed(association)

    def _check(self, rq: P.AAssociateRQ, association: Association) -> P.AAssociateRJ | None:
        """PS3.8 Table 9-21 rejections."""
        if rq.protocol_version & 1 == 0:
            return P.AAssociateRJ(result=1, source=2, reason=2)
        if rq.application_context != APPLICATION_CONTEXT:
            return P.AAssociateRJ(result=1, source=1, reason=2)
        if self.require_called_aet and rq.called_ae.strip() != self.ae_title:
            return P.AAssociateRJ(result=1, source=1, reason=7)
        if self._allowed is not None and rq.calling_ae.strip() not in self._allowed:
            return P.AAssociateRJ(result=1, source=1, reason=3)
        if self.stats.active > self.max_associations:
            return P.AAssociateRJ(result=2, source=3, reason=2)
        return None

    def _negotiate(self, rq: P.AAssociateRQ,
                   association: Association) -> P.AAssociateAC | P.AAssociateRJ:
        supported = self.handler.abstract_syntaxes()
        # SOP classes the requestor will be the Storage SCP for (C-GET sub-operations, PS3.7
        # D.3.3.4): on their contexts the receiver's order of preference decides (PS3.8
        # §9.3.2.2 leaves the choice to the acceptor), so an instance stored in the syntax
        # the requestor put first goes out as stored instead of being converted.
        receiving = {role.sop_class_uid for role in rq.user_info.roles
                     if role.scp_role and role.sop_class_uid in supported
                     and self.handler.accepts_scp_role(role.sop_class_uid)}
        results = []
        for context in rq.contexts:
            accepted_ts = supported.get(context.abstract_syntax)
            if accepted_ts is None:
                results.append(P.PresentationContextAC(context.id, 3, ""))
                continue
            if context.abstract_syntax in receiving:
                ours = set(accepted_ts)
                choice = next((ts for ts in context.transfer_syntaxes if ts in ours), None)
            else:
                offered = set(context.transfer_syntaxes)
                choice = next((ts for ts in accepted_ts if ts in offered), None)
            if choice is None:
                results.append(P.PresentationContextAC(context.id, 4, ""))
            else:
                results.append(P.PresentationContextAC(context.id, 0, choice))
        roles = []
        for role in rq.user_info.roles:
            if role.sop_class_uid in supported:
                scp = role.scp_role and self.handler.accepts_scp_role(role.sop_class_uid)
                roles.append(P.RoleSelection(role.sop_class_uid, role.scu_role, scp))
        identity_ac = None
        identity = rq.user_info.user_identity
        if isinstance(identity, P.UserIdentityRQ):
            verdict = self.handler.check_identity(association, identity)
            if verdict is False:
                return P.AAssociateRJ(result=1, source=1, reason=1)
            if identity.positive_response_requested:
                identity_ac = P.UserIdentityAC(verdict if isinstance(verdict, bytes) else b"")
        info = P.UserInformation(max_length=self.max_pdu,
                                 implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                                 implementation_version_name=IMPLEMENTATION_VERSION_NAME,
                                 async_ops=(1, 1) if rq.user_info.async_ops else None,
                                 roles=roles, user_identity=identity_ac)
        return P.AAssociateAC(called_ae=rq.called_ae, calling_ae=rq.calling_ae,
                              contexts=results, user_info=info)

    # -- DIMSE dispatch -----------------------------------------------------------------------------
    def _sink_factory(self, association: Association) -> Callable[..., DataSink | None]:
        def factory(message: Message, context: AcceptedContext) -> DataSink | None:
            if message.command_field != CommandField.C_STORE_RQ:
                return None
            return self.handler.store_sink(association, message, context)

        return factory

    def _dispatcher(self, association: Association) -> Callable[[Message], Any]:
        running: dict[int, asyncio.Event] = {}

        async def on_request(message: Message) -> None:
            self.stats.messages += 1
            field_ = message.command_field
            if field_ == CommandField.C_CANCEL_RQ:
                event = running.get(message.responding_to or -1)
                if event is not None:
                    event.set()
                return
            request = Request(association, message, max_inflated=self.max_inflated)
            message_id = message.message_id or 0
            running[message_id] = request.cancelled

            async def run() -> None:
                try:
                    await self._handle(request)
                except (AssociationError, ConnectionError) as exc:
                    # The association itself failed: no response can be sent on it.
                    log.info("[%s] %s", association.describe(), exc)
                except Exception:  # noqa: BLE001 - answer with a failure, keep serving
                    # Anything else (a file that cannot be read is an OSError too) still gets
                    # a final response (PS3.7 Annex C: 0110H Processing failure), never silence.
                    log.exception("[%s] handler failed", association.describe())
                    try:
                        await association.send_message(
                            message.context_id, response_to(message, Status.PROCESSING_FAILURE))
                    except (AssociationError, ConnectionError, OSError):
                        pass
                finally:
                    running.pop(message_id, None)

            # C-FIND/MOVE/GET run as tasks so a C-CANCEL can reach them; the rest in order.
            if field_ in (CommandField.C_FIND_RQ, CommandField.C_MOVE_RQ, CommandField.C_GET_RQ):
                asyncio.create_task(run())
            else:
                await run()

        return on_request

    def store_settings(self) -> StoreSettings:
        """How C-MOVE opens its association to a destination and C-MOVE/C-GET convert."""
        return StoreSettings(self.ae_title, self.timeouts, self.transcoder)

    async def _handle(self, request: Request) -> None:
        try:
            await self._dispatch(request)
        except InflateLimitError as exc:
            # A deflated identifier or N-service data set past the limit (PS3.7 Annex C:
            # A700 Refused: Out of Resources), with the limit in the Error Comment.
            log.error("[%s] %s", request.association.describe(), exc)
            await request.respond(Status.OUT_OF_RESOURCES, ErrorComment=limit_comment(exc))

    async def _dispatch(self, request: Request) -> None:
        association, message = request.association, request.message
        field_ = message.command_field
        handler = self.handler
        if field_ == CommandField.C_ECHO_RQ:
            await request.respond(await handler.echo(association, message))
        elif field_ == CommandField.C_STORE_RQ:
            try:
                status = await handler.store(association, message)
            except ServiceFailure as exc:  # a failure status with its Error Comment (0000,0902)
                self.observer.stored(association, message, exc.status)
                comment: dict[str, Any] = {"ErrorComment": exc.comment[:64]} \
                    if exc.comment else {}
                await request.respond(exc.status, None, **comment)
                return
            self.observer.stored(association, message, status)
            await request.respond_status(status)
        elif field_ == CommandField.C_FIND_RQ:
            self.observer.queried(association, message)  # PS3.15 A.5.3.10: the query issued
            await self._find(request)
        elif field_ in (CommandField.C_MOVE_RQ, CommandField.C_GET_RQ):
            await RetrieveOperation(request, handler, self.observer,
                                    self.store_settings()).run()
        elif field_ & 0x8000 == 0 and field_ >= 0x0100:
            await self._n_service(request)
        else:
            await request.respond(Status.UNRECOGNIZED_OPERATION)

    async def _n_service(self, request: Request) -> None:
        """A DIMSE-N request (PS3.7 §10): the handler's response, then its ``after`` work as
        a task (it may send requests on this association and await their responses, which
        this association's read loop delivers)."""
        association, message = request.association, request.message
        try:
            answer = await self.handler.n_service(association, message, request.identifier())
        except ServiceFailure as exc:
            self.observer.refused(association, message, exc.status, exc.comment)
            await request.respond(exc.status, None,
                                  ErrorComment=exc.comment[:64] if exc.comment else None)
            return
        if not isinstance(answer, NResponse):
            answer = NResponse(answer[0], answer[1])
        await request.respond(answer.status, answer.data, **answer.fields)
        if answer.after is not None:
            task = asyncio.create_task(answer.after())
            self._tasks.add(task)
            task.add_done_callback(self._after_done)

    def _after_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("work after a DIMSE-N response failed: %r", task.exception())

    async def _find(self, request: Request) -> None:
        """C-FIND (PS3.4 C.4.1.3): a pending response per match the handler yields, then the
        final one; a C-CANCEL that comes before the last match ends it with FE00 (C.4.1.3.1),
        one that comes after changes nothing (0000)."""
        association, message, cancel = request.association, request.message, request.cancelled
        identifier = request.identifier()
        if identifier is None:
            await request.respond(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS)
            return
        # Pending responses differ only in their identifier: each status's command set is
        # encoded once per C-FIND, not once per match.
        commands: dict[int, bytes] = {}
        try:
            matches = self.handler.find(association, message, identifier)
            try:
                async for status, match in matches:
                    if cancel.is_set():
                        await request.respond(Status.CANCEL)
                        return
                    if isinstance(match, list):
                        if Status.category(status) != "Pending":
                            raise ValueError(f"C-FIND handler gave a list of identifiers with "
                                             f"status {status:04X}, not Pending")
                        encoded = commands.get(status)
                        if encoded is None:
                            encoded = commands[status] = request.response_command(status)
                        if not await self._send_pending(request, encoded, match):
                            await request.respond(Status.CANCEL)
                            return
                        continue
                    if Status.category(status) != "Pending" or match is None:
                        await request.respond(status, match)
                        if Status.category(status) != "Pending" and \
                                not self.handler.interim_status(message, status):
                            return
                        continue
                    encoded = commands.get(status)
                    if encoded is None:
                        encoded = commands[status] = request.response_command(status)
                    payload = match if isinstance(match, bytes) else request.encode(match)
                    await association.send_message(message.context_id, encoded, payload)
            finally:
                # A cancelled or failed C-FIND closes the handler's generator (and so its
                # database cursor) at once, not whenever the garbage collector gets to it.
                close = getattr(matches, "aclose", None)
                if close is not None:
                    await close()
        except ServiceFailure as exc:
            self.observer.refused(association, message, exc.status, exc.comment)
            await request.respond(exc.status, ErrorComment=exc.comment[:64])
            return
        # Every match went out: a C-CANCEL that came after the last one stopped nothing, so
        # the answer is Success (PS3.4 C.4.1.3.1: Cancel when matching was interrupted).
        await request.respond(Status.SUCCESS)

    async def _send_pending(self, request: Request, encoded: bytes,
                            matches: list[Dataset | bytes]) -> bool:
        """Pending C-FIND responses with the identifiers ``matches``, written
        :data:`PENDING_BATCH` at a time (or fewer past :data:`PENDING_BATCH_BYTES`) by
        :meth:`Association.send_messages`, one system call each; between two writes the
        reader may take a C-CANCEL (PS3.7 §9.3.2.3), after which nothing more is sent. False
        when cancelled."""
        association, context_id = request.association, request.message.context_id
        batch: list[tuple[bytes, bytes | memoryview | None]] = []
        size = 0
        for number, match in enumerate(matches, 1):
            payload = match if isinstance(match, bytes) else request.encode(match)
            batch.append((encoded, payload))
            size += len(encoded) + len(payload)
            if len(batch) >= PENDING_BATCH or size >= PENDING_BATCH_BYTES \
                    or number == len(matches):
                await association.send_messages(context_id, batch)
                batch, size = [], 0
                if number < len(matches):
                    await asyncio.sleep(0)  # the reader's turn: a C-CANCEL may be waiting
                    if request.cancelled.is_set():
                        return False
        return True
