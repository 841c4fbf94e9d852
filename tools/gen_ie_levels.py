"""Generate src/dicomkit/core/data/ie_levels.tsv: the information entity level of each
attribute (PATIENT, STUDY, SERIES, INSTANCE), from dicom3tools' elmdictie.xml.

The archive uses it to keep each level's attributes with that level's index row."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "dicom-standard" / "dicom3tools" / "elmdictie.xml"
OUT = ROOT / "src" / "dicomkit" / "core" / "data" / "ie_levels.tsv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    tree = ET.parse(args.source)
    rows = []
    for entry in tree.getroot():
        name = entry.findtext("Name")
        level = entry.findtext("IE")
        if name and level in ("PATIENT", "STUDY", "SERIES", "INSTANCE"):
            rows.append((name, level))
    rows.sort()
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write("keyword\tlevel\n")
        for name, level in rows:
            handle.write(f"{name}\t{level}\n")
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
