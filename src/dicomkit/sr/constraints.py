"""What each SR IOD allows in its content tree (PS3.3 A.35): the value types, which
(source value type, relationship, target value type) triples, whether relationships may be
by-reference; and the content item rules of C.17.3 and C.18 that hold in every IOD.

The tables are data: ``data/sr_iods.tsv`` (Value Type enumerations and the by-reference
rule of A.35.x.3.1) and ``data/sr_relationships.tsv`` (Tables A.35.1-2, A.35.2-2, A.35.3-2,
A.35.4-2, A.35.13-2, A.35.15-2, one row per table row). No machine-readable copy of these
tables exists in the standard's data this project uses, so they were transcribed from the
PS3.3 text (2024 edition); ``tests/sr/test_constraints.py`` checks them row by row.

:func:`check` raises :class:`SRError` naming the item's position path and the rule broken.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

from dicomkit.core.uid import registered
from dicomkit.iod.codes import Code
from dicomkit.sr.content import (
    CONTINUITY,
    RELATIONSHIPS,
    SCOORD3D_POINTS,
    SCOORD_POINTS,
    TCOORD_RANGE_TYPES,
    VALUE_TYPES,
    ContentItem,
    NumericValue,
    Reference,
    Scoord,
    Scoord3D,
    Tcoord,
    paths,
)
from dicomkit.sr.errors import SRError, SRWarning

DATA = Path(__file__).with_name("data")
ANY = "*"

NAME_REQUIRED = frozenset({"TEXT", "NUM", "CODE", "DATETIME", "DATE", "TIME", "UIDREF",
                           "PNAME"})
"""PS3.3 C.17.3.2 (Table C.17-6 Concept Name Code Sequence, Type 1C): a concept name is
required for these value types (and for the root CONTAINER, the Document Title)."""


@dataclass(frozen=True)
class SRIOD:
    """One SR IOD's content constraints (PS3.3 A.35.x.3.1)."""

    name: str
    sop_class: str
    section: str
    by_reference: bool
    value_types: frozenset[str]
    relationships: frozenset[tuple[str, str, str]]  # (source, relationship, target), * = any

    def allows(self, source: str, relationship: str, target: str) -> bool:
        rules = self.relationships
        return any(rule in rules for rule in ((source, relationship, target),
                                              (ANY, relationship, target),
                                              (source, relationship, ANY),
                                              (ANY, relationship, ANY)))


@functools.cache
def iods() -> dict[str, SRIOD]:
    """The SR IODs this package knows, by name ("Comprehensive", "Key Object Selection")."""
    rules: dict[str, set[tuple[str, str, str]]] = {}
    with open(DATA / "sr_relationships.tsv", encoding="utf-8") as table:
        next(table)
        for line in table:
            iod, _table, sources, relationship, targets = line.rstrip("\n").split("\t")
            for source in sources.split():
                for target in targets.split():
                    rules.setdefault(iod, set()).add((source, relationship, target))
    found = {}
    with open(DATA / "sr_iods.tsv", encoding="utf-8") as table:
        next(table)
        for line in table:
            name, keyword, section, by_reference, value_types = line.rstrip("\n").split("\t")
            found[name] = SRIOD(name, registered(keyword), section, by_reference == "yes",
                                frozenset(value_types.split()), frozenset(rules.get(name, ())))
    return found


def iod_named(name: str) -> SRIOD:
    known = iods()
    if name not in known:
        raise SRError(f"unknown SR IOD {name!r} (known: {', '.join(known)})")
    return known[name]


def iod_of_sop_class(sop_class: str) -> SRIOD | None:
    """The IOD of an SR Storage SOP class, or None when this package has no table for it."""
    for iod in iods().values():
        if iod.sop_class == sop_class:
            return iod
    return None


def check(root: ContentItem, iod: str | SRIOD = "Comprehensive", *,
          reading: bool = False) -> None:
    """Check a content tree against an IOD: raises :class:`SRError` naming the first item
    (by position path) that breaks a rule, and the rule. ``reading``: the check of a document
    read from elsewhere, where the rules that other writers are known to bend (see
    :data:`READ_LENIENT`) are :class:`SRWarning` warnings instead."""
    spec = iod if isinstance(iod, SRIOD) else iod_named(iod)
    if root.relationship is not None or root.is_reference:
        raise SRError("the root has no relationship to a parent (PS3.3 C.17.3)", path="1")
    if root.value_type != "CONTAINER":
        raise SRError(f"the root is a CONTAINER (PS3.3 C.17.3), not {root.value_type}",
                      path="1")
    if root.concept_name is None:
        raise SRError("the root CONTAINER needs a Concept Name, the Document Title "
                      "(PS3.3 C.17.3)", path="1")
    where = paths(root)
    for path, item in root.walk():
        if item.is_reference:
            check_reference(spec, path, item, where)
            continue
        check_item(spec, path, item, reading=reading)
        for place, child in enumerate(item.children, start=1):
            child_path = f"{path}.{place}"
            relationship = child.relationship or ""
            if relationship not in RELATIONSHIPS:
                raise SRError(f"unknown Relationship Type {relationship!r} (PS3.3 Table "
                              "C.17.3-8)", path=child_path)
            if child.value_type not in spec.value_types:
                check_item(spec, child_path, child, reading=reading)  # names the rule
            if not spec.allows(item.value_type, relationship, child.value_type):
                raise SRError(f"{item.value_type} {relationship} {child.value_type} is not "
                              f"allowed in {spec.name} SR (PS3.3 Table {spec.section}-2)",
                              path=child_path)
    check_cycles(root, where)


def check_reference(spec: SRIOD, path: str, item: ContentItem, where: dict[int, str]) -> None:
    if not spec.by_reference:
        raise SRError(f"relationships by-reference are forbidden in {spec.name} SR "
                      f"(PS3.3 {spec.section}.3.1.2)", path=path)
    if id(item.target) not in where:
        raise SRError("a by-reference relationship to an item that is not in this tree "
                      "(PS3.3 C.17.3.2.4)", path=path)
    if item.children:
        raise SRError("a by-reference relationship has no children of its own", path=path)


def check_item(spec: SRIOD, path: str, item: ContentItem, *, reading: bool = False) -> None:
    """The rules of one content item: value type, concept name, value (PS3.3 C.17.3, C.18);
    ``reading``: see :func:`check`."""
    kind = item.value_type
    if kind not in VALUE_TYPES:
        raise SRError(f"unknown Value Type {kind!r} (PS3.3 Table C.17.3-7)", path=path)
    if kind not in spec.value_types:
        raise SRError(f"Value Type {kind} is not allowed in {spec.name} SR "
                      f"(PS3.3 {spec.section}.3.1.1)", path=path)
    name = item.concept_name
    if name is not None and not isinstance(name, Code):
        raise SRError(f"the concept name is a Code, not {type(name).__name__}", path=path)
    if name is None and kind in NAME_REQUIRED:
        raise SRError(f"a {kind} content item needs a Concept Name (PS3.3 C.17.3.2, Table "
                      "C.17-6)", path=path)
    value = item.value
    expected = VALUE_CLASSES.get(kind)
    if expected is not None and not isinstance(value, expected):
        raise SRError(f"a {kind} value is a {expected.__name__}, not {type(value).__name__}",
                      path=path)
    if kind == "CONTAINER":
        if item.continuity not in CONTINUITY:
            raise SRError(f"Continuity of Content is SEPARATE or CONTINUOUS, not "
                          f"{item.continuity!r} (PS3.3 C.18.8)", path=path)
    elif item.continuity is not None or item.template is not None:
        raise SRError("only a CONTAINER has Continuity of Content and a template", path=path)
    if kind in ("TEXT", "UIDREF", "PNAME") and not str(value):
        raise SRError(f"a {kind} content item has an empty value (Type 1)", path=path)
    if kind == "SCOORD":
        check_points(path, "SCOORD", value.graphic_type, len(value.points), SCOORD_POINTS)
    elif kind == "SCOORD3D":
        check_points(path, "SCOORD3D", value.graphic_type, len(value.points), SCOORD3D_POINTS)
    if kind == "TCOORD" and value.range_type not in TCOORD_RANGE_TYPES:
        raise SRError(f"Temporal Range Type {value.range_type!r} is not one of "
                      f"{', '.join(TCOORD_RANGE_TYPES)} (PS3.3 C.18.7.1.1)", path=path)
    if kind in ("SCOORD", "TCOORD"):
        check_selected_from(path, item)
    elif kind in ("COMPOSITE", "IMAGE", "WAVEFORM"):
        if value.segments and value.frames:
            message = ("a reference names frames or segments, not both (PS3.3 C.18.4: "
                       "Referenced Segment Number is absent when Referenced Frame Number is "
                       "present)")
            if not reading:
                raise SRError(message, path=path)
            # highdicom writes both in the TID 1410 Referenced Segmentation Frame: read it.
            warnings.warn(f"content item {path}: {message}; read as written", SRWarning,
                          stacklevel=4)
        if value.segments and value.sop_class not in segmentation_classes():
            raise SRError("Referenced Segment Number is only for a Segmentation SOP class "
                          "(PS3.3 C.18.4)", path=path)
        if value.channels and kind != "WAVEFORM":
            raise SRError("only a WAVEFORM references channels (PS3.3 C.18.5)", path=path)
        if kind == "COMPOSITE" and (value.frames or value.segments):
            raise SRError("a COMPOSITE references no frames or segments; use IMAGE "
                          "(PS3.3 C.18.3, C.18.4)", path=path)


#: The rules :func:`check` only warns about when ``reading`` (each a writer's known habit).
READ_LENIENT = ("an IMAGE reference with both Referenced Frame Number and Referenced Segment "
                "Number (highdicom's TID 1410 Referenced Segmentation Frame)",)


def check_selected_from(path: str, item: ContentItem) -> None:
    """PS3.3 C.18.6.1 and C.18.7.1: a SCOORD is selected from exactly one IMAGE; a TCOORD
    from one or more SCOORD, IMAGE or WAVEFORM items (SELECTED FROM children)."""
    selected = sum(1 for child in item.children if child.relationship == "SELECTED FROM")
    if item.value_type == "SCOORD" and selected != 1:
        raise SRError(f"a SCOORD has exactly one SELECTED FROM child (the IMAGE it is drawn "
                      f"on, PS3.3 C.18.6.1), not {selected}", path=path)
    if item.value_type == "TCOORD" and selected < 1:
        raise SRError("a TCOORD has at least one SELECTED FROM child (a SCOORD, IMAGE or "
                      "WAVEFORM, PS3.3 C.18.7.1)", path=path)


@functools.cache
def segmentation_classes() -> frozenset[str]:
    return frozenset(registered(k) for k in (
        "SegmentationStorage", "SurfaceSegmentationStorage", "LabelMapSegmentationStorage",
        "HeightMapSegmentationStorage"))


def check_points(path: str, kind: str, graphic_type: str, count: int,
                 table: dict[str, tuple[int, int | None]]) -> None:
    if graphic_type not in table:
        raise SRError(f"{kind} Graphic Type {graphic_type!r} is not one of "
                      f"{', '.join(table)}", path=path)
    fewest, most = table[graphic_type]
    if count < fewest or (most is not None and count > most):
        wanted = str(fewest) if fewest == most else f"at least {fewest}"
        raise SRError(f"{kind} {graphic_type} has {count} point(s), wants {wanted}",
                      path=path)


def check_cycles(root: ContentItem, where: dict[int, str]) -> None:
    """By-value edges and by-reference edges together must not loop (a reference to an
    ancestor, or references that point at each other's subtrees)."""
    edges: dict[int, list[ContentItem]] = {}
    items: dict[int, ContentItem] = {}
    for _path, item in root.walk():
        if item.target is not None:
            continue
        items[id(item)] = item
        targets = []
        for child in item.children:
            targets.append(child.target if child.target is not None else child)
        edges[id(item)] = targets
    state: dict[int, int] = {}  # 1 on the stack, 2 done
    for start in items:
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            for child in children:
                key = id(child)
                if state.get(key) == 1:
                    raise SRError(f"by-reference relationships make a cycle through item "
                                  f"{where.get(key)} (PS3.3 C.17.3.2.4)", path=where.get(node))
                if not state.get(key) and key in edges:
                    state[key] = 1
                    stack.append((key, iter(edges[key])))
                    break
            else:
                state[node] = 2
                stack.pop()


VALUE_CLASSES: dict[str, type] = {
    "TEXT": str, "CODE": Code, "NUM": NumericValue, "UIDREF": str, "PNAME": str,
    "COMPOSITE": Reference, "IMAGE": Reference, "WAVEFORM": Reference, "SCOORD": Scoord,
    "SCOORD3D": Scoord3D, "TCOORD": Tcoord,
}
