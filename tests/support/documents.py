"""Small documents of every kind ``dicomkit wrap`` takes, made here: a PDF (text), an HL7 CDA
document, ASCII and binary STL, OBJ, MTL, a baseline JPEG and a PNG (imagecodecs), and MP4
videos (tests/support/video.py)."""

from __future__ import annotations

import struct

import imagecodecs
import numpy as np

from tests.support.video import h264_mp4, hevc_mp4

PDF = (b"%PDF-1.4\n%abc\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
       b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
       b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>\nendobj\n"
       b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
"""A one-page PDF of 223 bytes: odd, so the DICOM value is padded."""

CDA = ('<?xml version="1.0" encoding="UTF-8"?>\n'
       '<ClinicalDocument xmlns="urn:hl7-org:v3">\n'
       '  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>\n'
       '  <id root="2.16.840.1.113883.19.4" extension="c266"/>\n'
       '  <title>Consultation Note — Müller</title>\n'
       '</ClinicalDocument>\n').encode()

STL_ASCII = (b"solid tetra\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 0\n"
             b"   vertex 1 0 0\n   vertex 0 1 0\n  endloop\n endfacet\nendsolid tetra\n")
STL_BINARY = (b"binary stl".ljust(80, b" ") + struct.pack("<I", 2)
              + struct.pack("<12fH", 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0)
              + struct.pack("<12fH", 0, 0, -1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0))
OBJ = b"# a triangle\nmtllib model.mtl\nv 0 0 0\nv 10 0 0\nv 0 10 0\nusemtl red\nf 1 2 3\n"
MTL = b"# one material\nnewmtl red\nKa 0 0 0\nKd 1 0 0\nillum 1\n"


def rgb_image() -> np.ndarray:
    image = np.zeros((24, 40, 3), np.uint8)
    image[..., 0] = np.arange(40, dtype=np.uint8)[None, :] * 6
    image[8:16, :, 1] = 200
    image[:, 20:, 2] = 120
    return image


def jpeg() -> bytes:
    return bytes(imagecodecs.jpeg8_encode(rgb_image(), level=90))


def png() -> bytes:
    return bytes(imagecodecs.png_encode(rgb_image()))


def documents() -> dict[str, bytes]:
    """Each kind's sample, by a test id."""
    return {"pdf": PDF, "cda": CDA, "stl-ascii": STL_ASCII, "stl-binary": STL_BINARY,
            "obj": OBJ, "mtl": MTL, "jpeg": jpeg(), "png": png(), "mp4-h264": h264_mp4(),
            "mp4-hevc": hevc_mp4()}
