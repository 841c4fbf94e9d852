"""Our TID 1500 and TID 2010 documents against independent readers: dicom3tools ``dciodvfy``
(no Error), DCMTK ``dsrdump`` (renders with no error), pydicom (reads them), highdicom (reads
our report to the same measurements, units, tracking identifiers and referenced segments);
and we read the TID 1500 report highdicom writes."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomkit
from dicomkit.core.uid import generate_uid, registered
from dicomkit.sr.templates import (
    Code,
    KeyObject,
    KeyObjectSelection,
    MeasurementsAndQualitativeEvaluations,
    PlanarROIMeasurements,
    SegmentReference,
    VolumetricROIMeasurements,
    read_measurement_report,
)
from tests.support.dciodvfy import assert_valid, verify
from tests.support.srtemplates import ct_series, make_report, seg_of

hd = pytest.importorskip("highdicom")


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, object, list[dicomkit.Dataset], dicomkit.Dataset]:
    slices = ct_series()
    seg = seg_of(slices)
    report = make_report(slices, seg)
    path = tmp_path / "report.dcm"
    dicomkit.write(report.to_dataset(like=slices[0], evidence=slices + [seg]), path)
    return path, report, slices, seg


def test_dciodvfy_accepts_the_measurement_report(written: tuple) -> None:  # type: ignore[type-arg]
    verdict = assert_valid(written[0])
    assert verdict.iod == "ComprehensiveSR"


def test_dciodvfy_accepts_the_key_object_selection(tmp_path: Path) -> None:
    slices = ct_series(2)
    kos = KeyObjectSelection([KeyObject.from_dataset(s) for s in slices],
                             description="For the tumour board")
    dicomkit.write(kos.to_dataset(like=slices[0]), tmp_path / "kos.dcm")
    assert assert_valid(tmp_path / "kos.dcm").iod == "KeyObjectSelectionDocument"


def _dsrdump(path: Path) -> str:
    tool = shutil.which("dsrdump")
    if tool is None:
        pytest.fail("DCMTK dsrdump is not installed")
    result = subprocess.run([tool, str(path)], capture_output=True, encoding="latin-1",
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    errors = [line for line in (result.stdout + result.stderr).splitlines()
              if line.startswith("E:") or line.startswith("F:")]
    assert not errors, errors
    return result.stdout


def test_dsrdump_renders_the_measurement_report(written: tuple) -> None:  # type: ignore[type-arg]
    text = _dsrdump(written[0])
    assert '(,,"Imaging Measurement Report")' in text
    assert text.count('(,,"Measurement Group")') == 3
    assert '="lesion 1"' in text and "1520.5" in text


def test_dsrdump_renders_the_key_object_selection(tmp_path: Path) -> None:
    slices = ct_series(2)
    kos = KeyObjectSelection([KeyObject.from_dataset(s) for s in slices])
    dicomkit.write(kos.to_dataset(like=slices[0]), tmp_path / "kos.dcm")
    text = _dsrdump(tmp_path / "kos.dcm")
    assert "Key Object Selection Document" in text and '(,,"Of Interest")' in text


def test_pydicom_reads_the_measurement_report(written: tuple) -> None:  # type: ignore[type-arg]
    ds = pydicom.dcmread(written[0])
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.ConceptNameCodeSequence[0].CodeValue == "126000"


def test_highdicom_reads_our_measurements(written: tuple) -> None:  # type: ignore[type-arg]
    path, report, slices, seg = written
    sr = hd.sr.srread(path)
    content = sr.content
    planar = content.get_planar_roi_measurement_groups()
    volumetric = content.get_volumetric_roi_measurement_groups()
    image = content.get_image_measurement_groups()
    assert [g.tracking_identifier for g in planar] == ["lesion 1"]
    assert [g.tracking_identifier for g in volumetric] == ["liver"]
    assert [g.tracking_identifier for g in image] == ["whole image"]
    ours = report.imaging_measurements  # type: ignore[attr-defined]
    assert planar[0].tracking_uid == ours[0].tracking_uid
    for theirs, mine in ((planar[0], ours[0]), (volumetric[0], ours[1]), (image[0], ours[2])):
        got = [(m.name.value, m.value, m.unit.value) for m in theirs.get_measurements()]
        assert got == [(m.name.value, m.value, m.unit.value) for m in mine.measurements]
    assert planar[0].roi.value.tolist() == [[1, 1], [8, 1.5], [8, 8], [1, 1]]
    segment = volumetric[0].referenced_segment
    assert segment.referenced_sop_instance_uid == str(seg.SOPInstanceUID)
    assert segment.referenced_segment_numbers == [1]
    assert [s.referenced_sop_instance_uid for s in segment.source_images_for_segmentation] \
        == [str(s.SOPInstanceUID) for s in slices]
    assert volumetric[0].finding_type.value == "10200004"


def test_we_read_what_highdicom_writes(tmp_path: Path) -> None:
    from pydicom.sr.codedict import codes

    slices = ct_series(2)
    pds = []
    for number, ds in enumerate(slices):
        dicomkit.write(ds, tmp_path / f"ct{number}.dcm")
        pds.append(pydicom.dcmread(tmp_path / f"ct{number}.dcm"))
    seg_uid, series_uid = generate_uid(), str(slices[0].SeriesInstanceUID)
    planar_uid, volume_uid = generate_uid(), generate_uid()
    context = hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name="Foo^Bar")))
    planar = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=planar_uid, identifier="Planar ROI"),
        referenced_region=hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=np.array([[1, 1], [5, 1], [5, 5], [1, 1]], dtype=float),
            source_image=hd.sr.SourceImageForRegion(pds[0].SOPClassUID,
                                                    pds[0].SOPInstanceUID)),
        finding_type=codes.SCT.Tumor,
        measurements=[hd.sr.Measurement(name=codes.SCT.Area, value=16.0,
                                        unit=codes.UCUM.SquareMillimeter)])
    volume = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=volume_uid, identifier="Volume"),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=registered("SegmentationStorage"), sop_instance_uid=seg_uid,
            segment_number=2, source_series=hd.sr.SourceSeriesForSegmentation(series_uid)),
        finding_type=codes.SCT.Liver,
        measurements=[hd.sr.Measurement(
            name=codes.SCT.Volume, value=1520.5, unit=hd.sr.CodedConcept("ml", "UCUM", "ml"),
            algorithm_id=hd.sr.AlgorithmIdentification(name="seg", version="1.0"))])
    whole = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Image"),
        measurements=[hd.sr.Measurement(name=codes.SCT.Diameter, value=3.5,
                                        unit=codes.UCUM.Millimeter)])
    content = hd.sr.MeasurementReport(
        observation_context=context, procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[planar, volume, whole], referenced_images=pds)
    seg = pydicom.Dataset()
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                    "StudyInstanceUID"):
        setattr(seg, keyword, pds[0].get(keyword))
    seg.SeriesInstanceUID = generate_uid()
    seg.SOPClassUID = registered("SegmentationStorage")
    seg.SOPInstanceUID = seg_uid
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*pds, seg], content=content, series_instance_uid=generate_uid(), series_number=1,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="highdicom")
    sr.save_as(tmp_path / "hd.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = read_measurement_report(tmp_path / "hd.dcm")
    assert report.observers[0].name == "Foo^Bar"
    assert report.procedure_reported == [Code("25045-6", "LN")]
    first, second, third = report.imaging_measurements
    assert isinstance(first, PlanarROIMeasurements)
    assert (first.tracking_id, first.tracking_uid) == ("Planar ROI", planar_uid)
    assert first.referenced_region.source.sop_instance == str(pds[0].SOPInstanceUID)
    assert first.referenced_region.points == ((1, 1), (5, 1), (5, 5), (1, 1))
    assert [(m.name.value, m.value, m.unit.value) for m in first.measurements] == [
        ("42798000", 16.0, "mm2")]
    assert isinstance(second, VolumetricROIMeasurements)
    assert second.referenced_segment == SegmentReference(seg_uid, 2, source_series=series_uid)
    assert second.measurements[0].algorithm.name == "seg"
    assert second.measurements[0].value == 1520.5
    assert isinstance(third, MeasurementsAndQualitativeEvaluations)
    assert third.measurements[0].unit == Code("mm", "UCUM")
    assert [e.reference.sop_instance for e in report.image_library.entries] == [
        str(p.SOPInstanceUID) for p in pds]
    assert report.image_library.entries[0].modality == Code("CT", "DCM")


def test_segmentation_frame_reference_reads_in_highdicom_and_passes_dciodvfy(
        tmp_path: Path) -> None:
    from dicomkit.sr.templates import (
        DeviceObserver,
        Measurement,
        MeasurementReport,
    )
    from tests.support.srtemplates import AREA, IMAGING_PROCEDURE, MM2, ref

    slices = ct_series(2)
    seg = seg_of(slices)
    report = MeasurementReport(
        observers=[DeviceObserver(generate_uid())], procedure_reported=[IMAGING_PROCEDURE],
        imaging_measurements=[PlanarROIMeasurements(
            "frame 2", referenced_segment=SegmentReference(
                str(seg.SOPInstanceUID), None, source_images=[ref(slices[1])], frames=(2,)),
            measurements=[Measurement(AREA, 3.0, MM2)])])
    path = tmp_path / "frame.dcm"
    dicomkit.write(report.to_dataset(like=slices[0], evidence=[*slices, seg]), path)
    assert_valid(path)
    assert read_measurement_report(path) == report
    group = hd.sr.srread(path).content.get_planar_roi_measurement_groups()[0]
    assert group.reference_type.value == "121214"
    frame = group.referenced_segmentation_frame[0].ReferencedSOPSequence[0]
    assert frame.ReferencedSOPInstanceUID == str(seg.SOPInstanceUID)
    assert int(frame.ReferencedFrameNumber) == 2


@pytest.mark.parametrize("kind", ["LABELMAP", "BINARY"])
def test_report_on_a_dicomkit_seg(tmp_path: Path, kind: str) -> None:
    """The issue's AI case: a SEG made by dicomkit.seg, a TID 1500 report measuring its
    segment, the report valid; highdicom finds the segment the report names in the SEG.

    dciodvfy (snapshot 2024-12-20) does not count Label Map Segmentation Storage among the
    segmentation classes, so it flags Referenced Segment Number in a reference to one; that
    one message is expected for LABELMAP (PS3.3 C.18.4 allows the number for it)."""
    from dicomkit.seg import SegmentDescription, create
    from dicomkit.sr.templates import DeviceObserver, Measurement, MeasurementReport
    from tests.support.srtemplates import IMAGING_PROCEDURE, LIVER, ML, TISSUE, VOLUME

    slices = ct_series(3)
    labels = np.zeros((3, 16, 16), dtype=np.uint8)
    labels[:, 4:10, 4:10] = 1
    seg = create(slices, labels, [SegmentDescription(1, "liver", TISSUE, LIVER)],
                 kind=kind)
    dicomkit.write(seg, tmp_path / "seg.dcm")  # its dciodvfy check is in tests/seg
    reference = SegmentReference.from_segmentation(seg, 1)
    assert reference.source_series == str(slices[0].SeriesInstanceUID)
    assert SegmentReference.from_segmentation(seg, 1, source_images=True).source_images[0] \
        .sop_instance == str(slices[0].SOPInstanceUID)
    report = MeasurementReport(
        observers=[DeviceObserver(generate_uid(), name="liver-ai")],
        procedure_reported=[IMAGING_PROCEDURE],
        imaging_measurements=[VolumetricROIMeasurements(
            "liver", finding_type=LIVER, referenced_segment=reference,
            measurements=[Measurement(VOLUME, 0.108, ML)])])
    path = tmp_path / "report.dcm"
    dicomkit.write(report.to_dataset(like=slices[0], evidence=[*slices, seg]), path)
    errors = verify(path).errors
    if kind == "LABELMAP":
        errors = [e for e in errors if "not segmentation - attribute <ReferencedSegmentNumber>"
                  not in e]
    assert errors == []
    group = hd.sr.srread(path).content.get_volumetric_roi_measurement_groups()[0]
    segment = group.referenced_segment
    hd_seg = hd.seg.segread(tmp_path / "seg.dcm")
    assert segment.referenced_sop_instance_uid == hd_seg.SOPInstanceUID
    assert segment.referenced_segment_numbers[0] in hd_seg.segment_numbers
    assert read_measurement_report(path).imaging_measurements[0].referenced_segment == reference


def test_segment_reference_refuses_a_missing_segment() -> None:
    from dicomkit.sr.templates import TemplateError

    seg = dicomkit.Dataset()
    seg.SOPInstanceUID = "1.2.3"
    with pytest.raises(TemplateError, match="no segment 2"):
        SegmentReference.from_segmentation(seg, 2)


def test_we_read_highdicoms_segmentation_frame_reference(tmp_path: Path) -> None:
    """highdicom writes TID 1410's Referenced Segmentation Frame as one IMAGE item with both
    Referenced Frame Number and Referenced Segment Number, which PS3.3 C.18.4 does not allow
    together: reading accepts it with an SRWarning naming the item (dicomkit still refuses to
    write it), so read_measurement_report parses the group with its segment and frame."""
    from pydicom.sr.codedict import codes

    from dicomkit.sr import SRWarning

    slices = ct_series(2)
    pds = []
    for number, ds in enumerate(slices):
        dicomkit.write(ds, tmp_path / f"ct{number}.dcm")
        pds.append(pydicom.dcmread(tmp_path / f"ct{number}.dcm"))
    seg_uid, tracking_uid = generate_uid(), generate_uid()
    planar = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier="frame"),
        referenced_segment=hd.sr.ReferencedSegmentationFrame(
            sop_class_uid=registered("SegmentationStorage"), sop_instance_uid=seg_uid,
            frame_number=2, segment_number=3,
            source_image=hd.sr.SourceImageForSegmentation(pds[1].SOPClassUID,
                                                          pds[1].SOPInstanceUID)),
        finding_type=codes.SCT.Tumor,
        measurements=[hd.sr.Measurement(name=codes.SCT.Area, value=9.0,
                                        unit=codes.UCUM.SquareMillimeter)])
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Person,
                observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                    name="Foo^Bar"))),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion, imaging_measurements=[planar])
    seg = pydicom.Dataset()
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                    "StudyInstanceUID"):
        setattr(seg, keyword, pds[0].get(keyword))
    seg.SeriesInstanceUID = generate_uid()
    seg.SOPClassUID = registered("SegmentationStorage")
    seg.SOPInstanceUID = seg_uid
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*pds, seg], content=content, series_instance_uid=generate_uid(),
        series_number=1, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="highdicom")
    sr.save_as(tmp_path / "hd.dcm")
    with pytest.warns(SRWarning, match=r"content item 1\.[0-9.]+: a reference names frames "
                      r"or segments, not both"):
        report = read_measurement_report(tmp_path / "hd.dcm")
    [group] = report.imaging_measurements
    assert isinstance(group, PlanarROIMeasurements)
    assert group.tracking_uid == tracking_uid
    reference = group.referenced_segment
    assert (reference.sop_instance, reference.segment_number, tuple(reference.frames)) == (
        seg_uid, 3, (2,))
    assert [(m.name.value, m.value) for m in group.measurements] == [("42798000", 9.0)]
    with pytest.raises(dicomkit.sr.SRError, match="not both"):
        dicomkit.sr.check(dicomkit.sr.read(tmp_path / "hd.dcm", validate=False),
                          "Comprehensive 3D")
