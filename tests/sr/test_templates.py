"""TID 1500 measurement reports and TID 2010 key object selections as Python objects: objects
-> content tree -> SR instance -> file -> objects, identical; value sets of the templates' rows
(DCID refused, BCID warned, UCUM units); malformed trees refused naming the place."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import dicomkit
from dicomkit.sr import ContentItem, read
from dicomkit.sr.templates import (
    Code,
    DeviceObserver,
    ImageRegion3D,
    KeyObject,
    KeyObjectSelection,
    Measurement,
    MeasurementReport,
    PlanarROIMeasurements,
    SegmentReference,
    TemplateError,
    TemplateWarning,
    VolumetricROIMeasurements,
    read_key_object_selection,
    read_measurement_report,
)
from dicomkit.sr.templates import concepts as C
from tests.support.srtemplates import (
    AREA,
    IMAGING_PROCEDURE,
    LIVER,
    MM2,
    VOLUME,
    ct_series,
    make_report,
    ref,
    seg_of,
)

DEVICE = DeviceObserver("1.2.826.0.1.3680043.10.511.1", name="ai")


def strict() -> warnings.catch_warnings:  # type: ignore[type-arg]
    """Warnings are errors: the shared report uses only codes of the rows' groups."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error", TemplateWarning)
    return context


def test_measurement_report_round_trips_through_a_file(tmp_path: Path) -> None:
    slices = ct_series()
    seg = seg_of(slices)
    report = make_report(slices, seg)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TemplateWarning)
        ds = report.to_dataset(like=slices[0], evidence=slices + [seg])
    path = tmp_path / "report.dcm"
    dicomkit.write(ds, path)
    again = read_measurement_report(path)
    assert again == report
    assert again.imaging_measurements[1].referenced_segment == SegmentReference(
        str(seg.SOPInstanceUID), 1, source_images=[ref(s) for s in slices])
    assert ds.SOPClassUID == dicomkit.uid.registered("ComprehensiveSRStorage")


def test_content_tree_round_trips_without_a_file() -> None:
    slices = ct_series(2)
    report = make_report(slices, seg_of(slices))
    assert MeasurementReport.from_content(report.to_content()) == report


def test_report_tree_is_the_same_after_the_file(tmp_path: Path) -> None:
    slices = ct_series(2)
    seg = seg_of(slices)
    report = make_report(slices, seg)
    path = tmp_path / "r.dcm"
    dicomkit.write(report.to_dataset(like=slices[0], evidence=slices + [seg]), path)
    assert read(path) == report.to_content()


def test_volume_surface_makes_a_comprehensive_3d_report(tmp_path: Path) -> None:
    slices = ct_series(1)
    frame = str(slices[0].FrameOfReferenceUID)
    report = MeasurementReport(
        observers=[DEVICE], procedure_reported=IMAGING_PROCEDURE,
        imaging_measurements=[
            VolumetricROIMeasurements("v", volume_surface=ImageRegion3D(
                "POLYGON", [[0, 0, 0], [10, 0, 0], [10, 10, 0.5]], frame),
                measurements=[Measurement(VOLUME, 2.5, Code("ml", "UCUM", "milliliter"))]),
            PlanarROIMeasurements("p", referenced_region=ImageRegion3D(
                "POINT", [[1.5, 2.5, 3.5]], frame))])
    ds = report.to_dataset(like=slices[0])
    assert ds.SOPClassUID == dicomkit.uid.registered("Comprehensive3DSRStorage")
    dicomkit.write(ds, tmp_path / "3d.dcm")
    assert read_measurement_report(tmp_path / "3d.dcm") == report


def test_report_title_outside_dcid_7021_is_refused() -> None:
    report = MeasurementReport(observers=[DEVICE], procedure_reported=[IMAGING_PROCEDURE],
                               title=Code("11528-7", "LN", "Radiology report"),
                               imaging_measurements=[_area_group()])
    with pytest.raises(TemplateError, match=r"DCID 7021 .*TID 1500 row 'Document title"):
        report.to_content()


def test_procedure_outside_bcid_100_warns_and_is_kept() -> None:
    odd = Code("99999", "99LOCAL", "Local procedure")
    report = MeasurementReport(observers=[DEVICE], procedure_reported=[odd],
                               imaging_measurements=[_area_group()])
    with pytest.warns(TemplateWarning, match="BCID 100 .*TID 1500 row 'Procedure reported'"):
        root = report.to_content()
    assert MeasurementReport.from_content(root).procedure_reported == [odd]


def test_measurement_units_must_be_ucum() -> None:
    group = PlanarROIMeasurements("x", referenced_segment=SegmentReference(
        "1.2.3", None, source_series="1.2.4", frames=(1,)),
        measurements=[Measurement(AREA, 1.0, Code("mm2", "99LOCAL", "mm2"))])
    report = MeasurementReport(observers=[DEVICE], procedure_reported=[IMAGING_PROCEDURE],
                               imaging_measurements=[group])
    with pytest.raises(TemplateError, match=r"Measurement Group 1 .* not a UCUM code"):
        report.to_content()


def test_derivation_outside_dcid_7464_is_refused() -> None:
    group = _area_group()
    group.measurements[0].derivation = LIVER
    report = MeasurementReport(observers=[DEVICE], procedure_reported=[IMAGING_PROCEDURE],
                               imaging_measurements=[group])
    with pytest.raises(TemplateError, match=r"Measurement 'Area': .*DCID 7464 .*row 'Derivation"):
        report.to_content()


def test_observer_type_and_subject_class_come_from_their_groups() -> None:
    from dicomkit.sr.templates import SubjectContext

    report = MeasurementReport(observers=[DEVICE], procedure_reported=[IMAGING_PROCEDURE],
                               subject=SubjectContext(LIVER),
                               imaging_measurements=[_area_group()])
    with pytest.raises(TemplateError, match="TID 1006 .*DCID 271"):
        report.to_content()


def test_planar_group_takes_one_region_or_one_segmentation_frame() -> None:
    with pytest.raises(TemplateError, match="TID 1410 needs exactly one"):
        PlanarROIMeasurements("x").to_content()
    with pytest.raises(TemplateError, match="names its frame"):
        PlanarROIMeasurements("x", referenced_segment=SegmentReference(
            "1.2.3", 1, source_series="1.2.4")).to_content()


def test_volumetric_group_takes_a_whole_segment() -> None:
    with pytest.raises(TemplateError, match="TID 1411 references a whole segment"):
        VolumetricROIMeasurements("x", referenced_segment=SegmentReference(
            "1.2.3", None, source_series="1.2.4", frames=(2,))).to_content()
    with pytest.raises(TemplateError, match="names frames, not a segment number"):
        PlanarROIMeasurements("x", referenced_segment=SegmentReference(
            "1.2.3", 1, source_series="1.2.4", frames=(2,))).to_content()


def test_a_report_needs_measurements_observer_and_procedure() -> None:
    with pytest.raises(TemplateError, match="Procedure reported"):
        MeasurementReport(observers=[DEVICE], imaging_measurements=[_area_group()]).to_content()
    with pytest.raises(TemplateError, match="observer"):
        MeasurementReport(procedure_reported=[IMAGING_PROCEDURE],
                          imaging_measurements=[_area_group()]).to_content()
    with pytest.raises(TemplateError, match="no imaging measurements"):
        MeasurementReport(observers=[DEVICE],
                          procedure_reported=[IMAGING_PROCEDURE]).to_content()


def test_non_finite_measurement_is_refused() -> None:
    group = _area_group()
    group.measurements[0].value = float("nan")
    with pytest.raises(TemplateError, match="not finite"):
        group.to_content()


def test_measurement_without_value_keeps_its_qualifier(tmp_path: Path) -> None:
    not_a_number = Code("114000", "DCM", "Not a number")
    group = _area_group()
    group.measurements.append(Measurement(AREA, None, None, qualifier=not_a_number))
    report = MeasurementReport(observers=[DEVICE], procedure_reported=[IMAGING_PROCEDURE],
                               imaging_measurements=[group])
    ds = report.to_dataset(evidence=[_seg_evidence()])
    dicomkit.write(ds, tmp_path / "nan.dcm")
    again = read_measurement_report(tmp_path / "nan.dcm")
    assert again.imaging_measurements[0].measurements[1] == Measurement(
        AREA, None, None, qualifier=not_a_number)
    with pytest.raises(TemplateError, match="no value and no qualifier"):
        Measurement(AREA, None, None).to_content("here")


def test_parsing_names_the_group_that_lacks_its_tracking_uid() -> None:
    root = MeasurementReport(observers=[DEVICE], procedure_reported=[IMAGING_PROCEDURE],
                             imaging_measurements=[_area_group(), _area_group()]).to_content()
    group = root.find(C.MEASUREMENT_GROUP)[1]
    group.children = [c for c in group.children if c.concept_name != C.TRACKING_UID]
    with pytest.raises(TemplateError, match=r"Measurement Group 2 .*Tracking Unique"):
        MeasurementReport.from_content(root)


def test_parsing_refuses_another_template() -> None:
    root = ContentItem.container(C.IMAGING_MEASUREMENT_REPORT, template="2000")
    with pytest.raises(TemplateError, match="TID 2000, not TID 1500"):
        MeasurementReport.from_content(root)


def test_parsing_refuses_two_regions_in_a_planar_group() -> None:
    root = MeasurementReport(observers=[DEVICE], procedure_reported=[IMAGING_PROCEDURE],
                             imaging_measurements=[_area_group()]).to_content()
    group = root.find(C.MEASUREMENT_GROUP)[0]
    group.children = [c for c in group.children if c.concept_name != C.REFERENCED_SEGMENTATION_FRAME]
    with pytest.raises(TemplateError, match="exactly one Image Region or Referenced"):
        MeasurementReport.from_content(root)


def test_key_object_selection_round_trips(tmp_path: Path) -> None:
    slices = ct_series(3)
    kos = KeyObjectSelection([KeyObject.from_dataset(slices[0]),
                              KeyObject.from_dataset(slices[2], frames=(1,))],
                             description="Best view of the lesion",
                             observers=[DEVICE])
    ds = kos.to_dataset(like=slices[0])
    assert ds.Modality == "KO"
    assert ds.SOPClassUID == dicomkit.uid.registered("KeyObjectSelectionDocumentStorage")
    path = tmp_path / "kos.dcm"
    dicomkit.write(ds, path)
    again = read_key_object_selection(path)
    assert again == kos
    assert again.objects[1].series_uid == str(slices[2].SeriesInstanceUID)


def test_key_object_title_outside_dcid_7010_is_refused() -> None:
    kos = KeyObjectSelection([KeyObject("1.2.3", "1.2.3.4", "1.2", "1.2.5")],
                             title=C.IMAGING_MEASUREMENT_REPORT)
    with pytest.raises(TemplateError, match=r"DCID 7010 .*TID 2010 row 'Document title"):
        kos.to_content()


def test_key_object_selection_needs_an_instance() -> None:
    with pytest.raises(TemplateError, match="no selected instances"):
        KeyObjectSelection([]).to_content()


def _seg_evidence() -> dicomkit.Dataset:
    seg = dicomkit.Dataset()
    seg.StudyInstanceUID, seg.SeriesInstanceUID = "1.2.1", "1.2.2"
    seg.SOPClassUID = dicomkit.uid.registered("SegmentationStorage")
    seg.SOPInstanceUID = "1.2.3"
    return seg


def _area_group() -> PlanarROIMeasurements:
    return PlanarROIMeasurements(
        "lesion", referenced_segment=SegmentReference("1.2.3", None, source_series="1.2.4",
                                                      frames=(1,)),
        measurements=[Measurement(AREA, 12.0, MM2)])
