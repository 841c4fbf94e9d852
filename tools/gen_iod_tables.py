#!/usr/bin/env python3
"""Generate dicomkit's PS3.16 context group table (``src/dicomkit/iod/data/cid_concepts.tsv``).

Reads ``ps3.16/cid_concepts.tsv`` and ``ps3.16/cids.tsv`` of the machine-readable copy of the
DICOM standard (``/work/shared/dicom-standard`` or ``--source``; PS3.16 2024c) and writes one
sorted table ``cid keyword scheme value meaning concept_keyword``: every coded concept of every
context group (CID), with the group's keyword. Deterministic output.

Usage: ``python tools/gen_iod_tables.py [--source DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/dicom-standard")
DEFAULT_OUT = ROOT / "src" / "dicomkit" / "iod" / "data"


def rows(source: Path) -> list[list[str]]:
    groups: dict[str, str] = {}
    lines = (source / "ps3.16" / "cids.tsv").read_text("utf-8").splitlines()
    for line in lines[1:]:
        cid, keyword, _count = line.split("\t")
        groups[cid] = keyword
    result = []
    lines = (source / "ps3.16" / "cid_concepts.tsv").read_text("utf-8").splitlines()
    for line in lines[1:]:
        cid, keyword, scheme, value, meaning, concept = line.split("\t")
        if groups.get(cid, keyword) != keyword:
            raise SystemExit(f"CID {cid}: keyword {keyword!r} differs from cids.tsv")
        if not value.strip() or not scheme.strip():
            continue  # a row of the extraction with no code value: not a usable concept
        cells = [cid, keyword, scheme, value, meaning, concept]
        result.append([" ".join(c.split()) for c in cells])
    result.sort(key=lambda r: (int(r[0]), r[2], r[3]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    table = rows(args.source)
    with open(args.out / "cid_concepts.tsv", "w", encoding="utf-8", newline="\n") as out:
        out.write("cid\tkeyword\tscheme\tvalue\tmeaning\tconcept_keyword\n")
        for row in table:
            out.write("\t".join(row) + "\n")
    print(f"{len(table)} concepts written to {args.out / 'cid_concepts.tsv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
