"""dicomkit: the DICOM standard in one Python package.

The public face: ``read``, ``write``, ``Dataset``, ``DataElement``, ``Sequence``, ``Tag``,
``uid``, ``derive`` (derived images and Secondary Capture, :mod:`dicomkit.iod.derived`),
``validate`` (IOD validation, :mod:`dicomkit.iod.validate`; also ``Dataset.validate()``).
Everything heavier (numpy, codecs, networking) is imported only when used.
"""

from __future__ import annotations

from typing import Any

from dicomkit.core.dataset import Dataset, PrivateBlock
from dicomkit.core.element import DataElement, Sequence
from dicomkit.core.tag import Tag
from dicomkit.core.values import PersonName
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import write
from dicomkit.errors import DicomError, InvalidDicomError, NotSupportedError

__version__ = "0.1.0"

__all__ = [
    "DataElement", "Dataset", "DicomError", "InvalidDicomError", "NotSupportedError",
    "PersonName", "PrivateBlock", "Sequence", "Tag", "read", "write", "uid", "derive",
    "validate", "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "uid":
        from dicomkit.core import uid

        return uid
    if name == "derive":
        from dicomkit.iod.derived import derive

        return derive
    if name == "validate":
        from dicomkit.iod.validate import validate

        return validate
    raise AttributeError(f"module 'dicomkit' has no attribute {name!r}")
