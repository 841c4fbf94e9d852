"""Issue 13's "Done when": an AI workflow on a real ``dicomkit serve`` (SQLite and PostgreSQL).

1. A CT series (synthetic, with geometry) is stored by DCMTK ``storescu`` (C-STORE).
2. A script — this test — makes a LABELMAP segmentation of it (:func:`dicomkit.seg.create`,
   the Label Map Segmentation IOD) and a TID 1500 Measurement Report whose volumetric group
   (TID 1411) references a segment of it (:mod:`dicomkit.sr.templates`).
3. STOW-RS sends both (PS3.18 §10.5).
4. QIDO-RS finds the report by its concept name, 126000 DCM "Imaging Measurement Report"
   (``ConceptNameCodeSequence.CodeValue=126000&...CodingSchemeDesignator=DCM``, PS3.4 Table
   C.6-4 sequence matching).
5. The SEG comes back through WADO-RS and :func:`dicomkit.seg.read_masks` gives the same masks;
   the report comes back and parses to the same segment reference and volume; the rendered
   report is HTML (PS3.18 §8.7.4).
6. Every object validates with dicom3tools ``dciodvfy``. Its 2024-12 snapshot predates the
   Label Map Segmentation IOD, so the SEG is also checked as a Segmentation (only the label-map
   differences allowed) and the report's reference to a label-map segment gets the one
   expected "not segmentation" message (see tests/support/dciodvfy.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from dicomkit import read, write
from dicomkit.core.dataset import Dataset
from dicomkit.seg import SegmentDescription, create, read_masks
from dicomkit.sr.templates import (
    DeviceObserver,
    FindingSite,
    Measurement,
    MeasurementReport,
    SegmentReference,
    VolumetricROIMeasurements,
    read_measurement_report,
)
from tests.support.databases import Backend
from tests.support.dciodvfy import (
    LABELMAP_REFERENCE_ERROR,
    assert_valid,
    assert_valid_label_map,
    verify,
)
from tests.support.dcmtk import run_tool
from tests.support.segmentation import CATEGORY, LIVER, TUMOR
from tests.support.servers import Serve, ServeFactory
from tests.support.srtemplates import IMAGING_PROCEDURE, ML, VOLUME, ct_series
from tests.support.web import parse_multipart, start_web, stow

SLICES = 8
VOXEL_ML = 0.5 * 0.5 * 1.0 / 1000  # Pixel Spacing 0.5 mm, slices 1 mm apart
DICOM_PART = 'multipart/related; type="application/dicom"'

pytestmark = pytest.mark.dcmtk


@dataclass
class Workflow:
    server: Serve
    root: str
    folder: Path
    slices: list[Dataset]
    labels: np.ndarray
    seg: Dataset
    report: Dataset
    seg_path: Path
    report_path: Path
    ct_paths: list[Path]


def labels() -> np.ndarray:
    """A liver (1) over five slices with a lesion (2) inside it over three."""
    out = np.zeros((SLICES, 16, 16), dtype=np.uint8)
    out[1:6, 3:13, 3:13] = 1
    out[2:5, 6:9, 6:10] = 2
    return out


def volume_ml(masks: np.ndarray, segment: int) -> float:
    return round(float(np.count_nonzero(masks == segment)) * VOXEL_ML, 4)


@pytest.fixture(scope="module")
def workflow(backend: Backend, module_serve: ServeFactory,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workflow]:
    folder = tmp_path_factory.mktemp(f"ai-{backend.name}")
    server, http_port = start_web(module_serve, folder / "data", backend.new_index())
    root = f"http://127.0.0.1:{http_port}/dicom-web"
    # 1. the CT series, by C-STORE from DCMTK
    slices = ct_series(SLICES)
    ct_folder = folder / "ct"
    ct_folder.mkdir()
    ct_paths = []
    for ds in slices:
        ds.PatientPosition, ds.PositionReferenceIndicator, ds.AcquisitionNumber = "HFS", "", 1
        path = ct_folder / f"{ds.SOPInstanceUID}.dcm"
        write(ds, path)
        ct_paths.append(path)
    run_tool("storescu", "-aet", "SCANNER", "-aec", "PACS", "127.0.0.1", server.port,
             "+sd", ct_folder)
    # 2. the AI's results: a label map and a measurement report on one of its segments
    algorithm_segments = [
        SegmentDescription(1, "liver", CATEGORY, LIVER),
        SegmentDescription(2, "lesion", CATEGORY, TUMOR)]
    drawn = labels()
    seg = create(slices, drawn, algorithm_segments, kind="LABELMAP",
                 series_description="liver-ai segmentation", series_number=100)
    assert seg.StudyInstanceUID == slices[0].StudyInstanceUID
    lesion = SegmentReference.from_segmentation(seg, 2)
    report_content = MeasurementReport(
        observers=[DeviceObserver("1.2.826.0.1.3680043.10.1234.900", name="liver-ai",
                                  manufacturer="dicomkit")],
        procedure_reported=[IMAGING_PROCEDURE],
        imaging_measurements=[VolumetricROIMeasurements(
            "lesion 1", finding_type=TUMOR, finding_sites=[FindingSite(LIVER)],
            referenced_segment=lesion,
            measurements=[Measurement(VOLUME, volume_ml(drawn, 2), ML)])])
    report = report_content.to_dataset(like=slices[0], evidence=[*slices, seg],
                                       series_number=101)
    seg_path, report_path = folder / "seg.dcm", folder / "report.dcm"
    write(seg, seg_path)
    write(report, report_path)
    # 3. both through STOW-RS
    response = stow(root, [seg_path, report_path])
    assert response.status_code == 200, response.text + server.log_tail()
    yield Workflow(server, root, folder, slices, drawn, seg, report, seg_path, report_path,
                   ct_paths)
    assert server.stop() == 0, server.log_tail()


def study_url(workflow: Workflow) -> str:
    return f"{workflow.root}/studies/{workflow.slices[0].StudyInstanceUID}"


def test_the_ct_series_was_stored_by_storescu(workflow: Workflow) -> None:
    response = httpx.get(f"{study_url(workflow)}/series",
                         params={"SeriesInstanceUID": str(workflow.slices[0].SeriesInstanceUID)})
    assert response.status_code == 200, response.text
    [series] = response.json()
    assert series["00201209"]["Value"] == [SLICES]
    assert series["00080060"]["Value"] == ["CT"]


def test_qido_finds_the_report_by_concept_name(workflow: Workflow) -> None:
    response = httpx.get(f"{workflow.root}/instances", params={
        "ConceptNameCodeSequence.CodeValue": "126000",
        "ConceptNameCodeSequence.CodingSchemeDesignator": "DCM"})
    assert response.status_code == 200, response.text
    [found] = response.json()
    assert found["00080018"]["Value"] == [str(workflow.report.SOPInstanceUID)]
    # the answer's Retrieve URL gives the report itself
    retrieved = httpx.get(found["00081190"]["Value"][0], headers={"Accept": DICOM_PART})
    assert retrieved.status_code == 200, retrieved.text
    [(_headers, body)] = parse_multipart(retrieved)
    path = workflow.folder / "report-from-wado.dcm"
    path.write_bytes(body)
    parsed = read_measurement_report(path)
    [group] = parsed.imaging_measurements
    assert isinstance(group, VolumetricROIMeasurements)
    assert group.referenced_segment == SegmentReference.from_segmentation(workflow.seg, 2)
    assert group.measurements[0].value == volume_ml(workflow.labels, 2)
    assert read_measurement_report(workflow.report_path) == parsed


def test_the_seg_comes_back_through_wado_with_the_same_masks(workflow: Workflow) -> None:
    seg = workflow.seg
    response = httpx.get(f"{study_url(workflow)}/series/{seg.SeriesInstanceUID}/instances/"
                         f"{seg.SOPInstanceUID}", headers={"Accept": DICOM_PART})
    assert response.status_code == 200, response.text
    [(_headers, body)] = parse_multipart(response)
    path = workflow.folder / "seg-from-wado.dcm"
    path.write_bytes(body)
    masks = read_masks(path)
    assert masks.shape == (SLICES, 16, 16, 2)
    expected = np.stack([workflow.labels == n for n in (1, 2)], axis=-1).astype(np.uint8)
    assert np.array_equal(masks, expected)
    assert np.array_equal(masks, read_masks(workflow.seg_path))
    # the segment the report measures is in the SEG, with the volume the report gives
    assert volume_ml(masks[..., 1] * 2, 2) == volume_ml(workflow.labels, 2)


def test_the_rendered_report_is_html(workflow: Workflow) -> None:
    report = workflow.report
    response = httpx.get(f"{study_url(workflow)}/series/{report.SeriesInstanceUID}/instances/"
                         f"{report.SOPInstanceUID}/rendered", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Imaging Measurement Report</h1>" in response.text
    assert "lesion 1" in response.text and "Volume" in response.text


def test_every_object_validates_with_dciodvfy(workflow: Workflow) -> None:
    for path in workflow.ct_paths:
        assert_valid(path)
    scratch = workflow.folder / "dciodvfy"
    scratch.mkdir(exist_ok=True)
    assert_valid_label_map(workflow.seg_path, scratch)
    verdict = verify(workflow.report_path)
    assert verdict.iod == "ComprehensiveSR"
    unexpected = [e for e in verdict.errors if LABELMAP_REFERENCE_ERROR not in e]
    assert unexpected == [], unexpected
    # what the archive sends back is what was sent
    for sent in (workflow.seg, workflow.report):
        response = httpx.get(f"{study_url(workflow)}/series/{sent.SeriesInstanceUID}/"
                             f"instances/{sent.SOPInstanceUID}",
                             headers={"Accept": DICOM_PART})
        [(_headers, body)] = parse_multipart(response)
        back = workflow.folder / f"back-{sent.SOPInstanceUID}.dcm"
        back.write_bytes(body)
        assert read(back).SOPInstanceUID == sent.SOPInstanceUID
        if sent is workflow.seg:
            assert_valid_label_map(back, scratch)
        else:
            assert [e for e in verify(back).errors if LABELMAP_REFERENCE_ERROR not in e] == []
