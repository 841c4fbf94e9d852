"""Fuzz target: a DICOM JSON Model object (PS3.18 Annex F) through ``from_json``, then every
value materialised and the data set written again as DICOM JSON and as PS3.10 bytes (what
STOW-RS of metadata does with it).

Documented errors: ``ValueError`` (not JSON, or not the model; ``json.JSONDecodeError`` is one)
and :class:`dicomkit.errors.DicomError` (a value the binary encoding cannot carry).
"""

from __future__ import annotations

from typing import Any

from dicomkit.encoding.json import from_json, to_json
from dicomkit.encoding.writer import to_bytes
from dicomkit.errors import DicomError
from tests.fuzz.target_part10 import materialise


def encode_again(ds: Any) -> None:
    for encode in (to_json, to_bytes):
        try:
            encode(ds)
        except (DicomError, ValueError):
            pass


def TestOneInput(data: bytes) -> None:
    try:
        ds = from_json(data)
        materialise(ds)
    except (DicomError, ValueError):
        return
    encode_again(ds)
