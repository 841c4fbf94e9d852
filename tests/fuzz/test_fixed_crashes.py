"""One test per defect the fuzzers found, stating the behaviour the fix gives (the crashing
inputs themselves are replayed from tests/fuzz/regressions/ by test_fuzz_targets.py)."""

from __future__ import annotations

import struct

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.writer import to_bytes
from dicomkit.encoding.xml import from_xml
from dicomkit.errors import InvalidDicomError
from dicomkit.net.dimse import decode_command
from dicomkit.web.errors import WebError
from dicomkit.web.media import MultipartParser


def _element(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value)) + value


@pytest.mark.parametrize("value", [b"", b"\x30\x00\x30\x00"])
def test_a_command_field_that_is_not_one_us_value_is_a_malformed_command(value: bytes) -> None:
    # PS3.7 Table E.1-1: Command Field (0000,0100) is US, VM 1.
    with pytest.raises(InvalidDicomError, match="Command Field must be one US value"):
        decode_command(_element(0x00000100, value))


def test_a_message_id_of_two_values_is_a_malformed_command() -> None:
    data = _element(0x00000100, b"\x30\x00") + _element(0x00000110, b"\x01\x00\x02\x00")
    with pytest.raises(InvalidDicomError, match="Message ID must be one US value") as info:
        decode_command(data)
    assert "(0000,0110)" in str(info.value)


def test_a_us_value_out_of_range_raises_on_writing_naming_the_vr() -> None:
    ds = Dataset()
    ds.Rows = 70000  # PS3.5 Table 6.2-1: US is 0 to 2^16 - 1
    with pytest.raises(InvalidDicomError, match="US value 70000 cannot be encoded"):
        to_bytes(ds)


@pytest.mark.parametrize("text", [b"", b"<NativeDicomModel>", b"<a></b>",
                                  b'<?xml version="1.0" encoding="UTF-8AT"?><a/>'])
def test_xml_that_is_not_well_formed_raises_value_error(text: bytes) -> None:
    with pytest.raises(ValueError, match="not a well-formed XML document"):
        from_xml(text)


def _events(body: bytes, chunk: int) -> list[tuple[str, object]]:
    parser = MultipartParser("b")
    events: list[tuple[str, object]] = []
    for i in range(0, len(body), chunk):
        events += parser.feed(body[i : i + chunk])
    events += parser.feed(b"")
    parser.close()
    data = b"".join(v for e, v in events if e == "data" and isinstance(v, bytes))
    return [(e, v) for e, v in events if e != "data"] + [("data", data)]


def test_a_delimiter_with_padding_split_between_cr_and_lf_is_still_a_delimiter() -> None:
    # RFC 2046 §5.1.1: delimiter, transport padding (white space), CRLF.
    body = b"--b \t\r\nContent-Type: a/b\r\n\r\nxyz\r\n--b--"
    whole = _events(body, len(body))
    assert [e for e, _ in whole] == ["part", "end", "data"] and whole[-1] == ("data", b"xyz")
    for chunk in range(1, len(body)):
        assert _events(body, chunk) == whole, chunk


def test_padding_over_the_limit_is_refused_however_the_body_arrives() -> None:
    body = b"--b" + b" " * 1025 + b"\r\n\r\nxyz\r\n--b--"
    for chunk in (1, 7, len(body)):
        with pytest.raises(WebError, match="endless white space"):
            _events(body, chunk)


def test_part_headers_over_16_kib_are_refused_however_the_body_arrives() -> None:
    body = b"--b\r\nX-Long: " + b"a" * (16 * 1024) + b"\r\n\r\nxyz\r\n--b--"
    for chunk in (1000, len(body)):
        with pytest.raises(WebError, match="part headers over 16 KiB"):
            _events(body, chunk)


def test_an_fl_value_beyond_float32_raises_on_writing_naming_the_vr() -> None:
    # Found by the xml_model fuzzer: an FL value of 1e300 from a document made struct.pack
    # raise OverflowError, not struct.error (PS3.5 Table 6.2-1: FL is IEEE 754 binary32).
    ds = Dataset()
    ds.set("RecommendedDisplayFrameRateInFloat", 1e300)
    with pytest.raises(InvalidDicomError, match="FL value .* cannot be encoded"):
        to_bytes(ds)
