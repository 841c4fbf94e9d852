#!/usr/bin/env python3
"""Generate dicomkit's de-identification tables (``src/dicomkit/deid/data/``).

From the machine-readable copy of the DICOM standard (``/work/shared/dicom-standard`` or
``--source``), deterministic output:

- ``profile.tsv`` from ``ps3.15/confidentiality_profile_attributes.tsv`` (PS3.15 Table E.1-1,
  2024b): ``tag name in_std_iod basic`` then one column per option of the table, headed by the
  option's command-line name (``retain-safe-private`` … ``clean-graphics``). ``tag`` is eight
  hex digits, upper case, with ``x`` kept for the repeating groups (``50xxxxxx`` curves,
  ``60xx3000`` overlays) and ``private`` for the row of every private attribute. Cells are the table's action codes as printed (D, Z, X, K, C, U,
  X/Z, X/D, Z/D, X/Z/D, X/Z/U*); empty: the option says nothing of the attribute.
- ``safe_private.tsv`` from ``posda_tables_2016/part15_tables.json`` (PS3.15 Table E.3.10-1,
  **2016** edition: the only machine-readable copy of that table here; later editions add
  rows): ``group creator element vr vm``, ``element`` the element's offset in its private
  block (two hex digits, the ``xx`` of ``(gggg,xxee)`` removed).

Usage: ``python tools/gen_deid_table.py [--source DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/dicom-standard")
DEFAULT_OUT = ROOT / "src" / "dicomkit" / "deid" / "data"

# The table's column names -> the option names of issue 14's interface (PS3.15 E.3.x).
OPTION_COLUMNS = {
    "rtnSafePrivOpt": "retain-safe-private",
    "rtnUIDsOpt": "retain-uids",
    "rtnDevIdOpt": "retain-device-identity",
    "rtnInstIdOpt": "retain-institution-identity",
    "rtnPatCharsOpt": "retain-patient-characteristics",
    "rtnLongFullDatesOpt": "retain-longitudinal-full-dates",
    "rtnLongModifDatesOpt": "retain-longitudinal-modified-dates",
    "cleanDescOpt": "clean-descriptors",
    "cleanStructContOpt": "clean-structured-content",
    "cleanGraphOpt": "clean-graphics",
}
ACTIONS = {"D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
PRIVATE = "private"  # the table's row for every private attribute, (gggg,eeee) with gggg odd
TAG = re.compile(r"^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)$")


def _tag(text: str) -> str:
    if " ".join(text.split()).upper() == "(GGGG,EEEE) WHERE GGGG IS ODD":
        return PRIVATE
    match = TAG.match(text.strip())
    if match is None:
        raise SystemExit(f"E.1-1: {text!r} is not a tag (gggg,eeee)")
    return (match.group(1) + match.group(2)).upper().replace("X", "x")


def profile_rows(source: Path) -> tuple[list[str], list[list[str]]]:
    lines = (source / "ps3.15" / "confidentiality_profile_attributes.tsv").read_text(
        "utf-8").splitlines()
    header = lines[0].split("\t")
    expected = ["tag", "name", "stdCompIOD", "basicProfile", *OPTION_COLUMNS]
    if header != expected:
        raise SystemExit(f"E.1-1 columns changed: {header}")
    out_header = ["tag", "name", "in_std_iod", "basic", *OPTION_COLUMNS.values()]
    rows: dict[str, list[str]] = {}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        cells += [""] * (len(header) - len(cells))
        tag = _tag(cells[0])
        for cell in cells[3:]:
            if cell and cell not in ACTIONS:
                raise SystemExit(f"E.1-1 line {number}: unknown action {cell!r}")
        if not cells[3]:
            raise SystemExit(f"E.1-1 line {number}: no Basic Profile action")
        row = [tag, " ".join(cells[1].split()), cells[2], *cells[3:]]
        if tag in rows and rows[tag] != row:
            raise SystemExit(f"E.1-1: {cells[0]} listed twice with different actions")
        rows[tag] = row
    return out_header, [rows[t] for t in sorted(rows)]


def safe_private_rows(source: Path) -> tuple[list[str], list[list[str]]]:
    tables = json.loads((source / "posda_tables_2016" / "part15_tables.json").read_text("utf-8"))
    table = tables["table_E.3.10-1"]
    if table["columns"][:4] != ["Data Element", "Private Creator", "VR", "VM"]:
        raise SystemExit(f"E.3.10-1 columns changed: {table['columns']}")
    rows = set()
    for element, creator, vr, vm, *_meaning in table["rows"]:
        match = re.match(r"^\(([0-9A-Fa-f]{4}),xx([0-9A-Fa-f]{2})\)$", element.strip())
        if match is None:
            raise SystemExit(f"E.3.10-1: {element!r} is not (gggg,xxee)")
        group = int(match.group(1), 16)
        if not group & 1:
            raise SystemExit(f"E.3.10-1: {element} is not in a private (odd) group")
        rows.add((match.group(1).upper(), creator.strip(), match.group(2).upper(), vr.strip(),
                  vm.strip()))
    return ["group", "creator", "element", "vr", "vm"], [list(r) for r in sorted(rows)]


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    text = "\n".join("\t".join(r) for r in [header, *rows]) + "\n"
    path.write_text(text, "utf-8")
    print(f"{path}: {len(rows)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "profile.tsv", *profile_rows(args.source))
    write(args.out / "safe_private.tsv", *safe_private_rows(args.source))


if __name__ == "__main__":
    main()
