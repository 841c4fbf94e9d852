"""dicomkit's DICOM JSON (PS3.18 Annex F) against pydicom 3.0.2 over pydicom's own test files.

For every file of ``pydicom/data/test_files`` (recursively) and ``pydicom/data/charset_files``
that pydicom can read (``dcmread(force=True)``) and JSON-encode (``to_json_dict()``),
``dicomkit.encoding.json.to_json_dict(dicomkit.read(f))`` must equal pydicom's output after the
normalisation below. Each normalisation rule undoes one deliberate difference, where dicomkit
follows the standard and pydicom does not (D1-D5), or where the standard allows both libraries'
choices (D6, the VR of an ambiguous element read from an implicit VR file); the rules and the
standard sections that decide them are listed in ``docs/json-differences.md``. The rules are
narrow: the test records, file by file, which rule changed which attribute, and that record must
equal ``EXPECTED_RULES`` exactly (D6: stay within ``MAY_FIRE``), so a rule that starts firing
anywhere new (or stops firing) fails the test.

pydicom is used here as a reference only; the package itself never imports it.
"""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

pydicom = pytest.importorskip("pydicom")

from dicomkit.core.dictionary import vrs_for_tag  # noqa: E402
from dicomkit.core.vr import SWAP_SIZE, swap_bytes  # noqa: E402
from dicomkit.encoding.json import to_json_dict  # noqa: E402
from dicomkit.encoding.reader import read  # noqa: E402
from dicomkit.errors import InvalidDicomError  # noqa: E402

DATA = Path(pydicom.__file__).parent / "data"

# Files pydicom "reads" only because force=True turns any bytes into elements: they are not
# DICOM, and dicomkit rejects them with InvalidDicomError (checked below).
NOT_DICOM = {
    "test_files/README.txt": "text",
    "test_files/dicomdirtests/README.txt": "text",
    "test_files/dicomdirtests/TINY_ALPHA/README": "text",
    "test_files/rtplan.dump": "text (dcmdump output)",
    "test_files/rtstruct.dump": "text (dcmdump output)",
    "test_files/test1.json": "JSON",
    "test_files/test_PN.json": "JSON",
    "test_files/zipMR.gz": "gzip",
    "test_files/crayons.icc": "ICC colour profile",
    "charset_files/FileInfo.txt": "text",
    # A stray byte (0x20) before the first element; pydicom reads one garbage element
    # (0820,0500) of 173 MB declared length, dicomkit refuses the length.
    "test_files/no_meta.dcm": "corrupt: one stray leading byte",
}

GL = "group-length"  # D1: (gggg,0000) left out, PS3.18 F.2.2
EMPTY_SQ = "empty-sequence"  # D2: zero-length SQ has no "Value", PS3.18 F.2.5
NULL = "empty-value-null"  # D3: empty value in a multi-valued element is null, PS3.18 F.2.5
SPACE = "trailing-space"  # D4: insignificant trailing spaces of a value, PS3.5 §6.2
ENDIAN = "little-endian-binary"  # D5: InlineBinary is little endian, PS3.18 F.2.7 / 8.7.3.3.1
AMBIGUOUS = "ambiguous-implicit-vr"  # D6: an implicit VR file's "OB or OW"-like VR, PS3.5 A.1

EXPECTED_RULES: dict[str, dict[str, set[str]]] = {
    "charset_files/chrH31.dcm": {NULL: {"00080005"}},
    "charset_files/chrI2.dcm": {NULL: {"00080005"}},
    "charset_files/chrJapMulti.dcm": {
        GL: {"00080000", "00100000", "00180000", "00190000", "00200000", "00280000",
             "20200000", "300A0000", "300E0000"},
        NULL: {"00080005"},
    },
    "charset_files/chrJapMultiExplicitIR6.dcm": {
        GL: {"00080000", "00100000", "00180000", "00190000", "00200000", "00280000",
             "20200000", "300A0000", "300E0000"},
    },
    "charset_files/chrKoreanMulti.dcm": {
        GL: {"00080000", "00100000", "00180000", "00190000", "00200000", "00280000",
             "20200000", "300A0000", "300E0000"},
        NULL: {"00080005"},
    },
    "test_files/693_J2KI.dcm": {
        GL: {"00080000", "00100000", "00180000", "00200000", "00280000", "00400000",
             "7FE00000"},
        SPACE: {"00080008"},
    },
    "test_files/ExplVR_BigEnd.dcm": {
        GL: {"00080000", "00100000", "00180000", "00200000", "00280000", "7FE00000"},
    },
    "test_files/MR_small_bigendian.dcm": {ENDIAN: {"7FE00010"}},
    "test_files/MR_small_expb.dcm": {ENDIAN: {"7FE00010"}},
    "test_files/SC_rgb_gdcm_KY.dcm": {SPACE: {"00080008"}},
    "test_files/SC_rgb_jpeg_lossy_gdcm.dcm": {SPACE: {"00080008"}},
    "test_files/SC_rgb_small_odd_big_endian.dcm": {ENDIAN: {"7FE00010"}},
    "test_files/dicomdirtests/DICOMDIR-empty.dcm": {EMPTY_SQ: {"00041220"}},
    "test_files/examples_overlay.dcm": {NULL: {"00080008"}},
    "test_files/examples_ybr_color.dcm": {NULL: {"00185010"}},
    "test_files/reportsi.dcm": {EMPTY_SQ: {"00081111", "0040A372"}},
    "test_files/reportsi_with_empty_number_tags.dcm": {EMPTY_SQ: {"00081111", "0040A372"}},
    "test_files/rtdose_expb.dcm": {ENDIAN: {"7FE00010"}},
    "test_files/rtdose_expb_1frame.dcm": {ENDIAN: {"7FE00010"}},
    "test_files/test-SR.dcm": {EMPTY_SQ: {"00081111", "0040A073/1/0040A088", "0040A372"}},
}

# D6 is a choice between two VRs the standard both allows, made by dicomkit.core.ambiguous:
# where it is allowed to fire (it need not, if both libraries choose alike).
MAY_FIRE: dict[str, dict[str, set[str]]] = {
    # Implicit VR Little Endian, Bits Allocated 8: pydicom says OW (PS3.5 A.1 (c)), dicomkit
    # may give OB, the VR explicit VR uses for 8-bit Pixel Data (PS3.5 A.2); same bytes.
    "test_files/SC_rgb_jpeg_dcmd.dcm": {AMBIGUOUS: {"7FE00010"}},
}

# VRs whose values PS3.5 §6.2 says may carry insignificant trailing spaces (string VRs that are
# not text: LT, ST, UT, UR keep their trailing spaces as data... and are not split into values).
_STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "SH", "TM", "UC", "UI"}


def _files() -> list[str]:
    names = []
    for sub in ("test_files", "charset_files"):
        for path in sorted((DATA / sub).rglob("*")):
            if path.is_file():
                names.append(path.relative_to(DATA).as_posix())
    return names


def _pydicom_json(name: str) -> dict[str, Any] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(DATA / name, force=True)
            # through JSON text, so that both sides are plain JSON types (pydicom gives UID,
            # PersonName... str subclasses) and pydicom's output is checked to be JSON at all
            return json.loads(json.dumps(ds.to_json_dict()))
        except Exception:  # noqa: BLE001 - pydicom cannot encode it: not part of the comparison
            return None


class _Normaliser:
    """Undo the deliberate differences in pydicom's output, recording what was changed."""

    def __init__(self, big_endian: bool, implicit: bool) -> None:
        self.big_endian = big_endian
        self.implicit = implicit
        self.fired: dict[str, set[str]] = {}

    def note(self, rule: str, path: str) -> None:
        self.fired.setdefault(rule, set()).add(path)

    def dataset(
        self, model: dict[str, Any], ours: dict[str, Any], prefix: str = ""
    ) -> dict[str, Any]:
        out = {}
        for key, attr in model.items():
            path = prefix + key
            if int(key, 16) & 0xFFFF == 0:
                self.note(GL, path)
                continue
            out[key] = self.attribute(int(key, 16), dict(attr), ours.get(key) or {}, path)
        return out

    def attribute(
        self, tag: int, attr: dict[str, Any], ours: dict[str, Any], path: str
    ) -> dict[str, Any]:
        vr = attr["vr"]
        other = ours.get("vr")
        if self.implicit and other and other != vr and {vr, other} <= set(vrs_for_tag(tag)):
            self.note(AMBIGUOUS, path)
            attr["vr"] = vr = other
        if vr == "SQ":
            items = attr.get("Value")
            if items == []:
                self.note(EMPTY_SQ, path)
                del attr["Value"]
            elif items:
                mine = ours.get("Value") or []
                attr["Value"] = [
                    self.dataset(item, mine[i] if i < len(mine) else {}, f"{path}/{i}/")
                    for i, item in enumerate(items)
                ]
            return attr
        if "InlineBinary" in attr and self.big_endian and vr in SWAP_SIZE:
            data = base64.b64decode(attr["InlineBinary"])
            attr["InlineBinary"] = base64.b64encode(swap_bytes(data, SWAP_SIZE[vr])).decode()
            self.note(ENDIAN, path)
            return attr
        values = attr.get("Value")
        if values and vr in _STRING_VRS:
            new = []
            for value in values:
                if isinstance(value, str) and value != value.rstrip(" "):
                    self.note(SPACE, path)
                    value = value.rstrip(" ")
                if value == "" and len(values) > 1:
                    self.note(NULL, path)
                    value = None
                new.append(value)
            attr["Value"] = new
        return attr


def _diff(expected: Any, got: Any, path: str = "") -> list[str]:
    """Readable differences between two JSON models (InlineBinary compared as bytes)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(expected) | set(got)):
            where = f"{path}/{key}" if path else key
            if key not in got:
                out.append(f"{where}: missing in dicomkit ({expected[key]!r:.100})")
            elif key not in expected:
                out.append(f"{where}: only in dicomkit ({got[key]!r:.100})")
            elif key == "InlineBinary":
                a, b = base64.b64decode(expected[key]), base64.b64decode(got[key])
                if a != b:
                    out.append(f"{where}: {len(a)} bytes {a[:16]!r} != {len(b)} bytes {b[:16]!r}")
            else:
                out += _diff(expected[key], got[key], where)
        return out
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        out = []
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            out += _diff(a, b, f"{path}[{i}]")
        return out
    if expected != got or type(expected) is not type(got):
        return [f"{path}: pydicom {expected!r:.120} != dicomkit {got!r:.120}"]
    return []


FILES = _files()


@pytest.mark.parametrize("name", FILES)
def test_same_json_as_pydicom(name: str) -> None:
    if name in NOT_DICOM:
        with pytest.raises(InvalidDicomError):
            read(DATA / name)
        return
    reference = _pydicom_json(name)
    if reference is None:
        pytest.skip("pydicom 3.0.2 cannot read or JSON-encode this file")
    ds = read(DATA / name)
    ts = ds.transfer_syntax
    normaliser = _Normaliser(big_endian=ts is not None and not ts.little,
                             implicit=ds.is_implicit_VR)
    got = json.loads(json.dumps(to_json_dict(ds), allow_nan=False))
    expected = normaliser.dataset(reference, got)
    problems = _diff(expected, got)
    assert not problems, "\n".join(problems)
    fired = dict(normaliser.fired)
    optional = MAY_FIRE.get(name, {})
    for rule, paths in optional.items():
        assert fired.pop(rule, set()) <= paths, f"{rule} fired outside its documented tags"
    assert fired == EXPECTED_RULES.get(name, {}), (
        "normalisation rules fired differently from the documented list"
    )


def test_expected_rules_name_real_files() -> None:
    assert set(EXPECTED_RULES) <= set(FILES) and set(MAY_FIRE) <= set(FILES)
    assert set(NOT_DICOM) <= set(FILES)


def test_the_comparison_covers_the_collection() -> None:
    compared = [
        name for name in FILES if name not in NOT_DICOM and _pydicom_json(name) is not None
    ]
    # pydicom 3.0.2 ships ~140 files here; all but the non-DICOM ones and badVR.dcm compare.
    assert len(compared) >= 100, len(compared)
