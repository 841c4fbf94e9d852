"""Objects the SR template tests (tests/sr/test_templates*.py) share: a small CT series, a SEG instance made from it (only its
identifying attributes: the report needs no pixels of it) and a TID 1500 report of both."""

from __future__ import annotations

from dicomkit.cli.sample import make_ct
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.sr import Reference
from dicomkit.sr.templates import (
    AlgorithmIdentification,
    Code,
    DeviceObserver,
    FindingSite,
    ImageLibrary,
    ImageRegion,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    PersonObserver,
    PlanarROIMeasurements,
    QualitativeEvaluation,
    SegmentReference,
    SubjectContext,
    VolumetricROIMeasurements,
)

LIVER = Code("10200004", "SCT", "Liver")
TISSUE = Code("85756007", "SCT", "Tissue")
LESION = Code("52988006", "SCT", "Lesion")
ABNORMAL = Code("49755003", "SCT", "Morphologically Altered Structure")
VOLUME = Code("118565006", "SCT", "Volume")
AREA = Code("42798000", "SCT", "Area")
MEAN = Code("373098007", "SCT", "Mean")
ATTENUATION = Code("112031", "DCM", "Attenuation Coefficient")
DIAMETER = Code("81827009", "SCT", "Diameter")
ML = Code("ml", "UCUM", "milliliter")
MM2 = Code("mm2", "UCUM", "square millimeter")
MM = Code("mm", "UCUM", "millimeter")
HU = Code("[hnsf'U]", "UCUM", "Hounsfield unit")
IMAGING_PROCEDURE = Code("363679005", "SCT", "Imaging procedure")
CT_PROCEDURE = Code("77477000", "SCT", "CT")


def ct_series(count: int = 3) -> list[Dataset]:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = []
    for number in range(1, count + 1):
        ds = make_ct(16, number, study, series)
        ds.FrameOfReferenceUID = frame
        slices.append(ds)
    return slices


def seg_of(slices: list[Dataset]) -> Dataset:
    seg = Dataset()
    seg.StudyInstanceUID = slices[0].StudyInstanceUID
    seg.SeriesInstanceUID = generate_uid()
    seg.SOPClassUID = registered("SegmentationStorage")
    seg.SOPInstanceUID = generate_uid()
    return seg


def ref(ds: Dataset) -> Reference:
    return Reference(str(ds.SOPClassUID), str(ds.SOPInstanceUID))


def make_report(slices: list[Dataset], seg: Dataset) -> MeasurementReport:
    algorithm = AlgorithmIdentification("liver-ai", "2.1", ("threshold=0.5",))
    return MeasurementReport(
        observers=[PersonObserver("Curie^Marie", organization="Radiology"),
                   DeviceObserver(generate_uid(), name="liver-ai", manufacturer="dicomkit")],
        subject=SubjectContext(uid=generate_uid(), name="Doe^Jane", identifier="DK-0001"),
        procedure_reported=[IMAGING_PROCEDURE],
        image_library=ImageLibrary.from_datasets(slices),
        imaging_measurements=[
            PlanarROIMeasurements(
                "lesion 1", finding_type=LESION, finding_category=ABNORMAL,
                finding_sites=[FindingSite(LIVER)],
                referenced_region=ImageRegion("POLYLINE", [[1, 1], [8, 1.5], [8, 8], [1, 1]],
                                              ref(slices[1])),
                measurements=[Measurement(AREA, 24.5, MM2),
                              Measurement(DIAMETER, 7.25, MM, algorithm=algorithm,
                                          source_images=[ref(slices[1])])],
                qualitative_evaluations=[QualitativeEvaluation(
                    Code("112023", "DCM", "Composition of the lesion"),
                    Code("112027", "DCM", "Solid"))]),
            VolumetricROIMeasurements(
                "liver", finding_type=LIVER, finding_category=TISSUE, algorithm=algorithm,
                referenced_segment=SegmentReference(str(seg.SOPInstanceUID), 1,
                                                    source_images=[ref(s) for s in slices]),
                measurements=[Measurement(VOLUME, 1520.5, ML),
                              Measurement(ATTENUATION, 57.0, HU, derivation=MEAN)]),
            MeasurementsAndQualitativeEvaluations(
                "whole image", source_images=[ref(slices[0])],
                measurements=[Measurement(ATTENUATION, -12.5, HU, derivation=MEAN)]),
        ])


def large_report(slices: list[Dataset], seg: Dataset, items: int = 5000) -> MeasurementReport:
    """A report of about ``items`` content items: planar groups of 10 items each (tracking
    id and UID, finding, region and its image, three measurements, two derivations)."""
    groups = []
    for number in range(max(1, items // 10)):
        groups.append(PlanarROIMeasurements(
            f"lesion {number}", finding_type=LESION,
            referenced_region=ImageRegion("POINT", [[number % 16, 3]],
                                          ref(slices[number % len(slices)])),
            measurements=[Measurement(AREA, number / 4, MM2),
                          Measurement(ATTENUATION, number, HU, derivation=MEAN),
                          Measurement(ATTENUATION, 2 * number, HU,
                                      derivation=Code("56851009", "SCT", "Maximum"))]))
    return MeasurementReport(observers=[DeviceObserver("1.2.826.0.1.3680043.10.511.2")],
                             procedure_reported=[IMAGING_PROCEDURE],
                             imaging_measurements=groups)
