"""Lip sync in the window: how long to hold the voice back so it meets the picture in the call.

The picture leaves Mirage ``video_latency`` after capture, the voice ``voice_latency`` after capture;
both are measured (the engine's capture→sink latency, the voice engine's live latency). The voice
waits for the difference, smoothed (the video figure moves frame to frame) and with a dead band so a
few ms of jitter never moves the delay line. No Qt here: the controller calls it at its poll rate.

The other way round, when the voice is the slower one (a fast GPU picture, a 60–90 ms voice), the
picture waits: ``floor_ms`` is the voice's own latency, and the pipeline sends no frame sooner than
that after capture (``Pipeline.set_picture_floor_ms``). The measured picture latency then includes
the wait, so the lead seen here is what is left for the voice delay: never both at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirage_desktop.voice.av_delay import MAX_DELAY_MS

#: weight of a new measurement in the running figure (polled 4× a second: ~2 s to settle)
SMOOTHING = 0.15
#: changes smaller than this are not passed on
DEAD_BAND_MS = 10.0


@dataclass(slots=True)
class LipSyncPlanner:
    enabled: bool = True
    _lead_ms: float | None = None
    target_ms: float = 0.0
    #: the picture's earliest send after capture (ms): the voice's own latency while both run
    floor_ms: float = 0.0

    def update(self, video_latency_ms: float | None, voice_latency_ms: float | None) -> float | None:
        """The new voice delay to set, or None when it should stay as it is.

        Off, or without both figures (no picture running), the voice is not held back at all.
        """
        if not self.enabled or video_latency_ms is None or voice_latency_ms is None:
            self._lead_ms = None
            want = 0.0
            self.floor_ms = 0.0
        else:
            lead = float(video_latency_ms) - float(voice_latency_ms)
            previous = lead if self._lead_ms is None else self._lead_ms
            self._lead_ms = previous + SMOOTHING * (lead - previous)
            want = min(max(self._lead_ms, 0.0), MAX_DELAY_MS)
            floor = min(max(float(voice_latency_ms), 0.0), MAX_DELAY_MS)
            if abs(floor - self.floor_ms) >= DEAD_BAND_MS:
                self.floor_ms = floor
        # back to exactly 0 always goes through; otherwise small moves are jitter
        if want == self.target_ms or (want != 0.0 and abs(want - self.target_ms) < DEAD_BAND_MS):
            return None
        self.target_ms = want
        return want
