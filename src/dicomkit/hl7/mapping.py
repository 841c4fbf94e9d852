"""HL7 v2 orders and patient updates mapped to Modality Worklist operations, as IHE Radiology
Scheduled Workflow does (IHE RAD TF-2 §4.4 "Procedure Scheduled" RAD-4 and §4.13 "Procedure
Update" RAD-13, with RAD TF-2 Appendix B "HL7 Order Mapping to DICOM MWL"; RAD TF-2x
Appendix A for the attributes a modality copies into its images).

Messages handled:

- ORM^O01 (HL7 v2.3.1 style, the key identifiers in OBR-18/19/20 and the Study Instance UID in
  ZDS-1) and OMI^O23 (HL7 v2.5.1, the identifiers in IPC-1…4, one Scheduled Procedure Step per
  IPC); ORC-1 NW new, XO change, CA/OC cancel, DC/OD discontinue, SC status changed (ORC-5);
- ADT^A08 (update patient information: the demographics of PID) and ADT^A40 (merge patient:
  PID is the surviving patient, MRG-1 the one merged into it).

The result is a list of operations (:class:`NewOrder`, :class:`UpdateOrder`,
:class:`CancelOrder`, :class:`ChangeOrderStatus`, :class:`UpdatePatient`,
:class:`MergePatient`), plain data with no archive in them; ``docs/workflow.md`` has the
mapping table field by field. Each operation knows the segment it came from, so that a
failure to apply it can be reported at that place.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import tag_for_keyword, vr_for_tag
from dicomkit.core.element import Sequence
from dicomkit.core.uid import generate_uid
from dicomkit.core.values import PersonName
from dicomkit.core.vr import validate_value
from dicomkit.hl7.messages import (
    CHARACTER_SETS,
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE_ERROR,
    TABLE_VALUE_NOT_FOUND,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_PROCESSING_ID,
    HL7Error,
    Message,
    Segment,
)

DELETE = '""'
"""HL7's explicit null: the receiver shall delete the value (HL7 v2.5.1 §2.5.3)."""

SEX = {"F": "F", "M": "M", "O": "O", "A": "O", "U": "", "N": ""}
"""HL7 Table 0001 Administrative Sex to Patient's Sex (0010,0040): DICOM knows M, F, O; U
(unknown) and N (not applicable) leave it empty, A (ambiguous) is O."""

PRIORITY = {"S": "STAT", "A": "HIGH", "P": "HIGH", "C": "HIGH", "R": "ROUTINE",
            "T": "MEDIUM"}
"""HL7 Table 0027 Priority (ORC-7.6, TQ1-9, OBR-27.6) to Requested Procedure Priority
(0040,1003): STAT, HIGH, ROUTINE, MEDIUM, LOW."""

ORDER_STATUS = {"SC": "SCHEDULED", "IP": "STARTED", "CM": "COMPLETED",
                "DC": "DISCONTINUED", "CA": "CANCELLED", "A": "STARTED"}
"""HL7 Table 0038 Order Status (ORC-5, for ORC-1 SC) to Scheduled Procedure Step Status
(0040,0020) and the worklist item status."""

PROCESSING_IDS = {"P", "D", "T"}
"""HL7 Table 0103: production, debugging, training (all applied alike)."""

_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?\Z")


@dataclass(frozen=True)
class Origin:
    """Where an operation came from: a segment and its occurrence."""

    segment: str
    sequence: int = 1

    def error(self, reason: str, code: int, field_no: int = 0, component: int = 0) -> HL7Error:
        return HL7Error(reason, code=code, segment=self.segment, sequence=self.sequence,
                        field=field_no, component=component)


@dataclass(frozen=True)
class OrderKeys:
    """How a Scheduled Procedure Step is found again (IHE RAD TF-2 §4.13: the Order Filler's
    identifiers of the requested procedure and its step)."""

    accession_number: str = ""
    requested_procedure_id: str = ""
    sps_id: str = ""
    study_uid: str = ""

    def query(self) -> dict[str, str]:
        """The non-empty keys as ``find_steps`` arguments."""
        return {name: value for name, value in (
            ("accession_number", self.accession_number),
            ("requested_procedure_id", self.requested_procedure_id),
            ("sps_id", self.sps_id), ("study_uid", self.study_uid)) if value}

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.query().items()) or "no keys"


@dataclass(frozen=True)
class NewOrder:
    """ORC-1 NW: a new worklist item (one Scheduled Procedure Step)."""

    item: Dataset
    keys: OrderKeys
    origin: Origin


@dataclass(frozen=True)
class UpdateOrder:
    """ORC-1 XO: the item found by ``keys`` replaced by ``item`` (which has no Study Instance
    UID when the message carried none: the stored one is kept)."""

    item: Dataset
    keys: OrderKeys
    origin: Origin


@dataclass(frozen=True)
class CancelOrder:
    """ORC-1 CA/OC (cancelled before it began) or DC/OD (``discontinued``: stopped after)."""

    keys: OrderKeys
    origin: Origin
    discontinued: bool = False


@dataclass(frozen=True)
class ChangeOrderStatus:
    """ORC-1 SC: the Scheduled Procedure Step Status from ORC-5."""

    keys: OrderKeys
    status: str
    origin: Origin


@dataclass(frozen=True)
class UpdatePatient:
    """ADT^A08: ``changes`` (the patient attributes the message carries; an empty value
    deletes) applied to every item of the patient."""

    patient_id: str
    issuer: str
    changes: Dataset
    origin: Origin


@dataclass(frozen=True)
class MergePatient:
    """ADT^A40: the items of ``old`` now belong to ``new``, with ``changes`` applied."""

    old_id: str
    old_issuer: str
    new_id: str
    new_issuer: str
    changes: Dataset
    origin: Origin


Operation = NewOrder | UpdateOrder | CancelOrder | ChangeOrderStatus | UpdatePatient | MergePatient


# -- values -----------------------------------------------------------------------------------
def parse_dtm(text: str) -> tuple[str, str, int]:
    """An HL7 DTM/TS value ``YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`` as (DA, TM, number of
    date digits); ValueError when it is not one."""
    match = _DTM.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an HL7 date/time (YYYYMMDDHHMMSS)")
    year, month, day, hour, minute, second, fraction, _ = match.groups()
    if month and not 1 <= int(month) <= 12:
        raise ValueError(f"{text!r}: month {month} does not exist")
    if day and not 1 <= int(day) <= calendar.monthrange(int(year), int(month))[1]:
        raise ValueError(f"{text!r}: day {day} does not exist in {year}-{month}")
    if hour and int(hour) > 23 or minute and int(minute) > 59 or second and int(second) > 59:
        raise ValueError(f"{text!r}: the time is out of range")
    digits = 4 + (2 if month else 0) + (2 if day else 0)
    date = f"{year}{month}{day}" if day else ""
    time = ""
    if hour:
        time = hour + (minute or "00") + (second or "00") + (fraction or "")
    return date, time, digits


class _Reader:
    """Reads one message's fields into data sets, checking each value against its VR and
    naming the field when it does not fit."""

    def __init__(self, message: Message, default_station: str = "") -> None:
        self.message = message
        self.default_station = default_station

    def value(self, segment: Segment | None, number: int, component: int = 1,
              subcomponent: int = 1, repetition: int = 0) -> str:
        value = self.message.value(segment, number, component, subcomponent, repetition)
        return "" if value == DELETE else value

    def present(self, segment: Segment | None, number: int) -> bool:
        return bool(segment is not None and self.message.repetitions(segment, number))

    def put(self, ds: Dataset, keyword: str, value: Any, segment: Segment | None,
            number: int, component: int = 0) -> None:
        """``ds.keyword = value`` once the value fits the attribute's VR (AE 102 otherwise)."""
        tag = tag_for_keyword(keyword)
        assert tag is not None, keyword
        vr = vr_for_tag(tag)
        problems = validate_value(vr, value)
        if (isinstance(value, str) and "\\" in value
                and vr not in ("LT", "ST", "UT", "UC")):
            problems.append(f"a backslash is not allowed in {vr}")
        if any(ord(c) < 0x20 for c in str(value)) and vr not in ("LT", "ST", "UT"):
            problems.append(f"control characters are not allowed in {vr}")
        if problems:
            where = segment.name if segment is not None else ""
            raise HL7Error(f"{problems[0]} ({keyword})", code=DATA_TYPE_ERROR, segment=where,
                           sequence=segment.sequence if segment is not None else 1,
                           field=number, component=component)
        setattr(ds, keyword, value)

    def date_time(self, segment: Segment | None, number: int, component: int = 1,
                  subcomponent: int = 1, *, need_day: bool = False) -> tuple[str, str]:
        text = self.value(segment, number, component, subcomponent)
        if not text:
            return "", ""
        try:
            date, time, digits = parse_dtm(text)
        except ValueError as exc:
            raise self.error(segment, number, str(exc), DATA_TYPE_ERROR, component) from None
        if need_day and digits < 8:
            raise self.error(segment, number, f"{text!r} has no day (YYYYMMDD needed)",
                             DATA_TYPE_ERROR, component)
        return date, time

    def error(self, segment: Segment | None, number: int, reason: str, code: int,
              component: int = 0) -> HL7Error:
        name = segment.name if segment is not None else ""
        return HL7Error(reason, code=code, segment=name,
                        sequence=segment.sequence if segment is not None else 1,
                        field=number, component=component if component > 1 else 0)

    # -- composite types ---------------------------------------------------------------------
    def person_name(self, segment: Segment | None, number: int, kind: str) -> str:
        """XPN (``kind`` "XPN": family^given^middle^suffix^prefix, representation in XPN-8) or
        XCN ("XCN": id^family^given^middle^suffix^prefix, representation in XCN-15) to a PN:
        the alphabetic, ideographic and phonetic groups from the repetitions marked A (or
        unmarked), I and P (PS3.5 §6.2.1.2)."""
        offset = 1 if kind == "XCN" else 0
        representation = 15 if kind == "XCN" else 8
        groups: dict[str, str] = {}
        reps = self.message.repetitions(segment, number) if segment is not None else []
        for index in range(len(reps)):
            def part(n: int, index: int = index) -> str:
                return self.value(segment, number, n, 1, index)

            code = part(representation).upper() or "A"
            if code not in ("A", "I", "P") or code in groups:
                continue
            groups[code] = "^".join([part(1 + offset), part(2 + offset), part(3 + offset),
                                     part(5 + offset), part(4 + offset)]).rstrip("^")
        return str(PersonName.from_parts(groups.get("A", ""), groups.get("I", ""),
                                         groups.get("P", "")))

    def code_item(self, segment: Segment | None, number: int, first: int = 1,
                  repetition: int = 0) -> Dataset | None:
        """A CE/CWE triplet (identifier, text, coding system) starting at component ``first``
        as a Code Sequence item; coding system "L" (local) when the message names none."""
        value = self.value(segment, number, first, 1, repetition)
        if not value:
            return None
        item = Dataset()
        self.put(item, "CodeValue", value, segment, number, first)
        self.put(item, "CodingSchemeDesignator",
                 self.value(segment, number, first + 2, 1, repetition) or "L", segment,
                 number, first + 2)
        meaning = self.value(segment, number, first + 1, 1, repetition)
        self.put(item, "CodeMeaning", meaning or value, segment, number, first + 1)
        return item


# -- patients ---------------------------------------------------------------------------------
def _patient(reader: _Reader, pid: Segment, ds: Dataset, *, only_present: bool) -> None:
    """PID to the Patient Identification and Demographic attributes (IHE RAD TF-2 Table B-1,
    Patient): PID-3 ID and issuer, PID-5 name, PID-6 mother's maiden name, PID-7 birth date,
    PID-8 sex. ``only_present``: leave out what the message does not carry (an update)."""
    if not only_present or reader.present(pid, 5):
        reader.put(ds, "PatientName", reader.person_name(pid, 5, "XPN"), pid, 5)
    if reader.present(pid, 6):
        reader.put(ds, "PatientMotherBirthName", reader.person_name(pid, 6, "XPN"), pid, 6)
    if not only_present or reader.present(pid, 7):
        birth, _ = reader.date_time(pid, 7)
        reader.put(ds, "PatientBirthDate", birth, pid, 7)
    if not only_present or reader.present(pid, 8):
        sex = reader.value(pid, 8).upper()
        if sex and sex not in SEX:
            raise reader.error(pid, 8, f"administrative sex {sex!r} is not in HL7 Table 0001 "
                               "(F, M, O, U, A, N)", TABLE_VALUE_NOT_FOUND)
        reader.put(ds, "PatientSex", SEX.get(sex, ""), pid, 8)


def _patient_id(reader: _Reader, segment: Segment, number: int) -> tuple[str, str]:
    """A CX identifier's ID (CX-1) and issuer (CX-4.1, HD namespace); AE 101 when empty."""
    patient_id = reader.value(segment, number)
    if not patient_id:
        raise reader.error(segment, number, "the patient identifier is empty",
                           REQUIRED_FIELD_MISSING)
    return patient_id, reader.value(segment, number, 4)


def _identify(reader: _Reader, pid: Segment, ds: Dataset) -> tuple[str, str]:
    """PID-3 (first repetition) to Patient ID, Issuer of Patient ID and its qualifiers; the
    other repetitions to Other Patient IDs Sequence."""
    patient_id, issuer = _patient_id(reader, pid, 3)
    reader.put(ds, "PatientID", patient_id, pid, 3, 1)
    reader.put(ds, "IssuerOfPatientID", issuer, pid, 3, 4)
    universal, kind = reader.value(pid, 3, 4, 2), reader.value(pid, 3, 4, 3)
    type_code = reader.value(pid, 3, 5)
    if universal or type_code:
        qualifiers = Dataset()
        if universal:
            reader.put(qualifiers, "UniversalEntityID", universal, pid, 3, 4)
            reader.put(qualifiers, "UniversalEntityIDType", kind.upper() or "ISO", pid, 3, 4)
        if type_code:
            reader.put(qualifiers, "IdentifierTypeCode", type_code, pid, 3, 5)
        ds.IssuerOfPatientIDQualifiersSequence = Sequence([qualifiers])
    others = []
    for index in range(1, len(reader.message.repetitions(pid, 3))):
        other_id = reader.value(pid, 3, 1, 1, index)
        if not other_id:
            continue
        other = Dataset()
        reader.put(other, "PatientID", other_id, pid, 3, 1)
        reader.put(other, "IssuerOfPatientID", reader.value(pid, 3, 4, 1, index), pid, 3, 4)
        other.TypeOfPatientID = "TEXT"
        others.append(other)
    if others:
        ds.OtherPatientIDsSequence = Sequence(others)
    return patient_id, issuer


def _visit(reader: _Reader, pv1: Segment | None, ds: Dataset) -> None:
    """PV1 to the Visit attributes: PV1-19 Admission ID, PV1-3 Current Patient Location,
    PV1-8 Referring Physician's Name."""
    reader.put(ds, "AdmissionID", reader.value(pv1, 19), pv1, 19)
    location = "^".join(reader.value(pv1, 3, n) for n in (1, 2, 3, 4)).rstrip("^")
    reader.put(ds, "CurrentPatientLocation", location, pv1, 3)
    reader.put(ds, "ReferringPhysicianName", reader.person_name(pv1, 8, "XCN"), pv1, 8)


def _character_set(message: Message, ds: Dataset) -> None:
    term = message.header.character_set.strip().upper()
    known = CHARACTER_SETS.get(term)
    if known is not None and known.dicom:
        ds.SpecificCharacterSet = list(known.dicom) if len(known.dicom) > 1 else known.dicom[0]


# -- orders -----------------------------------------------------------------------------------
@dataclass
class _Detail:
    """One OBR with the ORC (and TQ1) it belongs to, and its IPC and ZDS segments."""

    orc: Segment
    tq1: Segment | None
    obr: Segment
    ipcs: list[Segment] = field(default_factory=list)
    zds: Segment | None = None


def _details(message: Message) -> list[_Detail]:
    orc: Segment | None = None
    tq1: Segment | None = None
    details: list[_Detail] = []
    for segment in message.segments:
        if segment.name == "ORC":
            orc, tq1 = segment, None
        elif segment.name == "TQ1" and orc is not None and tq1 is None:
            tq1 = segment
        elif segment.name == "OBR":
            if orc is None:
                raise HL7Error("an OBR segment before any ORC", code=SEGMENT_SEQUENCE_ERROR,
                               segment="OBR", sequence=segment.sequence)
            details.append(_Detail(orc, tq1, segment))
        elif segment.name in ("IPC", "ZDS"):
            if not details:
                raise HL7Error(f"an {segment.name} segment before any OBR",
                               code=SEGMENT_SEQUENCE_ERROR, segment=segment.name,
                               sequence=segment.sequence)
            if segment.name == "IPC":
                details[-1].ipcs.append(segment)
            else:
                details[-1].zds = segment
    if orc is None:
        raise HL7Error("the order has no ORC segment", code=SEGMENT_SEQUENCE_ERROR,
                       segment="ORC")
    if not details:
        raise HL7Error("the order has no OBR segment", code=SEGMENT_SEQUENCE_ERROR,
                       segment="OBR")
    return details


def _keys(reader: _Reader, detail: _Detail, ipc: Segment | None) -> OrderKeys:
    """ORM: OBR-18 Accession Number, OBR-19 Requested Procedure ID, OBR-20 Scheduled Procedure
    Step ID, ZDS-1 Study Instance UID. OMI: IPC-1 … IPC-4."""
    if ipc is not None:
        return OrderKeys(reader.value(ipc, 1), reader.value(ipc, 2), reader.value(ipc, 4),
                         reader.value(ipc, 3))
    obr = detail.obr
    return OrderKeys(reader.value(obr, 18), reader.value(obr, 19), reader.value(obr, 20),
                     reader.value(detail.zds, 1))


def _require_keys(reader: _Reader, keys: OrderKeys, detail: _Detail,
                  ipc: Segment | None) -> None:
    segment = ipc if ipc is not None else detail.obr
    numbers = (2, 4) if ipc is not None else (19, 20)
    if not keys.requested_procedure_id:
        raise reader.error(segment, numbers[0], "the Requested Procedure ID is empty",
                           REQUIRED_FIELD_MISSING)
    if not keys.sps_id:
        raise reader.error(segment, numbers[1], "the Scheduled Procedure Step ID is empty",
                           REQUIRED_FIELD_MISSING)


def _item(reader: _Reader, pid: Segment, pv1: Segment | None, detail: _Detail,
          ipc: Segment | None, keys: OrderKeys, *, new: bool) -> Dataset:
    """One worklist item (PS3.4 Table K.6-1) for one Scheduled Procedure Step."""
    message = reader.message
    orc, obr, tq1 = detail.orc, detail.obr, detail.tq1
    ds = Dataset()
    _character_set(message, ds)
    _identify(reader, pid, ds)
    _patient(reader, pid, ds, only_present=False)
    _visit(reader, pv1, ds)
    if not str(ds.ReferringPhysicianName or ""):  # PV1-8 empty: the ordering provider
        reader.put(ds, "ReferringPhysicianName", reader.person_name(obr, 16, "XCN"), obr, 16)
    # Imaging Service Request
    key_segment = ipc if ipc is not None else obr
    reader.put(ds, "AccessionNumber", keys.accession_number, key_segment,
               1 if ipc is not None else 18)
    for keyword, number, fallback in (("PlacerOrderNumberImagingServiceRequest", 2, 2),
                                      ("FillerOrderNumberImagingServiceRequest", 3, 3)):
        source = orc if reader.value(orc, number) else obr
        reader.put(ds, keyword, reader.value(source, number if source is orc else fallback),
                   source, number)
        namespace, universal = reader.value(source, number, 2), reader.value(source, number, 3)
        if namespace or universal:
            issuer = Dataset()
            if namespace:
                reader.put(issuer, "LocalNamespaceEntityID", namespace, source, number, 2)
            if universal:
                reader.put(issuer, "UniversalEntityID", universal, source, number, 3)
                reader.put(issuer, "UniversalEntityIDType",
                           reader.value(source, number, 4).upper() or "ISO", source, number, 4)
            sequence = ("OrderPlacerIdentifierSequence" if number == 2
                        else "OrderFillerIdentifierSequence")
            setattr(ds, sequence, Sequence([issuer]))
    requester = orc if reader.present(orc, 12) else obr
    reader.put(ds, "RequestingPhysician",
               reader.person_name(requester, 12 if requester is orc else 16, "XCN"),
               requester, 12 if requester is orc else 16)
    reason = reader.value(obr, 31, 2) or reader.value(obr, 31, 1)
    if reason:
        reader.put(ds, "ReasonForTheRequestedProcedure", reason, obr, 31)
    # Requested Procedure
    reader.put(ds, "RequestedProcedureID", keys.requested_procedure_id, key_segment,
               2 if ipc is not None else 19)
    if keys.study_uid:
        reader.put(ds, "StudyInstanceUID", keys.study_uid,
                   ipc if ipc is not None else detail.zds, 3 if ipc is not None else 1)
    elif new:
        ds.StudyInstanceUID = generate_uid()
    ds.ReferencedStudySequence = Sequence()
    procedure_field = 44 if reader.value(obr, 44) else 4
    procedure = reader.code_item(obr, procedure_field)
    if procedure is not None:
        ds.RequestedProcedureCodeSequence = Sequence([procedure])
    description = reader.value(obr, procedure_field, 2)
    reader.put(ds, "RequestedProcedureDescription", description, obr, procedure_field, 2)
    start_segment, start_field = (tq1, 7) if tq1 is not None else (orc, 7)
    if tq1 is not None:
        start = reader.date_time(tq1, 7, need_day=True)
        priority = reader.value(tq1, 9)
    else:
        start = reader.date_time(orc, 7, 4, need_day=True)
        priority = reader.value(orc, 7, 6)
        if not start[0]:
            start_segment, start_field = obr, 27
            start = reader.date_time(obr, 27, 4, need_day=True)
            priority = priority or reader.value(obr, 27, 6)
    if not start[0]:
        where = (tq1, 7) if tq1 is not None else (orc, 7)
        raise reader.error(where[0], where[1], "the Scheduled Procedure Step start date/time "
                           "is missing", REQUIRED_FIELD_MISSING, 0 if tq1 is not None else 4)
    priority = priority.upper()
    if priority and priority not in PRIORITY:
        raise reader.error(start_segment, 9 if start_segment is tq1 else start_field,
                           f"priority {priority!r} is not in HL7 Table 0027 "
                           f"({', '.join(PRIORITY)})", TABLE_VALUE_NOT_FOUND)
    ds.RequestedProcedurePriority = PRIORITY.get(priority, "")
    reader.put(ds, "PatientTransportArrangements", reader.value(obr, 30), obr, 30)
    # Scheduled Procedure Step
    step = Dataset()
    station = reader.value(ipc, 9) if ipc is not None else ""
    station_name = reader.value(ipc, 7) if ipc is not None else ""
    if not station and not station_name:
        station = reader.default_station
    if not station and not station_name:
        raise reader.error(ipc if ipc is not None else obr, 9 if ipc is not None else 0,
                           "the order names no Scheduled Station AE Title (IPC-9 of OMI^O23; "
                           "ORM^O01 carries none) and no default station is configured "
                           "(serve --hl7-station)", REQUIRED_FIELD_MISSING)
    reader.put(step, "ScheduledStationAETitle", station, ipc, 9)
    reader.put(step, "ScheduledProcedureStepStartDate", start[0], start_segment, start_field)
    reader.put(step, "ScheduledProcedureStepStartTime", start[1], start_segment, start_field)
    modality_segment, modality_field = (ipc, 5) if ipc is not None else (obr, 24)
    modality = reader.value(modality_segment, modality_field).upper()
    if not modality:
        raise reader.error(modality_segment, modality_field, "the modality is empty",
                           REQUIRED_FIELD_MISSING)
    reader.put(step, "Modality", modality, modality_segment, modality_field)
    reader.put(step, "ScheduledPerformingPhysicianName", _technician(reader, obr), obr, 34)
    protocols = []
    if ipc is not None:
        for index in range(len(message.repetitions(ipc, 6))):
            code = reader.code_item(ipc, 6, 1, index)
            if code is not None:
                protocols.append(code)
    else:
        code = reader.code_item(obr, 4, 4)
        if code is not None:
            protocols.append(code)
    if protocols:
        step.ScheduledProtocolCodeSequence = Sequence(protocols)
    step_description = (reader.value(ipc, 6, 2) if ipc is not None else
                        reader.value(obr, 4, 5)) or description
    reader.put(step, "ScheduledProcedureStepDescription", step_description, obr, 4)
    reader.put(step, "ScheduledStationName", station_name, ipc, 7)
    location = (reader.value(ipc, 8, 2) or reader.value(ipc, 8, 1)) if ipc is not None else ""
    reader.put(step, "ScheduledProcedureStepLocation", location, ipc, 8)
    reader.put(step, "ScheduledProcedureStepID", keys.sps_id, key_segment,
               4 if ipc is not None else 20)
    status = ORDER_STATUS.get(reader.value(orc, 5).upper(), "SCHEDULED")
    step.ScheduledProcedureStepStatus = "SCHEDULED" if new else status
    ds.ScheduledProcedureStepSequence = Sequence([step])
    return ds


def _technician(reader: _Reader, obr: Segment) -> str:
    """OBR-34 Technician (NDL: its first component a CNN with the name in subcomponents
    ID&family&given&middle&suffix&prefix) to a PN."""
    def sub(n: int) -> str:
        return reader.value(obr, 34, 1, n)

    return "^".join([sub(2), sub(3), sub(4), sub(6), sub(5)]).rstrip("^")


def _orders(reader: _Reader, omi: bool) -> list[Operation]:
    message = reader.message
    pid = message.first("PID")
    if pid is None:
        raise HL7Error("the order has no PID segment", code=SEGMENT_SEQUENCE_ERROR,
                       segment="PID")
    pv1 = message.first("PV1")
    operations: list[Operation] = []
    for detail in _details(message):
        control = reader.value(detail.orc, 1).upper()
        if omi and not detail.ipcs:
            raise HL7Error("an OMI order detail without an IPC segment",
                           code=SEGMENT_SEQUENCE_ERROR, segment="IPC",
                           sequence=len(message.all("IPC")) + 1)
        steps: list[Segment | None] = list(detail.ipcs) if omi else [None]
        for ipc in steps:
            keys = _keys(reader, detail, ipc)
            origin = Origin(ipc.name, ipc.sequence) if ipc is not None else Origin(
                "OBR", detail.obr.sequence)
            _require_keys(reader, keys, detail, ipc)
            if control == "NW":
                item = _item(reader, pid, pv1, detail, ipc, keys, new=True)
                keys = OrderKeys(keys.accession_number, keys.requested_procedure_id,
                                 keys.sps_id, str(item.StudyInstanceUID))
                operations.append(NewOrder(item, keys, origin))
            elif control == "XO":
                item = _item(reader, pid, pv1, detail, ipc, keys, new=False)
                operations.append(UpdateOrder(item, keys, origin))
            elif control in ("CA", "OC"):
                operations.append(CancelOrder(keys, origin))
            elif control in ("DC", "OD"):
                operations.append(CancelOrder(keys, origin, discontinued=True))
            elif control == "SC":
                code = reader.value(detail.orc, 5).upper()
                if code not in ORDER_STATUS:
                    raise reader.error(detail.orc, 5, f"order status {code!r} is not one of "
                                       f"{', '.join(ORDER_STATUS)} (HL7 Table 0038)",
                                       TABLE_VALUE_NOT_FOUND)
                operations.append(ChangeOrderStatus(keys, ORDER_STATUS[code], origin))
            elif not control:
                raise reader.error(detail.orc, 1, "the order control code is empty",
                                   REQUIRED_FIELD_MISSING)
            else:
                raise reader.error(detail.orc, 1, f"order control {control!r} is not "
                                   "supported (NW, XO, CA, OC, DC, OD, SC)",
                                   TABLE_VALUE_NOT_FOUND)
    return operations


def _update_patient(reader: _Reader) -> list[Operation]:
    pid = reader.message.first("PID")
    if pid is None:
        raise HL7Error("ADT^A08 has no PID segment", code=SEGMENT_SEQUENCE_ERROR,
                       segment="PID")
    patient_id, issuer = _patient_id(reader, pid, 3)
    changes = Dataset()
    _character_set(reader.message, changes)
    _patient(reader, pid, changes, only_present=True)
    return [UpdatePatient(patient_id, issuer, changes, Origin("PID", pid.sequence))]


def _merge_patients(reader: _Reader) -> list[Operation]:
    """ADT^A40: each PID is followed by the MRG of the patient merged into it."""
    operations: list[Operation] = []
    pid: Segment | None = None
    for segment in reader.message.segments:
        if segment.name == "PID":
            pid = segment
        elif segment.name == "MRG":
            if pid is None:
                raise HL7Error("an MRG segment before any PID", code=SEGMENT_SEQUENCE_ERROR,
                               segment="MRG", sequence=segment.sequence)
            new_id, new_issuer = _patient_id(reader, pid, 3)
            old_id, old_issuer = _patient_id(reader, segment, 1)
            changes = Dataset()
            _character_set(reader.message, changes)
            _patient(reader, pid, changes, only_present=True)
            operations.append(MergePatient(old_id, old_issuer, new_id, new_issuer, changes,
                                           Origin("MRG", segment.sequence)))
    if not operations:
        raise HL7Error("ADT^A40 has no MRG segment", code=SEGMENT_SEQUENCE_ERROR,
                       segment="MRG")
    return operations


SUPPORTED = {("ORM", "O01"): "order", ("OMI", "O23"): "order", ("ADT", "A08"): "update",
             ("ADT", "A40"): "merge"}


def operations(message: Message, *, default_station: str = "") -> list[Operation]:
    """The worklist operations a message asks for, or HL7Error naming what is wrong and where
    (AR for an unsupported message type, event or processing ID). ``default_station``: the
    Scheduled Station AE Title of a step whose order names no station (ORM^O01 has no field
    for it)."""
    header = message.header
    kind, event = header.message_type.upper(), header.trigger_event.upper()
    if not kind:
        raise HL7Error("MSH-9 message type is empty", code=REQUIRED_FIELD_MISSING,
                       segment="MSH", field=9, reject=True)
    if kind not in {k for k, _ in SUPPORTED}:
        raise HL7Error(f"message type {kind!r} is not supported (ORM^O01, OMI^O23, ADT^A08, "
                       "ADT^A40)", code=UNSUPPORTED_MESSAGE_TYPE, segment="MSH", field=9,
                       reject=True)
    if (kind, event) not in SUPPORTED:
        raise HL7Error(f"event {kind}^{event} is not supported (ORM^O01, OMI^O23, ADT^A08, "
                       "ADT^A40)", code=UNSUPPORTED_EVENT_CODE, segment="MSH", field=9,
                       component=2, reject=True)
    processing = header.processing_id.upper()
    if processing not in PROCESSING_IDS:
        raise HL7Error(f"processing ID {header.processing_id!r} is not P, D or T",
                       code=UNSUPPORTED_PROCESSING_ID, segment="MSH", field=11, reject=True)
    if not header.control_id:
        raise HL7Error("MSH-10 message control ID is empty", code=REQUIRED_FIELD_MISSING,
                       segment="MSH", field=10, reject=True)
    reader = _Reader(message, default_station)
    action = SUPPORTED[(kind, event)]
    if action == "order":
        return _orders(reader, omi=kind == "OMI")
    if action == "update":
        return _update_patient(reader)
    return _merge_patients(reader)
