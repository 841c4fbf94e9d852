"""web/ohif.py: the OHIF origin of ``dicomkit serve --ohif`` — the build found, its files as
they are, ``index.html`` for OHIF's router pages, an ``app-config.js`` naming this archive's
DICOMweb roots as the browser reaches them, and clear errors for a folder that is no build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dicomkit.web.ohif import (
    OhifBuildError,
    OhifSettings,
    app_config,
    create_ohif_app,
    find_build,
    origins,
)

INDEX = "<!doctype html><script src=/app-config.js></script><div id=root></div>"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A stand-in for ``npm pack @ohif/app`` extracted: package/dist/ with its files."""
    dist = tmp_path / "package" / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "app.bundle.js").write_text("console.log('ohif')")
    (dist / "app-config.js").write_text("window.config = {public: 'demo server'};")
    (dist / "assets" / "decoder.wasm").write_bytes(b"\0asm\1\0\0\0")
    return dist


def config_of(text: str) -> dict:
    assert text.startswith("/*") and "window.config = " in text
    return json.loads(text.split("window.config = ", 1)[1].rstrip().rstrip(";"))


def test_the_build_is_found_from_the_package_its_parent_or_dist(build: Path) -> None:
    for given in (build, build.parent, build.parent.parent):
        assert find_build(given) == build.resolve()


def test_a_folder_that_is_no_build_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OhifBuildError, match="not an OHIF build"):
        find_build(tmp_path)
    with pytest.raises(OhifBuildError, match="no such folder"):
        find_build(tmp_path / "missing")


def test_app_config_points_at_the_dicomweb_roots_as_the_browser_reaches_them(
        build: Path) -> None:
    client = TestClient(create_ohif_app(OhifSettings(build, dicomweb_port=8042)),
                        base_url="http://pacs.example.org:3000")
    response = client.get("/app-config.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-store"
    config = config_of(response.text)
    assert config["defaultDataSourceName"] == "dicomkit"
    (source,) = config["dataSources"]
    assert source["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
    settings = source["configuration"]
    assert settings["qidoRoot"] == settings["wadoRoot"] == \
        "http://pacs.example.org:8042/dicom-web"
    assert settings["wadoUriRoot"] == "http://pacs.example.org:8042/wado"
    assert settings["staticWado"] is False
    assert settings["qidoSupportsIncludeField"] and settings["supportsFuzzyMatching"]
    assert settings["supportsWildcard"] and settings["thumbnailRendering"] == "thumbnail"
    assert config["investigationalUseDialog"] == {"option": "never"}


def test_a_public_base_url_replaces_host_and_port(build: Path) -> None:
    settings = OhifSettings(build, base_url="https://pacs.example.org/dicom-web/")
    text = TestClient(create_ohif_app(settings)).get("/app-config.js").text
    assert config_of(text)["dataSources"][0]["configuration"]["qidoRoot"] == \
        "https://pacs.example.org/dicom-web"


def test_an_ipv6_host_is_bracketed(build: Path) -> None:
    client = TestClient(create_ohif_app(OhifSettings(build, dicomweb_port=9000)),
                        base_url="http://[::1]:3000")
    config = config_of(client.get("/app-config.js").text)
    assert config["dataSources"][0]["configuration"]["wadoRoot"] == \
        "http://[::1]:9000/dicom-web"


def test_the_build_files_are_served_as_they_are(build: Path) -> None:
    client = TestClient(create_ohif_app(OhifSettings(build)))
    assert client.get("/app.bundle.js").text == "console.log('ohif')"
    assert client.get("/assets/decoder.wasm").headers["content-type"] == "application/wasm"
    assert client.get("/").text == INDEX


def test_ohifs_router_pages_get_index_html_but_a_missing_file_is_404(build: Path) -> None:
    client = TestClient(create_ohif_app(OhifSettings(build)))
    page = client.get("/viewer?StudyInstanceUIDs=1.2.3")
    assert page.status_code == 200 and page.text == INDEX
    assert client.get("/viewer/dicomweb").text == INDEX
    assert client.get("/missing.bundle.js").status_code == 404
    assert client.post("/viewer").status_code in (404, 405)


def test_app_config_is_valid_for_any_root() -> None:
    text = app_config("http://h:1/dicom-web", {"dicomUploadEnabled": False})
    settings = config_of(text)["dataSources"][0]["configuration"]
    assert settings["dicomUploadEnabled"] is False and settings["qidoRoot"] == \
        "http://h:1/dicom-web"


def test_origins_name_each_host_once() -> None:
    assert origins(3000, ["127.0.0.1", "localhost", "::1", "localhost", ""]) == [
        "http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"]
