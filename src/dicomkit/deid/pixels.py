"""Clean Pixel Data (PS3.15 E.3.1): blank the parts of an image where identifying text is
burned in.

Where to blank comes from two places:

- **region rules**, a TOML or JSON file the user writes for the devices they know
  (:meth:`Rules.load`): each rule names any of Manufacturer, Manufacturer's Model Name, Rows and
  Columns to match (all that it names must match; text compares without case and surrounding
  spaces) and ``regions``, boxes ``[left, top, right, bottom]`` in pixels, right and bottom
  excluded; every matching rule's boxes are blanked;
- the **Sequence of Ultrasound Regions** (PS3.3 C.8.5.5): in an ultrasound image everything
  outside the regions' boxes (Region Location Min X0/Y0 … Max X1/Y1, inclusive) is blanked,
  since that is where scanners write the patient's name and the date.

Blanked pixels take stored value 0, in every frame and every sample. Burned In Annotation
(0028,0301) becomes NO once something was blanked. Compressed pixel data is decoded, cleaned and
encoded again in its own transfer syntax when that is lossless; a lossy source is stored
uncompressed (explicit VR little endian) after cleaning rather than compressed a second time.
An image that says it has burned-in annotation (YES) and that no rule covers is refused.

Overlays (PS3.3 C.9.2) kept under Clean Graphics are blanked in the same boxes, placed by
Overlay Origin.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.deid.report import Change, DeidError, Report

if TYPE_CHECKING:
    import numpy as np

PIXEL_DATA = 0x7FE00010
BURNED_IN_ANNOTATION = 0x00280301
Box = tuple[int, int, int, int]


class RulesError(ValueError):
    """A region rules file that cannot be used (the message names the file and the rule)."""


@dataclass(frozen=True)
class Rule:
    manufacturer: str | None = None
    model: str | None = None
    rows: int | None = None
    columns: int | None = None
    regions: tuple[Box, ...] = ()

    def matches(self, ds: Dataset) -> bool:
        def same(wanted: str | None, keyword: str) -> bool:
            return wanted is None or str(ds.get(keyword) or "").strip().lower() == \
                wanted.strip().lower()

        def equal(wanted: int | None, keyword: str) -> bool:
            return wanted is None or ds.get(keyword) == wanted
        return (same(self.manufacturer, "Manufacturer")
                and same(self.model, "ManufacturerModelName")
                and equal(self.rows, "Rows") and equal(self.columns, "Columns"))


@dataclass(frozen=True)
class Rules:
    """The region rules of Clean Pixel Data."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def load(cls, path: str | Path) -> Rules:
        """Rules from a ``.toml`` file (``[[rule]]`` tables) or a ``.json`` file (``{"rule":
        [...]}``)."""
        path = Path(path)
        try:
            text = path.read_text("utf-8")
            data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RulesError(f"{path}: {exc}") from exc
        return cls.from_data(data, str(path))

    @classmethod
    def from_data(cls, data: Any, where: str = "rules") -> Rules:
        if not isinstance(data, dict) or not isinstance(data.get("rule", []), list):
            raise RulesError(f"{where}: expected a table with a list 'rule'")
        found = []
        for index, item in enumerate(data.get("rule", [])):
            here = f"{where}: rule {index + 1}"
            if not isinstance(item, dict):
                raise RulesError(f"{here}: not a table")
            unknown = set(item) - {"manufacturer", "model", "rows", "columns", "regions"}
            if unknown:
                raise RulesError(f"{here}: unknown key(s) {', '.join(sorted(unknown))}")
            for key in ("manufacturer", "model"):
                if key in item and not isinstance(item[key], str):
                    raise RulesError(f"{here}: {key} must be text")
            for key in ("rows", "columns"):
                if key in item and (not isinstance(item[key], int) or item[key] < 1):
                    raise RulesError(f"{here}: {key} must be a positive whole number")
            boxes = []
            for box in item.get("regions", []):
                if (not isinstance(box, list) or len(box) != 4
                        or not all(isinstance(v, int) and v >= 0 for v in box)
                        or box[2] <= box[0] or box[3] <= box[1]):
                    raise RulesError(f"{here}: region {box!r} is not [left, top, right, "
                                     "bottom] with right > left and bottom > top")
                boxes.append((box[0], box[1], box[2], box[3]))
            if not boxes:
                raise RulesError(f"{here}: no regions")
            found.append(Rule(item.get("manufacturer"), item.get("model"), item.get("rows"),
                              item.get("columns"), tuple(boxes)))
        return cls(tuple(found))

    def regions_for(self, ds: Dataset) -> list[Box]:
        return [box for rule in self.rules if rule.matches(ds) for box in rule.regions]


def ultrasound_regions(ds: Dataset) -> list[Box]:
    """The boxes of the Sequence of Ultrasound Regions, as [left, top, right, bottom)."""
    boxes = []
    for item in ds.get("SequenceOfUltrasoundRegions") or []:
        values = [item.get(k) for k in ("RegionLocationMinX0", "RegionLocationMinY0",
                                        "RegionLocationMaxX1", "RegionLocationMaxY1")]
        if all(isinstance(v, int) for v in values) and values[2] >= values[0] \
                and values[3] >= values[1]:
            boxes.append((values[0], values[1], values[2] + 1, values[3] + 1))
    return boxes


def _mask(rows: int, columns: int, blank: list[Box], keep: list[Box],
          row_offset: int = 0, column_offset: int = 0) -> np.ndarray:
    """True where a pixel is to be blanked (coordinates of the image, shifted for an
    overlay by its origin)."""
    import numpy as np

    mask = np.zeros((rows, columns), dtype=bool)
    for left, top, right, bottom in blank:
        mask[max(0, top - row_offset):max(0, bottom - row_offset),
             max(0, left - column_offset):max(0, right - column_offset)] = True
    if keep:
        outside = np.ones((rows, columns), dtype=bool)
        for left, top, right, bottom in keep:
            outside[max(0, top - row_offset):max(0, bottom - row_offset),
                    max(0, left - column_offset):max(0, right - column_offset)] = False
        mask |= outside
    return mask


def clean_pixel_data(ds: Dataset, rules: Rules | None, report: Report, *,
                     overlays: Sequence[int] = ()) -> Dataset:
    """``ds`` with the rules' regions (and what lies outside its ultrasound regions) blanked;
    ``overlays``: the overlay groups to blank the same way (removed when there is nothing to
    blank)."""
    blank = rules.regions_for(ds) if rules is not None else []
    keep = ultrasound_regions(ds)
    if not blank and not keep:
        said = str(ds.get("BurnedInAnnotation") or "").strip().upper()
        if said == "YES":
            raise DeidError("clean-pixel-data: Burned In Annotation is YES and no region rule "
                            f"matches (Manufacturer {ds.get('Manufacturer')!r}, model "
                            f"{ds.get('ManufacturerModelName')!r}, {ds.get('Rows')}x"
                            f"{ds.get('Columns')}): give a rule for it (--regions)")
        report.notes.append("clean-pixel-data: no region rule matches and no ultrasound "
                            f"regions; pixel data kept (Burned In Annotation {said or 'absent'})")
        for group in overlays:
            _remove_group(ds, group, report)
        return ds
    out = _blank(ds, blank, keep, report)
    for group in overlays:
        _blank_overlay(out, group, blank, keep, report)
    out.set(BURNED_IN_ANNOTATION, "NO", "CS")
    report.changes.append(Change(f"{BURNED_IN_ANNOTATION:08X}", "BurnedInAnnotation", "C",
                                 None, "NO"))
    return out


def _blank(ds: Dataset, blank: list[Box], keep: list[Box], report: Report) -> Dataset:
    import numpy as np

    from dicomkit.encoding import transfer_syntax as ts_mod
    from dicomkit.pixels.info import PixelInfo
    from dicomkit.pixels.native import pixel_array
    from dicomkit.pixels.raw import encode_native
    from dicomkit.pixels.transcode import transcode

    source = ds.transfer_syntax or ts_mod.EXPLICIT_VR_LITTLE_ENDIAN
    native = ds
    if source.encapsulated:
        native = transcode(ds, ts_mod.EXPLICIT_VR_LITTLE_ENDIAN)
    info = PixelInfo.from_dataset(native)
    if info.bits_allocated == 1 or info.pixel_tag != PIXEL_DATA:
        raise DeidError("clean-pixel-data: 1-bit and float pixel data are not cleaned")
    frames = np.array(pixel_array(native, as_rgb=False)).reshape(
        (info.number_of_frames, *info.shape))
    mask = _mask(info.rows, info.columns, blank, keep)
    frames[:, mask] = 0
    data = encode_native(frames, info.with_changes(little_endian=True))
    if len(data) & 1:
        data += b"\0"
    native = native.copy() if native is ds else native
    native[PIXEL_DATA] = DataElement(PIXEL_DATA, "OB" if info.bits_allocated <= 8 else "OW",
                                     data)
    report.changes.append(Change(f"{PIXEL_DATA:08X}", "PixelData", "C", None,
                                 f"{int(mask.sum())} pixel(s) per frame blanked"))
    if source.encapsulated:
        from dicomkit.pixels.codecs import codec_for

        if codec_for(source.uid).lossy:
            report.notes.append(f"clean-pixel-data: the source was {source.name} (lossy); the "
                                "cleaned pixel data is stored uncompressed")
        else:
            native = transcode(native, source)
    return native


def _remove_group(ds: Dataset, group: int, report: Report) -> None:
    for tag in [t for t in ds.tags() if t >> 16 == group]:
        del ds[tag]
        report.changes.append(Change(f"{tag:08X}", f"({group:04X},{tag & 0xFFFF:04X})", "X",
                                     None, None))
    report.notes.append(f"group {group:04X} removed: an overlay with nothing to clean it by")


def _blank_overlay(ds: Dataset, group: int, blank: list[Box], keep: list[Box],
                   report: Report) -> None:
    """PS3.3 C.9.2: Overlay Data bits blanked where the image is (Overlay Origin is 1-based)."""
    import numpy as np

    base = group << 16
    rows, columns = ds.get(base | 0x0010), ds.get(base | 0x0011)
    rows = rows.value if rows is not None else None
    columns = columns.value if columns is not None else None
    data = ds.get(base | 0x3000)
    if not isinstance(rows, int) or not isinstance(columns, int) or data is None:
        _remove_group(ds, group, report)
        return
    origin = ds.get(base | 0x0050)
    origin_value = origin.value if origin is not None else [1, 1]
    if not isinstance(origin_value, list) or len(origin_value) != 2:
        origin_value = [1, 1]
    per_frame = rows * columns
    bits = np.unpackbits(np.frombuffer(data.value_bytes(), dtype=np.uint8), bitorder="little")
    count = len(bits) // per_frame if per_frame else 0
    if count < 1:
        _remove_group(ds, group, report)
        return
    planes = bits[:count * per_frame].reshape((count, rows, columns)).copy()
    mask = _mask(rows, columns, blank, keep, int(origin_value[0]) - 1,
                 int(origin_value[1]) - 1)
    planes[:, mask] = 0
    packed = np.packbits(planes.ravel(), bitorder="little").tobytes()
    if len(packed) & 1:
        packed += b"\0"
    ds[base | 0x3000] = DataElement(base | 0x3000, data.VR, packed)
    report.changes.append(Change(f"{base | 0x3000:08X}", f"({group:04X},3000)", "C", None,
                                 f"{int(mask.sum())} overlay bit(s) per frame blanked"))
