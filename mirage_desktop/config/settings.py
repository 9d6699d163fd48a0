"""Typed settings, persisted as JSON in the user's config dir, with MIRAGE_* environment overrides.

Precedence (lowest first): defaults → settings file → environment → command-line flags.

The file belongs to the user: it may be hand-edited, written by a newer Mirage, or damaged. So
reading never fails (what cannot be used is reported with the file and the key, and the default is
used instead), and saving never destroys what was read: unknown keys and sections, and values this
version rejects, are written back as they were unless the user changed that setting. A file that
cannot be parsed at all is first kept as a dated ``settings.json.corrupt-…`` copy.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MIN_PROC_MAX_DIM = 64


@dataclass(slots=True)
class VideoSettings:
    #: "test", "camera:<index or name>", or a video file path
    source: str = "camera:0"
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    #: cap on the output rate; 0 = no cap (MIRAGE_VIDEO_MAX_FPS)
    max_fps: float = 0.0
    #: show the animated test pattern when the camera is missing or lost
    fallback_to_test_pattern: bool = True
    #: live: lower the enhancer, swap rate, fps, then processing size when frames overrun their budget
    #: (engine/quality.py), and restore them when there is room again (MIRAGE_ADAPTIVE_QUALITY)
    adaptive_quality: bool = True
    #: comma-separated knobs the controller leaves alone: enhancer, swap_rate, fps, resolution
    quality_pins: str = ""
    #: the lowest frame rate the controller may go down to
    quality_min_fps: float = 15.0
    #: live: find the faces of the next frame on their own thread while this one is swapped
    #: (MIRAGE_PIPELINED_DETECTION)
    pipelined_detection: bool = True


@dataclass(slots=True)
class FaceSettings:
    swap_enabled: bool = True
    #: reference photo of the identity to wear; kept only as an embedding unless saved
    source_face: str = ""
    #: swap the N largest faces (MIRAGE_MAX_FACES)
    max_faces: int = 1
    #: frames larger than this are detected at a reduced size (MIRAGE_PROC_MAX_DIM, >= 64)
    proc_max_dim: int = 640
    #: run the detector every N frames, track in between
    detect_interval: int = 5
    detector_size: int = 640
    detector_score: float = 0.5
    #: "fp32" or "fp16" (fp16 falls back to fp32 when its output is degenerate)
    swapper_precision: str = "fp32"
    #: comma-separated ONNX Runtime providers in order, or "" for the best available
    providers: str = ""
    cuda_only: bool = False
    debug_overlay: bool = False
    #: cover a chosen face that could not be swapped (never send the real face); off = the user accepts it
    privacy_cover: bool = True
    #: live: the swapper runs on its own thread as often as the machine allows and every frame shows
    #: the latest swapped face on the current head position, the mouth live (MIRAGE_TEMPORAL_REUSE);
    #: off = every frame waits for its own swap (a CPU then gives about one frame a second)
    temporal_reuse: bool = True
    #: the swapper family (processing/face/swappers: inswapper_128, hyperswap_1a_256, ...)
    swapper: str = "inswapper_128"
    #: face enhancer run on every swapped face ("" = none; processing/face/enhancers)
    enhancer: str = ""
    #: share of the enhanced face in the result (0..1)
    enhancer_blend: float = 1.0
    #: CodeFormer fidelity: 0 = the model's own face, 1 = closest to the input (MIRAGE_CODEFORMER_FIDELITY)
    codeformer_fidelity: float = 0.75
    #: the face's outline: "ellipse" (fitted to the landmarks) or "box" (the aligned square)
    face_mask: str = "ellipse"
    #: let the real mouth show through (speech, teeth); its size factor
    mouth_mask: bool = False
    mouth_mask_size: float = 1.0
    #: keep the camera's pixels where the swap disagrees wildly with them (a hand in front of the face)
    occlusion_mask: bool = False
    #: match the swapped face's colour to the original's (measured: halves the seam's ΔE)
    color_transfer: bool = True
    #: "replace" (measured best: no ghost of the original's eyes), "detail" (adds the swap's change,
    #: keeps the frame's fine detail) or "mix" — scripts/bench_face_quality.py
    paste_mode: str = "replace"
    #: the frame's own fine detail kept by "mix" (0 = replace, 1 = detail)
    paste_detail: float = 0.5
    #: weight of the swapped face (1 = fully swapped)
    opacity: float = 1.0
    #: unsharp-mask amount on the swapped face (0 = off)
    sharpness: float = 0.0
    #: map mode: swap only the faces that look like the mapped people (see face_map)
    map_mode: bool = False
    #: "TARGET=SOURCE;..." gallery identity names: faces matching TARGET wear SOURCE
    face_map: str = ""
    #: ArcFace cosine similarity a face needs to count as a mapped person (FaceFusion: distance 0.6)
    map_threshold: float = 0.4


@dataclass(slots=True)
class OutputSettings:
    virtual_camera: bool = True
    #: device name; on Linux the v4l2loopback card_label, on Windows the DirectShow name
    virtual_camera_name: str = "Mirage Camera"
    #: pyvirtualcam backend to force ("" = the platform's choice)
    virtual_camera_backend: str = ""


@dataclass(slots=True)
class VoiceSettings:
    enabled: bool = False
    #: lip sync: hold the voice back by the picture's measured lead (≤ 300 ms) while the camera runs
    lip_sync: bool = True
    #: microphone: "" = system default; on Linux also a PulseAudio source name
    input_device: str = ""
    #: "" = the virtual microphone ("Mirage Microphone"); else a PortAudio output device name
    output_device: str = ""
    #: "passthrough" or "pitch"
    converter: str = "passthrough"
    #: pitch converter: shift in semitones, and formant factor (1.0 = unchanged)
    semitones: float = 0.0
    formant: float = 1.0
    #: rvc converter: the voice (.pth), its optional feature index (.index), the share of each frame
    #: taken from the index (0..1), protection of unvoiced consonants (0..0.5, 0.5 = off), and the
    #: pitch estimator ("fcpe" ships in its wheel; "rmvpe" is a download)
    rvc_model: str = ""
    rvc_index: str = ""
    rvc_index_rate: float = 0.5
    rvc_protect: float = 0.33
    rvc_pitch: str = "fcpe"
    #: audio handed to the converter at a time; smaller = lower latency, more CPU overhead
    #: (10 ms measured gap-free with a busy core beside it; the engine grows it for slow converters)
    block_ms: float = 10.0
    #: queued output that absorbs scheduling jitter
    buffer_ms: float = 10.0
    #: "auto" (Linux: a direct PulseAudio/PipeWire client, else PortAudio), "pulse" or "portaudio"
    audio_backend: str = "auto"
    #: mute below this input level (dBFS RMS) so silence stays silent
    gate_enabled: bool = True
    gate_db: float = -50.0
    #: "level": mute below gate_db; "vad": Silero voice-activity gate (breaths, clicks and keyboard stay
    #: silent, word onsets kept; adds a 64 ms look-ahead)
    gate_mode: str = "level"
    #: RNNoise noise suppression on the microphone before the converter (adds 20 ms)
    denoise: bool = False
    #: also play the converted voice to your headphones
    monitor: bool = False
    monitor_device: str = ""
    #: when a block's conversion is late: "dry" (your own voice) or "silence"
    overload_policy: str = "dry"
    #: grow the block when the converter runs hot, shrink it back when it cools
    adapt_block: bool = True


@dataclass(slots=True)
class GuiSettings:
    """What only the desktop window uses; the engine never reads these."""

    #: "system" follows the OS light/dark setting; "light" or "dark" force one
    theme: str = "system"
    #: how the raw camera is shown next to the output: "pip", "side" or "off"
    raw_preview: str = "pip"
    #: the models dialog was shown once (it can be reopened from the menu)
    first_run_done: bool = False
    #: the responsible-use notice was read and accepted
    responsible_use_accepted: bool = False
    #: stamp a small visible "AI-altered" label on the published video
    ai_label: bool = False
    #: gallery identity worn at start-up ("" = none); only its embedding is stored
    active_identity: str = ""
    #: keep the original reference photo next to the embedding when saving an identity
    keep_photos: bool = False
    #: closing the window keeps Mirage running in the tray (when the OS has one)
    close_to_tray: bool = True


@dataclass(slots=True)
class Settings:
    video: VideoSettings = field(default_factory=VideoSettings)
    face: FaceSettings = field(default_factory=FaceSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    gui: GuiSettings = field(default_factory=GuiSettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "settings") -> tuple[Settings, list[str]]:
        """Build settings from (possibly stale or hand-edited) data.

        Every usable value is kept; a wrongly typed or invalid one is replaced by its default, and
        unknown keys are ignored, each with a warning naming ``where`` and the key, so an old or
        hand-edited settings file never stops the app from starting.
        """
        settings = cls()
        warnings: list[str] = []
        for section_field in dataclasses.fields(settings):
            name = section_field.name
            section = getattr(settings, name)
            if name not in data:
                continue
            raw = data[name]
            if not isinstance(raw, Mapping):
                warnings.append(
                    f"{where}: '{name}' should be an object of settings, not {_show(raw)}; "
                    f"using the defaults for {name}.*"
                )
                continue
            known = {f.name for f in dataclasses.fields(section)}
            for key, value in raw.items():
                if key not in known:
                    warnings.append(f"{where}: unknown setting {name}.{key} is kept in the file but not used")
                    continue
                default = getattr(section, key)
                usable, problem = check_value(name, key, value, default)
                if problem:
                    warnings.append(
                        f"{where}: {name}.{key} = {_show(value)} {problem}; using {_show(default)}"
                    )
                    continue
                setattr(section, key, usable)
        for name in data:
            if name not in _SECTIONS:
                warnings.append(f"{where}: unknown section '{name}' is kept in the file but not used")
        return settings, warnings

    def validate(self) -> list[str]:
        """Put every invalid value back to its default; returns what was changed and why."""
        fixed: list[str] = []
        defaults = Settings()
        for section_name in _SECTIONS:
            section = getattr(self, section_name)
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                default = getattr(getattr(defaults, section_name), f.name)
                usable, problem = check_value(section_name, f.name, value, default)
                if problem:
                    fixed.append(
                        f"{section_name}.{f.name} = {_show(value)} {problem}; using {_show(default)}"
                    )
                    setattr(section, f.name, default)
                elif usable != value or type(usable) is not type(value):
                    setattr(section, f.name, usable)
        return fixed

    def apply_env(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Apply MIRAGE_* overrides; returns warnings for values that could not be used (and were ignored)."""
        env = os.environ if environ is None else environ
        warnings: list[str] = []
        for var, (section_name, key, parse) in ENV_OVERRIDES.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            try:
                value = parse(raw.strip())
            except ValueError:
                warnings.append(f"{var}={raw!r} is not valid; ignored")
                continue
            section = getattr(self, section_name)
            usable, problem = check_value(section_name, key, value, getattr(section, key))
            if problem:
                warnings.append(f"{var}={raw.strip()}: {section_name}.{key} {problem}; ignored")
                continue
            setattr(section, key, usable)
        warnings += self.validate()
        return warnings


_SECTIONS = tuple(f.name for f in dataclasses.fields(Settings))


# -- what each setting accepts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    """A finite number from ``low`` to ``high`` inclusive (and, when set, a multiple of ``step``)."""

    low: float
    high: float
    unit: str = ""
    step: int = 0

    def span(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        # "-120–0" reads as a typo; a dash is only clear between two positive numbers
        joint = " to " if self.low < 0 else "–"
        return f"{self.low:g}{joint}{self.high:g}{unit}"

    def describe(self) -> str:
        return f"a multiple of {self.step}, {self.span()}" if self.step else self.span()

    def problem(self, value: float) -> str | None:
        if not math.isfinite(value):
            return f"is not a finite number (allowed: {self.describe()})"
        if not self.low <= value <= self.high:
            return f"is out of range ({self.describe()})"
        if self.step and value % self.step:
            return f"is not a multiple of {self.step} (allowed: {self.span()})"
        return None


@dataclass(frozen=True, slots=True)
class Choice:
    values: tuple[str, ...]

    def problem(self, value: str) -> str | None:
        if value in self.values:
            return None
        return f"is not one of: {', '.join(self.values)}"


#: the audio routes of voice.routing.BACKENDS (kept here: importing routing loads PulseAudio bindings)
AUDIO_BACKENDS = ("auto", "pulse", "portaudio")
#: what plays for a late block; the engine's "wait" is a reference policy, not offered to users
OVERLOAD_POLICIES = ("dry", "silence")
GATE_MODES = ("level", "vad")
#: the rvc converter's pitch estimators (voice/converters/rvc/converter.py make_pitch)
RVC_PITCH_ESTIMATORS = ("fcpe", "rmvpe")
#: the modes of gui.theme / gui.preview_widget.MODES (the config layer never imports Qt)
THEMES = ("system", "light", "dark")
RAW_PREVIEWS = ("pip", "side", "off")
SWAPPER_PRECISIONS = ("fp32", "fp16")
#: the registries of processing/face (kept here so reading settings loads no model code);
#: tests/test_face_stages.py checks they match
SWAPPER_IDS = ("inswapper_128", "hyperswap_1a_256", "hyperswap_1b_256", "hyperswap_1c_256")
ENHANCER_IDS = ("", "gfpgan_1.4", "gpen_bfr_256", "gpen_bfr_512", "codeformer")
FACE_MASK_IDS = ("ellipse", "box")
PASTE_MODE_IDS = ("detail", "replace", "mix")
#: what the adaptive-quality controller may change (engine/quality.py), in the order it lowers them
QUALITY_KNOBS = ("enhancer", "swap_rate", "fps", "resolution")
#: a second of queued output is already far past usable in a call (the CLI's --buffer-ms bound)
MAX_BUFFER_MS = 1000.0


@dataclass(frozen=True, slots=True)
class ChoiceList:
    """Comma-separated names, each one of ``values`` (or none at all)."""

    values: tuple[str, ...]

    def problem(self, value: str) -> str | None:
        unknown = [n for n in (p.strip() for p in value.split(",")) if n and n not in self.values]
        if unknown:
            return f"has unknown names: {', '.join(unknown)} (allowed: {', '.join(self.values)})"
        return None


@functools.cache
def rules() -> dict[tuple[str, str], Range | Choice | ChoiceList]:
    """The allowed values of every constrained setting; the same bounds as the CLI's options.

    Built on first use: the voice limits come from the converters and the pipeline themselves, and
    importing them loads numpy and scipy, which ``mirage-cli models`` should not pay for.
    """
    from mirage_desktop.voice.converters import CONVERTERS
    from mirage_desktop.voice.converters.pitch import FORMANT_RANGE, MAX_SEMITONES
    from mirage_desktop.voice.pipeline import PipelineConfig

    pipeline = PipelineConfig()
    return {
        ("video", "width"): Range(16, 7680, "px"),
        ("video", "height"): Range(16, 4320, "px"),
        ("video", "fps"): Range(1, 240, "fps"),
        ("video", "max_fps"): Range(0, 240, "fps, 0 = no cap"),
        ("video", "quality_pins"): ChoiceList(QUALITY_KNOBS),
        ("video", "quality_min_fps"): Range(1, 240, "fps"),
        ("face", "max_faces"): Range(1, 16),
        ("face", "proc_max_dim"): Range(MIN_PROC_MAX_DIM, 4096, "px"),
        ("face", "detect_interval"): Range(1, 60, "frames"),
        ("face", "detector_size"): Range(128, 2048, "px", step=32),
        ("face", "detector_score"): Range(0, 1),
        ("face", "swapper_precision"): Choice(SWAPPER_PRECISIONS),
        ("face", "swapper"): Choice(SWAPPER_IDS),
        ("face", "enhancer"): Choice(ENHANCER_IDS),
        ("face", "enhancer_blend"): Range(0, 1),
        ("face", "codeformer_fidelity"): Range(0, 1),
        ("face", "face_mask"): Choice(FACE_MASK_IDS),
        ("face", "mouth_mask_size"): Range(0.3, 3),
        ("face", "paste_mode"): Choice(PASTE_MODE_IDS),
        ("face", "paste_detail"): Range(0, 1),
        ("face", "opacity"): Range(0, 1),
        ("face", "sharpness"): Range(0, 3),
        ("face", "map_threshold"): Range(0, 1),
        ("voice", "converter"): Choice(tuple(sorted(CONVERTERS))),
        ("voice", "semitones"): Range(-MAX_SEMITONES, MAX_SEMITONES, "semitones"),
        ("voice", "formant"): Range(*FORMANT_RANGE),
        ("voice", "rvc_index_rate"): Range(0, 1),
        ("voice", "rvc_protect"): Range(0, 0.5),
        ("voice", "rvc_pitch"): Choice(RVC_PITCH_ESTIMATORS),
        # below the SOLA crossfade a block is shorter than its own fade; above max_block_ms the
        # pipeline would silently clamp it
        ("voice", "block_ms"): Range(pipeline.crossfade_ms, pipeline.max_block_ms, "ms"),
        ("voice", "buffer_ms"): Range(0, MAX_BUFFER_MS, "ms"),
        ("voice", "audio_backend"): Choice(AUDIO_BACKENDS),
        ("voice", "gate_db"): Range(-120, 0, "dBFS"),
        ("voice", "gate_mode"): Choice(GATE_MODES),
        ("voice", "overload_policy"): Choice(OVERLOAD_POLICIES),
        ("gui", "theme"): Choice(THEMES),
        ("gui", "raw_preview"): Choice(RAW_PREVIEWS),
    }


_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def check_value(section: str, key: str, value: Any, default: Any) -> tuple[Any, str | None]:
    """``(usable value, None)``, or ``(None, why not)`` with the allowed values in the words."""
    kind = type(default)
    usable = _coerce(value, kind)
    rule = rules().get((section, key))
    if usable is None:
        allowed = f" (allowed: {rule.describe()})" if isinstance(rule, Range) else ""
        return None, f"is not {_KIND_NAMES.get(kind, kind.__name__)}{allowed}"
    if rule is not None:
        problem = rule.problem(usable)
        if problem:
            return None, problem
    return usable, None


def _coerce(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or kind is bool:
        return value if kind is bool and isinstance(value, bool) else None
    if kind is int:
        if isinstance(value, int):
            return value
        # 2.0 is what a hand edit or another tool may write for 2
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return None
    if kind is float:
        if isinstance(value, float):
            return value
        if isinstance(value, int):
            try:
                return float(value)
            except OverflowError:  # a 400-digit integer
                return math.inf
        return None
    if kind is str:
        return value if isinstance(value, str) else None
    return None


def _show(value: Any) -> str:
    """A value as it is written in the file (NaN, true, "text"), shortened when long."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        value = int(value)  # the file's -10, not the dataclass's -10.0
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


ENV_OVERRIDES: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "MIRAGE_PROC_MAX_DIM": ("face", "proc_max_dim", int),
    "MIRAGE_MAX_FACES": ("face", "max_faces", int),
    "MIRAGE_DEBUG_OVERLAY": ("face", "debug_overlay", _parse_bool),
    "MIRAGE_DETECT_INTERVAL": ("face", "detect_interval", int),
    "MIRAGE_PROVIDERS": ("face", "providers", str),
    "MIRAGE_CUDA_ONLY": ("face", "cuda_only", _parse_bool),
    "MIRAGE_VIDEO_MAX_FPS": ("video", "max_fps", float),
    "MIRAGE_ADAPTIVE_QUALITY": ("video", "adaptive_quality", _parse_bool),
    "MIRAGE_QUALITY_PINS": ("video", "quality_pins", str),
    "MIRAGE_CODEFORMER_FIDELITY": ("face", "codeformer_fidelity", float),
    "MIRAGE_ENHANCER": ("face", "enhancer", str),
    "MIRAGE_TEMPORAL_REUSE": ("face", "temporal_reuse", _parse_bool),
    "MIRAGE_PIPELINED_DETECTION": ("video", "pipelined_detection", _parse_bool),
}


# The file layer (reading, backups, atomic saves) lives in settings_file, which builds Settings; its
# names are still importable from here, loaded on first use so that neither module must come first.
_FILE_NAMES = frozenset(
    (
        "CORRUPT_TAG",
        "REPLACED_TAG",
        "SettingsSaveError",
        "SettingsStore",
        "atomic_write",
        "keep_copy",
        "load_settings",
    )
)


def __getattr__(name: str) -> Any:
    if name in _FILE_NAMES:
        from mirage_desktop.config import settings_file

        return getattr(settings_file, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
