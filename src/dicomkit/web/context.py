"""What every DICOMweb route shares: the archive, the settings, and small helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import IO, Any

from starlette.responses import StreamingResponse
from starlette.types import Send

from dicomkit.archive.matching import compile_query
from dicomkit.archive.records import InstanceRow
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.web.auth import JWTSettings
from dicomkit.web.errors import WebError
from dicomkit.web.media import MediaRange, accept_of
from dicomkit.web.qido import check_uid
from dicomkit.web.server import ZEROCOPY

CHUNK = 1 << 20  # bytes read from a file per step when streaming
ROOT = "/dicom-web"
STORED_INSTANCES = "dicomkit.stored"  # ASGI scope key: SOP Instance UIDs STOW-RS stored
DELETED = "dicomkit.deleted"  # ASGI scope key: (level, audit summary) of what DELETE removed


@dataclass
class WebSettings:
    """``dicomkit serve`` options of the web service (TOML keys of the same names)."""

    base_url: str | None = None  # the public root, e.g. https://pacs.example.org/dicom-web
    max_results: int = 10000  # QIDO-RS matches per response at most
    cors_origins: list[str] = field(default_factory=list)
    bearer_tokens: list[str] = field(default_factory=list)
    basic_users: dict[str, str] = field(default_factory=dict)
    jwt: JWTSettings | None = None  # OAuth 2.0 / OIDC access tokens (web/auth.py)
    ae_title: str = "DICOMKIT"  # the archive's AE title: the calling AE of sends from the UI
    peers: dict[str, tuple[str, int]] = field(default_factory=dict)  # AE title -> (host, port)


@dataclass
class WebContext:
    archive: Archive
    settings: WebSettings

    def base(self, request: Any) -> str:
        """The service root URL (PS3.18 §8.2), for Retrieve URLs and bulk data references."""
        if self.settings.base_url:
            return self.settings.base_url.rstrip("/")
        url = request.url
        netloc = url.netloc
        server = request.scope.get("server")
        default = 443 if url.scheme == "https" else 80
        if url.port is None and server and server[1] != default and url.hostname:
            # A Host header without the port (dicomweb-client sends one) would name port 80;
            # the port this request came in on is the one that answers. Behind a reverse
            # proxy, set base_url instead.
            netloc = f"{netloc}:{server[1]}"
        return f"{url.scheme}://{netloc}{ROOT}"

    async def locate(self, study: str, series: str | None = None,
                     instance: str | None = None) -> list[InstanceRow]:
        """The instances of a study, series or instance (in ingest order); 404 when none."""
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE"
        named = [(0x0020000D, study, "Study Instance UID")]
        if series is not None:
            named.append((0x0020000E, series, "Series Instance UID"))
        if instance is not None:
            named.append((0x00080018, instance, "SOP Instance UID"))
        for tag, uid, what in named:
            identifier[tag] = DataElement(tag, "UI", check_uid(uid, what))
        query = compile_query(identifier, "study")
        rows = await asyncio.to_thread(self.archive.index.instances_of, query.where)
        if not rows:
            what = ("instance " + str(instance) if instance else
                    "series " + str(series) if series else "study " + study)
            raise WebError(404, f"the archive holds no {what}"
                           + (f" in study {study}" if series or instance else ""))
        return rows

    def path_of(self, row: InstanceRow) -> str:
        return self.archive.absolute(row.path)


def instance_url(base: str, row: InstanceRow) -> str:
    return (f"{base}/studies/{row.study_uid}/series/{row.series_uid}"
            f"/instances/{row.sop_uid}")


async def file_range(path: str, start: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of a file from ``start``, read in a worker thread chunk by chunk so
    the event loop (shared with the DIMSE server) never waits on the disk."""
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(handle.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, remaining))
            if not chunk:
                raise OSError(f"{path} ended {remaining} byte(s) early")
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def file_size(path: str) -> int:
    return os.path.getsize(path)


# -- bodies of files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FileSpan:
    """``length`` bytes of the file at ``path`` from ``offset`` (None: to its end, as long as
    the file is when it is sent), sent as they are."""

    path: str
    offset: int = 0
    length: int | None = None


async def one_span(span: FileSpan) -> AsyncIterator[bytes | FileSpan]:
    """A body of one span (a whole file, say), for :class:`SpanResponse`."""
    yield span


# Body pieces taken from the producer ahead of the socket, their files opened: up to AHEAD
# pieces or AHEAD_BYTES of bytes pieces, refilled when half are sent.
AHEAD = 48
AHEAD_BYTES = 8 << 20


class SpanResponse(StreamingResponse):
    """A streamed body of bytes and :class:`FileSpan` s (an async iterable of both, in order;
    consecutive bytes are sent as one piece). When the server offers the ASGI zero copy send
    extension (:data:`dicomkit.web.server.ZEROCOPY`: ``dicomkit serve`` over plain HTTP), a
    span goes from the page cache to the socket by sendfile, its file opened in a worker thread
    while the pieces before it are sent; otherwise (TLS, other servers, the test client) it is
    read in worker threads chunk by chunk (:func:`file_range`). The bytes on the wire are the
    same either way; a file shorter than its span is an error that ends the response."""

    def __init__(self, pieces: AsyncIterable[bytes | FileSpan], status_code: int = 200,
                 headers: dict[str, str] | None = None, media_type: str | None = None) -> None:
        super().__init__(pieces, status_code=status_code,  # type: ignore[arg-type]
                         headers=headers, media_type=media_type)  # spans: stream_response
        self.zero_copy = False

    async def __call__(self, scope: Any, receive: Any, send: Send) -> None:
        self.zero_copy = ZEROCOPY in (scope.get("extensions") or {})
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        body: AsyncIterable[bytes | FileSpan] = self.body_iterator  # type: ignore[assignment]
        held = bytearray()
        source: AsyncGenerator[Any, None] = (_opened_ahead(body) if self.zero_copy
                                             else _as_is(body))
        async with contextlib.aclosing(source) as pieces:
            async for piece in pieces:
                if isinstance(piece, bytes | bytearray | memoryview):
                    held += piece
                    continue
                if held:
                    await send({"type": "http.response.body", "body": bytes(held),
                                "more_body": True})
                    held.clear()
                if isinstance(piece, FileSpan):
                    await self._send_read(send, piece)
                else:
                    await _send_opened(send, piece)
        await send({"type": "http.response.body", "body": bytes(held), "more_body": False})

    @staticmethod
    async def _send_read(send: Send, span: FileSpan) -> None:
        length = span.length
        if length is None:
            length = await asyncio.to_thread(file_size, span.path) - span.offset
        async for chunk in file_range(span.path, span.offset, length):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _as_is(pieces: AsyncIterable[bytes | FileSpan]
                 ) -> AsyncGenerator[bytes | FileSpan, None]:
    async for piece in pieces:
        yield piece


async def _send_opened(send: Send, pending: _Pending) -> None:
    opened = await pending.get()
    try:
        await send({"type": ZEROCOPY, "file": opened.file, "offset": opened.offset,
                    "count": opened.count, "more_body": True})
    finally:
        opened.file.close()


@dataclass
class _Opened:
    file: IO[bytes]
    offset: int
    count: int


def _open_span(span: FileSpan) -> _Opened:
    """Open a span's file, check it holds the span, and ask the kernel to read it ahead (so
    the sendfile on the event loop finds it in the page cache)."""
    handle = open(span.path, "rb")  # noqa: SIM115 - closed by the response once sent
    try:
        size = os.fstat(handle.fileno()).st_size
        count = size - span.offset if span.length is None else span.length
        if span.offset + count > size:
            raise OSError(f"{span.path} ended {span.offset + count - size} byte(s) early")
        if count > 0 and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(handle.fileno(), span.offset, count, os.POSIX_FADV_WILLNEED)
        return _Opened(handle, span.offset, count)
    except BaseException:
        handle.close()
        raise


def _open_spans(spans: list[FileSpan]) -> list[_Opened | OSError]:
    """Several spans opened in one worker thread step; a failure is kept in its place."""
    out: list[_Opened | OSError] = []
    for span in spans:
        try:
            out.append(_open_span(span))
        except OSError as exc:
            out.append(exc)
    return out


@dataclass
class _Pending:
    """A span being opened: its place in a batch opened by one worker thread step."""

    batch: asyncio.Future[list[_Opened | OSError]]
    index: int

    async def get(self) -> _Opened:
        try:
            found = (await asyncio.shield(self.batch))[self.index]
        except BaseException:
            self.forget()
            raise
        if isinstance(found, OSError):
            raise found
        return found

    def forget(self) -> None:
        """Never sent: close the file once opened."""
        def close(done: asyncio.Future[list[_Opened | OSError]]) -> None:
            if not done.cancelled() and done.exception() is None:
                found = done.result()[self.index]
                if isinstance(found, _Opened):
                    found.file.close()
        self.batch.add_done_callback(close)


async def _opened_ahead(pieces: AsyncIterable[bytes | FileSpan]
                        ) -> AsyncGenerator[bytes | _Pending, None]:
    """The pieces, with the files of the spans among the next :data:`AHEAD` pieces opened
    in one worker thread step while the pieces before them are sent; files opened but
    never sent are closed."""
    source = aiter(pieces)
    window: deque[bytes | FileSpan | _Pending] = deque()
    exhausted = False
    try:
        while True:
            if len(window) <= AHEAD // 2:
                held = sum(len(p) for p in window if isinstance(p, bytes))
                while not exhausted and len(window) < AHEAD and held < AHEAD_BYTES:
                    try:
                        window.append(await anext(source))
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    if isinstance(window[-1], bytes):
                        held += len(window[-1])
            spans = [piece for piece in window if isinstance(piece, FileSpan)]
            if spans:
                batch = asyncio.ensure_future(asyncio.to_thread(_open_spans, spans))
                numbered = iter(range(len(spans)))
                window = deque(_Pending(batch, next(numbered)) if isinstance(piece, FileSpan)
                               else piece for piece in window)
            if not window:
                return
            piece = window.popleft()
            assert not isinstance(piece, FileSpan)
            yield piece
    finally:
        for left in window:
            if isinstance(left, _Pending):
                left.forget()


# -- what a route reads from its request ------------------------------------------------------
def context(request: Any) -> WebContext:
    """The web service's context, kept on the Starlette application's state."""
    ctx: WebContext = request.app.state.dicomweb
    return ctx


def accept(request: Any) -> list[MediaRange]:
    """The request's Accept ranges: the ``accept`` query parameter (PS3.18 §8.3.3.1) or the
    header."""
    return accept_of(request.headers.get("accept"), request.query_params.get("accept"))


def request_uids(request: Any) -> tuple[str, str | None, str | None]:
    """(study, series, instance) UIDs of the route's path; series and instance may be None."""
    params = request.path_params
    return params["study"], params.get("series"), params.get("instance")
