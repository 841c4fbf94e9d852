"""Tests of dicomkit.core.charset against the examples of PS3.5 Annexes H, I, J and K and the
character set sample files shipped with pydicom (used as a reference only)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from dicomkit.core.charset import (
    TEXT_VRS,
    NormalizedCharsets,
    decode_text,
    encode_text,
    normalize_charsets,
    python_codec,
)
from dicomkit.errors import CharsetEncodeError, DicomError

ESC = b"\x1b"


def cr(notation: str) -> bytes:
    """Bytes from the column/row notation the standard uses ("05/09 06/01 ...")."""
    return bytes(int(col) * 16 + int(row) for col, row in (b.split("/") for b in notation.split()))


def hx(notation: str) -> bytes:
    """Bytes from the "0x57 0x61 ..." notation of Annexes J and K."""
    return bytes(int(b, 16) for b in notation.split())


# -- PS3.5 Annex H: Japanese ------------------------------------------------------------------

# Example H.3-1 (value 1 empty: ISO-IR 6 by default, "\ISO 2022 IR 87").  "5/14" is as printed.
H31 = cr(
    "05/09 06/01 06/13 06/01 06/04 06/01 5/14 05/04 06/01 07/02 06/15 07/05 03/13 01/11 02/04 "
    "04/02 03/11 03/03 04/05 04/04 01/11 02/08 04/02 05/14 01/11 02/04 04/02 04/02 04/00 04/15 "
    "03/10 01/11 02/08 04/02 03/13 01/11 02/04 04/02 02/04 06/04 02/04 05/14 02/04 04/00 01/11 "
    "02/08 04/02 05/14 01/11 02/04 04/02 02/04 03/15 02/04 06/13 02/04 02/06 01/11 02/08 04/02"
)
# Example H.3-2 ("ISO 2022 IR 13\ISO 2022 IR 87").
H32 = cr(
    "13/04 12/15 12/00 13/14 05/14 12/00 13/11 11/03 03/13 01/11 02/04 04/02 03/11 03/03 04/05 "
    "04/04 01/11 02/08 04/10 05/14 01/11 02/04 04/02 04/02 04/00 04/15 03/10 01/11 02/08 04/10 "
    "03/13 01/11 02/04 04/02 02/04 06/04 02/04 05/14 02/04 04/00 01/11 02/08 04/10 05/14 01/11 "
    "02/04 04/02 02/04 03/15 02/04 06/13 02/04 02/06 01/11 02/08 04/10"
)
# -- PS3.5 Annex I: Korean --------------------------------------------------------------------
I2 = cr(
    "04/08 06/15 06/14 06/07 05/14 04/07 06/09 06/12 06/04 06/15 06/14 06/07 03/13 01/11 02/04 "
    "02/09 04/03 15/11 15/03 05/14 01/11 02/04 02/09 04/03 13/01 12/14 13/04 13/07 03/13 01/11 "
    "02/04 02/09 04/03 12/08 10/11 05/14 01/11 02/04 02/09 04/03 11/01 14/06 11/05 11/15"
)
# -- PS3.5 Annex J: Unicode UTF-8, GB18030, GBK -----------------------------------------------
J2 = hx(
    "0x54 0x68 0x65 0x20 0x66 0x69 0x72 0x73 0x74 0x20 0x6c 0x69 0x6e 0x65 0x20 0x69 0x6e 0x63 "
    "0x6c 0x75 0x64 0x65 0x73 0xe4 0xb8 0xad 0xe6 0x96 0x87 0x2e 0x0d 0x0a 0x54 0x68 0x65 0x20 "
    "0x73 0x65 0x63 0x6f 0x6e 0x64 0x20 0x6c 0x69 0x6e 0x65 0x20 0x69 0x6e 0x63 0x6c 0x75 0x64 "
    "0x65 0x73 0xe4 0xb8 0xad 0xe6 0x96 0x87 0x2c 0x20 0x74 0x6f 0x6f 0x2e 0x0d 0x0a 0x54 0x68 "
    "0x65 0x20 0x74 0x68 0x69 0x72 0x64 0x20 0x6c 0x69 0x6e 0x65 0x2e 0x0d 0x0a"
)
J_TEXT = "The first line includes中文.\r\nThe second line includes中文, too.\r\nThe third line.\r\n"
J3 = hx(
    "0x57 0x61 0x6e 0x67 0x5e 0x58 0x69 0x61 0x6f 0x44 0x6f 0x6e 0x67 0x3d 0xcd 0xf5 0x5e 0xd0 "
    "0xa1 0xb6 0xab 0x3d"
)
J4 = hx(
    "0x54 0x68 0x65 0x20 0x66 0x69 0x72 0x73 0x74 0x20 0x6c 0x69 0x6e 0x65 0x20 0x69 0x6e 0x63 "
    "0x6c 0x75 0x64 0x65 0x73 0xd6 0xd0 0xce 0xc4 0x2e 0x0d 0x0a 0x54 0x68 0x65 0x20 0x73 0x65 "
    "0x63 0x6f 0x6e 0x64 0x20 0x6c 0x69 0x6e 0x65 0x20 0x69 0x6e 0x63 0x6c 0x75 0x64 0x65 0x73 "
    "0xd6 0xd0 0xce 0xc4 0x2c 0x20 0x74 0x6f 0x6f 0x2e 0x0d 0x0a 0x54 0x68 0x65 0x20 0x74 0x68 "
    "0x69 0x72 0x64 0x20 0x6c 0x69 0x6e 0x65 0x2e 0x0d 0x0a"
)
# -- PS3.5 Annex K: GB 2312 with code extensions ----------------------------------------------
K2 = hx(  # ends with the 0x20 padding of the Value Field
    "0x5A 0x68 0x61 0x6E 0x67 0x5E 0x58 0x69 0x61 0x6F 0x44 0x6F 0x6E 0x67 0x3D 0x1B 0x24 0x29 "
    "0x41 0xD5 0xC5 0x5E 0x1B 0x24 0x29 0x41 0xD0 0xA1 0xB6 0xAB 0x3D 0x20"
)
K3 = hx(
    "0x31 0x2e 0x1B 0x24 0x29 0x41 0xB5 0xDA 0xD2 0xBB 0xD0 0xD0 0xCE 0xC4 0xD7 0xD6 0xA1 0xA3 "
    "0x0D 0x0A 0x32 0x2e 0x1B 0x24 0x29 0x41 0xB5 0xDA 0xB6 0xFE 0xD0 0xD0 0xCE 0xC4 0xD7 0xD6 "
    "0xA1 0xA3 0x0D 0x0A 0x33 0x2e 0x1B 0x24 0x29 0x41 0xB5 0xDA 0xC8 0xFD 0xD0 0xD0 0xCE 0xC4 "
    "0xD7 0xD6 0xA1 0xA3 0x0D 0x0A"
)
# The 2015 edition of Example K.3-1 switched G0 back explicitly before each CR LF.
K3_2015 = hx(
    "0x31 0x2e 0x1B 0x24 0x29 0x41 0xB5 0xDA 0xD2 0xBB 0xD0 0xD0 0xCE 0xC4 0xD7 0xD6 0xA1 0xA3 "
    "0x1B 0x28 0x42 0x0D 0x0A 0x32 0x2e 0x1B 0x24 0x29 0x41 0xB5 0xDA 0xB6 0xFE 0xD0 0xD0 0xCE "
    "0xC4 0xD7 0xD6 0xA1 0xA3 0x1B 0x28 0x42 0x0D 0x0A 0x33 0x2e 0x1B 0x24 0x29 0x41 0xB5 0xDA "
    "0xC8 0xFD 0xD0 0xD0 0xCE 0xC4 0xD7 0xD6 0xA1 0xA3 0x1B 0x28 0x42 0x0D 0x0A 0x20"
)
K3_TEXT = "1.第一行文字。\r\n2.第二行文字。\r\n3.第三行文字。\r\n"

STANDARD_EXAMPLES = [
    # (id, charsets, vr, text, bytes) -- decode(bytes) == text and encode(text) == bytes
    ("H.3-1", ["", "ISO 2022 IR 87"], "PN", "Yamada^Tarou=山田^太郎=やまだ^たろう", H31),
    ("H.3-2", ["ISO 2022 IR 13", "ISO 2022 IR 87"], "PN", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", H32),
    ("I.2-1", ["", "ISO 2022 IR 149"], "PN", "Hong^Gildong=洪^吉洞=홍^길동", I2),
    # J.1: the byte listing was not available; these are the UTF-8 bytes of the example text
    # (identical to pydicom's chrX1.dcm, which reproduces Example J.1-1).
    (
        "J.1-1",
        ["ISO_IR 192"],
        "PN",
        "Wang^XiaoDong=王^小東=",
        b"Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=",
    ),
    ("J.2-1", ["ISO_IR 192"], "LT", J_TEXT, J2),
    ("J.3-1", ["GB18030"], "PN", "Wang^XiaoDong=王^小东=", J3),
    ("J.3-1 GBK", ["GBK"], "PN", "Wang^XiaoDong=王^小东=", J3),
    ("J.4-1", ["GB18030"], "LT", J_TEXT, J4),
    ("J.4-1 GBK", ["GBK"], "LT", J_TEXT, J4),
    ("K.2-1", ["", "ISO 2022 IR 58"], "PN", "Zhang^XiaoDong=张^小东= ", K2),
    ("K.3-1", ["", "ISO 2022 IR 58"], "LT", K3_TEXT, K3),
]


@pytest.mark.parametrize(
    "charsets, vr, text, data",
    [e[1:] for e in STANDARD_EXAMPLES],
    ids=[e[0] for e in STANDARD_EXAMPLES],
)
def test_standard_examples(charsets: list[str], vr: str, text: str, data: bytes) -> None:
    assert decode_text(data, charsets, vr) == text
    assert encode_text(text, charsets, vr) == data


def test_standard_examples_with_defined_term_spelled_as_a_string() -> None:
    assert decode_text(H31, "\\ISO 2022 IR 87", "PN") == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert encode_text("Hong^Gildong=洪^吉洞=홍^길동", "\\ISO 2022 IR 149", "PN") == I2


def test_k3_2015_edition_with_explicit_return_to_ascii() -> None:
    assert decode_text(K3_2015, ["", "ISO 2022 IR 58"], "LT") == K3_TEXT + " "


def test_i3_long_text_without_escapes_between_sets() -> None:
    # Example I.3-1: ESC $ ) C at the head of the line, then ASCII and Hangul intermixed.
    desig = b"\x1b$)C"
    hangul = "한글".encode("euc_kr")
    data = (
        desig
        + b"The first line includes "
        + hangul
        + b".\r\n"
        + desig
        + b"The second line includes "
        + hangul
        + b", too.\r\nThe third line"
    )
    text = "The first line includes 한글.\r\nThe second line includes 한글, too.\r\nThe third line"
    charsets = ["", "ISO 2022 IR 149"]
    assert decode_text(data, charsets, "LT") == text
    encoded = encode_text(text, charsets, "LT")
    assert encoded.count(desig) == 2  # designated again after each CR LF
    assert decode_text(encoded, charsets, "LT") == text


# -- every single-byte Defined Term -----------------------------------------------------------

SINGLE_BYTE_SAMPLES = {
    "ISO_IR 100": "Buc^Jérôme=Äneas^Rüdiger",
    "ISO_IR 101": "Dvořák^Łukasz=Ščepán",
    "ISO_IR 109": "Ħal^Ġużeppi=Ĉu",
    "ISO_IR 110": "Ķēniņš^Ŗūta",
    "ISO_IR 144": "Люксембург^Иван",
    "ISO_IR 127": "قباني^لنزار",
    "ISO_IR 126": "Διονυσιος^Ελένη",
    "ISO_IR 138": "שרון^דבורה",
    "ISO_IR 148": "Şükrü^Öztürk=İğdır",
    "ISO_IR 203": "Œuvre^Ÿves=€",
    "ISO_IR 13": "ﾔﾏﾀﾞ^ﾀﾛｳ",
    "ISO_IR 166": "สมชาย^ใจดี",
}


@pytest.mark.parametrize("term", sorted(SINGLE_BYTE_SAMPLES))
def test_single_byte_round_trip(term: str) -> None:
    text = SINGLE_BYTE_SAMPLES[term]
    data = encode_text(text, [term], "PN")
    assert ESC not in data and len(data) == len(text)  # one byte a character, no escapes
    assert decode_text(data, [term], "PN") == text
    # the same set with code extensions, as value 1 and as value 2
    ext = term.replace("ISO_IR", "ISO 2022 IR")
    assert encode_text(text, [ext], "PN") == data
    assert decode_text(data, [ext], "PN") == text
    two = ["", ext]
    coded = encode_text(text, two, "PN")
    assert ESC in coded
    assert decode_text(coded, two, "PN") == text


def test_single_byte_known_bytes() -> None:
    assert encode_text("Люкceмбypг", ["ISO_IR 144"], "PN") == b"\xbb\xee\xdace\xdc\xd1yp\xd3"
    assert (
        decode_text(b"\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4", ["ISO_IR 138"], "PN") == "שרון^דבורה"
    )
    assert encode_text("ﾔﾏﾀﾞ", ["ISO_IR 13"], "SH") == b"\xd4\xcf\xc0\xde"
    assert encode_text("€", ["ISO_IR 203"], "LO") == b"\xa4"
    assert encode_text("ก", ["ISO_IR 166"], "LO") == b"\xa1"


def test_switching_between_single_byte_g1_sets() -> None:
    charsets = ["ISO 2022 IR 100", "ISO 2022 IR 144"]
    data = encode_text("Müller^Иван", charsets, "PN")
    # G1 back to latin-1 (ESC - A) at the end of the value, as value 1 is in force there
    assert data == b"M\xfcller^\x1b-L\xb8\xd2\xd0\xdd\x1b-A"
    assert decode_text(data, charsets, "PN") == "Müller^Иван"
    data = encode_text("Иван^Müller", charsets, "PN")
    assert data == b"\x1b-L\xb8\xd2\xd0\xdd\x1b-A^M\xfcller"
    assert decode_text(data, charsets, "PN") == "Иван^Müller"
    # a delimiter restores the initial G1 even if the writer forgot to
    assert decode_text(b"\x1b-L\xb8\xd2\xd0\xdd^\xfc", charsets, "PN") == "Иван^ü"


# -- multi-byte sets with code extensions -----------------------------------------------------


def test_jis_x_0212() -> None:
    charsets = ["", "ISO 2022 IR 87", "ISO 2022 IR 159"]
    text = "丂^山"  # U+4E02 is only in JIS X 0212, U+5C71 in JIS X 0208
    data = encode_text(text, charsets, "PN")
    assert data == b"\x1b$(D0!\x1b(B^\x1b$B;3\x1b(B"
    assert decode_text(data, charsets, "PN") == text
    with pytest.raises(CharsetEncodeError):
        encode_text("丂", ["", "ISO 2022 IR 87"], "PN")


def test_jis_delimiter_bytes_inside_two_byte_characters() -> None:
    # ま is 0x24 0x5E in JIS X 0208: the 0x5E is not a component delimiter there.
    charsets = ["", "ISO 2022 IR 87"]
    assert decode_text(b"\x1b$B$^\x1b(B^a", charsets, "PN") == "ま^a"
    data = encode_text("山\\田", charsets, "LO")
    assert data == b"\x1b$B;3\x1b(B\\\x1b$BED\x1b(B"
    assert decode_text(data, charsets, "LO") == "山\\田"
    text = "山田\r\n太郎 Tarou"
    data = encode_text(text, charsets, "LT")
    assert data == b"\x1b$B;3ED\x1b(B\r\n\x1b$BB@O:\x1b(B Tarou"
    assert decode_text(data, charsets, "LT") == text


def test_mixed_japanese_korean_chinese() -> None:
    charsets = ["ISO 2022 IR 100", "ISO 2022 IR 87", "ISO 2022 IR 149", "ISO 2022 IR 58"]
    text = "Jérôme=山田=홍길동=张"
    data = encode_text(text, charsets, "PN")
    assert decode_text(data, charsets, "PN") == text
    # KS X 1001 in G1 replaced latin-1: restored (ESC - A) before the delimiter
    assert b"\x1b$)C" in data and b"\x1b-A=" in data


def test_g1_multibyte_as_value_1_without_escapes() -> None:
    # Not allowed by PS3.3, but seen in files: decode leniently with the set itself.
    assert decode_text("김희중".encode("euc_kr"), ["ISO 2022 IR 149"], "PN") == "김희중"


# -- robustness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, charsets, vr",
    [
        (b"\x1b$B;", ["", "ISO 2022 IR 87"], "PN"),  # truncated 2-byte character
        (b"ab\x1b%Gcd", ["", "ISO 2022 IR 87"], "LO"),  # unknown escape sequence
        (b"ab\x1b", ["", "ISO 2022 IR 87"], "LO"),  # ESC at the end
        (b"\xff\xfe^\xc3", ["ISO_IR 192"], "PN"),  # invalid UTF-8
        (b"\x81\x30", ["GB18030"], "LO"),  # truncated 4-byte GB18030
        (b"\xa1\xe0", ["ISO_IR 13"], "SH"),  # 0xE0 is not in JIS X 0201
        (b"\xfb^\x1b$)C\xfb", ["", "ISO 2022 IR 149"], "PN"),
        (b"\xa1\xfb", ["ISO_IR 166"], "LO"),
    ],
)
def test_malformed_bytes_are_replaced(data: bytes, charsets: list[str], vr: str) -> None:
    text = decode_text(data, charsets, vr)
    assert isinstance(text, str) and text


def test_malformed_specific_values() -> None:
    assert decode_text(b"\x1b$B;", ["", "ISO 2022 IR 87"], "PN") == "\ufffd"
    assert decode_text(b"ab\x1b%Gcd", ["", "ISO 2022 IR 87"], "LO") == "ab\ufffd%Gcd"
    assert decode_text(b"\xff^a", ["ISO_IR 192"], "PN") == "\ufffd^a"


def test_unknown_charsets_fall_back_to_default() -> None:
    assert decode_text(b"Buc^J\xe9r\xf4me", ["ISO_IR 999"], "PN") == "Buc^Jérôme"
    assert decode_text(b"Buc^J\xe9r\xf4me", ["WHATEVER", "ISO 2022 IR 87"], "PN") == "Buc^Jérôme"
    assert decode_text(b"abc", ["x\\y"], "LO") == "abc"
    with pytest.raises(CharsetEncodeError):
        encode_text("é", ["ISO_IR 999"], "LO")


def test_default_repertoire() -> None:
    assert decode_text(b"Doe^John", [], "PN") == "Doe^John"
    assert decode_text(b"Doe^John", [""], "PN") == "Doe^John"
    assert decode_text(b"J\xe9r\xf4me", [], "PN") == "Jérôme"  # lenient: read as latin-1
    assert encode_text("Doe^John", [], "PN") == b"Doe^John"
    with pytest.raises(CharsetEncodeError) as info:
        encode_text("Jérôme", [], "PN")
    assert isinstance(info.value, DicomError) and "U+00E9" in str(info.value)


def test_encode_errors() -> None:
    with pytest.raises(CharsetEncodeError):
        encode_text("山", ["ISO_IR 100"], "LO")
    with pytest.raises(CharsetEncodeError):
        encode_text("é", ["", "ISO 2022 IR 87"], "LO")
    with pytest.raises(CharsetEncodeError):
        encode_text("\ud800", ["ISO_IR 192"], "LO")
    with pytest.raises(CharsetEncodeError):
        encode_text("ﾔ", ["", "ISO 2022 IR 87"], "PN")  # half-width katakana is not JIS X 0208
    assert encode_text("ﾔ山", ["", "ISO 2022 IR 13", "ISO 2022 IR 87"], "PN") == (
        b"\x1b)I\xd4\x1b$B;3\x1b(B"
    )


def test_non_text_vrs_ignore_charsets() -> None:
    assert decode_text(b"ORIGINAL\\PRIMARY", ["ISO_IR 192"], "CS") == "ORIGINAL\\PRIMARY"
    assert encode_text("1.2.3", ["ISO_IR 192"], "UI") == b"1.2.3"
    with pytest.raises(CharsetEncodeError):
        encode_text("é", ["ISO_IR 100"], "CS")


def test_text_vrs() -> None:
    assert TEXT_VRS == frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})


def test_backslash_is_text_in_st_lt_ut() -> None:
    charsets = ["", "ISO 2022 IR 87"]
    # in LT 0x5C inside a 2-byte run is part of a character, and a single-byte "\" is text
    assert decode_text(b"\x1b$B;3\x1b(B\\x", charsets, "LT") == "山\\x"
    assert decode_text(b"a\\b", ["ISO_IR 100"], "UT") == "a\\b"


# -- Defined Terms, spellings and codecs ------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("ISO_IR 100", ["ISO_IR 100"]),
        ("ISO_IR_100", ["ISO_IR 100"]),
        ("ISO-IR 100", ["ISO_IR 100"]),
        ("ISO IR100", ["ISO_IR 100"]),
        ("iso_ir 144 ", ["ISO_IR 144"]),
        ("ISO IR 192", ["ISO_IR 192"]),
        ("UTF-8", ["ISO_IR 192"]),
        ("utf8", ["ISO_IR 192"]),
        ("GB 18030", ["GB18030"]),
        ("ISO-8859-1", ["ISO_IR 100"]),
        ("ISO_IR 6", []),
        ("", []),
        (None, []),
        (" \\ISO 2022 IR 87", ["", "ISO 2022 IR 87"]),
        (["", "ISO_2022_IR_149"], ["", "ISO 2022 IR 149"]),
        (["ISO 2022 IR 13", " ISO 2022 IR 87 "], ["ISO 2022 IR 13", "ISO 2022 IR 87"]),
        ("ISO_IR 13\\ISO 2022 IR 87", ["ISO 2022 IR 13", "ISO 2022 IR 87"]),
        ("ISO 2022 IR 6\\ISO 2022 IR 58", ["ISO 2022 IR 6", "ISO 2022 IR 58"]),
        ("ISO 2022 58", ["ISO 2022 IR 58"]),
        ("ISO 2022 GBK", ["GBK"]),
    ],
)
def test_normalize_charsets(value: Any, expected: list[str]) -> None:
    result = normalize_charsets(value)
    assert list(result) == expected
    assert isinstance(result, NormalizedCharsets) and result.unknown == ()


def test_normalize_charsets_records_unknown_and_corrected() -> None:
    result = normalize_charsets("ISO_IR 100\\KLINGON")
    assert isinstance(result, NormalizedCharsets)
    assert list(result) == ["ISO 2022 IR 100", ""]
    assert result.unknown == ("KLINGON",)
    assert result.corrected == {"ISO_IR 100": "ISO 2022 IR 100"}
    result = normalize_charsets(["ISO-IR 192"])
    assert isinstance(result, NormalizedCharsets)
    assert result.corrected == {"ISO-IR 192": "ISO_IR 192"} and result.unknown == ()


@pytest.mark.parametrize(
    "term, codec",
    [
        ("", "ascii"), ("ISO 2022 IR 6", "ascii"), ("ISO_IR 100", "latin_1"),
        ("ISO_IR 101", "iso8859_2"), ("ISO_IR 109", "iso8859_3"), ("ISO_IR 110", "iso8859_4"),
        ("ISO_IR 144", "iso8859_5"), ("ISO_IR 127", "iso8859_6"), ("ISO_IR 126", "iso8859_7"),
        ("ISO_IR 138", "iso8859_8"), ("ISO_IR 148", "iso8859_9"), ("ISO_IR 203", "iso8859_15"),
        ("ISO_IR 166", "tis_620"), ("ISO_IR 13", "shift_jis"), ("ISO 2022 IR 100", "latin_1"),
        ("ISO 2022 IR 87", "iso2022_jp"), ("ISO 2022 IR 159", "iso2022_jp_2"),
        ("ISO 2022 IR 149", "euc_kr"), ("ISO 2022 IR 58", "gb2312"), ("ISO_IR 192", "utf_8"),
        ("GB18030", "gb18030"), ("GBK", "gbk"), ("UTF-8", "utf_8"), ("NOPE", None),
    ],
)  # fmt: skip
def test_python_codec(term: str, codec: str | None) -> None:
    assert python_codec(term) == codec


# -- pydicom's character set sample files (reference decoder) --------------------------------

MULTI_VRS = {"SH", "LO", "UC", "PN"}


def _collect_pydicom_cases() -> list[Any]:
    try:
        import pydicom
        from pydicom.charset import convert_encodings, encode_string
        from pydicom.dataelem import RawDataElement
        from pydicom.multival import MultiValue
    except ImportError:  # pragma: no cover
        return []
    folder = os.path.join(os.path.dirname(pydicom.__file__), "data", "charset_files")
    cases = []

    def walk(raw_ds: Any, dec_ds: Any, scs: Any, name: str) -> None:
        if "SpecificCharacterSet" in dec_ds:
            scs = dec_ds.SpecificCharacterSet
        for tag in list(raw_ds.keys()):
            item = raw_ds.get_item(tag)
            if not isinstance(item, RawDataElement):
                continue
            vr = item.VR or dec_ds[tag].VR
            if vr == "SQ":
                pairs = zip(raw_ds[tag].value, dec_ds[tag].value, strict=True)
                for i, (raw_item, dec_item) in enumerate(pairs):
                    walk(raw_item, dec_item, scs, f"{name}/{tag:08X}[{i}]")
            elif vr in TEXT_VRS and item.value:
                charsets = [scs] if isinstance(scs, str) else list(scs)
                value = dec_ds[tag].value
                values = list(value) if isinstance(value, MultiValue) else [value]
                expected = "\\".join(str(v) for v in values)
                encodings = convert_encodings(charsets)
                try:
                    if vr == "PN":
                        theirs = b"\\".join(v.encode(encodings) for v in values)
                    else:
                        theirs = b"\\".join(encode_string(str(v), encodings) for v in values)
                except Exception:  # pragma: no cover - pydicom cannot encode it
                    theirs = None
                cases.append(
                    pytest.param(
                        bytes(item.value), charsets, vr, expected, theirs, id=f"{name}/{tag:08X}"
                    )
                )

    for path in sorted(os.listdir(folder)):
        if path.endswith(".dcm"):
            raw = pydicom.dcmread(os.path.join(folder, path))
            dec = pydicom.dcmread(os.path.join(folder, path))
            dec.decode()
            walk(raw, dec, raw.get("SpecificCharacterSet", ""), path)
    return cases


def _normalized(text: str, vr: str) -> str:
    parts = text.split("\\") if vr in MULTI_VRS else [text]
    if vr in ("ST", "LT", "UT"):
        parts = [p.rstrip(" \0") for p in parts]
    else:
        parts = [p.strip(" \0") for p in parts]
    if vr == "PN":  # pydicom drops empty trailing component groups
        parts = [p.rstrip("=") for p in parts]
    return "\\".join(parts)


PYDICOM_CASES = _collect_pydicom_cases()


@pytest.mark.skipif(not PYDICOM_CASES, reason="pydicom is not installed")
@pytest.mark.parametrize("raw, charsets, vr, expected, theirs", PYDICOM_CASES)
def test_pydicom_charset_files(raw: bytes, charsets: list[str], vr: str, expected: str,
                               theirs: bytes | None) -> None:  # fmt: skip
    ours = decode_text(raw, charsets, vr)
    assert _normalized(ours, vr) == _normalized(expected, vr)
    unpadded = raw.rstrip(b" \0")
    text = decode_text(unpadded, charsets, vr)
    encoded = encode_text(text, charsets, vr)
    assert decode_text(encoded, charsets, vr) == text
    if theirs is not None and theirs.rstrip(b" \0") == unpadded:
        assert encoded == unpadded  # byte-exact where pydicom round-trips too


def test_pydicom_files_were_found() -> None:
    pytest.importorskip("pydicom")
    names = {p.id.split("/")[0] for p in PYDICOM_CASES}
    assert {"chrH31.dcm", "chrH32.dcm", "chrI2.dcm", "chrX1.dcm", "chrX2.dcm",
            "chrSQEncoding.dcm", "chrSQEncoding1.dcm"} <= names  # fmt: skip
