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
from collections.abc import Sequence
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
from dicomkit.iod.modules import IODError, Rule, iod_for, is_empty, module_rules

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
        if tag not in meta or is_empty(_value(meta.get(tag))):
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

_BULK_VRS = frozenset({"UN", "OB", "OW", "OF", "OD", "OL", "OV"})
"""Values not checked against VR rules (byte streams): never decoded, never copied here."""


def _check_elements(dataset: Dataset, prefix: str, findings: list[Finding]) -> None:
    explicit = not dataset.is_implicit_VR if hasattr(dataset, "is_implicit_VR") else True
    buffer = dataset.buffer
    for tag in dataset.tags():
        stored = dataset.raw_entry(tag)
        keyword, allowed, dictionary_vr, retired, vm = _facts(tag)
        path = prefix + keyword
        # A value still as the reader indexed it (vr, offset, length, undefined) whose VR is
        # final (not UN, not "US or SS", not a sequence) is checked from its bytes: Pixel Data
        # and other byte streams are not read at all, and no DataElement is made.
        raw_vr = stored[0] if type(stored) is tuple else ""
        lazy = bool(raw_vr) and raw_vr not in ("UN", "SQ") and " or " not in raw_vr
        vr = raw_vr if lazy else dataset[tag].VR
        if allowed and vr not in allowed and vr != "UN" and explicit:
            findings.append(Finding(ERROR, path, _tag(tag), f"VR {vr} is not the VR PS3.6 "
                                    f"gives ({dictionary_vr})", section="PS3.6 §6"))
        if retired:
            findings.append(Finding(WARNING, path, _tag(tag), "is retired in PS3.6",
                                    section="PS3.6 §6"))
        if vr == "SQ":
            try:
                items = dataset[tag].value
            except DicomError as exc:
                findings.append(Finding(ERROR, path, _tag(tag), f"sequence does not decode: "
                                        f"{exc}", section="PS3.5 §7.5"))
                continue
            for number, item in enumerate(items or []):
                if isinstance(item, Dataset):
                    _check_elements(item, f"{path}[{number}].", findings)
            continue
        if not lazy:
            _check_value(dataset[tag], path, vm, findings)
        elif vr not in _BULK_VRS and vr in VR_INFO:
            if vr in TEXT_VRS and stored[2]:  # decoded with the character set in force
                _check_value(dataset[tag], path, vm, findings)
            else:
                _check_raw(vr, tag, _slice(buffer, stored[1], stored[2]), path, vm, findings)


@functools.lru_cache(maxsize=8192)
def _facts(tag: int) -> tuple[str, tuple[str, ...], str, bool, str]:
    """What PS3.6 says of a tag, as the element checks use it: the keyword (or ``(gggg,eeee)``),
    the VRs allowed (none for a private tag or one without a VR), the VR column, whether it
    is retired (and named), the VM."""
    known = entry(tag) if not tag & 0x10000 else None
    keyword = (known.keyword if known is not None else "") or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    if known is None:
        return keyword, (), "", False, ""
    allowed = tuple(known.vr.split(" or ")) if known.vr not in ("NONE", "") else ()
    return keyword, allowed, known.vr, bool(allowed and known.retired and known.keyword), known.vm


def _slice(buffer: Any, offset: int, length: int) -> bytes:
    return bytes(buffer[offset:offset + length])


def _check_value(element: Any, path: str, vm: str, findings: list[Finding]) -> None:
    vr = element.VR
    info = VR_INFO.get(vr)
    if info is None or vr in _BULK_VRS:
        return
    raw = element.raw
    if raw is not None and vr not in TEXT_VRS:
        _check_raw(vr, element.tag, bytes(raw), path, vm, findings)
        return
    tag = element.tag
    if info.fixed_size:
        count = _count(element)
        if count and vm and not vm_allows(vm, count):
            findings.append(Finding(ERROR, path, _tag(tag), f"{count} values but PS3.6 VM is "
                                    f"{vm}", section="PS3.6 §6"))
        return
    if raw is not None and bytes(raw[-1:]) == b"\0":
        findings.append(Finding(ERROR, path, _tag(tag), f"{vr} value is padded with NUL "
                                "instead of a space", section="PS3.5 §6.2"))
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
    _check_text(vr, tag, text.rstrip(" \0"), path, vm, findings)


def _check_raw(vr: str, tag: int, raw: bytes, path: str, vm: str,
               findings: list[Finding]) -> None:
    """A value of a VR without a character set, from its bytes as encoded."""
    info = VR_INFO[vr]
    if info.fixed_size:
        size = info.fixed_size
        length = len(raw)
        if length % size:
            findings.append(Finding(ERROR, path, _tag(tag), f"value length {length} is not a "
                                    f"multiple of {size} for {vr}", section="PS3.5 §6.2"))
            return
        count = length // size
        if count and vm and not vm_allows(vm, count):
            findings.append(Finding(ERROR, path, _tag(tag), f"{count} values but PS3.6 VM is "
                                    f"{vm}", section="PS3.6 §6"))
        return
    if vr != "UI" and raw[-1:] == b"\0":
        findings.append(Finding(ERROR, path, _tag(tag), f"{vr} value is padded with NUL "
                                "instead of a space", section="PS3.5 §6.2"))
    text = raw.decode("latin-1").rstrip("\0 " if vr != "UI" else "\0")
    if vr != "UI":
        text = text.rstrip(" ")
    _check_text(vr, tag, text, path, vm, findings)


def _check_text(vr: str, tag: int, text: str, path: str, vm: str,
                findings: list[Finding]) -> None:
    if not text:
        return
    info = VR_INFO[vr]
    values = text.split("\\") if info.multi_valued else [text]
    if vm and info.multi_valued and not vm_allows(vm, len(values)):
        findings.append(Finding(ERROR, path, _tag(tag), f"{len(values)} values but PS3.6 VM "
                                f"is {vm}", section="PS3.6 §6"))
    for number, value_text in enumerate(values):
        for problem in _value_problems(vr, value_text):
            findings.append(Finding(ERROR, path, _tag(tag),
                                    f"value {number + 1} {value_text[:64]!r}: {problem}",
                                    section="PS3.5 §9.1" if vr == "UI" else "PS3.5 §6.2"))


@functools.lru_cache(maxsize=4096)
def _value_problems(vr: str, text: str) -> tuple[str, ...]:
    """:func:`value_problems`, remembered: a series repeats most of its values file to file."""
    return tuple(value_problems(vr, text))


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
    plan = _iod_plan(model.name)
    walker = _IODWalker(dataset, findings)
    for module in _modules_in_use(plan, dataset):
        walker.rules(dataset, module.attributes, "", module.name, ())
    per_frame = dataset.get(0x52009230) if 0x52009230 in dataset else None
    frames = _value(dataset.get(0x00280008)) if 0x00280008 in dataset else None
    if per_frame is not None and per_frame.VR == "SQ":
        count = len(per_frame.value or [])
        expected = _int(frames) if frames is not None else 1
        if expected is not None and count != expected:
            findings.append(Finding(ERROR, "PerFrameFunctionalGroupsSequence", "52009230",
                                    f"{count} items but Number of Frames is {expected}",
                                    "MultiFrameFunctionalGroupsCommon", "PS3.3 C.7.6.16"))


# The module tables compiled once per IOD: what the walk below would otherwise redo for every
# file (group a module's rules by attribute, find the conditions by name, count which module
# owns which attribute).

@dataclass(frozen=True)
class _Alternative:
    """One rule for an attribute: its Type, and its 1C/2C condition compiled."""

    rule: Rule
    conditional: bool
    test: conditions.Test | None
    nothing_to_check: bool
    """Type 2/2C/3 with no enumeration, terms, VM, zero rule, context group or items: a
    present value (that decodes) cannot break this rule."""


@dataclass(frozen=True)
class _AttributePlan:
    """An attribute of a module (or sequence item) with every rule the table gives it."""

    tag: int
    alternatives: tuple[_Alternative, ...]
    unconditional: bool
    """The first rule is not 1C/2C: it applies, and no condition need be evaluated."""
    required: bool
    """For an unconditional first rule: Type 1 or 2 (an absent attribute is an error)."""
    may_be_present: bool


@dataclass(frozen=True)
class _ModulePlan:
    name: str
    usage: str
    condition: conditions.Test | None
    has_condition: bool
    attributes: tuple[_AttributePlan, ...]
    own_tags: tuple[int, ...]
    """Tags that no other module of the IOD defines: one present means the module is used."""


_PLANS: dict[int, tuple[Sequence[Rule], tuple[_AttributePlan, ...]]] = {}


def _plan(rules: Sequence[Rule]) -> tuple[_AttributePlan, ...]:
    """Each attribute once, in table order, with all its rules: a macro may list an attribute
    several times under different conditions (SR content items). Cached by the identity of
    the rule list (the tables of :mod:`.modules` are built once and never change)."""
    cached = _PLANS.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    by_tag: dict[int, list[Rule]] = {}
    for rule in rules:
        if rule.tag:
            by_tag.setdefault(rule.tag, []).append(rule)
    plans = []
    for tag, alternatives in by_tag.items():
        compiled = tuple(
            _Alternative(r, r.type in ("1C", "2C"),
                         conditions.compiled(r.condition) if r.condition else None,
                         r.type in ("2", "2C", "3") and not (
                             r.enum or r.defined or r.vm or r.not_zero or r.cid or r.items))
            for r in alternatives)
        first = compiled[0]
        plans.append(_AttributePlan(tag, compiled, not first.conditional,
                                    first.rule.type in ("1", "2"),
                                    any(r.may_be_present for r in alternatives)))
    plan = tuple(plans)
    _PLANS[id(rules)] = (rules, plan)
    return plan


@functools.cache
def _iod_plan(name: str) -> tuple[_ModulePlan, ...]:
    model = iod_for(name)
    owners: dict[int, int] = {}
    for use in model.modules:
        for rule in module_rules(use.module):
            owners[rule.tag] = owners.get(rule.tag, 0) + 1
    modules = []
    for use in model.modules:
        rules = module_rules(use.module)
        own = tuple(dict.fromkeys(r.tag for r in rules if r.tag and owners[r.tag] == 1))
        modules.append(_ModulePlan(
            use.module, use.usage,
            conditions.compiled(use.condition) if use.condition else None,
            bool(use.condition), _plan(rules), own))
    return tuple(modules)


def _modules_in_use(plan: tuple[_ModulePlan, ...], dataset: Dataset) -> list[_ModulePlan]:
    chosen = []
    for module in plan:
        if module.usage == "M":
            chosen.append(module)
            continue
        held = None
        if module.has_condition and module.condition is not None:
            held = module.condition(dataset, dataset, ())
        if module.usage == "C" and held is not None:
            if held:  # a Conditional module follows its condition when it can be read
                chosen.append(module)
            continue
        if held or any(tag in dataset for tag in module.own_tags):
            chosen.append(module)
    return chosen


class _IODWalker:
    """Checks a data set's elements against module rules (PS3.3 §7.4 and §5.4)."""

    def __init__(self, root: Dataset, findings: list[Finding]) -> None:
        self.root = root
        self.findings = findings
        self.tag_sets: dict[int, frozenset[int]] = {}
        """The tags of each data set walked (by identity: they live as long as the walk)."""

    def add(self, severity: str, path: str, tag: int, message: str, module: str) -> None:
        self.findings.append(Finding(severity, path, _tag(tag), message, module,
                                     module_section(module)))

    def rules(self, dataset: Dataset, plan: tuple[_AttributePlan, ...], prefix: str,
              module: str, parents: Sequence[Dataset]) -> None:
        """Each attribute once, under the first of its rules whose Type applies (not 1C/2C,
        or its condition holds); when none does, under the first rule."""
        root = self.root
        present = self.tag_sets.get(id(dataset))
        if present is None:
            present = self.tag_sets[id(dataset)] = frozenset(dataset.tags())
        for attribute in plan:
            tag = attribute.tag
            first = attribute.alternatives[0]
            rule = first.rule
            if attribute.unconditional:
                if tag in present:
                    if not first.nothing_to_check or not _decodes_quietly(dataset, tag):
                        self.present(dataset, rule, prefix, module, parents)
                elif attribute.required:
                    self.add(ERROR, f"{prefix}{rule.keyword}", tag,
                             f"Type {rule.type} attribute is absent", module)
                continue
            verdict: bool | None = None
            every_false = True  # every rule is 1C/2C and its condition is known not to hold
            for candidate in attribute.alternatives:
                if not candidate.conditional:
                    verdict = True
                elif candidate.test is None:
                    verdict = None
                else:
                    verdict = candidate.test(dataset, root, parents)
                if verdict is not False:
                    every_false = False
                if verdict:
                    rule = candidate.rule
                    break
            conditional = rule.type in ("1C", "2C")
            if tag not in present:
                if rule.type in ("1", "2") or (conditional and verdict):
                    why = f" and its condition {rule.condition} holds" if conditional else ""
                    self.add(ERROR, f"{prefix}{rule.keyword}", tag,
                             f"Type {rule.type} attribute is absent{why}", module)
                continue
            if every_false and not attribute.may_be_present:
                self.add(ERROR, f"{prefix}{rule.keyword}", tag,
                         f"Type {rule.type} attribute is present although its condition "
                         f"{rule.condition} does not hold (and it may not be present "
                         "otherwise)", module)
            self.present(dataset, rule, prefix, module, parents)

    def present(self, dataset: Dataset, rule: Rule, prefix: str, module: str,
                parents: Sequence[Dataset]) -> None:
        """A present attribute's value against its rule: empty (Type 1), enumerated values,
        defined terms, VM, zero; a sequence's items against the item rules."""
        path = f"{prefix}{rule.keyword}"
        stored = dataset.raw_entry(rule.tag)
        if (type(stored) is tuple and stored[0] in ("OB", "OW")
                and not (rule.enum or rule.defined or rule.not_zero)):
            # a byte stream (Pixel Data): only its emptiness matters, read from the index
            if not stored[3] and not stored[2] and rule.type in ("1", "1C"):
                self.add(ERROR, path, rule.tag, f"Type {rule.type} attribute is empty", module)
            return
        element = dataset[rule.tag]
        try:
            value = element.value
        except DicomError as exc:
            self.add(ERROR, path, rule.tag, f"value does not decode: {exc}", module)
            return
        if is_empty(value):
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
        items = _plan(rule.items) if rule.items else ()
        for number, item in enumerate(values):
            if not isinstance(item, Dataset):
                continue
            item_prefix = f"{path}[{number}]."
            if rule.cid:
                self.code(item, rule.cid, item_prefix, module)
            if items:
                self.rules(item, items, item_prefix, module, [*parents, dataset])

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


def _decodes_quietly(dataset: Dataset, tag: int) -> bool:
    """Whether the element is still an index entry with a final VR other than SQ: its value
    then decodes without error (core.vr.decode_value is lenient), so a rule with nothing to
    check need not decode it."""
    stored = dataset.raw_entry(tag)
    if type(stored) is not tuple:
        return False
    vr = stored[0]
    return vr not in ("UN", "SQ") and " or " not in vr


# -- Pixel Data length, UID uniqueness -------------------------------------------------------

def _check_pixel_data(dataset: Dataset, findings: list[Finding]) -> None:
    """PS3.5 §8.1.1 / PS3.3 C.7.6.3: native Pixel Data holds Rows × Columns × Samples per
    Pixel × Number of Frames × Bits Allocated bits, padded to an even length."""
    if 0x7FE00010 not in dataset:
        return
    stored = dataset.raw_entry(0x7FE00010)
    if type(stored) is tuple:  # not decoded: its length from the index, the bytes unread
        _, offset, length, undefined = stored
        if undefined:
            return
        actual = len(memoryview(dataset.buffer)[offset:offset + length])
    else:
        if getattr(stored, "is_undefined_length", False) or stored.raw is None:
            return
        actual = len(stored.raw)
    numbers = [_int(_value(dataset.get(t))) if t in dataset else None
               for t in (0x00280010, 0x00280011, 0x00280002, 0x00280100)]
    rows, columns, samples, bits = numbers
    if None in numbers:
        return
    frames = _int(_value(dataset.get(0x00280008))) if 0x00280008 in dataset else 1
    assert rows is not None and columns is not None and samples is not None and bits is not None
    expected_bits = rows * columns * samples * (frames or 1) * bits
    expected = (expected_bits + 7) // 8
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


def _is_zero(value: Any) -> bool:
    try:
        return float(value) == 0
    except (TypeError, ValueError):
        return False

