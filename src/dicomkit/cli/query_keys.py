"""The ``-k`` query keys of ``dicomkit find | move | get``: parsed into a request identifier
(PS3.4 C.4.1.1.3.1), and the matches printed as a table or a DICOM JSON list (PS3.18 F.2)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from dicomkit.cli.net import UsageError
from dicomkit.cli.tables import text_table
from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.tag import Tag
from dicomkit.core.vr import VR_INFO

_SEGMENT = re.compile(r"^(?P<name>\(?[0-9A-Fa-f]{4},?[0-9A-Fa-f]{4}\)?|[A-Za-z][A-Za-z0-9]*)"
                      r"(?:\[(?P<index>\d+)\])?$")


def parse_key(text: str) -> tuple[list[tuple[int, int]], str | None]:
    """``Seq[0].Keyword=Value`` -> ([(tag, item index), ...], value); no '=' gives None."""
    path_text, eq, value = text.partition("=")
    path: list[tuple[int, int]] = []
    for segment in path_text.strip().split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            raise UsageError(f"bad key {text!r}: {segment!r} is neither a keyword nor "
                             "(gggg,eeee)")
        name = match["name"]
        if name[0].isalpha() and not re.fullmatch(r"[0-9A-Fa-f]{8}", name):
            tag = dictionary.tag_for_keyword(name)
            if tag is None:
                raise UsageError(f"bad key {text!r}: {name} is not a DICOM keyword")
        else:
            tag = int(re.sub(r"[(),]", "", name), 16)
        path.append((tag, int(match["index"] or 0)))
    return path, (value if eq else None)


def _vr(tag: int) -> str:
    entry = dictionary.entry(tag)
    vr = entry.vr if entry is not None and entry.vr else "UN"
    return vr.split(" or ")[0]


def _typed(vr: str, text: str) -> Any:
    info = VR_INFO.get(vr)
    if text == "":
        return None
    if info is not None and info.fixed_size:
        parts = text.split("\\")
        try:
            if info.kind == "at":
                return [int(Tag(p)) for p in parts]
            numbers = [int(p, 0) if info.kind == "int" else float(p) for p in parts]
        except ValueError as exc:
            raise UsageError(f"{text!r} is not a valid {vr} value") from exc
        return numbers[0] if len(numbers) == 1 else numbers
    if info is not None and info.kind == "bytes":
        return text.encode("latin-1")
    return text


def build_query(keys: Sequence[str]) -> tuple[Dataset, list[list[tuple[int, int]]]]:
    """The identifier for the -k options, and the key paths (the columns to show)."""
    query = Dataset()
    columns = []
    for text in keys:
        path, value = parse_key(text)
        columns.append(path)
        ds = query
        for depth, (tag, index) in enumerate(path):
            last = depth == len(path) - 1
            vr = _vr(tag)
            if not last:
                if vr != "SQ":
                    raise UsageError(f"bad key {text!r}: {Tag(tag)} is not a sequence")
                if tag not in ds or ds[tag].value is None:
                    ds.set(tag, [], "SQ")
                items = ds[tag].value
                while len(items) <= index:
                    items.append(Dataset())
                    ds.set(tag, list(items), "SQ")
                    items = ds[tag].value
                ds = items[index]
            elif vr == "SQ":
                if value:
                    raise UsageError(f"bad key {text!r}: a sequence takes no value")
                if tag not in ds:
                    ds.set(tag, [], "SQ")
            else:
                ds.set(tag, _typed(vr, value or ""), vr)
    if any(not str(v).isascii() for v in keys) and "SpecificCharacterSet" not in query:
        query.SpecificCharacterSet = "ISO_IR 192"
    return query, columns


def with_level(query: Dataset, model: str) -> Dataset:
    """C-FIND/MOVE/GET on a Q/R model need Query/Retrieve Level (PS3.4 C.4.1.1.3.1)."""
    if model != "worklist" and "QueryRetrieveLevel" not in query:
        query.QueryRetrieveLevel = "PATIENT" if model == "patient" else "STUDY"
    return query


def value_at(ds: Dataset, path: Sequence[tuple[int, int]]) -> str:
    """The printable value at a key path ('' when absent)."""
    current: Any = ds
    for depth, (tag, index) in enumerate(path):
        if not isinstance(current, Dataset) or tag not in current:
            return ""
        element = current[tag]
        if depth == len(path) - 1:
            if element.VR == "SQ":
                return f"({len(element.value or [])} items)"
            value = element.value
            values = value if isinstance(value, list) else [value]
            return "\\".join("" if v is None else str(v) for v in values)
        items = element.value or []
        current = items[index] if index < len(items) else None
    return ""


def _column_name(path: Sequence[tuple[int, int]]) -> str:
    names = []
    for depth, (tag, index) in enumerate(path):
        name = dictionary.keyword_for_tag(tag) or str(Tag(tag))
        names.append(name if depth == len(path) - 1 else f"{name}[{index}]")
    return ".".join(names)


def format_table(rows: Sequence[Dataset], columns: Sequence[Sequence[tuple[int, int]]]) -> str:
    heads = [_column_name(c) for c in columns]
    cells = [[value_at(ds, c) for c in columns] for ds in rows]
    return text_table(heads, cells)


def json_list(rows: Sequence[Dataset]) -> str:
    import json

    encode: Callable[[Dataset], dict[str, Any]]
    try:
        from dicomkit.encoding.json import to_json_dict as encode
    except ImportError:  # pragma: no cover - the JSON module ships alongside
        encode = _minimal_json
    return json.dumps([encode(ds) for ds in rows], indent=2, ensure_ascii=False)


def _minimal_json(ds: Dataset) -> dict[str, Any]:
    """PS3.18 F.2 for query results: strings, numbers, person names and sequences only."""
    out: dict[str, Any] = {}
    for element in ds:
        entry: dict[str, Any] = {"vr": element.VR}
        value = element.value
        if element.VR == "SQ":
            entry["Value"] = [_minimal_json(item) for item in value or []]
        elif value not in (None, "", []):
            values = value if isinstance(value, list) else [value]
            entry["Value"] = [{"Alphabetic": str(v)} if element.VR == "PN" else
                              v if isinstance(v, (int, float)) else str(v) for v in values]
        out[f"{int(element.tag):08X}"] = entry
    return out
