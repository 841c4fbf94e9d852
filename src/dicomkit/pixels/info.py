"""PS3.3 C.7.6.3: the Image Pixel attributes that say how one frame is laid out.

:class:`PixelInfo` gathers them once from a data set (with Number of Frames, PS3.3 C.7.6.6,
and the transfer syntax) and answers the questions every decoder and encoder asks: how many
bytes a native frame takes, which numpy dtype holds a value, which shape a frame has.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dicomkit.core.uid import ExplicitVRLittleEndian
from dicomkit.errors import InvalidDicomError, NotSupportedError

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_FLOAT_PIXEL_DATA = 0x7FE00009
EXTENDED_OFFSET_TABLE = 0x7FE00001
EXTENDED_OFFSET_TABLE_LENGTHS = 0x7FE00002
PIXEL_TAGS = (PIXEL_DATA, FLOAT_PIXEL_DATA, DOUBLE_FLOAT_PIXEL_DATA)


@dataclass(frozen=True)
class PixelInfo:
    """How the frames of one Pixel Data element are laid out (PS3.3 C.7.6.3.1)."""

    rows: int
    columns: int
    samples_per_pixel: int = 1
    bits_allocated: int = 8
    bits_stored: int = 8
    high_bit: int = 7
    pixel_representation: int = 0
    planar_configuration: int = 0
    photometric_interpretation: str = "MONOCHROME2"
    number_of_frames: int = 1
    pixel_tag: int = PIXEL_DATA
    transfer_syntax: str = ExplicitVRLittleEndian
    little_endian: bool = True

    # -- derived facts ---------------------------------------------------------------------------
    @property
    def is_float(self) -> bool:
        """Float Pixel Data (7FE0,0008) and Double Float Pixel Data (7FE0,0009), PS3.3 C.7.6.24."""
        return self.pixel_tag != PIXEL_DATA

    @property
    def is_signed(self) -> bool:
        return self.pixel_representation == 1 and not self.is_float

    @property
    def pixels_per_frame(self) -> int:
        return self.rows * self.columns

    @property
    def itemsize(self) -> int:
        """Bytes of one stored value once unpacked (1 for Bits Allocated 1)."""
        return max(1, self.bits_allocated // 8)

    @property
    def dtype(self) -> str:
        """The numpy dtype of decoded values, in native byte order."""
        if self.is_float:
            return "f8" if self.bits_allocated == 64 else "f4"
        if self.bits_allocated == 1:
            return "u1"
        return ("i" if self.pixel_representation else "u") + str(self.itemsize)

    @property
    def unused_low_bits(self) -> int:
        """Bits below the stored value: High Bit + 1 - Bits Stored (0 in current files; PS3.5
        §8.1.1 once allowed values that do not start at bit 0)."""
        return 0 if self.is_float else self.high_bit + 1 - self.bits_stored

    @property
    def is_ybr_422(self) -> bool:
        """PS3.3 C.7.6.3.1.2: native YBR_FULL_422 stores two chroma samples per pixel pair."""
        return self.photometric_interpretation == "YBR_FULL_422" and self.samples_per_pixel == 3

    @property
    def frame_bits(self) -> int:
        """Bits one native frame takes (PS3.5 §8.1.1; Bits Allocated 1 frames are packed)."""
        samples = self.samples_per_pixel
        if self.is_ybr_422 and not self.encapsulated_syntax:
            samples = 2  # Y per pixel, Cb and Cr per pair
        return self.pixels_per_frame * samples * self.bits_allocated

    @property
    def frame_length(self) -> int:
        """Bytes of one native frame (for Bits Allocated 1, rounded up: see ``frame_bits``)."""
        return (self.frame_bits + 7) // 8

    @property
    def encapsulated_syntax(self) -> bool:
        from dicomkit.encoding.transfer_syntax import for_uid

        return for_uid(self.transfer_syntax).encapsulated

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one decoded frame: (rows, cols) or (rows, cols, samples)."""
        if self.samples_per_pixel == 1:
            return (self.rows, self.columns)
        return (self.rows, self.columns, self.samples_per_pixel)

    def with_changes(self, **changes: Any) -> PixelInfo:
        return replace(self, **changes)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, ds: Dataset) -> PixelInfo:
        """Read the Image Pixel attributes of ``ds``; missing or absurd values raise."""
        tag = next((t for t in PIXEL_TAGS if t in ds), None)
        if tag is None:
            raise InvalidDicomError("the data set has no Pixel Data, Float Pixel Data or "
                                    "Double Float Pixel Data")
        rows = _int(ds, "Rows", 0x00280010, required=True)
        columns = _int(ds, "Columns", 0x00280011, required=True)
        samples = _int(ds, "SamplesPerPixel", 0x00280002, default=1)
        if tag == PIXEL_DATA:
            bits_allocated = _int(ds, "BitsAllocated", 0x00280100, required=True)
        else:
            bits_allocated = 64 if tag == DOUBLE_FLOAT_PIXEL_DATA else 32
        bits_stored = _int(ds, "BitsStored", 0x00280101, default=bits_allocated)
        high_bit = _int(ds, "HighBit", 0x00280102, default=bits_stored - 1)
        representation = _int(ds, "PixelRepresentation", 0x00280103, default=0)
        planar = _int(ds, "PlanarConfiguration", 0x00280006, default=0)
        frames = _int(ds, "NumberOfFrames", 0x00280008, default=1)
        photometric = ds.get("PhotometricInterpretation")
        photometric = str(photometric).strip() if photometric else (
            "MONOCHROME2" if samples == 1 else "RGB")
        ts = ds.transfer_syntax
        ts_uid = ts.uid if ts is not None else ExplicitVRLittleEndian
        if ds.file_meta is not None:
            # The reader relabels a data set whose bytes are not in the stated encoding
            # (implicit VR labelled explicit); the pixel data's compression is still what
            # the File Meta Information says.
            uid = ds.file_meta.get("TransferSyntaxUID")
            stated = str(uid).strip("\0 ") if uid else ""
            if stated and stated != ts_uid:
                from dicomkit.encoding.transfer_syntax import for_uid

                if for_uid(stated).encapsulated:
                    ts_uid = stated
        little = ds.is_little_endian
        info = cls(rows=rows, columns=columns, samples_per_pixel=samples,
                   bits_allocated=bits_allocated, bits_stored=bits_stored, high_bit=high_bit,
                   pixel_representation=representation, planar_configuration=planar,
                   photometric_interpretation=photometric, number_of_frames=max(frames, 1),
                   pixel_tag=tag, transfer_syntax=ts_uid, little_endian=little)
        info.check()
        return info

    def check(self) -> None:
        """Refuse combinations PS3.3 C.7.6.3.1 and PS3.5 §8 do not allow (or we cannot hold)."""
        tag = self.pixel_tag
        if self.rows <= 0 or self.columns <= 0:
            raise InvalidDicomError(f"Rows {self.rows} x Columns {self.columns} is no image",
                                    tag=tag)
        if self.samples_per_pixel not in (1, 3, 4):
            raise NotSupportedError(f"Samples per Pixel {self.samples_per_pixel} (1 or 3)")
        if self.bits_allocated not in (1, 8, 16, 32, 64):
            raise NotSupportedError(
                f"Bits Allocated {self.bits_allocated}: dicomkit reads 1, 8, 16, 32 and 64")
        if not 1 <= self.bits_stored <= self.bits_allocated:
            raise InvalidDicomError(f"Bits Stored {self.bits_stored} with Bits Allocated "
                                    f"{self.bits_allocated}", tag=0x00280101)
        if not self.is_float and not self.bits_stored - 1 <= self.high_bit < self.bits_allocated:
            raise InvalidDicomError(f"High Bit {self.high_bit} with Bits Stored "
                                    f"{self.bits_stored} and Bits Allocated "
                                    f"{self.bits_allocated}", tag=0x00280102)
        if self.pixel_representation not in (0, 1):
            raise InvalidDicomError(f"Pixel Representation {self.pixel_representation}",
                                    tag=0x00280103)


def _int(ds: Dataset, keyword: str, tag: int, *, default: int = 0,
         required: bool = False) -> int:
    if tag not in ds:
        if required:
            raise InvalidDicomError(f"{keyword} is missing; pixel data cannot be laid out",
                                    tag=tag)
        return default
    try:
        value = ds[tag].value
    except InvalidDicomError:
        raise
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        if required:
            raise InvalidDicomError(f"{keyword} is empty; pixel data cannot be laid out",
                                    tag=tag)
        return default
    try:
        return int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise InvalidDicomError(f"{keyword} {value!r} is not a number", tag=tag) from None
