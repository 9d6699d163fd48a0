"""`Mirage --self-test`: proves a build works end to end, without a camera or real weights.

It imports every module (a frozen build that forgot one fails here, not on a user's machine),
builds the face pipeline on stand-in models with the real models' inputs and outputs, pushes
frames through it, and opens the main window offscreen. Exit code 0 means all of that worked.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mirage_desktop
from mirage_desktop.config.settings import Settings
from mirage_desktop.processing.chain import ProcessorChain
from mirage_desktop.sources.base import FrameSource, SourceExhausted
from mirage_desktop.sources.test_pattern import TestPatternSource
from mirage_desktop.sources.video_file import VideoFileSource

#: bundled next to the frozen executable by mirage.spec
BUNDLED_MODELS = "selftest_models"


@dataclass(slots=True)
class SelfTestReport:
    modules: int = 0
    failures: list[str] = field(default_factory=list)
    frames: int = 0
    faces_swapped: int = 0
    providers: list[str] = field(default_factory=list)
    window: bool = False
    qt_binding: str = ""
    #: dominant frequency of a 200 Hz tone after the voice changer's +4 semitones (~252 Hz)
    voice_hz: float = 0.0
    voice_route: str = ""
    #: what the media writer produced and read back ("h264+aac"), through the bundled FFmpeg
    media: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        out = [
            f"modules imported: {self.modules}",
            f"frames processed: {self.frames}, faces swapped: {self.faces_swapped}",
            f"execution providers: {', '.join(self.providers) or 'n/a'}",
            f"main window built offscreen: {'yes' if self.window else 'no'}",
            f"Qt binding: {self.qt_binding or 'n/a'}",
            f"voice changer: 200 Hz +4 semitones -> {self.voice_hz:.1f} Hz",
            f"live voice route here: {self.voice_route}",
            f"media file written and read back: {self.media or 'n/a'}",
        ]
        out += [f"FAILED: {f}" for f in self.failures]
        out.append(f"self-test {'passed' if self.ok else 'FAILED'} in {self.seconds:.1f} s")
        return out


def import_all(report: SelfTestReport) -> None:
    frozen = getattr(sys, "frozen", False)
    for info in pkgutil.walk_packages(mirage_desktop.__path__, "mirage_desktop."):
        if info.name.endswith("__main__"):
            continue  # running them would start the app
        if frozen and info.name.startswith("mirage_desktop.testmodels"):
            continue  # developer tooling (needs the onnx package); the bundle carries built models
        try:
            importlib.import_module(info.name)
            report.modules += 1
        except ModuleNotFoundError as exc:
            rvc = info.name.startswith("mirage_desktop.voice.converters.rvc.")
            if frozen and rvc and exc.name == "torch":
                continue  # RVC voices need PyTorch, which the bundle leaves out on purpose (README)
            report.failures.append(f"import {info.name}: {type(exc).__name__}: {exc}")
        except Exception as exc:
            report.failures.append(f"import {info.name}: {type(exc).__name__}: {exc}")


def bundled_models_dir() -> Path | None:
    base = getattr(sys, "_MEIPASS", None)
    if base and (Path(base) / BUNDLED_MODELS).is_dir():
        return Path(base) / BUNDLED_MODELS
    return None


def default_testdata() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "testdata"


def build_models(folder: Path, testdata: Path | None = None) -> Path:
    """Stand-ins built on the spot (source checkouts have the onnx package; frozen builds bundle
    them). The detector stand-in matches a face template: the testdata portrait when present."""
    from mirage_desktop.testmodels import arcface, inswapper
    from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template, synthetic_face_template

    testdata = testdata or default_testdata()
    if (testdata / "faces" / "obama.jpg").is_file():
        template = obama_template(testdata)
    else:
        template = synthetic_face_template()
    folder.mkdir(parents=True, exist_ok=True)
    build_scrfd(folder / "det_10g.onnx", template)
    arcface.build_arcface(folder / "w600k_r50.onnx")
    inswapper.build_visible(folder / "inswapper_128.onnx")
    return folder


def run_pipeline(
    report: SelfTestReport, models: Path, video: Path | None, face: Path | None, frames: int
) -> None:
    from mirage_desktop.processing.face.face_swap import build_face_swap_processor

    settings = Settings()
    settings.face.detect_interval = 2

    def model_path(model_id: str) -> Path:
        path = models / f"{model_id}.onnx"
        if not path.is_file():
            raise FileNotFoundError(f"self-test model {path} is missing")
        return path

    processor = build_face_swap_processor(settings.face, model_path, source_image=face, live=False)
    chain = ProcessorChain([processor])
    source: FrameSource = (
        VideoFileSource(video, loop=False, paced=False) if video else TestPatternSource(640, 360, paced=False)
    )
    source.open()
    chain.start()
    try:
        for _ in range(frames):
            try:
                frame = source.read()
            except SourceExhausted:
                break
            chain.process(frame)
            report.frames += 1
    finally:
        source.close()
        counters = chain.counters()
        chain.close()
    report.failures += chain.problems()
    report.faces_swapped = int(counters.get("total_faces_swapped", 0))
    report.providers = list(counters.get("face_providers", []))
    if report.frames == 0:
        report.failures.append("no frame went through the pipeline")
    if face is not None and report.faces_swapped == 0:
        report.failures.append(f"no face was swapped with {face.name}")


def build_window_offscreen(report: SelfTestReport, models: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from mirage_desktop.config.paths import AppPaths
    from mirage_desktop.gui.app import build_window

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        paths = AppPaths(base / "config", base / "data", models, base / "logs", base / "cache")
        window = build_window(Settings(), paths, virtual_camera=False)
        window.show()
        app.processEvents()
        report.window = window.isVisible()
        window.close()
        app.processEvents()
    from mirage_desktop.gui.qt_health import probe_binding

    health = probe_binding()
    report.qt_binding = health.describe()
    if health.leaking:
        report.failures.append(
            f"{health.describe()}: a live window would abort within minutes; rebuild with the pinned PySide6"
        )


def run_voice(report: SelfTestReport) -> None:
    """The voice DSP (resampling, SOLA, the pitch changer) on a tone; and which live route applies."""
    import numpy as np

    from mirage_desktop.voice import pulse_simple
    from mirage_desktop.voice.converters.pitch import PitchShiftConverter
    from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig, process_offline

    rate = 48000
    tone = (0.3 * np.sin(2 * np.pi * 200 * np.arange(2 * rate) / rate)).astype(np.float32)
    out = process_offline(BlockPipeline(PitchShiftConverter(4), rate, PipelineConfig(gate_db=None)), tone)
    tail = out[rate // 2 :]
    spectrum = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    report.voice_hz = float(np.argmax(spectrum) * rate / len(tail))
    expected = 200 * 2 ** (4 / 12)
    if abs(report.voice_hz - expected) > 4:
        report.failures.append(f"voice: +4 semitones gave {report.voice_hz:.1f} Hz, not {expected:.1f}")
    usable, why = pulse_simple.available() if sys.platform.startswith("linux") else (False, "not Linux")
    report.voice_route = "PulseAudio directly" if usable else f"PortAudio ({why})"


def run_media(report: SelfTestReport, folder: Path) -> None:
    """Write a short H.264 + AAC MP4 with the recorder (FFmpeg's libraries, as bundled), sound taken
    from a file as `process` does, and read both streams back."""
    from fractions import Fraction

    import av
    import numpy as np

    from mirage_desktop.frame import Frame
    from mirage_desktop.media.audio import audio_for
    from mirage_desktop.sinks.recorder import RecorderSink

    source = folder / "tone.m4a"
    rate = 48000
    with av.open(str(source), "w") as c:
        stream = c.add_stream("aac", rate=rate, layout="mono")
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    recorder = RecorderSink(folder / "check.mp4", audio=audio_for(source, ".mp4"))
    recorder.audio_to_end = True
    recorder.open(320, 240, 30.0)
    pattern = TestPatternSource(320, 240, paced=False)
    pattern.open()
    for i in range(15):
        image = pattern.read().image
        recorder.write(Frame(image, i, i / 30, pts=i * 3000, time_base=Fraction(1, 90000)))
    pattern.close()
    recorder.close()  # verifies (every packet read back) and renames into place
    if recorder.committed is None:
        report.failures.append(f"media: {recorder.failure}")
        return
    with av.open(str(recorder.committed)) as c:
        report.media = "+".join(s.codec_context.name for s in c.streams)
    if report.media != "h264+aac":
        report.failures.append(f"media: wrote {report.media}, not H.264 + AAC")


def run(video: Path | None = None, face: Path | None = None, frames: int = 12) -> SelfTestReport:
    report = SelfTestReport()
    started = time.perf_counter()
    import_all(report)
    with tempfile.TemporaryDirectory() as tmp:
        models = bundled_models_dir() or build_models(Path(tmp))
        try:
            run_pipeline(report, models, video, face, frames)
        except Exception as exc:
            report.failures.append(f"pipeline: {type(exc).__name__}: {exc}")
        try:
            build_window_offscreen(report, models)
        except Exception as exc:
            report.failures.append(f"window: {type(exc).__name__}: {exc}")
        try:
            run_media(report, Path(tmp))
        except Exception as exc:
            report.failures.append(f"media: {type(exc).__name__}: {exc}")
    try:
        run_voice(report)
    except Exception as exc:
        report.failures.append(f"voice: {type(exc).__name__}: {exc}")
    report.seconds = time.perf_counter() - started
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="Mirage --self-test", description=__doc__)
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--video", type=Path, help="a video to push through (default: the test pattern)")
    parser.add_argument("--face", type=Path, help="a photo to wear; the self-test then requires a swap")
    parser.add_argument("--frames", type=int, default=12)
    args, _ = parser.parse_known_args(argv)
    report = run(args.video, args.face, args.frames)
    text = "\n".join(report.lines())
    if sys.stdout is not None:
        print(text, flush=True)
    return 0 if report.ok else 1
