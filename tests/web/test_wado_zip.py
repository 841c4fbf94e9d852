"""WADO-RS with Accept: application/zip (PS3.18 §8.7.3.10; PS3.12 Annex V ZIP File Media):
a study or series from a real ``dicomkit serve`` (SQLite and PostgreSQL) comes as one ZIP whose
root holds a DICOMDIR and the instances as stored; DCMTK and pydicom read it."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dicomkit import write
from dicomkit.core.uid import generate_uid
from dicomkit.iod.encapsulated import wrap
from dicomkit.media import FileSet
from tests.support import documents as docs
from tests.support.databases import Backend
from tests.support.datasets import make_instance
from tests.support.dciodvfy import assert_valid
from tests.support.media import our_tree, pydicom_tree
from tests.support.servers import Serve, ServeFactory
from tests.support.web import start_web, stow


@dataclass
class Stored:
    server: Serve
    root: str
    study: str
    series: str
    files: dict[str, bytes]  # SOP Instance UID -> the bytes sent


@pytest.fixture(scope="module")
def stored(backend: Backend, module_serve: ServeFactory,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    folder = tmp_path_factory.mktemp(f"zip-{backend.name}")
    server, http_port = start_web(module_serve, folder / "data", backend.new_index())
    root = f"http://127.0.0.1:{http_port}/dicom-web"
    study, series = generate_uid(), generate_uid()
    paths, files = [], {}
    for number in (1, 2, 3):
        ds = make_instance(study_uid=study, series_uid=series, number=number,
                           patient_id="ZIP-1", StudyID="1", SeriesNumber="1",
                           InstanceNumber=str(number))
        paths.append(folder / f"ct{number}.dcm")
        write(ds, paths[-1])
    pdf = wrap(docs.PDF, patient_id="ZIP-1", study_uid=study)
    paths.append(folder / "pdf.dcm")
    write(pdf, paths[-1])
    response = stow(root, paths)
    assert response.status_code == 200, response.text + server.log_tail()
    for path in paths:
        from dicomkit import read

        files[str(read(path, stop_before_pixels=True).SOPInstanceUID)] = path.read_bytes()
    yield Stored(server, root, study, series, files)
    assert server.stop() == 0, server.log_tail()


def _unzip(content: bytes, folder: Path) -> FileSet:
    with zipfile.ZipFile(io.BytesIO(content)) as zipped:
        assert "DICOMDIR" in zipped.namelist()
        zipped.extractall(folder)
    return FileSet.read(folder)


def test_a_study_as_zip(stored: Stored, tmp_path: Path) -> None:
    response = httpx.get(f"{stored.root}/studies/{stored.study}",
                         headers={"Accept": "application/zip"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    fs = _unzip(response.content, tmp_path)
    assert {r.sop_instance_uid for r in fs.instances()} == set(stored.files)
    assert sorted(r.record_type for r in fs.instances()) == ["ENCAP DOC", "IMAGE", "IMAGE",
                                                             "IMAGE"]
    for record in fs.instances():
        fs.verify(record)
        assert fs.path(record).read_bytes() == stored.files[record.sop_instance_uid]
    assert_valid(tmp_path / "DICOMDIR")
    assert our_tree(tmp_path / "DICOMDIR") == pydicom_tree(tmp_path / "DICOMDIR")
    dump = subprocess.run(["dcmdump", str(tmp_path / "DICOMDIR")], capture_output=True,
                          encoding="latin-1", check=False)
    assert dump.returncode == 0 and "E:" not in dump.stderr, dump.stderr


def test_a_series_by_the_accept_query_parameter(stored: Stored, tmp_path: Path) -> None:
    """A browser link downloads it (PS3.18 §8.3.3.1: ``accept`` replaces the header)."""
    response = httpx.get(f"{stored.root}/studies/{stored.study}/series/{stored.series}",
                         params={"accept": "application/zip"}, timeout=60)
    assert response.status_code == 200, response.text
    fs = _unzip(response.content, tmp_path)
    assert len(list(fs.instances())) == 3


def test_zip_after_dicom_in_the_accept_header_gives_multipart(stored: Stored) -> None:
    response = httpx.get(f"{stored.root}/studies/{stored.study}", timeout=60, headers={
        "Accept": 'multipart/related; type="application/dicom", application/zip; q=0.5'})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/related")


def test_zip_in_another_transfer_syntax_is_not_acceptable(stored: Stored) -> None:
    response = httpx.get(f"{stored.root}/studies/{stored.study}", timeout=60, headers={
        "Accept": "application/zip; transfer-syntax=1.2.840.10008.1.2.4.50"})
    assert response.status_code == 406


def test_zip_of_an_unknown_study_is_404(stored: Stored) -> None:
    response = httpx.get(f"{stored.root}/studies/1.2.3.4.5.6.7",
                         headers={"Accept": "application/zip"}, timeout=60)
    assert response.status_code == 404
