"""The worklist REST API (``/api/worklist`` on the DICOMweb port) against a real ``dicomkit
serve``, on SQLite and PostgreSQL, with httpx: create from DICOM JSON (PS3.18 F.2), search with
QIDO-RS parameters (PS3.18 §8.3.4), read, replace, delete, status changes; bad bodies answered
400/409/413/415 with the reason; the DICOMweb authentication and CORS apply."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import Backend
from tests.support.servers import Serve, ServeFactory
from tests.support.web import start_web

TOKEN = "worklist-s3cret"
ORIGIN = "https://ris.example.org"


@dataclass
class Api:
    server: Serve
    http_port: int

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/api/worklist"

    def http(self, *, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.root, timeout=30, headers=headers)


@pytest.fixture(scope="module")
def api(backend: Backend, module_serve: ServeFactory,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = tmp_path_factory.mktemp(f"worklist-api-{backend.name}")
    server, http_port = start_web(module_serve, data, backend.new_index(),
                                  "--http-token", TOKEN, "--cors-origin", ORIGIN)
    yield Api(server, http_port)
    assert server.stop() == 0, server.log_tail()


def text(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)}


def item(accession: str, *, station: str = "CT1", modality: str = "CT",
         date: str = "20261204", time: str = "093000", name: str = "Doe^John",
         patient_id: str = "P1", sps_ids: tuple[str, ...] = ("S1",)) -> dict[str, Any]:
    """A worklist item as DICOM JSON (PS3.18 F.2) with one step per SPS ID."""
    steps = [{
        "00400001": text("AE", station), "00080060": text("CS", modality),
        "00400002": text("DA", date), "00400003": text("TM", time),
        "00400009": text("SH", sps_id), "00400007": text("LO", f"step {sps_id}")}
        for sps_id in sps_ids]
    return {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": name}]},
        "00100020": text("LO", patient_id), "00080050": text("SH", accession),
        "00401001": text("SH", "RP1"), "00321060": text("LO", "Chest CT"),
        "00400100": {"vr": "SQ", "Value": steps},
    }


def value(obj: dict[str, Any], tag: str) -> Any:
    values = obj.get(tag, {}).get("Value") or [None]
    return values[0]


def create(api: Api, body: dict[str, Any]) -> list[dict[str, Any]]:
    with api.http() as http:
        response = http.post("", json=body)
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()["created"]
    return created


def test_create_read_update_delete(api: Api) -> None:
    [entry] = create(api, item("CRUD-1"))
    assert entry["status"] == "SCHEDULED" and entry["accession_number"] == "CRUD-1"
    assert entry["url"] == f"{api.root}/{entry['key']}"
    assert entry["study_uid"]  # generated: the archive acts as the scheduler
    with api.http() as http:
        got = http.get(f"/{entry['key']}")
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/dicom+json")
        obj = got.json()
        assert value(obj, "00080050") == "CRUD-1"
        assert value(obj, "00081190") == entry["url"]
        assert value(value(obj, "00400100"), "00400009") == "S1"

        changed = item("CRUD-1", station="CT2", time="101500")
        put = http.put(f"/{entry['key']}", json=changed)
        assert put.status_code == 200, put.text
        assert put.json()["station_ae"] == "CT2" and put.json()["start_time"] == "101500"
        assert value(value(http.get(f"/{entry['key']}").json(), "00400100"),
                     "00400001") == "CT2"

        assert http.delete(f"/{entry['key']}").status_code == 204
        missing = http.get(f"/{entry['key']}")
        assert missing.status_code == 404
        assert f"no worklist item {entry['key']}" in missing.json()["reason"]
        assert http.delete(f"/{entry['key']}").status_code == 404
        assert http.put(f"/{entry['key']}", json=changed).status_code == 404


def test_an_item_with_two_steps_makes_two_entries(api: Api) -> None:
    created = create(api, item("TWO-1", sps_ids=("S1", "S2")))
    assert [c["sps_id"] for c in created] == ["S1", "S2"]
    assert len({c["study_uid"] for c in created}) == 1


def test_search_with_qido_parameters(api: Api) -> None:
    create(api, item("FIND-1", station="MR1", modality="MR", date="20261210",
                     name="Smith^Anna", patient_id="F1"))
    create(api, item("FIND-2", station="MR1", modality="MR", date="20261211",
                     name="Smith^Bob", patient_id="F2"))
    create(api, item("FIND-3", station="US1", modality="US", date="20261210",
                     name="Jones^Carl", patient_id="F3"))
    with api.http() as http:
        def accessions(**params: Any) -> list[str]:
            response = http.get("", params=params)
            assert response.status_code == 200, response.text
            return [value(obj, "00080050") for obj in response.json()]

        assert accessions(Modality="MR") == ["FIND-1", "FIND-2"]
        assert accessions(**{"ScheduledProcedureStepSequence.ScheduledStationAETitle": "US1"}) \
            == ["FIND-3"]
        assert accessions(PatientName="Smith*", ScheduledProcedureStepStartDate="20261211") \
            == ["FIND-2"]
        assert accessions(**{"00100020": "F3"}) == ["FIND-3"]
        assert accessions(AccessionNumber="FIND-*", limit=2) == ["FIND-1", "FIND-3"]
        assert accessions(AccessionNumber="FIND-*", limit=2, offset=2) == ["FIND-2"]
        truncated = http.get("", params={"AccessionNumber": "FIND-*", "limit": 1})
        assert "offset=1" in truncated.headers["warning"]

        narrow = http.get("", params={"AccessionNumber": "FIND-1",
                                      "includefield": "PatientID,Modality"}).json()
        [obj] = narrow
        assert set(obj) == {"00080050", "00100020", "00400100", "00081190"}
        assert value(value(obj, "00400100"), "00080060") == "MR"
        assert set(value(obj, "00400100")) == {"00080060"}

        bad = http.get("", params={"NoSuchKeyword": "1"})
        assert bad.status_code == 400 and "NoSuchKeyword" in bad.json()["reason"]
        bad = http.get("", params={"limit": "many"})
        assert bad.status_code == 400 and "limit" in bad.json()["reason"]


def test_status_changes(api: Api) -> None:
    [entry] = create(api, item("STATUS-1"))
    key = entry["key"]
    with api.http() as http:
        assert http.get(f"/{key}/status").json()["status"] == "SCHEDULED"
        arrived = http.post(f"/{key}/status", json={"status": "ARRIVED"})
        assert arrived.status_code == 200, arrived.text
        assert arrived.json()["status"] == "ARRIVED"
        # The step's Scheduled Procedure Step Status follows (PS3.3 C.4.10.1 terms).
        assert value(value(http.get(f"/{key}").json(), "00400100"), "00400020") == "ARRIVED"
        assert [value(o, "00080050") for o in http.get(
            "", params={"status": "ARRIVED", "AccessionNumber": "STATUS-*"}).json()] == \
            ["STATUS-1"]
        assert http.get("", params={"status": "SCHEDULED",
                                    "AccessionNumber": "STATUS-*"}).json() == []
        assert http.post(f"/{key}/status", json={"status": "CANCELLED"}).json()["status"] \
            == "CANCELLED"
        bad = http.post(f"/{key}/status", json={"status": "NAPPING"})
        assert bad.status_code == 400 and "NAPPING" in bad.json()["reason"]
        bad = http.post(f"/{key}/status", json=["ARRIVED"])
        assert bad.status_code == 400 and "status" in bad.json()["reason"]
        assert http.post("/999999/status", json={"status": "ARRIVED"}).status_code == 404
        assert http.get("", params={"status": "SOMETIMES"}).status_code == 400


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not JSON"),
    (b"", "no body"),
    (b"[1, 2]", "array of 2"),
    (b'"text"', "not a DICOM JSON object"),
    (b'{"00100020": {"vr": "XX", "Value": ["P9"]}}', "unknown VR 'XX'"),
    (b'{"0010002": {"vr": "LO", "Value": ["P9"]}}', "not a DICOM JSON attribute name"),
    (b'{"00100020": {"vr": "LO", "Value": ["P9"]}}', "PatientName"),
])
def test_bad_bodies_are_400_with_the_reason(api: Api, body: bytes, reason: str) -> None:
    with api.http() as http:
        response = http.post("", content=body,
                             headers={"Content-Type": "application/dicom+json"})
    assert response.status_code == 400, response.text
    assert reason in response.json()["reason"]


def test_duplicate_step_is_409(api: Api) -> None:
    create(api, item("DUP-1"))
    with api.http() as http:
        response = http.post("", json=item("DUP-1"))
    assert response.status_code == 409, response.text
    assert "scheduled already" in response.json()["reason"]


def test_wrong_media_type_and_huge_body(api: Api) -> None:
    with api.http() as http:
        response = http.post("", content=b"<xml/>", headers={"Content-Type": "text/xml"})
        assert response.status_code == 415
        huge = b'{"00100010": {"vr": "PN", "Value": [{"Alphabetic": "' + b"A" * (5 << 20) \
            + b'"}]}}'
        response = http.post("", content=huge, headers={"Content-Type": "application/json"})
        assert response.status_code == 413, response.text


def test_authentication_required(api: Api) -> None:
    with api.http(token=None) as http:
        response = http.get("")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert http.post("", json=item("NOAUTH-1")).status_code == 401
    with api.http(token="wrong") as http:
        assert http.get("").status_code == 401


def test_cors_headers(api: Api) -> None:
    with api.http() as http:
        response = http.get("", headers={"Origin": ORIGIN})
        assert response.headers["access-control-allow-origin"] == ORIGIN
    for method in ("PUT", "DELETE", "POST"):
        preflight = httpx.options(f"{api.root}/1", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": method}, timeout=30)
        assert preflight.status_code == 200, preflight.text
        assert method in preflight.headers["access-control-allow-methods"]


def test_options_lists_the_methods(api: Api) -> None:
    with api.http() as http:
        allowed = http.options("/1").headers["allow"]
    assert {"GET", "PUT", "DELETE"} <= set(allowed.replace(" ", "").split(","))


def test_not_found_routes(api: Api, tmp_path: Path) -> None:
    with api.http() as http:
        assert http.get("/not-a-key").status_code == 404
