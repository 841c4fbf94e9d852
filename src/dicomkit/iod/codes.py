"""Coded concepts (PS3.3 §8, the Code Sequence macro Table 8.8-1) and the context groups of
PS3.16 (CIDs), shared by every object that carries codes: structured reports, segmentations,
presentation states, derived images.

- :class:`Code`: one coded concept, ``Code("121071", "DCM", "Finding")``. Two codes are equal
  when their value and coding scheme are (PS3.3 §8.1: the meaning is not part of the
  identity), so ``Code("T-D0050", "SRT", "x") != Code("T-D0050", "SCT", "x")`` but a code
  with another meaning text is the same concept.
- :func:`cid`: a context group by number or keyword (``cid(7151)``,
  ``cid("SegmentationPropertyType")``), with membership (``code in cid(7151)``) and lookup by
  concept keyword.
- :func:`concept`: a concept by its PS3.16 keyword, e.g. ``concept("ImagingMeasurementReport")``.

The table is generated from PS3.16 2024c by ``tools/gen_iod_tables.py`` (``data/cid_concepts.tsv``)
and read on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomkit.core.dataset import Dataset

DATA = Path(__file__).with_name("data") / "cid_concepts.tsv"

SHORT_CODE_VALUE = 16
"""Code Value (0008,0100) is SH: longer values go in Long Code Value (0008,0119, UC), URNs and
URLs in URN Code Value (0008,0120, UR) (PS3.3 §8.1, §8.8)."""


class CodeError(ValueError):
    """A code that cannot be read or written as the Code Sequence macro requires."""


@dataclass(frozen=True)
class Code:
    """A coded concept: Code Value, Coding Scheme Designator, Code Meaning (and optionally the
    Coding Scheme Version)."""

    value: str
    scheme: str
    meaning: str = field(default="", compare=False)
    scheme_version: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.value or not self.scheme:
            raise CodeError(f"a code needs a value and a coding scheme: {self!r}")

    def __str__(self) -> str:
        return f"({self.value}, {self.scheme}, \"{self.meaning}\")"

    def to_dataset(self) -> Dataset:
        """An item of a code sequence (PS3.3 Table 8.8-1)."""
        item = Dataset()
        if self.value.startswith(("urn:", "http://", "https://")):
            item.URNCodeValue = self.value
        elif len(self.value) > SHORT_CODE_VALUE:
            item.LongCodeValue = self.value
        else:
            item.CodeValue = self.value
        # Type 1C with a Code Value or Long Code Value; allowed with a URN Code Value.
        item.CodingSchemeDesignator = self.scheme
        if self.scheme_version:
            item.CodingSchemeVersion = self.scheme_version
        item.CodeMeaning = self.meaning
        return item

    @classmethod
    def from_dataset(cls, item: Dataset, where: str = "") -> Code:
        """The code of a code sequence item; :class:`CodeError` naming ``where`` when it has no
        value or no scheme."""
        value = str(item.get("CodeValue") or item.get("LongCodeValue")
                    or item.get("URNCodeValue") or "").strip()
        scheme = str(item.get("CodingSchemeDesignator") or "").strip()
        if not scheme and value.startswith(("urn:", "http")):
            scheme = "URN"
        if not value or not scheme:
            raise CodeError(f"{where or 'code sequence item'}: no Code Value or no Coding "
                            "Scheme Designator")
        version = item.get("CodingSchemeVersion")
        return cls(value, scheme, str(item.get("CodeMeaning") or ""),
                   str(version) if version else None)


@dataclass(frozen=True)
class ContextGroup:
    """A PS3.16 context group: its number, keyword and codes (in the table's order)."""

    number: int
    keyword: str
    codes: tuple[Code, ...]
    keywords: dict[str, Code] = field(compare=False, repr=False)

    def __contains__(self, code: Any) -> bool:
        return isinstance(code, Code) and code in self._members

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    @functools.cached_property
    def _members(self) -> frozenset[Code]:
        return frozenset(self.codes)

    def by_keyword(self, keyword: str) -> Code:
        """The group's concept with this PS3.16 keyword (KeyError when none)."""
        try:
            return self.keywords[keyword]
        except KeyError:
            raise KeyError(f"CID {self.number} ({self.keyword}) has no concept "
                           f"{keyword!r}") from None


@functools.cache
def _table() -> tuple[dict[int, ContextGroup], dict[str, int], dict[str, Code]]:
    members: dict[int, list[Code]] = {}
    keywords: dict[int, dict[str, Code]] = {}
    names: dict[int, str] = {}
    concepts: dict[str, Code] = {}
    with open(DATA, encoding="utf-8") as table:
        next(table)
        for line in table:
            number_text, group, scheme, value, meaning, keyword = line.rstrip("\n").split("\t")
            number = int(number_text)
            code = Code(value, scheme, meaning)
            members.setdefault(number, []).append(code)
            names[number] = group
            if keyword:
                keywords.setdefault(number, {}).setdefault(keyword, code)
                known = concepts.get(keyword)
                # A keyword used by several schemes: the DCM concept wins, then the first.
                if known is None or (scheme == "DCM" and known.scheme != "DCM"):
                    concepts[keyword] = code
    groups = {n: ContextGroup(n, names[n], tuple(codes), keywords.get(n, {}))
              for n, codes in members.items()}
    by_name = {group.keyword: n for n, group in groups.items()}
    return groups, by_name, concepts


def cid(group: int | str) -> ContextGroup:
    """A context group by its number (7151) or keyword ("SegmentationPropertyType")."""
    groups, by_name, _concepts = _table()
    number = by_name.get(group) if isinstance(group, str) else group
    if number is None or number not in groups:
        raise KeyError(f"no PS3.16 context group {group!r}")
    return groups[number]


def concept(keyword: str) -> Code:
    """A coded concept of any PS3.16 context group by its keyword (a DCM concept preferred)."""
    _groups, _by_name, concepts = _table()
    try:
        return concepts[keyword]
    except KeyError:
        raise KeyError(f"no PS3.16 concept with keyword {keyword!r}") from None


def groups_of(code: Code) -> list[int]:
    """The numbers of the context groups that hold ``code``."""
    groups, _by_name, _concepts = _table()
    return sorted(n for n, group in groups.items() if code in group)
