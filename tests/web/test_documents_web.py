"""Encapsulated documents and video through DICOMweb as their own media types (PS3.18 §8.7.3,
§8.7.4, §10.4.1.1.1, §10.4.1.1.3): wrapped objects sent by STOW-RS to a real ``dicomkit serve``
(SQLite and PostgreSQL) come back from WADO-RS byte for byte with Accept: application/pdf,
text/xml, model/stl, video/mp4 ...; an Accept that allows none of their forms is a 406."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dicomkit import write
from dicomkit.iod.encapsulated import wrap
from tests.support import documents as docs
from tests.support.databases import Backend
from tests.support.servers import Serve, ServeFactory
from tests.support.video import h264_mp4
from tests.support.web import parse_multipart, start_web, stow

SAMPLES = {"pdf": (docs.PDF, "application/pdf"), "cda": (docs.CDA, "text/xml"),
           "stl": (docs.STL_BINARY, "model/stl"), "obj": (docs.OBJ, "model/obj"),
           "mtl": (docs.MTL, "model/mtl"), "mp4": (h264_mp4(), "video/mp4")}


@dataclass
class Stored:
    server: Serve
    root: str
    urls: dict[str, str]  # sample name -> instance URL (relative to root)


@pytest.fixture(scope="module")
def stored(backend: Backend, module_serve: ServeFactory,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    folder = tmp_path_factory.mktemp(f"documents-{backend.name}")
    server, http_port = start_web(module_serve, folder / "data", backend.new_index())
    root = f"http://127.0.0.1:{http_port}/dicom-web"
    study = "1.2.826.0.1.3680043.10.1234.1"
    paths, urls = [], {}
    for name, (data, _media) in SAMPLES.items():
        ds = wrap(data, patient_id="WEB-1", study_uid=study)
        path = folder / f"{name}.dcm"
        write(ds, path)
        paths.append(path)
        urls[name] = (f"/studies/{study}/series/{ds.SeriesInstanceUID}"
                      f"/instances/{ds.SOPInstanceUID}")
    response = stow(root, paths)
    assert response.status_code == 200, response.text + server.log_tail()
    yield Stored(server, root, urls)
    assert server.stop() == 0, server.log_tail()


@pytest.mark.parametrize("name", list(SAMPLES))
def test_instance_with_its_own_media_type_is_the_document(stored: Stored, name: str) -> None:
    data, media = SAMPLES[name]
    response = httpx.get(stored.root + stored.urls[name], headers={"Accept": media})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media
    assert response.content == data


@pytest.mark.parametrize("name", ["pdf", "mp4"])
def test_rendered_instance_is_the_document(stored: Stored, name: str) -> None:
    data, media = SAMPLES[name]
    for accept in (media, "*/*"):
        response = httpx.get(stored.root + stored.urls[name] + "/rendered",
                             headers={"Accept": accept})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].split(";")[0] == media
        assert response.content == data


def test_multipart_with_the_document_type(stored: Stored) -> None:
    response = httpx.get(stored.root + stored.urls["pdf"],
                         headers={"Accept": 'multipart/related; type="application/pdf"'})
    assert response.status_code == 200, response.text
    [(headers, content)] = parse_multipart(response)
    assert headers["content-type"] == "application/pdf"
    assert content == docs.PDF
    assert headers["content-location"].endswith(stored.urls["pdf"])


def test_dicom_is_still_the_default_and_wins_when_asked_first(stored: Stored) -> None:
    url = stored.root + stored.urls["pdf"]
    for accept in ("*/*", "application/dicom, application/pdf"):
        response = httpx.get(url, headers={"Accept": accept})
        assert response.status_code == 200
        assert "application/dicom" in response.headers["content-type"]
    response = httpx.get(url, headers={"Accept": "application/pdf, application/dicom"})
    assert response.content == docs.PDF


def test_other_media_types_are_406(stored: Stored) -> None:
    response = httpx.get(stored.root + stored.urls["pdf"] + "/rendered",
                         headers={"Accept": "image/jpeg"})
    assert response.status_code == 406
    assert "application/pdf" in response.text
    response = httpx.get(stored.root + stored.urls["pdf"], headers={"Accept": "model/stl"})
    assert response.status_code == 406
    response = httpx.get(stored.root + stored.urls["stl"], headers={"Accept": "application/pdf"})
    assert response.status_code == 406


def test_accept_query_parameter(stored: Stored) -> None:
    response = httpx.get(stored.root + stored.urls["cda"], params={"accept": "text/xml"})
    assert response.status_code == 200
    assert response.content == docs.CDA


def test_wrap_file_through_stow_as_the_issue_says(stored: Stored, tmp_path: Path) -> None:
    """The STOW-RS -> WADO-RS Accept: application/pdf round trip with a fresh PDF."""
    pdf = docs.PDF.replace(b"%abc", b"%xyz")
    ds = wrap(pdf, patient_id="WEB-2")
    path = tmp_path / "new.dcm"
    write(ds, path)
    assert stow(stored.root, [path]).status_code == 200
    url = (f"{stored.root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    response = httpx.get(url, headers={"Accept": "application/pdf"})
    assert response.status_code == 200 and response.content == pdf
