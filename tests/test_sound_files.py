"""Sound in files (issue 17, item 4 and item 7's --input-file share): every channel heard, any rate,
the audio stream chosen out loud, long recordings converted in bounded memory, special files refused.

Inputs are built here with PyAV / soundfile; outputs are decoded back and measured."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from mirage_desktop.cli import main
from mirage_desktop.media.channels import CEILING, KNEE, downmix_for
from mirage_desktop.media.samples import FrameReader, RateConverter, encoder_rate
from mirage_desktop.testmodels.sound_media import sound_of as _decode_audio
from mirage_desktop.testmodels.sound_media import tone as _tone
from mirage_desktop.testmodels.sound_media import video_with_sound as _video_with_sound
from mirage_desktop.voice.converters import create_converter
from mirage_desktop.voice.file_convert import convert_file
from mirage_desktop.voice.pipeline import PipelineConfig


def _db(x: float) -> float:
    return 20 * math.log10(max(x, 1e-12))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def speech(testdata) -> tuple[np.ndarray, int]:
    """Four seconds of real speech (JFK), mono, peak 0.9."""
    x, rate = sf.read(testdata / "audio" / "jfk.flac", dtype="float32", always_2d=True)
    x = x.mean(axis=1)[: 4 * rate]
    return (0.9 * x / np.abs(x).max()).astype(np.float32), rate


def _process(capsys, src: Path, out: Path, *more: str) -> tuple[int, str]:
    rc = main(["process", "-i", str(src), "-o", str(out), *more])
    captured = capsys.readouterr()
    text = captured.err + captured.out
    assert "Traceback" not in text
    return rc, text


# ---------------------------------------------------------------------------------------------- downmix

LAYOUTS = [
    "2.1",
    "3.0",
    "quad",
    "4.0",
    "5.0",
    "5.1",
    "5.1(side)",
    "6.1",
    "7.1",
    "7.1(wide)",
    "hexagonal",
    "22.2",
]


def _single_channel_levels(names: tuple[str, ...] | None, count: int, out: int, x: np.ndarray):
    x = x[: len(x) // 4]  # one second of the speech is plenty
    mix = downmix_for(count, names, out)
    for ch in range(count):
        block = np.zeros((len(x), count), np.float32)
        block[:, ch] = x
        y = mix.apply(block)
        level = _db(max(_rms(y[:, k]) for k in range(out)) / _rms(x))
        yield ch, level, float(np.abs(y).max())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("out", [2, 1])
def test_speech_in_any_single_channel_is_heard(speech, layout, out):
    """Speech in one channel alone, of any named layout, reaches the stereo (or mono) mix between
    -12 and 0 dB of its own level, never past full scale (the 5.1 centre of the issue: -3 dB)."""
    x, _ = speech
    lay = av.AudioLayout(layout)
    names = tuple(c.name for c in lay.channels)
    for ch, level, peak in _single_channel_levels(names, lay.nb_channels, out, x):
        assert -12.1 <= level <= 0.01, f"{layout} {names[ch]} -> {level:.1f} dB"
        assert peak <= 1.0
    if layout == "5.1" and out == 2:
        centre = dict(zip(names, _single_channel_levels(names, 6, 2, x), strict=True))["FC"]
        assert abs(centre[1] - (-3.01)) < 0.05


@pytest.mark.parametrize("count", [3, 5, 7, 9, 11, 13, 16])
def test_unknown_layouts_keep_every_channel(speech, count):
    """Odd counts without a channel map: each channel alone is heard (>= -12 dB), none clips."""
    x, _ = speech
    for names in (None, tuple(f"USR{i}" for i in range(count))):
        for ch, level, peak in _single_channel_levels(names, count, 2, x):
            assert -12.1 <= level <= 0.01, f"{count} channels, #{ch}: {level:.1f} dB"
            assert peak <= 1.0


def test_many_loud_channels_bend_instead_of_clipping(speech):
    x, _ = speech
    loud = np.repeat((x / np.abs(x).max())[:, None], 8, axis=1)  # 7.1, every channel at full scale
    names = tuple(c.name for c in av.AudioLayout("7.1").channels)
    y = downmix_for(8, names, 2).apply(loud)
    assert np.abs(y).max() <= CEILING and np.abs(y).max() > 0.98  # bent, not flattened
    left = y[:, 0]
    assert len(np.unique(np.round(left[np.abs(left) > 0.98], 6))) > 20
    quiet = loud * 0.2  # below the knee everything is linear: exactly the matrix
    mix = downmix_for(8, names, 2)
    np.testing.assert_allclose(mix.apply(quiet), quiet @ mix.matrix, atol=1e-6)
    assert np.abs(quiet @ mix.matrix).max() < KNEE


def test_mono_and_stereo_pass_unchanged(speech):
    x, _ = speech
    st = np.stack([x, -x[::-1]], axis=1)
    assert downmix_for(2, ("FL", "FR"), 2).apply(st) is not None
    np.testing.assert_array_equal(downmix_for(2, ("FL", "FR"), 2).apply(st), st)
    np.testing.assert_array_equal(downmix_for(1, ("FC",), 1).apply(x), x[:, None])


# ---------------------------------------------------------------------------------------------- rates

RATES = [1000, 8000, 11025, 22050, 44100, 47999, 96000, 192000, 384000]


@pytest.mark.parametrize("rate", RATES)
def test_rate_converter_is_seamless_and_aligned(rate):
    """Chunked resampling gives exactly the one-shot samples, the exact length, and no delay."""
    dst = encoder_rate("aac", rate)
    x = _tone(rate, 1.0, freq=min(300.0, rate / 8))[:, None]
    whole = RateConverter(rate, dst, 1)
    one = np.concatenate([whole.process(x), whole.flush()])
    chunked = RateConverter(rate, dst, 1)
    parts = [chunked.process(x[i : i + 977]) for i in range(0, len(x), 977)]
    many = np.concatenate([*parts, chunked.flush()])
    np.testing.assert_array_equal(one, many)
    assert abs(len(one) - len(x) * dst / rate) <= 1
    ref = _tone(dst, 1.0, freq=min(300.0, rate / 8))
    mid = slice(len(ref) // 4, 3 * len(ref) // 4)
    err = one[mid, 0] - ref[mid]
    assert _db(_rms(ref[mid]) / max(_rms(err), 1e-9)) > 40  # aligned to the sample: the same tone, in phase


def test_encoder_rates():
    assert [encoder_rate("aac", r) for r in RATES] == [
        8000,
        8000,
        11025,
        22050,
        44100,
        48000,
        96000,
        96000,
        96000,
    ]
    assert encoder_rate("pcm_s16le", 47999) == 48000 and encoder_rate("pcm_s16le", 192000) == 192000
    assert encoder_rate("pcm_s16le", 384000) == 192000 and encoder_rate("pcm_s16le", 1000) == 8000


@pytest.mark.parametrize(
    "fmt", ["u8", "s16", "s32", "s64", "flt", "dbl", "u8p", "s16p", "s32p", "s64p", "fltp", "dblp"]
)
def test_every_sample_format_reads_as_float(fmt):
    ref = np.stack([_tone(48000, 0.05), -_tone(48000, 0.05)])
    frame = av.AudioFrame(format=fmt, layout="stereo", samples=ref.shape[1])
    frame.sample_rate = 48000
    if fmt.startswith("s64"):  # numpy cannot fill it directly: convert from float with swresample
        src = av.AudioFrame.from_ndarray(ref.astype(np.float32), format="fltp", layout="stereo")
        src.sample_rate = 48000
        frame = av.AudioResampler(format=fmt, layout="stereo", rate=48000).resample(src)[0]
    else:
        scale = {"u8": 127.0, "s16": 32767.0, "s32": 2147483647.0}.get(fmt.rstrip("p"))
        data = ref if scale is None else ref * scale
        data = data + 128 if fmt.startswith("u8") else data
        dtype = frame.to_ndarray().dtype
        arr = data.astype(dtype) if fmt.endswith("p") else data.T.reshape(1, -1).astype(dtype)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout="stereo")
    got = FrameReader()(frame)
    assert got.dtype == np.float32 and got.shape == ref.T.shape
    np.testing.assert_allclose(got, ref.T, atol=1 / 50)  # u8: steps of 1/128


# ---------------------------------------------------------------------------------------------- process


def test_51_centre_speech_survives_to_avi_and_mp4(tmp_path, capsys, speech):
    """The reproduced case: 5.1 with speech in the centre, --voice passthrough, to .avi was silent."""
    x, rate = speech
    x = x[: rate * 2]
    data = np.zeros((6, len(x)), np.float32)
    data[2] = 0.5 * x
    src = _video_with_sound(tmp_path / "in51.mkv", [(data, rate, "5.1")], seconds=2.0)
    for out in (tmp_path / "o.avi", tmp_path / "o.mp4"):
        rc, text = _process(capsys, src, out, "--voice", "passthrough")
        assert rc == 0, text
        assert "6 channels (FL FR FC LFE BL BR) mixed down to stereo" in text
        y, _ = _decode_audio(out)
        level = _db(_rms(y[:, 0]) / _rms(0.5 * x))
        assert -4.0 < level < -2.0, f"{out.suffix}: centre speech at {level:.1f} dB (wanted -3)"
        assert np.abs(y).max() < 1.0


@pytest.mark.parametrize("rate", RATES)
def test_any_rate_is_resampled_for_aac(tmp_path, capsys, rate):
    """PCM at 1 kHz or 192 kHz failed with 'Invalid argument': now the rate AAC takes, same tone."""
    tone = _tone(rate, 1.0, freq=min(300.0, rate / 8))
    src = _video_with_sound(tmp_path / "in.mkv", [(np.stack([tone, tone]), rate, "stereo")])
    out = tmp_path / "o.mp4"
    rc, text = _process(capsys, src, out, "--voice", "passthrough")
    assert rc == 0, text
    y, got = _decode_audio(out)
    assert got == encoder_rate("aac", rate)
    assert abs(len(y) / got - 1.0) < 0.05
    assert abs(_db(_rms(y[len(y) // 4 : -len(y) // 4, 0]) / _rms(tone))) < 1.0


@pytest.mark.parametrize("rate", [1000, 47999, 384000])
def test_any_rate_to_avi(tmp_path, capsys, rate):
    tone = _tone(rate, 1.0, freq=min(300.0, rate / 8))
    src = _video_with_sound(tmp_path / "in.mkv", [(tone[None], rate, "mono")])
    rc, text = _process(capsys, src, tmp_path / "o.avi")
    assert rc == 0, text
    y, got = _decode_audio(tmp_path / "o.avi")
    assert got == encoder_rate("pcm_s16le", rate) and y.shape[1] == 1
    assert abs(_db(_rms(y[len(y) // 4 : -len(y) // 4, 0]) / _rms(tone))) < 1.0


def test_two_audio_streams_the_default_is_used_and_said(tmp_path, capsys):
    low, high = _tone(48000, 1.0, 300), _tone(48000, 1.0, 1200)
    src = _video_with_sound(
        tmp_path / "two.mkv",
        [(np.stack([low, low]), 48000, "stereo"), (np.stack([high, high]), 48000, "stereo")],
        defaults=(1,),
        titles=("Main", "Commentary"),
    )

    def pitch(path: Path) -> float:
        y, rate = _decode_audio(path)
        spectrum = np.abs(np.fft.rfft(y[:, 0]))
        return float(np.argmax(spectrum) * rate / len(y))

    out = tmp_path / "o.avi"
    rc, text = _process(capsys, src, out)
    assert rc == 0 and "using stream 2 (pcm_s16le, Commentary), the one the file marks as default" in text
    assert "--audio-stream N" in text and abs(pitch(out) - 1200) < 50
    rc, text = _process(capsys, src, out, "--audio-stream", "1")
    assert rc == 0 and "using audio stream 1 of 2" in text and abs(pitch(out) - 300) < 50
    before = out.read_bytes()
    rc, text = _process(capsys, src, out, "--audio-stream", "3")
    assert rc == 2 and "no audio stream 3 (--audio-stream takes 1 to 2)" in text
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["o.avi", "two.mkv"]


def test_odd_sound_tracks_give_a_playable_file(tmp_path, capsys):
    """The class's other members: no samples at all, fewer than one block, a stream that stops
    decoding midway, s64 samples, sound longer and shorter than the picture."""
    tone = _tone(48000, 1.0)
    cases = {
        "short": ([(tone[None, :10], 48000, "mono")], {}, 0.0),
        "half": ([(tone[None, :24000], 48000, "mono")], {}, 0.5),
        "longer": ([(np.tile(tone, 3)[None], 48000, "mono")], {}, 3.0),
        "broken": (
            [(tone[None], 48000, "mono")],
            {"codec": "aac", "fmt": "fltp", "broken": range(10, 20)},
            1.0,
        ),
    }
    for name, (streams, opts, expect_s) in cases.items():
        src = _video_with_sound(tmp_path / f"{name}.mkv", streams, **opts)
        for out in (tmp_path / f"{name}.mp4", tmp_path / f"{name}.avi"):
            rc, text = _process(capsys, src, out, "--voice", "passthrough")
            assert rc == 0, (name, text)
            y, rate = _decode_audio(out)
            assert abs(len(y) / rate - expect_s) < 0.1 or (name == "short" and len(y) < 2048), (name, len(y))
    empty = _video_with_sound(tmp_path / "empty.mkv", [(np.zeros((1, 0), np.float32), 48000, "mono")])
    rc, text = _process(capsys, empty, tmp_path / "empty.mp4", "--voice", "passthrough")
    assert rc == 0 and "has no sound" in text
    s64 = tmp_path / "s64.nut"
    _video_with_sound(s64, [(np.stack([tone, tone]), 48000, "stereo")], codec="pcm_s64le", fmt="s64")
    rc, text = _process(capsys, s64, tmp_path / "s64.avi")
    assert rc == 0, text
    y, _ = _decode_audio(tmp_path / "s64.avi")
    assert abs(_db(_rms(y[:, 0]) / _rms(tone))) < 0.5


# ---------------------------------------------------------------------------------------------- voice file


def _voice(capsys, src, out, *more: str) -> tuple[int, str]:
    rc = main(["voice", "--input-file", str(src), "--output-file", str(out), *more])
    captured = capsys.readouterr()
    text = captured.err + captured.out
    assert "Traceback" not in text
    return rc, text


def test_chunked_conversion_equals_whole_file(tmp_path, testdata):
    """Streaming carries every stage's state across chunks: no seam, the whole-file samples exactly."""
    x, rate = sf.read(testdata / "audio" / "jfk.flac", dtype="float32")
    src = tmp_path / "jfk4.flac"
    sf.write(src, x[: 4 * rate], rate)  # four seconds, both channels
    results = {}
    for chunk in (10**9, 65536, 4096, 1001):
        out = tmp_path / f"o{chunk}.wav"
        convert_file(src, out, create_converter("pitch", semitones=3), PipelineConfig(), chunk_frames=chunk)
        results[chunk] = sf.read(out, dtype="float32")[0]
    whole = results.pop(10**9)
    assert len(whole) == sf.info(src).frames
    for chunk, y in results.items():
        np.testing.assert_array_equal(y, whole, err_msg=f"chunks of {chunk}")  # measured: identical


@pytest.mark.parametrize("rate", RATES)
def test_voice_file_any_rate(tmp_path, capsys, rate):
    """Any input rate: the output has the input's rate and length, and passthrough gives the input back."""
    tone = _tone(rate, 1.0, freq=min(300.0, rate / 8))
    src = tmp_path / "in.wav"
    sf.write(src, tone, rate)
    rc, text = _voice(
        capsys,
        src,
        tmp_path / "o.flac" if rate <= 192000 else tmp_path / "o.wav",
        "--converter",
        "passthrough",
    )
    assert rc == 0, text
    y, got = sf.read(tmp_path / ("o.flac" if rate <= 192000 else "o.wav"), dtype="float32")
    assert got == rate and len(y) == len(tone)
    mid = slice(len(y) // 4, 3 * len(y) // 4)
    assert _db(_rms(tone[mid]) / max(_rms(y[mid] - tone[mid]), 1e-9)) > 30  # aligned and whole


def test_voice_file_multichannel_keeps_the_centre(tmp_path, capsys, speech):
    x, rate = speech
    data = np.zeros((len(x), 6), np.float32)
    data[:, 2] = 0.5 * x
    src = tmp_path / "six.wav"
    sf.write(src, data, rate)
    rc, text = _voice(capsys, src, tmp_path / "o.wav", "--converter", "passthrough", "--gate-db", "-90")
    assert rc == 0 and "6 channels (FL FR FC LFE BL BR) mixed down to mono" in text
    y, _ = sf.read(tmp_path / "o.wav", dtype="float32")
    assert -4.0 < _db(_rms(y) / _rms(0.5 * x)) < -2.0


def test_voice_file_nan_midway_writes_nothing(tmp_path, capsys):
    tone = _tone(48000, 3.0)
    tone[100_000] = np.nan
    src = tmp_path / "nan.wav"
    sf.write(src, tone, 48000, subtype="FLOAT")
    out = tmp_path / "o.wav"
    out.write_bytes(b"old output")
    rc, text = _voice(capsys, src, out, "--converter", "passthrough")
    assert rc == 2 and "not numbers (NaN or infinity) at 2.08 s" in text and "Writing" not in text
    assert out.read_bytes() == b"old output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.wav", "o.wav"]


def test_voice_file_special_paths(tmp_path, testdata, capsys):
    """A FIFO, a device, a folder: refused at once, by what they are (a FIFO used to hang for ever)."""
    fifo = tmp_path / "in.wav"
    os.mkfifo(fifo)
    out_fifo = tmp_path / "out_fifo.wav"
    os.mkfifo(out_fifo)
    jfk = str(testdata / "audio" / "jfk.flac")
    # the FIFO in a subprocess: if it hangs, the timeout says so instead of the test run stalling
    proc = subprocess.run(
        [sys.executable, "-m", "mirage_desktop.cli", "voice", "--input-file", str(fifo), "--output-file",
         str(tmp_path / "o.wav")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2 and "is a named pipe (FIFO), not an audio file" in proc.stderr, proc.stderr
    import socket

    sock_path = tmp_path / "sock.wav"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.close()
    cases = [
        ([str(sock_path), str(tmp_path / "o.wav")], "sock.wav is a socket, not an audio file"),
        (["/dev/zero", str(tmp_path / "o.wav")], "/dev/zero is a character device, not an audio file"),
        ([str(tmp_path), str(tmp_path / "o.wav")], "is a folder"),
        ([jfk, "/dev/null"], "/dev/null: it is a character device, not a regular file"),
        ([jfk, str(out_fifo)], "it is a named pipe (FIFO), not a regular file"),
        ([jfk, str(tmp_path)], "it is a folder; give a file name inside it"),
    ]
    for (src, out), words in cases:
        rc, text = _voice(capsys, src, out)
        assert rc == 2 and words in text, (src, out, text)
    assert stat.S_ISFIFO(out_fifo.stat().st_mode)  # left as it was
    assert not (tmp_path / "o.wav").exists()


def test_voice_file_interrupted_writes_nothing(tmp_path, speech):
    x, rate = speech
    src = tmp_path / "in.wav"
    sf.write(src, np.tile(x, 4), rate)
    stop = threading.Event()

    class Stopper:
        name = "stopper"

        def __init__(self) -> None:
            self.inner = create_converter("passthrough")
            self.calls = 0

        def __getattr__(self, item):
            return getattr(self.inner, item)

        def convert(self, window):
            self.calls += 1
            if self.calls == 50:
                stop.set()
            return window

    with pytest.raises(KeyboardInterrupt):
        convert_file(src, tmp_path / "o.wav", Stopper(), PipelineConfig(), stop=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]
