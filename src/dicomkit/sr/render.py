"""Rendering an SR document for people: an indented text tree (one line per content item, as
DCMTK's dsrdump prints one) and a self-contained HTML page with the document header (patient,
study, completion and verification) above the tree. Every value is escaped in HTML."""

from __future__ import annotations

import datetime as _dt
import html
import os
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import uid_info
from dicomkit.iod.codes import Code
from dicomkit.sr.content import (
    ContentItem,
    NumericValue,
    Reference,
    Scoord,
    Scoord3D,
    Tcoord,
    paths,
)
from dicomkit.sr.document import load, read

POINTS_SHOWN = 8

Source = ContentItem | Dataset | str | os.PathLike[str]


def _tree(source: Source) -> tuple[ContentItem, Dataset | None]:
    if isinstance(source, ContentItem):
        return source, None
    ds = load(source)
    return read(ds, validate=False), ds


def format_code(code: Code | None) -> str:
    if code is None:
        return ""
    return f"{code.meaning or code.value} ({code.value}, {code.scheme})"


def format_value(item: ContentItem) -> str:
    """The value of a content item as one line of text."""
    value = item.value
    kind = item.value_type
    if value is None:
        return ""
    if kind == "TEXT":
        return '"' + " ".join(str(value).split()) + '"'
    if isinstance(value, Code):
        return format_code(value)
    if isinstance(value, NumericValue):
        if value.value is None:
            return f"no value: {value.qualifier.meaning if value.qualifier else ''}"
        unit = value.unit.value if value.unit is not None else ""
        text = f"{value.value} {unit}".rstrip()
        return text + (f" ({value.qualifier.meaning})" if value.qualifier else "")
    if isinstance(value, Reference):
        info = uid_info(value.sop_class)
        text = f"{info.name if info else value.sop_class} {value.sop_instance}"
        if value.frames:
            text += " frames " + ",".join(str(f) for f in value.frames)
        if value.segments:
            text += " segments " + ",".join(str(s) for s in value.segments)
        if value.channels:
            text += " channels " + ",".join(f"{m}/{c}" for m, c in value.channels)
        return text
    if isinstance(value, (Scoord, Scoord3D)):
        shown = value.points[:POINTS_SHOWN]
        points = " ".join("(" + ",".join(f"{x:g}" for x in p) + ")" for p in shown)
        more = f" ... {len(value.points)} points" if len(value.points) > POINTS_SHOWN else ""
        frame = f" in {value.frame_of_reference}" if isinstance(value, Scoord3D) else ""
        return f"{value.graphic_type} {points}{more}{frame}"
    if isinstance(value, Tcoord):
        numbers: tuple[Any, ...] = value.samples or value.offsets or tuple(
            d.isoformat() for d in value.datetimes)
        return f"{value.range_type} " + ",".join(str(n) for n in numbers)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


def _line(item: ContentItem, where: dict[int, str]) -> str:
    parts = []
    if item.relationship:
        parts.append(item.relationship)
    if item.is_reference:
        target = item.target
        name = target.concept_name.meaning if target and target.concept_name else ""
        return " ".join(parts + [f"-> item {where.get(id(target), '?')}",
                                 f"({item.value_type} \"{name}\")"])
    parts.append(item.value_type)
    if item.concept_name is not None:
        parts.append(f'"{item.concept_name.meaning or item.concept_name.value}"')
    value = format_value(item)
    if value:
        parts.append("= " + value)
    if item.value_type == "CONTAINER":
        extra = [item.continuity or ""] + ([f"TID {item.template}"] if item.template else [])
        parts.append("[" + ", ".join(e for e in extra if e) + "]")
    return " ".join(parts)


def render_text(source: Source) -> str:
    """The content tree as indented text, one line per item: relationship, value type,
    concept name, value (with units); by-reference items name the item they point at."""
    root, _ds = _tree(source)
    where = paths(root)
    lines = []
    for path, item in root.walk():
        depth = path.count(".")
        lines.append(f"{'  ' * depth}{path} {_line(item, where)}")
    return "\n".join(lines) + "\n"


HEADER = (("Patient", "PatientName"), ("Patient ID", "PatientID"),
          ("Birth date", "PatientBirthDate"), ("Sex", "PatientSex"),
          ("Study", "StudyDescription"), ("Study date", "StudyDate"),
          ("Accession", "AccessionNumber"), ("Study UID", "StudyInstanceUID"),
          ("Content date", "ContentDate"), ("Content time", "ContentTime"),
          ("Completion", "CompletionFlag"), ("Verification", "VerificationFlag"),
          ("Manufacturer", "Manufacturer"))

STYLE = """body{font-family:sans-serif;margin:2em;max-width:60em}
table.header td{padding:0 1em 0 0}ul{list-style:none;padding-left:1.5em}
.rel{color:#666;font-size:85%}.vt{color:#036;font-size:75%}.name{font-weight:bold}
.path{color:#999;font-size:75%}"""


def render_html(source: Source) -> str:
    """A self-contained HTML page: the document title, the header (patient, study,
    completion, verification) when a data set is given, and the content tree."""
    root, ds = _tree(source)
    esc = html.escape
    title = root.concept_name.meaning if root.concept_name else "Structured Report"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
           f"<h1>{esc(title)}</h1>"]
    if ds is not None:
        out.append('<table class="header">')
        for label, keyword in HEADER:
            value = ds.get(keyword)
            if value not in (None, ""):
                out.append(f"<tr><td>{esc(label)}</td><td>{esc(str(value))}</td></tr>")
        for observer in ds.get("VerifyingObserverSequence") or ():
            out.append(f"<tr><td>Verified by</td><td>{esc(str(observer.get('VerifyingObserverName') or ''))}"
                       f", {esc(str(observer.get('VerifyingOrganization') or ''))}</td></tr>")
        out.append("</table>")
    where = paths(root)
    out.append("<ul>")
    _html_children(root, "1", where, out)
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"


def _html_children(item: ContentItem, path: str, where: dict[int, str], out: list[str]) -> None:
    esc = html.escape
    for place, child in enumerate(item.children, start=1):
        child_path = f"{path}.{place}"
        rel = f'<span class="rel">{esc(child.relationship or "")}</span> '
        if child.is_reference:
            target = where.get(id(child.target), "?")
            out.append(f'<li id="item-{esc(child_path)}">{rel}<a href="#item-{esc(target)}">'
                       f"see item {esc(target)}</a></li>")
            continue
        name = child.concept_name.meaning if child.concept_name else ""
        value = format_value(child)
        out.append(f'<li id="item-{esc(child_path)}"><span class="path">{esc(child_path)}'
                   f'</span> {rel}<span class="vt">{esc(child.value_type)}</span> '
                   f'<span class="name">{esc(name)}</span>'
                   + (f": {esc(value)}" if value else ""))
        if child.children:
            out.append("<ul>")
            _html_children(child, child_path, where, out)
            out.append("</ul>")
        out.append("</li>")
