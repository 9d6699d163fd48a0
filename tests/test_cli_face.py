"""`mirage-cli` with the face swap: test models placed with `models add`, then a real run."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mirage_desktop.cli import main
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

CLIP = "video/talking_head_d0.mp4"


@pytest.fixture
def placed_models(tmp_path, testdata, capsys):
    """Stand-ins with the real models' I/O, placed exactly as a user would place files."""
    built = tmp_path / "built"
    built.mkdir()
    files = [
        build_scrfd(built / "det_10g.onnx", obama_template(testdata)),
        arcface.build_arcface(built / "w600k_r50.onnx"),
        inswapper.build_visible(built / "inswapper_128.onnx"),
    ]
    for path in files:
        assert main(["models", "add", str(path), "--allow-unverified"]) == 0
    capsys.readouterr()
    return files


def read_all(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            return out
        out.append(img)


def test_process_swaps_the_face_in_every_frame(placed_models, testdata, tmp_path, capsys):
    out = tmp_path / "swapped.mp4"
    metrics = tmp_path / "m.json"
    code = main(
        [
            "process",
            "--face",
            str(testdata / "faces/obama.jpg"),
            "--input",
            str(testdata / CLIP),
            "--output",
            str(out),
            "--metrics-json",
            str(metrics),
        ]
    )
    assert code == 0, capsys.readouterr().err
    frames = read_all(out)
    source = read_all(testdata / CLIP)
    assert len(frames) == len(source) == 78
    data = json.loads(metrics.read_text())
    assert data["processors"]["total_faces_swapped"] >= 70
    assert data["processors"]["face_providers"] == ["CPUExecutionProvider"]
    for key in ("face.detect_track", "face.swap", "face.paste"):
        assert key in data["stage_ms"]
    # The face region changed; the background corners did not (beyond codec noise).
    face = (slice(200, 330), slice(190, 330))
    corner = (slice(20, 100), slice(20, 100))
    diffs = [np.abs(f.astype(int) - s.astype(int)) for f, s in zip(frames[::10], source[::10], strict=True)]
    assert all(d[face].mean() > 20 for d in diffs)
    assert all(d[corner].mean() < 4 for d in diffs)


def test_missing_models_refuse_to_process_unless_passthrough_is_asked_for(testdata, tmp_path, capsys):
    out = tmp_path / "passthrough.mp4"
    argv = [
        "process",
        "--face",
        str(testdata / "faces/obama.jpg"),
        "--input",
        str(testdata / CLIP),
        "-o",
        str(out),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "mirage-cli models download" in err or "models add" in err
    assert not out.exists()
    assert main([*argv, "--allow-passthrough"]) == 0
    assert len(read_all(out)) == 78  # written on purpose, nothing lost
