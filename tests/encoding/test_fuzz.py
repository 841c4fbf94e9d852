"""Fuzzing the reader with hypothesis: mutated real files must read (and every value decode) or
raise a :class:`dicomkit.errors.DicomError` subclass. Any other exception (IndexError,
struct.error, RecursionError, UnicodeDecodeError, MemoryError, ValueError, ...) is a bug.

Derandomized (the same examples every run, for CI) and without an example database.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.encoding.writer import to_bytes
from dicomkit.errors import DicomError
from tests.support.datasets import decode_all, pydicom_file

SEED_FILES = [
    "CT_small.dcm",  # explicit VR LE, GE private tags
    "MR_small_implicit.dcm",  # implicit VR LE
    "MR_small_bigendian.dcm",  # explicit VR BE
    "rtplan.dcm",  # implicit VR, nested sequences
    "test-SR.dcm",  # explicit VR, deeply nested sequences
    "priv_SQ.dcm",  # private sequence, implicit VR
    "UN_sequence.dcm",  # undefined-length UN sequence
    "image_dfl.dcm",  # deflated
    "JPEG2000.dcm",  # encapsulated pixel data
    "chrH31.dcm",  # ISO 2022 Japanese text
]
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SPECIAL_LENGTHS = [0, 1, 2, 3, 7, 8, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF]
VR_CODES = [b"SQ", b"UN", b"OB", b"OW", b"AT", b"PN", b"DS", b"IS", b"US", b"SS", b"FD", b"FL",
            b"UT", b"UC", b"LO", b"UI", b"ZZ", b"\x00\x00", b"\xff\xff"]

TAGS = [0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD, 0x7FE00010, 0x00080005, 0x00280100, 0x00020010,
        0x00091010, 0xFFFCFFFC]
TAG_CODES = [struct.pack(order + "HH", t >> 16, t & 0xFFFF) for t in TAGS for order in "<>"]


@cache
def seeds() -> dict[str, bytes]:
    data = {name: pydicom_file(name).read_bytes() for name in SEED_FILES}
    ds = make_ct(8)
    data["dicomkit-sample"] = to_bytes(ds)
    data["dicomkit-sample-big"] = to_bytes(ds, transfer_syntax="ExplicitVRBigEndian")
    data["dicomkit-sample-implicit"] = to_bytes(ds, transfer_syntax="ImplicitVRLittleEndian")
    return data


def read_everything(data: bytes, **options: Any) -> None:
    """Read, then touch every value (and the text form) the way the dump command does."""
    try:
        ds = dicomkit.read(data, **options)
        decode_all(ds)
        if ds.file_meta is not None:
            decode_all(ds.file_meta)
        for _depth, element in ds.walk():
            _ = element.VM, repr(element)
    except DicomError:
        pass


# -- mutations ---------------------------------------------------------------------------------
positions = st.integers(min_value=0, max_value=2**32 - 1)
flip = st.tuples(st.just("flip"), positions, st.integers(0, 7))
insert = st.tuples(st.just("insert"), positions, st.binary(min_size=1, max_size=8))
delete = st.tuples(st.just("delete"), positions, st.integers(1, 16))
overwrite = st.tuples(st.just("overwrite"), positions, st.binary(min_size=1, max_size=8))
length32 = st.one_of(st.sampled_from(SPECIAL_LENGTHS), st.integers(0, 2**32 - 1))
set_length = st.tuples(st.just("length"), positions, length32)
set_vr = st.tuples(st.just("vr"), positions, st.sampled_from(VR_CODES))
set_tag = st.tuples(st.just("overwrite"), positions, st.sampled_from(TAG_CODES))
insert_tag = st.tuples(st.just("insert"), positions, st.sampled_from(TAG_CODES))
truncate = st.tuples(st.just("truncate"), positions, st.just(0))
mutation = st.one_of(flip, insert, delete, overwrite, set_length, set_vr, set_tag, insert_tag,
                     truncate)


def mutate(data: bytes, operations: list[tuple[str, int, Any]]) -> bytes:
    out = bytearray(data)
    for kind, where, arg in operations:
        if not out:
            break
        pos = where % len(out)
        if kind == "flip":
            out[pos] ^= 1 << arg
        elif kind == "insert":
            out[pos:pos] = arg
        elif kind == "delete":
            del out[pos : pos + arg]
        elif kind == "overwrite":
            out[pos : pos + len(arg)] = arg
        elif kind == "length":
            out[pos : pos + 4] = struct.pack("<L", arg)
        elif kind == "vr":
            out[pos : pos + 2] = arg
        elif kind == "truncate":
            del out[pos:]
    return bytes(out)


@FUZZ
@given(name=st.sampled_from(sorted(seeds())), operations=st.lists(mutation, min_size=1,
                                                                  max_size=6))
def test_mutated_files_read_or_raise_a_dicom_error(name: str,
                                                   operations: list[tuple[str, int, Any]]) -> None:
    read_everything(mutate(seeds()[name], operations))


@FUZZ
@given(name=st.sampled_from(sorted(seeds())), operations=st.lists(mutation, min_size=1,
                                                                  max_size=6))
def test_mutated_files_read_strictly_or_raise_a_dicom_error(
    name: str, operations: list[tuple[str, int, Any]]
) -> None:
    read_everything(mutate(seeds()[name], operations), strict=True)


# -- element boundaries: length fields and tags ------------------------------------------------
@cache
def element_headers(name: str) -> list[tuple[int, int, int]]:
    """(header offset, length field offset, length field size) of each element of a seed file
    whose value the reader indexed (deflated data sets are left out: their offsets are into
    the inflated bytes)."""
    data = seeds()[name]
    ds = dicomkit.read(data)
    if ds.transfer_syntax.deflated:
        return []
    headers: list[tuple[int, int, int]] = []

    def visit(dataset: dicomkit.Dataset) -> None:
        for tag in dataset.tags():
            entry = dataset.raw_entry(tag)
            if type(entry) is tuple:
                vr, offset, _, undefined = entry
                if dataset.buffer is not data or undefined:
                    continue
                if not dataset.is_implicit_VR and vr not in _LONG:
                    headers.append((offset - 8, offset - 2, 2))
                elif not dataset.is_implicit_VR:
                    headers.append((offset - 12, offset - 4, 4))
                else:
                    headers.append((offset - 8, offset - 4, 4))
            elif entry.VR == "SQ":
                for item in entry.value:
                    visit(item)

    visit(ds)
    return headers


_LONG = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
HEADER_SEEDS = [n for n in sorted(seeds()) if element_headers(n)]


def _little(name: str) -> bool:
    return not dicomkit.read(seeds()[name]).transfer_syntax.uid.endswith(".2.2")


@FUZZ
@given(name=st.sampled_from(HEADER_SEEDS), picks=st.lists(st.tuples(positions, length32),
                                                           min_size=1, max_size=3))
def test_length_fields_overwritten_with_random_values_read_or_raise_a_dicom_error(
    name: str, picks: list[tuple[int, int]]
) -> None:
    data = bytearray(seeds()[name])
    headers = element_headers(name)
    order = "<" if _little(name) else ">"
    for where, value in picks:
        _, offset, size = headers[where % len(headers)]
        code, mask = ("H", 0xFFFF) if size == 2 else ("L", 0xFFFFFFFF)
        data[offset : offset + size] = struct.pack(order + code, value & mask)
    read_everything(bytes(data))
    read_everything(bytes(data), strict=True)


@FUZZ
@given(name=st.sampled_from(HEADER_SEEDS), picks=st.lists(
    st.tuples(positions, st.sampled_from(TAGS + [0x00000000, 0xFFFFFFFF]), st.booleans()),
    min_size=1, max_size=3))
def test_tags_replaced_or_inserted_at_element_boundaries_read_or_raise_a_dicom_error(
    name: str, picks: list[tuple[int, int, bool]]
) -> None:
    data = bytearray(seeds()[name])
    headers = element_headers(name)
    order = "<" if _little(name) else ">"
    for where, tag, replace in sorted(picks, reverse=True):
        offset = headers[where % len(headers)][0]
        code = struct.pack(order + "HH", tag >> 16, tag & 0xFFFF)
        if replace:
            data[offset : offset + 4] = code
        else:
            data[offset:offset] = code + struct.pack(order + "L", 0xFFFFFFFF)
    read_everything(bytes(data))
    read_everything(bytes(data), strict=True)


def test_element_boundaries_are_found_in_the_seed_files() -> None:
    assert len(HEADER_SEEDS) >= 8
    assert sum(len(element_headers(n)) for n in HEADER_SEEDS) >= 1000
    for name in HEADER_SEEDS:
        data, order = seeds()[name], "<" if _little(name) else ">"
        for header, _, _ in element_headers(name):
            group, _ = struct.unpack_from(order + "HH", data, header)
            assert group <= 0x7FE0 or group == 0xFFFC or group & 1, (name, header)


# -- arbitrary bytes ---------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes_read_or_raise_a_dicom_error(data: bytes) -> None:
    read_everything(data)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([b"", b"\0" * 128 + b"DICM", b"DICM"]))
def test_arbitrary_bytes_after_a_dicom_prefix_read_or_raise_a_dicom_error(data: bytes,
                                                                           prefix: bytes) -> None:
    read_everything(prefix + data)
