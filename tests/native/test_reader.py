"""The compiled element walker (dicomkit.encoding._reader.Parser) against its pure twin
(dicomkit.encoding.reader.Parser): the same index, problems, truncation flag and errors.

Each input is read through ``dicomkit.encoding.reader`` twice, once with each walker as
``reader.PARSER`` (whatever mode the suite runs in), and what the two reads give is compared:
every data set's elements in order, as the raw ``(vr, offset, length, undefined)`` entries or
sequence elements the walker recorded (before any value is decoded), the nested items and their
parents, the encoding flags, ``read_problems``, ``is_truncated``, the transfer syntax, the File
Meta Information, and for a failed read the exception's type and message (which names the
offset and the tag). Inputs: pydicom's sample files and the suite's fuzz corpus, read whole,
strict, header-only and with ``tags=`` (from bytes and from a path); hand-made odd files; DCMTK
re-encodings (implicit VR, big endian, deflated); truncations at many offsets; and fixed-seed
random byte mutations.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dicomkit import native
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.encoding import reader
from tests.support.dcmtk import Dcmtk
from tests.support.encoding import (
    ITEM_END,
    MODALITY,
    NAME,
    SEQ_END,
    UNDEFINED,
    explicit,
    implicit,
    item,
    long_sop_class_file,
    padding_value_file,
    part10,
    pydicom_sample_files,
    short_header,
)

COMPILED = native.compiled("dicomkit.encoding._reader").Parser
PURE = reader.Parser
FUZZ_CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus" / "part10"
WANTED = (0x00080016, 0x00100010, 0x0020000D, 0x00280010)


def entry_form(value: Any, parent: Dataset) -> Any:
    if isinstance(value, DataElement) and value.VR != "SQ":  # decoded by the reader
        return ("element", int(value.tag), value.VR, bytes(value.raw or b""), value.little)
    if isinstance(value, DataElement):
        items = [dataset_form(item, parent) for item in value.value]
        return ("element", int(value.tag), value.VR, value.is_undefined_length, items)
    return value


def dataset_form(ds: Dataset | None, parent: Dataset | None = None) -> Any:
    """Everything a walker put in ``ds``, without decoding a value."""
    if ds is None:
        return None
    return (
        [(tag, entry_form(ds.raw_entry(tag), ds)) for tag in ds.tags()],
        ds.is_little_endian, ds.is_implicit_VR, ds.parent is parent,
        ds.read_problems, ds.is_truncated,
    )


def outcome(parser: Any, read: Callable[[], Dataset]) -> Any:
    saved = reader.PARSER
    reader.PARSER = parser
    try:
        ds = read()
    except Exception as error:  # noqa: BLE001 - the exception itself is what is compared
        return ("error", type(error).__name__, str(error))
    finally:
        reader.PARSER = saved
    ts = ds.transfer_syntax.uid if ds.transfer_syntax is not None else None
    return ("read", dataset_form(ds), dataset_form(ds.file_meta), ts, ds.preamble)


def assert_same(read: Callable[[], Dataset], label: str) -> Any:
    pure = outcome(PURE, read)
    compiled = outcome(COMPILED, read)
    assert compiled == pure, label
    return pure


def every_way(data: bytes, label: str) -> list[Any]:
    """Compare the twins on ``data`` read whole, strict, header-only and with tags=."""
    return [
        assert_same(lambda: reader.read(data), f"{label} whole"),
        assert_same(lambda: reader.read(data, strict=True), f"{label} strict"),
        assert_same(lambda: reader.read(data, stop_before_pixels=True), f"{label} header"),
        assert_same(lambda: reader.read(data, tags=WANTED), f"{label} tags"),
    ]


def sample_files() -> list[Path]:
    return pydicom_sample_files() + sorted(FUZZ_CORPUS.iterdir())


def test_the_compiled_walker_is_the_one_in_use_unless_pure() -> None:
    assert reader.PARSER is (PURE if native.PURE else COMPILED)


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_sample_files_read_the_same(path: Path) -> None:
    data = path.read_bytes()
    results = every_way(data, path.name)
    assert_same(lambda: reader.read(path, stop_before_pixels=True), f"{path} header by path")
    assert_same(lambda: reader.read(path, tags=WANTED), f"{path} tags by path")
    if path.suffix == ".dcm" and path.parent.name == "test_files":
        assert results[0][0] == "read", path  # the comparison is not only of errors


def odd_files() -> dict[str, bytes]:
    uid = explicit(0x00081150, "UI", b"1.2.3\0")
    sq = 0x00081115
    bodies = {
        "no delimiters": MODALITY + explicit(sq, "SQ", b"", length=UNDEFINED)
        + item(length=UNDEFINED) + uid,
        "no sequence delimiter": MODALITY + explicit(sq, "SQ", b"", length=UNDEFINED)
        + item(uid, length=UNDEFINED) + ITEM_END,
        "sequence length": MODALITY + explicit(sq, "SQ", item(uid), length=len(item(uid)) + 99),
        "item length": MODALITY + explicit(sq, "SQ", b"", length=UNDEFINED)
        + item(uid, length=len(uid) + 1000),
        "element longer than its item": MODALITY + explicit(sq, "SQ", b"", length=UNDEFINED)
        + item(explicit(0x00081150, "UI", b"1.2.3\0", length=40)) + SEQ_END + NAME,
        "item longer than its sequence": MODALITY + explicit(sq, "SQ", item(uid),
                                                              length=len(item(uid)))[:-1],
        "stray sequence delimiter": MODALITY + SEQ_END + NAME,
        "item delimiter outside an item": MODALITY + ITEM_END + NAME,
        "item outside a sequence": MODALITY + item(uid) + NAME,
        "undefined length UN sequence": MODALITY + explicit(0x00091010, "UN", b"", length=UNDEFINED)
        + item(implicit(0x00081150, b"1.2.3\0"), length=UNDEFINED) + ITEM_END + SEQ_END + NAME,
        "undefined length on a LO": MODALITY + explicit(0x00100020, "LO", b"", length=0xFFFF)
        + explicit(0x00100030, "UT", b"", length=UNDEFINED) + NAME,
        "encapsulated": MODALITY + explicit(0x7FE00010, "OB", b"", length=UNDEFINED)
        + item(b"") + item(b"\1\2\3\4") + SEQ_END,
        "encapsulated without delimiter": MODALITY
        + explicit(0x7FE00010, "OB", b"", length=UNDEFINED) + item(b"\1\2\3\4"),
        "fragment too long": MODALITY + explicit(0x7FE00010, "OB", b"", length=UNDEFINED)
        + item(b"\1\2", length=9),
        "unknown VR letters": MODALITY + explicit(0x00091020, "ZZ", b"abcd") + NAME,
        "three stray bytes": MODALITY + NAME + b"\1\2\3",
        "implicit labelled explicit": implicit(0x00080060, b"CT") + implicit(0x00100010, b"Doe"),
        "deep nesting": MODALITY + (explicit(sq, "SQ", b"", length=UNDEFINED)
                                    + item(length=UNDEFINED)) * 70,
        "pixel data": MODALITY + explicit(0x7FE00010, "OW", b"\0" * 16) + NAME,
    }
    files = {name: part10(body, "ExplicitVRLittleEndian") for name, body in bodies.items()}
    files.update({name + " (bare)": body for name, body in bodies.items()})
    for vr_bytes in (b"  ", b"\0\0", b"us", b"Us", b"\xe9\xe9", b"\x01\x02"):
        files[f"non-standard VR {vr_bytes!r}"] = padding_value_file(vr_bytes)
        body = MODALITY + explicit(sq, "SQ", b"", length=UNDEFINED) + item(
            short_header(0x00280120, vr_bytes, b"\0\x80"), length=UNDEFINED) + ITEM_END + SEQ_END
        files[f"non-standard VR {vr_bytes!r} in an item"] = part10(body, "ExplicitVRLittleEndian")
    files["long SOP Class UID"] = long_sop_class_file()
    files["empty"] = b""
    files["DICM only"] = b"\0" * 128 + b"DICM"
    return files


@pytest.mark.parametrize("name", sorted(odd_files()))
def test_odd_files_read_the_same(name: str) -> None:
    every_way(odd_files()[name], name)
    data = odd_files()[name]
    assert_same(lambda: reader.read_dataset(data), f"{name} read_dataset")
    assert_same(lambda: reader.read_dataset(data, implicit=True), f"{name} implicit")
    assert_same(lambda: reader.read_dataset(data, little=False), f"{name} big endian")
    assert_same(lambda: reader.peek_attributes(data, "1.2.840.10008.1.2.1", WANTED),
                f"{name} peek")


@pytest.mark.dcmtk
def test_dcmtk_encodings_read_the_same(dcmtk: Dcmtk, tmp_path: Path) -> None:
    """CT_small and an MR with sequences re-encoded by DCMTK's dcmconv: implicit VR, explicit
    big endian and deflated."""
    sources = [p for p in pydicom_sample_files() if p.name in ("CT_small.dcm", "MR_small.dcm",
                                                               "rtplan.dcm")]
    assert sources
    for source in sources:
        for option in ("+ti", "+tb", "+td", "+te"):
            target = tmp_path / f"{source.stem}{option}.dcm"
            dcmtk.run("dcmconv", option, source, target)
            every_way(target.read_bytes(), target.name)
            assert_same(lambda t=target: reader.read(t, stop_before_pixels=True), target.name)


def small_files() -> list[bytes]:
    files = [p.read_bytes() for p in pydicom_sample_files()
             if p.name in ("rtplan.dcm", "CT_small.dcm", "MR_small_bigendian.dcm",
                           "image_dfl.dcm", "MR_small_implicit.dcm", "nested_priv_SQ.dcm",
                           "reportsi.dcm", "JPEG2000.dcm")]
    return files + [data for name, data in sorted(odd_files().items()) if "bare" not in name]


def test_truncations_read_the_same() -> None:
    """Each small file cut at 200 offsets spread over its length (the headers' ends first)."""
    for data in small_files():
        cuts = sorted({*range(0, min(len(data), 1200), 7),
                       *range(0, len(data), max(1, len(data) // 60))})
        for cut in cuts:
            piece = data[:cut]
            assert_same(lambda p=piece: reader.read(p), f"cut at {cut}")
            assert_same(lambda p=piece: reader.read(p, strict=True), f"strict cut at {cut}")
            assert_same(lambda p=piece: reader.read(p, stop_before_pixels=True),
                        f"header cut at {cut}")


def test_random_mutations_read_the_same() -> None:
    """3,000 copies of the small files with 1-4 bytes changed (fixed seed), mostly in the
    headers, read whole and header-only."""
    rng = random.Random(18)
    files = small_files()
    outcomes = set()
    for index in range(3000):
        data = bytearray(rng.choice(files))
        if not data:
            continue
        span = min(len(data), 2048)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(span) if rng.random() < 0.9 else rng.randrange(len(data))
            data[at] = rng.choice((0x00, 0xFF, 0xFE, 0xE0, 0x41, 0x53, 0x51, rng.randrange(256)))
        piece = bytes(data)
        result = assert_same(lambda p=piece: reader.read(p), f"mutation {index}")
        outcomes.add(result[0] if result[0] == "read" else result[1])
        assert_same(lambda p=piece: reader.read(p, stop_before_pixels=True),
                    f"header mutation {index}")
    assert {"read", "InvalidDicomError"} <= outcomes  # both kinds of outcome were compared
