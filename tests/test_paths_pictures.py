"""Pictures and paths (issue 17.5) and special files (17.7): photos checked from their header before
decoding, every kind of photo decoded upright, phone clips turned as players turn them, paths used
exactly as typed, FIFOs and devices called what they are and never opened."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirage_desktop.cli import main
from mirage_desktop.cli.common import out
from mirage_desktop.cli.validate import file_path
from mirage_desktop.sources.base import SourceError
from mirage_desktop.sources.camera import CameraSource, camera_problem
from mirage_desktop.sources.image_file import MAX_PHOTO_PIXELS, PhotoError, read_photo
from mirage_desktop.sources.image_header import NotAnImage, read_header
from mirage_desktop.sources.open import SourceSpec
from mirage_desktop.sources.orientation import from_display_matrix
from mirage_desktop.sources.user_path import path_problem, shown
from mirage_desktop.sources.video_file import VideoFileSource
from mirage_desktop.testmodels import odd_media

CLI = [sys.executable, "-m", "mirage_desktop.cli"]


def frames_of(path: Path) -> list[np.ndarray]:
    source = VideoFileSource(path, loop=False, paced=False)
    source.open()
    frames = []
    try:
        while True:
            frames.append(source.read().image)
    except Exception:  # SourceExhausted ends the pass
        pass
    finally:
        source.close()
    return frames


def marker(image: np.ndarray) -> str:
    bright = image.max(axis=2) > 50  # the red block, also where a grey copy made it grey
    ys, xs = np.nonzero(bright)
    h, w = bright.shape
    return ("top" if ys.mean() < h / 2 else "bottom") + "-" + ("left" if xs.mean() < w / 2 else "right")


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


# ------------------------------------------------------------------------------ photos: the header first


def test_a_png_that_decodes_to_gigabytes_is_refused_from_its_header(tmp_path):
    bomb = odd_media.png_bomb(tmp_path / "face.png")  # 30000×30000: 2.7 GB of BGR, a 17 MB file
    assert read_header(bomb.read_bytes()[:64]).width == 30000
    started = time.perf_counter()
    with pytest.raises(PhotoError, match=r"30000×30000 pixels \(900 megapixels\), more than the 120"):
        read_photo(bomb)
    assert time.perf_counter() - started < 1.0  # decoding it took 23 s and 5.4 GB


def test_the_pixel_limit_is_exact_and_the_bomb_is_a_real_png(tmp_path):
    small = odd_media.png_bomb(tmp_path / "small.png", 300, 200)
    image = read_photo(small).image
    assert image.shape == (200, 300, 3) and image.max() == 0
    over = odd_media.png_bomb(tmp_path / "over.png", MAX_PHOTO_PIXELS // 10000 + 1, 10000)
    with pytest.raises(PhotoError, match="megapixels"):
        read_photo(over)


def test_a_3_gb_file_named_jpg_is_refused_by_its_size_before_reading(tmp_path):
    huge = tmp_path / "face.jpg"
    with open(huge, "wb") as fh:  # sparse: no disk used
        fh.write(jpeg(odd_media.marked_frame(64, 64)))
        fh.truncate(3 * 1024**3)
    started = time.perf_counter()
    with pytest.raises(PhotoError, match=r"it is 3\.0 GB, more than the 200\.0 MB allowed"):
        read_photo(huge)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"just some notes\n" * 20, "is a text file, not a photo"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "HEIC/HEIF photo"),
        (b"\x00\x00\x00\x18ftypavif" + bytes(64), "AVIF image"),
        (b"\x1a\x45\xdf\xa3" + bytes(64), "a video (Matroska/WebM)"),
        (b"%PDF-1.7\n" + bytes(64), "a PDF document"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "damaged JPEG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "damaged"),
    ],
)
def test_what_is_not_a_photo_is_named_for_what_it_is(tmp_path, data, words):
    path = tmp_path / "face.jpg"
    path.write_bytes(data)
    with pytest.raises(PhotoError, match=re.escape(words)):
        read_photo(path)


def test_a_video_named_jpg_is_called_a_video(testdata, tmp_path):
    fake = tmp_path / "face.jpg"
    fake.write_bytes((testdata / "video" / "talking_head_d0.mp4").read_bytes())
    with pytest.raises(PhotoError, match=r"is a video \(MP4/MOV\), not a photo"):
        read_photo(fake)


def test_a_1x1_image_is_too_small_to_show_a_face(tmp_path):
    dot = odd_media.palette_png(tmp_path / "dot.png", np.zeros((1, 1), np.uint8), [(200, 150, 120)])
    with pytest.raises(PhotoError, match="only 1×1 pixels: too small to show a face"):
        read_photo(dot)


# ------------------------------------------------------------------------------ photos: every kind decoded


def test_every_kind_of_photo_decodes_to_8_bit_bgr(tmp_path):
    picture = odd_media.marked_frame(200, 120)
    made = {
        "grey.png": cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY))[1],
        "deep.png": cv2.imencode(".png", picture.astype(np.uint16) * 257)[1],
        "alpha.png": cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_BGR2BGRA))[1],
        "photo.webp": cv2.imencode(".webp", picture)[1],
        "photo.tif": cv2.imencode(".tif", picture)[1],
        "photo.bmp": cv2.imencode(".bmp", picture)[1],
        "photo.ppm": cv2.imencode(".ppm", picture)[1],
        "photo.gif": cv2.imencode(".gif", picture)[1],
    }
    for name, data in made.items():
        (tmp_path / name).write_bytes(data.tobytes())
    odd_media.palette_png(
        tmp_path / "palette.png", (picture[:, :, 2] > 150).astype(np.uint8), [(0, 0, 0), (255, 0, 0)]
    )
    for path in sorted(tmp_path.iterdir()):
        photo = read_photo(path)
        assert photo.image.dtype == np.uint8 and photo.image.shape == (120, 200, 3), path.name
        assert (photo.header.width, photo.header.height) == (200, 120), path.name
        assert marker(photo.image) == "top-left", path.name
        assert photo.notes == (), path.name


def test_a_cmyk_jpeg_decodes_to_bgr(tmp_path):
    image = pytest.importorskip("PIL.Image")  # OpenCV cannot write CMYK; Pillow comes with scikit-image
    rgb = cv2.cvtColor(odd_media.marked_frame(200, 120), cv2.COLOR_BGR2RGB)
    path = tmp_path / "print.jpg"
    image.fromarray(rgb).convert("CMYK").save(path, "JPEG")
    photo = read_photo(path)
    assert photo.image.shape == (120, 200, 3) and marker(photo.image) == "top-left"


@pytest.mark.parametrize(
    ("orientation", "words", "where"),
    [
        (6, "turned 90° clockwise", "top-right"),
        (8, "turned 90° counter-clockwise", "bottom-left"),
        (3, "180°", "bottom-right"),
    ],
)
def test_exif_orientation_stands_the_photo_upright_and_says_so(tmp_path, orientation, words, where):
    path = tmp_path / "phone.jpg"
    path.write_bytes(odd_media.with_exif_orientation(jpeg(odd_media.marked_frame(200, 120)), orientation))
    photo = read_photo(path)
    assert photo.header.orientation == orientation
    assert photo.image.shape[:2] == ((120, 200) if orientation == 3 else (200, 120))
    assert marker(photo.image) == where
    assert any(words in note and "EXIF orientation" in note for note in photo.notes)


def test_an_animated_gif_uses_its_first_frame_and_says_so(tmp_path):
    anim = cv2.Animation()
    anim.frames = [odd_media.marked_frame(80, 60, v) for v in (10, 90, 170)]
    anim.durations = [100, 100, 100]
    for suffix, count in ((".gif", "(3 frames)"), (".png", "(3 frames)"), (".webp", "")):
        ok, data = cv2.imencodeanimation(suffix, anim)
        assert ok
        path = tmp_path / f"anim{suffix}"
        path.write_bytes(data.tobytes())
        photo = read_photo(path)
        assert photo.image.shape == (60, 80, 3) and int(photo.image[-1, -1, 0]) < 50  # the first (dark) frame
        assert any(f"is an animated {photo.header.format} {count}".strip() in n for n in photo.notes), (
            photo.notes
        )


# ------------------------------------------------------------------------------ paths exactly as given


def test_a_name_with_a_trailing_space_is_not_another_file(tmp_path):
    (tmp_path / "face.jpg").write_bytes(jpeg(odd_media.marked_frame(64, 64)))
    problem = path_problem(tmp_path / "face.jpg ", "photo file")
    assert problem == (
        f"'{tmp_path}/face.jpg ' does not exist (its name has a space at the start or end; "
        f"'{tmp_path}/face.jpg' exists: use that name if you meant it)"
    )
    with pytest.raises(PhotoError, match="does not exist"):
        read_photo(tmp_path / "face.jpg ")


def test_shown_quotes_exactly_and_escapes_what_cannot_print():
    assert shown("clip.mp4 ") == "'clip.mp4 '"
    assert shown("café.jpg") == "'café.jpg'"
    assert shown("a\nb") == "'a\\nb'"
    assert shown(os.fsdecode(b"caf\xff.jpg")) == "'caf\\xff.jpg'"


def test_the_source_spec_keeps_a_file_path_exactly():
    assert SourceSpec.parse("clip.mp4 ") == SourceSpec("file", "clip.mp4 ")
    assert SourceSpec.parse("file: clip.mp4") == SourceSpec("file", " clip.mp4")
    assert SourceSpec.parse(" test ") == SourceSpec("test")
    assert SourceSpec.parse(" 2 ") == SourceSpec("camera", "2")
    assert SourceSpec.parse("²") == SourceSpec("file", "²")  # "²".isdigit() is True: not a camera
    assert SourceSpec.parse("/dev/video3") == SourceSpec("camera", "/dev/video3")
    assert SourceSpec.parse("/dev/zero") == SourceSpec("camera", "/dev/zero")  # a device, not a file


def test_file_path_arguments_refuse_empty_and_folder_shaped_paths():
    assert file_path("clip.mp4 ") == Path("clip.mp4 ")
    with pytest.raises(argparse.ArgumentTypeError, match="empty"):
        file_path("")
    with pytest.raises(argparse.ArgumentTypeError, match="names a folder"):
        file_path("photo.jpg/")


def test_process_reads_the_file_named_with_a_trailing_space(testdata, tmp_path, capsys):
    (tmp_path / "clip.mp4").write_bytes((testdata / "video" / "talking_head_d0.mp4").read_bytes())
    named = odd_media.clip(tmp_path / "clip.mp4 ", 64, 48, 5, fmt="mp4")
    out_path = tmp_path / "o.mp4"
    assert main(["process", "-i", str(named), "-o", str(out_path)]) == 0
    assert "processed 5 frames" in capsys.readouterr().out
    assert frames_of(out_path)[0].shape == (48, 64, 3)  # not the 512×512 clip.mp4 beside it


def test_a_stdout_that_cannot_encode_a_path_gets_escapes(monkeypatch):
    raw = io.BytesIO()
    strict = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", strict)
    out("→ " + os.fsdecode(b"out\xfe.mp4"))
    strict.flush()
    assert raw.getvalue().decode("utf-8") == "→ out\\xfe.mp4\n"


# ------------------------------------------------------------------------------ video: display matrix


def test_display_matrices_map_to_the_turns_players_make():
    one = 1 << 16

    def matrix(a, b, c, d):
        return np.array([a * one, b * one, 0, c * one, d * one, 0, 0, 0, 1 << 30], "<i4").tobytes()

    assert from_display_matrix(matrix(1, 0, 0, 1)).identity
    assert from_display_matrix(matrix(0, 1, -1, 0)).describe() == "turned 90° clockwise"
    assert from_display_matrix(matrix(0, -1, 1, 0)).describe() == "turned 90° counter-clockwise"
    assert from_display_matrix(matrix(-1, 0, 0, -1)).describe() == "turned 180°"
    assert from_display_matrix(matrix(-1, 0, 0, 1)).describe() == "mirrored left-right"
    skew = np.array([46341, 46341, 0, -46341, 46341, 0, 0, 0, 1 << 30], "<i4").tobytes()  # 45°
    assert from_display_matrix(skew).unsupported


@pytest.mark.parametrize(
    ("rotation", "hflip"),
    [(0, True), (90, False), (90, True), (-90, False), (-90, True), (180, False), (180, True)],
)
def test_every_orientation_pyav_writes_is_applied(tmp_path, rotation, hflip):
    import av

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.set_display_rotation(rotation, hflip=hflip)
        frame = av.VideoFrame.from_ndarray(odd_media.marked_frame(160, 96), format="bgr24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with av.open(str(path)) as container:
        stored = next(container.decode(video=0)).to_ndarray(format="bgr24")
    expected = np.rot90(stored, (rotation // 90) % 4)  # PyAV's degrees: counter-clockwise, then the mirror
    expected = expected[:, ::-1] if hflip else expected
    got = frames_of(path)[0]
    assert got.shape == expected.shape and np.array_equal(got, expected)


@pytest.mark.parametrize(
    ("rotation", "where"), [(-90, "top-right"), (90, "bottom-left"), (180, "bottom-right")]
)
def test_a_phone_clip_matches_what_opencvs_auto_orientation_shows(tmp_path, rotation, where):
    path = odd_media.clip(tmp_path / "phone.mp4", 160, 96, 3, rotation=rotation)
    capture = cv2.VideoCapture(str(path))  # CAP_PROP_ORIENTATION_AUTO is on by default: a player's view
    assert capture.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1
    ok, reference = capture.read()
    capture.release()
    source = VideoFileSource(path, loop=False, paced=False)
    info = source.open()
    image = source.read().image
    source.close()
    assert ok and image.shape == reference.shape and marker(image) == where == marker(reference)
    assert float(np.abs(image.astype(int) - reference).mean()) < 3  # same decode, colour conversion aside
    assert (info.width, info.height) == (image.shape[1], image.shape[0])
    assert "display matrix" in info.detail and source.notes


def test_process_writes_a_phone_clip_upright_and_says_so(tmp_path, capsys):
    src = odd_media.clip(tmp_path / "phone.mp4", 160, 96, 4, rotation=-90)
    assert main(["process", "-i", str(src), "-o", str(tmp_path / "o.mp4"), "--no-overlay"]) == 0
    assert "picture: turned 90° clockwise, as the file's display matrix asks" in capsys.readouterr().out
    import av

    with av.open(str(tmp_path / "o.mp4")) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height, frame.rotation) == (96, 160, 0)  # upright, not turned twice
        assert marker(frame.to_ndarray(format="bgr24")) == "top-right"


def test_frames_that_change_size_are_scaled_to_the_first(tmp_path):
    path = odd_media.size_change_clip(tmp_path / "joined.ts", (320, 240), (160, 120), 6)
    source = VideoFileSource(path, loop=False, paced=False)
    source.open()
    shapes = set()
    try:
        while True:
            shapes.add(source.read().image.shape)
    except Exception:
        pass
    source.close()
    assert shapes == {(240, 320, 3)}
    assert any("frames change size at frame 7 (320×240 → 160×120)" in n for n in source.notes), source.notes


def test_a_video_larger_than_8k_is_refused_before_decoding(tmp_path):
    wide = odd_media.clip(tmp_path / "wide.mp4", 8200, 16, 1)
    with pytest.raises(SourceError, match=r"is 8200×16, larger than Mirage reads"):
        VideoFileSource(wide).open()


# ------------------------------------------------------------------------------ special files and devices


def test_fifos_and_devices_are_called_what_they_are_and_never_opened(tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"is a named pipe \(FIFO\), not a video file"):
        VideoFileSource(fifo).open()
    with pytest.raises(SourceError, match="is a character device, not a video file"):
        VideoFileSource("/dev/zero").open()
    with pytest.raises(PhotoError, match=r"is a named pipe \(FIFO\), not a photo file"):
        read_photo(fifo)
    with pytest.raises(PhotoError, match="is a character device, not a photo file"):
        read_photo("/dev/zero")
    with pytest.raises(PhotoError, match="is a folder, not a photo file"):
        read_photo(tmp_path)
    assert time.perf_counter() - started < 2.0  # nothing blocked on the FIFO


def test_cameras_by_device_path_and_by_impossible_index():
    assert (
        camera_problem("/dev/zero")
        == "'/dev/zero' is a character device but not a camera (video4linux) device"
    )
    assert (
        camera_problem("99999999999") == "Camera 99999999999 is out of range: cameras are numbered 0 to 99."
    )
    assert camera_problem("/dev/video9") is None  # not plugged in (yet): the fallback waits for it
    assert camera_problem("0") is None
    with pytest.raises(SourceError, match="out of range"):
        CameraSource(10**12).open()
    with pytest.raises(SourceError, match="no such device"):
        CameraSource("/dev/video9").open()


def _cli(*args: str, tmp_path: Path, timeout: float = 40) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env |= {
        f"MIRAGE_{n}_DIR": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "MODELS", "LOG", "CACHE")
    }
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path
    )


def test_the_cli_refuses_a_fifo_source_or_input_at_once(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    done = _cli(
        "run",
        "--source",
        str(fifo),
        "--no-virtual-camera",
        "--seconds",
        "1",
        "-o",
        "r.mp4",
        tmp_path=tmp_path,
    )
    assert done.returncode == 2 and "is a named pipe (FIFO), not a video file" in done.stderr  # hung before
    done = _cli("process", "-i", str(fifo), "-o", "o.mp4", tmp_path=tmp_path)
    assert done.returncode == 2 and "named pipe (FIFO)" in done.stderr and "does not exist" not in done.stderr
    done = _cli("process", "-i", str(fifo), "-o", "o.mp4", "--map", f"{fifo}=x.jpg", tmp_path=tmp_path)
    assert done.returncode == 2 and "argument --map" in done.stderr and "named pipe (FIFO)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "r.mp4").exists() and not (tmp_path / "o.mp4").exists()


def test_header_parser_rejects_garbage_without_raising_anything_else():
    rng = np.random.default_rng(7)
    for magic in (
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"II*\x00",
        b"MM\x00*",
        b"GIF89a",
        b"BM",
        b"P6",
        b"RIFF",
    ):
        for size in (0, 3, 17, 200):
            data = magic + rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            with contextlib.suppress(NotAnImage):  # anything else escaping fails the test
                read_header(data)


def test_mirage_folders_from_the_environment_are_used_exactly(tmp_path):
    from mirage_desktop.config.paths import AppPaths

    paths = AppPaths.from_env({"MIRAGE_MODELS_DIR": f"{tmp_path}/models ", "MIRAGE_DATA_DIR": "  "})
    assert paths.models_dir == Path(f"{tmp_path}/models ")  # stripped, it named another folder
    assert paths.data_dir != Path("  ")  # blank: unset, the default
