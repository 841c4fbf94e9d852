"""The reader on real-world input (no preamble, odd lengths, unknown VRs, mislabelled transfer
syntaxes, UN sequences, trailing padding, missing meta) and on broken input, which must raise
:class:`dicomkit.errors.InvalidDicomError` naming the byte offset and the tag, never hang, never
recurse without bound and never allocate in proportion to a length field."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.encoding.writer import dataset_to_bytes, to_bytes
from dicomkit.errors import InvalidDicomError
from tests.support.datasets import dataset_differences, decode_all, pydicom_file
from tests.support.dcmtk import Dcmtk
from tests.support.encoding import (
    ITEM_END,
    MODALITY,
    NAME,
    PATIENT_ID,
    SEQ_END,
    UNDEFINED,
    assert_names_offset_and_tag,
    explicit,
    implicit,
    item,
    part10,
    strip_part10,
)


# -- real-world input ------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "uid"), [
    ("MR_small_implicit.dcm", "1.2.840.10008.1.2"),
    ("MR_small.dcm", "1.2.840.10008.1.2.1"),
    ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2"),
    ("rtplan.dcm", "1.2.840.10008.1.2"),
])
def test_raw_data_set_without_preamble_or_meta_is_read_in_the_syntax_its_bytes_show(
    name: str, uid: str
) -> None:
    data = pydicom_file(name).read_bytes()
    ds = dicomkit.read(strip_part10(data))
    assert ds.file_meta is None and ds.preamble is None
    assert ds.transfer_syntax.uid == uid
    assert not dataset_differences(dicomkit.read(data), ds)


def test_data_set_after_dicm_without_meta_is_read() -> None:
    data = pydicom_file("MR_small.dcm").read_bytes()
    ds = dicomkit.read(data[:132] + strip_part10(data))
    assert ds.file_meta is None
    assert ds.transfer_syntax.uid == "1.2.840.10008.1.2.1"
    assert not dataset_differences(dicomkit.read(data), ds)


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm",
                                  "no_meta_group_length.dcm", "meta_missing_tsyntax.dcm"])
def test_files_with_missing_or_partial_meta_are_read(name: str) -> None:
    ds = dicomkit.read(pydicom_file(name))
    assert decode_all(ds) > 0


def test_odd_length_value_is_read_and_the_next_element_stays_aligned() -> None:
    body = MODALITY + explicit(0x00100010, "PN", b"Doe") + PATIENT_ID
    ds = dicomkit.read(body)
    assert ds.PatientName == "Doe"
    assert ds.PatientID == "ID-1"


def test_odd_length_value_in_implicit_vr_is_read() -> None:
    body = (implicit(0x00080060, b"CT") + implicit(0x00100010, b"Doe")
            + implicit(0x00100020, b"ID-1"))
    ds = dicomkit.read(body)
    assert ds.transfer_syntax.uid == "1.2.840.10008.1.2"
    assert (ds.PatientName, ds.PatientID) == ("Doe", "ID-1")


UNKNOWN_VR_BODY = (MODALITY + explicit(0x00090010, "LO", b"ACME")
                   + explicit(0x00091001, "ZZ", b"abcd") + NAME)


def test_unknown_vr_with_the_32_bit_length_form_reads_as_un() -> None:
    # PS3.5 §7.1.2: VRs added later use reserved bytes and a 32-bit length; DCMTK likewise
    # "assumes a 4 byte length field" for an unknown VR of two capital letters.
    ds = dicomkit.read(UNKNOWN_VR_BODY)
    assert ds[0x00091001].VR == "UN"
    assert ds[0x00091001].value == b"abcd"
    assert ds.PatientName == "Doe^John"


@pytest.mark.dcmtk
def test_dcmtk_reads_the_unknown_vr_element_the_same_way(dcmtk: Dcmtk, tmp_path: Path) -> None:
    path = tmp_path / "zz.dcm"
    path.write_bytes(UNKNOWN_VR_BODY)
    result = dcmtk.run("dcmdump", "-f", path, check=False)  # -f: a data set, no meta
    assert result.returncode == 0, result.stderr
    assert "(0010,0010) PN [Doe^John]" in result.stdout
    assert "61\\62\\63\\64" in result.stdout  # b"abcd", kept as bytes


def test_vr_bytes_patched_in_a_short_header_raise_naming_offset_and_tag() -> None:
    data = bytearray(pydicom_file("CT_small.dcm").read_bytes())
    offset = data.find(b"\x10\x00\x10\x00PN")
    data[offset + 4 : offset + 6] = b"ZZ"  # now the value's first bytes are read as a length
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(bytes(data), strict=True)
    assert_names_offset_and_tag(caught.value, offset, 0x00100010)


def test_vr_bytes_patched_in_a_short_header_are_listed_as_a_problem_when_lenient() -> None:
    data = bytearray(pydicom_file("CT_small.dcm").read_bytes())
    offset = data.find(b"\x10\x00\x10\x00PN")
    data[offset + 4 : offset + 6] = b"ZZ"
    ds = dicomkit.read(bytes(data))
    assert ds.Modality == "CT"  # everything before is there
    assert any(f"0x{offset:08x}" in p and "(0010,0010)" in p for p in ds.read_problems)


@pytest.mark.parametrize("name", ["MR_small_implicit.dcm", "rtplan.dcm"])
def test_implicit_data_set_labelled_explicit_in_the_meta_is_read_as_implicit(name: str) -> None:
    data = pydicom_file(name).read_bytes()
    relabelled = part10(strip_part10(data), "ExplicitVRLittleEndian")
    ds = dicomkit.read(relabelled)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.transfer_syntax.uid == "1.2.840.10008.1.2"
    assert not dataset_differences(dicomkit.read(data), ds)


def test_explicit_data_set_labelled_implicit_in_the_meta_is_read_as_explicit() -> None:
    data = pydicom_file("MR_small.dcm").read_bytes()
    ds = dicomkit.read(part10(strip_part10(data), "ImplicitVRLittleEndian"))
    assert ds.transfer_syntax.uid == "1.2.840.10008.1.2.1"
    assert not dataset_differences(dicomkit.read(data), ds)


def test_undefined_length_un_element_is_read_as_an_implicit_vr_sequence() -> None:
    # PS3.5 §6.2.2: UN with undefined length holds an implicit VR little endian sequence.
    ds = dicomkit.read(pydicom_file("UN_sequence.dcm"))
    outer = ds[0x4453100C]
    assert outer.VR == "SQ" and len(outer.value) == 1
    series = outer.value[0].ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == "1.2.840.113619.2.327.3.185221411.476.1398588726.276"
    assert series.ReferencedSOPSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert outer.value[0].StudyInstanceUID.endswith(".1398588725.795")


def test_undefined_length_un_sequence_built_by_hand_is_read() -> None:
    inner = implicit(0x00081150, b"1.2.840.10008.5.1.4.1.1.2\0") + implicit(0x00081155, b"1.2.3")
    body = (MODALITY + explicit(0x00091001, "UN", item(inner, length=UNDEFINED) + ITEM_END
                                + SEQ_END, length=UNDEFINED) + NAME)
    ds = dicomkit.read(body)
    assert ds[0x00091001].VR == "SQ"
    assert ds[0x00091001].value[0].ReferencedSOPInstanceUID == "1.2.3"
    assert ds.PatientName == "Doe^John"


def test_trailing_padding_element_is_read_and_changes_nothing_else() -> None:
    data = to_bytes(make_ct(8))
    original = dicomkit.read(data)
    assert 0xFFFCFFFC not in original
    ds = dicomkit.read(data + explicit(0xFFFCFFFC, "OB", bytes(256)))
    assert ds[0xFFFCFFFC].value == bytes(256)
    assert not dataset_differences(original, _without(ds, 0xFFFCFFFC))


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "MR_small_padded.dcm"])
def test_sample_files_with_trailing_padding_are_read(name: str) -> None:
    ds = dicomkit.read(pydicom_file(name))
    assert ds[0xFFFCFFFC].VR == "OB"
    assert len(ds.PixelData) >= ds.Rows * ds.Columns * 2
    assert decode_all(ds) > 0


def _without(ds: dicomkit.Dataset, tag: int) -> dicomkit.Dataset:
    copy = ds.copy()
    if tag in copy:
        del copy[tag]
    return copy


def test_truncated_value_is_kept_as_far_as_it_goes_with_the_problem_listed() -> None:
    ds = dicomkit.read(pydicom_file("MR_truncated.dcm"))
    assert ds.Modality == "MR"
    assert len(ds.PixelData) < ds.Rows * ds.Columns * 2
    assert any("(7FE0,0010)" in p and "offset 0x" in p for p in ds.read_problems)


def test_truncated_value_raises_when_strict() -> None:
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(pydicom_file("MR_truncated.dcm"), strict=True)
    assert caught.value.tag == 0x7FE00010
    assert "offset 0x" in str(caught.value)


# -- broken input ----------------------------------------------------------------------------
def test_cut_inside_a_long_element_header_raises_naming_offset_and_tag() -> None:
    body = MODALITY + NAME
    cut = body + explicit(0x7FE00010, "OW", bytes(16))[:10]
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(cut)
    assert_names_offset_and_tag(caught.value, len(body), 0x7FE00010)


def test_cut_inside_a_short_element_header_raises_when_strict() -> None:
    body = MODALITY + NAME
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body + PATIENT_ID[:6], strict=True)
    assert_names_offset_and_tag(caught.value, len(body), 0x00100020)


def test_cut_inside_an_item_header_raises_naming_offset() -> None:
    body = MODALITY + explicit(0x00081115, "SQ", b"", length=UNDEFINED)
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body + item(length=UNDEFINED)[:5])
    assert caught.value.offset == len(body)
    assert caught.value.tag == 0x00081115


def test_length_past_the_end_raises_when_strict() -> None:
    body = MODALITY + NAME
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body + explicit(0x00100020, "LO", b"ID-1", length=400), strict=True)
    assert_names_offset_and_tag(caught.value, len(body), 0x00100020)
    assert "400" in str(caught.value)


def test_length_past_the_end_of_an_item_raises() -> None:
    inner = explicit(0x00081150, "UI", b"1.2.3\0", length=200) + explicit(0x00081155, "UI", b"1")
    sequence = explicit(0x00081115, "SQ", item(inner))
    body = MODALITY + sequence + NAME
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body)
    assert_names_offset_and_tag(caught.value, len(MODALITY) + 12 + 8, 0x00081150)


def test_item_length_past_the_end_of_its_sequence_raises() -> None:
    sequence = explicit(0x00081115, "SQ", item(NAME, length=64), length=len(NAME) + 8)
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(MODALITY + sequence + PATIENT_ID)
    assert_names_offset_and_tag(caught.value, len(MODALITY) + 12, 0x00081115)


@pytest.mark.parametrize("length", [0xFFFFFFF0, 0x7FFFFFFF, 0xFFFFFFFE])
def test_absurd_length_raises_without_allocating_for_it(length: int) -> None:
    data = MODALITY + explicit(0x7FE00010, "OB", bytes(80), length=length)
    assert len(data) < 110
    tracemalloc.start()
    try:
        with pytest.raises(InvalidDicomError) as caught:
            dicomkit.read(data, strict=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_names_offset_and_tag(caught.value, len(MODALITY), 0x7FE00010)
    assert peak < 1 << 20


def test_huge_length_on_the_first_element_of_a_100_byte_input_raises() -> None:
    data = explicit(0x00080060, "UT", bytes(88), length=0x7FFFFFFF)
    assert len(data) == 100
    tracemalloc.start()
    try:
        with pytest.raises(InvalidDicomError) as caught:
            dicomkit.read(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_names_offset_and_tag(caught.value, 0, 0x00080060)
    assert peak < 1 << 20


def test_huge_length_in_lenient_mode_keeps_only_the_bytes_there() -> None:
    data = MODALITY + explicit(0x7FE00010, "OB", bytes(80), length=0x7FFFFFFF)
    tracemalloc.start()
    try:
        ds = dicomkit.read(data)
        value = ds.PixelData
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert value == bytes(80)
    assert peak < 1 << 20


@pytest.mark.parametrize("length", [0x7FFFFFFF, 0xFFFFFFF0])
def test_huge_item_length_raises(length: int) -> None:
    sequence = explicit(0x00081115, "SQ", item(NAME, length=length), length=UNDEFINED)
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(MODALITY + sequence + SEQ_END, strict=True)
    assert caught.value.tag == 0x00081115
    assert caught.value.offset == len(MODALITY) + 12


def test_junk_bytes_raise_naming_offset_and_tag() -> None:
    junk = bytes((i * 37 + 11) % 251 for i in range(200))
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(junk)
    assert caught.value.offset == 0
    assert caught.value.tag is not None and "tag (" in str(caught.value)


def test_text_file_raises() -> None:
    with pytest.raises(InvalidDicomError):
        dicomkit.read(b"This is not a DICOM file, just a line of text.\n" * 3)


def test_junk_after_the_last_element_raises_naming_offset_and_tag() -> None:
    body = MODALITY + NAME
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(body + b"\x10\x00\x20\x00\x01\x02\x03\x04\x05\x06\x07\x08")
    assert_names_offset_and_tag(caught.value, len(body), 0x00100020)


def test_empty_input_raises() -> None:
    with pytest.raises(InvalidDicomError):
        dicomkit.read(b"")


def _nested_explicit(depth: int) -> bytes:
    opening = explicit(0x00081115, "SQ", b"", length=UNDEFINED) + item(length=UNDEFINED)
    closing = ITEM_END + SEQ_END
    return MODALITY + opening * depth + closing * depth


def _nested_implicit(depth: int) -> bytes:
    opening = implicit(0x00081115, b"", length=UNDEFINED) + item(length=UNDEFINED)
    closing = ITEM_END + SEQ_END
    return implicit(0x00080060, b"CT") + opening * depth + closing * depth


def _nested_un(depth: int) -> bytes:
    opening = implicit(0x00091001, b"", length=UNDEFINED) + item(length=UNDEFINED)
    closing = ITEM_END + SEQ_END
    return (MODALITY + explicit(0x00091001, "UN", b"", length=UNDEFINED) + item(length=UNDEFINED)
            + opening * (depth - 1) + closing * depth)


@pytest.mark.parametrize("build", [_nested_explicit, _nested_implicit, _nested_un])
def test_a_thousand_nested_sequences_raise_instead_of_recursing(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(build(1000))
    assert "nested" in str(caught.value)
    assert caught.value.offset is not None and caught.value.tag is not None


@pytest.mark.parametrize("build", [_nested_explicit, _nested_implicit, _nested_un])
def test_moderately_nested_sequences_are_read(build) -> None:  # type: ignore[no-untyped-def]
    ds = dicomkit.read(build(20))
    depth = 0
    element = next(e for e in ds if e.VR == "SQ")
    while element.value and len(element.value[0]):
        depth += 1
        element = next(iter(element.value[0]))
    assert depth == 19


def test_encapsulated_pixel_data_without_a_sequence_delimiter_raises() -> None:
    data = pydicom_file("JPEG2000.dcm").read_bytes()
    assert data.endswith(SEQ_END)
    pixel_offset = data.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(data[: -len(SEQ_END)])
    assert caught.value.tag == 0x7FE00010
    assert caught.value.offset is not None and caught.value.offset > pixel_offset


def test_encapsulated_fragment_with_absurd_length_raises() -> None:
    pixel = explicit(0x7FE00010, "OB", item(b"") + item(b"\xff\xd8", length=0xFFFFFFF0) + SEQ_END,
                     length=UNDEFINED)
    body = MODALITY + pixel
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(part10(body, "JPEGBaseline8Bit"))
    assert caught.value.tag == 0x7FE00010


def test_item_tag_outside_a_sequence_raises() -> None:
    with pytest.raises(InvalidDicomError) as caught:
        dicomkit.read(MODALITY + item(NAME) + PATIENT_ID)
    assert_names_offset_and_tag(caught.value, len(MODALITY), 0xFFFEE000)


def test_deflated_data_that_does_not_inflate_raises() -> None:
    body = b"\x00" * 3 + bytes(range(200))
    with pytest.raises(InvalidDicomError):
        decode_all(dicomkit.read(part10(body, "DeflatedExplicitVRLittleEndian")))


def test_deflated_file_reads_like_its_explicit_original() -> None:
    ds = dicomkit.read(pydicom_file("MR_small.dcm"))
    body = dataset_to_bytes(ds, "DeflatedExplicitVRLittleEndian")
    again = dicomkit.read(part10(body, "DeflatedExplicitVRLittleEndian"))
    assert not dataset_differences(ds, again)


def test_at_value_of_odd_size_decodes_the_whole_tags_it_holds() -> None:
    ds = dicomkit.read(MODALITY + explicit(0x00280009, "AT", b"\x18\x00\x63\x10\x00\x00"))
    assert ds.FrameIncrementPointer == 0x00181063


def test_value_that_fails_to_decode_raises_invalid_dicom_error_naming_the_tag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dicomkit.core.element as element_module

    def broken(*args: object, **kwargs: object) -> None:
        raise struct.error("unpack requires a buffer of 8 bytes")

    ds = dicomkit.read(MODALITY + explicit(0x00081163, "FD", b"\0" * 8))
    monkeypatch.setattr(element_module, "decode_value", broken)
    with pytest.raises(InvalidDicomError) as caught:
        _ = ds.TimeRange
    assert caught.value.tag == 0x00081163
    assert "(0008,1163)" in str(caught.value)


@pytest.mark.parametrize("vr", ["IS", "SH", "SQ", "OB", "US"])
def test_specific_character_set_with_a_wrong_vr_does_not_break_text_decoding(vr: str) -> None:
    values = {"IS": b"12", "SH": b"ISO_IR 100", "SQ": item(NAME), "OB": b"IS", "US": b"\1\0"}
    body = (explicit(0x00080005, vr, values[vr]) + MODALITY
            + explicit(0x00100010, "PN", "Müller".encode("latin-1")))
    ds = dicomkit.read(body)
    assert decode_all(ds) >= 3
    assert ds.PatientName.startswith("M")
