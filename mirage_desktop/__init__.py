"""Mirage: a live AI avatar for any video call, published as a virtual camera and microphone."""

import sys as _sys

#: ONNX Runtime was already loaded when Mirage was first imported, so the telemetry switch below
#: came too late for this process (only possible when another program embeds Mirage)
ORT_PRELOADED = "onnxruntime" in _sys.modules

# Before anything can import onnxruntime: its telemetry reads this switch only when it loads.
from mirage_desktop.runtime.telemetry import keep_telemetry_off  # noqa: E402

keep_telemetry_off()

__version__ = "0.1.0"
APP_NAME = "Mirage"
VIRTUAL_CAMERA_NAME = "Mirage Camera"
VIRTUAL_MICROPHONE_NAME = "Mirage Microphone"
