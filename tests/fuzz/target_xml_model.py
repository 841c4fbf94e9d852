"""Fuzz target: a Native DICOM Model document (PS3.19 Annex A.1) through ``from_xml``, then
every value materialised and the data set written again as XML, DICOM JSON and PS3.10 bytes.

Documented errors: ``ValueError`` (not well-formed XML, or not the model) and
:class:`dicomkit.errors.DicomError`.
"""

from __future__ import annotations

from dicomkit.encoding.xml import from_xml, to_xml
from dicomkit.errors import DicomError
from tests.fuzz.target_json_model import encode_again
from tests.fuzz.target_part10 import materialise


def TestOneInput(data: bytes) -> None:
    try:
        ds = from_xml(data)
        materialise(ds)
    except (DicomError, ValueError):
        return
    encode_again(ds)
    try:
        to_xml(ds)
    except (DicomError, ValueError):
        pass
