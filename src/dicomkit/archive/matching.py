"""PS3.4 C.2.2.2: attribute matching, compiled once to SQL (indexed keys) and to Python
predicates (everything else), so C-FIND and QIDO-RS share one engine.

Kinds of matching: single value, list of UIDs (C.2.2.2.2), universal (empty value or ``*``,
C.2.2.2.3), wildcard ``*``/``?`` (C.2.2.2.4), range for DA/TM/DT (C.2.2.2.5) including open
ranges, sequence matching (C.2.2.2.6), and the options case-insensitive / fuzzy person-name
matching (C.2.2.2.1 notes).

Person names are matched per component group (PS3.5 §6.2.1: alphabetic, ideographic,
phonetic, delimited by ``=``; PS3.4 C.2.2.2.1 and the C.2.2.2.4 note on multi-component group
names): a key of one group (``Yamada*``) is matched against the stored alphabetic group; a key
with ``=`` (``=山田*``, ``Yamada*=山田*``, ``==やまだ*``) against each group it gives, its
empty or ``*`` groups being universal. With fuzzy semantic matching a one-group key matches
any of the stored groups. The index keeps each group in its own column, so SQL does the same.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_

from dicomkit.archive.records import ie_levels
from dicomkit.archive.schema import instances, patients, series, studies
from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import keyword_for_tag
from dicomkit.core.element import DataElement
from dicomkit.core.tag import tag_str
from dicomkit.core.vr import VR_INFO, forbidden_control

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
LEVEL_TABLE = {"PATIENT": patients, "STUDY": studies, "SERIES": series, "IMAGE": instances}
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}

# Person Name columns: one per component group (alphabetic, ideographic, phonetic).
PATIENT_NAME_GROUPS = (patients.c.patient_name, patients.c.patient_name_ideographic,
                       patients.c.patient_name_phonetic)
REFERRING_PHYSICIAN_GROUPS = (studies.c.referring_physician,
                              studies.c.referring_physician_ideographic,
                              studies.c.referring_physician_phonetic)


class MatchKind(enum.Enum):
    """How an indexed key's column is matched (PS3.4 C.2.2.2)."""

    UID = "UI"  # single value or list of UIDs (C.2.2.2.2)
    TEXT = "STR"  # single value, wild card (C.2.2.2.1, C.2.2.2.4)
    PERSON_NAME = "PN"  # per component group, one column each (PS3.5 §6.2.1)
    DATE = "DA"  # single value or range (C.2.2.2.5)
    TIME = "TM"  # prefix or range, the upper bound's last unit included (C.2.2.2.5)
    INTEGER = "INT"  # single value, compared as a number
    VALUE_LIST = "MULTI"  # "\CT\MR\": any listed value matches (C.6.1.1.3.1 note)


# tag -> (level, column, matching kind); a PN key names the tuple of its group columns.
COLUMNS: dict[int, tuple[str, Any, MatchKind]] = {
    0x00100010: ("PATIENT", PATIENT_NAME_GROUPS, MatchKind.PERSON_NAME),
    0x00100020: ("PATIENT", patients.c.patient_id, MatchKind.TEXT),
    0x00100021: ("PATIENT", patients.c.issuer, MatchKind.TEXT),
    0x00100030: ("PATIENT", patients.c.birth_date, MatchKind.DATE),
    0x00100040: ("PATIENT", patients.c.sex, MatchKind.TEXT),
    0x0020000D: ("STUDY", studies.c.study_uid, MatchKind.UID),
    0x00080020: ("STUDY", studies.c.study_date, MatchKind.DATE),
    0x00080030: ("STUDY", studies.c.study_time, MatchKind.TIME),
    0x00080050: ("STUDY", studies.c.accession_number, MatchKind.TEXT),
    0x00200010: ("STUDY", studies.c.study_id, MatchKind.TEXT),
    0x00081030: ("STUDY", studies.c.study_description, MatchKind.TEXT),
    0x00080090: ("STUDY", REFERRING_PHYSICIAN_GROUPS, MatchKind.PERSON_NAME),
    0x00080061: ("STUDY", studies.c.modalities, MatchKind.VALUE_LIST),
    0x00080062: ("STUDY", studies.c.sop_classes, MatchKind.VALUE_LIST),
    0x0020000E: ("SERIES", series.c.series_uid, MatchKind.UID),
    0x00080060: ("SERIES", series.c.modality, MatchKind.TEXT),
    0x00200011: ("SERIES", series.c.series_number, MatchKind.INTEGER),
    0x0008103E: ("SERIES", series.c.series_description, MatchKind.TEXT),
    0x00180015: ("SERIES", series.c.body_part, MatchKind.TEXT),
    0x00080080: ("SERIES", series.c.institution, MatchKind.TEXT),
    0x00081010: ("SERIES", series.c.station_name, MatchKind.TEXT),
    0x00080021: ("SERIES", series.c.series_date, MatchKind.DATE),
    0x00080018: ("IMAGE", instances.c.sop_uid, MatchKind.UID),
    0x00080016: ("IMAGE", instances.c.sop_class, MatchKind.UID),
    0x00200013: ("IMAGE", instances.c.instance_number, MatchKind.INTEGER),
}
# (sequence tag, item key tag) -> (column, matching kind): keys inside a sequence that the
# index keeps a column for, matched in SQL to narrow the rows before the sequence's Python
# predicate (C.2.2.2.6) decides. The document's Concept Name Code Sequence (0040,A043) has one
# item (PS3.3 C.17.3, Type 1, a single item), so its columns hold exactly what the item
# holds; an optional Composite Object Instance level key (PS3.4 Table C.6-4).
SEQUENCE_COLUMNS: dict[tuple[int, int], tuple[Any, MatchKind]] = {
    (0x0040A043, 0x00080100): (instances.c.concept_code, MatchKind.TEXT),
    (0x0040A043, 0x00080102): (instances.c.concept_scheme, MatchKind.TEXT),
}


def sort_column(tag: int, level: str) -> Any:
    """The index column that orders matches at ``level`` by attribute ``tag`` (a result
    ordering, which PS3.4 and PS3.18 leave to the SCP; dcm4chee-arc's QIDO-RS ``orderby``):
    a key of that level or above that the index keeps a column for; a person name by its
    alphabetic group. None when there is none."""
    entry = COLUMNS.get(tag)
    if entry is None or LEVEL_RANK[entry[0]] > LEVEL_RANK[level]:
        return None
    column = entry[1]
    return column[0] if isinstance(column, tuple) else column
UNIQUE_KEYS = {"PATIENT": 0x00100020, "STUDY": 0x0020000D, "SERIES": 0x0020000E,
               "IMAGE": 0x00080018}
COMPUTED = {
    0x00201200, 0x00201202, 0x00201204,  # Number of Patient Related Studies/Series/Instances
    0x00201206, 0x00201208,  # Number of Study Related Series/Instances
    0x00201209,  # Number of Series Related Instances
}
# Specific Character Set and Timezone Offset From UTC qualify the other keys, they are never
# matched (C.2.2.2, C.2.2.2.5); the others are level, location and request attributes.
NOT_MATCHABLE = {0x00080005, 0x00080201, 0x00080052, 0x00080054, 0x00080056,
                 0x00400275} | COMPUTED
# Never matched, but returned when requested, at any level (PS3.4 C.4.1.1.3.2, the response
# identifier's conditional attributes): Retrieve AE Title and Instance Availability are the
# archive's own (ONLINE, PS3.3 C.4.23.1.1), filled in by the SCP; Timezone Offset From UTC is
# the stored value, zero length when there is none.
RETURNED_NOT_MATCHED = {0x00080054, 0x00080056, 0x00080201}


class QueryError(ValueError):
    """An identifier the model cannot answer (maps to status A900/C000)."""


@dataclass
class Options:
    case_insensitive_pn: bool = False  # PS3.4 C.2.2.2.1 note: an SCP may match PN this way
    fuzzy: bool = False  # fuzzy semantic matching of person names (C.2.2.2.1)


@dataclass
class CompiledQuery:
    level: str
    where: list[ColumnElement[bool]] = field(default_factory=list)
    post: list[Callable[[dict[str, Any]], bool]] = field(default_factory=list)
    return_tags: list[int] = field(default_factory=list)
    identifier: Dataset | None = None
    #: (column, descending) to sort the matches by before the key (ingest order) breaks
    #: ties; empty: ingest order. See :func:`sort_column`.
    order: list[tuple[Any, bool]] = field(default_factory=list)


def _values(element: DataElement) -> list[str]:
    raw = element.raw
    if raw is not None and element.VR not in ("SQ",):
        text = bytes(raw).decode("latin-1") if element.VR not in ("PN", "LO", "SH", "LT",
                                                                    "ST", "UC", "UT") \
            else "\\".join(str(v) for v in _listed(element.value))
    else:
        text = "\\".join("" if v is None else str(v) for v in _listed(element.value))
    return [v.strip(" \0") for v in text.split("\\")]


def check_characters(element: DataElement) -> None:
    """A key whose value holds a control character its VR does not allow (PS3.5 §6.1.2,
    Table 6.2-1: none in most VRs, ESC only for ISO 2022 code extensions, TAB/LF/FF/CR only in
    LT, ST and UT; an ESC that starts no ISO 2022 escape sequence, or any ESC in text already
    decoded, as QIDO-RS parameters are) is refused with :class:`QueryError` naming the
    attribute, never matched: a NUL must not turn into universal matching when padding is
    stripped (C.2.2.2.3). Received bytes keep the one trailing NUL that pads a value to even
    length (§6.2); a sequence's items are checked the same way (C.2.2.2.6). C-FIND and QIDO-RS
    both reach this through :func:`compile_query`."""
    vr = element.VR
    if vr == "SQ":
        for item in element.value or []:
            for sub in item:
                check_characters(sub)
        return
    info = VR_INFO.get(vr)
    if info is None or info.fixed_size or info.kind in ("bytes", "sq", "at"):
        return  # binary values: any byte is allowed
    raw = element.raw
    if raw is not None:
        text = bytes(raw).decode("latin-1")
        if len(text) % 2 == 0 and text.endswith("\0"):
            text = text[:-1]
    else:
        text = "\\".join("" if v is None else str(v) for v in _listed(element.value))
    index = forbidden_control(vr, text, encoded=raw is not None)
    if index is not None:
        keyword = keyword_for_tag(element.tag) or "private attribute"
        raise QueryError(f"{tag_str(element.tag)} {keyword}: control character "
                         f"{ord(text[index]):02X}H at position {index + 1} is not allowed in "
                         f"a {vr} value (PS3.5 §6.1.2, Table 6.2-1)")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def is_universal(values: list[str]) -> bool:
    """C.2.2.2.3: zero length, or (as many peers send) a lone ``*``."""
    return not values or all(v == "" for v in values) or values == ["*"]


EMPTY_VALUE = '""'


def is_empty_value(values: list[str]) -> bool:
    """Empty Value Matching (PS3.4 C.2.2.2, the special QUOTATION MARK character): a key of two
    QUOTATION MARKs selects the entities whose attribute is zero length or absent."""
    return values == [EMPTY_VALUE]


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE if ignore_case else 0)


def split_range(value: str) -> tuple[str, str] | None:
    """A range matching value (PS3.4 C.2.2.2.5) as its two ends, stripped (either may be
    empty: an open end); None when the value is no range."""
    if "-" not in value:
        return None
    low, _, high = value.partition("-")
    return low.strip(), high.strip()


def _normalise_time(value: str) -> str:
    return value.replace(":", "")


PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def pn_key_groups(value: str, fuzzy: bool = False) -> list[tuple[int, str]]:
    """The component groups a PN key constrains, as (group index, pattern): PS3.5 §6.2.1
    groups in the order alphabetic, ideographic, phonetic. A key without ``=`` is the
    alphabetic group; the empty and ``*`` groups of a key with ``=`` are universal. With
    ``fuzzy`` each pattern matches by its beginning (a ``*`` is added unless it has one)."""
    parts = value.split("=")[:3]
    groups = [(0, parts[0])] if len(parts) == 1 else [
        (index, part) for index, part in enumerate(parts) if part not in ("", "*")]
    if fuzzy:
        groups = [(i, p if "*" in p or "?" in p else p + "*") for i, p in groups]
    return groups


def pn_stored_groups(value: Any) -> tuple[str, str, str]:
    """A stored person name (DICOM JSON ``{"Alphabetic": …}`` or ``A=I=P`` text) as its three
    component groups."""
    if isinstance(value, dict):
        return (str(value.get("Alphabetic") or ""), str(value.get("Ideographic") or ""),
                str(value.get("Phonetic") or ""))
    parts = ("" if value is None else str(value)).split("=")
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def _text_condition(column: Any, value: str, ignore_case: bool) -> ColumnElement[bool]:
    """Single value (C.2.2.2.1) or wild card (C.2.2.2.4) matching of one text column."""
    target = func.upper(column) if ignore_case else column
    needle = value.upper() if ignore_case else value
    if "*" in needle or "?" in needle:
        return target.like(_like(needle), escape="\\")
    return target == needle


def _pn_condition(groups: tuple[Any, ...], value: str,
                  options: Options) -> ColumnElement[bool] | None:
    """One PN key value against the group columns (see the module docstring)."""
    ignore_case = options.case_insensitive_pn or options.fuzzy
    wanted = pn_key_groups(value, options.fuzzy)
    if not wanted:
        return None
    if options.fuzzy and "=" not in value:  # semantic: the name in any of its groups
        return or_(*[_text_condition(column, wanted[0][1], ignore_case) for column in groups])
    return and_(*[_text_condition(groups[index], pattern, ignore_case)
                  for index, pattern in wanted])


def sql_condition(column: Any, kind: MatchKind, values: list[str],
                  options: Options) -> ColumnElement[bool] | None:
    """One key -> a SQL condition (None when it matches everything)."""
    if is_universal(values):
        return None
    if is_empty_value(values):
        if kind == MatchKind.INTEGER:
            return column.is_(None)
        if kind == MatchKind.PERSON_NAME:  # zero length: no group holds anything
            return and_(*[or_(group == "", group.is_(None)) for group in column])
        return or_(column == "", column.is_(None))
    if kind == MatchKind.UID:
        uids = [v for v in values if v]
        return column.in_(uids) if len(uids) > 1 else column == uids[0]
    if kind == MatchKind.VALUE_LIST:  # stored as "\CT\MR\": any listed value matches (C.6.1.1.3.1 note)
        return or_(*[column.like(f"%\\\\{_like(v)}\\\\%", escape="\\") for v in values if v])
    value = values[0] if len(values) == 1 else None
    if value is None:  # several values for a non-UID key: match any of them
        conditions = [sql_condition(column, kind, [v], options) for v in values]
        return or_(*[c for c in conditions if c is not None])
    if kind in (MatchKind.DATE, MatchKind.TIME):
        if kind == MatchKind.TIME:
            value = _normalise_time(value)
        span = split_range(value)
        if span is not None:
            low, high = span
            # C.2.2.1.2: an unknown (zero length) value fails to match any matching key, so
            # an open range "-B" must not select the entities without a date or time.
            parts = [column != ""]
            if low:
                parts.append(column >= low)
            if high:
                # TM ranges include the whole of the upper bound's last unit (C.2.2.2.5),
                # compared on a prefix so no collation-dependent sentinel is needed.
                parts.append((func.substr(column, 1, len(high)) if kind == MatchKind.TIME else column)
                             <= high)
            return and_(*parts) if low or high else None
        if kind == MatchKind.TIME:
            return column.like(value + "%")
        return column == value
    if kind == MatchKind.INTEGER:
        try:
            return column == int(value)
        except ValueError:
            raise QueryError(f"{value!r} is not an integer") from None
    if kind == MatchKind.PERSON_NAME:
        return _pn_condition(tuple(column), value, options)
    return _text_condition(column, value, False)


def python_predicate(tag: int, vr: str, values: list[str], element: DataElement,
                     options: Options) -> Callable[[dict[str, Any]], bool] | None:
    """A key with no column: matched against the stored DICOM JSON attributes."""
    key = f"{tag:08X}"
    if vr == "SQ":
        items = element.value or []
        if not items or len(items[0]) == 0:
            return None
        item_preds = []
        for sub in items[0]:
            if sub.tag in NOT_MATCHABLE:
                continue
            sub_values = _values(sub) if sub.VR != "SQ" else []
            pred = python_predicate(sub.tag, sub.VR, sub_values, sub, options)
            if pred is not None:
                item_preds.append(pred)
        if not item_preds:
            return None

        def seq_match(attrs: dict[str, Any]) -> bool:
            found = attrs.get(key, {}).get("Value") or []
            return any(all(p(item) for p in item_preds) for item in found if isinstance(item,
                                                                                      dict))
        return seq_match
    if is_universal(values):
        return None
    if is_empty_value(values):
        def empty(attrs: dict[str, Any]) -> bool:
            return all(v in ("", None) for v in (attrs.get(key) or {}).get("Value") or [])
        return empty
    if vr == "PN":
        return _pn_predicate(key, values, options)

    def stored(attrs: dict[str, Any]) -> list[str]:
        entry = attrs.get(key)
        if not entry:
            return []
        return ["" if item is None else str(item) for item in entry.get("Value") or []]

    def one(candidate: str, wanted: str) -> bool:
        if vr in ("DA", "TM", "DT"):
            span = split_range(wanted)
            if span is not None:
                low, high = span
                if vr == "TM":
                    candidate, low, high = (_normalise_time(candidate), _normalise_time(low),
                                            _normalise_time(high))
                # C.2.2.1.2: a zero length value fails to match.
                return bool(candidate) and (not low or candidate >= low) and (
                    not high or candidate[:len(high)] <= high)
        return _text_matches(candidate, wanted, False)

    def match(attrs: dict[str, Any]) -> bool:
        have = stored(attrs)
        return any(one(c, w) for c in have for w in values if w != "") if have else False

    return match


def _text_matches(candidate: str, pattern: str, ignore_case: bool) -> bool:
    if "*" in pattern or "?" in pattern:
        return bool(_wildcard_regex(pattern, ignore_case).match(candidate))
    if ignore_case:
        return candidate.upper() == pattern.upper()
    return candidate == pattern


def _pn_predicate(key: str, values: list[str],
                  options: Options) -> Callable[[dict[str, Any]], bool]:
    """The Python form of :func:`_pn_condition`, on DICOM JSON person names."""
    ignore_case = options.case_insensitive_pn or options.fuzzy
    keys = [(pn_key_groups(value, options.fuzzy), options.fuzzy and "=" not in value)
            for value in values if value != ""]

    def one(stored: tuple[str, str, str], wanted: list[tuple[int, str]], anywhere: bool
            ) -> bool:
        if anywhere:
            return any(_text_matches(group, wanted[0][1], ignore_case) for group in stored)
        return all(_text_matches(stored[index], pattern, ignore_case)
                   for index, pattern in wanted)

    def match(attrs: dict[str, Any]) -> bool:
        items = ((attrs.get(key) or {}).get("Value")) or []
        names = [pn_stored_groups(item) for item in items]
        return any(one(name, wanted, anywhere) for name in names
                   for wanted, anywhere in keys)

    return match


def _information_entity(tag: int) -> str | None:
    """The Query/Retrieve level of a key without a column, when the IE dictionary knows it."""
    level = ie_levels().get(keyword_for_tag(tag))
    return "IMAGE" if level == "INSTANCE" else level


def _is_matching_key(element: DataElement, values: list[str]) -> bool:
    """A key that selects (not a universal one): C.2.2.2.3, C.2.2.2.6 (an empty item)."""
    if element.VR == "SQ":
        items = element.value or []
        return bool(items) and len(items[0]) > 0
    return not is_universal(values)


def compile_query(identifier: Dataset, model: str = "study",
                  options: Options | None = None) -> CompiledQuery:
    """Turn a C-FIND identifier (or a QIDO-RS query made into one) into SQL and predicates."""
    options = options or Options()
    level_value = str(identifier.get("QueryRetrieveLevel") or "").strip().upper()
    if level_value not in LEVELS:
        raise QueryError(f"Query/Retrieve Level (0008,0052) {level_value!r} is not one of "
                         f"{', '.join(LEVELS)}")
    if model == "study" and level_value == "PATIENT":
        raise QueryError("the Study Root model has no PATIENT level")
    query = CompiledQuery(level=level_value, identifier=identifier)
    for element in identifier:
        tag = element.tag
        check_characters(element)
        if tag >> 16 in (0x0000, 0x0002) or tag in NOT_MATCHABLE or tag & 0xFFFF == 0:
            if tag in COMPUTED or tag in RETURNED_NOT_MATCHED:
                query.return_tags.append(tag)
            continue
        query.return_tags.append(tag)
        column = COLUMNS.get(tag)
        values = _values(element) if element.VR != "SQ" else []
        if column is not None:
            level, col, kind = column
            if LEVEL_RANK[level] > LEVEL_RANK[level_value] and not is_universal(values):
                # C.4.1.2.1: keys below the query level are not allowed in a hierarchical query
                raise QueryError(f"key {tag_str(tag)} is below the {level_value} level")
            condition = sql_condition(col, kind, values, options)
            if condition is not None:
                query.where.append(condition)
        else:
            entity = _information_entity(tag)
            if (entity is not None and LEVEL_RANK[entity] > LEVEL_RANK[level_value]
                    and _is_matching_key(element, values)):
                raise QueryError(f"key {tag_str(tag)} is below the {level_value} level")
            query.where.extend(_sequence_conditions(element, options))
            predicate = python_predicate(tag, element.VR, values, element, options)
            if predicate is not None:
                query.post.append(predicate)
    return query


def _sequence_conditions(element: DataElement, options: Options) -> list[ColumnElement[bool]]:
    """SQL conditions for the keys of a sequence's item that :data:`SEQUENCE_COLUMNS` has a
    column for (C.2.2.2.6 applied to the one-item sequences the index keeps), [] for any
    other key. They only narrow: the sequence's Python predicate still matches the item."""
    if element.VR != "SQ" or not element.value:
        return []
    conditions = []
    for sub in element.value[0]:
        column = SEQUENCE_COLUMNS.get((element.tag, sub.tag))
        if column is None or sub.VR == "SQ":
            continue
        condition = sql_condition(column[0], column[1], _values(sub), options)
        if condition is not None:
            conditions.append(condition)
    return conditions
