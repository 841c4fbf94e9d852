#!/usr/bin/env python3
"""Generate dicomkit's table of the Print Management attributes
(``src/dicomkit/services/data/print_attributes.tsv``).

Reads ``posda_tables_2016/part04_tables.json`` of the machine-readable copy of the DICOM
standard (``/work/shared/dicom-standard`` or ``--source``): the PS3.4 Annex H tables of what
each print SOP class's DIMSE-N request carries, and writes one table
``operation table depth tag keyword usage``: ``operation`` names the request
(film_session.create, film_box.create, film_box.set, grayscale_box.set, color_box.set,
annotation_box.set, print_job.get, printer.get, presentation_lut.create), ``depth`` is 0 for a
top-level attribute and 1 for an item's, ``usage`` the SCU/SCP cell as printed (M/M, U/M,
MC/M …). :mod:`dicomkit.services.print` checks requests against it. Deterministic output.

Usage: ``python tools/gen_print_tables.py [--source DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/dicom-standard")
DEFAULT_OUT = ROOT / "src" / "dicomkit" / "services" / "data"

# PS3.4 table -> the request it lists
TABLES = {
    "table_H.4-2": "film_session.create",
    "table_H.4-6": "film_box.create",
    "table_H.4-7": "film_box.set",
    "table_H.4-10": "grayscale_box.set",
    "table_H.4-11": "color_box.set",
    "table_H.4-13": "annotation_box.set",
    "table_H.4-15": "print_job.get",
    "table_H.4-17": "printer.get",
    "table_H.4-23": "presentation_lut.create",
}


def keywords(source: Path) -> dict[str, str]:
    out = {}
    path = source / "ps3.6" / "data_elements.tsv"
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        cells = line.split("\t")
        out[cells[0].upper()] = cells[4]
    return out


def rows(source: Path) -> list[list[str]]:
    tables = json.loads((source / "posda_tables_2016" / "part04_tables.json").read_text())
    names = keywords(source)
    out = []
    for key, operation in TABLES.items():
        for row in tables[key]["rows"]:
            name, tag, usage = row[0], row[1], row[2]
            match = re.fullmatch(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)", tag.strip())
            if match is None:
                raise SystemExit(f"{key}: no tag in {row!r}")
            tag = f"({match.group(1).upper()},{match.group(2).upper()})"
            depth = len(name) - len(name.lstrip(">"))
            usage = re.match(r"[A-Z-]+/[A-Z-]+", usage.strip())
            out.append([operation, key.removeprefix("table_"), str(depth), tag, names[tag],
                        usage.group(0) if usage else ""])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["operation\ttable\tdepth\ttag\tkeyword\tusage"]
    lines += ["\t".join(row) for row in rows(args.source)]
    (args.out / "print_attributes.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
