"""Progress on stderr: a bar with rate and ETA on a terminal, a plain periodic line otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``update(done)`` as often as you like: a terminal is redrawn at most ``tty_interval`` apart,
    anything else (a log, a pipe) gets one line every ``line_interval`` seconds."""

    def __init__(
        self,
        total: int,
        unit: str = "frames",
        *,
        stream: TextIO | None = None,
        width: int = 28,
        tty_interval: float = 0.2,
        line_interval: float = 1.0,
        clock=time.monotonic,
    ) -> None:
        self.total = max(0, int(total))
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._clock = clock
        self._started = clock()
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self._interval = tty_interval if self.tty else line_interval
        self._next = self._started + self._interval
        self._drawn = False

    def _rate(self, done: int, now: float) -> float:
        elapsed = now - self._started
        return done / elapsed if elapsed > 0 else 0.0

    def text(self, done: int, now: float | None = None) -> str:
        now = self._clock() if now is None else now
        rate = self._rate(done, now)
        parts = [f"{done} {self.unit} written"]
        if self.total:
            parts.append(f"{min(100.0, 100.0 * done / self.total):.0f}% of {self.total}")
        parts.append(f"{rate:.1f} fps")
        if self.total and rate > 0 and done < self.total:
            parts.append(f"ETA {_clock((self.total - done) / rate)}")
        elif done:
            parts.append(f"elapsed {_clock(now - self._started)}")
        if not self.tty:
            return "  " + ", ".join(parts)
        if self.total:
            filled = min(self.width, round(self.width * done / self.total))
            bar = "█" * filled + "░" * (self.width - filled)
        else:  # no total known: a moving marker
            pos = done % self.width
            bar = "░" * pos + "█" + "░" * (self.width - pos - 1)
        return f"\r[{bar}] " + "  ".join(parts) + "\x1b[K"

    def update(self, done: int, force: bool = False) -> None:
        now = self._clock()
        if not force and now < self._next:
            return
        self._next = now + self._interval
        text = self.text(done, now)
        try:
            self.stream.write(text if self.tty else text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            return
        self._drawn = True

    def clear(self) -> None:
        """End the bar's line, so what is printed next starts on its own line."""
        if self.tty and self._drawn:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._drawn = False
