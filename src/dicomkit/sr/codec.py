"""Content tree <-> data set: the SR Document Content Module (PS3.3 C.17.3, Table C.17-6 the
Document Relationship and Document Content macros) and the value attributes of C.18.

:func:`encode_content` writes a tree into a data set (the root's attributes at the top level,
its children as nested Content Sequence items); :func:`decode_content` reads it back, with
by-reference relationships (Referenced Content Item Identifier, C.17.3.2.4) resolved to the
items they name. Reading malformed content raises :class:`SRError` naming the item path.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from dicomkit.core.dataset import Dataset
from dicomkit.core.element import Sequence
from dicomkit.core.values import (
    PersonName,
    format_da,
    format_ds,
    format_dt,
    format_tm,
    parse_da,
    parse_dt,
    parse_tm,
)
from dicomkit.errors import DicomError
from dicomkit.iod.codes import Code, CodeError
from dicomkit.sr.content import (
    ContentItem,
    NumericValue,
    Reference,
    Scoord,
    Scoord3D,
    Tcoord,
    paths,
)
from dicomkit.sr.errors import SRError

DS_LENGTH = 16
MAX_DEPTH = 256
"""Nesting deeper than this is refused when reading (no SR template comes near it)."""
MAX_ITEMS = 5_000_000


# -- writing -----------------------------------------------------------------------------------
def encode_content(root: ContentItem, into: Dataset) -> None:
    """Write the tree rooted at ``root`` into ``into`` (the SR Document Content Module).
    ``into`` should already carry its Specific Character Set: nested items inherit it."""
    where = paths(root)
    _encode_item(root, into, where, "1")


def _encode_item(item: ContentItem, ds: Dataset, where: dict[int, str], path: str) -> None:
    if item.relationship is not None:
        ds.RelationshipType = item.relationship
    if item.target is not None:
        target = where.get(id(item.target))
        if target is None:
            raise SRError("a by-reference relationship to an item that is not in this tree",
                          path=path)
        ds.ReferencedContentItemIdentifier = [int(p) for p in target.split(".")]
        return
    kind = item.value_type
    ds.ValueType = kind
    if item.concept_name is not None:
        ds.ConceptNameCodeSequence = [_code_item(item.concept_name, ds)]
    if item.observation_datetime is not None:
        ds.ObservationDateTime = format_dt(item.observation_datetime)
    if item.observation_uid is not None:
        ds.ObservationUID = item.observation_uid
    try:
        _encode_value(item, ds)
    except (TypeError, ValueError, AttributeError) as exc:
        raise SRError(f"{kind} value {item.value!r} cannot be written: {exc}",
                      path=path) from exc
    if item.children:
        ds.ContentSequence = Sequence()
        for place, child in enumerate(item.children, start=1):
            child_ds = _new_item(ds)
            ds.ContentSequence.append(child_ds)
            _encode_item(child, child_ds, where, f"{path}.{place}")


def _new_item(parent: Dataset) -> Dataset:
    item = Dataset()
    item.parent = parent  # before any value is set: text is encoded in the parent's charset
    return item


def _code_item(code: Code, parent: Dataset) -> Dataset:
    item = _new_item(parent)
    for element in code.to_dataset():
        item.set(element.tag, element.value, element.VR)
    return item


def _encode_value(item: ContentItem, ds: Dataset) -> None:
    kind, value = item.value_type, item.value
    if kind == "CONTAINER":
        ds.ContinuityOfContent = item.continuity or "SEPARATE"
        if item.template is not None:
            template = _new_item(ds)
            template.MappingResource = "DCMR"
            template.TemplateIdentifier = item.template
            ds.ContentTemplateSequence = [template]
    elif kind == "TEXT":
        ds.TextValue = value
    elif kind == "CODE":
        ds.ConceptCodeSequence = [_code_item(value, ds)]
    elif kind == "NUM":
        _encode_num(value, ds)
    elif kind == "PNAME":
        ds.PersonName = str(value)
    elif kind == "DATE":
        ds.Date = format_da(value)
    elif kind == "TIME":
        ds.Time = format_tm(value)
    elif kind == "DATETIME":
        ds.DateTime = format_dt(value)
    elif kind == "UIDREF":
        ds.UID = value
    elif kind in ("COMPOSITE", "IMAGE", "WAVEFORM"):
        ds.ReferencedSOPSequence = [_reference_item(value, ds)]
    elif kind == "SCOORD":
        ds.GraphicData = [float(x) for x in value.points.ravel()]
        ds.GraphicType = value.graphic_type
    elif kind == "SCOORD3D":
        ds.GraphicData = [float(x) for x in value.points.ravel()]
        ds.GraphicType = value.graphic_type
        ds.ReferencedFrameOfReferenceUID = value.frame_of_reference
    elif kind == "TCOORD":
        ds.TemporalRangeType = value.range_type
        if value.samples:
            ds.ReferencedSamplePositions = list(value.samples)
        elif value.offsets:
            ds.ReferencedTimeOffsets = [format_ds(x) for x in value.offsets]
        else:
            ds.ReferencedDateTime = [format_dt(x) for x in value.datetimes]


def _encode_num(value: NumericValue, ds: Dataset) -> None:
    """PS3.3 C.18.1: Measured Value Sequence (empty when a qualifier says why there is no
    value), Numeric Value (DS, 16 characters at most: a longer value is rounded there and kept
    whole in Floating Point Value)."""
    ds.MeasuredValueSequence = Sequence()
    if value.value is not None:
        measured = _new_item(ds)
        text = str(value.value)
        float_value = value.float_value
        if len(text) > DS_LENGTH:
            text = format_ds(float(value.value))
            if float_value is None:
                float_value = float(value.value)
        measured.NumericValue = text
        if float_value is not None:
            measured.FloatingPointValue = float(float_value)
        assert value.unit is not None  # NumericValue refuses a value without a unit
        measured.MeasurementUnitsCodeSequence = [_code_item(value.unit, measured)]
        ds.MeasuredValueSequence.append(measured)
    if value.qualifier is not None:
        ds.NumericValueQualifierCodeSequence = [_code_item(value.qualifier, ds)]


def _reference_item(ref: Reference, parent: Dataset) -> Dataset:
    """PS3.3 Table 10-11 SOP Instance Reference macro and the IMAGE/WAVEFORM additions
    (C.18.4, C.18.5)."""
    item = _new_item(parent)
    item.ReferencedSOPClassUID = ref.sop_class
    item.ReferencedSOPInstanceUID = ref.sop_instance
    if ref.frames:
        item.ReferencedFrameNumber = [str(f) for f in ref.frames]
    if ref.segments:
        item.ReferencedSegmentNumber = list(ref.segments)
    if ref.channels:
        item.ReferencedWaveformChannels = [n for pair in ref.channels for n in pair]
    if ref.presentation_state is not None:
        state = _new_item(item)
        state.ReferencedSOPClassUID, state.ReferencedSOPInstanceUID = ref.presentation_state
        item.ReferencedSOPSequence = [state]
    return item


# -- reading -----------------------------------------------------------------------------------
def decode_content(ds: Dataset) -> ContentItem:
    """The content tree of an SR data set (its top level is the root item)."""
    pending: list[tuple[ContentItem, str, list[int]]] = []
    count = [0]
    root = _decode_item(ds, "1", pending, 0, count, root=True)
    _resolve(root, pending)
    return root


def _list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _decode_item(ds: Dataset, path: str, pending: list[tuple[ContentItem, str, list[int]]],
                 depth: int, count: list[int], *, root: bool = False) -> ContentItem:
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
        raise SRError(f"content nested deeper than {MAX_DEPTH} or more than {MAX_ITEMS} "
                      "items", path=path)
    try:
        return _decode_fields(ds, path, pending, depth, count, root)
    except SRError:
        raise
    except (DicomError, CodeError, ValueError, TypeError, KeyError, IndexError,
            InvalidOperation) as exc:
        raise SRError(f"cannot be read: {exc}", path=path) from exc


def _decode_fields(ds: Dataset, path: str, pending: list[tuple[ContentItem, str, list[int]]],
                   depth: int, count: list[int], root: bool) -> ContentItem:
    relationship = None if root else ds.get("RelationshipType")
    if not root and not relationship:
        raise SRError("no Relationship Type (0040,A010)", path=path)
    reference = _list(ds.get("ReferencedContentItemIdentifier"))
    if reference and not root:
        item = ContentItem(None, relationship=str(relationship))
        pending.append((item, path, [int(n) for n in reference]))
        return item
    kind = ds.get("ValueType")
    if not kind:
        raise SRError("no Value Type (0040,A040) and no Referenced Content Item Identifier",
                      path=path)
    kind = str(kind)
    name = _code(ds, "ConceptNameCodeSequence", path)
    item = ContentItem(kind, name, relationship=str(relationship) if relationship else None)
    observed = ds.get("ObservationDateTime")
    if observed:
        item.observation_datetime = parse_dt(str(observed))
    uid = ds.get("ObservationUID")
    if uid:
        item.observation_uid = str(uid)
    item.own_value = _decode_value(kind, ds, item, path)
    for place, child in enumerate(ds.get("ContentSequence") or (), start=1):
        item.children.append(_decode_item(child, f"{path}.{place}", pending, depth + 1, count))
    return item


def _code(ds: Dataset, keyword: str, path: str) -> Code | None:
    items = ds.get(keyword)
    if not items:
        return None
    if len(items) != 1:
        raise SRError(f"{keyword} holds {len(items)} items, not one", path=path)
    return Code.from_dataset(items[0], where=f"content item {path} {keyword}")


def _needed(ds: Dataset, keyword: str, path: str, kind: str) -> Any:
    value = ds.get(keyword)
    if value is None or value == "" or value == []:
        raise SRError(f"a {kind} content item has no {keyword}", path=path)
    return value


def _decode_value(kind: str, ds: Dataset, item: ContentItem, path: str) -> Any:
    if kind == "CONTAINER":
        item.continuity = str(ds.get("ContinuityOfContent") or "") or None
        templates = ds.get("ContentTemplateSequence")
        if templates:
            identifier = templates[0].get("TemplateIdentifier")
            item.template = str(identifier) if identifier else None
        return None
    if kind == "TEXT":
        return str(_needed(ds, "TextValue", path, kind))
    if kind == "CODE":
        code = _code(ds, "ConceptCodeSequence", path)
        if code is None:
            raise SRError("a CODE content item has no Concept Code Sequence", path=path)
        return code
    if kind == "NUM":
        return _decode_num(ds, path)
    if kind == "PNAME":
        return PersonName(str(_needed(ds, "PersonName", path, kind)))
    if kind == "DATE":
        return parse_da(str(_needed(ds, "Date", path, kind)))
    if kind == "TIME":
        return parse_tm(str(_needed(ds, "Time", path, kind)))
    if kind == "DATETIME":
        return parse_dt(str(_needed(ds, "DateTime", path, kind)))
    if kind == "UIDREF":
        return str(_needed(ds, "UID", path, kind))
    if kind in ("COMPOSITE", "IMAGE", "WAVEFORM"):
        refs = _needed(ds, "ReferencedSOPSequence", path, kind)
        if len(refs) != 1:
            raise SRError(f"a {kind} has {len(refs)} Referenced SOP Sequence items, not one",
                          path=path)
        return _decode_reference(refs[0])
    if kind in ("SCOORD", "SCOORD3D"):
        data = np.asarray(_list(_needed(ds, "GraphicData", path, kind)), dtype=np.float32)
        graphic_type = str(_needed(ds, "GraphicType", path, kind))
        width = 2 if kind == "SCOORD" else 3
        if data.size % width:
            raise SRError(f"{kind} Graphic Data holds {data.size} numbers, not a multiple "
                          f"of {width}", path=path)
        if kind == "SCOORD":
            return Scoord(graphic_type, data.reshape(-1, 2))
        frame = str(_needed(ds, "ReferencedFrameOfReferenceUID", path, kind))
        return Scoord3D(graphic_type, data.reshape(-1, 3), frame)
    if kind == "TCOORD":
        range_type = str(_needed(ds, "TemporalRangeType", path, kind))
        datetimes = tuple(parse_dt(str(v)) for v in _list(ds.get("ReferencedDateTime")))
        return Tcoord(range_type, tuple(int(v) for v in _list(ds.get(
            "ReferencedSamplePositions"))), tuple(float(v) for v in _list(ds.get(
                "ReferencedTimeOffsets"))), datetimes)
    raise SRError(f"unknown Value Type {kind!r} (PS3.3 Table C.17.3-7)", path=path)


def _decode_num(ds: Dataset, path: str) -> NumericValue:
    qualifier = _code(ds, "NumericValueQualifierCodeSequence", path)
    measured = ds.get("MeasuredValueSequence")
    if not measured:
        if qualifier is None:
            raise SRError("a NUM has no Measured Value Sequence item and no Numeric Value "
                          "Qualifier (PS3.3 C.18.1)", path=path)
        return NumericValue(None, None, qualifier)
    item = measured[0]
    element = item.get(0x0040A30A)
    if element is None:
        raise SRError("a NUM Measured Value Sequence item has no Numeric Value", path=path)
    if element.raw is not None:
        text = bytes(element.raw).decode("ascii").strip(" \0")
    else:
        text = str(element.value)
    unit = _code(item, "MeasurementUnitsCodeSequence", path)
    if unit is None:
        raise SRError("a NUM has no Measurement Units Code Sequence", path=path)
    float_value = item.get("FloatingPointValue")
    return NumericValue(Decimal(text.split("\\")[0]), unit, qualifier,
                        float(float_value) if float_value is not None else None)


def _decode_reference(item: Dataset) -> Reference:
    channels = [int(n) for n in _list(item.get("ReferencedWaveformChannels"))]
    state = None
    nested = item.get("ReferencedSOPSequence")
    if nested:
        state = (str(nested[0].get("ReferencedSOPClassUID") or ""),
                 str(nested[0].get("ReferencedSOPInstanceUID") or ""))
    return Reference(
        str(item.get("ReferencedSOPClassUID") or ""),
        str(item.get("ReferencedSOPInstanceUID") or ""),
        tuple(int(f) for f in _list(item.get("ReferencedFrameNumber"))),
        tuple(int(s) for s in _list(item.get("ReferencedSegmentNumber"))),
        tuple(zip(channels[0::2], channels[1::2], strict=False)),
        state,
    )


def _resolve(root: ContentItem, pending: list[tuple[ContentItem, str, list[int]]]) -> None:
    """Point each by-reference item at the item its identifier names (C.17.3.2.4)."""
    for item, path, identifier in pending:
        target: ContentItem | None = root if identifier[:1] == [1] else None
        for place in identifier[1:]:
            if target is None or not 1 <= place <= len(target.children):
                target = None
                break
            target = target.children[place - 1]
        if target is None or target.is_reference:
            named = ".".join(str(n) for n in identifier)
            raise SRError(f"Referenced Content Item Identifier {named} names no content item "
                          "(PS3.3 C.17.3.2.4)", path=path)
        item.target = target


