"""Zero-copy responses (``dicomkit.web.server.ZeroCopySend``, ``context.SpanResponse``): over
a real uvicorn connection whole files go by sendfile, and the bytes a client receives are the
same as those of the streamed path (Starlette's test client, which offers no extension):
status, headers and the multipart framing, boundaries aside (each response draws its own)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from dicomkit import read, write
from dicomkit.archive.store import Archive
from dicomkit.core.uid import generate_uid
from dicomkit.web.app import create_app
from dicomkit.web.context import FileSpan, SpanResponse, WebSettings
from dicomkit.web.server import ZEROCOPY, HttpServer
from tests.support.datasets import make_instance, pydicom_file

MULTIPART_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _served(app: Any, work: Callable[[str], Awaitable[Any]]) -> Any:
    """Run ``work(base URL)`` against ``app`` served by :class:`HttpServer` on a free port."""
    async def run() -> Any:
        server = HttpServer(app, "127.0.0.1", 0)
        await server.start()
        try:
            return await work(f"http://127.0.0.1:{server.port}")
        finally:
            await server.stop()
    return asyncio.run(run())


def _get_all(paths: list[tuple[str, dict[str, str]]]) -> Callable[[str], Awaitable[Any]]:
    async def work(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            return [await http.get(path, headers=headers) for path, headers in paths]
    return work


def _normalized(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (no date; the boundary replaced) and body with the boundary replaced."""
    headers = {k: v for k, v in response.headers.items() if k not in ("date",)}
    found = re.search(r"boundary=([0-9a-f]{32})", headers.get("content-type", ""))
    body = response.content
    if found:
        boundary = found.group(1)
        headers["content-type"] = headers["content-type"].replace(boundary, "B")
        body = body.replace(boundary.encode(), b"B")
    headers.pop("transfer-encoding", None)  # chunked over uvicorn, absent in the test client
    # A bulk data part's Content-Location is the request's URL, whose origin differs.
    body = re.sub(rb"http://(127\.0\.0\.1:\d+|testserver)/", b"http://ORIGIN/", body)
    return response.status_code, headers, body


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Archive, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("zero-copy")
    archive = Archive(str(folder / "data"), None, fsync=False)
    study, series = generate_uid(), generate_uid()
    uids = []
    for number in (1, 2, 3):
        ds = make_instance(study_uid=study, series_uid=series, number=number,
                           InstanceNumber=str(number))
        path = folder / f"ct{number}.dcm"
        write(ds, path)
        archive.commit_bytes(path.read_bytes())
        uids.append(str(ds.SOPInstanceUID))
    multi = read(pydicom_file("rtdose.dcm"))  # 15 frames, implicit VR
    archive.commit_bytes(pydicom_file("rtdose.dcm").read_bytes())
    yield archive, {"study": study, "series": series, "uids": uids,
                    "dose": (str(multi.StudyInstanceUID), str(multi.SeriesInstanceUID),
                             str(multi.SOPInstanceUID))}
    archive.close()


def _requests(info: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    study, series, uids = info["study"], info["series"], info["uids"]
    dose_study, dose_series, dose = info["dose"]
    instance = f"/dicom-web/studies/{study}/series/{series}/instances/{uids[1]}"
    dose_url = f"/dicom-web/studies/{dose_study}/series/{dose_series}/instances/{dose}"
    return [
        (f"/dicom-web/studies/{study}", {"Accept": MULTIPART_DICOM}),
        (f"/dicom-web/studies/{study}/series/{series}", {"Accept": MULTIPART_DICOM}),
        (instance, {"Accept": MULTIPART_DICOM}),
        (instance, {"Accept": "application/dicom; transfer-syntax=*"}),
        # Explicit VR Little Endian asked: the files go as stored (they are).
        (f"/dicom-web/studies/{study}", {"Accept": 'multipart/related; type="application/dicom"'}),
        # The implicit VR dose transcoded, in memory: no span.
        (f"/dicom-web/studies/{dose_study}", {"Accept": 'multipart/related; type="application/dicom"'}),
        (dose_url + "/frames/2,7", {"Accept": 'multipart/related; type="application/octet-stream"'}),
        (dose_url + "/bulkdata/7FE00010", {"Accept": "application/octet-stream"}),
        (dose_url + "/bulkdata/7FE00010", {"Accept": "application/octet-stream",
                                           "Range": "bytes=100-5000"}),
        (dose_url + "/bulkdata/7FE00010", {"Accept": 'multipart/related; type="application/octet-stream"'}),
        (f"/wado?requestType=WADO&studyUID={study}&seriesUID={series}&objectUID={uids[0]}"
         "&contentType=application/dicom", {}),
        (f"/dicom-web/studies/{generate_uid()}", {"Accept": MULTIPART_DICOM}),  # 404
    ]


def test_zero_copy_responses_are_the_streamed_responses_byte_for_byte(archive) -> None:
    arch, info = archive
    requests = _requests(info)
    # One base URL for both (the Content-Location of each part names it).
    app = create_app(arch, WebSettings(base_url="http://pacs.example/dicom-web"))
    over_socket = _served(app, _get_all(requests))
    with TestClient(app) as client:
        streamed = [client.get(path, headers=headers) for path, headers in requests]
    statuses = [r.status_code for r in streamed]
    assert statuses == [200] * 7 + [200, 206, 200, 200, 404]
    for (path, _), ours, reference in zip(requests, over_socket, streamed, strict=True):
        assert _normalized(ours) == _normalized(reference), path
    # The study's body is the three files as stored, framed as PS3.18 §8.7.3 says.
    status, headers, body = _normalized(over_socket[0])
    files = sorted(Path(arch.absolute(r.path)).read_bytes()
                   for r in arch.index.instances_of([]) if r.study_uid == info["study"])
    parts = body.split(b"--B")
    assert parts[0] == b"" and parts[-1] == b"--\r\n" and len(parts) == 5
    assert sorted(p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts[1:-1]) == files


def _capture_app(seen: dict[str, Any]) -> Starlette:
    async def where(request: Request) -> Response:
        seen["extensions"] = dict(request.scope.get("extensions") or {})
        return Response(b"ok")
    return Starlette(routes=[Route("/", where, methods=["GET", "HEAD"])])


def test_the_extension_is_offered_on_plain_http_but_not_to_head() -> None:
    seen: dict[str, Any] = {}

    async def work(base: str) -> None:
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/")).status_code == 200
            assert ZEROCOPY in seen["extensions"]
            assert (await http.head("/")).status_code == 200
            assert ZEROCOPY not in seen["extensions"]
    _served(_capture_app(seen), work)


def _span_app(path: Path, calls: list[int]) -> Starlette:
    async def spans(request: Request) -> Response:
        offset = int(request.query_params.get("offset", "0"))
        length = request.query_params.get("length")

        async def body() -> Any:
            yield b"<"
            yield FileSpan(str(path), offset, int(length) if length else None)
            yield b">"
            yield FileSpan(str(path))
        headers = {}
        if "cl" in request.query_params:
            size = path.stat().st_size
            headers["Content-Length"] = str(2 + size - offset + size)
        return SpanResponse(body(), headers=headers)

    app = Starlette(routes=[Route("/", spans)])

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        async def count(message: Any) -> None:
            if message["type"] == ZEROCOPY:
                calls.append(message["count"])
            await send(message)
        await app(scope, receive, count)
    return counting  # type: ignore[return-value]


def test_spans_go_by_sendfile_chunked_and_with_content_length(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = os.urandom(3_000_001)
    path.write_bytes(data)
    calls: list[int] = []
    got = _served(_span_app(path, calls), _get_all([("/", {}), ("/?offset=17&cl=1", {}),
                                                    ("/?offset=5&length=0", {})]))
    assert [r.status_code for r in got] == [200, 200, 200]
    assert got[0].content == b"<" + data + b">" + data
    assert got[0].headers["transfer-encoding"] == "chunked"
    assert got[1].content == b"<" + data[17:] + b">" + data
    assert got[1].headers["content-length"] == str(len(got[1].content))
    assert got[2].content == b"<>" + data
    assert calls == [len(data), len(data), len(data) - 17, len(data), 0, len(data)]


def test_a_file_shorter_than_its_span_breaks_the_response_not_the_server(tmp_path: Path
                                                                         ) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 1000)
    calls: list[int] = []

    async def work(base: str) -> bytes:
        async with httpx.AsyncClient(base_url=base) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/?offset=10&length=5000")
            return (await http.get("/")).content  # a new connection: the server is fine
    assert _served(_span_app(path, calls), work) == b"<" + b"x" * 1000 + b">" + b"x" * 1000


def test_a_client_leaving_during_a_sendfile_leaves_the_server_serving(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The reset ends that response quietly: no error from the application, and the next
    request is served."""
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(64 << 20))
    calls: list[int] = []

    async def work(base: str) -> bytes:
        port = int(base.rsplit(":", 1)[1])
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await reader.read(65536)).startswith(b"HTTP/1.1 200")
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # a reset in the middle of the 64 MiB
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=base) as http:
            return (await http.get("/?offset=67108000")).content[:3]
    with caplog.at_level(logging.ERROR):
        tail = _served(_span_app(path, calls), work)
    assert tail == b"<" + path.read_bytes()[67108000:67108002]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
