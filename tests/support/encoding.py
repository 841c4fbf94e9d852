"""Data sets built byte by byte for the reader tests (PS3.5 §7.1: explicit and implicit VR
elements, items and delimiters, Part 10 files around them), crafted files of issue 10 (a VR that
is not a VR, a length past the end of the file), and value comparisons for DICOM JSON and XML
round trips over pydicom's sample files."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.writer import build_file_meta, file_meta_bytes
from dicomkit.errors import InvalidDicomError

LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
UNDEFINED = 0xFFFFFFFF


# -- building data sets by hand -------------------------------------------------------------
def explicit(tag: int, vr: str, value: bytes, *, little: bool = True,
             length: int | None = None) -> bytes:
    """One explicit VR element (PS3.5 §7.1.2); ``length`` overrides the real length."""
    order = "<" if little else ">"
    size = len(value) if length is None else length
    if vr in LONG_VRS or len(vr) != 2 or vr not in KNOWN_VRS:
        head = struct.pack(order + "HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, size)
    else:
        head = struct.pack(order + "HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), size)
    return head + value


def implicit(tag: int, value: bytes, *, length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, size) + value


def item(value: bytes = b"", *, length: int | None = None) -> bytes:
    return struct.pack("<HHL", 0xFFFE, 0xE000, len(value) if length is None else length) + value


ITEM_END = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
SEQ_END = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
KNOWN_VRS = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN", "SH",
              "SL", "SS", "ST", "TM", "UI", "UL", "US"} | LONG_VRS
MODALITY = explicit(0x00080060, "CS", b"CT")
NAME = explicit(0x00100010, "PN", b"Doe^John")
PATIENT_ID = explicit(0x00100020, "LO", b"ID-1")


def part10(body: bytes, syntax: str) -> bytes:
    """Preamble, DICM and File Meta Information naming ``syntax``, then ``body`` as it is."""
    ds = dicomkit.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4"
    meta = build_file_meta(ds, dicomkit.encoding.transfer_syntax.lookup(syntax))
    return b"\0" * 128 + b"DICM" + file_meta_bytes(meta) + body


def strip_part10(data: bytes) -> bytes:
    """The data set of a Part 10 file: without preamble, DICM and group 0002."""
    assert data[128:132] == b"DICM"
    group, element, vr, _, length = struct.unpack_from("<HH2sHL", data, 132)
    assert (group, element, vr) == (2, 0, b"UL")
    return data[132 + 12 + length:]


def assert_names_offset_and_tag(error: InvalidDicomError, offset: int, tag: int | None) -> None:
    message = str(error)
    assert error.offset == offset, message
    assert f"at offset 0x{offset:08x}" in message
    if tag is not None:
        assert error.tag == tag, message
        assert f"tag ({tag >> 16:04X},{tag & 0xFFFF:04X})" in message


# -- issue 10 files --------------------------------------------------------------------------------
WINDOW_CENTER = explicit(0x00281050, "DS", b"40")


def short_header(tag: int, vr_bytes: bytes, value: bytes) -> bytes:
    """An explicit VR element in the short form (PS3.5 Table 7.1-2) with any two VR bytes."""
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr_bytes, len(value)) + value


def padding_value_file(vr_bytes: bytes) -> bytes:
    """(0028,0120) Pixel Padding Value = 0x8000 with ``vr_bytes`` for its VR, between good
    elements, in a Part 10 file (explicit VR little endian)."""
    body = MODALITY + NAME + short_header(0x00280120, vr_bytes, b"\x00\x80") + WINDOW_CENTER
    return part10(body, "ExplicitVRLittleEndian")


SOP_CLASS = b"1.2.840.10008.5.1.4.1.1.7\0"
CLAIMED = 0x7FFFFFF0
LONG_SOP_BODY = (implicit(0x00080008, b"ORIGINAL\\PRIMARY")
                 + implicit(0x00080016, SOP_CLASS, length=CLAIMED)
                 + implicit(0x00080018, b"1.2.3.4\0"))
LONG_SOP_AT = len(implicit(0x00080008, b"ORIGINAL\\PRIMARY"))


def long_sop_class_file() -> bytes:
    """SOP Class UID claiming 0x7FFFFFF0 bytes in a file of a few hundred (implicit VR)."""
    return part10(LONG_SOP_BODY, "ImplicitVRLittleEndian")


# -- DICOM JSON and XML round trips -------------------------------------------------------------
def pydicom_sample_files() -> list[Path]:
    pydicom = pytest.importorskip("pydicom")
    base = Path(pydicom.__file__).parent / "data"
    files = [p for p in sorted((base / "test_files").rglob("*.dcm")) if p.name != "no_meta.dcm"]
    files += sorted((base / "test_files" / "dicomdirtests").rglob("IM*"))
    files += sorted((base / "test_files" / "dicomdirtests").glob("DICOMDIR*"))
    files += sorted((base / "charset_files").glob("*.dcm"))
    return files


def pn_without_trailing_groups(value: str) -> str:
    return str(value).rstrip("=")


def values_equal(
    a: Dataset, b: Dataset, path: str = "", pn: Callable[[str], str] = pn_without_trailing_groups
) -> list[str]:
    """Differences in values, group lengths aside (they are not in the model, F.2.2).

    PN values are compared through ``pn``, by default without trailing '=' (an empty last
    component group cannot be represented: F.2.2 encodes only the non-empty groups; PS3.5
    §6.2.1 gives both forms the same meaning)."""
    problems = []
    tags_a = [t for t in a.tags() if t & 0xFFFF]
    if tags_a != b.tags():
        return [f"{path}: tags {sorted(set(tags_a) ^ set(b.tags()))}"]
    for tag in tags_a:
        ea, eb = a[tag], b[tag]
        where = f"{path}/{tag:08X}"
        if ea.VR != eb.VR:
            problems.append(f"{where}: VR {ea.VR} != {eb.VR}")
        elif ea.VR == "SQ":
            if len(ea.value) != len(eb.value):
                problems.append(f"{where}: {len(ea.value)} != {len(eb.value)} items")
            for i, (x, y) in enumerate(zip(ea.value, eb.value, strict=False)):
                problems += values_equal(x, y, f"{where}/{i}", pn)
        elif ea.VR == "PN":
            va, vb = ea.value, eb.value
            va = [pn(v) for v in va] if isinstance(va, list) else pn(va)
            vb = [pn(v) for v in vb] if isinstance(vb, list) else pn(vb)
            if va != vb:
                problems.append(f"{where}: {va!r} != {vb!r}")
        elif ea != eb:
            problems.append(f"{where}: {ea.value!r:.80} != {eb.value!r:.80}")
    return problems
