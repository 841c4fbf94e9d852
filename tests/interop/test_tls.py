"""``dicomkit serve`` with TLS (PS3.15 B.1): the DIMSE TLS port and DICOMweb over HTTPS, with
client certificates required (``--tls-ca``), and ``--tls-only`` leaving no plaintext listener.

The PKI is made in the test with ``cryptography`` (a CA, a server certificate for 127.0.0.1,
a client certificate); the peers are DCMTK's storescu/echoscu with ``+tls`` and httpx.
Both index back ends.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.certs import Pki, make_pki
from tests.support.databases import Backend
from tests.support.datasets import StudySet
from tests.support.dcmtk import run_tool
from tests.support.servers import (
    Serve,
    ServeFactory,
    free_port,
    listening_ports,
    wait_for_port,
)


@dataclass
class TlsArchive:
    server: Serve
    pki: Pki
    tls_port: int
    https_port: int
    plain_port: int
    http_port: int

    @property
    def root(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/dicom-web"

    def client(self, **kwargs: object) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        context.load_cert_chain(str(self.pki.client_cert), str(self.pki.client_key))
        return httpx.Client(verify=context, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tls_only(backend: Backend, module_serve: ServeFactory,
             tmp_path_factory: pytest.TempPathFactory,
             dcmtk_net: dict[str, str]) -> Iterator[TlsArchive]:
    folder = tmp_path_factory.mktemp("tls")
    pki = make_pki(folder / "pki")
    tls_port, https_port, plain_port, http_port = (free_port() for _ in range(4))
    index = backend.new_index()
    args = ["--data", str(folder / "data"), "--bind", "127.0.0.1", "--aet", "PACS",
            "--dimse-port", str(plain_port), "--http-port", str(http_port),
            "--dimse-tls-port", str(tls_port), "--https-port", str(https_port),
            "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
            "--tls-ca", str(pki.ca), "--tls-only"]
    if index is not None:
        args += ["--index", index]
    server = module_serve.start(args, tls_port, folder / "data", index)
    wait_for_port(https_port, server.proc, describe=server.describe)
    yield TlsArchive(server, pki, tls_port, https_port, plain_port, http_port)
    server.stop()


def storescu_tls(archive: TlsArchive, path: Path, *, client_cert: bool = True,
                 ca: Path | None = None) -> tuple[int, str]:
    pki = archive.pki
    tls = (["+tls", pki.client_key, pki.client_cert] if client_cert else ["+tla"])
    result = run_tool("storescu", "-aet", "MODALITY", "-aec", "PACS", *tls,
                      "+cf", ca or pki.ca, "127.0.0.1", archive.tls_port, path, check=False)
    return result.returncode, result.stdout + result.stderr


def test_tls_only_leaves_no_plaintext_listener(tls_only: TlsArchive) -> None:
    assert listening_ports(tls_only.server.pid) == {tls_only.tls_port, tls_only.https_port}
    assert "DICOMweb on https://" in tls_only.server.log()
    assert "DICOMweb on http://" not in tls_only.server.log()


def test_storescu_over_tls_with_a_client_certificate_is_stored(
        tls_only: TlsArchive, study_set: StudySet) -> None:
    ct = next(i for i in study_set.instances if i.path.name == "CT_small.dcm")
    code, output = storescu_tls(tls_only, ct.path)
    assert code == 0, output
    assert (tls_only.server.data / "files" / ct.study / ct.series / f"{ct.sop}.dcm").exists()
    with tls_only.client() as http:
        found = http.get(f"{tls_only.root}/studies", params={"StudyInstanceUID": ct.study})
    assert found.status_code == 200
    assert [s["0020000D"]["Value"][0] for s in found.json()] == [ct.study]


def test_dimse_tls_without_a_client_certificate_is_refused(
        tls_only: TlsArchive, study_set: StudySet) -> None:
    mr = next(i for i in study_set.instances if i.path.name == "MR_small.dcm")
    code, _ = storescu_tls(tls_only, mr.path, client_cert=False)
    assert code != 0
    assert not (tls_only.server.data / "files" / mr.study).exists()


def test_storescu_that_does_not_trust_the_server_certificate_fails(
        tls_only: TlsArchive, study_set: StudySet) -> None:
    mr = next(i for i in study_set.instances if i.path.name == "MR_small.dcm")
    code, _ = storescu_tls(tls_only, mr.path, ca=tls_only.pki.other_ca)
    assert code != 0


def test_plaintext_dimse_on_the_tls_port_is_not_served(tls_only: TlsArchive) -> None:
    result = run_tool("echoscu", "-aet", "MODALITY", "-aec", "PACS", "-to", "5", "-ta", "5",
                      "127.0.0.1", tls_only.tls_port, check=False)
    assert result.returncode != 0


def test_https_needs_a_client_certificate(tls_only: TlsArchive) -> None:
    context = ssl.create_default_context(cafile=str(tls_only.pki.ca))
    with httpx.Client(verify=context, timeout=10) as http, pytest.raises(
            (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        http.get(f"{tls_only.root}/studies")


def test_https_server_certificate_is_checked_by_the_client(tls_only: TlsArchive) -> None:
    context = ssl.create_default_context(cafile=str(tls_only.pki.other_ca))
    context.load_cert_chain(str(tls_only.pki.client_cert), str(tls_only.pki.client_key))
    with httpx.Client(verify=context, timeout=10) as http, pytest.raises(httpx.ConnectError,
                                                                          match="verify"):
        http.get(f"{tls_only.root}/studies")


def test_plain_http_on_the_https_port_gets_no_dicomweb_answer(tls_only: TlsArchive) -> None:
    with httpx.Client(timeout=10) as http:
        try:
            answer = http.get(f"http://127.0.0.1:{tls_only.https_port}/dicom-web/studies")
        except httpx.TransportError:
            return
    assert answer.status_code == 400  # uvicorn's answer to plaintext on a TLS socket, at most


def test_tls_next_to_plaintext_when_not_tls_only(serve: ServeFactory, tmp_path: Path,
                                                  dcmtk_net: dict[str, str]) -> None:
    pki = make_pki(tmp_path / "pki")
    tls_port, https_port, http_port = free_port(), free_port(), free_port()
    server = serve(tmp_path / "data", args=[
        "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
        "--dimse-tls-port", str(tls_port), "--https-port", str(https_port),
        "--http-port", str(http_port)])
    wait_for_port(https_port, server.proc, describe=server.describe)
    plain = run_tool("echoscu", "-aec", "PACS", "127.0.0.1", server.port, check=False)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    # No --tls-ca: no client certificate asked for (DCMTK's anonymous TLS, +tla).
    secure = run_tool("echoscu", "-aec", "PACS", "+tla", "+cf", pki.ca, "127.0.0.1", tls_port,
                      check=False)
    assert secure.returncode == 0, secure.stdout + secure.stderr
    with httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca)), timeout=30) as h:
        assert h.get(f"https://127.0.0.1:{https_port}/dicom-web/studies").status_code == 200
    with httpx.Client(timeout=30) as h:
        assert h.get(f"http://127.0.0.1:{http_port}/dicom-web/studies").status_code == 200


def test_tls_only_without_a_certificate_is_a_usage_error(serve: ServeFactory,
                                                         tmp_path: Path) -> None:
    server = serve(tmp_path / "data", args=["--tls-only"], wait=False)
    assert server.proc.wait(60) != 0
    assert "--tls-only" in server.log() and "--tls-cert" in server.log()
