"""Concept names the measurement and key object templates use (PS3.16 Annex A: TID 1500, 1501,
1410, 1411, 1419, 300, 4019, 4108, 1204, 1001-1010, 1600-1604, 2010), as the templates' rows
name them (EV, "enumerated value" concept names).

PS3.16's templates have no machine-readable copy (shared/dicom-standard/README.md), and most of
these concept names belong to no context group, so they are written here once, each under the
template that uses it; tests/sr/test_templates_concepts.py checks every one that a context group
also holds against the generated PS3.16 table (same value, scheme and meaning).
"""

from __future__ import annotations

from dicomkit.iod.codes import Code

# TID 1500 Measurement Report
IMAGING_MEASUREMENT_REPORT = Code("126000", "DCM", "Imaging Measurement Report")
PROCEDURE_REPORTED = Code("121058", "DCM", "Procedure reported")
IMAGING_MEASUREMENTS = Code("126010", "DCM", "Imaging Measurements")
DERIVED_IMAGING_MEASUREMENTS = Code("126011", "DCM", "Derived Imaging Measurements")
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")

# TID 1204 Language of Content Item and Descendants
LANGUAGE_OF_CONTENT = Code("121049", "DCM", "Language of Content Item and Descendants")
COUNTRY_OF_LANGUAGE = Code("121046", "DCM", "Country of Language")
ENGLISH_US = Code("en-US", "RFC5646", "English (United States)")

# TID 1002 Observer Context, TID 1003 Person and TID 1004 Device Observer Identifying Attributes
OBSERVER_TYPE = Code("121005", "DCM", "Observer Type")
PERSON = Code("121006", "DCM", "Person")
DEVICE = Code("121007", "DCM", "Device")
PERSON_OBSERVER_NAME = Code("121008", "DCM", "Person Observer Name")
PERSON_OBSERVER_LOGIN_NAME = Code("128774", "DCM", "Person Observer's Login Name")
PERSON_OBSERVER_ORGANIZATION = Code("121009", "DCM", "Person Observer's Organization Name")
PERSON_OBSERVER_ROLE_IN_ORGANIZATION = Code("121010", "DCM",
                                            "Person Observer's Role in the Organization")
PERSON_OBSERVER_ROLE_IN_PROCEDURE = Code("121011", "DCM",
                                         "Person Observer's Role in this Procedure")
DEVICE_OBSERVER_UID = Code("121012", "DCM", "Device Observer UID")
DEVICE_OBSERVER_NAME = Code("121013", "DCM", "Device Observer Name")
DEVICE_OBSERVER_MANUFACTURER = Code("121014", "DCM", "Device Observer Manufacturer")
DEVICE_OBSERVER_MODEL_NAME = Code("121015", "DCM", "Device Observer Model Name")
DEVICE_OBSERVER_SERIAL_NUMBER = Code("121016", "DCM", "Device Observer Serial Number")
DEVICE_OBSERVER_LOCATION = Code("121017", "DCM",
                                "Device Observer Physical Location During Observation")
DEVICE_ROLE_IN_PROCEDURE = Code("113876", "DCM", "Device Role in Procedure")

# TID 1006 Subject Context and TID 1007-1010 (patient, fetus, specimen, device subjects)
SUBJECT_CLASS = Code("121024", "DCM", "Subject Class")
PATIENT = Code("121025", "DCM", "Patient")
FETUS = Code("121026", "DCM", "Fetus")
SPECIMEN = Code("121027", "DCM", "Specimen")
DEVICE_SUBJECT = Code("121192", "DCM", "Device Subject")
SUBJECT_UID = Code("121028", "DCM", "Subject UID")
SUBJECT_NAME = Code("121029", "DCM", "Subject Name")
SUBJECT_ID = Code("121030", "DCM", "Subject ID")
SPECIMEN_UID = Code("121039", "DCM", "Specimen UID")
SPECIMEN_IDENTIFIER = Code("121041", "DCM", "Specimen Identifier")
DEVICE_SUBJECT_NAME = Code("121193", "DCM", "Device Subject Name")
DEVICE_SUBJECT_UID = Code("121198", "DCM", "Device Subject UID")

# TID 1600 Image Library, TID 1601 entry, TID 1602/1604 entry descriptors
IMAGE_LIBRARY = Code("111028", "DCM", "Image Library")
IMAGE_LIBRARY_GROUP = Code("126200", "DCM", "Image Library Group")
MODALITY = Code("121139", "DCM", "Modality")
FRAME_OF_REFERENCE_UID = Code("112227", "DCM", "Frame of Reference UID")
PIXEL_DATA_ROWS = Code("110910", "DCM", "Pixel Data Rows")
PIXEL_DATA_COLUMNS = Code("110911", "DCM", "Pixel Data Columns")
STUDY_DATE = Code("111060", "DCM", "Study Date")
STUDY_TIME = Code("111061", "DCM", "Study Time")
HORIZONTAL_PIXEL_SPACING = Code("111026", "DCM", "Horizontal Pixel Spacing")
VERTICAL_PIXEL_SPACING = Code("111066", "DCM", "Vertical Pixel Spacing")
SLICE_THICKNESS = Code("112225", "DCM", "Slice Thickness")
SPACING_BETWEEN_SLICES = Code("112226", "DCM", "Spacing between slices")
IMAGE_POSITION = (Code("110901", "DCM", "Image Position (Patient) X"),
                  Code("110902", "DCM", "Image Position (Patient) Y"),
                  Code("110903", "DCM", "Image Position (Patient) Z"))
IMAGE_ORIENTATION = (Code("110904", "DCM", "Image Orientation (Patient) Row X"),
                     Code("110905", "DCM", "Image Orientation (Patient) Row Y"),
                     Code("110906", "DCM", "Image Orientation (Patient) Row Z"),
                     Code("110907", "DCM", "Image Orientation (Patient) Column X"),
                     Code("110908", "DCM", "Image Orientation (Patient) Column Y"),
                     Code("110909", "DCM", "Image Orientation (Patient) Column Z"))

# TID 1501 / 1410 / 1411 measurement groups, TID 4108 Tracking Identifier
MEASUREMENT_GROUP = Code("125007", "DCM", "Measurement Group")
TRACKING_IDENTIFIER = Code("112039", "DCM", "Tracking Identifier")
TRACKING_UID = Code("112040", "DCM", "Tracking Unique Identifier")
ACTIVITY_SESSION = Code("C67447", "NCIt", "Activity Session")
FINDING_CATEGORY = Code("276214006", "SCT", "Finding category")
FINDING = Code("121071", "DCM", "Finding")
MEASUREMENT_METHOD = Code("370129005", "SCT", "Measurement Method")
FINDING_SITE = Code("363698007", "SCT", "Finding Site")
LATERALITY = Code("272741003", "SCT", "Laterality")
TOPOGRAPHICAL_MODIFIER = Code("106233006", "SCT", "Topographical modifier")
GEOMETRIC_PURPOSE = Code("130400", "DCM", "Geometric purpose of region")
IMAGE_REGION = Code("111030", "DCM", "Image Region")
SOURCE = Code("260753009", "SCT", "Source")
REFERENCED_SEGMENTATION_FRAME = Code("121214", "DCM", "Referenced Segmentation Frame")
REFERENCED_SEGMENT = Code("121191", "DCM", "Referenced Segment")
VOLUME_SURFACE = Code("121231", "DCM", "Volume Surface")
SOURCE_IMAGE_FOR_SEGMENTATION = Code("121233", "DCM", "Source image for segmentation")
SOURCE_SERIES_FOR_SEGMENTATION = Code("121232", "DCM", "Source series for segmentation")
SOURCE_OF_MEASUREMENT = Code("121112", "DCM", "Source of Measurement")

# TID 300 Measurement
DERIVATION = Code("121401", "DCM", "Derivation")

# TID 4019 Algorithm Identification
ALGORITHM_NAME = Code("111001", "DCM", "Algorithm Name")
ALGORITHM_VERSION = Code("111003", "DCM", "Algorithm Version")
ALGORITHM_PARAMETERS = Code("111002", "DCM", "Algorithm Parameters")

# TID 2010 Key Object Selection
KEY_OBJECT_DESCRIPTION = Code("113012", "DCM", "Key Object Description")
DOCUMENT_TITLE_MODIFIER = Code("113011", "DCM", "Document Title Modifier")

ALIASES: dict[Code, tuple[Code, ...]] = {
    # SNOMED concepts written with their retired SNOMED-RT (SRT) codes before 2019 (PS3.16
    # Annex O): reports of that age are read with either.
    FINDING_SITE: (Code("G-C0E3", "SRT", "Finding Site"),),
    MEASUREMENT_METHOD: (Code("G-C036", "SRT", "Measurement Method"),),
    LATERALITY: (Code("G-C171", "SRT", "Laterality"),),
    TOPOGRAPHICAL_MODIFIER: (Code("G-A1F8", "SRT", "Topographical modifier"),),
    SOURCE: (Code("R-3390E", "SRT", "Source"),),
}


def same(name: Code | None, wanted: Code) -> bool:
    """Whether a content item's concept name is ``wanted`` (or one of its older codes)."""
    return name is not None and (name == wanted or name in ALIASES.get(wanted, ()))
