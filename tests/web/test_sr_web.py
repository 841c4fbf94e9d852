"""Structured reports through DICOMweb and C-FIND on a real ``dicomkit serve`` (SQLite and
PostgreSQL): QIDO-RS finds a TID 1500 report by its Concept Name (PS3.4 Table C.6-4, sequence
matching C.2.2.2.6: ``ConceptNameCodeSequence.CodeValue=126000&...CodingSchemeDesignator=DCM``)
on the three instance resources and returns the sequence when asked (includefield); a
C-FIND at the IMAGE level matches the same; the rendered instance resource is the report as
text/html or text/plain (PS3.18 §8.7.4, Table 8.7.4-1), 406 for an image type."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dicomkit import write
from dicomkit.core.dataset import Dataset
from dicomkit.sr import render_html, render_text
from dicomkit.sr.templates import KeyObject, KeyObjectSelection
from tests.support.databases import Backend
from tests.support.servers import Serve, ServeFactory, dk_find
from tests.support.srtemplates import ct_series, make_report, seg_of
from tests.support.web import start_web, stow

REPORT_KEYS = {"ConceptNameCodeSequence.CodeValue": "126000",
               "ConceptNameCodeSequence.CodingSchemeDesignator": "DCM"}


@dataclass
class Stored:
    server: Serve
    root: str
    study: str
    report_series: str
    uids: dict[str, str]  # name -> SOP Instance UID
    report_path: Path


@pytest.fixture(scope="module")
def stored(backend: Backend, module_serve: ServeFactory,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    folder = tmp_path_factory.mktemp(f"srweb-{backend.name}")
    server, http_port = start_web(module_serve, folder / "data", backend.new_index())
    root = f"http://127.0.0.1:{http_port}/dicom-web"
    slices = ct_series(2)
    seg = seg_of(slices)
    report = make_report(slices, seg).to_dataset(like=slices[0], evidence=[*slices, seg])
    kos = KeyObjectSelection([KeyObject.from_dataset(s) for s in slices]).to_dataset(
        like=slices[0])
    named: dict[str, Dataset] = {"ct1": slices[0], "ct2": slices[1], "report": report,
                                 "kos": kos}
    paths = []
    for name, ds in named.items():
        path = folder / f"{name}.dcm"
        write(ds, path)
        paths.append(path)
    response = stow(root, paths)
    assert response.status_code == 200, response.text + server.log_tail()
    yield Stored(server, root, str(report.StudyInstanceUID), str(report.SeriesInstanceUID),
                 {name: str(ds.SOPInstanceUID) for name, ds in named.items()},
                 folder / "report.dcm")
    assert server.stop() == 0, server.log_tail()


def qido(stored: Stored, resource: str, params: dict[str, str]) -> list[dict[str, object]]:
    response = httpx.get(stored.root + resource, params=params,
                         headers={"Accept": "application/dicom+json"})
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else []


def sops(found: list[dict[str, object]]) -> set[str]:
    return {str(match["00080018"]["Value"][0]) for match in found}  # type: ignore[index]


@pytest.mark.parametrize("resource", ["instances", "study-instances",
                                      "study-series-instances"])
def test_qido_finds_the_report_by_concept_name(stored: Stored, resource: str) -> None:
    path = {"instances": "/instances",
            "study-instances": f"/studies/{stored.study}/instances",
            "study-series-instances":
                f"/studies/{stored.study}/series/{stored.report_series}/instances"}[resource]
    found = qido(stored, path, REPORT_KEYS)
    assert sops(found) == {stored.uids["report"]}
    [item] = found[0]["0040A043"]["Value"]  # type: ignore[index]
    assert item["00080100"]["Value"] == ["126000"]
    assert item["00080102"]["Value"] == ["DCM"]


def test_qido_concept_name_by_tag_and_by_scheme(stored: Stored) -> None:
    by_tag = qido(stored, "/instances", {"0040A043.00080100": "126000"})
    assert sops(by_tag) == {stored.uids["report"]}
    by_scheme = qido(stored, f"/studies/{stored.study}/instances",
                     {"ConceptNameCodeSequence.CodingSchemeDesignator": "DCM"})
    assert sops(by_scheme) == {stored.uids["report"], stored.uids["kos"]}
    assert qido(stored, "/instances", {"ConceptNameCodeSequence.CodeValue": "999999"}) == []


def test_includefield_returns_the_concept_name(stored: Stored) -> None:
    found = qido(stored, f"/studies/{stored.study}/instances",
                 {"includefield": "ConceptNameCodeSequence"})
    by_sop = {str(m["00080018"]["Value"][0]): m for m in found}  # type: ignore[index]
    assert set(by_sop) == set(stored.uids.values())
    kos_item = by_sop[stored.uids["kos"]]["0040A043"]["Value"][0]  # type: ignore[index]
    assert kos_item["00080100"]["Value"] == ["113000"]
    assert "Value" not in by_sop[stored.uids["ct1"]]["0040A043"]  # type: ignore[operator]


def test_the_concept_name_is_not_a_study_key(stored: Stored) -> None:
    response = httpx.get(stored.root + "/studies", params=REPORT_KEYS)
    assert response.status_code == 400, response.text
    assert "below the STUDY level" in response.text


def test_c_find_at_the_image_level_matches_the_concept_name(stored: Stored) -> None:
    key = Dataset()
    key.CodeValue, key.CodingSchemeDesignator = "126000", "DCM"
    found, status = dk_find(stored.server.port, {
        "QueryRetrieveLevel": "IMAGE", "StudyInstanceUID": stored.study,
        "SeriesInstanceUID": stored.report_series, "SOPInstanceUID": None,
        "ConceptNameCodeSequence": [key]})
    assert status == 0
    assert [str(m.SOPInstanceUID) for m in found] == [stored.uids["report"]]
    [item] = found[0].ConceptNameCodeSequence
    assert item.CodeMeaning == "Imaging Measurement Report"


def _rendered(stored: Stored, name: str, accept: str) -> httpx.Response:
    series = stored.report_series if name == "report" else None
    if series is None:
        found = qido(stored, f"/studies/{stored.study}/instances",
                     {"SOPInstanceUID": stored.uids[name]})
        series = str(found[0]["0020000E"]["Value"][0])  # type: ignore[index]
    return httpx.get(f"{stored.root}/studies/{stored.study}/series/{series}/instances/"
                     f"{stored.uids[name]}/rendered", headers={"Accept": accept})


@pytest.mark.parametrize("accept", ["text/html", "*/*",
                                    "text/html,application/xhtml+xml,*/*;q=0.8"])
def test_rendered_report_is_html(stored: Stored, accept: str) -> None:
    response = _rendered(stored, "report", accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == render_html(stored.report_path)
    assert "Imaging Measurement Report" in response.text


def test_rendered_report_as_plain_text(stored: Stored) -> None:
    response = _rendered(stored, "report", "text/plain")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == render_text(stored.report_path)


def test_rendered_key_object_selection_is_html(stored: Stored) -> None:
    response = _rendered(stored, "kos", "text/html")
    assert response.status_code == 200, response.text
    assert "Of Interest" in response.text


@pytest.mark.parametrize("accept", ["image/jpeg", "image/png", "application/pdf"])
def test_rendered_report_as_an_image_is_406(stored: Stored, accept: str) -> None:
    response = _rendered(stored, "report", accept)
    assert response.status_code == 406, response.text
    assert "structured report" in response.text and "text/html" in response.text


def test_rendered_image_still_renders_as_an_image(stored: Stored) -> None:
    response = _rendered(stored, "ct1", "image/png")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert _rendered(stored, "ct1", "text/html").status_code == 406
