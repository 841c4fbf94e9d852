"""Content trees and evidence instances for the SR tests: one tree per IOD using every value
type that IOD allows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.sr import Code, ContentItem, Reference

MM = Code("mm", "UCUM", "millimeter")
LENGTH = Code("410668003", "SCT", "Length")
FINDING = Code("121071", "DCM", "Finding")
TITLE = Code("126000", "DCM", "Imaging Measurement Report")


def dcm(value: str, meaning: str) -> Code:
    return Code(value, "DCM", meaning)


def evidence_instance(sop_class: str = "EnhancedCTImageStorage",
                      study: str | None = None) -> Dataset:
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "P-1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study or generate_uid()
    ds.StudyDate = "20240101"
    ds.StudyTime = "101010"
    ds.StudyID = "S1"
    ds.AccessionNumber = "A1"
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPClassUID = registered(sop_class)
    ds.SOPInstanceUID = generate_uid()
    return ds


def basic_text_tree(image: Dataset) -> ContentItem:
    """Basic Text SR: TEXT, CODE, DATETIME, DATE, TIME, UIDREF, PNAME, IMAGE, COMPOSITE."""
    root = ContentItem.container(dcm("11528-7", "Radiology Report"))
    root.add("HAS OBS CONTEXT", ContentItem.pname(dcm("121008", "Person Observer Name"),
                                                  "Smith^John"))
    root.add("HAS CONCEPT MOD", ContentItem.code(dcm("121049", "Language"),
                                                 Code("en", "RFC5646", "English")))
    findings = root.add("CONTAINS", ContentItem.container(dcm("121070", "Findings")))
    text = findings.add("CONTAINS", ContentItem.text(FINDING, "A 12 mm nodule"))
    text.add("INFERRED FROM", ContentItem.image(None, Reference(
        image.SOPClassUID, image.SOPInstanceUID, frames=(1, 2))))
    text.add("HAS PROPERTIES", ContentItem.date(dcm("111060", "Study Date"),
                                                dt.date(2024, 1, 1)))
    text.add("HAS PROPERTIES", ContentItem.time(dcm("111061", "Study Time"),
                                                dt.time(10, 10, 10)))
    text.add("HAS PROPERTIES", ContentItem.datetime(dcm("111526", "DateTime Started"),
                                                    dt.datetime(2024, 1, 1, 10, 10, 10)))
    text.add("HAS PROPERTIES", ContentItem.uidref(dcm("121018", "Procedure Study Instance UID"),
                                                  image.StudyInstanceUID))
    findings.add("CONTAINS", ContentItem.composite(dcm("121112", "Source of Measurement"),
                                                   Reference(image.SOPClassUID,
                                                             image.SOPInstanceUID)))
    return root


def comprehensive_tree(image: Dataset, waveform: Dataset, segmentation: Dataset,
                       by_reference: bool = True) -> ContentItem:
    """Comprehensive SR: every value type but SCOORD3D, by-value and (unless told not to)
    by-reference."""
    root = ContentItem.container(TITLE, template="1500")
    root.add("HAS CONCEPT MOD", ContentItem.code(dcm("121049", "Language"),
                                                 Code("en-US", "RFC5646", "English (US)")))
    root.add("HAS OBS CONTEXT", ContentItem.pname(dcm("121008", "Person Observer Name"),
                                                  "Smith^John"))
    group = root.add("CONTAINS", ContentItem.container(dcm("126010", "Imaging Measurements")))
    length = group.add("CONTAINS", ContentItem.num(LENGTH, Decimal("12.5"), MM))
    region = length.add("INFERRED FROM", ContentItem.scoord(None, "POLYLINE",
                                                            [[10.5, 20.25], [30, 40]]))
    region.add("SELECTED FROM", ContentItem.image(None, Reference(
        image.SOPClassUID, image.SOPInstanceUID, frames=(3,))))
    length.add("INFERRED FROM", ContentItem.image(None, Reference(
        segmentation.SOPClassUID, segmentation.SOPInstanceUID, segments=(1, 2))))
    length.add("HAS PROPERTIES", ContentItem.text(dcm("121106", "Comment"), "irregular"))
    length.add("HAS PROPERTIES", ContentItem.date(dcm("111060", "Study Date"),
                                                  dt.date(2024, 1, 2)))
    length.add("HAS PROPERTIES", ContentItem.time(dcm("111061", "Study Time"),
                                                  dt.time(1, 2, 3, 500000)))
    length.add("HAS PROPERTIES", ContentItem.datetime(
        dcm("111526", "DateTime Started"),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))))
    length.add("HAS PROPERTIES", ContentItem.uidref(dcm("112002", "Series Instance UID"),
                                                    image.SeriesInstanceUID))
    missing = group.add("CONTAINS", ContentItem.num(LENGTH, None, None,
                                                    dcm("114000", "Not a number")))
    if by_reference:
        missing.add_reference("INFERRED FROM", length)
    beat = group.add("CONTAINS", ContentItem.code(FINDING, dcm("F-1", "Arrhythmia")))
    when = beat.add("INFERRED FROM", ContentItem.tcoord(None, "SEGMENT", offsets=[0.5, 1.25]))
    when.add("SELECTED FROM", ContentItem.waveform(None, Reference(
        waveform.SOPClassUID, waveform.SOPInstanceUID, channels=((1, 1), (1, 2)))))
    point = beat.add("INFERRED FROM", ContentItem.tcoord(None, "POINT", samples=[100]))
    if by_reference:
        point.add_reference("SELECTED FROM", when.children[0])
    else:
        point.add("SELECTED FROM", ContentItem.waveform(None, when.children[0].value))
    group.add("CONTAINS", ContentItem.composite(dcm("121112", "Source of Measurement"),
                                                Reference(image.SOPClassUID,
                                                          image.SOPInstanceUID)))
    group.add("CONTAINS", ContentItem.num(dcm("121401", "Derived"), Decimal("1.23456789012345678"),
                                          MM))
    return root


def comprehensive_3d_tree(image: Dataset) -> ContentItem:
    root = ContentItem.container(TITLE, template="1500")
    volume = root.add("CONTAINS", ContentItem.num(dcm("118565006", "Volume"), Decimal("3.5"),
                                                  Code("mm3", "UCUM", "cubic millimeter")))
    volume.add("INFERRED FROM", ContentItem.scoord3d(
        None, "POLYGON", [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0]],
        image.get("FrameOfReferenceUID") or "1.2.3.4"))
    volume.add("INFERRED FROM", ContentItem.image(None, Reference(image.SOPClassUID,
                                                                  image.SOPInstanceUID)))
    return root


def comprehensive_case(by_reference: bool = True
                       ) -> tuple[ContentItem, Dataset, list[Dataset]]:
    """The Comprehensive SR tree, the image whose patient and study it takes, its evidence."""
    image = evidence_instance()
    waveform = evidence_instance("TwelveLeadECGWaveformStorage", image.StudyInstanceUID)
    segmentation = evidence_instance("SegmentationStorage", image.StudyInstanceUID)
    evidence = [image, waveform, segmentation]
    return comprehensive_tree(image, waveform, segmentation, by_reference), image, evidence
