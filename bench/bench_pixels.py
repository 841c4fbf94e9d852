"""Pixel codecs: frames/s decoding and encoding, dicomkit vs pydicom vs the bare library.

Per transfer syntax, on synthetic images made here (a 512x512 CT-like disc phantom, 12 bits
stored in 16, and a 480x640 RGB scene), all in the same run:

* decode: dicomkit ``ds.frames()`` on a file it wrote and read once (the whole path: fragment
  index, codec adapter, dtype and colour fixes); pydicom 3 ``pixels.pixel_array(ds)`` on the
  same file read once, with pylibjpeg (its
  native RLE plugin, pylibjpeg-libjpeg, -openjpeg) and, for RLE, its pure-Python handler;
  the bare library call on the same codestreams (imagecodecs ``jpeg8_decode``,
  ``jpegls_decode``, ``jpeg2k_decode``, ``htj2k_decode``, ``dicomrle_decode``; zlib);
* encode: dicomkit's codec ``encode``, the bare library call with the same parameters, and
  pydicom's encoders where it has one (RLE; JPEG 2000 through pylibjpeg-openjpeg).

Then three targets of their own:

* ``ds.frame(999)`` of a 1,000-frame encapsulated file (memory-mapped): how many bytes of the
  file the call makes resident (``/proc/self/smaps`` Rss of the mapping after dropping it
  with ``madvise(MADV_DONTNEED)``; the kernel maps up to 64 KiB around each touched page);
* an 850-frame 480x640 RGB ultrasound clip, JPEG Baseline YBR_FULL_422 encoded by dicomkit,
  decoded to RGB: dicomkit ``pixel_array`` vs pydicom 3 ``pixel_array``.

Targets: RLE decode >= 5x pydicom's pure-Python handler; every codec within 10% of the bare
library; frame(999) touches that frame's bytes only; the ultrasound clip >= 5x pydicom.

    python bench/bench_pixels.py [--frames 20] [--repeat 3] [--out bench/data/pixels]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

import imagecodecs  # noqa: E402
import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pydicom.pixels  # noqa: E402

import dicomkit  # noqa: E402
from dicomkit.core.element import DataElement  # noqa: E402
from dicomkit.encoding.transfer_syntax import lookup  # noqa: E402
from dicomkit.pixels.codecs import CODECS  # noqa: E402
from dicomkit.pixels.encapsulated import encapsulate  # noqa: E402
from dicomkit.pixels.info import PixelInfo  # noqa: E402

warnings.simplefilter("ignore")


# -- images -----------------------------------------------------------------------------------
def ct_frames(count: int, size: int = 512) -> np.ndarray:
    """A disc phantom, 12 bits stored, a little noise, changing slice by slice."""
    y, x = np.mgrid[0:size, 0:size]
    r = np.hypot(x - size / 2, y - size / 2)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(count):
        body = np.where(r < size * 0.42, 1040 + 30 * np.sin(x / 9 + i), 0)
        bone = np.where(np.abs(r - size * 0.3 - i) < 6, 1900, 0)
        noise = rng.normal(0, 12, (size, size))
        frames.append(np.clip(body + bone + noise, 0, 4095).astype(np.uint16))
    return np.stack(frames)


def rgb_frames(count: int, rows: int = 480, cols: int = 640) -> np.ndarray:
    """An ultrasound-like scene: a speckled grey fan with a colour-flow patch."""
    y, x = np.mgrid[0:rows, 0:cols]
    angle = np.arctan2(x - cols / 2, y + 40)
    depth = np.hypot(x - cols / 2, y + 40)
    fan = (np.abs(angle) < 0.7) & (depth < rows * 0.95)
    rng = np.random.default_rng(1)
    frames = np.empty((count, rows, cols, 3), np.uint8)
    for i in range(count):
        speckle = rng.gamma(2.0, 40.0, (rows, cols)) * (1 - depth / (rows * 1.2))
        grey = np.where(fan, np.clip(speckle, 0, 255), 0).astype(np.uint8)
        frame = np.repeat(grey[:, :, None], 3, axis=2)
        flow = ((x - 320 - 30 * np.sin(i / 10)) ** 2 + (y - 240) ** 2) < 60 ** 2
        frame[flow, 0] = np.clip(120 + 100 * np.sin(y[flow] / 7 + i), 0, 255)
        frame[flow, 2] = np.clip(120 - 100 * np.sin(y[flow] / 7 + i), 0, 255)
        frame[flow, 1] //= 3
        frames[i] = frame
    return frames


def info_for(images: np.ndarray, syntax: str) -> PixelInfo:
    colour = images.ndim == 4
    bits = 8 if images.dtype == np.uint8 else 16
    return PixelInfo(rows=images.shape[1], columns=images.shape[2],
                     samples_per_pixel=3 if colour else 1, bits_allocated=bits,
                     bits_stored=8 if bits == 8 else 12, high_bit=7 if bits == 8 else 11,
                     photometric_interpretation="RGB" if colour else "MONOCHROME2",
                     number_of_frames=len(images), transfer_syntax=syntax)


def dataset_for(images: np.ndarray, info: PixelInfo, photometric: str) -> dicomkit.Dataset:
    ds = dicomkit.Dataset()
    ds.SOPClassUID = ("1.2.840.10008.5.1.4.1.1.3.1" if info.samples_per_pixel == 3
                      else "1.2.840.10008.5.1.4.1.1.2.1")
    ds.SOPInstanceUID = dicomkit.uid.generate_uid()
    ds.Rows, ds.Columns = info.rows, info.columns
    ds.SamplesPerPixel = info.samples_per_pixel
    ds.PhotometricInterpretation = photometric
    if info.samples_per_pixel == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored = info.bits_allocated, info.bits_stored
    ds.HighBit, ds.PixelRepresentation = info.high_bit, 0
    ds.NumberOfFrames = len(images)
    return ds


def write_encapsulated(path: Path, images: np.ndarray, syntax: str,
                       opts: dict[str, Any]) -> tuple[list[bytes], str]:
    info = info_for(images, syntax)
    codec = CODECS[syntax]
    streams = [codec.encode(image, info, **opts) for image in images]
    photometric = codec.encoded_photometric(info, **opts)
    ds = dataset_for(images, info, photometric)
    ds[0x7FE00010] = DataElement(0x7FE00010, "OB", encapsulate(streams).value,
                                 is_undefined_length=True)
    dicomkit.write(ds, path, transfer_syntax=lookup(syntax))
    return streams, photometric


def best_of(funcs: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best wall time of each function, run round-robin so that load from other work on the
    machine falls on all of them alike."""
    for func in funcs.values():
        func()  # warm up
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            gc.collect()
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def best(func: Callable[[], Any], repeat: int) -> float:
    func()  # warm up (page cache, lazy imports)
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


# -- the codec table ---------------------------------------------------------------------------
CASES: list[dict[str, Any]] = [
    {"name": "RLE Lossless", "uid": "1.2.840.10008.1.2.5", "image": "ct",
     "bare_decode": lambda b: np.frombuffer(imagecodecs.dicomrle_decode(b, np.dtype("<u2")),
                                            "<u2"),
     "bare_encode": None, "pydicom_decoders": ["pylibjpeg", "pydicom"],
     "pydicom_encoder": "pylibjpeg"},
    {"name": "RLE Lossless (RGB)", "uid": "1.2.840.10008.1.2.5", "image": "rgb",
     # imagecodecs returns the samples planar; pixel_array callers need them interleaved
     "bare_decode": lambda b: np.ascontiguousarray(np.frombuffer(
         imagecodecs.dicomrle_decode(b, np.dtype("u1")), np.uint8).reshape(
             3, 480, 640).transpose(1, 2, 0)),
     "bare_encode": None, "pydicom_decoders": ["pylibjpeg", "pydicom"],
     "pydicom_encoder": "pylibjpeg"},
    {"name": "JPEG Baseline 8-bit (RGB)", "uid": "1.2.840.10008.1.2.4.50", "image": "rgb",
     "opts": {"quality": 90},
     "bare_decode": lambda b: imagecodecs.jpeg8_decode(b, colorspace="YCBCR",
                                                       outcolorspace="RGB"),
     "bare_encode": lambda a: imagecodecs.jpeg8_encode(a, level=90, colorspace="RGB",
                                                       outcolorspace="YCBCR",
                                                       subsampling="422", bitspersample=8),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "JPEG Extended 12-bit", "uid": "1.2.840.10008.1.2.4.51", "image": "ct",
     "opts": {"quality": 90},
     "bare_decode": lambda b: imagecodecs.jpeg8_decode(b),
     "bare_encode": lambda a: imagecodecs.jpeg8_encode(a, level=90, colorspace="GRAYSCALE",
                                                       outcolorspace="GRAYSCALE",
                                                       bitspersample=12),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "JPEG Lossless SV1", "uid": "1.2.840.10008.1.2.4.70", "image": "ct",
     "bare_decode": lambda b: imagecodecs.jpeg8_decode(b),
     "bare_encode": lambda a: imagecodecs.jpeg8_encode(a, lossless=True, predictor=1,
                                                       bitspersample=12),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "JPEG-LS Lossless", "uid": "1.2.840.10008.1.2.4.80", "image": "ct",
     "bare_decode": lambda b: imagecodecs.jpegls_decode(b),
     "bare_encode": lambda a: imagecodecs.jpegls_encode(a, level=0),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "JPEG-LS Near-Lossless", "uid": "1.2.840.10008.1.2.4.81", "image": "ct",
     "opts": {"quality": 2},
     "bare_decode": lambda b: imagecodecs.jpegls_decode(b),
     "bare_encode": lambda a: imagecodecs.jpegls_encode(a, level=2),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "JPEG 2000 Lossless", "uid": "1.2.840.10008.1.2.4.90", "image": "ct",
     "bare_decode": lambda b: imagecodecs.jpeg2k_decode(b),
     "bare_encode": lambda a: imagecodecs.jpeg2k_encode(a, level=0, codecformat="J2K",
                                                        reversible=True, bitspersample=12,
                                                        mct=False),
     "pydicom_decoders": ["pylibjpeg"], "pydicom_encoder": "pylibjpeg"},
    {"name": "JPEG 2000 (lossy)", "uid": "1.2.840.10008.1.2.4.91", "image": "ct",
     "opts": {"quality": 50},
     "bare_decode": lambda b: imagecodecs.jpeg2k_decode(b),
     "bare_encode": lambda a: imagecodecs.jpeg2k_encode(a, level=50.0, codecformat="J2K",
                                                        reversible=False, bitspersample=12,
                                                        mct=False),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "HTJ2K Lossless", "uid": "1.2.840.10008.1.2.4.201", "image": "ct",
     "bare_decode": lambda b: imagecodecs.htj2k_decode(b),
     "bare_encode": lambda a: imagecodecs.htj2k_encode(a, reversible=True, rgb=False),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "HTJ2K Lossless RPCL", "uid": "1.2.840.10008.1.2.4.202", "image": "ct",
     "bare_decode": lambda b: imagecodecs.htj2k_decode(b),
     "bare_encode": lambda a: imagecodecs.htj2k_encode(a, reversible=True, rgb=False,
                                                       tlm=True),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "HTJ2K (lossy)", "uid": "1.2.840.10008.1.2.4.203", "image": "ct",
     "opts": {"quality": 0.005},
     "bare_decode": lambda b: imagecodecs.jpeg2k_decode(b),
     "bare_encode": lambda a: imagecodecs.htj2k_encode(a, level=0.005, reversible=False,
                                                       rgb=False),
     "pydicom_decoders": ["pylibjpeg"]},
    {"name": "Deflated Image Frame", "uid": "1.2.840.10008.1.2.8.1", "image": "ct",
     "bare_decode": lambda b: np.frombuffer(zlib.decompressobj(-15).decompress(b), "<u2"),
     "bare_encode": lambda a: (lambda c: c.compress(a.tobytes()) + c.flush())(
         zlib.compressobj(6, zlib.DEFLATED, -15)),
     "pydicom_decoders": []},
]


def run_case(case: dict[str, Any], images: dict[str, np.ndarray], folder: Path,
             repeat: int) -> dict[str, Any]:
    uid = case["uid"]
    frames = images[case["image"]]
    count = len(frames)
    opts = case.get("opts", {})
    path = folder / f"{case['name'].replace(' ', '_').replace('(', '').replace(')', '')}.dcm"
    streams, _ = write_encapsulated(path, frames, uid, opts)
    codec = CODECS[uid]
    info = info_for(frames, uid)
    row: dict[str, Any] = {"name": case["name"], "uid": uid, "frames": count,
                           "shape": list(frames.shape[1:]),
                           "bytes_per_frame": sum(map(len, streams)) // count}

    ds = dicomkit.read(path)
    pds = pydicom.dcmread(path)

    def dk_decode() -> None:
        for _ in ds.frames():
            pass

    def bare_decode() -> None:
        for stream in streams:
            case["bare_decode"](stream)

    def dk_encode() -> None:
        for image in frames:
            codec.encode(image, info, **opts)

    def bare_encode() -> None:
        for image in frames:
            case["bare_encode"](image)

    funcs: dict[str, Callable[[], Any]] = {"dk_decode": dk_decode, "bare_decode": bare_decode,
                                           "dk_encode": dk_encode}
    if case.get("bare_encode") is not None:
        funcs["bare_encode"] = bare_encode
    for name, seconds in best_of(funcs, repeat).items():
        row[name] = count / seconds
    for plugin in case.get("pydicom_decoders", []):
        def pd_decode(plugin: str = plugin) -> None:
            pydicom.pixels.pixel_array(pds, decoding_plugin=plugin)

        try:
            row[f"pydicom_decode_{plugin}"] = count / best(pd_decode, repeat)
        except Exception as exc:  # noqa: BLE001 - report, do not stop the run
            row[f"pydicom_decode_{plugin}"] = f"error: {str(exc)[:60]}"
    plugin = case.get("pydicom_encoder")
    if plugin:
        native = folder / "native.dcm"
        native_ds = dataset_for(frames, info, info.photometric_interpretation)
        native_ds.set(0x7FE00010, np.ascontiguousarray(frames).tobytes(),
                      "OB" if frames.dtype == np.uint8 else "OW")
        dicomkit.write(native_ds, native, transfer_syntax="explicit")
        native_pds = pydicom.dcmread(native)
        from pydicom.pixels.encoders.base import get_encoder

        encoder = get_encoder(uid)

        def pd_encode() -> None:
            for _ in encoder.iter_encode(native_pds, encoding_plugin=plugin):
                pass

        try:
            row[f"pydicom_encode_{plugin}"] = count / best(pd_encode, repeat)
        except Exception as exc:  # noqa: BLE001
            row[f"pydicom_encode_{plugin}"] = f"error: {str(exc)[:60]}"
    if uid == "1.2.840.10008.1.2.5" and case["image"] == "ct":
        def dk_rle_pure_codec() -> None:
            for stream in streams:
                codec.decode(stream, info)

        row["dk_decode_codec_only"] = count / best(dk_rle_pure_codec, repeat)
    return row


# -- frame(999) of 1,000 frames ----------------------------------------------------------------
FRAME_PROBE = r"""
import json, mmap, sys
sys.path.insert(0, sys.argv[2])
import dicomkit
from dicomkit.pixels.native import PixelSource

def rss(path):
    total, inside = 0, False
    with open('/proc/self/smaps') as fh:
        for line in fh:
            if line[:1] in '0123456789abcdef' and '-' in line.split()[0]:
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith('Rss:'):
                total += int(line.split()[1]) * 1024
    return total

path = sys.argv[1]
ds = dicomkit.read(path)
buf = ds.buffer
after_read = rss(path)
buf.madvise(mmap.MADV_DONTNEED)
dropped = rss(path)
frame = ds.frame(999)
after_frame = rss(path)
source = PixelSource(ds)
fragments = source.index().fragments(999)
print(json.dumps({"is_mmap": isinstance(buf, mmap.mmap), "file_size": len(buf),
                  "rss_after_read": after_read, "rss_after_drop": dropped,
                  "rss_after_frame": after_frame, "frame_bytes": sum(n for _, n in fragments),
                  "shape": list(frame.shape)}))
"""


def frame_999(folder: Path) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (1000, 128, 128), dtype=np.uint8)
    images[:, 40:80, 40:80] = 7  # some runs
    path = folder / "thousand_frames_rle.dcm"
    if not path.exists():
        write_encapsulated(path, images, "1.2.840.10008.1.2.5", {})
    out = subprocess.run([sys.executable, "-c", FRAME_PROBE, str(path), str(_util.SRC)],
                         capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    result["touched_by_frame"] = result["rss_after_frame"] - result["rss_after_drop"]
    ds = dicomkit.read(path)
    result["matches"] = bool(np.array_equal(ds.frame(999), images[999]))
    return result


# -- the ultrasound clip ---------------------------------------------------------------------
def ultrasound(folder: Path, frames: int, repeat: int) -> dict[str, Any]:
    path = folder / f"ultrasound_{frames}_jpeg.dcm"
    start = time.perf_counter()
    if not path.exists():
        images = rgb_frames(frames)
        write_encapsulated(path, images, "1.2.840.10008.1.2.4.50", {"quality": 90})
        del images
    made = time.perf_counter() - start
    ds = dicomkit.read(path)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"

    def dk() -> None:
        dicomkit.read(path).pixel_array  # noqa: B018 - decoding is the point

    def pd() -> None:
        pydicom.dcmread(path).pixel_array  # noqa: B018

    dk_time = best(dk, repeat)
    pd_time = best(pd, max(1, repeat - 1))
    ours = dicomkit.read(path).frame(0)
    theirs = pydicom.pixels.pixel_array(str(path), index=0)
    diff = ours.astype(float) - theirs
    mse = float(np.mean(diff * diff))
    return {"frames": frames, "file_size": path.stat().st_size, "made_in_s": made,
            "dk_s": dk_time, "pydicom_s": pd_time, "dk_fps": frames / dk_time,
            "pydicom_fps": frames / pd_time, "ratio": pd_time / dk_time,
            "psnr_frame0_vs_pydicom": 10 * np.log10(255 ** 2 / mse) if mse else float("inf")}


# -- report -----------------------------------------------------------------------------------
def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return "n/a" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20, help="frames per codec case")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--us-frames", type=int, default=850)
    parser.add_argument("--out", type=Path, default=_util.DATA / "pixels")
    parser.add_argument("--only", default="", help="run codec cases whose name contains this")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    _util.print_machine()
    print(f"# imagecodecs {imagecodecs.__version__}, numpy {np.__version__}")
    images = {"ct": ct_frames(args.frames),
              "rgb": rgb_frames(max(4, args.frames // 2))}
    rows = []
    print("\n## frames/s (higher is better); ratio = dicomkit / bare library")
    header = (f"{'codec':28s} {'frame':>13s} {'dk dec':>8s} {'bare dec':>8s} {'ratio':>6s} "
              f"{'pydicom dec':>22s} {'dk enc':>8s} {'bare enc':>8s} {'ratio':>6s} "
              f"{'pydicom enc':>11s}")
    print(header)
    for case in CASES:
        if args.only and args.only not in case["name"]:
            continue
        row = run_case(case, images, args.out, args.repeat)
        rows.append(row)
        dec_ratio = row["dk_decode"] / row["bare_decode"]
        enc_ratio = (row["dk_encode"] / row["bare_encode"]) if "bare_encode" in row else None
        pyd = " / ".join(f"{k.rsplit('_', 1)[1]} {fmt(v)}" for k, v in row.items()
                         if k.startswith("pydicom_decode_"))
        pye = " ".join(fmt(v) for k, v in row.items() if k.startswith("pydicom_encode_"))
        shape = "x".join(map(str, row["shape"]))
        print(f"{row['name']:28s} {shape:>13s} {fmt(row['dk_decode']):>8s} "
              f"{fmt(row['bare_decode']):>8s} {dec_ratio:6.2f} {pyd or 'n/a':>22s} "
              f"{fmt(row['dk_encode']):>8s} {fmt(row.get('bare_encode')):>8s} "
              f"{(f'{enc_ratio:6.2f}' if enc_ratio else '   n/a'):>6s} {pye or 'n/a':>11s}",
              flush=True)
    rle = next((r for r in rows if r["name"] == "RLE Lossless"), None)
    if rle is not None and isinstance(rle.get("pydicom_decode_pydicom"), float):
        print(f"\nRLE decode vs pydicom's pure-Python RLE handler: "
              f"{rle['dk_decode'] / rle['pydicom_decode_pydicom']:.1f}x (target >= 5x); vs "
              f"pylibjpeg-rle: {rle['dk_decode'] / rle['pydicom_decode_pylibjpeg']:.2f}x")
    result: dict[str, Any] = {"machine": _util.machine(), "codecs": rows}
    if not args.only:
        probe = frame_999(args.out)
        result["frame_999"] = probe
        print(f"\n## ds.frame(999) of a 1,000-frame RLE file ({probe['file_size']:,} bytes, "
              f"mmap: {probe['is_mmap']})")
        print(f"frame 999 codestream: {probe['frame_bytes']:,} bytes; resident after read(): "
              f"{probe['rss_after_read']:,}; after MADV_DONTNEED: {probe['rss_after_drop']:,}; "
              f"made resident by frame(999): {probe['touched_by_frame']:,} bytes "
              f"({probe['touched_by_frame'] / probe['file_size']:.2%} of the file); "
              f"decoded right: {probe['matches']}")
        us = ultrasound(args.out, args.us_frames, max(1, args.repeat - 1))
        result["ultrasound"] = us
        print(f"\n## {us['frames']}-frame 480x640 YBR_FULL_422 JPEG ultrasound -> RGB "
              f"({us['file_size']:,} bytes)")
        print(f"dicomkit pixel_array: {us['dk_s']:.2f} s ({us['dk_fps']:,.0f} frames/s); "
              f"pydicom 3: {us['pydicom_s']:.2f} s ({us['pydicom_fps']:,.0f} frames/s); "
              f"ratio {us['ratio']:.1f}x (target >= 5x); frame 0 PSNR vs pydicom "
              f"{us['psnr_frame0_vs_pydicom']:.1f} dB")
    out = _util.OUT / "pixels.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nraw figures: {os.path.relpath(out, _util.ROOT)}")


if __name__ == "__main__":
    main()
