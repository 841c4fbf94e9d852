"""The compiled core: which hot loops run as C, and the switch back to pure Python.

dicomkit's byte-level hot loops (the data set element walker, PDU reassembly and P-DATA
fragmenting, the DIMSE command codec, the ingest record) each have a pure-Python
implementation, the reference, and a compiled twin written in Cython (``_*.pyx`` next to the
module it speeds up, built by the package build: ``pip install .`` or ``pip install -e .``
needs no extra step). A module asks for its twin with :func:`load`::

    from dicomkit import native
    _c = native.load("dicomkit.encoding._walk")   # None: use the pure path

and keeps both paths; the compiled one must give byte-for-byte the same results, errors
included (tests/native compares them on the suite's files and on fuzzed input).

``DICOMKIT_PURE=1`` in the environment selects the pure-Python path everywhere (read once, at
import). Without it a twin that cannot be imported (a source checkout that was never built)
falls back to the pure path and is listed in :data:`missing`; ``dicomkit --version`` says so,
and the suite fails when anything is missing in a build that should have it.

Standard library only: every layer may use it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

PURE = os.environ.get("DICOMKIT_PURE", "").strip() not in ("", "0")

TWINS: tuple[str, ...] = (
    "dicomkit.encoding._lazy",
    "dicomkit.core._vr",
    "dicomkit.encoding._reader",
    "dicomkit.net._dimse",
    "dicomkit.net._pdu",
    "dicomkit.encoding._json",
    "dicomkit.services._identifiers",
    "dicomkit.web._qido",
)
"""Every compiled module, by dotted name: one per ``_*.pyx`` under src/dicomkit (a test checks
the two agree). :func:`load` takes only these names."""

loaded: dict[str, ModuleType] = {}
"""Compiled modules in use, by name."""
missing: dict[str, str] = {}
"""Compiled modules asked for but not importable (name → why); their pure twins run."""


def load(name: str) -> ModuleType | None:
    """The compiled module ``name``, or None when the pure path is selected or it is not
    built (then ``name`` is recorded in :data:`missing`)."""
    if name not in TWINS:
        raise ValueError(f"{name} is not a compiled module listed in dicomkit.native.TWINS")
    if PURE:
        return None
    if name in loaded:
        return loaded[name]
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        missing[name] = str(error)
        return None
    loaded[name] = module
    return module


def mode() -> str:
    """``compiled``, ``pure`` (DICOMKIT_PURE set) or ``partly compiled`` (some missing)."""
    if PURE:
        return "pure"
    for name in TWINS:
        load(name)
    return "partly compiled" if missing else "compiled"


def describe() -> str:
    """One line for ``dicomkit --version``: the mode, and what is missing when partly."""
    if PURE:
        return "pure Python: DICOMKIT_PURE is set"
    for name in TWINS:
        load(name)
    if missing:
        return "compiled core partly missing: " + ", ".join(sorted(missing))
    return "compiled core"


def compiled(name: str) -> ModuleType:
    """The compiled module ``name`` whatever the mode (for tests and benchmarks that compare
    it with its pure twin); ImportError when it is not built."""
    if name not in TWINS:
        raise ValueError(f"{name} is not a compiled module listed in dicomkit.native.TWINS")
    return importlib.import_module(name)
