"""Serving the DICOMweb application with uvicorn inside an existing asyncio event loop, next
to the DIMSE server of ``dicomkit serve``: one process, one loop, one archive.

The listening socket is bound here, before uvicorn starts, so a port in use is reported as an
ordinary ``OSError`` instead of uvicorn's ``sys.exit``; signals stay with the caller (uvicorn's
own handlers would take SIGTERM away from the DIMSE server).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import uvicorn

from dicomkit.net.tls import ServerTLS


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
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
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
