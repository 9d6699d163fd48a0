"""Files keep their sound: `process` and `run --output` write H.264 + AAC with the input's audio, in
sync with the picture, through PyAV (real clips, real encoders, read back with PyAV)."""

from __future__ import annotations

import io
import resource
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from scipy import signal as sps

from mirage_desktop.cli import main
from mirage_desktop.cli.progress import Progress
from mirage_desktop.frame import Frame
from mirage_desktop.media.audio import LiveAudio
from mirage_desktop.sinks.recorder import RecorderSink
from mirage_desktop.sources.video_file import VideoFileSource
from mirage_desktop.testmodels import arcface, inswapper
from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

HAMILTON = "video/hamilton_clip.mp4"  # 640×360, 29.97 fps, 275 frames from 0.852 s; AAC 44.1 kHz from 0.008 s
SILENT = "video/talking_head_d0.mp4"  # 78 frames, no audio
CRASH_MARKS = ("Traceback", "terminate called", "Fatal Python error", "Exception ignored")


# ---------------------------------------------------------------------------------------- reading back
def video_of(path: Path) -> tuple[str, str, list[float]]:
    """(codec, pixel format, presentation time of every frame)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = [f.time for f in c.decode(s)]
        return s.codec_context.name, s.codec_context.format.name, times


def audio_of(path: Path) -> tuple[str, int, float, np.ndarray] | None:
    """(codec, rate, time of the first sample, mono samples in [-1, 1]), or None without audio."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        s = c.streams.audio[0]
        first = None
        chunks = []
        for frame in c.decode(s):
            if first is None:
                first = frame.time
            data = frame.to_ndarray()
            data = data.T if frame.format.is_planar else data.reshape(-1, frame.layout.nb_channels)
            scale = 32768.0 if data.dtype == np.int16 else 1.0
            chunks.append(data.mean(axis=1) / scale)
        return s.codec_context.name, s.codec_context.sample_rate, float(first or 0.0), np.concatenate(chunks)


def on_timeline(a: tuple[float, np.ndarray], b: tuple[float, np.ndarray], rate: int):
    """Both signals cut to their common span of the media timeline (sample i at first + i / rate)."""
    (fa, xa), (fb, xb) = a, b
    off = round((fb - fa) * rate)
    xa, xb = xa[max(0, off) :], xb[max(0, -off) :]
    n = min(len(xa), len(xb))
    return xa[:n].astype(np.float64), xb[:n].astype(np.float64)


def lag_samples(ref: np.ndarray, out: np.ndarray, max_lag: int) -> int:
    """Where ``out`` best matches ``ref`` (positive: ``out`` is late)."""
    corr = sps.correlate(out, ref, mode="full", method="fft")
    lags = np.arange(-len(ref) + 1, len(out))
    window = np.abs(lags) <= max_lag
    return int(lags[window][np.argmax(corr[window])])


def envelope(x: np.ndarray, hop: int) -> np.ndarray:
    n = len(x) // hop
    return np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1))


# ---------------------------------------------------------------------------------------- fixtures
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


def write_flash_clip(path: Path, times: list[float], flashes: set[int], rate: int = 48000) -> list[float]:
    """A variable-frame-rate clip: frame i shown at ``times[i]`` (white when i is in ``flashes``,
    else grey), with a click in the sound at each flash. Returns the flash times."""
    tb = Fraction(1, 90000)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "18"})
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        v.time_base = v.codec_context.time_base = tb
        a = c.add_stream("aac", rate=rate, layout="mono")
        total = round((times[-1] + 0.5) * rate)
        sound = (0.01 * np.sin(np.arange(total) * 2 * np.pi * 220 / rate)).astype(np.float32)
        for i in flashes:
            k = round(times[i] * rate)
            sound[k : k + 240] = 0.9
        for i, t in enumerate(times):
            img = np.full((120, 160, 3), 235 if i in flashes else 60, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = round(t / tb), tb
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
        for k in range(0, total, 1024):
            block = sound[k : k + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, k, Fraction(1, rate)
            c.mux(a.encode(frame))
        c.mux(a.encode(None))
    return [times[i] for i in sorted(flashes)]


def flash_and_click_times(path: Path) -> tuple[list[float], list[float]]:
    with av.open(str(path)) as c:
        frames = [(f.time, f.to_ndarray(format="gray").mean()) for f in c.decode(c.streams.video[0])]
    flashes = [t for t, level in frames if level > 150]
    _, rate, first, x = audio_of(path)
    loud = np.flatnonzero(np.abs(x) > 0.4)
    clicks: list[float] = []
    for k in loud:
        t = first + k / rate
        if not clicks or t - clicks[-1] > 0.1:
            clicks.append(t)
    return flashes, clicks


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mirage_desktop.cli", *args]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


# ---------------------------------------------------------------------------------------- process
def test_process_writes_h264_with_the_inputs_sound_in_sync(placed_models, testdata, tmp_path, capsys):
    src = testdata / HAMILTON
    out = tmp_path / "out.mp4"
    code = main(["process", "--face", str(testdata / "faces/obama.jpg"), "-i", str(src), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "sound: AAC, copied from the input" in captured.out

    codec, pix, times = video_of(out)
    _, _, src_times = video_of(src)
    assert (codec, pix) == ("h264", "yuv420p")
    assert len(times) == len(src_times) == 275
    assert np.allclose(times, src_times, atol=1e-6)  # the input's own timestamps, frame for frame
    frame_s = float(np.median(np.diff(src_times)))

    a_codec, rate, first, x = audio_of(out)
    _, src_rate, src_first, y = audio_of(src)
    assert a_codec == "aac" and rate == src_rate
    assert abs(first - src_first) < frame_s
    assert abs(len(x) / rate - len(y) / src_rate) < frame_s  # same length of sound
    with av.open(str(out)) as c_out, av.open(str(src)) as c_in:
        assert abs(c_out.duration - c_in.duration) / av.time_base < frame_s  # same duration
    ref, got = on_timeline((src_first, y), (first, x), rate)
    assert np.corrcoef(ref, got)[0, 1] > 0.99
    assert abs(lag_samples(ref, got, rate)) <= frame_s * rate


def test_process_with_a_voice_converter_keeps_the_sound_aligned(testdata, tmp_path, capsys):
    src = testdata / HAMILTON
    _, rate, src_first, y = audio_of(src)
    frame_s = 1 / 29.97
    for voice in (["--voice", "passthrough"], ["--voice", "pitch", "--semitones", "4"]):
        out = tmp_path / f"{voice[1]}.mp4"
        assert main(["process", "-i", str(src), "-o", str(out), *voice]) == 0
        stdout = capsys.readouterr().out
        assert f"through the '{voice[1]}' voice converter" in stdout
        a_codec, out_rate, first, x = audio_of(out)
        assert a_codec == "aac" and out_rate == rate
        assert abs(len(x) / rate - len(y) / rate) < frame_s
        ref, got = on_timeline((src_first, y), (first, x), rate)
        if voice[1] == "passthrough":  # the converter path itself: the same sound, where it was
            assert np.corrcoef(ref, got)[0, 1] > 0.99
            assert abs(lag_samples(ref, got, rate)) <= 2
        else:  # another pitch, same syllables at the same times
            hop = rate // 100
            lag = lag_samples(envelope(ref, hop), envelope(got, hop), 50) * hop
            assert abs(lag) <= frame_s * rate
            assert np.corrcoef(envelope(ref, hop), envelope(got, hop))[0, 1] > 0.8
            assert np.corrcoef(ref, got)[0, 1] < 0.9  # it did change the sound


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_variable_frame_rate_flashes_and_clicks_stay_together(suffix, tmp_path, capsys):
    rng = np.random.default_rng(3)
    gaps = rng.choice([1 / 30, 1 / 15, 1 / 24, 0.1], size=150)
    times = list(np.round(np.cumsum(np.concatenate([[0.2], gaps])), 4))
    src = tmp_path / "vfr.mp4"
    flash_times = write_flash_clip(src, times, {10, 47, 90, 140})
    out = tmp_path / f"out{suffix}"
    assert main(["process", "-i", str(src), "-o", str(out)]) == 0
    capsys.readouterr()
    _, _, out_times = video_of(out)
    # variable frame rate kept, not resampled (Matroska counts in ms; AVI starts every stream at 0)
    assert np.allclose(np.diff(out_times), np.diff(times), atol=1.5e-3)
    if suffix == ".mp4":
        assert np.allclose(out_times, times, atol=1e-4)
    flashes, clicks = flash_and_click_times(out)
    shift = out_times[0] - times[0]
    assert np.allclose(np.array(flashes) - shift, flash_times, atol=1.5e-3)
    assert len(clicks) == len(flashes)
    offsets = np.array(clicks) - np.array(flashes)
    assert np.all(np.abs(offsets) < 1 / 30), offsets  # A/V offset within one frame


def test_a_video_without_sound_still_works(testdata, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["process", "-i", str(testdata / SILENT), "-o", str(out)]) == 0
    assert "sound: none" in capsys.readouterr().out
    codec, _, times = video_of(out)
    assert codec == "h264" and len(times) == 78
    assert audio_of(out) is None


def test_file_source_frames_carry_the_media_timestamps(testdata):
    src = VideoFileSource(testdata / HAMILTON, loop=True, paced=False)
    src.open()
    frames = [src.read() for _ in range(280)]
    assert frames[0].pts == 10214 and frames[0].time_base == Fraction(1, 11988)
    assert frames[1].pts - frames[0].pts == 400
    # the second loop continues the timeline by one pass of the picture (9.176 s)
    assert frames[275].pts == 10214 + 110000 and src.loops == 1
    src.close()


# ---------------------------------------------------------------------------------------- run --output
def test_run_output_records_the_files_sound_looping_with_the_picture(testdata, tmp_path, capsys):
    src = testdata / HAMILTON
    out = tmp_path / "live.mp4"
    argv = [
        "run",
        "--source",
        str(src),
        "--seconds",
        "11",
        "--no-virtual-camera",
        "--no-overlay",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    assert "sound: AAC, looped with the picture" in capsys.readouterr().out
    codec, _, times = video_of(out)
    assert codec == "h264" and times[-1] > 10.0  # past the end of the first pass (0.852 + 9.176 s)
    _, rate, first, x = audio_of(out)
    _, _, src_first, y = audio_of(src)
    frame_s = 1 / 29.97
    v0, period = times[0], 110000 / 11988
    assert abs(first - v0) < frame_s and abs((first + len(x) / rate) - (times[-1] + frame_s)) < 2 * frame_s
    # each second of the recording is the file's sound at the same place of its loop, not shifted
    for t in (2.0, 6.0, 9.5, 10.3):
        k = round((t - first) * rate)
        got = x[k : k + rate // 2].astype(np.float64)
        s = round((v0 + (t - v0) % period - src_first) * rate)
        ref = y[s - rate // 10 : s + rate // 2 + rate // 10].astype(np.float64)
        corr = sps.correlate(ref, got, mode="valid")
        assert abs(int(np.argmax(corr)) - rate // 10) <= frame_s * rate, t


def test_live_sound_pushed_late_lands_in_sync_with_the_frames(tmp_path):
    """The receiving end for a voice engine's output tap: converted blocks arrive ~80 ms after
    their capture (the voice latency) and frames at their own pace; both are placed by capture time."""
    rate, fps, seconds = 48000, 30.0, 3.0
    audio = LiveAudio(rate)
    rec = RecorderSink(tmp_path / "live.mp4", audio=audio, preset="ultrafast")
    rec.open(160, 120, fps)
    t0 = 1000.0  # perf_counter() time of the first capture
    flash_frames = {15, 50, 80}
    block = rate // 100
    blocks = round(seconds * 100)
    pending = []  # (due, samples, captured_at): a block is pushed 80 ms after it was captured
    for b in range(blocks):
        captured = t0 + b * block / rate
        data = np.full(block, 0.01, np.float32)
        for i in flash_frames:
            k = round((t0 + i / fps - captured) * rate)
            if 0 <= k < block:
                data[k : k + 240] = 0.9
        pending.append((captured + 0.08, data, captured))
    for i in range(int(seconds * fps)):
        now = t0 + i / fps
        while pending and pending[0][0] <= now:
            _, data, captured = pending.pop(0)
            audio.push(data, captured)
        image = np.full((120, 160, 3), 235 if i in flash_frames else 60, np.uint8)
        rec.write(Frame(image, i, now))
    for _, data, captured in pending:
        audio.push(data, captured)
    rec.close()
    assert rec.committed is not None, rec.failure
    flashes, clicks = flash_and_click_times(rec.committed)
    assert len(flashes) == len(clicks) == 3
    assert np.all(np.abs(np.array(clicks) - np.array(flashes)) < 1 / fps), (flashes, clicks)


# ---------------------------------------------------------------------------------------- hostile
def _audio_only(tmp_path: Path, testdata: Path) -> Path:
    path = tmp_path / "sound_only.mp4"
    with av.open(str(testdata / "audio/jfk.flac")) as src, av.open(str(path), "w") as dst:
        stream = dst.add_stream("aac", rate=16000, layout="mono")
        for i, frame in enumerate(src.decode(audio=0)):
            frame.pts = None
            dst.mux(stream.encode(frame))
            if i > 50:
                break
        dst.mux(stream.encode(None))
    return path


def _garbage(tmp_path: Path, testdata: Path) -> Path:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    return path


def _truncated(tmp_path: Path, testdata: Path) -> Path:
    path = tmp_path / "cut.mp4"
    data = (testdata / HAMILTON).read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


@pytest.mark.parametrize(
    ("make", "expect"),
    [(_audio_only, "no readable video frames"), (_garbage, "damaged"), (_truncated, "damaged")],
    ids=["audio only", "garbage", "truncated"],
)
def test_unusable_inputs_fail_cleanly_before_any_work(make, expect, testdata, tmp_path, capsys):
    src = make(tmp_path, testdata)
    out = tmp_path / "out.mp4"
    assert main(["process", "-i", str(src), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert expect in captured.err and "Traceback" not in captured.err
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_damaged_middle_is_skipped_not_a_crash(testdata, tmp_path):
    src = tmp_path / "holes.mp4"
    data = bytearray((testdata / HAMILTON).read_bytes())
    rng = np.random.default_rng(1)
    for start in (len(data) // 3, len(data) // 2):
        data[start : start + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    src.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        _cli("process", "-i", str(src), "-o", str(out)), capture_output=True, text=True, timeout=180
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert not any(mark in proc.stderr for mark in CRASH_MARKS), proc.stderr
    if proc.returncode == 0:
        assert len(video_of(out)[2]) > 200 and audio_of(out) is not None
    assert leftovers(tmp_path) == []


def test_disk_full_with_sound_gives_the_clean_message(testdata, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run(
        _cli("process", "-i", str(testdata / HAMILTON), "-o", str(out)),
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=limit,
    )
    assert proc.returncode == 1, proc.stderr
    assert "largest size allowed" in proc.stderr and "Nothing was written" in proc.stderr
    assert not any(mark in proc.stderr for mark in CRASH_MARKS), proc.stderr
    assert out.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_an_interrupted_process_keeps_the_sound_up_to_where_the_picture_stops(testdata, tmp_path):
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        _cli("process", "-i", str(testdata / "video/talking_head_long_d9.mp4"), "-o", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # a line per second: interrupt after the first
        if "frames written" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"saved to {out}" in err and not any(mark in err for mark in CRASH_MARKS), err
    _, _, times = video_of(out)
    assert 0 < len(times) < 587
    _, rate, first, x = audio_of(out)
    video_end, audio_end = times[-1] + 1 / 30, first + len(x) / rate
    assert abs(audio_end - video_end) <= 1 / 30, (audio_end, video_end)


# ---------------------------------------------------------------------------------------- progress
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_a_line_elsewhere():
    now = [0.0]
    tty = _Tty()
    bar = Progress(200, stream=tty, clock=lambda: now[0])
    now[0] = 2.0
    bar.update(50)
    text = tty.getvalue()
    assert text.startswith("\r[") and "25% of 200" in text and "25.0 fps" in text and "ETA 0:06" in text
    bar.clear()
    assert tty.getvalue().endswith("\n")

    log = io.StringIO()
    now[0] = 0.0
    line = Progress(200, stream=log, clock=lambda: now[0])
    now[0] = 4.0
    line.update(100)
    line.update(101)  # within the interval: no second line
    assert log.getvalue() == "  100 frames written, 50% of 200, 25.0 fps, ETA 0:04\n"
