"""PS3.19 Annex A.1: the Native DICOM Model (XML), both directions.

Encoding (:func:`to_xml`) follows Table A.1.5-2 and the schema of A.1.6:

* ``<NativeDicomModel xml:space="preserve">`` with one ``<DicomAttribute>`` per data element in
  ascending tag order, carrying ``tag`` (eight upper-case hex digits), ``vr``, ``keyword``
  (the PS3.6 keyword, left out when the dictionary does not know the element) and, for private
  data elements, ``privateCreator``. Group Length (gggg,0000) and File Meta Information (0002,eeee)
  elements are left out (A.1.1; group 0002 is not part of the data set).
* Private data elements are written, as A.1.5 requires, with the tag ``gggg00ee``: the block
  byte is dropped and the creator is given by ``privateCreator``. Private creator elements
  (gggg,0010-00FF) and private elements outside any reserved block keep their tags and have no
  ``privateCreator``. Reading maps ``gggg00ee`` + creator back to the block that creator
  reserves in the data set being built, reserving a new block when there is none (so blocks are
  restored where the creator elements were; a tag that already has the right block byte is kept).
* Each value is a ``<Value number="n">`` (empty element for an empty value in a multi-valued
  element); PN values are ``<PersonName number="n">`` with ``Alphabetic``, ``Ideographic`` and
  ``Phonetic`` groups of ``FamilyName``, ``GivenName``, ``MiddleName``, ``NamePrefix``,
  ``NameSuffix`` (only non-empty groups and components are written; components past the fifth,
  which PS3.5 does not allow, stay in ``NameSuffix`` with their ``^`` so that nothing is lost);
  sequences are ``<Item number="n">`` holding nested attributes; AT values are ``GGGGEEEE``.
* DS and IS values are written as the text that was read (PS3.19 Value is a string), and read
  back as that text (decoded to numbers on use, like the binary reader does), so their form
  survives a round trip; FL/FD are written as the shortest text that reads back to the same
  number, with ``NaN``, ``INF``, ``-INF`` for the non-finite values.
* OB OD OF OL OV OW UN values are ``<InlineBinary>`` base64 of the little endian Value Field, or
  ``<BulkData uri="..."/>`` above ``bulk_data_threshold`` bytes, exactly as in
  :mod:`dicomkit.encoding.json` (same ``bulk_data_uri(tag_path, element)`` callback).

Characters XML 1.0 cannot carry (control characters other than TAB, LF and CR; U+FFFE, U+FFFF;
lone surrogates) are replaced by U+FFFD in the output: a value holding them cannot be written as
well-formed XML 1.0 at all, so the model is lossy for such (invalid) values. CR is written as the
character reference ``&#13;`` so that XML line-end normalisation does not turn it into LF.

Decoding (:func:`from_xml`) accepts documents with or without the PS3.19 namespace
(``http://dicom.nema.org/PS3.19/models/NativeDICOM``), elements in any order (``number`` gives the
value order), a missing ``vr`` (taken from the dictionary, or SQ when there are Items), the
PS3.19-2011 group name ``SingleByte`` for ``Alphabetic``, and ``<BulkData uuid="..."/>`` as well
as ``uri``. Bulk data references are resolved with ``bulk_data_loader`` or kept as
:class:`~dicomkit.encoding.json.BulkDataElement`, as in :func:`dicomkit.encoding.json.from_json`.
The parser is the standard library's ``xml.etree.ElementTree`` (expat), which does not fetch
external entities.

The PS3.19 person name structure cannot hold trailing empty components or groups (``"Doe^John^"``
reads back as ``"Doe^John"``), nor a name made of delimiters only (``"^^^^"`` is written like an
empty name); PS3.5 §6.2.1 gives these forms the same meaning.
"""

from __future__ import annotations

import base64
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, Sequence
from dicomkit.core.vr import VR_INFO
from dicomkit.encoding.json import (
    PN_GROUPS,
    BulkDataElement,
    BulkDataLoader,
    BulkDataURIFunc,
    binary_value,
    default_bulk_data_uri,
    element_from_bytes,
    element_values,
    empty_value,
    is_binary_vr,
    is_excluded,
    new_item,
    pn_groups,
    string_of,
    tag_path,
    text_charsets,
    value_from_model,
    vr_for,
    wants_bulk,
)

__all__ = ["NAMESPACE", "from_xml", "to_xml"]

NAMESPACE = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_NONFINITE = {"nan": "NaN", "inf": "INF", "-inf": "-INF"}
_NUMBER_TEXT_VRS = frozenset({"DS", "IS"})


def _clean(text: str) -> str:
    return _NOT_XML_CHAR.sub("\ufffd", text)


# -- encoding ----------------------------------------------------------------------------------
def _number_texts(element: DataElement) -> list[str] | None:
    """DS/IS values as the text that was read (None when the element has no stored bytes)."""
    if element.raw is None:
        return None
    text = bytes(element.raw).decode("latin-1").strip("\0 ")
    if not text:
        return []
    return [part.strip(" \0") for part in text.split("\\")]


def _value_text(vr: str, item: Any) -> str:
    if item is None:
        return ""
    if vr == "AT":
        return f"{int(item):08X}"
    if vr in ("FL", "FD"):
        number = float(item)
        return repr(number) if math.isfinite(number) else _XML_NONFINITE[repr(number)]
    if vr in ("SL", "SS", "SV", "UL", "US", "UV"):
        return str(int(item))
    if vr == "DS" and isinstance(item, float) and not math.isfinite(item):
        return _XML_NONFINITE[repr(item)]
    return string_of(vr, item)


def _has_name(item: Any) -> bool:
    return item is not None and bool(str(item).replace("=", "").replace("^", ""))


class _Encoder:
    def __init__(self, threshold: int | None, uri: BulkDataURIFunc | None) -> None:
        self.threshold = threshold
        self.uri = uri or default_bulk_data_uri

    def dataset(self, ds: Dataset, parent: ET.Element, path: str) -> None:
        for element in ds:
            tag = element.tag
            if is_excluded(tag):
                continue
            self.element(ds, element, ET.SubElement(parent, "DicomAttribute"), tag_path(path, tag))

    def element(self, ds: Dataset, element: DataElement, node: ET.Element, path: str) -> None:
        tag, vr = element.tag, element.VR
        creator = None
        if tag.is_private and not tag.is_private_creator:
            creator = ds.private_creator_of(tag)
        node.set("tag", f"{tag & 0xFFFF00FF if creator is not None else tag:08X}")
        node.set("vr", vr)
        keyword = "" if tag.is_private else dictionary.keyword_for_tag(tag)
        if keyword:
            node.set("keyword", keyword)
        if creator is not None:
            node.set("privateCreator", _clean(creator))
        if isinstance(element, BulkDataElement):
            ET.SubElement(node, "BulkData", {"uri": _clean(element.uri)})
            return
        if vr == "SQ":
            for number, item in enumerate(element.value, 1):
                child = ET.SubElement(node, "Item", {"number": str(number)})
                self.dataset(item, child, f"{path}/{number - 1}")
            return
        if is_binary_vr(vr):
            data = binary_value(element)
            if not data:
                return
            if wants_bulk(data, self.threshold):
                ET.SubElement(node, "BulkData", {"uri": _clean(self.uri(path, element))})
            else:
                ET.SubElement(node, "InlineBinary").text = base64.b64encode(data).decode("ascii")
            return
        if vr == "PN":
            names = [item if _has_name(item) else None for item in element_values(element)]
            if any(names):  # a name of delimiters only ("^^^^") has nothing to write
                for number, item in enumerate(names, 1):
                    child = ET.SubElement(node, "PersonName", {"number": str(number)})
                    self.person_name(child, item)
            return
        texts = _number_texts(element) if vr in _NUMBER_TEXT_VRS else None
        if texts is None:
            texts = [_value_text(vr, item) for item in element_values(element)]
        for number, text in enumerate(texts, 1):
            value = ET.SubElement(node, "Value", {"number": str(number)})
            if text:
                value.text = _clean(text)

    def person_name(self, node: ET.Element, item: Any) -> None:
        if item is None:
            return
        for name, group in zip(PN_GROUPS, pn_groups(item), strict=True):
            if not group.strip("^"):
                continue
            group_node = ET.SubElement(node, name)
            parts = group.split("^")
            parts = parts[:4] + ["^".join(parts[4:])] if len(parts) > 5 else parts
            for component, text in zip(_COMPONENTS, parts, strict=False):
                if text:
                    ET.SubElement(group_node, component).text = _clean(text)


def to_xml(
    ds: Dataset,
    *,
    bulk_data_threshold: int | None = None,
    bulk_data_uri: BulkDataURIFunc | None = None,
) -> str:
    """``ds`` as a Native DICOM Model XML document (PS3.19 A.1), UTF-8 declared, indented."""
    root = ET.Element("NativeDicomModel", {_XML_SPACE: "preserve"})
    _Encoder(bulk_data_threshold, bulk_data_uri).dataset(ds, root, "")
    ET.indent(root, space="  ")  # whitespace only between elements, never inside a Value
    body = ET.tostring(root, encoding="unicode")
    # ElementTree leaves CR as is; a parser would normalise it to LF (XML 1.0 §2.11).
    body = body.replace("\r", "&#13;")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# -- decoding ----------------------------------------------------------------------------------
def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _numbered(nodes: Iterable[ET.Element]) -> list[ET.Element]:
    listed = list(nodes)

    def key(pair: tuple[int, ET.Element]) -> tuple[int, int]:
        index, node = pair
        number = node.get("number")
        try:
            return (int(number) if number is not None else index + 1, index)
        except ValueError:
            return (index + 1, index)

    return [node for _, node in sorted(enumerate(listed), key=key)]


def _number_bytes(texts: list[str | None]) -> bytes | None:
    """DS/IS Value texts as the Value Field PS3.5 would hold, if they can be one (ASCII, no
    backslash inside a value); keeping the text keeps the value's original form."""
    parts = [(text or "").strip(" ") for text in texts]
    if any("\\" in part or not part.isascii() for part in parts):
        return None
    return "\\".join(parts).encode("ascii")


def _person_name(node: ET.Element) -> dict[str, str]:
    groups: dict[str, str] = {}
    for child in node:
        name = _local(child.tag)
        if name == "SingleByte":  # the PS3.19-2011 name of the alphabetic group
            name = "Alphabetic"
        if name not in PN_GROUPS:
            continue
        parts = {_local(c.tag): c.text or "" for c in child}
        groups[name] = "^".join(parts.get(comp, "") for comp in _COMPONENTS).rstrip("^")
    return groups


class _Decoder:
    def __init__(self, loader: BulkDataLoader | None) -> None:
        self.loader = loader

    def dataset(self, node: ET.Element, parent: Dataset | None) -> Dataset:
        ds = new_item(parent)
        attributes = [child for child in node if _local(child.tag) == "DicomAttribute"]
        # Plain attributes first (private creators among them), then private data elements,
        # whose block is found through the creator; Specific Character Set before the rest.
        plain = [a for a in attributes if a.get("privateCreator") is None]
        plain.sort(key=lambda a: self.tag_of(a) != 0x00080005)
        private = [a for a in attributes if a.get("privateCreator") is not None]
        for attribute in plain + private:
            tag = self.tag_of(attribute)
            creator = attribute.get("privateCreator")
            if creator is not None and tag >> 16 & 1:
                tag = self.private_tag(ds, tag, creator.strip())
            ds[tag] = self.element(tag, attribute, ds)
        ds.tags()
        return ds

    @staticmethod
    def tag_of(node: ET.Element) -> int:
        text = (node.get("tag") or "").strip()
        try:
            if len(text) != 8:
                raise ValueError
            return int(text, 16)
        except ValueError:
            raise ValueError(f"DicomAttribute tag {text!r} is not eight hex digits") from None

    @staticmethod
    def private_tag(ds: Dataset, tag: int, creator: str) -> int:
        group, block = tag >> 16, (tag >> 8) & 0xFF
        if block >= 0x10 and ds.private_creator_of(tag) == creator:
            return tag  # written with its block, and the block is this creator's
        return ds.private_block(group, creator, create=True).tag(tag & 0xFF)

    def element(self, tag: int, node: ET.Element, ds: Dataset) -> DataElement:
        children: dict[str, list[ET.Element]] = {}
        for child in node:
            children.setdefault(_local(child.tag), []).append(child)
        given = node.get("vr") or ("SQ" if "Item" in children else None)  # vr is optional
        vr = vr_for(tag, given, ds)
        if vr not in VR_INFO:
            raise ValueError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}): unknown VR {vr!r}")
        charsets = text_charsets(vr, ds)
        if vr == "SQ":
            items = Sequence(self.dataset(item, ds) for item in _numbered(children.get("Item", [])))
            return DataElement(tag, "SQ", items)
        if "InlineBinary" in children:
            text = "".join(children["InlineBinary"][0].itertext())
            try:
                data = base64.b64decode(text)
            except ValueError as exc:
                raise ValueError(
                    f"({tag >> 16:04X},{tag & 0xFFFF:04X}): InlineBinary is not base64: {exc}"
                ) from None
            return element_from_bytes(tag, vr, data, charsets)
        if "BulkData" in children:
            bulk = children["BulkData"][0]
            uri = bulk.get("uri") or bulk.get("uuid") or ""
            if self.loader is None:
                return BulkDataElement(tag, vr, uri)
            return element_from_bytes(tag, vr, bytes(self.loader(uri)), charsets)
        if "PersonName" in children:
            names = [_person_name(n) for n in _numbered(children["PersonName"])]
            return DataElement(tag, vr, value_from_model(vr, names, tag), charsets=charsets)
        if "Value" in children:
            texts = [n.text for n in _numbered(children["Value"])]
            if is_binary_vr(vr):
                raise ValueError(
                    f"({tag >> 16:04X},{tag & 0xFFFF:04X}): {vr} values are given as "
                    "InlineBinary or BulkData"
                )
            if vr in _NUMBER_TEXT_VRS:
                stored = _number_bytes(texts)
                if stored is not None:  # kept as text, decoded like the binary reader does
                    return DataElement(tag, vr, raw=stored, little=True)
            return DataElement(tag, vr, value_from_model(vr, texts, tag), charsets=charsets)
        return DataElement(tag, vr, empty_value(vr), charsets=charsets)


def from_xml(text: str | bytes, *, bulk_data_loader: BulkDataLoader | None = None) -> Dataset:
    """A :class:`Dataset` from a Native DICOM Model XML document (PS3.19 A.1).

    Raises ``ValueError`` for a document that is not well-formed XML or not the model.
    """
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, LookupError) as exc:  # a SyntaxError, or an unknown encoding=
        raise ValueError(f"not a well-formed XML document: {exc}") from None
    if _local(root.tag) != "NativeDicomModel":
        raise ValueError(f"root element is {_local(root.tag)!r}, not NativeDicomModel")
    return _Decoder(bulk_data_loader).dataset(root, None)
