"""Leaves frames unchanged: the baseline that measures the I/O path itself."""

from __future__ import annotations

from mirage_desktop.frame import Frame
from mirage_desktop.processing.base import FrameProcessor


class PassThroughProcessor(FrameProcessor):
    name = "passthrough"

    def process(self, frame: Frame) -> Frame:
        return frame
