"""The DICOM data dictionary (PS3.6 Tables 6-1, 7-1, 8-1) and a vendor private dictionary.

Data comes from the generated tables ``data/dictionary.tsv`` and ``data/private_dictionary.tsv``
(see ``data/PROVENANCE.md`` and ``tools/gen_tables.py``). Importing this module reads no file:
each table is loaded on the first call that needs it, after which every lookup is O(1).

Lookup rules (:func:`entry`):

1. exact tag;
2. group length ``(gggg,0000)`` (PS3.5 §7.2) not listed in PS3.6: VR ``UL``, keyword ``""``,
   name ``"Group Length"``;
3. odd (private) group (PS3.5 §7.8.1): a private creator ``(gggg,0010-00FF)`` is ``LO``
   ``"Private Creator"``; other private elements are not in PS3.6 (see :func:`private_entry`),
   and odd groups never match the standard repeating-group patterns;
4. repeating groups/elements of PS3.6 (``(60xx,3000)``, ``(50xx,2000)``, ``(7Fxx,0010)``,
   ``(1000,xxx0)``, ``(0028,04x0)``, ...): each distinct "x" position set gives a mask (0 nibble
   where PS3.6 has x), tried most specific first, with one dict of masked tag -> entry per mask.

:func:`tag_for_keyword` maps a pattern entry's keyword to its base tag with every x = 0
(``OverlayData`` -> ``0x60003000``, ``CurveData`` -> ``0x50003000``). For six retired
patterns that base tag means something else under the rules above, so
``entry(tag_for_keyword(kw))`` is not the pattern's entry: ``(0028,04x0)``-``(0028,04x3)``
(base tags are TransformLabel .. SequenceOfCompressedData), ``(1000,xxx0)`` EscapeTriplet
and ``(1010,xxxx)`` ZonalMap (base tags are group lengths).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "DictEntry",
    "entry",
    "keyword_for_tag",
    "private_entry",
    "tag_for_keyword",
    "vr_for_tag",
    "vrs_for_tag",
]

_DATA = os.path.join(os.path.dirname(__file__), "data")


class DictEntry(NamedTuple):
    """One PS3.6 row. ``tag`` as PS3.6 writes it, e.g. ``"(60xx,3000)"``; ``vr`` may be
    ambiguous, e.g. ``"US or SS"``; item/delimitation tags (FFFE,E0xx) have VR ``"NONE"``."""

    tag: str
    vr: str
    vm: str
    name: str
    keyword: str
    retired: bool


# Standard dictionary, filled by _load(). Exact rows stay as their TSV line until first looked
# up (then replaced by the parsed DictEntry), which keeps the first call cheap.
_exact: dict[int, DictEntry | str] | None = None
_patterns: tuple[tuple[int, dict[int, DictEntry]], ...] = ()
_keywords: dict[str, int] = {}

# Private dictionary: TSV lines (without the creator column) per creator, filled by
# _load_private(); parsed per creator on first use into (mask, {tag & mask: entry}) tables.
_private_raw: dict[str, list[str]] | None = None
_private: dict[str, tuple[tuple[int, dict[int, DictEntry]], ...]] = {}

_MASK_CHARS = str.maketrans("0123456789ABCDEFx", "FFFFFFFFFFFFFFFF0")


def _mask_value(tag: str) -> tuple[int, int]:
    """``"60xx3000"`` -> (0xFF00FFFF, 0x60003000)."""
    return int(tag.translate(_MASK_CHARS), 16), int(tag.replace("x", "0"), 16)


def _read_lines(name: str) -> list[str]:
    with open(os.path.join(_DATA, name), encoding="utf-8") as f:
        lines = f.read().splitlines()
    del lines[0]  # header
    return lines


def _parse(line: str) -> DictEntry:
    t, vr, vm, kw, name, retired, _source = line.split("\t")
    return DictEntry("(" + t[:4] + "," + t[4:] + ")", vr, vm, name, kw, retired == "Y")


def _by_specificity(masks: Iterable[int]) -> list[int]:
    """Most bits set first, so (50xx,0005)-like masks beat broader ones."""
    return sorted(masks, key=lambda m: (-bin(m).count("1"), m))


def _load() -> dict[int, DictEntry | str]:
    global _exact, _patterns, _keywords
    exact: dict[int, DictEntry | str] = {}
    patterns: dict[int, dict[int, DictEntry]] = {}
    keywords: dict[str, int] = {}
    for line in _read_lines("dictionary.tsv"):
        t, _vr, _vm, kw, _rest = line.split("\t", 4)
        if "x" in t:
            mask, value = _mask_value(t)
            patterns.setdefault(mask, {})[value] = _parse(line)
        else:
            value = int(t, 16)
            exact[value] = line
        if kw:
            keywords[kw] = value
    _patterns = tuple((m, patterns[m]) for m in _by_specificity(patterns))
    _keywords = keywords
    _exact = exact
    return exact


def _fmt(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def entry(tag: int) -> DictEntry | None:
    """The PS3.6 entry for ``tag`` (exact, group length, private creator, repeating group)."""
    exact = _exact if _exact is not None else _load()
    e = exact.get(tag)
    if e is not None:
        if isinstance(e, str):
            e = exact[tag] = _parse(e)
        return e
    element = tag & 0xFFFF
    if element == 0:
        return DictEntry(_fmt(tag), "UL", "1", "Group Length", "", False)
    if tag & 0x10000:  # odd group: private (PS3.5 §7.8)
        if 0x0010 <= element <= 0x00FF:
            return DictEntry(_fmt(tag), "LO", "1", "Private Creator", "", False)
        return None
    for mask, table in _patterns:
        e = table.get(tag & mask)
        if e is not None:
            return e
    return None


def keyword_for_tag(tag: int) -> str:
    """PS3.6 keyword of ``tag``, ``""`` when unknown or without keyword."""
    e = entry(tag)
    return e.keyword if e is not None else ""


def tag_for_keyword(kw: str) -> int | None:
    """Tag of a PS3.6 keyword (base tag with x = 0 for repeating-group entries), or None."""
    if _exact is None:
        _load()
    return _keywords.get(kw)


def vr_for_tag(tag: int) -> str:
    """First VR PS3.6 lists for ``tag`` (``"US"`` for ``"US or SS"``); ``"UN"`` when unknown."""
    e = entry(tag)
    return e.vr.split(" ", 1)[0] if e is not None else "UN"


def vrs_for_tag(tag: int) -> tuple[str, ...]:
    """All VRs PS3.6 lists for ``tag``, e.g. ``("OB", "OW")``; ``("UN",)`` when unknown."""
    e = entry(tag)
    return tuple(e.vr.split(" or ")) if e is not None else ("UN",)


def _load_private() -> dict[str, list[str]]:
    global _private_raw
    raw: dict[str, list[str]] = {}
    for line in _read_lines("private_dictionary.tsv"):
        creator, _, rest = line.partition("\t")
        rows = raw.get(creator)
        if rows is None:
            raw[creator] = [rest]
        else:
            rows.append(rest)
    _private_raw = raw
    return raw


def _creator_tables(creator: str) -> tuple[tuple[int, dict[int, DictEntry]], ...] | None:
    found = _private.get(creator)
    if found is not None:
        return found
    raw = _private_raw if _private_raw is not None else _load_private()
    rows = raw.get(creator)
    if rows is None:
        return None
    tables: dict[int, dict[int, DictEntry]] = {}
    for row in rows:
        t, vr, vm, name, retired = row.split("\t")
        if "x" in t[6:]:
            # GDCM's (gggg,10xx) rows name the creator element of block 10 itself; they
            # cannot be keyed by (group, element & 0xFF). entry() gives creators LO anyway.
            continue
        mask, value = _mask_value(t)
        e = DictEntry("(" + t[:4] + "," + t[4:] + ")", vr, vm, name, "", retired == "Y")
        tables.setdefault(mask, {})[value] = e
    # Exact (gggg,eeee) first, then (gggg,xxee), then group patterns such as (60xx,xxee).
    found = tuple((m, tables[m]) for m in _by_specificity(tables))
    _private[creator] = found
    return found


def private_entry(creator: str, tag: int) -> DictEntry | None:
    """Vendor private dictionary (GDCM) entry for ``tag`` in the block reserved by ``creator``.

    Keyed by the creator string (stripped of space/NUL padding) and (group, element & 0xFF),
    since the block byte (xx in (gggg,xxee), PS3.5 §7.8.1) depends on where the creator sits.
    Some GDCM rows give a full element or a group pattern (60xx); those are matched too.
    The table is read on the first call; each creator's rows are parsed on first use.
    """
    tables = _creator_tables(creator.strip(" \0"))
    if tables is None:
        return None
    element = tag & 0xFFFF
    for mask, table in tables:
        if element < 0x0100 and mask != 0xFFFFFFFF:
            break  # (gggg,00ee) is a creator/reserved element, only exact rows apply
        e = table.get(tag & mask)
        if e is not None:
            return e
    return None
