"""Every data file under src/dicomkit is installed with the package: a wheel (not only the
editable install the README uses) must carry the generated tables the code reads."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dicomkit"


def test_every_data_file_matches_a_package_data_pattern() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["dicomkit"]
    missing = []
    for path in PACKAGE.rglob("*"):
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        if path.name.startswith("_") and path.suffix in (".pyx", ".c", ".so"):
            continue  # the compiled core: its sources and build output are setup.py's extensions
        relative = path.relative_to(PACKAGE).as_posix()
        if not any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
            missing.append(relative)
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
