"""PS3.5 §6.2: value representations, their encodings and rules."""

import csv
import datetime

import pytest

from dicomkit.core.values import PersonName, parse_da, parse_dt, parse_tm
from dicomkit.core.vr import VR_INFO, decode_value, encode_value, validate_value
from tests.support.paths import STANDARD


def _standard_rows():
    path = STANDARD / "value_representations.tsv"  # PS3.5 §6.2 (see its README)
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_34_vrs_match_the_standard_table():
    rows = _standard_rows()
    assert sorted(VR_INFO) == sorted(r["vr"] for r in rows)
    assert len(VR_INFO) == 34
    for row in rows:
        info = VR_INFO[row["vr"]]
        assert info.long_length == (row["explicit_vr_length_field_bits"] == "32"), row["vr"]
        if row["fixed_value_length"] and row["vr"] not in ("AS", "DA"):
            assert info.fixed_size == int(row["fixed_value_length"]), row["vr"]
        if row["max_value_length"]:
            assert info.max_length == int(row["max_value_length"]), row["vr"]
        assert info.charset == (row["character_repertoire"] == "Specific Character Set")
        assert (not info.multi_valued) == (row["backslash_not_a_delimiter"] == "Y" or
                                           row["vr"] in ("SQ", "UR")), row["vr"]


def test_multi_valued_strings_split_on_backslash():
    assert decode_value("CS", b"ORIGINAL\\PRIMARY\\AXIAL ") == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert encode_value("CS", ["ORIGINAL", "PRIMARY", "AX"]) == b"ORIGINAL\\PRIMARY\\AX "


def test_text_vrs_keep_backslashes():
    assert decode_value("LT", b"a\\b ") == "a\\b"


def test_ui_is_padded_with_nul():
    assert encode_value("UI", "1.2.3") == b"1.2.3\0"
    assert decode_value("UI", b"1.2.3\0") == "1.2.3"


def test_ds_and_is_decode_to_numbers():
    assert decode_value("DS", b"0.661468\\-1.5e2") == [0.661468, -150.0]
    assert decode_value("IS", b" 12 ") == 12
    assert decode_value("DS", b"") is None


def test_ds_encodes_within_16_bytes():
    data = encode_value("DS", 1 / 3)
    assert len(data.rstrip()) <= 16
    assert abs(float(data) - 1 / 3) < 1e-12


@pytest.mark.parametrize("little", [True, False])
def test_binary_numbers_in_both_byte_orders(little):
    for vr, value in [("US", [1, 65535]), ("SS", -2), ("UL", 70000), ("SL", -70000),
                      ("FL", 1.5), ("FD", [0.25, -3.0]), ("SV", -(2**40)), ("UV", 2**63)]:
        assert decode_value(vr, encode_value(vr, value, little), little) == value


def test_big_endian_us_bytes():
    assert encode_value("US", 1, little=False) == b"\x00\x01"


def test_at_values_are_tags():
    raw = encode_value("AT", [0x00100010, 0x7FE00010])
    assert raw == b"\x10\x00\x10\x00\xe0\x7f\x10\x00"
    assert decode_value("AT", raw) == [0x00100010, 0x7FE00010]


def test_ow_is_byte_swapped_for_big_endian():
    assert encode_value("OW", b"\x01\x02\x03\x04", little=False) == b"\x02\x01\x04\x03"
    assert decode_value("OW", b"\x02\x01", little=False) == b"\x01\x02"


def test_ob_odd_length_padded_with_nul():
    assert encode_value("OB", b"\x01\x02\x03") == b"\x01\x02\x03\x00"


def test_person_name_groups_and_components():
    name = decode_value("PN", b"Yamada^Tarou=Y^T=y^t")
    assert isinstance(name, PersonName)
    assert name.alphabetic == "Yamada^Tarou"
    assert name.ideographic == "Y^T"
    assert name.phonetic == "y^t"
    assert (name.family_name, name.given_name) == ("Yamada", "Tarou")
    full = PersonName("Adams^John Robert Quincy^^Rev.^B.A. M.Div.")
    assert full.name_prefix == "Rev." and full.name_suffix == "B.A. M.Div."
    assert PersonName.from_parts({"family_name": "Doe", "given_name": "Jane"}) == "Doe^Jane"


def test_dates_and_times_to_datetime():
    assert parse_da("20261126") == datetime.date(2026, 11, 26)
    assert parse_tm("070907.0705") == datetime.time(7, 9, 7, 70500)
    assert parse_tm("10") == datetime.time(10)
    dt = parse_dt("20261126101500.5-0500")
    assert dt.utcoffset() == datetime.timedelta(hours=-5)
    assert dt.microsecond == 500000
    assert encode_value("DA", datetime.date(2026, 1, 2)) == b"20260102"


def test_validation_reports_but_does_not_refuse():
    assert validate_value("CS", "X" * 17)
    assert validate_value("UI", "1.02.3")
    assert validate_value("DS", "abc")
    assert validate_value("LO", "fine") == []
    assert decode_value("DS", b"abc") == "abc"
