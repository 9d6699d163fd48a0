"""The plug-in shape every frame processor follows (face swap, enhancer, overlay, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from mirage_desktop.frame import Frame


class ProcessorError(RuntimeError):
    """A processor cannot run; the message tells the user what to do about it."""


class FrameProcessor(ABC):
    """One step of the processing chain.

    ``start`` loads what the processor needs (models, sessions) and may raise
    ``ProcessorError`` with a user-facing message; ``process`` runs on the processing
    thread for every frame and returns the (possibly same) frame; ``close`` frees
    resources. ``counters`` exposes numbers for the metrics (plain JSON-able values).
    """

    #: short identifier used in metrics and logs, e.g. "face_swap"
    name: str = "processor"
    #: a stage that replaces the user's face: the chain's privacy guard watches it (see privacy_cover)
    face_stage: ClassVar[bool] = False

    @property
    def face_chosen(self) -> bool:
        """For a face stage: the user has chosen a face to wear (set, or still loading)."""
        return False

    def start(self) -> None:  # noqa: B027 - optional hook
        """Load models or other resources. Called once on the processing thread."""

    @abstractmethod
    def process(self, frame: Frame) -> Frame:
        """Process one frame. Must not block on I/O; runs on the processing thread."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    def counters(self) -> dict[str, Any]:
        return {}
