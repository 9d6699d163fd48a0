"""Bad numbers and odd inputs get a clear message and exit code 2, never a traceback (issue 10, §3).

The CLI is driven as a user drives it: in-process through ``main([...])`` for the parse errors, and as
a real ``mirage-cli`` subprocess where a traceback or pyvirtualcam's ``__del__`` noise would show up
on stderr only in a separate interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mirage_desktop.cli import build_parser, main, validate
from mirage_desktop.processing.face.source_face import SourceFaceError, read_image
from mirage_desktop.runtime.probe_model import identity_model_bytes
from mirage_desktop.sinks.base import SinkError
from mirage_desktop.sinks.virtual_camera import VirtualCameraSink, known_backends
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template
from tests.recording_backend import register_recording_backend

CLIP = "video/talking_head_d0.mp4"
FACE = "faces/obama.jpg"


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``mirage-cli ARGV`` in its own interpreter, with the test's isolated MIRAGE_* folders."""
    return subprocess.run(
        [sys.executable, "-m", "mirage_desktop.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def parse_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------ numbers, refused at the edge

BAD_NUMBERS = [
    (["run", "--width", "0"], "--width: 0 is out of range: use a whole number from 16 to 7680"),
    (["run", "--width", "-1"], "--width: -1 is out of range: use a whole number from 16 to 7680"),
    (["run", "--width", "100000", "--height", "100000"], "--width: 100000 is out of range"),
    (["run", "--height", "100000"], "--height: 100000 is out of range: use a whole number from 16 to 4320"),
    (["run", "--width", "640.5"], "--width: '640.5' is not a whole number (allowed: 16 to 7680)"),
    (["run", "--seconds", "nan"], "--seconds: 'nan' is not a finite number; use 0 (= until Ctrl-C)"),
    (["run", "--seconds", "inf"], "--seconds: 'inf' is not a finite number"),
    (["run", "--seconds", "-5"], "--seconds: -5 is out of range; use 0 (= until Ctrl-C) or a number"),
    (["run", "--seconds", "1e9"], "up to 604800 (7 days)"),
    (["run", "--fps", "0"], "--fps: 0 is out of range: use a number from 1 to 240"),
    (["run", "--fps", "nan"], "--fps: 'nan' is not a finite number (allowed: 1 to 240)"),
    (["run", "--max-fps", "-1"], "--max-fps: -1 is out of range: use a number from 0 to 240"),
    (["voice", "--block-ms", "-5"], "--block-ms: -5 is out of range: use a number from 5 to 160 ms"),
    (["voice", "--block-ms", "1000"], "--block-ms: 1000 is out of range"),
    (["voice", "--buffer-ms", "-1"], "--buffer-ms: -1 is out of range: use a number from 0 to 1000 ms"),
    (["voice", "--sample-rate", "1"], "--sample-rate: 1 is out of range: use a whole number from 8000"),
    (["voice", "--sample-rate", "1000000"], "from 8000 to 192000 Hz"),
    (["voice", "--gate-db", "nan"], "--gate-db: 'nan' is not a finite number (allowed: -120 to 0 dBFS)"),
    (["voice", "--gate-db", "6"], "--gate-db: 6 is out of range: use a number from -120 to 0 dBFS"),
    (["voice", "--semitones", "99"], "--semitones: 99 is out of range: use a number from -24 to 24"),
    (["voice", "--formant", "0"], "--formant: 0 is out of range: use a number from 0.5 to 2"),
    (["voice", "--seconds", "inf"], "--seconds: 'inf' is not a finite number"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_bad_numbers_are_refused_with_the_allowed_range(capsys, argv, message):
    err = parse_error(capsys, *argv)
    assert f"mirage-cli {argv[0]}: error: argument {message}" in err or message in err
    assert "error: argument" in err


def test_the_limits_themselves_are_accepted():
    parser = build_parser()
    args = parser.parse_args(
        ["run", "--width", "16", "--height", "4320", "--fps", "240", "--max-fps", "0", "--seconds", "0"]
    )
    assert (args.width, args.height, args.fps, args.max_fps, args.seconds) == (16, 4320, 240.0, 0.0, 0.0)
    args = parser.parse_args(
        ["voice", "--block-ms", "5", "--sample-rate", "48000", "--gate-db", "-120", "--seconds", "604800"]
    )
    assert (args.block_ms, args.sample_rate, args.gate_db, args.seconds) == (5.0, 48000, -120.0, 604800.0)


def _numeric_actions(parser: argparse.ArgumentParser, path: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _numeric_actions(sub, f"{path} {name}".strip())
        elif action.type in (int, float):
            yield f"{path} {'/'.join(action.option_strings) or action.dest}"


def test_no_option_of_any_subcommand_takes_an_unchecked_number():
    # A bare int/float accepts 0, negatives, nan and inf; every number must go through validate.py.
    unchecked = list(_numeric_actions(build_parser()))
    assert unchecked == []


def test_validators_refuse_what_float_accepts():
    check = validate.finite_float(0, 10)
    for text in ("nan", "inf", "-inf", "1e400", "abc", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            check(text)
    assert check(" 2.5 ") == 2.5
    with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 3"):
        validate.positive_int(max=3)("0")


def test_a_small_run_at_the_lower_limits_works(tmp_path, capsys):
    out = tmp_path / "tiny.mp4"
    code = main(
        [
            "run",
            "--source",
            "test",
            "--no-virtual-camera",
            "--width",
            "16",
            "--height",
            "16",
            "--seconds",
            "0.5",
            "-o",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert out.stat().st_size > 0


# ------------------------------------------------------------------ the former tracebacks, for real


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--width", "0"], "argument --width: 0 is out of range"),
        (["run", "--width", "100000", "--height", "100000"], "argument --width: 100000 is out of range"),
        (["run", "--seconds", "nan"], "argument --seconds: 'nan' is not a finite number"),
        (
            ["run", "--source", "test", "--seconds", "1", "--virtual-camera-backend", "nosuch"],
            "unknown virtual camera backend 'nosuch' (known: ",
        ),
    ],
)
def test_former_tracebacks_end_in_one_message_in_a_real_process(argv, message):
    done = cli(*argv, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_the_backend_message_lists_the_backends_this_build_has(capsys):
    err = parse_error(capsys, "run", "--virtual-camera-backend", "nosuch")
    for name in known_backends():
        assert name in err


def test_a_registered_backend_is_accepted_and_used(tmp_path, capsys):
    name, recording = register_recording_backend()
    code = main(["run", "--source", "test", "--seconds", "0.5", "--virtual-camera-backend", name])
    assert code == 0, capsys.readouterr().err
    assert recording.frames


def test_an_unknown_backend_from_the_settings_is_refused_without_del_noise():
    # The sink is also reached without the CLI flag (settings file, GUI): it must refuse the name
    # before pyvirtualcam builds a half-made Camera whose __del__ prints "Exception ignored".
    code = (
        "import gc\n"
        "from mirage_desktop.sinks.virtual_camera import VirtualCameraSink\n"
        "from mirage_desktop.sinks.base import SinkError\n"
        "sink = VirtualCameraSink(backend='nosuch')\n"
        "try:\n"
        "    sink.open(64, 48, 30.0)\n"
        "except SinkError as exc:\n"
        "    print(str(exc).splitlines()[0])\n"
        "gc.collect()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "unknown backend 'nosuch' (known: " in done.stdout
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr


def test_sink_with_unknown_backend_raises_sink_error():
    with pytest.raises(SinkError, match="unknown backend 'nosuch'"):
        VirtualCameraSink(backend="nosuch").open(64, 48, 30.0)


# ------------------------------------------------------------------ a model that fails when run


@pytest.fixture
def failing_swapper(tmp_path, testdata, capsys):
    """Real stand-ins for detector and ArcFace, and a swapper that passes its I/O check but fails in ORT."""
    built = tmp_path / "built"
    built.mkdir()
    files = [
        build_scrfd(built / "det_10g.onnx", obama_template(testdata)),
        arcface.build_arcface(built / "w600k_r50.onnx"),
        inswapper.build_fails_when_run(built / "inswapper_128.onnx"),
    ]
    for path in files:
        assert main(["models", "add", str(path), "--allow-unverified"]) == 0
    capsys.readouterr()
    return files


def test_a_model_failing_when_run_gives_one_line_naming_the_file(failing_swapper, testdata, tmp_path):
    out = tmp_path / "out.mp4"
    done = cli("process", "--face", str(testdata / FACE), "-i", str(testdata / CLIP), "-o", str(out))
    lines = [line for line in done.stderr.splitlines() if "failed when run" in line]
    assert len(lines) == 1, done.stderr
    models_dir = Path(os.environ["MIRAGE_MODELS_DIR"])
    assert f"The model {models_dir / 'inswapper_128.onnx'} failed when run" in lines[0]
    assert "cannot be reshaped" in lines[0]
    assert "onnxruntime_src" not in done.stderr  # ORT's own C++ log line is not printed
    assert "Traceback" not in done.stderr
    log_text = (Path(os.environ["MIRAGE_LOG_DIR"]) / "mirage.log").read_text(encoding="utf-8")
    assert "Traceback" in log_text and "impossible_reshape" in log_text


# ------------------------------------------------------------------ folders where files belong


def test_a_folder_as_input_is_called_a_folder(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    done = cli("process", "-i", str(folder), "-o", str(tmp_path / "out.mp4"))
    assert f"'{folder}' is a folder, not a video file" in done.stderr
    assert "does not exist" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_folder_as_face_is_called_a_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    with pytest.raises(SourceFaceError, match="is a folder, not a photo file"):
        read_image(folder)
    with pytest.raises(SourceFaceError, match="does not exist"):
        read_image(tmp_path / "nothing.jpg")


def test_a_folder_as_face_in_the_cli(tmp_path, testdata, capsys):
    built = tmp_path / "built"
    for path in (
        build_scrfd(built / "det_10g.onnx", obama_template(testdata)),
        arcface.build_arcface(built / "w600k_r50.onnx"),
        inswapper.build_visible(built / "inswapper_128.onnx"),
    ):
        assert main(["models", "add", str(path), "--allow-unverified"]) == 0
    folder = tmp_path / "photos"
    folder.mkdir()
    done = cli("process", "--face", str(folder), "-i", str(testdata / CLIP), "-o", str(tmp_path / "o.mp4"))
    assert f"'{folder}' is a folder, not a photo file" in done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ MIRAGE_MODELS_DIR is a file


@pytest.fixture
def models_dir_is_a_file(tmp_path, monkeypatch):
    blocker = tmp_path / "models-file"
    blocker.write_text("not a folder\n")
    monkeypatch.setenv("MIRAGE_MODELS_DIR", str(blocker))
    return blocker


def test_models_list_says_the_models_folder_is_a_file(models_dir_is_a_file, capsys):
    assert main(["models", "list"]) == 1
    captured = capsys.readouterr()
    assert "(UNUSABLE: it is not a folder)" in captured.out
    assert f"The models folder {models_dir_is_a_file} is a file, not a folder" in captured.err
    assert "MIRAGE_MODELS_DIR" in captured.err
    assert main(["models", "list", "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert "is a file, not a folder" in payload["models_dir_problem"]
    for model in payload["models"]:
        assert "is a file, not a folder" in model["message"]
        assert "put " not in model["message"]  # the old advice: put the file into a "folder" that is a file


def test_a_file_above_the_models_folder_is_named(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "data"
    blocker.write_text("x")
    monkeypatch.setenv("MIRAGE_MODELS_DIR", str(blocker / "models"))
    assert main(["models", "download", "det_10g"]) == 1
    err = capsys.readouterr().err
    assert f"cannot be created: {blocker} is a file, not a folder" in err


def test_models_download_and_add_say_so(models_dir_is_a_file, tmp_path, capsys):
    assert main(["models", "download", "det_10g"]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    model = arcface.build_arcface(tmp_path / "w600k_r50.onnx")
    assert main(["models", "add", str(model), "--allow-unverified"]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert models_dir_is_a_file.read_text() == "not a folder\n"  # the user's file is untouched


def test_doctor_says_the_models_folder_is_a_file(models_dir_is_a_file, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"Folder models: {models_dir_is_a_file} — PROBLEM: The models folder" in out
    assert "not created yet" not in next(line for line in out.splitlines() if "Folder models" in line)
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "is a file, not a folder" in data["folders"]["models"]["problem"]
    assert data["folders"]["models"]["writable"] is False
    assert data["folders"]["config"]["problem"] is None


def test_process_with_a_face_says_the_models_folder_is_a_file(models_dir_is_a_file, testdata, tmp_path):
    done = cli(
        "process", "--face", str(testdata / FACE), "-i", str(testdata / CLIP), "-o", str(tmp_path / "o.mp4")
    )
    assert f"The models folder {models_dir_is_a_file} is a file, not a folder" in done.stderr
    assert "models download" not in done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ sizes in `models list`


def test_models_list_shows_the_real_size_of_a_user_supplied_file(tmp_path, capsys):
    own = tmp_path / "inswapper_128.onnx"
    # a real ONNX model (models add checks the kind of file), padded to 3,000 bytes by a doc_string
    model = identity_model_bytes()
    pad = 3000 - len(model) - 3  # field 6: its tag, a 2-byte length, the text
    own.write_bytes(model + bytes([0x32, 0x80 | pad & 0x7F, pad >> 7]) + b"x" * pad)
    assert main(["models", "add", str(own), "--allow-unverified"]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    row = next(line for line in rows if line.startswith("inswapper_128 "))
    assert "3.0 kB" in row and "user-supplied" in row
    assert "554.3 MB" not in row  # the manifest's size for the real model
    # a model that is not there still shows what the download will be
    assert "174.4 MB" in next(line for line in rows if line.startswith("w600k_r50 "))
