"""Frame sources: the start of the data flow (camera, video file, test pattern)."""

from mirage_desktop.sources.base import FrameSource, SourceError, SourceExhausted, SourceInfo, SourceLost

__all__ = ["FrameSource", "SourceError", "SourceExhausted", "SourceInfo", "SourceLost"]
