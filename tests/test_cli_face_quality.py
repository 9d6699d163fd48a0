"""`mirage-cli process` with the face-quality stages: enhancer, mouth mask, colour transfer, bad values."""

from __future__ import annotations

import json

import pytest

from mirage_desktop.cli import main
from mirage_desktop.testmodels import arcface, enhancers, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

CLIP = "video/talking_head_d0.mp4"


@pytest.fixture
def placed_models(tmp_path, testdata, capsys):
    built = tmp_path / "built"
    built.mkdir()
    files = [
        build_scrfd(built / "det_10g.onnx", obama_template(testdata)),
        arcface.build_arcface(built / "w600k_r50.onnx"),
        inswapper.build_visible(built / "inswapper_128.onnx"),
        enhancers.build_enhancer(built / "gpen_bfr_256.onnx", 256, kind="sharpen"),
    ]
    for path in files:
        assert main(["models", "add", str(path), "--allow-unverified"]) == 0
    capsys.readouterr()
    return built


def _process(testdata, out, *extra):
    return main(
        [
            "process",
            "--face",
            str(testdata / "faces/obama.jpg"),
            "--input",
            str(testdata / CLIP),
            "--output",
            str(out),
            *extra,
        ]
    )


def test_enhancer_mouth_mask_and_colour_run_on_every_swapped_frame(placed_models, testdata, tmp_path, capsys):
    out, metrics = tmp_path / "out.mp4", tmp_path / "m.json"
    code = _process(
        testdata,
        out,
        "--enhancer",
        "gpen_bfr_256",
        "--mouth-mask",
        "--color-transfer",
        "--metrics-json",
        str(metrics),
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(metrics.read_text())["processors"]
    assert data["frames_swapped"] >= 70
    # every swapped frame was enhanced: no frame got a stale or skipped enhancement
    assert data["enhanced_frames"] == data["frames_swapped"]
    assert data["enhancer"] == "gpen_bfr_256" and data["enhancer_state"] == "on"
    assert data["face_stages"] == [
        "swap",
        "enhance:gpen_bfr_256",
        "mask:ellipse",
        "mask:mouth",
        "colour",
        "paste:replace",
    ]
    assert f"enhanced {data['enhanced_frames']} of 78 frames (gpen_bfr_256" in captured.out
    assert f"swapped faces in {data['frames_swapped']} of 78 frames" in captured.out
    assert "face.enhance" in json.loads(metrics.read_text())["stage_ms"]


def test_an_enhancer_that_is_not_installed_refuses_before_any_work(placed_models, testdata, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code = _process(testdata, out, "--enhancer", "codeformer")
    err = capsys.readouterr().err
    assert code == 2
    assert "codeformer cannot run" in err and "mirage-cli models download codeformer" in err
    assert not out.exists()


def test_a_broken_enhancer_file_is_named_and_refused(placed_models, testdata, tmp_path, capsys):
    bad = placed_models / "gfpgan_1.4.onnx"
    # GFPGAN must be 512: a 256 model with its name has the wrong I/O
    enhancers.build_enhancer(bad, 256, kind="identity")
    assert main(["models", "add", str(bad), "--allow-unverified"]) == 0
    capsys.readouterr()
    code = _process(testdata, tmp_path / "out.mp4", "--enhancer", "gfpgan_1.4")
    err = capsys.readouterr().err
    assert code == 2
    assert "gfpgan_1.4.onnx" in err and "512" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--enhancer", "nope", "not a face enhancer"),
        ("--opacity", "2", "0"),
        ("--opacity", "nan", "finite"),
        ("--sharpness", "-1", "0"),
        ("--codeformer-fidelity", "1.5", "0"),
        ("--mouth-mask-size", "0", "0.3"),
        ("--paste-mode", "blur", "invalid choice"),
        ("--swapper", "simswap", "invalid choice"),
        ("--face-mask", "circle", "invalid choice"),
        ("--map", "obama.jpg", "TARGET_PHOTO=SOURCE_PHOTO"),
        ("--map", "/no/such.jpg=/no/other.jpg", "'/no/such.jpg' does not exist"),
        ("--map-threshold", "1.2", "0"),
    ],
)
def test_bad_face_quality_values_are_refused_with_their_range(tmp_path, testdata, capsys, flag, value, words):
    with pytest.raises(SystemExit) as stop:
        _process(testdata, tmp_path / "out.mp4", flag, value)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and words in err
    assert not (tmp_path / "out.mp4").exists()


def test_map_mode_with_a_photo_without_a_face_refuses(placed_models, testdata, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    face = str(testdata / "faces/obama.jpg")
    code = _process(testdata, tmp_path / "out.mp4", "--map", f"{blank}={face}")
    err = capsys.readouterr().err
    assert code == 2 and "--map" in err and "blank.png" in err
    assert not (tmp_path / "out.mp4").exists()


def test_map_mode_swaps_the_mapped_person(placed_models, testdata, tmp_path, capsys):
    # the stand-in recogniser matches a photo of the person with the person in the clip
    face = str(testdata / "faces/obama.jpg")
    metrics = tmp_path / "m.json"
    code = _process(testdata, tmp_path / "out.mp4", "--map", f"{face}={face}", "--metrics-json", str(metrics))
    assert code == 0, capsys.readouterr().err
    data = json.loads(metrics.read_text())["processors"]
    assert data["map_mode"] is True and data["map_people"] == ["obama.jpg→obama.jpg"]
    assert data["map_faces_matched"] + data["map_bystanders"] + data["map_unrecognised"] >= 70


def test_none_switches_the_enhancer_off_over_the_settings_file(placed_models, testdata, tmp_path, capsys):
    from mirage_desktop.config.paths import AppPaths

    settings_file = AppPaths.from_env().settings_file
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    # codeformer is not installed: from the file alone, process would refuse
    settings_file.write_text(json.dumps({"face": {"enhancer": "codeformer"}}))
    code = _process(testdata, tmp_path / "out.mp4", "--enhancer", "none")
    out = capsys.readouterr().out
    assert code == 0
    assert "enhanced" not in out
