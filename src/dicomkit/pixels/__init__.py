"""Pixel data: PS3.3 C.7.6.3 (Image Pixel module), PS3.5 §8, Annex A.4 and Annex G.

- :mod:`dicomkit.pixels.info` — the Image Pixel attributes that describe one frame.
- :mod:`dicomkit.pixels.native` — ``pixel_array``, ``frame``, ``frames``: stored values as
  numpy arrays, from native (PS3.5 §8.1) or encapsulated (PS3.5 §8.2) Pixel Data.
- :mod:`dicomkit.pixels.encapsulated` — frames out of fragments (Basic and Extended Offset
  Tables, or codestream markers when there are none) and ``encapsulate`` for writing.
- :mod:`dicomkit.pixels.codecs` — one adapter per compressed transfer syntax (RLE is ours, in
  :mod:`dicomkit.pixels.rle`; the JPEG family wraps imagecodecs), with
  :mod:`dicomkit.pixels.codestreams` reading the few header facts the libraries do not report.
- :mod:`dicomkit.pixels.transcode` — a data set rewritten in another transfer syntax.

Nothing is imported here: numpy and the codec libraries load when pixels are first asked for,
so ``import dicomkit`` stays cheap.
"""

from __future__ import annotations
