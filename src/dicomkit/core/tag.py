"""PS3.5 §7.1: the data element tag, an ordered pair (group, element) held as one 32-bit int."""

from __future__ import annotations

from typing import Any

ITEM = 0xFFFEE000
ITEM_DELIMITATION = 0xFFFEE00D
SEQUENCE_DELIMITATION = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
SPECIFIC_CHARACTER_SET = 0x00080005
TRANSFER_SYNTAX_UID = 0x00020010


def _parse(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return (int(value[0]) << 16) | int(value[1])
    if isinstance(value, str):
        text = value.strip()
        hexdigits = text.strip("()").replace(",", "").replace(" ", "")
        if len(hexdigits) == 8 and all(c in "0123456789abcdefABCDEF" for c in hexdigits):
            return int(hexdigits, 16)
        from dicomkit.core.dictionary import tag_for_keyword

        tag = tag_for_keyword(text)
        if tag is None:
            raise ValueError(f"{value!r} is neither a DICOM keyword nor a tag")
        return tag
    raise TypeError(f"cannot make a Tag from {type(value).__name__}")


class Tag(int):
    """A DICOM tag: ``Tag(0x00100010)``, ``Tag(0x0010, 0x0010)``, ``Tag("PatientName")``."""

    __slots__ = ()

    def __new__(cls, value: Any, element: int | None = None) -> Tag:
        if element is not None:
            tag = (int(value) << 16) | int(element)
        else:
            if type(value) is cls:
                return value
            tag = _parse(value)
        if not 0 <= tag <= 0xFFFFFFFF:
            raise ValueError(f"tag 0x{tag:X} is outside 32 bits")
        return super().__new__(cls, tag)

    @property
    def group(self) -> int:
        return self >> 16

    @property
    def element(self) -> int:
        return self & 0xFFFF

    @property
    def is_private(self) -> bool:
        """PS3.5 §7.8: private data elements have an odd group number (not 0001-0007, FFFF)."""
        return bool(self.group & 1) and self.group not in (1, 3, 5, 7, 0xFFFF)

    @property
    def is_private_creator(self) -> bool:
        """PS3.5 §7.8.1: (gggg,0010-00FF) in an odd group reserves a private block."""
        return self.is_private and 0x0010 <= self.element <= 0x00FF

    @property
    def is_group_length(self) -> bool:
        return self.element == 0

    @property
    def keyword(self) -> str:
        from dicomkit.core.dictionary import keyword_for_tag

        return keyword_for_tag(self)

    def __str__(self) -> str:
        return f"({self >> 16:04X},{self & 0xFFFF:04X})"

    def __repr__(self) -> str:
        return f"Tag{self}"


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
