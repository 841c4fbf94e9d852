"""QIDO-RS, the Search transaction (PS3.18 §10.6): query parameters made into a C-FIND
identifier for the archive's one matching engine, and the matches as DICOM JSON or XML.

A query ``/studies?PatientName=Doe*&includefield=StudyDescription&limit=10`` becomes the Study
Root identifier (PS3.4 C.6.2.1) ``QueryRetrieveLevel=STUDY, PatientName=Doe*`` plus the result
attributes of Table 10.6.3-3 as universal keys, and goes through
:func:`dicomkit.archive.matching.compile_query` and :meth:`ArchiveIndex.search` exactly as a
C-FIND does, so the two protocols cannot disagree about what matches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dicomkit.archive.index import StoredStudy
from dicomkit.archive.matching import (
    NOT_MATCHABLE,
    CompiledQuery,
    Options,
    QueryError,
    compile_query,
    sort_column,
)
from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, Sequence
from dicomkit.core.tag import tag_str
from dicomkit.core.uid import UID
from dicomkit.native import load
from dicomkit.web.errors import WebError

_compiled: Any = load("dicomkit.web._qido")
#: Whether STUDY level results are spliced from the stored texts (:func:`study_result`, the
#: compiled core); the pure path writes every result with :func:`result_text`.
SPLICES = _compiled is not None

INSTANCE_AVAILABILITY = 0x00080056
RETRIEVE_URL = 0x00081190
SPECIFIC_CHARACTER_SET = 0x00080005

#: PS3.18 Table 10.6.3-3, the Study's result attributes (Study Description added: viewers
#: list studies by it).
STUDY_ATTRIBUTES = (
    0x00080020, 0x00080030, 0x00080050, INSTANCE_AVAILABILITY, 0x00080061, 0x00080090,
    0x00080201, RETRIEVE_URL, 0x00081030, 0x00100010, 0x00100020, 0x00100030, 0x00100040,
    0x0020000D, 0x00200010, 0x00201206, 0x00201208,
)
#: Table 10.6.3-4, the Series' result attributes (Study Instance UID added: it names the study
#: a series of ``/series`` belongs to).
SERIES_ATTRIBUTES = (
    0x00080060, 0x00080201, 0x0008103E, RETRIEVE_URL, 0x0020000D, 0x0020000E, 0x00200011,
    0x00201209, 0x00400244, 0x00400245, 0x00400275,
)
#: Table 10.6.3-5, the Instance's result attributes (Study and Series Instance UID added).
INSTANCE_ATTRIBUTES = (
    0x00080016, 0x00080018, INSTANCE_AVAILABILITY, 0x00080201, RETRIEVE_URL, 0x0020000D,
    0x0020000E, 0x00200013, 0x00280010, 0x00280011, 0x00280100, 0x00280008,
)
#: Returned when the archive holds them, left out otherwise ("if present").
ONLY_IF_PRESENT = frozenset({0x00080201, 0x00400244, 0x00400245, 0x00400275})
#: Attributes we compute instead of reading them from the index.
COMPUTED_HERE = frozenset({INSTANCE_AVAILABILITY, RETRIEVE_URL})
RESERVED = frozenset({"limit", "offset", "fuzzymatching", "includefield", "accept",
                      "charset", "orderby"})

#: resource -> (Q/R level, extra default attribute tables) per §10.6.3.3: searching series of
#: all studies also returns the study's attributes, instances of all studies both.
RESOURCES: dict[str, tuple[str, tuple[tuple[int, ...], ...]]] = {
    "studies": ("STUDY", (STUDY_ATTRIBUTES,)),
    "study-series": ("SERIES", (SERIES_ATTRIBUTES,)),
    "series": ("SERIES", (SERIES_ATTRIBUTES, STUDY_ATTRIBUTES)),
    "study-instances": ("IMAGE", (INSTANCE_ATTRIBUTES, SERIES_ATTRIBUTES)),
    "study-series-instances": ("IMAGE", (INSTANCE_ATTRIBUTES,)),
    "instances": ("IMAGE", (INSTANCE_ATTRIBUTES, SERIES_ATTRIBUTES, STUDY_ATTRIBUTES)),
}


@dataclass
class Search:
    """A QIDO-RS request made ready for the archive."""

    level: str
    identifier: Dataset
    query: CompiledQuery
    output: list[int]
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    warnings: list[str] = field(default_factory=list)


def check_uid(text: str, what: str) -> str:
    """A UID from a URL path: PS3.5 section 9.1 syntax, else 400."""
    if not UID(text).is_valid:
        raise WebError(400, f"{what} {text[:80]!r} is not a valid UID (PS3.5 section 9.1)")
    return text


def attribute_path(key: str) -> list[int]:
    """``PatientName``, ``00100010`` or ``ReferencedStudySequence.ReferencedSOPInstanceUID``
    (PS3.18 §8.3.4.1: keywords or tags, sequences joined by ``.``) as a list of tags."""
    tags = []
    for part in key.split("."):
        text = part.strip()
        tag: int | None = None
        if len(text) == 8 and all(c in "0123456789abcdefABCDEF" for c in text):
            tag = int(text, 16)
        else:
            tag = dictionary.tag_for_keyword(text)
        if tag is None:
            raise WebError(400, f"query key {key!r}: {text!r} is neither a DICOM keyword nor a "
                           "tag of eight hex digits")
        tags.append(tag)
    return tags


def vr_of(tag: int) -> str:
    """The dictionary VR of ``tag``, the first of an ambiguous one (UN when unknown)."""
    entry = dictionary.entry(tag)
    vr = entry.vr if entry is not None and entry.vr else "UN"
    return vr.split(" or ")[0] if " or " in vr else vr


def boolean_parameter(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise WebError(400, f"{name}={value!r}: expected true or false")


def count_parameter(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise WebError(400, f"{name}={value!r} is not a whole number") from None
    if number < 0:
        raise WebError(400, f"{name}={value!r} must not be negative")
    return number


def set_matching(identifier: Dataset, tags: list[int], value: str) -> None:
    """Put one matching key (a query parameter, PS3.18 §8.3.4.1) in the identifier; a sequence
    path goes into its single item (PS3.4 C.2.2.2.6). Also used by the worklist API."""
    target = identifier
    for tag in tags[:-1]:
        if vr_of(tag) != "SQ":
            raise WebError(400, f"{tag_str(tag)} is not a sequence, so nothing can be matched "
                           "inside it")
        if tag not in target or not target[tag].value:
            target[tag] = DataElement(tag, "SQ", Sequence([Dataset()]))
        target = target[tag].value[0]
    tag = tags[-1]
    vr = vr_of(tag)
    if vr == "SQ":
        if value:
            raise WebError(400, f"{tag_str(tag)} is a sequence: match on its attributes "
                           "(Sequence.Keyword=value)")
        target.set(tag, [], "SQ")
        return
    if vr == "UI":  # §8.3.4.1: a list of UIDs may be separated by commas
        value = value.replace(",", "\\")
    if tag in target and target[tag].value not in (None, ""):
        value = f"{target[tag].value}\\{value}"  # a repeated key: any of the values matches
    target[tag] = DataElement(tag, vr, value)


def order_parameter(value: str, level: str) -> list[tuple[Any, bool]]:
    """``orderby=StudyDate,-PatientName`` (as dcm4chee-arc's QIDO-RS: a keyword or tag, a
    leading ``-`` for descending): the sort columns, or 400 naming what cannot be sorted by.
    Matches are then in that order, ties in ingest order; without it, in ingest order."""
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        descending = item.startswith("-")
        tags = attribute_path(item.lstrip("-+"))
        column = sort_column(tags[0], level) if len(tags) == 1 else None
        if column is None:
            raise WebError(400, f"orderby {item!r}: results of this level cannot be sorted "
                           "by it (an attribute the index keeps a column for, at this level "
                           "or above: e.g. PatientName, PatientID, StudyDate, "
                           "AccessionNumber, StudyDescription, SeriesNumber)")
        out.append((column, descending))
    return out


def build_search(resource: str, fixed: dict[int, str], params: list[tuple[str, str]],
                 max_results: int) -> Search:
    """Query parameters (PS3.18 §8.3.4) → a compiled Study Root query."""
    level, tables = RESOURCES[resource]
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    for tag, uid in fixed.items():
        identifier[tag] = DataElement(tag, "UI", uid)
    include: list[int] = []
    include_all = False
    fuzzy = False
    limit: int | None = None
    offset = 0
    order: list[tuple[Any, bool]] = []
    warnings: list[str] = []
    for name, value in params:
        lowered = name.lower()
        if lowered == "includefield":
            for item in value.split(","):
                item = item.strip()
                if item.lower() == "all":
                    include_all = True
                elif item:
                    include.append(attribute_path(item)[0])
        elif lowered == "fuzzymatching":
            fuzzy = boolean_parameter(name, value)
        elif lowered == "limit":
            limit = count_parameter(name, value)
        elif lowered == "offset":
            offset = count_parameter(name, value)
        elif lowered == "orderby":
            order += order_parameter(value, level)
        elif lowered in RESERVED:
            continue
        else:
            tags = attribute_path(name)
            if tags[0] in fixed and len(tags) == 1:
                if value and value not in fixed[tags[0]].split("\\"):
                    raise WebError(400, f"{name}={value!r} contradicts the UID in the path")
                continue
            if tags[0] in NOT_MATCHABLE and tags[0] not in (0x00080201,):
                raise WebError(400, f"{name} ({tag_str(tags[0])}) is not a matching key "
                               "(PS3.4 C.6.2.1)")
            set_matching(identifier, tags, value)
    defaults = [tag for table in tables for tag in table]
    for tag in defaults + include:
        if tag not in identifier and tag not in COMPUTED_HERE:
            identifier.set(tag, None, "SQ" if vr_of(tag) == "SQ" else vr_of(tag))
    try:
        query = compile_query(identifier, "study", Options(fuzzy=fuzzy))
    except QueryError as exc:
        raise WebError(400, f"the query cannot be answered: {exc}") from exc
    query.order = order
    output = sorted(set(query.return_tags) | set(defaults) | set(include)
                    | {tag for tag in identifier.tags() if tag != 0x00080052})
    if limit is not None and limit > max_results:
        warnings.append(f"limit {limit} is above this server's maximum of {max_results}")
    return Search(level, identifier, query, output, include_all,
                  min(limit, max_results) if limit is not None else max_results, offset,
                  warnings)


# -- results -----------------------------------------------------------------------------------
def _first(attrs: dict[str, Any], tag: int) -> str:
    values = (attrs.get(f"{tag:08X}") or {}).get("Value") or [""]
    return str(values[0] or "")


def retrieve_url(base: str, level: str, attrs: dict[str, Any]) -> str:
    url = f"{base}/studies/{_first(attrs, 0x0020000D)}"
    if level in ("SERIES", "IMAGE"):
        url += f"/series/{_first(attrs, 0x0020000E)}"
    if level == "IMAGE":
        url += f"/instances/{_first(attrs, 0x00080018)}"
    return url


def result(search: Search, attrs: dict[str, Any], base: str) -> dict[str, Any]:
    """One match as a DICOM JSON object (PS3.18 F.2) with the result attributes."""
    out: dict[str, Any] = {}
    if search.include_all:
        out.update(attrs)
    for tag in search.output:
        key = f"{tag:08X}"
        if tag == INSTANCE_AVAILABILITY:
            out[key] = {"vr": "CS", "Value": ["ONLINE"]}
        elif tag == RETRIEVE_URL:
            out[key] = {"vr": "UR", "Value": [retrieve_url(base, search.level, attrs)]}
        elif key in attrs:
            out[key] = attrs[key]
        elif tag not in ONLY_IF_PRESENT:
            vr = search.identifier[tag].VR if tag in search.identifier else vr_of(tag)
            out[key] = {"vr": vr}
    out.pop(f"{SPECIFIC_CHARACTER_SET:08X}", None)  # JSON text is Unicode already
    if search.level != "IMAGE":
        # Bulk data of a study or series attribute belongs to one of its instances; its
        # reference cannot be resolved from here.
        for key in [k for k, v in out.items() if isinstance(v, dict) and "BulkDataURI" in v]:
            out[key] = {"vr": out[key].get("vr", "UN")}
    return dict(sorted(out.items()))


def result_text(search: Search, attrs: dict[str, Any], base: str) -> str:
    text = json.dumps(result(search, attrs, base), separators=(",", ":"), ensure_ascii=False)
    if search.level == "IMAGE":
        text = absolute_bulk_uris(text, retrieve_url(base, "IMAGE", attrs))
    return text


@dataclass(frozen=True)
class TextPlan:
    """What every STUDY level result of one search holds, for results spliced from the
    stored texts (:func:`study_result`): ``includefield=all``, and per output attribute in
    order (key, kind, payload): 0 a stored attribute (payload: its text when absent, None
    when it is left out then), 1 a fixed text (Instance Availability), 2 the Retrieve URL
    (payload: the URL up to the Study Instance UID)."""

    include_all: bool
    entries: tuple[tuple[bytes, int, Any], ...]


def text_plan(search: Search, base: str) -> TextPlan | None:
    """The :class:`TextPlan` of a search whose results can be spliced (STUDY level, no key
    matched in Python), else None: :func:`result_text` writes them."""
    if search.level != "STUDY" or search.query.post:
        return None
    entries: list[tuple[bytes, int, Any]] = []
    for tag in search.output:
        key = f"{tag:08X}".encode("ascii")
        if tag == INSTANCE_AVAILABILITY:
            entries.append((key, 1, b'{"vr":"CS","Value":["ONLINE"]}'))
        elif tag == RETRIEVE_URL:
            entries.append((key, 2, f"{base}/studies/"))
        elif tag in ONLY_IF_PRESENT:
            entries.append((key, 0, None))
        else:
            vr = search.identifier[tag].VR if tag in search.identifier else vr_of(tag)
            entries.append((key, 0, json.dumps({"vr": vr}, separators=(",", ":"),
                                               ensure_ascii=False).encode("utf-8")))
    return TextPlan(search.include_all, tuple(entries))


def study_result(plan: TextPlan, stored: StoredStudy) -> bytes | None:
    """A STUDY level match as :func:`result_text` writes it (UTF-8), spliced from its stored
    texts by the compiled core (``web/_qido.pyx``) with no JSON decoded; None when the
    general route must write it (text not as the index writes it, bulk data, a Study
    Instance UID that is not the row's)."""
    if _compiled is None:
        return None
    result_bytes: bytes | None = _compiled.study_json(
        plan, stored.study_uid, stored.patient, stored.study, stored.modalities,
        stored.sop_classes, stored.count_tags, stored.counts)
    return result_bytes


def absolute_bulk_uris(text: str, instance_url: str) -> str:
    """The index keeps ``"BulkDataURI":"bulkdata/<tag path>"`` (compact JSON); the reference
    becomes ``<instance URL>/bulkdata/<tag path>``. The pattern can only be a key and its
    value: a quote inside a JSON string value is always escaped."""
    prefix = json.dumps(instance_url + "/bulkdata/")[1:-1]
    return text.replace('"BulkDataURI":"bulkdata/', f'"BulkDataURI":"{prefix}')
