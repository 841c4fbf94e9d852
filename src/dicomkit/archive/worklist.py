"""Worklist items in the index: the Scheduled Procedure Steps a Modality Worklist SCP offers
(PS3.4 K.6.1), with their Requested Procedure, Imaging Service Request, Patient and Visit
attributes (PS3.3 the Modality Worklist modules, C.4.10–C.4.12, C.2, C.3, C.7.1).

One row of ``worklist_items`` per Scheduled Procedure Step: an item given with several steps in
its Scheduled Procedure Step Sequence (0040,0100) becomes several rows, each keeping the whole
item with only its own step in that sequence (a C-FIND answers one response per step, K.6.1.2.2
"shall contain only a single Item"). The matching keys are columns; the whole item is kept as
DICOM JSON (values decoded, its Specific Character Set kept).

What an item must hold (:func:`validate_item`): every value valid for its VR (lengths,
characters, DA/TM/DT form, UID grammar) and the attributes whose Return Key Type is 1 in PS3.4
Table K.6-1: Patient's Name, Patient ID, Requested Procedure ID, and in each step Scheduled
Station AE Title (or, for a step scheduled on a station by name, Scheduled Station Name),
Scheduled Procedure Step Start Date and Start Time, Modality, Scheduled Procedure Step ID.
Study Instance UID (also Type 1) is generated when the item has none: the archive then acts as
the Department System Scheduler that assigns it (IHE RAD TF-2 Scheduled Workflow), and every
step of the item shares it. A step ID is unique per Requested Procedure (per Accession Number
and Requested Procedure ID); a second step with the same ID is refused.

Item statuses (``status``): SCHEDULED, ARRIVED, READY (offered to the worklist by default),
STARTED, COMPLETED, DISCONTINUED, CANCELLED; a change is also written to the step's Scheduled
Procedure Step Status (0040,0020) for the states PS3.3 C.4.10.1 defines.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.matching import MatchKind, Options, QueryError, sql_condition
from dicomkit.archive.schema import as_utc, utc_now, worklist_items
from dicomkit.archive.worklist_matching import (
    WorklistQuery,
    compile_worklist_query,
    normalised_time,
)
from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import keyword_for_tag
from dicomkit.core.tag import tag_str
from dicomkit.core.uid import generate_uid
from dicomkit.core.values import parse_da, parse_dt, parse_tm
from dicomkit.core.vr import VR_INFO, forbidden_control, validate_value
from dicomkit.encoding.json import from_json, to_json_dict
from dicomkit.services.worklist import response_identifier

SPS_SEQUENCE = "00400100"
SPS_STATUS = "00400020"
CHARSET = "00080005"
# PS3.3 C.4.10.1 Defined Terms of Scheduled Procedure Step Status (0040,0020); the other
# item statuses (COMPLETED, DISCONTINUED, CANCELLED) are the archive's and leave it as is.
STEP_STATUS_TERMS = ("SCHEDULED", "ARRIVED", "READY", "STARTED")
MULTIPLE_STATIONS = "\\"  # the station_ae column of a step scheduled on several stations


class WorklistError(ValueError):
    """A worklist item that cannot be stored, naming the attribute (keyword and tag) and where
    it is (the step, by its position in the Scheduled Procedure Step Sequence)."""


class StepScheduledAlready(WorklistError):
    """The step (Accession Number, Requested Procedure ID, Scheduled Procedure Step ID) is
    scheduled already: the REST API answers 409, the RIS feed ERR code 205."""


class NoSuchItem(WorklistError):
    """No worklist item has this key."""


@dataclass(frozen=True)
class WorklistEntry:
    """One Scheduled Procedure Step row. ``patient_name`` is the whole name (component groups
    joined by ``=``), ``station_ae`` every Scheduled Station AE Title (joined by ``\\``),
    ``start_time`` as stored in the item."""

    key: int
    status: str
    sps_id: str
    requested_procedure_id: str
    accession_number: str
    study_uid: str
    patient_id: str
    issuer: str
    patient_name: str
    modality: str
    station_ae: str
    start_date: str
    start_time: str
    mpps_uid: str
    created: dt.datetime | None
    updated: dt.datetime | None
    attrs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def dataset(self) -> Dataset:
        """The whole item, its step the one item of its Scheduled Procedure Step Sequence."""
        return from_json(self.attrs)

    def step(self) -> dict[str, Any]:
        """The step's DICOM JSON attributes."""
        return step_of(self.attrs)


def step_of(attrs: dict[str, Any]) -> dict[str, Any]:
    items = (attrs.get(SPS_SEQUENCE) or {}).get("Value") or [{}]
    first = items[0]
    return first if isinstance(first, dict) else {}


def _first_text(attrs: dict[str, Any], key: str, joined: bool = False) -> str:
    values = (attrs.get(key) or {}).get("Value") or []
    texts = []
    for value in values:
        if isinstance(value, dict):  # a person name
            groups = [str(value.get(g) or "") for g in ("Alphabetic", "Ideographic",
                                                           "Phonetic")]
            texts.append("=".join(groups).rstrip("="))
        else:
            texts.append("" if value is None else str(value))
    if not texts:
        return ""
    return "\\".join(texts) if joined else texts[0]


def _pn_columns(attrs: dict[str, Any], key: str, column: str) -> dict[str, str]:
    values = (attrs.get(key) or {}).get("Value") or []
    value = values[0] if values else None
    groups = [str(value.get(g) or "") if isinstance(value, dict) else ""
              for g in ("Alphabetic", "Ideographic", "Phonetic")]
    return {column: groups[0][:324], f"{column}_ideographic": groups[1][:324],
            f"{column}_phonetic": groups[2][:324]}


def _station_column(attrs: dict[str, Any]) -> str:
    """Scheduled Station AE Title as a column: the title, or a lone ``\\`` for a step
    scheduled on several stations (matched on ``attrs``; the query finds them with
    ``station_ae = '\\'``, an index lookup, :mod:`dicomkit.archive.worklist_matching`)."""
    values = (attrs.get("00400001") or {}).get("Value") or []
    if len(values) > 1:
        return MULTIPLE_STATIONS
    return _first_text(attrs, "00400001")[:16]


def columns_of(attrs: dict[str, Any]) -> dict[str, Any]:
    """The index columns of one step's item (its DICOM JSON attributes)."""
    step = step_of(attrs)
    return {
        "sps_id": _first_text(step, "00400009")[:16],
        "requested_procedure_id": _first_text(attrs, "00401001")[:16],
        "accession_number": _first_text(attrs, "00080050")[:16],
        "study_uid": _first_text(attrs, "0020000D")[:64],
        "patient_id": _first_text(attrs, "00100020")[:64],
        "issuer": _first_text(attrs, "00100021")[:64],
        **_pn_columns(attrs, "00100010", "patient_name"),
        "birth_date": _first_text(attrs, "00100030")[:8],
        "sex": _first_text(attrs, "00100040")[:16],
        "modality": _first_text(step, "00080060")[:16],
        "station_ae": _station_column(step),
        "station_name": _first_text(step, "00400010")[:16],
        "start_date": _first_text(step, "00400002")[:8],
        "start_time": normalised_time(_first_text(step, "00400003"))[:16]
        if _first_text(step, "00400003") else "",
        **_pn_columns(step, "00400006", "performing_physician"),
        "attrs": json.dumps(attrs, separators=(",", ":"), ensure_ascii=False),
    }


def _entry(row: Any) -> WorklistEntry:
    attrs = json.loads(row.attrs or "{}")
    step = step_of(attrs)
    return WorklistEntry(
        key=int(row.pk), status=row.status, sps_id=row.sps_id,
        requested_procedure_id=row.requested_procedure_id,
        accession_number=row.accession_number, study_uid=row.study_uid,
        patient_id=row.patient_id, issuer=row.issuer,
        patient_name=_first_text(attrs, "00100010"), modality=row.modality,
        station_ae=_first_text(step, "00400001", joined=True), start_date=row.start_date,
        start_time=_first_text(step, "00400003"), mpps_uid=row.mpps_uid,
        created=as_utc(row.created), updated=as_utc(row.updated), attrs=attrs)


# -- validation ------------------------------------------------------------------------------

def _name(tag: int) -> str:
    return f"{keyword_for_tag(tag) or 'private attribute'} {tag_str(tag)}"


_TEMPORAL = {"DA": parse_da, "TM": parse_tm, "DT": parse_dt}


def _check_dataset(ds: Dataset, where: str, problems: list[str]) -> None:
    """PS3.5 §6.2 rules for every value of ``ds`` and its items."""
    for element in ds:
        label = f"{where}{_name(element.tag)}"
        try:
            value = element.value
        except Exception as exc:  # noqa: BLE001 - a bad value is reported, not raised
            problems.append(f"{label}: value does not decode: {exc}")
            continue
        if element.VR == "SQ":
            for number, item in enumerate(value or [], 1):
                _check_dataset(item, f"{label} item {number} > ", problems)
            continue
        problems.extend(f"{label}: {problem}" for problem in validate_value(element.VR, value))
        info = VR_INFO.get(element.VR)
        if info is None or info.kind in ("bytes", "sq", "at") or info.fixed_size:
            continue
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            text = str(item)
            index = forbidden_control(element.VR, text, encoded=False)
            if index is not None:
                problems.append(f"{label}: control character {ord(text[index]):02X}H at "
                                f"position {index + 1} is not allowed in a {element.VR} value "
                                "(PS3.5 Table 6.2-1)")
            parse = _TEMPORAL.get(element.VR)
            if parse is not None and text.strip():
                candidates = text.split("-") if element.VR != "DT" else [text]
                try:
                    for candidate in candidates:
                        parse(candidate) if candidate.strip() else None
                except ValueError as exc:
                    problems.append(f"{label}: {exc}")
            if element.VR in ("CS", "AE") and "\\" in text:
                problems.append(f"{label}: a {element.VR} value may not contain a backslash")


def _present(ds: Dataset, keyword: str) -> bool:
    value = ds.get(keyword)
    if isinstance(value, list):
        return any(v not in (None, "") for v in value)
    return value is not None and str(value).strip() != ""


ITEM_REQUIRED = ("PatientName", "PatientID", "RequestedProcedureID")
"""Type 1 return keys of PS3.4 Table K.6-1 outside the step (Study Instance UID is
generated when absent)."""
STEP_REQUIRED = ("Modality", "ScheduledProcedureStepStartDate",
                 "ScheduledProcedureStepStartTime", "ScheduledProcedureStepID")
"""Type 1 return keys of PS3.4 Table K.6-1 inside the Scheduled Procedure Step Sequence
(Scheduled Station AE Title, also Type 1, is checked with Scheduled Station Name)."""


def validate_item(item: Dataset) -> None:
    """Raise :class:`WorklistError` naming every problem of a worklist item (see the module
    docstring); returns when it can be stored."""
    problems: list[str] = []
    _check_dataset(item, "", problems)
    for keyword in ITEM_REQUIRED:
        if not _present(item, keyword):
            problems.append(f"{keyword} {tag_str(_tag(keyword))} is missing or empty "
                            "(Type 1, PS3.4 Table K.6-1)")
    steps = item.get("ScheduledProcedureStepSequence") or []
    if not steps:
        problems.append("ScheduledProcedureStepSequence (0040,0100) is missing or has no item "
                        "(Type 1, PS3.4 Table K.6-1)")
    seen: set[str] = set()
    for number, step in enumerate(steps, 1):
        where = f"ScheduledProcedureStepSequence (0040,0100) item {number}"
        for keyword in STEP_REQUIRED:
            if not _present(step, keyword):
                problems.append(f"{where}: {keyword} {tag_str(_tag(keyword))} is missing or "
                                "empty (Type 1, PS3.4 Table K.6-1)")
        if not (_present(step, "ScheduledStationAETitle")
                or _present(step, "ScheduledStationName")):
            problems.append(f"{where}: ScheduledStationAETitle (0040,0001) (or "
                            "ScheduledStationName (0040,0010)) is missing or empty (Type 1, "
                            "PS3.4 Table K.6-1)")
        sps_id = str(step.get("ScheduledProcedureStepID") or "").strip()
        if sps_id and sps_id in seen:
            problems.append(f"{where}: ScheduledProcedureStepID (0040,0009) {sps_id!r} is "
                            "used by another step of this Requested Procedure")
        seen.add(sps_id)
    if problems:
        raise WorklistError("; ".join(problems))


def _tag(keyword: str) -> int:
    from dicomkit.core.dictionary import tag_for_keyword

    tag = tag_for_keyword(keyword)
    assert tag is not None
    return tag


def split_steps(item: Dataset) -> list[dict[str, Any]]:
    """The item's DICOM JSON once per step, each with only that step in its Scheduled
    Procedure Step Sequence; Study Instance UID generated when absent."""
    attrs = to_json_dict(item)
    if not _first_text(attrs, "0020000D"):
        attrs["0020000D"] = {"vr": "UI", "Value": [generate_uid()]}
    steps = (attrs.get(SPS_SEQUENCE) or {}).get("Value") or []
    return [{**attrs, SPS_SEQUENCE: {"vr": "SQ", "Value": [step]}} for step in steps]


def _step_key(columns: dict[str, Any]) -> str:
    return (f"Scheduled Procedure Step ID {columns['sps_id']!r} of Requested Procedure "
            f"{columns['requested_procedure_id']!r} (Accession Number "
            f"{columns['accession_number']!r})")


class WorklistStore:
    """The worklist items of an :class:`~dicomkit.archive.index.ArchiveIndex`. ``offered``:
    the statuses whose items a Modality Worklist query finds."""

    STATUSES = ("SCHEDULED", "ARRIVED", "READY", "STARTED", "COMPLETED", "DISCONTINUED",
                "CANCELLED")

    def __init__(self, index: ArchiveIndex, *,
                 offered: Sequence[str] = ("SCHEDULED", "ARRIVED", "READY")) -> None:
        unknown = [s for s in offered if s not in self.STATUSES]
        if unknown:
            raise ValueError(f"unknown worklist status(es) {', '.join(unknown)} (known: "
                             f"{', '.join(self.STATUSES)})")
        self.index = index
        self.offered = tuple(offered)

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def transaction(self, connection: Connection | None = None) -> Iterator[Connection]:
        """``connection`` (the caller's transaction, committed or rolled back by the caller),
        or a new transaction committed when the block ends without an exception."""
        if connection is not None:
            yield connection
            return
        with self.index.engine.begin() as own:
            yield own

    @contextmanager
    def _reading(self, connection: Connection | None) -> Iterator[Connection]:
        if connection is not None:
            yield connection
            return
        with self.index.engine.connect() as own:
            yield own

    # -- changes -------------------------------------------------------------------------------
    # Each takes an optional ``connection=``: given, the change is made in the caller's
    # transaction (a whole HL7 message, an MPPS N-CREATE/N-SET) and is durable only once the
    # caller commits; None, it is its own transaction, committed before the method returns.
    def add(self, item: Dataset, *, connection: Connection | None = None
            ) -> list[WorklistEntry]:
        """Store a validated item: one row per step, all or none. A step whose (Accession
        Number, Requested Procedure ID, Scheduled Procedure Step ID) is stored already is
        refused with :class:`WorklistError`."""
        validate_item(item)
        stamp = utc_now()
        keys: list[int] = []
        try:
            with self.transaction(connection) as connection:
                for attrs in split_steps(item):
                    columns = columns_of(attrs)
                    taken = connection.execute(select(worklist_items.c.pk).where(
                        worklist_items.c.accession_number == columns["accession_number"],
                        worklist_items.c.requested_procedure_id
                        == columns["requested_procedure_id"],
                        worklist_items.c.sps_id == columns["sps_id"])).first()
                    if taken is not None:
                        raise StepScheduledAlready(f"{_step_key(columns)} is scheduled already "
                                            f"(worklist item {taken.pk})")
                    keys.append(int(connection.execute(
                        insert(worklist_items).values(
                            **columns, status="SCHEDULED", mpps_uid="", created=stamp,
                            updated=stamp).returning(worklist_items.c.pk)).scalar_one()))
                return [entry for key in keys
                        if (entry := self.get(key, connection=connection)) is not None]
        except IntegrityError as exc:  # another writer added the same step meanwhile
            raise StepScheduledAlready(f"a step of this item is scheduled already: {exc.orig}") \
                from exc

    def get(self, key: int, *, connection: Connection | None = None) -> WorklistEntry | None:
        with self._reading(connection) as connection:
            row = connection.execute(select(worklist_items).where(
                worklist_items.c.pk == key)).first()
        return _entry(row) if row is not None else None

    def replace(self, key: int, item: Dataset, *, connection: Connection | None = None
                ) -> WorklistEntry:
        """Replace the item of one step (its status and MPPS stay); the item must hold exactly
        one step."""
        validate_item(item)
        steps = split_steps(item)
        if len(steps) != 1:
            raise WorklistError(f"worklist item {key}: a replacement holds exactly one "
                                f"Scheduled Procedure Step, not {len(steps)}")
        columns = columns_of(steps[0])
        try:
            with self.transaction(connection) as connection:
                self._row(connection, key)
                taken = connection.execute(select(worklist_items.c.pk).where(
                    worklist_items.c.accession_number == columns["accession_number"],
                    worklist_items.c.requested_procedure_id
                    == columns["requested_procedure_id"],
                    worklist_items.c.sps_id == columns["sps_id"],
                    worklist_items.c.pk != key)).first()
                if taken is not None:
                    raise StepScheduledAlready(f"{_step_key(columns)} is scheduled already "
                                        f"(worklist item {taken.pk})")
                connection.execute(update(worklist_items).where(worklist_items.c.pk == key)
                                   .values(**columns, updated=utc_now()))
                entry = self.get(key, connection=connection)
        except IntegrityError as exc:
            raise StepScheduledAlready(f"{_step_key(columns)} is scheduled already: {exc.orig}") \
                from exc
        assert entry is not None
        return entry

    def _row(self, connection: Any, key: int) -> Any:
        row = connection.execute(select(worklist_items).where(
            worklist_items.c.pk == key)).first()
        if row is None:
            raise NoSuchItem(f"no worklist item {key}")
        return row

    def delete(self, key: int, *, connection: Connection | None = None) -> bool:
        with self.transaction(connection) as connection:
            return bool(connection.execute(delete(worklist_items).where(
                worklist_items.c.pk == key)).rowcount)

    def set_status(self, key: int, status: str, *, mpps_uid: str | None = None,
                   connection: Connection | None = None) -> WorklistEntry:
        """Change a step's status (one of :attr:`STATUSES`); ``mpps_uid`` links the step to
        its Modality Performed Procedure Step. The one place a step's status is written: the
        ``status`` column and, for the defined terms of PS3.3 C.4.10.1, the step's Scheduled
        Procedure Step Status (0040,0020) in its item."""
        status = status.strip().upper()
        if status not in self.STATUSES:
            raise WorklistError(f"unknown worklist status {status!r} (known: "
                                f"{', '.join(self.STATUSES)})")
        with self.transaction(connection) as connection:
            row = self._row(connection, key)
            values: dict[str, Any] = {"status": status, "updated": utc_now()}
            if mpps_uid is not None:
                values["mpps_uid"] = mpps_uid[:64]
            if status in STEP_STATUS_TERMS:
                attrs = json.loads(row.attrs or "{}")
                step_of(attrs)[SPS_STATUS] = {"vr": "CS", "Value": [status]}
                values["attrs"] = json.dumps(attrs, separators=(",", ":"), ensure_ascii=False)
            connection.execute(update(worklist_items).where(worklist_items.c.pk == key)
                               .values(**values))
            entry = self.get(key, connection=connection)
        assert entry is not None
        return entry

    def _rewrite_patient(self, where: list[ColumnElement[bool]], changes: dict[str, Any],
                         connection: Connection | None) -> int:
        """Apply top-level attribute ``changes`` (DICOM JSON) to every item ``where``."""
        count = 0
        with self.transaction(connection) as connection:
            rows = connection.execute(select(worklist_items.c.pk, worklist_items.c.attrs)
                                      .where(*where)).all()
            for row in rows:
                attrs = {**json.loads(row.attrs or "{}"), **changes}
                for key in [k for k, v in attrs.items() if v is None]:
                    del attrs[key]
                connection.execute(update(worklist_items).where(
                    worklist_items.c.pk == row.pk).values(**columns_of(attrs), updated=utc_now()))
                count += 1
        return count

    def _changes(self, changes: Dataset | None) -> dict[str, Any]:
        if changes is None:
            return {}
        problems: list[str] = []
        _check_dataset(changes, "", problems)
        if problems:
            raise WorklistError("; ".join(problems))
        result = to_json_dict(changes)
        if SPS_SEQUENCE in result:
            raise WorklistError("a patient update may not change the Scheduled Procedure "
                                "Step Sequence (0040,0100)")
        return result

    def update_patient(self, patient_id: str, issuer: str, changes: Dataset, *,
                       connection: Connection | None = None) -> int:
        """Patient demographics changed (HL7 ADT^A08): ``changes`` (top-level attributes)
        written into every item of the patient; returns how many."""
        values = self._changes(changes)
        return self._rewrite_patient([worklist_items.c.patient_id == patient_id,
                                      worklist_items.c.issuer == issuer], values, connection)

    def merge_patient(self, old_patient_id: str, old_issuer: str, new_patient_id: str,
                      new_issuer: str, changes: Dataset | None = None, *,
                      connection: Connection | None = None) -> int:
        """Patients merged (HL7 ADT^A40): the items of the old patient move to the new Patient
        ID and Issuer, with ``changes`` written too; returns how many."""
        values = self._changes(changes)
        values["00100020"] = {"vr": "LO", "Value": [new_patient_id]}
        values["00100021"] = {"vr": "LO", "Value": [new_issuer]} if new_issuer else None
        return self._rewrite_patient([worklist_items.c.patient_id == old_patient_id,
                                      worklist_items.c.issuer == old_issuer], values,
                                     connection)

    # -- reading ---------------------------------------------------------------------------
    def entries(self, *, date: str | None = None, modality: str | None = None,
                station: str | None = None, status: str | None = None,
                patient_id: str | None = None, accession: str | None = None,
                limit: int | None = None) -> list[WorklistEntry]:
        """Steps in start date and time order. ``date``: ``YYYYMMDD`` or a DICOM range
        (``A-B``, ``A-``, ``-B``); the text filters match exactly or with ``*``/``?``."""
        options = Options()
        where: list[Any] = []
        if date:
            try:
                for bound in date.strip().split("-", 1):
                    if bound.strip():
                        parse_da(bound)
                condition = sql_condition(worklist_items.c.start_date, MatchKind.DATE,
                                          [date.strip()], options)
            except (QueryError, ValueError) as exc:
                raise WorklistError(f"date {date!r}: {exc} (YYYYMMDD or a range A-B, A-, "
                                    "-B)") from exc
            if condition is not None:
                where.append(condition)
        for value, column in ((modality, worklist_items.c.modality),
                              (station, worklist_items.c.station_ae),
                              (patient_id, worklist_items.c.patient_id),
                              (accession, worklist_items.c.accession_number)):
            if value:
                condition = sql_condition(column, MatchKind.TEXT, [value], options)
                if condition is not None:
                    where.append(condition)
        if status:
            where.append(worklist_items.c.status == status.strip().upper())
        statement = select(worklist_items).where(*where).order_by(
            worklist_items.c.start_date, worklist_items.c.start_time, worklist_items.c.pk)
        if limit is not None:
            statement = statement.limit(limit)
        with self.index.engine.connect() as connection:
            return [_entry(row) for row in connection.execute(statement)]

    def find_steps(self, *, accession_number: str | None = None,
                   requested_procedure_id: str | None = None, sps_id: str | None = None,
                   study_uid: str | None = None, connection: Connection | None = None
                   ) -> list[WorklistEntry]:
        """The steps with exactly these keys (those given), in key order (read in the
        caller's transaction when ``connection`` is given)."""
        where = [column == value for value, column in (
            (accession_number, worklist_items.c.accession_number),
            (requested_procedure_id, worklist_items.c.requested_procedure_id),
            (sps_id, worklist_items.c.sps_id), (study_uid, worklist_items.c.study_uid))
            if value is not None]
        with self._reading(connection) as connection:
            return [_entry(row) for row in connection.execute(
                select(worklist_items).where(*where).order_by(worklist_items.c.pk))]

    def compile(self, identifier: Dataset) -> WorklistQuery:
        """A Modality Worklist C-FIND identifier as a query of the offered steps; raises
        :class:`~dicomkit.archive.matching.QueryError` when it cannot be answered."""
        return compile_worklist_query(identifier, self.offered)

    def matches(self, query: WorklistQuery) -> Generator[dict[str, Any], None, None]:
        """The matching steps' DICOM JSON attributes, streamed in start date/time order;
        ``close()`` the generator to stop early."""
        statement = select(worklist_items.c.attrs).where(*query.where).order_by(
            worklist_items.c.start_date, worklist_items.c.start_time, worklist_items.c.pk)
        with self.index.engine.connect() as connection:
            result = connection.execution_options(yield_per=200).execute(statement)
            for row in result:
                attrs = json.loads(row.attrs or "{}")
                if all(predicate(attrs) for predicate in query.post):
                    yield attrs

    def search(self, identifier: Dataset) -> Iterator[Dataset]:
        """The Modality Worklist C-FIND matches of ``identifier`` as response identifiers
        (PS3.4 K.6.1.2.2: every requested key, zero length when the item has no value)."""
        query = self.compile(identifier)
        for attrs in self.matches(query):
            yield response_identifier(identifier, attrs)
