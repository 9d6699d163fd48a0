"""What an image file is and how large it decodes, read from its header alone.

A 0.9 MB PNG can say 30000×30000 pixels and decode to 2.7 GB; a decoder finds out only by trying.
The header says it in the first few bytes, so Mirage reads it first and refuses before decoding.
Only the formats parsed here are decoded at all (JPEG, PNG, WebP, BMP, GIF, TIFF, PNM): for any other
file the header cannot vouch for its size, and the file is named for what it is (a video, HEIC,
text) instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: EXIF orientation → what a viewer does to show the picture upright
ORIENTATIONS = {
    2: "mirrored",
    3: "turned 180°",
    4: "flipped upside down",
    5: "turned 90° and mirrored",
    6: "turned 90° clockwise",
    7: "turned 90° and mirrored",
    8: "turned 90° counter-clockwise",
}


class NotAnImage(ValueError):
    """The bytes are not an image Mirage reads; the message says what they are ("a video (MP4)")."""


@dataclass(frozen=True, slots=True)
class ImageHeader:
    format: str  # "JPEG", "PNG", ...
    width: int
    height: int
    frames: int = 1  # an animated GIF/PNG/WebP: more than 1 (0: animated, count unknown)
    orientation: int = 1  # EXIF orientation (1 = as stored)


def read_header(data: bytes) -> ImageHeader:
    """The header of the image in ``data``; NotAnImage (saying what the bytes are) otherwise."""
    if not data:
        raise NotAnImage("is empty (0 bytes)")
    try:
        for magic, parse in _PARSERS:
            if data.startswith(magic):
                return parse(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, NotAnImage):
            raise
        raise NotAnImage("is a damaged image: its header is cut short or invalid") from exc
    raise NotAnImage(f"is {what_it_is(data)}")


def what_it_is(data: bytes) -> str:
    """A guess at what a non-image file is, in words, for the message that refuses it."""
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "an HEIC/HEIF photo (the iPhone's format), which Mirage cannot read: save it as JPEG"
        if brand in (b"avif", b"avis"):
            return "an AVIF image, which Mirage cannot read: save it as JPEG or PNG"
        return "a video (MP4/MOV), not a photo"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "a video (Matroska/WebM), not a photo"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "a video (AVI), not a photo"
    if (data[:4] == b"RIFF" and data[8:12] == b"WAVE") or data.startswith((b"ID3", b"fLaC", b"OggS")):
        return "a sound file, not a photo"
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:
        return "a video (MPEG-TS), not a photo"
    if data.startswith(b"%PDF"):
        return "a PDF document, not a photo"
    if data.startswith(b"\x00\x00\x00\x0cjP  ") or data.startswith(b"\xff\x4f\xff\x51"):
        return "a JPEG 2000 image, which Mirage does not read: save it as JPEG or PNG"
    head = data[:4096]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the 4 KB mark
                return "not an image Mirage can read"
        return "a text file, not a photo"
    return "not an image Mirage can read"


def _png(data: bytes) -> ImageHeader:
    if data[12:16] != b"IHDR":
        raise NotAnImage("is a damaged PNG: it has no IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    frames = 1
    pos = 8
    while pos + 8 <= len(data):  # an acTL chunk before the image data: an animated PNG
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"acTL":
            frames = struct.unpack(">I", data[pos + 8 : pos + 12])[0] or 0
            break
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return ImageHeader("PNG", width, height, frames)


#: JPEG frame headers (SOF0–SOF15 but DHT, JPG and DAC, which share the range)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageHeader:
    pos = 2
    orientation = 1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise NotAnImage("is a damaged JPEG: its header is invalid")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = _tiff_tags(segment[6:], {274}).get(274, 1)
        if marker in _SOF:
            height, width = struct.unpack(">HH", segment[1:5])
            if height == 0:  # given later (DNL): the header cannot vouch for the size
                raise NotAnImage("is a JPEG whose header does not give its height")
            return ImageHeader("JPEG", width, height, orientation=orientation if 1 <= orientation <= 8 else 1)
        if marker == 0xDA:  # image data before any frame header
            break
        pos += 2 + length
    raise NotAnImage("is a damaged JPEG: no frame header was found")


def _tiff_tags(data: bytes, wanted: set[int]) -> dict[int, int]:
    """Integer values of the ``wanted`` tags of a TIFF structure's first directory."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        raise NotAnImage("is a damaged TIFF: its byte order mark is invalid")
    if struct.unpack(order + "H", data[2:4])[0] != 42:
        raise NotAnImage("is a BigTIFF or damaged TIFF file, which Mirage does not read")
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    found: dict[int, int] = {}
    for i in range(count):
        entry = data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in wanted:
            fmt = {3: "H", 4: "I"}.get(kind)
            if fmt is not None:
                found[tag] = struct.unpack(order + fmt, entry[8 : 8 + struct.calcsize(fmt)])[0]
    return found


def _tiff(data: bytes) -> ImageHeader:
    tags = _tiff_tags(data, {256, 257, 274})
    if 256 not in tags or 257 not in tags:
        raise NotAnImage("is a TIFF file that does not give its size")
    orientation = tags.get(274, 1)
    return ImageHeader("TIFF", tags[256], tags[257], orientation=orientation if 1 <= orientation <= 8 else 1)


def _gif(data: bytes) -> ImageHeader:
    width, height, packed = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    frames = 0
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            pos += 2
        elif block == 0x2C:  # an image: its descriptor, colour table, LZW size, then sub-blocks
            frames += 1
            fw, fh, fpacked = struct.unpack("<HHB", data[pos + 5 : pos + 10])
            width, height = max(width, fw), max(height, fh)
            pos += 10 + (3 << ((fpacked & 7) + 1) if fpacked & 0x80 else 0) + 1
        else:
            break  # damaged after the first frames: the decoder shows what it can
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
    return ImageHeader("GIF", width, height, max(frames, 1))


def _webp(data: bytes) -> ImageHeader:
    kind = data[12:16]
    body = data[20:]
    if kind == b"VP8 ":
        if body[3:6] != b"\x9d\x01\x2a":
            raise NotAnImage("is a damaged WebP image")
        width, height = struct.unpack("<HH", body[6:10])
        return ImageHeader("WebP", width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":
        bits = struct.unpack("<I", body[1:5])[0]
        return ImageHeader("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X":
        flags = body[0]
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return ImageHeader("WebP", width, height, frames=0 if flags & 0x02 else 1)
    raise NotAnImage("is a damaged WebP image")


def _bmp(data: bytes) -> ImageHeader:
    size = struct.unpack("<I", data[14:18])[0]
    if size == 12:  # OS/2 core header
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return ImageHeader("BMP", abs(width), abs(height))


def _pnm(data: bytes) -> ImageHeader:
    tokens: list[bytes] = []
    for line in data[2:4096].splitlines():
        tokens += line.split(b"#", 1)[0].split()
        if len(tokens) >= 2:
            return ImageHeader("PNM", int(tokens[0]), int(tokens[1]))
    raise NotAnImage("is a damaged PNM image: its header does not give its size")


_PARSERS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8\xff", _jpeg),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
    (b"GIF87a", _gif),
    (b"GIF89a", _gif),
    (b"BM", _bmp),
    *((f"P{n}".encode(), _pnm) for n in range(1, 7)),
)
