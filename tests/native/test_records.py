"""The ingest record's twins give the same results: the DICOM JSON encoder
(``dicomkit.encoding._json`` against the pure ``_Encoder``) and ``record_for`` with either,
on pydicom's sample and character set files, hand-made odd values and fixed-seed mutations.

Both twins are called directly whatever the mode (``native.compiled``), so these tests compare
them under ``DICOMKIT_PURE=1`` too. Each twin gets its own fresh read of the bytes: reading a
value caches it in the data set, and the compiled twin must not depend on what the pure one
left there.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from dicomkit import native
from dicomkit.archive.records import record_for
from dicomkit.encoding.json import to_json_dict
from dicomkit.encoding.reader import read

TWIN = native.compiled("dicomkit.encoding._json")


def outcome(call: Any) -> Any:
    try:
        return ("ok", json.dumps(call(), ensure_ascii=False, allow_nan=False, default=repr))
    except Exception as error:  # noqa: BLE001 - the errors are compared too
        return ("error", type(error).__name__, str(error))


def both(data: bytes, threshold: int | None = 1024) -> tuple[Any, Any]:
    def encode(twin: Any) -> Any:
        return outcome(lambda: to_json_dict(read(data), bulk_data_threshold=threshold,
                                            twin=twin))
    return encode(None), encode(TWIN)


def both_records(data: bytes) -> tuple[Any, Any]:
    def record(twin: Any) -> Any:
        def make() -> Any:
            return vars(record_for(read(data), "a/b.dcm", len(data), "1.2.840.10008.1.2.1",
                                   twin=twin))
        return outcome(make)
    return record(None), record(TWIN)


def readable(paths: list[Path]) -> list[bytes]:
    out = []
    for path in paths:
        data = path.read_bytes()
        try:
            read(data)
        except Exception:  # noqa: BLE001 - files dicomkit refuses are not this test's subject
            continue
        out.append(data)
    return out


def test_sample_files_encode_alike(pydicom_files: Path) -> None:
    files = readable(sorted(pydicom_files.glob("**/*.dcm")))
    assert len(files) > 50
    for data in files:
        for threshold in (None, 1024):
            pure, compiled = both(data, threshold)
            assert pure == compiled
        pure, compiled = both_records(data)
        assert pure == compiled


def test_character_set_files_encode_alike(charset_files: Path) -> None:
    files = readable(sorted(charset_files.glob("*.dcm")))
    assert len(files) > 15
    non_ascii = 0
    for data in files:
        pure, compiled = both(data)
        assert pure == compiled
        non_ascii += any(ord(c) > 127 for c in pure[1])
        assert both_records(data)[0] == both_records(data)[1]
    assert non_ascii > 10  # the decoded text (Japanese, Korean, Greek …) really was compared


def element(tag: int, vr: str, value: bytes, little: bool = True) -> bytes:
    order = "<" if little else ">"
    head = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF) + vr.encode()
    if vr in ("OB", "OW", "UN", "SQ", "UT", "UC", "UR", "SV", "UV", "OF", "OD", "OL", "OV"):
        return head + b"\0\0" + struct.pack(f"{order}I", len(value)) + value
    return head + struct.pack(f"{order}H", len(value)) + value


ODD = [
    (0x00080005, "CS", b"ISO_IR 100"),
    (0x00080016, "UI", b"1.2.3\0"),
    (0x00080018, "UI", b"1.2.3.4\\ 5.6\0\\\\"),
    (0x00080020, "DA", b"20200101\\\\2021 "),
    (0x00080060, "CS", b"CT "),
    (0x00080080, "LO", b"Caf\xe9 M\xfcller\\ \\x  "),
    (0x00081030, "LO", b""),
    (0x00100010, "PN", b"Doe^J\xf6hn=ideo=phon=extra\\=\\^  "),
    (0x00100020, "LO", b"  ID 1 "),
    (0x00101010, "AS", b"042Y"),
    (0x00101020, "DS", b" 1.5\\abc\\ \\1e400\\nan\\-inf\\1_0\\+3"),
    (0x00101030, "DS", b"   "),
    (0x00180050, "DS", b"2.50"),
    (0x00200011, "IS", b"1.0\\2.5\\x\\ 7 \\1e999\\\\-0"),
    (0x00200013, "IS", b"12 "),
    (0x00204000, "LT", b"  line one\r\nline two \0"),
    (0x00280010, "US", b"\x00\x02"),
    (0x00280011, "US", b"\x00\x02\x01"),
    (0x00280106, "SS", b"\x00\x80\xff\xff"),
    (0x00280030, "DS", b"0.5\\0.5 "),
    (0x00189306, "FD", struct.pack("<3d", float("nan"), float("inf"), -0.0)),
    (0x00189307, "FL", struct.pack("<3f", float("-inf"), 1.1, 3.0e38)),
    (0x00189308, "UL", b"\xff\xff\xff\xff\x01"),
    (0x00189309, "SL", b"\xff\xff\xff\xff"),
    (0x0018930A, "UT", b"  some text  "),
    (0x0018930B, "UR", b"http://x/\xe9 "),
    (0x0018930C, "UC", b"a\\b \\"),
    (0x00291010, "LO", b"PRIVATE CREATOR"),
    (0x00291011, "UN", b"\x01\x02\x03"),
    (0x00291012, "SH", b"\x80\x81"),
    (0x00291013, "ST", b""),
    (0x00291014, "AT", b"\x08\x00\x20\x00"),
    (0x00291015, "OB", b"\x01" * 2000),
]


def odd_dataset(little: bool = True, charset: bytes | None = b"ISO_IR 100") -> bytes:
    out = []
    for tag, vr, value in ODD:
        if tag == 0x00080005:
            if charset is None:
                continue
            value = charset
        if len(value) % 2:
            value += b" " if vr not in ("UI", "OB", "UN", "US", "UL") else b"\0"
        out.append(element(tag, vr, value, little))
    return b"".join(out)


@pytest.mark.parametrize("charset", [b"ISO_IR 100", b"ISO_IR 192", b"", None,
                                     b"\\ISO 2022 IR 87", b"ISO_IR 144"])
def test_odd_values_encode_alike(charset: bytes | None) -> None:
    data = odd_dataset(charset=charset)
    pure, compiled = both(data)
    assert pure[0] == "ok"
    assert pure == compiled
    assert both_records(data)[0] == both_records(data)[1]


def test_odd_values_big_endian_encode_alike() -> None:
    # Explicit VR Big Endian (retired, PS3.5 A.3) as a Part 10 file: the numbers go through the
    # pure encoder, the strings are written from the bytes as in little endian.
    from dicomkit import Dataset, write
    from dicomkit.core.uid import generate_uid

    ds = read(odd_dataset())
    ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    import io

    target = io.BytesIO()
    write(ds, target, transfer_syntax="1.2.840.10008.1.2.2")
    data = target.getvalue()
    assert not read(data).is_little_endian
    pure, compiled = both(data)
    assert pure[0] == "ok"
    assert pure == compiled
    assert isinstance(Dataset(), Dataset)


def test_mutated_files_encode_alike(pydicom_files: Path, charset_files: Path) -> None:
    seeds = [pydicom_files / name for name in ("CT_small.dcm", "MR_small.dcm",
                                              "rtplan.dcm", "ExplVR_BigEnd.dcm")]
    seeds += sorted(charset_files.glob("chrH*.dcm"))[:2]
    originals = [odd_dataset()] + readable([p for p in seeds if p.exists()])
    rng = random.Random(18)
    compared = 0
    for n in range(2500):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            data[at] = rng.randrange(256) if rng.random() < 0.7 else rng.choice(b"\\= \0^.-e")
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)):]
        pure, compiled = both(bytes(data), threshold=rng.choice((None, 16, 1024)))
        assert pure == compiled, n
        compared += pure[0] == "ok"
    assert compared > 1000


def test_the_compiled_twin_writes_common_elements_from_the_bytes() -> None:
    # What the twin is for: the common elements are not made into DataElements (their raw
    # index entries stay), the others (UN, AT, OB here) go through the pure encoder.
    ds = read(odd_dataset())
    to_json_dict(ds, bulk_data_threshold=1024, twin=TWIN)
    assert type(ds.raw_entry(0x00100010)) is tuple
    assert type(ds.raw_entry(0x00189306)) is tuple
    assert type(ds.raw_entry(0x00291014)) is not tuple


def in_memory(ds: Any) -> Any:
    """A copy of ``ds`` whose top-level values are set in memory (no bytes behind them)."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.core.element import DataElement

    copy = Dataset()
    for item in ds:
        copy[item.tag] = DataElement(item.tag, item.VR, item.value)
    return copy


def columns(record: Any) -> Any:
    return (record.study_uid, record.series_uid, record.sop_uid, record.sop_class,
            record.patient, record.study, record.series, record.instance)


def test_index_columns_from_the_json_are_the_values(pydicom_files: Path,
                                                    charset_files: Path) -> None:
    # record_for takes the string and person name columns of elements read from bytes from
    # their DICOM JSON; for values set in memory it asks the data set. Both give the same.
    files = readable(sorted(pydicom_files.glob("**/*.dcm")) + sorted(charset_files.glob("*.dcm")))
    files += [odd_dataset(charset=c) for c in (b"ISO_IR 100", b"ISO_IR 192", None)]
    compared = 0
    for data in files:
        try:
            memory = record_for(in_memory(read(data)), "a", 1, "")
        except Exception:  # noqa: BLE001 - a value that does not decode: not this test's case
            continue
        for twin in (None, TWIN):
            assert columns(record_for(read(data), "a", 1, "", twin=twin)) == columns(memory)
        compared += 1
    assert compared > 60
