"""``dicomkit serve`` with DCMTK as every peer: the "done when" path of the archive.

storescu sends a study set (pydicom's CT_small.dcm and MR_small.dcm, one study each, and a
synthetic 5-instance CT series); findscu finds it at each level of the Study Root and Patient
Root models (PS3.4 C.6.1, C.6.2), with the matching kinds of C.2.2.2 (wildcard, date range,
Modalities in Study); movescu moves it to a storescp configured as a peer and getscu gets it
into a folder (C.4.2, C.4.3); an unknown move destination is refused with A801. The same
queries sent to DCMTK's own archive, dcmqrscp, loaded with the same files, find the same
studies, series and instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from tests.support.databases import Backend
from tests.support.datasets import StudySet
from tests.support.dcmtk import background, run_tool
from tests.support.servers import Serve, ServeFactory, free_port, stored_files, wait_for_port

CT_SMALL_DATE = "20040119"  # StudyDate of pydicom's CT_small.dcm; MR_small.dcm: 20040826


@dataclass
class Archive:
    server: Serve
    dest_port: int
    study_set: StudySet

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory, study_set: StudySet,
            dcmtk_net: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Archive]:
    """``dicomkit serve`` with one peer (DEST), loaded by storescu with the study set."""
    data = tmp_path_factory.mktemp(f"data-{backend.name}")
    dest_port = free_port()
    server = module_serve(data, index=backend.new_index(), peers={"DEST": dest_port})
    result = run_tool("storescu", "-v", "-aec", "PACS", "127.0.0.1", server.port, "+sd",
                      study_set.folder)
    successes = result.stdout.count("Received Store Response (Success)") + \
        result.stderr.count("Received Store Response (Success)")
    assert successes == len(study_set.instances), result.stderr + server.log_tail()
    yield Archive(server, dest_port, study_set)
    assert server.stop() == 0, server.log_tail()


@pytest.fixture(scope="module")
def dcmqrscp(study_set: StudySet, dcmtk_net: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """DCMTK's archive (AE QR) loaded with the same files: the reference for C-FIND."""
    folder = tmp_path_factory.mktemp("dcmqrscp")
    storage = folder / "db"
    storage.mkdir()
    port = free_port()
    config = folder / "dcmqrscp.cfg"
    config.write_text(f"""NetworkTCPPort  = {port}
MaxPDUSize      = 16384
MaxAssociations = 16

HostTable BEGIN
HostTable END

VendorTable BEGIN
VendorTable END

AETable BEGIN
QR   {storage}   RW (200, 1024mb)   ANY
AETable END
""")
    run_tool("dcmqridx", storage, *[i.path for i in study_set.instances])
    # Forking mode: dcmqrscp 3.6.7 with --single-process crashes after the first release.
    scp = background([dcmtk_net["dcmqrscp"], "-c", config, port], folder / "dcmqrscp.log")
    wait_for_port(port, scp.proc, describe=scp.log)
    yield port
    scp.stop()


def findscu(port: int, called: str, keys: dict[str, str], out: Path,
            model: str = "-S") -> list[Any]:
    """findscu -X: each response identifier is written to a file; read back with dicomkit."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rsp*.dcm"):
        old.unlink()
    args: list[Any] = [model, "-aec", called, "-X", "-od", out]
    for keyword, value in keys.items():
        args += ["-k", f"{keyword}={value}" if value is not None else keyword]
    run_tool("findscu", *args, "127.0.0.1", port)
    return [dicomkit.read(str(p)) for p in sorted(out.glob("rsp*.dcm"))]


def uids(responses: list[Any], keyword: str) -> set[str]:
    return {str(r.get(keyword)) for r in responses}


def files_named(folder: Path) -> dict[str, Any]:
    """SOP Instance UID -> data set, for every file in a folder."""
    found = {}
    for path in folder.iterdir():
        ds = dicomkit.read(str(path))
        found[str(ds.SOPInstanceUID)] = ds
    return found


# -- storage ------------------------------------------------------------------------------------
def test_storescu_instances_are_stored_under_their_uids(archive: Archive) -> None:
    files = stored_files(archive.server.data)
    assert not [f for f in files if f.suffix != ".dcm"], files
    for instance in archive.study_set.instances:
        path = (archive.server.data / "files" / instance.study / instance.series
                / f"{instance.sop}.dcm")
        assert path.exists(), path
        ds = dicomkit.read(str(path))
        assert ds.SOPInstanceUID == instance.sop
        assert ds.file_meta.MediaStorageSOPInstanceUID == instance.sop
        assert ds.file_meta.SourceApplicationEntityTitle.strip() == "STORESCU"


# -- C-FIND --------------------------------------------------------------------------------------
def test_findscu_study_root_finds_each_level(archive: Archive, tmp_path: Path) -> None:
    s = archive.study_set
    studies = findscu(archive.port, "PACS", {"QueryRetrieveLevel": "STUDY",
                                             "StudyInstanceUID": None}, tmp_path)
    assert uids(studies, "StudyInstanceUID") == s.studies
    series = findscu(archive.port, "PACS", {"QueryRetrieveLevel": "SERIES",
                                            "StudyInstanceUID": s.synthetic_study,
                                            "SeriesInstanceUID": None,
                                            "NumberOfSeriesRelatedInstances": None}, tmp_path)
    assert uids(series, "SeriesInstanceUID") == {s.synthetic_series}
    assert int(series[0].NumberOfSeriesRelatedInstances) == 5
    images = findscu(archive.port, "PACS", {"QueryRetrieveLevel": "IMAGE",
                                            "StudyInstanceUID": s.synthetic_study,
                                            "SeriesInstanceUID": s.synthetic_series,
                                            "SOPInstanceUID": None, "InstanceNumber": None},
                     tmp_path)
    assert uids(images, "SOPInstanceUID") == s.sops_of(s.synthetic_study)
    assert sorted(int(i.InstanceNumber) for i in images) == [1, 2, 3, 4, 5]


def test_findscu_patient_root_finds_each_level(archive: Archive, tmp_path: Path) -> None:
    s = archive.study_set
    patients = findscu(archive.port, "PACS", {"QueryRetrieveLevel": "PATIENT",
                                              "PatientID": None, "PatientName": None},
                       tmp_path, model="-P")
    assert uids(patients, "PatientID") == {i.patient_id for i in s.instances}
    studies = findscu(archive.port, "PACS", {"QueryRetrieveLevel": "STUDY",
                                             "PatientID": "DK-SERVE-1",
                                             "StudyInstanceUID": None}, tmp_path, model="-P")
    assert uids(studies, "StudyInstanceUID") == {s.synthetic_study}
    images = findscu(archive.port, "PACS", {"QueryRetrieveLevel": "IMAGE",
                                            "PatientID": "DK-SERVE-1",
                                            "StudyInstanceUID": s.synthetic_study,
                                            "SeriesInstanceUID": s.synthetic_series,
                                            "SOPInstanceUID": None}, tmp_path, model="-P")
    assert uids(images, "SOPInstanceUID") == s.sops_of(s.synthetic_study)


# Study-level C-FIND keys (PS3.4 C.2.2.2) and the pydicom file names whose studies match.
MATCHING = {
    "wildcard-patient-name": ({"PatientName": "CompressedSamples*"},
                              {"CT_small.dcm", "MR_small.dcm"}),
    "wildcard-question-mark": ({"PatientName": "CompressedSamples^?R1"}, {"MR_small.dcm"}),
    "date-range": ({"StudyDate": "20040101-20040630"}, {"CT_small.dcm"}),
    "open-date-range": ({"StudyDate": "20040601-"}, {"MR_small.dcm", "synthetic"}),
    "modalities-in-study-mr": ({"ModalitiesInStudy": "MR"}, {"MR_small.dcm"}),
    "modalities-in-study-ct": ({"ModalitiesInStudy": "CT"}, {"CT_small.dcm", "synthetic"}),
}


def _expected(s: StudySet, names: set[str]) -> set[str]:
    return {s.synthetic_study if n == "synthetic" else s.study_of(n) for n in names}


@pytest.mark.parametrize("case", list(MATCHING))
def test_findscu_matching(archive: Archive, tmp_path: Path, case: str) -> None:
    keys, names = MATCHING[case]
    found = findscu(archive.port, "PACS", {"QueryRetrieveLevel": "STUDY",
                                           "StudyInstanceUID": None, "ModalitiesInStudy": None,
                                           **keys}, tmp_path)
    assert uids(found, "StudyInstanceUID") == _expected(archive.study_set, names)
    if case == "modalities-in-study-ct":
        by_study = {str(r.StudyInstanceUID): r for r in found}
        assert by_study[archive.study_set.synthetic_study].ModalitiesInStudy == "CT"


# The same queries to dcmqrscp (AE QR). Modalities in Study is left out: dcmqrscp 3.6.7 does
# not match on it (every study is returned whatever its value).
REFERENCE_QUERIES: dict[str, tuple[str, dict[str, str | None], str]] = {
    "study-all": ("-S", {"QueryRetrieveLevel": "STUDY"}, "StudyInstanceUID"),
    "study-name-wildcard": ("-S", {"QueryRetrieveLevel": "STUDY",
                                   "PatientName": "Compressed*"}, "StudyInstanceUID"),
    "study-date-range": ("-S", {"QueryRetrieveLevel": "STUDY",
                                "StudyDate": "20040101-20041231"}, "StudyInstanceUID"),
    "study-date-single": ("-S", {"QueryRetrieveLevel": "STUDY", "StudyDate": CT_SMALL_DATE},
                          "StudyInstanceUID"),
    "series-of-study": ("-S", {"QueryRetrieveLevel": "SERIES", "StudyInstanceUID": "{study}"},
                        "SeriesInstanceUID"),
    "series-by-modality": ("-S", {"QueryRetrieveLevel": "SERIES", "StudyInstanceUID": "{mr}",
                                  "Modality": "MR"}, "SeriesInstanceUID"),
    "images-of-series": ("-S", {"QueryRetrieveLevel": "IMAGE", "StudyInstanceUID": "{study}",
                                "SeriesInstanceUID": "{series}"}, "SOPInstanceUID"),
    "patients": ("-P", {"QueryRetrieveLevel": "PATIENT", "PatientName": "*"}, "PatientID"),
    "patient-studies": ("-P", {"QueryRetrieveLevel": "STUDY", "PatientID": "DK-SERVE-1"},
                        "StudyInstanceUID"),
}


@pytest.mark.parametrize("case", list(REFERENCE_QUERIES))
def test_same_matches_as_dcmqrscp(archive: Archive, dcmqrscp: int, tmp_path: Path,
                                  case: str) -> None:
    model, template, unique = REFERENCE_QUERIES[case]
    s = archive.study_set
    values = {"study": s.synthetic_study, "series": s.synthetic_series,
              "mr": s.study_of("MR_small.dcm")}
    keys: dict[str, str | None] = {k: v.format(**values) if v else v
                                   for k, v in template.items()}
    keys.setdefault(unique, None)
    ours = uids(findscu(archive.port, "PACS", keys, tmp_path / "ours", model), unique)
    theirs = uids(findscu(dcmqrscp, "QR", keys, tmp_path / "theirs", model), unique)
    assert ours, f"{case}: no matches at all"
    assert ours == theirs


# -- C-MOVE and C-GET ------------------------------------------------------------------------------
def test_movescu_moves_every_instance_to_the_configured_peer(archive: Archive,
                                                              dcmtk_net: dict[str, str],
                                                              tmp_path: Path) -> None:
    out = tmp_path / "dest"
    out.mkdir()
    dest = background([dcmtk_net["storescp"], "-aet", "DEST", "-od", out, archive.dest_port],
                      tmp_path / "storescp.log")
    try:
        wait_for_port(archive.dest_port, dest.proc, describe=dest.log)
        s = archive.study_set
        all_studies = "\\".join(sorted(s.studies))  # a list of UIDs (C.2.2.2.2)
        result = run_tool("movescu", "-v", "-S", "-aec", "PACS", "-aem", "DEST",
                          "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={all_studies}",
                          "127.0.0.1", archive.port)
        assert "Received Final Move Response (Success)" in result.stderr + result.stdout, \
            result.stderr + archive.server.log_tail()
    finally:
        dest.stop()
    arrived = files_named(out)
    assert set(arrived) == s.sops
    for instance in s.instances:
        original = dicomkit.read(str(instance.path))
        assert bytes(arrived[instance.sop].PixelData) == bytes(original.PixelData)


def test_movescu_to_an_unknown_destination_is_refused_a801(archive: Archive,
                                                           tmp_path: Path) -> None:
    result = run_tool("movescu", "-d", "-S", "-aec", "PACS", "-aem", "NOWHERE",
                      "-k", "QueryRetrieveLevel=STUDY",
                      "-k", f"StudyInstanceUID={archive.study_set.synthetic_study}",
                      "127.0.0.1", archive.port, check=False)
    output = (result.stdout + result.stderr).lower()
    assert "0xa801" in output, output[-3000:]
    assert "movedestinationunknown" in output.replace(" ", "")


def test_getscu_gets_the_study_into_a_folder(archive: Archive, tmp_path: Path) -> None:
    s = archive.study_set
    out = tmp_path / "get"
    out.mkdir()
    result = run_tool("getscu", "-v", "-S", "-aec", "PACS", "-od", out,
                      "-k", "QueryRetrieveLevel=STUDY",
                      "-k", f"StudyInstanceUID={s.synthetic_study}", "127.0.0.1", archive.port)
    assert "Number of Completed Suboperations : 5" in result.stderr + result.stdout, \
        result.stderr
    arrived = files_named(out)
    assert set(arrived) == s.sops_of(s.synthetic_study)
    for instance in s.instances:
        if instance.study == s.synthetic_study:
            original = dicomkit.read(str(instance.path))
            assert bytes(arrived[instance.sop].PixelData) == bytes(original.PixelData)


def test_getscu_series_level(archive: Archive, tmp_path: Path) -> None:
    s = archive.study_set
    out = tmp_path / "get"
    out.mkdir()
    mr = s.study_of("MR_small.dcm")
    mr_series = next(i.series for i in s.instances if i.study == mr)
    run_tool("getscu", "-S", "-aec", "PACS", "-od", out, "-k", "QueryRetrieveLevel=SERIES",
             "-k", f"StudyInstanceUID={mr}", "-k", f"SeriesInstanceUID={mr_series}",
             "127.0.0.1", archive.port)
    assert set(files_named(out)) == s.sops_of(mr)
