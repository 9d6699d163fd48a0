"""What the window brings back at start-up, so that what it shows is what is in effect.

Widgets show the settings as they were saved; this makes the rest true: the face worn last is worn
again (or said to be gone), the voice saved as on is started, and what the gallery and the voice
list held that could not be used is named in the problems strip. One report line goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from mirage_desktop.gui.voice_controller import OFF

if TYPE_CHECKING:
    from mirage_desktop.gui.main_window import MainWindow

log = logging.getLogger(__name__)

#: problems-strip areas for what the gallery and the voice list held that could not be used
GALLERY_AREA = "gallery-load"
VOICE_LIBRARY_AREA = "voice-library"
IDENTITY_AREA = "identity"


def restore_session(window: MainWindow, clean_leftovers: Callable[[], object]) -> None:
    settings, problems = window.settings, window.problems
    window.gallery.load_problems_changed.connect(lambda text: problems.set_problem(GALLERY_AREA, text))
    problems.set_problem(GALLERY_AREA, window.gallery.load_problems_text())
    problems.set_problem(VOICE_LIBRARY_AREA, "\n".join(window.voice_controls.library.problems))

    active = settings.gui.active_identity
    if active and not window.gallery.select(active):
        # nothing is worn, so nothing is shown as worn; said once (the setting is cleared)
        settings.gui.active_identity = ""
        problems.set_problem(
            IDENTITY_AREA,
            f"The face worn last time ('{active}') could not be restored: it is not in the gallery "
            "any more. Choose a face to wear.",
        )
    # the voice saved as on starts again once a crash's leftover microphone is gone (the new voice
    # would otherwise find that one)
    window.runner.submit(
        clean_leftovers,
        on_done=lambda _: restore_voice(window),
        on_failed=lambda _: restore_voice(window),
    )
    log.info(
        "window restored: voice %s (%s), face swap %s, source %s, identity %s; gallery %d faces, %d problems",
        "on" if settings.voice.enabled else "off",
        settings.voice.converter,
        "on" if settings.face.swap_enabled else "off",
        settings.video.source,
        settings.gui.active_identity or "none",
        window.gallery.list.count(),
        len(window.gallery.load_problems),
    )


def restore_voice(window: MainWindow) -> None:
    """Start the voice the Voice tab shows as on (it was on when the window last closed)."""
    voice = window.voice
    if window.closed or not window.settings.voice.enabled or voice.state != OFF:
        return
    log.info("starting the saved voice (%s)", window.settings.voice.converter)
    voice.apply()
