"""Starts and stops the voice engine from VoiceSettings, as `mirage-cli voice` does (no Qt here);
both use mirage_desktop/voice/routing.py."""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from mirage_desktop.config.settings import VoiceSettings
from mirage_desktop.voice.converters import create_converter, rvc
from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.devices import load_sounddevice
from mirage_desktop.voice.engine import VoiceEngine
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.gate import rms_db
from mirage_desktop.voice.metrics import VoiceMetrics
from mirage_desktop.voice.routing import build_engine, open_outputs
from mirage_desktop.voice.virtual_mic import VirtualMic, make_virtual_mic

log = logging.getLogger(__name__)

#: tail of each converted window measured for the output meter (about one block)
_LEVEL_TAIL_S = 0.02


class LevelTap(VoiceConverter):
    """Wraps the real converter and remembers how loud its newest output was (for the output meter).

    VoiceMetrics reports the input level only; this is measured on the inference thread, where the
    conversion already runs, so the audio callback is untouched.
    """

    def __init__(self, inner: VoiceConverter) -> None:
        self.inner = inner
        self.name = inner.name
        self.sample_rate = inner.sample_rate
        self.context_s = inner.context_s
        self.lookahead_s = inner.lookahead_s
        self.level_db = -120.0
        self._tail = 0

    def start(self, sample_rate: int) -> None:
        self.inner.start(sample_rate)
        self._tail = max(1, int(_LEVEL_TAIL_S * sample_rate))
        self._skip = int(self.lookahead_s * sample_rate)

    def convert(self, window: np.ndarray) -> np.ndarray:
        out = self.inner.convert(window)
        end = len(out) - self._skip
        self.level_db = rms_db(np.asarray(out[max(0, end - self._tail) : end], dtype=np.float32))
        return out

    def close(self) -> None:
        self.inner.close()

    def counters(self) -> dict[str, Any]:
        return self.inner.counters()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


@dataclass(slots=True)
class VoiceLevels:
    input_db: float
    output_db: float


class VoiceSession:
    """One running voice engine plus the virtual microphone it feeds."""

    def __init__(self, engine: VoiceEngine, tap: LevelTap, vmic: VirtualMic | None, target: str) -> None:
        self.engine = engine
        self.tap = tap
        self.vmic = vmic
        #: where the converted voice goes, in words ("Mirage Microphone" or a device name)
        self.target = target

    def metrics(self) -> VoiceMetrics:
        return self.engine.metrics()

    def levels(self, metrics: VoiceMetrics) -> VoiceLevels:
        # the gate mutes what the converter produced while the input is quiet
        out = self.tap.level_db if metrics.gate_open else -120.0
        return VoiceLevels(input_db=metrics.input_level_db, output_db=out)

    def close(self) -> None:
        try:
            self.engine.stop()
        finally:
            if self.vmic is not None:
                try:
                    self.vmic.close()
                except VoiceError as exc:
                    log.warning("%s", exc)


def open_voice_session(
    voice: VoiceSettings,
    sd_loader: Callable[[], ModuleType] = load_sounddevice,
    vmic_factory: Callable[[ModuleType | None], VirtualMic] = make_virtual_mic,
    platform: str | None = None,
) -> VoiceSession:
    """Open the virtual microphone and start the engine. Raises VoiceError with a user-facing message.

    Blocks (pactl, PortAudio start-up): call it from a worker thread.
    """
    platform = platform or sys.platform
    if voice.converter == "rvc":  # its voice loads here, on the caller's (worker) thread
        voice = dataclasses.replace(voice, block_ms=rvc.block_ms(voice))
    converter = LevelTap(create_converter(voice.converter, **rvc.settings_options(voice)))
    vmic, pulse, target = open_outputs(voice, platform, vmic_factory, sd_loader)
    try:
        engine = build_engine(voice, converter, vmic, pulse, platform=platform, sd_loader=sd_loader)
        engine.start()
    except BaseException:
        if vmic is not None:
            try:
                vmic.close()
            except VoiceError as exc:
                log.warning("%s", exc)
        raise
    return VoiceSession(engine, converter, vmic, target)
