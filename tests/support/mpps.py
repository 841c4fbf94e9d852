"""MPPS data sets for the tests: a valid N-CREATE attribute list (PS3.4 Table F.7.2-1) and the
N-SET that completes it, built with dicomkit or (for pynetdicom) pydicom."""

from __future__ import annotations

from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.2"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage, as a referenced SOP class in data


def create_attrs(*, accession: str = "ACC1", requested: str = "RP1", sps: str = "SPS1",
                 study: str = STUDY_UID, **overrides: Any) -> Dataset:
    """An N-CREATE attribute list with every Type 1 and Type 2 attribute of the table."""
    ds = Dataset()
    step = Dataset()
    step.StudyInstanceUID = study
    step.ReferencedStudySequence = []
    step.AccessionNumber = accession
    step.RequestedProcedureID = requested
    step.RequestedProcedureDescription = "CT HEAD"
    step.ScheduledProcedureStepID = sps
    step.ScheduledProcedureStepDescription = "HEAD W/O"
    step.ScheduledProtocolCodeSequence = []
    ds.ScheduledStepAttributesSequence = [step]
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedStationName = "CT ONE"
    ds.PerformedLocation = "ROOM 1"
    ds.PerformedProcedureStepStartDate = "20261204"
    ds.PerformedProcedureStepStartTime = "101500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "CT HEAD"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = None
    ds.PerformedProcedureStepEndTime = None
    ds.Modality = "CT"
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    for keyword, value in overrides.items():
        if value is ...:
            del ds[keyword]
        else:
            setattr(ds, keyword, value)
    return ds


def series_item(series: str = SERIES_UID, images: int = 1) -> Dataset:
    item = Dataset()
    item.PerformingPhysicianName = "House^Greg"
    item.ProtocolName = "HEAD"
    item.OperatorsName = "Op^One"
    item.SeriesInstanceUID = series
    item.SeriesDescription = "AXIAL"
    item.RetrieveAETitle = "PACS"
    refs = []
    for _ in range(images):
        ref = Dataset()
        ref.ReferencedSOPClassUID = CT_IMAGE
        ref.ReferencedSOPInstanceUID = generate_uid()
        refs.append(ref)
    item.ReferencedImageSequence = refs
    item.ReferencedNonImageCompositeSOPInstanceSequence = []
    return item


def final_set(status: str = "COMPLETED", **overrides: Any) -> Dataset:
    """The N-SET that ends the step: status, end date and time, one performed series."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20261204"
    ds.PerformedProcedureStepEndTime = "103000"
    ds.PerformedSeriesSequence = [series_item()]
    for keyword, value in overrides.items():
        if value is ...:
            del ds[keyword]
        else:
            setattr(ds, keyword, value)
    return ds


def to_pydicom(ds: Dataset) -> Any:
    """The same data set for pynetdicom (through DICOM JSON)."""
    import pydicom

    from dicomkit.encoding.json import to_json

    return pydicom.Dataset.from_json(to_json(ds))
