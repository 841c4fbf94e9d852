"""Serving the DICOMweb application with uvicorn inside an existing asyncio event loop, next
to the DIMSE server of ``dicomkit serve``: one process, one loop, one archive.

The listening socket is bound here, before uvicorn starts, so a port in use is reported as an
ordinary ``OSError`` instead of uvicorn's ``sys.exit``; signals stay with the caller (uvicorn's
own handlers would take SIGTERM away from the DIMSE server).

On plain HTTP connections the application is offered the ASGI zero copy send extension
(:data:`ZEROCOPY`, asgiref's "Zero Copy Send"): a file region handed to it goes from the page
cache to the socket by ``os.sendfile`` (:meth:`asyncio.loop.sendfile`), framed by uvicorn's h11
connection without its bytes passing through Python (:class:`ZeroCopySend`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomkit.net.tls import ServerTLS

#: The scope extension and message type of asgiref's Zero Copy Send: ``{"type": ZEROCOPY,
#: "file": <binary file object>, "offset": int, "count": int, "more_body": bool}``.
ZEROCOPY = "http.response.zerocopysend"


class _Region:
    """A file region as h11 passes it through unframed (h11's ``send_with_data_passthrough``,
    its "sendfile" recipe): only its length is read."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count


class ZeroCopySend:
    """ASGI middleware, the outermost: offers :data:`ZEROCOPY` on the connections where it can
    be carried out, uvicorn's h11 protocol on plain TCP (not TLS: the bytes must be encrypted
    in user space; not HEAD: there is no body). The request's ``send`` is then uvicorn's
    response cycle, whose h11 connection frames the region (a chunk of a chunked body, or
    counted against Content-Length) and whose transport's socket takes it by sendfile. Any
    other server, or another uvicorn protocol, gets no extension and the application streams
    the bytes itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cycle: Any = getattr(send, "__self__", None)
        if scope["type"] != "http" or scope.get("method") == "HEAD" or not _can_sendfile(cycle):
            await self.app(scope, receive, send)
            return
        scope["extensions"] = {**(scope.get("extensions") or {}), ZEROCOPY: {}}
        broken = False

        async def zero_copy_send(message: Message) -> None:
            nonlocal broken
            if broken:  # the client went away during a sendfile: nothing more to say
                return
            if message["type"] != ZEROCOPY:
                await send(message)
                return
            try:
                await _sendfile(cycle, message)
            except ConnectionError:
                broken = True
                cycle.transport.close()
                return
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(scope, receive, zero_copy_send)


def _can_sendfile(cycle: Any) -> bool:
    """Is ``cycle`` a uvicorn h11 response cycle on a plain TCP socket?"""
    transport = getattr(cycle, "transport", None)
    return (isinstance(getattr(cycle, "conn", None), h11.Connection)
            and all(hasattr(cycle, name) for name in ("flow", "disconnected",
                                                      "response_started", "response_complete"))
            and isinstance(transport, asyncio.Transport)
            and transport.get_extra_info("sslcontext") is None
            and transport.get_extra_info("socket") is not None)


async def _sendfile(cycle: Any, message: Message) -> None:
    """One :data:`ZEROCOPY` message on uvicorn's h11 cycle: h11 frames the region, the socket
    takes the file's bytes by sendfile. A file shorter than the region breaks the body's
    framing: the connection is closed and the error raised."""
    if cycle.flow.write_paused and not cycle.disconnected:
        await cycle.flow.drain()
    if cycle.disconnected or cycle.transport.is_closing():
        return
    if not cycle.response_started or cycle.response_complete:
        raise RuntimeError(f"ASGI message {ZEROCOPY!r} outside a response body")
    file = message["file"]
    offset = int(message.get("offset") or 0)
    count = message.get("count")
    if count is None:
        count = os.fstat(file.fileno()).st_size - offset
    if count <= 0:
        return
    region = _Region(int(count))
    transport = cycle.transport
    for piece in cycle.conn.send_with_data_passthrough(
            h11.Data(data=region)) or ():  # type: ignore[arg-type]  # h11's sendfile recipe
        if piece is not region:
            transport.write(piece)
            continue
        if transport.is_closing():  # the write above found the peer gone
            raise ConnectionResetError("the client closed the connection")
        sent = 0
        if transport.get_write_buffer_size() == 0:
            # Nothing queued before the region: one sendfile straight to the socket, which
            # usually takes it all; what it does not take goes by loop.sendfile, waiting for
            # the socket to drain.
            with contextlib.suppress(BlockingIOError, InterruptedError):
                sent = os.sendfile(transport.get_extra_info("socket").fileno(),
                                   file.fileno(), offset, region.count)
        if sent < region.count:
            sent += await asyncio.get_running_loop().sendfile(
                transport, file, offset + sent, region.count - sent)
        if sent != region.count:
            transport.close()
            raise OSError(f"{getattr(file, 'name', 'a file')} ended "
                          f"{region.count - sent} byte(s) early")


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller handles SIGTERM and SIGINT and calls HttpServer.stop


class HttpServer:
    """``await start()`` listens on host:port (0: any free port); ``await stop()`` stops
    accepting, lets running requests finish (up to ``grace`` seconds) and returns. With
    ``tls`` it serves HTTPS only (PS3.18 §8.1.2 leaves security to the transport; the same
    certificate, key and client CA as the DIMSE TLS port, PS3.15 B.1)."""

    def __init__(self, app: Any, host: str, port: int, *, grace: float = 5.0,
                 tls: ServerTLS | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.grace = grace
        self.tls = tls
        self._server: _Embedded | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY)
        # only on sockets it can tell are TCP; with protocol 0 every small response waited
        # ~40 ms for the client's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        tls: dict[str, Any] = {}
        if self.tls is not None:
            tls = {"ssl_certfile": self.tls.cert, "ssl_keyfile": self.tls.key,
                   "ssl_ca_certs": self.tls.ca,
                   "ssl_cert_reqs": ssl.CERT_REQUIRED if self.tls.ca else ssl.CERT_NONE}
        app = self.app if self.tls is not None else ZeroCopySend(self.app)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=int(self.grace),
                                timeout_keep_alive=30, **tls)
        self._server = _Embedded(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]),
                                         name="dicomkit-http")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise OSError(f"the HTTP server on {self.host}:{self.port} did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.grace + 5)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
