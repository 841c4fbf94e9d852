"""Shared fixtures and helpers for the dicomkit tests.

Fixtures: ``pydicom_files`` / ``charset_files`` (pydicom's bundled sample files, a test-time
reference only) and ``dcmtk`` (the DCMTK command-line tools). Tests marked ``@pytest.mark.dcmtk``
or using the ``dcmtk`` fixture FAIL, not skip, when the tools are missing: CI installs them.

Helpers (imported as ``from tests.conftest import ...``): ``dataset_differences`` compares two
dicomkit data sets value by value, ``pydicom_differences`` a dicomkit data set with a pydicom
one, ``decode_all`` decodes every value of a data set, ``parse_dcmdump`` reads dcmdump output.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

DCMTK_TOOLS = ("dcmdump", "dcmconv", "dump2dcm", "dcmodify")
UNCOMPRESSED_SYNTAXES = (
    "ImplicitVRLittleEndian",
    "ExplicitVRLittleEndian",
    "DeflatedExplicitVRLittleEndian",
    "ExplicitVRBigEndian",
)
UNCOMPRESSED_UIDS = {
    "ImplicitVRLittleEndian": "1.2.840.10008.1.2",
    "ExplicitVRLittleEndian": "1.2.840.10008.1.2.1",
    "DeflatedExplicitVRLittleEndian": "1.2.840.10008.1.2.1.99",
    "ExplicitVRBigEndian": "1.2.840.10008.1.2.2",
}
_BYTE_VRS = frozenset({"OB", "OW", "UN"})
_SWAP = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


# -- pydicom's sample files ------------------------------------------------------------------
@cache
def pydicom_data_dir() -> Path:
    import pydicom

    return Path(os.path.dirname(pydicom.__file__)) / "data"


def pydicom_file(name: str) -> Path:
    """A file of pydicom's test_files (or charset_files, for the chr*.dcm names)."""
    base = pydicom_data_dir()
    path = base / "test_files" / name
    return path if path.exists() else base / "charset_files" / name


@pytest.fixture(scope="session")
def pydicom_files() -> Path:
    return pydicom_data_dir() / "test_files"


@pytest.fixture(scope="session")
def charset_files() -> Path:
    return pydicom_data_dir() / "charset_files"


# -- DCMTK -------------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dcmtk: needs the DCMTK tools (dcmdump, dcmconv, dump2dcm, dcmodify); "
        "fails when they are missing"
    )


def _missing_tools() -> list[str]:
    return [tool for tool in DCMTK_TOOLS if shutil.which(tool) is None]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("dcmtk") is not None:
        missing = _missing_tools()
        if missing:
            pytest.fail(f"DCMTK tools not found on PATH: {', '.join(missing)} "
                        "(install the Debian package 'dcmtk')", pytrace=False)


@dataclass
class Dcmtk:
    """Runs the DCMTK tools; output is decoded as Latin-1 so any byte survives."""

    paths: dict[str, str]

    def run(self, tool: str, *args: Any, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.paths[tool], *[str(a) for a in args]],
            capture_output=True, encoding="latin-1", check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{tool} {' '.join(map(str, args))} exited {result.returncode}:\n"
                        f"{result.stderr}{result.stdout[-2000:]}")
        return result


@pytest.fixture(scope="session")
def dcmtk() -> Dcmtk:
    missing = _missing_tools()
    if missing:
        pytest.fail(f"DCMTK tools not found on PATH: {', '.join(missing)} "
                    "(install the Debian package 'dcmtk')", pytrace=False)
    return Dcmtk({tool: shutil.which(tool) or tool for tool in DCMTK_TOOLS})


_DUMP_LINE = re.compile(
    r"^(?P<indent> *)\((?P<group>[0-9a-fA-F]{4}),(?P<elem>[0-9a-fA-F]{4})\) (?P<vr>\S\S) "
    r"(?P<value>.*?) *# +(?P<length>\S+), (?P<vm>\d+) (?P<name>.*)$"
)


def parse_dcmdump(text: str, *, section: str = "Dicom-Data-Set") -> dict[int, tuple[str, str]]:
    """Top-level lines of one section of ``dcmdump`` output as ``{tag: (vr, printed value)}``."""
    found: dict[int, tuple[str, str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("# Dicom-"):
            current = line[2:].strip()
            continue
        match = _DUMP_LINE.match(line)
        if match is None or current != section or match["indent"]:
            continue
        tag = int(match["group"] + match["elem"], 16)
        found[tag] = (match["vr"], match["value"])
    return found


# -- comparing data sets -----------------------------------------------------------------------
def decode_all(ds: Any) -> int:
    """Decode every value of a dicomkit data set, recursively; the number of elements seen."""
    count = 0
    for element in ds:
        count += 1
        value = element.value
        if element.VR == "SQ":
            for item in value:
                count += decode_all(item)
    return count


def _even(data: bytes) -> bytes:
    return data + b"\0" if len(data) & 1 else data


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == b"" or value == []


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 90 else text[:87] + "..."


def _dk_plain(value: Any) -> Any:
    """A dicomkit value in plain Python types (PersonName -> str, Tag -> int, list items)."""
    if isinstance(value, list):
        return [_dk_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _plain_pn(value: Any) -> Any:
    """PS3.5 §6.2.1: trailing empty components and component groups carry no meaning."""
    if isinstance(value, list):
        return [_plain_pn(v) for v in value]
    if isinstance(value, str):
        return "=".join(group.rstrip("^") for group in value.split("=")).rstrip("=")
    return value


def _decode_as(vr: str, raw: bytes, charsets: Any) -> Any:
    from dicomkit.core.vr import decode_value

    return decode_value(vr, raw, True, charsets)


def dataset_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Every element-level difference between two dicomkit data sets, recursively.

    Values are compared decoded. Group lengths (gggg,0000) are left out (writers recompute
    them). OB, OW and UN values are compared as (little endian, even length) bytes, so the VR
    an implicit VR reading gives to pixel data or an unknown private element does not count;
    a UN value compared with a known VR is decoded with that VR first.
    """
    problems: list[str] = []
    tags_a = {t for t in a.tags() if t & 0xFFFF}
    tags_b = {t for t in b.tags() if t & 0xFFFF}
    for tag in sorted(tags_a ^ tags_b):
        side = "first" if tag in tags_a else "second"
        problems.append(f"{path}{_tag(tag)} only in the {side} data set")
    for tag in sorted(tags_a & tags_b):
        ea, eb = a[tag], b[tag]
        where = f"{path}{_tag(tag)}"
        if ea.VR == "SQ" or eb.VR == "SQ":
            if ea.VR != eb.VR:
                problems.append(f"{where} VR {ea.VR} != {eb.VR}")
                continue
            if len(ea.value) != len(eb.value):
                problems.append(f"{where} has {len(ea.value)} != {len(eb.value)} items")
                continue
            for number, (ia, ib) in enumerate(zip(ea.value, eb.value, strict=True)):
                problems += dataset_differences(ia, ib, f"{where}[{number}]")
            continue
        va, vb = ea.value, eb.value
        if ea.VR in _BYTE_VRS and eb.VR in _BYTE_VRS:
            va, vb = _even(bytes(va or b"")), _even(bytes(vb or b""))
        elif ea.VR != eb.VR and "UN" in (ea.VR, eb.VR):
            if ea.VR == "UN":
                va = _decode_as(eb.VR, bytes(va or b""), eb.charsets)
            else:
                vb = _decode_as(ea.VR, bytes(vb or b""), ea.charsets)
        elif ea.VR != eb.VR:
            problems.append(f"{where} VR {ea.VR} != {eb.VR}")
            continue
        va, vb = _dk_plain(va), _dk_plain(vb)
        if ea.VR == "PN":
            va, vb = _plain_pn(va), _plain_pn(vb)
        if not (_is_empty(va) and _is_empty(vb)) and not _same(va, vb):
            problems.append(f"{where} {ea.VR} {_short(va)} != {eb.VR} {_short(vb)}")
    return problems


def _pd_plain(value: Any, vr: str, little: bool) -> Any:
    """A pydicom value in plain Python types, bytes in little endian order like dicomkit's."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import PersonName as PdPersonName

    if isinstance(value, (list, MultiValue)):
        return [_pd_plain(v, vr, little) for v in value]
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        if not little and vr in _SWAP:
            from dicomkit.core.vr import swap_bytes

            data = swap_bytes(data, _SWAP[vr])
        return data
    if isinstance(value, PdPersonName):
        return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _pd_elements(pds: Any) -> Iterator[Any]:
    for element in pds:
        if element.tag.element == 0:
            continue
        yield element


def pydicom_differences(dk: Any, pd: Any, *, little: bool = True, path: str = "") -> list[str]:
    """Every difference between a dicomkit data set and a pydicom one, recursively.

    pydicom's types are normalised: DSfloat/IS to float/int, PersonName to str, MultiValue to
    list, raw OW/OF/... bytes of a big endian file to little endian. Where pydicom gives UN and
    dicomkit a known VR (a private element dicomkit's private dictionary knows), pydicom's bytes
    are decoded with dicomkit's VR; OB/OW/UN values are compared as even-length bytes.
    """
    problems: list[str] = []
    pd_map = {int(e.tag): e for e in _pd_elements(pd)}
    dk_tags = {t for t in dk.tags() if t & 0xFFFF}
    for tag in sorted(set(pd_map) ^ dk_tags):
        side = "dicomkit" if tag in dk_tags else "pydicom"
        problems.append(f"{path}{_tag(tag)} only in {side}'s data set")
    for tag in sorted(set(pd_map) & dk_tags):
        ek, ep = dk[tag], pd_map[tag]
        where = f"{path}{_tag(tag)}"
        if ek.VR == "SQ" or ep.VR == "SQ":
            if ek.VR != ep.VR:
                problems.append(f"{where} VR dicomkit {ek.VR} != pydicom {ep.VR}")
                continue
            if len(ek.value) != len(ep.value):
                problems.append(f"{where}: {len(ek.value)} != {len(ep.value)} items")
                continue
            for number, (ik, ip) in enumerate(zip(ek.value, ep.value, strict=True)):
                problems += pydicom_differences(ik, ip, little=little, path=f"{where}[{number}]")
            continue
        vk = _dk_plain(ek.value)
        vp = _pd_plain(ep.value, ep.VR, little)
        if ek.VR in _BYTE_VRS and ep.VR in _BYTE_VRS:
            vk, vp = _even(vk or b""), _even(vp or b"")
        elif ep.VR == "UN" and ek.VR != "UN":
            vp = _dk_plain(_decode_as(ek.VR, bytes(ep.value or b""), ek.charsets))
        elif ek.VR != ep.VR:
            problems.append(f"{where} VR dicomkit {ek.VR} != pydicom {ep.VR}")
            continue
        if ek.VR == "PN":
            vk, vp = _plain_pn(vk), _plain_pn(vp)
        if ek.VR == "AT" and isinstance(vp, int) and isinstance(vk, list) and len(vk) == 1:
            vk = vk[0]
        if not (_is_empty(vk) and _is_empty(vp)) and not _same(vk, vp):
            problems.append(f"{where} {ek.VR}: dicomkit {_short(vk)} != pydicom {_short(vp)}")
    return problems
