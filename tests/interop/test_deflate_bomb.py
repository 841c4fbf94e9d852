"""Deflate bombs (PS3.5 A.5) sent to ``dicomkit serve``: a 1.2 MB Deflated Explicit VR Little
Endian instance whose data set inflates to 1200 MiB (a private OB element of zeros before
anything the header parser can stop at), by C-STORE (pynetdicom sending the file's deflated
bytes as they are) and by STOW-RS (httpx).

The server inflates in bounded memory: its peak RSS (VmHWM in /proc/PID/status, read before
and after the instance) grows by less than 200 MB whatever the inflated size. Past
``--max-inflated-size`` the answer is a refusal (C-STORE A700 with the limit in the Error
Comment; STOW-RS 409 with Failure Reason A700) and nothing is stored: no file, no index row.
Under the limit the instance is stored as received, fsynced and indexed, and reads back.
Both index backends, like every serve test."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import dicomkit
from dicomkit.net.storage import data_set_offset, meta_for
from tests.support.databases import Backend
from tests.support.servers import (
    Serve,
    ServeFactory,
    dk_find_uids,
    free_port,
    stored_files,
    wait_for_port,
)

DEFLATED = "1.2.840.10008.1.2.1.99"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
INFLATED = 1200 << 20  # the private OB value: 1200 MiB of zeros
BLOCK = 8 << 20
MAX_GROWTH = 200 << 20
OUT_OF_RESOURCES = 0xA700
STUDY, SERIES, SOP = "1.2.826.0.1.3680043.8.498.71", "1.2.826.0.1.3680043.8.498.72", \
    "1.2.826.0.1.3680043.8.498.73"


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def build_bomb(path: Path) -> None:
    """The Part 10 file, written without ever holding the inflated bytes: after a full
    flush the compressor's output for a block of zeros does not depend on what came before,
    so one block's output repeated is the stream of all the zeros."""
    header = b"".join([
        _element(0x0008, 0x0016, b"UI", SECONDARY_CAPTURE.encode()),
        _element(0x0008, 0x0018, b"UI", SOP.encode()),
        _element(0x0008, 0x0060, b"CS", b"OT"),
        _element(0x0009, 0x0010, b"LO", b"DICOMKIT BOMB"),
        struct.pack("<HH2s2xL", 0x0009, 0x1000, b"OB", INFLATED),
    ])
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = packer.compress(header) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(BLOCK)) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = b"".join([
        _element(0x0010, 0x0010, b"PN", b"Bomb^Deflate"),
        _element(0x0010, 0x0020, b"LO", b"DK-BOMB"),
        _element(0x0020, 0x000D, b"UI", STUDY.encode()),
        _element(0x0020, 0x000E, b"UI", SERIES.encode()),
    ])
    end = packer.compress(tail) + packer.flush()
    with open(path, "wb") as handle:
        handle.write(meta_for(SECONDARY_CAPTURE, SOP, DEFLATED, "BOMBSCU"))
        handle.write(start)
        for _ in range(INFLATED // BLOCK):
            handle.write(block)
        handle.write(end)
        if (len(start) + len(end)) % 2:  # blocks are even in number
            handle.write(b"\0")  # PS3.5 A.5: the pad byte of an odd-length stream


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.dcm"
    build_bomb(path)
    assert path.stat().st_size < 2 << 20
    # The inflater itself (independent of dicomkit) agrees on the inflated size.
    unpacker = zlib.decompressobj(-zlib.MAX_WBITS)
    with open(path, "rb") as handle:
        handle.seek(data_set_offset(str(path)))
        total = 0
        while piece := handle.read(1 << 16):
            while piece:
                total += len(unpacker.decompress(piece, 1 << 24))
                piece = unpacker.unconsumed_tail
    assert unpacker.eof and INFLATED < total < INFLATED + 1024
    return path


def peak_rss(server: Serve) -> int:
    """VmHWM of the serve process, in bytes (its peak resident set so far)."""
    for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


@pytest.fixture
def start(backend: Backend, serve: ServeFactory, tmp_path: Path) -> Iterator[object]:
    """``start(limit)``: a fresh archive and ``dicomkit serve --max-inflated-size LIMIT``
    with DICOMweb, warmed up (a C-FIND and a QIDO-RS) so the RSS measured is the instance's."""

    def go(limit: str) -> tuple[Serve, str]:
        http_port = free_port()
        server = serve(tmp_path / "data", index=backend.new_index(),
                       args=["--max-inflated-size", limit, "--http-port", str(http_port),
                             "--http-bind", "127.0.0.1"])
        wait_for_port(http_port, server.proc, describe=server.describe)
        root = f"http://127.0.0.1:{http_port}/dicom-web"
        assert dk_find_uids(server.port, "STUDY", "StudyInstanceUID") == set()
        assert httpx.get(f"{root}/studies", timeout=30).status_code in (200, 204)
        return server, root

    yield go


def send_c_store(port: int, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """pynetdicom sends the file's data set bytes unchanged (STORE_SEND_CHUNKED_DATASET):
    the deflated stream as written, nothing inflated on the sending side."""
    from pynetdicom import AE, _config

    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    ae = AE(ae_title="BOMBSCU")
    ae.dimse_timeout = ae.acse_timeout = ae.network_timeout = 120
    ae.add_requested_context(SECONDARY_CAPTURE, [DEFLATED])
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(str(path))
    finally:
        assoc.release()
    return int(status.Status), str(status.get("ErrorComment", ""))


def send_stow(root: str, path: Path) -> httpx.Response:
    boundary = "DICOMKIT-BOMB"
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode())
    return httpx.post(f"{root}/studies", content=body, timeout=120, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json"})


def assert_nothing_stored(server: Serve, root: str) -> None:
    assert stored_files(server.data) == []  # no file, and no temporary file left
    assert dk_find_uids(server.port, "STUDY", "StudyInstanceUID") == set()
    response = httpx.get(f"{root}/instances", timeout=30)
    assert response.status_code == 204 or response.json() == []


def assert_stored(server: Serve, root: str, sent: Path, *, whole_file: bool) -> None:
    files = stored_files(server.data)
    assert [f.name for f in files] == [f"{SOP}.dcm"]
    stored = files[0]
    if whole_file:  # STOW-RS keeps the part as it came
        assert stored.read_bytes() == sent.read_bytes()
    else:  # C-STORE: our File Meta Information, then the data set bytes as received
        assert stored.read_bytes()[data_set_offset(str(stored)):] == \
            sent.read_bytes()[data_set_offset(str(sent)):]
    assert dk_find_uids(server.port, "IMAGE", "SOPInstanceUID", StudyInstanceUID=STUDY,
                        SeriesInstanceUID=SERIES) == {SOP}
    back = dicomkit.read(str(stored))  # in this process: inflated to a mapped temporary file
    assert back.transfer_syntax.uid == DEFLATED
    assert str(back.PatientID) == "DK-BOMB" and str(back.StudyInstanceUID) == STUDY
    element = back[0x00091000]  # its raw bytes, looked at without decoding 1200 MiB
    assert element.VR == "OB" and element.length == INFLATED
    assert bytes(element.raw[:16]) == bytes(element.raw[-16:]) == bytes(16)


def test_c_store_past_the_limit_is_refused_in_bounded_memory(
        start: object, bomb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server, root = start("512M")  # type: ignore[operator]
    before = peak_rss(server)
    status, comment = send_c_store(server.port, bomb, monkeypatch)
    growth = peak_rss(server) - before
    assert status == OUT_OF_RESOURCES, server.describe()
    assert "inflated size limit" in comment and str(512 << 20) in comment
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth >> 20} MiB"
    assert_nothing_stored(server, root)


def test_stow_rs_past_the_limit_is_refused_in_bounded_memory(start: object, bomb: Path) -> None:
    server, root = start("512M")  # type: ignore[operator]
    before = peak_rss(server)
    response = send_stow(root, bomb)
    growth = peak_rss(server) - before
    assert response.status_code == 409, response.text
    failed = response.json()["00081198"]["Value"]
    assert [item["00081197"]["Value"] for item in failed] == [[OUT_OF_RESOURCES]]
    assert "inflated size limit" in response.headers["warning"]
    assert str(512 << 20) in response.headers["warning"]
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth >> 20} MiB"
    assert_nothing_stored(server, root)


def test_c_store_within_the_limit_is_stored_in_bounded_memory(
        start: object, bomb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server, root = start("2G")  # type: ignore[operator]
    before = peak_rss(server)
    status, comment = send_c_store(server.port, bomb, monkeypatch)
    growth = peak_rss(server) - before
    assert status == 0, f"0x{status:04X} {comment}\n{server.describe()}"
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth >> 20} MiB"
    assert_stored(server, root, bomb, whole_file=False)


def test_stow_rs_within_the_limit_is_stored_in_bounded_memory(start: object,
                                                              bomb: Path) -> None:
    server, root = start("2G")  # type: ignore[operator]
    before = peak_rss(server)
    response = send_stow(root, bomb)
    growth = peak_rss(server) - before
    assert response.status_code == 200, response.text
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth >> 20} MiB"
    assert_stored(server, root, bomb, whole_file=True)
