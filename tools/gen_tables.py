#!/usr/bin/env python3
"""Generate dicomkit's data dictionary, UID registry and private dictionary tables.

Reads the machine-readable copies of the DICOM standard in ``/work/shared/dicom-standard``
(or ``--source``) and writes compact, sorted TSV files to ``src/dicomkit/core/data``:

``dictionary.tsv`` (PS3.6 Tables 6-1, 7-1, 8-1)
    ``tag vr vm keyword name retired source``. ``tag`` is 8 hex digits, upper case, with
    lower-case ``x`` kept for repeating groups/elements (``60xx3000``, ``50xxxxxx``,
    ``1000xxx0``). ``vr`` as PS3.6 lists it (``US or SS or OW``). ``retired`` is ``Y`` or
    empty. ``source`` is empty for rows from ``ps3.6/data_elements.tsv`` (PS3.6 2024d via
    pydicom) and ``dicom3tools`` for the newer elements taken from ``dicom3tools`` ``dicom3.tpl``.

``uids.tsv`` (PS3.6 Annex A)
    ``uid keyword name type info retired``.

``private_dictionary.tsv`` (vendor private elements, from GDCM via pydicom; not PS3.6)
    ``creator tag vr vm name retired``; ``tag`` as above, ``xx`` in the element high byte is the
    private block (PS3.5 §7.8.1).

Also writes ``PROVENANCE.md``. Output is deterministic apart from the date in PROVENANCE.md.

Usage: ``python tools/gen_tables.py [--source DIR] [--out DIR] [--date YYYY-MM-DD]``
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/dicom-standard")
DEFAULT_OUT = ROOT / "src" / "dicomkit" / "core" / "data"

PYDICOM_COMMIT = "fb1f24e4f0418008757766d8e79ec92dc2ab9855"
DICOM3TOOLS_COMMIT = "f56a223764dc340119aa13a3602a40518b9e2673"

_TAG_RE = re.compile(r"^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)$")
_TPL_LINE_RE = re.compile(r"^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)\s+(.*)$")
_TPL_ATTR_RE = re.compile(r'(\w+)="([^"]*)"')


def compact_tag(text: str) -> str:
    """``(60xx,3000)`` -> ``60xx3000``: hex digits upper case, repeat markers lower-case x."""
    m = _TAG_RE.match(text.strip())
    if not m:
        raise ValueError(f"bad tag {text!r}")
    return (m[1] + m[2]).upper().replace("X", "x")


def _sort_key(tag: str) -> tuple[int, str]:
    return int(tag.replace("x", "0"), 16), tag


def _read_tsv(path: Path, ncols: int) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:] if line]
    for row in rows:
        if len(row) != ncols:
            raise ValueError(f"{path}: expected {ncols} columns: {row!r}")
    return rows


def _clean(cell: str) -> str:
    if "\t" in cell or "\n" in cell:
        raise ValueError(f"cell contains a tab or newline: {cell!r}")
    return cell.strip()


def build_dictionary(source: Path) -> tuple[list[list[str]], list[str]]:
    """Return (rows, added-from-dicom3tools descriptions)."""
    rows: dict[str, list[str]] = {}
    keywords: set[str] = set()
    for tag, vr, vm, name, keyword, retired in _read_tsv(
        source / "ps3.6" / "data_elements.tsv", 6
    ):
        t = compact_tag(tag)
        if t in rows:
            raise ValueError(f"duplicate tag {tag}")
        rows[t] = [t, _clean(vr), _clean(vm), _clean(keyword), _clean(name),
                   "Y" if retired.strip() == "Y" else "", ""]
        if keyword:
            keywords.add(keyword)

    added: list[str] = []
    tpl = source / "dicom3tools" / "elmdict" / "dicom3.tpl"
    for line in tpl.read_text(encoding="utf-8").splitlines():
        m = _TPL_LINE_RE.match(line)
        if not m:
            continue
        t = (m[1] + m[2]).upper().replace("X", "x")
        attrs = dict(_TPL_ATTR_RE.findall(m[3]))
        keyword = attrs.get("Keyword", "")
        # Present under the same tag, or under another spelling of the same repeating
        # pattern (dicom3tools writes (1000,00x0) where PS3.6 has (1000,xxx0)): skip.
        if t in rows or keyword in keywords:
            continue
        vr = attrs["VR"].replace("/", " or ")
        rows[t] = [t, vr, attrs["VM"], keyword, attrs["Name"],
                   "Y" if attrs.get("VERS") == "RET" else "", "dicom3tools"]
        keywords.add(keyword)
        added.append(f"({t[:4]},{t[4:]}) {keyword}")
    return [rows[t] for t in sorted(rows, key=_sort_key)], added


def _uid_key(uid: str) -> tuple[int, ...]:
    return tuple(int(c) for c in uid.split("."))


def build_uids(source: Path) -> list[list[str]]:
    out = []
    seen: set[str] = set()
    for uid, name, typ, info, retired, keyword in _read_tsv(source / "ps3.6" / "uids.tsv", 6):
        uid = uid.strip()
        if uid in seen:
            raise ValueError(f"duplicate UID {uid}")
        seen.add(uid)
        out.append([uid, _clean(keyword), _clean(name), _clean(typ), _clean(info),
                    "Y" if retired.strip() == "Y" else ""])
    return sorted(out, key=lambda r: _uid_key(r[0]))


def build_private(source: Path) -> list[list[str]]:
    out = []
    seen: set[tuple[str, str]] = set()
    for creator, tag, vr, vm, name, retired in _read_tsv(
        source / "ps3.6" / "private_elements_gdcm.tsv", 6
    ):
        c = creator.strip()
        t = compact_tag(tag)
        if (c, t) in seen:
            raise ValueError(f"duplicate private entry {c!r} {tag}")
        seen.add((c, t))
        out.append([c, t, _clean(vr), _clean(vm), _clean(name),
                    "Y" if retired.strip() == "Y" else ""])
    return sorted(out, key=lambda r: (r[0], _sort_key(r[1])))


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    text = "\n".join("\t".join(r) for r in [header, *rows]) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")


PROVENANCE = """\
# Provenance of the generated tables

Generated by `tools/gen_tables.py` on {date}. Do not edit by hand; rerun the generator.
Facts from the DICOM standard (NEMA PS3), via openly licensed extractions:

| File | Rows | Reflects |
|---|---|---|
| `dictionary.tsv` | {n_dict} | PS3.6 **2024d** data dictionary (Tables 6-1, 7-1, 8-1) from pydicom git commit `{pydicom}` (MIT), plus {n_added} newer elements from dicom3tools snapshot **2024-12-20** (`dicom3.tpl`, commit `{d3t}`, BSD-3) marked `dicom3tools` in the `source` column: {added}. |
| `uids.tsv` | {n_uids} | PS3.6 Annex A UID registry, **2024d + 2025** additions, same pydicom commit. |
| `private_dictionary.tsv` | {n_priv} | Vendor private elements from the GDCM dictionary (BSD-3) as shipped in pydicom (same commit). Not part of the standard. |

Layout: tab-separated, one header row, no quoting. Tags are 8 hex digits with lower-case
`x` for repeating groups/elements (e.g. `60xx3000`, `1000xxx0`) or, in the private
dictionary, for the private block (`0029xx10` = (0029,xx10), PS3.5 §7.8.1). A few GDCM rows
use a full element (`00E11021`, block-specific) or a group pattern (`60xxxx10`); the 11
`(gggg,10xx)` rows name a block's creator element and are not used for lookups.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--date", default=_dt.date.today().isoformat())
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    dictionary, added = build_dictionary(args.source)
    uids = build_uids(args.source)
    private = build_private(args.source)
    _write_tsv(out / "dictionary.tsv",
               ["tag", "vr", "vm", "keyword", "name", "retired", "source"], dictionary)
    _write_tsv(out / "uids.tsv", ["uid", "keyword", "name", "type", "info", "retired"], uids)
    _write_tsv(out / "private_dictionary.tsv",
               ["creator", "tag", "vr", "vm", "name", "retired"], private)
    (out / "PROVENANCE.md").write_text(
        PROVENANCE.format(
            date=args.date, n_dict=len(dictionary), n_added=len(added),
            added=", ".join(added), n_uids=len(uids), n_priv=len(private),
            pydicom=PYDICOM_COMMIT, d3t=DICOM3TOOLS_COMMIT,
        ),
        encoding="utf-8",
    )
    print(f"dictionary: {len(dictionary)} rows ({len(added)} from dicom3tools); "
          f"uids: {len(uids)}; private: {len(private)} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
