"""Awkward pictures and clips for the tests and the hostile battery, made here in milliseconds:
a PNG that decodes to gigabytes, JPEGs with EXIF orientation, palette PNGs, phone clips with a
display matrix, a stream whose frames change size midway.

The PNG "bomb" is written directly as DEFLATE: one literal zero, then back-references of 258 bytes
at distance 1 in the fixed Huffman code (13 bits each), whose bits repeat every 8 matches (13
bytes). zlib would take ~10 s to compress 2.7 GB of zeros; this takes a byte multiplication.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

_MATCH_258 = [1, 1, 0, 0, 0, 1, 0, 1] + [0] * 5  # length code 285 (8 bits), distance code 0 (5)


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, bits: list[int]) -> None:
        self.bits += bits

    def take_bytes(self) -> bytes:
        """The whole bytes so far (LSB first); the odd bits stay."""
        whole = len(self.bits) // 8 * 8
        out = bytes(sum(b << i for i, b in enumerate(self.bits[k : k + 8])) for k in range(0, whole, 8))
        self.bits = self.bits[whole:]
        return out


def _zeros_deflate(total: int) -> bytes:
    """A zlib stream of ``total`` zero bytes, ~13 bits per 258 bytes."""
    bits = _Bits()
    bits.put([1, 1, 0])  # BFINAL, BTYPE=01 (fixed Huffman), value LSB first
    bits.put([0, 0, 1, 1, 0, 0, 0, 0])  # literal 0: code 00110000
    left = total - 1
    bits.put(_MATCH_258)  # 3 + 8 + 13 = 24 bits: byte aligned from here
    left -= 258
    head = bits.take_bytes()
    unit = _Bits()
    for _ in range(8):
        unit.put(_MATCH_258)
    repeats = left // (8 * 258)
    body = unit.take_bytes() * repeats
    left -= repeats * 8 * 258
    tail = _Bits()
    while left >= 258:
        tail.put(_MATCH_258)
        left -= 258
    for _ in range(left):
        tail.put([0, 0, 1, 1, 0, 0, 0, 0])
    tail.put([0] * 7)  # end of block
    tail.put([0] * (-len(tail.bits) % 8))
    adler = struct.pack(">I", (total % 65521) << 16 | 1)  # a stays 1 over zeros; b counts them
    return b"\x78\x01" + head + body + tail.take_bytes() + adler


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A valid black RGB PNG of width×height (30000² decodes to 2.7 GB) in a file ~1/160 of that."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = _zeros_deflate(height * (1 + 3 * width))  # each row: filter byte 0, then the pixels
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )
    return Path(path)


def palette_png(path: Path, indices: np.ndarray, palette: list[tuple[int, int, int]]) -> Path:
    """An 8-bit palette PNG (colour type 3), which OpenCV cannot write."""
    height, width = indices.shape
    rows = b"".join(b"\x00" + bytes(row) for row in indices.astype(np.uint8))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + _chunk(b"PLTE", b"".join(bytes(c) for c in palette))
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
    Path(path).write_bytes(data)
    return Path(path)


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an APP1 EXIF segment holding only the orientation tag (as a phone writes it)."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 274, 3, 1, orientation, 0) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    segment = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


def marked_frame(width: int, height: int, value: int = 0) -> np.ndarray:
    """A dark BGR frame with a red block in its top-left quarter: shows which way up it is."""
    image = np.full((height, width, 3), value, np.uint8)
    image[: max(1, height // 4), : max(1, width // 4)] = (0, 0, 255)
    return image


def clip(
    path: Path,
    width: int,
    height: int,
    frames: int = 10,
    *,
    rotation: int | None = None,
    fmt: str | None = None,
    fps: int = 25,
) -> Path:
    """An H.264 clip; ``rotation`` (counter-clockwise degrees, as PyAV reads it back) sets the
    stream's display matrix, as a phone filming upright does."""
    import av

    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(marked_frame(width, height), format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


def size_change_clip(path: Path, first: tuple[int, int], second: tuple[int, int], frames: int = 10) -> Path:
    """An MPEG-TS stream whose frames change size midway (two recordings joined, as broadcasts are)."""
    parts = []
    for n, (width, height) in enumerate((first, second)):
        part = Path(path).with_name(f".{Path(path).name}.part{n}.ts")
        clip(part, width, height, frames, fmt="mpegts")
        parts.append(part.read_bytes())
        part.unlink()
    Path(path).write_bytes(b"".join(parts))
    return Path(path)
