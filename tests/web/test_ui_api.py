"""The archive UI's server side on a real ``dicomkit serve``, both index back ends: the pages
and assets at ``/``, ``/api/status``, DELETE, the streamed ZIP download and sending to a peer
(another ``dicomkit serve``)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import Backend
from tests.support.datasets import describe_instance, synthetic_series
from tests.support.servers import Serve, ServeFactory, free_port
from tests.support.web import start_web, stow


@dataclass
class UiArchive:
    server: Serve
    http_port: int
    peer: Serve
    peer_http: int
    study: str
    series: str
    files: list[Path]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture(scope="module")
def ui(backend: Backend, module_serve: ServeFactory,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiArchive]:
    peer_data = tmp_path_factory.mktemp(f"peer-{backend.name}")
    peer, peer_http = start_web(module_serve, peer_data, None, "--aet", "PEER")
    data = tmp_path_factory.mktemp(f"ui-{backend.name}")
    server, http_port = start_web(module_serve, data, backend.new_index(), "--peer",
                                  f"PEER=127.0.0.1:{peer.port}", "--peer",
                                  f"DOWN=127.0.0.1:{free_port()}")  # nothing listens there
    files = synthetic_series(tmp_path_factory.mktemp("ui-series"), 6, size=32)
    first = describe_instance(files[0])
    response = stow(f"http://127.0.0.1:{http_port}/dicom-web", files)
    assert response.status_code == 200, response.text
    yield UiArchive(server, http_port, peer, peer_http, first.study, first.series, files)
    assert server.stop() == 0, server.log_tail()


def test_root_serves_the_archive_ui(ui: UiArchive) -> None:
    page = httpx.get(ui.base + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/app.js">' in page.text
    script = httpx.get(ui.base + "/ui/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    viewer = httpx.get(ui.base + "/viewer", params={"study": ui.study})
    assert viewer.status_code == 200 and "/ui/viewer.js" in viewer.text


def test_assets_outside_the_build_are_not_served(ui: UiArchive) -> None:
    for name in ("..%2Fui.py", "BUILD", ".hidden.js", "nothing.js"):
        assert httpx.get(f"{ui.base}/ui/{name}").status_code == 404, name


def test_status_reports_counts_disk_peers_and_events(ui: UiArchive) -> None:
    status = httpx.get(ui.base + "/api/status").json()
    assert status["counts"]["instances"] >= 6
    assert status["disk"]["total"] > 0 and status["disk"]["free"] > 0
    assert status["peers"][1] == {"name": "PEER", "host": "127.0.0.1", "port": ui.peer.port}
    assert [p["name"] for p in status["peers"]] == ["DOWN", "PEER"]
    assert isinstance(status["events"], list) and status["ui_build"]


def test_the_ui_download_link_is_a_zip_of_the_study(ui: UiArchive) -> None:
    """The study page's Download link: WADO-RS ``application/zip`` through ``?accept=``
    (web/wado.py), so a plain link downloads it."""
    response = httpx.get(f"{ui.base}/dicom-web/studies/{ui.study}",
                         params={"accept": "application/zip"}, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/zip")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert len([n for n in archive.namelist() if not n.endswith("DICOMDIR")]) >= 6


def test_send_to_a_peer_is_a_job_with_progress(ui: UiArchive) -> None:
    answer = httpx.post(ui.base + "/api/send", json={"peer": "PEER", "study": ui.study})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    end = time.monotonic() + 60
    while job["state"] in ("pending", "running") and time.monotonic() < end:
        time.sleep(0.2)
        job = httpx.get(f"{ui.base}/api/jobs/{job['id']}").json()
    assert job["state"] == "done", job
    assert (job["completed"], job["failed"], job["total"]) == (6, 0, 6)
    found = httpx.get(f"http://127.0.0.1:{ui.peer_http}/dicom-web/studies/{ui.study}/instances")
    assert len(found.json()) == 6


def test_send_to_a_peer_that_does_not_answer_fails_with_the_reason(ui: UiArchive) -> None:
    job = httpx.post(ui.base + "/api/send", json={"peer": "DOWN", "study": ui.study,
                                                  "series": ui.series}).json()
    end = time.monotonic() + 60
    while job["state"] in ("pending", "running") and time.monotonic() < end:
        time.sleep(0.2)
        job = httpx.get(f"{ui.base}/api/jobs/{job['id']}").json()
    assert job["state"] == "failed" and job["failed"] == 6 and job["completed"] == 0, job
    assert "connect" in job["error"], job
    assert job["id"] in [j["id"] for j in httpx.get(ui.base + "/api/jobs").json()]


def test_send_refuses_an_unknown_peer(ui: UiArchive) -> None:
    answer = httpx.post(ui.base + "/api/send", json={"peer": "NOBODY", "study": ui.study})
    assert answer.status_code == 400
    assert "NOBODY" in answer.json()["reason"] and "PEER" in answer.json()["reason"]
    assert httpx.post(ui.base + "/api/send", content=b"{").status_code == 400
    assert httpx.get(ui.base + "/api/jobs/999999").status_code == 404


def test_delete_an_instance_then_the_study(ui: UiArchive, tmp_path: Path) -> None:
    # a study of its own, so the other tests keep theirs
    files = synthetic_series(tmp_path, 3, size=8)
    first = describe_instance(files[0])
    root = ui.base + "/dicom-web"
    assert stow(root, files).status_code == 200
    one = f"{root}/studies/{first.study}/series/{first.series}/instances/{first.sop}"
    gone = httpx.delete(one)
    assert gone.status_code == 200 and gone.json()["removed"] == 1
    assert httpx.get(one + "/metadata").status_code == 404
    left = httpx.get(f"{root}/studies/{first.study}/instances").json()
    assert len(left) == 2
    assert httpx.delete(f"{root}/studies/{first.study}").json()["removed"] == 2
    assert httpx.get(f"{root}/studies", params={"StudyInstanceUID": first.study}).json() == []
    assert httpx.delete(f"{root}/studies/{first.study}").status_code == 404
    assert httpx.delete(f"{root}/studies/not-a-uid").status_code == 400


def test_delete_needs_credentials_when_the_archive_has_them(
        serve: ServeFactory, tmp_path: Path) -> None:
    http_port = free_port()
    serve(tmp_path / "data", args=["--http-port", str(http_port), "--no-fsync",
                                   "--http-token", "s3cret"])
    from tests.support.servers import wait_for_port

    wait_for_port(http_port)
    base = f"http://127.0.0.1:{http_port}"
    assert httpx.delete(f"{base}/dicom-web/studies/1.2.3").status_code == 401
    # the UI's pages hold no data and are public; what they ask for is behind the gate
    assert httpx.get(f"{base}/").status_code == 200
    assert httpx.get(f"{base}/ui/app.js").status_code == 200
    assert httpx.get(f"{base}/api/status").status_code == 401
    assert httpx.get(f"{base}/dicom-web/studies/1.2.3?accept=application/zip"
                     ).status_code == 401
    assert httpx.post(f"{base}/api/send", json={}).status_code == 401
    token = {"Authorization": "Bearer s3cret"}
    assert httpx.delete(f"{base}/dicom-web/studies/1.2.3", headers=token).status_code == 404


def test_qido_orderby_sorts_before_paging(ui: UiArchive, tmp_path: Path) -> None:
    """``orderby`` (dcm4chee-arc's QIDO-RS extension, which the study list uses): the archive
    sorts all the matches, then takes the page."""
    names = {"Cole^Ann": "20240301", "Adams^Bo": "20240105", "Baker^Cy": "20231120",
             "Diaz^Di": "20240105"}
    files = []
    for n, (name, date) in enumerate(names.items()):
        files += synthetic_series(tmp_path / str(n), 1, size=4, PatientName=name,
                                  PatientID=f"SORT-{n}", StudyDate=date)
    root = ui.base + "/dicom-web"
    # one request per study, so the ingest order that breaks ties below is defined (the parts
    # of one request are committed several at a time)
    for path in files:  # one instance per study
        assert stow(root, [path]).status_code == 200

    def page(orderby: str, offset: int, limit: int = 2) -> list[str]:
        answer = httpx.get(f"{root}/studies", params={
            "PatientID": "SORT-*", "orderby": orderby, "limit": limit, "offset": offset})
        assert answer.status_code == 200, answer.text
        return [m["00100010"]["Value"][0]["Alphabetic"] for m in answer.json()]

    assert page("PatientName", 0) + page("PatientName", 2) == sorted(names)
    assert page("-PatientName", 0, 4) == sorted(names, reverse=True)
    # ties (two studies on 20240105) keep ingest order
    assert page("-StudyDate", 0, 4) == ["Cole^Ann", "Adams^Bo", "Diaz^Di", "Baker^Cy"]
    assert page("StudyDate,-PatientName", 0, 4) == ["Baker^Cy", "Diaz^Di", "Adams^Bo",
                                                    "Cole^Ann"]
    for bad in ("SeriesNumber", "Rows", "NoSuchKeyword"):
        answer = httpx.get(f"{root}/studies", params={"orderby": bad})
        assert answer.status_code == 400, bad
    series = httpx.get(f"{root}/series", params={"PatientID": "SORT-*",
                                                "orderby": "-PatientName"})
    assert [m["00100010"]["Value"][0]["Alphabetic"] for m in series.json()] == \
        sorted(names, reverse=True)



def test_keywords_of_tags(ui: UiArchive) -> None:
    answer = httpx.get(ui.base + "/api/keywords", params={"tags": "00100010,00080005,00291010"})
    assert answer.json() == {"00100010": "PatientName", "00080005": "SpecificCharacterSet"}
    assert httpx.get(ui.base + "/api/keywords", params={"tags": "0010"}).status_code == 400
    assert httpx.get(ui.base + "/api/keywords", params={"tags": "x" * 8}).status_code == 400


def test_delete_is_audited(serve: ServeFactory, tmp_path: Path) -> None:
    """PS3.15 A.5.3.8 DICOM Study Deleted for a study, A.5.3.6 DICOM Instances Accessed with
    action D for an instance, each naming the study, its patient and the SOP Class counts."""
    from tests.support.audit import validate, wait_until
    from tests.support.servers import wait_for_port

    http_port = free_port()
    audit_file = tmp_path / "audit.log"
    serve(tmp_path / "data", args=["--http-port", str(http_port), "--no-fsync",
                                   "--audit-file", str(audit_file)])
    wait_for_port(http_port)
    root = f"http://127.0.0.1:{http_port}/dicom-web"
    files = synthetic_series(tmp_path / "s", 3, size=4, PatientID="AUDIT-1")
    first = describe_instance(files[0])
    assert stow(root, files).status_code == 200
    one = f"{root}/studies/{first.study}/series/{first.series}/instances/{first.sop}"
    assert httpx.delete(one).status_code == 200
    assert httpx.delete(f"{root}/studies/{first.study}").status_code == 200

    def events(code: str) -> list[Any]:
        lines = audit_file.read_bytes().splitlines() if audit_file.exists() else []
        return [d for d in map(validate, lines)
                if d.find("EventIdentification/EventID").get("csd-code") == code]

    deleted = wait_until(lambda: events("110105"), "a Study Deleted message")
    accessed = wait_until(lambda: [d for d in events("110103") if d.find(
        "EventIdentification").get("EventActionCode") == "D"], "an Instances Accessed (D)")

    def counts(document: Any) -> dict[str, int]:
        return {s.get("UID"): int(s.get("NumberOfInstances"))
                for s in document.iter("SOPClass")}

    assert counts(accessed[0]) == {first.sop_class: 1}
    assert counts(deleted[0]) == {first.sop_class: 2}
    objects = {o.get("ParticipantObjectID") for o in deleted[0].iter(
        "ParticipantObjectIdentification")}
    assert {first.study, "AUDIT-1"} <= objects
