"""The compiled core is built and in use (or, with DICOMKIT_PURE=1, not used at all).

The suite runs twice in CI (tools/test.sh): once as installed, with the compiled core, and once
with ``DICOMKIT_PURE=1``. These tests make sure each run is what it says: a build that lost a
compiled module would otherwise pass quietly on the pure path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dicomkit
from dicomkit import native

SRC = Path(dicomkit.__file__).parent


def pyx_modules() -> set[str]:
    return {".".join(("dicomkit", *p.relative_to(SRC).with_suffix("").parts))
            for p in SRC.glob("**/_*.pyx")}


def test_twins_are_exactly_the_pyx_files() -> None:
    assert set(native.TWINS) == pyx_modules()
    assert len(native.TWINS) == len(set(native.TWINS))


def test_every_compiled_module_is_built_and_loaded_unless_pure() -> None:
    if native.PURE:
        assert native.mode() == "pure"
        assert not native.loaded
        return
    for name in native.TWINS:
        native.load(name)
    assert not native.missing, native.missing
    assert native.mode() == "compiled"
    for name in native.TWINS:
        assert native.loaded[name].__file__.endswith(".so"), name


def test_unknown_names_are_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="TWINS"):
        native.load("dicomkit.encoding.nothing")


def test_the_environment_variable_selects_the_pure_path() -> None:
    env = {**os.environ, "DICOMKIT_PURE": "1"}
    code = "from dicomkit import native; print(native.mode())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "pure"
    out = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "--version"], env=env,
                         capture_output=True, text=True, check=True)
    assert "DICOMKIT_PURE" in out.stdout
    env["DICOMKIT_PURE"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "compiled"
