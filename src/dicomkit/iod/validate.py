"""IOD validation (PS3.3 Annex A/C, PS3.5 §6–9, PS3.6, PS3.10 §7.1, PS3.16).

:func:`validate` lists every :class:`Finding` about a data set:

1. **the IOD** its SOP Class UID names (PS3.3 Annex A, the tables of :mod:`.modules`): every
   Mandatory module, every Conditional module whose condition holds (or, when it cannot be
   read, that the data set uses), every User-optional module it uses; in each module every
   attribute by Type (PS3.3 §7.4: 1, 1C, 2, 2C, 3) down into sequence items, the 1C/2C
   condition evaluated (:mod:`.conditions`, every one of dicom3tools' named conditions), a
   1C/2C attribute present when its condition does not hold and the table does not say "may
   be present otherwise", enumerated values (error) and defined terms (warning, §5.4), the
   module's VM where it narrows PS3.6's, values that must not be zero, and code sequence items
   against the context group (PS3.16 CID) the table names (enumerated: error; defined or
   baseline: warning). The enhanced multi-frame IODs' functional group macros are rows of
   those tables too (invoked under their "in shared or per-frame" conditions); the
   Per-Frame Functional Groups Sequence must hold one item per frame (C.7.6.16);
2. **every element** against the dictionary (PS3.6): VR (explicit VR files), VM, retired
   (warning); and every value against its VR's rules (PS3.5 Table 6.2-1 via
   :mod:`dicomkit.core.vr_rules`); native Pixel Data length (PS3.5 §8.1.1);
3. **File Meta Information** (PS3.10 §7.1) when the data set was read from a file with one;
4. **what the reader found** (a truncated value, a non-standard VR: ``ds.read_problems``).

Each finding names its severity (``error``/``warning``), the module, the attribute path
(``ReferencedSeriesSequence[0].SeriesInstanceUID``), the tag, a message and the standard's
section. ``Dataset.validate()`` and ``dicomkit.validate(ds)`` are doors to this function.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import entry
from dicomkit.core.uid import uid_info
from dicomkit.core.vr import TEXT_VRS, VR_INFO, encode_value, text_of
from dicomkit.core.vr_rules import value_problems, vm_allows
from dicomkit.errors import DicomError
from dicomkit.iod import conditions
from dicomkit.iod.modules import IOD, IODError, Rule, iod_for, module_rules

DATA = Path(__file__).with_name("data")
ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One thing wrong (``error``) or doubtful (``warning``) in a data set."""

    severity: str
    path: str
    tag: str
    message: str
    module: str = ""
    section: str = ""
    file: str = ""

    def as_dict(self) -> dict[str, str]:
        """The JSON form of ``dicomkit validate --json``."""
        return {"file": self.file, "severity": self.severity, "path": self.path,
                "tag": self.tag, "message": self.message, "module": self.module,
                "section": self.section}

    def __str__(self) -> str:
        module = f" [{self.module}]" if self.module else ""
        section = f" ({self.section})" if self.section else ""
        return f"{self.severity}: {self.path or '-'}: {self.message}{module}{section}"


@functools.cache
def _sections() -> dict[str, str]:
    lines = (DATA / "module_sections.tsv").read_text("utf-8").splitlines()[1:]
    return {name: section for name, _, section in (line.partition("\t") for line in lines)}


def module_section(module: str) -> str:
    """The PS3.3 section of a module or macro (dicom3tools name), e.g. ``PS3.3 C.7.2.1``."""
    section = _sections().get(module)
    return f"PS3.3 {section}" if section else "PS3.3 Annex C"


def _tag(tag: int) -> str:
    return f"{tag:08X}"


def validate(dataset: Dataset, iod: str | None = None, *, file: str = "") -> list[Finding]:
    """Every finding about ``dataset`` (``iod``: an IOD name or SOP Class UID to check against
    instead of the data set's own SOP Class UID). Never raises for bad content."""
    findings: list[Finding] = []
    for problem in getattr(dataset, "read_problems", None) or []:
        findings.append(Finding(ERROR, "", "", f"read: {problem}", section="PS3.5 §7"))
    meta = dataset.file_meta
    if meta is not None:
        _check_meta(meta, dataset, findings)
    _check_elements(dataset, "", findings)
    _check_iod(dataset, iod, findings)
    _check_pixel_data(dataset, findings)
    _check_uid_uniqueness(dataset, findings)
    unique: dict[tuple[str, str, str], Finding] = {}
    for finding in findings:  # an attribute two modules share is reported once
        unique.setdefault((finding.severity, finding.path, finding.message), finding)
    findings = list(unique.values())
    if file:
        findings = [Finding(f.severity, f.path, f.tag, f.message, f.module, f.section, file)
                    for f in findings]
    return findings


# -- 3. File Meta Information (PS3.10 §7.1) --------------------------------------------------

def _check_meta(meta: Dataset, dataset: Dataset, findings: list[Finding]) -> None:
    section = "PS3.10 §7.1"

    def add(keyword: str, tag: int, message: str, severity: str = ERROR) -> None:
        findings.append(Finding(severity, keyword, _tag(tag), message, "FileMetaInformation",
                                section))

    for keyword, tag in (("FileMetaInformationGroupLength", 0x00020000),
                         ("FileMetaInformationVersion", 0x00020001),
                         ("MediaStorageSOPClassUID", 0x00020002),
                         ("MediaStorageSOPInstanceUID", 0x00020003),
                         ("TransferSyntaxUID", 0x00020010),
                         ("ImplementationClassUID", 0x00020012)):
        if tag not in meta or _empty(_value(meta.get(tag))):
            add(keyword, tag, "Type 1 File Meta element is absent or empty")
    if 0x00020000 in meta:
        claimed = _value(meta.get(0x00020000))
        actual = _meta_group_length(meta)
        if isinstance(claimed, int) and actual is not None and claimed != actual:
            add("FileMetaInformationGroupLength", 0x00020000,
                f"is {claimed} but the elements after it take {actual} bytes")
    version = _value(meta.get(0x00020001)) if 0x00020001 in meta else None
    if isinstance(version, (bytes, bytearray)) and bytes(version) != b"\x00\x01":
        add("FileMetaInformationVersion", 0x00020001,
            f"is {bytes(version).hex()} instead of 0001")
    for meta_tag, keyword, data_tag, data_keyword in (
            (0x00020002, "MediaStorageSOPClassUID", 0x00080016, "SOPClassUID"),
            (0x00020003, "MediaStorageSOPInstanceUID", 0x00080018, "SOPInstanceUID")):
        stored, own = _text(meta, meta_tag), _text(dataset, data_tag)
        if stored and own and stored != own:
            add(keyword, meta_tag, f"{stored} differs from the data set's {data_keyword} {own}")
        elif stored and not own:
            add(keyword, meta_tag, f"is {stored} but the data set has no {data_keyword}")
    syntax = _text(meta, 0x00020010)
    if syntax:
        info = uid_info(syntax)
        if info is None or info.type != "Transfer Syntax":
            add("TransferSyntaxUID", 0x00020010,
                f"{syntax} is not a transfer syntax of PS3.6 Annex A")
    _check_elements(meta, "", findings)


def _meta_group_length(meta: Dataset) -> int | None:
    total = 0
    try:
        for element in meta:
            if element.tag == 0x00020000:
                continue
            raw = element.raw
            data = bytes(raw) if raw is not None else encode_value(element.VR, element.value)
            total += (12 if VR_INFO.get(element.VR, VR_INFO["UN"]).long_length else 8)
            total += len(data) + len(data) % 2
    except (DicomError, ValueError, TypeError):
        return None
    return total


# -- 2. every element: dictionary VR/VM, value rules -----------------------------------------

def _check_elements(dataset: Dataset, prefix: str, findings: list[Finding]) -> None:
    explicit = not dataset.is_implicit_VR if hasattr(dataset, "is_implicit_VR") else True
    for element in dataset:
        tag = element.tag
        known = entry(tag) if not tag & 0x10000 else None
        keyword = (known.keyword if known is not None else "") or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        path = prefix + keyword
        vr = element.VR
        if known is not None and known.vr not in ("NONE", ""):
            allowed = known.vr.split(" or ")
            if vr not in allowed and vr != "UN" and explicit:
                findings.append(Finding(ERROR, path, _tag(tag), f"VR {vr} is not the VR PS3.6 "
                                        f"gives ({known.vr})", section="PS3.6 §6"))
            if known.retired and known.keyword:
                findings.append(Finding(WARNING, path, _tag(tag), "is retired in PS3.6",
                                        section="PS3.6 §6"))
        if vr == "SQ":
            try:
                items = element.value
            except DicomError as exc:
                findings.append(Finding(ERROR, path, _tag(tag), f"sequence does not decode: "
                                        f"{exc}", section="PS3.5 §7.5"))
                continue
            for number, item in enumerate(items or []):
                if isinstance(item, Dataset):
                    _check_elements(item, f"{path}[{number}].", findings)
            continue
        _check_value(element, path, known.vm if known is not None else "", findings)


def _check_value(element: Any, path: str, vm: str, findings: list[Finding]) -> None:
    vr = element.VR
    info = VR_INFO.get(vr)
    tag = element.tag
    if info is None or vr in ("UN", "OB", "OW", "OF", "OD", "OL", "OV"):
        return
    raw = element.raw
    if info.fixed_size:
        size = info.fixed_size
        length = len(raw) if raw is not None else None
        if length is not None and length % size:
            findings.append(Finding(ERROR, path, _tag(tag), f"value length {length} is not a "
                                    f"multiple of {size} for {vr}", section="PS3.5 §6.2"))
            return
        count = length // size if length is not None else _count(element)
        if count and vm and not vm_allows(vm, count):
            findings.append(Finding(ERROR, path, _tag(tag), f"{count} values but PS3.6 VM is "
                                    f"{vm}", section="PS3.6 §6"))
        return
    if raw is not None and vr != "UI" and bytes(raw[-1:]) == b"\0":
        findings.append(Finding(ERROR, path, _tag(tag), f"{vr} value is padded with NUL "
                                "instead of a space", section="PS3.5 §6.2"))
    if raw is not None and vr not in TEXT_VRS:
        text = bytes(raw).decode("latin-1").rstrip("\0 " if vr != "UI" else "\0")
        if vr != "UI":
            text = text.rstrip(" ")
    else:
        try:
            value = element.value
        except DicomError as exc:
            findings.append(Finding(ERROR, path, _tag(tag), f"value does not decode: {exc}",
                                    section="PS3.5 §6.1"))
            return
        if value is None or value == "":
            return
        if info.kind == "text":
            text = str(value)
        elif isinstance(value, (list, tuple)):
            text = "\\".join(text_of(vr, v) for v in value)
        else:
            text = text_of(vr, value)
        text = text.rstrip(" \0")
    if not text:
        return
    values = text.split("\\") if info.multi_valued else [text]
    if vm and info.multi_valued and not vm_allows(vm, len(values)):
        findings.append(Finding(ERROR, path, _tag(tag), f"{len(values)} values but PS3.6 VM "
                                f"is {vm}", section="PS3.6 §6"))
    for number, value_text in enumerate(values):
        for problem in value_problems(vr, value_text):
            findings.append(Finding(ERROR, path, _tag(tag),
                                    f"value {number + 1} {value_text[:64]!r}: {problem}",
                                    section="PS3.5 §9.1" if vr == "UI" else "PS3.5 §6.2"))


def _count(element: Any) -> int:
    try:
        value = element.value
    except DicomError:
        return 0
    if value is None:
        return 0
    return len(value) if isinstance(value, (list, tuple)) else 1


# -- 1. the IOD -----------------------------------------------------------------------------

def _check_iod(dataset: Dataset, iod: str | None, findings: list[Finding]) -> None:
    if iod is None:
        iod = _text(dataset, 0x00080016)
        if not iod:
            findings.append(Finding(ERROR, "SOPClassUID", "00080016", "absent or empty: the "
                                    "IOD cannot be known", "SOPCommon", "PS3.3 C.12.1"))
            return
    try:
        model = iod_for(iod)
    except IODError:
        findings.append(Finding(ERROR, "SOPClassUID", "00080016", f"no composite IOD is known "
                                f"for {iod} (PS3.3 Annex A, PS3.4 Annex B)", "SOPCommon",
                                "PS3.3 Annex A"))
        return
    walker = _IODWalker(dataset, findings)
    for use in _modules_in_use(model, dataset):
        walker.rules(dataset, module_rules(use), "", use, ())
    per_frame = dataset.get(0x52009230) if 0x52009230 in dataset else None
    frames = _value(dataset.get(0x00280008)) if 0x00280008 in dataset else None
    if per_frame is not None and per_frame.VR == "SQ":
        count = len(per_frame.value or [])
        expected = _int(frames) if frames is not None else 1
        if expected is not None and count != expected:
            findings.append(Finding(ERROR, "PerFrameFunctionalGroupsSequence", "52009230",
                                    f"{count} items but Number of Frames is {expected}",
                                    "MultiFrameFunctionalGroupsCommon", "PS3.3 C.7.6.16"))


def _modules_in_use(model: IOD, dataset: Dataset) -> list[str]:
    owners: dict[int, int] = {}
    for use in model.modules:
        for rule in module_rules(use.module):
            owners[rule.tag] = owners.get(rule.tag, 0) + 1
    chosen = []
    for use in model.modules:
        if use.usage == "M":
            chosen.append(use.module)
            continue
        held = conditions.holds(use.condition, dataset, dataset) if use.condition else None
        if use.usage == "C" and held is not None:
            if held:  # a Conditional module follows its condition when it can be read
                chosen.append(use.module)
            continue
        used = any(owners[r.tag] == 1 and r.tag in dataset
                   for r in module_rules(use.module) if r.tag)
        if held or used:
            chosen.append(use.module)
    return chosen


class _IODWalker:
    """Checks a data set's elements against module rules (PS3.3 §7.4 and §5.4)."""

    def __init__(self, root: Dataset, findings: list[Finding]) -> None:
        self.root = root
        self.findings = findings

    def add(self, severity: str, path: str, tag: int, message: str, module: str) -> None:
        self.findings.append(Finding(severity, path, _tag(tag), message, module,
                                     module_section(module)))

    def rules(self, dataset: Dataset, rules: Iterable[Rule], prefix: str, module: str,
              parents: Sequence[Dataset]) -> None:
        """Each attribute once, under the first of its rules whose Type applies: a macro may
        list an attribute several times under different conditions (SR content items)."""
        by_tag: dict[int, list[Rule]] = {}
        for rule in rules:
            if rule.tag:
                by_tag.setdefault(rule.tag, []).append(rule)
        for alternatives in by_tag.values():
            self.attribute(dataset, alternatives, prefix, module, parents)

    def attribute(self, dataset: Dataset, alternatives: list[Rule], prefix: str, module: str,
                  parents: Sequence[Dataset]) -> None:
        rule = alternatives[0]
        verdicts: list[bool | None] = []
        for candidate in alternatives:
            if candidate.type in ("1C", "2C") and candidate.condition:
                verdicts.append(conditions.holds(candidate.condition, dataset, self.root,
                                                 parents))
            elif candidate.type in ("1C", "2C"):
                verdicts.append(None)
            else:
                verdicts.append(True)
            if verdicts[-1]:
                rule = candidate
                break
        path = f"{prefix}{rule.keyword}"
        conditional = rule.type in ("1C", "2C")
        holds = verdicts[-1]
        if rule.tag not in dataset:
            if rule.type in ("1", "2") or (conditional and holds):
                why = f" and its condition {rule.condition} holds" if conditional else ""
                self.add(ERROR, path, rule.tag, f"Type {rule.type} attribute is absent{why}",
                         module)
            return
        element = dataset.get(rule.tag)
        if (all(v is False for v in verdicts) and len(verdicts) == len(alternatives)
                and not any(r.may_be_present for r in alternatives)):
            self.add(ERROR, path, rule.tag, f"Type {rule.type} attribute is present although "
                     f"its condition {rule.condition} does not hold (and it may not be present "
                     "otherwise)", module)
        try:
            value = element.value
        except DicomError as exc:
            self.add(ERROR, path, rule.tag, f"value does not decode: {exc}", module)
            return
        if _empty(value):
            if rule.type in ("1", "1C"):
                self.add(ERROR, path, rule.tag, f"Type {rule.type} attribute is empty", module)
            return
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if rule.enum:
            self.enumerated(rule.enum_index, rule.enum, values, path, rule.tag, module, ERROR,
                            "enumerated values")
        if rule.defined:
            self.enumerated(rule.defined_index, rule.defined, values, path, rule.tag, module,
                            WARNING, "defined terms")
        if rule.vm and element.VR not in ("SQ", "OB", "OW") and not vm_allows(rule.vm,
                                                                               len(values)):
            self.add(ERROR, path, rule.tag, f"{len(values)} values but the module requires VM "
                     f"{rule.vm}", module)
        if rule.not_zero and any(_is_zero(v) for v in values):
            self.add(ERROR if rule.not_zero == "E" else WARNING, path, rule.tag,
                     "value is zero", module)
        if element.VR != "SQ":
            return
        for number, item in enumerate(values):
            if not isinstance(item, Dataset):
                continue
            item_prefix = f"{path}[{number}]."
            if rule.cid:
                self.code(item, rule.cid, item_prefix, module)
            if rule.items:
                self.rules(item, rule.items, item_prefix, module, [*parents, dataset])

    def enumerated(self, index: int | None, allowed: tuple[str, ...], values: list[Any],
                   path: str, tag: int, module: str, severity: str, what: str) -> None:
        indexes = range(len(values)) if index is None else [index]
        for position in indexes:
            if position >= len(values) or values[position] is None:
                continue
            text = str(values[position]).strip()
            if tag == 0x00080102 and text.startswith("99"):
                continue  # a private coding scheme (PS3.16 §8: "99" designators) is allowed
            if text and text not in allowed:
                shown = "|".join(allowed[:12]) + ("|…" if len(allowed) > 12 else "")
                self.add(severity, path, tag, f"value {position + 1} {text!r} is not one of the "
                         f"{what} {shown}", module)

    def code(self, item: Dataset, cid_text: str, prefix: str, module: str) -> None:
        from dicomkit.iod.codes import Code, cid

        kind, _, number = cid_text.partition(":")
        value = str(item.get("CodeValue") or item.get("LongCodeValue")
                    or item.get("URNCodeValue") or "").strip()
        scheme = str(item.get("CodingSchemeDesignator") or "").strip()
        if not value or not scheme or not number.isdigit():
            return
        try:
            group = cid(int(number))
        except KeyError:
            return
        if Code(value, scheme) in group:
            return
        severity = ERROR if kind == "E" else WARNING
        if scheme not in {c.scheme for c in group.codes}:
            severity = WARNING  # another scheme (e.g. SRT for SCT): cannot be judged
        strength = {"E": "enumerated", "D": "defined", "B": "baseline"}.get(kind, "")
        self.add(severity, f"{prefix}CodeValue", 0x00080100, f"({value}, {scheme}) is not in "
                 f"the {strength} context group CID {number} {group.keyword} (PS3.16)", module)


# -- Pixel Data length, UID uniqueness -------------------------------------------------------

def _check_pixel_data(dataset: Dataset, findings: list[Finding]) -> None:
    """PS3.5 §8.1.1 / PS3.3 C.7.6.3: native Pixel Data holds Rows × Columns × Samples per
    Pixel × Number of Frames × Bits Allocated bits, padded to an even length."""
    if 0x7FE00010 not in dataset:
        return
    element = dataset.get(0x7FE00010)
    if getattr(element, "is_undefined_length", False) or element.raw is None:
        return
    numbers = [_int(_value(dataset.get(t))) if t in dataset else None
               for t in (0x00280010, 0x00280011, 0x00280002, 0x00280100)]
    rows, columns, samples, bits = numbers
    if None in numbers:
        return
    frames = _int(_value(dataset.get(0x00280008))) if 0x00280008 in dataset else 1
    assert rows is not None and columns is not None and samples is not None and bits is not None
    expected_bits = rows * columns * samples * (frames or 1) * bits
    expected = (expected_bits + 7) // 8
    actual = len(element.raw)
    if actual not in (expected, expected + expected % 2):
        findings.append(Finding(ERROR, "PixelData", "7FE00010", f"value length {actual} but "
                                f"the image attributes need {expected + expected % 2}",
                                "ImagePixel", "PS3.5 §8.1.1"))


def _check_uid_uniqueness(dataset: Dataset, findings: list[Finding]) -> None:
    """PS3.5 §9: a UID identifies one thing; the study, series, instance and frame of
    reference may not share one."""
    seen: dict[str, tuple[str, int]] = {}
    for tag, keyword in ((0x0020000D, "StudyInstanceUID"), (0x0020000E, "SeriesInstanceUID"),
                         (0x00080018, "SOPInstanceUID"), (0x00200052, "FrameOfReferenceUID")):
        uid = _text(dataset, tag)
        if not uid:
            continue
        if uid in seen:
            first, first_tag = seen[uid]
            findings.append(Finding(ERROR, first, _tag(first_tag), f"has the same value as "
                                    f"{keyword} ({uid})", section="PS3.5 §9"))
        seen.setdefault(uid, (keyword, tag))


# -- helpers ---------------------------------------------------------------------------------

def _value(element: Any) -> Any:
    try:
        return element.value
    except (DicomError, AttributeError):
        return None


def _text(dataset: Dataset, tag: int) -> str:
    if tag not in dataset:
        return ""
    value = _value(dataset.get(tag))
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return str(value).strip("\0 ") if value is not None else ""


def _int(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes, bytearray, memoryview, list, tuple)):
        return len(value) == 0 or (isinstance(value, str) and not value.strip("\0 "))
    return False


def _is_zero(value: Any) -> bool:
    try:
        return float(value) == 0
    except (TypeError, ValueError):
        return False

