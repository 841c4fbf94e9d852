"""``dicomkit serve --validate reject`` (issue 14): an instance that breaks its IOD is refused
by C-STORE from DCMTK's storescu (status A900, "Error: Data Set does not match SOP Class",
PS3.4 B.2.3, with the first error as Error Comment) and by STOW-RS (409, Failure Reason A900,
PS3.18 §10.5.3), and nothing of it is stored; a valid one is accepted both ways. ``--validate
warn`` keeps the broken instance and logs its errors. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import dicomkit
from dicomkit.core.uid import generate_uid
from tests.support.databases import Backend
from tests.support.datasets import make_instance
from tests.support.dcmtk import run_tool
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port


def instance(folder: Path, name: str, **attributes: object) -> tuple[Path, str]:
    """A CT image that dciodvfy passes, changed by ``attributes`` (None removes one)."""
    sop = generate_uid()
    ds = make_instance(sop_uid=sop, PatientPosition="HFS", PositionReferenceIndicator="",
                       AcquisitionNumber=1, **attributes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.dcm"
    dicomkit.write(ds, path)
    return path, sop


def stow(root: str, path: Path) -> httpx.Response:
    boundary = "dicomkit-validate-0123456789"
    body = (b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
            + path.read_bytes() + b"\r\n--" + boundary.encode() + b"--\r\n")
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return httpx.post(f"{root}/studies", content=body, timeout=60,
                      headers={"Content-Type": content_type, "Accept": "application/dicom+json"})


class Running:
    def __init__(self, server: Serve, http_port: int) -> None:
        self.server = server
        self.root = f"http://127.0.0.1:{http_port}/dicom-web"

    def has(self, sop: str) -> bool:
        found = httpx.get(f"{self.root}/instances", params={"SOPInstanceUID": sop}, timeout=30)
        assert found.status_code in (200, 204), found.text
        return found.status_code == 200 and len(found.json()) == 1


def start(module_serve: ServeFactory, backend: Backend, data: Path, policy: str) -> Running:
    http_port = free_port()
    server = module_serve(data, index=backend.new_index(),
                          args=["--http-port", str(http_port), "--no-fsync",
                                "--validate", policy])
    wait_for_port(http_port, server.proc, describe=server.describe)
    return Running(server, http_port)


@pytest.fixture(scope="module")
def rejecting(backend: Backend, module_serve: ServeFactory,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(module_serve, backend, tmp_path_factory.mktemp(f"reject-{backend.name}"),
                    "reject")
    yield running
    assert running.server.stop() == 0, running.server.log_tail()


def storescu(port: int, path: Path) -> str:
    result = run_tool("storescu", "-v", "-aec", "PACS", "127.0.0.1", port, path, check=False)
    return result.stdout + result.stderr


def test_storescu_broken_instance_is_refused_with_a900(rejecting: Running, tmp_path: Path,
                                                       dcmtk_net: dict[str, str]) -> None:
    path, sop = instance(tmp_path, "broken", PatientSex="X", StudyDate="2024-01-05")
    output = storescu(rejecting.server.port, path)
    assert "Received Store Response (Error: DataSetDoesNotMatchSOPClass)" in output, output
    assert not rejecting.has(sop)
    log = rejecting.server.log_tail(200)
    assert "refused" in log and "PatientSex" in log + output


def test_storescu_valid_instance_is_stored(rejecting: Running, tmp_path: Path,
                                           dcmtk_net: dict[str, str]) -> None:
    path, sop = instance(tmp_path, "good")
    output = storescu(rejecting.server.port, path)
    assert "Received Store Response (Success)" in output, output + rejecting.server.log_tail()
    assert rejecting.has(sop)


def test_c_store_error_comment_names_the_first_error(rejecting: Running,
                                                     tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    path, sop = instance(tmp_path, "broken-comment", StudyInstanceUID=None)
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", rejecting.server.port, ae_title="PACS")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(str(path))
    finally:
        assoc.release()
    assert status.Status == 0xA900, rejecting.server.log_tail()
    comment = str(status.ErrorComment)
    assert len(comment) <= 64 and comment.startswith("StudyInstanceUID"), comment
    assert not rejecting.has(sop)


def test_stow_rs_broken_instance_is_refused_with_409(rejecting: Running,
                                                     tmp_path: Path) -> None:
    path, sop = instance(tmp_path, "broken-stow", PatientSex="X")
    response = stow(rejecting.root, path)
    assert response.status_code == 409, response.text
    failed = response.json()["00081198"]["Value"]
    assert failed[0]["00081197"]["Value"] == [0xA900]
    assert not rejecting.has(sop)


def test_stow_rs_valid_instance_is_stored(rejecting: Running, tmp_path: Path) -> None:
    path, sop = instance(tmp_path, "good-stow")
    response = stow(rejecting.root, path)
    assert response.status_code == 200, response.text + rejecting.server.log_tail()
    assert rejecting.has(sop)


def test_warn_keeps_the_broken_instance_and_logs(backend: Backend, module_serve: ServeFactory,
                                                 tmp_path: Path) -> None:
    running = start(module_serve, backend, tmp_path / "warn", "warn")
    try:
        path, sop = instance(tmp_path, "broken-warn", PatientSex="X")
        response = stow(running.root, path)
        assert response.status_code == 200, response.text
        assert running.has(sop)
        assert "IOD error" in running.server.log_tail(200)
    finally:
        assert running.server.stop() == 0, running.server.log_tail()
