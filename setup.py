"""The build of dicomkit's compiled core (see src/dicomkit/native.py).

Every ``src/dicomkit/**/_*.pyx`` is cythonized and compiled into the module of the same
dotted name. The metadata lives in pyproject.toml; this file only lists the extensions.
Bounds checks stay on (the input is untrusted); negative indexing is turned off so a
negative index is an error rather than a wrap-around.
"""

from __future__ import annotations

from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent
SOURCES = sorted((ROOT / "src").glob("dicomkit/**/_*.pyx"))

extensions = [
    Extension(
        ".".join(path.relative_to(ROOT / "src").with_suffix("").parts),
        [str(path.relative_to(ROOT))],
        extra_compile_args=["-O2"],
    )
    for path in SOURCES
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": True,
            "wraparound": False,
            "initializedcheck": True,
            "cdivision": False,
            "embedsignature": True,
        },
    ),
)
