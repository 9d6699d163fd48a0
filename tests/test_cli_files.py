"""Nothing the user has may be lost: `process` and `run --output` against hostile files, full disks
and signals, driven as a user would (real clips, real encoder, real signals to real processes)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mirage_desktop.cli import main
from mirage_desktop.sinks.output_file import PartialFile, same_file
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

CLIP = "video/talking_head_d0.mp4"  # 78 frames, 512×512
LONG_CLIP = "video/talking_head_long_d9.mp4"  # 587 frames: long enough to interrupt
CRASH_MARKS = ("Traceback", "terminate called", "Fatal Python error", "Exception ignored")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


@pytest.fixture
def clip(testdata, tmp_path) -> Path:
    """A private copy of the short clip, so a test that destroys it cannot hurt the shared one."""
    dest = tmp_path / "input.mp4"
    dest.write_bytes((testdata / CLIP).read_bytes())
    return dest


@pytest.fixture
def old_output(tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "out.mp4"
    content = b"the user's earlier video " * 100
    path.write_bytes(content)
    return path, content


# ---------------------------------------------------------------------------------------- same file
@pytest.mark.parametrize("kind", ["hard link", "symlink", "same path"])
def test_output_that_is_the_input_is_refused_and_the_input_kept(kind, clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    if kind == "hard link":
        os.link(clip, out)
    elif kind == "symlink":
        out.symlink_to(clip)
    else:
        out = clip
    before = sha(clip)
    assert main(["process", "-i", str(clip), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is the input file" in err and "destroy" in err
    assert sha(clip) == before and frames_in(clip) == 78
    assert leftovers(tmp_path) == []


def test_same_file_is_decided_by_identity_not_by_name(clip, tmp_path):
    link = tmp_path / "other-name.mp4"
    os.link(clip, link)
    assert same_file(clip, link)
    assert not same_file(clip, tmp_path / "absent.mp4")


# ---------------------------------------------------------------------------------------- bad outputs
@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda d: d / "no" / "such" / "out.mp4", "does not exist"),
        (lambda d: d / "out.txt", "use a file name ending in"),
        (lambda d: Path("/dev/null"), "use a file name ending in"),
        (lambda d: (d / "folder.mp4").mkdir() or d / "folder.mp4", "is a folder"),
    ],
    ids=["missing folder", "unsupported extension", "device", "folder"],
)
def test_output_that_cannot_be_created_fails_before_any_frame(make, expect, clip, tmp_path, capsys):
    out = make(tmp_path)
    assert main(["process", "-i", str(clip), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert expect in captured.err
    assert "processed" not in captured.out and "frames written" not in captured.err
    assert leftovers(tmp_path) == []


def test_a_fifo_named_like_a_video_is_not_replaced(clip, tmp_path, capsys):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    assert main(["process", "-i", str(clip), "-o", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert fifo.is_fifo()


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str, readonly: bool = False):
    folder.mkdir()
    opts = f"size={size}" + (",ro" if readonly else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_output_folder_that_cannot_be_written_fails_before_any_frame(clip, tmp_path, capsys):
    if os.geteuid() == 0:  # root writes through permission bits: a read-only file system is the real case
        with small_tmpfs(tmp_path / "ro", "1m", readonly=True) as folder:
            assert main(["process", "-i", str(clip), "-o", str(folder / "out.mp4")]) == 2
            assert list(folder.iterdir()) == []
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        assert main(["process", "-i", str(clip), "-o", str(folder / "out.mp4")]) == 2
    captured = capsys.readouterr()
    assert "read-only" in captured.err or "not writable" in captured.err
    assert "processed" not in captured.out


# ---------------------------------------------------------------------------------------- replacing
def test_an_existing_output_is_replaced_only_by_a_complete_video(clip, old_output, tmp_path, capsys):
    out, _ = old_output
    out.chmod(0o640)
    assert main(["process", "-i", str(clip), "-o", str(out)]) == 0
    assert "processed 78 frames in" in capsys.readouterr().out
    assert frames_in(out) == 78
    assert out.stat().st_mode & 0o777 == 0o640  # the user's permissions survive the replacement
    assert leftovers(tmp_path) == []


def test_writing_through_a_symlink_keeps_the_link(clip, tmp_path, capsys):
    target = tmp_path / "real.mp4"
    target.write_bytes(b"old")
    link = tmp_path / "link.mp4"
    link.symlink_to(target)
    assert main(["process", "-i", str(clip), "-o", str(link)]) == 0
    assert link.is_symlink() and frames_in(target) == 78


def test_partial_file_commit_without_replace_never_clobbers(tmp_path):
    dest = tmp_path / "v.mp4"
    partial = PartialFile(dest)
    path = partial.create()
    assert path.parent == dest.parent and path.name.startswith(".v.mp4.partial-") and path.suffix == ".mp4"
    path.write_bytes(b"new")
    dest.write_bytes(b"appeared meanwhile")
    with pytest.raises(FileExistsError):
        partial.commit(replace=False)
    assert dest.read_bytes() == b"appeared meanwhile"
    partial.discard()
    assert leftovers(tmp_path) == []


def test_metrics_json_in_a_missing_folder_fails_before_the_work(clip, testdata, tmp_path, capsys):
    bad = str(tmp_path / "no" / "such" / "m.json")
    assert main(["process", "-i", str(clip), "-o", str(tmp_path / "o.mp4"), "--metrics-json", bad]) == 2
    captured = capsys.readouterr()
    assert "metrics file" in captured.err and "does not exist" in captured.err
    assert "processed" not in captured.out
    started = time.monotonic()
    code = main(
        ["run", "--source", str(clip), "--seconds", "5", "--no-virtual-camera", "--metrics-json", bad]
    )
    assert code == 2 and time.monotonic() - started < 2
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and "Mirage: running" not in captured.err
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []


def test_run_refuses_an_output_that_is_its_source_file(clip, tmp_path, capsys):
    link = tmp_path / "rec.mp4"
    os.link(clip, link)
    before = sha(clip)
    assert main(["run", "--source", str(clip), "--seconds", "1", "--no-virtual-camera", "-o", str(link)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert sha(clip) == before


# ---------------------------------------------------------------------------------------- broken inputs
def test_truncated_input_without_index_fails_with_its_reason(clip, tmp_path, capsys):
    with open(clip, "r+b") as fh:
        fh.truncate(clip.stat().st_size * 2 // 5)  # the mp4 index (moov) sits at the end: cut off
    for attempt in range(3):
        out = tmp_path / f"out{attempt}.mp4"
        assert main(["process", "-i", str(clip), "-o", str(out)]) == 2
        captured = capsys.readouterr()
        assert "damaged" in captured.err
        assert "→" not in captured.out and not out.exists()
    assert leftovers(tmp_path) == []


def test_input_cut_short_saves_what_was_readable_and_says_so(testdata, tmp_path, capsys):
    avi = tmp_path / "cut.avi"
    cap = cv2.VideoCapture(str(testdata / CLIP))
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (512, 512))
    while True:
        ok, image = cap.read()
        if not ok:
            break
        writer.write(image)
    writer.release()
    with open(avi, "r+b") as fh:  # the AVI header still announces 78 frames
        fh.truncate(avi.stat().st_size // 2)
    out = tmp_path / "out.mp4"
    assert main(["process", "-i", str(avi), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "ended after" in err and "of its 78 frames" in err and "saved to" in err
    assert 20 < frames_in(out) < 78


# ---------------------------------------------------------------------------------------- the face
@pytest.fixture
def placed_models(tmp_path, testdata, capsys):
    """Stand-ins with the real models' I/O, placed as a user would place files."""
    built = tmp_path / "built"
    built.mkdir()
    for path in (
        build_scrfd(built / "det_10g.onnx", obama_template(testdata)),
        arcface.build_arcface(built / "w600k_r50.onnx"),
        inswapper.build_visible(built / "inswapper_128.onnx"),
    ):
        assert main(["models", "add", str(path), "--allow-unverified"]) == 0
    capsys.readouterr()


def _no_face(tmp_path: Path) -> Path:
    path = tmp_path / "no_face.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(90, 160, (320, 320, 3), dtype=np.uint8))
    return path


def _not_an_image(tmp_path: Path) -> Path:
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo")
    return path


def _folder(tmp_path: Path) -> Path:
    path = tmp_path / "photos"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("face", "expect"),
    [
        (lambda d: d / "nobody.jpg", "does not exist"),
        (_folder, "is a folder"),
        (_not_an_image, "is a text file, not a photo"),
        (_no_face, "face"),
    ],
    ids=["missing", "folder", "not an image", "no face"],
)
def test_a_face_that_cannot_be_worn_fails_fast(
    face, expect, placed_models, clip, old_output, tmp_path, capsys
):
    out, content = old_output
    photo = face(tmp_path)
    assert main(["process", "--face", str(photo), "-i", str(clip), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert expect in captured.err and "--allow-passthrough" in captured.err
    assert "processed" not in captured.out and "frames written" not in captured.err
    assert out.read_bytes() == content and leftovers(tmp_path) == []


def test_missing_face_models_fail_fast(testdata, clip, old_output, tmp_path, capsys):
    out, content = old_output
    started = time.monotonic()
    code = main(["process", "--face", str(testdata / "faces/obama.jpg"), "-i", str(clip), "-o", str(out)])
    assert code == 2 and time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert "models download" in err or "models add" in err
    assert out.read_bytes() == content and leftovers(tmp_path) == []


def test_allow_passthrough_writes_the_unswapped_video_on_purpose(testdata, clip, tmp_path, capsys):
    out = tmp_path / "plain.mp4"
    argv = ["process", "--face", str(testdata / "faces/obama.jpg"), "-i", str(clip), "-o", str(out)]
    assert main([*argv, "--allow-passthrough"]) == 0
    captured = capsys.readouterr()
    assert "--allow-passthrough" in captured.err and "processed 78 frames" in captured.out
    assert frames_in(out) == 78


def test_a_swapper_that_fails_when_run_gives_no_output_unless_passthrough(
    testdata, clip, old_output, tmp_path, capsys
):
    built = tmp_path / "built"
    built.mkdir()
    for path in (
        build_scrfd(built / "det_10g.onnx", obama_template(testdata)),
        arcface.build_arcface(built / "w600k_r50.onnx"),
        inswapper.build_fails_when_run(built / "inswapper_128.onnx"),
    ):
        assert main(["models", "add", str(path), "--allow-unverified"]) == 0
    capsys.readouterr()
    out, content = old_output
    argv = ["process", "--face", str(testdata / "faces/obama.jpg"), "-i", str(clip), "-o", str(out)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Nothing was written" in captured.err and "--allow-passthrough" in captured.err
    assert "processed" not in captured.out
    assert out.read_bytes() == content and leftovers(tmp_path) == []
    assert main([*argv, "--allow-passthrough"]) == 0
    assert frames_in(out) == 78


# ---------------------------------------------------------------------------------------- real processes
def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mirage_desktop.cli", *args]


def _limit_file_size(limit: int):
    def apply() -> None:
        # a full disk without root: writes past the limit fail with EFBIG instead of killing the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_disk_full_gives_an_error_and_keeps_the_old_output(clip, old_output, tmp_path):
    out, content = old_output
    proc = subprocess.run(
        _cli("process", "-i", str(clip), "-o", str(out)),
        capture_output=True,
        text=True,
        timeout=120,
        # H.264 writes the 78 frames in ~165 kB (mp4v took more than 300 kB): the limit cuts it halfway
        preexec_fn=_limit_file_size(100_000),
    )
    assert proc.returncode == 1, proc.stderr
    assert "largest size allowed" in proc.stderr and "Nothing was written" in proc.stderr
    assert "processed" not in proc.stdout
    assert not any(mark in proc.stderr for mark in CRASH_MARKS), proc.stderr
    assert out.read_bytes() == content and leftovers(tmp_path) == []


def test_a_write_error_stops_the_work_early(testdata, tmp_path):
    metrics = tmp_path / "m.json"
    proc = subprocess.run(
        _cli(
            "process",
            "-i",
            str(testdata / LONG_CLIP),
            "-o",
            str(tmp_path / "o.mp4"),
            "--metrics-json",
            str(metrics),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size(600_000),
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    # the limit is reached after ~200 of 587 frames; the periodic check stops within half a second
    assert json.loads(metrics.read_text())["frames_output"] < 450
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []


def test_a_full_file_system_gives_an_error(clip, tmp_path):
    with small_tmpfs(tmp_path / "small", "100k") as folder:  # H.264: ~165 kB for the clip (mp4v: > 200 kB)
        proc = subprocess.run(
            _cli("process", "-i", str(clip), "-o", str(folder / "out.mp4")),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1, proc.stderr
        assert "is full" in proc.stderr and "Nothing was written" in proc.stderr
        assert list(folder.iterdir()) == []


def _some_frames_written(line: str) -> bool:
    # "  N frames written": under load the first face-swapped frame can take seconds, and a signal
    # before any frame rightly leaves no file
    found = re.match(r"\s*(\d+) frames written", line)
    return bool(found) and int(found.group(1)) >= 5


def _interrupt(argv: list[str], sig: int, after_lines: int = 1, marker=_some_frames_written):
    """Run the CLI; send ``sig`` once ``marker(line)`` held for ``after_lines`` stderr lines.

    Returns (exit code, stdout, stderr, seconds from the signal to the exit).
    """
    proc = subprocess.Popen(_cli(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if sum(bool(marker(seen)) for seen in lines) >= after_lines:
                ready.set()
        ready.set()

    reader = threading.Thread(target=read_err, daemon=True)
    reader.start()
    assert ready.wait(90), "the command never got going"
    assert proc.poll() is None, "".join(lines)
    proc.send_signal(sig)
    sent = time.monotonic()
    out = proc.stdout.read() if proc.stdout else ""
    rc = proc.wait(60)
    reader.join(10)
    return rc, out, "".join(lines), time.monotonic() - sent


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_process_stops_cleanly_and_keeps_a_playable_file(sig, testdata, tmp_path):
    out = tmp_path / "out.mp4"
    rc, _, err, took = _interrupt(["process", "-i", str(testdata / LONG_CLIP), "-o", str(out)], sig)
    assert rc == 128 + sig, err
    assert took < 10
    assert not any(mark in err for mark in CRASH_MARKS), err
    assert "interrupted" in err and f"saved to {out}" in err
    assert 0 < frames_in(out) < 587
    assert leftovers(tmp_path) == []


def test_ctrl_c_never_replaces_an_existing_output_with_a_partial_one(testdata, old_output, tmp_path):
    out, content = old_output
    rc, _, err, _ = _interrupt(["process", "-i", str(testdata / LONG_CLIP), "-o", str(out)], signal.SIGINT)
    assert rc == 130, err
    assert "left unchanged" in err
    assert out.read_bytes() == content and leftovers(tmp_path) == []


def test_ctrl_c_during_process_with_the_face_swap(placed_models, testdata, tmp_path):
    out = tmp_path / "out.mp4"
    argv = [
        "process",
        "--face",
        str(testdata / "faces/obama.jpg"),
        "-i",
        str(testdata / LONG_CLIP),
        "-o",
        str(out),
    ]
    rc, _, err, took = _interrupt(argv, signal.SIGINT)
    assert rc == 130, err
    assert not any(mark in err for mark in CRASH_MARKS), err
    assert took < 20 and frames_in(out) > 0 and leftovers(tmp_path) == []


def test_sigterm_during_run_output_finishes_the_recording(testdata, tmp_path):
    out = tmp_path / "rec.mp4"
    argv = ["run", "--source", str(testdata / CLIP), "--no-virtual-camera", "--stats", "-o", str(out)]
    rc, stdout, err, took = _interrupt(argv, signal.SIGTERM, 2, lambda line: "fps in" in line)
    assert rc == 143, err
    assert not any(mark in err for mark in CRASH_MARKS), err
    assert f"to {out}" in stdout and "saved" in err and took < 10
    assert frames_in(out) > 0 and leftovers(tmp_path) == []


def test_run_output_write_error_is_an_error(testdata, old_output, tmp_path):
    out, content = old_output
    proc = subprocess.run(
        _cli(
            "run", "--source", str(testdata / CLIP), "--seconds", "20", "--no-virtual-camera", "-o", str(out)
        ),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_file_size(400_000),
    )
    assert proc.returncode == 1, proc.stderr
    assert "Recording failed" in proc.stderr and "largest size allowed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == content and leftovers(tmp_path) == []
