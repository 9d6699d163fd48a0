"""Issue 17, items 5 (pictures and paths) and 7 (special files): phone clips with a display matrix,
photos that decode to gigabytes or are not photos, paths used exactly as typed, FIFOs and devices
where a file or a camera is expected."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import av
import numpy as np

from hostile.plumbing import CLIP, FACE, Env, Fixtures, Outcome, case, input_check, judge, run_cli, sha256
from mirage_desktop.testmodels import odd_media

QUICK_S = 5.0  # a refusal from the header or the path must not take longer than this


def _first_frame(path: Path) -> tuple[np.ndarray | None, int]:
    """The first frame as stored (no rotation applied) and the rotation a player would apply."""
    if not path.is_file():
        return None, 0
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0), None)
        if frame is None:
            return None, 0
        return frame.to_ndarray(format="bgr24"), int(frame.rotation or 0)


def _marker_at(image: np.ndarray) -> str:
    """Where the red block of odd_media.marked_frame is: 'top-left', 'bottom-right', ..."""
    red = (image[:, :, 2] > 150) & (image[:, :, 1] < 100) & (image[:, :, 0] < 100)
    if not red.any():
        return "nowhere"
    ys, xs = np.nonzero(red)
    height, width = red.shape
    return (
        ("top" if ys.mean() < height / 2 else "bottom") + "-" + ("left" if xs.mean() < width / 2 else "right")
    )


def _rotated(name: str, rotation: int, want_size: tuple[int, int], want_marker: str, words: str) -> None:
    @case(name, "17.5")
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        src = odd_media.clip(env.work / "phone.mp4", 160, 96, 8, rotation=rotation)
        before = sha256(src)
        out = env.work / "out.mp4"
        ran = run_cli(env, "process", "-i", str(src), "-o", str(out), "--no-overlay", timeout=60)
        image, player_turn = _first_frame(out)
        size = None if image is None else (image.shape[1], image.shape[0])
        where = "none" if image is None else _marker_at(image)
        ok = (
            ran.rc == 0
            and size == want_size
            and where == want_marker
            and player_turn == 0
            and words in ran.out
        )
        note = (
            f"output {size}, marker {where} (want {want_size}, {want_marker}); its own rotation {player_turn}"
        )
        return judge(name, "17.5", ran, ok, note, [input_check(src, before)])


_rotated(
    "process: phone clip, display matrix 90° clockwise", -90, (96, 160), "top-right", "turned 90° clockwise"
)
_rotated("process: phone clip, display matrix 180°", 180, (160, 96), "bottom-right", "turned 180°")


@case("run: phone clip as the live source is turned upright", "17.5")
def _rotated_live(fx: Fixtures) -> Outcome:
    name = "run: phone clip as the live source is turned upright"
    env = Env(fx.root, "rotated-live")
    src = odd_media.clip(env.work / "phone.mp4", 160, 96, 25, rotation=90)
    rec = env.work / "rec.mp4"
    ran = run_cli(
        env,
        "run",
        "--source",
        str(src),
        "--no-virtual-camera",
        "--no-overlay",
        "--seconds",
        "1.5",
        "-o",
        str(rec),
        timeout=40,
    )
    image, _ = _first_frame(rec)
    size = None if image is None else (image.shape[1], image.shape[0])
    where = "none" if image is None else _marker_at(image)
    ok = (
        ran.rc == 0
        and size == (96, 160)
        and where == "bottom-left"
        and "turned 90° counter-clockwise" in ran.err
    )
    return judge(name, "17.5", ran, ok, f"recorded {size}, marker {where}")


@case("process --face: a PNG that decodes to 2.7 GB (30000×30000)", "17.5")
def _png_bomb(fx: Fixtures) -> Outcome:
    name = "process --face: a PNG that decodes to 2.7 GB (30000×30000)"
    env = Env(fx.root, "png-bomb", fx.models_ok)
    src, before = fx.clip_copy(env)
    bomb = odd_media.png_bomb(env.work / "face.png")
    ran = run_cli(
        env, "process", "--face", str(bomb), "-i", str(src), "-o", str(env.work / "o.mp4"), timeout=60
    )
    ok = ran.rc == 2 and "30000×30000" in ran.err and ran.elapsed < QUICK_S
    note = f"{bomb.stat().st_size / 1e6:.0f} MB file, answered in {ran.elapsed:.1f} s"
    return judge(name, "17.5", ran, ok, note, [input_check(src, before)])


@case("process --face: a 3 GB file named .jpg", "17.5")
def _huge_jpg(fx: Fixtures) -> Outcome:
    name = "process --face: a 3 GB file named .jpg"
    env = Env(fx.root, "huge-jpg", fx.models_ok)
    src, before = fx.clip_copy(env)
    huge = env.work / "face.jpg"
    with open(huge, "wb") as fh:  # sparse: no disk used
        fh.write(FACE.read_bytes()[:4096])
        fh.truncate(3 * 1024**3)
    ran = run_cli(
        env, "process", "--face", str(huge), "-i", str(src), "-o", str(env.work / "o.mp4"), timeout=60
    )
    ok = ran.rc == 2 and "3.0 GB" in ran.err and ran.elapsed < QUICK_S
    return judge(name, "17.5", ran, ok, f"answered in {ran.elapsed:.1f} s", [input_check(src, before)])


@case("process --input 'clip.mp4 ' (trailing space) beside clip.mp4", "17.5")
def _trailing_space(fx: Fixtures) -> Outcome:
    name = "process --input 'clip.mp4 ' (trailing space) beside clip.mp4"
    env = Env(fx.root, "trailing-space")
    other, before = fx.clip_copy(env, "clip.mp4")  # 512×512: the file the user did NOT name
    typed = odd_media.clip(env.work / "clip.mp4 ", 64, 48, 6, fmt="mp4")  # the one they named
    out = env.work / "o.mp4"
    ran = run_cli(env, "process", "-i", str(typed), "-o", str(out), timeout=60)
    image, _ = _first_frame(out)
    size = None if image is None else (image.shape[1], image.shape[0])
    ok = ran.rc == 0 and size == (64, 48)
    return judge(
        name, "17.5", ran, ok, f"output {size} (the named file is 64×48)", [input_check(other, before)]
    )


@case("process --input 'clip.mp4 ' (trailing space), only clip.mp4 exists", "17.5")
def _trailing_space_missing(fx: Fixtures) -> Outcome:
    name = "process --input 'clip.mp4 ' (trailing space), only clip.mp4 exists"
    env = Env(fx.root, "trailing-space-missing")
    src, before = fx.clip_copy(env, "clip.mp4")
    out = env.work / "o.mp4"
    ran = run_cli(env, "process", "-i", str(src) + " ", "-o", str(out), timeout=60)
    ok = ran.rc == 2 and f"'{src} ' does not exist" in ran.err and "space" in ran.err and not out.exists()
    return judge(
        name, "17.5", ran, ok, "" if not out.exists() else "an output was written", [input_check(src, before)]
    )


@case("process --map 'a.jpg = b.jpg' (spaces around =)", "17.5")
def _map_spaces(fx: Fixtures) -> Outcome:
    name = "process --map 'a.jpg = b.jpg' (spaces around =)"
    env = Env(fx.root, "map-spaces", fx.models_ok)
    src, before = fx.clip_copy(env)
    shutil.copyfile(FACE, env.work / "a.jpg")
    shutil.copyfile(FACE, env.work / "b.jpg")
    out = env.work / "o.mp4"
    ran = run_cli(env, "process", "--map", "a.jpg = b.jpg", "-i", str(src), "-o", str(out), timeout=60)
    ok = ran.rc == 2 and "'a.jpg ' does not exist" in ran.err and "'a.jpg' exists" in ran.err
    return judge(name, "17.5", ran, ok, lost=[input_check(src, before)])


@case("process --face '' (an empty path)", "17.5")
def _empty_face(fx: Fixtures) -> Outcome:
    name = "process --face '' (an empty path)"
    env = Env(fx.root, "empty-face", fx.models_ok)
    src, before = fx.clip_copy(env)
    ran = run_cli(env, "process", "--face", "", "-i", str(src), "-o", str(env.work / "o.mp4"), timeout=60)
    ok = ran.rc == 2 and "empty" in ran.err  # Path("") is the current folder: "'.' is a folder" misleads
    return judge(name, "17.5", ran, ok, lost=[input_check(src, before)])


@case("process --face photo.jpg/ (a trailing slash)", "17.5")
def _slash_face(fx: Fixtures) -> Outcome:
    name = "process --face photo.jpg/ (a trailing slash)"
    env = Env(fx.root, "slash-face", fx.models_ok)
    src, before = fx.clip_copy(env)
    photo = env.work / "photo.jpg"
    shutil.copyfile(FACE, photo)
    out = env.work / "o.mp4"
    ran = run_cli(env, "process", "--face", f"{photo}/", "-i", str(src), "-o", str(out), timeout=60)
    ok = ran.rc == 2 and "names a folder" in ran.err and not out.exists()
    note = "the slash was dropped and photo.jpg used" if out.exists() else ""
    return judge(name, "17.5", ran, ok, note, [input_check(src, before)])


@case("process --face: a video named .jpg", "17.5")
def _video_as_face(fx: Fixtures) -> Outcome:
    name = "process --face: a video named .jpg"
    env = Env(fx.root, "video-face", fx.models_ok)
    src, before = fx.clip_copy(env)
    fake = env.work / "face.jpg"
    shutil.copyfile(CLIP, fake)
    ran = run_cli(
        env, "process", "--face", str(fake), "-i", str(src), "-o", str(env.work / "o.mp4"), timeout=60
    )
    ok = ran.rc == 2 and "is a video" in ran.err
    return judge(name, "17.5", ran, ok, lost=[input_check(src, before)])


@case("process --face: an iPhone HEIC photo named .jpg", "17.5")
def _heic_face(fx: Fixtures) -> Outcome:
    name = "process --face: an iPhone HEIC photo named .jpg"
    env = Env(fx.root, "heic-face", fx.models_ok)
    src, before = fx.clip_copy(env)
    heic = env.work / "IMG_0001.jpg"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(4000))
    ran = run_cli(
        env, "process", "--face", str(heic), "-i", str(src), "-o", str(env.work / "o.mp4"), timeout=60
    )
    ok = ran.rc == 2 and "HEIC" in ran.err and "save it as JPEG" in ran.err
    return judge(name, "17.5", ran, ok, lost=[input_check(src, before)])


@case("process: frames change size midway (two streams joined)", "17.5")
def _size_change(fx: Fixtures) -> Outcome:
    name = "process: frames change size midway (two streams joined)"
    env = Env(fx.root, "size-change")
    src = odd_media.size_change_clip(env.work / "joined.ts", (320, 240), (160, 120), 8)
    before = sha256(src)
    out = env.work / "o.mp4"
    ran = run_cli(env, "process", "-i", str(src), "-o", str(out), timeout=60)
    frames = 0
    sizes = set()
    if out.is_file():
        with av.open(str(out)) as container:
            for frame in container.decode(video=0):
                frames += 1
                sizes.add((frame.width, frame.height))
    ok = ran.rc == 0 and frames == 16 and sizes == {(320, 240)} and "change size" in ran.out
    return judge(name, "17.5", ran, ok, f"{frames} frames, sizes {sorted(sizes)}", [input_check(src, before)])


@case("process with paths that are not UTF-8 (strict stdout)", "17.5")
def _not_utf8(fx: Fixtures) -> Outcome:
    name = "process with paths that are not UTF-8 (strict stdout)"
    env = Env(fx.root, "not-utf8")
    work = os.fsencode(env.work)
    src = work + b"/in\xff.mp4"
    shutil.copyfile(CLIP, src)
    out = work + b"/out\xfe.mp4"
    ran = run_cli(
        env,
        "process",
        "-i",
        os.fsdecode(src),
        "-o",
        os.fsdecode(out),
        timeout=60,
        extra_env={"PYTHONIOENCODING": "utf-8"},
    )
    ok = ran.rc == 0 and os.path.isfile(out) and "\\xfe" in ran.out
    return judge(name, "17.5", ran, ok, "" if os.path.isfile(out) else "no output")


# ------------------------------------------------------------------------------------ 17.7 special files


def _fifo(env: Env, name: str = "pipe.mp4") -> Path:
    path = env.work / name
    os.mkfifo(path)
    return path


@case("run --source FIFO -o rec.mp4", "17.7")
def _run_fifo(fx: Fixtures) -> Outcome:
    name = "run --source FIFO -o rec.mp4"
    env = Env(fx.root, "run-fifo")
    fifo = _fifo(env)
    ran = run_cli(
        env,
        "run",
        "--source",
        str(fifo),
        "--no-virtual-camera",
        "--seconds",
        "1",
        "-o",
        str(env.work / "r.mp4"),
        timeout=25,
    )
    ok = ran.rc == 2 and "named pipe (FIFO)" in ran.err
    return judge(name, "17.7", ran, ok)


@case("settings video.source = a FIFO (run)", "17.7")
def _settings_fifo(fx: Fixtures) -> Outcome:
    name = "settings video.source = a FIFO (run)"
    env = Env(fx.root, "settings-fifo")
    fifo = _fifo(env)
    env.config.mkdir(parents=True, exist_ok=True)
    env.settings.write_text(json.dumps({"video": {"source": f"file:{fifo}"}}) + "\n")
    ran = run_cli(
        env, "run", "--no-virtual-camera", "--seconds", "1", "-o", str(env.work / "r.mp4"), timeout=25
    )
    ok = ran.rc == 2 and "named pipe (FIFO)" in ran.err
    return judge(name, "17.7", ran, ok)


def _run_device(name: str, source: str, words: str) -> None:
    @case(name, "17.7")
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        ran = run_cli(
            env,
            "run",
            "--source",
            source,
            "--no-virtual-camera",
            "--no-fallback",
            "--seconds",
            "1",
            timeout=25,
        )
        ok = ran.rc in (1, 2) and words in ran.err
        return judge(name, "17.7", ran, ok)


_run_device("run --source /dev/zero", "/dev/zero", "character device but not a camera")
_run_device("run --source /dev/video7 (a camera not plugged in)", "/dev/video7", "plugged in")
_run_device("run --source camera:99999999999", "camera:99999999999", "out of range")
_run_device("run --source 'camera:²'", "camera:²", "No camera named '²'")


def _file_arg(name: str, flag: str, make, words: str) -> None:
    """A special file where process expects a regular file: refused at once, called what it is."""

    @case(name, "17.7")
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name, fx.models_ok)
        src, before = fx.clip_copy(env)
        special = make(env)
        out = env.work / "o.mp4"
        args = {"--input": ["-i", str(special)], "--face": ["--face", str(special), "-i", str(src)]}.get(
            flag, ["--map", f"{special}={FACE}", "-i", str(src)]
        )
        ran = run_cli(env, "process", *args, "-o", str(out), timeout=20)
        ok = (
            ran.rc == 2 and words in ran.err and "does not exist" not in ran.err and ran.elapsed < QUICK_S * 2
        )
        return judge(name, "17.7", ran, ok, lost=[input_check(src, before)])


_file_arg("process --input FIFO", "--input", _fifo, "named pipe (FIFO)")
_file_arg("process --input /dev/zero", "--input", lambda env: Path("/dev/zero"), "character device")
_file_arg("process --face FIFO", "--face", lambda env: _fifo(env, "face.jpg"), "named pipe (FIFO)")
_file_arg("process --face /dev/zero", "--face", lambda env: Path("/dev/zero"), "character device")
_file_arg("process --map FIFO=photo", "--map", lambda env: _fifo(env, "target.jpg"), "named pipe (FIFO)")
