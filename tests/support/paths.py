"""Where things are: the repository, its ``src`` folder and the tests' own data files.

Tests read files inside the repository only (and files that installed packages ship, such as
pydicom's sample files): facts from the standard that a test checks against are copied into
``tests/data/standard`` (see the README there).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DATA = ROOT / "tests" / "data"
STANDARD = DATA / "standard"
