"""One on-air status for what the call receives: the camera and the microphone together.

A user glances at one place to know what is being sent. Amber ("warn") wins over everything: apps
cannot see Mirage Camera, or the user's real face is going out uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirage_desktop import VIRTUAL_CAMERA_NAME, VIRTUAL_MICROPHONE_NAME

OFF, LIVE, WARN = "off", "live", "warn"


@dataclass(frozen=True, slots=True)
class CallState:
    #: the engine runs (the preview moves)
    video_running: bool = False
    #: frames reach Mirage Camera (a virtual-camera sink is active)
    camera_live: bool = False
    #: the engine runs but apps cannot see Mirage Camera (no driver, the sink failed)
    camera_unavailable: bool = False
    mic_live: bool = False
    #: the user's real face is being sent uncovered (the privacy cover is off and a face is unswapped)
    real_face_exposed: bool = False


@dataclass(frozen=True, slots=True)
class OnAir:
    state: str
    text: str
    tooltip: str


def on_air(call: CallState) -> OnAir:
    parts = []
    if call.camera_live:
        parts.append(VIRTUAL_CAMERA_NAME)
    if call.mic_live:
        parts.append(VIRTUAL_MICROPHONE_NAME)
    sending = " + ".join(parts)
    if call.real_face_exposed and call.camera_live:
        return OnAir(
            WARN,
            "⚠ Your real face is being sent",
            "A face in the picture is not swapped and the privacy cover is off (Face tab), so apps "
            f"receive your real face on {VIRTUAL_CAMERA_NAME}.",
        )
    if call.video_running and call.camera_unavailable:
        also = f" · {VIRTUAL_MICROPHONE_NAME} on air" if call.mic_live else ""
        return OnAir(
            WARN,
            f"⚠ Apps can't see {VIRTUAL_CAMERA_NAME}{also}",
            f"The preview works, but no app receives it: {VIRTUAL_CAMERA_NAME} is not available. "
            "See “How to fix…” below the preview.",
        )
    if sending:
        return OnAir(LIVE, f"● ON AIR · {sending}", f"Apps that chose {sending} receive Mirage now.")
    if call.video_running:
        return OnAir(OFF, "Starting…", "Mirage is starting the camera.")
    return OnAir(
        OFF, "Off air", f"Nothing is sent: press Start for {VIRTUAL_CAMERA_NAME}, turn on Voice for the mic."
    )
