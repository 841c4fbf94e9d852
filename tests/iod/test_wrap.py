"""dicomkit.iod.encapsulated: wrap a document of each kind, check the object against dicom3tools
dciodvfy, DCMTK and pydicom, and unwrap it byte for byte (PS3.3 A.45, A.85, A.32; C.24.2)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import imagecodecs
import numpy as np
import pytest

from dicomkit import read, write
from dicomkit.core.uid import registered
from dicomkit.iod import mp4
from dicomkit.iod.codes import Code
from dicomkit.iod.encapsulated import WrapError, kind_of, unwrap, wrap
from dicomkit.iod.visible import video_transfer_syntax
from tests.support import documents as docs
from tests.support.datasets import make_instance
from tests.support.dciodvfy import assert_valid, verify
from tests.support.video import h264_mp4, hevc_mp4

KINDS = {"pdf": ("pdf", "EncapsulatedPDFStorage", "application/pdf"),
         "cda": ("cda", "EncapsulatedCDAStorage", "text/xml"),
         "stl-ascii": ("stl", "EncapsulatedSTLStorage", "model/stl"),
         "stl-binary": ("stl", "EncapsulatedSTLStorage", "model/stl"),
         "obj": ("obj", "EncapsulatedOBJStorage", "model/obj"),
         "mtl": ("mtl", "EncapsulatedMTLStorage", "model/mtl"),
         "jpeg": ("jpeg", "VLPhotographicImageStorage", "image/jpeg"),
         "png": ("png", "VLPhotographicImageStorage", "image/png"),
         "mp4-h264": ("mp4", "VideoPhotographicImageStorage", "video/mp4"),
         "mp4-hevc": ("mp4", "VideoPhotographicImageStorage", "video/mp4")}
UNKNOWN_TO_DCIODVFY = {"obj", "mtl"}
"""dicom3tools 2024's IOD table has no Encapsulated OBJ or MTL IOD (A.85.2/3): dciodvfy says
"Information Object Not found" and checks nothing, so these two are checked by pydicom and by
the attributes the test asserts."""


def _written(tmp_path: Path, name: str, **options: object) -> tuple[bytes, Path]:
    data = docs.documents()[name]
    ds = wrap(data, patient_id="DK-7", patient_name="Doe^Jane", **options)  # type: ignore[arg-type]
    path = tmp_path / f"{name}.dcm"
    write(ds, path)
    return data, path


def _dciodvfy(path: Path, tmp_path: Path) -> None:
    ds = read(path)
    if str(ds.file_meta.TransferSyntaxUID) == registered("HEVCMP51"):
        # dciodvfy's transfer syntax table stops at 1.2.840.10008.1.2.4.106: it cannot read an
        # HEVC file at all. The data set is checked under another encapsulated video syntax.
        relabelled = tmp_path / "relabelled.dcm"
        write(ds, relabelled, transfer_syntax=registered("MPEG4HP41"))
        path = relabelled
    assert_valid(path)


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_round_trips_byte_for_byte_and_passes_dciodvfy(tmp_path: Path,
                                                                  name: str) -> None:
    kind, sop, media = KINDS[name]
    data, path = _written(tmp_path, name)
    assert kind_of(data) == kind
    ds = read(path)
    assert ds.SOPClassUID == registered(sop)
    back, media_type = unwrap(ds)
    assert media_type == media
    if kind == "png":  # stored uncompressed; the PNG that comes back has the same pixels
        assert np.array_equal(imagecodecs.png_decode(back), docs.rgb_image())
    else:
        assert back == data
    if kind in UNKNOWN_TO_DCIODVFY:
        assert verify(path).errors == ["Error - Information Object Not found"]
    else:
        _dciodvfy(path, tmp_path)


@pytest.mark.parametrize("name", list(KINDS))
def test_pydicom_reads_each_kind(tmp_path: Path, name: str) -> None:
    pydicom = pytest.importorskip("pydicom")
    _, sop, _ = KINDS[name]
    data, path = _written(tmp_path, name)
    theirs = pydicom.dcmread(path)
    assert theirs.SOPClassUID == registered(sop)
    assert theirs.PatientID == "DK-7"
    if "EncapsulatedDocument" in theirs:
        assert theirs.EncapsulatedDocument[: theirs.EncapsulatedDocumentLength] == data
    if name == "png":
        assert np.array_equal(theirs.pixel_array, docs.rgb_image())


def test_document_value_is_padded_with_one_nul_and_length_is_the_real_one() -> None:
    """PS3.3 C.24.2.1: an odd document gets one trailing NUL; Encapsulated Document Length is
    the document's own length."""
    assert len(docs.PDF) % 2 == 1
    ds = wrap(docs.PDF)
    assert ds.EncapsulatedDocument == docs.PDF + b"\0"
    assert ds.EncapsulatedDocumentLength == len(docs.PDF)
    assert ds["EncapsulatedDocument"].VR == "OB"
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.BurnedInAnnotation == "YES"
    assert ds.ConversionType == "WSD"


def test_unwrap_strips_only_what_the_length_says() -> None:
    """A document that itself ends in NUL keeps it: only the length decides."""
    data = docs.PDF + b"\0\0"
    ds = wrap(data)
    assert unwrap(ds)[0] == data


def test_patient_and_study_come_from_like_in_a_new_series() -> None:
    ct = make_instance(patient_id="P-42", patient_name="Roe^Richard", AccessionNumber="ACC9",
                       PatientBirthDate="19700101", StudyDescription="CT chest",
                       FrameOfReferenceUID="1.2.3.4.5")
    for data in (docs.PDF, docs.STL_ASCII, docs.jpeg(), h264_mp4()):
        ds = wrap(data, like=ct)
        for keyword in ("PatientID", "PatientName", "PatientBirthDate", "StudyInstanceUID",
                        "AccessionNumber", "StudyDescription", "StudyDate"):
            assert ds.get(keyword) == ct.get(keyword), keyword
        assert ds.SeriesInstanceUID != ct.SeriesInstanceUID
        assert ds.SOPInstanceUID != ct.SOPInstanceUID
        assert ds.SeriesNumber == 1
    assert wrap(docs.STL_ASCII, like=ct).FrameOfReferenceUID == "1.2.3.4.5"


def test_options_override_like() -> None:
    ct = make_instance(patient_id="P-42")
    ds = wrap(docs.PDF, like=ct, patient_id="OTHER", accession="A1", study_uid="1.2.3",
              series_number=7, title="Discharge letter")
    assert (ds.PatientID, ds.AccessionNumber, ds.StudyInstanceUID) == ("OTHER", "A1", "1.2.3")
    assert ds.SeriesNumber == 7
    assert ds.DocumentTitle == "Discharge letter"


def test_without_like_a_new_study_and_empty_type_2_attributes() -> None:
    ds = wrap(docs.PDF)
    assert ds.StudyInstanceUID
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                    "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        assert keyword in ds and not ds.get(keyword), keyword


def test_cda_instance_identifier_and_title_from_the_document() -> None:
    """PS3.3 C.24.2.2: HL7 Instance Identifier is root^extension of ClinicalDocument/id."""
    ds = wrap(docs.CDA)
    assert ds.HL7InstanceIdentifier == "2.16.840.1.113883.19.4^c266"
    assert ds.DocumentTitle == "Consultation Note — Müller"
    assert ds.MIMETypeOfEncapsulatedDocument == "text/xml"


def test_models_have_frame_of_reference_equipment_and_units() -> None:
    stl = wrap(docs.STL_BINARY)
    assert stl.Modality == "M3D"
    assert stl.FrameOfReferenceUID
    assert Code.from_dataset(stl.MeasurementUnitsCodeSequence[0]) == Code("mm", "UCUM")
    for keyword in ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber",
                    "SoftwareVersions"):
        assert stl.get(keyword), keyword
    assert "FrameOfReferenceUID" not in wrap(docs.MTL)
    assert "ConversionType" not in stl


def test_baseline_jpeg_is_kept_as_is_in_jpeg_baseline() -> None:
    data = docs.jpeg()
    ds = wrap(data)
    assert ds.transfer_syntax.uid == registered("JPEGBaseline8Bit")
    assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (24, 40, 3)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.LossyImageCompression == "01"
    assert unwrap(ds) == (data, "image/jpeg")


def test_grayscale_jpeg_and_png() -> None:
    gray = (np.arange(48 * 32, dtype=np.uint32) % 251).astype(np.uint8).reshape(48, 32)
    ds = wrap(bytes(imagecodecs.jpeg8_encode(gray, level=95)))
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    ds = wrap(bytes(imagecodecs.png_encode(gray)))
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert ds.LossyImageCompression == "00"
    assert np.array_equal(ds.pixel_array, gray)


def test_png_with_transparency_or_16_bits_is_refused() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 10
    with pytest.raises(WrapError, match="transparency"):
        wrap(bytes(imagecodecs.png_encode(rgba)))
    opaque = rgba.copy()
    opaque[..., 3] = 255
    assert wrap(bytes(imagecodecs.png_encode(opaque))).PhotometricInterpretation == "RGB"
    with pytest.raises(WrapError, match="16-bit"):
        wrap(bytes(imagecodecs.png_encode(np.zeros((4, 4), np.uint16))))


def test_video_attributes_from_the_mp4() -> None:
    data = h264_mp4(frames=5, width_mbs=3, height_mbs=2, delta=40)
    ds = wrap(data)
    assert ds.transfer_syntax.uid == registered("MPEG4HP41")
    assert (ds.Rows, ds.Columns, ds.NumberOfFrames) == (32, 48, 5)
    assert float(ds.FrameTime) == 40.0
    assert ds.CineRate == 25
    assert ds.PhotometricInterpretation == "YBR_PARTIAL_420"
    assert ds.Modality == "XC"
    endoscopic = wrap(data, endoscopic=True)
    assert endoscopic.SOPClassUID == registered("VideoEndoscopicImageStorage")
    assert endoscopic.Modality == "ES"


@pytest.mark.parametrize(("profile", "level", "constraints", "expected"), [
    (100, 30, 0, "MPEG4HP41"), (100, 41, 0, "MPEG4HP41"), (100, 42, 0, "MPEG4HP422D"),
    (77, 31, 0, "MPEG4HP41"), (66, 30, 0x40, "MPEG4HP41"), (128, 42, 0, "MPEG4HP42STEREO"),
    (100, 50, 0, None), (66, 30, 0, None), (110, 30, 0, None), (244, 30, 0, None),
])
def test_h264_transfer_syntax_follows_profile_and_level(profile: int, level: int,
                                                        constraints: int,
                                                        expected: str | None) -> None:
    """PS3.5 §8.2.7-8.2.9: High (and its subsets Main, Constrained Baseline) up to 4.1 / 4.2;
    Baseline with its FMO/ASO tools, High 10, 4:4:4 and levels above 4.2 have no syntax."""
    track = mp4.video_track(h264_mp4(1, profile=profile, level=level,
                                     constraints=constraints))
    if expected is None:
        with pytest.raises(WrapError, match=f"profile_idc {profile}"):
            video_transfer_syntax(track)
    else:
        assert video_transfer_syntax(track) == expected


def test_hevc_main_up_to_level_5_1_and_main_10_refused() -> None:
    assert video_transfer_syntax(mp4.video_track(hevc_mp4(1, 153))) == "HEVCMP51"
    with pytest.raises(WrapError, match="level 5.1"):
        video_transfer_syntax(mp4.video_track(hevc_mp4(1, 156)))
    with pytest.raises(WrapError, match="Main 10"):
        wrap(hevc_mp4(2, 93))


# -- hostile input ---------------------------------------------------------------------------


def test_empty_and_unknown_content_are_refused() -> None:
    with pytest.raises(WrapError, match="empty"):
        wrap(b"")
    with pytest.raises(WrapError, match="unknown content"):
        wrap(bytes(range(256)) * 3)
    with pytest.raises(WrapError, match="unknown text content"):
        wrap(b"hello, world\n")
    with pytest.raises(WrapError, match="not an HL7 CDA"):
        wrap(b"<?xml version='1.0'?><html/>")
    with pytest.raises(WrapError, match="not well formed"):
        wrap(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1"')
    with pytest.raises(WrapError, match="no id"):
        wrap(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>x</title></ClinicalDocument>')


def test_a_dicom_file_is_not_wrapped_again(tmp_path: Path) -> None:
    data, path = _written(tmp_path, "pdf")
    with pytest.raises(WrapError, match="already a DICOM file"):
        wrap(path.read_bytes())


def test_truncated_mp4_is_refused_with_the_box_named() -> None:
    data = h264_mp4()
    for cut in (len(data) - 1, len(data) // 2, 40, 12):
        with pytest.raises(WrapError, match="box|stray"):
            wrap(data[:cut])


def test_mp4_box_length_past_the_file_is_refused() -> None:
    data = bytearray(h264_mp4())
    moov = data.index(b"moov") - 4
    struct.pack_into(">I", data, moov, 0xFFFFFF00)
    with pytest.raises(WrapError, match="moov.*runs past"):
        wrap(bytes(data))
    data = bytearray(h264_mp4())
    stts = data.index(b"stts") - 4
    struct.pack_into(">I", data, stts + 12, 0x7FFFFFFF)  # entry_count far beyond the box
    with pytest.raises(WrapError, match="stts.*entries do not fit"):
        wrap(bytes(data))


def test_mp4_without_video_or_with_another_codec_is_refused() -> None:
    data = bytearray(h264_mp4())
    at = data.index(b"vide")
    data[at : at + 4] = b"soun"
    with pytest.raises(WrapError, match="no video track"):
        wrap(bytes(data))
    data = bytearray(h264_mp4())
    at = data.index(b"avc1", data.index(b"stsd"))
    data[at : at + 4] = b"mp4v"
    with pytest.raises(WrapError, match="not H.264"):
        wrap(bytes(data))


def test_broken_jpeg_is_refused() -> None:
    data = bytearray(docs.jpeg())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">H", data, sof + 2, 0xFFF0)
    with pytest.raises(WrapError, match="FFC0.*past the end"):
        wrap(bytes(data))
    with pytest.raises(WrapError, match="no frame header"):
        wrap(b"\xff\xd8\xff\xd9")


def test_unwrap_of_an_object_without_a_document() -> None:
    ds = make_instance()
    del ds["PixelData"]
    with pytest.raises(WrapError, match="neither"):
        unwrap(ds)


# -- DCMTK ------------------------------------------------------------------------------------

needs_dcmtk = pytest.mark.skipif(shutil.which("pdf2dcm") is None, reason="DCMTK not installed")


@needs_dcmtk
def test_dcm2pdf_extracts_our_pdf_identical(tmp_path: Path) -> None:
    data, path = _written(tmp_path, "pdf")
    out = tmp_path / "out.pdf"
    subprocess.run(["dcm2pdf", str(path), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == data


@needs_dcmtk
def test_we_unwrap_what_pdf2dcm_makes(tmp_path: Path) -> None:
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(docs.PDF)
    made = tmp_path / "dcmtk.dcm"
    subprocess.run(["pdf2dcm", str(pdf), str(made)], check=True, capture_output=True)
    assert unwrap(read(made)) == (docs.PDF, "application/pdf")


@needs_dcmtk
def test_we_unwrap_what_img2dcm_makes(tmp_path: Path) -> None:
    """img2dcm keeps a baseline JPEG's scan as is (it may drop APPn segments): what comes back
    is the JPEG it stored, which decodes to the original's pixels."""
    jpg = tmp_path / "in.jpg"
    jpg.write_bytes(docs.jpeg())
    made = tmp_path / "dcmtk.dcm"
    subprocess.run(["img2dcm", str(jpg), str(made)], check=True, capture_output=True)
    back, media = unwrap(read(made))
    assert media == "image/jpeg"
    assert back.startswith(b"\xff\xd8") and back.endswith(b"\xff\xd9")
    assert np.array_equal(imagecodecs.jpeg8_decode(back), imagecodecs.jpeg8_decode(docs.jpeg()))


def test_an_object_that_would_break_its_iod_is_refused() -> None:
    """The writer checks its result (dicomkit.iod.modules.require): an enumerated value the
    Patient module does not allow, copied from --like, is refused, not written."""
    from dicomkit.iod.modules import IODError

    with pytest.raises(IODError, match="PatientSex"):
        wrap(docs.PDF, like=make_instance(PatientSex="Q"))


def test_non_latin_title_moves_a_latin_1_study_to_utf_8() -> None:
    ct = make_instance(patient_name="Müller^Jörg")
    assert ct.SpecificCharacterSet == "ISO_IR 100"
    ds = wrap(docs.PDF, like=ct, title="Befund — 東京")
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    again = read_back(ds)
    assert (again.PatientName, again.DocumentTitle) == ("Müller^Jörg", "Befund — 東京")


def read_back(ds: object) -> object:
    import io

    buffer = io.BytesIO()
    write(ds, buffer)  # type: ignore[arg-type]
    return read(buffer.getvalue())


def test_entity_expansion_bomb_in_xml_is_refused_quickly() -> None:
    """A billion-laughs CDA: expat's amplification limit stops it; a clear WrapError."""
    entities = b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1
                                                          else b"&lol;") * 10)
                        for i in range(1, 10))
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY lol "lol">' + entities
            + b']><ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1"/>'
            b"<title>&lol9;</title></ClinicalDocument>")
    with pytest.raises(WrapError, match="not well formed"):
        wrap(bomb)


def test_every_truncation_of_an_mp4_or_a_jpeg_is_a_clear_error() -> None:
    """Cut at every byte: the MP4 reader and the JPEG marker walker either read the header
    or raise their error; nothing else escapes, nothing reads past the end."""
    from dicomkit.iod.visible import jpeg_frame

    video = h264_mp4(frames=1)
    for cut in range(1, len(video)):
        try:
            mp4.video_track(video[:cut])
            mp4.length(video[:cut])
        except mp4.MP4Error:
            pass
    photo = docs.jpeg()
    for cut in range(2, len(photo)):
        try:
            jpeg_frame(photo[:cut])
        except WrapError:
            pass
