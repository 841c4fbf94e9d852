"""Interoperability with DCMTK (and pydicom as a second reference).

One direction: files made by DCMTK (``dcmconv`` in each uncompressed transfer syntax,
``dump2dcm`` from a text dump) read in dicomkit with the same values. The other direction:
every file dicomkit writes is read by ``dcmdump`` without errors or warnings, with the values
and the transfer syntax dicomkit wrote, and by pydicom with the same values.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import pydicom
import pytest

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.core.vr import VR_INFO
from tests.support.datasets import (
    UNCOMPRESSED_SYNTAXES,
    UNCOMPRESSED_UIDS,
    dataset_differences,
    decode_all,
    pydicom_differences,
    pydicom_file,
)
from tests.support.dcmtk import Dcmtk, parse_dcmdump

pytestmark = pytest.mark.dcmtk

# pydicom's bundled files: CT with GE private tags, MR, RT plan / structure set (sequences,
# implicit VR), RGB secondary capture, a private sequence, a deeply nested SR, ISO 2022
# Japanese text (chrH31) and an explicit VR big endian MR.
SOURCE_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "rtplan.dcm",
    "rtstruct.dcm",
    "SC_rgb_small_odd.dcm",
    "priv_SQ.dcm",
    "test-SR.dcm",
    "chrH31.dcm",
    "MR_small_bigendian.dcm",
]
DCMCONV_OPTIONS = {
    "+ti": "ImplicitVRLittleEndian",
    "+te": "ExplicitVRLittleEndian",
    "+tb": "ExplicitVRBigEndian",
    "+td": "DeflatedExplicitVRLittleEndian",
}
KEY_ATTRIBUTES = [
    "PatientName", "PatientID", "PatientBirthDate", "Modality", "SOPClassUID", "SOPInstanceUID",
    "StudyInstanceUID", "SeriesInstanceUID", "Rows", "Columns", "BitsAllocated",
    "PixelSpacing", "SliceThickness", "ImagePositionPatient", "PixelData",
]
# What dcmdump prints after "# Used TransferSyntax:" for each syntax.
DCMTK_SYNTAX_NAMES = {
    "ImplicitVRLittleEndian": "Little Endian Implicit",
    "ExplicitVRLittleEndian": "Little Endian Explicit",
    "DeflatedExplicitVRLittleEndian": "Deflated Explicit VR Little Endian",
    "ExplicitVRBigEndian": "Big Endian Explicit",
}


def _dcmconv(dcmtk: Dcmtk, source: Path, option: str, tmp_path: Path) -> Path:
    out = tmp_path / f"{source.stem}{option.replace('+', '_')}.dcm"
    dcmtk.run("dcmconv", option, source, out)
    return out


# -- files made by DCMTK --------------------------------------------------------------------
@pytest.mark.parametrize("option", list(DCMCONV_OPTIONS))
@pytest.mark.parametrize("name", SOURCE_FILES)
def test_dcmconv_output_reads_with_the_original_values(
    dcmtk: Dcmtk, tmp_path: Path, name: str, option: str
) -> None:
    source = pydicom_file(name)
    converted = dicomkit.read(_dcmconv(dcmtk, source, option, tmp_path))
    assert converted.transfer_syntax.uid == UNCOMPRESSED_UIDS[DCMCONV_OPTIONS[option]]
    original = dicomkit.read(source)
    assert decode_all(converted) == decode_all(original)
    problems = dataset_differences(original, converted)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("option", list(DCMCONV_OPTIONS))
@pytest.mark.parametrize("name", SOURCE_FILES)
def test_dcmconv_output_key_attributes_match_pydicom(
    dcmtk: Dcmtk, tmp_path: Path, name: str, option: str
) -> None:
    path = _dcmconv(dcmtk, pydicom_file(name), option, tmp_path)
    ours = dicomkit.read(path)
    theirs = pydicom.dcmread(path)
    little = theirs.original_encoding[1]
    compared = 0
    key_tags = [int(pydicom.datadict.tag_for_keyword(k)) for k in KEY_ATTRIBUTES]
    private_tags = [t for t in ours.tags() if t & 0x10000]  # and every private element
    for tag in key_tags + private_tags:
        assert (tag in ours) == (tag in theirs), f"{tag:08X}"
        if tag not in ours:
            continue
        single_ours, single_theirs = dicomkit.Dataset(), pydicom.Dataset()
        single_ours[tag] = ours[tag]
        single_theirs[tag] = theirs[tag]
        problems = pydicom_differences(single_ours, single_theirs, little=little)
        assert not problems, "\n".join(problems)
        compared += 1
    assert compared >= 2


DUMP = r"""
# a data set written by hand, for dump2dcm
(0008,0016) UI =CTImageStorage
(0008,0018) UI [1.2.826.0.1.3680043.2.1125.1]
(0008,0060) CS [CT]
(0008,1140) SQ (Sequence with undefined length)
  (fffe,e000) na (Item with undefined length)
    (0008,1150) UI [1.2.840.10008.5.1.4.1.1.2]
    (0008,1155) UI [1.2.3.4.5]
  (fffe,e00d) na (ItemDelimitationItem)
  (fffe,e000) na (Item with undefined length)
    (0008,1150) UI [1.2.840.10008.5.1.4.1.1.4]
    (0008,1155) UI [1.2.3.4.6]
  (fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
(0009,0010) LO [ACME 1.0]
(0009,1001) OB 01\02\03\04\05\ff
(0010,0010) PN [Doe^John^Quincy^Dr.^Jr.]
(0018,0050) DS [1.5]
(0018,1310) US 0\256\128\0
(0020,0032) DS [-125.0\-125.5\10]
(0028,0010) US 2
(0028,0011) US 2
(0028,0030) DS [0.5\0.25]
(0028,0100) US 16
(0028,1052) DS [-1024]
(0028,3010) SQ (Sequence with undefined length)
  (fffe,e000) na (Item with undefined length)
    (0028,3002) US 4\0\16
    (0028,3003) LO [window]
  (fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
(7fe0,0010) OW 0001\0002\fffe\1234
"""


@pytest.mark.parametrize("option", list(DCMCONV_OPTIONS))
def test_dump2dcm_file_reads_exactly_the_dumped_values(
    dcmtk: Dcmtk, tmp_path: Path, option: str
) -> None:
    dump = tmp_path / "input.dump"
    dump.write_text(DUMP, encoding="ascii")
    out = tmp_path / "made.dcm"
    dcmtk.run("dump2dcm", option, dump, out)
    ds = dicomkit.read(out)
    assert ds.transfer_syntax.uid == UNCOMPRESSED_UIDS[DCMCONV_OPTIONS[option]]
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.SOPInstanceUID == "1.2.826.0.1.3680043.2.1125.1"
    assert ds.Modality == "CT"
    refs = ds.ReferencedImageSequence
    assert [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID) for r in refs] == [
        ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5"),
        ("1.2.840.10008.5.1.4.1.1.4", "1.2.3.4.6"),
    ]
    name = ds.PatientName
    assert name == "Doe^John^Quincy^Dr.^Jr."
    assert (name.family_name, name.given_name, name.middle_name, name.name_prefix,
            name.name_suffix) == ("Doe", "John", "Quincy", "Dr.", "Jr.")
    assert ds.SliceThickness == 1.5
    assert ds.ImagePositionPatient == [-125.0, -125.5, 10.0]
    assert ds.PixelSpacing == [0.5, 0.25]
    assert ds.RescaleIntercept == -1024.0
    assert ds.AcquisitionMatrix == [0, 256, 128, 0]
    assert (ds.Rows, ds.Columns, ds.BitsAllocated) == (2, 2, 16)
    voi = ds.VOILUTSequence
    assert len(voi) == 1
    assert voi[0].LUTDescriptor == [4, 0, 16]
    assert voi[0].LUTExplanation == "window"
    assert ds[0x00090010].value == "ACME 1.0"
    assert bytes(ds[0x00091001].value) == b"\x01\x02\x03\x04\x05\xff"
    assert ds[0x00091001].VR in ("OB", "UN")  # implicit VR: an unknown private element is UN
    assert bytes(ds.PixelData) == struct.pack("<4H", 0x0001, 0x0002, 0xFFFE, 0x1234)
    assert ds[0x7FE00010].VR == "OW"


# -- files made by dicomkit -----------------------------------------------------------------
def _rich_dataset() -> dicomkit.Dataset:
    """The sample CT plus one element of each VR dcmdump prints in its own way."""
    ds = make_ct(4)
    for tag, value in [
        (0x00189219, -5),  # SS
        (0x00186020, -100000),  # SL
        (0x00109431, 12.5),  # FL
        (0x00089459, 29.75),  # FL
        (0x00081163, [1.25, 2.5]),  # FD, VM 2
        (0x00280009, [0x00181063, 0x00181065]),  # AT, VM 2
        (0x00080119, "LONGCODE"),  # UC
        (0x00080120, "http://example.com/x"),  # UR
        (0x0008030E, "Some unlimited text"),  # UT
        (0x00204000, "Comment text"),  # LT
        (0x00080081, "1 Main St"),  # ST
        (0x00181638, struct.pack("<2f", 1.0, 2.5)),  # OF
        (0x00660022, struct.pack("<2d", 1.5, -2.0)),  # OD
        (0x00660040, struct.pack("<2L", 7, 70000)),  # OL
        (0x00720082, -5),  # SV
        (0x00720083, 2**40),  # UV
        (0x00101010, "045Y"),  # AS
        (0x0008002A, "20240102030405.123456"),  # DT
        (0x00080054, "AE_TITLE"),  # AE
        (0x00280106, 3),  # US or SS -> US (Pixel Representation 0)
        (0x00181149, [300, 200]),  # IS, VM 2
        (0x00281101, [256, 0, 16]),  # US, VM 3
    ]:
        ds.set(tag, value)
    ds.private_block(0x0029, "DICOMKIT DEMO").add_new(0x11, "OB", b"\x01\x02\x03")
    return ds


WRITTEN_SOURCES = ["rich", "CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm",
                   "SC_rgb_small_odd.dcm", "priv_SQ.dcm", "test-SR.dcm", "chrH31.dcm",
                   "MR_small_bigendian.dcm"]


def _source(name: str) -> dicomkit.Dataset:
    return _rich_dataset() if name == "rich" else dicomkit.read(pydicom_file(name))


def _written(tmp_path: Path, name: str, syntax: str) -> tuple[dicomkit.Dataset, Path]:
    ds = _source(name)
    path = tmp_path / f"{Path(name).stem}-{syntax}.dcm"
    dicomkit.write(ds, path, transfer_syntax=syntax)
    return ds, path


def _diagnostics(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("E:", "W:"))]


@pytest.mark.parametrize("syntax", UNCOMPRESSED_SYNTAXES)
@pytest.mark.parametrize("name", WRITTEN_SOURCES)
def test_dcmdump_reads_dicomkit_output_without_errors_or_warnings(
    dcmtk: Dcmtk, tmp_path: Path, name: str, syntax: str
) -> None:
    _, path = _written(tmp_path, name, syntax)
    # No -q: quiet mode would hide the very warnings this test looks for.
    result = dcmtk.run("dcmdump", "+L", path, check=False)
    diagnostics = _diagnostics(result.stderr) + _diagnostics(result.stdout)
    assert result.returncode == 0 and not diagnostics, "\n".join(
        [f"dcmdump exited {result.returncode}", *diagnostics]
    )


@pytest.mark.parametrize("syntax", UNCOMPRESSED_SYNTAXES)
@pytest.mark.parametrize("name", WRITTEN_SOURCES)
def test_dcmdump_reports_the_transfer_syntax_dicomkit_wrote(
    dcmtk: Dcmtk, tmp_path: Path, name: str, syntax: str
) -> None:
    _, path = _written(tmp_path, name, syntax)
    text = dcmtk.run("dcmdump", "-Un", path).stdout
    meta = parse_dcmdump(text, section="Dicom-Meta-Information-Header")
    assert meta[0x00020010] == ("UI", f"[{UNCOMPRESSED_UIDS[syntax]}]")
    data_set_part = text.split("# Dicom-Data-Set", 1)[1]
    assert f"# Used TransferSyntax: {DCMTK_SYNTAX_NAMES[syntax]}\n" in data_set_part


# dcmdump's names for VRs an implicit VR file leaves open ("US or SS", "OB or OW").
IMPLICIT_VR_NAMES = {"xs": ("US", "SS"), "ox": ("OB", "OW")}


def _dcmdump_value(vr: str, text: str) -> Any:
    """A value as dcmdump printed it, in dicomkit's value types."""
    if text == "(no value available)":
        return None
    if text.startswith("[") and text.endswith("]"):
        parts = text[1:-1].split("\\")
        if vr == "DS":
            numbers: list[Any] = [float(p) for p in parts]
        elif vr == "IS":
            numbers = [int(p) for p in parts]
        else:
            return parts if len(parts) > 1 else parts[0]
        return numbers if len(numbers) > 1 else numbers[0]
    parts = text.split("\\")
    if vr == "OB":
        return bytes(int(p, 16) for p in parts)
    if vr == "OW":
        return b"".join(struct.pack("<H", int(p, 16)) for p in parts)
    if vr == "AT":
        tags = [int(p.strip("()").replace(",", ""), 16) for p in parts]
        return tags if len(tags) > 1 else tags[0]
    kind = VR_INFO[vr].kind
    values = [float(p) if kind in ("float", "bytes") and vr != "OL" else int(p) for p in parts]
    return values if len(values) > 1 else values[0]


def _dicomkit_value(element: Any) -> Any:
    value = element.value
    if element.VR in ("OF", "OD", "OL"):
        code = VR_INFO[element.VR].struct_code
        size = struct.calcsize("<" + code)
        numbers = list(struct.unpack(f"<{len(value) // size}{code}", value))
        return numbers if len(numbers) > 1 else numbers[0]
    if element.VR in ("OB", "OW") and len(value) & 1:
        return bytes(value) + b"\0"
    if isinstance(value, list):
        return [int(v) if isinstance(v, int) else v for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _even(data: bytes) -> bytes:
    return data + b"\0" if len(data) & 1 else data


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6)
    return bool(a == b)


@pytest.mark.parametrize("syntax", UNCOMPRESSED_SYNTAXES)
def test_dcmdump_prints_the_values_dicomkit_wrote(
    dcmtk: Dcmtk, tmp_path: Path, syntax: str
) -> None:
    ds, path = _written(tmp_path, "rich", syntax)
    printed = parse_dcmdump(dcmtk.run("dcmdump", "+L", "-Un", path).stdout)
    checked = 0
    for element in ds:
        if element.VR == "SQ":
            continue
        vr, text = printed[element.tag]
        if syntax == "ImplicitVRLittleEndian" and element.VR in IMPLICIT_VR_NAMES.get(vr, ()):
            vr = element.VR  # dcmdump names an ambiguous VR it cannot tell from the bytes
        if syntax == "ImplicitVRLittleEndian" and vr == "??":  # private, unknown to DCMTK
            got = _dcmdump_value("OB", text)
            assert got == _even(element.value_bytes(True)), f"{element.tag}: {text!r}"
            checked += 1
            continue
        assert vr == element.VR, f"{element.tag}: dcmdump says {vr}, dicomkit wrote {element.VR}"
        got, want = _dcmdump_value(vr, text), _dicomkit_value(element)
        assert _close(got, want), f"{element.tag} {vr}: dcmdump printed {text!r}, wrote {want!r}"
        checked += 1
    assert checked >= 60


@pytest.mark.parametrize("syntax", UNCOMPRESSED_SYNTAXES)
def test_dcmdump_prints_dicomkit_sequence_items(
    dcmtk: Dcmtk, tmp_path: Path, syntax: str
) -> None:
    _, path = _written(tmp_path, "rich", syntax)
    text = dcmtk.run("dcmdump", "-Un", path).stdout
    assert "(0008,2218) SQ (Sequence with " in text
    assert "    (0008,0100) SH [T-D3000]" in text
    assert "    (0008,0104) LO [Chest]" in text


@pytest.mark.parametrize("syntax", UNCOMPRESSED_SYNTAXES)
@pytest.mark.parametrize("name", WRITTEN_SOURCES)
def test_pydicom_reads_dicomkit_output_with_the_same_values(
    tmp_path: Path, name: str, syntax: str
) -> None:
    ds, path = _written(tmp_path, name, syntax)
    theirs = pydicom.dcmread(path)
    assert theirs.file_meta.TransferSyntaxUID == UNCOMPRESSED_UIDS[syntax]
    problems = pydicom_differences(ds, theirs, little=theirs.original_encoding[1])
    assert not problems, "\n".join(problems)
