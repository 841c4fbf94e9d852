"""``GET /api/mpps`` and ``GET /api/mpps/{uid}`` on the HTTP app, both index back ends, with the
DICOMweb authentication in front."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from dicomkit.archive.mpps import MppsStore
from dicomkit.archive.store import Archive
from dicomkit.core.uid import generate_uid
from dicomkit.services.mpps import normalized
from dicomkit.web.app import create_app
from dicomkit.web.context import WebSettings
from tests.support.mpps import create_attrs, final_set


@pytest.fixture
def two(archive: Archive) -> tuple[str, str]:
    store = MppsStore(archive.index)
    first, second = generate_uid(), generate_uid()
    store.create(first, normalized(create_attrs(PerformedProcedureStepStartDate="20261201"))[0],
                 "CT1")
    store.create(second, normalized(create_attrs(
        PerformedProcedureStepStartDate="20261203", PerformedStationAETitle="MR1",
        PatientName="Müller^Hans"))[0], "MR1")
    store.update(first, normalized(final_set())[0])
    return first, second


def test_list_and_filters(archive: Archive, two: tuple[str, str]):
    first, second = two
    client = TestClient(create_app(archive))
    listed = client.get("/api/mpps")
    assert listed.status_code == 200
    assert [e["sop_uid"] for e in listed.json()] == [second, first]
    assert listed.json()[0]["patient_name"] == "Müller^Hans"
    assert [e["sop_uid"] for e in client.get("/api/mpps?status=completed").json()] == [first]
    assert [e["sop_uid"] for e in client.get("/api/mpps?date=20261202-").json()] == [second]
    assert [e["sop_uid"] for e in client.get("/api/mpps?station=MR1").json()] == [second]
    assert len(client.get("/api/mpps?limit=1").json()) == 1


def test_one_as_dicom_json(archive: Archive, two: tuple[str, str]):
    first, _ = two
    client = TestClient(create_app(archive))
    response = client.get(f"/api/mpps/{first}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/dicom+json")
    body = response.json()
    assert body["00080018"]["Value"] == [first]
    assert body["00400252"]["Value"] == ["COMPLETED"]
    assert client.get(f"/api/mpps/{generate_uid()}").status_code == 404


@pytest.mark.parametrize("query", ["status=PAUSED", "date=2026", "limit=0", "limit=x",
                                   "colour=red"])
def test_bad_query_is_400_naming_it(archive: Archive, query: str):
    response = TestClient(create_app(archive)).get(f"/api/mpps?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["reason"]


def test_bad_uid_is_400(archive: Archive):
    assert TestClient(create_app(archive)).get("/api/mpps/x%20y").status_code == 400


def test_same_authentication_as_dicomweb(archive: Archive, two: tuple[str, str]):
    client = TestClient(create_app(archive, WebSettings(bearer_tokens=["s3cret"])))
    assert client.get("/api/mpps").status_code == 401
    assert client.get("/api/mpps",
                      headers={"Authorization": "Bearer s3cret"}).status_code == 200
