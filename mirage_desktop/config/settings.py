"""Typed settings, persisted as JSON in the user's config dir, with MIRAGE_* environment overrides.

Precedence (lowest first): defaults → settings file → environment → command-line flags.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
    #: microphone: "" = system default; on Linux also a PulseAudio source name
    input_device: str = ""
    #: "" = the virtual microphone ("Mirage Microphone"); else a PortAudio output device name
    output_device: str = ""
    #: "passthrough" or "pitch"
    converter: str = "passthrough"
    #: pitch converter: shift in semitones, and formant factor (1.0 = unchanged)
    semitones: float = 0.0
    formant: float = 1.0
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
    def from_dict(cls, data: Mapping[str, Any]) -> tuple[Settings, list[str]]:
        """Build settings from (possibly stale or hand-edited) data.

        Unknown keys and wrongly typed values are skipped, each with a warning, so an old
        settings file never stops the app from starting.
        """
        settings = cls()
        warnings: list[str] = []
        for section_field in dataclasses.fields(settings):
            section = getattr(settings, section_field.name)
            raw = data.get(section_field.name, {})
            if not isinstance(raw, Mapping):
                warnings.append(f"settings: section '{section_field.name}' is not an object; using defaults")
                continue
            known = {f.name: f for f in dataclasses.fields(section)}
            for key, value in raw.items():
                if key not in known:
                    warnings.append(f"settings: unknown key '{section_field.name}.{key}' ignored")
                    continue
                default = getattr(section, key)
                coerced = _coerce(value, type(default))
                if coerced is None:
                    warnings.append(
                        f"settings: '{section_field.name}.{key}' = {value!r} is not a "
                        f"{type(default).__name__}; using {default!r}"
                    )
                    continue
                setattr(section, key, coerced)
        warnings += settings.validate()
        return settings, warnings

    def validate(self) -> list[str]:
        """Clamp values into their valid ranges; returns what was changed."""
        fixed: list[str] = []
        face = self.face
        if face.proc_max_dim < MIN_PROC_MAX_DIM:
            fixed.append(
                f"proc_max_dim {face.proc_max_dim} is below {MIN_PROC_MAX_DIM}; using {MIN_PROC_MAX_DIM}"
            )
            face.proc_max_dim = MIN_PROC_MAX_DIM
        if face.max_faces < 1:
            fixed.append(f"max_faces {face.max_faces} must be at least 1; using 1")
            face.max_faces = 1
        if face.detect_interval < 1:
            fixed.append(f"detect_interval {face.detect_interval} must be at least 1; using 1")
            face.detect_interval = 1
        if face.swapper_precision not in ("fp32", "fp16"):
            fixed.append(f"swapper_precision {face.swapper_precision!r} unknown; using 'fp32'")
            face.swapper_precision = "fp32"
        if self.video.max_fps < 0:
            fixed.append("max_fps must not be negative; using 0 (no cap)")
            self.video.max_fps = 0.0
        if self.video.fps <= 0:
            fixed.append(f"fps {self.video.fps} must be positive; using 30")
            self.video.fps = 30.0
        return fixed

    def apply_env(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Apply MIRAGE_* overrides; returns warnings for values that could not be used."""
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
            setattr(getattr(self, section_name), key, value)
        warnings += self.validate()
        return warnings


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
}


def _coerce(value: Any, kind: type) -> Any:
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return None
    if kind is str:
        return value if isinstance(value, str) else None
    return None


class SettingsStore:
    """Loads and saves ``Settings`` as JSON at one path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[Settings, list[str]]:
        if not self.path.exists():
            return Settings(), []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return Settings(), [f"could not read {self.path} ({exc}); using defaults"]
        if not isinstance(data, dict):
            return Settings(), [f"{self.path} does not hold a settings object; using defaults"]
        return Settings.from_dict(data)

    def save(self, settings: Settings) -> None:
        """Write atomically so a crash or a full disk never leaves a half-written file.

        Raises OSError with the path in the message when the file cannot be written.
        """
        payload = json.dumps(settings.to_dict(), indent=2, sort_keys=True)
        tmp: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise OSError(exc.errno, f"could not save settings to {self.path}: {exc.strerror}") from exc


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    settings, warnings = SettingsStore(path).load()
    warnings += settings.apply_env(environ)
    for message in warnings:
        log.warning(message)
    return settings, warnings
