"""Issue 10 defect 5 on ``dicomkit serve``: a data set whose data ends inside a value is refused
by C-STORE (status C000, PS3.4 B.2.3 "Cannot understand") and by STOW-RS (FailedSOPSequence,
409), and nothing of it is stored, on SQLite and on PostgreSQL.

DCMTK's storescu refuses to send such a file (it reads it whole first: "larger than remaining
bytes in file"), which the first test shows; the files are therefore sent by pynetdicom with
``STORE_SEND_CHUNKED_DATASET``, which reads only the File Meta Information and sends the rest
of the file as it is. Three cuts: the reported SOP Class UID claiming 0x7FFFFFF0 bytes, pixel
data cut short in a small instance (held in memory: ``Archive.commit_bytes``) and in a 5 MB one
(spilled to a temporary file: ``Archive.commit_file``); a header-only read sees nothing wrong
with the last two.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import dicomkit
from dicomkit.encoding.writer import to_bytes
from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.dcmtk import run_tool
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port

CLAIMED = 0x7FFFFFF0
CASES = ("sop-class-length", "pixels-cut", "pixels-cut-spilled")


def _cut_file(folder: Path, case: str) -> tuple[Path, str]:
    """(the broken file, its SOP Instance UID)."""
    size = 1600 if case == "pixels-cut-spilled" else 16  # 5 MB of pixels: spilled
    source = synthetic_series(folder / case, 1, size=size)[0]
    ds = dicomkit.read(str(source))
    sop = str(ds.SOPInstanceUID)
    if case == "sop-class-length":
        data = bytearray(to_bytes(ds, transfer_syntax="ImplicitVRLittleEndian"))
        uid = str(ds.SOPClassUID).encode()
        uid += b"\0" * (len(uid) % 2)
        at = data.index(b"\x08\x00\x16\x00" + struct.pack("<L", len(uid)) + uid)
        struct.pack_into("<L", data, at + 4, CLAIMED)
        blob = bytes(data)
        assert dicomkit.read(blob).is_truncated
    else:
        blob = source.read_bytes()[:-100]  # the end of Pixel Data is missing
        assert not dicomkit.read(blob, stop_before_pixels=True).is_truncated
        assert dicomkit.read(blob).is_truncated
    path = folder / f"{case}.dcm"
    path.write_bytes(blob)
    return path, sop


def stow(root: str, path: Path) -> httpx.Response:
    """PS3.18 §10.5: one application/dicom part in a multipart/related request."""
    boundary = "dicomkit-truncated-0123456789"
    body = (b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
            + path.read_bytes() + b"\r\n--" + boundary.encode() + b"--\r\n")
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return httpx.post(f"{root}/studies", content=body, timeout=60,
                      headers={"Content-Type": content_type, "Accept": "application/dicom+json"})


@dataclass
class Archive:
    server: Serve
    http_port: int
    data: Path

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def stored(self) -> list[Path]:
        return sorted(p for p in (self.data / "files").rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    data = tmp_path_factory.mktemp(f"truncated-{backend.name}")
    http_port = free_port()
    server = module_serve(data, index=backend.new_index(),
                          args=["--http-port", str(http_port), "--no-fsync"])
    wait_for_port(http_port, server.proc, describe=server.describe)
    yield Archive(server, http_port, data)
    assert server.stop() == 0, server.log_tail()


def _nothing_stored(archive: Archive, sop: str) -> None:
    assert archive.stored() == [], archive.stored()
    found = httpx.get(f"{archive.root}/instances", params={"SOPInstanceUID": sop}, timeout=30)
    assert found.status_code in (200, 204), found.text
    assert found.status_code == 204 or found.json() == []


def test_dcmtk_storescu_refuses_to_send_the_file(archive: Archive, tmp_path: Path,
                                                 dcmtk_net: dict[str, str]) -> None:
    path, sop = _cut_file(tmp_path, "sop-class-length")
    result = run_tool("storescu", "-aec", "PACS", "127.0.0.1", archive.server.port, path,
                      check=False)
    assert result.returncode != 0
    assert "(0008,0016)" in result.stdout + result.stderr
    _nothing_stored(archive, sop)


@pytest.mark.parametrize("case", CASES)
def test_c_store_of_a_cut_data_set_fails_and_stores_nothing(
        archive: Archive, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pynetdicom import AE, _config
    from pynetdicom.sop_class import CTImageStorage

    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    path, sop = _cut_file(tmp_path, case)
    ae = AE(ae_title="PYNETDICOM")
    for syntax in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):  # one context each
        ae.add_requested_context(CTImageStorage, syntax)
    assoc = ae.associate("127.0.0.1", archive.server.port, ae_title="PACS")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(path)
    finally:
        assoc.release()
    assert status is not None and "Status" in status, archive.server.log_tail()
    assert status.Status == 0xC000, (hex(status.Status), archive.server.log_tail())
    assert "truncated" in archive.server.log_tail(200)
    _nothing_stored(archive, sop)


@pytest.mark.parametrize("case", CASES)
def test_stow_rs_of_a_cut_data_set_fails_and_stores_nothing(
        archive: Archive, tmp_path: Path, case: str) -> None:
    path, sop = _cut_file(tmp_path, case)
    response = stow(archive.root, path)
    assert response.status_code == 409, response.text
    failed = response.json()["00081198"]["Value"]
    assert len(failed) == 1
    assert failed[0]["00081197"]["Value"] == [0xC000]
    _nothing_stored(archive, sop)
