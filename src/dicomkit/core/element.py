"""PS3.5 §7.1: the data element — tag, VR, value — with its value decoded only when asked for."""

from __future__ import annotations

import struct
from collections.abc import Sequence as _Seq
from typing import TYPE_CHECKING, Any

from dicomkit import native
from dicomkit.core import dictionary
from dicomkit.core.tag import Tag, tag_str
from dicomkit.core.vr import VR_INFO, decode_value, validate_value, value_multiplicity

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

_UNSET: Any = object()


class Sequence(list):
    """PS3.5 §7.5: the value of an SQ element, a list of nested data sets (items).

    Once the sequence is the value of an element of a data set (its ``owner``), an item added
    to it (``append``, ``insert``, ``extend``, ``+=``, item assignment) is attached to that data
    set: its ``parent`` is set and the character sets it had cached are forgotten, so that it
    encodes its text in the owner's Specific Character Set (PS3.5 §6.1.2.5.2: an item
    inherits it)."""

    __slots__ = ("owner",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.owner: Any = None

    def __repr__(self) -> str:
        return f"<Sequence of {len(self)} item(s)>"

    def adopt(self, owner: Any) -> None:
        """Make ``owner`` (a Dataset) the data set the items belong to, and attach them."""
        self.owner = owner
        for item in self:
            self._attach(item)

    def _attach(self, item: Any) -> None:
        if self.owner is not None and hasattr(item, "attach_to"):
            item.attach_to(self.owner)

    def append(self, item: Any) -> None:
        super().append(item)
        self._attach(item)

    def insert(self, index: Any, item: Any) -> None:
        super().insert(index, item)
        self._attach(item)

    def extend(self, items: Any) -> None:
        items = list(items)
        super().extend(items)
        for item in items:
            self._attach(item)

    def __iadd__(self, items: Any) -> Sequence:  # type: ignore[misc]
        self.extend(items)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        for item in (value if isinstance(index, slice) else [value]):
            self._attach(item)

    def __copy__(self) -> Sequence:
        return Sequence(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Sequence:
        import copy

        return Sequence(copy.deepcopy(list(self), memo))

    def __reduce__(self) -> Any:
        return (Sequence, (list(self),))


def element_value(element: DataElement) -> Any:
    """``element.value``: the value, decoded from ``element.raw`` on first use (PS3.5 §6.2)
    and kept. The pure-Python reference; ``core/_vr.pyx`` has its compiled twin."""
    if element._value is _UNSET:
        raw = element.raw if element.raw is not None else b""
        try:
            element._value = decode_value(element.VR, bytes(raw), element.little,
                                          element.charsets)
        except (struct.error, ValueError, TypeError, IndexError, OverflowError,
                LookupError) as exc:  # UnicodeDecodeError is a ValueError
            from dicomkit.errors import InvalidDicomError

            raise InvalidDicomError(f"{element.VR} value of {len(raw)} byte(s) does not decode:"
                                    f" {exc}", tag=element.tag) from exc
    return element._value


# dicomkit.core.vr (imported above) has loaded the compiled twin already: this is the cached module
_COMPILED_VR = native.load("dicomkit.core._vr")
_VALUE: Any = element_value if _COMPILED_VR is None else _COMPILED_VR.element_value
""":func:`element_value`, or its compiled twin (the same values and errors)."""


class DataElement:
    """One data element. ``value`` is decoded from the stored bytes on first access."""

    __slots__ = ("tag", "VR", "_value", "raw", "little", "charsets", "is_undefined_length")

    def __init__(
        self,
        tag: int,
        VR: str,
        value: Any = _UNSET,
        *,
        raw: bytes | memoryview | None = None,
        little: bool = True,
        charsets: _Seq[str] = (),
        is_undefined_length: bool = False,
    ) -> None:
        self.tag = Tag(tag)
        self.VR = VR
        if value is _UNSET and raw is None:
            value = None
        if VR == "SQ" and value is not _UNSET and not isinstance(value, Sequence):
            value = Sequence(value or [])
        self._value = value
        self.raw = raw
        self.little = little
        self.charsets = charsets
        self.is_undefined_length = is_undefined_length

    @classmethod
    def from_raw(cls, tag: int, VR: str, raw: bytes | memoryview, little: bool,
                 charsets: _Seq[str], is_undefined_length: bool) -> DataElement:
        """``DataElement(tag, VR, raw=raw, little=little, charsets=charsets,
        is_undefined_length=...)`` for a reader that has checked what the constructor checks:
        ``tag`` an int of 32 bits, ``VR`` not SQ, ``raw`` not None. The value decodes from
        ``raw`` when first used."""
        element = object.__new__(cls)
        element.tag = int.__new__(Tag, tag)
        element.VR = VR
        element._value = _UNSET
        element.raw = raw
        element.little = little
        element.charsets = charsets
        element.is_undefined_length = is_undefined_length
        return element

    def _set_value(self, new: Any) -> None:
        if self.VR == "SQ" and not isinstance(new, Sequence):
            new = Sequence(new or [])
        self._value = new
        self.raw = None

    if TYPE_CHECKING:
        @property
        def value(self) -> Any:
            """The value, decoded from the stored bytes when first asked for."""

        @value.setter
        def value(self, new: Any) -> None: ...
    else:  # the getter is element_value or its compiled twin, called with no frame between
        value = property(_VALUE, _set_value,
                         doc="The value, decoded from the stored bytes when first asked for.")

    @property
    def is_decoded(self) -> bool:
        return self._value is not _UNSET

    @property
    def keyword(self) -> str:
        return dictionary.keyword_for_tag(self.tag)

    @property
    def name(self) -> str:
        if self.tag.is_private_creator:
            return "Private Creator"
        entry = dictionary.entry(self.tag)
        return entry.name if entry else ("Private tag data" if self.tag.is_private else "Unknown")

    @property
    def VM(self) -> int:
        if self.VR == "SQ":
            return 1
        info = VR_INFO.get(self.VR)
        if info is not None and info.kind == "bytes":
            return 0 if self.length == 0 else 1
        return value_multiplicity(self.value)

    @property
    def length(self) -> int:
        """Length of the stored value in bytes (0 when not read from bytes and empty)."""
        if self.raw is not None and self._value is _UNSET:
            return len(self.raw)
        from dicomkit.core.vr import encode_value

        if self.VR == "SQ":
            return 0xFFFFFFFF
        return len(encode_value(self.VR, self.value, True, self.charsets))

    def value_bytes(self, little: bool = True) -> bytes:
        """The encoded value in the given byte order (stored bytes reused when possible)."""
        if self.raw is not None and (self.little == little or self.VR not in _SWAPPED):
            return bytes(self.raw)
        from dicomkit.core.vr import encode_value

        return encode_value(self.VR, self.value, little, self.charsets)

    def validate(self) -> list[str]:
        if self.VR == "SQ":
            return []
        return [f"{tag_str(self.tag)} {p}" for p in validate_value(self.VR, self.value)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataElement):
            return NotImplemented
        if self.tag != other.tag or self.VR != other.VR:
            return False
        if self.raw is not None and other.raw is not None and self.little == other.little:
            if bytes(self.raw) == bytes(other.raw):
                return True
        return bool(_values_equal(self.value, other.value))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{tag_str(self.tag)} {self.keyword or self.name} {self.VR}: {self.repval}"

    @property
    def repval(self) -> str:
        if self.VR == "SQ":
            return f"<Sequence of {len(self.value)} item(s)>"
        info = VR_INFO.get(self.VR)
        if info is not None and info.kind == "bytes":
            return f"<{self.length} bytes>"
        text = repr(self.value)
        return text if len(text) <= 80 else text[:76] + " ..."

    def as_datetime(self) -> Any:
        """DA -> date, TM -> time, DT -> datetime (PS3.5 §6.2); lists for VM > 1."""
        from dicomkit.core import values

        parse = {"DA": values.parse_da, "TM": values.parse_tm, "DT": values.parse_dt}.get(self.VR)
        if parse is None:
            raise TypeError(f"{tag_str(self.tag)} has VR {self.VR}, not DA, TM or DT")
        value = self.value
        if not value:
            return None
        if isinstance(value, list):
            return [parse(v) if v else None for v in value]
        return parse(value)

    def as_array(self) -> Any:
        """A numpy view of a binary value (OB/OW/OF/OD/OL/OV and binary numbers)."""
        import numpy as np

        codes = {"OB": "u1", "UN": "u1", "OW": "u2", "OF": "f4", "OD": "f8", "OL": "u4",
                 "OV": "u8", "US": "u2", "SS": "i2", "UL": "u4", "SL": "i4", "FL": "f4",
                 "FD": "f8", "SV": "i8", "UV": "u8"}
        code = codes.get(self.VR)
        if code is None:
            raise TypeError(f"{tag_str(self.tag)} has VR {self.VR}, which has no array form")
        order = "<" if (self.little or self.raw is None or self.VR in ("OB", "UN")) else ">"
        data = self.raw if self.raw is not None and self._value is _UNSET else self.value_bytes()
        return np.frombuffer(data, dtype=order + code)


_SWAPPED = frozenset({"AT", "OW", "US", "SS", "OF", "OL", "UL", "SL", "FL", "OD", "OV", "FD",
                      "SV", "UV"})


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN values read from the same bytes are the same value
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def make_element(tag: int, vr: str, value: Any, dataset: Dataset | None = None) -> DataElement:
    """Build an element for a new value, resolving multi-VR dictionary entries (PS3.5 A.1)."""
    if " or " in vr:
        from dicomkit.core.ambiguous import resolve_vr

        vr = resolve_vr(tag, vr, dataset)
    charsets = dataset.charsets if dataset is not None else ()
    return DataElement(tag, vr, value, charsets=charsets)
