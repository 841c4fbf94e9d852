"""PS3.4 K.6.1.2: a Modality Worklist C-FIND identifier compiled with the archive's one
matching engine (:mod:`dicomkit.archive.matching`) on the ``worklist_items`` columns.

The keys of PS3.4 Table K.6-1 that are columns are matched in SQL: Patient's Name (per
component group), Patient ID, Issuer of Patient ID, Patient's Birth Date and Sex, Accession
Number, Requested Procedure ID, Study Instance UID, and inside the Scheduled Procedure Step
Sequence (sequence matching, C.2.2.2.6; each row holds one step) Scheduled Station AE Title,
Scheduled Station Name, Modality, Scheduled Procedure Step ID, Scheduled Performing
Physician's Name and the Start Date and Time. A date range with a time range is one date-time
range (K.6.1.2.2, remark on Scheduled Procedure Step Start Time: "the date range July 5 to
July 7 and the time range 10am to 6pm specifies the time period starting on July 5, 10am until
July 7, 6pm"). Every other key is matched on the stored DICOM JSON (the same engine's Python
predicates). Only the steps in the offered statuses are found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_

from dicomkit.archive.matching import (
    MatchKind,
    Options,
    QueryError,
    check_characters,
    is_empty_value,
    is_universal,
    python_predicate,
    split_range,
    sql_condition,
)
from dicomkit.archive.schema import worklist_items as items
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.core.tag import tag_str

PATIENT_NAME = (items.c.patient_name, items.c.patient_name_ideographic,
                items.c.patient_name_phonetic)
PERFORMING_PHYSICIAN = (items.c.performing_physician,
                        items.c.performing_physician_ideographic,
                        items.c.performing_physician_phonetic)

# Top-level keys with a column: tag -> (column, kind).
COLUMNS: dict[int, tuple[Any, MatchKind]] = {
    0x00100010: (PATIENT_NAME, MatchKind.PERSON_NAME),
    0x00100020: (items.c.patient_id, MatchKind.TEXT),
    0x00100021: (items.c.issuer, MatchKind.TEXT),
    0x00100030: (items.c.birth_date, MatchKind.DATE),
    0x00100040: (items.c.sex, MatchKind.TEXT),
    0x00080050: (items.c.accession_number, MatchKind.TEXT),
    0x00401001: (items.c.requested_procedure_id, MatchKind.TEXT),
    0x0020000D: (items.c.study_uid, MatchKind.UID),
}
# Keys of the Scheduled Procedure Step Sequence item with a column.
STEP_COLUMNS: dict[int, tuple[Any, MatchKind]] = {
    0x00400001: (items.c.station_ae, MatchKind.TEXT),
    0x00400010: (items.c.station_name, MatchKind.TEXT),
    0x00080060: (items.c.modality, MatchKind.TEXT),
    0x00400009: (items.c.sps_id, MatchKind.TEXT),
    0x00400006: (PERFORMING_PHYSICIAN, MatchKind.PERSON_NAME),
}
SPS_SEQUENCE = 0x00400100
START_DATE = 0x00400002
START_TIME = 0x00400003
STATION_AE = 0x00400001
# Never matched (PS3.4 C.2.2.2: they qualify the other keys) and not returned as keys.
NOT_KEYS = {0x00080005, 0x00080052}


@dataclass
class WorklistQuery:
    """An identifier compiled: SQL conditions, predicates on the stored DICOM JSON, and the
    keys to return (the identifier's elements in order)."""

    identifier: Dataset
    where: list[ColumnElement[bool]] = field(default_factory=list)
    post: list[Callable[[dict[str, Any]], bool]] = field(default_factory=list)
    return_tags: list[int] = field(default_factory=list)


def values_of(element: DataElement) -> list[str]:
    """A key's values as text, padding stripped (a PN value as ``A=I=P``)."""
    value = element.value
    listed = value if isinstance(value, list) else [value]
    return ["" if v is None else str(v).strip(" \0") for v in listed] if value is not None \
        else []


def _time(value: str) -> str:
    return value.replace(":", "").strip()


def normalised_time(value: str) -> str:
    """A TM value as ``HHMMSS[.FFFFFF]`` (colons of the old form removed, minutes and seconds
    filled with zeros), so the column compares as text in time order."""
    whole, dot, fraction = _time(value).partition(".")
    return whole.ljust(6, "0") + (dot + fraction if fraction else "")


def datetime_condition(dates: list[str], times: list[str]) -> ColumnElement[bool] | None:
    """Scheduled Procedure Step Start Date and Time as one date-time range when the time key
    is a range and the date key a single date or a range (K.6.1.2.2); else each on its own
    (C.2.2.2.5)."""
    date = dates[0] if len(dates) == 1 else None
    time = times[0] if len(times) == 1 else None
    time_span = split_range(time) if time else None
    if date is None or is_universal(dates) or is_empty_value(dates) or time_span is None:
        conditions = [sql_condition(items.c.start_date, MatchKind.DATE, dates, Options()),
                      sql_condition(items.c.start_time, MatchKind.TIME, times, Options())]
        present = [c for c in conditions if c is not None]
        return and_(*present) if present else None
    date_span = split_range(date) or (date, date)
    date_low, date_high = date_span
    time_low, time_high = _time(time_span[0]), _time(time_span[1])
    date_col, time_col = items.c.start_date, items.c.start_time
    parts: list[ColumnElement[bool]] = [date_col != ""]
    if date_low:
        if time_low:
            parts.append(or_(date_col > date_low, and_(
                date_col == date_low, time_col >= normalised_time(time_low))))
        else:
            parts.append(date_col >= date_low)
    elif time_low:  # an open date range "-B" with "T1-…": no lower bound to combine with
        pass
    if date_high:
        if time_high:
            parts.append(or_(date_col < date_high, and_(
                date_col == date_high, func.substr(time_col, 1, len(time_high)) <= time_high)))
        else:
            parts.append(date_col <= date_high)
    return and_(*parts)


def _station_condition(values: list[str]) -> ColumnElement[bool] | None:
    """Scheduled Station AE Title: a step may name several stations (its column then holds
    a lone ``\\``, see :func:`dicomkit.archive.worklist.columns_of`); SQL selects the rows
    that may match — the title's rows and the multi-station ones, both found in the
    (station_ae, start_date) index — and a predicate on the stored values decides."""
    condition = sql_condition(items.c.station_ae, MatchKind.TEXT, values, Options())
    if condition is None or is_empty_value(values):
        return condition
    return or_(condition, items.c.station_ae == "\\")


def compile_worklist_query(identifier: Dataset, offered: Sequence[str]) -> WorklistQuery:
    """The identifier as conditions on the steps in ``offered`` statuses; raises
    :class:`QueryError` for an identifier the model cannot answer (A900)."""
    options = Options()
    query = WorklistQuery(identifier=identifier)
    query.where.append(items.c.status.in_(list(offered)))
    for element in identifier:
        tag = element.tag
        if tag >> 16 in (0x0000, 0x0002) or tag in NOT_KEYS or tag & 0xFFFF == 0:
            continue
        check_characters(element)
        query.return_tags.append(tag)
        if tag == SPS_SEQUENCE:
            _compile_step(element, query, options)
            continue
        values = values_of(element) if element.VR != "SQ" else []
        column = COLUMNS.get(tag)
        if column is not None:
            condition = sql_condition(column[0], column[1], values, options)
            if condition is not None:
                query.where.append(condition)
            continue
        predicate = python_predicate(tag, element.VR, values, element, options)
        if predicate is not None:
            query.post.append(predicate)
    return query


def _compile_step(element: DataElement, query: WorklistQuery, options: Options) -> None:
    """Sequence matching in the Scheduled Procedure Step Sequence (C.2.2.2.6, K.6.1.2.2)."""
    if element.VR != "SQ":
        raise QueryError(f"{tag_str(SPS_SEQUENCE)} ScheduledProcedureStepSequence must be a "
                         f"sequence (SQ), not {element.VR}")
    steps = element.value or []
    if len(steps) > 1:
        raise QueryError("ScheduledProcedureStepSequence (0040,0100) in an identifier holds a "
                         f"single item (PS3.4 Table K.6-1), not {len(steps)}")
    if not steps:
        return
    step = steps[0]
    rest = Dataset()
    dates: list[str] = []
    times: list[str] = []
    for sub in step:
        tag = sub.tag
        if tag >> 16 in (0x0000, 0x0002) or tag in NOT_KEYS or tag & 0xFFFF == 0:
            continue
        values = values_of(sub) if sub.VR != "SQ" else []
        if tag == START_DATE:
            dates = values
            continue
        if tag == START_TIME:
            times = values
            continue
        column = STEP_COLUMNS.get(tag)
        if column is None:
            rest[tag] = sub
            continue
        if tag == STATION_AE:
            condition = _station_condition(values)
            rest[tag] = sub  # exact matching of several stored titles, on the JSON
        else:
            condition = sql_condition(column[0], column[1], values, options)
        if condition is not None:
            query.where.append(condition)
    condition = datetime_condition(dates, times)
    if condition is not None:
        query.where.append(condition)
    if len(rest):
        holder = Dataset()
        holder.set(SPS_SEQUENCE, [rest], "SQ")
        predicate = python_predicate(SPS_SEQUENCE, "SQ", [], holder[SPS_SEQUENCE], options)
        if predicate is not None:
            query.post.append(predicate)
