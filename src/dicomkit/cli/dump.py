"""``dicomkit dump``: print a data set as a readable tree (like DCMTK's dcmdump), JSON or XML."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from typing import Any, TextIO

from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.core.tag import tag_str
from dicomkit.core.vr import VR_INFO

HELP = "print a data set as a tree (tag, VR, value, length, VM, keyword), JSON or XML"
EPILOG = """examples:
  dicomkit dump image.dcm                  tree of the whole file, long values cut
  dicomkit dump --all image.dcm            show long values in full
  dicomkit dump --no-pixels *.dcm          stop before Pixel Data (faster)
  dicomkit dump --json image.dcm           DICOM JSON (PS3.18 Annex F), no group 0002
  dicomkit dump --xml image.dcm            Native DICOM Model XML (PS3.19 Annex A)
  dicomkit dump /media/cdrom/DICOMDIR      a DICOMDIR as its tree of directory records

exit status: 0 when every file was read whole; 1 when any file could not be read, or
ended inside a value (what was there is printed, the problem goes to stderr). Problems
read past (non-standard VR bytes) go to stderr too, without changing the status.

Bytes outside printable ASCII in a value of a VR without a character set (AE, AS, CS, DA,
DS, DT, IS, TM, UI, UR) are printed as octal escapes, \351 for 0xE9, as dcmdump +Qo prints
them. Characters the output cannot encode (an ASCII locale, a pipe) are escaped: \xfc in
the tree, \u00fc in JSON, &#252; in XML, so each stays valid."""

VALUE_WIDTH = 40
CUT = 64


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dump", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="DICOM files (Part 10 or raw)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print DICOM JSON (PS3.18 Annex F)")
    form.add_argument("--xml", action="store_true", help="print Native DICOM Model XML (PS3.19)")
    p.add_argument("-a", "--all", action="store_true", help="do not cut long values")
    p.add_argument("--no-pixels", action="store_true", help="stop reading before Pixel Data")
    p.add_argument("--no-meta", action="store_true", help="leave out the File Meta Information")
    p.add_argument("--bulk-threshold", type=int, default=None, metavar="BYTES",
                   help="JSON/XML: values longer than this become BulkDataURI references")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dicomkit.encoding.reader import read
    from dicomkit.errors import DicomError

    status = 0
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):  # what the output's encoding lacks is escaped
        out.reconfigure(errors="xmlcharrefreplace" if args.xml else "backslashreplace")
    for index, path in enumerate(args.files):
        try:
            ds = read(path, stop_before_pixels=args.no_pixels)
            if args.json:
                from dicomkit.encoding.json import to_json

                text = to_json(ds, indent=2, bulk_data_threshold=args.bulk_threshold)
                out.write(_json_for(out, text) + "\n")
            elif args.xml:
                from dicomkit.encoding.xml import to_xml

                out.write(to_xml(ds, bulk_data_threshold=args.bulk_threshold))
            else:
                if len(args.files) > 1:
                    out.write(f"{'' if index == 0 else chr(10)}# {path}\n")
                if _is_dicomdir(ds):
                    print_dicomdir(path, ds, out, cut=not args.all, meta=not args.no_meta)
                else:
                    print_tree(ds, out, cut=not args.all, meta=not args.no_meta)
            for problem in ds.read_problems:
                print(f"dicomkit dump: {path}: {problem}", file=sys.stderr)
            if ds.is_truncated:
                status = 1
        except (DicomError, OSError, ValueError) as exc:
            print(f"dicomkit dump: {path}: {exc}", file=sys.stderr)
            status = 1
    return status


def _json_for(out: TextIO, text: str) -> str:
    """JSON text the output can encode: outside strings JSON is ASCII, so each character the
    encoding lacks is in a string and becomes its \\u escape (RFC 8259 §7)."""
    try:
        text.encode(getattr(out, "encoding", None) or "utf-8")
    except UnicodeEncodeError:
        return re.sub(r"[^\x00-\x7f]", lambda m: json.dumps(m.group())[1:-1], text)
    return text


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def _octal(text: str) -> str:
    """dcmdump +Qo: each character outside printable ASCII as the octal of its byte. Values
    of VRs without a character set are decoded byte for byte (ASCII, else Latin-1)."""
    return _NOT_PRINTABLE.sub(lambda m: "".join(f"\\{b:03o}" for b in
                                                m.group().encode("latin-1", "replace")), text)


def print_tree(ds: Dataset, out: TextIO, *, cut: bool = True, meta: bool = True) -> None:
    ts = ds.transfer_syntax
    if ds.file_meta is not None and meta:
        out.write("# File Meta Information\n")
        _lines(ds.file_meta, out, 0, cut)
        out.write("\n")
    out.write(f"# Data Set ({ts.name if ts else 'unknown transfer syntax'})\n")
    _lines(ds, out, 0, cut)


def _is_dicomdir(ds: Dataset) -> bool:
    from dicomkit.core.uid import registered

    meta = ds.file_meta
    sop_class = meta.get(0x00020002) if meta is not None else None
    return sop_class is not None and str(sop_class.value or "").strip("\0 ") == registered(
        "MediaStorageDirectoryStorage")


def print_dicomdir(path: str, ds: Dataset, out: TextIO, *, cut: bool = True,
                   meta: bool = True) -> None:
    """A DICOMDIR as its record tree (PS3.3 F.3): the File-set attributes, then each record
    in use, indented under the record that points at it, with its offset and its elements."""
    from dicomkit.media import FileSet

    fs = FileSet.read(path)
    if ds.file_meta is not None and meta:
        out.write("# File Meta Information\n")
        _lines(ds.file_meta, out, 0, cut)
        out.write("\n")
    out.write("# File-set (Basic Directory IOD)\n")
    top = Dataset()
    for element in ds:
        if element.tag != 0x00041220:
            top[element.tag] = element
    _lines(top, out, 0, cut)
    out.write(f"\n# Directory records ({sum(1 for _ in fs.walk())} in use)\n")
    for record in fs.walk():
        depth = record.depth
        out.write(f"{'  ' * depth}[{record.describe()}] at offset {record.offset}\n")
        _lines(record.dataset, out, depth + 1, cut)
    for problem in fs.problems:
        out.write(f"# {problem}\n")


def _lines(ds: Dataset, out: TextIO, depth: int, cut: bool) -> None:
    indent = "  " * depth
    for element in ds:
        keyword = element.keyword or ("PrivateCreator" if element.tag.is_private_creator
                                      else "Unknown")
        if element.VR == "SQ":
            items = element.value
            kind = "undefined" if element.is_undefined_length else "defined"
            text = f"(Sequence with {kind} length #={len(items)})"
            _write(out, indent, element, text, "u/l" if element.is_undefined_length else "-",
                   1, keyword)
            for number, item in enumerate(items, 1):
                out.write(f"{indent}  (FFFE,E000) na (Item #{number})\n")
                _lines(item, out, depth + 2, cut)
            continue
        try:
            text, vm = _value_text(element, cut)
        except Exception as exc:  # noqa: BLE001 - show what could not be decoded, keep going
            text, vm = f"(cannot decode: {exc})", 0
        # The stored length: re-encoding the value would fail on the bytes _octal escapes.
        stored = len(element.raw) if element.raw is not None else element.length
        length = "u/l" if element.is_undefined_length else str(stored)
        _write(out, indent, element, text, length, vm, keyword)


def _write(out: TextIO, indent: str, element: DataElement, text: str, length: str, vm: int,
           keyword: str) -> None:
    head = f"{indent}{tag_str(element.tag)} {element.VR} {text}"
    out.write(f"{head:<{VALUE_WIDTH + 16 + len(indent)}} # {length:>4}, {vm} {keyword}\n")


def _value_text(element: DataElement, cut: bool) -> tuple[str, int]:
    info = VR_INFO.get(element.VR)
    if element.is_undefined_length:
        from dicomkit.encoding.fragments import count_fragments

        count = count_fragments(element)
        return f"(encapsulated pixel data, {count} item(s) incl. offset table)", 1
    if info is None or info.kind == "bytes":
        data = element.value_bytes(True)
        if not data:
            return "(no value available)", 0
        width = 2 if element.VR in ("OW", "US") else 1
        words = [data[i : i + width][::-1].hex() for i in range(0, min(len(data), 48), width)]
        text = "\\".join(words)
        if cut and len(data) > 48:
            text += "..."
        elif not cut:
            text = "\\".join(data[i : i + width][::-1].hex() for i in range(0, len(data), width))
        return text, 1
    value = element.value
    if value is None or value == "":
        return "(no value available)", 0
    values = value if isinstance(value, list) else [value]
    if info.kind in ("int", "float", "at") and info.fixed_size:
        text = "\\".join(str(v) for v in values)
    elif not info.charset:  # AE AS CS DA DS DT IS TM UI UR: no character set
        text = "[" + "\\".join("" if v is None else _octal(str(v)) for v in values) + "]"
    else:
        text = "[" + "\\".join("" if v is None else str(v) for v in values) + "]"
    if element.VR == "UI" and not isinstance(value, list):
        from dicomkit.core.uid import uid_info

        known = uid_info(value)
        if known is not None and known.keyword:
            text = f"={known.keyword}"
    if cut and len(text) > CUT:
        text = text[: CUT - 3] + "..."
    return text, len(values)
