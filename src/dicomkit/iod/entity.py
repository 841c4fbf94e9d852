"""The Patient and Study information entities a new object shares with the instances of its
study (PS3.3 §A.1.2: the IE of each module; C.7.1.1 Patient, C.7.2.1 General Study,
C.7.2.2 Patient Study, C.7.1.3 / C.7.2.3 Clinical Trial Subject / Study), and the start of a
new instance in a new series of that study.

:func:`patient_study` copies those modules' attributes from an instance of the study
(``like``), overrides what the caller names, and fills the mandatory modules' Type 1 and
Type 2 attributes that are still absent (a new Study Instance UID, empty Type 2 values). The
attribute list is generated from the standard's module tables by
``tools/gen_entity_attributes.py`` (``data/entity_attributes.tsv``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.errors import DicomError

DATA = Path(__file__).with_name("data") / "entity_attributes.tsv"
MANDATORY = ("Patient", "GeneralStudy")
"""The modules every IOD of PS3.3 Annex A includes (usage M) at these two entities."""

SPECIFIC_CHARACTER_SET = 0x00080005
STUDY_INSTANCE_UID = 0x0020000D


class WrapError(ValueError):
    """A document that cannot be wrapped, or an object that holds no document to unwrap; the
    message says what and where (raised by :mod:`.encapsulated` and :mod:`.visible`)."""


@functools.cache
def attributes() -> tuple[tuple[str, str, int, str, str], ...]:
    """(entity, module, tag, keyword, type) of each Patient and Study IE attribute."""
    rows = []
    for line in DATA.read_text("utf-8").splitlines()[1:]:
        entity, module, tag, keyword, type_ = line.split("\t")
        rows.append((entity, module, int(tag[1:5] + tag[6:10], 16), keyword, type_))
    return tuple(rows)


# Options by the name a caller uses for them.
OPTIONS = {"patient_id": "PatientID", "patient_name": "PatientName",
           "patient_birth_date": "PatientBirthDate", "patient_sex": "PatientSex",
           "study_uid": "StudyInstanceUID", "accession": "AccessionNumber",
           "study_id": "StudyID", "study_date": "StudyDate", "study_time": "StudyTime",
           "study_description": "StudyDescription",
           "referring_physician": "ReferringPhysicianName"}


def patient_study(like: Dataset | None = None, **given: str | None) -> Dataset:
    """The Patient and Study attributes of a new object: those of ``like`` (an instance of the
    study), then the ones ``given`` by the names of :data:`OPTIONS` (None = not given), then
    a new Study Instance UID and empty Type 2 values for what the mandatory modules still
    lack. ValueError for an option it does not know."""
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown patient/study option(s): {', '.join(unknown)}; "
                         f"known: {', '.join(OPTIONS)}")
    ds = Dataset()
    if like is not None:
        if SPECIFIC_CHARACTER_SET in like:
            ds[SPECIFIC_CHARACTER_SET] = like[SPECIFIC_CHARACTER_SET]
        for _entity, _module, tag, _keyword, _type in attributes():
            if tag in like:
                ds[tag] = like[tag]
    values = [value for value in given.values() if value is not None]
    allow_text(ds, *values)
    for name, value in given.items():
        if value is not None:
            ds.set(OPTIONS[name], value)
    for _entity, module, tag, _keyword, type_ in attributes():
        if module not in MANDATORY or tag in ds or type_ not in ("1", "2"):
            continue
        if tag == STUDY_INSTANCE_UID:
            ds.StudyInstanceUID = generate_uid()
        elif type_ == "2":
            ds.set(tag, None)
    return ds


def new_instance(sop_class_keyword: str, modality: str, *, like: Dataset | None = None,
                 series_number: int | None = None, series_description: str | None = None,
                 **given: str | None) -> Dataset:
    """A new instance of a new series in the study of ``like`` (or of the study ``given``):
    Patient and Study modules (:func:`patient_study`), General / Encapsulated Document Series
    (Modality, a new Series Instance UID, Series Number), General Equipment (Manufacturer,
    Software Versions), SOP Common (a new SOP Instance UID, Instance Creation Date and Time)
    and the Content Date and Time."""
    import datetime

    from dicomkit.core.uid import registered

    ds = patient_study(like, **given)
    now = datetime.datetime.now()
    ds.SOPClassUID = registered(sop_class_keyword)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.Modality = modality
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1 if series_number is None else series_number
    if series_description:
        allow_text(ds, series_description)
        ds.SeriesDescription = series_description
    ds.Manufacturer = "dicomkit"
    ds.SoftwareVersions = software_version()
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    return ds


def software_version() -> str:
    """dicomkit's version, as installed."""
    from importlib import metadata

    try:
        return metadata.version("dicomkit")
    except metadata.PackageNotFoundError:
        return "unknown"


def allow_text(ds: Dataset, *texts: str) -> None:
    """Make sure ``ds`` can encode ``texts`` (PS3.3 C.12.1.1.2): a data set without Specific
    Character Set gets ISO_IR 192 (UTF-8) when one of them is not ASCII; one whose character
    set (copied from another instance) cannot encode one is moved to ISO_IR 192, its text
    values decoded first so that they are written again in UTF-8."""
    if all(text.isascii() for text in texts):
        return
    if SPECIFIC_CHARACTER_SET in ds:
        from dicomkit.core.charset import encode_text

        try:
            for text in texts:
                encode_text(text, ds.charsets, "LO")
            return
        except (UnicodeError, ValueError, DicomError):
            _decoded(ds)
    ds.SpecificCharacterSet = "ISO_IR 192"


def _decoded(ds: Dataset) -> None:
    """Every text value of ``ds`` (and of its sequences' items) set again from its decoded
    value, so that nothing is written from bytes in the former character set."""
    from dicomkit.core.vr import TEXT_VRS

    for element in list(ds):
        if element.VR == "SQ":
            for item in element.value or []:
                _decoded(item)
        elif element.VR in TEXT_VRS:
            ds.set(element.tag, element.value, element.VR)
