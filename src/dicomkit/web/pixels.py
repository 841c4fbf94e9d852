"""What the DICOMweb services need of pixel data: frames as stored, frames decoded, rendered
images and transcoding.

Frames of native Pixel Data (PS3.5 §8.1) are byte ranges of the file, found here without
numpy. Everything that needs a codec or rendering goes through :mod:`dicomkit.pixels`, imported
only when asked; when that part is not there :class:`Unavailable` is raised, which the routes
answer with 406 or 501 ("not supported yet").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.json import binary_value
from dicomkit.encoding.transfer_syntax import is_native
from dicomkit.errors import DicomError, NotSupportedError

PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
UNCOMPRESSED_UIDS = frozenset(ts.uid for ts in ts_mod.UNCOMPRESSED)


class Unavailable(Exception):
    """The pixel data part of dicomkit cannot do this (yet): codec or renderer missing."""


class NotRenderable(ValueError):
    """The presentation asked for does not apply to this image (a window on colour, say)."""


def pixel_tag(ds: Dataset) -> int | None:
    return next((tag for tag in PIXEL_TAGS if tag in ds), None)


def _int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword)
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def frame_count(ds: Dataset) -> int:
    return max(1, _int(ds, "NumberOfFrames", 1))


@dataclass
class NativeFrames:
    """Where native frames lie: in the file (``offset``) or in memory (``data``)."""

    frame_bytes: int
    offset: int | None = None
    data: bytes | memoryview | None = None


def native_frames(ds: Dataset, file_backed: bool) -> NativeFrames:
    """PS3.5 §8.1.1: frames of native pixel data follow each other, each Rows × Columns ×
    Samples per Pixel × Bits Allocated / 8 bytes (YBR_FULL_422: two samples a pixel)."""
    tag = pixel_tag(ds)
    if tag is None:
        raise LookupError("the instance has no pixel data")
    bits = _int(ds, "BitsAllocated", 8 if tag == 0x7FE00010 else 32)
    samples = _int(ds, "SamplesPerPixel", 1)
    if str(ds.get("PhotometricInterpretation") or "").strip() == "YBR_FULL_422":
        samples = 2
    total_bits = _int(ds, "Rows", 0) * _int(ds, "Columns", 0) * samples * bits
    if total_bits % 8:
        raise Unavailable(f"frames of Bits Allocated {bits} do not start on byte boundaries")
    size = total_bits // 8
    entry = ds.raw_entry(tag)
    if (file_backed and type(entry) is tuple and ds.is_little_endian
            and not entry[3]):
        return NativeFrames(size, offset=entry[1])
    return NativeFrames(size, data=binary_value(ds[tag]))


def stored_frame(ds: Dataset, index: int) -> bytes | memoryview:
    """Frame ``index`` (from 0) of encapsulated pixel data, as stored (PS3.5 A.4)."""
    try:
        from dicomkit.pixels.native import PixelSource
    except ImportError as exc:
        raise Unavailable(f"dicomkit.pixels is not available: {exc}") from exc
    try:
        return PixelSource(ds).index().frame_bytes(index)
    except (DicomError, AttributeError) as exc:
        raise Unavailable(f"frame {index + 1} cannot be located: {exc}") from exc


def decoded_frame(ds: Dataset, index: int) -> bytes:
    """Frame ``index`` (from 0) decompressed: the native little endian bytes (PS3.5 §8.1)."""
    try:
        from dicomkit.pixels.native import frame
    except ImportError as exc:
        raise Unavailable(f"decoding pixel data is not supported yet ({exc})") from exc
    try:
        array = frame(ds, index, as_rgb=False)
    except NotSupportedError as exc:
        raise Unavailable(str(exc)) from exc
    return bytes(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def transcode_available() -> bool:
    try:
        from dicomkit.pixels import transcode

        return hasattr(transcode, "transcode")
    except ImportError:
        return False


def transcoded(ds: Dataset, uid: str) -> bytes:
    """The Part 10 file of ``ds`` in transfer syntax ``uid``: among the uncompressed syntaxes
    by the writer alone, otherwise through :func:`dicomkit.pixels.transcode.transcode`."""
    from dicomkit.encoding.writer import to_bytes

    source = ds.transfer_syntax.uid if ds.transfer_syntax else ts_mod.EXPLICIT_VR_LITTLE_ENDIAN.uid
    if is_native(source) and is_native(uid):
        return to_bytes(ds, transfer_syntax=uid)
    try:
        from dicomkit.pixels.transcode import transcode
    except ImportError as exc:
        raise Unavailable(f"transcoding pixel data is not supported yet ({exc})") from exc
    try:
        # The client named this transfer syntax: a lossy one is what it asked for.
        converted = transcode(ds, uid, lossy_ok=True)
    except NotSupportedError as exc:
        raise Unavailable(str(exc)) from exc
    return to_bytes(converted if converted is not None else ds, transfer_syntax=uid)


# -- rendering (PS3.18 §8.3.5.1, §10.4.1.1.3) ---------------------------------------------------
def _render_module() -> Any:
    try:
        from dicomkit.pixels import render
    except ImportError as exc:
        raise Unavailable(f"rendering is not supported yet ({exc})") from exc
    if not hasattr(render, "render"):
        raise Unavailable("rendering is not supported yet")
    return render


def rendering_available() -> bool:
    try:
        _render_module()
    except Unavailable:
        return False
    return True


def _fit(image: Any, width: int, height: int) -> Any:
    """Nearest-neighbour scaling into a width × height viewport, keeping the aspect ratio."""
    import numpy as np

    rows, cols = image.shape[:2]
    scale = min(width / cols, height / rows)
    new_rows, new_cols = max(1, round(rows * scale)), max(1, round(cols * scale))
    if (new_rows, new_cols) == (rows, cols):
        return image
    row_index = np.minimum((np.arange(new_rows) / scale).astype(int), rows - 1)
    col_index = np.minimum((np.arange(new_cols) / scale).astype(int), cols - 1)
    return image[row_index][:, col_index]


def rendered(ds: Dataset, index: int, media_type: str, *,
             window: tuple[float, float, str] | None = None,
             viewport: tuple[int, int] | None = None, quality: int | None = None,
             presentation: Dataset | None = None) -> bytes:
    """Frame ``index`` (from 0) as a consumer-format image (image/png or image/jpeg); with
    ``presentation`` (a Grayscale Softcopy Presentation State) as it presents the frame
    (PS3.4 N.2), the viewport applied after it (PS3.18 §9.5.2)."""
    render = _render_module()
    import numpy as np

    try:
        if presentation is not None:
            from dicomkit.pixels.presentation import (
                PresentationError,
                PresentationState,
                render_with_presentation,
            )

            try:
                state = PresentationState.from_dataset(presentation)
                image = render_with_presentation(ds, state, index)
            except PresentationError as exc:  # not for this image, or malformed
                raise NotRenderable(str(exc)) from exc
        else:
            image = render.render(ds, index, window)
    except NotSupportedError as exc:
        raise Unavailable(str(exc)) from exc
    except ValueError as exc:
        raise NotRenderable(str(exc)) from exc
    if viewport is not None:
        image = _fit(image, *viewport)
    image = np.ascontiguousarray(image)
    if media_type == "image/png":
        return bytes(render.to_png(image))
    return _jpeg(render, image, quality or 90)


def jpeg_available() -> bool:
    try:
        render = _render_module()
    except Unavailable:
        return False
    if hasattr(render, "to_jpeg"):
        return True
    try:
        import imagecodecs
    except ImportError:
        return False
    return hasattr(imagecodecs, "jpeg8_encode")


def _jpeg(render: Any, image: Any, quality: int) -> bytes:
    """JPEG baseline of an 8-bit image: the renderer's encoder, else imagecodecs' libjpeg."""
    encode = getattr(render, "to_jpeg", None)
    if encode is not None:
        return bytes(encode(image, quality=quality))
    try:
        import imagecodecs

        return bytes(imagecodecs.jpeg8_encode(image, level=quality))
    except (ImportError, AttributeError) as exc:
        raise Unavailable("image/jpeg output is not supported yet; ask for image/png") from exc
