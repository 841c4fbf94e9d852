"""Media types without a server: Accept parsing (RFC 9110 §12.5.1), multipart/related parsing
(RFC 2046 §5.1.1) fed in pieces of every size, and the PS3.18 §8.7 choices built on them."""

from __future__ import annotations

import pytest

from dicomkit.web.errors import WebError
from dicomkit.web.media import MultipartParser, Part, parse_accept
from dicomkit.web.wado import byte_range, negotiate_dicom, negotiate_frames, plan

BODY = (b"preamble to ignore\r\n"
        b"--XyZ\r\nContent-Type: application/dicom\r\nContent-Location: a\r\n\r\n"
        b"first\r\n--XyZ-not-a-delimiter\r\n"
        b"\r\n--XyZ\r\nContent-Type: application/octet-stream\r\n\r\n"
        b"\r\n--XyZ--\r\nepilogue")


def parse(body: bytes, step: int) -> list[tuple[dict[str, str], bytes]]:
    parser = MultipartParser("XyZ")
    parts: list[tuple[dict[str, str], bytes]] = []
    content = b""
    headers: dict[str, str] = {}
    for start in range(0, len(body), step):
        for event, value in parser.feed(body[start:start + step]):
            if event == "part":
                assert isinstance(value, Part)
                headers, content = value.headers, b""
            elif event == "data":
                assert isinstance(value, bytes)
                content += value
            else:
                parts.append((headers, content))
    parser.close()
    return parts


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_multipart_parts_whatever_the_chunking(step: int) -> None:
    parts = parse(BODY, step)
    assert parts == [
        ({"content-type": "application/dicom", "content-location": "a"},
         b"first\r\n--XyZ-not-a-delimiter\r\n"),
        ({"content-type": "application/octet-stream"}, b""),
    ]


def test_multipart_without_the_close_delimiter_is_an_error() -> None:
    with pytest.raises(WebError) as raised:
        parse(BODY[:BODY.index(b"--XyZ--")], 5)
    assert raised.value.status == 400


def test_accept_ranges_by_quality_with_quoted_parameters() -> None:
    ranges = parse_accept('application/json;q=0.5, multipart/related; '
                          'type="application/dicom"; transfer-syntax=*, */*;q=0.1')
    assert [r.media_type for r in ranges] == ["multipart/related", "application/json", "*/*"]
    assert ranges[0].part_type == "application/dicom"
    assert ranges[0].transfer_syntax == "*"


def test_default_transfer_syntax_of_application_dicom_is_explicit_little_endian() -> None:
    """PS3.18 §8.7.3.5.2; ``*`` and ``*/*`` take the instance as stored."""
    choice = negotiate_dicom(parse_accept('multipart/related; type="application/dicom"'), False)
    assert choice.syntaxes == ["1.2.840.10008.1.2.1"]
    assert negotiate_dicom(parse_accept(None), False).syntaxes == ["*"]
    assert plan("1.2.840.10008.1.2", ["1.2.840.10008.1.2.1"]) == (
        "transcode", "1.2.840.10008.1.2.1")
    assert plan("1.2.840.10008.1.2.4.50", ["*"]) == ("stored", "1.2.840.10008.1.2.4.50")
    with pytest.raises(WebError) as raised:
        negotiate_dicom(parse_accept("text/html"), False)
    assert raised.value.status == 406


def test_frames_negotiation() -> None:
    jpeg = "1.2.840.10008.1.2.4.50"
    assert negotiate_frames(parse_accept('multipart/related; type="image/jpeg"'), jpeg) == [
        "stored"]
    assert negotiate_frames(parse_accept(None), jpeg) == ["any"]
    octet = 'multipart/related; type="application/octet-stream"'
    assert negotiate_frames(parse_accept(octet), jpeg) == ["octet"]
    # another compressed type: encoded in it (PS3.18 Table 8.7.3-5 default, or as named)
    assert negotiate_frames(parse_accept('multipart/related; type="image/jp2"'), jpeg) == [
        "encode:1.2.840.10008.1.2.4.90"]
    assert negotiate_frames(parse_accept(
        'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.81'),
        jpeg) == ["encode:1.2.840.10008.1.2.4.81"]
    # a transfer syntax that is not of that media type, or no image type at all: 406
    with pytest.raises(WebError):
        negotiate_frames(parse_accept(
            'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.80'), jpeg)
    with pytest.raises(WebError):
        negotiate_frames(parse_accept('multipart/related; type="video/mp4"'), jpeg)


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-9", (0, 10)), ("bytes=90-", (90, 100)), ("bytes=-5", (95, 100)),
    ("bytes=10-1000", (10, 100)), ("bytes=0-1,5-6", None), ("items=0-1", None), (None, None),
])
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


def test_a_range_past_the_end_is_416() -> None:
    with pytest.raises(WebError) as raised:
        byte_range("bytes=100-", 100)
    assert raised.value.status == 416
    assert raised.value.headers["Content-Range"] == "bytes */100"
