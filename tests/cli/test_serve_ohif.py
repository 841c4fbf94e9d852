"""``dicomkit serve --ohif DIR [--ohif-port N]``: the OHIF origin on its own port, an
``app-config.js`` naming the DICOMweb port that really listens, the CORS preflight from the
OHIF origin (by 127.0.0.1 or localhost, with ``Authorization``) allowed without any
``--cors-origin``, and clear refusals of a folder that is no build or of ``--no-http``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from dicomkit.cli.archive import load_settings
from dicomkit.cli.main import build_parser
from tests.support.servers import ServeFactory, free_port, wait_for_port


@pytest.fixture
def build(tmp_path: Path) -> Path:
    dist = tmp_path / "ohif" / "dist"
    dist.mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>OHIF</title>")
    return dist.parent


def test_serve_with_ohif(serve: ServeFactory, build: Path, tmp_path: Path) -> None:
    http_port, ohif_port = free_port(), free_port()
    server = serve(tmp_path / "data", args=["--http-port", str(http_port), "--no-fsync",
                                            "--ohif", str(build), "--ohif-port",
                                            str(ohif_port)])
    wait_for_port(http_port, server.proc, describe=server.describe)
    wait_for_port(ohif_port, server.proc, describe=server.describe)
    page = httpx.get(f"http://localhost:{ohif_port}/viewer?StudyInstanceUIDs=1.2.3")
    assert page.status_code == 200 and "<title>OHIF</title>" in page.text
    text = httpx.get(f"http://localhost:{ohif_port}/app-config.js").text
    config = json.loads(text.split("window.config = ", 1)[1].rstrip().rstrip(";"))
    assert config["dataSources"][0]["configuration"]["qidoRoot"] == \
        f"http://localhost:{http_port}/dicom-web"
    for host in ("127.0.0.1", "localhost"):
        origin = f"http://{host}:{ohif_port}"
        preflight = httpx.options(
            f"http://127.0.0.1:{http_port}/dicom-web/studies",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "authorization,accept"})
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    other = httpx.options(f"http://127.0.0.1:{http_port}/dicom-web/studies",
                          headers={"Origin": "http://evil.example.org:3000",
                                   "Access-Control-Request-Method": "GET"})
    assert other.status_code == 400
    assert "OHIF viewer" in server.log()
    assert server.stop() == 0, server.log_tail()


def test_a_folder_that_is_no_ohif_build_stops_serve_with_the_reason(
        serve: ServeFactory, tmp_path: Path) -> None:
    server = serve(tmp_path / "data", args=["--ohif", str(tmp_path), "--http-port",
                                            str(free_port())], wait=False)
    assert server.proc.wait(60) != 0
    assert "not an OHIF build" in server.log()


def test_ohif_without_dicomweb_is_refused(serve: ServeFactory, build: Path,
                                          tmp_path: Path) -> None:
    server = serve(tmp_path / "data", args=["--ohif", str(build), "--no-http"], wait=False)
    assert server.proc.wait(60) != 0
    assert "--ohif needs the DICOMweb service" in server.log()


def test_ohif_settings_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "pacs.toml"
    config.write_text('ohif = "/srv/ohif/package/dist"\nohif_port = 3100\n')
    settings = load_settings(build_parser("serve").parse_args(
        ["serve", "--config", str(config), "--ohif-port", "3200"]))
    assert settings["ohif"] == "/srv/ohif/package/dist" and settings["ohif_port"] == 3200


def test_a_bad_ohif_port_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "pacs.toml"
    config.write_text('ohif_port = "high"\n')
    with pytest.raises(SystemExit, match="ohif_port 'high'"):
        load_settings(build_parser("serve").parse_args(["serve", "--config", str(config)]))
