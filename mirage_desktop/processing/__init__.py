"""Frame processors: the middle of the data flow (sources → processing → sinks)."""

from mirage_desktop.processing.base import FrameProcessor, ProcessorError
from mirage_desktop.processing.chain import ProcessorChain

__all__ = ["FrameProcessor", "ProcessorChain", "ProcessorError"]
