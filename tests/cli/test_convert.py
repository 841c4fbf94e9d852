"""``dicomkit convert``: lossless round trips among the four uncompressed transfer syntaxes.

For every pydicom sample file in an uncompressed transfer syntax and every ordered pair of
syntaxes (A, B): original -> A (first generation, written by dicomkit) -> B -> A (third
generation). Every value must survive, and the third generation must be byte for byte the first.
"""

from __future__ import annotations

import itertools
import os
import warnings
from functools import cache
from pathlib import Path

import pytest

import dicomkit
from dicomkit.cli.main import main
from dicomkit.core import dictionary
from tests.support.datasets import (
    UNCOMPRESSED_SYNTAXES,
    UNCOMPRESSED_UIDS,
    dataset_differences,
    pydicom_data_dir,
)

# Sample files that are broken on purpose (cut short, or with a junk first byte): reading them
# is the robustness tests' business, not a round trip's.
BROKEN = {"MR_truncated.dcm", "rtplan_truncated.dcm", "no_meta.dcm"}


def _uncompressed_samples() -> list[str]:
    """pydicom's sample files whose transfer syntax (per pydicom) is one of the four."""
    import pydicom

    names = []
    for folder in ("test_files", "charset_files"):
        for path in sorted((pydicom_data_dir() / folder).glob("*.dcm")):
            if path.name in BROKEN:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - not a file pydicom can classify
                continue
            uid = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta is not None else None
            if uid is None or uid in UNCOMPRESSED_UIDS.values():
                names.append(path.name)
    return names


SAMPLES = _uncompressed_samples()
PAIRS = list(itertools.permutations(UNCOMPRESSED_SYNTAXES, 2))


def _path(name: str) -> Path:
    base = pydicom_data_dir()
    path = base / "test_files" / name
    return path if path.exists() else base / "charset_files" / name


def _convert(source: Path, target: Path, syntax: str) -> None:
    status = main(["convert", str(source), str(target), "-t", syntax])
    assert status == 0, f"convert {source.name} -> {syntax} exited {status}"


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """original -> A -> B -> A with the CLI; the three generations' paths, made once."""

    @cache
    def run(name: str, first: str, second: str) -> tuple[Path, Path, Path]:
        folder = tmp_path_factory.mktemp(f"{Path(name).stem}-{first}-{second}")
        generations = folder / "gen1.dcm", folder / "gen2.dcm", folder / "gen3.dcm"
        _convert(_path(name), generations[0], first)
        _convert(generations[0], generations[1], second)
        _convert(generations[1], generations[2], first)
        return generations

    return run


def test_there_are_uncompressed_samples_in_every_syntax() -> None:
    found = {dicomkit.read(_path(n)).transfer_syntax.uid for n in SAMPLES}
    assert set(UNCOMPRESSED_UIDS.values()) <= found
    assert len(SAMPLES) >= 30


@pytest.mark.parametrize(("first", "second"), PAIRS)
@pytest.mark.parametrize("name", SAMPLES)
def test_convert_round_trip_keeps_every_value(round_trip, name: str, first: str,  # type: ignore[no-untyped-def]
                                              second: str) -> None:
    gen1, gen2, gen3 = round_trip(name, first, second)
    original = dicomkit.read(_path(name))
    for generation, syntax in ((gen1, first), (gen2, second), (gen3, first)):
        ds = dicomkit.read(generation)
        assert ds.transfer_syntax.uid == UNCOMPRESSED_UIDS[syntax]
        problems = dataset_differences(original, ds)
        assert not problems, f"{generation.name} ({syntax}):\n" + "\n".join(problems)


def _vrs_implicit_vr_loses(explicit: dicomkit.Dataset, implicit: dicomkit.Dataset) -> list[str]:
    """Elements whose explicit VR an implicit VR reading cannot give back, if that is all that
    differs: "OB or OW" data (8-bit Pixel Data held as OW in an explicit VR file, say: an
    implicit VR reading gives one VR for both) and private elements no private dictionary knows
    (read back as UN). Else ``[]``."""
    lost = []
    pairs = zip(explicit.walk(), implicit.walk(), strict=True)
    for (_, ours), (_, read_back) in pairs:
        if ours.VR == read_back.VR:
            continue
        entry = dictionary.entry(ours.tag)
        if {ours.VR, read_back.VR} == {"OB", "OW"} and entry and "OB or OW" in entry.vr:
            lost.append(f"{ours.tag} {ours.VR}->{read_back.VR}")
        elif ours.tag.is_private and read_back.VR == "UN":
            lost.append(f"{ours.tag} {ours.VR}->UN")
        else:
            return []
    return lost


@pytest.mark.parametrize(("first", "second"), PAIRS)
@pytest.mark.parametrize("name", SAMPLES)
def test_convert_round_trip_is_byte_identical_from_the_second_generation(
    round_trip, name: str, first: str, second: str  # type: ignore[no-untyped-def]
) -> None:
    gen1, gen2, gen3 = round_trip(name, first, second)
    written, rewritten = gen1.read_bytes(), gen3.read_bytes()
    if written != rewritten and second == "ImplicitVRLittleEndian":
        lost = _vrs_implicit_vr_loses(dicomkit.read(gen1), dicomkit.read(gen2))
        if lost:
            # Known limitation (reported): implicit VR does not carry these VRs, so the third
            # generation's explicit VR headers differ from the first's.
            pytest.xfail(f"VR not carried by implicit VR: {', '.join(lost[:5])}")
    assert written == rewritten, _first_difference(written, rewritten)


def _first_difference(a: bytes, b: bytes) -> str:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first difference at byte {index} (0x{index:x}) of {len(a)} / {len(b)}"
    return f"lengths differ: {len(a)} / {len(b)}"


# -- errors --------------------------------------------------------------------------------
def test_convert_to_a_compressed_syntax_fails_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.dcm"
    status = main(["convert", str(_path("CT_small.dcm")), str(out), "-t", "1.2.840.10008.1.2.4.50"])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.startswith("dicomkit convert: ")
    assert "Traceback" not in captured.err
    assert "JPEG Baseline" in captured.err or "1.2.840.10008.1.2.4.50" in captured.err
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p != "out.dcm"]  # no temporary left over


def test_convert_to_an_unknown_syntax_name_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.dcm"
    status = main(["convert", str(_path("CT_small.dcm")), str(out), "-t", "NoSuchSyntax"])
    captured = capsys.readouterr()
    assert status == 1
    assert "NoSuchSyntax" in captured.err and "Traceback" not in captured.err
    assert not out.exists()


def test_convert_of_a_missing_input_fails(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["convert", str(tmp_path / "absent.dcm"), str(tmp_path / "out.dcm"),
                   "-t", "explicit"])
    assert status == 1
    assert "absent.dcm" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "uid"), [
    ("implicit", "1.2.840.10008.1.2"),
    ("ExplicitVRBigEndian", "1.2.840.10008.1.2.2"),
    ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.1.99"),
])
def test_convert_accepts_short_names_keywords_and_uids(tmp_path: Path, name: str,
                                                       uid: str) -> None:
    out = tmp_path / "out.dcm"
    _convert(_path("MR_small.dcm"), out, name)
    assert dicomkit.read(out).file_meta.TransferSyntaxUID == uid


@pytest.mark.parametrize("syntax", ["explicit", "deflated"])
def test_convert_never_puts_encapsulated_pixel_data_into_a_native_syntax(
    tmp_path: Path, syntax: str
) -> None:
    # SC_rgb_jpeg.dcm: JPEG Baseline in the meta, but a data set in implicit VR, which the
    # reader reports as Implicit VR Little Endian; its Pixel Data still holds JPEG fragments,
    # which convert decodes (dicomkit.pixels.transcode) rather than copies.
    out = tmp_path / "out.dcm"
    status = main(["convert", str(_path("SC_rgb_jpeg.dcm")), str(out), "-t", syntax])
    assert status == 0
    again = dicomkit.read(out)
    assert not again[0x7FE00010].is_undefined_length
    assert again.pixel_array.shape == (256, 256, 3)


def test_convert_keeps_an_encapsulated_file_in_its_own_syntax(tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    _convert(_path("JPEG2000.dcm"), out, "1.2.840.10008.1.2.4.91")
    original, again = dicomkit.read(_path("JPEG2000.dcm")), dicomkit.read(out)
    assert bytes(again[0x7FE00010].raw) == bytes(original[0x7FE00010].raw)
    assert not dataset_differences(original, again)
