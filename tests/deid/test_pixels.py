"""Clean Pixel Data (PS3.15 E.3.1): regions blanked exactly, in native and compressed pixel
data, from rules and from the Sequence of Ultrasound Regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.deid import DeidError, Rules, RulesError, deidentify
from dicomkit.pixels.transcode import transcode
from tests.support.images import grayscale

KEY = "k"


def _image(**attributes: object) -> Dataset:
    pixels = np.full((2, 12, 10), 1000, dtype=np.uint16)
    pixels[1] = 2000
    ds = grayscale(pixels, Manufacturer="ACME", ManufacturerModelName="Scope 1",
                   BurnedInAnnotation="YES", **attributes)
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "P1"
    return ds


RULES = Rules.from_data({"rule": [
    {"manufacturer": "acme", "model": "Scope 1", "rows": 12, "columns": 10,
     "regions": [[2, 3, 6, 8]]},
    {"manufacturer": "OTHER", "regions": [[0, 0, 10, 12]]},
]})


def _expected(before: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    after = before.copy()
    for left, top, right, bottom in boxes:
        after[..., top:bottom, left:right] = 0
    return after


def test_the_rule_regions_are_blanked_exactly_in_every_frame() -> None:
    ds = _image()
    out, report = deidentify(ds, ["clean-pixel-data"], key=KEY, rules=RULES)
    assert np.array_equal(out.pixel_array, _expected(ds.pixel_array, [(2, 3, 6, 8)]))
    assert out.BurnedInAnnotation == "NO"
    assert any(c.path == "PixelData" for c in report.changes)
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert "113101" in codes


@pytest.mark.parametrize("syntax", ["RLELossless", "JPEG2000Lossless", "JPEGLSLossless"])
def test_compressed_pixel_data_is_decoded_cleaned_and_encoded_losslessly(syntax: str) -> None:
    ds = _image()
    compressed = transcode(ds, syntax)
    out, _ = deidentify(compressed, ["clean-pixel-data"], key=KEY, rules=RULES)
    assert out.transfer_syntax.uid == compressed.transfer_syntax.uid
    assert np.array_equal(out.pixel_array, _expected(ds.pixel_array, [(2, 3, 6, 8)]))


def test_outside_the_ultrasound_regions_is_blanked() -> None:
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 1, 2
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 7, 9
    ds = _image(SequenceOfUltrasoundRegions=[region])
    out, _ = deidentify(ds, ["clean-pixel-data"], key=KEY)
    expected = np.zeros_like(ds.pixel_array)
    expected[:, 2:10, 1:8] = ds.pixel_array[:, 2:10, 1:8]
    assert np.array_equal(out.pixel_array, expected)


def test_burned_in_annotation_with_no_rule_is_refused() -> None:
    ds = _image()
    ds.Manufacturer = "NOBODY"
    with pytest.raises(DeidError, match="no region rule matches"):
        deidentify(ds, ["clean-pixel-data"], key=KEY, rules=RULES)


def test_an_image_without_burned_in_text_and_no_rule_is_kept() -> None:
    ds = _image()
    ds.Manufacturer = "NOBODY"
    ds.BurnedInAnnotation = "NO"
    out, report = deidentify(ds, ["clean-pixel-data"], key=KEY, rules=RULES)
    assert np.array_equal(out.pixel_array, ds.pixel_array)
    assert any("pixel data kept" in n for n in report.notes)


def test_an_overlay_kept_under_clean_graphics_is_blanked_in_the_same_regions() -> None:
    ds = _image()
    ds.set(0x60000010, 12, "US")
    ds.set(0x60000011, 10, "US")
    ds.set(0x60000040, "G", "CS")
    ds.set(0x60000050, [1, 1], "SS")
    ds.set(0x60000100, 1, "US")
    ds.set(0x60000102, 0, "US")
    ds.set(0x60003000, np.packbits(np.ones(120, np.uint8), bitorder="little").tobytes(), "OW")
    out, _ = deidentify(ds, ["clean-pixel-data", "clean-graphics"], key=KEY, rules=RULES)
    bits = np.unpackbits(np.frombuffer(out[0x60003000].value, np.uint8),
                         bitorder="little")[:120].reshape(12, 10)
    assert bits[3:8, 2:6].sum() == 0 and bits.sum() == 120 - 20


def test_rules_files_in_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "r.toml"
    toml.write_text('[[rule]]\nmanufacturer = "ACME"\nregions = [[0, 0, 5, 5]]\n')
    assert Rules.load(toml).rules[0].regions == ((0, 0, 5, 5),)
    bad = tmp_path / "r.json"
    bad.write_text('{"rule": [{"regions": [[5, 0, 1, 5]]}]}')
    with pytest.raises(RulesError, match="rule 1: region"):
        Rules.load(bad)
    with pytest.raises(RulesError, match="r.toml"):
        toml.write_text("[[rule]\n")
        Rules.load(toml)


def test_a_written_cleaned_file_reads_back(tmp_path: Path) -> None:
    out, _ = deidentify(transcode(_image(), "RLELossless"), ["clean-pixel-data"], key=KEY,
                        rules=RULES)
    path = tmp_path / "x.dcm"
    dicomkit.write(out, path)
    again = dicomkit.read(path)
    assert again.BurnedInAnnotation == "NO" and again.pixel_array[0, 4, 3] == 0
