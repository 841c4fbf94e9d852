"""Data sets for the tests: pydicom's sample files (a test-time reference only), instances
made by dicomkit, and value-by-value comparisons.

``dataset_differences`` compares two dicomkit data sets, ``pydicom_differences`` a dicomkit data
set with a pydicom one, ``decode_all`` decodes every value of a data set; ``make_instance`` makes
a small CT-like instance, ``synthetic_series`` a series of them, ``make_study_set`` the study set
the archive tests send (pydicom's CT_small.dcm and MR_small.dcm and a synthetic 5-instance CT
series).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import dicomkit
from dicomkit import write
from dicomkit.cli.sample import make_ct
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid

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
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
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


# -- instances made by dicomkit -----------------------------------------------------------------
def make_instance(*, patient_id: str = "DK-1", patient_name: str = "Doe^Jane",
                  study_uid: str | None = None, series_uid: str | None = None,
                  sop_uid: str | None = None, sop_class: str = CT_IMAGE_STORAGE,
                  study_date: str = "20240105", study_time: str = "081500",
                  modality: str = "CT", number: int = 1, **attributes: Any) -> Dataset:
    """A small CT-like instance (4x4 pixels) with the identifying attributes given; other
    keywords set attributes, and ``None`` removes one."""
    ds = make_ct(4, number, study_uid or generate_uid(), series_uid or generate_uid())
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.SOPClassUID = sop_class
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.Modality = modality
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                del ds[keyword]
        else:
            setattr(ds, keyword, value)
    return ds


def write_instance(ds: Dataset, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    write(ds, path)
    return path


def cut_instance(folder: Path) -> tuple[Path, str]:
    """A whole instance written, then its last 10 bytes (inside Pixel Data) cut off."""
    ds = make_instance()
    path = write_instance(ds, folder)
    whole = path.read_bytes()
    path.write_bytes(whole[:-10])
    assert not dicomkit.read(path, stop_before_pixels=True).is_truncated
    return path, str(ds.SOPInstanceUID)


@dataclass
class Instance:
    path: Path
    patient_id: str
    study: str
    series: str
    sop: str
    sop_class: str


@dataclass
class StudySet:
    """CT_small.dcm and MR_small.dcm from pydicom (one study each) and a synthetic study of
    one 5-instance CT series made with :func:`dicomkit.cli.sample.make_ct`."""

    folder: Path
    instances: list[Instance]
    synthetic_study: str
    synthetic_series: str

    @property
    def studies(self) -> set[str]:
        return {i.study for i in self.instances}

    @property
    def sops(self) -> set[str]:
        return {i.sop for i in self.instances}

    def sops_of(self, study: str) -> set[str]:
        return {i.sop for i in self.instances if i.study == study}

    def study_of(self, name: str) -> str:
        return next(i.study for i in self.instances if i.path.name == name)


def describe_instance(path: Path) -> Instance:
    import dicomkit

    ds = dicomkit.read(str(path), stop_before_pixels=True)
    return Instance(path, str(ds.PatientID), str(ds.StudyInstanceUID),
                    str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), str(ds.SOPClassUID))


def synthetic_series(folder: Path, count: int, size: int = 16, *, study: str | None = None,
                     series: str | None = None, **attributes: Any) -> list[Path]:
    """``count`` CT instances of one series, named after their SOP Instance UIDs."""
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid
    from dicomkit.encoding.writer import write

    folder.mkdir(parents=True, exist_ok=True)
    study = study or generate_uid()
    series = series or generate_uid()
    paths = []
    for number in range(1, count + 1):
        ds = make_ct(size, number, study, series)
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        write(ds, str(path))
        paths.append(path)
    return paths


def make_study_set(folder: Path) -> StudySet:
    """The study set in ``folder``: see :class:`StudySet`."""
    from dicomkit.core.uid import generate_uid

    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(pydicom_file(name), folder / name)
    study, series = generate_uid(), generate_uid()
    synthetic_series(folder, 5, study=study, series=series, PatientID="DK-SERVE-1",
                     PatientName="Serve^Test")
    instances = [describe_instance(p) for p in sorted(folder.iterdir())]
    return StudySet(folder, instances, study, series)
