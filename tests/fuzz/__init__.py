"""Coverage-guided fuzz targets (atheris/libFuzzer), one module per untrusted-input decoder.

Each target module has ``TestOneInput(data: bytes)``: it feeds ``data`` to the library and
lets through only the errors that API documents; any other exception (and a hang or an
allocation sized by an untrusted length, caught by the runner's limits) is a crash. Seed inputs
live in ``corpus/<target>/`` and inputs that once crashed in ``regressions/<target>/``;
``test_fuzz_targets.py`` replays both on every run. See docs/design/fuzzing.md.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REGRESSIONS = HERE / "regressions"

#: target name -> module under tests.fuzz
TARGETS = {
    "part10": "tests.fuzz.target_part10",
    "pdu_stream": "tests.fuzz.target_pdu_stream",
    "dimse_command": "tests.fuzz.target_dimse_command",
    "multipart": "tests.fuzz.target_multipart",
    "json_model": "tests.fuzz.target_json_model",
    "xml_model": "tests.fuzz.target_xml_model",
}


def inputs(target: str) -> list[Path]:
    """Every committed input of ``target``: its seed corpus, then its crash regressions."""
    found: list[Path] = []
    for base in (CORPUS, REGRESSIONS):
        folder = base / target
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.is_file())
    return found
