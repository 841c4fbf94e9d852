"""The layering of shared/ARCHITECTURE.md and docs/design/README.md, checked by reading the imports.

Every ``import`` of a dicomkit module counts, wherever it stands: at the top of a module,
inside a function (deferred) or under ``if TYPE_CHECKING:`` (for the layers; an import made
for type annotations only does not run, so it does not make a cycle). The rules:

- a package imports only the packages its layer may import (``ALLOWED``);
- no module imports a leading-underscore name, or a leading-underscore module, of another
  module;
- there is no import cycle between modules, except through the deliberate facades that
  ``FACADES`` lists (``Dataset.pixel_array``/``frame()`` reaching pixels/, lazy values
  materialised by encoding/, ``Dataset.validate()`` reaching iod/validate), all deferred
  imports in core/dataset.py;
- UIDs come from the generated registry (``core.uid.registered``): no UID literal of the
  standard's root in src/ outside core/uid.py.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dicomkit"

# Top-level modules (dicomkit/errors.py and the like) sit below every package.
BASE = "<base>"
ALLOWED: dict[str, set[str]] = {
    BASE: set(),
    "core": {BASE},
    "encoding": {BASE, "core"},
    "pixels": {BASE, "core", "encoding"},
    "net": {BASE, "core", "encoding"},
    "audit": {BASE, "core"},
    # IOD definitions and builders (module tables, requirement checks, derived images and
    # Secondary Capture, encapsulated documents), beneath the object families built on them.
    "iod": {BASE, "core", "encoding", "pixels"},
    "sr": {BASE, "core", "encoding", "pixels", "iod"},
    "seg": {BASE, "core", "encoding", "pixels", "iod"},
    "deid": {BASE, "core", "encoding", "pixels", "iod"},
    "media": {BASE, "core", "encoding", "pixels", "iod"},
    "hl7": {BASE, "core", "encoding"},  # HL7 v2 over MLLP, mapped to DICOM (RIS feed)
    "services": {BASE, "core", "encoding", "pixels", "net", "audit"},
    "archive": {BASE, "core", "encoding", "pixels", "net", "services", "audit",
                "sr", "seg", "iod", "deid", "media", "hl7"},
    "web": {BASE, "core", "encoding", "pixels", "net", "services", "archive", "audit",
            "sr", "seg", "iod", "deid", "media", "hl7"},
    "cli": {BASE, "core", "encoding", "pixels", "net", "services", "archive", "web", "audit",
            "sr", "seg", "iod", "deid", "media", "hl7"},
}
# The public face (dicomkit/__init__.py) re-exports from below; nothing imports it back
# except cli/ (for __version__).
FACE = "dicomkit"

# (importer, imported): deferred imports that are deliberate facades (docs/design/README.md).
FACADES = {
    ("dicomkit.core.dataset", "dicomkit.encoding.lazy"),
    ("dicomkit.core.dataset", "dicomkit.pixels.native"),
    ("dicomkit.core.dataset", "dicomkit.iod.validate"),
}

# What issue 11 found and is removing; each entry is (importer, imported, what). The list only
# shrinks: a new violation fails the test, and so does an entry that no longer occurs.
KNOWN: set[tuple[str, str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = ("dicomkit",) + path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> str:
    parts = module.split(".")
    if module == FACE:
        return FACE
    if len(parts) == 2 and module not in {m.rsplit(".", 1)[0] for m in MODULES if "." in m}:
        return BASE
    return parts[1]


def _typing_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.update(id(n) for child in node.body for n in ast.walk(child))
    return found


def _imports() -> list[tuple[str, str, list[str], bool]]:
    """(importer, imported module, names imported from it, runs at run time) for every
    dicomkit import."""
    edges = []
    for module, path in MODULES.items():
        package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = _typing_only(tree)
        for node in ast.walk(tree):
            runs = id(node) not in typing_only
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if package else module.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("dicomkit"):
                    continue
                names = [alias.name for alias in node.names]
                # "from dicomkit.pkg import module" imports a module, not a name.
                plain = [n for n in names if f"{target}.{n}" not in MODULES]
                for n in names:
                    if f"{target}.{n}" in MODULES:
                        edges.append((module, f"{target}.{n}", [], runs))
                if plain or len(plain) == len(names):
                    edges.append((module, target, plain, runs))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("dicomkit"):
                        edges.append((module, alias.name, [], runs))
    return [edge for edge in edges if edge[1] in MODULES and edge[0] != edge[1]]


def _violations() -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, names, runs in _imports():
        if runs:
            graph[importer].add(imported)
        src_layer, dst_layer = _layer(importer), _layer(imported)
        if (importer, imported) in FACADES:
            pass
        elif imported == FACE and src_layer != "cli" and importer != FACE:
            found.add((importer, imported, "imports the public face"))
        elif (src_layer not in (FACE,) and dst_layer != src_layer and dst_layer != FACE
              and dst_layer not in ALLOWED.get(src_layer, set())):
            found.add((importer, imported, f"layer {src_layer} -> {dst_layer}"))
        if any(part.startswith("_") and part != "__init__" for part in imported.split(".")):
            found.add((importer, imported, "private module"))
        for name in names:
            if name.startswith("_") and not name.startswith("__"):
                found.add((importer, imported, f"private {name}"))
    for importer, imported in FACADES:
        graph[importer].discard(imported)
    for component in _cycles(graph):
        for importer in component:
            for imported in graph[importer] & component:
                found.add((importer, imported, "cycle"))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []
    counter = 0
    for root in list(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(component)
    return result


def test_every_package_has_a_layer() -> None:
    packages = {_layer(m) for m in MODULES} - {FACE, BASE}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)


def test_imports_keep_the_layering() -> None:
    found = _violations()
    assert sorted(found - KNOWN) == [], "new layering violations"
    assert sorted(KNOWN - found) == [], "fixed: remove these from KNOWN"


def test_facades_are_deferred_imports() -> None:
    """The two facade edges are the only imports from core/ upwards, and only inside a function."""
    for importer, imported in FACADES:
        tree = ast.parse(MODULES[importer].read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == imported]
        assert not top, (importer, imported)


UID_LITERAL = re.compile(r"""["']1\.2\.840\.10008\.[0-9.]+["']""")


@pytest.mark.parametrize("path", sorted(p for p in SRC.rglob("*.py") if p.name != "uid.py"
                                        or p.parent.name != "core"),
                         ids=lambda p: str(p.relative_to(SRC)))
def test_uids_come_from_the_registry(path: Path) -> None:
    code = [line for line in path.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith("#")]
    assert not [line for line in code if UID_LITERAL.search(line)]
