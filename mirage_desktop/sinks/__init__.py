"""Frame sinks: the end of the data flow (virtual camera, preview, file recorder)."""

from mirage_desktop.sinks.base import FrameSink, SinkError

__all__ = ["FrameSink", "SinkError"]
