"""``POST /dicom-web/studies/{study}/deidentify`` on both index back ends: the de-identified copy
is stored as a new study beside the original, with the DICOMweb authentication in front."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

import dicomkit
from dicomkit.archive.store import Archive
from dicomkit.deid import Keys
from dicomkit.web.app import create_app
from dicomkit.web.context import WebSettings
from tests.support.datasets import synthetic_series


@pytest.fixture
def study(archive: Archive, tmp_path: Path) -> str:
    folder = tmp_path / "series"
    folder.mkdir()
    synthetic_series(folder, 3)
    uid = ""
    for path in sorted(folder.iterdir()):
        archive.import_file(str(path))
        uid = str(dicomkit.read(path).StudyInstanceUID)
    return uid


def test_the_copy_is_a_new_study_with_every_instance(archive: Archive, study: str) -> None:
    client = TestClient(create_app(archive))
    response = client.post(f"/dicom-web/studies/{study}/deidentify",
                           json={"options": ["retain-longitudinal-modified-dates"],
                                 "key": "secret"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["StudyInstanceUID"] == Keys("secret").uid(study)
    assert body["stored"] == 3 and body["failed"] == []
    found = client.get("/dicom-web/studies", params={"StudyInstanceUID": body["StudyInstanceUID"]})
    assert found.status_code == 200 and len(found.json()) == 1
    copy = found.json()[0]
    assert copy["00201208"]["Value"] == [3]  # Number of Study Related Instances
    assert len(client.get("/dicom-web/studies").json()) == 2  # the original stays
    instances = archive.index.instance_metadata(
        [r["00080018"]["Value"][0] for r in client.get(
            f"/dicom-web/studies/{body['StudyInstanceUID']}/instances").json()])
    assert all(m["00120062"]["Value"] == ["YES"] for m in instances)


def test_the_same_key_gives_the_same_copy(archive: Archive, study: str) -> None:
    client = TestClient(create_app(archive))
    first = client.post(f"/dicom-web/studies/{study}/deidentify", json={"key": "k"}).json()
    second = client.post(f"/dicom-web/studies/{study}/deidentify", json={"key": "k"}).json()
    assert first["StudyInstanceUID"] == second["StudyInstanceUID"]
    assert len(client.get("/dicom-web/studies").json()) == 2


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"options": ["retain-all"]}, 400, "unknown de-identification option"),
    ({"options": "retain-uids"}, 400, "options"),
    ({"colour": 1}, 400, "JSON object"),
    ({"key": ""}, 400, "key"),
])
def test_bad_bodies_are_400_naming_what(archive: Archive, study: str, body: dict[str, object],
                                         status: int, words: str) -> None:
    response = TestClient(create_app(archive)).post(f"/dicom-web/studies/{study}/deidentify",
                                                   json=body)
    assert response.status_code == status and words in response.json()["reason"]


def test_an_unknown_study_is_404_and_a_bad_uid_400(archive: Archive) -> None:
    client = TestClient(create_app(archive))
    assert client.post("/dicom-web/studies/1.2.3/deidentify").status_code == 404
    assert client.post("/dicom-web/studies/x%20y/deidentify").status_code == 400


def test_same_authentication_as_dicomweb(archive: Archive, study: str) -> None:
    client = TestClient(create_app(archive, WebSettings(bearer_tokens=["s3cret"])))
    assert client.post(f"/dicom-web/studies/{study}/deidentify").status_code == 401
    response = client.post(f"/dicom-web/studies/{study}/deidentify",
                           headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200
