#!/usr/bin/env python3
"""Generate dicomkit's IOD tables (``src/dicomkit/iod/data/``).

From the machine-readable copy of the DICOM standard (``/work/shared/dicom-standard`` or
``--source``), deterministic output:

- ``cid_concepts.tsv`` from ``ps3.16/cid_concepts.tsv`` and ``ps3.16/cids.tsv`` (PS3.16 2024c):
  ``cid keyword scheme value meaning concept_keyword``, every coded concept of every context
  group (CID), with the group's keyword.
- ``iods.tsv`` from ``ps3.3/dicom3tools_iod_modules_2024.tsv`` (PS3.3 Annex A, dicom3tools
  2024-12-20), the SOP classes that select each IOD from ``dicom3tools/condn.tpl`` and
  ``sopcl.tpl`` named by their PS3.6 keyword (``ps3.6/uids.tsv``):
  ``iod sop_classes ie module usage condition``.
- ``modules.tsv`` from ``ps3.3/dicom3tools_module_attributes_2024.tsv`` (PS3.3 Annex C, the
  modules and macros with nesting, Type and named condition), with enumerated values resolved
  from ``dicom3tools/strval/*.tpl``: ``container kind depth item name tag type condition
  enum`` where ``enum`` is ``N:V1|V2…`` (N = the value index the enumeration applies to, or
  ``*`` for every value).
- ``conditions.tsv`` from ``dicom3tools/condn.tpl``: the named conditions that are *simple* —
  no parenthesised groups, one kind of operator (all And or all Or), and clauses that test only
  presence (``ElementPresent``), a string value (``StringValue``, with ``ValueSelector``), a
  number (``BinaryValue``) or the SOP Class (``StringConstantFromRootAttribute``, written as
  the PS3.6 keyword; a clause with no Operator is joined by Or, as in dicom3tools):
  ``name operator clauses`` with clauses
  ``[!]Element:kind:value:selector`` joined by ``;``. Other conditions are left out (not
  evaluated by ``iod.check``).

Usage: ``python tools/gen_iod_tables.py [--source DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import re
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


def _block_lines(text: str, opener: str, closer: str) -> dict[str, list[str]]:
    """``opener="Name"`` … ``closer`` blocks of a dicom3tools template, by name."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(opener + '="'):
            name = stripped.split('"')[1]
            current = blocks.setdefault(name, [])
        elif stripped.startswith(closer):
            current = None
        elif current is not None:
            current.append(stripped)
    return blocks


def sop_classes_by_condition(source: Path) -> dict[str, list[str]]:
    """dicom3tools IOD detection condition -> the PS3.6 keywords of the SOP classes it names."""
    d3 = source / "dicom3tools"
    by_name: dict[str, str] = {}
    for line in (d3 / "sopcl.tpl").read_text("latin-1").splitlines():
        if 'Name="' in line and 'Uid="' in line:
            by_name[line.split('Name="')[1].split('"')[0]] = line.split('Uid="')[1].split('"')[0]
    keyword_of: dict[str, str] = {}
    for line in (source / "ps3.6" / "uids.tsv").read_text("utf-8").splitlines()[1:]:
        cells = line.split("\t")
        if cells[-1]:
            keyword_of[cells[0]] = cells[-1]
    result: dict[str, list[str]] = {}
    blocks = _block_lines((d3 / "condn.tpl").read_text("latin-1"), "Condition", "ConditionEnd")
    for name, lines in blocks.items():
        keywords = []
        for line in lines:
            if line.startswith('Element="SOPClassUID"') and "StringConstantFromRootAttribute" in line:
                constant = line.split('StringConstantFromRootAttribute="')[1].split('"')[0]
                uid = by_name.get(constant.removesuffix("SOPClassUID"))
                if uid and uid in keyword_of:
                    keywords.append(keyword_of[uid])
        if keywords:
            result[name] = keywords
    return result


def iod_rows(source: Path) -> list[list[str]]:
    sop_classes = sop_classes_by_condition(source)
    path = source / "ps3.3" / "dicom3tools_iod_modules_2024.tsv"
    result = []
    for line in path.read_text("utf-8").splitlines()[1:]:
        _tpl, iod, detect, ie, module, usage, condition = line.split("\t")
        if iod.startswith("Private") or module == "FileMetaInformation":
            continue  # PixelMed's private IODs; the file meta group is PS3.10, not the IOD
        result.append([iod, ",".join(sop_classes.get(detect, [])), ie, module, usage, condition])
    return result


def string_values(source: Path) -> dict[str, list[str]]:
    """``StringValues="Name" { V = meaning, … }`` of ``dicom3tools/strval/*.tpl``."""
    values: dict[str, list[str]] = {}
    for tpl in sorted((source / "dicom3tools" / "strval").glob("*.tpl")):
        name = None
        for line in tpl.read_text("latin-1").splitlines():
            stripped = line.strip()
            if stripped.startswith('StringValues="'):
                name = stripped.split('"')[1]
                values[name] = []
            elif stripped.startswith("}"):
                name = None
            elif name is not None and stripped:
                # "V = meaning," or "V =<TAB>meaning," ("***EMPTYVALUE***": may be empty)
                value = re.split(r"\s=(?:\s|$)", stripped.rstrip(","))[0].strip()
                values[name].append(value)
    return values


def binary_values(source: Path) -> dict[str, list[str]]:
    """``BinaryValues="Name" { 0x0001 = meaning, … }`` of ``dicom3tools/binval.tpl``, as
    decimal strings."""
    values: dict[str, list[str]] = {}
    name = None
    for line in (source / "dicom3tools" / "binval.tpl").read_text("latin-1").splitlines():
        stripped = line.split("#")[0].strip()
        if stripped.startswith('BinaryValues="'):
            name = stripped.split('"')[1]
            values[name] = []
        elif stripped.startswith("}"):
            name = None
        elif name is not None and stripped:
            number = stripped.rstrip(",").split("=")[0].strip()
            values[name].append(str(int(number, 0)))
    return values


def module_rows(source: Path) -> list[list[str]]:
    enums = string_values(source)
    binary = binary_values(source)
    path = source / "ps3.3" / "dicom3tools_module_attributes_2024.tsv"
    result = []
    for line in path.read_text("utf-8").splitlines()[1:]:
        _tpl, kind, container, depth, item, name, tag, type_, condition, other = line.split("\t")
        if not depth:
            continue  # the header row of a container
        options = dict(o.split("=", 1) for o in other.split(";") if "=" in o)
        selector = options.get("ValueSelector", "*")
        enum = defined = ""
        if options.get("StringEnumValues") in enums:
            enum = selector + ":" + "|".join(enums[options["StringEnumValues"]])
        elif options.get("BinaryEnumValues") in binary:
            enum = selector + ":" + "|".join(binary[options["BinaryEnumValues"]])
        if options.get("StringDefinedTerms") in enums:
            defined = selector + ":" + "|".join(enums[options["StringDefinedTerms"]])
        cid = ""
        for option, letter in (("EnmeratedContextID", "E"), ("DefinedContextID", "D"),
                               ("BaselineContextID", "B")):
            if options.get(option):
                cid = letter + ":" + options[option]
                break
        not_zero = ("E" if "NotZeroError" in options
                    else "W" if "NotZeroWarning" in options else "")
        tag = tag.strip("()").replace(",", "")
        result.append([container, kind, depth, item, name, tag, type_, condition, enum,
                       defined, cid, options.get("VM", ""),
                       "Y" if options.get("mbpo") == "true" else "", not_zero])
    return result


def section_rows(source: Path) -> list[list[str]]:
    """dicom3tools module/macro name -> its PS3.3 table (``Table C.7-3``; the section when
    there is no table anchor) from the innolitics ``link_to_standard``, matched on the name
    without spaces and punctuation."""
    sections: dict[str, str] = {}
    for table in ("modules.tsv", "macros.tsv"):
        for line in (source / "ps3.3" / table).read_text("utf-8").splitlines()[1:]:
            _id, name, link, _description = line.split("\t")
            if "sect_" not in link:
                continue
            section = link.split("sect_")[1].split(".html")[0]
            if "#table_" in link:  # the table itself: the section link is its parent's
                section = "Table " + link.split("#table_")[1]
            key = "".join(c for c in name.lower() if c.isalnum())
            sections.setdefault(key, section)
            sections.setdefault(key + "macro", section)
    path = source / "ps3.3" / "dicom3tools_module_attributes_2024.tsv"
    names = sorted({line.split("\t")[2] for line in path.read_text("utf-8").splitlines()[1:]})
    result = []
    for name in names:
        key = "".join(c for c in name.lower() if c.isalnum())
        if key in sections:
            result.append([name, sections[key]])
    return result


_SIMPLE_KINDS = ("ElementPresent", "StringValue", "BinaryValue", "StringConstantFromRootAttribute")


def condition_rows(source: Path) -> list[list[str]]:
    d3 = source / "dicom3tools"
    by_name: dict[str, str] = {}
    for line in (d3 / "sopcl.tpl").read_text("latin-1").splitlines():
        if 'Name="' in line and 'Uid="' in line:
            by_name[line.split('Name="')[1].split('"')[0]] = line.split('Uid="')[1].split('"')[0]
    keyword_of: dict[str, str] = {}
    for line in (source / "ps3.6" / "uids.tsv").read_text("utf-8").splitlines()[1:]:
        cells = line.split("\t")
        if cells[-1]:
            keyword_of[cells[0]] = cells[-1]
    blocks = _block_lines((d3 / "condn.tpl").read_text("latin-1"), "Condition", "ConditionEnd")
    result = []
    for name, lines in sorted(blocks.items()):
        clauses, operators, simple = [], set(), True
        for line in lines:
            line = line.split("#")[0].strip()
            if not line:
                continue
            if not line.startswith('Element="'):
                simple = False
                break
            fields = dict(part.split('="', 1) for part in
                          (f.strip() for f in line.replace('"\t', '" ').split('" ')) if '="' in part)
            fields = {k.strip(): v.rstrip('"') for k, v in fields.items()}
            kinds = [k for k in fields if k in _SIMPLE_KINDS]
            others = set(fields) - {"Element", "Operator", "Modifier", "ValueSelector", *kinds}
            if len(kinds) != 1 or others:
                simple = False
                break
            kind = kinds[0]
            value = fields[kind]
            if kind == "StringConstantFromRootAttribute":
                uid = by_name.get(value.removesuffix("SOPClassUID"))
                if uid is None or uid not in keyword_of:
                    simple = False
                    break
                value = keyword_of[uid]
            if ";" in value or ":" in value:
                simple = False
                break
            if clauses:  # dicom3tools joins a clause without an Operator by Or
                operators.add(fields.get("Operator", "Or"))
            negated = "!" if fields.get("Modifier") == "Not" else ""
            clauses.append(f"{negated}{fields['Element']}:{kind}:{value}:"
                           f"{fields.get('ValueSelector', '')}")
        if simple and clauses and len(operators) <= 1:
            result.append([name, next(iter(operators), ""), ";".join(clauses)])
    return result


def _fields(line: str) -> dict[str, str]:
    """``Key="value"`` pairs of one line of a dicom3tools condition."""
    fields: dict[str, str] = {}
    rest = line
    while '="' in rest:
        key, _, rest = rest.partition('="')
        value, _, rest = rest.partition('"')
        fields[key.split()[-1] if key.split() else key] = value
    return fields


def expression_rows(source: Path) -> list[list[str]]:
    """Every named condition of ``dicom3tools/condn.tpl`` as a JSON expression tree: a list of
    terms evaluated left to right (``op`` And/Or joins a term to what precedes it, ``not``
    negates it); a term is a clause (``el`` the element, and the test keys of the template)
    or a group (``group``: a nested list, from the template's parentheses). SOP Class
    constants are written as PS3.6 keywords."""
    import json

    d3 = source / "dicom3tools"
    by_name: dict[str, str] = {}
    for line in (d3 / "sopcl.tpl").read_text("latin-1").splitlines():
        if 'Name="' in line and 'Uid="' in line:
            by_name[line.split('Name="')[1].split('"')[0]] = line.split('Uid="')[1].split('"')[0]
    keyword_of: dict[str, str] = {}
    for line in (source / "ps3.6" / "uids.tsv").read_text("utf-8").splitlines()[1:]:
        cells = line.split("\t")
        if cells[-1]:
            keyword_of[cells[0]] = cells[-1]
    blocks = _block_lines((d3 / "condn.tpl").read_text("latin-1"), "Condition", "ConditionEnd")
    result = []
    for name, lines in sorted(blocks.items()):
        stack: list[list[dict[str, object]]] = [[]]
        for line in lines:
            line = line.split("#")[0].strip()
            if not line:
                continue
            if line == "(":
                stack.append([])
                continue
            fields = _fields(line)
            term: dict[str, object]
            if line.startswith(")"):
                term = {"group": stack.pop()}
            else:
                term = {k: v for k, v in fields.items() if k not in ("Operator", "Modifier")}
                for key in ("StringConstantFromRootAttribute", "StringConstant"):
                    if key in term:
                        uid = by_name.get(str(term[key]).removesuffix("SOPClassUID"))
                        term[key] = keyword_of.get(uid or "", "?" + str(term[key]))
            if fields.get("Operator"):
                term["op"] = fields["Operator"]
            if fields.get("Modifier") == "Not":
                term["not"] = True
            stack[-1].append(term)
        if len(stack) == 1:
            result.append([name, json.dumps(stack[0], separators=(",", ":"), sort_keys=True)])
    return result


def write_table(path: Path, header: str, table: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(header + "\n")
        for row in table:
            out.write("\t".join(row) + "\n")


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
    iods = iod_rows(args.source)
    write_table(args.out / "iods.tsv", "iod\tsop_classes\tie\tmodule\tusage\tcondition", iods)
    print(f"{len(iods)} IOD modules written to {args.out / 'iods.tsv'}")
    modules = module_rows(args.source)
    write_table(args.out / "modules.tsv",
                "container\tkind\tdepth\titem\tname\ttag\ttype\tcondition\tenum\tdefined"
                "\tcid\tvm\tmbpo\tnot_zero", modules)
    print(f"{len(modules)} module attributes written to {args.out / 'modules.tsv'}")
    conditions = condition_rows(args.source)
    write_table(args.out / "conditions.tsv", "name\toperator\tclauses", conditions)
    print(f"{len(conditions)} simple conditions written to {args.out / 'conditions.tsv'}")
    expressions = expression_rows(args.source)
    write_table(args.out / "condition_expressions.tsv", "name\texpression", expressions)
    print(f"{len(expressions)} condition expressions written to "
          f"{args.out / 'condition_expressions.tsv'}")
    sections = section_rows(args.source)
    write_table(args.out / "module_sections.tsv", "container\tsection", sections)
    print(f"{len(sections)} module sections written to {args.out / 'module_sections.tsv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
