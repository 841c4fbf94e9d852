"""The Basic Application Level Confidentiality Profile and its options (PS3.15 Annex E),
applied to a data set as Table E.1-1 says, attribute by attribute, down into sequences.

The actions (PS3.15 E.1.1, Table E.1-1 legend):

- **X** remove; **Z** a zero-length value; **D** a non-empty dummy value of the VR; **K** keep
  (a kept sequence is cleaned item by item); **U** a UID replaced by a keyed one, consistently
  (:mod:`dicomkit.deid.keys`), so references inside sequences still point at the replaced
  instances;
- the combined codes choose by what the IOD requires of the attribute (PS3.3 Type, from the
  generated IOD tables of :mod:`dicomkit.iod.modules`, looked up for the data set's SOP Class
  and for the sequence item the attribute is in): **X/Z** Type 1 → D (a dummy is allowed
  under Z, and Type 1 forbids an empty value), Type 2 → Z, else X; **X/D** Type 1 or 2 → D,
  else X; **X/Z/D** Type 1 → D, Type 2 → Z, else X; **Z/D** Type 1 → D, else Z; **X/Z/U\\***
  (Referenced Image Sequence, Source Image Sequence): the sequence is kept and its UIDs
  replaced;
- **C** (an option's column): text is scrubbed of the identifying values of the data set
  (names, IDs, dates and the like that the profile removes or replaces, each occurrence
  masked with ``*``) and of anything shaped like a date; a sequence is cleaned item by item;
  C of the Modified Dates option shifts dates (DA, DT) by the patient's keyed offset; a value
  that cannot be cleaned (binary) is kept, except Overlay Data (see below).

Private attributes are removed, except, under Retain Safe Private, those of Table E.3.10-1
(their private creator kept with them). Curves (50xx) are removed with their group; Overlay
Data (60xx,3000) removed takes its whole overlay group with it (an overlay without its data
breaks the Overlay Plane Module); under Clean Graphics an overlay is kept only when Clean Pixel
Data blanks regions of the image (the same regions are blanked in the overlay), and removed
otherwise.

A data set with Pixel Data is passed to :mod:`dicomkit.deid.pixels` under Clean Pixel Data.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Iterable
from typing import Any

from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, Sequence
from dicomkit.core.tag import tag_str
from dicomkit.core.vr import VR_INFO
from dicomkit.deid.keys import Keys
from dicomkit.deid.pixels import clean_pixel_data
from dicomkit.deid.report import Change, DeidError, Report
from dicomkit.deid.table import (
    FULL_DATES,
    METHOD_CONCEPTS,
    MODIFIED_DATES,
    OPTIONS,
    actions,
    check_options,
    is_safe_private,
)
from dicomkit.deid.visual import passed_because, unsupported_reason
from dicomkit.errors import DicomError

PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
ACCESSION_NUMBER = 0x00080050
STUDY_ID = 0x00200010
SOP_CLASS_UID = 0x00080016
PIXEL_DATA = 0x7FE00010

TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
DATE_VRS = frozenset({"DA", "DT"})
BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"})
COMBINED = frozenset({"X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"})
DATE_SHAPES = re.compile(r"\b(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}"
                         r"|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))\b")


# -- the Type of each attribute, from the IOD tables -------------------------------------------------
_RANK = {"1": 0, "1C": 1, "2": 2, "2C": 3, "3": 4, "3C": 4}


class TypeMap:
    """PS3.3 Type of each attribute at one level of an IOD (a data set or a sequence item),
    and the maps of its sequences' items."""

    def __init__(self, rules: Iterable[Any]) -> None:
        self.types: dict[int, str] = {}
        self._items: dict[int, list[Any]] = {}
        self._children: dict[int, TypeMap] = {}
        for rule in rules:
            if not rule.tag:
                continue
            known = self.types.get(rule.tag)
            if known is None or _RANK.get(rule.type, 5) < _RANK.get(known, 5):
                self.types[rule.tag] = rule.type
            if rule.items:
                self._items.setdefault(rule.tag, []).extend(rule.items)

    def child(self, tag: int) -> TypeMap:
        found = self._children.get(tag)
        if found is None:
            found = self._children[tag] = TypeMap(self._items.get(tag, ()))
        return found


EMPTY_TYPES = TypeMap(())


@functools.lru_cache(maxsize=64)
def type_map(sop_class: str) -> TypeMap:
    """The Types of the IOD that ``sop_class`` selects (no Types for an unknown class)."""
    from dicomkit.iod.modules import IODError, iod_for, module_rules

    try:
        iod = iod_for(sop_class)
    except IODError:
        return EMPTY_TYPES
    rules: list[Any] = []
    for use in iod.modules:
        rules.extend(module_rules(use.module))
    return TypeMap(rules)


def choose(action: str, attribute_type: str | None) -> str:
    """The one action a combined code comes to for an attribute of this Type (module
    docstring)."""
    required = attribute_type in ("1", "1C")
    type2 = attribute_type in ("2", "2C")
    if action == "X/Z" or action == "X/Z/D" or action == "X/Z/U*":
        return "D" if required else "Z" if type2 else "X"
    if action == "X/D":
        return "D" if required or type2 else "X"
    if action == "Z/D":
        return "D" if required else "Z"
    return action


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def _report_value(element: DataElement) -> Any:
    if element.VR == "SQ":
        return f"<{len(element.value)} item(s)>"
    if element.VR in BINARY_VRS:
        return f"<{element.length} bytes>"
    value = element.value
    if isinstance(value, list):
        return [str(v) if not isinstance(v, (int, float)) else v for v in value]
    if isinstance(value, (int, float)) or value is None:
        return value
    return str(value)


def shift_date(text: str, days: int) -> str | None:
    """A DA value (or the date part of a DT value) moved by ``days``; a partial date (year,
    year and month) is moved as its first day and cut back to its precision. None: not a
    date."""
    head = text[:8]
    if not head.isdigit() or len(head) not in (4, 6, 8):
        return None
    full = head + "0101"[len(head) - 4:] if len(head) < 8 else head
    try:
        moved = _dt.date(int(full[:4]), int(full[4:6]), int(full[6:8])) + _dt.timedelta(days)
    except ValueError:
        return None
    return moved.strftime("%Y%m%d")[:len(head)] + text[8:]


class Deidentifier:
    """PS3.15 Annex E for one set of options and one key; call it on data sets.

    ``options``: names of :data:`dicomkit.deid.OPTIONS`; ``key``: the secret of the
    pseudonyms (bytes, text, or a :class:`Keys`; None: random, consistent within this object
    only); ``rules``: the Clean Pixel Data region rules (:class:`dicomkit.deid.pixels.Rules`);
    ``record``: whether the reports list every change (false: they only count them, see
    :class:`Report`).
    """

    def __init__(self, options: Iterable[str] = (), key: bytes | str | Keys | None = None, *,
                 rules: Any = None, record: bool = True) -> None:
        self.options = check_options(list(options))
        self.actions = actions(self.options)
        self.keys = key if isinstance(key, Keys) else Keys(key)
        self.rules = rules
        self.record = record
        self.method_codes: list[Any] | None = None  # the CID 7050 codes, once looked up

    def __call__(self, ds: Dataset, *, file: str = "") -> tuple[Dataset, Report]:
        return _Run(self, ds, file).result()


class _Run:
    """One data set going through the profile."""

    def __init__(self, owner: Deidentifier, ds: Dataset, file: str) -> None:
        self.owner = owner
        self.actions = owner.actions
        self.keys = owner.keys
        self.source = ds
        self.report = Report(file, record=owner.record)
        self.patient = str(ds.get("PatientID") or ds.get("PatientName") or "").strip()
        self._shift: int | None = None
        self._scrub: re.Pattern[str] | None = None
        self.overlays_removed: set[int] = set()
        self.overlays_cleaned: set[int] = set()

    # -- the run ------------------------------------------------------------------------------
    def result(self) -> tuple[Dataset, Report]:
        options = self.owner.options
        visual = "clean-visual-features" in options and PIXEL_DATA in self.source
        if visual:  # PS3.15 E.3.2, what dicomkit can promise: deid/visual.py
            reason = unsupported_reason(self.source)
            if reason is not None:
                raise DeidError(reason)
            self.report.notes.append(passed_because(self.source))
        out = self.source.copy()
        object.__setattr__(out, "file_meta", None)
        sop_class = str(self.source.get("SOPClassUID") or "").strip()
        self.walk(out, type_map(sop_class) if sop_class else EMPTY_TYPES, "")
        self.finish_overlays(out)
        if "clean-pixel-data" in options and PIXEL_DATA in out:
            out = clean_pixel_data(out, self.owner.rules, self.report,
                                   overlays=sorted(self.overlays_cleaned))
        elif self.overlays_cleaned:
            for group in sorted(self.overlays_cleaned):
                self.remove_group(out, group, "overlay with no cleaning rule")
        self.record_method(out)
        if visual:
            out.set(0x00280302, "NO", "CS")  # Recognizable Visual Features (E.3.2)
        return out, self.report

    def note(self, ds: Dataset, tag: int, prefix: str, action: str,
             before: DataElement | tuple[str, int, int, bool] | None, after: Any) -> None:
        """Record a change (of the attribute ``tag`` in the item at ``prefix``), or only count
        it when the report does not record; ``before``: the original element, or its raw
        entry (fingerprinted from the source bytes without decoding, when they are little
        endian); ``after``: the new value for the report, or the element to take it from."""
        if not self.report.record:
            self.report.unrecorded += 1
            return
        if isinstance(after, DataElement):
            after = _report_value(after)
        fingerprint = None
        try:
            if type(before) is tuple:
                _vr, offset, length, undefined = before
                if not undefined and ds.is_little_endian and ds.buffer is not None:
                    fingerprint = self.keys.before(bytes(ds.buffer[offset:offset + length]))
            elif isinstance(before, DataElement):
                fingerprint = self.keys.before(before.value_bytes())
        except (DicomError, ValueError, TypeError):
            fingerprint = None
        self.report.changes.append(Change(f"{tag:08X}", self.path(prefix, tag), action,
                                          fingerprint, after))

    @staticmethod
    def path(prefix: str, tag: int) -> str:
        name = dictionary.keyword_for_tag(tag) or tag_str(tag)
        return prefix + name

    # -- walking ------------------------------------------------------------------------------
    def walk(self, ds: Dataset, types: TypeMap, prefix: str) -> None:
        private_tags = []
        for tag in ds.tags():
            if (tag >> 16) & 1:
                private_tags.append(tag)
                continue
            if not tag & 0xFFFF:
                continue  # a group length: the writer leaves them out
            action = self.actions.of(tag)
            entry = ds.raw_entry(tag)
            vr = entry[0] if type(entry) is tuple else entry.VR
            if action is None:
                if vr == "SQ":
                    self.items(ds, tag, types, prefix)
                continue
            if action in COMBINED:
                action = "K" if action == "X/Z/U*" and vr == "SQ" else choose(
                    action, types.types.get(tag))
            self.apply(ds, tag, vr, action, types, prefix)
        if private_tags:
            self.private(ds, private_tags, types, prefix)

    def items(self, ds: Dataset, tag: int, types: TypeMap, prefix: str) -> None:
        """A sequence kept: every item copied and walked (the input is never changed)."""
        element = ds[tag]
        child = types.child(tag)
        name = self.path(prefix, tag)
        fresh = Sequence()
        for index, item in enumerate(element.value):
            copy = item.copy()
            object.__setattr__(copy, "parent", ds)
            self.walk(copy, child, f"{name}[{index}].")
            fresh.append(copy)
        ds[tag] = DataElement(tag, "SQ", fresh, charsets=element.charsets)

    def apply(self, ds: Dataset, tag: int, vr: str, action: str, types: TypeMap,
              prefix: str) -> None:
        if action == "K":
            if vr == "SQ":
                self.items(ds, tag, types, prefix)
            return
        if action == "X":
            entry = ds.raw_entry(tag)
            del ds[tag]
            self.note(ds, tag, prefix, "X", entry, None)
            if (tag >> 16) & 0xFF00 == 0x6000 and tag & 0xFFFF == 0x3000:
                self.overlays_removed.add(tag >> 16)
            return
        element = ds[tag]
        if vr == "SQ":
            if action == "Z":
                ds[tag] = DataElement(tag, "SQ", Sequence(), charsets=element.charsets)
                self.note(ds, tag, prefix, "Z", None, "<0 item(s)>")
            else:  # D, C, U of a sequence: keep its items, each de-identified
                self.items(ds, tag, types, prefix)
            return
        if action == "Z":
            new_value: Any = self.pseudonym(tag, element)
        elif action == "D":
            new_value = self.dummy(tag, vr, element)
        elif action == "U":
            new_value = (self.replace_uids(element.value) if vr == "UI"
                         else self.dummy(tag, vr, element))
        elif action == "S":
            if vr not in DATE_VRS:
                return
            new_value = self.shift(element.value, vr)
        elif action == "C":
            if (tag >> 16) & 0xFF00 == 0x6000 and tag & 0xFFFF == 0x3000:
                self.overlays_cleaned.add(tag >> 16)
                return
            if vr not in TEXT_VRS:
                return
            new_value = self.clean(element.value)
        else:
            raise DeidError(f"Table E.1-1 action {action!r} of {self.path(prefix, tag)} is "
                            "not known")
        if new_value == element.value:
            return
        ds.set(tag, new_value, vr)
        self.note(ds, tag, prefix, action, element, ds[tag])

    def private(self, ds: Dataset, tags: list[int], types: TypeMap, prefix: str) -> None:
        """Private attributes (PS3.15 E.3.10): removed; under Retain Safe Private those of
        Table E.3.10-1 stay, with their creators."""
        keep_blocks: set[int] = set()
        safe = self.actions.private == "C"
        creators = []
        for tag in tags:
            element_number = tag & 0xFFFF
            if 0x10 <= element_number <= 0xFF:
                creators.append(tag)
                continue
            if safe and element_number >= 0x1000 and is_safe_private(
                    tag, ds.private_creator_of(tag)):
                keep_blocks.add((tag & 0xFFFF0000) | (element_number >> 8))
                entry = ds.raw_entry(tag)
                if (entry[0] if type(entry) is tuple else entry.VR) == "SQ":
                    self.items(ds, tag, EMPTY_TYPES, prefix)
                continue
            entry = ds.raw_entry(tag)
            del ds[tag]
            self.note(ds, tag, prefix, "X", entry, None)
        for tag in creators:
            if tag in keep_blocks:
                continue
            entry = ds.raw_entry(tag)
            del ds[tag]
            self.note(ds, tag, prefix, "X", entry, None)  # a creator: no keyword

    # -- overlays (PS3.3 C.9.2) -----------------------------------------------------------------
    def remove_group(self, ds: Dataset, group: int, why: str) -> None:
        for tag in [t for t in ds.tags() if t >> 16 == group]:
            element = ds[tag]
            del ds[tag]
            self.note(ds, tag, "", "X", element, None)
        self.report.notes.append(f"group {group:04X} removed: {why}")

    def finish_overlays(self, ds: Dataset) -> None:
        for group in sorted(self.overlays_removed):
            if any(t >> 16 == group for t in ds.tags()):
                self.remove_group(ds, group, "its Overlay Data was removed")

    # -- values -------------------------------------------------------------------------------
    def pseudonym(self, tag: int, element: DataElement) -> Any:
        """Z: a zero-length value; for the patient and study identifiers a keyed pseudonym
        instead (Z allows a dummy), so that one patient keeps one identity across files."""
        if not _values(element.value):
            return element.value
        if tag == PATIENT_ID:
            return self.keys.code("patient", self.patient, 16)
        if tag == PATIENT_NAME:
            return "ANONYMOUS^" + self.keys.code("patient", self.patient, 12)
        if tag in (ACCESSION_NUMBER, STUDY_ID):
            return self.keys.code(f"{tag:08X}", str(element.value), 16)
        return [] if element.VR in NUMBER_VRS else b"" if element.VR in BINARY_VRS else ""

    def dummy(self, tag: int, vr: str, element: DataElement) -> Any:
        """D: a non-empty value of the VR; text a keyed code of the original, so equal
        originals stay equal."""
        if tag in (PATIENT_ID, PATIENT_NAME, ACCESSION_NUMBER, STUDY_ID):
            found = self.pseudonym(tag, element)
            if found:
                return found
        original = "\\".join(str(v) for v in _values(element.value)) if vr not in (
            BINARY_VRS | NUMBER_VRS) else ""
        info = VR_INFO.get(vr)
        if vr == "UI":
            return self.keys.uid(original) if original else self.keys.uid(f"{tag:08X}")
        if vr == "PN":
            return "ANONYMOUS^" + self.keys.code("name", original, 12)
        if vr == "DA":
            return "19000101"
        if vr == "DT":
            return "19000101000000"
        if vr == "TM":
            return "000000"
        if vr == "AS":
            return "000Y"
        if vr in ("DS", "IS"):
            return "0"
        if vr == "UR":
            return "urn:dicomkit:deid:" + self.keys.code("uri", original, 16)
        if vr in NUMBER_VRS:
            return 0
        if vr in BINARY_VRS:
            return b"\0" * 8
        length = min(16, info.max_length or 16) if info is not None else 16
        return self.keys.code(f"{tag:08X}", original, length)

    def replace_uids(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.keys.uid(str(v)) if v else v for v in value]
        return self.keys.uid(str(value)) if value else value

    def shift(self, value: Any, vr: str) -> Any:
        if self._shift is None:
            self._shift = self.keys.shift_days(self.patient)
        days = self._shift

        def one(text: str) -> str:
            text = str(text)
            if not text.strip():
                return text
            if vr == "DA" and "-" in text:  # a range (queries): both ends
                return "-".join(one(part) for part in text.split("-"))
            moved = shift_date(text.strip(), days)
            return moved if moved is not None else ("19000101" if vr == "DA"
                                                     else "19000101000000")
        if isinstance(value, list):
            return [one(v) for v in value]
        return one(value) if value else value

    def clean(self, value: Any) -> Any:
        pattern = self.scrubber()

        def one(text: Any) -> Any:
            if not isinstance(text, str) or not text:
                return text
            text = DATE_SHAPES.sub(lambda m: "*" * len(m.group(0)), text)
            return pattern.sub(lambda m: "*" * len(m.group(0)), text) if pattern else text
        if isinstance(value, list):
            return [one(v) for v in value]
        return one(value)

    def scrubber(self) -> re.Pattern[str] | None:
        """A pattern of the identifying values of the data set: the text of every top-level
        attribute the profile removes or replaces (person names by component)."""
        if self._scrub is not None:
            return self._scrub
        words: set[str] = set()
        for tag in self.source.tags():
            action = self.actions.of(tag)
            if action is None or action in ("K", "C", "S") or (tag >> 16) & 1:
                continue
            entry = self.source.raw_entry(tag)
            vr = entry[0] if type(entry) is tuple else entry.VR
            if vr not in ("PN", "LO", "SH", "DA", "AE", "CS"):
                continue
            try:
                values = _values(self.source[tag].value)
            except DicomError:
                continue
            for value in values:
                text = str(value)
                parts = re.split(r"[\^=\s,]+", text) if vr == "PN" else [text.strip()]
                words.update(p for p in parts if len(p) >= 3)
        if not words:
            return None
        alternatives = sorted(words, key=len, reverse=True)
        self._scrub = re.compile("|".join(re.escape(w) for w in alternatives), re.IGNORECASE)
        return self._scrub

    # -- what was done, in the data set (PS3.3 C.7.1.1, PS3.15 E.1) ---------------------------
    def record_method(self, ds: Dataset) -> None:
        from dicomkit.iod.codes import concept

        options = self.owner.options
        ds.set(0x00120062, "YES", "CS")  # Patient Identity Removed
        codes = self.owner.method_codes
        if codes is None:  # looked up once per Deidentifier (a CID look-up costs ~1 ms)
            names = [""] + [o for o in OPTIONS if o in options]
            codes = self.owner.method_codes = [concept(METHOD_CONCEPTS[n]) for n in names]
        ds.set(0x00120063, [c.meaning[:64] for c in codes], "LO")
        ds[0x00120064] = DataElement(0x00120064, "SQ", Sequence(c.to_dataset() for c in codes))
        if FULL_DATES in options:
            temporal = "UNMODIFIED"
        elif MODIFIED_DATES in options:
            temporal = "MODIFIED"
        else:
            temporal = "REMOVED"
        ds.set(0x00280303, temporal, "CS")  # Longitudinal Temporal Information Modified


def deidentify(ds: Dataset, options: Iterable[str] = (), key: bytes | str | Keys | None = None,
               *, rules: Any = None, file: str = "") -> tuple[Dataset, Report]:
    """``ds`` de-identified (a new data set; ``ds`` is not changed) and the report of what
    changed. See :class:`Deidentifier`; build one to run many data sets with one key."""
    return Deidentifier(options, key, rules=rules)(ds, file=file)
