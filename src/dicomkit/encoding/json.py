"""PS3.18 Annex F: the DICOM JSON Model, both directions.

Encoding (:func:`to_json_dict`, :func:`to_json`) follows PS3.18 F.2:

* one attribute object per data element, named by the eight upper-case hex digits of its tag,
  in ascending tag order (F.2.2); each has ``"vr"`` and at most one of ``"Value"``,
  ``"BulkDataURI"`` and ``"InlineBinary"``. An empty element (Value Length 0) has none of them
  (F.2.5).
* Group Length elements (gggg,0000) are left out (F.2.2), and so is group 0002: the File Meta
  Information (PS3.10 §7.1) is not part of the data set the model represents.
* Private creators and private data elements are included with their tags as stored
  (F.2.2 note 1, PS3.5 §7.8.1).
* Value types (F.2.3, Table F.2.3-1): strings for AE AS CS DA DT LO LT SH ST TM UC UI UR UT;
  JSON numbers for FL FD SL SS UL US, and for DS and IS when the value is a finite number
  (a DS/IS value that is not a number is kept as the string that was read, which the note to
  Table F.2.3-1 allows). SV/UV are numbers up to 2**53 - 1 in magnitude and decimal strings
  beyond, so that JavaScript readers do not lose precision (again the note to Table F.2.3-1).
  JSON has no NaN or infinity: such FL/FD/DS values are written as the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"`` (read back as the float values).
* PN values are objects with the non-empty component groups ``Alphabetic``, ``Ideographic``
  and ``Phonetic`` (F.2.2); AT values are ``"GGGGEEEE"`` strings (F.2.3).
* Empty values inside a multi-valued element are ``null`` (F.2.5); empty items are ``{}``.
  Binary numbers (AT FL FD SL SS SV UL US UV) have no empty values in DICOM, so ``null`` read
  for one of those is dropped.
* OB OD OF OL OV OW UN values are base64 ``InlineBinary`` of the little endian Value Field
  (F.2.7: the PS3.5 byte ordering rules apply; the JSON model, like DICOMweb, is little
  endian). Encapsulated Pixel Data is the encapsulated Value Field: the items (Basic Offset
  Table and fragments) without the closing Sequence Delimitation Item.
* Bulk data: with ``bulk_data_threshold`` set, an OB/OD/OF/OL/OV/OW/UN value whose Value Field
  is longer than that many bytes is replaced by a ``"BulkDataURI"`` (F.2.6). The URI comes from
  ``bulk_data_uri(tag_path, element)``, by default ``"bulkdata/" + tag_path``. ``tag_path``
  names the element from the top of the data set: tags as eight hex digits and 0-based item
  indices, separated by ``/`` (``"7FE00010"``, ``"00540016/0/00181072"``).

Decoding (:func:`from_json`) builds a :class:`~dicomkit.core.dataset.Dataset` whose values
have the same Python types the binary reader gives (``PersonName``, ``float`` for DS, ``int``
for IS, ``Tag`` for AT, ``bytes`` for binary VRs, lists for VM > 1). It accepts a few common
deviations: lower-case tags, ``"InlineBinary"``/``"BulkDataURI"`` given as one-element arrays
(as in the PS3.18 F.4 example), PN values given as plain strings, numbers given as strings, and a
missing ``"vr"`` (then taken from the data dictionary).

``"BulkDataURI"`` values are fetched with ``bulk_data_loader(uri) -> bytes`` when it is given
(the bytes are the little endian Value Field). Without a loader the element becomes a
:class:`BulkDataElement`: its value is empty and its ``uri`` attribute keeps the reference, which
:func:`to_json_dict` and :func:`dicomkit.encoding.xml.to_xml` write back out unchanged. Writing
such an element to a binary DICOM file raises :class:`~dicomkit.errors.NotSupportedError`
rather than silently writing an empty value.

InlineBinary or bulk data for Pixel Data (7FE0,0010) that parses as a complete run of
encapsulation items (PS3.5 A.4) is marked as encapsulated (undefined length), so that writing
it to a compressed transfer syntax gives the right encoding back.
"""

from __future__ import annotations

import base64
import json as _json
import math
from collections.abc import Callable, Iterable
from typing import Any

import dicomkit.native as native
from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, Sequence
from dicomkit.core.tag import PIXEL_DATA, SPECIFIC_CHARACTER_SET, Tag, tag_str
from dicomkit.core.values import PersonName
from dicomkit.core.vr import BYTES_VRS, TEXT_VRS, VR_INFO, text_of, to_number
from dicomkit.errors import NotSupportedError

__all__ = [
    "BulkDataElement",
    "BulkDataLoader",
    "BulkDataURIFunc",
    "from_json",
    "to_json",
    "to_json_dict",
]

#: ``bulk_data_uri(tag_path, element) -> uri`` for values moved out as bulk data.
BulkDataURIFunc = Callable[[str, DataElement], str]
#: ``bulk_data_loader(uri) -> bytes`` (the little endian Value Field) when reading.
BulkDataLoader = Callable[[str], bytes]

PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
_MAX_SAFE_INTEGER = 2**53 - 1  # largest integer every JSON (IEEE double) reader keeps exactly
_BINARY_NUMBER_VRS = frozenset({"AT", "FL", "FD", "SL", "SS", "SV", "UL", "US", "UV"})
_INT_VRS = frozenset({"SL", "SS", "SV", "UL", "US", "UV"})
_JSON_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class BulkDataElement(DataElement):
    """An element whose value was given only as a bulk data reference (PS3.18 F.2.6, PS3.19
    A.1.5 BulkData) and not loaded. ``value`` is empty; ``uri`` is the reference."""

    __slots__ = ("uri",)

    def __init__(self, tag: int, VR: str, uri: str) -> None:
        super().__init__(tag, VR, empty_value(VR))
        self.uri = uri

    def value_bytes(self, little: bool = True) -> bytes:
        raise NotSupportedError(
            f"{tag_str(self.tag)} holds only the bulk data reference {self.uri!r}; load it "
            "(bulk_data_loader=...) before encoding the value"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BulkDataElement):
            return self.tag == other.tag and self.VR == other.VR and self.uri == other.uri
        return super().__eq__(other)

    @property
    def repval(self) -> str:
        return f"<bulk data {self.uri!r}>"


# -- helpers shared with the XML encoding --------------------------------------------------------
def is_excluded(tag: int) -> bool:
    """Group Length (gggg,0000) and File Meta Information (0002,eeee) are not in the models."""
    return tag & 0xFFFF == 0 or tag >> 16 == 0x0002


def is_binary_vr(vr: str) -> bool:
    """VRs whose Value Field is carried as InlineBinary / bulk data (and unknown VRs)."""
    return vr in BYTES_VRS or vr not in VR_INFO


def binary_value(element: DataElement) -> bytes:
    """The little endian Value Field of a binary element, as stored (no padding added: PS3.18
    F.1 and PS3.19 A.1.1 exempt the models from even-length padding); for encapsulated pixel
    data the encapsulation items without the sequence delimiter (PS3.5 A.4)."""
    if element.is_undefined_length and element.raw is not None:
        return bytes(element.raw)
    value = element.value  # binary VRs decode to little endian bytes, unpadded (PS3.18 F.1)
    if value is None:
        return b""
    if hasattr(value, "tobytes"):
        return bytes(value.tobytes())
    return bytes(value)


def element_values(element: DataElement) -> list[Any]:
    """The values of a non-binary, non-SQ element as a list (empty list when empty)."""
    value = element.value
    if value is None or (isinstance(value, (str, bytes)) and value == ""):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        listed = value.tolist()
        return listed if isinstance(listed, list) else [listed]
    return [value]


def string_of(vr: str, item: Any) -> str:
    """A value of a string VR as text (dates, times and numbers formatted per PS3.5)."""
    if isinstance(item, str):
        return item
    return text_of(vr, item)


def pn_groups(value: Any) -> list[str]:
    """The up to three component groups of a PN value (PS3.5 §6.2.1.1)."""
    groups = str(value).split("=", 2)
    return groups + [""] * (3 - len(groups))


def tag_path(parent: str, tag: int) -> str:
    return f"{parent}/{tag:08X}" if parent else f"{tag:08X}"


def default_bulk_data_uri(path: str, element: DataElement) -> str:
    return f"bulkdata/{path}"


def wants_bulk(data: bytes, threshold: int | None) -> bool:
    return threshold is not None and len(data) > threshold


def empty_value(vr: str) -> Any:
    """The value the binary reader gives an element of this VR with Value Length 0."""
    if vr == "SQ":
        return Sequence()
    info = VR_INFO.get(vr)
    if info is None or info.kind == "bytes":
        return b""
    if info.kind == "pn":
        return PersonName("")
    if info.kind in ("str", "text"):
        return ""
    return None


def _bad(tag: int, message: str) -> ValueError:
    return ValueError(f"{tag_str(tag)}: {message}")


def _to_float(tag: int, item: Any) -> float:
    if isinstance(item, bool):
        raise _bad(tag, f"{item!r} is not a number")
    if isinstance(item, (int, float)):
        return float(item)
    if isinstance(item, str):
        try:
            return float(item.strip())  # also "NaN", "Infinity", "-Infinity", "INF"
        except ValueError:
            pass
    raise _bad(tag, f"{item!r} is not a number")


def _to_int(tag: int, item: Any) -> int:
    if isinstance(item, bool):
        raise _bad(tag, f"{item!r} is not an integer")
    if isinstance(item, int):
        return item
    if isinstance(item, float) and item.is_integer():
        return int(item)
    if isinstance(item, str):
        try:
            return int(item.strip())
        except ValueError:
            pass
    raise _bad(tag, f"{item!r} is not an integer")


def _to_tag(tag: int, item: Any) -> Tag:
    try:
        if isinstance(item, str):
            text = item.strip()
            if len(text) != 8:
                raise ValueError
            return Tag(int(text, 16))
        if isinstance(item, int) and not isinstance(item, bool):
            return Tag(item)
    except ValueError:
        pass
    raise _bad(tag, f"AT value {item!r} is not eight hex digits (GGGGEEEE)")


def _to_ds(item: Any) -> Any:
    if isinstance(item, bool):
        return str(item)
    if isinstance(item, (int, float)):
        return float(item)
    return to_number("float", str(item))


def _to_is(item: Any) -> Any:
    if isinstance(item, bool):
        return str(item)
    if isinstance(item, int):
        return item
    if isinstance(item, float):
        return int(item) if item.is_integer() else item
    return to_number("int", str(item))


def _to_pn(item: Any) -> PersonName:
    if isinstance(item, dict):
        return PersonName.from_parts(*(str(item.get(name) or "") for name in PN_GROUPS))
    return PersonName(str(item))


def value_from_model(vr: str, items: Iterable[Any], tag: int) -> Any:
    """Python value for the "Value" entries of JSON (or the Value texts of XML) of a VR."""
    info = VR_INFO.get(vr)
    kind = info.kind if info is not None else "str"
    out: list[Any] = []
    for item in items:
        if vr in _BINARY_NUMBER_VRS and (item is None or (isinstance(item, str) and not item)):
            continue  # binary numbers have no empty values (PS3.5 §6.2)
        if item is None:
            out.append(None if kind in ("int", "float") else empty_value(vr))
        elif vr == "PN":
            out.append(_to_pn(item))
        elif vr == "AT":
            out.append(_to_tag(tag, item))
        elif vr in ("FL", "FD"):
            out.append(_to_float(tag, item))
        elif vr in _INT_VRS:
            out.append(_to_int(tag, item))
        elif vr == "DS":
            out.append(_to_ds(item))
        elif vr == "IS":
            out.append(_to_is(item))
        elif isinstance(item, (dict, list)):
            raise _bad(tag, f"{vr} value {item!r} is not a string")
        else:
            out.append(item if isinstance(item, str) else str(item))
    if kind == "text":  # LT ST UT UR: one value; several are joined as PS3.5 would store them
        return "\\".join(str(v) for v in out) if out else ""
    if not out:
        return empty_value(vr)
    return out[0] if len(out) == 1 else out


def looks_encapsulated(data: bytes) -> bool:
    """True when ``data`` is a complete run of items (FFFE,E000), as encapsulated pixel data."""
    if len(data) < 8 or data[:4] != b"\xfe\xff\x00\xe0":
        return False
    from dicomkit.encoding.fragments import iter_items

    try:
        for _ in iter_items(data):
            pass
    except Exception:  # noqa: BLE001 - any parse problem means "not encapsulated"
        return False
    return True


def element_from_bytes(tag: int, vr: str, data: bytes, charsets: Any) -> DataElement:
    """An element from its little endian Value Field (InlineBinary or loaded bulk data)."""
    if is_binary_vr(vr):
        undefined = tag == PIXEL_DATA and looks_encapsulated(data)
        return DataElement(tag, vr, bytes(data), is_undefined_length=undefined)
    if vr == "SQ":
        raise _bad(tag, "a sequence cannot be given as binary data")
    return DataElement(tag, vr, raw=bytes(data), little=True, charsets=charsets)


def vr_for(tag: int, vr: Any, dataset: Dataset) -> str:
    """The VR as given, else the dictionary VR (multi-VR entries resolved, PS3.5 A.1)."""
    if isinstance(vr, str) and vr.strip():
        return vr.strip().upper()
    if tag & 0x10000 and 0x10 <= tag & 0xFFFF <= 0xFF:
        return "LO"
    entry = dictionary.entry(tag) if not tag & 0x10000 else None
    if entry is None:
        return "UN"
    if " or " in entry.vr:
        from dicomkit.core.ambiguous import resolve_vr

        return resolve_vr(tag, entry.vr, dataset)
    return entry.vr if entry.vr in VR_INFO else "UN"


def parse_tag_key(key: Any) -> int:
    text = str(key).strip()
    if len(text) != 8:
        raise ValueError(f"{key!r} is not a DICOM JSON attribute name (eight hex digits)")
    try:
        return int(text, 16)
    except ValueError:
        raise ValueError(
            f"{key!r} is not a DICOM JSON attribute name (eight hex digits)"
        ) from None


def charset_first(tags: list[int]) -> list[int]:
    """Tags in ascending order, Specific Character Set first (the others' text needs it)."""
    ordered = sorted(tags)
    if SPECIFIC_CHARACTER_SET in ordered:
        ordered.remove(SPECIFIC_CHARACTER_SET)
        ordered.insert(0, SPECIFIC_CHARACTER_SET)
    return ordered


def new_item(parent: Dataset | None) -> Dataset:
    item = Dataset()
    if parent is not None:
        object.__setattr__(item, "parent", parent)
    return item


def text_charsets(vr: str, dataset: Dataset) -> Any:
    return dataset.charsets if vr in TEXT_VRS else ()


# -- encoding ----------------------------------------------------------------------------------
def _json_number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return _JSON_NONFINITE[repr(value)]


def _json_value(vr: str, item: Any) -> Any:
    if item is None or (isinstance(item, str) and item == ""):
        return None
    if vr == "PN":
        groups = pn_groups(item)
        named = {name: group for name, group in zip(PN_GROUPS, groups, strict=True) if group}
        return named or None
    if vr == "AT":
        return f"{int(item):08X}"
    if vr in ("FL", "FD"):
        return _json_number(float(item))
    if vr in _INT_VRS:
        number = int(item)
        if vr in ("SV", "UV") and abs(number) > _MAX_SAFE_INTEGER:
            return str(number)
        return number
    if vr == "DS":
        if isinstance(item, str):
            parsed = to_number("float", item)
            return _json_number(parsed) if isinstance(parsed, float) else item
        if isinstance(item, int) and not isinstance(item, bool):
            return item
        return _json_number(float(item))
    if vr == "IS":
        if isinstance(item, str):
            parsed = to_number("int", item)
            return parsed if isinstance(parsed, (int, float)) else item
        if isinstance(item, float):
            return int(item) if item.is_integer() else _json_number(item)
        return int(item)
    return string_of(vr, item)


_compiled: Any = native.load("dicomkit.encoding._json")


class _Encoder:
    def __init__(self, threshold: int | None, uri: BulkDataURIFunc | None,
                 twin: Any = None) -> None:
        self.threshold = threshold
        self.uri = uri or default_bulk_data_uri
        self.twin = twin

    def dataset(self, ds: Dataset, path: str) -> dict[str, Any]:
        if self.twin is not None:  # the same objects, common elements written from the bytes
            encoded: dict[str, Any] = self.twin.encode_dataset(self, ds, path)
            return encoded
        out: dict[str, Any] = {}
        for element in ds:
            tag = element.tag
            if is_excluded(tag):
                continue
            out[f"{tag:08X}"] = self.element(element, tag_path(path, tag))
        return out

    def element(self, element: DataElement, path: str) -> dict[str, Any]:
        vr = element.VR
        out: dict[str, Any] = {"vr": vr}
        if isinstance(element, BulkDataElement):
            out["BulkDataURI"] = element.uri
            return out
        if vr == "SQ":
            items = element.value
            if items:
                out["Value"] = [self.dataset(item, f"{path}/{i}") for i, item in enumerate(items)]
            return out
        if is_binary_vr(vr):
            if self.threshold is not None and element.raw is not None \
                    and not element.is_decoded and len(element.raw) > self.threshold + 1:
                # Bulk data by its stored length (a pad byte at most above the value's), so a
                # large value read lazily is never loaded just to be left out (PS3.18 F.2.6).
                out["BulkDataURI"] = self.uri(path, element)
                return out
            data = binary_value(element)
            if data:
                if wants_bulk(data, self.threshold):
                    out["BulkDataURI"] = self.uri(path, element)
                else:
                    out["InlineBinary"] = base64.b64encode(data).decode("ascii")
            return out
        values = element_values(element)
        if values:
            out["Value"] = [_json_value(vr, item) for item in values]
        return out


def to_json_dict(
    ds: Dataset,
    *,
    bulk_data_threshold: int | None = None,
    bulk_data_uri: BulkDataURIFunc | None = None,
    twin: Any = _compiled,
) -> dict[str, Any]:
    """The DICOM JSON Model object (PS3.18 F.2) of ``ds`` as Python dicts and lists.

    ``twin``: the compiled encoder (``dicomkit.encoding._json``) to use; by default the one
    :func:`dicomkit.native.load` gave (None under ``DICOMKIT_PURE=1``), None for the pure-Python
    reference (tests/native compares the two)."""
    return _Encoder(bulk_data_threshold, bulk_data_uri, twin).dataset(ds, "")


def to_json(
    ds: Dataset,
    *,
    indent: int | None = None,
    bulk_data_threshold: int | None = None,
    bulk_data_uri: BulkDataURIFunc | None = None,
) -> str:
    """``ds`` as DICOM JSON text (application/dicom+json, UTF-8 characters not escaped)."""
    model = to_json_dict(ds, bulk_data_threshold=bulk_data_threshold, bulk_data_uri=bulk_data_uri)
    return _json.dumps(model, indent=indent, ensure_ascii=False, allow_nan=False)


# -- decoding ----------------------------------------------------------------------------------
def _first(value: Any, tag: int, key: str) -> str:
    if isinstance(value, list):  # PS3.18 F.4 shows "InlineBinary": [ "..." ]
        if len(value) != 1:
            raise _bad(tag, f"{key} must be one string, got {len(value)}")
        value = value[0]
    if not isinstance(value, str):
        raise _bad(tag, f"{key} must be a string, got {type(value).__name__}")
    return value


class _Decoder:
    def __init__(self, loader: BulkDataLoader | None) -> None:
        self.loader = loader

    def dataset(self, obj: Any, parent: Dataset | None) -> Dataset:
        if obj is None:
            obj = {}
        if not isinstance(obj, dict):
            raise ValueError(f"a DICOM JSON data set must be an object, got {type(obj).__name__}")
        ds = new_item(parent)
        attrs = {parse_tag_key(key): value for key, value in obj.items()}
        for tag in charset_first(list(attrs)):
            ds[tag] = self.element(tag, attrs[tag], ds)
        ds.tags()  # settle the order now that Specific Character Set went in first
        return ds

    def element(self, tag: int, attr: Any, ds: Dataset) -> DataElement:
        if not isinstance(attr, dict):
            raise _bad(tag, f"attribute must be an object, got {type(attr).__name__}")
        vr = vr_for(tag, attr.get("vr"), ds)
        if vr not in VR_INFO:
            raise _bad(tag, f"unknown VR {vr!r}")
        if "Value" in attr and attr["Value"] is not None:
            values = attr["Value"]
            if not isinstance(values, list):
                values = [values]
            if vr == "SQ":
                items = Sequence(self.dataset(item, ds) for item in values)
                return DataElement(tag, "SQ", items)
            if is_binary_vr(vr):
                raise _bad(tag, f"{vr} values are given as InlineBinary or BulkDataURI")
            value = value_from_model(vr, values, tag)
            return DataElement(tag, vr, value, charsets=text_charsets(vr, ds))
        if "InlineBinary" in attr and attr["InlineBinary"] is not None:
            text = _first(attr["InlineBinary"], tag, "InlineBinary")
            try:
                data = base64.b64decode(text)
            except ValueError as exc:
                raise _bad(tag, f"InlineBinary is not base64: {exc}") from None
            return element_from_bytes(tag, vr, data, text_charsets(vr, ds))
        if "BulkDataURI" in attr and attr["BulkDataURI"] is not None:
            uri = _first(attr["BulkDataURI"], tag, "BulkDataURI")
            if self.loader is None:
                return BulkDataElement(tag, vr, uri)
            return element_from_bytes(tag, vr, bytes(self.loader(uri)), text_charsets(vr, ds))
        return DataElement(tag, vr, empty_value(vr), charsets=text_charsets(vr, ds))


def from_json(
    data: str | bytes | bytearray | dict[str, Any],
    *,
    bulk_data_loader: BulkDataLoader | None = None,
) -> Dataset:
    """A :class:`Dataset` from a DICOM JSON Model object (text, UTF-8 bytes or parsed dict).

    A top-level array (PS3.18 F.2.1, several results) must be split by the caller:
    ``[from_json(obj) for obj in json.loads(text)]``.
    """
    obj: Any = data
    if isinstance(data, (str, bytes, bytearray)):
        obj = _json.loads(data)
    if isinstance(obj, list):
        raise ValueError(
            "this is a DICOM JSON array of several data sets (PS3.18 F.2.1); "
            "decode each object with from_json"
        )
    return _Decoder(bulk_data_loader).dataset(obj, None)
