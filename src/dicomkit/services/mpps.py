"""Modality Performed Procedure Step SOP Class (PS3.4 F.7): the SCP's rules, independent of
where the instances are kept.

- :data:`TRANSITIONS`: the state machine of PS3.4 F.1 Table F.1-4 (IN PROGRESS → IN
  PROGRESS | COMPLETED | DISCONTINUED; nothing leaves a final state), as data.
- :data:`ATTRIBUTES`: Table F.7.2-1 (requirement types at N-CREATE, at N-SET and in the final
  state), row by row as the standard prints it; tests/services/test_mpps_rules.py checks it cell
  by cell against the standard's own table.
- :func:`check_create`, :func:`apply_set`: an N-CREATE attribute list checked, an N-SET
  modification checked and merged into the instance; a violation raises :class:`MppsError`
  with its PS3.7 Annex C status (0105H, 0106H, 0110H, 0111H, 0112H, 0120H, 0121H) and the
  Attribute Identifier List / Error Comment / Error ID the response carries.
- :class:`MppsSCP`: the :class:`~dicomkit.net.service.ServiceHandler` answering N-CREATE and
  N-SET on a :class:`MppsRecords` store (the archive's is
  :class:`dicomkit.archive.mpps.MppsStore`).

Interpretations (the conformance statement, docs/workflow.md, says the same):

- The SCU's requirement (left of the slash) is what a request is checked against. Type 1 at
  N-CREATE must be present with a value (absent: 0120H Missing Attribute, empty: 0121H Missing
  Attribute Value); Type 2 may be absent and is then kept as zero length (many modalities leave
  some out); 1C conditions are not checked.
- An N-SET of an attribute the table marks "Not allowed" is refused with 0105H No Such
  Attribute and the tag in the Attribute Identifier List, unless it repeats the stored value.
- Final state (N-SET to COMPLETED or DISCONTINUED): the merged instance must have the Type 1
  attributes of the "Final State" column with a value, the Type 2 ones present, and at least one
  Performed Series Sequence item (Table F.7.2-1 note 2).
- Performed Procedure Step End Date/Time before the start is stored as given and answered with
  the warning 0116H Attribute Value Out of Range naming both.
- Attributes not in the data dictionary (and not private) are left out and named in the warning
  0107H Attribute List Error.
- Text is kept as Unicode: an N-SET in another Specific Character Set is decoded with its own
  (F.7.2.2.3: the SCP combines the character sets), and the instance is given out in ISO_IR 192.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.core.uid import UID, generate_uid, registered
from dicomkit.encoding.json import from_json, to_json_dict
from dicomkit.errors import DicomError
from dicomkit.net.association import Association
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import NResponse, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS
from dicomkit.services.access import AccessPolicy, authorise

MPPS_SOP_CLASS = registered("ModalityPerformedProcedureStep")

IN_PROGRESS = "IN PROGRESS"
COMPLETED = "COMPLETED"
DISCONTINUED = "DISCONTINUED"
STATES = (IN_PROGRESS, COMPLETED, DISCONTINUED)
FINAL_STATES = (COMPLETED, DISCONTINUED)

# PS3.4 F.1 Table F.1-4: state -> {Performed Procedure Step Status set by N-SET -> new state}.
# N-CREATE makes an instance IN PROGRESS (F.7.2.1.3); a final state has no way out.
TRANSITIONS: dict[str, dict[str, str]] = {
    IN_PROGRESS: {IN_PROGRESS: IN_PROGRESS, COMPLETED: COMPLETED, DISCONTINUED: DISCONTINUED},
    COMPLETED: {},
    DISCONTINUED: {},
}

# PS3.7 Annex C statuses used here (names as in PS3.7 Table C-1 ff.).
NO_SUCH_ATTRIBUTE = 0x0105
INVALID_ATTRIBUTE_VALUE = 0x0106
ATTRIBUTE_LIST_ERROR = 0x0107  # warning
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_SOP_INSTANCE = 0x0112
ATTRIBUTE_VALUE_OUT_OF_RANGE = 0x0116  # warning
INVALID_OBJECT_INSTANCE = 0x0117
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121

# PS3.4 F.7.2.2.4 Table F.7.2-2: the N-SET failure on an instance no longer IN PROGRESS.
NO_LONGER_UPDATABLE = "Performed Procedure Step Object may no longer be updated"
NO_LONGER_UPDATABLE_ID = 0xA710


class MppsError(Exception):
    """A request refused (or, for a warning status, done with a warning): ``status`` (PS3.7
    Annex C), ``comment`` (Error Comment, 64 characters at most), ``tags`` (Attribute
    Identifier List), ``error_id`` (Error ID, Table F.7.2-2)."""

    def __init__(self, status: int, comment: str, tags: Iterable[int] = (),
                 error_id: int | None = None) -> None:
        self.status = status
        self.comment = comment
        self.tags = sorted(set(tags))
        self.error_id = error_id
        super().__init__(f"0x{status:04X}: {comment}")

    def fields(self) -> dict[str, Any]:
        """The response's command fields (PS3.7 §10.1.3.1.x, §10.1.5.1.x, Annex C)."""
        out: dict[str, Any] = {"ErrorComment": self.comment[:64]}
        if self.tags:
            out["AttributeIdentifierList"] = self.tags
        if self.error_id is not None:
            out["ErrorID"] = self.error_id
        return out


# -- Table F.7.2-1 --------------------------------------------------------------------------------

NOT_ALLOWED = "Not allowed"


@dataclass(frozen=True)
class Rule:
    """One row of PS3.4 Table F.7.2-1: the keyword, "Req. Type N-CREATE (SCU/SCP)",
    "Req. Type N-SET (SCU/SCP)" and "Requirement Type Final State" as printed ("" where the
    cell is empty: the final state then asks what the N-CREATE SCP column does), and the rows
    of the items of a sequence."""

    keyword: str
    create: str
    set: str
    final: str = ""
    items: tuple[Rule, ...] = ()

    @property
    def tag(self) -> int:
        tag = dictionary.tag_for_keyword(self.keyword)
        assert tag is not None, self.keyword
        return tag

    @property
    def create_type(self) -> str:
        """The SCU's requirement at N-CREATE: 1, 2, 3 or 1C."""
        return self.create.split("/")[0]

    @property
    def set_type(self) -> str:
        """The SCU's requirement at N-SET: 1, 2, 3, 1C, or Not allowed."""
        return NOT_ALLOWED if self.set == NOT_ALLOWED else self.set.split("/")[0]

    @property
    def final_type(self) -> str:
        return self.final


def _row(keyword: str, create: str, set_: str, final: str = "",
         *items: Rule) -> Rule:
    return Rule(keyword, create, set_, final, tuple(items))


def _no_set(keyword: str, create: str, *items: Rule) -> Rule:
    return Rule(keyword, create, NOT_ALLOWED, "", tuple(items))


def _issuer_no_set() -> tuple[Rule, ...]:
    return (_no_set("LocalNamespaceEntityID", "1C/1C"), _no_set("UniversalEntityID", "1C/1C"),
            _no_set("UniversalEntityIDType", "1C/1C"))


def _code_no_set(meaning: str) -> tuple[Rule, ...]:
    return (_no_set("CodeValue", "1/1"), _no_set("CodingSchemeDesignator", "1/1"),
            _no_set("CodingSchemeVersion", "3/3"), _no_set("CodeMeaning", meaning))


def _code(meaning: str = "3/3") -> tuple[Rule, ...]:
    return (_row("CodeValue", "1/1", "1/1"), _row("CodingSchemeDesignator", "1/1", "1/1"),
            _row("CodingSchemeVersion", "3/3", "3/3"), _row("CodeMeaning", meaning, meaning))


def _references(final: str = "") -> tuple[Rule, ...]:
    return (_row("ReferencedSOPClassUID", "1/1", "1/1", final),
            _row("ReferencedSOPInstanceUID", "1/1", "1/1", final))


ATTRIBUTES: tuple[Rule, ...] = (
    # Specific Character Set and the Performed Procedure Step Relationship
    _row("SpecificCharacterSet", "1C/1C", "1C/1C"),
    _no_set("ScheduledStepAttributesSequence", "1/1",
            _no_set("StudyInstanceUID", "1/1"),
            _no_set("ReferencedStudySequence", "2/2",
                    _no_set("ReferencedSOPClassUID", "1/1"),
                    _no_set("ReferencedSOPInstanceUID", "1/1")),
            _no_set("AccessionNumber", "2/2"),
            _no_set("IssuerOfAccessionNumberSequence", "3/3", *_issuer_no_set()),
            _no_set("PlacerOrderNumberImagingServiceRequest", "3/3"),
            _no_set("OrderPlacerIdentifierSequence", "3/3", *_issuer_no_set()),
            _no_set("FillerOrderNumberImagingServiceRequest", "3/3"),
            _no_set("OrderFillerIdentifierSequence", "3/3", *_issuer_no_set()),
            _no_set("RequestedProcedureID", "2/2"),
            _no_set("RequestedProcedureCodeSequence", "3/3", *_code_no_set("1/1")),
            _no_set("RequestedProcedureDescription", "2/2"),
            _no_set("ScheduledProcedureStepID", "2/2"),
            _no_set("ScheduledProcedureStepDescription", "2/2"),
            _no_set("ScheduledProtocolCodeSequence", "2/2", *_code_no_set("3/3"))),
    _no_set("PatientName", "2/2"),
    _no_set("PatientID", "2/2"),
    _no_set("IssuerOfPatientID", "3/3"),
    _no_set("IssuerOfPatientIDQualifiersSequence", "3/3",
            _no_set("UniversalEntityID", "3/3"), _no_set("UniversalEntityIDType", "1C/1C")),
    _no_set("PatientBirthDate", "2/2"),
    _no_set("PatientSex", "2/2"),
    _no_set("ReferencedPatientSequence", "2/2",
            _no_set("ReferencedSOPClassUID", "1/1"), _no_set("ReferencedSOPInstanceUID", "1/1")),
    _no_set("AdmissionID", "3/3"),
    _no_set("IssuerOfAdmissionIDSequence", "3/3", *_issuer_no_set()),
    _no_set("ServiceEpisodeID", "3/3"),
    _no_set("IssuerOfServiceEpisodeIDSequence", "3/3", *_issuer_no_set()),
    _no_set("ServiceEpisodeDescription", "3/3"),
    # Performed Procedure Step Information
    _no_set("PerformedProcedureStepID", "1/1"),
    _no_set("PerformedStationAETitle", "1/1"),
    _no_set("PerformedStationName", "2/2"),
    _no_set("PerformedLocation", "2/2"),
    _no_set("PerformedProcedureStepStartDate", "1/1"),
    _no_set("PerformedProcedureStepStartTime", "1/1"),
    _row("PerformedProcedureStepStatus", "1/1", "3/1"),
    _row("PerformedProcedureStepDescription", "2/2", "3/2"),
    _row("PerformedProcedureTypeDescription", "2/2", "3/2"),
    _row("ProcedureCodeSequence", "2/2", "3/2", "", *_code()),
    _row("ReasonForPerformedProcedureCodeSequence", "3/3", "3/3", "", *_code("1/1")),
    _row("PerformedProcedureStepEndDate", "2/2", "3/1", "1"),
    _row("PerformedProcedureStepEndTime", "2/2", "3/1", "1"),
    _row("CommentsOnThePerformedProcedureStep", "3/3", "3/3"),
    _row("PerformedProcedureStepDiscontinuationReasonCodeSequence", "3/3", "3/3", "",
         *_code()),
    # Image Acquisition Results
    _no_set("Modality", "1/1"),
    _no_set("StudyID", "2/2"),
    _row("PerformedProtocolCodeSequence", "2/2", "3/2", "", *_code()),
    _row("PerformedSeriesSequence", "2/2", "3/1", "1",
         _row("PerformingPhysicianName", "2/2", "2/2", "2"),
         _row("ProtocolName", "1/1", "1/1", "1"),
         _row("OperatorsName", "2/2", "2/2", "2"),
         _row("SeriesInstanceUID", "1/1", "1/1", "1"),
         _row("SeriesDescription", "2/2", "2/2", "2"),
         _row("RetrieveAETitle", "2/2", "2/2", "2"),
         _row("ArchiveRequested", "3/3", "3/3"),
         _row("ReferencedImageSequence", "2/2", "2/2", "See",
              *_references(),
              _row("ContainerIdentifier", "3/3", "3/3"),
              _row("SpecimenDescriptionSequence", "3/3", "3/3", "",
                   _row("SpecimenIdentifier", "1/1", "1/1"),
                   _row("SpecimenUID", "1/1", "1/1"))),
         _row("ReferencedNonImageCompositeSOPInstanceSequence", "2/2", "2/2", "See",
              *_references())),
)
"""PS3.4 Table F.7.2-1 (2016 edition's rows; attributes added since fall under "All other
Attributes", 3/3 at N-CREATE and N-SET)."""

RULES: dict[int, Rule] = {rule.tag: rule for rule in ATTRIBUTES}


# -- checks ------------------------------------------------------------------------------------------


def _present(ds: Dataset, tag: int) -> bool:
    return tag in ds


def _empty(ds: Dataset, tag: int) -> bool:
    """Zero length: no value, or only empty values (a sequence: no item)."""
    value = ds[tag].value
    values = value if isinstance(value, list) else [value]
    return all(v is None or (not isinstance(v, Dataset) and str(v).strip() == "")
               for v in values)


def _required(ds: Dataset, rules: Sequence[Rule], kind: str, missing: set[int],
              empty: set[int]) -> None:
    """Type 1 and (for ``final``) Type 2 requirements of ``rules`` on ``ds`` and its items;
    ``kind`` is "create", "set" or "final"."""
    for rule in rules:
        wanted = {"create": rule.create_type, "set": rule.set_type,
                  "final": rule.final_type}[kind]
        tag = rule.tag
        if wanted in ("1", "2") and not _present(ds, tag):
            if wanted == "1" or kind == "final":
                missing.add(tag)
            continue
        if wanted == "1" and _empty(ds, tag):
            empty.add(tag)
            continue
        if rule.items and _present(ds, tag) and ds[tag].VR == "SQ":
            for item in ds[tag].value or []:
                _required(item, rule.items, kind, missing, empty)


def _raise_missing(missing: set[int], empty: set[int], when: str) -> None:
    if missing:
        raise MppsError(MISSING_ATTRIBUTE, f"{when}: missing {_names(missing)}", missing)
    if empty:
        raise MppsError(MISSING_ATTRIBUTE_VALUE, f"{when}: no value for {_names(empty)}", empty)


def _names(tags: Iterable[int]) -> str:
    return ", ".join(dictionary.keyword_for_tag(t) or f"({t >> 16:04X},{t & 0xFFFF:04X})"
                     for t in sorted(tags))


def _invalid_values(ds: Dataset) -> set[int]:
    """Tags whose values break their VR's rules (PS3.5 §6.2), at any depth."""
    bad: set[int] = set()
    for _depth, element in ds.walk():
        if element.validate():
            bad.add(int(element.tag))
    return bad


def _status_of(ds: Dataset) -> str:
    value = ds.get("PerformedProcedureStepStatus")
    return str(value or "").strip()


def normalized(data: Dataset) -> tuple[Dataset, list[int]]:
    """``data`` with its text decoded (its own Specific Character Set) and the tags that are
    neither in the data dictionary nor private left out (returned): the form the rules check
    and the store keeps. Undecodable values: 0106H."""
    unknown = [int(e.tag) for e in data
               if not e.tag.is_private and dictionary.entry(e.tag) is None]
    kept = data if not unknown else _without(data, unknown)
    try:
        result = from_json(to_json_dict(kept))
    except (DicomError, ValueError) as exc:
        tag = getattr(exc, "tag", None)
        raise MppsError(INVALID_ATTRIBUTE_VALUE, f"undecodable value: {exc}"[:64],
                        [int(tag)] if tag is not None else []) from exc
    if 0x00080005 in result:
        del result[0x00080005]
    return result, unknown


def _without(data: Dataset, tags: Sequence[int]) -> Dataset:
    out = Dataset()
    if 0x00080005 in data:
        out[0x00080005] = data[0x00080005]
    for element in data:
        if int(element.tag) not in tags:
            out[element.tag] = element
    return out


@dataclass
class Checked:
    """An accepted request: the data set to keep, and a warning status for the response
    (0107H unknown attributes left out, 0116H end before start) or None."""

    data: Dataset
    warning: MppsError | None = None


def check_create(data: Dataset) -> Checked:
    """PS3.4 F.7.2.1.3: an N-CREATE attribute list (already :func:`normalized`) against Table
    F.7.2-1. Raises :class:`MppsError`: 0120H / 0121H (Type 1 missing or empty; the Scheduled
    Step Attributes Sequence needs an item), 0106H (a value breaking its VR, or Performed
    Procedure Step Status other than IN PROGRESS: F.7.2.1.3 asks 0106H with the tag)."""
    missing: set[int] = set()
    empty: set[int] = set()
    _required(data, ATTRIBUTES, "create", missing, empty)
    ssa = 0x00400270
    if ssa in data and ssa not in missing and not (data[ssa].value or []):
        empty.add(ssa)
    _raise_missing(missing, empty, "N-CREATE")
    bad = _invalid_values(data)
    if bad:
        raise MppsError(INVALID_ATTRIBUTE_VALUE, f"invalid value of {_names(bad)}"[:64], bad)
    if _status_of(data) != IN_PROGRESS:
        raise MppsError(INVALID_ATTRIBUTE_VALUE,
                        f"Performed Procedure Step Status must be {IN_PROGRESS} at N-CREATE",
                        [0x00400252])
    out = data.copy()
    for rule in ATTRIBUTES:  # Type 2 left out: kept as zero length
        if rule.create_type == "2" and rule.tag not in out:
            out[rule.tag] = empty_element(rule.tag)
    return Checked(out, _out_of_range(out))


def apply_set(current: Dataset, modification: Dataset) -> Checked:
    """PS3.4 F.7.2.2.3: ``modification`` (already :func:`normalized`) merged into the
    instance ``current``. Raises :class:`MppsError`: 0110H with Error ID A710 when the
    instance is no longer IN PROGRESS (Table F.7.2-2); 0105H for attributes Table F.7.2-1 does
    not allow in an N-SET (unless the value is the stored one); 0106H for an invalid value or
    Performed Procedure Step Status outside IN PROGRESS, COMPLETED, DISCONTINUED; 0120H /
    0121H when a set item lacks its Type 1 attributes, or when the final state lacks what Table
    F.7.2-1 asks of it (with note 2: a Performed Series Sequence item)."""
    state = _status_of(current)
    if not TRANSITIONS.get(state):
        raise MppsError(PROCESSING_FAILURE, NO_LONGER_UPDATABLE, error_id=NO_LONGER_UPDATABLE_ID)
    refused = [tag for tag in modification.tags()
               if tag in RULES and RULES[tag].set_type == NOT_ALLOWED
               and not (tag in current and current[tag] == modification[tag])]
    if refused:
        raise MppsError(NO_SUCH_ATTRIBUTE, f"N-SET may not change {_names(refused)}"[:64],
                        refused)
    missing: set[int] = set()
    empty: set[int] = set()
    for tag in modification.tags():  # a sequence set is replaced whole: its items checked
        rule = RULES.get(tag)
        if rule is not None and rule.items and modification[tag].VR == "SQ":
            for item in modification[tag].value or []:
                _required(item, rule.items, "set", missing, empty)
    if 0x00400252 in modification and _empty(modification, 0x00400252):
        empty.add(0x00400252)
    _raise_missing(missing, empty, "N-SET")
    bad = _invalid_values(modification)
    if bad:
        raise MppsError(INVALID_ATTRIBUTE_VALUE, f"invalid value of {_names(bad)}"[:64], bad)
    target = _status_of(modification) if 0x00400252 in modification else state
    new_state = TRANSITIONS[state].get(target)
    if new_state is None:
        raise MppsError(INVALID_ATTRIBUTE_VALUE,
                        f"Performed Procedure Step Status {target!r} is not one of "
                        f"{', '.join(STATES)}"[:64], [0x00400252])
    merged = current.copy()
    for element in modification:
        merged[element.tag] = element
    if new_state in FINAL_STATES:
        missing, empty = set(), set()
        _required(merged, ATTRIBUTES, "final", missing, empty)
        series = merged.get("PerformedSeriesSequence")
        if 0x00400340 not in missing and not series:
            empty.add(0x00400340)  # Table F.7.2-1 note 2: at least one series
        _raise_missing(missing, empty, f"{new_state}")
    return Checked(merged, _out_of_range(merged))


def _out_of_range(ds: Dataset) -> MppsError | None:
    """0116H (a warning): the end before the start."""
    start = f"{ds.get('PerformedProcedureStepStartDate') or ''}" \
            f"{ds.get('PerformedProcedureStepStartTime') or ''}"
    end_date = ds.get("PerformedProcedureStepEndDate") or ""
    end = f"{end_date}{ds.get('PerformedProcedureStepEndTime') or ''}"
    if not end_date or not start:
        return None
    if _comparable(end) < _comparable(start):
        return MppsError(ATTRIBUTE_VALUE_OUT_OF_RANGE,
                         "Performed Procedure Step ends before it starts",
                         [0x00400250, 0x00400251])
    return None


def _comparable(date_time: str) -> str:
    digits = date_time.replace(":", "").split("&")[0].split("+")[0].split("-")[0]
    return (digits + "0" * 20)[:20]


# -- the SCP ---------------------------------------------------------------------------------------


class MppsRecord(Protocol):
    """An MPPS instance as a store gives it back."""

    @property
    def sop_uid(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def warning(self) -> MppsError | None: ...

    def dataset(self) -> Dataset: ...


class MppsRecords(Protocol):
    """Where MPPS instances are kept. ``create`` and ``update`` apply :func:`check_create` /
    :func:`apply_set` in the same transaction that keeps the result (and raise their
    :class:`MppsError`); ``create`` raises 0111H for an existing UID, ``update`` 0112H for an
    unknown one. ``warning`` on the result: see :class:`Checked`."""

    def create(self, sop_uid: str, data: Dataset, calling_ae: str) -> MppsRecord: ...

    def update(self, sop_uid: str, data: Dataset) -> MppsRecord: ...


class MppsSCP(ServiceHandler):
    """The MPPS SOP Class as SCP (PS3.4 F.7.1: N-CREATE and N-SET, M/M); with ``access``, the
    calling AE needs the "mpps" permission (else 0124H Refused: Not Authorised)."""

    def __init__(self, records: MppsRecords, syntaxes: Sequence[str] = UNCOMPRESSED_TS, *,
                 access: AccessPolicy | None = None) -> None:
        self.records = records
        self.syntaxes = list(syntaxes)
        self.access = access

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {MPPS_SOP_CLASS: self.syntaxes}

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None] | NResponse:
        field_ = message.command_field
        try:
            if field_ == CommandField.N_CREATE_RQ:
                authorise(self.access, association, "mpps", "MPPS N-CREATE")
                return await self.n_create(association, message, data)
            if field_ == CommandField.N_SET_RQ:
                authorise(self.access, association, "mpps", "MPPS N-SET")
                return await self.n_set(message, data)
        except MppsError as exc:
            return NResponse(exc.status, None, exc.fields())
        return NResponse(Status.UNRECOGNIZED_OPERATION, None,
                         {"ErrorComment": "MPPS: only N-CREATE and N-SET (PS3.4 F.7.1)"})

    async def n_create(self, association: Association, message: Message,
                       data: Dataset | None) -> NResponse:
        """PS3.4 F.7.2.1.3. Without an Affected SOP Instance UID the SCP makes one and returns
        it (PS3.7 §10.1.5.1.2)."""
        given = str(message.command.get("AffectedSOPInstanceUID") or "").strip()
        if given and not UID(given).is_valid:
            raise MppsError(INVALID_OBJECT_INSTANCE,
                            f"Affected SOP Instance UID {given!r} is not a UID"[:64])
        sop_uid = given or generate_uid()
        if data is None:
            raise MppsError(MISSING_ATTRIBUTE, "N-CREATE without an attribute list",
                            [0x00400270, 0x00400252])
        clean, unknown = normalized(data)
        calling = (association.calling_ae or "").strip()
        created = await asyncio.to_thread(self.records.create, sop_uid, clean, calling)
        fields: dict[str, Any] = {} if given else {"AffectedSOPInstanceUID": sop_uid}
        return _answer(created.warning, unknown, fields, created.dataset())

    async def n_set(self, message: Message, data: Dataset | None) -> NResponse:
        """PS3.4 F.7.2.2.3."""
        sop_uid = str(message.command.get("RequestedSOPInstanceUID") or "").strip()
        if not sop_uid:
            raise MppsError(NO_SUCH_SOP_INSTANCE, "N-SET without a Requested SOP Instance UID")
        if data is None:
            data = Dataset()
        clean, unknown = normalized(data)
        updated = await asyncio.to_thread(self.records.update, sop_uid, clean)
        return _answer(updated.warning, unknown, {}, None)


def _answer(warning: MppsError | None, unknown: list[int], fields: dict[str, Any],
            data: Dataset | None) -> NResponse:
    """Success, or a warning (0107H before 0116H); an N-CREATE-RSP carries the instance as
    kept, its SOP Instance UID included (PS3.7 §10.1.5.1.6 Attribute List: an SCU that cannot
    read the response's Affected SOP Instance UID finds the UID the SCP gave there)."""
    if unknown:
        return NResponse(ATTRIBUTE_LIST_ERROR, data, {
            **fields, "AttributeIdentifierList": sorted(unknown),
            "ErrorComment": "attributes not in the data dictionary were left out"})
    if warning is not None:
        return NResponse(warning.status, data, {**fields, **warning.fields()})
    return NResponse(Status.SUCCESS, data, fields)


def empty_element(tag: int) -> DataElement:
    """A zero-length element of ``tag`` (its dictionary VR)."""
    vr = dictionary.vr_for_tag(tag) or "UN"
    return DataElement(tag, vr, [] if vr == "SQ" else None)
