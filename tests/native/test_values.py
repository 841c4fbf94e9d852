"""The compiled value decoding (dicomkit.core._vr.decode_value) and element materializing
(dicomkit.encoding._lazy.materialize) against their pure twins (vr.pure_decode_value,
lazy.materialize): the same values (type, and repr for NaN), the same elements, the same
errors.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from dicomkit import native
from dicomkit.core.charset import normalize_charsets
from dicomkit.core.vr import VR_INFO, pure_decode_value
from dicomkit.encoding import lazy, reader
from tests.support.encoding import pydicom_sample_files

DECODE = native.compiled("dicomkit.core._vr").decode_value
MATERIALIZE = native.compiled("dicomkit.encoding._lazy").materialize
CHARSETS: list[Any] = [(), ["ISO_IR 100"], ["ISO_IR 192"], ["", "ISO 2022 IR 87"],
                       ["ISO_IR 144"], ["ISO 2022 IR 13", "ISO 2022 IR 87"], "ISO_IR 100",
                       ["ISO_IR 13"], ["GB18030"], ("ISO_IR 100",), ["ISO_IR 100", "ISO_IR 100"],
                       normalize_charsets("ISO_IR 100"), normalize_charsets("ISO_IR 13")]


def form(value: Any) -> Any:
    """A value with its type, NaN compared by its bits' repr."""
    if isinstance(value, list):
        return ("list", [form(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("nan", repr(value))
    return (type(value).__name__, value)


def decoded(func: Any, vr: str, raw: Any, little: bool, charsets: Any) -> Any:
    try:
        return ("value", form(func(vr, raw, little, charsets)))
    except Exception as error:  # noqa: BLE001 - the exception itself is compared
        return ("error", type(error).__name__, str(error))


def test_the_compiled_decoder_is_the_one_in_use_unless_pure() -> None:
    from dicomkit.core import vr

    assert vr.decode_value is (pure_decode_value if native.PURE else DECODE)
    assert lazy.MATERIALIZE is (lazy.materialize if native.PURE else MATERIALIZE)


TEXTS = [b"", b" ", b"Yen\\5C", b"tab\tcr\r\x1b", b"\x7f\x01 ", b"\0", b"1.2.840.10008.5.1.4.1.1.2\0", b"Doe^John ", b"Doe^John\\Roe^Jane",
         b"40\\300 ", b" -1024", b"1e3", b"0.7421875\\0.7421875", b"12.0", b"1e400", b"nan",
         b"abc", b"1\\\\2", b"ORIGINAL\\PRIMARY\\AXIAL", b"\xe9t\xe9", b"\x1b$B\x3b\x33\x1b(B",
         b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B", b"\xd0\x98\xd0\xb2", b"20261126",
         b"101512.123456", b"  padded  ", b"a\\b \\ c ", b"\x00\x80", b"\xff\xfe\xff\xff"]


@pytest.mark.parametrize("vr", sorted(VR_INFO))
def test_every_vr_decodes_the_same(vr: str) -> None:
    rng = random.Random(vr)
    raws = list(TEXTS) + [bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
                          for _ in range(150)]
    for raw in raws:
        for little in (True, False):
            for charsets in CHARSETS:
                expected = decoded(pure_decode_value, vr, raw, little, charsets)
                assert decoded(DECODE, vr, raw, little, charsets) == expected, (vr, raw)
    # values that are not bytes and VRs that are not VRs go to the pure path
    for raw in (bytearray(b"12\\34"), memoryview(b"\1\0\2\0")):
        assert decoded(DECODE, vr, raw, True, ()) == decoded(pure_decode_value, vr, raw, True,
                                                             ())


def test_unknown_vrs_decode_the_same() -> None:
    for vr in ("XX", "OB or OW", "US or SS", ""):
        for raw in (b"", b"\1\2", b"abc "):
            assert decoded(DECODE, vr, raw, True, ()) == decoded(pure_decode_value, vr, raw,
                                                                 True, ())


def element_form(element: Any) -> Any:
    try:
        value: Any = ("value", form(element.value))
    except Exception as error:  # noqa: BLE001
        value = ("error", type(error).__name__, str(error))
    if element.VR == "SQ":
        value = ("items", len(element.value))
    raw = element.raw
    return (type(element.tag), int(element.tag), element.VR, type(raw).__name__,
            bytes(raw) if raw is not None else None, element.little, list(element.charsets),
            element.is_undefined_length, value)


def entries(ds: Any) -> list[tuple[int, Any]]:
    return [(tag, ds.raw_entry(tag)) for tag in ds.tags()
            if type(ds.raw_entry(tag)) is tuple]


@pytest.mark.parametrize("path", pydicom_sample_files(), ids=lambda p: p.name)
def test_sample_files_materialize_the_same(path: Path) -> None:
    """Each indexed element of each sample file (top level), made by each twin from its own
    fresh read, has the same tag, VR, bytes, character sets, flags and value."""
    try:
        first, second = reader.read(path), reader.read(path)
    except Exception:  # noqa: BLE001 - files the reader refuses are tests/native/test_reader's
        return
    for (tag, entry), (_, same) in zip(entries(first), entries(second), strict=True):
        assert element_form(MATERIALIZE(first, tag, entry)) == element_form(
            lazy.materialize(second, tag, same)), (path.name, hex(tag))


def test_buffers_that_are_not_bytes_materialize_the_same() -> None:
    """A buffer that is not bytes (bytearray, memoryview; an mmap for files above 8 MiB) gives
    memoryview slices of long values and bytes of short ones, in both twins."""
    source = next(p for p in pydicom_sample_files() if p.name == "CT_small.dcm").read_bytes()
    for buf in (bytearray(source), memoryview(source)):
        first, second = reader.read(buf), reader.read(buf)
        kinds = set()
        for (tag, entry), (_, same) in zip(entries(first), entries(second), strict=True):
            made = MATERIALIZE(first, tag, entry)
            kinds.add(type(made.raw).__name__)
            assert element_form(made) == element_form(lazy.materialize(second, tag, same)), tag
        assert kinds == {"bytes", "memoryview"}  # Pixel Data (32 KiB) stays a view
