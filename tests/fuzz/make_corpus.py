"""Write the seed corpus of every fuzz target: ``python -m tests.fuzz.make_corpus``.

Small, real-looking inputs made by dicomkit itself (its writer, ``dicomkit sample``'s CT, its
PDU and DIMSE encoders, its JSON and XML writers), named by content hash so that rewriting
them is idempotent. The output is committed under ``tests/fuzz/corpus/<target>/``; UIDs are
fixed so that a re-run gives the same files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from dicomkit.cli.sample import make_ct
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.json import to_json
from dicomkit.encoding.transfer_syntax import IMPLICIT_VR_LITTLE_ENDIAN
from dicomkit.encoding.writer import dataset_to_bytes, to_bytes
from dicomkit.encoding.xml import to_xml
from dicomkit.net import pdu as P
from dicomkit.net.dimse import CommandField, command, encode_command
from dicomkit.pixels.transcode import transcode
from tests.fuzz import CORPUS

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
STUDY = "1.2.826.0.1.3680043.10.1.1"
SERIES = "1.2.826.0.1.3680043.10.1.1.1"


def sample(size: int = 4, frames: int = 1) -> Dataset:
    ds = make_ct(size, study_uid=STUDY, series_uid=SERIES)
    ds.SOPInstanceUID = f"{SERIES}.{size}.{frames}"
    ds.FrameOfReferenceUID = f"{STUDY}.9"
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.set("PixelData", bytes(ds.PixelData) * frames, "OW")
    return ds


def report() -> Dataset:
    """A data set of many VRs, nested sequences, a private block and multi-valued text."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.SOPInstanceUID = f"{SERIES}.100"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = SERIES
    ds.PatientName = "Müller^Jürgen=ミュラー^ユルゲン"
    ds.PatientID = "DK-0002"
    ds.PatientAge = "051Y"
    ds.ContentDate = "20261126"
    ds.ContentTime = "101500.123456"
    ds.AcquisitionDateTime = "20261126101500.123+0100"
    ds.ReferencedFrameNumber = [1, 2, 3]
    ds.set("FrameIncrementPointer", [0x00181063, 0x00181065], "AT")
    ds.set("ImagePositionPatient", [1.5, -2.25, 3e10], "DS")
    ds.set("RealWorldValueFirstValueMapped", -5, "SS")
    ds.set("SelectorFLValue", [1.5, float("inf")], "FL")
    ds.set("SelectorFDValue", [2.5, -0.0], "FD")
    ds.set("SelectorULValue", [0, 4294967295], "UL")
    ds.set("SelectorSVValue", [-(2**63)], "SV")
    ds.set("SelectorUVValue", [2**64 - 1], "UV")
    ds.set("SelectorOBValue", b"\x00\x01\x02\x03", "OB")
    ds.set("SelectorUTValue", "free text\r\nsecond line", "UT")
    ds.set("SelectorURValue", "http://example.org/a b", "UR")
    item = Dataset()
    item.ValueType = "CONTAINER"
    concept = Dataset()
    concept.CodeValue = "121070"
    concept.CodingSchemeDesignator = "DCM"
    concept.CodeMeaning = "Findings"
    item.ConceptNameCodeSequence = [concept]
    text = Dataset()
    text.ValueType = "TEXT"
    text.TextValue = "No abnormality."
    item.ContentSequence = [text, Dataset()]
    ds.ContentSequence = [item]
    block = ds.private_block(0x0011, "DICOMKIT FUZZ", create=True)
    block.add_new(0x01, "LO", ["a", "b"])
    block.add_new(0x02, "UN", b"\x01\x02")
    return ds


def part10() -> Iterator[bytes]:
    for ts in ("ExplicitVRLittleEndian", "ImplicitVRLittleEndian", "ExplicitVRBigEndian",
               "DeflatedExplicitVRLittleEndian"):
        yield to_bytes(sample(), transfer_syntax=ts)
        yield to_bytes(report(), transfer_syntax=ts)
    yield to_bytes(sample(4, frames=2))
    for ts in ("RLELossless", "JPEGLSLossless", "JPEGLosslessSV1", "JPEG2000Lossless",
               "JPEGBaseline8Bit"):
        ds = sample(8, frames=2)
        if ts == "JPEGBaseline8Bit":
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            ds.set("PixelData", bytes(range(128)), "OB")
        yield to_bytes(transcode(ds, ts, lossy_ok=True))
    yield dataset_to_bytes(report(), IMPLICIT_VR_LITTLE_ENDIAN)  # no preamble, no meta


def _user_info() -> P.UserInformation:
    return P.UserInformation(
        max_length=16384,
        implementation_class_uid="1.2.826.0.1.3680043.10.1",
        implementation_version_name="DICOMKIT_010",
        async_ops=(2, 1),
        roles=[P.RoleSelection(CT_IMAGE, True, False)],
        extended=[P.ExtendedNegotiation(CT_IMAGE, b"\x01\x00\x01")],
        common_extended=[P.CommonExtendedNegotiation(CT_IMAGE, "1.2.840.10008.4.2", ["1.2.3"])],
        user_identity=P.UserIdentityRQ(2, b"user", b"secret", True),
        unknown=[(0x70, b"vendor")],
    )


def commands() -> list[bytes]:
    return [
        encode_command(command(CommandField.C_ECHO_RQ, MessageID=1,
                               AffectedSOPClassUID="1.2.840.10008.1.1")),
        encode_command(command(CommandField.C_STORE_RQ, MessageID=2, Priority=0,
                               AffectedSOPClassUID=CT_IMAGE,
                               AffectedSOPInstanceUID=f"{SERIES}.4.1",
                               MoveOriginatorApplicationEntityTitle="MOVESCU",
                               MoveOriginatorMessageID=7, CommandDataSetType=0)),
        encode_command(command(CommandField.C_FIND_RSP, MessageIDBeingRespondedTo=3,
                               AffectedSOPClassUID="1.2.840.10008.5.1.4.1.2.2.1",
                               Status=0xFF00, CommandDataSetType=0)),
        encode_command(command(CommandField.C_MOVE_RSP, MessageIDBeingRespondedTo=4,
                               Status=0xB000, NumberOfRemainingSuboperations=0,
                               NumberOfCompletedSuboperations=3,
                               NumberOfFailedSuboperations=1, NumberOfWarningSuboperations=0,
                               ErrorComment="one failed")),
        encode_command(command(CommandField.N_ACTION_RQ, MessageID=5,
                               RequestedSOPClassUID="1.2.840.10008.1.20.1",
                               RequestedSOPInstanceUID="1.2.840.10008.1.20.1.1",
                               ActionTypeID=1, CommandDataSetType=0)),
    ]


def pdus() -> Iterator[bytes]:
    rq = P.encode(P.AAssociateRQ(
        "STORESCP", "STORESCU",
        [P.PresentationContextRQ(1, CT_IMAGE, [EXPLICIT_LE, IMPLICIT_LE]),
         P.PresentationContextRQ(3, "1.2.840.10008.1.1", [IMPLICIT_LE])],
        _user_info()))
    ac = P.encode(P.AAssociateAC(
        "STORESCP", "STORESCU",
        [P.PresentationContextAC(1, 0, EXPLICIT_LE), P.PresentationContextAC(3, 3, "")],
        P.UserInformation(max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.10.1",
                          user_identity=P.UserIdentityAC(b"ticket"))))
    echo, store = commands()[:2]
    data = dataset_to_bytes(sample(), IMPLICIT_VR_LITTLE_ENDIAN)
    pdata = P.encode(P.PDataTF([P.PDV(1, True, True, store)]))
    fragments = P.encode(P.PDataTF([P.PDV(1, False, False, data[:40]),
                                    P.PDV(1, False, True, data[40:80])]))
    release = P.encode(P.AReleaseRQ()) + P.encode(P.AReleaseRP())
    yield rq
    yield ac
    yield P.encode(P.AAssociateRJ(1, 1, 3))
    yield P.encode(P.AAbort(2, 4))
    yield rq + P.encode(P.PDataTF([P.PDV(3, True, True, echo)])) + release
    yield pdata + fragments
    yield P.encode(P.PDataTF([P.PDV(1, True, False, store[:30]),
                              P.PDV(1, True, True, store[30:])]))


def multipart() -> Iterator[bytes]:
    instance = to_bytes(sample())
    header = b'multipart/related; type="application/dicom"; boundary=dk-boundary\n'
    yield (header + b"preamble\r\n--dk-boundary\r\nContent-Type: application/dicom\r\n\r\n"
           + instance + b"\r\n--dk-boundary\r\nContent-Type: application/dicom\r\n\r\n"
           + instance[:200] + b"\r\n--dk-boundary--\r\nepilogue")
    yield (b'multipart/related; type="application/dicom+json"; boundary="a:b c"\n'
           b'--a:b c\r\nContent-Type: application/dicom+json\r\n\r\n'
           + to_json(report()).encode() + b"\r\n--a:b c \t\r\n"
           b'Content-Type: application/octet-stream\r\nContent-Location: bulk/1\r\n\r\n'
           b"\x00\x01--a:b\r\n--a:b cx\r\n--a:b c--")
    yield (b'multipart/related; type="application/dicom+xml"; boundary=X, text/html;q=0.5\n'
           b"--X\r\n\r\n" + to_xml(report()).encode() + b"\r\n--X--\r\n")


def json_documents() -> Iterator[bytes]:
    yield to_json(report()).encode()
    yield to_json(sample(), bulk_data_threshold=16).encode()
    yield to_json(transcode(sample(8), "RLELossless")).encode()
    yield (b'{"00100010":{"vr":"PN","Value":["Doe^John", {"Alphabetic":"A^B"}]},'
           b'"00280010":{"Value":["4"]},"0020000d":{"vr":"UI","Value":null},'
           b'"00540016":{"vr":"SQ","Value":[{}, null]},'
           b'"7fe00010":{"vr":"OW","InlineBinary":["AAEC"]}}')


def xml_documents() -> Iterator[bytes]:
    yield to_xml(report()).encode()
    yield to_xml(sample(), bulk_data_threshold=16).encode()
    yield (b'<?xml version="1.0"?><NativeDicomModel>'
           b'<DicomAttribute tag="00100010"><PersonName number="1"><SingleByte>'
           b"<FamilyName>Doe</FamilyName></SingleByte></PersonName></DicomAttribute>"
           b'<DicomAttribute tag="00280010" vr="US"><Value number="2">4</Value>'
           b'<Value number="1">3</Value></DicomAttribute>'
           b'<DicomAttribute tag="00291001" vr="LO" privateCreator="X"><Value number="1">v'
           b"</Value></DicomAttribute>"
           b'<DicomAttribute tag="00540016"><Item number="1"/></DicomAttribute>'
           b"</NativeDicomModel>")


SEEDS = {
    "part10": part10,
    "pdu_stream": pdus,
    "dimse_command": lambda: iter(commands()),
    "multipart": multipart,
    "json_model": json_documents,
    "xml_model": xml_documents,
}


def write_corpus(base: Path = CORPUS) -> int:
    total = 0
    for target, make in SEEDS.items():
        folder = base / target
        folder.mkdir(parents=True, exist_ok=True)
        for data in make():
            name = hashlib.sha1(data).hexdigest()
            (folder / name).write_bytes(data)
            total += len(data)
    return total


if __name__ == "__main__":
    print(f"{write_corpus()} bytes written under {CORPUS}")
