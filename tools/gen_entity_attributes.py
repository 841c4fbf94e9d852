#!/usr/bin/env python3
"""Generate dicomkit's table of the Patient and Study information entities' attributes
(``src/dicomkit/iod/data/entity_attributes.tsv``).

Reads ``ps3.3/dicom3tools_iod_modules_2024.tsv`` (which module belongs to which information
entity in each IOD of PS3.3 Annex A) and ``ps3.3/dicom3tools_module_attributes_2024.tsv`` (the
attributes of each module) of the machine-readable copy of the DICOM standard
(``/work/shared/dicom-standard`` or ``--source``) and writes one sorted table
``entity module tag keyword type``: the top-level attributes of every module that some IOD puts
in the Patient or Study entity (Patient, Clinical Trial Subject, General Study, Patient Study,
Clinical Trial Study; modules of a single IOD's profile left out). ``dicomkit.iod.entity`` copies these from an instance to a new
object of the same patient and study (e.g. ``dicomkit wrap --like``). Deterministic output.

Usage: ``python tools/gen_entity_attributes.py [--source DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/dicom-standard")
DEFAULT_OUT = ROOT / "src" / "dicomkit" / "iod" / "data"
ENTITIES = ("Patient", "Study")


def rows(source: Path) -> list[list[str]]:
    modules: dict[str, str] = {}
    uses: dict[str, int] = {}
    lines = (source / "ps3.3" / "dicom3tools_iod_modules_2024.tsv").read_text("utf-8")
    for line in lines.splitlines()[1:]:
        cells = line.split("\t")
        entity, module = cells[3], cells[4]
        if entity in ENTITIES:
            modules[module] = entity
            uses[module] = uses.get(module, 0) + 1
    # A module only one IOD puts there is a profile's constraint (e.g. the QTUS ultrasound
    # profile's study pseudo-module), not part of the entity every object shares.
    modules = {module: entity for module, entity in modules.items() if uses[module] > 1}
    containers: dict[tuple[str, str], list[list[str]]] = {}
    lines = (source / "ps3.3" / "dicom3tools_module_attributes_2024.tsv").read_text("utf-8")
    for line in lines.splitlines()[1:]:
        cells = line.split("\t")
        containers.setdefault((cells[1], cells[2]), []).append(cells)
    found: dict[tuple[str, str, str], list[str]] = {}

    def top_level(kind: str, name: str, entity: str, module: str) -> None:
        """The depth-0 attributes of a module or macro, macros invoked at depth 0 expanded."""
        for cells in containers.get((kind, name), []):
            depth, item, keyword, tag, type_ = cells[3:8]
            if depth != "0":
                continue
            if item == "InvokeMacro":
                top_level("Macro", keyword, entity, module)
            elif item in ("Attribute", "Sequence") and tag:
                found[(entity, module, tag)] = [entity, module, tag, keyword, type_]

    for module, entity in modules.items():
        top_level("Module", module, entity, module)
    return [found[key] for key in sorted(found)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    table = [["entity", "module", "tag", "keyword", "type"], *rows(args.source)]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "entity_attributes.tsv"
    path.write_text("".join("\t".join(r) + "\n" for r in table), "utf-8")
    print(f"{path}: {len(table) - 1} attributes")


if __name__ == "__main__":
    main()
