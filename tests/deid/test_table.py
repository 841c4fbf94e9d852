"""The shipped tables against the standard's own data, cell by cell (PS3.15 Tables E.1-1 and
E.3.10-1), and how the option columns combine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dicomkit.deid import table

STANDARD = Path("/work/shared/dicom-standard")
E11 = STANDARD / "ps3.15" / "confidentiality_profile_attributes.tsv"
COLUMNS = {"rtnSafePrivOpt": "retain-safe-private", "rtnUIDsOpt": "retain-uids",
           "rtnDevIdOpt": "retain-device-identity", "rtnInstIdOpt": "retain-institution-identity",
           "rtnPatCharsOpt": "retain-patient-characteristics",
           "rtnLongFullDatesOpt": "retain-longitudinal-full-dates",
           "rtnLongModifDatesOpt": "retain-longitudinal-modified-dates",
           "cleanDescOpt": "clean-descriptors", "cleanStructContOpt": "clean-structured-content",
           "cleanGraphOpt": "clean-graphics"}


def _standard_rows() -> list[dict[str, str]]:
    if not E11.exists():
        pytest.skip("the shared copy of the standard's tables is not here")
    with open(E11, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _tag(text: str) -> str:
    if text.upper().startswith("(GGGG,EEEE)"):
        return table.PRIVATE
    return text.strip("()").replace(",", "").upper().replace("X", "x")


def test_every_row_of_table_e11_is_shipped_with_every_cell() -> None:
    shipped = {row.tag: row for row in table.rows()}
    rows = _standard_rows()
    assert len(shipped) == len({_tag(r["tag"]) for r in rows})
    for source in rows:
        row = shipped[_tag(source["tag"])]
        assert row.basic == source["basicProfile"], source["tag"]
        assert row.in_std_iod == (source["stdCompIOD"] == "Y")
        for column, option in COLUMNS.items():
            assert row.options[option] == source[column], (source["tag"], option)


def test_the_safe_private_list_is_table_e3101_of_the_2016_edition() -> None:
    path = STANDARD / "posda_tables_2016" / "part15_tables.json"
    if not path.exists():
        pytest.skip("the shared copy of the standard's tables is not here")
    rows = json.loads(path.read_text("utf-8"))["table_E.3.10-1"]["rows"]
    expected = {(int(r[0][1:5], 16), r[1].strip(), int(r[0][8:10], 16)) for r in rows}
    assert table.safe_private() == expected
    assert table.is_safe_private(0x00191023, "GEMS_ACQU_01")
    assert not table.is_safe_private(0x00191023, "SOMEONE ELSE")


def test_option_names_are_the_table_columns_and_the_two_pixel_options() -> None:
    assert set(table.OPTIONS) == set(COLUMNS.values()) | {"clean-pixel-data",
                                                          "clean-visual-features"}
    assert set(table.METHOD_CONCEPTS) == set(table.OPTIONS) | {""}


def test_an_option_column_replaces_the_basic_profile() -> None:
    acquisition_date = table.actions(frozenset()).of(0x00080022)
    assert acquisition_date == "X/Z"
    full = table.actions(frozenset({"retain-longitudinal-full-dates"}))
    assert full.of(0x00080022) == "K"
    modified = table.actions(frozenset({"retain-longitudinal-modified-dates"}))
    assert modified.of(0x00080022) == "S"  # C of the Modified Dates column: shift


def test_c_wins_over_k_when_two_options_speak() -> None:
    # Calibration Date: K under Retain Device Identity, C under Modified Dates.
    both = frozenset({"retain-device-identity", "retain-longitudinal-modified-dates"})
    assert table.actions(both).of(0x0014407E) == "S"
    assert table.actions(frozenset({"retain-device-identity"})).of(0x0014407E) == "K"


def test_private_curves_and_overlays_follow_their_rows() -> None:
    basic = table.actions(frozenset())
    assert basic.of(0x00091001) == "X"
    assert basic.of(0x50003000) == "X" and basic.of(0x501E0010) == "X"
    assert basic.of(0x60023000) == "X" and basic.of(0x60004000) == "X"
    assert basic.of(0x60000010) is None  # Overlay Rows: not in the table
    graphics = table.actions(frozenset({"clean-graphics"}))
    assert graphics.of(0x60003000) == "C"
    assert table.actions(frozenset({"retain-safe-private"})).private == "C"


def test_unknown_and_exclusive_options_are_refused() -> None:
    with pytest.raises(table.OptionError, match="unknown de-identification option"):
        table.check_options(["retain-everything"])
    with pytest.raises(table.OptionError, match="exclude each other"):
        table.check_options(["retain-longitudinal-full-dates",
                             "retain-longitudinal-modified-dates"])
    assert table.check_options(["Retain_UIDs"]) == {"retain-uids"}
