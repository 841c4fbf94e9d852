"""The web service as ``dicomkit serve`` runs it: options and the TOML file, authentication
(RFC 6750 bearer, RFC 7617 basic), CORS, start-up failures, and the import boundary."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.paths import SRC
from tests.support.servers import Serve, ServeFactory, free_port, serve_env, wait_for_port

ORIGIN = "https://viewer.example.org"


@pytest.fixture(scope="module")
def guarded(module_serve: ServeFactory, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Serve, str]]:
    """A server configured by TOML with a bearer token, a basic user and a CORS origin."""
    folder = tmp_path_factory.mktemp("guarded")
    http_port, dimse_port = free_port(), free_port()
    config = folder / "dicomkit.toml"
    config.write_text(f"""aet = "PACS"
dimse_port = {dimse_port}
bind = "127.0.0.1"
data = "{folder / 'data'}"
http_port = {http_port}
cors_origins = ["{ORIGIN}"]
http_tokens = ["s3cret-token"]
http_users = {{ reader = "pass word" }}
""")
    server = module_serve.start(["--config", str(config), "--no-fsync"], dimse_port,
                                folder / "data")
    wait_for_port(http_port, server.proc, describe=server.describe)
    yield server, f"http://127.0.0.1:{http_port}/dicom-web"
    assert server.stop() == 0, server.log_tail()


def test_without_credentials_the_answer_is_401_with_both_challenges(
        guarded: tuple[Serve, str]) -> None:
    _server, root = guarded
    response = httpx.get(root + "/studies")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'Bearer realm="dicomkit"' in challenge and "Basic" in challenge
    assert httpx.get(root + "/studies",
                     headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_bearer_token_or_a_basic_user_is_let_in(guarded: tuple[Serve, str]) -> None:
    _server, root = guarded
    token = httpx.get(root + "/studies", headers={"Authorization": "Bearer s3cret-token"})
    assert token.status_code == 200 and token.json() == []
    basic = httpx.get(root + "/studies", auth=("reader", "pass word"))
    assert basic.status_code == 200
    wrong = "Basic " + base64.b64encode(b"reader:nope").decode()
    assert httpx.get(root + "/studies", headers={"Authorization": wrong}).status_code == 401


def test_cors_preflight_and_exposed_headers(guarded: tuple[Serve, str]) -> None:
    _server, root = guarded
    preflight = httpx.request("OPTIONS", root + "/studies", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    response = httpx.get(root + "/studies", headers={
        "Origin": ORIGIN, "Authorization": "Bearer s3cret-token"})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "warning" in response.headers["access-control-expose-headers"].lower()
    other = httpx.get(root + "/studies", headers={
        "Origin": "https://elsewhere.example", "Authorization": "Bearer s3cret-token"})
    assert "access-control-allow-origin" not in other.headers


def test_an_explicit_http_port_in_use_stops_serve_with_a_reason(
        serve: ServeFactory, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = serve(tmp_path / "data", args=["--http-port", str(port)], wait=False)
        code = server.proc.wait(60)
    assert code != 0
    assert "DICOMweb cannot listen" in server.log()


def test_no_http_serves_dimse_only(serve: ServeFactory, tmp_path: Path) -> None:
    server = serve(tmp_path / "data", args=["--no-http", "--http-port", str(free_port())])
    assert "DICOMweb" not in server.log()
    assert server.stop() == 0


def test_importing_dicomkit_imports_neither_starlette_nor_uvicorn() -> None:
    code = ("import sys, dicomkit, dicomkit.archive.store, dicomkit.archive.scp, "
            "dicomkit.cli.archive, dicomkit.cli.main\n"
            "print(sorted(m for m in sys.modules if m.startswith("
            "('starlette', 'uvicorn', 'dicomkit.web'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=serve_env(), cwd=SRC, check=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout
