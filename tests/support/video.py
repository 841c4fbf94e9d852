"""Tiny MP4 files for the video tests, built here (no encoder is installed).

``h264_stream`` writes a real H.264 stream by hand (ITU-T H.264 §7.3): an SPS, a PPS and
one IDR picture per frame whose macroblocks are all I_PCM (raw samples, so no transform or
entropy coding is needed), CAVLC, 4:2:0, 8-bit. ``mp4`` puts a stream in an ISO base media
file (ISO/IEC 14496-12/-14/-15: ftyp, moov with one video track, mdat). ``hevc_mp4`` makes an
MP4 whose hvcC names an HEVC profile and level over a placeholder sample: enough for what
dicomkit reads (it never decodes video), not a decodable HEVC picture.
"""

from __future__ import annotations

import struct


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, count: int, value: int) -> None:
        self.bits += [(value >> (count - 1 - i)) & 1 for i in range(count)]

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(length - 1, 0)
        self.u(length, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self.bits) % 8:
            self.bits.append(0)

    def trailing(self) -> None:
        self.bits.append(1)
        self.align_zero()

    def raw(self, data: bytes) -> None:
        assert len(self.bits) % 8 == 0
        for byte in data:
            self.u(8, byte)

    def bytes(self) -> bytes:
        assert len(self.bits) % 8 == 0
        return bytes(int("".join(map(str, self.bits[i:i + 8])), 2)
                     for i in range(0, len(self.bits), 8))


def nal(ref_idc: int, kind: int, rbsp: bytes) -> bytes:
    """A NAL unit with emulation prevention bytes (§7.4.1)."""
    out = bytearray([(ref_idc << 5) | kind])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sps(width_mbs: int, height_mbs: int, profile: int = 100, level: int = 30,
        constraints: int = 0) -> bytes:
    w = BitWriter()
    w.u(8, profile)
    w.u(8, constraints)
    w.u(8, level)
    w.ue(0)  # seq_parameter_set_id
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128):
        w.ue(1)  # chroma_format_idc 4:2:0
        w.ue(0)  # bit_depth_luma_minus8
        w.ue(0)  # bit_depth_chroma_minus8
        w.u(1, 0)  # qpprime_y_zero_transform_bypass_flag
        w.u(1, 0)  # seq_scaling_matrix_present_flag
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(2)  # pic_order_cnt_type
    w.ue(1)  # max_num_ref_frames
    w.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    w.ue(width_mbs - 1)
    w.ue(height_mbs - 1)
    w.u(1, 1)  # frame_mbs_only_flag
    w.u(1, 1)  # direct_8x8_inference_flag
    w.u(1, 0)  # frame_cropping_flag
    w.u(1, 0)  # vui_parameters_present_flag
    w.trailing()
    return nal(3, 7, w.bytes())


def pps() -> bytes:
    w = BitWriter()
    w.ue(0)
    w.ue(0)
    w.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    w.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    w.ue(0)  # num_slice_groups_minus1
    w.ue(0)
    w.ue(0)
    w.u(1, 0)
    w.u(2, 0)
    w.se(0)
    w.se(0)
    w.se(0)
    w.u(1, 0)  # deblocking_filter_control_present_flag
    w.u(1, 0)  # constrained_intra_pred_flag
    w.u(1, 0)  # redundant_pic_cnt_present_flag
    w.trailing()
    return nal(3, 8, w.bytes())


def idr_pcm(width_mbs: int, height_mbs: int, idr_id: int, luma: int) -> bytes:
    """An IDR picture of I_PCM macroblocks of one grey level (mb_type 25 in an I slice)."""
    w = BitWriter()
    w.ue(0)  # first_mb_in_slice
    w.ue(7)  # slice_type I (all slices)
    w.ue(0)  # pic_parameter_set_id
    w.u(4, 0)  # frame_num
    w.ue(idr_id)
    w.u(1, 0)  # no_output_of_prior_pics_flag
    w.u(1, 0)  # long_term_reference_flag
    w.se(0)  # slice_qp_delta
    for _ in range(width_mbs * height_mbs):
        w.ue(25)  # I_PCM
        w.align_zero()
        w.raw(bytes([luma]) * 256 + bytes([128]) * 128)
    w.trailing()
    return nal(3, 5, w.bytes())


def box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4(samples: list[bytes], config: bytes, entry: bytes, width: int, height: int,
        timescale: int = 1000, delta: int = 40) -> bytes:
    """An MP4 file of one video track: ``samples`` (length-prefixed NAL units each) described
    by the sample entry ``entry`` (avc1 / hvc1) holding ``config`` (avcC / hvcC)."""
    frames = len(samples)
    duration = frames * delta
    visual = (b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 16
              + struct.pack(">HHIIIH", width, height, 0x480000, 0x480000, 0, 1)
              + b"\0" * 32 + struct.pack(">Hh", 0x18, -1))

    def moov(chunk_offset: int) -> bytes:
        stbl = box(b"stbl",
                   full(b"stsd", 0, 0, struct.pack(">I", 1), box(entry, visual, config)),
                   full(b"stts", 0, 0, struct.pack(">III", 1, frames, delta)),
                   full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
                   full(b"stsz", 0, 0, struct.pack(">II", 0, frames),
                        *[struct.pack(">I", len(s)) for s in samples]),
                   full(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)))
        minf = box(b"minf", full(b"vmhd", 0, 1, b"\0" * 8),
                   box(b"dinf", full(b"dref", 0, 0, struct.pack(">I", 1),
                                     full(b"url ", 0, 1))),
                   stbl)
        mdia = box(b"mdia",
                   full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration,
                                                   0x55C4, 0)),
                   full(b"hdlr", 0, 0, b"\0" * 4, b"vide", b"\0" * 12, b"VideoHandler\0"),
                   minf)
        tkhd = full(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, duration), b"\0" * 8,
                    struct.pack(">hhhH", 0, 0, 0, 0), MATRIX,
                    struct.pack(">II", width << 16, height << 16))
        mvhd = full(b"mvhd", 0, 0, struct.pack(">IIIIIH", 0, 0, timescale, duration, 0x10000,
                                               0x100), b"\0" * 10, MATRIX, b"\0" * 24,
                    struct.pack(">I", 2))
        return box(b"moov", mvhd, box(b"trak", tkhd, mdia))

    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")
    mdat_payload = b"".join(samples)
    offset = len(ftyp) + len(moov(0)) + 8
    return ftyp + moov(offset) + box(b"mdat", mdat_payload)


def h264_mp4(frames: int = 3, width_mbs: int = 2, height_mbs: int = 1, *, profile: int = 100,
             level: int = 30, constraints: int = 0, delta: int = 40) -> bytes:
    """A valid H.264 High Profile MP4 of ``frames`` grey I_PCM pictures (16 x 16 macroblocks),
    25 frames/s by default (timescale 1000, 40 per frame)."""
    seq = sps(width_mbs, height_mbs, profile, level, constraints)
    pic = pps()
    samples = []
    for i in range(frames):
        unit = idr_pcm(width_mbs, height_mbs, i % 2, 60 + 40 * i)
        samples.append(struct.pack(">I", len(unit)) + unit)
    avcc = box(b"avcC", bytes([1, profile, constraints, level, 0xFF, 0xE1]),
               struct.pack(">H", len(seq)), seq, b"\x01", struct.pack(">H", len(pic)), pic,
               *([b"\xfd\xf8\xf8\x00"] if profile in (100, 110, 122, 244) else []))
    return mp4(samples, avcc, b"avc1", 16 * width_mbs, 16 * height_mbs, delta=delta)


def hevc_mp4(profile: int = 1, level: int = 93, frames: int = 2) -> bytes:
    """An MP4 whose hvcC says HEVC ``profile`` / ``level`` (93 = level 3.1) over placeholder
    samples (not a decodable picture)."""
    compat = 1 << (31 - profile)
    hvcc = box(b"hvcC", bytes([1, profile & 0x1F]), struct.pack(">I", compat), b"\0" * 6,
               bytes([level]), struct.pack(">H", 0xF000), bytes([0xFC, 0xFD, 0xF8, 0xF8]),
               struct.pack(">H", 0), bytes([0x0F, 0]))
    samples = [struct.pack(">I", 4) + b"\x26\x01\xaf\x00" for _ in range(frames)]
    return mp4(samples, hvcc, b"hvc1", 64, 48)
