"""PS3.5 §7: the data set, an ordered collection of data elements.

Elements read from bytes are kept as light index entries ``(vr, offset, length)`` into the
source buffer and become :class:`DataElement` objects only when touched, so reading a header and
asking for a few attributes never decodes the rest.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Iterator
from typing import Any

from dicomkit.core import dictionary
from dicomkit.core.element import DataElement, Sequence, make_element
from dicomkit.core.tag import SPECIFIC_CHARACTER_SET, Tag, tag_str

# A raw entry is a tuple (vr, value_offset, length, undefined_length).
RawEntry = tuple[str, int, int, bool]

_OWN_ATTRS = frozenset({
    "_elements", "_buf", "_little", "_implicit", "parent", "file_meta", "preamble",
    "transfer_syntax", "_unsorted", "filename", "_charsets_cache", "read_problems",
    "is_truncated",
})


_MATERIALIZE: Any = None  # encoding.lazy.MATERIALIZE, imported on first use
_ITERATE: Any = None  # encoding.lazy.ITERATE, likewise
_WALK: Any = None  # encoding.lazy.WALK, likewise


def _load_lazy() -> None:
    global _MATERIALIZE, _ITERATE, _WALK
    from dicomkit.encoding import lazy

    _MATERIALIZE, _ITERATE, _WALK = lazy.MATERIALIZE, lazy.ITERATE, lazy.WALK


def _load_materialize() -> Any:
    _load_lazy()
    return _MATERIALIZE


class Dataset:
    """A DICOM data set: ``ds.PatientName``, ``ds[0x00100010]``, ``"PatientName" in ds``.

    Read from bytes, it also says how the read went: ``read_problems`` lists what a lenient
    read stepped over (each naming the byte offset and the tag), and ``is_truncated`` is true
    when the data ended inside a value, item or sequence, so what is here is not the whole data
    set (an archive must not store it as if it were).
    """

    def __init__(self, elements: Any = None) -> None:
        object.__setattr__(self, "_elements", {})
        object.__setattr__(self, "_buf", None)
        object.__setattr__(self, "_little", True)
        object.__setattr__(self, "_implicit", False)
        object.__setattr__(self, "_unsorted", False)
        object.__setattr__(self, "_charsets_cache", None)
        object.__setattr__(self, "parent", None)
        object.__setattr__(self, "file_meta", None)
        object.__setattr__(self, "preamble", None)
        object.__setattr__(self, "transfer_syntax", None)
        object.__setattr__(self, "filename", None)
        object.__setattr__(self, "read_problems", [])
        object.__setattr__(self, "is_truncated", False)
        if elements:
            items = elements.items() if isinstance(elements, dict) else elements
            for key, value in items:
                if isinstance(value, DataElement):
                    self[key] = value
                else:
                    setattr(self, key, value) if isinstance(key, str) else self.set(key, value)

    # -- construction from bytes (used by the reader) ------------------------------------
    @classmethod
    def from_index(
        cls, elements: dict[int, Any], buf: Any, little: bool, implicit: bool
    ) -> Dataset:
        """A data set over ``buf`` whose ``elements`` map each tag to a DataElement or to
        the raw ``(vr, offset, length, undefined)`` entry a reader recorded; values decode
        from ``buf`` when first asked for (encoding/lazy.py). For readers, not for users."""
        ds = cls.__new__(cls)
        ds.__dict__.update(  # what __init__ sets, in its order, without __setattr__ per name
            _elements=elements, _buf=buf, _little=little, _implicit=implicit, _unsorted=False,
            _charsets_cache=None, parent=None, file_meta=None, preamble=None,
            transfer_syntax=None, filename=None, read_problems=[], is_truncated=False)
        return ds

    def _materialize(self, tag: int, entry: Any) -> DataElement:
        if type(entry) is not tuple:
            return entry
        element = (_MATERIALIZE or _load_materialize())(self, tag, entry)
        self._elements[tag] = element
        return element

    def raw_entry(self, tag: int) -> Any:
        """The stored form of an element: a DataElement or a raw (vr, offset, length) tuple."""
        return self._elements[tag]

    @property
    def buffer(self) -> Any:
        return self._buf

    @property
    def is_little_endian(self) -> bool:
        return bool(self._little)

    @property
    def is_implicit_VR(self) -> bool:
        return bool(self._implicit)

    # -- character sets ------------------------------------------------------------------
    @property
    def charsets(self) -> list[str]:
        """Specific Character Set (0008,0005) in force here, inherited by nested items."""
        cached = self._charsets_cache
        if cached is not None:
            return cached
        if SPECIFIC_CHARACTER_SET in self._elements:
            from dicomkit.core.charset import normalize_charsets

            value = self[SPECIFIC_CHARACTER_SET].value
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                result = normalize_charsets(value)
            else:  # a number, bytes or items in a corrupt file name no character set
                result = normalize_charsets(value if isinstance(value, str) else "")
        elif self.parent is not None:
            result = self.parent.charsets
        else:
            result = []
        object.__setattr__(self, "_charsets_cache", result)
        return result

    # -- mapping interface -----------------------------------------------------------------
    def _key(self, key: Any) -> int:
        if isinstance(key, int):
            return key
        if isinstance(key, tuple):
            return (key[0] << 16) | key[1]
        return int(Tag(key))

    def __getitem__(self, key: Any) -> DataElement:
        tag = self._key(key)
        try:
            entry = self._elements[tag]
        except KeyError:
            raise KeyError(f"{tag_str(tag)} is not in the data set") from None
        if type(entry) is tuple:
            return self._materialize(tag, entry)
        return entry

    def get(self, key: Any, default: Any = None) -> Any:
        """``ds.get("PatientName")`` gives the value; ``ds.get(tag)`` gives the element."""
        if isinstance(key, str) and key[:1].isalpha() and not _is_hex(key):
            tag = dictionary.tag_for_keyword(key)
            if tag is None or tag not in self._elements:
                return default
            return self[tag].value
        try:
            tag = self._key(key)
        except (ValueError, TypeError):
            return default
        return self[tag] if tag in self._elements else default

    def __setitem__(self, key: Any, element: DataElement) -> None:
        if not isinstance(element, DataElement):
            raise TypeError("assign a DataElement to ds[tag]; use ds.Keyword = value for values")
        tag = self._key(key)
        if tag != element.tag:
            raise ValueError(f"element {tag_str(element.tag)} assigned to key {tag_str(tag)}")
        self._put(tag, element)

    def _put(self, tag: int, element: DataElement) -> None:
        elements = self._elements
        if tag not in elements and elements and tag < next(reversed(elements)):
            object.__setattr__(self, "_unsorted", True)
        elements[tag] = element
        if element.VR == "SQ" and element.is_decoded:
            value = element.value
            if isinstance(value, Sequence):
                value.adopt(self)
            else:
                for item in value:
                    if isinstance(item, Dataset):
                        item.attach_to(self)
        if tag == SPECIFIC_CHARACTER_SET:
            self._reset_charsets()

    def attach_to(self, parent: Dataset) -> None:
        """Make this data set an item of ``parent``: it inherits the parent's character sets
        from now on (PS3.5 §6.1.2.5.2), so any it had cached while it stood alone (or in
        another parent) are forgotten, in its nested items too."""
        object.__setattr__(self, "parent", parent)
        self._reset_charsets()

    def _reset_charsets(self) -> None:
        """Forget the cached character sets here and in the nested items that inherit them
        (decoded sequences only: an item not yet decoded has cached nothing)."""
        object.__setattr__(self, "_charsets_cache", None)
        for entry in self._elements.values():
            if type(entry) is tuple or entry.VR != "SQ" or not entry.is_decoded:
                continue
            for item in entry.value or ():
                if (isinstance(item, Dataset) and item._charsets_cache is not None
                        and SPECIFIC_CHARACTER_SET not in item._elements):
                    item._reset_charsets()

    def set(self, key: Any, value: Any, vr: str | None = None) -> DataElement:
        """Set a value by tag or keyword; the VR comes from the dictionary unless given."""
        tag = self._key(key)
        if vr is None:
            existing = self._elements.get(tag)
            if existing is not None:
                vr = self[tag].VR
            else:
                entry = dictionary.entry(tag)
                vr = entry.vr if entry is not None and entry.vr else "UN"
        element = make_element(tag, vr, value, self)
        self._put(tag, element)
        return element

    def add_new(self, key: Any, vr: str, value: Any) -> DataElement:
        return self.set(key, value, vr)

    def __delitem__(self, key: Any) -> None:
        tag = self._key(key)
        del self._elements[tag]
        if tag == SPECIFIC_CHARACTER_SET:
            self._reset_charsets()

    def pop(self, key: Any, *default: Any) -> Any:
        tag = self._key(key)
        if tag not in self._elements and default:
            return default[0]
        element = self[tag]
        del self[tag]
        return element

    def __contains__(self, key: object) -> bool:
        try:
            return self._key(key) in self._elements
        except (ValueError, TypeError):
            return False

    def __len__(self) -> int:
        return len(self._elements)

    def tags(self) -> list[int]:
        """Tags in ascending order (PS3.5 §7.1: elements are ordered by tag)."""
        if self._unsorted:
            ordered = dict(sorted(self._elements.items()))
            object.__setattr__(self, "_elements", ordered)
            object.__setattr__(self, "_unsorted", False)
        return list(self._elements)

    def keys(self) -> list[Tag]:
        return [Tag(t) for t in self.tags()]

    def __iter__(self) -> Iterator[DataElement]:
        """Every element in tag order (encoding/lazy.py ``iterate``, or its compiled twin)."""
        if _ITERATE is None:
            _load_lazy()
        return _ITERATE(self)

    def elements(self) -> Iterator[DataElement]:
        return iter(self)

    def values(self) -> list[DataElement]:
        return list(self)

    def items(self) -> list[tuple[Tag, DataElement]]:
        return [(Tag(e.tag), e) for e in self]

    # -- keyword attribute access --------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name[:1].isupper():
            tag = dictionary.tag_for_keyword(name)
            if tag is not None:
                if tag in self._elements:
                    return self[tag].value
                raise AttributeError(f"data set has no {name} {tag_str(tag)}")
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN_ATTRS:
            object.__setattr__(self, name, value)
            return
        if name[:1].isupper():
            tag = dictionary.tag_for_keyword(name)
            if tag is not None:
                # A new element, never a change in place: shallow copies stay independent.
                self.set(tag, value)
                return
            raise AttributeError(f"{name!r} is not a DICOM keyword")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        tag = dictionary.tag_for_keyword(name) if name[:1].isupper() else None
        if tag is not None and tag in self._elements:
            del self[tag]
        elif tag is not None:
            raise AttributeError(f"data set has no {name}")
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keywords = [dictionary.keyword_for_tag(t) for t in self._elements]
        return sorted(set(super().__dir__()) | {k for k in keywords if k})

    # -- private blocks (PS3.5 §7.8.1) ---------------------------------------------------------
    def private_block(self, group: int, creator: str, create: bool = False) -> PrivateBlock:
        if not group & 1:
            raise ValueError(f"group {group:04X} is not private (odd groups only)")
        free = None
        for element_number in range(0x10, 0x100):
            tag = (group << 16) | element_number
            if tag in self._elements:
                value = self[tag].value
                if isinstance(value, str) and value.strip() == creator:
                    return PrivateBlock(self, group, element_number, creator)
            elif free is None:
                free = element_number
        if not create:
            raise KeyError(f"no private block of creator {creator!r} in group {group:04X}")
        if free is None:
            raise ValueError(f"group {group:04X} has no free private block")
        self.set((group << 16) | free, creator, "LO")
        return PrivateBlock(self, group, free, creator)

    def private_creator_of(self, tag: int) -> str | None:
        """The creator string reserving the block that ``tag`` sits in, if any."""
        block = (tag & 0xFF00) >> 8
        if not tag & 0x10000 or block < 0x10:
            return None
        creator_tag = (tag & 0xFFFF0000) | block
        if creator_tag not in self._elements:
            return None
        value = self[creator_tag].value
        return value.strip() if isinstance(value, str) else None

    # -- copies and comparison -----------------------------------------------------------------
    def copy(self) -> Dataset:
        new = Dataset.from_index(dict(self._elements), self._buf, self._little, self._implicit)
        for name in ("parent", "file_meta", "preamble", "transfer_syntax", "filename"):
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "_unsorted", self._unsorted)
        object.__setattr__(new, "read_problems", list(self.read_problems))
        object.__setattr__(new, "is_truncated", self.is_truncated)
        return new

    def __copy__(self) -> Dataset:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Dataset:
        new = Dataset()
        for element in self:
            value = element.value
            fresh = DataElement(element.tag, element.VR, _copy.deepcopy(value, memo),
                                charsets=element.charsets,
                                is_undefined_length=element.is_undefined_length)
            new._put(element.tag, fresh)
        for name in ("file_meta", "preamble", "transfer_syntax", "filename"):
            object.__setattr__(new, name, _copy.deepcopy(getattr(self, name), memo))
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        if self.tags() != other.tags():
            return False
        return all(self[t] == other[t] for t in self._elements)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return True

    def walk(self) -> Iterator[tuple[int, DataElement]]:
        """Every element depth-first, with its nesting depth (encoding/lazy.py ``walk``, or
        its compiled twin)."""
        if _WALK is None:
            _load_lazy()
        return _WALK(self)

    def validate(self, iod: str | None = None) -> list[Any]:
        """Every finding about this data set against its IOD, the dictionary, the VR rules and
        the File Meta Information (:func:`dicomkit.iod.validate.validate`, imported on first
        use: a door like :attr:`pixel_array`): ``Finding`` objects with ``severity``,
        ``path``, ``tag``, ``message``, ``module`` and ``section``. Never raises for bad
        content."""
        from dicomkit.iod.validate import validate

        return validate(self, iod)

    def __repr__(self) -> str:
        lines = []
        for depth, element in self.walk():
            lines.append("  " * depth + repr(element))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.__repr__()

    # -- pixels (PS3.3 C.7.6.3): thin doors into dicomkit.pixels, imported on first use ------
    @property
    def pixel_array(self) -> Any:
        """All frames as a numpy array of stored values (see dicomkit.pixels.native)."""
        from dicomkit.pixels.native import pixel_array

        return pixel_array(self)

    def frame(self, index: int, *, as_rgb: bool = True) -> Any:
        """Frame ``index`` (from 0) as a numpy array, decoding that frame only."""
        from dicomkit.pixels.native import frame

        return frame(self, index, as_rgb=as_rgb)

    def frames(self, *, as_rgb: bool = True) -> Iterator[Any]:
        """Every frame in order, decoded one at a time."""
        from dicomkit.pixels.native import frames

        return frames(self, as_rgb=as_rgb)


class PrivateBlock:
    """PS3.5 §7.8.1: a block (gggg,xx00-xxFF) reserved by a private creator at (gggg,00xx)."""

    def __init__(self, dataset: Dataset, group: int, block: int, creator: str) -> None:
        self.dataset = dataset
        self.group = group
        self.block = block
        self.creator = creator

    def tag(self, offset: int) -> int:
        if not 0 <= offset <= 0xFF:
            raise ValueError(f"private element offset {offset:#x} is outside 0x00-0xFF")
        return (self.group << 16) | (self.block << 8) | offset

    def __getitem__(self, offset: int) -> DataElement:
        return self.dataset[self.tag(offset)]

    def __contains__(self, offset: int) -> bool:
        return self.tag(offset) in self.dataset

    def add_new(self, offset: int, vr: str, value: Any) -> DataElement:
        return self.dataset.set(self.tag(offset), value, vr)

    def __delitem__(self, offset: int) -> None:
        del self.dataset[self.tag(offset)]


def _is_hex(text: str) -> bool:
    digits = text.strip("()").replace(",", "")
    return len(digits) == 8 and all(c in "0123456789abcdefABCDEF" for c in digits)


__all__ = ["Dataset", "DataElement", "Sequence", "PrivateBlock"]
