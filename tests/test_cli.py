"""The command-line entry points, driven as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mirage_desktop.cli import main

CLIP = "video/talking_head_d0.mp4"


def read_all(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            return frames
        frames.append(img)


def test_run_records_a_playable_video_with_overlay_and_prints_metrics(testdata, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    metrics = tmp_path / "m.json"
    code = main(
        [
            "run",
            "--source",
            str(testdata / CLIP),
            "--seconds",
            "2",
            "--output",
            str(out),
            "--metrics-json",
            str(metrics),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "latency p50" in captured.out and "fps in" in captured.out
    assert "modprobe v4l2loopback" in captured.err  # no driver here: explained, not a crash
    frames = read_all(out)
    assert 35 <= len(frames) <= 60
    assert frames[0].shape == (512, 512, 3)
    source = read_all(testdata / CLIP)
    # The overlay darkens a band at the top; below it the picture is the source's.
    assert np.median(frames[10][:16, :200]) < np.median(source[10][:16, :200]) * 0.6
    data = json.loads(metrics.read_text())
    assert data["latency_ms_p50"] > 0 and data["fps_out"] > 15
    assert "debug_overlay" in data["stage_ms"]


def test_run_without_overlay_when_asked(testdata, tmp_path, capsys):
    out = tmp_path / "plain.mp4"
    assert (
        main(["run", "--source", str(testdata / CLIP), "--seconds", "1", "-o", str(out), "--no-overlay"]) == 0
    )
    first = read_all(out)[0]
    source = read_all(testdata / CLIP)[0]
    assert abs(first[:16, :200].mean() - source[:16, :200].mean()) < 5


def test_run_test_pattern_without_virtual_camera(capsys):
    assert (
        main(
            [
                "run",
                "--source",
                "test",
                "--seconds",
                "0.7",
                "--no-virtual-camera",
                "--width",
                "320",
                "--height",
                "240",
            ]
        )
        == 0
    )
    assert "modprobe" not in capsys.readouterr().err


def test_run_with_a_broken_file_falls_back_to_the_test_pattern(tmp_path, capsys):
    bogus = tmp_path / "broken.mp4"
    bogus.write_bytes(b"\x00" * 1000)
    code = main(["run", "--source", str(bogus), "--seconds", "0.7", "--no-virtual-camera", "--stats"])
    err = capsys.readouterr().err
    assert code == 0
    assert "convert" in err and "test pattern" in err


def test_process_writes_every_frame(testdata, tmp_path, capsys):
    out = tmp_path / "processed.mp4"
    code = main(["process", "--input", str(testdata / CLIP), "--output", str(out)])
    assert code == 0
    assert "processed 78 frames" in capsys.readouterr().out
    assert len(read_all(out)) == 78


def test_process_with_unreadable_input_fails_clearly(tmp_path, capsys):
    code = main(["process", "--input", str(tmp_path / "nope.mp4"), "--output", str(tmp_path / "o.mp4")])
    assert code == 2  # refused before anything is created
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_devices_explains_missing_driver(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Virtual camera:" in out and "Cameras:" in out and "Audio:" in out
    assert "Virtual microphone:" in out
    if sys.platform.startswith("linux"):
        assert 'card_label="Mirage Camera"' in out


def test_devices_and_doctor_json(capsys):
    assert main(["devices", "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert set(devices) >= {"cameras", "virtual_camera", "audio"}
    assert main(["doctor", "--json"]) == 0
    doctor = json.loads(capsys.readouterr().out)
    assert "CPUExecutionProvider" in doctor["onnxruntime"]["available_providers"]
    # Probed with a real session: this machine has no CUDA libraries, so only the CPU really starts.
    assert "CPUExecutionProvider" in doctor["execution_providers"]["working"]
    assert doctor["execution_providers"]["chosen"][-1] == "CPUExecutionProvider"
    assert doctor["folders"]["models"]["path"]
    assert doctor["onnxruntime"]["distributions"], "exactly one ONNX Runtime distribution should be installed"
    assert len(doctor["onnxruntime"]["distributions"]) == 1


def test_entry_point_runs_as_a_separate_process():
    proc = subprocess.run(
        [sys.executable, "-m", "mirage_desktop.cli", "doctor"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "ONNX Runtime" in proc.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "run" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["run", "--seconds", "x"], ["process"]])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
