"""Issue 10 defects 4 and 5, on files crafted byte by byte and checked against DCMTK's dcmdump
and pydicom: VR bytes that are not a VR (read on as DCMTK reads them, listed as a problem;
refused when strict) and a value, item or sequence longer than the data (refused when strict,
else kept as far as it goes with the data set marked ``is_truncated``, never allocated by its
claimed length)."""

from __future__ import annotations

import struct
import tracemalloc
import warnings
from pathlib import Path

import pytest

import dicomkit
from dicomkit.errors import InvalidDicomError
from tests.support.dcmtk import Dcmtk, parse_dcmdump
from tests.support.encoding import (
    CLAIMED,
    ITEM_END,
    LONG_SOP_AT,
    MODALITY,
    NAME,
    PATIENT_ID,
    SEQ_END,
    SOP_CLASS,
    UNDEFINED,
    assert_names_offset_and_tag,
    explicit,
    implicit,
    item,
    long_sop_class_file,
    padding_value_file,
    part10,
    short_header,
)

# -- defect 4: bytes where an explicit VR should be are not a VR ----------------------------
# Spaces (the file from the field), NULs, lower case, non-ASCII and control bytes.
NOT_VRS = [b"  ", b"\0\0", b"us", b"Us", b"\xe9\xe9", b"\x01\x02"]
PADDING_AT = len(MODALITY) + len(NAME)  # offset of (0028,0120) in the data set


def data_set_start(data: bytes) -> int:
    (meta_length,) = struct.unpack_from("<L", data, 132 + 8)
    return 132 + 12 + meta_length


@pytest.mark.parametrize("vr_bytes", NOT_VRS)
def test_non_standard_vr_is_read_with_the_dictionary_vr_and_a_16_bit_length(
    vr_bytes: bytes,
) -> None:
    data = padding_value_file(vr_bytes)
    ds = dicomkit.read(data)
    element = ds[0x00280120]
    assert element.VR == "US"  # the dictionary's "US or SS", no Pixel Representation: US
    assert element.value == 0x8000
    assert ds.WindowCenter == 40  # the element after it is where a 2-byte length puts it
    assert (ds.Modality, ds.PatientName) == ("CT", "Doe^John")
    assert not ds.is_truncated
    offset = data_set_start(data) + PADDING_AT
    [problem] = ds.read_problems
    assert f"at offset 0x{offset:08x}" in problem and "tag (0028,0120)" in problem
    assert vr_bytes.hex(" ") in problem


@pytest.mark.parametrize("vr_bytes", NOT_VRS)
def test_non_standard_vr_raises_when_strict_naming_offset_and_tag(vr_bytes: bytes) -> None:
    data = padding_value_file(vr_bytes)
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(data, strict=True)
    assert_names_offset_and_tag(caught.value, data_set_start(data) + PADDING_AT, 0x00280120)
    assert "not a VR" in str(caught.value)


def test_non_standard_vr_is_listed_by_a_header_only_read_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "padding.dcm"
    path.write_bytes(padding_value_file(b"  "))
    ds = dicomkit.read(path, stop_before_pixels=True)
    assert ds[0x00280120].value == 0x8000 and ds.WindowCenter == 40
    assert len(ds.read_problems) == 1 and "(0028,0120)" in ds.read_problems[0]
    with pytest.raises(InvalidDicomError):
        dicomkit.read(path, stop_before_pixels=True, strict=True)


def test_non_standard_vr_on_a_tag_the_dictionary_lacks_reads_as_un() -> None:
    body = (MODALITY + explicit(0x00091010, "LO", b"ACME") + short_header(0x00091099, b"  ", b"ab")
            + NAME)
    ds = dicomkit.read(body)
    assert ds[0x00091099].VR == "UN" and ds[0x00091099].value == b"ab"
    assert ds.PatientName == "Doe^John"


def test_non_standard_vr_inside_an_item_is_read_the_same_way() -> None:
    inner = explicit(0x00081150, "UI", b"1.2.3\0") + short_header(0x00081155, b"\0\0", b"1.4\0")
    body = MODALITY + explicit(0x00081115, "SQ", item(inner)) + NAME
    ds = dicomkit.read(body)
    referenced = ds.ReferencedSeriesSequence[0]
    assert referenced[0x00081155].VR == "UI" and referenced.ReferencedSOPInstanceUID == "1.4"
    assert ds.PatientName == "Doe^John"
    assert any("(0008,1155)" in p for p in ds.read_problems)


def test_non_standard_vr_whose_short_length_does_not_fit_raises() -> None:
    # Bytes that are not a VR followed by a length past the end are not an element at all.
    body = MODALITY + NAME + struct.pack("<HH2sH", 0x0028, 0x0120, b"  ", 400) + b"\0\0"
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body)
    assert_names_offset_and_tag(caught.value, PADDING_AT, 0x00280120)


@pytest.mark.dcmtk
@pytest.mark.parametrize("vr_bytes", NOT_VRS)
def test_dcmtk_reads_the_non_standard_vr_the_same_way(dcmtk: Dcmtk, tmp_path: Path,
                                                      vr_bytes: bytes) -> None:
    path = tmp_path / "padding.dcm"
    path.write_bytes(padding_value_file(vr_bytes))
    result = dcmtk.run("dcmdump", path, check=False)
    assert result.returncode == 0, result.stderr
    assert "Non-standard VR" in result.stderr and "(0028,0120)" in result.stderr
    assert "assuming 2 byte length field" in result.stderr
    lines = parse_dcmdump(result.stdout)
    assert lines[0x00280120][1] == "00\\80"  # the same two value bytes
    assert lines[0x00281050] == ("DS", "[40]")  # and the same next element
    ours = dicomkit.read(path)
    assert bytes(ours[0x00280120].value_bytes()) == b"\x00\x80"
    assert set(lines) == {element.tag for element in ours}


@pytest.mark.parametrize("vr_bytes", NOT_VRS)
def test_pydicom_also_reads_on_past_the_non_standard_vr(tmp_path: Path, vr_bytes: bytes) -> None:
    # pydicom reads on too, but re-reads the element as implicit VR (a 4-byte length), which
    # swallows the rest of this file; DCMTK's 2-byte reading, ours, keeps it aligned.
    pydicom = pytest.importorskip("pydicom")
    path = tmp_path / "padding.dcm"
    path.write_bytes(padding_value_file(vr_bytes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pydicom.dcmread(path)
        assert 0x00280120 in theirs
    ours = dicomkit.read(path)
    assert (theirs.Modality, str(theirs.PatientName)) == (ours.Modality, str(ours.PatientName))


# -- defect 5: a length past the end of the data --------------------------------------------
def test_length_past_the_end_of_the_file_raises_naming_tag_offset_and_length() -> None:
    data = long_sop_class_file()
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(data, strict=True)
    assert_names_offset_and_tag(caught.value, data_set_start(data) + LONG_SOP_AT, 0x00080016)
    assert str(CLAIMED) in str(caught.value)


def test_length_past_the_end_of_the_file_marks_the_data_set_truncated_without_allocating(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.dcm"
    data = long_sop_class_file()
    path.write_bytes(data)
    tracemalloc.start()
    try:
        ds = dicomkit.read(path)
        kept = ds[0x00080016].value_bytes()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert ds.is_truncated
    assert kept.startswith(SOP_CLASS)  # what precedes the end is kept
    offset = data_set_start(data) + LONG_SOP_AT
    [problem] = ds.read_problems
    assert f"0x{offset:08x}" in problem and "(0008,0016)" in problem and str(CLAIMED) in problem


def test_header_only_reads_of_the_long_file_see_the_truncation(tmp_path: Path) -> None:
    path = tmp_path / "long.dcm"
    path.write_bytes(long_sop_class_file())
    assert dicomkit.read(path, stop_before_pixels=True).is_truncated
    assert dicomkit.read(path, tags=["SOPClassUID"]).is_truncated
    with pytest.raises(InvalidDicomError):
        dicomkit.read(path, tags=["SOPClassUID"], strict=True)


def test_a_whole_file_is_not_marked_truncated() -> None:
    body = implicit(0x00080016, SOP_CLASS) + implicit(0x00080018, b"1.2.3.4\0")
    ds = dicomkit.read(part10(body, "ImplicitVRLittleEndian"))
    assert not ds.is_truncated and ds.read_problems == []
    assert not dicomkit.read(padding_value_file(b"  ")).is_truncated


def test_truncation_in_the_file_meta_marks_the_data_set_truncated() -> None:
    data = bytearray(part10(b"", "ExplicitVRLittleEndian"))
    # The Implementation Version Name, the last meta element, claims 60 more bytes than exist.
    at = bytes(data).rfind(b"\x02\x00\x13\x00SH")
    struct.pack_into("<H", data, at + 6, struct.unpack_from("<H", data, at + 6)[0] + 60)
    ds = dicomkit.read(bytes(data))
    assert ds.is_truncated
    assert any(f"0x{at:08x}" in p and "(0002,0013)" in p for p in ds.read_problems)
    with pytest.raises(InvalidDicomError):
        dicomkit.read(bytes(data), strict=True)


def _sequence_cases() -> dict[str, bytes]:
    uid = explicit(0x00081150, "UI", b"1.2.3\0")
    defined_item = item(uid)
    return {
        # an undefined-length sequence and item whose delimiters the data never reaches
        "no delimiters": (MODALITY + explicit(0x00081115, "SQ", b"", length=UNDEFINED)
                          + item(length=UNDEFINED) + uid),
        # an undefined-length sequence cut after a whole item
        "no sequence delimiter": (MODALITY + explicit(0x00081115, "SQ", b"", length=UNDEFINED)
                                  + item(uid, length=UNDEFINED) + ITEM_END),
        # a defined-length sequence longer than the data
        "sequence length": (MODALITY + explicit(0x00081115, "SQ", defined_item,
                                                length=len(defined_item) + 1000)),
        # a defined-length item longer than the data, in an undefined-length sequence
        "item length": (MODALITY + explicit(0x00081115, "SQ", b"", length=UNDEFINED)
                        + item(uid, length=len(uid) + 1000)),
    }


@pytest.mark.parametrize("case", sorted(_sequence_cases()))
def test_data_ending_inside_a_sequence_marks_it_truncated_or_raises_when_strict(
    case: str,
) -> None:
    body = _sequence_cases()[case]
    ds = dicomkit.read(body)
    assert ds.is_truncated, ds.read_problems
    assert ds.ReferencedSeriesSequence[0].ReferencedSOPClassUID == "1.2.3"
    assert all("offset 0x" in p for p in ds.read_problems)
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body, strict=True)
    assert caught.value.offset is not None


@pytest.mark.dcmtk
@pytest.mark.parametrize("case", sorted(_sequence_cases()))
def test_dcmtk_reports_the_same_sequences_as_errors(dcmtk: Dcmtk, tmp_path: Path,
                                                    case: str) -> None:
    path = tmp_path / "seq.dcm"
    path.write_bytes(part10(_sequence_cases()[case], "ExplicitVRLittleEndian"))
    result = dcmtk.run("dcmdump", path, check=False)
    assert result.returncode != 0
    assert "E: " in result.stderr


def test_element_longer_than_its_item_raises_even_when_lenient() -> None:
    # The item ends before the file does: this is no truncation but a broken item.
    inner = explicit(0x00081150, "UI", b"1.2.3\0", length=200) + explicit(0x00081155, "UI", b"1\0")
    body = MODALITY + explicit(0x00081115, "SQ", item(inner)) + NAME + PATIENT_ID + bytes(300)
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body)
    assert_names_offset_and_tag(caught.value, len(MODALITY) + 12 + 8, 0x00081150)
    assert "200" in str(caught.value)


def test_item_longer_than_its_sequence_raises_even_when_lenient() -> None:
    sequence = explicit(0x00081115, "SQ", item(NAME, length=64), length=len(NAME) + 8)
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(MODALITY + sequence + PATIENT_ID + bytes(200))
    assert_names_offset_and_tag(caught.value, len(MODALITY) + 12, 0x00081115)
    assert "64" in str(caught.value)


@pytest.mark.dcmtk
def test_dcmtk_reports_the_long_sop_class_uid_as_an_error(dcmtk: Dcmtk, tmp_path: Path) -> None:
    path = tmp_path / "long.dcm"
    path.write_bytes(long_sop_class_file())
    result = dcmtk.run("dcmdump", path, check=False)
    assert result.returncode != 0
    assert "(0008,0016)" in result.stderr and str(CLAIMED) in result.stderr
    assert dicomkit.read(path).is_truncated


def test_pydicom_keeps_the_long_value_silently_where_we_mark_it(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    path = tmp_path / "long.dcm"
    path.write_bytes(long_sop_class_file())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pydicom.dcmread(path)
        their_value = theirs[0x00080016].value
    ours = dicomkit.read(path)
    assert ours[0x00080016].value.startswith(str(their_value)[:25])
    assert ours.is_truncated


def test_a_sequence_cut_short_in_a_file_on_disk_above_the_header_read_is_truncated(
    tmp_path: Path,
) -> None:
    # The header-only read looks at the first 64 KiB; the cut is past them.
    big = explicit(0x0040A160, "UT", b"x" * 70000)
    body = (MODALITY + big + explicit(0x00081115, "SQ", b"", length=UNDEFINED)
            + item(explicit(0x00081150, "UI", b"1.2.3\0"), length=UNDEFINED))
    path = tmp_path / "cut.dcm"
    path.write_bytes(part10(body + ITEM_END, "ExplicitVRLittleEndian"))
    assert dicomkit.read(path, stop_before_pixels=True).is_truncated
    path.write_bytes(part10(body + ITEM_END + SEQ_END, "ExplicitVRLittleEndian"))
    assert not dicomkit.read(path, stop_before_pixels=True).is_truncated
