"""`mirage-cli voice --input-file IN --output-file OUT`: a recording through the live voice path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mirage_desktop.voice import pitch_eval
from mirage_desktop.voice.converters import create_converter
from mirage_desktop.voice.file_convert import convert_audio
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig, process_offline
from mirage_desktop.voice.resample import resample

CLI = [sys.executable, "-m", "mirage_desktop.cli"]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "voice", *args], capture_output=True, text=True, timeout=timeout)


def _files(src, out, *more: str) -> subprocess.CompletedProcess:
    return _cli("--input-file", str(src), "--output-file", str(out), *more)


def _mono(path) -> tuple[np.ndarray, int]:
    x, rate = sf.read(path, dtype="float32")
    return (x.mean(axis=1) if x.ndim > 1 else x), rate


@pytest.fixture(scope="module")
def jfk(testdata):
    return testdata / "audio" / "jfk.flac"


@pytest.fixture
def converted(jfk, tmp_path):
    out = tmp_path / "out.wav"
    proc = _cli(
        "--input-file", str(jfk), "--output-file", str(out), "--converter", "pitch", "--semitones", "4"
    )
    return proc, out


def test_converts_jfk_up_four_semitones(converted, jfk):
    proc, out = converted
    assert proc.returncode == 0, proc.stderr
    assert "Converted" in proc.stdout
    y, rate = sf.read(out, dtype="float32")
    x, rate_in = _mono(jfk)
    assert rate == rate_in and y.ndim == 1
    block = round(PipelineConfig().block_ms / 1000 * rate)
    assert abs(len(y) - len(x)) <= block  # duration kept (here exactly: the delay is flushed and cut)
    # the pitch moved by 400 +- 25 cents (Praat and YIN), and the output lines up with the input
    res = pitch_eval.measure(x, y, rate, 4.0, "jfk", delay=0)
    for r in res:
        assert abs(r.error_cents) <= 25, f"{r.estimator}: moved {r.measured_cents:.1f} cents, wanted 400"
    assert pitch_eval.align_delay(y, x, rate, max_s=0.05) <= 0.005 * rate  # envelopes: 1 ms steps
    leftovers = [p for p in out.parent.iterdir() if p.name != out.name]
    assert leftovers == []  # the partial file was renamed, nothing left beside it


def test_file_path_is_the_live_block_path(testdata):
    """The file conversion is the live pipeline block by block, not another algorithm: the same
    blocks through BlockPipeline/process_offline give the same samples, only shifted by the cut delay."""
    x, rate = _mono(testdata / "audio" / "jfk.flac")
    x = resample(x[: rate * 3], rate, 48000)
    cfg = PipelineConfig(gate_db=None)
    y_file, cut = convert_audio(x, create_converter("pitch", semitones=4), cfg, 48000)
    pipe = BlockPipeline(create_converter("pitch", semitones=4), 48000, cfg)
    y_live = process_offline(pipe, x)
    d = round(cut * 48000)
    assert d == round((pipe.algorithmic_latency_s() - pipe.block_dev / 48000) * 48000)
    np.testing.assert_allclose(y_file[: len(x) - d], y_live[d:], atol=1e-6)


def _expect_exit_2(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr


def test_missing_input(tmp_path):
    _expect_exit_2(
        _cli("--input-file", str(tmp_path / "nope.wav"), "--output-file", str(tmp_path / "o.wav")),
        "no such file",
    )


def test_input_that_is_not_audio(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n")
    _expect_exit_2(
        _cli("--input-file", str(bad), "--output-file", str(tmp_path / "o.wav")), "not an audio file"
    )
    assert not (tmp_path / "o.wav").exists()


def test_input_folder(tmp_path):
    _expect_exit_2(
        _cli("--input-file", str(tmp_path), "--output-file", str(tmp_path / "o.wav")), "is a folder"
    )


def test_output_same_as_input_by_identity(tmp_path, jfk):
    src = tmp_path / "in.flac"
    src.write_bytes(jfk.read_bytes())
    before = src.read_bytes()
    link = tmp_path / "link.flac"
    os.link(src, link)  # a hard link: another name for the same file
    for out in (src, link):
        _expect_exit_2(_cli("--input-file", str(src), "--output-file", str(out)), "is the input file")
    assert src.read_bytes() == before


def test_unwritable_output_folder(tmp_path, jfk, monkeypatch, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    real_access = os.access
    if real_access(folder, os.W_OK):  # root writes anywhere: make the check see what a user would
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: False if Path(p) == folder else real_access(p, mode, **kw)
        )
    from mirage_desktop.cli import main

    try:
        rc = main(["voice", "--input-file", str(jfk), "--output-file", str(folder / "o.wav")])
    finally:
        folder.chmod(0o700)
    err = capsys.readouterr().err
    assert rc == 2 and "not writable" in err, err
    assert list(folder.iterdir()) == []
    _expect_exit_2(_files(jfk, tmp_path / "missing" / "o.wav"), "does not exist")


def test_unknown_output_format(tmp_path, jfk):
    _expect_exit_2(
        _cli("--input-file", str(jfk), "--output-file", str(tmp_path / "o.xyz")), "unknown audio format"
    )


@pytest.mark.parametrize("value", ["99", "nan", "four"])
def test_bad_semitones(tmp_path, jfk, value):
    proc = _cli("--input-file", str(jfk), "--output-file", str(tmp_path / "o.wav"), "--semitones", value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--semitones" in proc.stderr
    assert not (tmp_path / "o.wav").exists()


def test_only_one_of_the_two_files(tmp_path, jfk):
    _expect_exit_2(_cli("--input-file", str(jfk)), "--output-file")


def test_output_format_follows_the_extension(tmp_path, jfk):
    out = tmp_path / "o.flac"
    proc = _cli(
        "--input-file", str(jfk), "--output-file", str(out), "--converter", "pitch", "--semitones", "-3"
    )
    assert proc.returncode == 0, proc.stderr
    assert sf.info(out).format == "FLAC"
