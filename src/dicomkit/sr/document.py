"""A whole SR instance from a content tree (PS3.3 A.35): Patient, General Study, SR Document
Series (or Key Object Document Series), General Equipment, SR Document General (or Key Object
Document), SR Document Content and SOP Common; and reading one back.

:func:`document` checks the tree against the IOD first (:func:`.constraints.check`) and
refuses what breaks it; every IMAGE, COMPOSITE and WAVEFORM reference must name an instance
given as evidence, from which the Current Requested Procedure Evidence Sequence (C.17.2.3, the
Hierarchical SOP Instance Reference macro) is made, or as ``other_evidence`` (Pertinent Other
Evidence Sequence, for instances of other studies).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.element import Sequence
from dicomkit.core.uid import generate_uid
from dicomkit.core.values import format_da, format_dt, format_tm
from dicomkit.errors import DicomError
from dicomkit.iod.codes import Code
from dicomkit.sr.codec import decode_content, encode_content
from dicomkit.sr.constraints import SRIOD, check, iod_named, iod_of_sop_class
from dicomkit.sr.content import ContentItem, Reference
from dicomkit.sr.errors import SRError

PATIENT = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
           "OtherPatientIDsSequence", "PatientAge", "PatientWeight", "PatientSize",
           "EthnicGroup", "PatientComments", "PatientSpeciesDescription",
           "PatientBreedDescription", "ResponsiblePerson", "ResponsibleOrganization")
STUDY = ("StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
         "AccessionNumber", "StudyDescription", "IssuerOfAccessionNumberSequence")
TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
         "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
"""PS3.3 C.7.1.1 and C.7.2.1: Type 2, present even when empty."""

COMPLETION = ("PARTIAL", "COMPLETE")
VERIFICATION = ("UNVERIFIED", "VERIFIED")
REFERENCE_TYPES = ("COMPOSITE", "IMAGE", "WAVEFORM")


def document(root: ContentItem, *, iod: str = "Comprehensive", like: Dataset | None = None,
             evidence: Iterable[Dataset] = (), other_evidence: Iterable[Dataset] = (),
             series_uid: str | None = None, series_number: int = 1,
             instance_number: int = 1, sop_instance_uid: str | None = None,
             completion: str = "COMPLETE", verification: str = "UNVERIFIED",
             verifying_observer: str | None = None, verifying_organization: str = "",
             series_description: str | None = None, manufacturer: str = "dicomkit",
             content_datetime: _dt.datetime | None = None,
             patient: dict[str, Any] | None = None) -> Dataset:
    """A complete SR instance (``iod``: "Basic Text", "Enhanced", "Comprehensive",
    "Comprehensive 3D", "Key Object Selection", "Extensible") for the tree ``root``.

    Patient and study come from ``like`` (an instance of the study; else a new study UID and
    empty Type 2 attributes), overridden by ``patient`` (keyword -> value). ``evidence``: the
    instances the report is about (data sets with Study, Series, SOP Class and SOP Instance
    UIDs). ``verification="VERIFIED"`` needs ``verifying_observer``. Raises :class:`SRError`
    when the tree breaks the IOD or references an instance not given as evidence.
    """
    spec = iod_named(iod)
    check(root, spec)
    if completion not in COMPLETION:
        raise SRError(f"Completion Flag is PARTIAL or COMPLETE, not {completion!r}")
    if verification not in VERIFICATION:
        raise SRError(f"Verification Flag is UNVERIFIED or VERIFIED, not {verification!r}")
    if verification == "VERIFIED" and not verifying_observer:
        raise SRError("a VERIFIED document names its verifying observer (PS3.3 C.17.2, "
                      "Verifying Observer Sequence Type 1C)")
    key_object = spec.name == "Key Object Selection"
    now = content_datetime or _dt.datetime.now()
    ds = Dataset()
    texts = [verifying_observer, verifying_organization, series_description, manufacturer,
             *(patient or {}).values()]
    if like is not None:
        texts += [like.get(k) for k in PATIENT + STUDY if k in like]
    if not _ascii(texts + list(_tree_texts(root))):
        ds.SpecificCharacterSet = "ISO_IR 192"  # set first: nested items inherit it
    _copy_patient_study(ds, like, patient)
    ds.Modality = "KO" if key_object else "SR"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = str(series_number)
    if series_description:
        ds.SeriesDescription = series_description
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.Manufacturer = manufacturer
    ds.InstanceNumber = str(instance_number)
    ds.ContentDate = format_da(now.date())
    ds.ContentTime = format_tm(now.time().replace(microsecond=0))
    if not key_object:
        ds.CompletionFlag = completion
        ds.VerificationFlag = verification
        if verification == "VERIFIED":
            observer = Dataset()
            observer.parent = ds
            observer.VerifyingObserverName = verifying_observer
            observer.VerifyingObserverIdentificationCodeSequence = Sequence()
            observer.VerifyingOrganization = verifying_organization or "unknown"
            observer.VerificationDateTime = format_dt(now.replace(microsecond=0))
            ds.VerifyingObserverSequence = [observer]
        ds.PerformedProcedureCodeSequence = Sequence()
    current = list(evidence)
    other = list(other_evidence)
    _check_evidence(root, current + other)
    if current or key_object:
        if key_object and not current:
            raise SRError("a Key Object Selection Document names its evidence (PS3.3 C.17.6.2,"
                          " Current Requested Procedure Evidence Sequence Type 1)")
        ds.CurrentRequestedProcedureEvidenceSequence = _hierarchy(current, ds)
    if other and not key_object:
        ds.PertinentOtherEvidenceSequence = _hierarchy(other, ds)
    ds.SOPClassUID = spec.sop_class
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.InstanceCreationDate = ds.ContentDate
    ds.InstanceCreationTime = ds.ContentTime
    encode_content(root, ds)
    return ds


def _tree_texts(root: ContentItem) -> Iterable[Any]:
    for _path, item in root.walk():
        for code in (item.concept_name, item.value, getattr(item.value, "unit", None),
                     getattr(item.value, "qualifier", None)):
            if isinstance(code, Code):
                yield code.meaning
                yield code.value
        if isinstance(item.value, str):
            yield item.value


def _ascii(values: Iterable[Any]) -> bool:
    """Whether every text value is ASCII (PS3.5 §6.1.2.2: the default repertoire), so no
    Specific Character Set is needed; sequences (e.g. copied code items) count as not."""
    for value in values:
        if value is None:
            continue
        if not isinstance(value, str) or not value.isascii():
            return False
    return True


def _copy_patient_study(ds: Dataset, like: Dataset | None, patient: dict[str, Any] | None
                        ) -> None:
    if like is not None:
        for keyword in PATIENT + STUDY:
            if keyword in like:
                ds.set(keyword, like[keyword].value, like[keyword].VR)
    for keyword, value in (patient or {}).items():
        setattr(ds, keyword, value)
    for keyword in TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")
    if not ds.get("StudyInstanceUID"):
        ds.StudyInstanceUID = generate_uid()


def _check_evidence(root: ContentItem, evidence: list[Dataset]) -> None:
    known = {str(item.get("SOPInstanceUID") or "") for item in evidence}
    for path, item in root.walk():
        if item.is_reference or item.value_type not in REFERENCE_TYPES:
            continue
        ref: Reference = item.value
        if ref.sop_instance not in known:
            raise SRError(f"{item.value_type} references SOP instance {ref.sop_instance}, "
                          "which is not in evidence= or other_evidence= (PS3.3 C.17.2.3: the "
                          "evidence sequences list every referenced instance)", path=path)


def _hierarchy(instances: list[Dataset], parent: Dataset) -> Sequence:
    """PS3.3 Table C.17-3 Hierarchical SOP Instance Reference macro: study > series > SOP."""
    studies: dict[str, dict[str, dict[str, str]]] = {}
    for number, instance in enumerate(instances, start=1):
        uids = [str(instance.get(k) or "") for k in ("StudyInstanceUID", "SeriesInstanceUID",
                                                      "SOPClassUID", "SOPInstanceUID")]
        if not all(uids):
            raise SRError(f"evidence instance {number} lacks a Study, Series, SOP Class or SOP "
                          "Instance UID")
        studies.setdefault(uids[0], {}).setdefault(uids[1], {})[uids[3]] = uids[2]
    result = Sequence()
    for study, series_map in studies.items():
        study_item = Dataset()
        study_item.parent = parent
        study_item.StudyInstanceUID = study
        study_item.ReferencedSeriesSequence = Sequence()
        for series, sops in series_map.items():
            series_item = Dataset()
            series_item.parent = study_item
            series_item.SeriesInstanceUID = series
            series_item.ReferencedSOPSequence = Sequence()
            for instance_uid, class_uid in sops.items():
                sop = Dataset()
                sop.parent = series_item
                sop.ReferencedSOPClassUID = class_uid
                sop.ReferencedSOPInstanceUID = instance_uid
                series_item.ReferencedSOPSequence.append(sop)
            study_item.ReferencedSeriesSequence.append(series_item)
        result.append(study_item)
    return result


def load(source: str | os.PathLike[str] | Dataset) -> Dataset:
    """The data set of an SR file (or the data set itself); :class:`SRError` when it is not
    an SR document."""
    if isinstance(source, Dataset):
        ds = source
    else:
        from dicomkit.encoding.reader import read as read_file

        try:
            ds = read_file(source)
        except (DicomError, OSError) as exc:
            raise SRError(f"{os.fspath(source)}: cannot be read: {exc}") from exc
    if ds.get("ValueType") is None or ds.get("ConceptNameCodeSequence") is None:
        modality = ds.get("Modality") or "?"
        raise SRError(f"not an SR document (no root Value Type and Concept Name Code Sequence;"
                      f" Modality {modality})")
    return ds


def read(source: str | os.PathLike[str] | Dataset, *, validate: bool = True) -> ContentItem:
    """The content tree of an SR instance (a path or a data set): its root. With
    ``validate`` the tree is checked against the IOD of its SOP class when this package
    knows it (:func:`.constraints.check`, as a reader: what other writers are known to bend
    is an :class:`SRWarning`); malformed content raises :class:`SRError` naming the item's
    position path."""
    ds = load(source)
    root = decode_content(ds)
    spec: SRIOD | None = iod_of_sop_class(str(ds.get("SOPClassUID") or ""))
    if validate:
        check(root, spec or iod_named("Extensible"), reading=True)
    return root
