"""What the index keeps of an instance: its indexed keys per level and its metadata as DICOM
JSON with bulk data left out (PS3.18 F.2.6), taken once, at ingest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import keyword_for_tag, tag_for_keyword
from dicomkit.encoding.json import PN_GROUPS

BULK_THRESHOLD = 1024  # bytes: binary values longer than this stay in the file only
SPECIFIC_CHARACTER_SET = "00080005"


@cache
def ie_levels() -> dict[str, str]:
    """Keyword -> PATIENT/STUDY/SERIES/INSTANCE (dicom3tools elmdictie, see tools/)."""
    text = resources.files("dicomkit.core").joinpath("data/ie_levels.tsv").read_text("utf-8")
    rows = (line.split("\t") for line in text.splitlines()[1:] if line)
    return {keyword: level for keyword, level in rows}


@lru_cache(maxsize=8192)  # bounded: a file's private tags are the sender's choice
def level_of(tag: int) -> str:
    if tag >> 16 == 0x0020 and tag in (0x0020000D, 0x00200010):
        return "STUDY"
    return ie_levels().get(keyword_for_tag(tag), "INSTANCE")


@lru_cache(maxsize=8192)
def _level_of_key(key: str) -> str:
    """:func:`level_of` of a DICOM JSON key (``"0020000D"``): one cache lookup per element
    of each record instead of a parse and a lookup."""
    return level_of(int(key, 16))


# String VRs whose DICOM JSON values are the decoded values themselves (PS3.18 F.2.3).
_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI", "SH", "LO", "UC", "LT", "ST",
                         "UT", "UR"})


@cache
def _key(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag, f"{tag:08X}"


def _read_from_bytes(ds: Dataset, tag: int) -> bool:
    """True when the element's value is the one decoded from the bytes it was read from (an
    index entry not yet decoded, or an element that keeps its bytes): then its DICOM JSON has
    exactly its values, and the index columns can be taken from there without decoding it
    again. A value set in memory (a date object, a number …) may print otherwise."""
    entry = ds.raw_entry(tag)
    return type(entry) is tuple or getattr(entry, "raw", None) is not None


def _json_entry(ds: Dataset, metadata: dict[str, Any], keyword: str,
                vrs: frozenset[str]) -> dict[str, Any] | None:
    """The element's DICOM JSON object when it can stand for its value (see above)."""
    tag, key = _key(keyword)
    entry = metadata.get(key)
    if isinstance(entry, dict) and entry.get("vr") in vrs and _read_from_bytes(ds, tag):
        return entry
    return None


def _text(ds: Dataset, keyword: str, limit: int = 64,
          metadata: dict[str, Any] | None = None) -> str:
    entry = _json_entry(ds, metadata, keyword, _STRING_VRS) if metadata is not None else None
    if entry is not None:
        values = entry.get("Value")
        if not values:
            return ""
        return "\\".join("" if v is None else str(v) for v in values).strip()[:limit]
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list):
        value = "\\".join("" if v is None else str(v) for v in value)
    return str(value).strip()[:limit]


def _name_groups(ds: Dataset, keyword: str, column: str,
                 metadata: dict[str, Any] | None = None) -> dict[str, str]:
    """A person name's component groups (PS3.5 §6.2.1) as the index columns ``column``
    (alphabetic), ``column_ideographic`` and ``column_phonetic``."""
    entry = _json_entry(ds, metadata, keyword, frozenset({"PN"})) \
        if metadata is not None else None
    if entry is not None:
        values = entry.get("Value")
        first = values[0] if values else None
        groups = ["", "", ""]
        if isinstance(first, dict):  # PS3.18 F.2.2; the third group may hold a further "="
            groups = [str(first.get(name) or "") for name in PN_GROUPS]
            groups[2] = groups[2].split("=")[0]
    else:
        value = ds.get(keyword)
        if isinstance(value, list):
            value = value[0] if value else None
        groups = ("" if value is None else str(value)).split("=")[:3]
        groups += [""] * (3 - len(groups))
    alphabetic, ideographic, phonetic = (group.strip()[:324] for group in groups)
    return {column: alphabetic, f"{column}_ideographic": ideographic,
            f"{column}_phonetic": phonetic}


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass
class InstanceRecord:
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str
    transfer_syntax: str
    path: str
    size: int
    patient: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)
    level_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One stored instance as the index knows it: its key, UIDs, SOP Class, where its file
    is (relative to the archive's files folder), the transfer syntax it is stored in and
    its size in bytes. Retrieval (C-MOVE, C-GET, WADO) works from these without opening the
    file."""

    pk: int
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str
    path: str
    transfer_syntax: str
    size: int


def bulk_uri(path: str, element: Any) -> str:
    return f"bulkdata/{path}"


def record_for(ds: Dataset, path: str, size: int, transfer_syntax: str,
               **twin: Any) -> InstanceRecord:
    """Index keys (PS3.4 C.6.1.1, C.6.2.1 and the extras users ask for) and metadata.
    ``twin``: passed on to :func:`dicomkit.encoding.json.to_json_dict` (tests/native)."""
    from dicomkit.encoding.json import to_json_dict

    metadata = to_json_dict(ds, bulk_data_threshold=BULK_THRESHOLD, bulk_data_uri=bulk_uri,
                            **twin)
    levels: dict[str, dict[str, Any]] = {"PATIENT": {}, "STUDY": {}, "SERIES": {},
                                         "INSTANCE": {}}
    for key, value in metadata.items():
        levels[_level_of_key(key)][key] = value
    charset = metadata.get(SPECIFIC_CHARACTER_SET)
    if charset is not None:
        # Each level's row keeps the character set its own values came in, so an answer at
        # any level can say how its values are to be encoded (PS3.4 C.4.1.1.3.2).
        for level in ("PATIENT", "STUDY", "SERIES"):
            levels[level][SPECIFIC_CHARACTER_SET] = charset
    return InstanceRecord(
        study_uid=_text(ds, "StudyInstanceUID", metadata=metadata),
        series_uid=_text(ds, "SeriesInstanceUID", metadata=metadata),
        sop_uid=_text(ds, "SOPInstanceUID", metadata=metadata),
        sop_class=_text(ds, "SOPClassUID", metadata=metadata),
        transfer_syntax=transfer_syntax,
        path=path,
        size=size,
        patient={
            "patient_id": _text(ds, "PatientID", metadata=metadata),
            "issuer": _text(ds, "IssuerOfPatientID", metadata=metadata),
            **_name_groups(ds, "PatientName", "patient_name", metadata),
            "birth_date": _text(ds, "PatientBirthDate", 8, metadata=metadata),
            "sex": _text(ds, "PatientSex", 16, metadata=metadata),
        },
        study={
            "study_date": _text(ds, "StudyDate", 8, metadata=metadata),
            "study_time": _text(ds, "StudyTime", 16, metadata=metadata),
            "accession_number": _text(ds, "AccessionNumber", 16, metadata=metadata),
            "study_id": _text(ds, "StudyID", 16, metadata=metadata),
            "study_description": _text(ds, "StudyDescription", metadata=metadata),
            **_name_groups(ds, "ReferringPhysicianName", "referring_physician", metadata),
        },
        series={
            "modality": _text(ds, "Modality", 16, metadata=metadata),
            "series_number": _int(ds, "SeriesNumber"),
            "series_description": _text(ds, "SeriesDescription", metadata=metadata),
            "body_part": _text(ds, "BodyPartExamined", 16, metadata=metadata),
            "institution": _text(ds, "InstitutionName", metadata=metadata),
            "station_name": _text(ds, "StationName", 16, metadata=metadata),
            "series_date": _text(ds, "SeriesDate", 8, metadata=metadata),
        },
        instance={"instance_number": _int(ds, "InstanceNumber"),
                  **concept_name_columns(metadata)},
        level_attrs={level: values for level, values in levels.items()},
        metadata=metadata,
    )


CONCEPT_NAME = "0040A043"  # Concept Name Code Sequence


def concept_name_columns(metadata: dict[str, Any]) -> dict[str, str]:
    """``concept_code`` and ``concept_scheme``: the Code Value (0008,0100) and Coding Scheme
    Designator (0008,0102) of the first item of the instance's own (top level) Concept Name
    Code Sequence, from its DICOM JSON; empty when it has none (an image) or the item is not
    well formed. Migration 0006 fills the columns of instances indexed before it the same
    way."""
    entry = metadata.get(CONCEPT_NAME)
    items = entry.get("Value") if isinstance(entry, dict) else None
    item = items[0] if isinstance(items, list) and items else None
    if not isinstance(item, dict):
        return {"concept_code": "", "concept_scheme": ""}

    def first(key: str, limit: int) -> str:
        entry = item.get(key)
        values = entry.get("Value") if isinstance(entry, dict) else None
        value = values[0] if isinstance(values, list) and values else ""
        return str(value or "").strip()[:limit]

    return {"concept_code": first("00080100", 64), "concept_scheme": first("00080102", 16)}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
