"""The one exception type the voice pipeline raises for problems a user can fix."""

from __future__ import annotations


class VoiceError(RuntimeError):
    """Voice cannot start or continue; the message says what to do about it."""
